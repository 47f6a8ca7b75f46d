"""Shared fixtures: real keys, real receipts, real files, and ways to run the CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt

# CI runs a fixed set of examples (reproducible verdicts); local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
if IN_CI:
    settings.load_profile("ci")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CI a skipped test is a failure: .ci/run installs everything every test needs."""
    outcome = yield
    report = outcome.get_result()
    # One exception, named in the closing note: a permission test that cannot run as root.
    allowed = "root can list any directory" in str(report.longrepr)
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and not allowed:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (CI must install what this test needs): {report.longrepr}"


ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
EXTERNAL = Path(os.environ.get("ATTESTKIT_EXTERNAL_VECTORS", ROOT.parent / "shared" / "vectors-external"))
NOW = "2026-11-20T12:00:00Z"


def external(relative: str) -> Path:
    """Path of an external vector file; skip the test only when the folder is absent."""
    if not EXTERNAL.is_dir():
        pytest.skip(f"external vectors not found at {EXTERNAL}")
    path = EXTERNAL / relative
    assert path.exists(), f"{path} missing from the external vectors folder"
    return path


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def make_receipt(**overrides: Any) -> dict[str, Any]:
    """A typical unsigned ATTEST receipt."""
    receipt: dict[str, Any] = {
        "pipeline_hash": "blake3:" + "ab" * 32,
        "timestamp": "2026-11-20T10:00:00Z",
        "total_duration_secs": 45.2,
        "attest_version": "0.1.0",
        "environment": {"host_os": "linux", "host_arch": "x86_64"},
        "steps": [
            {
                "name": "build",
                "command": "make",
                "exit_code": 0,
                "duration_secs": 12.5,
                "start_time": "2026-11-20T09:59:00Z",
                "end_time": "2026-11-20T09:59:12.5Z",
                "inputs": [],
                "outputs": [{"path": "dist/app.bin", "hash": "blake3:" + "cd" * 32, "size_bytes": 3}],
            }
        ],
        "attestations": {
            "test": {"type": "attest/test", "predicate": {"test_results": {"total": 5, "passed": 5, "failed": 0}}},
            "security": {"type": "attest/security", "predicate": {"results": {"vulnerabilities": {"critical": 0}}}},
        },
    }
    receipt.update(overrides)
    return receipt


@pytest.fixture(scope="session")
def key() -> PrivateKey:
    return PrivateKey.from_seed(bytes(range(32)))


@pytest.fixture(scope="session")
def other_key() -> PrivateKey:
    return PrivateKey.from_seed(bytes(range(1, 33)))


@pytest.fixture()
def signed(key: PrivateKey) -> dict[str, Any]:
    return sign_receipt(make_receipt(), key)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def _cli_command() -> list[str]:
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "attestkit"]


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    """The environment a CLI run sees: this one minus credentials, plus the test's own."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ATTESTKIT_KEY", "ATTESTKIT_SIGNING", "ATTEST_"))
    }
    full_env.update(env or {})
    return full_env


def run_cli_process(
    args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> CliResult:
    """Run the installed ``attestkit`` command in a child process."""
    proc = subprocess.run(
        [*_cli_command(), *args], input=stdin, capture_output=True, env=_child_env(env), cwd=cwd, timeout=60
    )
    return CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGPIPE)


def run_cli_in_process(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    exact_env: bool = False,
) -> CliResult:
    """Run the real CLI entry point (``attestkit.cli.run``) in this process.

    Same code as the console script, minus the interpreter start: the environment, working
    directory, ``sys.argv`` and standard streams are swapped for the call and restored after it, as are
    the signal handlers the CLI may install. Streams are byte buffers, so ``.buffer`` writes
    and the CLI's own decoding behave as with pipes. An escaping exception is rendered the
    way the interpreter would render it (traceback on stderr, exit 1), so "never a
    traceback" assertions keep their meaning. With *exact_env*, *env* is the whole environment.
    """
    from attestkit.cli import run

    saved_env = os.environ.copy()
    saved_cwd = os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_argv = sys.argv
    saved_signals = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    out_buf, err_buf = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_buf, encoding="utf-8", errors="strict", newline="\n", write_through=True)
    err = io.TextIOWrapper(err_buf, encoding="utf-8", errors="backslashreplace", newline="\n", write_through=True)
    child_env = dict(env or {}) if exact_env else _child_env(env)
    try:
        os.environ.clear()
        os.environ.update(child_env)
        os.chdir(cwd)
        sys.argv = ["attestkit", *args]
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
        sys.stdout, sys.stderr = out, err
        try:
            code = run(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            err.write(traceback.format_exc())
            code = 1
        out.flush()
        err.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for signum, handler in saved_signals.items():
            if handler is not None:
                signal.signal(signum, handler)
    return CliResult(code, out_buf.getvalue().decode("utf-8", "replace"), err_buf.getvalue().decode("utf-8", "replace"))


# ATTESTKIT_TEST_CLI=process runs every ``cli`` call in a child process (the slow, complete way).
CLI_IN_PROCESS = os.environ.get("ATTESTKIT_TEST_CLI", "in-process") != "process"


@pytest.fixture()
def cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the CLI: in this process by default (the real entry point, no interpreter start)."""
    runner = run_cli_in_process if CLI_IN_PROCESS else run_cli_process

    def run(
        *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, cwd: Path | None = None
    ) -> CliResult:
        return runner(args, cwd=cwd or tmp_path, env=env, stdin=stdin)

    return run


@pytest.fixture()
def cli_process(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the installed ``attestkit`` command in a child process (signals, pipes, packaging)."""

    def run(
        *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, cwd: Path | None = None
    ) -> CliResult:
        return run_cli_process(args, cwd=cwd or tmp_path, env=env, stdin=stdin)

    return run


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def assert_one_line_error(result: CliResult) -> None:
    """Errors are one line on stderr and never a traceback."""
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
