"""Issue 16 regressions, through the CLI (subprocess) and the library: OPA's verdict or exit 2."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.policy.base import PolicyContext
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import PolicyError, RegoEvaluationError, RegoUnsupportedError
from tests.conftest import NOW, CliResult, make_receipt, write_json

HEAD = "package attest.verification\n\n"


def _context(receipt: dict[str, object] | None = None) -> PolicyContext:
    receipt = receipt or make_receipt()
    return PolicyContext(
        receipt=receipt, signature_verified=True, signer=None, public_key="ed25519:" + "ab" * 32,
        now=parse_rfc3339(NOW), timestamp=parse_rfc3339("2026-11-20T10:00:00Z"),
    )  # fmt: skip


def _messages(text: str, receipt: dict[str, object] | None = None) -> list[str]:
    policy = load_policy_text("p.rego", (HEAD + text).encode())
    return sorted(v.message for v in policy.evaluate(_context(receipt)))


@pytest.fixture
def verify_with(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> Callable[..., CliResult]:
    receipt = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))

    def run(text: str, *extra: str) -> CliResult:
        (tmp_path / "p.rego").write_text(HEAD + text, encoding="utf-8")
        return cli("verify", str(receipt), "--public-key", key.public_key.text, "--now", NOW,
                   "--policy-file", str(tmp_path / "p.rego"), *extra)  # fmt: skip

    return run


def test_v0_syntax_is_refused_with_the_fix(verify_with: Callable[..., CliResult]) -> None:
    done = verify_with('deny[msg] {\n\tmsg := "x"\n}\n')
    assert done.code == 2 and done.out == "" and done.err.count("\n") == 1
    assert "p.rego: line 3:" in done.err and "add `if`/`contains` (Rego v1)" in done.err


def test_deny_shapes() -> None:
    assert _messages('deny contains {"step": "b", "msg": "m"} if true\n') == ['{"msg":"m","step":"b"}']
    assert _messages('deny[k] := 1 if { some k in ["x", "y"] }\n') == ["x", "y"]
    assert _messages('deny[msg] if { msg := "z" }\n') == ["z"]
    assert _messages('deny contains "a" if false\n') == []
    for other in ('deny := ["a"]\n', 'deny := "a"\n', "deny := 3\n", "deny := true\n"):
        with pytest.raises(RegoEvaluationError, match="deny is a"):
            _messages(other)


@pytest.mark.parametrize(
    ("text", "messages"),
    [('deny contains "s" if true\n', ["s"]), ('deny contains {"k": 1} if true\n', ['{"k":1}']),
     ('deny[k] := 1 if { some k in ["x", "y"] }\n', ["x", "y"])],
)  # fmt: skip
def test_deny_shapes_through_the_cli(verify_with: Callable[..., CliResult], text: str, messages: list[str]) -> None:
    done = verify_with(text, "--json")
    assert (
        done.code == 1 and [v["message"] for v in json.loads(done.out)["policy_compliance"]["violations"]] == messages
    )


@pytest.mark.parametrize("text", ['deny := ["a"]\n', 'deny := "a"\n', "deny := 3\n", "deny := null\n"])
def test_other_deny_types_could_not_check_through_the_cli(verify_with: Callable[..., CliResult], text: str) -> None:
    done = verify_with(text)
    assert done.code == 2 and "could not check" in done.err and "deny is a" in done.err, (done.out, done.err)
    assert "VALID" not in done.out


def test_conflicts_and_runtime_errors_could_not_check(verify_with: Callable[..., CliResult]) -> None:
    conflict = verify_with(
        'm := 1 if input.now_ns > 0\nm := 2 if input.now_ns > 0\ndeny contains "x" if m == 3\n', "--json"
    )
    assert conflict.code == 2 and json.loads(conflict.out)["error"]["code"] == "rego-eval"
    runtime = verify_with('deny contains "bad" if to_number(input.receipt.environment.host_os) > 0\n')
    assert runtime.code == 2 and "VALID" not in runtime.out
    with pytest.raises(PolicyError, match="more than one default"):
        _messages("default allow := true\ndefault allow := false\n")


@pytest.mark.parametrize(
    "call",
    ['http.send({"method": "get", "url": "http://127.0.0.1:1"})', 'net.lookup_ip_addr("example.com")',
     "opa.runtime()", 'io.jwt.decode("x")', "rand.intn(\"x\", 3)"],
)  # fmt: skip
def test_outside_builtins_refused_at_load(call: str, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(HEAD + f'deny contains sprintf("%v", [x]) if {{\n\tx := {call}\n}}\n')
    done = cli("policy", "check", str(tmp_path / "p.rego"))
    assert done.code == 2 and "line 4" in done.err and "is refused" in done.err
    with pytest.raises(RegoUnsupportedError, match="is refused"):
        load_policy_text("p.rego", (tmp_path / "p.rego").read_bytes())


def test_undefined_and_unsupported_functions_refused_at_load() -> None:
    with pytest.raises(RegoUnsupportedError, match=r"line 4: undefined function strings\.startswith"):
        _messages('deny contains "x" if {\n\tstrings.startswith("a", "b")\n}\n')
    with pytest.raises(RegoUnsupportedError, match=r"line 4: builtin yaml\.unmarshal .*use the OPA engine"):
        _messages('deny contains "x" if {\n\tyaml.unmarshal("a: y")\n}\n')


def test_print_goes_to_stderr_never_stdout(verify_with: Callable[..., CliResult]) -> None:
    text = 'deny contains "x" if {\n\tprint("hello", input.receipt.environment.host_os)\n}\n'
    done = verify_with(text, "--json")
    line = json.loads(done.out)  # stdout is exactly one JSON object
    assert [v["message"] for v in line["policy_compliance"]["violations"]] == ["x"]
    assert "p.rego: print: " in done.err and "hello linux" in done.err
    quiet = verify_with(text, "--json", "--quiet")
    assert "hello" not in quiet.err and json.loads(quiet.out)["valid"] is False


def test_policy_check_reports_every_refusal(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "a.rego").write_text(HEAD + "deny[msg] {\n\tmsg := 1\n}\n")
    (tmp_path / "b.rego").write_text(HEAD + 'deny contains "x" if nope(1)\n')
    (tmp_path / "c.rego").write_text(HEAD + 'deny contains "x" if false\n')
    done = cli("policy", "check", "a.rego", "b.rego", "c.rego", cwd=tmp_path)
    assert done.code == 2 and "ok  c.rego" in done.out
    assert "a.rego: line 3" in done.err and "b.rego: line 3: undefined function nope" in done.err


def test_go_semantics_supplied_or_refused() -> None:
    assert _messages('deny contains sprintf("%d", [count("😀é")]) if true\n') == ["2"]
    assert _messages('deny contains upper("éa") if true\n') == ["ÉA"]
    with pytest.raises(RegoEvaluationError, match="upper"):
        _messages('deny contains upper("ß") if true\n')
    # Go's \s is ASCII: a no-break space is not whitespace for OPA
    assert _messages('deny contains "ws" if regex.match(`\\s`, "\u00a0")\n') == []
    with pytest.raises(RegoUnsupportedError, match="literal pattern"):
        _messages('deny contains "x" if regex.match(input.receipt.environment.host_os, "a")\n')
    with pytest.raises(RegoUnsupportedError, match="type error"):
        _messages('deny contains "x" if count(input.receipt.steps) == "1"\n')


def test_decimal_arithmetic_refused_exact_decimals_evaluated() -> None:
    receipt = make_receipt(total_duration_secs=45.2)
    with pytest.raises(RegoEvaluationError, match=r"45\.2"):
        _messages('deny contains "slow" if input.receipt.total_duration_secs + 1 > 46\n', receipt)
    assert _messages(
        'deny contains "slow" if input.receipt.total_duration_secs + 1 > 46\n', make_receipt(total_duration_secs=45.5)
    ) == ["slow"]
    assert _messages('deny contains "long" if input.receipt.total_duration_secs > 45\n', receipt) == ["long"]
    with pytest.raises(RegoUnsupportedError, match="not exact in binary"):
        _messages('deny contains "x" if 0.1 + 0.2 == 0.3\n')


def test_missing_engine_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "regorus", None)
    with pytest.raises(PolicyError, match=r"pip install 'attestkit\[rego\]'"):
        load_policy_text("p.rego", (HEAD + 'deny contains "x" if false\n').encode())


def test_rounded_arithmetic_refused_exact_integers_kept(verify_with: Callable[..., CliResult]) -> None:
    # The embedded engine computes now_ns + 0.5 in doubles and hands 1795176000000000000 back as an
    # integer; OPA has ...000.5 (and prints 1.795176e+18): refused, never a different message.
    exact = make_receipt(total_duration_secs=45.5)
    with pytest.raises(RegoEvaluationError, match="rounded"):
        _messages('deny contains sprintf("%v", [input.now_ns + 0.5]) if true\n', exact)
    with pytest.raises(RegoEvaluationError, match="rounded"):
        _messages('deny contains {"v": input.now_ns + 0.5} if true\n', exact)
    with pytest.raises(RegoUnsupportedError, match="line 3: division"):
        _messages('deny contains {"v": v} if { v := (input.now_ns + 1) / 1000000000 }\n', exact)
    whole = make_receipt(total_duration_secs=45, steps=[])  # no fraction anywhere: integer arithmetic is exact
    assert _messages('deny contains sprintf("%d", [input.now_ns + 1]) if true\n', whole) == [str(1795176000000000001)]
    assert _messages('deny contains "half" if 7 / 2 == 3.5\n', exact) == ["half"]
    done = verify_with('deny contains sprintf("%v", [input.now_ns + 0.5]) if true\n', "--json")
    assert done.code == 2 and json.loads(done.out)["error"]["code"] == "rego-eval"
