"""`--rego-engine opa` / `ATTESTKIT_OPA`: Rego evaluated by the `opa` binary (here a test double
that runs real OPA 1.20.2), through the CLI, with the network cut (`unshare -n` when available)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attestkit.adapters.opa import OpaBinaryEngine
from attestkit.core.policy.loader import load_policy_text
from attestkit.errors import PolicyError, RegoEvaluationError, RegoUnsupportedError
from tests.rego_oracle import write_opa_double

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("ATTESTKIT_REGO_CORPUS", ROOT.parent / "shared" / "rego-conformance"))
NOW = "2026-11-20T12:00:00Z"


def _offline() -> list[str]:
    probe = (
        subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False) if shutil.which("unshare") else None
    )
    return ["unshare", "-n"] if probe is not None and probe.returncode == 0 else []


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "ATTESTKIT_OPA"}
    full.update(env or {})
    return subprocess.run(
        [*_offline(), sys.executable, "-m", "attestkit", *args],
        capture_output=True, text=True, env=full, cwd=cwd or ROOT, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def opa(tmp_path: Path) -> Path:
    return write_opa_double(tmp_path)


def _corpus() -> dict[str, Any]:
    if not CORPUS.is_dir():
        pytest.skip(f"Rego conformance corpus not found at {CORPUS}")
    document: dict[str, Any] = json.loads((CORPUS / "expected-opa.json").read_text(encoding="utf-8"))
    return document


def _cases(policy: str) -> list[dict[str, Any]]:
    return [c for c in _corpus()["cases"] if c["policy"] == policy]


@pytest.mark.parametrize(
    "policy",
    ["p18_encoding.rego", "p13_print.rego", "p11_deny_objects.rego", "p01_doc_example.rego", "p14_conflict.rego"],
)
def test_opa_backend_gives_opas_verdicts_through_the_cli(opa: Path, policy: str) -> None:
    cases = _cases(policy)
    receipts = [str(CORPUS / "receipts" / c["receipt"]) for c in cases]
    done = run("verify", *receipts, "--now", NOW, "--public-key", str(CORPUS / "receipts" / "k.pub.pem"),
               "--policy-file", str(CORPUS / policy), "--json", "--rego-engine", "opa",
               env={"ATTESTKIT_OPA": str(opa)})  # fmt: skip
    assert "Traceback" not in done.stderr
    lines = {Path(line["receipt"]).name: line for line in map(json.loads, done.stdout.splitlines())}
    for case in cases:
        line = lines[case["receipt"]]
        if case["expected_exit"] == 2:
            assert "error" in line, (policy, case["receipt"], line)
            continue
        assert "error" not in line, line
        messages = sorted(v["message"] for v in line["policy_compliance"]["violations"])
        assert len(messages) == case["violations"]
        assert [m for m in messages if m != "allow is not true"] == case["deny"]
        assert line["valid"] is (case["expected_exit"] == 0)
    if policy == "p13_print.rego":
        # print() goes to stderr prefixed with the policy path; stdout stays one JSON object per receipt
        assert f"{CORPUS / policy}: print: checking build" in done.stderr


def test_opa_selected_by_environment_and_refusals_still_apply(opa: Path, tmp_path: Path) -> None:
    cases = _cases("p18_encoding.rego")
    receipt = str(CORPUS / "receipts" / cases[0]["receipt"])
    base = ["verify", receipt, "--now", NOW, "--public-key", str(CORPUS / "receipts" / "k.pub.pem")]
    embedded = run(*base, "--policy-file", str(CORPUS / "p18_encoding.rego"))
    assert embedded.returncode == 2 and "yaml.unmarshal" in embedded.stderr and "--rego-engine opa" in embedded.stderr
    chosen = run(*base, "--policy-file", str(CORPUS / "p18_encoding.rego"), env={"ATTESTKIT_OPA": str(opa)})
    assert chosen.returncode == 1 and "yaml" in chosen.stdout
    network = tmp_path / "net.rego"
    network.write_text(
        'package attest.verification\n\ndeny contains "x" if {\n\thttp.send({"method": "get", "url": "http://127.0.0.1:1"})\n}\n'
    )
    refused = run(*base, "--policy-file", str(network), env={"ATTESTKIT_OPA": str(opa)})
    assert refused.returncode == 2 and "line 4" in refused.stderr and "http.send is refused" in refused.stderr


def test_policy_check_with_opa_reports_opas_compile_errors(opa: Path) -> None:
    _corpus()
    done = run("policy", "check", str(CORPUS / "p39_typo_builtin.rego"), "--rego-engine", "opa",
               env={"ATTESTKIT_OPA": str(opa)})  # fmt: skip
    assert done.returncode == 2
    assert "line 9" in done.stderr and "strings.startswith" in done.stderr
    assert run("policy", "check", str(CORPUS / "p18_encoding.rego"), "--rego-engine", "opa",
               env={"ATTESTKIT_OPA": str(opa)}).returncode == 0  # fmt: skip


def test_missing_opa_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "p.rego"
    policy.write_text('package attest.verification\n\ndeny contains "x" if false\n')
    done = run("policy", "check", str(policy), "--rego-engine", "opa", env={"ATTESTKIT_OPA": str(tmp_path / "nope")})
    assert done.returncode == 2 and "not an executable file" in done.stderr and done.stderr.count("\n") == 1


def test_library_opa_engine_errors(opa: Path) -> None:
    engine = OpaBinaryEngine(str(opa))
    with pytest.raises(PolicyError, match=r"x.rego: line 3"):
        load_policy_text(
            "x.rego", b"package attest.verification\n\ndeny contains x if { y := 1 }\n", rego_engine=engine
        )
    with pytest.raises(RegoUnsupportedError, match="v0 syntax"):
        load_policy_text("v0.rego", b"package attest.verification\n\ndeny[msg] {\n msg := 1\n}\n", rego_engine=engine)
    from attestkit.core.policy.rego import RegoPolicy

    policy = load_policy_text(
        "c.rego", b'package attest.verification\n\nx := 1 if input.now_ns > 0\nx := 2 if input.now_ns > 0\ndeny contains "x" if x == 3\n',
        rego_engine=engine,
    )  # fmt: skip
    assert isinstance(policy, RegoPolicy)
    with pytest.raises(RegoEvaluationError, match="conflict"):
        policy._compiled.evaluate({"now_ns": 1})


_APPROVES_ALL = """#!/bin/sh
cat >/dev/null
[ "$1" = check ] && exit 0
echo '{"result":[{"bindings":{"x":{"allow":true},"t":[]}}]}'
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout under review that ships its own "opa", one that approves everything."""
    from attestkit import PrivateKey, sign_receipt
    from tests.conftest import make_receipt, write_json

    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "opa").write_text(_APPROVES_ALL)
    (tools / "opa").chmod(0o755)
    key = PrivateKey.generate()
    (tmp_path / "k.pub").write_text(key.public_key.text + "\n")
    failed = make_receipt()
    failed["steps"][0]["exit_code"] = 1
    write_json(tmp_path / "r.json", sign_receipt(failed, key))
    (tmp_path / "policy.rego").write_text(
        'package attest.verification\n\ndeny contains "a step failed" if { some s in input.receipt.steps; s.exit_code != 0 }\n'
    )
    return tmp_path


_VERIFY = ("verify", "r.json", "--public-key", "k.pub", "--now", NOW, "--policy-file", "policy.rego")


def test_a_relative_attestkit_opa_is_a_usage_error(checkout: Path) -> None:
    assert run(*_VERIFY, cwd=checkout).returncode == 1  # the embedded engine: the failed step is denied
    for extra in ((), ("--rego-engine", "opa")):
        done = run(*_VERIFY, *extra, env={"ATTESTKIT_OPA": "tools/opa"}, cwd=checkout)
        assert done.returncode == 2, done
        assert done.stderr.count("\n") == 1 and "ATTESTKIT_OPA" in done.stderr and "absolute path" in done.stderr
        assert "VALID" not in done.stdout


def test_opa_found_through_a_relative_path_entry_is_refused(checkout: Path) -> None:
    path = os.pathsep.join(["tools", os.environ.get("PATH", os.defpath)])
    done = run(*_VERIFY, "--rego-engine", "opa", env={"PATH": path}, cwd=checkout)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and "relative PATH entry" in done.stderr
    policy_check = run("policy", "check", "policy.rego", "--rego-engine", "opa", env={"PATH": path}, cwd=checkout)
    assert policy_check.returncode == 2 and "relative PATH entry" in policy_check.stderr


def test_text_output_says_when_the_opa_binary_decides(checkout: Path) -> None:
    opa = str(checkout / "tools" / "opa")  # absolute: the operator's choice, and said
    text = run(*_VERIFY, env={"ATTESTKIT_OPA": opa}, cwd=checkout)
    assert text.returncode == 0
    assert f"Rego policies are evaluated by {opa}, not the embedded engine (ATTESTKIT_OPA is set)" in text.stderr
    as_json = run(*_VERIFY, "--json", env={"ATTESTKIT_OPA": opa}, cwd=checkout)
    assert as_json.returncode == 0 and as_json.stderr == "" and json.loads(as_json.stdout)["valid"] is True
