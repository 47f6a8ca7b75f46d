"""Strict reading of receipts from JSON or YAML bytes (contract section 2).

Parsing, value validation and canonicalisation of the signing input happen in one pass:
the result is a :class:`Receipt` holding the data and its exact signing input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from attestkit.core.crypto.canonical import MAX_DEPTH, canonicalize
from attestkit.core.receipt.shape import check_receipt_shape
from attestkit.core.textsafe import shown_key
from attestkit.errors import ArgumentTypeError, CanonicalizationError, MalformedReceiptError

MAX_RECEIPT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Receipt:
    """A receipt that passed strict reading, with the bytes its signature covers.

    Only the reader (:func:`parse_receipt`, :func:`receipt_from_mapping`) makes a complete one.
    The signing input is never taken from a caller: it is derived from ``data`` (a copy made
    with ``dataclasses.replace`` or a ``Receipt(data=...)`` built by hand derives it afresh), and
    the verifier re-reads every ``Receipt`` it is handed, so a changed ``data`` cannot ride on
    the signature of the original. Treat ``data`` as read-only.
    """

    data: dict[str, Any]
    source: str = "<receipt>"
    # Set by the reader only (init=False: replace() and callers cannot supply them).
    _signing_input: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _timestamp: datetime | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def signing_input(self) -> bytes:
        """RFC 8785 bytes of ``data`` without ``signature``: what the signature covers."""
        if self._signing_input is not None:
            return self._signing_input
        return canonicalize({k: v for k, v in self.data.items() if k != "signature"})

    @property
    def timestamp(self) -> datetime | None:
        """The ``timestamp`` parsed by the shape check (``None`` for a receipt not built by the reader)."""
        return self._timestamp

    @classmethod
    def _read(cls, data: dict[str, Any], signing_input: bytes, source: str, timestamp: datetime | None) -> Receipt:
        receipt = cls(data=data, source=source)
        object.__setattr__(receipt, "_signing_input", signing_input)
        object.__setattr__(receipt, "_timestamp", timestamp)
        return receipt


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


class _LongInteger(Exception):
    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


def _parse_int(text: str) -> int:
    # Python's int() refuses more than 4,300 digits with a bare ValueError; no such literal
    # could lie within +/-(2^53-1) anyway.
    if len(text) > 400:
        raise _LongInteger(len(text))
    return int(text)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _duplicate_location(text: str, key: str) -> str:
    """``line N`` of the key's second occurrence as written without escapes; "" if not found so.

    Plain substring search, linear in the text: a regex built from a long key cost minutes.
    """
    needle = json.dumps(key, ensure_ascii=False)
    seen, start = 0, 0
    while (found := text.find(needle, start)) >= 0:
        start = found + len(needle)
        if text[start:].lstrip(" \t\r\n")[:1] == ":":
            seen += 1
            if seen == 2:
                return f"line {_line_of(text, found)}"
    return ""


def decode_text(data: bytes, source: str) -> str:
    """Decode receipt bytes as strict UTF-8 (no BOM), enforcing the size limit."""
    if len(data) > MAX_RECEIPT_BYTES:
        raise MalformedReceiptError(f"receipt is {len(data)} bytes; the limit is 32 MiB", source=source, code="size")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedReceiptError(
            "not valid UTF-8", source=source, where=f"byte {exc.start}", code="encoding"
        ) from None
    if text.startswith("\ufeff"):
        raise MalformedReceiptError("byte order mark is not allowed", source=source, where="byte 0", code="encoding")
    return text


def parse_json_text(text: str, source: str) -> Any:
    """Parse JSON text rejecting duplicate keys and NaN/Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_object_pairs, parse_constant=_reject_constant, parse_int=_parse_int)
    except _LongInteger as exc:
        raise MalformedReceiptError(
            f"integer literal of {exc.length} characters is outside +/-(2^53-1)", source=source, code="integer-range"
        ) from None
    except _DuplicateKey as exc:
        raise MalformedReceiptError(
            f"duplicate object key {shown_key(exc.key)}",
            source=source,
            where=_duplicate_location(text, exc.key),
            code="duplicate-key",
        ) from None
    except json.JSONDecodeError as exc:
        raise MalformedReceiptError(
            f"invalid JSON: {exc.msg}",
            source=source,
            where=f"line {exc.lineno} column {exc.colno}",
            code="syntax",
        ) from None
    except ValueError as exc:
        raise MalformedReceiptError(
            f"{exc} is not allowed (NaN and Infinity are not JSON numbers)",
            source=source,
            code="non-finite",
        ) from None
    except RecursionError:
        raise MalformedReceiptError(
            f"nesting deeper than {MAX_DEPTH} containers", source=source, code="depth"
        ) from None


def _looks_like_json(text: str) -> bool:
    stripped = text.lstrip(" \t\r\n")
    return stripped[:1] in ("{", "[", '"') or stripped == ""


def parse_document(data: bytes, *, source: str = "<receipt>", fmt: str | None = None) -> Any:
    """Parse strict JSON or YAML bytes into plain Python values (no receipt rules)."""
    text = decode_text(data, source)
    if fmt is None:
        fmt = "json" if _looks_like_json(text) else "yaml"
    if fmt == "json":
        return parse_json_text(text, source)
    from attestkit.core.receipt.yaml_reader import parse_yaml_text

    return parse_yaml_text(text, source)


def read_receipt_fast(data: bytes, *, source: str = "<receipt>") -> Receipt | None:
    """A receipt read on the proven fast path (:mod:`.fast_reader`), or ``None``.

    ``None`` when *data* lies outside the subset the fast path serves: read it strictly
    (:func:`parse_receipt` does both). Raises :class:`MalformedReceiptError` only for what the
    strict path would refuse with the same error (the shape rules, checked once here).
    """
    from attestkit.core.receipt.fast_reader import read_proven

    proven = read_proven(data)
    if proven is None:
        return None
    value, signing_input = proven
    return Receipt._read(value, signing_input, source, check_receipt_shape(value, source))


def receipt_from_mapping(obj: Any, *, source: str = "<receipt>") -> Receipt:
    """Validate a parsed receipt object and compute its signing input.

    The caller's object is never modified.
    """
    if not isinstance(obj, Mapping):
        raise MalformedReceiptError(
            f"a receipt must be a JSON object, not {_json_type(obj)}", source=source, code="type"
        )
    from attestkit.core.receipt.envelope import is_envelope

    if is_envelope(obj):  # said as such, not as a receipt missing its timestamp
        raise MalformedReceiptError(
            "is a DSSE envelope (attestkit export's output), not a receipt: use the receipt it was made "
            "from (`attestkit verify` reads envelopes too)",
            source=source,
            code="envelope",
        )
    # One snapshot: the signing input and the data checks read are the same members (a mapping's
    # items() and dict(obj) can disagree).
    data = dict(obj)
    odd_key = next((k for k in data if type(k) is not str), None)
    if odd_key is not None:  # its own __eq__ could pass it off as "signature", outside the signing input
        raise MalformedReceiptError(
            f"object key of type {type(odd_key).__name__} is not a plain string",
            source=source,
            where="/",
            code="non-string-key",
        )
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    try:
        signing_input = canonicalize(unsigned)
    except CanonicalizationError as exc:
        raise MalformedReceiptError(exc.reason, source=source, where=exc.pointer or "/", code=exc.code) from None
    if "signature" in data and type(data["signature"]) is not str:
        raise MalformedReceiptError("signature must be a string", source=source, where="/signature", code="type")
    if "signature" in data and not data["signature"].isascii():
        try:  # the one member outside the signing input: §2's rules hold for it too
            data["signature"].encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedReceiptError(
                "lone surrogate in string", source=source, where="/signature", code="lone-surrogate"
            ) from None
    timestamp = check_receipt_shape(data, source)
    return Receipt._read(data, signing_input, source, timestamp)


def parse_receipt(data: bytes, *, source: str = "<receipt>", fmt: str | None = None) -> Receipt:
    """Strictly read a receipt from JSON or YAML bytes.

    *fmt* is ``"json"``, ``"yaml"`` or ``None`` (detected from the content). Raises
    :class:`MalformedReceiptError` naming the source, the rule and where.
    """
    ArgumentTypeError.check(data, (bytes, bytearray), "receipt data")
    ArgumentTypeError.check(source, str, "source")
    if fmt != "yaml":
        receipt = read_receipt_fast(data, source=source)
        if receipt is not None:
            return receipt
    return receipt_from_mapping(parse_document(data, source=source, fmt=fmt), source=source)


def format_for_name(name: str) -> str | None:
    """The receipt format implied by a file name's extension, if any."""
    lowered = name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


__all__ = [
    "MAX_RECEIPT_BYTES",
    "Receipt",
    "decode_text",
    "format_for_name",
    "parse_document",
    "parse_json_text",
    "parse_receipt",
    "read_receipt_fast",
    "receipt_from_mapping",
]
