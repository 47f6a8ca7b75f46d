"""The outcome of verifying one receipt: typed checks, convertible to the contract JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attestkit.core.policy.base import Violation
from attestkit.core.trust_chain import ChainLink

CHAIN_VERIFIED = "verified"
CHAIN_UNTRUSTED = "untrusted"
CHAIN_REVOKED = "revoked"
CHAIN_EXPIRED = "expired"


@dataclass(frozen=True)
class Check:
    """One verification step (format, signature, trust, timestamp, policy, artifacts...)."""

    name: str
    passed: bool
    code: str
    message: str
    location: str | None = None  # an artifact path the finding is about, when there is one

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "code": self.code, "message": self.message}
        if self.location is not None:
            out["location"] = self.location
        return out


@dataclass(frozen=True)
class VerificationResult:
    """Everything the verifier found about one receipt. ``valid`` is the verdict."""

    source: str
    valid: bool
    checks: tuple[Check, ...]
    signature_valid: bool = False
    signer: str | None = None
    public_key: str | None = None
    key_id: str | None = None
    chain_of_trust: str = CHAIN_UNTRUSTED
    timestamp_valid: bool = False
    age_hours: float | None = None
    violations: tuple[Violation, ...] = ()
    policies_evaluated: bool = True
    chain: tuple[ChainLink, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __bool__(self) -> bool:
        # `if verify_receipt(...):` would pass for every receipt: make the verdict explicit.
        raise TypeError("a VerificationResult has no truth value: test result.valid")

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        """The checks that did not pass."""
        return tuple(c for c in self.checks if not c.passed)

    @property
    def policy_passed(self) -> bool:
        """True when every requested policy passed."""
        return self.policies_evaluated and not self.violations

    def to_json(self) -> dict[str, Any]:
        """The ATTEST ``POST /v1/receipts/verify`` answer shape, plus details."""
        out: dict[str, Any] = {
            "receipt": self.source,
            "valid": self.valid,
            "signature_verification": {
                "valid": self.signature_valid,
                "signer": self.signer,
                "algorithm": "ed25519",
                "public_key": self.public_key,
                "key_id": self.key_id,
            },
            "policy_compliance": {
                "passed": self.policy_passed,
                "violations": [v.to_json() for v in self.violations],
            },
            "timestamp_check": {"valid": self.timestamp_valid, "age_hours": self.age_hours},
            "chain_of_trust": self.chain_of_trust,
            "chain": [link.to_json() for link in self.chain],
            "checks": [c.to_json() for c in self.checks],
        }
        out.update(self.extra)
        return out


__all__ = [
    "CHAIN_EXPIRED",
    "CHAIN_REVOKED",
    "CHAIN_UNTRUSTED",
    "CHAIN_VERIFIED",
    "Check",
    "VerificationResult",
]
