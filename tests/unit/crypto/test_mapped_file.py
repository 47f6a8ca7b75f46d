"""Issue 20.4: one large file hashed through a mapping in a forked helper (``attestkit hash FILE``).

The helper only saves the copy out of the page cache: its digest must equal ``b3sum``'s and
the reading path's, progress must add up to the file's size exactly once, and a helper that
dies (SIGBUS from a truncation, a kill) sends the caller back to reading the file, whose checks
then report the change. Nothing is forked for a library caller that did not ask for helpers,
or from a process with other threads. Fork checks run in a fresh interpreter (the test process
holds other tests' threads), as in ``test_tree_split``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from blake3 import blake3

from attestkit.core.crypto import digest as digest_module
from attestkit.core.crypto import mapped_file
from attestkit.core.crypto.digest import hash_path
from attestkit.errors import HashingError
from tests.unit.crypto.test_tree_split import _clean, _same_command

pytestmark = pytest.mark.slow  # hashes files of 64 MiB and more, truncates them under a mapping

MAP_FROM = digest_module._MAP_FROM
CHUNK = mapped_file._CHUNK
_forks: list[int] = []
os.register_at_fork(after_in_parent=lambda: _forks.append(1))


def _children() -> list[int]:
    """Live child processes of this process (read from ``/proc``)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != b"Z":
                found.append(int(pid))
    return found


def _write(path: Path, size: int) -> str:
    data = os.urandom(1 << 20) * (size >> 20) + os.urandom(size & ((1 << 20) - 1))
    path.write_bytes(data)
    return "blake3:" + blake3(data).hexdigest()


def _mapped_equals_reading(folder: str) -> None:
    sizes = (MAP_FROM, MAP_FROM + 1, 2 * CHUNK + 12_345)
    files = [(Path(folder) / f"big{index}", size) for index, size in enumerate(sizes)]
    expected = [_write(path, size) for path, size in files]
    for (path, size), digest in zip(files, expected, strict=True):
        before = len(_forks)
        seen: list[int] = []
        assert hash_path(path, seen.append, processes=2) == digest
        assert len(_forks) == before + 1, "the file was not hashed by a helper"
        assert sum(seen) == size and all(count > 0 for count in seen)
        assert not _children()
    before = len(_forks)
    assert [hash_path(path, processes=1) for path, _ in files] == expected
    assert len(_forks) == before, "processes=1 forked"
    # BLAKE3's threads have now run in this process: a fork would inherit a dead pool, so no helper
    assert [hash_path(path, processes=2) for path, _ in files] == expected
    assert len(_forks) == before


def test_mapped_digest_equals_reading_and_progress_adds_up(tmp_path: Path) -> None:
    _clean(_mapped_equals_reading, str(tmp_path))


def _truncated_under_the_helper(folder: str) -> None:
    path = Path(folder) / "sparse"
    with open(path, "wb") as handle:  # a sparse file: no disk, and the helper takes long enough
        handle.write(b"head")
        handle.truncate(1 << 30)

    def truncate(count: int) -> None:
        os.truncate(path, 1 << 20)  # the helper's next pages are gone: touching them is SIGBUS

    fd = os.open(path, os.O_RDONLY)
    try:
        assert mapped_file.hash_mapped(fd, 1 << 30, truncate) is None
    finally:
        os.close(fd)
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)
    with pytest.raises(HashingError) as caught:
        hash_path(path, lambda count: os.truncate(path, 1 << 20), processes=2)
    assert caught.value.code == "changed" and "changed while being hashed" in caught.value.message
    assert not _children()


def test_truncation_under_the_mapping_is_a_change_not_a_crash(tmp_path: Path) -> None:
    _clean(_truncated_under_the_helper, str(tmp_path))


def _killed_helper_means_reading(folder: str) -> None:
    path = Path(folder) / "big"
    size = 3 * CHUNK + 7
    expected = _write(path, size)
    seen: list[int] = []

    def kill_helper(count: int) -> None:
        if not seen:
            for pid in _children():
                os.kill(pid, signal.SIGKILL)
        seen.append(count)

    assert hash_path(path, kill_helper, processes=2) == expected
    assert sum(seen) == size, "progress counted some bytes twice or missed some"
    assert not _children()


def test_a_killed_helper_sends_the_caller_back_to_reading(tmp_path: Path) -> None:
    _clean(_killed_helper_means_reading, str(tmp_path))


def _no_fork_with_threads(folder: str) -> None:
    path = Path(folder) / "big"
    expected = _write(path, MAP_FROM)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        before = len(_forks)
        assert hash_path(path, processes=2) == expected
        assert len(_forks) == before, "forked from a process with another thread"
    finally:
        stop.set()
        other.join()


def test_no_helper_is_forked_beside_other_threads(tmp_path: Path) -> None:
    _clean(_no_fork_with_threads, str(tmp_path))


def test_cli_hash_of_a_large_file_equals_b3sum(tmp_path: Path) -> None:
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        pytest.skip("b3sum is not installed (.ci/run installs it)")
    path = tmp_path / "big.bin"
    expected = _write(path, 2 * CHUNK + 1)
    theirs = subprocess.run([b3sum, str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    ours = subprocess.run([sys.executable, "-m", "attestkit", "hash", str(path)], capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == f"{expected}  {path}\n" and expected == "blake3:" + theirs


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_helper_does_not_outlive_its_command(tmp_path: Path, signum: int) -> None:
    path = tmp_path / f"sparse-{signum}"
    with open(path, "wb") as handle:
        handle.truncate(64 << 30)  # long enough for the helper to be seen, read only until the kill
    proc = subprocess.Popen([sys.executable, "-m", "attestkit", "hash", str(path)], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_same_command(str(path))) < 2:
            time.sleep(0.005)
        assert len(_same_command(str(path))) >= 2, "no helper was forked"
        proc.send_signal(signum)
        proc.wait(timeout=30)
        assert proc.returncode == (130 if signum == signal.SIGINT else -signum)
        deadline = time.monotonic() + 5  # the helper checks its parent after each step
        while time.monotonic() < deadline and _same_command(str(path)):
            time.sleep(0.02)
        assert not _same_command(str(path)), "the helper went on reading after its command ended"
    finally:
        proc.kill()
        proc.wait()
        for pid in _same_command(str(path)):
            os.kill(pid, signal.SIGKILL)
        path.unlink()
