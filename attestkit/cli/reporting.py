"""Writing report formats: stdout or an atomically written --output file."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from attestkit.core.render.ci_reports import SarifContext, Subject


FORMATS = ("text", "json", "github", "sarif", "junit")
DOCUMENT_FORMATS = ("github", "sarif", "junit")

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Report format."
)
output_option = click.option(
    "-o", "--output", "output_file", metavar="FILE", help="Write the report to FILE (atomically) instead of stdout."
)


def use_colour() -> bool:
    """Colours only on a terminal, never with NO_COLOR set."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def sarif_context(artifacts_dir: str | None = None) -> SarifContext:
    """This invocation's command line, and paths relative to the repository root (``$GITHUB_WORKSPACE`` or here)."""
    import shlex

    from attestkit.core.render.ci_reports import SarifContext

    cwd = os.getcwd()
    root = os.path.abspath(os.environ.get("GITHUB_WORKSPACE") or cwd)
    command = shlex.join(["attestkit", *sys.argv[1:]])
    return SarifContext(command_line=command, source_root=root, cwd=cwd, artifacts_dir=artifacts_dir)


def document(subjects: Sequence[Subject], fmt: str, title: str, *, artifacts_dir: str | None = None) -> str:
    """The whole report for the collecting formats (github, sarif, junit)."""
    from attestkit.core.render.ci_reports import github_annotations, markdown_summary, to_junit, to_sarif
    from attestkit.core.textsafe import escape_lines

    if fmt == "sarif":
        from attestkit.core.render.ci_reports import sarif_text

        return sarif_text(to_sarif(subjects, title, sarif_context(artifacts_dir)))
    if fmt == "junit":
        return to_junit(subjects, title)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            with open(summary_path, "a", encoding="utf-8") as handle:
                handle.write(escape_lines(markdown_summary(subjects, title)))
        except OSError as exc:
            sys.stderr.write(f"attestkit: cannot append to GITHUB_STEP_SUMMARY: {exc.strerror}\n")
    lines = [line for subject in subjects for line in github_annotations(subject)]
    return "".join(line + "\n" for line in lines)


def emit(text: str, output_file: str | None) -> None:
    """Write *text* to --output (atomically) or to stdout (no file, or ``-``)."""
    if output_file is None or output_file == "-":
        sys.stdout.write(text)
        return
    from attestkit.adapters.files import write_atomic

    write_atomic(output_file, text.encode("utf-8"))
