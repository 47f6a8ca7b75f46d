"""Every `attestkit` command line in docs/ci.md uses commands and options that exist."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from attestkit.cli.app import app
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
LINES = [
    m.group(1)
    # (a pre-commit hook's `name:` and `entry:` are a command's start, not a command line)
    for m in re.finditer(
        r"(?<!name: )(?<!entry: )(attestkit (?:record|receipt|run|verify|keys|hash|fetch|webhook|policy)[^\n`]*)", DOC
    )
]


def test_the_page_has_commands() -> None:
    assert len(LINES) >= 8


@pytest.mark.parametrize("line", LINES)
def test_command_line_parses(line: str) -> None:
    words = shlex.split(line.split(" > ")[0])[1:]
    if "--" in words:
        words = words[: words.index("--")]
    command: click.Command = app
    ctx = click.Context(app)
    path = []
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(ctx, words[0])
        assert sub is not None, f"unknown command {words[0]!r} in {line!r}"
        path.append(words.pop(0))
        command = sub
    if path == ["record"]:  # record takes free-form arguments; check its options by name
        known = {"--receipt", "--name", "--inputs", "--outputs", "--env", "--shell"}
        assert {w for w in words if w.startswith("--")} <= known, line
        return
    command.make_context(" ".join(["attestkit", *path]), list(words), resilient_parsing=False)
