"""Builtins attestkit supplies to the embedded engine where its own differ from OPA (Go).

Each one either returns exactly what OPA returns or raises, which makes the evaluation fail
("could not check", exit 2): never a different value.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import functools
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from attestkit.core.policy.rego_sprintf import go_sprintf


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


# ---- semver (OPA's internal/semver: an optional leading "v", dotted-tri int64 core,
# "-" pre-release and "+" metadata identifiers of [0-9A-Za-z-]) -------------------------

_SEMVER_IDENTIFIER = re.compile(r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*")
_DIGITS = re.compile(r"[0-9]+")
_INT64_MAX = 2**63 - 1


def _semver(text: str) -> tuple[tuple[int, int, int], str] | None:
    """``(major, minor, patch), pre-release`` as OPA reads *text*, or None when it is not SemVer."""
    version = text[1:] if text.startswith("v") else text
    version, _, metadata = version.partition("+")
    version, _, pre_release = version.partition("-")
    parts = version.split(".", 2)
    if len(parts) != 3 or not all(_DIGITS.fullmatch(part) for part in parts):
        return None
    for identifier in (pre_release, metadata):
        if identifier and not _SEMVER_IDENTIFIER.fullmatch(identifier):
            return None
    major, minor, patch = (int(part) for part in parts)
    if max(major, minor, patch) > _INT64_MAX:
        return None
    return (major, minor, patch), pre_release


def go_semver_is_valid(value: Any) -> bool:
    """OPA's ``semver.is_valid``: false for anything that is not a SemVer string."""
    return isinstance(value, str) and _semver(value) is not None


def _pre_release_key(identifier: str) -> tuple[int, int, str]:
    if _DIGITS.fullmatch(identifier):
        # Leading zeros ("01") and huge numbers: OPA's comparison of these was not verified (it
        # did not return on "1.0.0-01" against "1.0.0-1"); refuse rather than guess.
        if (identifier != "0" and identifier.startswith("0")) or int(identifier) > _INT64_MAX:
            raise ValueError(f"semver.compare: pre-release identifier {identifier!r} is not compared as OPA does")
        return (0, int(identifier), "")
    if identifier.lstrip("+-").isdigit():
        raise ValueError(f"semver.compare: pre-release identifier {identifier!r} is not compared as OPA does")
    return (1, 0, identifier)


def go_semver_compare(left: Any, right: Any) -> int:
    """OPA's ``semver.compare``: -1, 0 or 1; an error for anything that is not SemVer."""
    versions = []
    for position, value in enumerate((left, right), start=1):
        parsed = _semver(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError(f"semver.compare: operand {position}: not a valid SemVer")
        versions.append(parsed)
    (core_a, pre_a), (core_b, pre_b) = versions
    if core_a != core_b:
        return 1 if core_a > core_b else -1
    if not pre_a or not pre_b:
        return (not pre_a) - (not pre_b)
    keys_a = [_pre_release_key(part) for part in pre_a.split(".")]
    keys_b = [_pre_release_key(part) for part in pre_b.split(".")]
    return (keys_a > keys_b) - (keys_a < keys_b)


# ---- strings ------------------------------------------------------------------------------


def go_replace(value: Any, old: Any, new: Any) -> str:
    """OPA's ``replace`` for a non-empty search string (Go splits runes into bytes on an empty one)."""
    base, search, replacement = _string("replace", value), _string("replace", old), _string("replace", new)
    if not search:
        raise ValueError("replace: an empty search string is not replaced as OPA does")
    return base.replace(search, replacement)


def go_hmac(name: str, algorithm: str) -> Callable[[Any, Any], str]:
    """OPA's ``crypto.hmac.<algorithm>(message, key)``: the hex digest."""

    def digest(message: Any, key: Any) -> str:
        data, secret = _string(name, message).encode("utf-8"), _string(name, key).encode("utf-8")
        return hmac.new(secret, data, algorithm).hexdigest()

    return digest


def go_hmac_equal(left: Any, right: Any) -> bool:
    """OPA's ``crypto.hmac.equal``: a constant-time comparison of the two strings."""
    first, second = _string("crypto.hmac.equal", left), _string("crypto.hmac.equal", right)
    return hmac.compare_digest(first.encode("utf-8"), second.encode("utf-8"))


def go_array_flatten(value: Any) -> list[Any]:
    """OPA's ``array.flatten``: one level of nested arrays spliced in (deeper ones kept)."""
    if not isinstance(value, list):
        raise TypeError("array.flatten: operand 1 must be array")
    out: list[Any] = []
    for item in value:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


# ---- base64 (Go's StdEncoding: "\r" and "\n" are skipped, padding required) ---------------

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _base64_bytes(value: str) -> bytes | None:
    compact = value.replace("\r", "").replace("\n", "")
    if len(compact) % 4 or not _BASE64.fullmatch(compact):
        return None
    return base64.b64decode(compact, validate=True)


def go_base64_is_valid(value: Any) -> bool:
    """OPA's ``base64.is_valid``."""
    return _base64_bytes(_string("base64.is_valid", value)) is not None


def go_base64_decode(value: Any) -> str:
    """OPA's ``base64.decode`` when the bytes are UTF-8 text; anything else raises."""
    decoded = _base64_bytes(_string("base64.decode", value))
    if decoded is None:
        raise ValueError("base64.decode: illegal base64 data")
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("base64.decode: the bytes are not UTF-8 text, which OPA would pass on as it is") from None


# ---- units.parse (integral results of the decimal suffixes; "m" and fractions refused) -------

_UNIT_AMOUNT = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", re.ASCII)
_UNITS = {"": 1, "k": 10**3, "K": 10**3, "ki": 2**10, "Ki": 2**10, "M": 10**6, "Mi": 2**20, "G": 10**9,
          "Gi": 2**30, "T": 10**12, "Ti": 2**40, "P": 10**15, "Pi": 2**50, "E": 10**18, "Ei": 2**60}  # fmt: skip


def go_units_parse(value: Any) -> int:
    """OPA's ``units.parse`` where the result is an integer; anything else raises."""
    match = _UNIT_AMOUNT.fullmatch(_string("units.parse", value))
    if match is None:
        raise ValueError(f"units.parse: {value!r} is not evaluated exactly like OPA")
    amount, unit = match.groups()
    # OPA lower-cases the unit after its first letter ("KI" is "Ki"), keeping "m" apart from "M".
    multiplier = _UNITS.get(unit[:1] + unit[1:].lower())
    if multiplier is None:
        raise ValueError(f"units.parse: unit {unit} not recognized")
    result = Fraction(amount) * multiplier
    if result.denominator != 1 or result >= 2**63:
        raise ValueError(f"units.parse: {value!r} is not evaluated exactly like OPA")
    return int(result)


_BYTES_AMOUNT = re.compile(r"([0-9]+(?:\.[0-9]+)?)((?:[kmgtpe]i?b?)?)", re.ASCII | re.IGNORECASE)


def go_units_parse_bytes(value: Any) -> int:
    """OPA's ``units.parse_bytes``: decimal (``KB``, ``K``) and binary (``KiB``, ``Ki``) units, any
    case, the product truncated toward zero (``1.5`` is 1: the engine rounded it to 2); a
    fraction that is not exact in binary (``0.9``) is refused, as OPA computes it in binary."""
    match = _BYTES_AMOUNT.fullmatch(_string("units.parse_bytes", value))
    if match is None:  # signs, exponents, spaces, other units: refused rather than guessed
        raise ValueError(f"units.parse_bytes: {value!r} is not evaluated exactly like OPA")
    amount, unit = match.groups()
    unit = unit.lower().removesuffix("b")
    multiplier = 1
    if unit:
        power = "kmgtpe".index(unit[0]) + 1
        multiplier = (1024 if unit.endswith("i") else 1000) ** power
    exact = Fraction(amount)
    if exact.denominator & (exact.denominator - 1):  # OPA reads 0.001 as a binary float (0.000999...)
        raise ValueError(f"units.parse_bytes: {value!r} is not evaluated exactly like OPA")
    result = int(exact * multiplier)
    if result >= 2**53:  # OPA multiplies in 64-bit-mantissa floats: large products round
        raise ValueError(f"units.parse_bytes: {value!r} is not evaluated exactly like OPA")
    return result


def go_replace_n(patterns: Any, value: Any) -> str:
    """OPA's ``strings.replace_n`` (Go's ``strings.Replacer``: one left-to-right pass, no overlapping
    matches) when no search string is empty or a prefix of another (then the order does not matter)."""
    if not isinstance(patterns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in patterns.items()
    ):
        raise TypeError("strings.replace_n: operand 1 must be an object of strings")
    text = _string("strings.replace_n", value)
    keys = sorted(patterns)
    if any(not key for key in keys) or any(b.startswith(a) for a, b in itertools.pairwise(keys)):
        raise ValueError("strings.replace_n: an empty or prefix-sharing search string is not replaced as OPA does")
    out, index = [], 0
    while index < len(text):
        # Sorted keys: a key that is a prefix of another would sit right before it; none is.
        match = next((key for key in keys if text.startswith(key, index)), None)
        if match is None:
            out.append(text[index])
            index += 1
        else:
            out.append(patterns[match])
            index += len(match)
    return "".join(out)


# ---- time ---------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))", re.ASCII
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_INT64_NS = range(-(2**63), 2**63)


def _unix_ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, offset: int = 0) -> int:
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValueError("day out of range")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("time out of range")
    days = (datetime.date(year, month, day) - datetime.date(1970, 1, 1)).days
    ns = ((days * 24 + hour) * 60 + minute) * 60 + second - offset
    return ns * 1_000_000_000


def _parse_rfc3339(name: str, value: Any) -> int:
    match = _RFC3339.fullmatch(_string(name, value))
    if match is None:
        raise ValueError(f"{name}: {value!r} is not RFC 3339 as attestkit reads it exactly like OPA")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    offset = 0
    if match.group(8) is None:
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_minutes > 59:
            raise ValueError(f"{name}: time zone offset out of range")
        offset = (offset_hours * 60 + offset_minutes) * 60 * (-1 if match.group(9) == "-" else 1)
    fraction = int((match.group(7) or "").ljust(9, "0"))
    return _in_range(name, _unix_ns(year, month, day, hour, minute, second, offset) + fraction)


def _in_range(name: str, ns: int) -> int:
    if ns not in _INT64_NS:
        raise ValueError(f"{name}: time outside of valid range")
    return ns


def go_parse_rfc3339_ns(value: Any) -> int:
    """OPA's ``time.parse_rfc3339_ns`` on ``YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)``; anything else raises."""
    return _parse_rfc3339("time.parse_rfc3339_ns", value)


_LAYOUTS = {"2006-01-02T15:04:05Z07:00", "2006-01-02"}


def go_parse_ns(layout: Any, value: Any) -> int:
    """OPA's ``time.parse_ns`` for the RFC 3339 and ``2006-01-02`` layouts; other layouts raise."""
    if _string("time.parse_ns", layout) not in _LAYOUTS:
        raise ValueError(f"time.parse_ns: layout {layout!r} is not one attestkit evaluates exactly like OPA")
    if layout != "2006-01-02":
        return _parse_rfc3339("time.parse_ns", value)
    match = _DATE.fullmatch(_string("time.parse_ns", value))
    if match is None:
        raise ValueError(f"time.parse_ns: {value!r} does not match the layout {layout!r}")
    return _in_range("time.parse_ns", _unix_ns(*(int(group) for group in match.groups())))


def _integer(name: str, position: int, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: operand {position} must be an integer")
    return value


def go_add_date(value: Any, years: Any, months: Any, days: Any) -> int:
    """OPA's ``time.add_date`` (Go's ``AddDate``: the date is normalised, Oct 31 + 1 month is Dec 1)."""
    ns = _integer("time.add_date", 1, value)
    if ns not in _INT64_NS:
        raise ValueError("time.add_date: time outside of valid range")
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    month_index = moment.month - 1 + _integer("time.add_date", 3, months)
    year = moment.year + _integer("time.add_date", 2, years) + month_index // 12
    try:
        first = datetime.datetime(year, month_index % 12 + 1, 1, moment.hour, moment.minute, moment.second)
        shifted = first + datetime.timedelta(days=moment.day - 1 + _integer("time.add_date", 4, days))
    except (ValueError, OverflowError):
        raise ValueError("time.add_date: time outside of valid range") from None
    delta = shifted - datetime.datetime(1970, 1, 1)
    return _in_range("time.add_date", (delta.days * 86400 + delta.seconds) * 1_000_000_000 + fraction)


def go_time_format(value: Any) -> str:
    """OPA's ``time.format`` of nanoseconds: RFC 3339 in UTC with trailing fraction zeros dropped."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in _INT64_NS:
        raise ValueError("time.format: only a number of nanoseconds (UTC, RFC 3339) is evaluated exactly like OPA")
    seconds, fraction = divmod(value, 1_000_000_000)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


# ---- small string and number builtins whose regorus results differ from Go's ----------------


def go_strings_count(value: Any, needle: Any) -> int:
    """OPA's ``strings.count``: non-overlapping occurrences (regorus counted overlapping ones)."""
    # str.count is Go's strings.Count, the empty needle included (runes + 1).
    return _string("strings.count", value).count(_string("strings.count", needle))


def go_urlquery_encode(value: Any) -> str:
    """OPA's ``urlquery.encode`` (Go's ``url.QueryEscape``: only letters, digits and ``-_.~`` stay)."""
    from urllib.parse import quote_plus

    return quote_plus(_string("urlquery.encode", value), safe="")


_EXACT_FLOAT = 2.0**53


def _number(name: str, position: int, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: operand {position} must be a number")
    if isinstance(value, float) and not abs(value) < _EXACT_FLOAT:  # OPA computes such numbers exactly
        raise ValueError(f"{name}: {value!r} is not evaluated exactly like OPA")
    return value


def go_format_int(value: Any, base: Any) -> str:
    """OPA's ``format_int``: the number truncated toward zero, in base 2, 8, 10 or 16."""
    number = int(_number("format_int", 1, value))  # int() truncates toward zero, as big.Float.Int
    if base not in (2, 8, 10, 16) or isinstance(base, bool):
        raise ValueError("format_int: operand 2 must be one of {2, 8, 10, 16}")
    digits = {2: "b", 8: "o", 10: "d", 16: "x"}[base]
    return ("-" if number < 0 else "") + format(abs(number), digits)


def _rounding(name: str, function: Callable[[float], int]) -> Callable[[Any], int]:
    def rounded(value: Any) -> int:
        number = _number(name, 1, value)
        if isinstance(number, int):
            return number
        if number < 0:  # OPA 1.20.2 answers ceil(-0.5) with 1: a value attestkit will not guess
            raise ValueError(f"{name}: a negative fraction is not evaluated exactly like OPA")
        return function(number)

    return rounded


def _round_half_away(value: float) -> int:
    import math

    return math.floor(value + 0.5) if value - math.floor(value) != 0.5 else math.floor(value) + 1


def go_array_slice(array: Any, start: Any, stop: Any) -> list[Any]:
    """OPA's ``array.slice``: integer indexes clamped to the array (a fraction is OPA's type error)."""
    if not isinstance(array, list):
        raise TypeError("array.slice: operand 1 must be array")
    for position, index in ((2, start), (3, stop)):
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"array.slice: operand {position} must be an integer")
    first, last = max(start, 0), min(stop, len(array))
    return [] if first >= last else array[first:last]


# ---- JSON: Go's encoder and decoder --------------------------------------------------------

_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
               "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}  # fmt: skip
_GO_ESCAPED = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029]')


def _go_string(text: str) -> str:
    return '"' + _GO_ESCAPED.sub(lambda m: _GO_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def _go_json(value: Any, depth: int = 0) -> str:
    if depth > 1000:
        raise ValueError("json.marshal: nesting too deep")
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "n" in text:  # exponent form, inf, nan: Go writes these its own way
            raise ValueError(f"json.marshal: the number {text} is not written exactly like OPA")
        return text
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("json.marshal: an object with non-string keys is not written exactly like OPA")
        return "{" + ",".join(f"{_go_string(key)}:{_go_json(value[key], depth + 1)}" for key in sorted(value)) + "}"
    if isinstance(value, (set, frozenset)):
        members = list(value)
        kinds = {type(member) for member in members}
        if not (kinds <= {str} or kinds <= {int}):  # OPA's order of mixed sets is its own
            raise ValueError("json.marshal: a set of mixed or composite values is not written exactly like OPA")
        return "[" + ",".join(_go_json(member, depth + 1) for member in sorted(members)) + "]"
    raise ValueError(f"json.marshal: {type(value).__name__} is not written exactly like OPA")


def go_json_marshal(value: Any) -> str:
    """OPA's ``json.marshal``: Go's encoder (sorted keys, ``<``, ``>``, ``&``, U+2028/9 escaped)."""
    return _go_json(value)


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _exact_numbers(value: Any) -> Any:
    """*value* unchanged when its numbers are integers below 2**53 (else ValueError: OPA keeps their text)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) or (isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**53):
            raise ValueError("json.unmarshal: a fraction or a large number is not kept exactly like OPA")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_strings(value: Any) -> Any:
    """*value* with each lone surrogate (an escape like ``\\ud800`` decodes to one) made U+FFFD, as Go's decoder does."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_go_strings(key): _go_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_go_strings(item) for item in value]
    return value


def go_json_unmarshal(value: Any) -> Any:
    """OPA's ``json.unmarshal`` where the numbers are integers below 2**53; invalid JSON raises."""
    import json

    try:
        decoded = _exact_numbers(json.loads(_string("json.unmarshal", value), parse_constant=_refuse_constant))
    except RecursionError:
        raise ValueError("json.unmarshal: nesting too deep") from None
    return _go_strings(decoded)


def no_lone_surrogates(name: str, value: Any) -> Any:
    """*value* unchanged, or ValueError when it holds a lone surrogate (the engine cannot hold one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise ValueError(f"{name}: the result holds a lone surrogate, which no Rego string can hold")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def go_json_is_valid(value: Any) -> bool:
    """OPA's ``json.is_valid`` (Go's ``json.Valid``: syntax only, any number, lone surrogate escapes)."""
    import json

    if not isinstance(value, str):
        return False
    try:
        json.loads(value, parse_constant=_refuse_constant, parse_float=str, parse_int=str)
    except RecursionError:
        raise ValueError("json.is_valid: nesting too deep to decide like OPA") from None
    except ValueError:
        return False
    return True


# ---- time.clock, time.date, time.weekday: UTC, or a zone within the years both tz rules agree on


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _local_time(name: str, value: Any) -> datetime.datetime:
    """The wall-clock time of *value*: nanoseconds (UTC) or ``[ns, zone]``."""
    zone_name: Any = "UTC"
    if isinstance(value, list) and len(value) == 2:
        value, zone_name = value
    if isinstance(value, bool) or not isinstance(value, int) or not isinstance(zone_name, str):
        raise ValueError(f"{name}: only nanoseconds or [nanoseconds, zone name] are evaluated exactly like OPA")
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        microseconds=value // 1000
    )
    if zone_name in ("", "UTC"):
        return moment
    if zone_name == "Local":  # the verifier's own zone: a policy must not depend on the machine
        raise ValueError(f"{name}: the Local zone is not evaluated (use a zone name)")
    import zoneinfo

    try:
        local = moment.astimezone(zoneinfo.ZoneInfo(zone_name))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ValueError(f"{name}: unknown time zone {zone_name[:40]!r}") from None
    # Before 1970 (local mean time) and after 2037 (rules Go's and Python's zone data extend
    # differently) the two were measured to disagree.
    if not 1970 <= local.year <= 2037:
        raise ValueError(f"{name}: a time in {zone_name[:40]} outside 1970-2037 is not evaluated exactly like OPA")
    return local


def go_time_clock(value: Any) -> list[int]:
    """OPA's ``time.clock``: ``[hour, minute, second]``."""
    local = _local_time("time.clock", value)
    return [local.hour, local.minute, local.second]


def go_time_date(value: Any) -> list[int]:
    """OPA's ``time.date``: ``[year, month, day]``."""
    local = _local_time("time.date", value)
    return [local.year, local.month, local.day]


def go_time_weekday(value: Any) -> str:
    """OPA's ``time.weekday``: the day's English name."""
    return _WEEKDAYS[_local_time("time.weekday", value).weekday()]


def go_cidr_contains(cidr: Any, other: Any) -> bool:
    """OPA's ``net.cidr_contains`` (an address or a network inside a network).

    IPv6 text holding an IPv4 address (``::ffff:10.1.2.3``) is refused: Go reads it as the
    IPv4 address, the engine did not.
    """
    import ipaddress

    texts = (_string("net.cidr_contains", cidr), _string("net.cidr_contains", other))
    if any("%" in text for text in texts):
        raise ValueError("net.cidr_contains: an IPv6 zone (%name) is not an address Go reads")
    if any(":" in text and "." in text for text in texts) or any(text != text.strip() for text in texts):
        raise ValueError("net.cidr_contains: an IPv4 address written as IPv6 is not evaluated exactly like OPA")
    try:
        network = ipaddress.ip_network(texts[0], strict=False)
        if "/" not in texts[0]:
            raise ValueError("not a CIDR")
    except ValueError:
        raise ValueError(f"net.cidr_contains: invalid CIDR {texts[0][:60]!r}") from None
    try:
        if "/" in texts[1]:
            inner = ipaddress.ip_network(texts[1], strict=False)
            return inner.version == network.version and inner.subnet_of(network)  # type: ignore[arg-type]
        address = ipaddress.ip_address(texts[1])
    except ValueError:
        raise ValueError(f"net.cidr_contains: invalid address {texts[1][:60]!r}") from None
    return address.version == network.version and address in network


_INTEGER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})")
_DECIMAL_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})\.[0-9]{1,16}")


def go_to_number(value: Any) -> Any:
    """OPA's ``to_number`` where the result means the same to both engines; else ValueError.

    OPA parses text with Go's ``strconv.ParseFloat`` (no spaces: ``" 0"`` is an error) and keeps
    the number as written (``"1e3"`` stays ``1e3``, ``"-0"`` stays ``-0``): only integers below
    2**53 and decimals written in their shortest form are converted here.
    """
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"to_number: operand must be one of {{boolean, null, number, string}}, got {type(value).__name__}"
        )
    if _INTEGER_TEXT.fullmatch(value) and value != "-0" and abs(int(value)) < 2**53:
        return int(value)
    if _DECIMAL_TEXT.fullmatch(value) and repr(float(value)) == value and not float(value).is_integer():
        return float(value)
    raise ValueError(
        f"to_number: {value[:40]!r} is not converted exactly like OPA (spaces, exponents, signs, large numbers)"
    )


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str, delimiters: tuple[str, ...]) -> re.Pattern[str]:
    """The regular expression Go's glob library (gobwas/glob, as OPA uses it) matches for *pattern*."""
    other = "[^" + "".join(re.escape(d) for d in delimiters) + "]"
    out: list[str] = []
    depth, index = 0, 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            out.append("(?s:.*)")
            index += 2
            continue
        if char == "*":
            out.append(other + "*")
        elif char == "?":
            out.append(other)
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        index += 1
    if depth:
        raise ValueError("glob.match: an unclosed { is matched differently by Go's glob library")
    return re.compile("".join(out))


def go_glob_match(pattern: Any, delimiters: Any, match: Any) -> bool:
    """OPA's ``glob.match`` (runes, not bytes: ``?`` matches one character; ``**`` crosses delimiters).

    Delimiters must be single characters (OPA: "array of runes"); none means ``["."]``. Go's
    library says ``?`` matches the empty string: that case is refused rather than copied.
    """
    text = _string("glob.match", pattern)
    subject = _string("glob.match", match)
    if not isinstance(delimiters, list) or not all(isinstance(d, str) and len(d) == 1 for d in delimiters):
        raise ValueError("glob.match: operand 2 must be array of runes")
    if "?" in text and (subject == "" or not (text.isascii() and subject.isascii())):
        # Go's library matches ? against the empty string, and counts bytes next to literal text.
        raise ValueError("glob.match: ? against an empty or non-ASCII string is not decided like OPA")
    if "{" in text and not (text.isascii() and subject.isascii()):
        raise ValueError("glob.match: {} with non-ASCII text is matched differently by Go's glob library")
    if "{" in text and ("{}" in text or "{," in text or ",}" in text or ",," in text):
        # An empty alternative: Go's library matches {} as nothing after a wildcard and
        # panics on some sequences of them (a{}, {}{}).
        raise ValueError("glob.match: an empty alternative in {} is matched differently by Go's glob library")
    if "***" in text or "*?" in text or "?*" in text or re.search(r"\{[^}]*[*?]", text):
        raise ValueError(
            "glob.match: ***, ? beside *, and wildcards inside {} are matched differently by Go's glob library"
        )
    if "**" in text.strip("*") and len(subject) < len(re.sub(r"\{[^}]*\}|\*", "", text)):
        # Go's library lets the text before and after ** overlap (a**a matches "a").
        raise ValueError(
            "glob.match: text around ** longer than the string is matched differently by Go's glob library"
        )
    if len(text) >= 2 and text.count("?") == len(text) and len(delimiters) >= 2:
        # Go's library lets a pattern of ?s alone match any of several delimiters (not one).
        raise ValueError("glob.match: ?? with several delimiters is matched differently by Go's glob library")
    return _glob_regex(text, tuple(delimiters) or (".",)).fullmatch(subject) is not None


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
    "semver.is_valid": (1, go_semver_is_valid),
    "semver.compare": (2, go_semver_compare),
    "replace": (3, go_replace),
    "strings.replace_n": (2, go_replace_n),
    "sprintf": (2, go_sprintf),
    "time.parse_rfc3339_ns": (1, go_parse_rfc3339_ns),
    "time.parse_ns": (2, go_parse_ns),
    "time.format": (1, go_time_format),
    "time.add_date": (4, go_add_date),
    "base64.is_valid": (1, go_base64_is_valid),
    "base64.decode": (1, go_base64_decode),
    "units.parse": (1, go_units_parse),
    "units.parse_bytes": (1, go_units_parse_bytes),
    "time.clock": (1, go_time_clock),
    "net.cidr_contains": (2, go_cidr_contains),
    "to_number": (1, go_to_number),
    "glob.match": (3, go_glob_match),
    "time.date": (1, go_time_date),
    "time.weekday": (1, go_time_weekday),
    "array.flatten": (1, go_array_flatten),
    "array.slice": (3, go_array_slice),
    "strings.count": (2, go_strings_count),
    "urlquery.encode": (1, go_urlquery_encode),
    "format_int": (2, go_format_int),
    "ceil": (1, _rounding("ceil", __import__("math").ceil)),
    "floor": (1, _rounding("floor", __import__("math").floor)),
    "round": (1, _rounding("round", _round_half_away)),
    "json.marshal": (1, go_json_marshal),
    "json.unmarshal": (1, go_json_unmarshal),
    "json.is_valid": (1, go_json_is_valid),
    "crypto.hmac.equal": (2, go_hmac_equal),
    **{
        f"crypto.hmac.{name}": (2, go_hmac(f"crypto.hmac.{name}", name)) for name in ("md5", "sha1", "sha256", "sha512")
    },
}

__all__ = [
    "OVERRIDES",
    "go_add_date",
    "go_array_flatten",
    "go_array_slice",
    "go_base64_decode",
    "go_base64_is_valid",
    "go_cidr_contains",
    "go_count",
    "go_format_int",
    "go_glob_match",
    "go_hmac",
    "go_hmac_equal",
    "go_indexof",
    "go_json_is_valid",
    "go_json_marshal",
    "go_json_unmarshal",
    "go_lower",
    "go_parse_ns",
    "go_parse_rfc3339_ns",
    "go_replace",
    "go_replace_n",
    "go_semver_compare",
    "go_semver_is_valid",
    "go_strings_count",
    "go_time_clock",
    "go_time_date",
    "go_time_format",
    "go_time_weekday",
    "go_to_number",
    "go_units_parse",
    "go_units_parse_bytes",
    "go_upper",
    "go_urlquery_encode",
    "no_lone_surrogates",
]
