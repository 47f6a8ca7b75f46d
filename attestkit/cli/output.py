"""Small output helpers shared by the commands."""

from __future__ import annotations

import json
import sys
from typing import Any


def json_line(value: Any) -> str:
    """One compact JSON line."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def out(text: str) -> None:
    """Write a line to stdout."""
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    """Write one line to stderr."""
    sys.stderr.write(f"attestkit: {text}\n")


def error(text: str) -> None:
    """Write one error line to stderr."""
    sys.stderr.write(f"attestkit: error: {text}\n")
