"""Issue 14.8: scanner and test reports read by ``--attest`` are recognised or refused, never zero.

The user's path is ``attestkit record`` -> ``receipt finalize --attest ...`` -> ``verify --policy
security-scan|require-tests``; the library path is :func:`summarize_security` /
:func:`summarize_junit`. The report shapes follow what the tools emit: Trivy's
``types.Report`` (image/fs/repo), ``pkg/k8s/report`` (``Resources``/``Findings``, and the
pre-0.50 ``Vulnerabilities``/``Misconfigurations`` split) and ``pkg/report/sarif.go`` (rule
tags ``[kind, "security", SEVERITY]``, ``security-severity`` a CVSS-like score).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit.core.produce.producer import summarize_junit, summarize_security
from attestkit.errors import UsageError
from tests.conftest import CliResult, assert_one_line_error


def _vuln(vid: str, severity: str) -> dict[str, Any]:
    return {
        "VulnerabilityID": vid,
        "PkgName": "openssl",
        "InstalledVersion": "3.0.1",
        "FixedVersion": "3.0.7",
        "Severity": severity,
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
    }


TRIVY_IMAGE = {
    "SchemaVersion": 2,
    "CreatedAt": "2026-11-20T09:58:00.123456789Z",
    "ArtifactName": "registry.example/app:1.4.2",
    "ArtifactType": "container_image",
    "Metadata": {"OS": {"Family": "alpine", "Name": "3.18.4"}, "ImageID": "sha256:" + "ab" * 32},
    "Results": [
        {
            "Target": "registry.example/app:1.4.2 (alpine 3.18.4)",
            "Class": "os-pkgs",
            "Type": "alpine",
            "Vulnerabilities": [
                _vuln("CVE-2023-0001", "CRITICAL"),
                _vuln("CVE-2023-0002", "HIGH"),
                _vuln("CVE-2023-0003", "LOW"),
            ],
        },
        {"Target": "app/package-lock.json", "Class": "lang-pkgs", "Type": "npm"},
        {
            "Target": "Dockerfile",
            "Class": "config",
            "Type": "dockerfile",
            "MisconfSummary": {"Successes": 20, "Failures": 1, "Exceptions": 0},
            "Misconfigurations": [
                {"ID": "DS002", "Severity": "HIGH", "Status": "FAIL"},
                {"ID": "DS001", "Severity": "CRITICAL", "Status": "PASS"},
            ],
        },
        {
            "Target": "/app/.env",
            "Class": "secret",
            "Secrets": [{"RuleID": "aws-access-key-id", "Severity": "CRITICAL"}],
        },
    ],
}
TRIVY_CLEAN_FS = {"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem", "Metadata": {}}


def _resource(kind: str, name: str, *severities: str) -> dict[str, Any]:
    vulns = [_vuln(f"CVE-2024-{i:04d}", s) for i, s in enumerate(severities)]
    return {
        "Namespace": "shop",
        "Kind": kind,
        "Name": name,
        "Metadata": {},
        "Results": [{"Target": "nginx:1.25", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}],
    }


TRIVY_K8S_ALL = {
    "ClusterName": "prod",
    "Resources": [_resource("Deployment", "web", "CRITICAL", "MEDIUM"), _resource("Service", "web")],
}
TRIVY_K8S_SUMMARY = {"ClusterName": "prod", "Findings": [_resource("Deployment", "web", "CRITICAL")]}
TRIVY_K8S_LEGACY = {
    "ClusterName": "prod",
    "Vulnerabilities": [_resource("Deployment", "web", "CRITICAL")],
    "Misconfigurations": [],
}


def _trivy_sarif(*findings: tuple[str, str, str]) -> dict[str, Any]:
    """SARIF as Trivy's writer emits it: one rule per id, tags [kind, security, SEVERITY]."""
    scores = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0", "UNKNOWN": "0.0"}
    levels = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}
    rules, results = [], []
    for index, (rule_id, kind, severity) in enumerate(findings):
        rules.append(
            {
                "id": rule_id,
                "name": "OsPackageVulnerability",
                "shortDescription": {"text": rule_id},
                "defaultConfiguration": {"level": levels[severity]},
                "properties": {
                    "tags": [kind, "security", severity],
                    "precision": "very-high",
                    "security-severity": scores[severity],
                },
            }
        )
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": index,
                "level": levels[severity],
                "message": {"text": f"Severity: {severity}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": "app", "uriBaseId": "ROOTPATH"},
                            "region": {"startLine": 1},
                        }
                    }
                ],
            }
        )
    driver = {
        "fullName": "Trivy Vulnerability Scanner",
        "informationUri": "https://github.com/aquasecurity/trivy",
        "name": "Trivy",
        "rules": rules,
        "version": "0.57.0",
    }
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0-rtm.5.json",
        "runs": [{"tool": {"driver": driver}, "results": results, "columnKind": "utf16CodeUnits"}],
    }


# A CVE whose CVSS score (9.8) is higher than the severity Trivy assigned (HIGH): the tag wins,
# so SARIF and JSON of the same scan agree.
TRIVY_SARIF_CRITICAL = _trivy_sarif(
    ("CVE-2021-44228", "vulnerability", "CRITICAL"), ("CVE-2022-0001", "vulnerability", "HIGH")
)
TRIVY_SARIF_CRITICAL["runs"][0]["tool"]["driver"]["rules"][1]["properties"]["security-severity"] = "9.8"
OTHER_SARIF = {
    "version": "2.1.0",
    "runs": [
        {
            "tool": {
                "driver": {
                    "name": "Grype",
                    "rules": [{"id": "GHSA-x", "properties": {"security-severity": "9.1"}}, {"id": "GHSA-y"}],
                }
            },
            "results": [
                {"ruleId": "GHSA-x", "level": "warning", "message": {"text": "x"}},
                {"ruleId": "GHSA-y", "level": "error", "message": {"text": "y"}},
                {"ruleId": "GHSA-z", "kind": "pass", "message": {"text": "z"}},
            ],
        }
    ],
}


def _vulns(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = summarize_security(json.dumps(report).encode(), "scan.json")["predicate"]["results"][
        "vulnerabilities"
    ]
    return counts


# ---- recognised security reports -----------------------------------------------------------


def test_trivy_image_report_counts_every_kind_by_severity() -> None:
    predicate = summarize_security(json.dumps(TRIVY_IMAGE).encode(), "out/trivy.json")["predicate"]
    assert (predicate["scanner"], predicate["format"], predicate["source"]) == ("trivy", "trivy-json", "trivy.json")
    results = predicate["results"]
    assert results["vulnerabilities"] == {"critical": 1, "high": 1, "medium": 0, "low": 1, "unknown": 0}
    assert results["misconfigurations"] == {
        "critical": 0,
        "high": 1,
        "medium": 0,
        "low": 0,
        "unknown": 0,
    }  # PASS skipped
    assert results["secrets"]["critical"] == 1 and sum(results["licenses"].values()) == 0


def test_a_clean_trivy_scan_without_results_is_zero() -> None:
    assert _vulns(TRIVY_CLEAN_FS) == dict.fromkeys(["critical", "high", "medium", "low", "unknown"], 0)


@pytest.mark.parametrize(
    ("report", "critical", "medium"), [(TRIVY_K8S_ALL, 1, 1), (TRIVY_K8S_SUMMARY, 1, 0), (TRIVY_K8S_LEGACY, 1, 0)]
)
def test_trivy_kubernetes_reports(report: dict[str, Any], critical: int, medium: int) -> None:
    predicate = summarize_security(json.dumps(report).encode(), "k8s.json")["predicate"]
    assert predicate["format"] == "trivy-k8s-json"
    counts = predicate["results"]["vulnerabilities"]
    assert (counts["critical"], counts["medium"]) == (critical, medium)


def test_trivy_sarif_uses_trivys_severity_tag() -> None:
    predicate = summarize_security(json.dumps(TRIVY_SARIF_CRITICAL).encode(), "trivy.sarif")["predicate"]
    assert (predicate["scanner"], predicate["format"]) == ("trivy", "sarif")
    assert predicate["results"]["vulnerabilities"] == {"critical": 1, "high": 1, "medium": 0, "low": 0, "unknown": 0}


def test_trivy_sarif_kinds_match_the_json_buckets() -> None:
    sarif = _trivy_sarif(
        ("KSV001", "misconfiguration", "CRITICAL"), ("aws-key", "secret", "HIGH"), ("GPL-3.0", "license", "LOW")
    )
    results = summarize_security(json.dumps(sarif).encode(), "t.sarif")["predicate"]["results"]
    assert results["misconfigurations"]["critical"] == 1 and results["secrets"]["high"] == 1
    assert results["licenses"]["low"] == 1 and sum(results["vulnerabilities"].values()) == 0


def test_other_sarif_counts_by_security_severity_then_level() -> None:
    # GHSA-x: security-severity 9.1 -> critical; GHSA-y: level error -> high; kind=pass is not a finding.
    assert _vulns(OTHER_SARIF) == {"critical": 1, "high": 1, "medium": 0, "low": 0, "unknown": 0}


def test_a_clean_trivy_sarif_is_zero() -> None:
    assert _vulns(_trivy_sarif()) == dict.fromkeys(["critical", "high", "medium", "low", "unknown"], 0)


# ---- refused security reports --------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({}, "not a recognised scanner report"),
        ({"results": []}, "not a recognised scanner report"),
        ({"Vulnerabilities": [_vuln("CVE-1", "CRITICAL")]}, "not a recognised scanner report"),
        ([], "expected a JSON object"),
        ({"SchemaVersion": 2}, "ArtifactName"),
        ({"SchemaVersion": 1, "Results": []}, "SchemaVersion 1"),
        ({"Results": None}, "/Results must be a list"),
        ({"Results": [{"Vulnerabilities": {"CVE-1": "CRITICAL"}}]}, "/Results/0/Vulnerabilities must be a list"),
        ({"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}]}, "is not a Trivy severity"),
        ({"Results": [{"Vulnerabilities": [_vuln("CVE-1", "critical")]}]}, "is not a Trivy severity"),
        ({"ClusterName": 3}, "ClusterName must be a string"),
        (
            {"ClusterName": "c", "Resources": [{"Kind": "Pod", "Name": "x", "Error": "image pull failed"}]},
            "was not scanned",
        ),
        ({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}}]}, "/runs/0/results is missing"),
        ({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": None}]}, "must be a list"),
        ({"version": "2.0.0", "runs": []}, "SARIF version"),
        ({"runs": []}, "SARIF version"),
        ({"version": "2.1.0", "runs": [{"results": []}]}, "tool/driver/name is missing"),
        (
            {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal"}]}]},
            "not a SARIF level",
        ),
        (
            {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": ["error"]}]}]},
            "not a SARIF level",
        ),
        (
            {
                "version": "2.1.0",
                "runs": [
                    {"tool": {"driver": {"name": "x"}}, "results": [{"properties": {"security-severity": "high"}}]}
                ],
            },
            "not a score from 0 to 10",
        ),
    ],
)
def test_unrecognised_security_reports_are_refused(report: Any, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)) as info:
        summarize_security(json.dumps(report).encode(), "scan.json")
    assert str(info.value).startswith("scan.json: ")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<xml/>",
        b'{"Results": []',
        b'{"Results": [], "Results": [{"Vulnerabilities": []}]}',
        b"\xff\xfe{}",
        b'{"Results": [], "n": NaN}',
    ],
)
def test_security_reports_that_are_not_strict_json_are_refused(data: bytes) -> None:
    with pytest.raises(UsageError, match=r"^scan\.json: "):
        summarize_security(data, "scan.json")


# ---- JUnit ---------------------------------------------------------------------------------

PHPUNIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="" tests="4" assertions="4" errors="0" warnings="0" failures="1" skipped="0" time="0.012">
    <testsuite name="Tests\\Unit\\CartTest" file="/app/tests/Unit/CartTest.php" tests="4" assertions="4" errors="0"
               warnings="0" failures="1" skipped="0" time="0.012">
      <testcase name="testAdd" class="Tests\\Unit\\CartTest" classname="Tests.Unit.CartTest" file="x" line="9" assertions="1" time="0.002"/>
      <testcase name="testRemove" class="Tests\\Unit\\CartTest" classname="Tests.Unit.CartTest" file="x" line="15" assertions="1" time="0.002"/>
      <testsuite name="Tests\\Unit\\CartTest::testTotal" tests="2" assertions="2" errors="0" failures="1" skipped="0" time="0.004">
        <testcase name="testTotal with data set #0" assertions="1" time="0.002"/>
        <testcase name="testTotal with data set #1" assertions="1" time="0.002">
          <failure type="PHPUnit\\Framework\\ExpectationFailedException">Failed asserting that 9 matches expected 10.</failure>
        </testcase>
      </testsuite>
    </testsuite>
  </testsuite>
</testsuites>
"""
SUREFIRE = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="com.example.PageTest" time="0.31" tests="2" errors="0" skipped="1" failures="0">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="rendersHtml" classname="com.example.PageTest" time="0.2">
    <system-out><![CDATA[rendered: <!DOCTYPE html><html><body>&amp; <!ENTITY x "y"></body></html>]]></system-out>
  </testcase>
  <testcase name="slow" classname="com.example.PageTest" time="0"><skipped message="@Disabled"/></testcase>
  <system-out>&lt;!DOCTYPE html&gt;</system-out>
</testsuite>
"""
ENTITY_BOMB = b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><testsuite><testcase name="&b;"/></testsuite>'


def _tests(data: bytes) -> dict[str, int]:
    results: dict[str, int] = summarize_junit(data, "junit.xml")["predicate"]["test_results"]
    return results


def test_nested_suites_count_each_case_once() -> None:
    assert _tests(PHPUNIT) == {"total": 4, "passed": 3, "failed": 1, "skipped": 0}


def test_captured_output_mentioning_doctype_is_not_a_dtd() -> None:
    assert _tests(SUREFIRE) == {"total": 2, "passed": 1, "failed": 0, "skipped": 1}


def test_counts_come_from_the_cases_not_the_attributes() -> None:
    under_claimed = b'<testsuite tests="1" failures="0"><testcase name="a"><failure/></testcase><testcase name="b"><error/></testcase></testsuite>'
    assert _tests(under_claimed) == {"total": 2, "passed": 0, "failed": 2, "skipped": 0}
    both = b'<testsuite tests="1" failures="1" errors="1"><testcase name="a"><failure/><error/></testcase></testsuite>'
    assert _tests(both) == {"total": 1, "passed": 0, "failed": 1, "skipped": 0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<testsuite tests="3" failures="3" errors="-3"><testcase name="a"><failure/></testcase></testsuite>',
            "errors='-3'",
        ),
        (b'<testsuite tests="inf"><testcase name="a"/></testsuite>', "tests='inf'"),
        (b'<testsuite tests="1e400"><testcase name="a"/></testsuite>', "tests='1e400'"),
        (b'<testsuite tests="NaN"><testcase name="a"/></testsuite>', "tests='NaN'"),
        (b'<testsuite tests="4.0"><testcase name="a"/></testsuite>', "tests='4.0'"),
        (b'<testsuite tests="+1"><testcase name="a"/></testsuite>', "tests='+1'"),
        ('<testsuite tests="\u0661"><testcase name="a"/></testsuite>'.encode(), "is not a non-negative integer"),
        (b'<testsuites failures=""><testsuite><testcase name="a"/></testsuite></testsuites>', "failures=''"),
        (
            b'<testsuite tests="2" failures="1"><testcase name="a"/><testcase name="b"/></testsuite>',
            "none of its <testcase>",
        ),
        (b'<testsuite tests="10" failures="0"/>', "has no <testcase> elements"),
        (b'<testsuite><testcase name="a"><testcase name="b"/></testcase></testsuite>', "inside a <testcase>"),
        (b"<html><testsuite/></html>", "not a JUnit report"),
        (b"<testsuite>", "not valid XML"),
        (b"", "not valid XML"),
        (b'<testsuite><testcase name="&ext;"/></testsuite>', "undefined entity"),
        (ENTITY_BOMB, "DTD"),
        (ENTITY_BOMB.decode().encode("utf-16"), "DTD"),  # the byte search missed this one
        (
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE t SYSTEM "http://127.0.0.1:9/x.dtd"><testsuite/>'.encode(
                "utf-16"
            ),
            "DTD",
        ),
        (b'<!DOCTYPE testsuite SYSTEM "file:///etc/passwd"><testsuite/>', "DTD"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE testsuite><testsuite/>', "DTD"),
    ],
)
def test_bad_junit_reports_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)) as info:
        summarize_junit(data, "reports/junit.xml")
    assert str(info.value).startswith("reports/junit.xml: ")


def test_utf16_junit_without_dtd_is_read() -> None:
    data = PHPUNIT.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert _tests(data) == {"total": 4, "passed": 3, "failed": 1, "skipped": 0}


# ---- the user's path: record -> receipt finalize --attest -> verify ----------------------------


@pytest.fixture()
def drafted(tmp_path: Path, cli: Callable[..., CliResult]) -> Path:
    assert cli("keys", "generate", "--out-dir", str(tmp_path / "k")).code == 0
    recorded = cli("record", "--receipt", "draft.json", "--name", "scan", "--", "true", cwd=tmp_path)
    assert recorded.code == 0, recorded.err
    return tmp_path


def _finalize(cli: Callable[..., CliResult], project: Path, *attest: str) -> CliResult:
    args = [item for value in attest for item in ("--attest", value)]
    return cli(
        "receipt", "finalize", "--receipt", "draft.json", "--key", "k/attestkit.key", *args, "-o", "r.json", cwd=project
    )


def _gate(cli: Callable[..., CliResult], project: Path, policy: str) -> CliResult:
    return cli("verify", "r.json", "--public-key", "k/attestkit.pub", "--policy", policy, "--json", cwd=project)


@pytest.mark.parametrize(
    ("report", "name"),
    [
        (TRIVY_IMAGE, "trivy.json"),
        (TRIVY_K8S_ALL, "k8s.json"),
        (TRIVY_K8S_SUMMARY, "k8s-summary.json"),
        (TRIVY_SARIF_CRITICAL, "trivy.sarif"),
        (OTHER_SARIF, "grype.sarif"),
    ],
)
def test_critical_findings_reach_security_scan(
    report: dict[str, Any], name: str, drafted: Path, cli: Callable[..., CliResult]
) -> None:
    (drafted / name).write_text(json.dumps(report))
    finalized = _finalize(cli, drafted, f"security={name}")
    assert finalized.code == 0, finalized.err
    verdict = _gate(cli, drafted, "security-scan")
    assert verdict.code == 1
    (violation,) = verdict.json_lines()[0]["policy_compliance"]["violations"]
    assert violation["policy"] == "security-scan" and "1 critical" in violation["message"]


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        json.dumps({"ClusterName": "prod", "Resources": [{"Kind": "Pod", "Name": "x", "Error": "timeout"}]}),
        json.dumps({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}}]}),
        "not json",
    ],
)
def test_unrecognised_security_reports_stop_finalize(text: str, drafted: Path, cli: Callable[..., CliResult]) -> None:
    (drafted / "scan.json").write_text(text)
    result = _finalize(cli, drafted, "security=scan.json")
    assert result.code == 2 and "scan.json" in result.err and not (drafted / "r.json").exists()
    assert_one_line_error(result)


def test_a_clean_scan_passes_security_scan(drafted: Path, cli: Callable[..., CliResult]) -> None:
    (drafted / "trivy.json").write_text(json.dumps(TRIVY_CLEAN_FS))
    assert _finalize(cli, drafted, "security=trivy.json").code == 0
    assert _gate(cli, drafted, "security-scan").code == 0


def test_nested_junit_failure_reaches_require_tests(drafted: Path, cli: Callable[..., CliResult]) -> None:
    (drafted / "junit.xml").write_bytes(PHPUNIT)
    assert _finalize(cli, drafted, "test=junit.xml").code == 0
    receipt = json.loads((drafted / "r.json").read_text())
    assert receipt["attestations"]["test"]["predicate"]["test_results"] == {
        "total": 4,
        "passed": 3,
        "failed": 1,
        "skipped": 0,
    }
    verdict = _gate(cli, drafted, "require-tests")
    assert verdict.code == 1
    (violation,) = verdict.json_lines()[0]["policy_compliance"]["violations"]
    assert violation["message"] == "1 of 4 tests failed"


def test_surefire_output_with_doctype_is_accepted(drafted: Path, cli: Callable[..., CliResult]) -> None:
    (drafted / "TEST-com.example.PageTest.xml").write_bytes(SUREFIRE)
    assert _finalize(cli, drafted, "test=TEST-com.example.PageTest.xml").code == 0
    assert _gate(cli, drafted, "require-tests").code == 0


@pytest.mark.parametrize(
    "data",
    [
        b'<testsuite tests="3" failures="3" errors="-3"><testcase name="a"><failure/></testcase></testsuite>',
        b'<testsuite tests="inf"><testcase name="a"/></testsuite>',
        ENTITY_BOMB.decode().encode("utf-16"),
    ],
)
def test_bad_junit_stops_finalize(data: bytes, drafted: Path, cli: Callable[..., CliResult]) -> None:
    (drafted / "junit.xml").write_bytes(data)
    result = _finalize(cli, drafted, "test=junit.xml")
    assert result.code == 2 and "junit.xml" in result.err and not (drafted / "r.json").exists()
    assert_one_line_error(result)
