"""Signed notes (c2sp.org/signed-note): vkeys, skeys, key ids, signing and opening.

Two signature types are supported: ``0x01`` Ed25519 note signatures (logs) and ``0x04``
timestamped Ed25519 ``cosignature/v1`` (witnesses, c2sp.org/tlog-cosignature).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.errors import KeyFormatError, NoteVerificationError, TlogConfigError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 1 << 20  # a checkpoint is ~200 bytes; 1 MiB leaves room for 100 PQ signatures
MAX_SIGNATURES = 100  # the spec asks for at least 16; Go's note package stops at 100
MAX_TIMESTAMP = (1 << 63) - 1
_HEX8 = re.compile(r"[0-9a-f]{8}\Z")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4): padding required, no whitespace."""
    if len(text) % 4 or not _B64.match(text):
        raise ValueError(f"{what} is not standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not standard base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError(f"{what} is not canonical base64")
    return data


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def is_valid_name(name: str) -> bool:
    """A key name: non-empty, no Unicode space, no ``+``, no control character."""
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name)


def key_id(name: str, alg: int, public: bytes) -> int:
    """``SHA-256(name || 0x0A || alg || public)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signature covers: header, time line, then the note text."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode("utf-8")


@dataclass(frozen=True)
class Verifier:
    """A note verifier: key name, key id, signature type and Ed25519 public key."""

    name: str
    key_id: int
    alg: int
    public: bytes = field(repr=False)

    @property
    def vkey(self) -> str:
        """The ``name+hex(id)+base64(alg || key)`` text form."""
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([self.alg]) + self.public)}"

    def verify(self, text: str, signature: bytes) -> bool:
        """True when *signature* (without the 4-byte key id) is valid over *text*."""
        key = PublicKey.from_raw(self.public)
        if self.alg == ALG_ED25519:
            return key.verify(text.encode("utf-8"), signature)
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != 72:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            return key.verify(cosignature_message(text, timestamp), signature[8:])
        return False


@dataclass(frozen=True)
class Signer:
    """A note signer; the seed never appears in a repr."""

    name: str
    key_id: int
    alg: int
    seed: bytes = field(repr=False)

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> Signer:
        """A new random key for *name*."""
        return signer_from_key(name, PrivateKey.generate(), alg)

    @property
    def verifier(self) -> Verifier:
        """The matching verifier."""
        return Verifier(self.name, self.key_id, self.alg, PrivateKey.from_seed(self.seed).public_key.raw)

    @property
    def skey(self) -> str:
        """The ``PRIVATE+KEY+name+hex(id)+base64(alg || seed)`` text form (a secret)."""
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{b64encode(bytes([self.alg]) + self.seed)}"

    def signature(self, text: str, timestamp: int | None = None) -> bytes:
        """The raw signature bytes (without key id) of *text*."""
        key = PrivateKey.from_seed(self.seed)
        if self.alg == ALG_ED25519:
            return key.sign(text.encode("utf-8"))
        if timestamp is None or not 0 < timestamp <= MAX_TIMESTAMP:
            raise TlogConfigError("a cosignature needs a positive timestamp below 2^63")
        return timestamp.to_bytes(8, "big") + key.sign(cosignature_message(text, timestamp))

    def signature_line(self, text: str, timestamp: int | None = None) -> str:
        """One ``— name base64(id || sig)`` line, with its newline."""
        blob = self.key_id.to_bytes(4, "big") + self.signature(text, timestamp)
        return f"\u2014 {self.name} {b64encode(blob)}\n"

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id:08x})"


def signer_from_key(name: str, key: PrivateKey, alg: int = ALG_ED25519) -> Signer:
    """A signer for *name* using *key*."""
    if not is_valid_name(name):
        raise TlogConfigError(f"key name {name!r} is empty or has a space, '+' or control character")
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise TlogConfigError(f"unsupported signature type 0x{alg:02x}")
    return Signer(name, key_id(name, alg, key.public_key.raw), alg, key.seed)


def parse_vkey(text: str) -> Verifier:
    """Parse a vkey, checking the name, the key id and the key; raises :class:`TlogConfigError`."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise TlogConfigError("a vkey is name+hex(key id)+base64(type || key)")
    name, hex_id, blob_text = parts
    if not is_valid_name(name):
        raise TlogConfigError("vkey has an empty or invalid key name")
    if not _HEX8.match(hex_id):
        raise TlogConfigError("vkey key id must be 8 lowercase hex digits")
    try:
        blob = b64decode(blob_text, "vkey key")
    except ValueError as exc:
        raise TlogConfigError(f"vkey: {exc}") from None
    if not blob or blob[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise TlogConfigError("vkey has an unsupported signature type (supported: 0x01 Ed25519, 0x04 cosignature/v1)")
    alg, public = blob[0], blob[1:]
    if len(public) != 32:
        raise TlogConfigError(f"vkey Ed25519 key is {len(public)} bytes, not 32")
    try:
        PublicKey.from_raw(public)
    except KeyFormatError as exc:
        raise TlogConfigError(f"vkey: {exc}") from None
    if int(hex_id, 16) != key_id(name, alg, public):
        raise TlogConfigError("vkey key id does not match its name and key")
    return Verifier(name, int(hex_id, 16), alg, public)


def parse_skey(text: str) -> Signer:
    """Parse an skey (``PRIVATE+KEY+name+id+base64(type || seed)``); errors never echo the key."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise TlogConfigError("an skey is PRIVATE+KEY+name+hex(key id)+base64(type || seed)")
    name, hex_id, blob_text = parts[2:]
    if not is_valid_name(name) or not _HEX8.match(hex_id):
        raise TlogConfigError("skey has an invalid key name or key id")
    try:
        blob = b64decode(blob_text, "skey")
    except ValueError:
        raise TlogConfigError("skey key material is not standard base64") from None
    if len(blob) != 33 or blob[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise TlogConfigError("skey is not an Ed25519 (0x01) or cosignature/v1 (0x04) key of 32 bytes")
    signer = signer_from_key(name, PrivateKey.from_seed(blob[1:]), blob[0])
    if signer.key_id != int(hex_id, 16):
        raise TlogConfigError("skey key id does not match its name and key")
    return signer


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: name, key id and the signature bytes after the id."""

    name: str
    key_id: int
    signature: bytes

    @property
    def line(self) -> str:
        """The line as it appears in a note, with its newline."""
        return f"\u2014 {self.name} {b64encode(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text and which signatures verified (and which were unknown)."""

    text: str
    verified: tuple[tuple[Verifier, NoteSignature], ...]
    unverified: tuple[NoteSignature, ...]


def check_note_text(text: str) -> None:
    """Refuse control characters (other than newline) and a text not ending in newline."""
    if not text.endswith("\n"):
        raise NoteVerificationError("note text must end with a newline")
    if _CONTROL.search(text) or _SURROGATE.search(text):
        raise NoteVerificationError("note contains an ASCII control character other than newline, or a lone surrogate")


def split_note(data: bytes | str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and its signature lines (nothing verified yet)."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_BYTES:
            raise NoteVerificationError(f"note is larger than {MAX_NOTE_BYTES} bytes")
        try:
            message = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteVerificationError("note is not valid UTF-8") from None
    else:
        message = data
        if len(message.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
            raise NoteVerificationError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    if _SURROGATE.search(message):
        raise NoteVerificationError("note is not valid UTF-8")
    if _CONTROL.search(message):
        raise NoteVerificationError("note contains an ASCII control character other than newline")
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteVerificationError("note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block:
        raise NoteVerificationError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteVerificationError("note's last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteVerificationError(f"note has more than {MAX_SIGNATURES} signature lines")
    signatures = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith("\u2014 "):
            raise NoteVerificationError(f"signature line {number} does not start with an em dash and a space")
        name, space, blob_text = line[2:].partition(" ")
        if not space or not is_valid_name(name):
            raise NoteVerificationError(f"signature line {number} has an invalid key name")
        try:
            blob = b64decode(blob_text, "signature")
        except ValueError:
            raise NoteVerificationError(f"signature line {number} is not standard base64") from None
        if len(blob) < 5:
            raise NoteVerificationError(f"signature line {number} is too short")
        signatures.append(NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return text, signatures


def open_note(data: bytes | str, known: Iterable[Verifier]) -> Note:
    """Open a signed note: every signature by a known (name, id) must verify, at least one must.

    Signatures by unknown keys are ignored (and reported as ``unverified``), as the spec
    requires. Raises :class:`NoteVerificationError`.
    """
    text, signatures = split_note(data)
    by_id: dict[tuple[str, int], Verifier] = {(v.name, v.key_id): v for v in known}
    verified: list[tuple[Verifier, NoteSignature]] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for signature in signatures:
        verifier = by_id.get((signature.name, signature.key_id))
        if verifier is None:
            if signature not in unverified:
                unverified.append(signature)
            continue
        if (signature.name, signature.key_id) in seen:
            continue
        seen.add((signature.name, signature.key_id))
        if not verifier.verify(text, signature.signature):
            raise NoteVerificationError(f"the signature by {signature.name} does not verify")
        verified.append((verifier, signature))
    if not verified:
        raise NoteVerificationError("no signature by a known key")
    return Note(text, tuple(verified), tuple(unverified))


def sign_note(text: str, signers: Sequence[Signer], timestamp: int | None = None) -> str:
    """A signed note: *text*, a blank line, one signature line per signer."""
    check_note_text(text)
    if not signers:
        raise TlogConfigError("signing a note needs at least one key")
    return text + "\n" + "".join(s.signature_line(text, timestamp) for s in signers)


def same_key(a: Verifier, b: Verifier) -> bool:
    """True when two verifiers wrap the same public key (constant time)."""
    return hmac.compare_digest(a.public, b.public)


__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "Signer",
    "Verifier",
    "b64decode",
    "b64encode",
    "check_note_text",
    "cosignature_message",
    "is_valid_name",
    "key_id",
    "open_note",
    "parse_skey",
    "parse_vkey",
    "same_key",
    "sign_note",
    "signer_from_key",
    "split_note",
]
