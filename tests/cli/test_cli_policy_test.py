"""``attestkit policy test``: policies against fixture receipts with expected verdicts (issue 22.3).

The fixture format is parsed and run by the library (direct tests), and the command prints a
table and exits 1 on any unexpected verdict, 2 on an unusable fixture (subprocess tests).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.core.policy.builtin import builtin_policy
from attestkit.core.policy.testing import parse_expectation, run_case
from attestkit.core.receipt.reader import receipt_from_mapping
from attestkit.errors import UsageError
from tests.conftest import ROOT, CliResult, make_receipt

EXAMPLES = ROOT / "docs" / "examples"
Cli = Callable[..., CliResult]


def test_expectation_format_is_strict() -> None:
    good = parse_expectation({"verdict": "fail", "violations": ["x"], "now": "2026-11-20T12:00:00Z"}, "e.yaml")
    assert good.verdict == "fail" and good.violations == ("x",) and good.now is not None
    assert parse_expectation({"verdicts": {"a.rego": "pass"}}, "e").verdict_for("dir/a.rego") == "pass"
    for bad, message in [
        ([], "must be a mapping"),
        ({}, "give verdict"),
        ({"verdict": "ok"}, "pass or fail"),
        ({"verdict": "pass", "expect": 1}, "unknown field 'expect'"),
        ({"verdict": "pass", "violations": "x"}, "list of strings"),
        ({"verdict": "pass", "now": "yesterday"}, "now:"),
        ({"verdicts": {"a": "maybe"}}, "verdicts must map"),
    ]:
        with pytest.raises(UsageError, match=message) as caught:
            parse_expectation(bad, "e.yaml")
        assert caught.value.code == "policy-fixture" and str(caught.value).startswith("e.yaml: ")


def test_run_case_rows_and_missing_violations() -> None:
    receipt = receipt_from_mapping(make_receipt(steps=[{**make_receipt()["steps"][0], "exit_code": 3}]))
    policies = [builtin_policy("steps-succeeded"), builtin_policy("require-tests")]
    expectation = parse_expectation({"verdicts": {"steps-succeeded": "fail", "require-tests": "pass"}}, "e")
    rows = run_case(policies, receipt.data, receipt.timestamp, expectation, "f.json")
    assert [(r.policy, r.expected, r.actual, r.ok) for r in rows] == [
        ("steps-succeeded", "fail", "fail", True),
        ("require-tests", "pass", "pass", True),
    ]
    wrong = parse_expectation({"verdict": "fail", "violations": ["no such text"]}, "e")
    rows = run_case(policies, receipt.data, receipt.timestamp, wrong, "f.json")
    assert rows[0].missing == "no such text" and not rows[0].ok
    assert rows[1].expected == "fail" and rows[1].actual == "pass" and not rows[1].ok


def test_the_documented_example_passes(cli: Cli) -> None:
    result = cli("policy", "test", str(EXAMPLES / "policy-tests"), "--policy-file", str(EXAMPLES / "verification.yaml"),
                 "--policy-file", str(EXAMPLES / "attest.rego"), cwd=ROOT)  # fmt: skip
    assert result.code == 0, result
    lines = result.out.strip().splitlines()
    assert lines[0].split() == ["FIXTURE", "POLICY", "EXPECTED", "GOT", "RESULT", "DETAIL"]
    assert len(lines) == 1 + 6 + 1 and all(" ok " in line or line.endswith(" ok") for line in lines[1:7])
    assert lines[-1] == "6 checks of 3 fixtures: 6 as expected, 0 unexpected"


def test_an_unexpected_verdict_exits_1_and_is_shown(cli: Cli, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "policy-tests", tmp_path / "cases")
    for name in ("unknown-signer.json", "unknown-signer.expect.yaml"):
        (tmp_path / "cases" / name).unlink()
    (tmp_path / "cases" / "release-ok.expect.yaml").write_text("verdict: fail\nnow: 2026-11-20T11:00:00Z\n")
    args = ["policy", "test", str(tmp_path / "cases"), "--policy-file", str(EXAMPLES / "attest.rego")]
    result = cli(*args)
    assert result.code == 1
    row = next(line for line in result.out.splitlines() if "release-ok.json" in line)
    assert row.split()[2:5] == ["fail", "pass", "UNEXPECTED"]
    assert result.out.strip().endswith("2 checks of 2 fixtures: 1 as expected, 1 unexpected")
    quiet = cli(*args, "--quiet")
    assert quiet.code == 1 and len(quiet.out.strip().splitlines()) == 3  # header, the row, the summary


def test_unusable_fixtures_exit_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "lonely.json").write_text(json.dumps(make_receipt()))
    policy = ["--policy", "steps-succeeded"]
    missing = cli("policy", "test", str(tmp_path), *policy)
    assert missing.code == 2 and "no expectation file" in missing.err and "lonely.expect.yaml" in missing.err
    (tmp_path / "lonely.expect.yaml").write_text("verdict: maybe\n")
    bad = cli("policy", "test", str(tmp_path / "lonely.json"), *policy)
    assert bad.code == 2 and "verdict must be pass or fail" in bad.err
    (tmp_path / "lonely.expect.yaml").write_text("verdict: pass\n")
    assert cli("policy", "test", str(tmp_path), *policy).code == 0
    nothing = cli("policy", "test", str(tmp_path))
    assert nothing.code == 2 and "give the policies under test" in nothing.err


def test_a_fixture_that_asserts_nothing_about_the_policies_under_test_exits_2(cli: Cli, tmp_path: Path) -> None:
    # A misspelt policy name in verdicts made every row "as expected" with nothing asserted.
    failing = make_receipt()
    failing["steps"][0]["exit_code"] = 256
    (tmp_path / "failing.json").write_text(json.dumps(failing))
    (tmp_path / "failing.expect.yaml").write_text("verdicts: {steps-succeded: pass}\n")
    done = cli("policy", "test", str(tmp_path), "--policy", "steps-succeeded")
    assert done.code == 2 and "name no policy under test" in done.err and "steps-succeded" in done.err, done.err
    # naming one of several policies under test is still a way to test just that one
    (tmp_path / "failing.expect.yaml").write_text("verdicts: {steps-succeeded: fail}\n")
    assert cli("policy", "test", str(tmp_path), "--policy", "steps-succeeded", "--policy", "require-tests").code == 0
