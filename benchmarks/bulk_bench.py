"""Bulk verification: rate on 1 vs all cores, and peak RSS from 1,000 to 100,000 receipts."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, peak_rss_mib
from benchmarks.verify_bench import typical_receipt


def _jsonl(path: Path, count: int) -> str:
    from attestkit import PrivateKey, sign_receipt

    key = PrivateKey.from_seed(bytes(32))
    line = json.dumps(sign_receipt(typical_receipt(), key)) + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(count):
            handle.write(line)
    return key.public_key.text


def run(large: int = 100_000) -> list[Row]:
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    rows: list[Row] = []
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        small_file, big_file = Path(tmp) / "small.jsonl", Path(tmp) / "big.jsonl"
        public = _jsonl(small_file, 1_000)
        _jsonl(big_file, large)
        base = ["verify", "--public-key", public, "--now", "2026-11-20T12:00:00Z", "--json"]

        def rate(path: Path, count: int, jobs: int) -> float:
            start = time.perf_counter()
            import subprocess

            subprocess.run(
                [exe, *base, "--jsonl", str(path), "--jobs", str(jobs)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            return count / (time.perf_counter() - start)

        mid = Path(tmp) / "mid.jsonl"
        _jsonl(mid, 20_000)
        one = rate(mid, 20_000, 1)
        many = rate(mid, 20_000, cores)
        rows.append(
            Row("bulk", f"20,000 receipts, {cores} processes", many, "/s", "1 process", one, "≥ 1.7x on 2 cores")
        )
        rss_small = peak_rss_mib([exe, *base, "--jsonl", str(small_file), "--jobs", str(cores)])
        rss_big = peak_rss_mib([exe, *base, "--jsonl", str(big_file), "--jobs", str(cores)])
        rows.append(
            Row(
                "bulk",
                f"peak RSS (parent), {large:,} receipts",
                rss_big,
                "MiB",
                "1,000 receipts",
                rss_small,
                "flat ± 10%",
            )
        )
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "bulk")
