"""Contract conformance (CONTRACT.md, read line by line): corners where attestkit drifted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

Cli = Callable[..., CliResult]


def _keyring(path: Path, key: PrivateKey, **entry: str) -> Path:
    lines = ["version: 1", "keys:", f"  - public_key: {key.public_key.text}"]
    lines += [f"    {name}: {value}" for name, value in entry.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_json_signer_is_the_trust_stores_identity_even_when_the_claim_differs(
    cli: Cli, tmp_path: Path, key: PrivateKey
) -> None:
    """Contract §5: "`signer` in `--json` is the signer identity: the trust store's identity for
    the key when it has one, else the receipt's `signer` field, else null". A receipt claiming
    another identity is refused (signer-mismatch), but its answer must not name the claim the
    trust store contradicts as the signer."""
    ring = _keyring(tmp_path / "ring.yaml", key, identity="ci@example.com")
    liar = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key, signer="release@example.com"))
    result = cli("verify", str(liar), "--keyring", str(ring), "--now", NOW, "--json")
    assert result.code == 1, result.err
    assert result.json_lines()[0]["signature_verification"]["signer"] == "ci@example.com"


def test_json_signer_of_a_revoked_or_expired_key_is_the_trust_stores_identity(
    cli: Cli, tmp_path: Path, key: PrivateKey
) -> None:
    """Contract §5 (as above): the trust store has an identity for a revoked or expired key too;
    `signer` reports it (the receipt stays invalid, exit 1), not null."""
    receipt = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    for name, entry in {
        "revoked": {"revoked_at": "2026-11-01T00:00:00Z", "reason": "superseded"},
        "expired": {"not_after": "2026-11-01T00:00:00Z"},
    }.items():
        ring = _keyring(tmp_path / f"{name}.yaml", key, identity="ci@example.com", **entry)
        result = cli("verify", str(receipt), "--keyring", str(ring), "--now", NOW, "--json")
        assert result.code == 1, result.err
        line = result.json_lines()[0]
        assert line["chain_of_trust"] == name
        assert line["signature_verification"]["signer"] == "ci@example.com"


def test_keys_generate_into_an_uncreatable_directory_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    """Contract §4: exit 2 for a file that cannot be written, and "Errors go to stderr as one
    clear line": an --out-dir below a regular file named the OS error class as an internal error."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = cli("keys", "generate", "--out-dir", str(tmp_path / "file" / "keys"))
    assert result.code == 2
    assert_one_line_error(result)
    assert "internal error" not in result.err and "cannot create" in result.err, result.err
    assert "keys" in result.err


def test_sign_refusal_names_an_empty_embedded_key_as_unnamed(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    """Contract §4: errors are one *clear* line. A receipt with placeholder proof fields
    (``"signature": ""``, ``"signer_public_key": ""``) was refused with "already signed by ;"."""
    key_file = tmp_path / "ci.key"
    key_file.write_bytes(key.to_pem())
    key_file.chmod(0o600)
    receipt = write_json(tmp_path / "r.json", make_receipt(signature="", signer_public_key="", signature_algorithm=""))
    result = cli("sign", str(receipt), "--key", str(key_file))
    assert result.code == 2
    assert_one_line_error(result)
    assert "signed by an unnamed key;" in result.err, result.err
