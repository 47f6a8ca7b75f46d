"""Running Graphviz ``dot`` to turn DOT text into SVG (the only place attestkit runs it).

``dot`` gets the DOT text on stdin and nothing else: no file names, an environment holding only
``PATH``, a time limit and a bound on its output. A missing ``dot`` is a usage error with a
one-line hint; a ``dot`` that fails is reported with the first line it wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from attestkit.errors import CouldNotCheckError, UsageError

TIMEOUT_SECONDS = 60.0
MAX_SVG_BYTES = 64 * 1024 * 1024
INSTALL_HINT = (
    "--format svg needs Graphviz's dot (Debian/Ubuntu: apt-get install graphviz); or use --format dot|mermaid"
)


def find_dot() -> str:
    """The ``dot`` executable: ``$ATTESTKIT_DOT``, else ``dot`` on ``PATH``; :class:`UsageError` with a hint if none."""
    candidate = os.environ.get("ATTESTKIT_DOT") or shutil.which("dot")
    if not candidate or not os.path.isfile(candidate) or not os.access(candidate, os.X_OK):
        raise UsageError(INSTALL_HINT, code="graphviz-missing")
    return candidate


def render_svg(dot_text: str, executable: str | None = None) -> bytes:
    """SVG drawn by ``dot -Tsvg`` from *dot_text*."""
    argv = [executable or find_dot(), "-Tsvg"]
    try:
        done = subprocess.run(
            argv,
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            env={"PATH": os.environ.get("PATH", os.defpath)},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CouldNotCheckError(f"dot did not finish within {TIMEOUT_SECONDS:.0f}s", code="graphviz") from None
    except OSError as exc:
        raise CouldNotCheckError(f"cannot run {argv[0]}: {exc.strerror or exc}", code="graphviz") from None
    if done.returncode != 0:
        first = next((line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()), "")
        raise CouldNotCheckError(f"dot failed (exit {done.returncode}): {first}", code="graphviz")
    if len(done.stdout) > MAX_SVG_BYTES:
        raise CouldNotCheckError(f"dot wrote more than {MAX_SVG_BYTES} bytes of SVG", code="graphviz")
    return done.stdout
