"""Building receipts: step records, finalisation, and test/scan summaries.

Pure functions: the caller runs commands and supplies times and host facts, so the same code
serves `attestkit record`, `attestkit run` and the deterministic vector generator.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from attestkit._version import __version__
from attestkit.core.digest import digest_of_manifest, hash_file_hex, tree_manifest
from attestkit.core.receipt_shape import unsafe_path_reason
from attestkit.core.timeutil import format_rfc3339, parse_rfc3339
from attestkit.errors import HashingError, UsageError

SNAPSHOT_LIMIT = 64


def artifact_record(path: str, root: str = ".") -> dict[str, Any]:
    """``{path, hash, size_bytes}`` for a file or directory below *root* (directories get ``files``).

    Raises :class:`HashingError` when the path is missing or cannot be hashed.
    """
    relative = path.rstrip("/") if path not in ("/", "./") else "."
    reason = unsafe_path_reason(relative if relative != "." else "x")
    if reason is not None:
        raise UsageError(f"{path}: {reason}; artifact paths are relative to the working directory")
    full = os.path.join(root, relative)
    if os.path.isdir(full):
        entries = tree_manifest(full)
        return {
            "path": relative.rstrip("/") + "/",
            "hash": digest_of_manifest(entries),
            "size_bytes": sum(e.size for e in entries),
            "files": {e.relpath: "blake3:" + e.hexdigest for e in entries},
        }
    if not os.path.lexists(full):
        raise HashingError(f"{path}: does not exist", code="missing")
    hexdigest, size = hash_file_hex(full)
    return {"path": relative, "hash": "blake3:" + hexdigest, "size_bytes": size}


def environment_snapshot(names: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Only the allow-listed variables that are set: never the whole environment."""
    return {name: environ[name] for name in sorted(set(names))[:SNAPSHOT_LIMIT] if name in environ}


def step_record(
    *,
    name: str,
    command: str,
    exit_code: int,
    start: datetime,
    end: datetime,
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    snapshot: Mapping[str, str] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A receipt step in ATTEST's field names."""
    step: dict[str, Any] = {
        "name": name,
        "command": command,
        "exit_code": exit_code,
        "duration_secs": round((end - start).total_seconds(), 3),
        "start_time": format_rfc3339(start),
        "end_time": format_rfc3339(end),
        "inputs": [dict(i) for i in inputs],
        "outputs": [dict(o) for o in outputs],
    }
    if snapshot:
        step["environment_snapshot"] = dict(snapshot)
    if error is not None:
        step["error"] = error
    return step


def finalize_receipt(
    draft: Mapping[str, Any],
    *,
    now: datetime,
    host: Mapping[str, str],
    pipeline_hash: str | None = None,
    attestations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The unsigned receipt for a draft's steps."""
    steps = list(draft.get("steps") or [])
    starts = _step_times(steps, "start_time")
    ends = _step_times(steps, "end_time")
    total = round((max(ends) - min(starts)).total_seconds(), 3) if starts and ends else 0.0
    receipt: dict[str, Any] = {}
    if pipeline_hash is not None:
        receipt["pipeline_hash"] = pipeline_hash
    receipt.update(
        {
            "timestamp": format_rfc3339(now),
            "total_duration_secs": total,
            "attest_version": __version__,
            "environment": dict(host),
            "steps": steps,
        }
    )
    if attestations:
        receipt["attestations"] = dict(attestations)
    for key, value in draft.items():
        receipt.setdefault(key, value)
    return receipt


def _step_times(steps: Sequence[Any], field: str) -> list[datetime]:
    times = []
    for index, step in enumerate(steps):
        value = step.get(field) if isinstance(step, Mapping) else None
        if isinstance(value, str):
            try:
                times.append(parse_rfc3339(value))
            except ValueError as exc:
                raise UsageError(f"draft step #{index + 1} {field}: {exc}") from None
    return times


def summarize_junit(data: bytes, source: str = "junit.xml") -> dict[str, Any]:
    """A ``test`` attestation from a JUnit XML report."""
    import xml.etree.ElementTree as ET

    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        raise UsageError(f"{source}: JUnit reports with DTDs or entities are refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs and entities refused above
    except ET.ParseError as exc:
        raise UsageError(f"{source}: not valid XML: {exc}") from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites"):
        raise UsageError(f"{source}: not a JUnit report (root element {root.tag!r})")
    total = failed = errors = skipped = 0
    for suite in suites:
        cases = suite.findall("testcase")
        total += _int_attr(suite, "tests", len(cases))
        failed += _int_attr(suite, "failures", sum(1 for c in cases if c.find("failure") is not None))
        errors += _int_attr(suite, "errors", sum(1 for c in cases if c.find("error") is not None))
        skipped += _int_attr(suite, "skipped", sum(1 for c in cases if c.find("skipped") is not None))
    results = {
        "total": total,
        "passed": total - failed - errors - skipped,
        "failed": failed + errors,
        "skipped": skipped,
    }
    return {
        "type": "attest/test",
        "predicate": {"format": "junit", "source": os.path.basename(source), "test_results": results},
    }


def _int_attr(element: Any, name: str, default: int) -> int:
    value = element.get(name)
    if value is None:
        return default
    try:
        return int(float(value))
    except ValueError:
        return default


def summarize_trivy(data: bytes, source: str = "trivy.json") -> dict[str, Any]:
    """A ``security`` attestation from a Trivy JSON report (vulnerability counts per severity)."""
    try:
        report = json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("Results", []), list):
        raise UsageError(f"{source}: not a Trivy JSON report (no Results list)")
    counts = {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0}
    for result in report.get("Results") or []:
        for vulnerability in (result or {}).get("Vulnerabilities") or []:
            severity = str((vulnerability or {}).get("Severity", "UNKNOWN")).lower()
            counts[severity if severity in counts else "unknown"] += 1
    predicate = {"scanner": "trivy", "source": os.path.basename(source), "results": {"vulnerabilities": counts}}
    return {"type": "attest/security", "predicate": predicate}


SUMMARIZERS = {"test": summarize_junit, "security": summarize_trivy}

__all__ = [
    "SUMMARIZERS",
    "artifact_record",
    "environment_snapshot",
    "finalize_receipt",
    "step_record",
    "summarize_junit",
    "summarize_trivy",
]
