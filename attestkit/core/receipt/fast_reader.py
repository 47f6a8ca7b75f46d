"""A fast path for strict reading, serving only a subset where it provably agrees.

The specification is the pure-Python reader (:mod:`.reader`) and canonicaliser
(:mod:`attestkit.core.crypto.canonical`). This module parses with ``orjson`` and serialises
the signing input with ``orjson`` (sorted keys, 53-bit integers), then accepts the result only
when every rule of contract section 2 is shown to hold and the bytes are shown to be exactly
RFC 8785. Anything it cannot show returns ``None`` and the caller reads strictly, so the
accept/reject decision and the signing input are the strict path's by construction
(``tests/unit/receipt/test_fast_path_differential.py`` checks it on hundreds of thousands of inputs).

What ``orjson`` enforces on its own (verified by the differential test): UTF-8 only, no byte
order mark, no lone surrogates (escaped or encoded), no NaN/Infinity literals, no control
characters in strings, no trailing content; with ``OPT_STRICT_INTEGER`` no integer beyond
+/-(2^53-1) serialises. What this module adds:

* **Duplicate keys** (``orjson`` keeps the last silently). Count colons: in the input, every
  member contributes one and every colon inside a string one more (written ``:`` or as a
  ``\\u003a`` escape, which we also count, perhaps too often). ``orjson``'s compact output
  writes exactly one colon per member plus the strings' colons and never escapes ``:``. A
  duplicate key drops a member (and its value's strings) from the output, so the output has
  fewer colons; equal counts prove there was none.
* **Numbers**: ``orjson`` writes an integer as RFC 8785 does, and a float too except in
  exponent form or with a ``.0`` fraction (checked on 5 million floats). When such a token
  appears (or the text merely looks like one inside a string), the signing input is written
  again with every float replaced by the specification's own :func:`format_number` text.
  ``orjson`` parses an integer literal beyond 64 bits as a float (the strict path refuses it),
  so a float of magnitude 2^63 or more is left to the strict path.
* **Key order**: ``orjson`` sorts by code point, RFC 8785 by UTF-16 unit; the two agree unless a
  key holds a character beyond the BMP, so output with any 4-byte UTF-8 sequence is refused.
* **Depth**: at most :data:`MAX_DEPTH` brackets in all proves the nesting bound without a walk;
  larger documents are walked.

Set ``ATTESTKIT_READER=strict`` to switch the fast path off (the whole test suite runs both ways).
"""

from __future__ import annotations

import os
import re
from typing import Any

from attestkit.core.crypto.canonical import MAX_DEPTH, format_number
from attestkit.errors import CanonicalizationError

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; without it everything is strict
    orjson = None  # type: ignore[assignment]

ENABLED = orjson is not None and os.environ.get("ATTESTKIT_READER", "").lower() != "strict"
"""Whether :func:`read_proven` may serve anything (``False``: every read is strict)."""

# The two ways orjson's text for a float can differ from ECMAScript's: an integral value written
# with ".0" (always at the end of the token, before ',', ']' or '}'), and an exponent (orjson
# always writes its sign). Either pattern inside a string only costs the rewrite. Two searches
# with a literal first character: an alternation would scan byte by byte, ten times slower.
_INTEGRAL_FLOAT = re.compile(rb"\.0[,\]}]")
# Every byte but the colon and the two openers, deleted to count those three in one pass.
_NOT_COUNTED = bytes(b for b in range(256) if b not in b":[{")
_BEYOND_BMP = re.compile(rb"[\xf0-\xf7]")
_MAX_BYTES = 32 * 1024 * 1024
_OPTIONS = 0 if orjson is None else orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_FLOAT_FROM_INTEGER = 2.0**63  # orjson parses integer literals outside [-2^63, 2^64) as floats


class _Decline(Exception):
    pass


def _ecmascript_numbers(node: Any) -> Any:
    """A copy of *node* (nesting already bounded) with floats as RFC 8785 number fragments."""
    t = type(node)
    if t is dict:
        return {key: _ecmascript_numbers(item) for key, item in node.items()}
    if t is list:
        return [_ecmascript_numbers(item) for item in node]
    if t is float:
        if not -_FLOAT_FROM_INTEGER < node < _FLOAT_FROM_INTEGER:
            raise _Decline
        try:
            return orjson.Fragment(format_number(node).encode())
        except CanonicalizationError:
            raise _Decline from None
    return node


def _depth_within(value: Any, limit: int) -> bool:
    """Whether *value* nests at most *limit* containers (the outermost counts as 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        children = node.values() if type(node) is dict else node
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return True


def read_proven(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    """Parse receipt bytes on the fast path: ``(object, signing input)`` or ``None``.

    ``None`` means "not shown to be in the subset": read *data* strictly instead. Only a JSON
    object with a ``timestamp`` member is served (so never a DSSE envelope, whose rules live
    elsewhere), and only when its ``signature``, if any, is a string. The signing input is the
    RFC 8785 form of the object without ``signature``.
    """
    if not ENABLED or len(data) > _MAX_BYTES:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(value) is not dict or "timestamp" not in value:
        return None
    extra = 0
    if "signature" in value:
        signature = value["signature"]
        if type(signature) is not str:
            return None
        unsigned = value.copy()
        del unsigned["signature"]
        extra = 1 + signature.count(":")
    else:
        unsigned = value
    try:
        signing_input = orjson.dumps(unsigned, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return None
    colons = data.count(b":")
    if b"\\" in data and b"\\u003" in data:
        colons += data.count(b"\\u003a") + data.count(b"\\u003A")
    counted = signing_input.translate(None, _NOT_COUNTED)
    if colons != counted.count(b":") + extra:
        return None
    if not signing_input.isascii() and _BEYOND_BMP.search(signing_input) is not None:
        return None
    if len(counted) - colons + extra > MAX_DEPTH and not _depth_within(unsigned, MAX_DEPTH):
        return None
    if (
        _INTEGRAL_FLOAT.search(signing_input) is not None
        or b"e-" in signing_input
        or (b"+" in signing_input and b"e+" in signing_input)
    ):
        try:
            signing_input = orjson.dumps(_ecmascript_numbers(unsigned), option=_OPTIONS)
        except (_Decline, orjson.JSONEncodeError):
            return None
    return value, signing_input


__all__ = ["ENABLED", "read_proven"]
