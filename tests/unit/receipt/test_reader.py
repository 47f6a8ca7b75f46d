"""Strict reading of JSON and YAML receipts (contract section 2)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit.core.receipt.reader import MAX_RECEIPT_BYTES, parse_receipt
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.errors import MalformedReceiptError
from tests.conftest import make_receipt


def _json(receipt: dict[str, object]) -> bytes:
    return json.dumps(receipt).encode()


def test_json_and_yaml_give_the_same_signing_input() -> None:
    receipt = make_receipt(extra={"yes": "yes", "date": "2026-11-20", "n": 1e-7, "flag": True, "none": None})
    from_json = parse_receipt(_json(receipt), source="r.json", fmt="json")
    from_yaml = parse_receipt(receipt_to_text(receipt, "yaml").encode(), source="r.yaml", fmt="yaml")
    assert from_json.data == from_yaml.data == receipt
    assert from_json.signing_input == from_yaml.signing_input


def test_format_is_detected_from_content() -> None:
    receipt = make_receipt()
    assert parse_receipt(_json(receipt)).data == receipt
    assert parse_receipt(receipt_to_text(receipt, "yaml").encode()).data == receipt


@pytest.mark.parametrize(
    ("text", "code", "where"),
    [
        ('{"timestamp": "2026-11-20T10:00:00Z", "a": 1,\n "a": 2}', "duplicate-key", "line 2"),
        ('{"timestamp": "2026-11-20T10:00:00Z", "a": NaN}', "non-finite", ""),
        ('{"timestamp": "2026-11-20T10:00:00Z", "a": -Infinity}', "non-finite", ""),
        ('{"timestamp": "2026-11-20T10:00:00Z", "a": "\\udc00"}', "lone-surrogate", "/a"),
        ('{"timestamp": "2026-11-20T10:00:00Z", "a": -9007199254740992}', "integer-range", "/a"),
        ('{"timestamp": "2026-11-20T10:00:00Z", "a": 1e999}', "non-finite", "/a"),
        ('{"timestamp": "yesterday"}', "timestamp-format", "/timestamp"),
        ('{"steps": []}', "schema", "/timestamp"),
        (
            '{"timestamp": "2026-11-20T10:00:00Z", "steps": [{"outputs": [{"path": "a/../b", "hash": "blake3:'
            + "0" * 64
            + '"}]}]}',
            "unsafe-path",
            "/steps/0/outputs/0/path",
        ),
        ('{"timestamp": "2026-11-20T10:00:00Z", "pipeline_hash": "sha256:00"}', "digest-format", "/pipeline_hash"),
        ('{"timestamp": "2026-11-20T10:00:00Z",', "syntax", "line 1 column"),
    ],
)
def test_json_rejections(text: str, code: str, where: str) -> None:
    with pytest.raises(MalformedReceiptError) as info:
        parse_receipt(text.encode(), source="bad.json", fmt="json")
    assert info.value.code == code
    assert where in info.value.where
    assert str(info.value).startswith("bad.json: ")


def test_minus_zero_integer_and_integral_float_are_accepted() -> None:
    receipt = parse_receipt(b'{"timestamp": "2026-11-20T10:00:00Z", "a": -0, "b": 45.0, "c": 1e21}')
    assert receipt.signing_input == b'{"a":0,"b":45,"c":1e+21,"timestamp":"2026-11-20T10:00:00Z"}'


def test_depth_64_accepted_65_rejected() -> None:
    def doc(depth: int) -> bytes:  # the receipt object counts as the first container
        inner = "[" * (depth - 1) + "]" * (depth - 1)
        return ('{"timestamp": "2026-11-20T10:00:00Z", "a": ' + inner + "}").encode()

    parse_receipt(doc(64))
    with pytest.raises(MalformedReceiptError) as info:
        parse_receipt(doc(65))
    assert info.value.code == "depth"
    with pytest.raises(MalformedReceiptError) as deep:
        parse_receipt(doc(100_000))
    assert deep.value.code == "depth"


def test_size_limit() -> None:
    big = b'{"timestamp": "2026-11-20T10:00:00Z", "pad": "' + b"x" * MAX_RECEIPT_BYTES + b'"}'
    with pytest.raises(MalformedReceiptError) as info:
        parse_receipt(big)
    assert info.value.code == "size"


def test_bad_utf8_and_bom() -> None:
    with pytest.raises(MalformedReceiptError) as info:
        parse_receipt(b'{"timestamp": "\xff"}')
    assert info.value.code == "encoding" and "byte 15" in info.value.where
    with pytest.raises(MalformedReceiptError):
        parse_receipt(b'\xef\xbb\xbf{"timestamp": "2026-11-20T10:00:00Z"}')


YAML_HEAD = "timestamp: '2026-11-20T10:00:00Z'\n"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("a: &x 1\nb: *x\n", "yaml-anchor"),
        ("a: !!str 1\n", "yaml-tag"),
        ("a: !custom 1\n", "yaml-tag"),
        ("base: {a: 1}\nm:\n  <<: {a: 2}\n", "yaml-merge"),
        ("1: one\n", "non-string-key"),
        ("true: one\n", "non-string-key"),
        ("? [a]\n: 1\n", "non-string-key"),
        ("a: 1\na: 2\n", "duplicate-key"),
        ("a: .inf\n", "non-finite"),
        ("a: .nan\n", "non-finite"),
        ("a: 9007199254740993\n", "integer-range"),
        ("a: [1\n", "syntax"),
        ("---\na: 1\n---\nb: 2\n", "yaml-documents"),
    ],
)
def test_yaml_rejections(body: str, code: str) -> None:
    with pytest.raises(MalformedReceiptError) as info:
        parse_receipt((YAML_HEAD + body).encode(), source="bad.yaml", fmt="yaml")
    assert info.value.code == code, info.value
    assert "line" in info.value.where or code in ("integer-range", "non-finite")


def test_yaml_core_schema_scalars() -> None:
    text = (
        YAML_HEAD
        + "t: true\nf: false\ny: yes\nT: True\nn: null\ne:\nd: 2026-11-20\no: 0o17\nh: 0x1F\nx: 1.5e3\ns: '1'\n"
    )
    data = parse_receipt(text.encode(), fmt="yaml").data
    assert data["t"] is True and data["f"] is False
    assert data["y"] == "yes" and data["T"] == "True"
    assert data["n"] is None and data["e"] is None
    assert data["d"] == "2026-11-20"
    assert data["o"] == 15 and data["h"] == 31 and data["x"] == 1500.0 and data["s"] == "1"


def test_caller_mapping_is_not_modified() -> None:
    from attestkit.core.receipt.reader import receipt_from_mapping

    receipt = make_receipt(signature="ed25519:" + "00" * 64)
    before = json.dumps(receipt, sort_keys=True)
    receipt_from_mapping(receipt)
    assert json.dumps(receipt, sort_keys=True) == before


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_malformed(data: bytes) -> None:
    for fmt in ("json", "yaml", None):
        try:
            parse_receipt(data, fmt=fmt)
        except MalformedReceiptError:
            pass


json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=20,
).map(lambda v: json.dumps({"timestamp": "2026-11-20T10:00:00Z", "v": v}))


@settings(max_examples=300)
@given(
    json_text,
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["", "]", "}", ",", '"', "\\u", "\x00", "NaN", "1e999", "&a", "!!"]),
)
def test_mutated_json_only_raises_malformed(text: str, position: int, insert: str) -> None:
    mutated = text[:position] + insert + text[position:]
    for fmt in ("json", "yaml"):
        try:
            parse_receipt(mutated.encode("utf-8", "surrogatepass"), fmt=fmt)
        except MalformedReceiptError:
            pass


def test_yaml_writer_never_emits_aliases() -> None:
    shared = {"k": [1, 2]}
    receipt = make_receipt(a=shared, b=shared)
    text = receipt_to_text(receipt, "yaml")
    assert "&" not in text and "*" not in text
    assert parse_receipt(text.encode(), fmt="yaml").data == receipt


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=4))
def test_yaml_written_reads_back_as_written(pairs: list[tuple[str, str]]) -> None:
    """Any text survives the YAML writer (adversarial review: U+0085 was written raw in a
    single-quoted scalar and read back folded to a space, so `sign -o r.yaml` broke its signature)."""
    receipt = make_receipt(note={k: v for k, v in pairs} or {"": "\x85"})
    text = receipt_to_text(receipt, "yaml")
    assert parse_receipt(text.encode(), fmt="yaml").data == receipt


@pytest.mark.parametrize("value", ["a\x85  b", "\u2028", "x\u2029y", "\ufeffz", "tab\there", " lead", "trail "])
def test_yaml_line_break_characters_round_trip(value: str) -> None:
    receipt = make_receipt(note=value)
    assert parse_receipt(receipt_to_text(receipt, "yaml").encode(), fmt="yaml").data == receipt


def test_a_long_duplicate_key_is_found_in_linear_time_and_shown_cut() -> None:
    """Adversarial review: a regex built from a 16 MiB duplicate key took over 60 s and 4 GB, and the
    "one line" error quoted the whole key."""
    key = "é" * 2**20
    text = '{\n"' + key + '": 1,\n"' + key + '": 2\n}'
    with pytest.raises(MalformedReceiptError) as caught:
        parse_receipt(text.encode(), source="dup.json")
    message = str(caught.value)
    assert caught.value.code == "duplicate-key" and "line 3" in message and len(message) < 400, message[:500]
    assert f"({len(key)} characters)" in message
    short = "é" * 900  # YAML keys are at most 1024 characters
    yaml_text = f"a: 1\n'{short}': 1\n'{short}': 2\n"
    with pytest.raises(MalformedReceiptError) as yaml_caught:
        parse_receipt(yaml_text.encode(), source="dup.yaml", fmt="yaml")
    assert yaml_caught.value.code == "duplicate-key" and len(str(yaml_caught.value)) < 400


def test_a_lone_surrogate_in_the_signature_is_malformed() -> None:
    """Adversarial review: §2's no-lone-surrogates rule was not applied to ``signature`` (outside the
    signing input): the receipt was called well-formed and failed as ``signature-format``."""
    from attestkit import verify_receipt
    from attestkit.core.crypto.keys import PrivateKey

    text = json.dumps(make_receipt())[:-1] + ', "signature": "ed25519:\\ud800"}'
    with pytest.raises(MalformedReceiptError) as caught:
        parse_receipt(text.encode(), source="r.json")
    assert caught.value.code == "lone-surrogate" and "/signature" in str(caught.value)
    result = verify_receipt(text.encode(), trusted_keys=[PrivateKey.from_seed(b"\x01" * 32).public_key])
    assert not result.valid and result.checks[0].name == "format" and not result.checks[0].passed


def test_errors_quote_long_receipt_paths_cut() -> None:
    receipt = make_receipt()
    receipt["steps"][0]["outputs"][0]["path"] = "../" + "a" * 1_000_000
    with pytest.raises(MalformedReceiptError) as caught:
        parse_receipt(json.dumps(receipt).encode(), source="r.json")
    assert caught.value.code == "unsafe-path" and len(str(caught.value)) < 400
