"""RFC 8785 canonicalisation: external vectors, rfc8785 as an independent reference, errors."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit.core.crypto.canonical import canonicalize, format_number
from attestkit.errors import CanonicalizationError
from tests.conftest import external, load_json

JCS_NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", JCS_NAMES)
def test_cyberphone_jcs_pairs(name: str) -> None:
    source = json.loads(external(f"jcs/input/{name}.json").read_text(encoding="utf-8"))
    expected = external(f"jcs/output/{name}.json").read_bytes()
    hex_form = bytes.fromhex(external(f"jcs/outhex/{name}.txt").read_text().replace(" ", "").strip())
    assert canonicalize(source) == expected == hex_form


def test_es6_number_samples() -> None:
    vectors = load_json(external("jcs/es6_number_samples.json"))["vectors"]
    assert len(vectors) == 28
    for vector in vectors:
        value = struct.unpack(">d", bytes.fromhex(vector["ieee_hex"]))[0]
        if vector["expected"] is None:
            with pytest.raises(CanonicalizationError):
                canonicalize(value)
        else:
            assert format_number(value) == vector["expected"], vector


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (45.0, "45"),
        (1e-7, "1e-7"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (0.000001, "0.000001"),
        (-1.5, "-1.5"),
    ],
)
def test_contract_number_examples(value: float, text: str) -> None:
    assert canonicalize(value).decode() == text


def test_keys_sorted_by_utf16_code_units() -> None:
    # U+1F600 is a surrogate pair (D83D ...) in UTF-16 and sorts before U+E000.
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert canonicalize(value) == rfc8785.dumps(value)
    assert canonicalize(value).decode().index("\U0001f600") < canonicalize(value).decode().index("\ue000")


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


@settings(max_examples=400)
@given(json_values)
def test_agrees_with_rfc8785_package(value: Any) -> None:
    if _has_lone_surrogate(value):
        with pytest.raises(CanonicalizationError):
            canonicalize(value)
        return
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(value: float) -> None:
    text = format_number(value)
    assert float(text) == value or (value == 0 and text == "0")
    assert text == rfc8785.dumps(value).decode()


@pytest.mark.parametrize(
    ("value", "code", "pointer"),
    [
        ({"a": [1, math.nan]}, "non-finite", "/a/1"),
        ({"a": {"b": 2**53}}, "integer-range", "/a/b"),
        ({"x/y": "\ud800"}, "lone-surrogate", "/x~1y"),
        ({1: "a"}, "non-string-key", ""),
        ({"a": object()}, "not-json", "/a"),
    ],
)
def test_rejections_name_code_and_pointer(value: Any, code: str, pointer: str) -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonicalize(value)
    assert info.value.code == code
    assert info.value.pointer == pointer


def test_depth_limit_is_64_containers() -> None:
    ok: Any = 1
    for _ in range(64):
        ok = [ok]
    assert canonicalize(ok).startswith(b"[" * 64)
    with pytest.raises(CanonicalizationError) as info:
        canonicalize([ok])
    assert info.value.code == "depth"


def test_integer_limits_are_inclusive() -> None:
    assert canonicalize([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"
