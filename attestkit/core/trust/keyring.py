"""The keyring document: trusted keys with identity, validity window, scopes, revocation.

Format (YAML; see docs/keys.md)::

    version: 1
    keys:
      - public_key: ed25519:<64 hex>
        identity: ci-system@company.com
        not_before: 2026-01-01T00:00:00Z
        not_after: 2027-01-01T00:00:00Z
        scopes: [project:myapp]
        revoked_at: 2026-06-01T00:00:00Z
        reason: superseded
    revocations:            # keys revoked without being trusted here (e.g. delegated keys)
      - public_key: ed25519:<64 hex>
        revoked_at: 2026-06-01T00:00:00Z
        reason: key-compromise
    delegations: [...]      # signed statements, see attestkit.core.trust.delegation

The edit functions (:func:`add_key`, :func:`revoke_key`, :func:`rotate_key`) are pure: they
take a document and return a new, validated one, and never weaken a revocation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from attestkit.core.crypto.keys import PublicKey, parse_public_key
from attestkit.core.textsafe import shown_argument
from attestkit.core.timeutil import format_rfc3339, parse_optional_rfc3339
from attestkit.core.trust.delegation import parse_delegation
from attestkit.core.trust.store import (
    REVOCATION_REASONS,
    KeyRevocation,
    TrustedKey,
    TrustStore,
    looks_like_keyring,
    parse_key_list,
    revocation_strength,
    weakens,
)
from attestkit.errors import ArgumentTypeError, AttestkitError, KeyFormatError, KeyringEditError, TrustStoreError

_FIELDS = {"public_key", "identity", "not_before", "not_after", "scopes", "roles", "revoked_at", "reason", "comment"}
_REVOCATION_FIELDS = {"public_key", "revoked_at", "reason", "comment"}
_TOP_LEVEL = {"version", "keys", "revocations", "delegations"}
ROLES = ("root", "signer")


def _date(value: Any, where: str, source: str, *, start: bool = False) -> datetime | None:
    """A date field; a window's *start* is rounded up to the microsecond (never opens early)."""
    try:
        return parse_optional_rfc3339(value, ceil=start)
    except ValueError as exc:
        raise TrustStoreError(f"{source}: {where}: {exc}") from None


def parse_keyring(text: str, source: str = "<keyring>") -> TrustStore:
    """Parse a keyring document; :class:`TrustStoreError` names the bad entry."""
    return keyring_from_document(load_keyring_document(text, source), source)


def load_keyring_document(text: str, source: str = "<keyring>") -> dict[str, Any]:
    """The keyring's YAML read strictly (no anchors, tags or duplicate keys), not yet validated."""
    from attestkit.core.receipt.reader import parse_document

    try:
        document = parse_document(text.encode("utf-8"), source=source, fmt="yaml")
    except AttestkitError as exc:
        raise TrustStoreError(f"{source}: not a valid keyring: {exc.message}") from None
    if not isinstance(document, dict):
        raise TrustStoreError(f"{source}: a keyring must be a mapping")
    return document


def _entry_key(item: Any, fields: set[str], seen: set[bytes], where: str, source: str) -> PublicKey:
    """The key of one list entry: a mapping of known *fields* with a ``public_key`` not seen before."""
    if not isinstance(item, dict):
        raise TrustStoreError(f"{source}: {where}: must be a mapping")
    unknown = set(item) - fields
    if unknown:
        raise TrustStoreError(f"{source}: {where}: unknown field {sorted(unknown)[0]!r}")
    if not isinstance(item.get("public_key"), str):
        raise TrustStoreError(f"{source}: {where}: public_key is required")
    try:
        key = parse_public_key(item["public_key"])
    except AttestkitError as exc:
        raise TrustStoreError(f"{source}: {where}: {exc.message}") from None
    if key.raw in seen:
        raise TrustStoreError(f"{source}: {where}: duplicate key {key.text}")
    seen.add(key.raw)
    return key


def _revocations(document: Mapping[str, Any], source: str) -> list[KeyRevocation]:
    items = document.get("revocations") or []
    if not isinstance(items, list):
        raise TrustStoreError(f"{source}: revocations must be a list")
    found: list[KeyRevocation] = []
    seen: set[bytes] = set()
    for index, item in enumerate(items):
        where = f"revocations[{index}]"
        key = _entry_key(item, _REVOCATION_FIELDS, seen, where, source)
        revoked_at = _date(item.get("revoked_at"), where + ".revoked_at", source)
        if revoked_at is None:
            raise TrustStoreError(f"{source}: {where}: revoked_at is required")
        reason = item.get("reason")
        if reason not in REVOCATION_REASONS:
            raise TrustStoreError(f"{source}: {where}: reason must be one of {', '.join(REVOCATION_REASONS)}")
        found.append(KeyRevocation(key, revoked_at, reason, source))
    return found


def keyring_from_document(document: Any, source: str = "<keyring>") -> TrustStore:
    """Validate a parsed keyring document; :class:`TrustStoreError` names the bad entry."""
    # Long by design: one check per keyring member, in the order of docs/keys.md.
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise TrustStoreError(f"{source}: a keyring needs a 'keys' list")
    version = document.get("version", 1)
    if type(version) is not int or version != 1:  # a later format must never be read as this one
        raise TrustStoreError(f"{source}: keyring version {str(version)[:20]!r} is not one attestkit reads (1)")
    entries: list[TrustedKey] = []
    seen: set[bytes] = set()
    for index, item in enumerate(document["keys"]):
        where = f"keys[{index}]"
        key = _entry_key(item, _FIELDS, seen, where, source)
        identity = item.get("identity")
        if identity is not None and not isinstance(identity, str):
            raise TrustStoreError(f"{source}: {where}: identity must be a string")
        scopes = item.get("scopes") or []
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise TrustStoreError(f"{source}: {where}: scopes must be a list of strings")
        roles = item.get("roles") or []
        if not isinstance(roles, list) or not all(r in ROLES for r in roles):
            raise TrustStoreError(f"{source}: {where}: roles must be a list of {', '.join(ROLES)}")
        not_before = _date(item.get("not_before"), where + ".not_before", source, start=True)
        not_after = _date(item.get("not_after"), where + ".not_after", source)
        if not_before and not_after and not_after < not_before:
            raise TrustStoreError(f"{source}: {where}: not_after is before not_before")
        revoked_at = _date(item.get("revoked_at"), where + ".revoked_at", source)
        reason = item.get("reason")
        if reason is not None and reason not in REVOCATION_REASONS:
            raise TrustStoreError(f"{source}: {where}: unknown revocation reason {reason!r}")
        if reason is not None and revoked_at is None:
            raise TrustStoreError(f"{source}: {where}: reason given without revoked_at")
        entries.append(
            TrustedKey(
                public_key=key,
                identity=identity,
                not_before=not_before,
                not_after=not_after,
                scopes=tuple(scopes),
                revoked_at=revoked_at,
                revocation_reason=reason if revoked_at is not None else None,
                roles=tuple(roles),
                source=source,
            )
        )
    unknown_top = set(document) - _TOP_LEVEL
    if unknown_top:
        raise TrustStoreError(f"{source}: unknown top-level field {sorted(unknown_top)[0]!r}")
    revocations = _revocations(document, source)
    for revocation in revocations:
        if revocation.public_key.raw in seen:
            raise TrustStoreError(
                f"{source}: key {revocation.public_key.text} is both an entry and in revocations; "
                "revoke the entry itself"
            )
    statements = document.get("delegations") or []
    if not isinstance(statements, list):
        raise TrustStoreError(f"{source}: delegations must be a list")
    delegations = []
    for index, statement in enumerate(statements):
        try:
            delegations.append(parse_delegation(statement))
        except TrustStoreError as exc:
            raise TrustStoreError(f"{source}: delegations[{index}]: {exc.message}") from None
    return TrustStore(tuple(entries), tuple(delegations), tuple(revocations))


# ---- editing: pure functions from a document to a new document ------------------------


def empty_keyring() -> dict[str, Any]:
    """A keyring document with no keys."""
    return {"version": 1, "keys": []}


def _selected(text: Any, selector: str) -> PublicKey | None:
    try:
        key = parse_public_key(text) if isinstance(text, str) else None
    except KeyFormatError:
        return None
    if key is None:
        return None
    return key if selector == key.key_id or selector.strip().lower() == key.text.lower() else None


def _quoted_selector(selector: str) -> str:
    """*selector* quoted for an error, or described when it may be key text (never repeated then)."""
    shown = shown_argument(selector, "key")
    return repr(selector) if shown == selector else shown


def _index_of(items: Sequence[Any], selector: str) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and _selected(item.get("public_key"), selector) is not None:
            return index
    return None


def _checked(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A deep copy of *document*, after checking it is a valid keyring (never edit a broken one)."""
    keyring_from_document(document, source)
    return copy.deepcopy(dict(document))


def add_key(
    document: Mapping[str, Any],
    public_key: PublicKey,
    *,
    identity: str | None = None,
    scopes: Sequence[str] = (),
    roles: Sequence[str] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    source: str = "<keyring>",
) -> dict[str, Any]:
    """A copy of *document* that trusts *public_key*; :class:`KeyringEditError` if already there.

    A key listed in ``revocations`` cannot be added: trusting it again would undo the revocation.
    """
    result = _checked(document, source)
    entry: dict[str, Any] = {"public_key": public_key.text}
    if identity:
        entry["identity"] = identity
    if not_before:
        entry["not_before"] = format_rfc3339(not_before)
    if not_after:
        entry["not_after"] = format_rfc3339(not_after)
    if scopes:
        entry["scopes"] = list(scopes)
    if roles:
        entry["roles"] = list(roles)
    if _index_of(result["keys"], public_key.text) is not None:
        raise KeyringEditError(f"{source}: key {public_key.text} is already in the keyring", code="duplicate-key")
    if _index_of(result.get("revocations") or [], public_key.text) is not None:
        raise KeyringEditError(
            f"{source}: key {public_key.text} is revoked in this keyring; trusting it again would undo the "
            "revocation (revocation is one-way)",
            code="weakens-revocation",
        )
    result["keys"].append(entry)
    keyring_from_document(result, source)
    return result


def _delegated_key(document: Mapping[str, Any], selector: str) -> PublicKey | None:
    """A full key given as *selector*, or the delegate of one of the keyring's delegations."""
    try:
        return parse_public_key(selector)
    except KeyFormatError:
        pass
    for statement in document.get("delegations") or []:
        if isinstance(statement, Mapping):
            found = _selected(statement.get("delegate"), selector)
            if found is not None:
                return found
    return None


def _apply_revocation(item: dict[str, Any], reason: str, at: datetime, key_id: str, source: str) -> None:
    """Set *item*'s revocation to (*at*, *reason*) unless that weakens the one it already has."""
    if item.get("revoked_at") is not None:
        existing = (_date(item["revoked_at"], "revoked_at", source), item.get("reason"))
        assert existing[0] is not None
        why = weakens((existing[0], existing[1]), (at, reason))
        if why is not None:
            raise KeyringEditError(
                f"{source}: refusing to weaken the revocation of key {key_id}: {why} "
                f"(revocation is one-way: only a stronger reason or an earlier date is accepted)",
                code="weakens-revocation",
            )
        if revocation_strength(reason) > revocation_strength(existing[1]):
            at = min(at, existing[0])  # a stronger reason never moves the date later
    item["revoked_at"] = format_rfc3339(at)
    item["reason"] = reason


def revoke_key(
    document: Mapping[str, Any], selector: str, reason: str, at: datetime, *, source: str = "<keyring>"
) -> dict[str, Any]:
    """A copy of *document* with the key *selector* (key id or ``ed25519:<hex>``) revoked from *at*.

    A key the keyring trusts is revoked in its entry; any other key (a delegated one) goes to
    ``revocations``, given as a full key or as the key id of a delegate named in the keyring's
    ``delegations``. An existing revocation may only be made stronger (``key-compromise``
    over a date-based reason) or earlier: anything else raises :class:`KeyringEditError`.
    """
    if reason not in REVOCATION_REASONS:
        raise KeyringEditError(f"unknown revocation reason {reason!r}")
    result = _checked(document, source)
    index = _index_of(result["keys"], selector)
    if index is not None:
        item = result["keys"][index]
        key_id = parse_public_key(item["public_key"]).key_id
    else:
        key = _delegated_key(result, selector)
        if key is None:
            raise KeyringEditError(
                f"{source}: no key {_quoted_selector(selector)} in the keyring; to revoke a key it does not list, "
                "give the full ed25519:<hex> key",
                code="unknown-key",
            )
        revocations = result.setdefault("revocations", [])
        position = _index_of(revocations, key.text)
        if position is None:
            revocations.append({"public_key": key.text})
            position = len(revocations) - 1
        item, key_id = revocations[position], key.key_id
    _apply_revocation(item, reason, at, key_id, source)
    keyring_from_document(result, source)
    return result


def rotate_key(
    document: Mapping[str, Any],
    selector: str,
    new_key: PublicKey,
    now: datetime,
    transition: timedelta,
    *,
    source: str = "<keyring>",
) -> dict[str, Any]:
    """A copy of *document* trusting *new_key* like the old key, the old one superseded after *transition*.

    The new entry takes the old one's identity, scopes and roles, valid from *now*. Rotating a
    key whose revocation is already stronger (``key-compromise``, or superseded earlier) is
    refused: it would make receipts it rejects valid again.
    """
    result = _checked(document, source)
    index = _index_of(result["keys"], selector)
    if index is None:
        raise KeyringEditError(f"{source}: no key {_quoted_selector(selector)} in the keyring", code="unknown-key")
    old = result["keys"][index]
    _apply_revocation(old, "superseded", now + transition, parse_public_key(old["public_key"]).key_id, source)
    entry = {
        "public_key": new_key.text,
        **{k: copy.deepcopy(old[k]) for k in ("identity", "scopes", "roles") if k in old},
    }
    entry["not_before"] = format_rfc3339(now)
    if _index_of(result["keys"], new_key.text) is not None:
        raise KeyringEditError(f"{source}: key {new_key.text} is already in the keyring", code="duplicate-key")
    result["keys"].append(entry)
    keyring_from_document(result, source)
    return result


def key_status(entry: TrustedKey, now: datetime) -> str:
    """How ``keys list`` describes an entry at *now*, by the same rules verification applies."""
    from attestkit.core.trust.chain import entry_problem

    problem = entry_problem(entry, now)
    if problem is not None:
        return {
            "revoked": f"revoked ({entry.revocation_reason or 'revoked'})",
            "expired": "expired",
            "not-yet-valid": "not yet valid",
        }[problem.code]
    if entry.revoked_at is not None:
        return f"active until {format_rfc3339(entry.revoked_at)} ({entry.revocation_reason or 'revoked'})"
    return "active"


def parse_trusted_keys(text: str, source: str = "<trusted keys>") -> TrustStore:
    """Parse a trusted-keys file: keys one per line, PEM blocks, or a keyring document.

    Any entry that is not a valid key (including a small-order key) makes the whole file
    unusable: :class:`TrustStoreError` names the file and the line.
    """
    ArgumentTypeError.check(text, str, "trusted-keys text")
    ArgumentTypeError.check(source, str, "source")
    return parse_keyring(text, source) if looks_like_keyring(text) else parse_key_list(text, source)


@dataclass(frozen=True)
class KeyListing:
    """One row of ``keys list``: a trusted key (``kind`` "key") or a revoked delegated key ("revocation")."""

    kind: str
    key_id: str
    public_key: str
    identity: str | None
    not_before: datetime | None
    not_after: datetime | None
    revoked_at: datetime | None
    reason: str | None
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    status: str

    @property
    def window(self) -> str:
        """The validity window as text, ``-`` for an open end."""
        start = format_rfc3339(self.not_before) if self.not_before else "-"
        end = format_rfc3339(self.not_after) if self.not_after else "-"
        return f"{start} .. {end}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form: dates as RFC 3339 or null."""

        def date(value: datetime | None) -> str | None:
            return format_rfc3339(value) if value is not None else None

        return {
            "kind": self.kind,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "identity": self.identity,
            "not_before": date(self.not_before),
            "not_after": date(self.not_after),
            "revoked_at": date(self.revoked_at),
            "reason": self.reason,
            "scopes": list(self.scopes),
            "roles": list(self.roles),
            "status": self.status,
        }


def keyring_listing(store: TrustStore, now: datetime) -> list[KeyListing]:
    """Every key of *store* with its status at *now* (by the verifier's rules), then its revoked delegated keys."""
    from attestkit.core.trust.store import is_revoked

    rows = [
        KeyListing("key", e.public_key.key_id, e.public_key.text, e.identity, e.not_before, e.not_after,
                   e.revoked_at, e.revocation_reason, tuple(e.scopes), tuple(e.roles), key_status(e, now))
        for e in store.keys
    ]  # fmt: skip
    for revocation in store.revocations:
        status = (
            f"revoked ({revocation.reason})"
            if is_revoked(revocation.revoked_at, revocation.reason, now)
            else f"revoked from {format_rfc3339(revocation.revoked_at)} ({revocation.reason})"
        )
        key = revocation.public_key
        rows.append(KeyListing("revocation", key.key_id, key.text, None, None, None, revocation.revoked_at,
                               revocation.reason, (), (), status))  # fmt: skip
    return rows


def revocation_status(store: TrustStore, selector: str) -> str:
    """How the key *selector* (key id or ``ed25519:<hex>``) stands revoked in *store* (the kept date may be earlier)."""
    selector = selector.strip()
    for entry in store.keys:
        if selector in (entry.public_key.key_id, entry.public_key.text) and entry.revoked_at is not None:
            return f"{entry.revocation_reason} from {format_rfc3339(entry.revoked_at)}"
    for revocation in store.revocations:
        if selector.lower() in (revocation.public_key.key_id, revocation.public_key.text):
            return f"{revocation.reason} from {format_rfc3339(revocation.revoked_at)}"
    return "revoked"


__all__ = [
    "REVOCATION_REASONS",
    "ROLES",
    "KeyListing",
    "add_key",
    "empty_keyring",
    "key_status",
    "keyring_from_document",
    "keyring_listing",
    "load_keyring_document",
    "parse_keyring",
    "parse_trusted_keys",
    "revocation_status",
    "revoke_key",
    "rotate_key",
]
