"""RFC 8785 (JSON Canonicalization Scheme) serialisation.

The same single pass also enforces the value rules of the contract (finite numbers,
integers within +/-(2**53 - 1), no lone surrogates, string keys, nesting at most 64), so a
value that canonicalises is also a value attestkit accepts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from attestkit.errors import CanonicalizationError

MAX_DEPTH = 64
MAX_SAFE_INTEGER = 2**53 - 1

_encode_string: Callable[[str], str] = encode_basestring


def _pointer_token(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def format_number(value: float) -> str:
    """Return *value* in ECMAScript ``Number.prototype.toString`` form."""
    text = repr(value)
    # repr() already gives the shortest round-trip digits; outside [1e-4, 1e16) or for
    # integral values its layout differs from ECMAScript's, so re-layout those digits.
    if "e" not in text and not text.endswith(".0") and text not in ("nan", "inf", "-inf"):
        return text
    if value != value or value in (float("inf"), float("-inf")):
        raise CanonicalizationError("NaN and Infinity are not allowed", code="non-finite")
    if value == 0:
        return "0"
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    if int_part.strip("0") == "":
        stripped = frac_part.lstrip("0")
        point = exponent - (len(frac_part) - len(stripped))
        digits = stripped
    else:
        digits = int_part + frac_part
        point = len(int_part) + exponent
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        body = digits + "0" * (point - k)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * (-point) + digits
    else:
        e = point - 1
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + body


def _check_string(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise CanonicalizationError("lone surrogate in string", code="lone-surrogate") from None


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


# Containers whose members are read as the builtins store them. Any other subclass, and every
# subclass of str, int or float, is refused: its own __repr__, __hash__, __lt__ or __getitem__
# would decide the signing bytes (or what a policy later reads) instead of its value.
_DICTS = (dict, OrderedDict)
_ARRAYS = (list, tuple)


def _not_json(value: object) -> CanonicalizationError:
    t = type(value)
    base = next((b for b in (str, bool, int, float, dict, list, tuple) if isinstance(value, b)), None)
    hint = f" (a subclass of {base.__name__}: convert it to a plain {base.__name__})" if base is not None else ""
    return CanonicalizationError(f"value of type {t.__name__} is not JSON{hint}", code="not-json")


def canonicalize(value: Any) -> bytes:
    """Serialise *value* as RFC 8785 canonical JSON, UTF-8 encoded.

    Raises :class:`CanonicalizationError` (with a JSON pointer) for values the contract
    does not allow, and for any value whose type is not exactly a JSON builtin (``dict``,
    ``OrderedDict``, ``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``).
    """
    # Long by design: one recursive closure, so the hot path pays no call per value (benchmarks/README.md).
    parts: list[str] = []
    append = parts.append
    encode = _encode_string
    # Local names and exact-type checks first: this loop is the verifier's hot path.
    str_, dict_, list_, float_, int_ = str, dict, list, float, int
    dicts, arrays = _DICTS, _ARRAYS

    def emit(node: Any, depth: int) -> None:
        # Long by design: the recursive closure of canonicalize: one branch per JSON type.
        t = type(node)
        if t is str_:
            if not node.isascii():
                _check_string(node)
            append(encode(node))
            return
        if t is dict_ or t in dicts:
            if depth >= MAX_DEPTH:
                raise CanonicalizationError(f"nesting deeper than {MAX_DEPTH} containers", code="depth")
            keys = list_(node)
            try:
                joined = "".join(keys)
            except TypeError:
                bad = next(k for k in keys if not isinstance(k, str_))
                raise CanonicalizationError(f"object key {bad!r} is not a string", code="non-string-key") from None
            if joined.isascii():
                keys.sort()
            else:
                for key in keys:
                    try:
                        _check_string(key)
                    except CanonicalizationError as exc:
                        exc.pointer = "/" + _pointer_token(key) + exc.pointer
                        raise
                keys.sort(key=_utf16_key)
            sep = "{"
            for key in keys:
                if type(key) is not str_:  # a subclass's __hash__ or __lt__ decided membership and order
                    raise CanonicalizationError(
                        f"object key of type {type(key).__name__} is a str subclass, not a plain string",
                        code="non-string-key",
                    )
                append(sep)
                sep = ","
                append(encode(key))
                append(":")
                item = node[key]
                if type(item) is str_ and item.isascii():
                    append(encode(item))
                    continue
                try:
                    emit(item, depth + 1)
                except CanonicalizationError as exc:
                    exc.pointer = "/" + _pointer_token(key) + exc.pointer
                    raise
            append("}" if sep == "," else "{}")
            return
        if t is list_ or t in arrays:
            if depth >= MAX_DEPTH:
                raise CanonicalizationError(f"nesting deeper than {MAX_DEPTH} containers", code="depth")
            sep = "["
            for index, item in enumerate(node):
                append(sep)
                sep = ","
                try:
                    emit(item, depth + 1)
                except CanonicalizationError as exc:
                    exc.pointer = "/" + str(index) + exc.pointer
                    raise
            append("]" if sep == "," else "[]")
            return
        if node is True:
            append("true")
        elif node is False:
            append("false")
        elif node is None:
            append("null")
        elif t is int_:
            if -MAX_SAFE_INTEGER <= node <= MAX_SAFE_INTEGER:
                append(int_.__repr__(node))
            else:
                raise CanonicalizationError("integer outside +/-(2^53-1)", code="integer-range")
        elif t is float_:
            append(format_number(node))
        else:
            raise _not_json(node)

    emit(value, 0)
    return "".join(parts).encode("utf-8")


__all__ = ["MAX_DEPTH", "MAX_SAFE_INTEGER", "canonicalize", "format_number"]
