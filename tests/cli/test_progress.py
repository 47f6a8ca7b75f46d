"""The progress line: shown on a terminal, never when redirected or under CI=true."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _run(path: Path, *, tty: bool, env: dict[str, str]) -> tuple[str, str]:
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    full_env = {**os.environ, "ATTESTKIT_PROGRESS_AFTER": "0", **env}
    if "CI" not in env:
        full_env.pop("CI", None)
    if not tty:
        proc = subprocess.run([exe, "hash", str(path)], capture_output=True, env=full_env, check=True)
        return proc.stdout.decode(), proc.stderr.decode()
    primary, secondary = os.openpty()
    proc = subprocess.run([exe, "hash", str(path)], stdout=subprocess.PIPE, stderr=secondary, env=full_env, check=True)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return proc.stdout.decode(), b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "big.bin"
    path.write_bytes(os.urandom(1 << 20) * 80)
    return path


def test_progress_on_a_terminal(big_file: Path) -> None:
    out, err = _run(big_file, tty=True, env={})
    assert out.startswith("blake3:")
    assert "hashing" in err and "MiB" in err


def test_no_progress_when_redirected_or_in_ci(big_file: Path) -> None:
    assert _run(big_file, tty=False, env={})[1] == ""
    assert "hashing" not in _run(big_file, tty=True, env={"CI": "true"})[1]
