"""Deciding whether a signing key is trusted for a receipt: directly or through delegations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from attestkit.core.keys import PublicKey, key_id_of
from attestkit.core.trust import TrustedKey, TrustStore

if TYPE_CHECKING:
    from attestkit.core.delegation import Delegation

VERIFIED, UNTRUSTED, REVOKED, EXPIRED = "verified", "untrusted", "revoked", "expired"
MAX_CHAIN = 4
REVOKE_ALWAYS = "key-compromise"
ROOT_ROLE = "root"


@dataclass(frozen=True)
class ChainLink:
    """One key on the path from the signing key to a trusted key."""

    key: str
    key_id: str
    identity: str | None
    source: str  # "keyring" or "delegation"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"key": self.key, "key_id": self.key_id, "identity": self.identity, "source": self.source}


@dataclass(frozen=True)
class TrustDecision:
    """The outcome: ``status`` is the contract's ``chain_of_trust`` value."""

    status: str
    code: str
    message: str
    identity: str | None = None
    chain: tuple[ChainLink, ...] = ()

    @property
    def trusted(self) -> bool:
        return self.status == VERIFIED


def _link(raw: bytes, identity: str | None, source: str) -> ChainLink:
    return ChainLink("ed25519:" + raw.hex(), key_id_of(raw), identity, source)


def _entry_problem(entry: TrustedKey, timestamp: datetime, scope: str | None) -> TrustDecision | None:
    key_id = entry.public_key.key_id
    if entry.revoked_at is not None and (entry.revocation_reason == REVOKE_ALWAYS or timestamp >= entry.revoked_at):
        reason = entry.revocation_reason or "revoked"
        return TrustDecision(REVOKED, "revoked", f"key {key_id} was revoked ({reason})")
    if entry.not_before is not None and timestamp < entry.not_before:
        return TrustDecision(EXPIRED, "not-yet-valid", f"receipt predates key {key_id}'s validity window")
    if entry.not_after is not None and timestamp > entry.not_after:
        return TrustDecision(EXPIRED, "expired", f"receipt is after key {key_id}'s validity window")
    if scope is not None and scope not in entry.scopes:
        return TrustDecision(UNTRUSTED, "out-of-scope", f"key {key_id} is not trusted for scope {scope!r}")
    return None


def _delegation_problem(link: Delegation, timestamp: datetime, scope: str | None) -> TrustDecision | None:
    delegate_id = key_id_of(link.delegate)
    if not link.signature_valid:
        return TrustDecision(UNTRUSTED, "bad-delegation", f"delegation to key {delegate_id} has a bad signature")
    if link.not_before is not None and timestamp < link.not_before:
        return TrustDecision(
            EXPIRED, "delegation-not-yet-valid", f"receipt predates the delegation to key {delegate_id}"
        )
    if link.not_after is not None and timestamp > link.not_after:
        return TrustDecision(
            EXPIRED, "delegation-expired", f"receipt is after the delegation to key {delegate_id} ended"
        )
    if scope is not None and scope not in link.scopes:
        return TrustDecision(
            UNTRUSTED, "out-of-scope", f"delegation to key {delegate_id} does not cover scope {scope!r}"
        )
    return None


def _walk(
    raw: bytes,
    store: TrustStore,
    delegations: Sequence[Delegation],
    timestamp: datetime,
    scope: str | None,
    seen: frozenset[bytes],
) -> TrustDecision:
    candidates = [d for d in delegations if d.delegate == raw]
    key_id = key_id_of(raw)
    if not candidates:
        return TrustDecision(UNTRUSTED, "untrusted-key", f"key {key_id} is not among the trusted keys")
    if len(seen) >= MAX_CHAIN:
        return TrustDecision(
            UNTRUSTED, "chain-too-long", f"delegation chain to key {key_id} is longer than {MAX_CHAIN}"
        )
    failure: TrustDecision | None = None
    for link in candidates:
        delegator = link.delegator.raw
        problem = _delegation_problem(link, timestamp, scope)
        if problem is None and (delegator in seen or delegator == raw):
            problem = TrustDecision(UNTRUSTED, "delegation-cycle", f"delegation chain through key {key_id} has a cycle")
        if problem is not None:
            failure = failure or problem
            continue
        leaf = _link(raw, link.identity, "delegation")
        root = store.lookup(link.delegator)
        if root is not None:
            if ROOT_ROLE not in root.roles:
                failure = failure or TrustDecision(
                    UNTRUSTED, "not-a-root", f"key {root.public_key.key_id} may not delegate (no 'root' role)"
                )
                continue
            problem = _entry_problem(root, timestamp, scope)
            if problem is not None:
                failure = failure or problem
                continue
            chain = (leaf, _link(delegator, root.identity, "keyring"))
            return TrustDecision(
                VERIFIED,
                "delegated",
                f"key {key_id} is delegated by trusted root {root.public_key.key_id}",
                link.identity,
                chain,
            )
        upstream = _walk(delegator, store, delegations, timestamp, scope, seen | {raw})
        if upstream.trusted:
            return TrustDecision(
                VERIFIED,
                "delegated",
                f"key {key_id} is delegated through a chain of {len(upstream.chain) + 1}",
                link.identity,
                (leaf, *upstream.chain),
            )
        failure = failure or upstream
    assert failure is not None
    return failure


def decide_trust(
    key: PublicKey,
    store: TrustStore,
    timestamp: datetime,
    *,
    scope: str | None = None,
    claimed_signer: str | None = None,
    extra_delegations: Sequence[Delegation] = (),
) -> TrustDecision:
    """Whether *key* is trusted for a receipt made at *timestamp* (and in *scope*)."""
    entry = store.lookup(key)
    if entry is not None:
        decision = _entry_problem(entry, timestamp, scope) or TrustDecision(
            VERIFIED,
            "trusted",
            f"key {key.key_id}{f' ({entry.identity})' if entry.identity else ''} is trusted",
            entry.identity,
            (_link(key.raw, entry.identity, "keyring"),),
        )
    else:
        decision = _walk(key.raw, store, (*extra_delegations, *store.delegations), timestamp, scope, frozenset())
    if (
        decision.trusted
        and decision.identity is not None
        and claimed_signer is not None
        and claimed_signer != decision.identity
    ):
        return TrustDecision(
            UNTRUSTED,
            "signer-mismatch",
            f"receipt claims signer {claimed_signer!r} but key {key.key_id} belongs to {decision.identity!r}",
            decision.identity,
            decision.chain,
        )
    return decision


__all__ = ["MAX_CHAIN", "ROOT_ROLE", "ChainLink", "TrustDecision", "decide_trust"]
