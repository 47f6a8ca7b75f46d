"""An encrypted private key cannot ask for unbounded key-derivation work.

An OpenSSH key whose bcrypt rounds field was 2**32-1 pinned a CPU for years (the rounds were
handed straight to bcrypt_pbkdf); PKCS#8 PBKDF2 iterations and scrypt parameters were likewise
taken from the file. The header is now read first and a key over the bounds refused at once.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.core.crypto.keys import PrivateKey, parse_private_key
from attestkit.errors import KeyFormatError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json

SSH_KEYGEN = shutil.which("ssh-keygen")
OPENSSL = shutil.which("openssl")
MAX_BCRYPT_ROUNDS, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_COST = 1024, 10_000_000, 1 << 23  # docs/security.md
MAX_SCRYPT_MEMORY = 64 << 20


def test_the_documented_bounds() -> None:
    from attestkit.core.crypto import keys

    found = (keys.MAX_BCRYPT_ROUNDS, keys.MAX_PBKDF2_ITERATIONS, keys.MAX_SCRYPT_COST, keys.MAX_SCRYPT_MEMORY)
    assert found == (MAX_BCRYPT_ROUNDS, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_COST, MAX_SCRYPT_MEMORY)


def _pem(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def _openssh_with_rounds(path: Path, rounds: int) -> bytes:
    """*path* (an encrypted OpenSSH key) with its bcrypt rounds field replaced (PROTOCOL.key)."""
    lines = path.read_text().strip().split("\n")
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    offset = len(b"openssh-key-v1\x00")
    for _ in range(2):  # ciphername, kdfname
        offset += 4 + int.from_bytes(blob[offset : offset + 4], "big")
    offset += 4  # kdfoptions length
    offset += 4 + int.from_bytes(blob[offset : offset + 4], "big")  # salt
    blob[offset : offset + 4] = rounds.to_bytes(4, "big")
    text = base64.b64encode(bytes(blob)).decode()
    body = "\n".join(text[i : i + 70] for i in range(0, len(text), 70))
    return f"{lines[0]}\n{body}\n{lines[-1]}\n".encode()


@pytest.fixture(scope="module")
def openssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if SSH_KEYGEN is None:
        pytest.skip("ssh-keygen not installed")
    pytest.importorskip("bcrypt")
    path = tmp_path_factory.mktemp("ssh") / "enc.key"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "pw", "-f", str(path)], check=True)
    return path


@pytest.mark.parametrize("rounds", [MAX_BCRYPT_ROUNDS + 1, 2**32 - 1])
def test_bcrypt_rounds_over_the_bound_are_refused_at_once(openssh_key: Path, rounds: int) -> None:
    data = _openssh_with_rounds(openssh_key, rounds)
    started = time.monotonic()
    with pytest.raises(KeyFormatError, match=f"bcrypt rounds count is {rounds}; at most 1024") as caught:
        parse_private_key(data, b"wrong")
    assert caught.value.code == "kdf-cost" and time.monotonic() - started < 1


def test_bcrypt_default_rounds_still_load(openssh_key: Path) -> None:
    assert parse_private_key(openssh_key.read_bytes(), b"pw").public_key is not None


def test_cli_sign_with_a_slow_openssh_key(
    cli_process: Callable[..., CliResult], openssh_key: Path, tmp_path: Path
) -> None:
    slow = tmp_path / "slow.key"
    slow.write_bytes(_openssh_with_rounds(openssh_key, 2**32 - 1))
    slow.chmod(0o600)
    unsigned = write_json(tmp_path / "r.u.json", make_receipt())
    result = cli_process("sign", str(unsigned), "--key", str(slow), env={"ATTESTKIT_KEY_PASSPHRASE": "wrong"})
    assert result.code == 2 and "slow.key: private key's bcrypt rounds count is 4294967295" in result.err
    assert_one_line_error(result)


# ---- PKCS#8: the DER header, built here (what is refused is never decrypted) ----------------


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    size = (length.bit_length() + 7) // 8
    encoded = bytes([length]) if length < 0x80 else bytes([0x80 | size]) + length.to_bytes(size, "big")
    return bytes([tag]) + encoded + content


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(hex_oid: str) -> bytes:
    return _tlv(0x06, bytes.fromhex(hex_oid))


AES256_CBC = _tlv(0x30, _oid("60864801650304012a") + _tlv(0x04, b"\0" * 16))  # 2.16.840.1.101.3.4.1.42, an IV


def _pbes2(kdf: bytes) -> bytes:
    scheme = _tlv(0x30, _oid("2a864886f70d01050d") + _tlv(0x30, kdf + AES256_CBC))
    return _pem("ENCRYPTED PRIVATE KEY", _tlv(0x30, scheme + _tlv(0x04, b"\0" * 48)))


def _pbkdf2(iterations: int) -> bytes:
    return _pbes2(_tlv(0x30, _oid("2a864886f70d01050c") + _tlv(0x30, _tlv(0x04, b"s" * 16) + _int(iterations))))


def _scrypt(n: int, r: int, p: int) -> bytes:
    params = _tlv(0x04, b"s" * 16) + _int(n) + _int(r) + _int(p)
    return _pbes2(_tlv(0x30, _oid("2b06010401da47040b") + _tlv(0x30, params)))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_pbkdf2(MAX_PBKDF2_ITERATIONS + 1), "iteration count is 10000001; at most 10000000"),
        (_pbkdf2(2**63 - 1), "iteration count is 9223372036854775807"),
        (_scrypt(1 << 20, 8, 2), f"scrypt cost N\\*r\\*p is {(1 << 24)}; at most {MAX_SCRYPT_COST}"),
        (_scrypt(1 << 14, 8, 1 << 20), "scrypt cost"),
        (_scrypt(1 << 20, 8, 1), f"scrypt memory 128\\*r\\*\\(N\\+p\\) is {128 * 8 * ((1 << 20) + 1)}"),
        (_scrypt(2, 1, 1 << 22), "scrypt memory"),
    ],
    ids=["pbkdf2-over", "pbkdf2-huge", "scrypt-over", "scrypt-parallel", "scrypt-1gib", "scrypt-p-buffer"],
)
def test_pkcs8_derivation_over_the_bound_is_refused_at_once(data: bytes, expected: str) -> None:
    started = time.monotonic()
    with pytest.raises(KeyFormatError, match=expected) as caught:
        parse_private_key(data, b"pw")
    assert caught.value.code == "kdf-cost" and time.monotonic() - started < 1


def test_pkcs8_header_that_is_not_plain_der_is_refused() -> None:
    bad = _pem("ENCRYPTED PRIVATE KEY", b"\x30\x80" + b"\0" * 40)  # BER: indefinite length
    with pytest.raises(KeyFormatError) as caught:
        parse_private_key(bad, b"pw")
    assert caught.value.code == "key-decode"


def test_pkcs8_within_the_bounds_still_loads(tmp_path: Path) -> None:
    key = PrivateKey.from_seed(b"\x61" * 32)
    assert parse_private_key(key.to_pem(b"pw"), b"pw") == key  # cryptography's own: PBKDF2, 2048
    if OPENSSL is None:
        pytest.skip("openssl not installed")
    plain = tmp_path / "plain.pem"
    plain.write_bytes(key.to_pem())
    for extra in (["-iter", "100000"], ["-scrypt"]):
        out = subprocess.run(
            [OPENSSL, "pkcs8", "-topk8", "-v2", "aes-256-cbc", *extra, "-passout", "pass:pw", "-in", str(plain)],
            check=True,
            capture_output=True,
        ).stdout
        assert parse_private_key(out, b"pw") == key, extra
