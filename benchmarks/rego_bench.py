"""Compiled Rego policy evaluation (embedded engine) per receipt, next to one Ed25519 verification.

`python -m benchmarks.rego_bench`: each `docs/examples/*.rego`, and a policy whose messages go
through attestkit's own sprintf (Go formatting in Python, called back from the engine), compiled
once and evaluated on the typical receipt; target ≤ 2 ms per evaluation.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks._common import Row, per_second
from benchmarks.verify_bench import typical_receipt

DOCS = Path(__file__).resolve().parent.parent / "docs" / "examples"

# Every step and every environment entry formatted: 2 sprintf calls per step plus one per key.
SPRINTF_HEAVY = b"""package attest.verification

deny contains msg if {
	some step in input.receipt.steps
	msg := sprintf("step %s: exit %d, %v s, %q", [step.name, step.exit_code, step.duration_secs, step.command])
	startswith(msg, "never")
}

deny contains msg if {
	some key, value in input.receipt.environment
	msg := sprintf("%s=%v", [key, value])
	endswith(msg, "never")
}
"""


def run() -> list[Row]:
    import nacl.signing

    from attestkit import PrivateKey
    from attestkit.core.policy.base import PolicyContext
    from attestkit.core.policy.loader import load_policy_text
    from attestkit.core.policy.rego import input_document
    from attestkit.core.timeutil import parse_rfc3339

    receipt = typical_receipt()
    context = PolicyContext(
        receipt=receipt, signature_verified=True, signer="ci", public_key=None,
        now=parse_rfc3339("2026-11-20T12:00:00Z"), timestamp=parse_rfc3339(receipt["timestamp"]),
    )  # fmt: skip
    key = PrivateKey.from_seed(bytes(32))
    verify_key = nacl.signing.VerifyKey(key.public_key.raw)
    signature = key.sign(b"x" * 3000)
    verify_us = 1e6 / per_second(lambda: verify_key.verify(b"x" * 3000, signature))

    sources = {path.name: path.read_bytes() for path in sorted(DOCS.glob("*.rego"))}
    sources["sprintf-heavy.rego"] = SPRINTF_HEAVY
    rows = [
        Row("rego", "input document (contract §4)", 1e6 / per_second(lambda: input_document(context), seconds=0.5),
            "µs", "PyNaCl verify", verify_us),
    ]  # fmt: skip
    for name, text in sources.items():
        policy = load_policy_text(name, text)
        policy.evaluate(context)  # compiled and warmed once, as verify does per run
        value = 1e6 / per_second(lambda policy=policy: policy.evaluate(context), seconds=0.5)
        rows.append(Row("rego", f"evaluate {name} (compiled)", value, "µs", "PyNaCl verify", verify_us, "≤ 2000 µs"))
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "rego")
