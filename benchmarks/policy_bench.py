"""Policy evaluation cost per receipt, next to one Ed25519 verification."""

from __future__ import annotations

from pathlib import Path

from benchmarks._common import Row, per_second
from benchmarks.verify_bench import typical_receipt

DOCS = Path(__file__).resolve().parent.parent / "docs" / "examples"

SIX_RULES = b"""verification:
  rules:
    - {name: a, type: max-age, max_age: 24h}
    - {name: b, type: step-required, step: step-1}
    - {name: c, type: max-vulnerabilities, critical: 0, high: 0}
    - {name: d, type: max-duration, max_duration: 30m}
    - {name: e, type: environment-equals, key: host_os, value: linux}
    - {name: f, type: attestation-required, attestation_type: attest/test}
"""


def run() -> list[Row]:
    import nacl.signing

    from attestkit import PrivateKey
    from attestkit.core.policy.base import PolicyContext
    from attestkit.core.policy.builtin import builtin_policy
    from attestkit.core.policy.loader import load_policy_text
    from attestkit.core.timeutil import parse_rfc3339

    receipt = typical_receipt()
    context = PolicyContext(
        receipt=receipt, signature_verified=True, signer="ci", public_key=None,
        now=parse_rfc3339("2026-11-20T12:00:00Z"), timestamp=parse_rfc3339(receipt["timestamp"]),
    )  # fmt: skip
    policies = [
        builtin_policy(n)
        for n in ("require-signature", "max-age-24h", "require-tests", "security-scan", "steps-succeeded")
    ]
    policies.append(load_policy_text("six.yaml", SIX_RULES))
    rego = load_policy_text("attest.rego", (DOCS / "attest.rego").read_bytes())

    key = PrivateKey.from_seed(bytes(32))
    verify_key = nacl.signing.VerifyKey(key.public_key.raw)
    signature = key.sign(b"x" * 3000)
    verify_us = 1e6 / per_second(lambda: verify_key.verify(b"x" * 3000, signature))

    def builtins_and_rules() -> None:
        for policy in policies:
            policy.evaluate(context)

    assert not any(p.evaluate(context) for p in policies)
    ours = 1e6 / per_second(builtins_and_rules)
    rego_us = 1e6 / per_second(lambda: rego.evaluate(context), seconds=0.5)
    return [
        Row("policy", "5 built-ins + 6-rule YAML", ours, "µs", "PyNaCl verify", verify_us, "≤ 50 µs"),
        Row("policy", "compiled Rego policy", rego_us, "µs", "PyNaCl verify", verify_us, "≤ 2000 µs"),
    ]


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "policy")
