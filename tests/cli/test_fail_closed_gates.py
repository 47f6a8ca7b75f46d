"""A gate that checked nothing, or not what it was asked to check, does not pass (exit 2).

Found by an adversarial review: an empty directory or JSON Lines stream exited 0 with no
output (and ``-o`` wrote a clean SARIF report); ``verify --summary`` ignored ``--scope``,
``--require-log``, ``--check-inputs``, ``--format`` and ``-o``; a ``.rego`` file with no
``allow`` and no ``deny`` rule passed every receipt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit import PrivateKey, sign_receipt
from attestkit.core.policy.loader import load_policy_text
from attestkit.errors import PolicyError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

Cli = Callable[..., CliResult]


def test_an_empty_directory_checks_nothing_and_exits_2(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    (tmp_path / "receipts").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "receipt.txt").write_text("x")
    for target in ("receipts", "other"):
        result = cli("verify", target, "--public-key", key.public_key.text, "--now", NOW)
        assert result.code == 2, result
        assert_one_line_error(result)
        assert "no receipt" in result.err and target in result.err
    result = cli("verify", "receipts", "--public-key", key.public_key.text, "--format", "sarif", "-o", "out.sarif")
    assert result.code == 2 and not (tmp_path / "out.sarif").exists(), "a clean report of nothing was written"


def test_an_empty_json_lines_stream_exits_2(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = cli("verify", "--jsonl", "empty.jsonl", "--public-key", key.public_key.text)
    assert result.code == 2 and "no receipt" in result.err
    result = cli("verify", "--jsonl", "-", "--public-key", key.public_key.text, "--json", stdin=b"")
    assert result.code == 2 and result.out == ""


def test_an_empty_input_beside_others_is_reported_not_ignored(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    # `verify release/ staging/` with staging/ empty (or misnamed) passed on release/ alone.
    write_json(tmp_path / "good.json", sign_receipt(make_receipt(), key))
    (tmp_path / "staging").mkdir()
    (tmp_path / "empty.jsonl").write_bytes(b"")
    args = ["--public-key", key.public_key.text, "--now", NOW, "--json"]
    for extra in (["staging"], ["--jsonl", "empty.jsonl"]):
        result = cli("verify", "good.json", *extra, *args)
        assert result.code == 2, result
        lines = result.json_lines()
        assert lines[0]["valid"] is True and lines[1]["error"]["code"] == "nothing-checked"


def test_a_linked_directory_below_the_one_named_is_reported_not_skipped(
    cli: Cli, tmp_path: Path, key: PrivateKey
) -> None:
    (tmp_path / "receipts").mkdir()
    (tmp_path / "elsewhere").mkdir()
    write_json(tmp_path / "receipts" / "a.json", sign_receipt(make_receipt(), key))
    write_json(tmp_path / "elsewhere" / "bad.json", {"not": "a receipt"})
    (tmp_path / "receipts" / "sub").symlink_to("../elsewhere")
    (tmp_path / "receipts" / "more.json").symlink_to("../elsewhere", target_is_directory=True)
    result = cli("verify", "receipts", "--jobs", "2", "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 2, result
    errors = {line["receipt"]: line["error"]["code"] for line in result.json_lines() if "error" in line}
    assert errors == {"receipts/more.json": "special-file", "receipts/sub": "special-file"}


def test_a_directory_with_receipts_still_passes(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    (tmp_path / "receipts").mkdir()
    write_json(tmp_path / "receipts" / "r.json", sign_receipt(make_receipt(), key))
    assert cli("verify", "receipts", "--public-key", key.public_key.text, "--now", NOW).code == 0


@pytest.mark.parametrize(
    "extra",
    [
        ["--scope", "project:never"],
        ["--require-log"],
        ["--check-inputs"],
        ["--format", "sarif"],
        ["-o", "out.txt"],
        ["--tolerance", "1s"],
    ],
)
def test_summary_refuses_options_it_cannot_apply(cli: Cli, tmp_path: Path, key: PrivateKey, extra: list[str]) -> None:
    signed = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    assert cli("keys", "generate", "--out-dir", "k", "--name", "v").code == 0
    made = cli("verify", str(signed), "--public-key", key.public_key.text, "--now", NOW,
               "--summary-out", "vsa.json", "--key", "k/v.key")  # fmt: skip
    assert made.code == 0, made.err
    result = cli("verify", str(signed), "--summary", "vsa.json", "--summary-key", "k/v.pub", "--now", NOW, *extra)
    assert cli("verify", str(signed), "--summary", "vsa.json", "--summary-key", "k/v.pub", "--now", NOW).code == 0
    assert result.code == 2, result
    assert_one_line_error(result)
    assert extra[0] in result.err
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(
    "body",
    [
        "",
        'Deny contains "x" if { true }\n',
        'denies contains msg if { msg := "x" }\n',
        "helper := true\n",
    ],
)
def test_a_rego_policy_with_no_allow_and_no_deny_is_refused(cli: Cli, tmp_path: Path, key: PrivateKey,
                                                            body: str) -> None:  # fmt: skip
    policy = tmp_path / "p.rego"
    policy.write_text("package attest.verification\n\n" + body)
    signed = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(signed), "--public-key", key.public_key.text, "--now", NOW, "--policy-file", "p.rego")
    assert result.code == 2, result
    assert_one_line_error(result)
    assert "allow" in result.err and "deny" in result.err and "p.rego" in result.err
    assert cli("policy", "check", "p.rego").code == 2
    with pytest.raises(PolicyError):
        load_policy_text("p.rego", policy.read_bytes())


@pytest.mark.parametrize(
    "source",
    [
        "package attest.verification allow := false\n",  # OPA needs no newline between statements
        "package attest.verification\n\nimport rego.v1 default allow := false\n",
        'package attest.verification\n\ndeny contains "never" if { false } allow if { false }\n',
    ],
)
def test_a_rule_hidden_beside_another_statement_is_refused(cli: Cli, tmp_path: Path, key: PrivateKey,
                                                           source: str) -> None:  # fmt: skip
    # attestkit's scan read one statement per line and never saw this allow: OPA finds a
    # violation (allow is false or undefined) where attestkit said VALID.
    (tmp_path / "p.rego").write_text(source)
    signed = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(signed), "--public-key", key.public_key.text, "--now", NOW, "--policy-file", "p.rego")
    assert result.code == 2, result
    assert_one_line_error(result)
    assert "a line of its own" in result.err


def test_a_recursive_rule_is_refused_not_a_crash(cli: Cli, tmp_path: Path) -> None:
    # The embedded engine recursed until its stack overflowed (the process died, exit 139).
    (tmp_path / "p.rego").write_text(
        'package attest.verification\n\nf(x) := y if y := f(x)\n\ndeny contains "r" if f(1)\n'
    )
    result = cli("policy", "check", "p.rego")
    assert result.code == 2, result
    assert_one_line_error(result)
    assert "recursion" in result.err


# Policies where the embedded engine gave another answer than OPA 1.20.2 (adversarial review):
# each is now refused when loaded (exit 2), never evaluated to a different verdict.
_DIVERGED = {
    "deny contains 1.0 if { true }": "as written",  # OPA's message is 1.0, the engine's 1
    'deny contains {"max_age": 1e2} if { true }': "as written",
    'deny contains "eq" if { 0.1 == 0.10000000000000001 }': "as written",  # OPA compares decimals exactly
    'deny contains "split" if { count(regex.split("x*", "axxbc")) == 5 }': "empty string",
    'deny contains "split" if { count(regex.split("^", "ab")) == 2 }': "empty string",
    'deny contains "class" if { regex.match("^[[a]b]$", "b") }': "syntax",  # nested class in Rust only
    'deny contains "repeat" if { regex.match("a{1001}", "a") }': "syntax",  # RE2 refuses it
}


@pytest.mark.parametrize(("rule", "why"), sorted(_DIVERGED.items()))
def test_policies_the_engine_read_differently_are_refused(cli: Cli, tmp_path: Path, rule: str, why: str) -> None:
    (tmp_path / "p.rego").write_text(f"package attest.verification\n\n{rule}\n")
    result = cli("policy", "check", "p.rego")
    assert result.code == 2, result
    assert_one_line_error(result)
    assert why in result.err and "p.rego: line 3" in result.err


def test_a_large_float_compared_with_a_large_integer_is_not_checked(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    # The engine compared 1e21 with 1000000000000000000001 as doubles (equal); OPA exactly.
    (tmp_path / "p.rego").write_text(
        'package attest.verification\n\ndeny contains "same" if { input.receipt.big == 1000000000000000000001 }\n'
    )
    signed = write_json(tmp_path / "r.json", sign_receipt(make_receipt(big=1e21), key))
    result = cli("verify", str(signed), "--public-key", key.public_key.text, "--now", NOW, "--policy-file", "p.rego")
    assert result.code == 2, result
    assert_one_line_error(result)
    (tmp_path / "q.rego").write_text(
        'package attest.verification\n\ndeny contains "late" if { input.now_ns > 4102444800000000000 }\n'
    )
    plain = write_json(tmp_path / "plain.json", sign_receipt(make_receipt(), key))  # a time in ns stays fine
    assert (
        cli("verify", str(plain), "--public-key", key.public_key.text, "--now", NOW, "--policy-file", "q.rego").code
        == 0
    )


@pytest.mark.parametrize("pattern", ["[\\\\]]", "a{,b}", "[^a]", "[!a]"])
def test_glob_patterns_that_match_differently_are_refused(cli: Cli, tmp_path: Path, pattern: str) -> None:
    (tmp_path / "p.rego").write_text(
        f'package attest.verification\n\ndeny contains "g" if glob.match("{pattern}", [], "b")\n'
    )
    result = cli("policy", "check", "p.rego")
    assert result.code == 2 and "glob.match" in result.err, result
    (tmp_path / "q.rego").write_text(
        'package attest.verification\n\ndeny contains "g" if glob.match("*.{js,ts}", ["."], "a.js")\n'
    )
    assert cli("policy", "check", "q.rego").code == 0


@pytest.mark.parametrize("version", ["99", "2", "'1'", "true", "1.0"])
def test_a_keyring_of_another_version_is_refused(cli: Cli, tmp_path: Path, key: PrivateKey, version: str) -> None:
    ring = tmp_path / "ring.yaml"
    ring.write_text(f"version: {version}\nkeys:\n  - public_key: {key.public_key.text}\n")
    signed = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(signed), "--keyring", str(ring), "--now", NOW)
    assert result.code == 2, result
    assert_one_line_error(result)
    assert "version" in result.err and "ring.yaml" in result.err
    ring.write_text(f"version: 1\nkeys:\n  - public_key: {key.public_key.text}\n")
    assert cli("verify", str(signed), "--keyring", str(ring), "--now", NOW).code == 0


def test_timestamp_ns_keeps_the_nanoseconds_a_receipt_wrote(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    # timestamp_ns came from a datetime, which holds microseconds: 10:00:00.123456789Z was ...456000.
    (tmp_path / "p.rego").write_text(
        "package attest.verification\n\n"
        'deny contains "ns" if input.timestamp_ns != time.parse_rfc3339_ns(input.receipt.timestamp)\n'
        'deny contains "exact" if input.timestamp_ns != 1795168800123456789\n'
    )
    receipt = make_receipt(timestamp="2026-11-20T10:00:00.123456789Z")
    signed = write_json(tmp_path / "r.json", sign_receipt(receipt, key))
    result = cli("verify", str(signed), "--public-key", key.public_key.text, "--now", NOW, "--policy-file", "p.rego")
    assert result.code == 0, result


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_text_report_file_names_the_receipt_that_could_not_be_checked(cli: Cli, tmp_path: Path, key: PrivateKey,
                                                                       jobs: str) -> None:  # fmt: skip
    (tmp_path / "in").mkdir()
    write_json(tmp_path / "in" / "a.json", sign_receipt(make_receipt(), key))
    (tmp_path / "in" / "b.json").symlink_to(tmp_path / "gone.json")  # could not be read: exit 2
    result = cli(
        "verify",
        "in/a.json",
        "in/b.json",
        "--public-key",
        key.public_key.text,
        "--now",
        NOW,
        "-o",
        "report.txt",
        "--jobs",
        jobs,
    )
    assert result.code == 2, result
    report = (tmp_path / "report.txt").read_text()
    assert "VALID" in report and "a.json" in report
    assert "ERROR" in report and "b.json" in report and "could not check" in report


def test_a_receipt_name_that_is_not_utf8_is_reported_in_every_format(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    import json

    (tmp_path / "r").mkdir()
    write_json(tmp_path / "r" / "x\udcff.json", sign_receipt(make_receipt(), key))
    write_json(tmp_path / ".hidden.json", sign_receipt(make_receipt(), key))
    args = ["--public-key", key.public_key.text, "--now", NOW]
    other = ["--public-key", PrivateKey.generate().public_key.text, "--now", NOW]  # every receipt fails
    sarif = cli("verify", "r", "./.hidden.json", *other, "--format", "sarif", "-o", "out.sarif")
    assert sarif.code == 1, sarif.err  # it was an internal error (exit 2) and no report
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]}  # fmt: skip
    assert uris == {"r/x%FF.json", ".hidden.json"}
    lines = cli("verify", "r", *args, "--json")
    assert lines.code == 0
    record = json.loads(lines.out.encode("utf-8"))  # strict UTF-8: no lone surrogate written
    assert record["receipt"] == "r/x\\udcff.json"


@pytest.mark.parametrize(
    "extra", [("--jobs", "1"), ("--jobs", "2"), ("--summary-out", "s.json")], ids=["1", "2", "summary"]
)
def test_a_linked_file_below_the_one_named_is_not_followed(
    cli: Cli, tmp_path: Path, key: PrivateKey, extra: tuple[str, ...]
) -> None:
    (tmp_path / "receipts").mkdir()
    (tmp_path / "secret").mkdir()
    write_json(tmp_path / "receipts" / "a.json", sign_receipt(make_receipt(), key))
    (tmp_path / "secret" / "a.env").write_text("TOKEN=SUPERSECRET-value\n")
    write_json(tmp_path / "secret" / "good.json", sign_receipt(make_receipt(), key))  # even a valid one
    (tmp_path / "receipts" / "leak.json").symlink_to("../secret/a.env")
    (tmp_path / "receipts" / "env.yaml").symlink_to("/proc/self/environ")
    (tmp_path / "receipts" / "valid.json").symlink_to("../secret/good.json")
    result = cli("verify", "receipts", *extra, "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 2, result
    assert "SUPERSECRET" not in result.out + result.err
    errors = {line["receipt"]: line["error"] for line in result.json_lines() if "error" in line}
    assert {name: e["code"] for name, e in errors.items()} == {
        "receipts/leak.json": "special-file",
        "receipts/env.yaml": "special-file",
        "receipts/valid.json": "special-file",
    }
    assert all("symbolic link" in e["message"] and "name its target" in e["message"] for e in errors.values())
    named = cli("verify", "secret/good.json", "--public-key", key.public_key.text, "--now", NOW)
    assert named.code == 0, named  # the target named itself is checked


def test_policy_test_does_not_follow_a_linked_fixture_or_expectation(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "secret.txt").write_text("SUPERSECRET: value\n")
    write_json(tmp_path / "cases" / "ok.json", make_receipt())
    (tmp_path / "cases" / "ok.expect.yaml").write_text("verdict: pass\n")
    policy = ["--policy", "steps-succeeded"]
    assert cli("policy", "test", "cases", *policy).code == 0
    (tmp_path / "cases" / "ok.expect.yaml").unlink()
    (tmp_path / "cases" / "ok.expect.yaml").symlink_to("../secret.txt")
    linked_expectation = cli("policy", "test", "cases", *policy)
    assert linked_expectation.code == 2, linked_expectation
    assert_one_line_error(linked_expectation)
    assert "symbolic link" in linked_expectation.err and "SUPERSECRET" not in linked_expectation.err
    (tmp_path / "cases" / "ok.expect.yaml").unlink()
    (tmp_path / "cases" / "ok.expect.yaml").write_text("verdict: pass\n")
    (tmp_path / "cases" / "z.json").symlink_to("../secret.txt")
    (tmp_path / "cases" / "z.expect.yaml").write_text("verdict: pass\n")
    linked_fixture = cli("policy", "test", "cases", *policy)
    assert linked_fixture.code == 2, linked_fixture
    assert_one_line_error(linked_fixture)
    assert "cases/z.json" in linked_fixture.err and "SUPERSECRET" not in linked_fixture.err
    (tmp_path / "cases" / "z.json").unlink()
    (tmp_path / "cases" / "sub").symlink_to("..", target_is_directory=True)
    linked_dir = cli("policy", "test", "cases", *policy)
    assert linked_dir.code == 2 and "symbolic link to a directory" in linked_dir.err, linked_dir
