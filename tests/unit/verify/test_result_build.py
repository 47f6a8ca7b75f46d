"""The verifier's hot-path constructors make exactly the objects the dataclass constructors make."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit.core.policy.base import Violation
from attestkit.core.trust.chain import ChainLink, ChainStatus
from attestkit.core.verify.result import Check, VerificationResult

_text = st.text(max_size=20)
_optional = st.none() | _text


@given(_text, st.booleans(), _text, _text)
def test_check_hot_path_equals_the_constructor(name: str, passed: bool, code: str, message: str) -> None:
    fast = Check._passed_or_failed(name, passed, code, message)
    slow = Check(name, passed, code, message)
    assert fast == slow and repr(fast) == repr(slow) and fast.to_json() == slow.to_json()
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(Check)}  # no field left unset
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.passed = not passed  # type: ignore[misc]


@given(
    source=_text,
    signature_valid=st.booleans(),
    signer=_optional,
    public_key=_optional,
    key_id=_optional,
    chain_of_trust=st.sampled_from(list(ChainStatus)),
    timestamp_valid=st.booleans(),
    age_hours=st.none() | st.floats(allow_nan=False),
    violations=st.lists(st.builds(Violation, _text, _text), max_size=2).map(tuple),
    chain=st.lists(st.builds(ChainLink, _text, _text, _optional, _text), max_size=2).map(tuple),
    transparency=st.none() | st.just({"log": "x"}),
    passed=st.booleans(),
)
def test_result_hot_path_equals_the_constructor(passed: bool, **fields: object) -> None:
    checks = (Check("format", True, "ok", "m"), Check("signature", passed, "ok", "m"))
    fast = VerificationResult._checked(checks=checks, **fields)  # type: ignore[arg-type]
    slow = VerificationResult(checks=checks, **fields)  # type: ignore[arg-type]
    assert fast == slow and repr(fast) == repr(slow)
    assert fast.to_dict() == slow.to_dict() and fast.valid is slow.valid is passed
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(VerificationResult)}
    assert pickle.loads(pickle.dumps(fast)) == slow
