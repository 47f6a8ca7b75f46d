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

# Bounds on the work a private key file may ask of its key derivation (docs/security.md): each
# is checked from the file's header before any derivation runs, so a key asking for more is
# refused at once instead of pinning a CPU (the formats allow up to 2**32-1 rounds, and more).
MAX_BCRYPT_ROUNDS = 1024  # OpenSSH bcrypt_pbkdf rounds (ssh-keygen -a; its default is 16)
MAX_PBKDF2_ITERATIONS = 10_000_000  # PKCS#8 PBES2/PBKDF2 and PBES1 iterations (cryptography writes 2048)
MAX_SCRYPT_COST = 1 << 23  # PKCS#8 scrypt N * r * p (openssl pkcs8 -scrypt writes 16384 * 8 * 1)
MAX_SCRYPT_MEMORY = 64 << 20  # PKCS#8 scrypt 128 * r * (N + p) bytes (that default: 16 MiB)

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
            _check_openssh_kdf(stripped)
            key = serialization.load_ssh_private_key(stripped, passphrase)
        elif stripped.startswith(b"-----BEGIN"):
            if b"ENCRYPTED" in stripped.split(b"\n", 1)[0]:
                if not passphrase:
                    raise KeyFormatError("private key is encrypted; set ATTESTKIT_KEY_PASSPHRASE", code="passphrase")
                _check_pkcs8_kdf(stripped)
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


def _kdf_too_costly(what: str, asked: int, limit: int, fix: str) -> KeyFormatError:
    return KeyFormatError(
        f"private key's {what} is {asked}; at most {limit} is accepted (re-encrypt it: {fix})", code="kdf-cost"
    )


def _check_openssh_kdf(data: bytes) -> None:
    """:class:`KeyFormatError` (``kdf-cost``) when an OpenSSH key's bcrypt rounds exceed :data:`MAX_BCRYPT_ROUNDS`.

    The header is read as ``cryptography`` reads it (the text between the first BEGIN and END
    lines, lenient base64), so the rounds checked are the rounds it would run.
    """
    import binascii

    begin, end = b"-----BEGIN OPENSSH PRIVATE KEY-----", b"-----END OPENSSH PRIVATE KEY-----"
    start = data.find(begin) + len(begin)
    stop = data.find(end, start)
    if stop < 0:
        return  # cryptography refuses it before any derivation
    try:
        blob = memoryview(binascii.a2b_base64(data[start:stop]))
    except (binascii.Error, ValueError):
        return  # likewise
    magic = b"openssh-key-v1\x00"
    if bytes(blob[: len(magic)]) != magic:
        return
    fields: list[bytes] = []
    rest = blob[len(magic) :]
    for _ in range(3):  # ciphername, kdfname, kdfoptions
        if len(rest) < 4 or int.from_bytes(rest[:4], "big") > len(rest) - 4:
            raise KeyFormatError("private key could not be decoded (truncated OpenSSH header)", code="key-decode")
        length = int.from_bytes(rest[:4], "big")
        fields.append(bytes(rest[4 : 4 + length]))
        rest = rest[4 + length :]
    if fields[1] != b"bcrypt":
        return  # "none" derives nothing; another KDF is refused by cryptography
    options = fields[2]
    salt_length = int.from_bytes(options[:4], "big") if len(options) >= 4 else -1
    if salt_length < 0 or len(options) != 4 + salt_length + 4:
        raise KeyFormatError("private key could not be decoded (bad bcrypt parameters)", code="key-decode")
    rounds = int.from_bytes(options[4 + salt_length :], "big")
    if rounds > MAX_BCRYPT_ROUNDS:
        raise _kdf_too_costly("bcrypt rounds count", rounds, MAX_BCRYPT_ROUNDS, "ssh-keygen -p -a 16 -f KEYFILE")


def _der(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """(tag, content, offset after) of the DER element at *offset*; ``ValueError`` if it is not DER."""
    if offset + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or offset + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated")
    return tag, data[offset : offset + length], offset + length


def _der_items(content: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(content):
        tag, value, offset = _der(content, offset)
        items.append((tag, value))
    return items


def _der_int(item: tuple[int, bytes]) -> int:
    tag, value = item
    if tag != 0x02 or not value or value[0] & 0x80:
        raise ValueError("not a non-negative INTEGER")
    return int.from_bytes(value, "big")


_OID_PBES2 = bytes.fromhex("2a864886f70d01050d")  # 1.2.840.113549.1.5.13
_OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")  # 1.2.840.113549.1.5.12
_OID_SCRYPT = bytes.fromhex("2b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11
_PBES1_PREFIXES = (bytes.fromhex("2a864886f70d0105"), bytes.fromhex("2a864886f70d010c01"))  # PKCS#5 v1, PKCS#12


def _check_pkcs8_kdf(data: bytes) -> None:
    """:class:`KeyFormatError` unless an encrypted PKCS#8 key's derivation is within the bounds.

    Read from the DER header before anything is derived: PBES2 with PBKDF2 (iterations at most
    :data:`MAX_PBKDF2_ITERATIONS`) or scrypt (N x r x p at most :data:`MAX_SCRYPT_COST`, its
    memory at most :data:`MAX_SCRYPT_MEMORY`: ``cryptography`` sets no limit of its own), or
    PBES1 / PKCS#12 PBE (iterations). A header that is not plain DER in one of these forms is
    refused (OpenSSL also reads BER, whose parameters this reader would not see).
    """
    import base64
    import binascii

    lines = data.strip().split(b"\n")
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
        algorithm = _der_items(_expect(_der(der), 0x30))[0]
        oid, params = _der_items(_expect(algorithm, 0x30))[:2]
        if _expect(oid, 0x06) == _OID_PBES2:
            kdf = _der_items(_expect(_der_items(_expect(params, 0x30))[0], 0x30))
            kdf_oid, kdf_params = _expect(kdf[0], 0x06), _der_items(_expect(kdf[1], 0x30))
            if kdf_oid == _OID_PBKDF2:
                iterations = _der_int(kdf_params[1])
            elif kdf_oid == _OID_SCRYPT:
                n, r, p = (_der_int(kdf_params[index]) for index in (1, 2, 3))
                fix = "openssl pkcs8 -topk8 -v2 aes-256-cbc"
                if n * r * p > MAX_SCRYPT_COST:
                    raise _kdf_too_costly("scrypt cost N*r*p", n * r * p, MAX_SCRYPT_COST, fix)
                if 128 * r * (n + p) > MAX_SCRYPT_MEMORY:
                    raise _kdf_too_costly("scrypt memory 128*r*(N+p)", 128 * r * (n + p), MAX_SCRYPT_MEMORY, fix)
                return
            else:
                raise KeyFormatError("encrypted private key uses an unsupported key derivation", code="unsupported-key")
        elif _expect(oid, 0x06).startswith(_PBES1_PREFIXES):
            iterations = _der_int(_der_items(_expect(params, 0x30))[1])
        else:
            raise KeyFormatError("encrypted private key uses an unsupported encryption scheme", code="unsupported-key")
    except (ValueError, IndexError, binascii.Error):
        raise KeyFormatError(
            "private key could not be decoded (its encryption parameters are not plain DER)", code="key-decode"
        ) from None
    if iterations > MAX_PBKDF2_ITERATIONS:
        raise _kdf_too_costly(
            "iteration count", iterations, MAX_PBKDF2_ITERATIONS, "openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 2048"
        )


def _expect(item: tuple[int, bytes, int] | tuple[int, bytes], tag: int) -> bytes:
    if item[0] != tag:
        raise ValueError(f"expected tag {tag:#x}")
    return item[1]


def _load_ignoring_passphrase(data: bytes) -> object:
    from cryptography.hazmat.primitives import serialization

    try:
        if data.startswith(b"-----BEGIN OPENSSH"):
            return serialization.load_ssh_private_key(data, None)
        return serialization.load_pem_private_key(data, None)
    except Exception:
        raise KeyFormatError("private key could not be decoded", code="key-decode") from None


__all__ = [
    "MAX_BCRYPT_ROUNDS",
    "MAX_PBKDF2_ITERATIONS",
    "MAX_SCRYPT_COST",
    "MAX_SCRYPT_MEMORY",
    "PrivateKey",
    "PublicKey",
    "key_id_of",
    "parse_private_key",
    "parse_public_key",
]
