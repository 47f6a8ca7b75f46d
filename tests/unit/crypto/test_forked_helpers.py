"""Forked helpers inside a library user's process (hashing helpers, bulk verification workers).

A helper is a ``fork`` of whatever process called attestkit: a service with its own signal
handlers, faulthandler, or native threads. The helper must not hang on a thread pool the
fork did not copy, must not run the caller's handlers, and must die quietly. Each check runs
in a fresh interpreter (``_clean``: one thread, no children).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from blake3 import blake3

from attestkit.core.crypto import tree_split
from attestkit.core.crypto.digest import hash_path
from tests.conftest import ROOT
from tests.unit.crypto.test_mapped_file import _children, _forks, _write
from tests.unit.crypto.test_tree_split import _clean

ZEROS_512_MIB = "blake3:34f2f34bcc048af98242e010b4a661348276a784d9f9f99fcff70bf94fe8b9ba"

pytestmark = pytest.mark.slow  # fresh interpreters that hash files of 64 MiB and more


def _file_and_tree(folder: str, files: int, chunk: int, repeats: Callable[[int], int]) -> tuple[Path, str, Path]:
    """An 80 MiB file (its digest) and a tree of *files* small files of *chunk* random bytes repeated."""
    path = Path(folder) / "big"
    expected = _write(path, 80 << 20)
    tree = Path(folder) / "tree"
    tree.mkdir()
    for index in range(files):
        (tree / f"f{index:03}").write_bytes(os.urandom(chunk) * repeats(index))
    return path, expected, tree


def _after_blake3_threads(folder: str) -> None:
    path, expected, tree = _file_and_tree(folder, 300, 64, lambda index: index)
    (tree / "large").write_bytes(path.read_bytes())
    blake3(b"x" * (1 << 22), max_threads=blake3.AUTO).hexdigest()  # the caller's own use of BLAKE3's pool
    before = len(_forks)
    assert hash_path(path, processes=2) == expected
    shared = hash_path(tree, processes=2)
    assert len(_forks) == before, "forked beside native threads"
    assert shared == hash_path(tree, processes=1)


def test_no_helper_is_forked_beside_a_native_thread_pool(tmp_path: Path) -> None:
    # A fork copies one thread: BLAKE3's pool, started by the caller, would never answer the
    # helper, which hung forever (and the caller with it).
    _clean(_after_blake3_threads, str(tmp_path), timeout=120)


def _bulk_after_blake3_threads(folder: str) -> None:
    from attestkit import PrivateKey, sign_receipt
    from attestkit.core.timeutil import parse_rfc3339
    from attestkit.core.trust.store import TrustStore
    from attestkit.core.verify.bulk import BulkItem, verify_many
    from attestkit.core.verify.verifier import VerifyOptions

    artifacts = Path(folder) / "artifacts"
    artifacts.mkdir()
    digest = _write(artifacts / "big", 20 << 20)  # hashed on BLAKE3's threads, if any
    key = PrivateKey.from_seed(bytes(32))
    step = {"name": "build", "exit_code": 0, "outputs": [{"path": "big", "hash": digest}]}
    raw = json.dumps(sign_receipt({"timestamp": "2026-11-20T10:00:00Z", "steps": [step]}, key)).encode()
    options = VerifyOptions(
        trusted=TrustStore.of([key.public_key]),
        now=parse_rfc3339("2026-11-20T12:00:00Z"),
        artifacts_dir=str(artifacts),
    )
    blake3(b"x" * (1 << 22), max_threads=blake3.AUTO).hexdigest()  # the caller's own use of BLAKE3's pool
    outcomes = list(verify_many([BulkItem(f"r{index}", raw) for index in range(4)], options, jobs=2))
    assert [outcome.valid for outcome in outcomes] == [True] * 4


def test_bulk_workers_forked_beside_a_native_thread_pool_do_not_hang(tmp_path: Path) -> None:
    # The workers are forks of a process whose BLAKE3 pool the caller started: a worker that
    # hashed a large artifact on that pool's (absent) threads waited forever.
    _clean(_bulk_after_blake3_threads, str(tmp_path), timeout=120)


def _callers_handler_not_in_helper(folder: str) -> None:
    path = Path(folder) / "sparse"
    with open(path, "wb") as handle:
        handle.truncate(512 << 20)  # no disk; long enough to signal the helper mid-file
    marker = Path(folder) / "handled"

    def on_term(signum: int, frame: object) -> None:
        with open(marker, "a") as handle:
            handle.write(f"{os.getpid()}\n")

    signal.signal(signal.SIGTERM, on_term)
    signalled: list[int] = []

    def progress(count: int) -> None:
        if not signalled:
            signalled.extend(_children())
            for pid in signalled:
                os.kill(pid, signal.SIGTERM)

    digest = hash_path(path, progress, processes=2)
    assert signalled, "no helper was forked"
    assert not marker.exists(), f"the caller's SIGTERM handler ran in its helper (pids {marker.read_text().split()})"
    assert signal.getsignal(signal.SIGTERM) is on_term
    assert not _children()
    assert digest == ZEROS_512_MIB  # b3sum of 512 MiB of zeros


def test_the_callers_signal_handlers_do_not_run_in_a_helper(tmp_path: Path) -> None:
    _clean(_callers_handler_not_in_helper, str(tmp_path))


def test_a_helper_killed_by_sigbus_prints_nothing(tmp_path: Path) -> None:
    # Under python -X faulthandler (pytest's own setting too) the helper's SIGBUS printed
    # "Fatal Python error: Bus error" and a traceback on the caller's stderr.
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from attestkit.core.crypto import mapped_file
        path = {str(tmp_path / "sparse")!r}
        with open(path, "wb") as handle:
            handle.truncate(1 << 30)
        fd = os.open(path, os.O_RDONLY)
        assert mapped_file.hash_mapped(fd, 1 << 30, lambda count: os.truncate(path, 1 << 20)) is None
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stderr == ""


def _interrupted_collect(folder: str) -> None:
    class Interrupted(Exception):
        pass

    def on_alarm(signum: int, frame: object) -> None:
        raise Interrupted

    split = tree_split.start(0, 2)
    assert split is not None
    if split.role:  # the helper: answer late
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        import time

        time.sleep(30)
        tree_split.finish_helper(split, tree_split.Shared())
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        tree_split.collect(split)
        raise AssertionError("collect returned before the helper answered")
    except Interrupted:
        pass
    tree_split.abandon(split)  # what the walk does after an interruption
    assert not _children(), "a helper outlived an interrupted collect"


def test_an_interrupted_collect_leaves_no_helper(tmp_path: Path) -> None:
    _clean(_interrupted_collect, str(tmp_path))


def _bulk_workers_forget_handlers(folder: str) -> None:
    from attestkit.core.verify.bulk import BulkItem, verify_many
    from attestkit.core.verify.verifier import VerifyOptions

    def on_signal(signum: int, frame: object) -> None:
        pass

    for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(signum, on_signal)
    items = [BulkItem(f"r{index}", b"{}") for index in range(2000)]
    caught: dict[int, int] = {}
    for index, outcome in enumerate(verify_many(items, VerifyOptions(integrity_only=True), jobs=2)):
        assert outcome.error is not None or outcome.valid is False
        for pid in _children() if index % 50 == 0 else ():  # a walk of /proc: not after every item
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            mask = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
            caught[pid] = int(mask.split()[1], 16)
    assert caught, "no worker was seen"
    for pid, mask in caught.items():
        for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
            assert not mask & (1 << (signum - 1)), f"worker {pid} still runs the caller's handler for {signum!r}"


def test_bulk_workers_do_not_run_the_callers_signal_handlers(tmp_path: Path) -> None:
    _clean(_bulk_workers_forget_handlers, str(tmp_path))


def _with_sigchld_ignored(folder: str) -> None:
    path, expected, tree = _file_and_tree(folder, 700, 32, lambda index: index % 7)
    one_process = hash_path(tree, processes=1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # a daemon's idiom: the kernel reaps children
    assert hash_path(path, processes=2) == expected  # was HashingError "No child processes"
    assert hash_path(tree, processes=2) == one_process  # was a raw ChildProcessError


def test_a_caller_ignoring_sigchld_gets_the_single_process_digests(tmp_path: Path) -> None:
    _clean(_with_sigchld_ignored, str(tmp_path))


def _helper_settled(folder: str) -> None:
    import ctypes
    import resource

    report = Path(folder) / "helper.txt"
    signal.signal(signal.SIGTSTP, lambda signum, frame: None)
    split = tree_split.start(0, 2)
    assert split is not None
    if split.role:
        dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        core = resource.getrlimit(resource.RLIMIT_CORE)
        stop = signal.getsignal(signal.SIGTSTP) == signal.SIG_IGN
        report.write_text(f"{dumpable} {core[0]} {core[1]} {stop}")
        tree_split.finish_helper(split, tree_split.Shared())
    assert tree_split.collect(split) is not None
    assert report.read_text() == "0 0 0 True", report.read_text()
    assert signal.getsignal(signal.SIGTSTP) is not signal.SIG_IGN


def test_a_helper_dumps_no_core_and_ignores_terminal_stops(tmp_path: Path) -> None:
    # A SIGBUS in the mapped helper wrote a core file holding the caller's memory (keys
    # included); a caller handling Ctrl-Z itself waited forever for a helper the kernel stopped.
    _clean(_helper_settled, str(tmp_path))


def _deadline_in_a_shared_walk(folder: str) -> None:
    import time

    tree = Path(folder) / "tree"
    tree.mkdir()
    for index in range(3000):
        (tree / f"f{index:04}").write_bytes(b"x" * 100)

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError("deadline")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    started = time.monotonic()
    try:
        hash_path(tree, lambda size: time.sleep(0.001), processes=2)
        raise AssertionError("the caller's deadline was swallowed: the walk was redone and returned a digest")
    except TimeoutError as exc:
        assert str(exc) == "deadline"
    assert time.monotonic() - started < 3
    assert not _children()


def test_a_callers_deadline_stops_a_shared_walk(tmp_path: Path) -> None:
    _clean(_deadline_in_a_shared_walk, str(tmp_path))


def _progress_once_after_a_redo(folder: str) -> None:
    tree = Path(folder) / "tree"
    tree.mkdir()
    total = 0
    for index in range(2000):
        data = os.urandom(64) * (1 + index % 5)
        (tree / f"f{index:04}").write_bytes(data)
        total += len(data)
    seen: list[int] = []

    def progress(size: int) -> None:
        if len(seen) == 700:  # after the fork: the helper dies, the walk is redone in one process
            for pid in _children():
                os.kill(pid, signal.SIGKILL)
        seen.append(size)

    assert hash_path(tree, progress, processes=2) == hash_path(tree, processes=1)
    assert sum(seen) == total, f"progress reported {sum(seen)} of {total} bytes"


def test_progress_adds_up_once_when_a_shared_walk_is_redone(tmp_path: Path) -> None:
    _clean(_progress_once_after_a_redo, str(tmp_path))


def test_a_rewrite_with_its_mtime_put_back_is_a_change(tmp_path: Path) -> None:
    # Old head + new tail, with os.utime restoring the mtime, gave the digest of a file that
    # never existed; the ctime cannot be put back.
    path = tmp_path / "big"
    _write(path, 12 << 20)
    before = os.stat(path)
    rewritten: list[int] = []

    def rewrite(count: int) -> None:
        if not rewritten:
            with open(path, "r+b") as handle:
                handle.seek(-1024, os.SEEK_END)
                handle.write(b"\0" * 1024)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            rewritten.append(count)

    from attestkit.errors import HashingError

    with pytest.raises(HashingError) as caught:
        hash_path(path, rewrite)
    assert rewritten and caught.value.code == "changed"


def _fd_read_part_way(folder: str) -> None:
    from attestkit.core.crypto.digest import hash_fd
    from attestkit.errors import HashingError

    path = Path(folder) / "big"
    _write(path, 70 << 20)
    outcomes = []
    for processes in (2, 1):  # 2 first: once BLAKE3's threads have run, nothing is mapped
        fd = os.open(path, os.O_RDONLY)
        try:
            os.lseek(fd, 4096, os.SEEK_SET)
            try:
                outcomes.append(hash_fd(fd, os.fstat(fd).st_size, "big", processes=processes))
            except HashingError as exc:
                outcomes.append(exc.code)
        finally:
            os.close(fd)
    assert outcomes[0] == outcomes[1] == "changed"


def test_a_caller_fd_read_part_way_is_not_hashed_from_its_start(tmp_path: Path) -> None:
    # The mapped helper hashed the whole file where reading from the fd's offset reports a change.
    _clean(_fd_read_part_way, str(tmp_path))
