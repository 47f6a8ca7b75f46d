"""The policy protocol, its evaluation context and violations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Violation:
    """One way a receipt fails a policy."""

    policy: str
    message: str
    pointer: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's ``{"policy", "message"}`` shape (plus ``pointer`` when known)."""
        out: dict[str, Any] = {"policy": self.policy, "message": self.message}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        return out


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may look at: the receipt and the verifier's findings."""

    receipt: Mapping[str, Any]
    signature_verified: bool
    signer: str | None
    public_key: str | None
    now: datetime
    timestamp: datetime | None
    trusted_identity: str | None = None


@runtime_checkable
class Policy(Protocol):
    """A named rule over a receipt."""

    @property
    def name(self) -> str:
        """The name violations are reported under."""
        ...

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Return the violations of this policy (empty when it passes)."""
        ...


@dataclass(frozen=True)
class AllOf:
    """Every child policy must pass; all children's violations are kept."""

    name: str
    policies: Sequence[Policy]

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Concatenate the violations of every child."""
        found: list[Violation] = []
        for policy in self.policies:
            found.extend(policy.evaluate(context))
        return found


def lookup(data: Any, *path: str) -> Any:
    """Follow object keys through nested objects; ``None`` when any is missing."""
    node = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


__all__ = ["AllOf", "Policy", "PolicyContext", "Violation", "lookup"]
