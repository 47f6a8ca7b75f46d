"""One vocabulary across commands (issue 22.1), checked on the real click commands, in process.

Walks every command's parameters and ``--help``: a command that writes a file takes
``-o/--output``; every time option takes the same forms (RFC 3339 or Unix seconds) and every
duration the same ``<N><s|m|h|d>``; trusted keys are ``--keyring`` wherever
``--trusted-keys-file`` is; value options show a real metavar, never ``TEXT``. Then every
``attestkit ...`` command line in README.md and docs/*.md is parsed against the real CLI.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import click
import pytest

from attestkit.cli.app import app
from attestkit.cli.params import Duration, Instant
from attestkit.errors import AttestkitError
from tests.conftest import ROOT

TIME_OPTIONS = {"--now", "--not-before", "--not-after", "--effective-date", "--timestamp"}
DURATION_OPTIONS = {"--tolerance", "--timeout", "--deadline", "--transition", "--receipt-timeout"}


def _commands(group: click.Group = app, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


COMMANDS = dict(_commands())


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def test_the_walk_finds_every_command() -> None:
    assert {"verify", "sign", "hash", "fetch", "keys trust", "keys rotate", "policy check", "webhook sign"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_runs_and_uses_the_shared_vocabulary(name: str) -> None:
    command = COMMANDS[name]
    ctx = click.Context(command, info_name=f"attestkit {name}")
    text = command.get_help(ctx)
    assert "Usage: attestkit " + name in text
    problems = []
    for option in _options(command):
        opts = set(option.opts) | set(option.secondary_opts)
        if "--output" in opts and "-o" not in opts:
            problems.append("--output without -o")
        if opts & TIME_OPTIONS and not isinstance(option.type, Instant):
            problems.append(f"{option.opts[0]}: not the shared time type")
        if opts & DURATION_OPTIONS and not isinstance(option.type, Duration):
            problems.append(f"{option.opts[0]}: not the shared duration type")
        if "--trusted-keys-file" in opts and "--keyring" not in opts:
            problems.append("--trusted-keys-file without its --keyring alias")
        if not option.is_flag and not option.count and "TEXT" in option.make_metavar(ctx):
            problems.append(f"{option.opts[0]}: metavar {option.make_metavar(ctx)}")
    for argument in (p for p in command.params if isinstance(p, click.Argument)):
        if "TEXT" in argument.make_metavar(ctx):
            problems.append(f"argument {argument.name}: metavar {argument.make_metavar(ctx)}")
    assert not problems, f"{name}: {problems}"


def test_verify_help_describes_every_input_form() -> None:
    command = COMMANDS["verify"]
    text = command.get_help(click.Context(command, info_name="attestkit verify"))
    for form in ("DIR", "--jsonl", "JSON Lines", "envelope", "--execution", "- is stdin", "--keyring"):
        assert form in text, form


# --- the docs' command lines ---------------------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINE = re.compile(r"\battestkit ((?:[a-z][a-z-]*(?:\|[a-z-]+)*)(?: [^\n`]*)?)")
_OPTION = re.compile(r"(?<![\w/.=-])(--[a-z][a-z0-9-]*|-o|-h)(?![\w-])")


def _doc_lines() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for line in path.read_text(encoding="utf-8").splitlines():
            for match in _LINE.finditer(line):
                text = match.group(1).split("  #")[0].split(" # ")[0].strip()
                first = text.split(" ", 1)[0]
                if first.split("|")[0] in {c.split(" ")[0] for c in COMMANDS}:
                    found.append((path.name, text))
    return found


DOC_LINES = _doc_lines()


def _resolve(words: list[str]) -> tuple[list[tuple[str, click.Command]], list[str]]:
    """The command(s) a doc line names (``keys show|export`` names two) and the words after."""
    names = [""]
    while words:
        heads = words[0].split("|")
        candidates = [f"{n} {h}".strip() for n in names for h in heads]
        if any(c in COMMANDS for c in candidates) or any(k.startswith(c + " ") for c in candidates for k in COMMANDS):
            names = candidates
            words = words[1:]
            if all(n in COMMANDS for n in names):
                break
        else:
            break
    return [(n, COMMANDS[n]) for n in names if n in COMMANDS], words


def test_the_docs_have_command_lines() -> None:
    assert len(DOC_LINES) >= 60
    assert {name for name, _ in DOC_LINES} >= {"README.md", "keys.md", "ci.md", "policies.md"}


@pytest.mark.parametrize(("doc", "line"), DOC_LINES)
def test_doc_command_line_uses_real_options(doc: str, line: str) -> None:
    commands, rest = _resolve(line.split())
    if not commands and line.split()[0] in {c.split(" ")[0] for c in COMMANDS if " " in c}:
        return  # a group named in prose ("attestkit log")
    assert commands, f"{doc}: unknown command in {line!r}"
    given = line.split(" -- ")[0]
    for name, command in commands:
        known = {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
        known |= {"--help", "-h"}
        words = " ".join(rest).split(" -- ")[0]
        for option in _OPTION.findall(words):
            assert option in known, f"{doc}: {line!r}: {name} has no option {option}"
    synopsis = any(mark in given for mark in ("[", "|", "...", "…", "<", "$"))
    if synopsis or len(commands) != 1 or not rest or commands[0][0] == "record":
        return  # a synopsis, a command named in prose, or record (its command follows --)
    # A concrete command line: click must parse it as written (values that name files absent
    # here may fail to load, which is not a parsing error).
    name, command = commands[0]
    try:
        words = shlex.split(" ".join(rest).split(" > ")[0].split(" | ")[0])
    except ValueError:
        return
    if "--" in words:
        words = words[: words.index("--")]
    try:
        command.make_context(f"attestkit {name}", words)
    except (AttestkitError, click.exceptions.Exit, click.MissingParameter):
        pass  # a value naming a file absent here, --help, or a command named in prose without its arguments


def test_one_line_help_has_one_source() -> None:
    from attestkit.cli.app import _COMMANDS

    ctx = click.Context(app)
    for name, (_, _, text) in _COMMANDS.items():
        command = app.get_command(ctx, name)
        assert command is not None and command.get_short_help_str(200) == text
    listing = app.get_help(ctx)
    assert all(text.split(" ")[0] in listing for _, _, text in _COMMANDS.values())
