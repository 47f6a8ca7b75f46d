"""Only values of exactly a JSON builtin type are canonicalised: a subclass never decides the bytes.

``numpy.float64(45.5)`` put ``np.float64(45.5)`` (its repr) into the signing input; a str key
with its own ``__hash__`` gave two ``"environment"`` members, one with its own ``__lt__`` the
wrong member order, and each signed dict still verified VALID.
"""

from __future__ import annotations

import json
from collections import OrderedDict, UserDict
from typing import Any

import pytest

from attestkit import PrivateKey, sign_receipt, verify_receipt
from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.receipt.reader import receipt_from_mapping
from attestkit.errors import CanonicalizationError, MalformedReceiptError
from tests.conftest import make_receipt

KEY = PrivateKey.from_seed(b"\x42" * 32)


class ReprFloat(float):
    """Like numpy.float64: its repr is not the number's JSON form."""

    def __repr__(self) -> str:
        return f"np.float64({float.__repr__(self)})"


class HashKey(str):
    """Equal to a plain str of the same text, but hashed apart: a dict holds both."""

    def __hash__(self) -> int:
        return 12345

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other) and type(other) is HashKey


class ReversedKey(str):
    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


class SneakyDict(dict[str, Any]):
    def __getitem__(self, key: str) -> Any:
        return "not what is stored"


class Flag(int):
    pass


def _two_environments() -> dict[Any, Any]:
    receipt = make_receipt()
    receipt[HashKey("environment")] = {"evil": True}
    return receipt


CASES: list[tuple[str, Any]] = [
    ("float subclass", {"x": ReprFloat(45.5)}),
    ("int subclass", {"x": Flag(3)}),
    ("str subclass key (hash)", {HashKey("a"): 1}),
    ("str subclass key (order)", {ReversedKey("a"): 1, ReversedKey("b"): 2}),
    ("dict subclass", {"x": SneakyDict(a=1)}),
    ("list subclass", {"x": type("L", (list,), {})([1])}),
    ("nested in a list", [1, [ReprFloat(1.5)]]),
]


@pytest.mark.parametrize(("label", "value"), CASES, ids=[label for label, _ in CASES])
def test_a_subclass_is_refused(label: str, value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


def test_the_pointer_names_the_member() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize({"steps": [{"duration": ReprFloat(1.5)}]})
    assert caught.value.pointer == "/steps/0/duration"
    assert "ReprFloat" in str(caught.value)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: {**r, "total_duration_secs": ReprFloat(45.5)},
        lambda r: _two_environments(),
        lambda r: {ReversedKey(k): v for k, v in r.items()},
    ],
    ids=["repr-float", "two-environments", "reversed-order"],
)
def test_signing_or_verifying_such_a_dict_fails(tamper: Any) -> None:
    receipt = tamper(make_receipt())
    with pytest.raises(MalformedReceiptError):
        sign_receipt(receipt, KEY)
    signed = sign_receipt(make_receipt(), KEY)
    altered = tamper(signed)
    with pytest.raises(MalformedReceiptError):
        receipt_from_mapping(altered)
    assert not verify_receipt(altered, trusted_keys=[KEY.public_key]).valid


def test_plain_containers_still_verify() -> None:
    signed = sign_receipt(make_receipt(), KEY)
    nested = OrderedDict(signed)
    nested["steps"] = [OrderedDict(step) for step in signed["steps"]]
    for form in (OrderedDict(signed), UserDict(signed), nested):
        assert verify_receipt(form, trusted_keys=[KEY.public_key]).valid


def test_matches_an_independent_rfc8785() -> None:
    rfc8785 = pytest.importorskip("rfc8785")
    signed = sign_receipt(make_receipt(total_duration_secs=45.5), KEY)
    plain = json.loads(json.dumps(signed))
    unsigned = {k: v for k, v in plain.items() if k != "signature"}
    assert receipt_from_mapping(signed).signing_input == rfc8785.dumps(unsigned)
