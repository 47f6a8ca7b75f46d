"""Every envelope attestkit writes, checked by the peers' own libraries, and theirs by attestkit (issue 18.6).

For each form (the receipt, SLSA Provenance, Test Result, the VSA): in-toto and securesystemslib
verify attestkit's envelope with the public key loaded their usual way (a PEM file, the default
key id), in-toto-attestation parses the statement; in-toto signs the same statement with its
own signer (a PKCS#8 file) and attestkit verifies that. sigstore-python is not an allowed
dependency, so its statement model is not among the peers (docs/interop.md says so).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.intoto.export import make_envelope
from attestkit.core.intoto.vsa import (
    JudgedReceipt,
    PolicyRef,
    check_summary,
    digests_of,
    sign_summary,
    summary_statement,
)
from attestkit.core.receipt.dsse import PAYLOAD_TYPE
from tests.conftest import make_receipt
from tests.interop_helpers import NOW_DT, trusting, write_key_files

FORMATS = ["in-toto", "slsa-provenance", "test-result", "vsa"]


def _envelope(fmt: str, key: PrivateKey) -> dict[str, Any]:
    receipt = sign_receipt(make_receipt(), key)
    if fmt == "vsa":
        data = json.dumps(receipt).encode()
        judged = [JudgedReceipt("r.json", digests_of(data), {"dist/app.bin": {"blake3": "cd" * 32}})]
        document = summary_statement(
            judged,
            [PolicyRef("steps-succeeded")],
            passed=True,
            verifier_id="https://gate.example",
            time_verified=NOW_DT,
        )
        return sign_summary(document, key)
    return make_envelope(
        receipt, key, trusting(key), fmt=fmt, builder_id="https://ci.example/b" if fmt == "slsa-provenance" else None
    )


def _attestkit_accepts(fmt: str, envelope: dict[str, Any], key: PrivateKey, signer: PrivateKey | None = None) -> bool:
    signer = signer or key
    if fmt == "vsa":
        covered = [("r.json", json.dumps(sign_receipt(make_receipt(), signer)).encode())]  # what _envelope judged
        check = check_summary(
            envelope, [key.public_key], source="peer", receipts=covered, policies=[PolicyRef("steps-succeeded")]
        )
        return check.valid
    result = verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT)
    return result.valid


@pytest.fixture()
def key_files(tmp_path: Path, key: PrivateKey) -> tuple[Path, Path]:
    return write_key_files(tmp_path, key)


@pytest.mark.parametrize("fmt", FORMATS)
def test_in_toto_and_securesystemslib_verify_ours(
    fmt: str, tmp_path: Path, key: PrivateKey, key_files: tuple[Path, Path]
) -> None:
    metadata = pytest.importorskip("in_toto.models.metadata")
    in_toto_keys = pytest.importorskip("in_toto.models._signer")
    in_toto_errors = pytest.importorskip("in_toto.exceptions")
    sslib_dsse = pytest.importorskip("securesystemslib.dsse")
    sslib_signer = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    _, public = key_files
    envelope = _envelope(fmt, key)
    path = tmp_path / "envelope.json"
    path.write_text(json.dumps(envelope))
    loaded = metadata.Metadata.load(str(path))
    loaded.verify_signature(in_toto_keys.load_public_key_from_file(str(public)))
    sslib_key = sslib_signer.SSlibKey.from_crypto(load_pem_public_key(public.read_bytes()))
    sslib_dsse.Envelope.from_dict(copy.deepcopy(envelope)).verify([sslib_key], 1)
    # A changed payload fails with both.
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["blake3"] = "00" * 32
    forged = dict(envelope, payload=base64.b64encode(json.dumps(statement).encode()).decode())
    path.write_text(json.dumps(forged))
    with pytest.raises(in_toto_errors.SignatureVerificationError):
        metadata.Metadata.load(str(path)).verify_signature(in_toto_keys.load_public_key_from_file(str(public)))
    with pytest.raises(Exception, match="threshold"):
        sslib_dsse.Envelope.from_dict(copy.deepcopy(forged)).verify([sslib_key], 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_in_toto_attestation_parses_our_statements(fmt: str, key: PrivateKey) -> None:
    statement_pb2 = pytest.importorskip("in_toto_attestation.v1.statement_pb2")
    wrapper = pytest.importorskip("in_toto_attestation.v1.statement")
    from google.protobuf import json_format

    statement = json.loads(base64.b64decode(_envelope(fmt, key)["payload"]))
    if fmt == "vsa":  # the proto's verifiedLevels is one string, the spec's an array (test_interop_vsa.py)
        statement["predicate"].pop("verifiedLevels")
    parsed = json_format.Parse(json.dumps(statement), statement_pb2.Statement())  # unknown fields refused
    wrapper.Statement.copy_from_pb(parsed).validate()
    assert parsed.predicate_type == statement["predicateType"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_we_verify_what_in_toto_signs(fmt: str, key: PrivateKey, key_files: tuple[Path, Path]) -> None:
    metadata = pytest.importorskip("in_toto.models.metadata")
    in_toto_keys = pytest.importorskip("in_toto.models._signer")
    private, _ = key_files
    payload = base64.b64decode(_envelope(fmt, key)["payload"])
    relaid = json.dumps(json.loads(payload), sort_keys=True, indent=2).encode()  # their layout, not ours
    theirs = metadata.Envelope(payload=relaid, payload_type=PAYLOAD_TYPE, signatures={})
    theirs.create_signature(in_toto_keys.load_crypto_signer_from_pkcs8_file(str(private)))
    assert _attestkit_accepts(fmt, theirs.to_dict(), key)
    other = PrivateKey.generate()
    assert not _attestkit_accepts(fmt, theirs.to_dict(), other, signer=key)
