"""OPA's ``sprintf`` for the embedded engine: each argument converted as OPA converts it (int64,
float64 or the term's text), then formatted as Go's ``fmt.Sprintf`` does.

Only the verbs ``%s %d %v %q %x %.Nf %%`` are evaluated; a value attestkit cannot print exactly
as OPA does (a number beyond 2**53, more than 15 significant digits, a number inside a collection
that OPA may write in exponent form, an unassigned code point under ``%q``) raises, which makes
the evaluation fail ("could not check"), never a different message.
"""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

_DIRECTIVE = re.compile(r"%(%|[sdvqx]|\.(\d{1,2})f)")


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: printable runes kept, the rest escaped (lower-case hex)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x80:
            out.append(char if 0x20 <= code < 0x7F else f"\\x{code:02x}")
        else:
            category = unicodedata.category(char)
            if category == "Cn":
                # Unassigned in Python's Unicode tables: Go's may differ (another Unicode version).
                raise ValueError(f"sprintf: U+{code:04X} is not quoted exactly like OPA")
            if category[0] in "LMNPS":
                out.append(char)
            else:
                out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _shortest(value: float) -> tuple[str, int]:
    """The shortest round-trip digits of *value* (no sign) and its decimal exponent (d.ddd x 10**exp)."""
    digits_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()[1:]
    digits = "".join(str(d) for d in digits_tuple)
    if len(digits) > 15:
        # Beyond 15 digits OPA's 64-bit big.Float result may print other digits than a double.
        raise ValueError(f"sprintf: {value!r} is not printed exactly like OPA")
    return digits, len(digits) + int(exponent) - 1


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 or from 1e6."""
    digits, exponent = _shortest(value)
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
    return sign + whole + ("." + fraction if fraction else "")


def _number_text(value: float) -> str:
    """A number inside a collection, as OPA writes the term: only where every source of it (the
    input's JSON, a literal, a computed result) is written the same way."""
    if not -4 <= _shortest(value)[1] < 6:
        raise ValueError(f"sprintf: {value!r} is not printed exactly like OPA")
    return _go_float(value)


_FLOAT_INTEGRAL = 2**32


def _is_integral(value: Any) -> bool:
    """An int, or a float holding an integer OPA would print as one (a computed ``1.5 + 1.5``)."""
    if isinstance(value, float) and value.is_integer() and not abs(value) < _FLOAT_INTEGRAL:
        # A large integral double may be a rounded sum (2**52 + 0.5) that OPA computed exactly.
        raise ValueError(f"sprintf: {value!r} may be rounded; it is not printed exactly like OPA")
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_INT64 = range(-(2**63), 2**63)


ROUNDED_ABOVE: ContextVar[int | None] = ContextVar("ROUNDED_ABOVE", default=None)
"""Set while a policy that may mix fractions into integer arithmetic is evaluated: the engine
hands a double that rounded to an integer (``now_ns + 0.5``) over as an int, so integers from
this magnitude on are refused."""


def _integer(value: int | float) -> int:
    """An integer as OPA's int64 (the engine hands integers over exactly; floats are checked by
    :func:`_is_integral`); beyond int64 OPA switches to big integers, not verified here."""
    if int(value) not in _INT64:
        raise ValueError("sprintf: a number beyond int64 is not printed exactly like OPA")
    limit = ROUNDED_ABOVE.get()
    if limit is not None and abs(value) >= limit:
        raise ValueError(f"sprintf: {int(value)} may be a rounded result of the policy's arithmetic")
    return int(value)


def _term_text(value: Any) -> str:
    """OPA's ``ast.Term.String()`` of a value: JSON-like, ``", "``/``": "`` separators, sets sorted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, (int, float)):
        if _is_integral(value):
            return str(_integer(value))
        return _number_text(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_term_text(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("sprintf: an object with non-string keys is not printed exactly like OPA")
        return "{" + ", ".join(f"{_go_quote(key)}: {_term_text(value[key])}" for key in sorted(value)) + "}"
    if isinstance(value, (set, frozenset)):
        if not value:
            return "set()"
        return "{" + ", ".join(_term_text(item) for item in sorted(value, key=_scalar_order)) + "}"
    raise ValueError(f"sprintf: a {type(value).__name__} is not printed exactly like OPA")


def _scalar_order(value: Any) -> tuple[int, Any]:
    """OPA's order of set members: null < booleans < numbers < strings (collections: refused)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    raise ValueError("sprintf: a set of collections is not printed exactly like OPA")


def _sprintf_argument(value: Any) -> int | float | str:
    """What OPA hands to Go for one argument: int64, float64 or the term's text."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float, str)):
        return _term_text(value)
    if isinstance(value, str):
        return value
    if _is_integral(value):
        return _integer(value)
    exponent = _shortest(value)[1]
    return _ExponentFloat(value) if exponent < -4 or exponent >= 6 else float(value)


def _bad_verb(verb: str, value: int | float | str) -> str:
    return f"%!{verb}({_go_type(value)}={_go_value(value)})"


class _ExponentFloat(float):
    """A float Go's ``%v`` writes in exponent form: OPA hands it to Go as a float64 or as its text
    (which it does depends on how the number was written), so only ``%v`` prints it knowably."""


def _go_type(value: int | float | str) -> str:
    if isinstance(value, _ExponentFloat):
        raise ValueError(f"sprintf: {value!r} is not printed exactly like OPA under this verb")
    return "string" if isinstance(value, str) else "int64" if isinstance(value, int) else "float64"


def _go_value(value: int | float | str) -> str:
    return _go_float(value) if isinstance(value, float) else str(value)


def _directive(verb: str, precision: str | None, value: int | float | str) -> str:
    if isinstance(value, _ExponentFloat) and verb != "v":
        raise ValueError(f"sprintf: %{verb} of {value!r} is not evaluated exactly like OPA")
    if verb in ("s", "v"):
        return _bad_verb(verb, value) if verb == "s" and not isinstance(value, str) else _go_value(value)
    if verb == "d":
        return str(value) if isinstance(value, int) else _bad_verb(verb, value)
    if verb == "q":
        if isinstance(value, int):
            raise ValueError("sprintf: %q of a number is not evaluated exactly like OPA")
        return _go_quote(value) if isinstance(value, str) else _bad_verb(verb, value)
    if verb == "x":
        if isinstance(value, float):
            raise ValueError("sprintf: %x of a non-integer is not evaluated exactly like OPA")
        if isinstance(value, int):
            return f"-{-value:x}" if value < 0 else f"{value:x}"
        return value.encode("utf-8").hex()
    # %.Nf: Go and Python both round the exact binary value half to even.
    if isinstance(value, str):
        # Go prints the bad verb's string with the precision: truncated to N runes.
        return _bad_verb("f", value[: int(precision or 0)])
    if not isinstance(value, float):
        raise ValueError("sprintf: %.Nf of an integer is not evaluated exactly like OPA")
    _shortest(value)
    return f"{value:.{int(precision or 0)}f}"


def go_sprintf(fmt: Any, values: Any) -> str:
    """OPA's ``sprintf`` for the verbs ``%s %d %v %q %x %.Nf %%``; anything else raises."""
    if not isinstance(fmt, str):
        raise TypeError("sprintf: operand 1 must be string")
    text = fmt
    if not isinstance(values, list):
        raise TypeError("sprintf: operand 2 must be array")
    arguments = [_sprintf_argument(value) for value in values]
    out: list[str] = []
    position, used = 0, 0
    for match in _DIRECTIVE.finditer(text):
        literal = text[position : match.start()]
        if "%" in literal:
            raise ValueError("sprintf: the format uses a verb attestkit does not evaluate exactly like OPA")
        out.append(literal)
        position = match.end()
        verb = match.group(1)
        if verb == "%":
            out.append("%")
            continue
        letter = "f" if verb.startswith(".") else verb
        if used >= len(arguments):
            out.append(f"%!{letter}(MISSING)")
            continue
        out.append(_directive(letter, match.group(2), arguments[used]))
        used += 1
    if "%" in text[position:]:
        raise ValueError("sprintf: the format uses a verb attestkit does not evaluate exactly like OPA")
    out.append(text[position:])
    if used < len(arguments):
        extra = ", ".join(f"{_go_type(v)}={_go_value(v)}" for v in arguments[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


__all__ = ["ROUNDED_ABOVE", "go_sprintf"]
