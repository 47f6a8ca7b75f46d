"""Check files: the ``<digest>  PATH`` lines ``attestkit hash`` and ``b3sum`` print, read back.

A line is ``blake3:<64 hex>  PATH`` (attestkit) or ``<64 hex>  PATH`` (b3sum), two spaces
between digest and path. b3sum escapes a path holding a backslash or a newline: the line then
starts with ``\\`` and in the path ``\\\\`` stands for a backslash, ``\\n`` for a newline and
``\\r`` for a carriage return (newer b3sum); in such a line attestkit also reads the escapes
:mod:`attestkit.core.textsafe` writes (``\\t``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``,
``\\udcff`` for an undecodable byte), and any other escape is an error. attestkit itself writes
plain lines (:func:`check_line`) with those escapes in the name, so a plain line holding them
is read both ways (:attr:`CheckEntry.escaped_path`). Lines are split on ``\\n`` only (a name may hold
``\\r``); one trailing ``\\r`` (a CRLF file) is dropped from an unescaped line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from attestkit.core.textsafe import escape_text
from attestkit.errors import UsageError

_LINE = re.compile(r"(?:blake3:)?([0-9a-fA-F]{64})  (.+)\Z", re.DOTALL)
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_CODE_POINT_ESCAPES = {"x": 2, "u": 4, "U": 8}  # escape letter -> number of hex digits after it
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class CheckEntry:
    """One line of a check file: the expected ``blake3:<hex>`` digest and the path it names."""

    digest: str
    path: str
    line: int
    # For a plain line holding escapes (``a\\nb``): the name those escapes stand for. attestkit
    # writes unsafe characters that way, so the line may mean either file (check both).
    escaped_path: str | None = None


def _representable(point: int) -> bool:
    """A code point a file name can hold: surrogates only as undecodable bytes (U+DC80-U+DCFF)."""
    return point <= 0x10FFFF and not (0xD800 <= point <= 0xDFFF and not 0xDC80 <= point <= 0xDCFF)


def _unescape(text: str, source: str, number: int) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following in _ESCAPES:
            out.append(_ESCAPES[following])
            index += 2
            continue
        width = _CODE_POINT_ESCAPES.get(following, 0)
        digits = text[index + 2 : index + 2 + width]
        if width and len(digits) == width and set(digits) <= _HEX and _representable(int(digits, 16)):
            out.append(chr(int(digits, 16)))
            index += 2 + width
            continue
        shown = repr(text[index : index + 2 + len(digits)]) if following else "a lone backslash at the end"
        raise UsageError(f"{source}: line {number}: unknown escape {shown} in an escaped (\\-prefixed) line")
    return "".join(out)


def check_line(digest: str, path: str) -> str:
    """The line ``hash`` prints for *path* (no newline): the contract's ``blake3:<hex>  PATH``,
    with every character a terminal could act on shown as a visible escape (``\\n``,
    ``\\x1b``); :class:`CheckEntry` keeps both readings of such a line."""
    return f"{digest}  {escape_text(path)}"


def parse_check_file(text: str, source: str) -> list[CheckEntry]:
    """The entries of a check file; :class:`UsageError` (exit 2) naming the line for one that is not.

    Blank lines are skipped.
    """
    entries: list[CheckEntry] = []
    for number, line in enumerate(text.split("\n"), start=1):
        escaped = line.startswith("\\")
        if not escaped and line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue
        match = _LINE.match(line[1:] if escaped else line)
        if match is None:
            raise UsageError(f"{source}: line {number}: expected 'blake3:<64 hex>  PATH' (or b3sum's '<64 hex>  PATH')")
        path = _unescape(match.group(2), source, number) if escaped else match.group(2)
        other = None
        if not escaped and "\\" in path:
            try:
                other = _unescape(path, source, number)
            except UsageError:
                other = None  # not escapes attestkit writes: the name as it is
            if other == path:
                other = None
        entries.append(CheckEntry("blake3:" + match.group(1).lower(), path, number, other))
    return entries


__all__ = ["CheckEntry", "check_line", "parse_check_file"]
