"""Issue 15.10: a file truncated while it is hashed is an error, never SIGBUS.

The old mmap path died with SIGBUS (exit -7, no message) when the file shrank under a
mapping, and raised ValueError when it shrank between ``fstat`` and ``mmap``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from attestkit.core.crypto.digest import hash_fd, hash_path, tree_manifest
from attestkit.errors import HashingError

SIZE = 256 << 20


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)


@pytest.mark.parametrize("size", [100, 2 << 20, 64 << 20])
def test_shrink_between_fstat_and_read_is_a_change(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    _sparse(path, size)
    fd = os.open(path, os.O_RDONLY)
    try:
        recorded = os.fstat(fd).st_size
        os.truncate(path, size // 2)
        with pytest.raises(HashingError) as caught:
            hash_fd(fd, recorded, str(path))
    finally:
        os.close(fd)
    assert caught.value.code == "changed" and "changed while being hashed" in caught.value.message


def test_growth_during_read_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    _sparse(path, 3 << 20)
    fd = os.open(path, os.O_RDONLY)
    try:
        recorded = os.fstat(fd).st_size
        os.truncate(path, 5 << 20)
        with pytest.raises(HashingError, match=r"grew|expected"):
            hash_fd(fd, recorded, str(path))
    finally:
        os.close(fd)


def _flapper(path: Path, stop: threading.Event) -> None:
    """Shrink and regrow *path* until told to stop (sparse: each step is instant)."""
    while not stop.is_set():
        os.truncate(path, 4096)
        os.truncate(path, SIZE)


def test_truncation_race_in_subprocess_never_kills_the_process(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    _sparse(path, SIZE)
    stop = threading.Event()
    thread = threading.Thread(target=_flapper, args=(path, stop), daemon=True)
    thread.start()
    codes = []
    try:
        for _ in range(8):
            proc = subprocess.run(
                [sys.executable, "-m", "attestkit", "hash", str(path)], capture_output=True, timeout=120
            )
            assert proc.returncode in (0, 2), (proc.returncode, proc.stderr)  # a signal death is negative
            if proc.returncode == 2:
                assert b"changed while being hashed" in proc.stderr and b"Traceback" not in proc.stderr
            codes.append(proc.returncode)
    finally:
        stop.set()
        thread.join()
    assert 2 in codes  # the race was really run


def test_truncation_race_in_process_library(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    path = tree / "big.bin"
    _sparse(path, 32 << 20)
    stop = threading.Event()
    thread = threading.Thread(target=_flapper_small, args=(path, stop), daemon=True)
    thread.start()
    try:
        for _ in range(20):
            for call in (lambda: hash_path(path), lambda: tree_manifest(tree)):
                try:
                    call()
                except HashingError as exc:
                    assert exc.code == "changed"
    finally:
        stop.set()
        thread.join()


def _flapper_small(path: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        os.truncate(path, 1 << 20)
        os.truncate(path, 32 << 20)


def test_hashing_in_a_child_forked_after_threaded_hashing_does_not_hang(tmp_path: Path) -> None:
    """BLAKE3's thread pool does not survive fork (bulk workers are forked): the child hashes alone."""
    path = tmp_path / "f.bin"
    _sparse(path, 40 << 20)
    expected = hash_path(path)  # starts BLAKE3's threads in this process
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if hash_path(path) == expected else 1)
    deadline_pid, status = 0, 0
    for _ in range(600):  # up to 60 s; a hang fails the test instead of blocking the suite
        deadline_pid, status = os.waitpid(pid, os.WNOHANG)
        if deadline_pid:
            break
        threading.Event().wait(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert deadline_pid and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
