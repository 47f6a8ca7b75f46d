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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attestkit.core.delegation import parse_delegation
from attestkit.core.keys import parse_public_key
from attestkit.core.timeutil import parse_optional_rfc3339
from attestkit.core.trust import TrustedKey, TrustStore
from attestkit.errors import AttestkitError, TrustStoreError

REVOCATION_REASONS = ("key-compromise", "superseded", "retired")
_FIELDS = {"public_key", "identity", "not_before", "not_after", "scopes", "roles", "revoked_at", "reason", "comment"}
ROLES = ("root", "signer")


def _date(value: Any, where: str, source: str) -> datetime | None:
    try:
        return parse_optional_rfc3339(value)
    except ValueError as exc:
        raise TrustStoreError(f"{source}: {where}: {exc}") from None


def parse_keyring(text: str, source: str = "<keyring>") -> TrustStore:
    """Parse a keyring document; :class:`TrustStoreError` names the bad entry."""
    from attestkit.core.reader import parse_document

    try:
        document = parse_document(text.encode("utf-8"), source=source, fmt="yaml")
    except AttestkitError as exc:
        raise TrustStoreError(f"{source}: not a valid keyring: {exc.message}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise TrustStoreError(f"{source}: a keyring needs a 'keys' list")
    entries: list[TrustedKey] = []
    seen: set[bytes] = set()
    for index, item in enumerate(document["keys"]):
        where = f"keys[{index}]"
        if not isinstance(item, dict):
            raise TrustStoreError(f"{source}: {where}: must be a mapping")
        unknown = set(item) - _FIELDS
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
        identity = item.get("identity")
        if identity is not None and not isinstance(identity, str):
            raise TrustStoreError(f"{source}: {where}: identity must be a string")
        scopes = item.get("scopes") or []
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise TrustStoreError(f"{source}: {where}: scopes must be a list of strings")
        roles = item.get("roles") or []
        if not isinstance(roles, list) or not all(r in ROLES for r in roles):
            raise TrustStoreError(f"{source}: {where}: roles must be a list of {', '.join(ROLES)}")
        not_before = _date(item.get("not_before"), where + ".not_before", source)
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
            )
        )
    delegations = []
    for index, statement in enumerate(document.get("delegations") or []):
        try:
            delegations.append(parse_delegation(statement))
        except TrustStoreError as exc:
            raise TrustStoreError(f"{source}: delegations[{index}]: {exc.message}") from None
    unknown_top = set(document) - {"version", "keys", "delegations"}
    if unknown_top:
        raise TrustStoreError(f"{source}: unknown top-level field {sorted(unknown_top)[0]!r}")
    return TrustStore(tuple(entries), tuple(delegations))


__all__ = ["REVOCATION_REASONS", "ROLES", "parse_keyring"]
