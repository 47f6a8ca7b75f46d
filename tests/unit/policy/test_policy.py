"""Built-in policies, rule files and Rego policies: each passes and fails."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.policy.base import Policy, PolicyContext
from attestkit.core.policy.builtin import builtin_policy
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustedKey, TrustStore
from attestkit.errors import PolicyError
from tests.conftest import NOW, ROOT, CliResult, make_receipt, write_json

EXAMPLES = ROOT / "docs" / "examples"
NOW_DT = parse_rfc3339(NOW)


def _context(receipt: dict[str, Any], verified: bool = True, identity: str | None = None) -> PolicyContext:
    return PolicyContext(
        receipt=receipt, signature_verified=verified, signer=identity, public_key=None,
        now=NOW_DT, timestamp=parse_rfc3339(receipt["timestamp"]), trusted_identity=identity,
    )  # fmt: skip


def _messages(policy: Policy, receipt: dict[str, Any], **kw: Any) -> list[str]:
    return [v.message for v in policy.evaluate(_context(receipt, **kw))]


def test_require_signature() -> None:
    policy = builtin_policy("require-signature")
    assert _messages(policy, make_receipt(signature="x")) == []
    assert _messages(policy, make_receipt(), verified=False) == ["receipt is not signed"]
    assert _messages(policy, make_receipt(signature="x"), verified=False) == ["receipt signature did not verify"]


def test_max_age() -> None:
    assert _messages(builtin_policy("max-age-3h"), make_receipt()) == []
    assert _messages(builtin_policy("max-age-1h"), make_receipt()) == ["built 2h ago; the limit is 60m"]
    assert _messages(builtin_policy("max-age-1d"), make_receipt()) == []
    assert builtin_policy("max-age-90s").name == "max-age-90s"


def test_require_tests() -> None:
    policy = builtin_policy("require-tests")
    assert _messages(policy, make_receipt()) == []
    assert _messages(policy, make_receipt(attestations={})) == ["no test attestation"]
    failing = make_receipt()
    failing["attestations"]["test"]["predicate"]["test_results"] = {"total": 5, "failed": 2}
    assert _messages(policy, failing) == ["2 of 5 tests failed"]
    empty = make_receipt()
    empty["attestations"]["test"]["predicate"]["test_results"] = {"total": 0, "failed": 0}
    assert _messages(policy, empty) == ["no tests ran (total is 0)"]
    # counts of tests are whole and not negative: 1e-300 tests "ran", -3 passed
    for results, field in [
        ({"total": 1e-300, "failed": 0}, "total"),
        ({"total": 5, "failed": 0, "passed": -3, "skipped": 99}, "passed"),
        ({"total": 5, "failed": -1}, "failed"),
        ({"total": 5, "failed": 0, "skipped": 0.5}, "skipped"),
    ]:
        odd = make_receipt()
        odd["attestations"]["test"]["predicate"]["test_results"] = results
        (message,) = _messages(policy, odd)
        assert message.startswith(f"test_results.{field} is not a count of tests"), message
    whole = make_receipt()
    whole["attestations"]["test"]["predicate"]["test_results"] = {"total": 4.0, "failed": 0, "passed": 3, "skipped": 1}
    assert _messages(policy, whole) == []


def test_rule_files_refuse_null_attestations_and_negative_durations() -> None:
    rules = load_policy_text(
        "rules.yaml",
        b"verification:\n  rules:\n    - {name: built, type: attestation-required, attestation_type: attest/build}\n"
        b"    - {name: quick, type: max-duration, max_duration: 30m}\n",
    )
    for value in (None, "present"):
        receipt = make_receipt(attestations={"attest/build": value}, total_duration_secs=-99999)
        assert _messages(rules, receipt) == [
            "no attestation of type 'attest/build'",
            "total_duration_secs is negative (-99999)",
        ]


def test_security_scan() -> None:
    policy = builtin_policy("security-scan")
    assert _messages(policy, make_receipt()) == []
    bad = make_receipt()
    bad["attestations"]["security"]["predicate"]["results"]["vulnerabilities"]["critical"] = 3
    assert _messages(policy, bad) == ["3 critical vulnerabilities reported"]
    assert _messages(policy, make_receipt(attestations={"test": {}})) == ["no security attestation"]


def test_steps_succeeded() -> None:
    policy = builtin_policy("steps-succeeded")
    assert _messages(policy, make_receipt()) == []
    bad = make_receipt()
    bad["steps"].append({"name": "deploy", "exit_code": 2})
    assert _messages(policy, bad) == ["step 'deploy' exited with code 2"]
    # the contract's rule is "every step has exit_code 0": true of an empty list (require a step
    # by name with a rule file's step-required)
    assert _messages(policy, make_receipt(steps=[])) == []


@pytest.mark.parametrize("name", ["max-age-", "max-age-24", "max-age-1w", "require", "REQUIRE-TESTS"])
def test_unknown_policy_names(name: str) -> None:
    with pytest.raises(PolicyError, match="unknown policy"):
        builtin_policy(name)


def test_verification_yaml_example() -> None:
    policy = load_policy_text("verification.yaml", (EXAMPLES / "verification.yaml").read_bytes())
    receipt = make_receipt()
    assert _messages(policy, receipt, identity="ci-system@company.com") == ["no attestation of type 'attest/build'"]
    receipt["attestations"]["build"] = {"type": "attest/build", "predicate": {}}
    assert _messages(policy, receipt, identity="ci-system@company.com") == []
    assert _messages(policy, receipt, identity="intruder@evil.example") == [
        "signer 'intruder@evil.example' is not allowed"
    ]
    assert _messages(policy, receipt) == ["signer identity is not established by a trusted keyring entry"]


def _release_receipt() -> dict[str, Any]:
    receipt = make_receipt()
    receipt["steps"][0]["environment_snapshot"] = {"NODE_ENV": "production"}
    receipt["attestations"]["test"]["predicate"]["coverage"] = {"lines": 85.0, "branches": 71}
    receipt["attestations"]["security"]["predicate"]["results"]["vulnerabilities"]["high"] = 0
    return receipt


def test_release_yaml_example_pass_and_fail() -> None:
    policy = load_policy_text("release.yaml", (EXAMPLES / "release.yaml").read_bytes())
    assert _messages(policy, _release_receipt()) == []
    bad = _release_receipt()
    bad["steps"][0]["exit_code"] = 1
    bad["steps"][0]["environment_snapshot"]["NODE_ENV"] = "development"
    bad["attestations"]["test"]["predicate"]["coverage"]["lines"] = 60
    bad["attestations"]["security"]["predicate"]["results"]["vulnerabilities"]["high"] = 2
    bad["total_duration_secs"] = 3600
    bad["pipeline_hash"] = "blake3:" + "00" * 32
    assert _messages(policy, bad) == [
        "step 'build' exited with code 1",
        "lines coverage 60% is below 80.0%",
        "2 high vulnerabilities; the limit is 0",
        "pipeline ran 3600s; the limit is 30m",
        "NODE_ENV is 'development', expected 'production'",
        f"pipeline_hash blake3:{'00' * 32} is not in the allow-list",
    ]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("- {name: a, type: nope}", "rule 'a': unknown type 'nope'"),
        ("- {name: a, type: max-age}", "rule 'a': field 'max_age': is required"),
        ("- {name: a, type: max-age, max_age: 24 hours}", "rule 'a': field 'max_age'"),
        ("- {name: a, type: max-age, max_age: 24h, extra: 1}", "rule 'a': field 'extra': is not a parameter"),
        (
            "- {name: a, type: signer-allowed, allowed_signers: x}",
            "rule 'a': field 'allowed_signers': has the wrong type",
        ),
        ("- {name: a, type: max-vulnerabilities, critical: -1}", "rule 'a': field 'critical': must be >= 0"),
        ("- {name: a, type: pipeline-hash-in, allowed: [sha256:00]}", "rule 'a': field 'allowed'"),
        ("- {name: a, type: step-required, step: 3}", "field 'step': has the wrong type"),
        ("- {type: max-age, max_age: 1h}", "field 'name' is required"),
        ("- {name: a, type: max-age, max_age: 1h}\n    - {name: a, type: max-age, max_age: 2h}", "duplicate rule name"),
    ],
)
def test_rule_file_validation(rules: str, message: str) -> None:
    text = f"verification:\n  rules:\n    {rules}\n"
    with pytest.raises(PolicyError) as info:
        load_policy_text("rules.yaml", text.encode())
    assert message in str(info.value) and str(info.value).startswith("rules.yaml")


def test_rego_example_policy() -> None:
    policy = load_policy_text("docs/examples/attest.rego", (EXAMPLES / "attest.rego").read_bytes())
    assert _messages(policy, make_receipt()) == []
    assert _messages(policy, make_receipt(), verified=False) == ["allow is not true"]
    bad = make_receipt()
    bad["steps"][0]["exit_code"] = 3
    violations = policy.evaluate(_context(bad))
    assert {v.message for v in violations} == {"allow is not true", "step build exited with 3"}
    assert {v.policy for v in violations} == {"docs/examples/attest.rego"}


def test_rego_without_allow_is_judged_by_deny_alone() -> None:
    text = b'package attest.verification\nimport rego.v1\ndeny contains "too old" if { input.age_seconds > 3600 }\n'
    policy = load_policy_text("deny.rego", text)
    assert _messages(policy, make_receipt(timestamp="2026-11-20T11:30:00Z")) == []
    assert _messages(policy, make_receipt()) == ["too old"]


def test_rego_input_document() -> None:
    text = b"""package attest.verification
import rego.v1
deny contains sprintf("%v|%v|%v|%v", [input.signature.verified, input.timestamp_ns, input.now_ns, input.age_seconds]) if { true }
"""
    (message,) = _messages(load_policy_text("x.rego", text), make_receipt())
    assert message == "true|1795168800000000000|1795176000000000000|7200"


def test_rego_errors() -> None:
    with pytest.raises(PolicyError, match=r"bad.rego: line 3: '\{' is never closed \(Rego syntax error\)"):
        load_policy_text("bad.rego", b"package attest.verification\n\nallow if {\n")
    with pytest.raises(PolicyError, match=r"package must be attest\.verification"):
        load_policy_text("other.rego", b"package other\nallow := true\n")
    with pytest.raises(PolicyError, match=r"\.yaml, \.yml or \.rego"):
        load_policy_text("policy.json", b"{}")


def test_policies_through_verify(key: PrivateKey) -> None:
    store = TrustStore((TrustedKey(key.public_key, identity="ci-system@company.com"),))
    receipt = make_receipt()
    receipt["attestations"]["build"] = {"type": "attest/build", "predicate": {}}
    signed = sign_receipt(receipt, key, signer="release-manager@company.com")  # a claim the keyring overrides
    policy = load_policy_text("v.yaml", (EXAMPLES / "verification.yaml").read_bytes())
    result = verify_receipt(signed, trusted_keys=store, now=NOW_DT, policies=[policy])
    assert not result.valid  # signer claim contradicts the keyring identity
    honest = sign_receipt(receipt, key, signer="ci-system@company.com")
    assert verify_receipt(honest, trusted_keys=store, now=NOW_DT, policies=[policy]).valid


def test_cli_policies(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    bad = make_receipt()
    bad["steps"][0]["exit_code"] = 1
    path = write_json(tmp_path / "r.json", sign_receipt(bad, key))
    rego = EXAMPLES / "attest.rego"
    result = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--json",
                 "--policy", "steps-succeeded", "--policy", "max-age-24h", "--policy-file", str(rego))  # fmt: skip
    assert result.code == 1
    violations = result.json_lines()[0]["policy_compliance"]["violations"]
    assert {v["policy"] for v in violations} == {"steps-succeeded", str(rego)}
    assert cli("verify", str(path), "--public-key", key.public_key.text, "--policy", "nope").code == 2
    bad_rego = tmp_path / "bad.rego"
    bad_rego.write_text("package attest.verification\nallow if {\n")
    failed = cli("verify", str(path), "--public-key", key.public_key.text, "--policy-file", str(bad_rego))
    assert failed.code == 2 and "line 2" in failed.err and failed.out == ""
    assert cli("policy", "check", str(EXAMPLES / "release.yaml"), str(rego)).code == 0
    assert cli("policy", "check", str(bad_rego)).code == 2
    listed = cli("policy", "list")
    assert "require-tests" in listed.out and "pipeline-hash-in" in listed.out


def test_missing_data_is_a_violation_not_a_crash() -> None:
    bare = {"timestamp": "2026-11-20T10:00:00Z"}
    for name in ["require-tests", "security-scan", "steps-succeeded", "max-age-1h"]:
        assert _messages(builtin_policy(name), copy.deepcopy(bare))
    policy = load_policy_text("release.yaml", (EXAMPLES / "release.yaml").read_bytes())
    assert len(_messages(policy, bare)) == 7


# ---- issue 14.9: rule files that would pass everything, loose comparisons ------------------

_ONE_RULE = "    - {name: recent, type: max-age, max_age: 24h}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("verification:\n  rules: []\n", "verification.rules is empty"),
        ("verification:\n  rules:\n", "expected verification.rules"),
        ("rules:\n" + _ONE_RULE, "nest it under verification:"),
        ("rules: []\n", "nest it under verification:"),
        ("verification: {}\n", "expected verification.rules"),
        ("verification: []\n", "expected verification.rules"),
    ],
)
def test_empty_or_unnested_rule_files_are_refused(
    text: str, message: str, cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy_text("rules.yaml", text.encode())
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    receipt = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(receipt), "--public-key", key.public_key.text, "--now", NOW, "--policy-file", str(rules))
    assert result.code == 2 and result.out == "" and message in result.err
    assert str(rules) in result.err and "Traceback" not in result.err
    checked = cli("policy", "check", str(rules))
    assert checked.code == 2 and message in checked.err


def test_a_nested_non_empty_rule_file_still_loads() -> None:
    policy = load_policy_text("rules.yaml", ("verification:\n  rules:\n" + _ONE_RULE).encode())
    assert _messages(policy, make_receipt()) == []


@pytest.mark.parametrize(
    ("recorded", "expected", "passes"),
    [
        (True, 1, False),
        (1, True, False),
        (1.0, 1, False),
        (1, 1.0, False),
        ("1", 1, False),
        ("true", True, False),
        (True, True, True),
        (1, 1, True),
        ("production", "production", True),
    ],
)
def test_environment_equals_compares_type_and_value(
    recorded: object, expected: object, passes: bool, cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    receipt = make_receipt()
    receipt["environment"]["FLAG"] = recorded
    path = write_json(tmp_path / "r.json", sign_receipt(receipt, key))
    rules = tmp_path / "env.yaml"
    literal = json.dumps(expected)  # JSON scalars are YAML core-schema scalars of the same type
    rules.write_text(
        f"verification:\n  rules:\n    - {{name: flag, type: environment-equals, key: FLAG, value: {literal}}}\n"
    )
    policy = load_policy_text(str(rules), rules.read_bytes())
    assert (_messages(policy, receipt) == []) is passes
    result = cli(
        "verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--json", "--policy-file", str(rules)
    )
    assert result.code == (0 if passes else 1), result.err
    if not passes:
        (violation,) = result.json_lines()[0]["policy_compliance"]["violations"]
        assert violation["policy"] == "flag" and "expected" in violation["message"]


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"critical": -1, "high": 0}, "critical count -1 is not a non-negative integer"),
        ({"critical": 0.5, "high": 0}, "critical count 0.5 is not a non-negative integer"),
        ({"critical": 0}, "no high count reported"),
        ({"critical": True, "high": 0}, "critical count True is not a non-negative integer"),
    ],
)
def test_max_vulnerabilities_needs_non_negative_integer_counts(counts: dict[str, object], message: str) -> None:
    policy = load_policy_text(
        "v.yaml", b"verification:\n  rules:\n    - {name: v, type: max-vulnerabilities, critical: 0, high: 0}\n"
    )
    receipt = make_receipt()
    receipt["attestations"]["security"]["predicate"]["results"]["vulnerabilities"] = counts
    assert _messages(policy, receipt) == [message]


# ---- issue 14.4: claims are not identities --------------------------------------------

_IDENTITY_REGO = b"""package attest.verification

deny contains sprintf("signer=%v identity=%v", [input.signature.signer, input.signature.identity]) if true
"""


def test_rego_sees_the_established_identity_apart_from_the_claim(key: PrivateKey) -> None:
    policy = load_policy_text("id.rego", _IDENTITY_REGO)
    claimed = sign_receipt(make_receipt(), key, signer="release-manager@company.com")
    untrusted_identity = TrustStore((TrustedKey(key.public_key),))
    result = verify_receipt(claimed, trusted_keys=untrusted_identity, now=NOW_DT, policies=[policy])
    assert [v.message for v in result.violations] == ["signer=release-manager@company.com identity=null"]
    store = TrustStore((TrustedKey(key.public_key, identity="ci-system@company.com"),))
    unclaimed = sign_receipt(make_receipt(), key)
    result = verify_receipt(unclaimed, trusted_keys=store, now=NOW_DT, policies=[policy])
    assert [v.message for v in result.violations] == ["signer=ci-system@company.com identity=ci-system@company.com"]


def test_rego_identity_through_the_cli(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    path = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key, signer="release-manager@company.com"))
    (tmp_path / "id.rego").write_bytes(_IDENTITY_REGO)
    done = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW,
               "--policy-file", str(tmp_path / "id.rego"), "--json")  # fmt: skip
    (line,) = done.json_lines()
    assert [v["message"] for v in line["policy_compliance"]["violations"]] == [
        "signer=release-manager@company.com identity=null"
    ]


def test_builtin_identity_rule_ignores_the_claim(key: PrivateKey) -> None:
    rules = b"verification:\n  rules:\n    - name: who\n      type: signer-allowed\n      allowed_signers: [release-manager@company.com]\n"
    policy = load_policy_text("who.yaml", rules)
    claimed = sign_receipt(make_receipt(), key, signer="release-manager@company.com")
    result = verify_receipt(
        claimed, trusted_keys=TrustStore((TrustedKey(key.public_key),)), now=NOW_DT, policies=[policy]
    )
    assert not result.valid
    assert [v.message for v in result.violations] == ["signer identity is not established by a trusted keyring entry"]


def test_repeated_step_names_are_all_judged(cli: Any, tmp_path: Path, key: Any) -> None:
    """Adversarial review: in a receipt without a format (duplicates allowed), a failing second
    ``test`` step must not hide behind a passing first one, for step-required and environment-equals."""
    import copy

    from attestkit import sign_receipt

    base = make_receipt()
    first = dict(copy.deepcopy(base["steps"][0]), name="test", environment_snapshot={"BRANCH": "main"})
    second = dict(copy.deepcopy(first), exit_code=1, environment_snapshot={"BRANCH": "evil"})
    receipt = write_json(tmp_path / "r.json", sign_receipt(dict(base, steps=[first, second]), key))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "verification:\n  rules:\n"
        "    - {name: tested, type: step-required, step: test}\n"
        "    - {name: branch, type: environment-equals, step: test, key: BRANCH, value: main}\n"
    )
    args = ["verify", str(receipt), "--public-key", key.public_key.text, "--now", "2026-11-20T12:00:00Z"]
    result = cli(*args, "--policy-file", str(rules), "--json")
    assert result.code == 1, result.out + result.err
    failed = [c for c in result.json_lines()[0]["checks"] if not c["passed"]]
    assert [(c["name"], c["message"]) for c in failed] == [
        ("policy:tested", "step 'test' exited with code 1"),
        ("policy:branch", "BRANCH is 'evil', expected 'main'"),
    ]
    only_good = write_json(tmp_path / "g.json", sign_receipt(dict(base, steps=[first, dict(first)]), key))
    assert cli("verify", str(only_good), *args[2:], "--policy-file", str(rules)).code == 0
