"""The outcome of verifying one receipt: typed checks, convertible to the contract JSON."""

from __future__ import annotations

import warnings
from collections.abc import ItemsView, KeysView, Sequence, ValuesView
from dataclasses import dataclass
from typing import Any

from attestkit.core.policy.base import Violation
from attestkit.core.textsafe import escape_text
from attestkit.core.trust.chain import ChainLink, ChainStatus

_new = object.__new__

CHAIN_VERIFIED = ChainStatus.VERIFIED
CHAIN_UNTRUSTED = ChainStatus.UNTRUSTED
CHAIN_REVOKED = ChainStatus.REVOKED
CHAIN_EXPIRED = ChainStatus.EXPIRED


@dataclass(frozen=True)
class Check:
    """One verification step (format, signature, trust, timestamp, policy, artifacts...)."""

    name: str
    passed: bool
    code: str
    message: str
    location: str | None = None  # an artifact path the finding is about, when there is one
    evaluated: bool = True  # False: the check could not be made (never passed; reports say "not evaluated")

    @classmethod
    def _passed_or_failed(cls, name: str, passed: bool, code: str, message: str) -> Check:
        """``Check(name, passed, code, message)`` for the verifier's hot path.

        A frozen dataclass's ``__init__`` pays one ``object.__setattr__`` per field; this fills
        the instance's dictionary at once (the same object: tests/unit/verify/test_result_build.py).
        """
        check = _new(cls)
        check.__dict__.update(name=name, passed=passed, code=code, message=message, location=None, evaluated=True)
        return check

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "code": self.code, "message": self.message}
        if self.location is not None:
            out["location"] = self.location
        if not self.evaluated:
            out["evaluated"] = False
        return out


NOT_EVALUATED = "not-evaluated"


def policies_not_evaluated(policy_names: Sequence[str], reason: str) -> tuple[Check, ...]:
    """Checks saying that the policies were not evaluated, and why (one per policy, or one for all)."""
    message = f"not evaluated: {reason}"
    if not policy_names:
        return (Check("policies", False, NOT_EVALUATED, f"policies not evaluated: {reason}", evaluated=False),)
    return tuple(Check(f"policy:{name}", False, NOT_EVALUATED, message, evaluated=False) for name in policy_names)


@dataclass(frozen=True)
class VerificationResult:
    """Everything the verifier found about one receipt. ``valid`` is the verdict.

    ``valid`` is derived: a receipt is valid exactly when every check passed, so no field can
    disagree with the checks it summarises.
    """

    source: str
    checks: tuple[Check, ...]
    signature_valid: bool = False
    signer: str | None = None
    public_key: str | None = None
    key_id: str | None = None
    chain_of_trust: ChainStatus = CHAIN_UNTRUSTED
    timestamp_valid: bool = False
    age_hours: float | None = None
    violations: tuple[Violation, ...] = ()
    policies_evaluated: bool = True
    policies_reason: str | None = None  # why the policies were not evaluated
    chain: tuple[ChainLink, ...] = ()
    transparency: dict[str, Any] | None = None  # the --json "transparency" member, when a log was checked

    @classmethod
    def _checked(
        cls,
        source: str,
        checks: tuple[Check, ...],
        signature_valid: bool,
        signer: str | None,
        public_key: str | None,
        key_id: str | None,
        chain_of_trust: ChainStatus,
        timestamp_valid: bool,
        age_hours: float | None,
        violations: tuple[Violation, ...],
        chain: tuple[ChainLink, ...],
        transparency: dict[str, Any] | None,
    ) -> VerificationResult:
        """The result of a receipt whose policies were evaluated, built for the hot path.

        The same object as the constructor makes (every field set; see :meth:`Check._passed_or_failed`).
        """
        result = _new(cls)
        result.__dict__.update(
            source=source,
            checks=checks,
            signature_valid=signature_valid,
            signer=signer,
            public_key=public_key,
            key_id=key_id,
            chain_of_trust=chain_of_trust,
            timestamp_valid=timestamp_valid,
            age_hours=age_hours,
            violations=violations,
            policies_evaluated=True,
            policies_reason=None,
            chain=chain,
            transparency=transparency,
        )
        return result

    @property
    def valid(self) -> bool:
        """The verdict: every check passed (and there was at least one)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

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

    def _policy_compliance(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.policy_passed, "violations": [v.to_json() for v in self.violations]}
        if not self.policies_evaluated:
            out["evaluated"] = False
            out["reason"] = f"policies not evaluated: {self.policies_reason or 'the receipt was not checked'}"
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ATTEST ``POST /v1/receipts/verify`` answer shape, plus details, as a mapping."""
        out: dict[str, Any] = {
            "receipt": json_label(self.source),
            "valid": self.valid,
            "signature_verification": {
                "valid": self.signature_valid,
                "signer": self.signer,
                "algorithm": "ed25519",
                "public_key": self.public_key,
                "key_id": self.key_id,
            },
            "policy_compliance": self._policy_compliance(),
            "timestamp_check": {"valid": self.timestamp_valid, "age_hours": self.age_hours},
            "chain_of_trust": str(self.chain_of_trust),
            "chain": [link.to_json() for link in self.chain],
            "checks": [c.to_json() for c in self.checks],
        }
        if self.transparency is not None:
            out["transparency"] = self.transparency
        return out

    def to_json(self, *, indent: int | None = None) -> JsonText:
        """:meth:`to_dict` as a JSON string (what ``--json`` prints for this receipt).

        Indexing the string like the mapping ``to_json()`` used to return still works for
        one release, with a :class:`DeprecationWarning`: use :meth:`to_dict` for the mapping.
        """
        from attestkit.core.textsafe import json_text

        mapping = self.to_dict()
        separators = (",", ":") if indent is None else (",", ": ")
        # Control and bidi characters from the receipt are written as \uXXXX (the same data).
        return JsonText(json_text(mapping, indent=indent, separators=separators), mapping)


_DEPRECATED = "VerificationResult.to_json() now returns a JSON string; use to_dict() for the mapping"


class JsonText(str):
    """A JSON string that still answers the old mapping look-ups (deprecated, one release)."""

    _mapping: dict[str, Any]

    def __new__(cls, text: str, mapping: dict[str, Any]) -> JsonText:
        """The JSON *text* of *mapping*."""
        value = super().__new__(cls, text)
        value._mapping = mapping
        return value

    def _old(self) -> dict[str, Any]:
        warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=3)
        return self._mapping

    def __getitem__(self, key: Any) -> Any:
        """``text["valid"]``: the old mapping behaviour (deprecated); integers and slices index the string."""
        if isinstance(key, str):
            return self._old()[key]
        return str.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """The old ``dict.get`` (deprecated)."""
        return self._old().get(key, default)

    def keys(self) -> KeysView[str]:
        """The old ``dict.keys`` (deprecated)."""
        return self._old().keys()

    def items(self) -> ItemsView[str, Any]:
        """The old ``dict.items`` (deprecated)."""
        return self._old().items()

    def values(self) -> ValuesView[Any]:
        """The old ``dict.values`` (deprecated)."""
        return self._old().values()


NOT_CHECKED = "the receipt could not be checked"


def unchecked_checks(code: str, message: str, policy_names: Sequence[str] = ()) -> tuple[Check, ...]:
    """The checks of a receipt that could not be checked: one failed input check, policies not evaluated."""
    return (Check("input", False, code, message), *policies_not_evaluated(policy_names, NOT_CHECKED))


def json_label(source: str) -> str:
    """*source* for JSON: a file name that is not UTF-8 (its bytes kept as lone surrogates, which
    no strict JSON reader accepts) is written with visible escapes, as the text output shows it."""
    if source.isascii():
        return source
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return escape_text(source)
    return source


def unchecked_dict(source: str, code: str, message: str) -> dict[str, Any]:
    """The contract JSON (``--json``) for a receipt that could not be checked, with its error."""
    return {
        "receipt": json_label(source),
        "valid": False,
        "signature_verification": {"valid": False, "signer": None, "algorithm": "ed25519"},
        "policy_compliance": {
            "passed": False,
            "violations": [],
            "evaluated": False,
            "reason": f"policies not evaluated: {NOT_CHECKED}",
        },
        "timestamp_check": {"valid": False, "age_hours": None},
        "chain_of_trust": str(CHAIN_UNTRUSTED),
        "error": {"code": code, "message": message},
    }


__all__ = [
    "CHAIN_EXPIRED",
    "CHAIN_REVOKED",
    "CHAIN_UNTRUSTED",
    "CHAIN_VERIFIED",
    "NOT_CHECKED",
    "NOT_EVALUATED",
    "Check",
    "JsonText",
    "VerificationResult",
    "policies_not_evaluated",
    "unchecked_checks",
    "unchecked_dict",
]
