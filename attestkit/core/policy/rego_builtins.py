"""Builtins attestkit supplies to the embedded engine where its own differ from OPA (Go).

Each one either returns exactly what OPA returns or raises, which makes the evaluation fail
("could not check", exit 2): never a different value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: operand 1 must be string")
    return value


def _simple_case(name: str, value: Any, convert: Callable[[str], str]) -> str:
    # Go maps rune by rune (simple case mapping); Python/Rust use full mappings (ß -> SS). Where
    # the full mapping is one character it equals the simple one; otherwise refuse.
    out = []
    for char in _string(name, value):
        mapped = convert(char)
        if len(mapped) != 1:
            raise ValueError(f"{name}: {char!r} has no one-character case mapping attestkit can match to OPA's")
        out.append(mapped)
    return "".join(out)


def go_upper(value: Any) -> str:
    """OPA's ``upper``."""
    return _simple_case("upper", value, str.upper)


def go_lower(value: Any) -> str:
    """OPA's ``lower``."""
    return _simple_case("lower", value, str.lower)


def _digest(name: str, algorithm: str) -> Callable[[Any], str]:
    def digest(value: Any) -> str:
        return hashlib.new(algorithm, _string(name, value).encode("utf-8")).hexdigest()

    return digest


def go_count(value: Any) -> int:
    """OPA's ``count``: runes of a string (regorus counts UTF-16 units), members of a collection."""
    if isinstance(value, (str, list, dict, set, frozenset, tuple)):
        return len(value)
    raise TypeError("count: operand 1 must be one of {array, object, set, string}")


def go_indexof(haystack: Any, needle: Any) -> int:
    """OPA's ``indexof``: rune index of the first occurrence, -1 if none; an empty needle is an error."""
    base, search = _string("indexof", haystack), _string("indexof", needle)
    if not search:
        raise ValueError("indexof: empty search character")
    return base.find(search)


def go_indexof_n(haystack: Any, needle: Any) -> list[int]:
    """OPA's ``indexof_n``: rune indices of every (overlapping) occurrence; an empty needle is an error."""
    base, search = _string("indexof_n", haystack), _string("indexof_n", needle)
    if not search:
        raise ValueError("indexof_n: empty search character")
    found, start = [], base.find(search)
    while start >= 0:
        found.append(start)
        start = base.find(search, start + 1)
    return found


# name -> (number of arguments, implementation)
OVERRIDES: dict[str, tuple[int, Callable[..., Any]]] = {
    "count": (1, go_count),
    "indexof": (2, go_indexof),
    "indexof_n": (2, go_indexof_n),
    "upper": (1, go_upper),
    "lower": (1, go_lower),
    "crypto.sha256": (1, _digest("crypto.sha256", "sha256")),
    "crypto.sha1": (1, _digest("crypto.sha1", "sha1")),
    "crypto.md5": (1, _digest("crypto.md5", "md5")),
}

__all__ = ["OVERRIDES", "go_count", "go_indexof", "go_lower", "go_upper"]
