"""The ``attestkit`` command group; subcommands are imported only when used."""

from __future__ import annotations

import importlib

import click

from attestkit._version import __version__

# name -> (module, attribute, short help): the only place a top-level command's one-line help is written
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "export": ("attestkit.cli.cmd_export", "export", "Export a receipt as an in-toto statement in a DSSE envelope."),
    "fetch": ("attestkit.cli.cmd_fetch", "fetch", "Fetch a receipt from an ATTEST service."),
    "hash": ("attestkit.cli.cmd_hash", "hash_cmd", "Print BLAKE3 digests of files and directories."),
    "keys": (
        "attestkit.cli.cmd_keys",
        "keys",
        "Keys and keyrings: generate, show, trust, revoke, rotate, delegate, list, graph.",
    ),
    "log": ("attestkit.cli.cmd_log", "log", "Run an append-only receipt log (C2SP tlog), prove inclusion, witness."),
    "pipeline": ("attestkit.cli.cmd_produce", "pipeline_group", "Show a pipeline file's DAG levels and critical path."),
    "policy": (
        "attestkit.cli.cmd_policy",
        "policy",
        "List built-in policies, check policy files, test them on fixtures.",
    ),
    "receipt": ("attestkit.cli.cmd_produce", "receipt", "Finalize and sign a draft receipt."),
    "record": ("attestkit.cli.cmd_produce", "record", "Run a command and record it as a step of a draft receipt."),
    "run": ("attestkit.cli.cmd_produce", "run_cmd", "Run an ATTEST pipeline file and write a signed receipt."),
    "sign": ("attestkit.cli.cmd_sign", "sign", "Sign a receipt."),
    "verify": ("attestkit.cli.cmd_verify", "verify", "Verify receipts: signature, trust, time, policy, artifacts."),
    "webhook": ("attestkit.cli.cmd_webhook", "webhook", "Verify or sign webhook deliveries."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _COMMANDS.get(cmd_name)
        if spec is None:
            return None
        command = getattr(importlib.import_module(spec[0]), spec[1])
        assert isinstance(command, click.Command)
        command.short_help = spec[2]  # the one source of a command's one-line help is this table
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, spec[2]) for name, spec in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="attestkit")
def app() -> None:
    """Sign and verify pipeline-execution receipts, offline.

    Exit codes: 0 valid, 1 checked and found invalid, 2 could not check.
    """
