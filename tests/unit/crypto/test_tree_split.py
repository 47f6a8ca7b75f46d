"""Issue 20.4: a large tree shared with forked helper processes gives exactly the one-process answer.

Digests, sizes and manifests are compared against the single-process walk and against
``b3sum``; errors (their code and their message, i.e. which entry is reported first) must be
the ones the single-process walk raises wherever the bad entry sits: before the fork, in the
parent's share or in a helper's. Helpers never outlive a call, leak no descriptor, and read
into their own buffers (the aligned read buffers are private mappings).

Helpers are forked only from a process with one thread (``digest._may_fork``). The test
process may hold other tests' threads and children (servers, pools, clusters), so every check
that needs a fork, or counts children, runs in a fresh interpreter (``_clean``) and the CLI
checks run the console script in a child process.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from blake3 import blake3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.crypto import digest as digest_module
from attestkit.core.crypto.digest import hash_file, hash_path, hash_path_with_size, tree_manifest
from attestkit.errors import HashingError
from tests.conftest import ROOT, CliResult

pytestmark = pytest.mark.slow  # forks helpers over large trees and races them

FORK_AFTER = digest_module._FORK_AFTER
_forks: list[int] = []
os.register_at_fork(after_in_parent=lambda: _forks.append(1))


def _b3sum_digest(root: Path) -> str:
    """The directory digest from ``b3sum``'s own lines (regular files only), as the contract allows."""
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        pytest.skip("b3sum is not installed (.ci/run installs it)")
    files = sorted((p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()), key=str.encode)
    out = subprocess.run([b3sum, "--", *(f"./{f}" for f in files)], cwd=root, capture_output=True, check=True).stdout
    lines = sorted(
        (line.replace(b"  ./", b"  ", 1) for line in out.splitlines(keepends=True)), key=lambda x: x.split(b"  ", 1)[1]
    )
    return "blake3:" + blake3(b"".join(lines)).hexdigest()


def _tree(root: Path, seed: int, files: int, links: bool = True) -> None:
    """A tree of *files* regular files (sizes around the read-path thresholds), dirs and links."""
    rng = random.Random(seed)
    sizes = [0, 1, 31, 4096, 65535, 65536, 70_000, 300_000]
    dirs = [root]
    for i in range(files):
        if rng.random() < 0.05:
            sub = rng.choice(dirs) / f"d{i}"
            sub.mkdir()
            dirs.append(sub)
        size = rng.choice(sizes) if rng.random() < 0.2 else rng.randrange(0, 5000)
        (rng.choice(dirs) / f"f{i}").write_bytes(rng.randbytes(size))
        if links and rng.random() < 0.02:
            (rng.choice(dirs) / f"l{i}").symlink_to(f"../f{i}" if rng.random() < 0.5 else "/nowhere")


def _clean(function: Callable[..., None], *args: object, timeout: float = 600) -> None:
    """Run a test module's *function*(*args) in a fresh interpreter: one thread and no children,
    so helpers are really forked there (arguments as their ``repr``)."""
    source = Path(sys.modules[function.__module__].__file__ or "").resolve().relative_to(ROOT)
    name = ".".join(source.with_suffix("").parts)  # tests.unit.crypto.<module>, however pytest named it
    call = f"module.{function.__name__}(*{args!r})"
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import {name} as module; {call}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]


def _same_everywhere(root: Path | str, workers: int | None = None) -> None:
    root = Path(root)
    before = len(_forks)
    expected = tree_manifest(root, workers=workers)
    for processes in (2, 3):
        assert tree_manifest(root, workers=workers, processes=processes) == expected
        assert hash_path_with_size(root, processes=processes) == hash_path_with_size(root, processes=1)
    assert len(_forks) > before, "no helper was forked: the shared path was not exercised"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), extra=st.integers(1, 400))
def test_shared_tree_equals_one_process(tmp_path_factory: pytest.TempPathFactory, seed: int, extra: int) -> None:
    root = tmp_path_factory.mktemp("tree")
    _tree(root, seed, FORK_AFTER + extra)
    _clean(_same_everywhere_for_both_walks, str(root))


def _same_everywhere_for_both_walks(root: str) -> None:
    _same_everywhere(root, 1)  # one walker thread
    _same_everywhere(root)


def _shared_equals(root: str, expected: str) -> None:
    before = len(_forks)
    assert hash_path(root, processes=2) == expected
    assert len(_forks) > before


def test_shared_tree_equals_b3sum(tmp_path: Path) -> None:
    _tree(tmp_path, 7, 3 * FORK_AFTER, links=False)
    _clean(_shared_equals, str(tmp_path), _b3sum_digest(tmp_path))


def _not_forked(root: str) -> None:
    before = len(_forks)
    assert hash_path(root, processes=2) == hash_path(root)
    assert len(_forks) == before


def test_small_tree_is_not_forked(tmp_path: Path) -> None:
    _tree(tmp_path, 1, FORK_AFTER - 1)
    _clean(_not_forked, str(tmp_path))


def _bad_entry(root: Path, kind: str, at: int) -> None:
    name = f"f{at:05d}"
    target = root / name
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "newline":
        (root / f"f{at:05d}\nx").write_bytes(b"x")
    elif kind == "not-utf8":
        with open(os.path.join(os.fsencode(root), f"f{at:05d}".encode() + b"\xff"), "wb") as handle:
            handle.write(b"x")
    elif kind == "unreadable":  # an error only the process hashing the file sees (root reads it anyway)
        target.write_bytes(b"secret")
        target.chmod(0)
        (root / f"f{at + 1:05d}").chmod(0)
    else:  # a FIFO one level down
        (root / name).mkdir()
        os.mkfifo(root / name / "pipe")


def _outcome(root: Path, processes: int) -> tuple[str, object, object]:
    try:
        return "ok", tree_manifest(root, workers=1, processes=processes), None
    except HashingError as exc:
        return "error", exc.code, exc.message


def _same_errors(folder: str, kind: str) -> None:
    for at in (3, FORK_AFTER + 40, FORK_AFTER + 41, 2 * FORK_AFTER - 2):
        root = Path(folder) / str(at)
        root.mkdir()
        for i in range(2 * FORK_AFTER):
            (root / f"f{i:05d}").write_bytes(i.to_bytes(4, "big"))
        _bad_entry(root, kind, at)
        alone = _outcome(root, 1)
        assert alone[0] == "error" or (kind == "unreadable" and os.geteuid() == 0), (at, alone)
        for processes in (2, 3):
            assert _outcome(root, processes) == alone, at


@pytest.mark.parametrize("kind", ["fifo", "newline", "not-utf8", "nested-fifo", "unreadable"])
def test_errors_are_the_one_process_errors(tmp_path: Path, kind: str) -> None:
    """The bad entry before the fork, in the parent's share, in a helper's, and near the end."""
    _clean(_same_errors, str(tmp_path), kind)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _no_children() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_helpers_never_outlive_a_call(tmp_path: Path) -> None:
    _clean(_helpers_never_outlive, str(tmp_path))


def _helpers_never_outlive(folder: str) -> None:
    tmp_path = Path(folder)
    for i in range(3 * FORK_AFTER):
        (tmp_path / f"f{i:05d}").write_bytes(b"x" * (i % 100))
    fds = _open_fds()
    before = len(_forks)
    tree_manifest(tmp_path, processes=2)
    assert _no_children() and _open_fds() == fds
    os.mkfifo(tmp_path / "f01000x")
    with pytest.raises(HashingError, match="not a regular file"):
        tree_manifest(tmp_path, processes=2)
    assert _no_children() and _open_fds() == fds
    assert len(_forks) > before


def test_helpers_read_into_their_own_buffers(tmp_path: Path) -> None:
    """Buffers allocated before the fork (hashing a large file) are private to each process."""
    _clean(_own_buffers, str(tmp_path))


def _own_buffers(folder: str) -> None:
    tmp_path = Path(folder)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 << 20))
    hash_file(big)  # allocates this thread's read ring and medium buffer
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(FORK_AFTER + 300):
        (tree / f"f{i:05d}").write_bytes(os.urandom(100_000 if i % 3 else 70_000))  # the aligned-buffer path
    expected = {f"f{i:05d}": hash_file(tree / f"f{i:05d}")[7:] for i in range(FORK_AFTER + 300)}
    before = len(_forks)
    for _ in range(3):
        entries = tree_manifest(tree, workers=1, processes=2)
        assert {e.relpath: e.hexdigest for e in entries} == expected
    assert len(_forks) > before


RACER = textwrap.dedent(
    """
    import os, sys
    root, scratch = sys.argv[1], sys.argv[2]  # new entries are made outside the tree, then renamed in
    x = os.path.join(root, "f00700")
    n = 0
    while True:
        n += 1
        tmp = os.path.join(scratch, f"x.{n}")
        with open(tmp, "wb") as f:
            f.write(b"B" * (n % 2 + 1))
        os.replace(tmp, x)
        os.symlink("elsewhere", tmp)
        os.replace(tmp, x)
        os.mkfifo(tmp)
        os.replace(tmp, x)
        with open(tmp, "wb") as f:
            f.write(b"A")
        os.replace(tmp, x)
    """
)


def _digest_with(root: Path, make: Callable[[Path], None]) -> str:
    path = root / "f00700"
    path.unlink()
    make(path)
    return hash_path(root)


def test_cli_under_a_racing_tree_is_one_of_its_states(tmp_path: Path, cli_process: Callable[..., CliResult]) -> None:
    cli = cli_process
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(3 * FORK_AFTER):
        (root / f"f{i:05d}").write_bytes(b"%d" % i)
    states = {
        _digest_with(root, lambda p: p.write_bytes(b"B")),
        _digest_with(root, lambda p: p.write_bytes(b"BB")),
        _digest_with(root, lambda p: p.symlink_to("elsewhere")),
        _digest_with(root, lambda p: p.write_bytes(b"A")),
    }
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    racer = subprocess.Popen([sys.executable, "-c", RACER, str(root), str(scratch)])
    codes = []
    try:
        for _ in range(12):
            result = cli("hash", str(root))
            codes.append(result.code)
            assert result.code in (0, 2), result
            if result.code == 0:
                assert result.out.split("  ")[0] in states, result
            else:
                assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err, result
                assert "changed" in result.err or "not a regular file" in result.err, result
    finally:
        racer.kill()
        racer.wait()
    assert racer.returncode == -9, "the racer stopped early: the race was not run"


def test_cli_hash_and_manifest_match_the_library(tmp_path: Path, cli_process: Callable[..., CliResult]) -> None:
    cli = cli_process
    root = tmp_path / "t"
    root.mkdir()
    _tree(root, 11, 2 * FORK_AFTER)
    result = cli("hash", str(root))
    assert (result.code, result.out) == (0, f"{hash_path(root)}  {root}\n"), result
    manifest = cli("hash", "--manifest", str(root))
    assert manifest.code == 0 and manifest.out == "".join(e.line() + "\n" for e in tree_manifest(root)), manifest


def test_cli_interrupted_leaves_no_helper(tmp_path: Path) -> None:
    root = tmp_path / "interrupted-tree"
    root.mkdir()
    for i in range(40 * FORK_AFTER):
        (root / f"f{i:06d}").write_bytes(b"x" * 3000)
    command = [sys.executable, "-m", "attestkit", "hash", str(root)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_same_command(str(root))) < 2:  # wait until the helper exists
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"Traceback" not in err, (proc.returncode, err)
    for _ in range(100):
        if not _same_command(str(root)):
            break
        time.sleep(0.05)
    assert not _same_command(str(root)), "a helper outlived the interrupted command"


def _same_command(marker: str) -> list[int]:
    """Processes (the command and its forked helpers) whose command line names *marker*."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{pid}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and b"-m\0attestkit" in cmdline and state != b"Z":
            found.append(int(pid))
    return found
