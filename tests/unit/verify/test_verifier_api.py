"""The library's front door and result invariants: Verifier, derived validity, the one
chain-status enum, and errors that keep their code when re-wrapped."""

from __future__ import annotations

import json
from typing import Any

import pytest

import attestkit
from attestkit import Verifier, VerifyOptions, sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.chain import ChainStatus
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.result import Check, VerificationResult
from attestkit.errors import (
    CanonicalizationError,
    KeyringEditError,
    MalformedReceiptError,
    TrustStoreError,
    UsageError,
)
from tests.conftest import NOW, make_receipt

NOW_DT = parse_rfc3339(NOW)


def _verifier(key: PrivateKey) -> Verifier:
    return Verifier(VerifyOptions(trusted=TrustStore.of([key.public_key]), now=NOW_DT))


def test_verifier_verifies_bytes_mappings_and_many_in_order(key: PrivateKey) -> None:
    good = sign_receipt(make_receipt(), key)
    tampered = dict(good, pipeline_hash="blake3:" + "1" * 64)
    verifier = _verifier(key)
    assert verifier.verify(good).valid
    assert not verifier.verify(tampered).valid
    docs = [("a", json.dumps(good).encode()), ("b", json.dumps(tampered).encode()), ("c", b"{not json")]
    results = list(verifier.verify_many(docs))
    assert [r.source for r in results] == ["a", "b", "c"]
    assert [r.valid for r in results] == [True, False, False]
    assert results[2].checks[0].code == "syntax"
    assert "trusted keys=1" in repr(verifier) and key.public_key.text not in repr(verifier)


def test_verifier_refuses_what_is_not_options() -> None:
    with pytest.raises(UsageError, match="VerifyOptions"):
        Verifier({"trusted": []})  # type: ignore[arg-type]


def test_validity_is_derived_from_the_checks() -> None:
    passing = VerificationResult("r", (Check("format", True, "ok", "fine"),))
    failing = VerificationResult("r", (Check("format", True, "ok", "fine"), Check("trust", False, "revoked", "no")))
    assert passing.valid and not failing.valid
    assert not VerificationResult("r", ()).valid  # nothing checked is never valid
    with pytest.raises(TypeError):
        VerificationResult("r", (), valid=True)  # type: ignore[call-arg]


def test_to_json_cannot_be_overwritten_by_extra_members(key: PrivateKey) -> None:
    result = _verifier(key).verify(sign_receipt(make_receipt(), key))
    out = result.to_json()
    assert "transparency" not in out and not hasattr(result, "extra")
    assert out["chain_of_trust"] == "verified" and type(out["chain_of_trust"]) is str
    assert result.chain_of_trust is ChainStatus.VERIFIED


def test_chain_status_is_one_enum_with_the_contract_values() -> None:
    assert [s.value for s in ChainStatus] == ["verified", "untrusted", "revoked", "expired"]
    assert f"{ChainStatus.REVOKED}" == "revoked" and str(ChainStatus.EXPIRED) == "expired"


def test_re_wrapping_keeps_class_code_and_details() -> None:
    inner = KeyringEditError("revocation of k would be weakened", code="weakens-revocation")
    outer = inner.prefixed("ring.yaml: ")
    assert type(outer) is KeyringEditError and outer.code == inner.code == "weakens-revocation"
    assert str(outer) == "ring.yaml: revocation of k would be weakened" and str(inner).startswith("revocation")
    canon = CanonicalizationError("NaN is not JSON", pointer="/x", code="non-finite").prefixed("r.json: ")
    assert str(canon) == "r.json: NaN is not JSON at /x" and canon.code == "non-finite"
    malformed = MalformedReceiptError("bad", source="r.json", code="type").prefixed("bulk: ")
    assert malformed.code == "type" and str(malformed) == "bulk: r.json: bad"
    assert TrustStoreError("x").prefixed("p: ").args == ("p: x",)


def test_pipeline_error_is_in_the_one_hierarchy() -> None:
    assert attestkit.errors.PipelineError.code == "pipeline"
    assert issubclass(attestkit.errors.PipelineError, UsageError)


def test_exported_members_are_exactly_the_table() -> None:
    lazy: dict[str, Any] = attestkit._LAZY  # type: ignore[attr-defined]
    eager = {name for name in attestkit.errors.__all__ if name in attestkit.__all__}
    assert set(attestkit.__all__) == set(lazy) | eager | {"__version__"}
    assert len(attestkit.__all__) == len(set(attestkit.__all__))
    assert sorted(attestkit.__all__) == sorted(dir(attestkit))
