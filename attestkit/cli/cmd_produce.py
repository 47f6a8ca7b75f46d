"""Producing receipts: ``record``, ``receipt finalize``, ``run``, ``pipeline show``."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from attestkit.adapters.files import (
    SIGNING_KEY_ENV,
    load_signing_key,
    read_bytes,
    refuse_key_overwrite,
    write_atomic,
)
from attestkit.cli.output import error, out, safe
from attestkit.core.crypto.keys import PrivateKey
from attestkit.errors import AttestkitError, UsageError

RECEIPTS_DIR = os.path.join(".attest", "receipts")


def _env_names(values: tuple[str, ...]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _write_json(path: str, value: Any) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    write_atomic(path, (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def _default_output(now: datetime) -> str:
    return os.path.join(RECEIPTS_DIR, f"receipt_{now.strftime('%Y%m%dT%H%M%SZ')}.json")


class _Terminated(BaseException):
    """SIGTERM arrived (how CI systems cancel a job)."""


def _stop_on_signal(signum: int, _frame: object) -> None:
    # One stop is enough: a second Ctrl-C or SIGTERM must not interrupt the stopping itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise _Terminated
    raise KeyboardInterrupt


@contextmanager
def _stoppable() -> Iterator[None]:
    """SIGINT and SIGTERM unwind the command (whose ``finally`` stops the steps' process groups)."""
    previous = {signum: signal.signal(signum, _stop_on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stopped(signum: int, what: str) -> int:
    name = "interrupted" if signum == signal.SIGINT else "terminated"
    error(f"{name}: the running steps were stopped and {what}")
    return 128 + signum


_MULTI_VALUE = ("--inputs", "--outputs", "--env")


def _expand_multi_values(args: list[str]) -> list[str]:
    """``--inputs a b --outputs c`` as click options: ``--inputs a --inputs b --outputs c``."""
    expanded: list[str] = []
    current: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            expanded.extend(args[index:])
            break
        if arg in _MULTI_VALUE:
            current = arg
            expanded.append(arg)
            if index + 1 < len(args) and args[index + 1] != "--":
                expanded.append(args[index + 1])  # the first value, whatever it looks like
                index += 1
        elif current is not None and not arg.startswith("-"):
            expanded += [current, arg]
        else:
            option = arg.split("=", 1)[0]
            current = option if option in _MULTI_VALUE else None
            expanded.append(arg)
        index += 1
    return expanded


class _RecordCommand(click.Command):
    """``record``'s options take several values each, and the command goes after ``--``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = args[: args.index("--")] if "--" in args else args
        if "--" not in args and not any(a in ("-h", "--help") for a in options):
            raise click.UsageError("the command to run goes after --: attestkit record OPTIONS -- CMD [ARGS]...", ctx)
        return super().parse_args(ctx, _expand_multi_values(args))


@click.command(cls=_RecordCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--receipt", "draft_path", required=True, metavar="FILE", help="The draft receipt to add the step to.")
@click.option("--name", required=True, metavar="NAME", help="The step's name (unique within the run).")
@click.option("--inputs", multiple=True, metavar="PATH...", help="Files or dirs/ hashed before the command runs.")
@click.option("--outputs", multiple=True, metavar="PATH...", help="Files or dirs/ hashed after; must exist then.")
@click.option("--env", "env_names", multiple=True, metavar="VARS...", help="Variables to snapshot (comma-separated).")
@click.option("--shell", is_flag=True, help="Run the command as one shell script (sh -c).")
@click.option(
    "--run-id",
    metavar="ID",
    help="The run this step belongs to (default: $ATTESTKIT_RUN_ID, the CI run id, or the draft's).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...")
def record(
    draft_path: str,
    name: str,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    env_names: tuple[str, ...],
    shell: bool,
    run_id: str | None,
    command: tuple[str, ...],
) -> int:
    """Run a command and append it as a step to a draft receipt.

    \b
    attestkit record --receipt .attest/draft.json --name build --inputs src/ package.json
    --outputs dist/ [--env NODE_ENV,CI] [--run-id ID] [--shell] -- npm run build

    Inputs are hashed before the run and outputs after it; only the --env variables are
    snapshotted. The command's exit code is passed through; a declared output that does not
    exist afterwards fails the step (exit 1); a command that cannot be started exits 127
    (126 when it is not executable).

    One run, one receipt: the draft records its run id. Recording into a draft of another
    run, into a finalized draft of the same run, or under a step name the draft already has
    is refused (exit 2). SIGINT/SIGTERM stop the command's process group and record nothing
    (exit 130/143).
    """
    from attestkit.adapters.drafts import draft_lock, generate_run_id, load_draft, write_draft
    from attestkit.adapters.runner import record_step, run_stoppable
    from attestkit.core.produce.drafts import add_step, check_run_id, draft_for_record, run_id_from_environment
    from attestkit.core.receipt.shape import unsafe_path_reason

    for path in inputs + outputs:
        reason = unsafe_path_reason(path.rstrip("/") or path)
        if reason is not None:
            raise UsageError(f"{path}: {reason}; artifact paths are relative to the working directory")
    run = check_run_id(run_id) if run_id is not None else run_id_from_environment(os.environ)
    generated = generate_run_id()
    with draft_lock(draft_path):  # refuse before anything runs
        draft_for_record(load_draft(draft_path), draft_path, run_id=run, step_name=name, generated_id=generated)
    signum = 0
    with _stoppable():
        try:
            step = run_stoppable(
                lambda running: record_step(
                    name=name,
                    command=" ".join(command) if shell else command,
                    shell=shell,
                    inputs=inputs,
                    outputs=outputs,
                    env=dict(os.environ),
                    snapshot_names=_env_names(env_names),
                    running=running,
                )
            )
        except KeyboardInterrupt:
            signum = signal.SIGINT
        except _Terminated:
            signum = signal.SIGTERM
    if signum:
        return _stopped(signum, f"step {name!r} was not recorded")
    with draft_lock(draft_path):  # the draft may have changed while the command ran
        draft = draft_for_record(load_draft(draft_path), draft_path, run_id=run, step_name=name, generated_id=generated)
        write_draft(draft_path, add_step(draft, step, draft_path))
    if "error" in step:
        error(f"step {step['name']!r} failed: {step['error']}")
    return int(step["exit_code"]) if 0 <= step["exit_code"] < 256 else 1


def _attestations(values: tuple[str, ...]) -> dict[str, Any]:
    from attestkit.core.produce.producer import SUMMARIZERS

    found: dict[str, Any] = {}
    for value in values:
        kind, sep, path = value.partition("=")
        if not sep or kind not in SUMMARIZERS:
            raise UsageError(f"--attest {value!r}: use test=JUNIT.xml or security=REPORT.json (Trivy JSON or SARIF)")
        found[kind] = SUMMARIZERS[kind](read_bytes(path, f"{kind} report"), path)
    return found


def _build_signed(
    draft: dict[str, Any],
    key: PrivateKey,
    pipeline_hash: str | None,
    attestations: dict[str, Any],
    signer: str | None,
    run_id: str | None,
) -> tuple[dict[str, Any], datetime]:
    from attestkit.adapters.runner import host_facts
    from attestkit.core.produce.drafts import RECEIPT_FORMAT_V2
    from attestkit.core.produce.producer import finalize_receipt
    from attestkit.core.receipt.signing import sign_receipt
    from attestkit.core.timeutil import utc_now

    now = utc_now()
    receipt = finalize_receipt(
        draft,
        now=now,
        host=host_facts(),
        pipeline_hash=pipeline_hash,
        attestations=attestations,
        run_id=run_id,
        receipt_format=RECEIPT_FORMAT_V2,
    )
    return sign_receipt(receipt, key, signer=signer), now


@click.group()
def receipt() -> None:
    """Work with draft receipts."""


@receipt.command("finalize")
@click.option("--receipt", "draft_path", required=True, metavar="FILE", help="The draft written by `attestkit record`.")
@click.option("--pipeline", metavar="FILE", help="Pipeline file whose digest becomes pipeline_hash.")
@click.option(
    "--attest", "attest", multiple=True, metavar="KIND=FILE", help="test=junit.xml or security=trivy.json (repeatable)."
)
@click.option("--key", "key_file", metavar="FILE", help=f"Signing key file (or {SIGNING_KEY_ENV}).")
@click.option("--signer", metavar="ID", help="Signer identity to record.")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Where to write the signed receipt (default .attest/receipts/receipt_<UTC>.json).",
)
def finalize_cmd(
    draft_path: str,
    pipeline: str | None,
    attest: tuple[str, ...],
    key_file: str | None,
    signer: str | None,
    output: str | None,
) -> int:
    """Add timestamp, environment, pipeline_hash and attestations to a draft, then sign it.

    The receipt records the draft's run_id. The draft is then replaced by a finalized marker
    (under the draft's lock), so it cannot be finalized twice and a later `record` of the
    same run is refused; a new run (another run id) starts a fresh draft at the same path.
    """
    from attestkit.adapters.drafts import draft_lock, load_draft, write_draft
    from attestkit.core.crypto.digest import hash_file
    from attestkit.core.produce.drafts import draft_for_finalize, finalized_marker
    from attestkit.core.timeutil import format_rfc3339

    key = load_signing_key(key_file)
    if output is not None:
        refuse_key_overwrite(output)
    attestations = _attestations(attest)
    with draft_lock(draft_path):
        draft = load_draft(draft_path)
        if draft is None:
            raise UsageError(f"{draft_path}: no draft receipt there (run `attestkit record` first)")
        state, steps = draft_for_finalize(draft, draft_path)
        pipeline_hash = hash_file(pipeline) if pipeline else None
        signed, now = _build_signed(draft, key, pipeline_hash, attestations, signer, state.run_id)
        path = output or _default_output(now)
        _write_json(path, signed)
        marker = finalized_marker(state, at=format_rfc3339(now), receipt=path, step_count=len(steps))
        try:
            write_draft(draft_path, marker)
        except AttestkitError as exc:
            raise UsageError(f"{path} was written, but the draft could not be marked finalized: {exc.message};"
                             f" remove {draft_path} before the next run") from None  # fmt: skip
    out(path)
    return 0


def _report_failures(steps: list[dict[str, Any]], tails: dict[str, list[bytes]]) -> None:
    """Why each failed step failed: its exit code, its error, and its last output lines."""
    for step in steps:
        if step["exit_code"] == 0:
            continue
        reason = f": {step['error']}" if step.get("error") else ""
        error(f"step {step['name']!r} failed with exit code {step['exit_code']}{reason}")
        lines = tails.get(step["name"], [])
        if lines:
            sys.stderr.write(f"  last {len(lines)} lines of its output:\n")
            for line in lines:
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                sys.stderr.write(f"  [{safe(step['name'])}] {safe(text)}\n")
    sys.stderr.flush()


@click.command("run")
@click.argument("pipeline_file", default="attest.yaml", metavar="[PIPELINE_FILE]")
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="all cores", metavar="N")
@click.option("--key", "key_file", metavar="FILE", help=f"Signing key file (or {SIGNING_KEY_ENV}).")
@click.option("--env", "env_names", multiple=True, metavar="VARS", help="Extra variables to snapshot, comma-separated.")
@click.option(
    "--attest",
    "attest",
    multiple=True,
    metavar="KIND=FILE",
    help="test=junit.xml or security=trivy.json, read after the run.",
)
@click.option("--keep-going", is_flag=True, help="Run independent steps after a failure (default: fail fast).")
@click.option("--signer", metavar="ID", help="Signer identity to record.")
@click.option(
    "--run-id", metavar="ID", help="Run id to record (default: $ATTESTKIT_RUN_ID, the CI run id, or a new one)."
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Where to write the signed receipt (default .attest/receipts/receipt_<UTC>.json).",
)
def run_cmd(pipeline_file: str, jobs: int, key_file: str | None, env_names: tuple[str, ...], attest: tuple[str, ...],
            keep_going: bool, signer: str | None, run_id: str | None, output: str | None) -> int:  # fmt: skip
    """Run an ATTEST pipeline file as a DAG and write a signed receipt.

    Exit 0 when every step succeeded, 1 when a step failed (the receipt records it; each
    failed step's exit code and last output lines are shown on stderr). Step stdout goes to
    stdout and step stderr to stderr, each line prefixed with [step]. SIGINT/SIGTERM stop
    every step's process group and write no receipt (exit 130/143). See docs/pipeline.md.
    """
    from attestkit.adapters.drafts import generate_run_id
    from attestkit.adapters.runner import run_pipeline
    from attestkit.core.crypto.digest import hash_bytes
    from attestkit.core.produce.drafts import check_run_id, run_id_from_environment
    from attestkit.core.produce.pipeline import parse_pipeline

    # The digest is of the bytes parsed here: a step that rewrites the pipeline file while it
    # runs must not get its new text signed as the pipeline that ran.
    pipeline_bytes = read_bytes(pipeline_file, "pipeline file")
    pipeline = parse_pipeline(pipeline_bytes, pipeline_file)
    pipeline_hash = hash_bytes(pipeline_bytes)
    key = load_signing_key(key_file)
    if output is not None:
        refuse_key_overwrite(output)  # before the steps run, not after
    run = check_run_id(run_id) if run_id is not None else run_id_from_environment(os.environ) or generate_run_id()
    tails: dict[str, list[bytes]] = {}
    signum = 0
    with _stoppable():
        try:
            steps = run_pipeline(
                pipeline, jobs=jobs, environ=dict(os.environ), snapshot_names=_env_names(env_names),
                output=sys.stdout.buffer, errors=sys.stderr.buffer, fail_fast=not keep_going, tails=tails,
            )  # fmt: skip
        except KeyboardInterrupt:
            signum = signal.SIGINT
        except _Terminated:
            signum = signal.SIGTERM
    if signum:
        return _stopped(signum, "no receipt was written")
    signed, now = _build_signed({"steps": steps}, key, pipeline_hash, _attestations(attest), signer, run)
    path = output or _default_output(now)
    _write_json(path, signed)
    failed = [s["name"] for s in steps if s["exit_code"] != 0]
    skipped = [s.name for s in pipeline.steps if s.name not in {r["name"] for r in steps}]
    out(f"receipt: {safe(str(path))}")
    if failed:
        _report_failures(steps, tails)
        error(f"failed: {', '.join(failed)}" + (f"; not run: {', '.join(skipped)}" if skipped else ""))
        return 1
    return 0


@click.group("pipeline")
def pipeline_group() -> None:
    """Inspect ATTEST pipeline files."""


@pipeline_group.command("show")
@click.argument("pipeline_file", default="attest.yaml")
def show_cmd(pipeline_file: str) -> int:
    """Print the DAG levels (steps that can run in parallel) and the critical path."""
    from attestkit.core.produce.pipeline import parse_pipeline

    pipeline = parse_pipeline(read_bytes(pipeline_file, "pipeline file"), pipeline_file)
    for index, level in enumerate(pipeline.levels(), start=1):
        out(f"level {index}: {', '.join(map(safe, level))}")
    out(f"critical path: {' -> '.join(map(safe, pipeline.critical_path()))}")
    return 0
