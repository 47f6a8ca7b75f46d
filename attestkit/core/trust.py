"""Trusted keys: what the verifier accepts, and the identity attached to each key.

A trust store is built from public keys (any accepted form) or from the text of a
trusted-keys file: one key per line, concatenated PEM blocks, or a keyring document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from attestkit.core.keys import PublicKey, parse_public_key
from attestkit.errors import KeyFormatError, TrustStoreError

if TYPE_CHECKING:
    from attestkit.core.delegation import Delegation

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


@dataclass(frozen=True)
class TrustedKey:
    """A public key the verifier trusts, with optional identity, window and scopes."""

    public_key: PublicKey
    identity: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    scopes: tuple[str, ...] = ()
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrustStore:
    """An immutable set of trusted keys indexed by raw public key."""

    keys: tuple[TrustedKey, ...] = ()
    delegations: tuple[Delegation, ...] = ()
    _index: dict[bytes, TrustedKey] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for entry in self.keys:
            self._index.setdefault(entry.public_key.raw, entry)

    def lookup(self, key: PublicKey) -> TrustedKey | None:
        """The trusted entry for *key*, or ``None``."""
        return self._index.get(key.raw)

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
        """Build a store from keys, trusted entries or key literals."""
        entries: list[TrustedKey] = []
        for item in keys:
            if isinstance(item, TrustedKey):
                entries.append(item)
            elif isinstance(item, PublicKey):
                entries.append(TrustedKey(item))
            else:
                entries.append(TrustedKey(parse_public_key(item)))
        return cls(tuple(entries))

    def merged(self, other: TrustStore) -> TrustStore:
        """A store holding the keys of both."""
        return TrustStore(self.keys + other.keys, self.delegations + other.delegations)


def parse_trusted_keys(text: str, source: str = "<trusted keys>") -> TrustStore:
    """Parse a trusted-keys file: keys one per line, PEM blocks, or a keyring document.

    Any entry that is not a valid key (including a small-order key) makes the whole file
    unusable: :class:`TrustStoreError` names the file and the line.
    """
    # One notion of "line" throughout (str.splitlines would also split on \r, \x0b, \u2028...).
    lines = text.split("\n")
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    if first.startswith(("keys:", "version:", "delegations:", "{")):
        from attestkit.core.keyring import parse_keyring

        return parse_keyring(text, source)
    entries: list[TrustedKey] = []
    consumed = [False] * len(lines)
    for block in _PEM_BLOCK.finditer(text):
        line = text.count("\n", 0, block.start()) + 1
        last = text.count("\n", 0, block.end()) + 1
        for number in range(line, last + 1):
            consumed[number - 1] = True
        try:
            entries.append(TrustedKey(parse_public_key(block.group(0))))
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
            entries.append(TrustedKey(parse_public_key(line_text)))
        except KeyFormatError as exc:
            raise TrustStoreError(f"{source}: line {number}: {exc}") from None
    if not entries:
        raise TrustStoreError(f"{source}: no trusted keys in file")
    return TrustStore(tuple(entries))


__all__ = ["TrustStore", "TrustedKey", "parse_trusted_keys"]
