"""The ``opa`` backend: evaluate Rego with the real Open Policy Agent binary.

``opa check`` when the policy is loaded, ``opa eval`` per receipt on the same input document as
the embedded engine (on stdin), ``--format json``, strict builtin errors. Only the policy file
is given: no bundles, no data, no config, no discovery, and an environment holding nothing but
``PATH`` (builtins that reach the network, the environment or files are refused before OPA
runs, see ``attestkit.core.policy.rego_scan``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attestkit.core.policy.rego import QUERY, RegoOutcome, parse_query_result
from attestkit.errors import PolicyError, RegoEvaluationError, RegoUnsupportedError, UsageError

TIMEOUT_SECONDS = 60.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024


def find_opa(explicit: str | None = None) -> str:
    """The ``opa`` executable: *explicit*, else ``$ATTESTKIT_OPA``, else ``opa`` on ``PATH``.

    It must be an absolute path: a relative one (``ATTESTKIT_OPA=tools/opa``, or a ``PATH``
    entry such as ``.`` or ``bin``) is resolved against the working directory, which in CI is
    the checkout under review, so the code being judged would choose its judge.
    """
    if explicit:
        candidate, source = explicit, "the opa path"
    elif os.environ.get("ATTESTKIT_OPA"):
        candidate, source = os.environ["ATTESTKIT_OPA"], "ATTESTKIT_OPA"
    else:
        found = shutil.which("opa")
        if not found:
            raise UsageError(
                "--rego-engine opa: no opa binary found; set ATTESTKIT_OPA=/path/to/opa or put opa on PATH"
            )
        candidate, source = found, "opa on PATH"
    if not os.path.isabs(candidate):
        where = (
            "is found through a relative PATH entry" if source == "opa on PATH" else f"is {candidate}, a relative path"
        )
        raise UsageError(
            f"--rego-engine opa: {source} {where}, resolved against the working directory (the checkout); "
            f"give an absolute path (ATTESTKIT_OPA=/path/to/opa)"
        )
    if not os.path.isfile(candidate) or not os.access(candidate, os.X_OK):
        raise UsageError(f"--rego-engine opa: {candidate} is not an executable file")
    return candidate


def _environment() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath)}


def _run(argv: list[str], stdin: bytes | None, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, timeout=TIMEOUT_SECONDS, env=_environment(), check=False
        )
    except subprocess.TimeoutExpired:
        raise RegoEvaluationError(f"{what}: opa did not finish within {TIMEOUT_SECONDS:.0f}s") from None
    except OSError as exc:
        raise PolicyError(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from None


def _first_error(path: str, stdout: bytes, stderr: bytes) -> str:
    """One line from OPA's ``{"errors": [...]}`` answer (or its stderr)."""
    try:
        answer = json.loads(stdout or b"{}")
        errors = answer.get("errors") if isinstance(answer, dict) else None
    except ValueError:
        errors = None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        location = first.get("location") if isinstance(first.get("location"), dict) else {}
        row = location.get("row") if isinstance(location, dict) else None
        code = first.get("code", "error")
        message = " ".join(str(first.get("message", "")).split())
        return f"{path}: line {row}: {code}: {message}" if row else f"{path}: {code}: {message}"
    text = " ".join(stderr.decode("utf-8", "replace").split())[:300]
    return f"{path}: {text or 'opa failed'}"


class _OpaEvaluator:
    """A policy written to a private temporary file, evaluated with ``opa eval``."""

    def __init__(self, opa: str, path: str, text: str) -> None:
        self._opa = opa
        self._path = path
        self._dir = tempfile.mkdtemp(prefix="attestkit-opa-")
        weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._file = str(Path(self._dir) / "policy.rego")
        with open(self._file, "w", encoding="utf-8") as handle:
            handle.write(text)
        checked = _run([opa, "check", "--format", "json", self._file], None, path)
        if checked.returncode != 0:
            raise RegoUnsupportedError(_first_error(path, checked.stdout, checked.stderr))

    def evaluate(self, document: Mapping[str, Any]) -> RegoOutcome:
        """Run ``opa eval`` on *document*."""
        argv = [self._opa, "eval", "--format", "json", "--strict-builtin-errors", "--stdin-input", "-d", self._file]
        payload = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
        done = _run([*argv, QUERY], payload, self._path)
        if len(done.stdout) > MAX_OUTPUT_BYTES:
            raise RegoEvaluationError(f"could not evaluate {self._path}: opa output is too large")
        try:
            answer = json.loads(done.stdout or b"null")
        except ValueError:
            answer = None
        if done.returncode != 0 or not isinstance(answer, dict) or "errors" in answer:
            raise RegoEvaluationError(f"could not evaluate {_first_error(self._path, done.stdout, done.stderr)}")
        prints = tuple(line for line in done.stderr.decode("utf-8", "replace").splitlines() if line)
        return parse_query_result(self._path, done.stdout.decode("utf-8"), prints)


@dataclass(frozen=True)
class OpaBinaryEngine:
    """Rego evaluated by the ``opa`` executable at *opa*: OPA's exact semantics."""

    opa: str
    name: str = "opa"
    embedded: bool = False

    def compile(self, path: str, text: str) -> _OpaEvaluator:
        """``opa check`` the policy; :class:`RegoUnsupportedError` with OPA's first error."""
        return _OpaEvaluator(self.opa, path, text)


__all__ = ["OpaBinaryEngine", "find_opa"]
