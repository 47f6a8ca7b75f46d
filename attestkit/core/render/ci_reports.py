"""CI report formats for verification results: SARIF 2.1.0, JUnit XML, GitHub annotations.

Pure functions over a small model — a subject (a receipt file, a checked path, a policy
file) and its checks — so `verify`, `hash --check` and `policy check` share them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attestkit._version import __version__
from attestkit.core.textsafe import escape_text
from attestkit.core.verify.result import Check, VerificationResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/attestkit/attestkit"


@dataclass(frozen=True)
class Subject:
    """Something that was checked, with every check made on it."""

    name: str
    checks: tuple[Check, ...]
    passed: bool


def subject_of(result: VerificationResult) -> Subject:
    """The report subject for one receipt's verification."""
    return Subject(result.source, result.checks, result.valid)


def rule_id(check: Check) -> str:
    """A stable rule id: ``policy/<name>`` for policies, ``<check>/<code>`` otherwise."""
    if check.name.startswith("policy:"):
        return "policy/" + check.name[len("policy:") :]
    return f"{check.name}/{check.code}"


def to_sarif(subjects: Sequence[Subject], tool_command: str = "attestkit verify") -> dict[str, Any]:
    """One SARIF 2.1.0 run: a rule per kind of finding, a result per finding."""
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
                    "shortDescription": {"text": f"attestkit {check.name} check: {check.code}"},
                    "defaultConfiguration": {"level": "error"},
                }
            locations = [{"physicalLocation": {"artifactLocation": {"uri": _uri(subject.name)}}}]
            if check.location is not None:
                locations.append({"physicalLocation": {"artifactLocation": {"uri": _uri(check.location)}}})
            result: dict[str, Any] = {"ruleId": rid, "ruleIndex": list(rules).index(rid)}
            # SARIF's word for "could not tell pass from fail" is kind "open" (whose level is "none").
            result.update({"level": "error"} if check.evaluated else {"kind": "open", "level": "none"})
            result.update({"message": {"text": check.message}, "locations": locations})
            results.append(result)
    driver = {
        "name": "attestkit",
        "version": __version__,
        "informationUri": INFORMATION_URI,
        "rules": list(rules.values()),
    }
    run = {
        "tool": {"driver": driver},
        "invocations": [{"executionSuccessful": True, "commandLine": tool_command}],
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path.lstrip("./") if path.startswith("./") else path, safe="/:@")


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_escape(text: str) -> str:
    """Escape text content; characters XML 1.0 cannot carry become U+FFFD."""
    text = _XML_ILLEGAL.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """A double-quoted, escaped attribute value."""
    escaped = (
        xml_escape(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    )
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


def markdown_summary(subjects: Sequence[Subject], title: str = "attestkit verify") -> str:
    """A Markdown table for ``$GITHUB_STEP_SUMMARY``."""
    valid = sum(1 for s in subjects if s.passed)
    lines = [
        f"### {title}: {valid} of {len(subjects)} passed",
        "",
        "| subject | verdict | failed checks |",
        "|---|---|---|",
    ]
    for subject in subjects:
        failed = "; ".join(f"{c.name}: {c.message}" for c in subject.checks if not c.passed) or "—"
        verdict = "✅ valid" if subject.passed else "❌ invalid"
        cell = failed.replace("|", "\\|")
        lines.append(f"| `{subject.name}` | {verdict} | {cell} |")
    return "\n".join(lines) + "\n"


__all__ = ["Subject", "github_annotations", "markdown_summary", "rule_id", "subject_of", "to_junit", "to_sarif"]
