"""DSSE / in-toto: envelopes attestkit writes verify with securesystemslib, and the reverse."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.intoto.export import make_envelope
from attestkit.core.intoto.statement import intoto_key_id
from attestkit.core.receipt.dsse import (
    MAX_SIGNATURES,
    MAX_VERIFICATIONS,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    find_signer,
    pae,
    statement_for,
)
from attestkit.core.receipt.reader import parse_receipt
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustedKey, TrustStore
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import InvalidError, UsageError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

NOW_DT = parse_rfc3339(NOW)


def _trusting(*keys: PrivateKey, **kw: Any) -> VerifyOptions:
    return VerifyOptions(trusted=TrustStore.of([k.public_key for k in keys]), now=NOW_DT, **kw)


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
    envelope = make_envelope(receipt, key, _trusting(key))
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
    """The key as securesystemslib users load it: from the PEM public key, its default key id."""
    signer = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return signer.SSlibKey.from_crypto(load_pem_public_key(key.public_key.to_pem()))


def test_securesystemslib_verifies_our_envelope(key: PrivateKey) -> None:
    dsse = pytest.importorskip("securesystemslib.dsse")
    envelope = dsse.Envelope.from_dict(make_envelope(sign_receipt(make_receipt(), key), key, _trusting(key)))
    sslib_key = _sslib_key(key)
    accepted = envelope.verify([sslib_key], 1)  # securesystemslib matches signatures by key id
    assert sslib_key.keyid in accepted and envelope.signatures[sslib_key.keyid].keyid == intoto_key_id(key.public_key)
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
        "export",
        str(receipt),
        "--format",
        "in-toto",
        "--key",
        str(key_file),
        "--public-key",
        key.public_key.text,
        "-o",
        str(tmp_path / "r.dsse.json"),
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
    envelope = make_envelope(sign_receipt(make_receipt(), key), key, _trusting(key))
    envelope["signatures"][0]["keyid"] = "f" * 64
    result = verify_receipt(envelope, trusted_keys=[other_key.public_key, key.public_key], now=NOW_DT)
    assert result.valid


# ---- issue 14 item 5: export never launders -------------------------------------------------


def _hand_made_envelope(receipt: dict[str, Any], key: PrivateKey, keyid: str | None = None) -> dict[str, Any]:
    """What the old export wrote for any receipt, checked or not: PAE over the statement, signed."""
    payload = canonicalize(statement_for(receipt))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": keyid or key.public_key.key_id,
                "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode(),
            }
        ],
    }


def _tampered(key: PrivateKey) -> dict[str, Any]:
    receipt = sign_receipt(make_receipt(), key)
    receipt["steps"][0]["exit_code"] = 0
    receipt["steps"][0]["command"] = "make release-without-tests"
    return receipt


def test_export_verifies_the_receipt_first(key: PrivateKey, other_key: PrivateKey) -> None:
    unsigned = make_receipt()
    untrusted = sign_receipt(make_receipt(), other_key)
    for receipt, failing in [(_tampered(key), "signature"), (unsigned, "signature"), (untrusted, "trust")]:
        with pytest.raises(InvalidError, match=rf"not exported: .*{failing}: ") as caught:
            make_envelope(receipt, key, _trusting(key))
        assert caught.value.code == "export-unverified" and caught.value.exit_code == 1
    with pytest.raises(InvalidError, match="not exported"):
        make_envelope(_tampered(key), key, VerifyOptions(integrity_only=True, now=NOW_DT))
    with pytest.raises(InvalidError, match=r"not exported: .*format"):
        make_envelope({"steps": 3}, key, _trusting(key))
    with pytest.raises(UsageError):
        make_envelope(sign_receipt(make_receipt(), key), key, VerifyOptions(now=NOW_DT))
    # Integrity-only, chosen explicitly, exports an intact receipt only under its own key: wrapping
    # another key's receipt would lend it the exporter's trust (adversarial review).
    with pytest.raises(InvalidError, match="integrity-only export must be signed with the receipt's own key"):
        make_envelope(untrusted, key, VerifyOptions(integrity_only=True, now=NOW_DT))
    own = make_envelope(untrusted, other_key, VerifyOptions(integrity_only=True, now=NOW_DT))
    assert verify_receipt(own, trusted_keys=[other_key.public_key], now=NOW_DT).valid
    assert not verify_receipt(own, trusted_keys=[key.public_key], now=NOW_DT).valid
    # A Receipt read from a file, and an envelope, are handled as well.
    parsed = parse_receipt(json.dumps(sign_receipt(make_receipt(), key)).encode(), source="r.json")
    assert make_envelope(parsed, key, _trusting(key))["payloadType"] == PAYLOAD_TYPE
    with pytest.raises(InvalidError, match="already a DSSE envelope"):
        make_envelope(make_envelope(parsed, key, _trusting(key)), key, _trusting(key))


def test_an_envelope_around_a_tampered_or_unsigned_receipt_is_invalid(key: PrivateKey) -> None:
    for receipt, why in [(_tampered(key), "does not verify"), (make_receipt(), "not signed")]:
        result = verify_receipt(_hand_made_envelope(receipt, key), trusted_keys=[key.public_key], now=NOW_DT)
        assert not result.valid
        check = next(c for c in result.checks if c.name == "signature")
        assert check.code == "inner-signature" and "receipt inside" in check.message and why in check.message
        assert not verify_receipt(_hand_made_envelope(receipt, key), integrity_only=True, now=NOW_DT).valid


def test_the_inner_signer_claim_needs_the_envelope_key(key: PrivateKey, other_key: PrivateKey) -> None:
    # The receipt claims release-manager and is signed by other_key; key (trusted) signs the envelope.
    claim = sign_receipt(make_receipt(), other_key, signer="release-manager@example.com")
    envelope = _hand_made_envelope(claim, key)
    anonymous = verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT)
    assert anonymous.valid and anonymous.signer is None
    assert "signer claim is ignored" in anonymous.checks[1].message
    named = TrustStore((TrustedKey(key.public_key, identity="exporter@example.com"),))
    result = verify_receipt(envelope, trusted_keys=named, now=NOW_DT)
    assert result.valid and result.signer == "exporter@example.com"
    assert result.to_dict()["signature_verification"]["signer"] == "exporter@example.com"
    # Policies see the envelope key's identity, never the inner claim.
    from attestkit.core.policy.loader import load_policy_text

    only_release = load_policy_text(
        "p.yaml",
        b"verification:\n  rules:\n    - {name: rm, type: signer-allowed, allowed_signers: [release-manager@example.com]}\n",
    )
    gated = verify_receipt(envelope, trusted_keys=named, now=NOW_DT, policies=[only_release])
    assert not gated.valid
    # When the envelope key is the receipt's own key, the claim is judged as for a receipt.
    own = sign_receipt(make_receipt(), key, signer="release-manager@example.com")
    liar = verify_receipt(_hand_made_envelope(own, key), trusted_keys=named, now=NOW_DT)
    assert not liar.valid and any(c.code == "signer-mismatch" for c in liar.checks)
    honest = verify_receipt(_hand_made_envelope(own, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert honest.valid and honest.signer == "release-manager@example.com"


def test_cli_export_refuses_what_does_not_verify(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(key.to_pem())
    key_file.chmod(0o600)
    out = tmp_path / "out.dsse.json"
    cases = {
        "tampered": write_json(tmp_path / "tampered.json", _tampered(key)),
        "unsigned": write_json(tmp_path / "unsigned.json", make_receipt()),
        "untrusted": write_json(tmp_path / "untrusted.json", sign_receipt(make_receipt(), other_key)),
    }
    for name, path in cases.items():
        refused = cli("export", str(path), "--key", str(key_file), "--public-key", key.public_key.text, "-o", str(out))
        assert refused.code == 1, (name, refused.err)
        assert_one_line_error(refused)
        assert "not exported" in refused.err and str(path) in refused.err
        assert not out.exists() and refused.out == ""
    no_trust = cli("export", str(cases["untrusted"]), "--key", str(key_file), "-o", str(out))
    assert no_trust.code == 2 and "no trusted key" in no_trust.err and not out.exists()
    tampered_integrity = cli("export", str(cases["tampered"]), "--key", str(key_file), "--integrity-only")
    assert tampered_integrity.code == 1 and tampered_integrity.out == ""
    laundering = cli("export", str(cases["untrusted"]), "--key", str(key_file), "--integrity-only", "-o", str(out))
    assert laundering.code == 1 and "the receipt's own key" in laundering.err and not out.exists()
    assert_one_line_error(laundering)
    own = write_json(tmp_path / "own.json", sign_receipt(make_receipt(), key))
    exported = cli("export", str(own), "--key", str(key_file), "--integrity-only", "-o", str(out))
    assert exported.code == 0, exported.err
    verified = cli("verify", str(out), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert verified.code == 0 and verified.json_lines()[0]["signature_verification"]["signer"] is None
    # An envelope the old export made around a tampered receipt no longer verifies.
    laundered = write_json(tmp_path / "laundered.dsse.json", _hand_made_envelope(_tampered(key), key))
    rejected = cli("verify", str(laundered), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert rejected.code == 1 and rejected.json_lines()[0]["valid"] is False


# ---- issue 15 item 2: bounded work per envelope ---------------------------------------------


@pytest.fixture()
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real Ed25519 checks (a pass-through spy: every call still verifies)."""
    from attestkit.core.crypto.keys import PublicKey

    calls: list[int] = []
    real = PublicKey.verify

    def counting(self: PublicKey, message: bytes, signature: bytes) -> bool:
        calls.append(len(message))
        return real(self, message, signature)

    monkeypatch.setattr(PublicKey, "verify", counting)
    return calls


def _big_envelope(key: PrivateKey, bogus: int, *, genuine: bool = True, keyid: str | None = None) -> dict[str, Any]:
    receipt = sign_receipt(make_receipt(notes="x" * (1 << 20)), key)  # a 1 MiB payload
    envelope = _hand_made_envelope(receipt, key, keyid)
    junk = [{"keyid": f"{i:016x}", "sig": base64.b64encode(i.to_bytes(4, "big") * 16).decode()} for i in range(bogus)]
    envelope["signatures"] = junk + (envelope["signatures"] if genuine else [])
    return envelope


def test_twenty_thousand_bogus_signatures_are_refused_unread(key: PrivateKey, verify_calls: list[int]) -> None:
    envelope = _big_envelope(key, 20_000)
    result = verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT)
    assert not result.valid and result.checks[0].code == "dsse-signatures"
    assert f"at most {MAX_SIGNATURES}" in result.checks[0].message
    assert verify_calls == []  # refused by the cap before any signature was checked


def test_the_work_per_envelope_is_bounded_whatever_the_trust_store(key: PrivateKey, verify_calls: list[int]) -> None:
    many = [PrivateKey.from_seed(bytes([i]) * 32) for i in range(100, 140)]
    envelope = _big_envelope(key, MAX_SIGNATURES, genuine=False)
    result = verify_receipt(envelope, trusted_keys=[k.public_key for k in many], now=NOW_DT)
    assert not result.valid and result.checks[1].code == "signature-budget"
    payload_checks = [n for n in verify_calls if n > 1 << 20]
    assert len(payload_checks) == MAX_VERIFICATIONS  # 8 signatures x 41 keys would be 328


def test_keys_named_by_key_id_are_tried_first(key: PrivateKey, verify_calls: list[int]) -> None:
    many = [PrivateKey.from_seed(bytes([i]) * 32) for i in range(100, 140)]
    envelope = _big_envelope(key, MAX_SIGNATURES - 1)  # the genuine signature comes last
    result = verify_receipt(envelope, trusted_keys=[*(k.public_key for k in many), key.public_key], now=NOW_DT)
    assert result.valid, [c.message for c in result.failed_checks]
    # One check of the envelope (the key its id names), one of the receipt inside.
    assert len([n for n in verify_calls if n > 1 << 20]) == 2


def test_find_signer_order_and_budget(key: PrivateKey, other_key: PrivateKey) -> None:
    message = b"payload"
    good = key.sign(message)
    bogus = [(f"{i:016x}", bytes([i]) * 64) for i in range(7)]
    keys = [other_key.public_key, key.public_key]
    found = find_signer(message, [*bogus, (key.public_key.key_id, good)], keys)
    assert (found.key, found.attempts, found.exhausted) == (key.public_key, 1, False)
    foreign = find_signer(message, [*bogus, ("sha256:whatever", good)], keys)
    assert foreign.key == key.public_key and foreign.attempts == 16  # other_key x 8, then key's 8th
    starved = find_signer(message, [*bogus, ("sha256:whatever", good)], keys, budget=15)
    assert (starved.key, starved.attempts, starved.exhausted) == (None, 15, True)
    short = find_signer(message, [(None, b"\x00" * 10)], keys)  # cannot verify: costs nothing
    assert (short.key, short.attempts, short.exhausted) == (None, 0, False)
    twice = find_signer(message, [(None, bytes(64)), ("x", bytes(64))], keys)
    assert twice.attempts == 2  # the same signature is checked once per key


def test_cli_refuses_an_envelope_over_the_signature_cap(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    path = write_json(tmp_path / "many.dsse.json", _big_envelope(key, 20_000))
    result = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 1
    line = result.json_lines()[0]
    assert line["valid"] is False and line["checks"][0]["code"] == "dsse-signatures"


def test_payload_text_after_padding_is_refused(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    """Adversarial review: the URL-safe fallback decoder stopped at the first padding, so base64 of a
    second statement appended to ``payload`` was unseen by attestkit (VALID) but read by `base64 -d`."""
    receipt = sign_receipt(make_receipt(note="pad"), key)
    envelope = make_envelope(receipt, key, _trusting(key))
    for filler in range(3):  # a payload whose base64 ends in padding
        if envelope["payload"].endswith("="):
            break
        envelope = make_envelope(sign_receipt(make_receipt(note="pad" + "x" * (filler + 1)), key), key, _trusting(key))
    assert envelope["payload"].endswith("=")
    signed = base64.b64decode(envelope["payload"])
    envelope["payload"] += base64.b64encode(b"\n" + signed.replace(b'"note"', b'"injected":1,"note"')).decode()
    write_json(tmp_path / "env.json", envelope)
    result = cli("verify", "env.json", "--public-key", key.public_key.text, "--now", NOW)
    assert result.code == 1 and "not base64" in result.out + result.err, result.out + result.err
    # URL-safe payloads, with or without padding, still read.
    for text in (base64.urlsafe_b64encode(signed).decode(), base64.urlsafe_b64encode(signed).decode().rstrip("=")):
        assert verify_receipt(dict(envelope, payload=text), trusted_keys=[key.public_key], now=NOW_DT).valid
