"""Producing receipts: ``record``, ``receipt finalize``, ``run``, ``pipeline show``."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

import click

from attestkit.adapters.files import (
    SIGNING_KEY_ENV,
    load_private_key_env,
    load_private_key_file,
    read_bytes,
    write_atomic,
)
from attestkit.cli.output import error, out
from attestkit.core.crypto.keys import PrivateKey
from attestkit.errors import UsageError

RECEIPTS_DIR = os.path.join(".attest", "receipts")


def _signing_key(key_file: str | None) -> PrivateKey:
    if key_file is not None:
        return load_private_key_file(key_file)
    key = load_private_key_env()
    if key is None:
        raise UsageError(f"no signing key: pass --key KEYFILE or set {SIGNING_KEY_ENV}")
    return key


def _env_names(values: tuple[str, ...]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _load_draft(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {"steps": []}
    from attestkit.core.receipt.reader import parse_document

    draft = parse_document(read_bytes(path, "draft receipt"), source=path, fmt="json")
    if not isinstance(draft, dict) or not isinstance(draft.get("steps", []), list):
        raise UsageError(f"{path}: not a draft receipt (expected an object with a steps list)")
    return draft


def _write_json(path: str, value: Any) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    write_atomic(path, (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def _default_output(now: datetime) -> str:
    return os.path.join(RECEIPTS_DIR, f"receipt_{now.strftime('%Y%m%dT%H%M%SZ')}.json")


def _split_record_args(args: tuple[str, ...]) -> tuple[dict[str, list[str]], list[str]]:
    """`--inputs a b --outputs c -- cmd ...`: options take every value up to the next option."""
    values: dict[str, list[str]] = {"--receipt": [], "--name": [], "--inputs": [], "--outputs": [], "--env": []}
    flags = {"--shell": False}
    command: list[str] = []
    current: str | None = None
    for index, arg in enumerate(args):
        if arg == "--":
            command = list(args[index + 1 :])
            break
        if arg in values:
            current = arg
        elif arg in flags:
            flags[arg] = True
            current = None
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in values:
            name, value = arg.split("=", 1)
            values[name].append(value)
            current = None
        elif arg.startswith("-") and current is None:
            raise UsageError(f"record: unknown option {arg}")
        elif current is None:
            raise UsageError(f"record: unexpected {arg!r}; put the command after --")
        else:
            values[current].append(arg)
    values["--shell"] = ["yes"] if flags["--shell"] else []
    return values, command


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": ["-h", "--help"],
    }
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def record(args: tuple[str, ...]) -> int:
    """Run a command and append it as a step to a draft receipt.

    attestkit record --receipt .attest/draft.json --name build --inputs src/ package.json
    --outputs dist/ [--env NODE_ENV,CI] [--shell] -- npm run build

    Inputs are hashed before the run and outputs after it; only the --env variables are
    snapshotted. The command's exit code is passed through; a declared output that does not
    exist afterwards fails the step (exit 1).
    """
    from attestkit.adapters.runner import record_step

    values, command = _split_record_args(args)
    if len(values["--receipt"]) != 1 or len(values["--name"]) != 1:
        raise UsageError("record needs --receipt FILE and --name NAME")
    if not command:
        raise UsageError("record needs the command after --")
    from attestkit.core.receipt.shape import unsafe_path_reason

    for path in values["--inputs"] + values["--outputs"]:
        reason = unsafe_path_reason(path.rstrip("/") or path)
        if reason is not None:
            raise UsageError(f"{path}: {reason}; artifact paths are relative to the working directory")
    shell = bool(values["--shell"])
    draft_path = values["--receipt"][0]
    draft = _load_draft(draft_path)
    step = record_step(
        name=values["--name"][0],
        command=" ".join(command) if shell else command,
        shell=shell,
        inputs=values["--inputs"],
        outputs=values["--outputs"],
        env=dict(os.environ),
        snapshot_names=_env_names(tuple(values["--env"])),
    )
    draft.setdefault("steps", []).append(step)
    _write_json(draft_path, draft)
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


def _finish(
    draft: dict[str, Any],
    key: PrivateKey,
    pipeline: str | None,
    attest: tuple[str, ...],
    output: str | None,
    signer: str | None,
) -> str:
    from attestkit.adapters.runner import host_facts
    from attestkit.core.crypto.digest import hash_file
    from attestkit.core.produce.producer import finalize_receipt
    from attestkit.core.receipt.signing import sign_receipt
    from attestkit.core.timeutil import utc_now

    now = utc_now()
    receipt = finalize_receipt(
        draft,
        now=now,
        host=host_facts(),
        pipeline_hash=hash_file(pipeline) if pipeline else None,
        attestations=_attestations(attest),
    )
    signed = sign_receipt(receipt, key, signer=signer)
    path = output or _default_output(now)
    _write_json(path, signed)
    return path


@click.group()
def receipt() -> None:
    """Work with draft receipts."""


@receipt.command("finalize")
@click.option("--receipt", "draft_path", required=True, help="The draft written by `attestkit record`.")
@click.option("--pipeline", help="Pipeline file whose digest becomes pipeline_hash.")
@click.option("--attest", "attest", multiple=True, help="test=junit.xml or security=trivy.json (repeatable).")
@click.option("--key", "key_file", help=f"Signing key file (or {SIGNING_KEY_ENV}).")
@click.option("--signer", help="Signer identity to record.")
@click.option("-o", "--output", help="Where to write the signed receipt (default .attest/receipts/receipt_<UTC>.json).")
def finalize_cmd(
    draft_path: str,
    pipeline: str | None,
    attest: tuple[str, ...],
    key_file: str | None,
    signer: str | None,
    output: str | None,
) -> int:
    """Add timestamp, environment, pipeline_hash and attestations to a draft, then sign it."""
    key = _signing_key(key_file)
    draft = _load_draft(draft_path)
    if not draft.get("steps"):
        raise UsageError(f"{draft_path}: the draft has no steps (run `attestkit record` first)")
    out(_finish(draft, key, pipeline, attest, output, signer))
    return 0


@click.command("run")
@click.argument("pipeline_file", default="attest.yaml")
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="all cores")
@click.option("--key", "key_file", help=f"Signing key file (or {SIGNING_KEY_ENV}).")
@click.option("--env", "env_names", multiple=True, help="Extra variables to snapshot, comma-separated.")
@click.option("--attest", "attest", multiple=True, help="test=junit.xml or security=trivy.json, read after the run.")
@click.option("--keep-going", is_flag=True, help="Run independent steps after a failure (default: fail fast).")
@click.option("--signer", help="Signer identity to record.")
@click.option("-o", "--output", help="Where to write the signed receipt (default .attest/receipts/receipt_<UTC>.json).")
def run_cmd(pipeline_file: str, jobs: int, key_file: str | None, env_names: tuple[str, ...], attest: tuple[str, ...],
            keep_going: bool, signer: str | None, output: str | None) -> int:  # fmt: skip
    """Run an ATTEST pipeline file as a DAG and write a signed receipt.

    Exit 0 when every step succeeded, 1 when a step failed (the receipt records it).
    """
    from attestkit.adapters.runner import run_pipeline
    from attestkit.core.produce.pipeline import parse_pipeline

    pipeline = parse_pipeline(read_bytes(pipeline_file, "pipeline file"), pipeline_file)
    key = _signing_key(key_file)
    try:
        steps = run_pipeline(
            pipeline, jobs=jobs, environ=dict(os.environ), snapshot_names=_env_names(env_names),
            output=sys.stdout.buffer, fail_fast=not keep_going,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise UsageError("interrupted: running steps were stopped and no receipt was written") from None
    path = _finish({"steps": steps}, key, pipeline_file, attest, output, signer)
    failed = [s["name"] for s in steps if s["exit_code"] != 0]
    skipped = [s.name for s in pipeline.steps if s.name not in {r["name"] for r in steps}]
    out(f"receipt: {path}")
    if failed:
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
        out(f"level {index}: {', '.join(level)}")
    out(f"critical path: {' -> '.join(pipeline.critical_path())}")
    return 0
