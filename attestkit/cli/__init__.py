"""The command-line interface: a thin layer over the library.

``run()`` owns the exit-code contract: 0 valid, 1 invalid, 2 could not check, and every
error is one line on stderr, never a traceback (set ``ATTESTKIT_DEBUG=1`` for one). Error
text is escaped (:mod:`attestkit.core.textsafe`): a message quoting a file name or a server's
answer cannot move the cursor, recolour the log or add a line.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

    from attestkit.cli.streams import StandardStreams


def _error(message: str) -> None:
    from attestkit.core.textsafe import escape_text

    sys.stderr.write(f"attestkit: error: {escape_text(message)}\n")
    sys.stderr.flush()


def _usage_error(exc: click.exceptions.UsageError) -> None:
    """click's usage text and hint, then its message escaped (it may quote an argument)."""
    from attestkit.core.textsafe import escape_text

    if exc.ctx is not None:
        sys.stderr.write(exc.ctx.get_usage() + "\n")
        sys.stderr.write(f"Try '{exc.ctx.command_path} --help' for help.\n\n")
    sys.stderr.write(f"Error: {escape_text(_without_key_text(exc.format_message()))}\n")
    sys.stderr.flush()


def _without_key_text(message: str) -> str:
    """*message*, unless it quotes key text (``keys show "$(cat a.key)"`` is read as an unknown option)."""
    from attestkit.core.textsafe import holds_key_text

    if holds_key_text(message):
        return "a command-line value holds key text (not shown): give key files by path"
    return message


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code.

    Output that did not get out (stdout's reader went away, the disk is full) is exit 2 with a
    line saying so; a stderr that cannot be written loses only messages, never the exit code
    (:mod:`attestkit.cli.streams`).
    """
    from attestkit.cli.streams import StandardStreams

    with StandardStreams() as streams:
        code = _run(argv, streams)
    return code


def _run(argv: Sequence[str] | None, streams: StandardStreams) -> int:
    import click

    from attestkit.cli.app import app
    from attestkit.cli.streams import lost_output
    from attestkit.errors import AttestkitError

    try:
        try:
            result = app.main(
                args=list(argv) if argv is not None else None, prog_name="attestkit", standalone_mode=False
            )
        except SystemExit:
            # click's main() ends a broken pipe it saw itself with sys.exit(1) even outside
            # standalone mode (and swaps in its own streams): output was lost, not "invalid".
            if streams.output is not None and streams.output.lost is not None:
                raise streams.output.lost from None
            raise lost_output(OSError(errno.EPIPE, "Broken pipe")) from None
        streams.settle()
    except click.exceptions.Exit as exc:
        return _settled(int(exc.exit_code), streams)
    except click.exceptions.UsageError as exc:
        _usage_error(exc)
        return 2
    except click.ClickException as exc:
        _error(_without_key_text(exc.format_message()))
        return 2
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            _error("interrupted")
            return 130
        _error("aborted")
        return 2
    except AttestkitError as exc:
        from attestkit.cli.params import cli_wording

        _error(cli_wording(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130  # 128 + SIGINT, as shells report it
    except BrokenPipeError as exc:
        # A pipe written past the stand-ins (a child process's, a raw descriptor): output lost.
        _error(str(lost_output(exc)))
        return 2
    except Exception as exc:  # never a traceback for users
        if os.environ.get("ATTESTKIT_DEBUG"):
            raise
        _error(f"internal error ({type(exc).__name__}); rerun with ATTESTKIT_DEBUG=1 for details")
        return 2
    return result if isinstance(result, int) else 0


def _settled(code: int, streams: StandardStreams) -> int:
    """*code*, unless what was written to stdout did not get out (then exit 2, said on stderr)."""
    from attestkit.errors import OutputLostError

    try:
        streams.settle()
    except OutputLostError as exc:
        _error(str(exc))
        return exc.exit_code
    return code


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


__all__ = ["main", "run"]
