"""Which keys of a trust store have expired, or will within a warning period (``keys check``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from attestkit.core.timeutil import format_rfc3339, human_duration
from attestkit.core.trust.store import TrustedKey, TrustStore, is_revoked

EXPIRED = "expired"
EXPIRING = "expiring"


@dataclass(frozen=True)
class KeyExpiry:
    """A key whose validity window has ended (``expired``) or ends within the warning period (``expiring``)."""

    key_id: str
    public_key: str
    identity: str | None
    not_after: datetime
    status: str
    message: str
    source: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON form."""
        return {
            "key_id": self.key_id,
            "public_key": self.public_key,
            "identity": self.identity,
            "not_after": format_rfc3339(self.not_after),
            "status": self.status,
            "message": self.message,
        }


def _finding(entry: TrustedKey, now: datetime, within: timedelta) -> KeyExpiry | None:
    if entry.not_after is None or is_revoked(entry.revoked_at, entry.revocation_reason, now):
        return None  # no end to expire, or retired on purpose: a revocation is not an expiry
    key = entry.public_key
    who = f" ({entry.identity})" if entry.identity else ""
    end = format_rfc3339(entry.not_after)
    if entry.not_after < now:
        message = f"key {key.key_id}{who} expired {human_duration(now - entry.not_after)} ago, on {end}"
        return KeyExpiry(key.key_id, key.text, entry.identity, entry.not_after, EXPIRED, message, entry.source)
    if entry.not_after - now <= within:
        message = f"key {key.key_id}{who} expires in {human_duration(entry.not_after - now)}, on {end}"
        return KeyExpiry(key.key_id, key.text, entry.identity, entry.not_after, EXPIRING, message, entry.source)
    return None


def expiring_keys(store: TrustStore | Iterable[TrustedKey], now: datetime, within: timedelta) -> list[KeyExpiry]:
    """Keys whose ``not_after`` is before *now* or at most *within* after it, in keyring order.

    Revoked keys are left out (revocation is deliberate); keys without ``not_after`` never expire.
    """
    if within < timedelta(0):
        raise ValueError("the warning period must not be negative")
    entries = store.keys if isinstance(store, TrustStore) else tuple(store)
    return [f for f in (_finding(entry, now, within) for entry in entries) if f is not None]


__all__ = ["EXPIRED", "EXPIRING", "KeyExpiry", "expiring_keys"]
