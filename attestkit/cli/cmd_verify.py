"""``attestkit verify``."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from attestkit.adapters.files import (
    iter_lines,
    load_trusted_keys_file,
    read_bytes,
    read_receipt_bytes,
)
from attestkit.cli.output import error, error_line, escaped, json_line, out, warn
from attestkit.cli.params import (
    DURATION,
    DURATION_FORMS,
    INSTANT,
    KEY_FORMS,
    PUBLIC_KEY,
    TIME_FORMS,
    trusted_key_options,
)
from attestkit.cli.policy_loading import load_policies, rego_engine_option
from attestkit.cli.remote import Remote, remote_from, remote_options
from attestkit.cli.reporting import DOCUMENT_FORMATS, FORMATS, document, emit, output_option, use_colour
from attestkit.core.crypto.keys import PublicKey
from attestkit.core.policy.base import Policy
from attestkit.core.receipt.reader import MAX_RECEIPT_BYTES, format_for_name
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.bulk import BATCH, MAX_JOBS, Budget, BulkItem, BulkOutcome, Input, PathList, Render, Tally
from attestkit.core.verify.result import VerificationResult, unchecked_checks, unchecked_dict
from attestkit.core.verify.verifier import VerifyOptions, verify_with_options
from attestkit.errors import AttestkitError, InputFileError, UsageError

if TYPE_CHECKING:
    from attestkit.cli.summary import SummaryRecorder
    from attestkit.core.render.ci_reports import Subject
    from attestkit.core.render.html_report import ReportRow


def build_options(
    public_keys: Sequence[PublicKey | str],
    trusted_files: Sequence[str],
    integrity_only: bool,
    policies: tuple[Policy, ...],
    artifacts: str | None,
    check_inputs: bool,
    pipeline: str | None,
    now: datetime | str | None,
    tolerance: timedelta | str,
    scope: str | None,
    log_proofs: tuple[str, ...] = (),
    log_policy: str | None = None,
    require_log: bool = False,
) -> VerifyOptions:
    """Turn command-line values into verification options (raising usage errors)."""
    if integrity_only and (public_keys or trusted_files):
        raise UsageError(
            "--integrity-only checks against the receipt's embedded key only: drop it to check against "
            "--public-key/--keyring, or drop the trusted keys"
        )
    store = TrustStore.of(PUBLIC_KEY.convert(k, None, None) for k in public_keys)
    for path in trusted_files:
        store = store.merged(load_trusted_keys_file(path))
    if not integrity_only and len(store) == 0:
        raise UsageError("no trusted key: give --public-key or --trusted-keys-file/--keyring (or --integrity-only)")
    tolerance_delta = DURATION.convert(tolerance, None, None) if isinstance(tolerance, str) else tolerance
    moment = INSTANT.convert(now, None, None) if isinstance(now, str) else now
    if integrity_only and scope is not None:
        raise UsageError("--scope selects keyring keys; --integrity-only uses none: drop one of them")
    if check_inputs and artifacts is None:
        raise UsageError("--check-inputs checks the inputs under --artifacts DIR: give --artifacts too")
    if artifacts is not None and not os.path.isdir(artifacts):
        raise UsageError(f"--artifacts {artifacts}: no such directory")
    if pipeline is not None and os.path.isdir(pipeline):
        raise UsageError(f"--pipeline {pipeline}: is a directory; give the pipeline file (e.g. {pipeline}/attest.yaml)")
    if pipeline is not None and not os.path.isfile(pipeline):
        raise UsageError(f"--pipeline {pipeline}: no such file")
    return VerifyOptions(
        trusted=store,
        now=moment,
        tolerance=tolerance_delta,
        integrity_only=integrity_only,
        policies=policies,
        artifacts_dir=artifacts,
        check_inputs=check_inputs,
        pipeline_file=pipeline,
        scope=scope,
        **_log_options(log_proofs, log_policy, require_log),
    )


def _log_options(proofs: tuple[str, ...], policy: str | None, require: bool) -> dict[str, Any]:
    """``--log-proof`` / ``--log-policy`` / ``--require-log`` as VerifyOptions fields (docs/log.md)."""
    if not proofs and policy is None and not require:
        return {}
    from attestkit.core.tlog.policy import parse_policy
    from attestkit.core.tlog.proof import MAX_PROOF_FILE_BYTES
    from attestkit.errors import TlogConfigError

    parsed = None
    if policy is not None:
        data = read_bytes(policy, "log policy")
        try:
            parsed = parse_policy(data)
        except TlogConfigError as exc:
            raise exc.prefixed(f"{policy}: ") from None
    files = tuple(read_bytes(p, "log proof", MAX_PROOF_FILE_BYTES + 1) for p in proofs)
    return {"log_proofs": files, "log_policy": parsed, "require_log": require}


def render_text(result: VerificationResult, colour: bool = False) -> str:
    """Human form: a verdict line, then one line per check."""
    verdict = "INVALID"
    if result.valid:
        verdict = "VALID" if result.chain_of_trust == "verified" else f"VALID ({result.chain_of_trust})"
    if colour:
        tint = "31" if not result.valid else "32" if result.chain_of_trust == "verified" else "33"  # untrusted: yellow
        verdict = f"\033[{tint};1m{verdict}\033[0m"
    lines = [f"{verdict}  {result.source}"]
    width = max([12, *(len(c.name) for c in result.checks)])  # long policy names never run into the message
    for check in result.checks:
        mark = "ok  " if check.passed else "FAIL"
        lines.append(f"  {mark}  {check.name:<{width}} {check.message}")
    if result.chain_of_trust != "verified" and result.signature_valid:
        lines.append(f"  chain of trust: {result.chain_of_trust}")
    return "\n".join(lines)


RECEIPT_SUFFIXES = (".json", ".yaml", ".yml")


def _compare(remote: Remote, receipt: dict[str, Any], local: dict[str, Any]) -> None:
    from attestkit.adapters.attest import AttestApi, verdict_differences

    answer = AttestApi.of(remote.source(), remote.base_url).verdict(receipt)
    differences = verdict_differences(local, answer)
    for line in differences:
        warn(f"remote verdict differs: {line}")
    if not differences:
        warn("remote verdict agrees with the local one")


def _read_item(path: str, walked: bool = False) -> BulkItem:
    label = "<stdin>" if path == "-" else path
    try:
        data = read_receipt_bytes(path, walked=walked)
    except AttestkitError as exc:
        return BulkItem(label, error=exc)
    return BulkItem(label, data, fmt=format_for_name(path))


def _read_walked(path: str) -> bytes:
    """A receipt file found below a directory (read in the worker process that verifies it)."""
    return read_receipt_bytes(path, walked=True)


def _inputs(receipts: tuple[str, ...], jsonl: str | None, *, defer: bool = False) -> Iterator[Input]:
    """Receipts to verify, read lazily: files, every receipt file below a directory, JSON Lines.

    With *defer*, files found below a directory are read by the worker that verifies them
    (one :class:`PathList` per folder); without, every input is a :class:`BulkItem`.
    """
    several = len(receipts) + (jsonl is not None) > 1  # alone, an empty input is the run's nothing-checked
    for argument in receipts:
        if argument != "-" and os.path.isdir(argument):
            # The names the listing gave, per folder (the paths are joined where they are read).
            found: deque[tuple[str, list[str]]] = deque()
            unlisted: list[OSError] = []
            linked: list[str] = []
            for folder, subfolders, files in os.walk(argument, onerror=unlisted.append):
                subfolders.sort()
                linked.extend(os.path.join(folder, d) for d in subfolders if os.path.islink(os.path.join(folder, d)))
                names = sorted(f for f in files if f.lower().endswith(RECEIPT_SUFFIXES))
                if names:
                    found.append((folder, names))
            for problem in unlisted:  # an unreadable folder is never skipped silently
                where = problem.filename if isinstance(problem.filename, str) else argument
                yield BulkItem(where, error=InputFileError(f"{where}: cannot list directory: {problem.strerror}"))
            for where in linked:  # nor is one the walk does not enter (a link may lead anywhere, or loop)
                message = f"{where}: a symbolic link to a directory is not followed; name the directory to verify it"
                yield BulkItem(where, error=InputFileError(message, code="special-file"))
            if several and not found and not unlisted and not linked:
                message = f"{argument}: no receipt file below this directory; nothing in it was checked"
                yield BulkItem(argument, error=InputFileError(message, code="nothing-checked"))
            if not defer:
                for folder, names in found:
                    yield from (_read_item(os.path.join(folder, name), walked=True) for name in names)
                continue
            small: list[str] = []  # the paths of small folders, batched together
            while found:
                folder, names = found.popleft()
                if len(names) < BATCH:
                    small.extend(os.path.join(folder, name) for name in names)
                    continue
                if small:
                    yield PathList(small, _read_walked)
                    small = []
                yield PathList(names, _read_walked, folder)
            if small:
                yield PathList(small, _read_walked)
        else:
            yield _read_item(argument)
    if jsonl is not None:
        name = "<stdin>" if jsonl == "-" else jsonl
        lines = 0
        for number, line in iter_lines(jsonl, "JSON Lines file", MAX_RECEIPT_BYTES):
            lines += 1
            if isinstance(line, bytes):
                yield BulkItem(f"{name}:{number}", line, fmt="json")
            else:
                yield BulkItem(f"{name}:{number}" if number else name, error=line)
        if several and not lines:
            message = f"{name}: no receipt in this JSON Lines stream; nothing in it was checked"
            yield BulkItem(name, error=InputFileError(message, code="nothing-checked"))


def _read_here(receipts: tuple[str, ...], jsonl: str | None) -> Iterator[BulkItem]:
    """:func:`_inputs` read in this process (for the summary, which needs each receipt's bytes here)."""
    for entry in _inputs(receipts, jsonl):
        assert isinstance(entry, BulkItem)  # without defer, every input is an item
        yield entry


def render_json_line(outcome: BulkOutcome) -> str:
    """One JSON line for an outcome (runs in worker processes)."""
    if outcome.result is not None:
        return json_line(outcome.result.to_dict())
    assert outcome.error is not None
    return json_line(unchecked_dict(outcome.label, outcome.error.code, str(outcome.error)))


def report_texts(outcome: BulkOutcome, *, fmt: str, quiet: bool, colour: bool, to_file: bool) -> tuple[str, str]:
    """An outcome's stdout and stderr texts, exactly as the parent writes them (made in worker processes).

    *fmt* is ``json`` or ``text``; *quiet* drops valid receipts; *to_file* keeps the text for
    ``--output`` (the renderers escaped it), else it is escaped for the terminal as :func:`out` does.
    """
    problem = error_line(str(outcome.error)) if outcome.error is not None else ""
    if quiet and outcome.error is None and outcome.valid:
        return "", problem
    if fmt == "json":
        text = render_json_line(outcome)
    elif outcome.result is not None:
        text = render_text(shown(outcome.result), colour=colour)
    elif to_file:
        return file_error_text(outcome), problem
    else:
        return "", problem
    return (text if to_file else escaped(text, markup=True)) + "\n", problem


def file_error_text(outcome: BulkOutcome) -> str:
    """The lines a text report file (``-o``) holds for a receipt that could not be checked (stderr has it too)."""
    from attestkit.core.textsafe import escape_text

    return f"ERROR  {escape_text(outcome.label)}\n  could not check: {escape_text(str(outcome.error))}\n"


def render_outcome_text(outcome: BulkOutcome) -> str:
    """Human text for an outcome (runs in worker processes); errors go to stderr instead."""
    return render_text(shown(outcome.result)) if outcome.result is not None else ""


def render_outcome_colour(outcome: BulkOutcome) -> str:
    """Human text with the verdict coloured (only used on a terminal without NO_COLOR)."""
    if outcome.result is None:
        return ""
    return render_text(shown(outcome.result), colour=True)


def shown(result: VerificationResult) -> VerificationResult:
    """*result* with every text that came from the receipt or the files escaped for a terminal."""
    from dataclasses import replace

    from attestkit.cli.output import safe

    checks = tuple(replace(c, name=safe(c.name), message=safe(c.message)) for c in result.checks)
    signer = safe(result.signer) if result.signer is not None else None
    return replace(result, source=safe(result.source), checks=checks, signer=signer)


def subject_for(outcome: BulkOutcome, policy_names: Sequence[str] = ()) -> Subject:
    """The report subject of an outcome (a could-not-check error: one failed check, policies not evaluated)."""
    from attestkit.core.render.ci_reports import Subject, subject_of

    if outcome.result is not None:
        return subject_of(outcome.result)
    assert outcome.error is not None
    return Subject(outcome.label, unchecked_checks(outcome.error.code, str(outcome.error), policy_names), False)


def report_row(outcome: BulkOutcome, options: VerifyOptions) -> ReportRow:
    """The HTML report's row for an outcome (a could-not-check error: one failed ``input`` check)."""
    from attestkit.core.render.html_report import row_of_error, row_of_result

    if outcome.result is not None:
        return row_of_result(outcome.result, options.now)
    assert outcome.error is not None
    return row_of_error(outcome.label, outcome.error.code, str(outcome.error))


def _summary_options(command: Any) -> Any:
    from attestkit.cli.summary_flags import summary_options

    for option in reversed(summary_options):
        command = option(command)
    return command


# What checking a summary reads (cli/summary.py: check_summary_command); any other option
# given with --summary would be silently ignored, and a gate that ignores --scope or
# --require-log passes without the check it was asked for.
_SUMMARY_OPTIONS = frozenset(
    {"receipts", "summary_file", "summary_keys", "summary_max_age", "policy_names", "policy_files",
     "verifier_id", "now", "as_json", "rego_engine"}
)  # fmt: skip


def _not_with_summary() -> list[str]:
    """The options given alongside --summary (which checks a summary, not receipts) that it cannot apply."""
    from click.core import ParameterSource

    context = click.get_current_context()
    clashing = []
    for parameter in context.command.params:
        name = parameter.name or ""
        source = context.get_parameter_source(name)
        if name in _SUMMARY_OPTIONS or source in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        flags = [opt for opt in parameter.opts if opt.startswith("--")] or list(parameter.opts) or [name]
        clashing.append(flags[0])
    return clashing


VERIFY_HELP = f"""Verify receipts: signature, trust, time, policies, pipeline, artifacts.

\b
Inputs (any mix; - is stdin):
  RECEIPT        a receipt file, JSON or YAML (.json, .yaml, .yml)
  ENVELOPE       a DSSE envelope written by `attestkit export` (same checks)
  DIR            every .json/.yaml/.yml file below DIR, in name order
  --jsonl FILE   JSON Lines: one receipt per line
  --execution ID a receipt fetched from ATTEST (--base-url URL)

Trust: --public-key KEY ({KEY_FORMS}),
--keyring FILE (alias --trusted-keys-file), or --integrity-only.
Durations are {DURATION_FORMS}; times are {TIME_FORMS}.

--summary-out FILE --key KEY also writes a signed SLSA VSA of the run; --summary FILE
--summary-key KEY checks one instead of re-verifying (docs/interop.md).

Exit 0 when every receipt is valid, 1 when any is invalid, 2 when any could not be
checked.
"""


@click.command(help=VERIFY_HELP)
@click.argument("receipts", nargs=-1, metavar="[RECEIPT|ENVELOPE|DIR|-]...")
@trusted_key_options(
    public_key_help="Trusted public key: ed25519:<hex>, or a PEM/OpenSSH/text key file. Repeatable.",
    keyring_help="File of trusted keys: key lines, PEM blocks or a keyring (docs/keys.md). Repeatable.",
    load_keys=False,
)
@click.option(
    "--integrity-only",
    is_flag=True,
    help="Check the signature against the embedded key only; reported as untrusted. Takes no trusted keys.",
)
@click.option(
    "--identity",
    "identities",
    multiple=True,
    metavar="ID",
    help="The keyring (or delegation) identity of the signing key must be one of these (repeatable); "
    "like a rule file's `type: signer-allowed`.",
)
@click.option(
    "--policy",
    "policy_names",
    multiple=True,
    metavar="NAME",
    help="Built-in policy name (repeatable), e.g. require-tests, max-age-24h.",
)
@click.option(
    "--policy-file",
    "policy_files",
    multiple=True,
    metavar="FILE",
    help="Policy file: .yaml/.yml rules or .rego (repeatable).",
)
@rego_engine_option
@click.option(
    "--quiet",
    is_flag=True,
    help="Print only the receipts that failed and the summary (with failure classes); drop Rego print() output.",
)
@click.option("--artifacts", metavar="DIR", help="Directory holding the recorded outputs.")
@click.option("--check-inputs", is_flag=True, help="With --artifacts, also check recorded inputs.")
@click.option("--pipeline", metavar="FILE", help="Pipeline definition file whose digest must equal pipeline_hash.")
@click.option("--now", type=INSTANT, help="Pin the current time (RFC 3339 or Unix seconds).")
@click.option(
    "--tolerance", type=DURATION, default="5m", show_default=True, help="Allowed clock skew for future timestamps."
)
@click.option("--scope", metavar="SCOPE", help="Accept only keys whose keyring scopes include this scope.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per receipt (JSON Lines); same as --format json."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([*FORMATS, "html"]),
    default="text",
    show_default=True,
    help="Report format (html: a self-contained audit report, see docs/audit.md).",
)
@output_option
@remote_options
@click.option(
    "--compare-remote",
    is_flag=True,
    help="Also ask ATTEST's POST /v1/receipts/verify and show where it differs (the local verdict decides).",
)
@click.option(
    "--jsonl", metavar="FILE", help="Also read receipts from a JSON Lines file (one receipt per line; - for stdin)."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=MAX_JOBS),
    metavar="N",
    help="Worker processes (default: every core for many receipts).",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="SCHEDULER_ADDRESS",
    help="Verify on a Dask cluster (tcp://host:8786; needs attestkit[dask]); see docs/scale.md.",
)
@click.option(
    "--log-proof",
    "log_proofs",
    multiple=True,
    metavar="FILE",
    help="A .tlog-proof for the receipt (repeatable); see docs/log.md.",
)
@click.option("--log-policy", metavar="FILE", help="Witness policy (c2sp.org/tlog-policy) the log proof must meet.")
@click.option("--require-log", is_flag=True, help="Fail a receipt without a valid log proof.")
@click.option(
    "--receipt-timeout",
    type=DURATION,
    default="60s",
    show_default=True,
    help="Time budget per receipt (0s: none); a receipt over it is invalid and the run goes on.",
)
@click.option(
    "--receipt-max-bytes",
    type=click.IntRange(min=1, max=32 << 20),
    default=32 << 20,
    show_default=True,
    metavar="BYTES",
    help="Size budget per receipt, in bytes; a larger receipt is invalid.",
)
@_summary_options
def verify(
    receipts: tuple[str, ...],
    public_keys: tuple[str, ...],
    trusted_files: tuple[str, ...],
    integrity_only: bool,
    identities: tuple[str, ...],
    policy_names: tuple[str, ...],
    policy_files: tuple[str, ...],
    rego_engine: str | None,
    quiet: bool,
    artifacts: str | None,
    check_inputs: bool,
    pipeline: str | None,
    now: datetime | None,
    tolerance: timedelta,
    scope: str | None,
    as_json: bool,
    compare_remote: bool,
    jsonl: str | None,
    jobs: int | None,
    dask_address: str | None,
    receipt_timeout: timedelta,
    receipt_max_bytes: int,
    log_proofs: tuple[str, ...],
    log_policy: str | None,
    require_log: bool,
    fmt: str,
    output_file: str | None,
    summary_out: str | None,
    summary_key_file: str | None,
    verifier_id: str | None,
    summary_file: str | None,
    summary_keys: tuple[str, ...],
    summary_max_age: timedelta | None,
    **remote_kwargs: Any,
) -> int:
    from attestkit.core.timeutil import utc_now

    if summary_file is not None:
        from attestkit.cli import summary as vsa

        clashing = _not_with_summary()
        if clashing:
            raise UsageError(f"--summary checks a verification summary; it does not take {', '.join(clashing)}")
        return vsa.check_summary_command(
            summary_file,
            summary_keys,
            receipts,
            policy_names,
            policy_files,
            verifier_id,
            now or utc_now(),
            as_json,
            summary_max_age,
        )
    if summary_keys or summary_max_age is not None:
        raise UsageError("--summary-key and --summary-max-age are for --summary FILE")
    if summary_out is None and summary_key_file is not None:
        raise UsageError("--key signs the summary: it needs --summary-out FILE")
    remote = remote_from(remote_kwargs)
    if summary_out is not None and integrity_only:
        raise UsageError("--summary-out vouches for trusted receipts: it cannot be written with --integrity-only")
    if summary_out is not None and remote.wanted:
        raise UsageError("--summary-out covers receipt files: fetch the receipt first (attestkit fetch -o FILE)")
    if remote.base_url is not None and remote.execution is None:
        raise UsageError("--base-url needs --execution ID")
    if compare_remote and remote.profile != "attest":
        raise UsageError("--compare-remote needs the attest profile")
    if as_json and fmt not in ("text", "json"):
        raise UsageError(f"--json and --format {fmt} contradict each other: give one of them")
    if identities and integrity_only:
        raise UsageError("--identity needs trusted keys (--public-key or --keyring), not --integrity-only")
    if not receipts and not remote.wanted and jsonl is None:
        raise UsageError("give at least one RECEIPT or directory (or --jsonl FILE, or --base-url URL --execution ID)")
    if dask_address is not None and jobs is not None:
        raise UsageError("--dask and --jobs exclude each other (the cluster's workers do the work)")
    budget = Budget(seconds=receipt_timeout.total_seconds(), max_bytes=receipt_max_bytes)
    policy_data: dict[str, bytes] = {}
    policies = load_policies(policy_names, policy_files, rego_engine, quiet, identities, policy_data,
                             announce_engine=fmt == "text" and not as_json and not quiet)  # fmt: skip
    options = build_options(
        public_keys,
        trusted_files,
        integrity_only,
        policies,
        artifacts,
        check_inputs,
        pipeline,
        now,
        tolerance,
        scope,
        log_proofs,
        log_policy,
        require_log,
    )
    fmt = "json" if as_json else fmt
    tally = Tally()
    collect = fmt in DOCUMENT_FORMATS
    subjects: list[Subject] = []
    rows: list[ReportRow] = []
    if fmt == "html" and options.now is None:
        from dataclasses import replace

        options = replace(options, now=utc_now())  # one instant for the whole report (it is shown)
    buffered: list[str] | None = [] if output_file is not None else None

    def report(outcome: BulkOutcome) -> None:
        tally.add(outcome)
        if outcome.error is not None:
            error(str(outcome.error))
        if quiet and outcome.error is None and outcome.valid and fmt in ("text", "json"):
            return  # documents (SARIF, JUnit, HTML...) stay complete
        if collect:
            subjects.append(subject_for(outcome, [p.name for p in policies]))
        elif fmt == "html":
            rows.append(report_row(outcome, options))
        elif outcome.text:
            if buffered is not None:
                buffered.append(outcome.text + "\n")
            else:
                out(outcome.text, markup=True)  # the renderers escaped what came from outside
        elif outcome.error is not None and buffered is not None and fmt == "text":
            buffered.append(file_error_text(outcome))  # the report file must not look clean

    render: Render | None = None
    if fmt == "json":
        render = render_json_line
    elif fmt == "text":
        render = render_outcome_colour if output_file is None and use_colour() else render_outcome_text
    if remote.wanted:
        label, document_ = remote.fetch()
        fetched_result = verify_with_options(document_, options, source=label)
        if compare_remote:
            _compare(remote, document_, fetched_result.to_dict())
        fetched = BulkOutcome(label, fetched_result, valid=fetched_result.valid)
        if render is not None:
            fetched = BulkOutcome(label, None, None, fetched_result.valid, render(fetched), fetched.failure_classes)
        report(fetched)
    elif compare_remote:
        raise UsageError("--compare-remote needs a fetched receipt (--execution ID)")
    from attestkit.cli.progress import Progress
    from attestkit.core.verify.bulk import default_jobs, verify_many, verify_reports

    named = [r for r in receipts if r == "-" or not os.path.isdir(r)]
    workers = jobs or default_jobs(
        len(named), walks_directories=len(named) < len(receipts), reads_streams=jsonl is not None
    )
    recorder: SummaryRecorder | None = None
    if summary_out is not None:
        from attestkit.cli.summary import SummaryRecorder

        recorder = SummaryRecorder(artifacts)
    # Local workers read the files they verify; the summary needs each receipt's bytes here, and a
    # Dask worker may run on a machine without the files.
    defer = recorder is None and dask_address is None
    read_here = _read_here(receipts, jsonl) if recorder is None else recorder.wrap(_read_here(receipts, jsonl))
    items: Iterator[Input] = _inputs(receipts, jsonl, defer=True) if defer else read_here
    started = options.now or utc_now()
    with Progress("verifying", quiet=fmt != "text", unit="receipts") as progress:
        if dask_address is not None:
            from attestkit.adapters.dask_verify import connect, verify_on_dask

            with connect(dask_address) as client:
                for outcome in verify_on_dask(client, read_here, options, render=render, budget=budget):
                    report(outcome)
                    progress(1)
        elif render is not None and recorder is None:
            # Text and JSON Lines: each batch comes back as the texts to write and its counts, so
            # the parent does no per-receipt work beyond walking the directories.
            colour = render is render_outcome_colour
            texts = partial(report_texts, fmt=fmt, quiet=quiet, colour=colour, to_file=buffered is not None)
            for batch in verify_reports(items, options, report=texts, jobs=workers, budget=budget):
                tally.merge(batch.tally)
                for to_stderr, text in batch.chunks:
                    if to_stderr:
                        sys.stderr.write(text)
                    elif buffered is not None:
                        buffered.append(text)
                    else:
                        sys.stdout.write(text)
                progress(batch.tally.total)
        else:
            for outcome in verify_many(items, options, jobs=workers, render=render, budget=budget):
                report(outcome)
                progress(1)
    nothing = tally.nothing_checked([*receipts, *([] if jsonl is None else ["<stdin>" if jsonl == "-" else jsonl])])
    if nothing is not None:
        raise nothing  # before any report is written: an empty clean report would pass an upload step
    if collect:
        emit(document(subjects, fmt, "attestkit verify", artifacts_dir=options.artifacts_dir), output_file)
    elif fmt == "html":
        from attestkit.cli.html_context import report_context
        from attestkit.core.render.html_report import render_html

        given = {"public_keys": public_keys, "trusted_files": trusted_files, "policy_names": policy_names,
                 "policy_files": policy_files, "pipeline": pipeline, "artifacts": artifacts,
                 "log_proofs": log_proofs, "log_policy": log_policy}  # fmt: skip
        emit(render_html(rows, report_context(options, given)), output_file)
    elif buffered is not None:
        emit("".join(buffered), output_file)
    if tally.total > 1 or (quiet and tally.total):
        print(tally.summary(), file=sys.stderr if fmt != "text" or output_file else sys.stdout)
    if tally.errors and summary_out is not None:
        warn(f"no summary written to {summary_out}: some receipts could not be checked")
    if not tally.errors and recorder is not None and summary_out is not None:
        from attestkit.cli.summary import policy_refs, write_summary

        refs = policy_refs(policy_names, policy_files, policy_data)
        write_summary(summary_out, recorder, refs, passed=not tally.invalid, key_file=summary_key_file,
                          verifier_id=verifier_id, now=started)  # fmt: skip
    return tally.exit_code
