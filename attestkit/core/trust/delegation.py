"""Delegation statements: a root key authorises a signing key for an identity, scopes and a window.

A statement is a JSON object with ``type`` = ``attestkit/delegation/v1`` (a value no receipt
may carry, so the two can never be confused), signed with Ed25519 over the RFC 8785 form of
the object without its ``signature`` member — the same rule as receipts. ``may_delegate: true``
lets the delegate delegate in turn (never more than it holds itself); without it the delegate
may only sign receipts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.timeutil import format_rfc3339, parse_optional_rfc3339
from attestkit.core.trust.fields import check_instant, names_argument
from attestkit.errors import ArgumentTypeError, AttestkitError, TrustStoreError

DELEGATION_TYPE = "attestkit/delegation/v1"
_KEY = re.compile(r"ed25519:([0-9a-fA-F]{64})\Z")
_SIG = re.compile(r"ed25519:([0-9a-fA-F]{128})\Z")


@dataclass(frozen=True)
class Delegation:
    """A parsed statement; ``signature_valid`` tells whether the delegator really signed it."""

    delegator: PublicKey
    delegate: bytes
    identity: str | None
    scopes: tuple[str, ...]
    not_before: datetime | None
    not_after: datetime | None
    signature_valid: bool
    may_delegate: bool = False

    def __post_init__(self) -> None:
        ArgumentTypeError.check(self.delegator, PublicKey, "Delegation.delegator")
        ArgumentTypeError.check(self.delegate, bytes, "Delegation.delegate")
        if self.identity is not None:
            ArgumentTypeError.check(self.identity, str, "Delegation.identity")
        object.__setattr__(self, "scopes", names_argument(self.scopes, "Delegation.scopes"))
        check_instant(self.not_before, "Delegation.not_before")
        check_instant(self.not_after, "Delegation.not_after")
        ArgumentTypeError.check(self.signature_valid, bool, "Delegation.signature_valid")
        ArgumentTypeError.check(self.may_delegate, bool, "Delegation.may_delegate")


def create_delegation(
    root: PrivateKey,
    delegate: PublicKey,
    *,
    identity: str | None = None,
    scopes: Sequence[str] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    issued_at: datetime | None = None,
    may_delegate: bool = False,
) -> dict[str, Any]:
    """A signed delegation statement from *root* to *delegate*.

    This only signs: whether *root* may delegate is decided when the statement is verified
    (``attestkit.core.trust.chain.check_can_delegate`` checks it up front).
    """
    statement: dict[str, Any] = {
        "type": DELEGATION_TYPE,
        "delegator": root.public_key.text,
        "delegate": delegate.text,
        "scopes": list(scopes),
    }
    if identity is not None:
        statement["identity"] = identity
    if may_delegate:
        statement["may_delegate"] = True
    for name, moment in (("not_before", not_before), ("not_after", not_after), ("issued_at", issued_at)):
        if moment is not None:
            statement[name] = format_rfc3339(moment)
    statement["signature_algorithm"] = "ed25519"
    statement["signature"] = "ed25519:" + root.sign(canonicalize(statement)).hex()
    return statement


def _date(value: Any, name: str) -> datetime | None:
    """A date field; ``not_before`` is rounded up to the microsecond (the window never opens early)."""
    try:
        return parse_optional_rfc3339(value, ceil=name == "not_before")
    except ValueError as exc:
        raise TrustStoreError(f"delegation {name}: {exc}") from None


def parse_delegation(statement: Any) -> Delegation:
    """Validate a statement's form and check its signature; :class:`TrustStoreError` if unusable."""
    if not isinstance(statement, Mapping) or statement.get("type") != DELEGATION_TYPE:
        raise TrustStoreError(f"not a delegation statement (type must be {DELEGATION_TYPE!r})")
    delegator_text, delegate_text = statement.get("delegator"), statement.get("delegate")
    signature = statement.get("signature")
    if not isinstance(delegator_text, str) or not _KEY.match(delegator_text):
        raise TrustStoreError("delegation delegator must be ed25519:<64 hex>")
    if not isinstance(delegate_text, str) or not _KEY.match(delegate_text):
        raise TrustStoreError("delegation delegate must be ed25519:<64 hex>")
    if not isinstance(signature, str) or not _SIG.match(signature):
        raise TrustStoreError("delegation signature must be ed25519:<128 hex>")
    scopes = statement.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise TrustStoreError("delegation scopes must be a list of strings")
    identity = statement.get("identity")
    if identity is not None and not isinstance(identity, str):
        raise TrustStoreError("delegation identity must be a string")
    may_delegate = statement.get("may_delegate", False)
    if not isinstance(may_delegate, bool):
        raise TrustStoreError("delegation may_delegate must be true or false")
    try:
        delegator = PublicKey.from_raw(bytes.fromhex(delegator_text[8:]))
        signing_input = canonicalize({k: v for k, v in statement.items() if k != "signature"})
    except AttestkitError as exc:
        raise TrustStoreError(f"unusable delegation: {exc.message}") from None
    return Delegation(
        delegator=delegator,
        delegate=bytes.fromhex(delegate_text[8:]),
        identity=identity,
        scopes=tuple(scopes),
        not_before=_date(statement.get("not_before"), "not_before"),
        not_after=_date(statement.get("not_after"), "not_after"),
        signature_valid=delegator.verify(signing_input, bytes.fromhex(signature[8:])),
        may_delegate=may_delegate,
    )


__all__ = ["DELEGATION_TYPE", "Delegation", "create_delegation", "parse_delegation"]
