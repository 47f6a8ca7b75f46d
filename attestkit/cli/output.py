"""Small output helpers shared by the commands.

Everything written here for people is escaped (:mod:`attestkit.core.textsafe`): no control,
C1 or bidi character from a receipt, a file name or a server reaches the terminal or the CI
log raw. JSON lines are written with those characters as ``\\uXXXX`` escapes (same data).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from attestkit.core.textsafe import escape_lines, escape_text, json_text

# The colour sequences the CLI itself writes (SGR: ESC [ params m); with markup=True they pass.
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


def json_line(value: Any) -> str:
    """One compact JSON line (unsafe characters escaped as \\uXXXX; the data is unchanged)."""
    return json_text(value, separators=(",", ":"))


def safe(text: str) -> str:
    """One untrusted value made safe to put in a line of output (newlines escaped too)."""
    return escape_text(text)


def out(text: str, *, markup: bool = False) -> None:
    """Write lines to stdout, escaped; *markup* keeps the CLI's own colour sequences.

    Newlines separate lines the caller built; values that came from outside must already be
    passed through :func:`safe` so that they cannot add a line.
    """
    sys.stdout.write(escaped(text, markup=markup) + "\n")


def escaped(text: str, *, markup: bool = False) -> str:
    """What :func:`out` writes for *text* (before its newline): made where the work is done in bulk runs."""
    if markup:
        return "".join(part if _SGR.fullmatch(part) else escape_lines(part) for part in _SGR.split(text))
    return escape_lines(text)


def format_table(rows: Sequence[Sequence[str]], gap: int = 2) -> str:
    """Rows as aligned text columns, each as wide as its widest cell (nothing overflows); the last column is free."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["".join(row[i].ljust(widths[i] + gap) for i in range(len(widths))) + row[-1] for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def warn(text: str) -> None:
    """Write one line to stderr (escaped: it stays one line)."""
    sys.stderr.write(f"attestkit: {escape_text(text)}\n")


def error(text: str) -> None:
    """Write one error line to stderr (escaped: it stays one line)."""
    sys.stderr.write(error_line(text))


def error_line(text: str) -> str:
    """The line :func:`error` writes, newline included (settings named by their flags)."""
    from attestkit.cli.params import cli_wording

    return f"attestkit: error: {escape_text(cli_wording(text))}\n"
