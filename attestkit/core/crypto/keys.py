"""Ed25519 keys: parsing every accepted form, generation, serialisation and key ids.

Text forms need only PyNaCl; PEM and OpenSSH forms import ``cryptography`` on demand.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import nacl.bindings
import nacl.exceptions

from attestkit.errors import ArgumentTypeError, KeyFormatError

try:  # PyNaCl's own cffi binding of libsodium (what nacl.bindings wraps)
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _sodium
except ImportError:  # pragma: no cover - a PyNaCl without it: the public wrapper serves
    _sodium = None

_TEXT_KEY = re.compile(r"ed25519:([0-9a-fA-F]{64})\Z")
_SSH_LINE = re.compile(r"ssh-ed25519\s+([A-Za-z0-9+/=]+)(\s.*)?\Z")


@lru_cache(maxsize=4096)
def key_id_of(raw: bytes) -> str:
    """Short stable key id: the first 16 hex digits of SHA-256 of the raw public key.

    Memoised: the same few trusted keys are named on every receipt they verify.
    """
    digest: bytes = nacl.bindings.crypto_hash_sha256(raw)  # libsodium is loaded anyway; hashlib is not
    return digest.hex()[:16]


@dataclass(frozen=True)
class PublicKey:
    """A validated Ed25519 public key (canonical encoding, prime-order point)."""

    raw: bytes
    key_id: str = field(default="", compare=False)

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        """Build a key from 32 raw bytes, rejecting small-order and invalid points."""
        if len(raw) != 32:
            raise KeyFormatError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
        if not nacl.bindings.crypto_core_ed25519_is_valid_point(raw):
            raise KeyFormatError(
                "public key is not a valid Ed25519 point (small-order, non-canonical or off the curve)",
                code="weak-key",
            )
        return cls(raw=raw, key_id=key_id_of(raw))

    @cached_property
    def text(self) -> str:
        """The ``ed25519:<64 hex>`` form (computed once per key object)."""
        return "ed25519:" + self.raw.hex()

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        # Pickle as the raw bytes; the verify object is rebuilt (for worker processes).
        return (PublicKey.from_raw, (self.raw,))

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when *signature* is a canonical Ed25519 signature of *message*."""
        if len(signature) != 64 or len(self.raw) != 32:
            return False
        if _sodium is not None:
            # libsodium's crypto_sign_open, given no output buffers (NULL is allowed for both):
            # the same verification (rejects S >= L and small-order R or A) without the
            # wrapper's allocation and copy of the message out, which cost 5-10% of a check.
            signed = signature + message
            return bool(_sodium.crypto_sign_open(_ffi.NULL, _ffi.NULL, signed, len(signed), self.raw) == 0)
        try:
            # libsodium's verification: rejects S >= L and small-order R or A.
            nacl.bindings.crypto_sign_open(signature + message, self.raw)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            return False
        return True

    def to_pem(self) -> bytes:
        """PEM SubjectPublicKeyInfo."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_openssh(self, comment: str = "") -> str:
        """An ``ssh-ed25519 AAAA... [comment]`` line."""
        blob = _ssh_string(b"ssh-ed25519") + _ssh_string(self.raw)
        import base64

        line = "ssh-ed25519 " + base64.b64encode(blob).decode("ascii")
        return line + (" " + comment if comment else "")


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _parse_ssh_blob(b64: str) -> bytes:
    try:
        import base64

        blob = base64.b64decode(b64, validate=True)
    except ValueError:
        raise KeyFormatError("ssh-ed25519 key is not valid base64") from None
    parts: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise KeyFormatError("truncated ssh-ed25519 key")
        length = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + length > len(blob):
            raise KeyFormatError("truncated ssh-ed25519 key")
        parts.append(blob[offset : offset + length])
        offset += length
    if len(parts) != 2 or parts[0] != b"ssh-ed25519":
        raise KeyFormatError("not an ssh-ed25519 public key")
    return parts[1]


def parse_public_key(text: str) -> PublicKey:
    """Parse one public key: ``ed25519:<hex>``, PEM SubjectPublicKeyInfo or ``ssh-ed25519`` line."""
    ArgumentTypeError.check(text, str, "a public key")
    value = text.strip()
    if not value.startswith("-----BEGIN") and len(value.splitlines()) > 1:
        # A second key (or any second line) would be ignored, not trusted: say so instead.
        raise KeyFormatError("holds more than one line; a public key is one line: give one key")
    match = _TEXT_KEY.match(value)
    if match:
        return PublicKey.from_raw(bytes.fromhex(match.group(1)))
    ssh = _SSH_LINE.match(value)
    if ssh:
        return PublicKey.from_raw(_parse_ssh_blob(ssh.group(1)))
    if value.startswith("-----BEGIN"):
        return _public_from_pem(value.encode("ascii", "replace"))
    if value.startswith("ed25519:"):
        raise KeyFormatError("public key must be ed25519:<64 hex digits>")
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        raise KeyFormatError("a bare 64-hex key needs its prefix: write ed25519:<64 hex>")
    raise KeyFormatError("not a recognised public key (expected ed25519:<hex>, PEM public key or ssh-ed25519 line)")


def _one_pem_block(data: bytes) -> None:
    """:class:`KeyFormatError` unless *data* (stripped) is exactly one PEM block.

    A loader reads the first block and ignores the rest, so a second key or text after the
    END line would go unnoticed: a file that is not what it seems is refused instead.
    """
    first = data.split(b"\n", 1)[0].rstrip()
    label = first[len(b"-----BEGIN ") : -len(b"-----")] if first.endswith(b"-----") else b""
    if data.count(b"-----BEGIN ") != 1:
        raise KeyFormatError("holds more than one PEM block; give a file with one key")
    if not label or not data.rstrip().endswith(b"-----END " + label + b"-----"):
        raise KeyFormatError("has text after its PEM block (or a mismatched END line); give the key alone")


def _public_from_pem(data: bytes) -> PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if b"PRIVATE KEY" in data.split(b"\n", 1)[0]:
        raise KeyFormatError("this is a private key; give the public key instead")
    _one_pem_block(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFormatError("PEM block is not a valid public key") from None
    except Exception:  # cryptography raises UnsupportedAlgorithm for unknown key types
        raise KeyFormatError("PEM public key has an unsupported algorithm") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFormatError(f"PEM public key is {type(key).__name__}, not Ed25519")
    return PublicKey.from_raw(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@dataclass(frozen=True)
class PrivateKey:
    """An Ed25519 signing key (32-byte seed)."""

    seed: bytes = field(repr=False)
    _secret: bytes = field(repr=False, compare=False, hash=False)  # libsodium's seed || public key

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        """Build a key from its 32-byte seed."""
        if len(seed) != 32:
            raise KeyFormatError("an Ed25519 private key seed is 32 bytes")
        return cls(seed=seed, _secret=nacl.bindings.crypto_sign_seed_keypair(seed)[1])

    @classmethod
    def generate(cls) -> PrivateKey:
        """A new random key from the operating system's CSPRNG."""
        return cls.from_seed(os.urandom(32))

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey.from_raw(self._secret[32:])

    def sign(self, message: bytes) -> bytes:
        """A pure Ed25519 signature (64 bytes) of *message*."""
        signed: bytes = nacl.bindings.crypto_sign(message, self._secret)
        return signed[:64]

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with *passphrase* when given."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        return Ed25519PrivateKey.from_private_bytes(self.seed).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def __repr__(self) -> str:
        return f"PrivateKey(public={self.public_key.text})"


def parse_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Load a PKCS#8 PEM (optionally encrypted) or OpenSSH Ed25519 private key.

    The passphrase never appears in an error message.
    """
    ArgumentTypeError.check(data, (bytes, bytearray), "private key data")
    if passphrase is not None:
        ArgumentTypeError.check(passphrase, (bytes, bytearray), "the passphrase")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stripped = data.strip()
    key: object
    if _openssh_encrypted(stripped) and not _have_bcrypt():
        # Said before asking for a passphrase: without bcrypt no passphrase can help.
        raise KeyFormatError(
            "encrypted OpenSSH private keys need the bcrypt package: pip install 'attestkit[bcrypt]' "
            "(or remove the passphrase: ssh-keygen -p -N '' -f KEYFILE)",
            code="unsupported-key",
        )
    if stripped.startswith(b"-----BEGIN"):
        _one_pem_block(stripped)
    try:
        if stripped.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key = serialization.load_ssh_private_key(stripped, passphrase)
        elif stripped.startswith(b"-----BEGIN"):
            if b"ENCRYPTED" in stripped.split(b"\n", 1)[0] and not passphrase:
                raise KeyFormatError("private key is encrypted; set ATTESTKIT_KEY_PASSPHRASE", code="passphrase")
            key = serialization.load_pem_private_key(stripped, passphrase)
        else:
            raise KeyFormatError("not a PEM or OpenSSH private key")
    except KeyFormatError:
        raise
    except TypeError:
        # cryptography: password given for an unencrypted key, or missing for an encrypted one
        if passphrase:
            key = _load_ignoring_passphrase(stripped)
        else:
            raise KeyFormatError("private key is encrypted; set ATTESTKIT_KEY_PASSPHRASE", code="passphrase") from None
    except ValueError:
        raise KeyFormatError(
            "private key could not be decoded (corrupt, or wrong passphrase)", code="key-decode"
        ) from None
    except Exception:
        if stripped.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----") and passphrase and not _have_bcrypt():
            # cryptography derives the key of an encrypted OpenSSH file with bcrypt_pbkdf, from
            # the optional bcrypt package (ssh-keygen cannot convert an ed25519 key to PKCS#8).
            raise KeyFormatError(
                "encrypted OpenSSH private keys need the bcrypt package: pip install 'attestkit[bcrypt]' "
                "(or remove the passphrase: ssh-keygen -p -N '' -f KEYFILE)",
                code="unsupported-key",
            ) from None
        raise KeyFormatError("private key uses an unsupported algorithm or format") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"private key is {type(key).__name__}, not Ed25519")
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return PrivateKey.from_seed(seed)


def _have_bcrypt() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("bcrypt") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken install
        return False


def _openssh_encrypted(data: bytes) -> bool:
    """Whether *data* is an OpenSSH private key whose cipher is not ``none`` (PROTOCOL.key)."""
    import base64
    import binascii

    begin, end = b"-----BEGIN OPENSSH PRIVATE KEY-----", b"-----END OPENSSH PRIVATE KEY-----"
    if not data.startswith(begin) or end not in data:
        return False
    body = b"".join(data[len(begin) : data.index(end)].split())
    try:
        blob = base64.b64decode(body[:64] + b"=" * (-len(body[:64]) % 4))
    except (binascii.Error, ValueError):
        return False
    magic = b"openssh-key-v1\x00"
    if not blob.startswith(magic) or len(blob) < len(magic) + 4:
        return False
    length = int.from_bytes(blob[len(magic) : len(magic) + 4], "big")
    cipher = blob[len(magic) + 4 : len(magic) + 4 + length]
    return cipher != b"none"


def _load_ignoring_passphrase(data: bytes) -> object:
    from cryptography.hazmat.primitives import serialization

    try:
        if data.startswith(b"-----BEGIN OPENSSH"):
            return serialization.load_ssh_private_key(data, None)
        return serialization.load_pem_private_key(data, None)
    except Exception:
        raise KeyFormatError("private key could not be decoded", code="key-decode") from None


__all__ = ["PrivateKey", "PublicKey", "key_id_of", "parse_private_key", "parse_public_key"]
