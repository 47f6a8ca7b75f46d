"""Report formats: SARIF (schema-validated), JUnit, GitHub annotations, colours, --output."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.render.ci_reports import Subject, github_annotations, to_junit
from attestkit.core.verify.result import Check
from tests.conftest import NOW, CliResult, external, make_receipt, write_json


@pytest.fixture()
def receipts(tmp_path: Path, key: PrivateKey, other_key: PrivateKey) -> tuple[Path, Path, Path]:
    art = tmp_path / "art"
    (art / "dist").mkdir(parents=True)
    (art / "dist" / "app.bin").write_bytes(b"changed")
    good = write_json(tmp_path / "good.json", sign_receipt(make_receipt(steps=[]), key))
    bad_receipt = make_receipt()
    bad_receipt["steps"][0]["exit_code"] = 2
    bad = write_json(tmp_path / "bad.json", sign_receipt(bad_receipt, other_key))
    return good, bad, art


def _args(key: PrivateKey, good: Path, bad: Path, art: Path) -> list[str]:
    return ["verify", str(good), str(bad), "--public-key", key.public_key.text, "--now", NOW,
            "--artifacts", str(art), "--policy", "steps-succeeded"]  # fmt: skip


def test_sarif_validates_against_the_schema(
    cli: Callable[..., CliResult], receipts: tuple[Path, Path, Path], key: PrivateKey
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    good, bad, art = receipts
    result = cli(*_args(key, good, bad, art), "--format", "sarif")
    assert result.code == 1
    sarif = json.loads(result.out)
    schema = json.loads(external("sarif/sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    run = sarif["runs"][0]
    rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert {"trust/untrusted-key", "policy/steps-succeeded", "artifacts/digest-mismatch"} <= rule_ids
    artifact = next(r for r in run["results"] if r["ruleId"] == "artifacts/digest-mismatch")
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in artifact["locations"]]
    # Relative to the repository root (here: the working directory), under --artifacts DIR.
    assert uris[0].endswith("bad.json") and uris[1] == f"{art.name}/dist/app.bin"
    assert artifact["locations"][1]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    for item in run["results"]:
        assert run["tool"]["driver"]["rules"][item["ruleIndex"]]["id"] == item["ruleId"]


def test_junit(
    cli: Callable[..., CliResult], receipts: tuple[Path, Path, Path], key: PrivateKey, tmp_path: Path
) -> None:
    good, bad, art = receipts
    out = tmp_path / "report.xml"
    result = cli(*_args(key, good, bad, art), "--format", "junit", "--output", str(out))
    assert result.code == 1 and result.out == ""
    root = ET.fromstring(out.read_text())
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(good), str(bad)]
    assert suites[0].get("failures") == "0" and int(suites[1].get("failures") or 0) >= 3
    names = [c.get("name") for c in suites[1].findall("testcase")]
    assert "signature" in names and "policy:steps-succeeded" in names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.xml")]


def test_github_annotations_and_step_summary(
    cli: Callable[..., CliResult], receipts: tuple[Path, Path, Path], key: PrivateKey, tmp_path: Path
) -> None:
    good, bad, art = receipts
    summary = tmp_path / "summary.md"
    result = cli(*_args(key, good, bad, art), "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines and all(line.startswith("::error file=") for line in lines)
    assert any(
        line.startswith("::error file=dist/app.bin,title=attestkit artifacts%3A digest-mismatch::") for line in lines
    )
    text = summary.read_text()
    assert "1 of 2 passed" in text and "❌ invalid" in text and f"| `{good}` |" in text


def test_step_summary_keeps_the_untrusted_reservation(
    cli: Callable[..., CliResult], tmp_path: Path, other_key: PrivateKey
) -> None:
    """Adversarial review: `--integrity-only` text said VALID (untrusted); the step summary said ✅ valid."""
    write_json(tmp_path / "evil.json", sign_receipt(make_receipt(signer="release-bot@corp (trusted)"), other_key))
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    result = cli("verify", "evil.json", "--integrity-only", "--now", NOW, "--format", "github", env=env)
    assert result.code == 0, result.err
    assert "| `evil.json` | ✅ valid (`untrusted`) |" in summary.read_text(), summary.read_text()


def test_annotation_escaping() -> None:
    subject = Subject("a,b:c.json", (Check("format", False, "syntax", "line 1\nline 2 100%"),), False)
    (line,) = github_annotations(subject)
    assert line == "::error file=a%2Cb%3Ac.json,title=attestkit format%3A syntax::line 1%0Aline 2 100%25"


def test_junit_escapes_and_strips_illegal_characters() -> None:
    subject = Subject('r"<&>\u202e\r\n.json', (Check("x", False, "c", 'bad \x01 <tag> & "q"\x1b[31m'),), False)
    root = ET.fromstring(to_junit([subject]))
    failure = root.find("testsuite/testcase/failure")
    # control and bidi characters shown as escapes, as in every other output (a reader turned
    # &#10; back into a real newline; U+202E reversed the name on screen)
    assert failure is not None and failure.get("message") == 'bad \\x01 <tag> & "q"\\x1b[31m'
    assert failure.text == 'bad \\x01 <tag> & "q"\\x1b[31m'
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == 'r"<&>\\u202e\\r\\n.json'


def test_colours_only_on_a_terminal(
    cli: Callable[..., CliResult], receipts: tuple[Path, Path, Path], key: PrivateKey
) -> None:
    good, _, _ = receipts
    piped = cli("verify", str(good), "--public-key", key.public_key.text, "--now", NOW)
    assert "\033[" not in piped.out and piped.out.startswith("VALID")
    args = ["verify", str(good), "--public-key", key.public_key.text, "--now", NOW]
    on_terminal = _on_a_terminal(args, {})
    assert on_terminal.startswith("\033[32;1mVALID\033[0m"), on_terminal  # bold green verdict on a real pty
    assert "\033[" not in _on_a_terminal(args, {"NO_COLOR": "1"})  # NO_COLOR wins even on a terminal


def _on_a_terminal(args: list[str], extra_env: dict[str, str]) -> str:
    """Run the CLI with stdout on a real pseudo-terminal and return what it wrote there."""
    import os
    import pty
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | extra_env
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "attestkit", *args], stdout=follower, stderr=subprocess.PIPE, env=env, timeout=60
        )
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.returncode == 0, proc.stderr
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_hash_check_and_policy_check_formats(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    listing = cli("hash", "f", cwd=tmp_path).out
    (tmp_path / "sums").write_text(listing + "blake3:" + "0" * 64 + "  missing\n")
    junit = cli("hash", "--check", "sums", "--format", "junit", cwd=tmp_path)
    assert junit.code == 1 and ET.fromstring(junit.out).get("failures") == "1"
    (tmp_path / "bad.rego").write_text("package attest.verification\nallow if {\n")
    (tmp_path / "ok.yaml").write_text("verification:\n  rules:\n    - {name: recent, type: max-age, max_age: 24h}\n")
    sarif = cli("policy", "check", "ok.yaml", "bad.rego", "--format", "sarif", cwd=tmp_path)
    assert sarif.code == 2
    results = json.loads(sarif.out)["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["policy-file/policy"]


# ---- issue 24 item 4: no field says more than was checked -----------------------------------


@pytest.fixture()
def malformed(tmp_path: Path, key: PrivateKey) -> Path:
    path = tmp_path / "malformed.json"
    path.write_text('{"timestamp": "2026-11-20T10:00:00Z", "steps": [], "steps": []}')  # duplicate key
    return path


def test_library_malformed_receipt_says_policies_were_not_evaluated(key: PrivateKey) -> None:
    from attestkit import builtin_policy, verify_receipt

    bare = verify_receipt(b"[]", trusted_keys=[key.public_key]).to_dict()
    assert bare["valid"] is False
    assert bare["policy_compliance"]["passed"] is False and bare["policy_compliance"]["violations"] == []
    assert bare["policy_compliance"]["evaluated"] is False
    assert "not evaluated" in bare["policy_compliance"]["reason"] and "malformed" in bare["policy_compliance"]["reason"]
    assert [(c["name"], c["code"], c.get("evaluated")) for c in bare["checks"][1:]] == [
        ("policies", "not-evaluated", False)
    ]
    named = verify_receipt(
        b"[]",
        trusted_keys=[key.public_key],
        policies=[builtin_policy("steps-succeeded"), builtin_policy("require-tests")],
    )
    out = named.to_dict()["policy_compliance"]
    assert out["passed"] is False and out["evaluated"] is False
    assert [v["policy"] for v in out["violations"]] == ["steps-succeeded", "require-tests"]
    assert all(v["message"].startswith("not evaluated") for v in out["violations"])
    assert [c.name for c in named.checks if not c.evaluated] == ["policy:steps-succeeded", "policy:require-tests"]
    # A receipt that was read keeps the contract's exact shape.
    good = verify_receipt(sign_receipt(make_receipt(), key), trusted_keys=[key.public_key]).to_dict()
    assert good["policy_compliance"] == {"passed": True, "violations": []}


def test_cli_malformed_receipt_in_every_format(
    cli: Callable[..., CliResult], malformed: Path, key: PrivateKey, tmp_path: Path
) -> None:
    base = ["verify", str(malformed), "--public-key", key.public_key.text, "--now", NOW]
    as_json = cli(*base, "--json")
    assert as_json.code == 1
    compliance = as_json.json_lines()[0]["policy_compliance"]
    assert compliance["passed"] is False and compliance["evaluated"] is False and "malformed" in compliance["reason"]
    with_policy = cli(*base, "--json", "--policy", "steps-succeeded").json_lines()[0]["policy_compliance"]
    assert with_policy["passed"] is False and with_policy["violations"][0]["policy"] == "steps-succeeded"

    sarif_out = cli(*base, "--policy", "steps-succeeded", "--format", "sarif")
    assert sarif_out.code == 1
    sarif = json.loads(sarif_out.out)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft4Validator(json.loads(external("sarif/sarif-schema-2.1.0.json").read_text())).validate(sarif)
    results = {r["ruleId"]: r for r in sarif["runs"][0]["results"]}
    assert results["format/duplicate-key"]["level"] == "error"
    policy = results["policy/steps-succeeded"]
    assert (policy["kind"], policy["level"]) == ("open", "none") and "not evaluated" in policy["message"]["text"]

    junit_out = cli(*base, "--format", "junit")
    assert junit_out.code == 1
    suite = ET.fromstring(junit_out.out).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")
    skipped = suite.find("testcase[@name='policies']/skipped")
    assert skipped is not None and "not evaluated" in (skipped.get("message") or "")

    github = cli(*base, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    assert github.code == 1
    lines = github.out.splitlines()
    assert lines[0].startswith("::error ") and "format%3A duplicate-key" in lines[0]
    assert lines[1].startswith("::warning ") and "policies%3A not-evaluated::policies not evaluated" in lines[1]
    assert "policies not evaluated" in (tmp_path / "summary.md").read_text()


def test_cli_receipt_that_could_not_be_checked(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    missing = str(tmp_path / "missing.json")
    base = ["verify", missing, "--public-key", key.public_key.text, "--policy", "steps-succeeded"]
    as_json = cli(*base, "--json")
    assert as_json.code == 2
    compliance = as_json.json_lines()[0]["policy_compliance"]
    assert (
        compliance["passed"] is False
        and compliance["evaluated"] is False
        and "could not be checked" in compliance["reason"]
    )
    junit = ET.fromstring(cli(*base, "--format", "junit").out).find("testsuite")
    assert junit is not None and (junit.get("failures"), junit.get("skipped")) == ("1", "1")


# ---- hostile names and messages in the step summary and in SARIF ----------------------------

_HOSTILE_STEP = (
    "b <img src=https://evil.example/x.png> [click to approve](https://evil.example/approve)"
    " ![i](https://evil.example/i.png) **bold** _em_ `code` \\| fake <!--\n| `forged` | ✅ valid | — |\r\u202e\x1b[32m"
)
_HOSTILE_NAMES = (
    "x` | ✅ valid | — |\n| `prod-release.json` | ✅ valid | — |\n<!-- .json",
    "r``` ``x`` \\`|\\|<b>&amp;[l](javascript:alert(1))\u202e\u2028\x1b[31m.json",
)


def _code_span(cell: str) -> str:
    """The text a code span cell shows (its fence and padding removed, ``\\|`` read as ``|``);
    fails unless the cell is exactly one code span."""
    import re

    fence = re.match(r"`+", cell)
    assert fence is not None and cell.endswith(fence.group(0)), cell
    body = cell[len(fence.group(0)) : -len(fence.group(0))]
    assert fence.group(0) not in body, cell  # nothing closes the span early
    assert "|" not in body.replace("\\|", ""), cell  # no unescaped pipe: no extra cell
    if body.startswith(" ") and body.endswith(" ") and body.strip():
        body = body[1:-1]
    return body.replace("\\|", "|")


def test_step_summary_renders_hostile_names_and_messages_inert(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    from attestkit.core.textsafe import escape_text

    receipt = make_receipt(steps=[dict(make_receipt()["steps"][0], name=_HOSTILE_STEP, exit_code=1)])
    paths = [write_json(tmp_path / name, sign_receipt(receipt, key)) for name in _HOSTILE_NAMES]
    good = write_json(tmp_path / "good.json", sign_receipt(make_receipt(steps=[]), key))
    summary = tmp_path / "summary.md"
    args = ["verify", *_HOSTILE_NAMES, "good.json", "--public-key", key.public_key.text, "--now", NOW]
    result = cli(*args, "--policy", "steps-succeeded", "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.code == 1 and all(p.exists() for p in paths) and good.exists()
    text = summary.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[:4] == [
        "### attestkit verify: 1 of 3 passed",
        "",
        "| subject | verdict | failed checks |",
        "|---|---|---|",
    ]
    rows = lines[4:-1]
    assert lines[-1] == "" and len(rows) == 3, text  # one line per subject: no forged row, nothing hidden
    assert "\r" not in text and "\x1b" not in text and "\u202e" not in text and "\u2028" not in text
    for row, name in zip(rows, [*_HOSTILE_NAMES, "good.json"], strict=True):
        assert row.startswith("| ") and row.endswith(" |")
        cells = re.split(r"(?<!\\) \| ", row[2:-2])
        assert len(cells) == 3, row
        subject, verdict, failed = cells
        assert _code_span(subject) == escape_text(name)  # the whole name, visibly escaped where it must be
        if name == "good.json":
            assert subject == "`good.json`" and verdict == "✅ valid" and failed == "—"
        else:
            assert verdict == "❌ invalid"
            assert _code_span(failed) == escape_text(
                f"policy:steps-succeeded: step {_HOSTILE_STEP!r} exited with code 1"
            )


def test_sarif_message_texts_escape_control_and_bidi_characters(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    receipt = make_receipt()
    receipt["steps"][0]["outputs"][0]["path"] = "dist/app\u202eexe.txt\x1b[32m OK"
    write_json(tmp_path / "r.json", sign_receipt(receipt, key))
    (tmp_path / "art").mkdir()
    args = ["verify", "r.json", "--public-key", key.public_key.text, "--now", NOW, "--artifacts", "art"]
    sarif = cli(*args, "--format", "sarif")
    junit = cli(*args, "--format", "junit")
    assert sarif.code == 1 and junit.code == 1
    (result,) = json.loads(sarif.out)["runs"][0]["results"]
    text = result["message"]["text"]
    assert "\u202e" not in text and "\x1b" not in text
    assert "dist/app\\u202eexe.txt\\x1b[32m OK" in text
    failure = ET.fromstring(junit.out).find("testsuite/testcase/failure")
    assert failure is not None and text == failure.get("message")  # the same escaping as JUnit


def test_sarif_escapes_every_message_text() -> None:
    from attestkit.core.render.ci_reports import to_sarif

    subject = Subject("r.json", (Check("x", False, "c", "a\u202eb\x1b[31m\u2066c\nd"),), False)
    (result,) = to_sarif([subject])["runs"][0]["results"]
    assert result["message"]["text"] == "a\\u202eb\\x1b[31m\\u2066c\\nd"
