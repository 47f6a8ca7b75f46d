"""Hashing throughput against b3sum, measured in one run on generated data.

Sizes default to what fits a quick run; pass --full for the issue's 2 GiB / 20,000-file sets,
--profile for the per-file CPU of a one-process walk against its system-call floor.
Each pair of commands is warmed (one untimed run each, which also fills the page cache),
then timed in alternating rounds (the order swapped every round), so load from other
processes on a shared machine falls on both sides alike. A row's value and reference are
the median wall-clock throughputs (the ratio is theirs), and the bracket the inter-quartile
range of the per-round ratios. CPU time (user + system, helpers
included) is reported beside: on a loaded machine it is the steadier figure.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import Row, peak_rss_mib

ROUNDS = 7


def _run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of it and its children) of one run of *command*."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@dataclass
class Pair:
    """Medians of alternating runs of two commands (walls and CPU in seconds)."""

    ours: float
    theirs: float
    ours_cpu: float
    theirs_cpu: float
    spread: tuple[float, float]  # inter-quartile range of the per-round throughput ratios


def _paired(ours: list[str], theirs: list[str], rounds: int = ROUNDS) -> Pair:
    """Alternating runs of *ours* and *theirs* (each warmed once first)."""
    _run(ours)
    _run(theirs)
    walls: dict[str, list[float]] = {"ours": [], "theirs": []}
    cpus: dict[str, list[float]] = {"ours": [], "theirs": []}
    ratios = []
    for index in range(rounds):
        order = (("ours", ours), ("theirs", theirs)) if index % 2 == 0 else (("theirs", theirs), ("ours", ours))
        for side, command in order:
            wall, cpu = _run(command)
            walls[side].append(wall)
            cpus[side].append(cpu)
        ratios.append(walls["theirs"][-1] / walls["ours"][-1])
    quartiles = statistics.quantiles(ratios, n=4)
    median = statistics.median
    return Pair(
        median(walls["ours"]),
        median(walls["theirs"]),
        median(cpus["ours"]),
        median(cpus["theirs"]),
        (quartiles[0], quartiles[2]),
    )


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(block)


def _make_tree(root: Path, count: int, size: int) -> None:
    data = os.urandom(size)
    for i in range(count):
        sub = root / f"d{i // 500:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:05d}").write_bytes(data[i % 64 :] + data[: i % 64])


def _rows(label: str, units: float, unit: str, reference: str, got: Pair, target: str) -> list[Row]:
    """The throughput row (ratio of the medians, per-round IQR) and the CPU row beside it."""
    return [
        Row("hash", label, units / got.ours, unit, reference, units / got.theirs, target, got.spread),
        Row("hash", f"{label}: CPU s (user+sys)", got.ours_cpu, "s", f"{reference} CPU", got.theirs_cpu),
    ]


def _compile_attestkit() -> None:
    """Byte-compile the package first: with PYTHONDONTWRITEBYTECODE set (as in CI shells) an
    editable checkout has no ``.pyc``, and every timed start-up would compile its imports."""
    import attestkit

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    package = str(Path(attestkit.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True, env=env, stdout=subprocess.DEVNULL)


def run(full: bool = False) -> list[Row]:
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        print("b3sum not installed: apt-get install -y b3sum", file=sys.stderr)
        return []
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    _compile_attestkit()
    rows: list[Row] = []
    big = (2048 if full else 512) << 20
    files_small = 20_000 if full else 5_000
    files_mid = 2_000 if full else 300
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        empty = root / "empty"
        empty.touch()
        start_up = _paired([exe, "hash", str(empty)], [sys.executable, "-c", "pass"])
        rows.append(
            Row(
                "hash",
                "`attestkit hash EMPTY` start-up",
                1000 * start_up.ours,
                "ms",
                "python -c pass",
                1000 * start_up.theirs,
            )
        )
        big_file = root / "big.bin"
        _make_file(big_file, big)
        mib = big >> 20
        got = _paired([exe, "hash", str(big_file)], [b3sum, str(big_file)])
        rows += _rows(f"{mib} MiB file throughput", mib, "MiB/s", "b3sum", got, "≥ 0.95x")
        rows.append(
            Row(
                "hash",
                f"{mib} MiB file throughput less `attestkit hash EMPTY` (row 1)",
                mib / (got.ours - start_up.ours),
                "MiB/s",
                "b3sum",
                mib / got.theirs,
            )
        )
        cat = _paired([exe, "hash", str(big_file)], ["sh", "-c", f"cat {big_file} > /dev/null"], rounds=3)
        rows += _rows(f"{mib} MiB file throughput", mib, "MiB/s", "cat > /dev/null", cat, "")[:1]
        from attestkit.core.crypto.digest import hash_file

        hash_file(big_file)  # warm
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            hash_file(big_file)
            walls.append(time.perf_counter() - start)
        rows.append(
            Row(
                "hash",
                f"{mib} MiB file, in-process hash_file (median of 3)",
                mib / statistics.median(walls),
                "MiB/s",
                "b3sum",
                mib / got.theirs,
                "≥ 0.95x",
            )
        )
        rss = peak_rss_mib([exe, "hash", str(big_file)])
        rows.append(Row("hash", f"peak RSS hashing {mib} MiB", rss, "MiB", "limit", 100.0, "≤ 1x (100 MiB)"))
        big_file.unlink()
        for count, size, label in ((files_small, 4096, "4 KiB"), (files_mid, 1 << 20, "1 MiB")):
            tree = root / f"tree-{count}"
            tree.mkdir()
            _make_tree(tree, count, size)
            reference = ["sh", "-c", f"find {tree} -type f -print0 | xargs -0 {b3sum} > /dev/null"]
            got = _paired([exe, "hash", str(tree)], reference)
            rows += _rows(f"{count} files of {label}", count, "files/s", "find | xargs b3sum", got, "≥ 1.2x")
            shutil.rmtree(tree)
    return rows


def _per_file_cpu(func: Callable[[], object], files: int, rounds: int = 7) -> float:
    """Median thread CPU time of *func* per file, in microseconds."""
    times = []
    for _ in range(rounds):
        start = time.thread_time()
        func()
        times.append(time.thread_time() - start)
    return statistics.median(times) / files * 1e6


def profile(files: int = 20_000) -> None:
    """Per-file CPU of one process walking a tree of 4 KiB files, against its system-call floor.

    The floor is the same open (``O_NOFOLLOW|O_NONBLOCK``, relative to the directory), fstat,
    one read, close and BLAKE3 call per file, over names listed beforehand; what the walk
    costs beyond it is Python: listing, name checks, bookkeeping, sorting, the manifest.
    """
    from blake3 import blake3

    from attestkit.core.crypto.digest import DIR_FLAGS, FILE_FLAGS, _rows_digest, _TreeHasher

    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        _make_tree(tree, files, 4096)
        root = os.open(tree, DIR_FLAGS)
        listing = []
        for sub in sorted(os.listdir(root)):
            dir_fd = os.open(sub, DIR_FLAGS, dir_fd=root)
            with os.scandir(dir_fd) as entries:
                listing.append((dir_fd, [entry.name for entry in entries]))

        def floor() -> None:
            for dir_fd, names in listing:
                for name in names:
                    fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
                    size = os.fstat(fd).st_size
                    data = os.read(fd, size + 1)
                    os.close(fd)
                    blake3(data).hexdigest()

        def walk() -> None:
            _TreeHasher(str(tree), 1, None).run(root)

        rows = _TreeHasher(str(tree), 1, None).run(root)

        def finish() -> None:
            shuffled = rows[::-1]
            shuffled.sort()
            _rows_digest(shuffled)

        print(f"{files} files of 4 KiB, thread CPU per file (median of 7):")
        print(f"  open+fstat+read+close+blake3 floor: {_per_file_cpu(floor, files):6.2f} us")
        print(f"  whole one-process walk:             {_per_file_cpu(walk, files):6.2f} us")
        print(f"  of which sort + manifest digest:    {_per_file_cpu(finish, files):6.2f} us")
        for dir_fd, _ in listing:
            os.close(dir_fd)
        os.close(root)


if __name__ == "__main__":
    from benchmarks._common import save

    if "--profile" in sys.argv:
        profile()
    else:
        save(run(full="--full" in sys.argv), "hash")
