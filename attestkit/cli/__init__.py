"""The command-line interface: a thin layer over the library.

``run()`` owns the exit-code contract: 0 valid, 1 invalid, 2 could not check, and every
error is one line on stderr, never a traceback (set ``ATTESTKIT_DEBUG=1`` for one). Error
text is escaped (:mod:`attestkit.core.textsafe`): a message quoting a file name or a server's
answer cannot move the cursor, recolour the log or add a line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click


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
    sys.stderr.write(f"Error: {escape_text(exc.format_message())}\n")
    sys.stderr.flush()


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    import click

    from attestkit.cli.app import app
    from attestkit.errors import AttestkitError

    try:
        result = app.main(args=list(argv) if argv is not None else None, prog_name="attestkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.UsageError as exc:
        _usage_error(exc)
        return 2
    except click.ClickException as exc:
        _error(exc.format_message())
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
    except BrokenPipeError:
        # Downstream closed the pipe (e.g. `| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 2
    except Exception as exc:  # never a traceback for users
        if os.environ.get("ATTESTKIT_DEBUG"):
            raise
        _error(f"internal error ({type(exc).__name__}); rerun with ATTESTKIT_DEBUG=1 for details")
        return 2
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


__all__ = ["main", "run"]
