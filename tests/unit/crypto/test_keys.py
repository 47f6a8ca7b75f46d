"""Keys in every accepted form, cross-checked between PyNaCl and cryptography."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attestkit.adapters.files import load_private_key_file, load_public_key, write_keypair
from attestkit.core.crypto.keys import PrivateKey, PublicKey, parse_private_key, parse_public_key
from attestkit.core.trust.keyring import parse_trusted_keys
from attestkit.errors import InputFileError, KeyFormatError, KeyPermissionError, TrustStoreError

# Encodings of small-order points (the identity and points of order 2, 4, 8).
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
]


def _crypto_key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def test_public_key_forms_agree(key: PrivateKey) -> None:
    public = key.public_key
    crypto_public = _crypto_key(key.seed).public_key()
    raw = crypto_public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = crypto_public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    ssh = crypto_public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert public.raw == raw
    for text in (public.text, public.text.upper().replace("ED25519:", "ed25519:"), pem, ssh, ssh + " user@host"):
        assert parse_public_key(text) == public
    assert public.to_openssh() == ssh
    assert public.to_pem().decode() == pem


def test_key_id_is_short_and_stable(key: PrivateKey) -> None:
    assert len(key.public_key.key_id) == 16
    assert key.public_key.key_id == parse_public_key(key.public_key.text).key_id


@pytest.mark.parametrize("encoded", SMALL_ORDER)
def test_small_order_public_keys_are_rejected(encoded: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_public_key("ed25519:" + encoded)


@pytest.mark.parametrize("text", ["ed25519:abcd", "ed25519:" + "zz" * 32, "rsa:" + "00" * 32, "ssh-ed25519 !!!", ""])
def test_garbage_public_keys_are_rejected(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_public_key(text)


def test_rsa_pem_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFormatError, match="not Ed25519"):
        parse_public_key(pem.decode())


def test_private_key_formats(key: PrivateKey) -> None:
    crypto = _crypto_key(key.seed)
    pkcs8 = crypto.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted = crypto.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    openssh = crypto.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    assert parse_private_key(pkcs8).seed == key.seed
    assert parse_private_key(encrypted, b"pw").seed == key.seed
    assert parse_private_key(openssh).seed == key.seed
    with pytest.raises(KeyFormatError, match="ATTESTKIT_KEY_PASSPHRASE"):
        parse_private_key(encrypted)
    with pytest.raises(KeyFormatError) as wrong:
        parse_private_key(encrypted, b"wrong-passphrase-123")
    assert "wrong-passphrase-123" not in str(wrong.value)


def test_signatures_match_cryptography(key: PrivateKey) -> None:
    message = b"attestkit"
    assert key.sign(message) == _crypto_key(key.seed).sign(message)
    assert key.public_key.verify(message, key.sign(message))
    assert not key.public_key.verify(message + b"!", key.sign(message))
    assert not key.public_key.verify(message, b"short")


def test_write_keypair_modes_and_no_overwrite(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    key_path, pub_path = write_keypair(str(tmp_path / "k"), "ci", key)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert Path(pub_path).read_text().strip() == key.public_key.text
    assert load_private_key_file(key_path).seed == key.seed
    assert load_public_key(pub_path) == key.public_key
    before = Path(key_path).read_bytes()
    with pytest.raises(InputFileError, match="refusing to overwrite"):
        write_keypair(str(tmp_path / "k"), "ci", PrivateKey.generate())
    assert Path(key_path).read_bytes() == before


def test_group_readable_private_key_is_refused(tmp_path: Path, key: PrivateKey) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(key.to_pem())
    path.chmod(0o640)
    with pytest.raises(KeyPermissionError, match="chmod 600"):
        load_private_key_file(str(path))
    path.chmod(0o600)
    assert load_private_key_file(str(path)).seed == key.seed


def test_trusted_keys_file_forms(key: PrivateKey, other_key: PrivateKey) -> None:
    pem = other_key.public_key.to_pem().decode()
    text = f"# release keys\n{key.public_key.text}\n\n{pem}{other_key.public_key.to_openssh('x')}\n"
    store = parse_trusted_keys(text, "keys.txt")
    assert store.lookup(key.public_key) is not None
    assert store.lookup(other_key.public_key) is not None
    assert store.lookup(PrivateKey.generate().public_key) is None


def test_one_bad_entry_poisons_a_trusted_keys_file(key: PrivateKey) -> None:
    text = f"{key.public_key.text}\ned25519:{SMALL_ORDER[0]}\n"
    with pytest.raises(TrustStoreError, match=r"keys\.txt: line 2"):
        parse_trusted_keys(text, "keys.txt")
    with pytest.raises(TrustStoreError, match="no trusted keys"):
        parse_trusted_keys("# empty\n", "keys.txt")


def test_public_key_repr_does_not_leak_private_seed(key: PrivateKey) -> None:
    assert key.seed.hex() not in repr(key)
    assert isinstance(key.public_key, PublicKey)


def test_trusted_keys_file_with_odd_line_separators(key: PrivateKey) -> None:
    """Found by the fuzzer: \\r and other separators must not confuse line bookkeeping."""
    with pytest.raises(TrustStoreError):
        parse_trusted_keys("\r0", "keys.txt")
    store = parse_trusted_keys(f"# crlf file\r\n{key.public_key.text}\r\n\u2028\r\n", "keys.txt")
    assert store.lookup(key.public_key) is not None
