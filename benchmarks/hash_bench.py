"""Hashing throughput against b3sum, measured in one run on generated data.

Sizes default to what fits a quick run; pass --full for the issue's 2 GiB / 20,000-file sets.
The page cache is warmed (one untimed pass) in the same process before each timing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, peak_rss_mib


def _timed(command: list[str], *, runs: int = 3, cwd: str | None = None) -> float:
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True, cwd=cwd)  # warm the cache
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True, cwd=cwd)
        best = min(best, time.perf_counter() - start)
    return best


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


def run(full: bool = False) -> list[Row]:
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        print("b3sum not installed: apt-get install -y b3sum", file=sys.stderr)
        return []
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    rows: list[Row] = []
    big = (2048 if full else 512) << 20
    files_small = 20_000 if full else 5_000
    files_mid = 2_000 if full else 300
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big_file = root / "big.bin"
        _make_file(big_file, big)
        ours = _timed([exe, "hash", str(big_file)])
        theirs = _timed([b3sum, str(big_file)])
        cat = _timed(["sh", "-c", f"cat {big_file} > /dev/null"])
        mib = big >> 20
        rows.append(Row("hash", f"{mib} MiB file throughput", mib / ours, "MiB/s", "b3sum", mib / theirs, "≥ 0.9x"))
        rows.append(Row("hash", f"{mib} MiB file throughput", mib / ours, "MiB/s", "cat > /dev/null", mib / cat))
        from attestkit.core.crypto.digest import hash_file

        hash_file(big_file)  # warm
        start = time.perf_counter()
        hash_file(big_file)
        in_process = time.perf_counter() - start
        rows.append(
            Row(
                "hash",
                f"{mib} MiB file, in-process hash_file",
                mib / in_process,
                "MiB/s",
                "b3sum",
                mib / theirs,
                "≥ 0.9x",
            )
        )
        rss = peak_rss_mib([exe, "hash", str(big_file)])
        rows.append(Row("hash", f"peak RSS hashing {mib} MiB", rss, "MiB", "limit", 100.0, "≤ 1x (100 MiB)"))
        big_file.unlink()
        for count, size, label in ((files_small, 4096, "4 KiB"), (files_mid, 1 << 20, "1 MiB")):
            tree = root / f"tree-{count}"
            tree.mkdir()
            _make_tree(tree, count, size)
            ours = _timed([exe, "hash", str(tree)])
            theirs = _timed(["sh", "-c", f"find {tree} -type f -print0 | xargs -0 {b3sum} > /dev/null"])
            rows.append(
                Row(
                    "hash",
                    f"{count} files of {label}",
                    count / ours,
                    "files/s",
                    "find + xargs b3sum",
                    count / theirs,
                    "≥ 1.2x",
                )
            )
            shutil.rmtree(tree)
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(full="--full" in sys.argv), "hash")
