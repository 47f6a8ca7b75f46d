"""CI report formats for verification results: SARIF 2.1.0, JUnit XML, GitHub annotations.

Pure functions over a small model — a subject (a receipt file, a checked path, a policy
file) and its checks — so `verify`, `hash --check` and `policy check` share them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attestkit._version import __version__
from attestkit.core.textsafe import escape_text
from attestkit.core.verify.result import Check, VerificationResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/attestkit/attestkit/blob/main/docs/ci.md"
CODES_URI = "https://github.com/attestkit/attestkit/blob/main/docs/codes.md"


@dataclass(frozen=True)
class Subject:
    """Something that was checked, with every check made on it."""

    name: str
    checks: tuple[Check, ...]
    passed: bool
    qualifier: str | None = None  # a passing verdict's reservation, as the text shows it: VALID (untrusted)


def subject_of(result: VerificationResult) -> Subject:
    """The report subject for one receipt's verification."""
    trust = result.chain_of_trust
    qualifier = trust if result.valid and trust != "verified" else None
    return Subject(result.source, result.checks, result.valid, qualifier)


def rule_id(check: Check) -> str:
    """A stable rule id: ``policy/<name>`` for policies, ``<check>/<code>`` otherwise."""
    if check.name.startswith("policy:"):
        return "policy/" + check.name[len("policy:") :]
    return f"{check.name}/{check.code}"


# GitHub code scanning refuses a SARIF upload over 10 MB or with more than 25,000 results in a
# run; the report stays under both (uncompressed size, so the compressed upload is under too).
SARIF_MAX_RESULTS = 25_000
SARIF_MAX_BYTES = 10 * 1024 * 1024
SARIF_MAX_MESSAGE = 4_000
SOURCE_ROOT = "%SRCROOT%"
_JSONL_LINE = re.compile(r"^(.+\.jsonl?):([0-9]+)$")


@dataclass(frozen=True)
class SarifContext:
    """Where the report's paths are: the repository root, the directory relative names start from.

    ``command_line`` is the invocation as run; ``artifacts_dir`` is the ``--artifacts``
    directory, to which artifact findings' paths are relative. Without ``source_root`` the
    paths are written as given (no ``uriBaseId``).
    """

    command_line: str | None = None
    source_root: str | None = None
    cwd: str | None = None
    artifacts_dir: str | None = None


def _file_uri(absolute: str) -> str:
    from urllib.parse import quote

    return "file://" + quote(absolute, safe="/:@")


def _artifact_location(path: str, base: str | None, context: SarifContext) -> dict[str, Any]:
    """A SARIF location for *path* (relative to *base*, else to the working directory)."""
    import posixpath

    region = None
    match = _JSONL_LINE.match(path)
    if match:  # `--jsonl FILE` receipts are labelled FILE:LINE
        path, region = match.group(1), {"startLine": int(match.group(2))}
    location: dict[str, Any] = {"uri": _uri(path)}
    root = context.source_root
    if root is not None and posixpath.isabs(root) and not path.startswith("<"):
        start = posixpath.join(context.cwd or root, base or "")
        absolute = posixpath.normpath(posixpath.join(start, path))
        relative = posixpath.relpath(absolute, posixpath.normpath(root))
        if relative == ".." or relative.startswith("../"):
            location = {"uri": _file_uri(absolute)}
        else:
            location = {"uri": _uri(relative), "uriBaseId": SOURCE_ROOT}
    physical: dict[str, Any] = {"artifactLocation": location}
    if region is not None:
        physical["region"] = region
    return {"physicalLocation": physical}


def _finding_digest(rule: str, locations: Sequence[dict[str, Any]]) -> str:
    """Stable across runs for the same finding (no message text: ages and times change)."""
    import blake3

    parts = [rule, *(json.dumps(loc, sort_keys=True) for loc in locations)]
    return blake3.blake3("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _message(text: str) -> str:
    # Code scanning shows message texts as they are: control and bidi characters become visible
    # escapes, one line, as in the JUnit report's message attribute.
    text = escape_text(text)
    if len(text) <= SARIF_MAX_MESSAGE:
        return text
    return text[: SARIF_MAX_MESSAGE - 40] + f" ... ({len(text) - SARIF_MAX_MESSAGE + 40} characters cut)"


def to_sarif(
    subjects: Sequence[Subject], tool_command: str = "attestkit verify", context: SarifContext | None = None
) -> dict[str, Any]:
    """One SARIF 2.1.0 run: a rule per kind of finding, a result per finding, within GitHub's limits.

    Results past 25,000 (or past 10 MB) are left out, and a tool notification says how many.
    """
    context = context or SarifContext()
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for subject in subjects:
        for check in subject.checks:
            if check.passed:
                continue
            rid = rule_id(check)
            if rid not in rules:
                rules[rid] = {
                    "id": rid,
                    "name": rid.replace("/", "-"),
                    "shortDescription": {"text": _message(f"attestkit {check.name} check: {check.code}")},
                    "helpUri": CODES_URI,
                    "defaultConfiguration": {"level": "error"},
                }
            locations = [_artifact_location(subject.name, None, context)]
            if check.location is not None:
                locations.append(_artifact_location(check.location, context.artifacts_dir, context))
            result: dict[str, Any] = {"ruleId": rid, "ruleIndex": list(rules).index(rid)}
            # SARIF's word for "could not tell pass from fail" is kind "open" (whose level is "none").
            result.update({"level": "error"} if check.evaluated else {"kind": "open", "level": "none"})
            result.update({"message": {"text": _message(check.message)}, "locations": locations})
            result["partialFingerprints"] = {"attestkitFinding/v1": _finding_digest(rid, locations)}
            results.append(result)
    driver = {
        "name": "attestkit",
        "version": __version__,
        "informationUri": INFORMATION_URI,
        "rules": list(rules.values()),
    }
    invocation: dict[str, Any] = {"executionSuccessful": True, "commandLine": context.command_line or tool_command}
    run: dict[str, Any] = {"tool": {"driver": driver}, "invocations": [invocation], "results": results}
    if context.source_root is not None:
        root = context.source_root.rstrip("/") + "/"
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"uri": _file_uri(root)}}
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    _within_limits(document, run, results)
    return document


def _within_limits(document: dict[str, Any], run: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Drop results past GitHub's limits (the first ones are kept), saying how many went."""
    total = len(results)
    keep = min(total, SARIF_MAX_RESULTS)
    while True:
        run["results"] = results[:keep]
        if keep < total:
            note = (
                f"{total - keep} of {total} findings are not in this SARIF file (GitHub code scanning accepts at "
                f"most {SARIF_MAX_RESULTS} results and 10 MB per run); the JSON verification report has them all"
            )
            run["invocations"][0]["toolExecutionNotifications"] = [{"level": "warning", "message": {"text": note}}]
        size = len(sarif_text(document).encode("utf-8"))
        if keep == 0 or size <= SARIF_MAX_BYTES:
            return
        keep = min(keep - 1, int(keep * SARIF_MAX_BYTES / size * 0.98))


def sarif_text(document: dict[str, Any]) -> str:
    """The SARIF file's text: indented, or compact when indenting would pass the 10 MB limit."""
    text = json.dumps(document, indent=2)
    if len(text) > SARIF_MAX_BYTES // 4 and len(text.encode("utf-8")) > SARIF_MAX_BYTES:
        text = json.dumps(document, separators=(",", ":"))
    return text + "\n"


def _uri(path: str) -> str:
    from urllib.parse import quote

    while path.startswith("./"):  # not lstrip("./"), which ate the dot of ./.hidden
        path = path[2:]
    # a name that is not UTF-8 keeps its own bytes, percent-encoded (quote of the text raised)
    return quote(path.encode("utf-8", "surrogateescape"), safe="/:@")


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_escape(text: str) -> str:
    """Escape text content: control and bidi characters as visible escapes (``\\x1b``, ``\\u202e``),
    as in every other output people read; anything XML 1.0 still cannot carry becomes U+FFFD."""
    text = _XML_ILLEGAL.sub("\ufffd", escape_text(text, keep="\n"))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """A double-quoted, escaped attribute value (one line: a newline is shown as ``\\n``)."""
    escaped = xml_escape(escape_text(text)).replace('"', "&quot;")
    return f'"{escaped}"'


def _junit_counts(checks: Sequence[Check]) -> str:
    failed = sum(1 for c in checks if not c.passed and c.evaluated)
    skipped = sum(1 for c in checks if not c.evaluated)
    return f'tests="{len(checks)}" failures="{failed}" skipped="{skipped}"'


def to_junit(subjects: Sequence[Subject], suite_name: str = "attestkit verify") -> str:
    """JUnit XML: a test suite per subject, a test case per check (``<skipped>`` when not evaluated)."""
    every = [c for s in subjects for c in s.checks]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    lines.append(f"<testsuites name={quoteattr(suite_name)} {_junit_counts(every)}>")
    for subject in subjects:
        lines.append(f"  <testsuite name={quoteattr(subject.name)} {_junit_counts(subject.checks)}>")
        for check in subject.checks:
            head = f"    <testcase classname={quoteattr(subject.name)} name={quoteattr(check.name)}"
            if check.passed:
                lines.append(head + "/>")
            elif not check.evaluated:
                lines.append(head + ">")
                lines.append(f"      <skipped message={quoteattr(check.message)}/>")
                lines.append("    </testcase>")
            else:
                lines.append(head + ">")
                lines.append(
                    f"      <failure type={quoteattr(check.code)} message={quoteattr(check.message)}>{xml_escape(check.message)}</failure>"
                )
                lines.append("    </testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def _command_value(text: str) -> str:
    text = escape_text(text, keep="\r\n")  # no control/bidi character in the log; \r \n become %0D %0A
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _command_property(text: str) -> str:
    return _command_value(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(subject: Subject) -> list[str]:
    """Workflow commands: ``::error`` per failed check, ``::warning`` per check not evaluated."""
    lines = []
    for check in subject.checks:
        if not check.passed:
            file = check.location if check.name == "artifacts" and check.location else subject.name
            title = f"attestkit {check.name}: {check.code}"
            command = "error" if check.evaluated else "warning"
            lines.append(
                f"::{command} file={_command_property(file)},title={_command_property(title)}::{_command_value(check.message)}"
            )
    return lines


def markdown_code(text: str) -> str:
    """*text* as one inert table cell: a code span, which Markdown never turns into a link, an
    image, HTML or emphasis, so the text reads as it is (``good.json`` stays ``good.json``).

    Control, bidi and line-breaking characters become visible escapes first (no raw newline
    can end the row), a ``|`` is written ``\\|`` (GFM tables split cells on it even inside
    code), and the fence is one backtick longer than any run of backticks in the text.
    """
    body = escape_text(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith(("`", " ")) or body.endswith(("`", " ")) else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def markdown_summary(subjects: Sequence[Subject], title: str = "attestkit verify") -> str:
    """A Markdown table for ``$GITHUB_STEP_SUMMARY``: a row per subject, every untrusted cell inert."""
    valid = sum(1 for s in subjects if s.passed)
    lines = [
        f"### {title}: {valid} of {len(subjects)} passed",  # the command's own name, not input
        "",
        "| subject | verdict | failed checks |",
        "|---|---|---|",
    ]
    for subject in subjects:
        failed = "; ".join(f"{c.name}: {c.message}" for c in subject.checks if not c.passed)
        verdict = "✅ valid" if subject.passed else "❌ invalid"
        if subject.passed and subject.qualifier:
            verdict += f" ({markdown_code(subject.qualifier)})"
        lines.append(f"| {markdown_code(subject.name)} | {verdict} | {markdown_code(failed) if failed else '—'} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "SARIF_MAX_BYTES",
    "SARIF_MAX_RESULTS",
    "SarifContext",
    "Subject",
    "github_annotations",
    "markdown_code",
    "markdown_summary",
    "rule_id",
    "sarif_text",
    "subject_of",
    "to_junit",
    "to_sarif",
]
