"""Building receipts: step records, finalisation, and test/scan summaries.

Pure functions: the caller runs commands and supplies times and host facts, so the same code
serves `attestkit record`, `attestkit run` and the deterministic vector generator.
"""

from __future__ import annotations

import os
import re
import stat
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from attestkit._version import __version__
from attestkit.core.crypto.digest import digest_of_manifest, hash_file_hex, tree_manifest
from attestkit.core.receipt.shape import unsafe_path_reason
from attestkit.core.timeutil import format_rfc3339, parse_rfc3339
from attestkit.errors import HashingError, MalformedReceiptError, UsageError

SNAPSHOT_LIMIT = 64


def artifact_record(path: str, root: str = ".") -> dict[str, Any]:
    """``{path, hash, size_bytes}`` for a file or directory below *root* (directories get ``files``).

    Raises :class:`HashingError` when the path is missing, cannot be hashed, or resolves
    through a symlink to somewhere outside *root* (``escapes-tree``, as verify reports it).
    """
    relative = path.rstrip("/") if path not in ("/", "./") else "."
    reason = unsafe_path_reason(relative if relative != "." else "x")
    if reason is not None:
        raise UsageError(f"{path}: {reason}; artifact paths are relative to the working directory")
    full = os.path.join(root, relative)
    if _leaves_root(root, relative):
        # verify --artifacts refuses the same path: a receipt must not sign what lies elsewhere
        raise HashingError(f"{path}: resolves through a symlink outside the working directory", code="escapes-tree")
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


_MAX_LINKS = 40


def _leaves_root(root: str, relative: str) -> bool:
    """Whether *relative* resolves through a symlink that leaves *root* on the way, by verify
    --artifacts's rule: a ``..`` above the root, or an absolute target outside its real path,
    even when the path comes back in later."""
    root_real = os.path.realpath(root)
    pending = deque(part for part in relative.split("/") if part not in ("", "."))
    below: list[str] = []
    links = 0
    while pending:
        name = pending.popleft()
        if name == "..":
            if not below:
                return True
            below.pop()
            continue
        here = os.path.join(root_real, *below, name)
        try:
            is_link = stat.S_ISLNK(os.lstat(here).st_mode)
            target = os.readlink(here) if is_link else ""
        except OSError:
            return False  # missing or unreadable: reported as such by the hashing
        if not is_link:
            below.append(name)
            continue
        links += 1
        if links > _MAX_LINKS:
            return True
        if target.startswith("/"):
            if target != root_real and not target.startswith(root_real.rstrip("/") + "/"):
                return True
            below, target = [], target[len(root_real) :]
        pending.extendleft(reversed([part for part in target.split("/") if part not in ("", ".")]))
    return False


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
    run_id: str | None = None,
    receipt_format: str | None = None,
) -> dict[str, Any]:
    """The unsigned receipt for a draft's steps.

    Refuses (:class:`UsageError`) steps that share a name: a receipt describes one run, one
    step per name. *run_id* and *receipt_format* (e.g. ``"attestkit/v2"``) are recorded when
    given; the draft's own header (``attestkit_draft``) never reaches the receipt, and a draft
    member other than the header and ``steps`` is refused.
    """
    from attestkit.core.produce.drafts import DRAFT_KEY, duplicate_step_names

    steps = list(draft.get("steps") or [])
    repeated = duplicate_step_names(steps)
    if repeated:
        raise UsageError(f"step name {repeated[0]!r} appears more than once; a receipt has one step per name")
    starts = _step_times(steps, "start_time")
    ends = _step_times(steps, "end_time")
    total = round((max(ends) - min(starts)).total_seconds(), 3) if starts and ends else 0.0
    receipt: dict[str, Any] = {}
    if receipt_format is not None:
        receipt["receipt_format"] = receipt_format
    if run_id is not None:
        receipt["run_id"] = run_id
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
    for key in draft:
        if key not in (DRAFT_KEY, "steps"):
            # record writes nothing else: a member such as attestations or signer came from a
            # hand or a build step editing the draft, and would be signed as observed facts.
            raise UsageError(f"draft member {key!r} is not one `attestkit record` writes; refusing to sign it")
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


MAX_REPORT_BYTES = 256 * 1024 * 1024
"""The largest test or scanner report read by ``--attest`` (256 MiB)."""

_COUNT_ATTRIBUTES = ("tests", "failures", "errors", "skipped", "disabled")
_NON_NEGATIVE = re.compile(r"[0-9]{1,15}\Z", re.ASCII)


class _Refused(Exception):
    """Raised from inside the expat handlers; carries the reason."""


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


class _JUnitCounter:
    """Counts ``<testcase>`` elements once each, whatever the nesting of ``<testsuite>``s.

    A test case failed when it has a ``<failure>`` or ``<error>`` child, else was skipped when
    it has a ``<skipped>`` child, else passed. The suites' count attributes are checked
    (non-negative ASCII integers) but never added up, so nested suites cannot count a case
    twice and a negative ``errors`` cannot cancel ``failures``.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.root: str | None = None
        self.total = self.failed = self.skipped = 0
        self.case_depth: int | None = None  # depth of the open <testcase>
        self.case_failed = self.case_skipped = False
        # Open suites: [name, claimed failures+errors, claimed tests, cases seen, failed seen]
        self.suites: list[list[Any]] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.case_depth is not None and self.depth != self.case_depth + 1:
            return  # deeper than a test case's children: nothing to count
        tag = _local(name) if ":" in name or "}" in name else name
        if self.root is None:
            self.root = tag
            if tag not in ("testsuite", "testsuites"):
                raise _Refused(f"not a JUnit report (root element {tag!r})")
        if self.case_depth is not None:
            if tag in ("failure", "error"):
                self.case_failed = True
            elif tag == "skipped":
                self.case_skipped = True
            elif tag == "testcase":
                raise _Refused("a <testcase> inside a <testcase>")
            return
        if tag == "testcase":
            self.case_depth = self.depth
            self.case_failed = self.case_skipped = False
        elif tag in ("testsuite", "testsuites"):
            counts = {
                attr: self._count(tag, attr, attributes[attr]) for attr in _COUNT_ATTRIBUTES if attr in attributes
            }
            claimed_failed = counts.get("failures", 0) + counts.get("errors", 0)
            label = attributes.get("name", "")[:80]
            self.suites.append([f"{tag} {label!r}" if label else tag, claimed_failed, counts.get("tests", 0), 0, 0])

    def end(self, name: str) -> None:
        if self.case_depth == self.depth:
            self.case_depth = None
            self.total += 1
            if self.case_failed:
                self.failed += 1
            elif self.case_skipped:
                self.skipped += 1
            for suite in self.suites:
                suite[3] += 1
                suite[4] += self.case_failed
        elif self.case_depth is None and self.suites and _local(name) in ("testsuite", "testsuites"):
            label, claimed_failed, claimed_tests, cases, failed = self.suites.pop()
            # Fail closed: a summary that reports failures (or tests) its test cases do not show
            # is a truncated or inconsistent report, never a pass.
            if claimed_failed and not failed:
                raise _Refused(
                    f"{label} reports {claimed_failed} failures/errors but none of its <testcase> elements failed"
                )
            if claimed_tests and not cases:
                raise _Refused(f"{label} reports {claimed_tests} tests but has no <testcase> elements")
        self.depth -= 1

    @staticmethod
    def _count(tag: str, attribute: str, value: str) -> int:
        if not _NON_NEGATIVE.match(value):
            raise _Refused(f"<{tag}> attribute {attribute}={value[:32]!r} is not a non-negative integer")
        return int(value)


def _refuse_declaration(*_args: object) -> None:
    raise _Refused("JUnit reports with a DTD (DOCTYPE, entity or notation declaration) are refused")


def _refuse_external(*_args: object) -> int:
    raise _Refused("JUnit reports with external entities are refused")


def summarize_junit(data: bytes, source: str = "junit.xml") -> dict[str, Any]:
    """A ``test`` attestation from a JUnit XML report; :class:`UsageError` naming *source* otherwise.

    Parsed with expat and handlers that refuse any DTD, entity or notation declaration (so no
    entity expansion and no external fetch can happen, in any encoding expat reads, UTF-16
    included); each ``<testcase>`` counts once (see :class:`_JUnitCounter`).
    """
    from xml.parsers import expat

    if len(data) > MAX_REPORT_BYTES:
        raise UsageError(f"{source}: test report is larger than {MAX_REPORT_BYTES >> 20} MiB")
    counter = _JUnitCounter()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.NotationDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = counter.start
    parser.EndElementHandler = counter.end
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise UsageError(f"{source}: {exc}") from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        raise UsageError(f"{source}: not valid XML: {reason} at line {exc.lineno} column {exc.offset + 1}") from None
    except RecursionError:  # pragma: no cover - expat is iterative; kept for safety
        raise UsageError(f"{source}: XML nesting too deep") from None
    if counter.root is None:
        raise UsageError(f"{source}: not a JUnit report (no root element)")
    results = {
        "total": counter.total,
        "passed": counter.total - counter.failed - counter.skipped,
        "failed": counter.failed,
        "skipped": counter.skipped,
    }
    return {
        "type": "attest/test",
        "predicate": {"format": "junit", "source": os.path.basename(source), "test_results": results},
    }


SEVERITIES = ("critical", "high", "medium", "low", "unknown")
FINDING_KINDS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")
_TRIVY_SEVERITIES = {name.upper(): name for name in SEVERITIES}
_TRIVY_LISTS = {"Vulnerabilities": "vulnerabilities", "Misconfigurations": "misconfigurations",
                "Secrets": "secrets", "Licenses": "licenses"}  # fmt: skip
_SARIF_KIND_TAGS = {"vulnerability": "vulnerabilities", "misconfiguration": "misconfigurations",
                    "secret": "secrets", "license": "licenses"}  # fmt: skip
_SARIF_LEVELS = {"error": "high", "warning": "medium", "note": "low", "none": "unknown"}
_SARIF_NOT_FINDINGS = ("pass", "notApplicable", "informational")


class _Counts:
    def __init__(self) -> None:
        self.by_kind = {kind: dict.fromkeys(SEVERITIES, 0) for kind in FINDING_KINDS}

    def add(self, kind: str, severity: str) -> None:
        self.by_kind[kind][severity] += 1


def _where(path: list[str | int]) -> str:
    return "/" + "/".join(str(p) for p in path)


def _list_at(container: Mapping[str, Any], key: str, path: list[str | int], *, required: bool = False) -> list[Any]:
    if key not in container:
        if required:
            raise _Refused(f"{_where([*path, key])} is missing")
        return []
    value = container[key]
    if not isinstance(value, list):
        raise _Refused(f"{_where([*path, key])} must be a list (found {type(value).__name__})")
    return value


def _trivy_results(results: list[Any], path: list[str | int], counts: _Counts) -> None:
    for index, result in enumerate(results):
        here = [*path, index]
        if not isinstance(result, Mapping):
            raise _Refused(f"{_where(here)} must be an object")
        for field, kind in _TRIVY_LISTS.items():
            for number, finding in enumerate(_list_at(result, field, here)):
                where = [*here, field, number]
                if not isinstance(finding, Mapping):
                    raise _Refused(f"{_where(where)} must be an object")
                if kind == "misconfigurations" and finding.get("Status") in ("PASS", "EXCEPTION"):
                    continue  # listed with --include-non-failures; only failures are findings
                severity = finding.get("Severity")
                if not isinstance(severity, str) or severity not in _TRIVY_SEVERITIES:
                    raise _Refused(
                        f"{_where([*where, 'Severity'])}: {severity!r} is not a Trivy severity "
                        "(CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN)"
                    )
                counts.add(kind, _TRIVY_SEVERITIES[severity])


def _trivy_k8s(report: Mapping[str, Any], counts: _Counts) -> None:
    # `trivy k8s --format json`: "Resources" (--report all) or "Findings" (--report summary);
    # releases before 0.50 split them into "Vulnerabilities" and "Misconfigurations".
    for field in ("Resources", "Findings", "Vulnerabilities", "Misconfigurations"):
        for index, resource in enumerate(_list_at(report, field, [])):
            here: list[str | int] = [field, index]
            if not isinstance(resource, Mapping):
                raise _Refused(f"{_where(here)} must be an object")
            error = resource.get("Error")
            if error:
                name = "/".join(str(resource.get(k, "")) for k in ("Namespace", "Kind", "Name"))
                raise _Refused(f"{_where(here)} ({name[:120]}) was not scanned: {str(error)[:200]}")
            _trivy_results(_list_at(resource, "Results", here), [*here, "Results"], counts)


def _sarif_severity_from_score(value: object, where: str) -> str:
    text = value if isinstance(value, str) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        score = float(value)
    elif text is not None and re.fullmatch(r"[0-9]{1,2}(\.[0-9]{1,3})?", text, re.ASCII):
        score = float(text)
    else:
        raise _Refused(f"{where}/security-severity: {value!r} is not a score from 0 to 10")
    if not 0.0 <= score <= 10.0:
        raise _Refused(f"{where}/security-severity: {value!r} is not a score from 0 to 10")
    # GitHub code scanning's bands for security-severity.
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0.0 else "unknown"


def _tags(properties: object) -> list[str]:
    tags = properties.get("tags") if isinstance(properties, Mapping) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _sarif_rule(run: Mapping[str, Any], result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tool = run.get("tool")
    component: Any = tool.get("driver") if isinstance(tool, Mapping) else None
    reference: Mapping[str, Any] = result["rule"] if isinstance(result.get("rule"), Mapping) else {}
    tool_ref = reference.get("toolComponent")
    if isinstance(tool_ref, Mapping) and isinstance(tool, Mapping):
        index = tool_ref.get("index")
        extensions = tool.get("extensions")
        if type(index) is int and isinstance(extensions, list) and 0 <= index < len(extensions):
            component = extensions[index]
    rules = component.get("rules") if isinstance(component, Mapping) else None
    if not isinstance(rules, list):
        return None
    index = result.get("ruleIndex", reference.get("index"))
    if type(index) is int and 0 <= index < len(rules) and isinstance(rules[index], Mapping):
        return rules[index]  # type: ignore[no-any-return]
    rule_id = result.get("ruleId", reference.get("id"))
    for rule in rules:
        if isinstance(rule, Mapping) and rule_id is not None and rule.get("id") == rule_id:
            return rule
    return None


def _sarif_result(run: Mapping[str, Any], result: Mapping[str, Any], where: str, counts: _Counts) -> None:
    kind_of_result = result.get("kind", "fail")
    if kind_of_result in _SARIF_NOT_FINDINGS:
        return
    rule = _sarif_rule(run, result) or {}
    rule_props, result_props = rule.get("properties"), result.get("properties")
    tags = _tags(result_props) + _tags(rule_props)
    # 1. Trivy writes its own severity as a rule tag: exactly the JSON report's Severity.
    named = {_TRIVY_SEVERITIES[t] for t in tags if t in _TRIVY_SEVERITIES}
    if named:
        severity = min(named, key=SEVERITIES.index)  # the most severe if tags disagree
    else:
        # 2. security-severity (a CVSS-like score), 3. the level (result, then rule default).
        score = None
        for props, at in ((result_props, where), (rule_props, f"{where} (rule)")):
            if isinstance(props, Mapping) and "security-severity" in props:
                score = _sarif_severity_from_score(props["security-severity"], at + "/properties")
                break
        if score is not None:
            severity = score
        else:
            config = rule.get("defaultConfiguration")
            level = result.get("level", config.get("level", "warning") if isinstance(config, Mapping) else "warning")
            if not isinstance(level, str) or level not in _SARIF_LEVELS:
                raise _Refused(f"{where}/level: {level!r} is not a SARIF level")
            severity = _SARIF_LEVELS[level]
    # Trivy's first tag names the kind; anything unclassified counts as a vulnerability.
    kind = next((_SARIF_KIND_TAGS[t] for t in tags if t in _SARIF_KIND_TAGS), "vulnerabilities")
    counts.add(kind, severity)


def _sarif(report: Mapping[str, Any], counts: _Counts) -> list[str]:
    if report.get("version") != "2.1.0":
        raise _Refused(f"SARIF version {report.get('version')!r} is not supported (2.1.0 is)")
    scanners: list[str] = []
    runs = _list_at(report, "runs", [], required=True)
    for index, run in enumerate(runs):
        here: list[str | int] = ["runs", index]
        if not isinstance(run, Mapping):
            raise _Refused(f"{_where(here)} must be an object")
        tool = run.get("tool")
        driver = tool.get("driver") if isinstance(tool, Mapping) else None
        name = driver.get("name") if isinstance(driver, Mapping) else None
        if not isinstance(name, str) or not name:
            raise _Refused(f"{_where([*here, 'tool', 'driver', 'name'])} is missing")
        scanners.append(name.lower())
        # An absent or null results list means the tool did not produce results (SARIF 3.14.23).
        for number, result in enumerate(_list_at(run, "results", here, required=True)):
            where = _where([*here, "results", number])
            if not isinstance(result, Mapping):
                raise _Refused(f"{where} must be an object")
            _sarif_result(run, result, where, counts)
    return scanners


def summarize_security(data: bytes, source: str = "trivy.json") -> dict[str, Any]:
    """A ``security`` attestation from a scanner report; :class:`UsageError` naming *source* otherwise.

    Accepted: Trivy's JSON for image/fs/repo/rootfs/vm scans (an object with a ``Results`` list,
    or ``SchemaVersion: 2`` with ``ArtifactName`` and no findings), Trivy's Kubernetes report
    (``ClusterName`` with ``Resources``/``Findings``), and SARIF 2.1.0 from any scanner. Findings
    are counted per kind and severity; anything else (``{}``, an unknown shape, an unknown
    severity, a resource Trivy could not scan) is refused rather than read as zero findings.
    """
    from attestkit.core.receipt.reader import parse_json_text

    if len(data) > MAX_REPORT_BYTES:
        raise UsageError(f"{source}: security report is larger than {MAX_REPORT_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not a JSON scanner report (not UTF-8)") from None
    try:
        report = parse_json_text(text.removeprefix("\ufeff"), source)
    except MalformedReceiptError as exc:
        where = f" at {exc.where}" if exc.where else ""
        raise UsageError(f"{source}: not a JSON scanner report: {exc.rule}{where}") from None
    counts = _Counts()
    try:
        if not isinstance(report, Mapping):
            raise _Refused(f"expected a JSON object, found {type(report).__name__}")
        if "runs" in report:
            scanner, form = ",".join(_sarif(report, counts)), "sarif"
        elif "ClusterName" in report:
            if not isinstance(report["ClusterName"], str):
                raise _Refused("/ClusterName must be a string")
            _trivy_k8s(report, counts)
            scanner, form = "trivy", "trivy-k8s-json"
        elif "Results" in report or "SchemaVersion" in report:
            version = report.get("SchemaVersion", 2)
            if version != 2 or isinstance(version, bool):
                raise _Refused(f"Trivy SchemaVersion {version!r} is not supported (2 is)")
            if "Results" not in report and not isinstance(report.get("ArtifactName"), str):
                raise _Refused("a Trivy report without Results must name its ArtifactName")
            _trivy_results(_list_at(report, "Results", []), ["Results"], counts)
            scanner, form = "trivy", "trivy-json"
        else:
            raise _Refused(
                "not a recognised scanner report (expected Trivy JSON with Results, a Trivy "
                "Kubernetes report with ClusterName, or SARIF 2.1.0 with runs)"
            )
    except _Refused as exc:
        raise UsageError(f"{source}: {exc}") from None
    predicate = {
        "scanner": scanner,
        "format": form,
        "source": os.path.basename(source),
        "results": dict(counts.by_kind),
    }
    return {"type": "attest/security", "predicate": predicate}


summarize_trivy = summarize_security  # the name before SARIF and Kubernetes reports were read


SUMMARIZERS = {"test": summarize_junit, "security": summarize_security}

__all__ = [
    "FINDING_KINDS",
    "MAX_REPORT_BYTES",
    "SEVERITIES",
    "SUMMARIZERS",
    "artifact_record",
    "environment_snapshot",
    "finalize_receipt",
    "step_record",
    "summarize_junit",
    "summarize_security",
    "summarize_trivy",
]
