"""The fast reading path against the strict one: identical bytes, identical accept/reject.

The strict path (``parse_document`` + ``receipt_from_mapping``: the stdlib scanner with a
duplicate-key hook and the pure-Python RFC 8785 canonicaliser) is the specification. For every
input the fast path either declines (``None``) or returns exactly the strict path's object and
signing input; and ``parse_receipt`` (fast where it can) accepts and refuses exactly what the
strict path does, with the same error. Inputs: JSON texts built token by token (duplicate keys,
every number spelling, escapes of every kind, lone surrogates, astral keys, deep nesting,
random whitespace, byte damage), receipts written by every writer, and every JCS and strict
reading vector. Under CI the main property runs 100,000 cases.
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt import fast_reader
from attestkit.core.receipt.fast_reader import read_proven
from attestkit.core.receipt.reader import parse_document, parse_receipt, read_receipt_fast, receipt_from_mapping
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.errors import AttestkitError
from tests.conftest import IN_CI, VECTORS, external, make_receipt

MAIN_CASES = 100_000 if IN_CI else 2_000
RECEIPT_CASES = 5_000 if IN_CI else 300
TIMESTAMP = '"timestamp":"2026-11-20T10:00:00Z"'


# ---------------------------------------------------------------- the two paths


def _same(a: Any, b: Any) -> bool:
    """Deep equality that also tells 1 from 1.0, -0.0 from 0.0 and True from 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return bool(a == b)


def _strict(data: bytes) -> tuple[str, Any, Any]:
    """The specification's verdict: ("ok", data, signing input) or ("refused", code, message)."""
    try:
        receipt = receipt_from_mapping(parse_document(data, source="r.json", fmt=None), source="r.json")
    except AttestkitError as exc:
        return ("refused", exc.code, str(exc))
    return ("ok", receipt.data, receipt.signing_input)


def _served(data: bytes) -> tuple[str, Any, Any]:
    """``parse_receipt``'s verdict, fast path enabled."""
    try:
        receipt = parse_receipt(data, source="r.json")
    except AttestkitError as exc:
        return ("refused", exc.code, str(exc))
    return ("ok", receipt.data, receipt.signing_input)


def _canonical_unsigned(document: Any) -> bytes | None:
    try:
        return canonicalize({k: v for k, v in document.items() if k != "signature"})
    except AttestkitError:
        return None


def check_both_paths(data: bytes) -> bool:
    """Assert the two paths agree on *data*; whether the fast path served it."""
    assert fast_reader.ENABLED
    proven = read_proven(data)
    if proven is not None:
        value, signing_input = proven
        document = parse_document(data, source="r.json", fmt="json")  # must not raise
        assert _same(value, document)
        assert _canonical_unsigned(document) == signing_input
    strict, served = _strict(data), _served(data)
    assert strict[0] == served[0], (strict, served)
    if strict[0] == "ok":
        assert _same(strict[1], served[1])
        assert strict[2] == served[2]
    else:
        assert strict[1:] == served[1:]
    return proven is not None


# ---------------------------------------------------------------- JSON texts, token by token
# A plain generator seeded by Hypothesis (which replays failing seeds): drawing each token through
# Hypothesis strategies cost ~80 ms a case on a loaded machine, this well under 1 ms.

_WS = ["", "", "", "", " ", "\n", "\t", "\r\n  "]
_KEY_CHARS = [*'abAB:_-~/"\\é', "\x00", "\x1f", "\x7f", "\ue000", "\uffff", "\U0001f600", "\u20ac"]
_ODD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-0", "-0.0", "45.0", "1E2", "01", "1.", ".5", "+1", "1e-400"]
_ODD_STRINGS = ["\\ud800", "\\udfff", "\\udc00\\ud800", "\\uDBFF", "\x01", "\t", "\\x", "\\u12", "\\u003a", "\\\\u003a"]


def _escape_char(ch: str, rnd: random.Random) -> str:
    code = ord(ch)
    style = rnd.randrange(4)
    if ch in '"\\' or code < 0x20:
        style = max(style, 1)
    if style == 0:
        return ch
    if style == 1 and ch in '"\\/\b\f\n\r\t':
        return "\\" + {"\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}.get(ch, ch)
    if code >= 0x10000:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        return f"\\u{high:04x}\\u{low:04X}" if style == 2 else f"\\u{high:04X}\\u{low:04x}"
    return f"\\u{code:04x}" if style == 2 else f"\\u{code:04X}"


def _random_char(rnd: random.Random) -> str:
    pick = rnd.randrange(10)
    if pick < 5:
        return chr(rnd.randrange(0x20, 0x7F))
    if pick < 7:
        return rnd.choice(_KEY_CHARS)
    if pick < 8:
        return chr(rnd.randrange(0x80, 0x800))
    if pick < 9:
        code = rnd.randrange(0x800, 0x10000)
        return chr(code if not 0xD800 <= code < 0xE000 else 0xFFFD)
    return chr(rnd.randrange(0x10000, 0x110000))


def _string_token(rnd: random.Random, keyish: bool = False) -> str:
    chars = [rnd.choice(_KEY_CHARS) if keyish else _random_char(rnd) for _ in range(rnd.randrange(6 if keyish else 10))]
    body = "".join(_escape_char(ch, rnd) for ch in chars)
    if rnd.randrange(30) == 0:
        body += rnd.choice(_ODD_STRINGS)
    return '"' + body + '"'


def _number_token(rnd: random.Random) -> str:
    kind = rnd.randrange(7)
    if kind == 0:
        return str(rnd.randrange(-(2**70), 2**70) >> rnd.randrange(70))
    if kind == 1:
        return str(
            rnd.choice([2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64]) * rnd.choice([1, -1])
            + rnd.randrange(-2, 3)
        )
    if kind == 2:
        value = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isfinite(value):
            value = 1.5
        return rnd.choice([repr(value), orjson.dumps(value).decode(), f"{value:e}", f"{value:.17g}", f"{value:E}"])
    if kind == 3:
        text = str(rnd.randrange(10 ** rnd.randrange(1, 25)))
        if rnd.randrange(2):
            text += "." + str(rnd.randrange(10 ** rnd.randrange(1, 20))).zfill(rnd.randrange(1, 4))
        if rnd.randrange(2):
            text += rnd.choice("eE") + rnd.choice(["", "+", "-"]) + str(rnd.randrange(400))
        return rnd.choice(["", "-"]) + text
    if kind == 4:
        return rnd.choice(_ODD_NUMBERS)
    if kind == 5:
        return repr(float(rnd.randrange(-(10**6), 10**6)) / rnd.choice([1, 2, 4, 8, 10, 100, 1000]))
    return str(rnd.randrange(-1000, 1000)) + rnd.choice(["", ".5", ".25", ".0", "e1", ".125", "E+2", "e-2"])


def _scalar(rnd: random.Random) -> str:
    pick = rnd.randrange(10)
    if pick < 4:
        return _number_token(rnd)
    if pick < 8:
        return _string_token(rnd)
    return rnd.choice(["true", "false", "null", "True", "nul"])


def _value(rnd: random.Random, budget: list[int], depth: int = 0) -> str:
    if budget[0] <= 0 or rnd.randrange(3) == 0:
        budget[0] -= 1
        return _scalar(rnd)
    budget[0] -= 1
    if rnd.randrange(2):
        return (
            "[" + ",".join(_ws(rnd) + _value(rnd, budget, depth + 1) + _ws(rnd) for _ in range(rnd.randrange(4))) + "]"
        )
    return _object(rnd, budget, depth + 1)


def _ws(rnd: random.Random) -> str:
    return rnd.choice(_WS)


def _object(rnd: random.Random, budget: list[int], depth: int, head: str | None = None) -> str:
    keys = [_string_token(rnd, keyish=True) for _ in range(rnd.randrange(5))]
    if keys and rnd.randrange(4) == 0:  # a duplicate key, maybe spelled differently
        keys.append(_escape_twin(rnd.choice(keys), rnd))
    members = [_ws(rnd) + key + _ws(rnd) + ":" + _ws(rnd) + _value(rnd, budget, depth) + _ws(rnd) for key in keys]
    if head is not None:
        members.insert(rnd.randrange(len(members) + 1), head)
    return "{" + ",".join(members) + "}"


def _escape_twin(token: str, rnd: random.Random) -> str:
    """The same key, perhaps with one plain character written as an escape instead."""
    body = token[1:-1]
    plain = [i for i, ch in enumerate(body) if ch.isalnum() or ch in ":_-~"]
    if plain and rnd.randrange(2):
        i = rnd.choice(plain)
        body = body[:i] + f"\\u{ord(body[i]):04x}" + body[i + 1 :]
    return '"' + body + '"'


def _nested(rnd: random.Random) -> str:
    depth = rnd.randrange(55, 70)
    opener, closer = rnd.choice([("[", "]"), ('{"k":', "}")])
    return opener * depth + _scalar(rnd) + closer * depth


_HEADS = [TIMESTAMP, '"time\\u0073tamp":"2026-11-20T10:00:00Z"', TIMESTAMP + "," + TIMESTAMP, '"steps":[]', TIMESTAMP]
_SIGNATURES = ["", "", '"signature":"ed25519:ab"', '"signature":"a:b:c"', '"signature":1', '"signature":"x\\u003Ay"']


def random_document(rnd: random.Random) -> bytes:
    """One JSON text from the generator above, sometimes damaged."""
    head = rnd.choice(_HEADS)
    signature = rnd.choice(_SIGNATURES)
    if signature:
        head += "," + signature
    budget = [rnd.randrange(1, 20)]
    text = _object(rnd, budget, 1, head=head)
    if rnd.randrange(12) == 0:
        text = text[:-1] + ("," if len(text) > 2 else "") + '"deep":' + _nested(rnd) + "}"
    data = (_ws(rnd) + text + _ws(rnd)).encode("utf-8", "surrogatepass")
    damage = rnd.randrange(14)
    if damage == 0:  # change one byte
        at = rnd.randrange(len(data))
        data = data[:at] + bytes([rnd.randrange(256)]) + data[at + 1 :]
    elif damage == 1:
        data = data[: rnd.randrange(len(data) + 1)]
    elif damage == 2:
        data = b"\xef\xbb\xbf" + data
    return data


@settings(max_examples=MAIN_CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**64))
def test_json_texts_agree_on_both_paths(seed: int) -> None:
    # One seed per case: Hypothesis recording every draw of st.randoms() costs 30 times the check.
    data = random_document(random.Random(seed))
    try:
        check_both_paths(data)
    except AssertionError as exc:
        raise AssertionError(f"{data!r}: {exc}") from None


def test_generator_reaches_both_outcomes() -> None:
    """The generator is worth its cases: the fast path serves many texts and declines many."""
    rnd = random.Random(20)
    served = sum(check_both_paths(random_document(rnd)) for _ in range(3000))
    assert 300 < served < 2700, served


# ---------------------------------------------------------------- receipts from every writer

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)
_KEY = PrivateKey.from_seed(bytes(range(32)))


@settings(max_examples=RECEIPT_CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    extra=st.dictionaries(st.text(max_size=5), _json_values, max_size=4), writer=st.integers(0, 5), signed=st.booleans()
)
def test_receipts_from_every_writer_agree(extra: dict[str, Any], writer: int, signed: bool) -> None:
    receipt = make_receipt(extra=extra)
    if signed:
        try:
            receipt = sign_receipt(receipt, _KEY)
        except AttestkitError:  # outside the contract's values: still a text to read
            receipt["signature"] = "ed25519:" + "00" * 64
    try:
        texts = [
            receipt_to_text(receipt).encode(),
            json.dumps(receipt).encode(),
            json.dumps(receipt, separators=(",", ":"), sort_keys=True).encode(),
            orjson.dumps(receipt),
            json.dumps(receipt, indent=1, ensure_ascii=True).encode(),
        ]
    except (ValueError, TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits for orjson
        return
    try:
        texts.append(canonicalize(receipt))
    except AttestkitError:
        pass
    check_both_paths(texts[writer % len(texts)])


# ---------------------------------------------------------------- vectors


@pytest.mark.parametrize("name", ["arrays", "french", "structures", "unicode", "values", "weird"])
def test_jcs_vectors_on_both_paths(name: str) -> None:
    source = external(f"jcs/input/{name}.json").read_bytes().strip()
    expected = external(f"jcs/output/{name}.json").read_bytes()
    for inner in (source, expected):
        data = b"{" + TIMESTAMP.encode() + b',"v":' + inner + b"}"
        check_both_paths(data)
        proven = read_proven(data)
        if proven is not None:
            assert proven[1] == b'{"timestamp":"2026-11-20T10:00:00Z","v":' + expected + b"}"
        strict = _strict(data)
        assert strict[0] == "ok"
        assert strict[2] == b'{"timestamp":"2026-11-20T10:00:00Z","v":' + expected + b"}"


def test_es6_number_vectors_on_both_paths() -> None:
    import struct

    vectors = json.loads(external("jcs/es6_number_samples.json").read_text(encoding="utf-8"))["vectors"]
    served = 0
    for vector in vectors:
        value = struct.unpack(">d", bytes.fromhex(vector["ieee_hex"]))[0]
        spellings = {repr(value), orjson.dumps(value).decode()}
        if vector["expected"] is not None:
            spellings.add(vector["expected"])
        for spelling in spellings:
            data = ("{" + TIMESTAMP + ',"v":' + spelling + "}").encode()
            served += check_both_paths(data)
            if vector["expected"] is not None and spelling == repr(value):  # a float token, whatever its value
                assert _strict(data)[2] == ("{" + TIMESTAMP + ',"v":' + vector["expected"] + "}").encode()
    assert served > 0  # most samples are exponent forms, which the fast path leaves to the strict one


def test_strict_reading_vectors_on_both_paths() -> None:
    cases = json.loads((VECTORS / "receipts.json").read_text(encoding="utf-8"))["cases"]
    json_cases = [c for c in cases if c["format"] == "json"]
    assert json_cases
    served = 0
    for case in json_cases:
        data = bytes.fromhex(case["document_hex"]) if "document_hex" in case else case["document"].encode("utf-8")
        served += check_both_paths(data)
    assert served >= len([c for c in json_cases if c["expected"] == "valid"]) // 2


# ---------------------------------------------------------------- what the fast path serves and declines


def test_fast_path_serves_what_the_writers_write() -> None:
    receipt = sign_receipt(make_receipt(extra={"note": "café ☕", "n": 12.5, "deep": [[[{"a": -3}]]]}), _KEY)
    for data in (
        receipt_to_text(receipt).encode(),
        json.dumps(receipt).encode(),  # \u escapes for the non-ASCII text
        canonicalize(receipt),
    ):
        assert check_both_paths(data), data[:80]


@pytest.mark.parametrize(
    "member",
    [
        '"a":1,"a":1',  # duplicate key
        '"a":"x:y","a":"x:y"',
        '"a":"\\u003a","a\\u003A":1,"a:":1',
        '"a":9007199254740992',
        '"a":18446744073709551616',  # orjson reads it as a float
        '"a":-9223372036854775809',
        '"a":1e19',  # a float that could have been such an integer
        '"\U0001f600":1,"\ue000":2',  # code point order differs from UTF-16 order
        '"a":' + "[" * 64 + "]" * 64,  # 65 containers with the outer object
    ],
)
def test_fast_path_declines_outside_the_subset(member: str) -> None:
    data = ("{" + TIMESTAMP + "," + member + "}").encode()
    assert not check_both_paths(data)


@pytest.mark.parametrize(
    ("member", "canonical"),
    [
        ('"a":45.0', '"a":45'),
        ('"a":1e18', '"a":1000000000000000000'),
        ('"a":1.5e-9', '"a":1.5e-9'),
        ('"a":1E-7', '"a":1e-7'),
        ('"a":-0.0', '"a":0'),
        ('"a":[1.0,2.5,1e16]', '"a":[1,2.5,10000000000000000]'),
        ('"a":9.2e18', '"a":9200000000000000000'),
        ('"a":"x:1.0,"', '"a":"x:1.0,"'),  # looks like a number inside a string
    ],
)
def test_numbers_orjson_writes_differently_are_rewritten(member: str, canonical: str) -> None:
    data = ("{" + TIMESTAMP + "," + member + "}").encode()
    assert check_both_paths(data)
    proven = read_proven(data)
    assert proven is not None
    assert proven[1] == ("{" + canonical + "," + TIMESTAMP + "}").encode()


def test_deep_but_within_bounds_is_walked_and_served() -> None:
    data = ("{" + TIMESTAMP + ',"a":' + "[" * 63 + "]" * 63 + ',"b":' + "[[]," * 40 + "[]" + "]" * 40 + "}").encode()
    assert check_both_paths(data)


def test_not_a_receipt_is_left_to_the_strict_path() -> None:
    envelope = json.dumps({"payloadType": "x", "payload": "", "signatures": []}).encode()
    assert read_proven(envelope) is None
    assert read_proven(b"[1]") is None
    assert read_receipt_fast(b'{"steps":[]}') is None


def test_switched_off_everything_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    data = canonicalize(make_receipt())
    assert read_proven(data) is not None
    monkeypatch.setattr(fast_reader, "ENABLED", False)
    assert read_proven(data) is None
    assert parse_receipt(data).signing_input == canonicalize(make_receipt())


def test_switch_is_read_from_the_environment(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "from attestkit.core.receipt import fast_reader; print(fast_reader.ENABLED)"
    env = {"ATTESTKIT_READER": "strict", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "False"
