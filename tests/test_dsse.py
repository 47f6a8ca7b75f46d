"""DSSE / in-toto: envelopes attestkit writes verify with securesystemslib, and the reverse."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.canonical import canonicalize
from attestkit.core.dsse import PAYLOAD_TYPE, PREDICATE_TYPE, make_envelope, pae, statement_for
from attestkit.core.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339
from tests.conftest import NOW, CliResult, make_receipt, write_json

NOW_DT = parse_rfc3339(NOW)


def test_pae_matches_the_spec_example() -> None:
    # From the DSSE protocol document.
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_statement_subjects_are_outputs() -> None:
    statement = statement_for(make_receipt())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "dist/app.bin", "digest": {"blake3": "cd" * 32}}]
    assert statement["predicateType"] == PREDICATE_TYPE


def test_envelope_round_trip_and_tampering(key: PrivateKey, other_key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    envelope = make_envelope(receipt, key)
    result = verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT)
    assert result.valid and result.chain_of_trust == "verified" and "DSSE" in result.checks[1].message
    assert not verify_receipt(envelope, trusted_keys=[other_key.public_key], now=NOW_DT).valid
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["steps"][0]["exit_code"] = 1
    forged = dict(envelope, payload=base64.b64encode(canonicalize(statement)).decode())
    assert {c.code for c in verify_receipt(forged, trusted_keys=[key.public_key], now=NOW_DT).failed_checks} >= {
        "bad-signature"
    }
    statement["subject"] = []
    mismatched = dict(envelope, payload=base64.b64encode(canonicalize(statement)).decode())
    assert verify_receipt(mismatched, trusted_keys=[key.public_key], now=NOW_DT).checks[0].code == "dsse"


def _sslib_key(key: PrivateKey) -> Any:
    signer = pytest.importorskip("securesystemslib.signer")
    return signer.SSlibKey(key.public_key.key_id, "ed25519", "ed25519", {"public": key.public_key.raw.hex()})


def test_securesystemslib_verifies_our_envelope(key: PrivateKey) -> None:
    dsse = pytest.importorskip("securesystemslib.dsse")
    envelope = dsse.Envelope.from_dict(make_envelope(sign_receipt(make_receipt(), key), key))
    accepted = envelope.verify([_sslib_key(key)], 1)
    assert key.public_key.key_id in accepted
    assert envelope.payload_type == PAYLOAD_TYPE


def test_we_verify_a_securesystemslib_envelope(key: PrivateKey) -> None:
    dsse = pytest.importorskip("securesystemslib.dsse")
    signer_module = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    crypto_key = Ed25519PrivateKey.from_private_bytes(key.seed)
    receipt = sign_receipt(make_receipt(), key)
    payload = json.dumps(statement_for(receipt), indent=1).encode()  # not canonical: any bytes are signed
    envelope = dsse.Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer_module.CryptoSigner(crypto_key))
    result = verify_receipt(envelope.to_dict(), trusted_keys=[key.public_key], now=NOW_DT)
    assert result.valid, [c.message for c in result.failed_checks]


def test_cli_export_and_verify(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(key.to_pem())
    key_file.chmod(0o600)
    receipt = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    exported = cli(
        "export", str(receipt), "--format", "in-toto", "--key", str(key_file), "-o", str(tmp_path / "r.dsse.json")
    )
    assert exported.code == 0, exported.err
    envelope = json.loads((tmp_path / "r.dsse.json").read_text())
    assert envelope["payloadType"] == PAYLOAD_TYPE
    verified = cli(
        "verify",
        str(tmp_path / "r.dsse.json"),
        "--public-key",
        key.public_key.text,
        "--now",
        NOW,
        "--json",
        "--policy",
        "steps-succeeded",
    )
    assert verified.code == 0 and verified.json_lines()[0]["chain_of_trust"] == "verified"
    untrusted = cli(
        "verify", str(tmp_path / "r.dsse.json"), "--public-key", PrivateKey.generate().public_key.text, "--now", NOW
    )
    assert untrusted.code == 1


def test_foreign_keyids_with_several_trusted_keys(key: PrivateKey, other_key: PrivateKey) -> None:
    envelope = make_envelope(sign_receipt(make_receipt(), key), key)
    envelope["signatures"][0]["keyid"] = "f" * 64
    result = verify_receipt(envelope, trusted_keys=[other_key.public_key, key.public_key], now=NOW_DT)
    assert result.valid
