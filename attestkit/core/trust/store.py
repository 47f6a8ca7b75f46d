"""Trusted keys: what the verifier accepts, and the identity attached to each key.

A trust store is built from public keys (any accepted form) or from the text of a
trusted-keys file: one key per line, concatenated PEM blocks, or a keyring document.

When several sources speak about the same key, the store holds one entry that merges them so
the most restrictive statement wins (see :func:`merge_entries` and docs/keys.md): the
strongest revocation, the narrowest window, the common scopes and roles, and the identity
(two different identities are refused).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar, cast

from attestkit.core.crypto.keys import PublicKey, parse_public_key
from attestkit.core.trust.fields import check_instant, names_argument
from attestkit.errors import ArgumentTypeError, KeyFormatError, TrustStoreError

if TYPE_CHECKING:
    from attestkit.core.trust.delegation import Delegation

# A block's BEGIN and END lines hold nothing else (text around a marker is not a key: refused).
_PEM_BLOCK = re.compile(r"^-----BEGIN ([A-Z0-9 ]+)-----[ \t\r]*$.*?^-----END \1-----[ \t\r]*$", re.S | re.M)

_T = TypeVar("_T")

REVOKE_ALWAYS = "key-compromise"
REVOCATION_REASONS = ("key-compromise", "superseded", "retired")


def revocation_strength(reason: str | None) -> int:
    """2 for ``key-compromise`` (every receipt rejected), 1 for the date-based reasons."""
    return 2 if reason == REVOKE_ALWAYS else 1


def is_revoked(revoked_at: datetime | None, reason: str | None, timestamp: datetime) -> bool:
    """Whether a revocation rejects a receipt made at *timestamp*.

    Every reason rejects receipts timestamped at or after *revoked_at*. ``key-compromise``
    also rejects every earlier one (a thief can backdate), unless a log proof's witnessed time
    shows the receipt existed before *revoked_at*. So it rejects whatever the other reasons
    reject, which is what lets several sources merge to the strongest reason and earliest date.
    """
    if revoked_at is None:
        return False
    if timestamp >= revoked_at:
        return True
    if reason == REVOKE_ALWAYS:
        witnessed = WITNESSED_AT.get()  # a log proof's witnessed time (docs/log.md), else None
        return witnessed is None or witnessed >= revoked_at
    return False


# Set by verify while deciding trust for a receipt with a verified log proof: the time a witness
# quorum vouches the receipt existed by. Only then does key-compromise spare it (before the date).
WITNESSED_AT: ContextVar[datetime | None] = ContextVar("attestkit_witnessed_at", default=None)

Revocation = tuple[datetime, "str | None"]


def strongest_revocation(first: Revocation | None, second: Revocation | None) -> Revocation | None:
    """The revocation that rejects every receipt either one rejects: strongest reason, earliest date."""
    if first is None or second is None:
        return first or second
    earlier = first if first[0] <= second[0] else second
    stronger = first if revocation_strength(first[1]) >= revocation_strength(second[1]) else second
    if revocation_strength(first[1]) == revocation_strength(second[1]):
        stronger = earlier  # same effect: keep the label that goes with the earlier date
    return earlier[0], stronger[1]


def weakens(existing: Revocation, requested: Revocation) -> str | None:
    """Why replacing *existing* by *requested* would let through a receipt it rejects, or ``None``."""
    (old_at, old_reason), (new_at, new_reason) = existing, requested
    if revocation_strength(new_reason) < revocation_strength(old_reason):
        return f"it is revoked for {old_reason}, which rejects every receipt; {new_reason} would not"
    if new_at > old_at and revocation_strength(new_reason) == revocation_strength(old_reason):
        return f"it is revoked ({old_reason or 'revoked'}) from an earlier date; a later date would not"
    return None


def _check_optional_str(value: object, what: str) -> None:
    if value is not None:
        ArgumentTypeError.check(value, str, what)


@dataclass(frozen=True)
class TrustedKey:
    """A public key the verifier trusts, with optional identity, window and scopes.

    ``source`` names where the entry came from (a file path), for error messages only.
    """

    public_key: PublicKey
    identity: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    scopes: tuple[str, ...] = ()
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    roles: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, PublicKey):
            hint = " (parse text with attestkit.parse_public_key)" if isinstance(self.public_key, (str, bytes)) else ""
            raise ArgumentTypeError(
                f"TrustedKey.public_key must be PublicKey, not {type(self.public_key).__name__}{hint}"
            )
        _check_optional_str(self.identity, "TrustedKey.identity")
        for name in ("not_before", "not_after", "revoked_at"):
            check_instant(getattr(self, name), f"TrustedKey.{name}")
        _check_optional_str(self.revocation_reason, "TrustedKey.revocation_reason")
        _check_optional_str(self.source, "TrustedKey.source")
        object.__setattr__(self, "scopes", names_argument(self.scopes, "TrustedKey.scopes"))
        object.__setattr__(self, "roles", names_argument(self.roles, "TrustedKey.roles"))

    @property
    def revocation(self) -> Revocation | None:
        """``(revoked_at, reason)``, or ``None`` when the entry is not revoked."""
        return (self.revoked_at, self.revocation_reason) if self.revoked_at is not None else None


@dataclass(frozen=True)
class KeyRevocation:
    """A revocation of a key the store does not trust directly (typically a delegated key)."""

    public_key: PublicKey
    revoked_at: datetime
    reason: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, PublicKey):
            raise ArgumentTypeError(f"KeyRevocation.public_key must be PublicKey, not {type(self.public_key).__name__}")
        if self.revoked_at is None:
            raise ArgumentTypeError("KeyRevocation.revoked_at must be a timezone-aware datetime, not None")
        check_instant(self.revoked_at, "KeyRevocation.revoked_at")
        _check_optional_str(self.reason, "KeyRevocation.reason")
        _check_optional_str(self.source, "KeyRevocation.source")


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    return first if second is None else second if first is None else max(first, second)


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    return first if second is None else second if first is None else min(first, second)


def merge_entries(first: TrustedKey, second: TrustedKey) -> TrustedKey:
    """One entry for two statements about the same key: the most restrictive of each part.

    Revocation: the strongest reason and earliest date. Window: the latest ``not_before`` and
    earliest ``not_after`` (an empty window trusts nothing). Scopes and roles: those both
    grant (an entry without scopes covers no scope, without roles may not delegate).
    Identity: the one given; two different identities raise :class:`TrustStoreError`.
    """
    if first.identity is not None and second.identity is not None and first.identity != second.identity:
        raise TrustStoreError(
            f"key {first.public_key.key_id} has conflicting identities: {first.identity!r} in "
            f"{first.source or 'a key given directly'} and {second.identity!r} in "
            f"{second.source or 'a key given directly'}"
        )
    revocation = strongest_revocation(first.revocation, second.revocation)
    sources = [s for s in (first.source, second.source) if s]
    return TrustedKey(
        public_key=first.public_key,
        identity=first.identity if first.identity is not None else second.identity,
        not_before=_latest(first.not_before, second.not_before),
        not_after=_earliest(first.not_after, second.not_after),
        scopes=tuple(s for s in first.scopes if s in second.scopes),
        revoked_at=revocation[0] if revocation else None,
        revocation_reason=revocation[1] if revocation else None,
        roles=tuple(r for r in first.roles if r in second.roles),
        source=", ".join(dict.fromkeys(sources)) or None,
    )


@dataclass(frozen=True)
class TrustStore:
    """An immutable set of trusted keys indexed by raw public key.

    Entries for the same key are merged (:func:`merge_entries`), and revocations of keys that
    are also entries are folded into the entry, so every statement about a key is honoured
    whatever the order of the sources.
    """

    keys: tuple[TrustedKey, ...] = ()
    delegations: tuple[Delegation, ...] = ()
    revocations: tuple[KeyRevocation, ...] = ()
    _index: dict[bytes, TrustedKey] = field(default_factory=dict, init=False, repr=False, compare=False)
    _revoked: dict[bytes, KeyRevocation] = field(default_factory=dict, init=False, repr=False, compare=False)
    # Values derived from one entry (the store is immutable, so each is computed once): the
    # same trusted key decides thousands of receipts.
    _derived: dict[tuple[str, bytes], object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from attestkit.core.trust.delegation import Delegation

        for name, kind in (("keys", TrustedKey), ("delegations", Delegation), ("revocations", KeyRevocation)):
            # A str, a lone entry or a generator would be read wrongly, or fail in the middle of a
            # verify (AttributeError) the first time the search reached it.
            given = getattr(self, name)
            if isinstance(given, (str, bytes)) or not isinstance(given, (tuple, list)):
                raise ArgumentTypeError(
                    f"TrustStore.{name} must be a tuple of {kind.__name__}, not {type(given).__name__}"
                )
            for item in given:
                ArgumentTypeError.check(item, kind, f"each of TrustStore.{name}")
            object.__setattr__(self, name, tuple(given))
        for entry in self.keys:
            known = self._index.get(entry.public_key.raw)
            self._index[entry.public_key.raw] = entry if known is None else merge_entries(known, entry)
        for revocation in self.revocations:
            raw = revocation.public_key.raw
            statement = (revocation.revoked_at, revocation.reason)
            if raw in self._index:
                entry = self._index[raw]
                merged = strongest_revocation(entry.revocation, statement)
                assert merged is not None
                self._index[raw] = replace(entry, revoked_at=merged[0], revocation_reason=merged[1])
                continue
            known_revocation = self._revoked.get(raw)
            if known_revocation is not None:
                at, reason = (
                    strongest_revocation((known_revocation.revoked_at, known_revocation.reason), statement) or statement
                )
                revocation = KeyRevocation(revocation.public_key, at, reason, revocation.source)
            self._revoked[raw] = revocation
        if len(self._index) != len(self.keys) or self.revocations:
            object.__setattr__(self, "keys", tuple(self._index.values()))
            object.__setattr__(self, "revocations", tuple(self._revoked.values()))

    def lookup(self, key: PublicKey) -> TrustedKey | None:
        """The trusted entry for *key*, or ``None``."""
        return self._index.get(key.raw)

    def revocation_of(self, raw: bytes) -> Revocation | None:
        """The revocation recorded for a key, whether or not the store trusts it directly."""
        entry = self._index.get(raw)
        if entry is not None:
            return entry.revocation
        revocation = self._revoked.get(raw)
        return (revocation.revoked_at, revocation.reason) if revocation is not None else None

    def derived(self, kind: str, raw: bytes, build: Callable[[], _T]) -> _T:
        """``build()``, computed once per (*kind*, key) for this store and remembered.

        For values that depend only on the store's entry for *raw* (never on a receipt).
        """
        slot = (kind, raw)
        try:
            return cast(_T, self._derived[slot])
        except KeyError:
            value = self._derived[slot] = build()
            return value

    def known_key(self, raw: bytes) -> PublicKey | None:
        """The validated trusted key with these raw bytes, if any."""
        entry = self._index.get(raw)
        return entry.public_key if entry is not None else None

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self.keys)

    @classmethod
    def of(cls, keys: Iterable[PublicKey | TrustedKey | str]) -> TrustStore:
        """Build a store from keys, trusted entries or key literals (any iterable of them, never one alone)."""
        expected = "an iterable of keys (PublicKey, TrustedKey or 'ed25519:<hex>' text)"
        if isinstance(keys, (PublicKey, TrustedKey, str, bytes)):
            raise ArgumentTypeError(
                f"TrustStore.of: expected {expected}, got one {type(keys).__name__}; wrap a single key in a list: [key]"
            )
        if not isinstance(keys, Iterable):
            raise ArgumentTypeError(f"TrustStore.of: expected {expected}, got {type(keys).__name__}")
        entries: list[TrustedKey] = []
        for item in keys:  # several mentions of one key are merged by the store
            if isinstance(item, TrustedKey):
                entries.append(item)
            elif isinstance(item, PublicKey):
                entries.append(TrustedKey(item))
            else:
                entries.append(TrustedKey(parse_public_key(item)))
        return cls(tuple(entries))

    def merged(self, other: TrustStore) -> TrustStore:
        """A store holding every statement of both; for a key in both, the most restrictive wins."""
        ArgumentTypeError.check(other, TrustStore, "TrustStore.merged's argument")
        return TrustStore(
            self.keys + other.keys, self.delegations + other.delegations, self.revocations + other.revocations
        )


_KEYRING_MEMBER = re.compile(r"""(["']?)(keys|version|delegations|revocations)\1[ \t]*:(?:[ \t]|$)""")


def _is_preamble(line: str) -> bool:
    """A line before a YAML document's content: blank, a comment, a directive or the ``---`` marker."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#") or line.startswith("%") or stripped == "---"


def looks_like_keyring(text: str) -> bool:
    """Whether a trusted-keys file is a keyring document rather than a list of keys.

    Its first content line (after comments, ``%YAML`` directives and ``---``) is ``{`` or one of
    the keyring's members, in any order and quoting: a revocation-only keyring starts with
    ``revocations:``.
    """
    first = next((line for line in text.split("\n") if not _is_preamble(line)), "")
    return first.startswith("{") or _KEYRING_MEMBER.match(first) is not None


def parse_key_list(text: str, source: str = "<trusted keys>") -> TrustStore:
    """Parse a list of trusted keys: one per line, or PEM blocks (keyring documents are
    :func:`attestkit.core.trust.keyring.parse_trusted_keys`'s business).

    Any entry that is not a valid key (including a small-order key) makes the whole file
    unusable: :class:`TrustStoreError` names the file and the line.
    """
    # One notion of "line" throughout (str.splitlines would also split on \r, \x0b, \u2028...).
    lines = text.split("\n")
    entries: list[TrustedKey] = []
    consumed = [False] * len(lines)
    for block in _PEM_BLOCK.finditer(text):
        line = text.count("\n", 0, block.start()) + 1
        last = text.count("\n", 0, block.end()) + 1
        for number in range(line, last + 1):
            consumed[number - 1] = True
        try:
            entries.append(TrustedKey(parse_public_key(block.group(0)), source=source))
        except KeyFormatError as exc:
            raise TrustStoreError(f"{source}: line {line}: {exc}") from None
    for number, raw_line in enumerate(lines, start=1):
        if consumed[number - 1]:
            continue
        line_text = raw_line.strip()
        if not line_text or line_text.startswith("#"):
            continue
        if line_text.startswith("-----"):
            raise TrustStoreError(f"{source}: line {number}: unterminated or unknown PEM block")
        try:
            entries.append(TrustedKey(parse_public_key(line_text), source=source))
        except KeyFormatError as exc:
            raise TrustStoreError(f"{source}: line {number}: {exc}") from None
    if not entries:
        raise TrustStoreError(f"{source}: no trusted keys in file")
    return TrustStore(tuple(entries))


__all__ = [
    "REVOCATION_REASONS",
    "REVOKE_ALWAYS",
    "KeyRevocation",
    "TrustStore",
    "TrustedKey",
    "is_revoked",
    "looks_like_keyring",
    "merge_entries",
    "parse_key_list",
    "revocation_strength",
    "strongest_revocation",
    "weakens",
]
