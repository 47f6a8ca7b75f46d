"""``attestkit policy list`` and ``attestkit policy check``."""

from __future__ import annotations

import click

from attestkit.adapters.files import MAX_POLICY_FILE_BYTES, read_bytes
from attestkit.cli.output import json_line, out
from attestkit.cli.policy_loading import load_policies, rego_engine_from, rego_engine_option
from attestkit.cli.reporting import format_option, output_option
from attestkit.core.policy.builtin import BUILTIN_DESCRIPTIONS
from attestkit.errors import AttestkitError


@click.group()
def policy() -> None:
    """List built-in policies, check policy files, test policies against fixtures."""


@policy.command("list")
def list_cmd() -> int:
    """Print built-in policy names and rule-file types."""
    from attestkit.core.policy.rules import RULE_TYPES

    for name, text in BUILTIN_DESCRIPTIONS.items():
        out(f"{name:<24} {text}")
    for name, (text, _) in RULE_TYPES.items():
        out(f"type: {name:<18} {text}")
    return 0


@policy.command("check")
@click.argument("files", nargs=-1, required=True)
@rego_engine_option
@format_option
@output_option
def check_cmd(files: tuple[str, ...], rego_engine: str | None, fmt: str, output_file: str | None) -> int:
    """Validate policy files (.yaml/.yml rules or .rego) without a receipt (exit 2 if any is invalid).

    A .rego file passes only if `verify` would load it: Rego v1 syntax, package
    attest.verification, and only builtins the chosen engine evaluates exactly as OPA.
    """
    from attestkit.cli.reporting import document, emit
    from attestkit.core.policy.loader import load_policy_text
    from attestkit.core.render.ci_reports import Subject
    from attestkit.core.verify.result import Check
    from attestkit.errors import PolicyError

    engine = rego_engine_from(rego_engine)
    subjects = []
    for path in files:
        try:
            load_policy_text(path, read_bytes(path, "policy file", MAX_POLICY_FILE_BYTES), rego_engine=engine)
            check = Check("policy-file", True, "ok", f"ok  {path}", path)
        except AttestkitError as exc:
            check = Check("policy-file", False, exc.code, str(exc), path)
        subjects.append(Subject(path, (check,), check.passed))
    failed = [s for s in subjects if not s.passed]
    if fmt == "text":
        emit("".join(s.checks[0].message + "\n" for s in subjects if s.passed), output_file)
    elif fmt == "json":
        emit("".join(json_line(s.checks[0].to_json()) + "\n" for s in subjects), output_file)
    else:
        emit(document(subjects, fmt, "attestkit policy check"), output_file)
    if failed:
        # Every refusal is reported (one line each), so nothing `verify` would refuse stays hidden.
        from attestkit.cli.output import error

        for subject in failed[:-1]:
            error(subject.checks[0].message)
        raise PolicyError(failed[-1].checks[0].message)
    return 0


FIXTURE_SUFFIXES = (".json", ".yaml", ".yml")
EXPECT_SUFFIX = ".expect.yaml"


def _fixtures(arguments: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Fixture receipts: the files given, and every receipt file below a directory given (name order).

    Each comes with whether it was found by walking: such a file, and its expectation, must be
    a regular file (a link is not followed, as ``verify DIR`` does); a link to a directory
    below one is refused, never skipped silently.
    """
    import os

    from attestkit.errors import InputFileError

    found: list[tuple[str, bool]] = []
    for argument in arguments:
        if os.path.isdir(argument):
            for folder, subfolders, files in os.walk(argument):
                subfolders.sort()
                for name in subfolders:
                    if os.path.islink(os.path.join(folder, name)):
                        where = os.path.join(folder, name)
                        raise InputFileError(
                            f"{where}: a symbolic link to a directory is not followed; name the directory to test it",
                            code="special-file",
                        )
                found.extend(
                    (os.path.join(folder, name), True)
                    for name in sorted(files)
                    if name.lower().endswith(FIXTURE_SUFFIXES) and not name.endswith((EXPECT_SUFFIX, ".expect.yml"))
                )
        else:
            found.append((argument, False))
    return found


def _read(path: str, what: str, walked: bool) -> bytes:
    from attestkit.adapters.files import MAX_OTHER_FILE_BYTES, read_bounded

    return read_bounded(path, what, MAX_OTHER_FILE_BYTES, regular_only=walked)


def _expectation_path(fixture: str) -> str:
    stem = fixture.rsplit(".", 1)[0] if fixture.lower().endswith(FIXTURE_SUFFIXES) else fixture
    return stem + EXPECT_SUFFIX


@policy.command("test")
@click.argument("fixtures", nargs=-1, required=True, metavar="FIXTURE|DIR...")
@click.option(
    "--policy", "policy_names", multiple=True, metavar="NAME", help="Built-in policy under test (repeatable)."
)
@click.option(
    "--policy-file", "policy_files", multiple=True, metavar="FILE", help="Policy file under test: .yaml rules or .rego."
)
@rego_engine_option
@click.option("--quiet", is_flag=True, help="Print only the unexpected rows and the summary.")
def test_cmd(fixtures: tuple[str, ...], policy_names: tuple[str, ...], policy_files: tuple[str, ...],
             rego_engine: str | None, quiet: bool) -> int:  # fmt: skip
    """Run policies against fixture receipts and compare with the expected verdicts beside them.

    Each fixture NAME.json (or .yaml) has NAME.expect.yaml beside it, e.g.
    `verdict: fail` and `violations: ["no attestation"]` (format: docs/policies.md). Prints a
    table; exit 0 when every verdict is as expected, 1 when any is not, 2 when a fixture or
    policy cannot be read. Signatures are not checked: fixtures test the policy.
    """
    import os

    from attestkit.cli.output import format_table, safe
    from attestkit.core.policy.testing import parse_expectation, run_case
    from attestkit.core.receipt.reader import parse_document, receipt_from_mapping
    from attestkit.errors import UsageError

    if not policy_names and not policy_files:
        raise UsageError("give the policies under test: --policy NAME or --policy-file FILE (repeatable)")
    policies = load_policies(policy_names, policy_files, rego_engine, quiet=True)
    cases = _fixtures(fixtures)
    if not cases:
        raise UsageError(f"no fixture receipts (*.json, *.yaml) in {', '.join(fixtures)}")
    rows = []
    for fixture, walked in cases:
        expect_path = _expectation_path(fixture)
        if not os.path.lexists(expect_path):
            raise UsageError(
                f"{fixture}: no expectation file {expect_path} (verdict: pass|fail)", code="policy-fixture"
            )
        expectation = parse_expectation(
            parse_document(_read(expect_path, "expectation file", walked), source=expect_path, fmt="yaml"),
            expect_path,
        )
        data = _read(fixture, "fixture receipt", walked)
        from attestkit.core.receipt.reader import format_for_name

        receipt = receipt_from_mapping(
            parse_document(data, source=fixture, fmt=format_for_name(fixture)), source=fixture
        )
        rows.extend(run_case(policies, receipt.data, receipt.timestamp, expectation, fixture))
    unexpected = [row for row in rows if not row.ok]
    table = [("FIXTURE", "POLICY", "EXPECTED", "GOT", "RESULT", "DETAIL")]
    for row in rows:
        if quiet and row.ok:
            continue
        mark = "ok" if row.ok else "UNEXPECTED"
        detail = f"no violation contains {row.missing!r}" if row.missing else row.detail
        table.append((safe(row.fixture), safe(row.policy), row.expected or "-", row.actual, mark, safe(detail)))
    out(format_table(table))
    out(
        f"{len(rows)} checks of {len(cases)} fixtures: {len(rows) - len(unexpected)} as expected, {len(unexpected)} unexpected"
    )
    return 1 if unexpected else 0
