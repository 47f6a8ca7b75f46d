"""Check files: the ``<digest>  PATH`` lines ``attestkit hash`` and ``b3sum`` print, read back.

A line is ``blake3:<64 hex>  PATH`` (attestkit) or ``<64 hex>  PATH`` (b3sum), two spaces
between digest and path. b3sum escapes a path holding a backslash or a newline: the line then
starts with ``\\`` and in the path ``\\\\`` stands for a backslash, ``\\n`` for a newline and
``\\r`` for a carriage return (newer b3sum); any other escape is an error. Lines are split on
``\\n`` only (a name may hold ``\\r``); one trailing ``\\r`` (a CRLF file) is dropped from
an unescaped line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from attestkit.errors import UsageError

_LINE = re.compile(r"(?:blake3:)?([0-9a-fA-F]{64})  (.+)\Z", re.DOTALL)
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


@dataclass(frozen=True)
class CheckEntry:
    """One line of a check file: the expected ``blake3:<hex>`` digest and the path it names."""

    digest: str
    path: str
    line: int


def _unescape(text: str, source: str, number: int) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            following = text[index + 1 : index + 2]
            if following not in _ESCAPES:
                shown = repr("\\" + following) if following else "a lone backslash at the end"
                raise UsageError(f"{source}: line {number}: unknown escape {shown} in an escaped (\\-prefixed) line")
            out.append(_ESCAPES[following])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


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
        entries.append(CheckEntry("blake3:" + match.group(1).lower(), path, number))
    return entries


__all__ = ["CheckEntry", "parse_check_file"]
