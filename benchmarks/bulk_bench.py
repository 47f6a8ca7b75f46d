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


_CPU_PROBE = """
import atexit, os, resource, sys
def report():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    os.write(int(os.environ["CPU_PROBE_FD"]), f"{s.ru_utime + s.ru_stime} {c.ru_utime + c.ru_stime}".encode())
atexit.register(report)
from attestkit.cli import main
sys.argv = ["attestkit", *sys.argv[1:]]
main()
"""


def _directory(folder: Path, count: int) -> tuple[str, float]:
    """*count* signed receipts as `attestkit sign` writes them; the key, and raw PyNaCl verifies/s."""
    import nacl.signing

    from attestkit import PrivateKey, sign_receipt
    from attestkit.core.crypto.canonical import canonicalize
    from attestkit.core.receipt.writer import receipt_to_text
    from benchmarks._common import per_second

    key = PrivateKey.from_seed(bytes(32))
    folder.mkdir()
    for index in range(count):
        receipt = typical_receipt()
        receipt["attest_version"] = f"0.1.{index}"
        (folder / f"{index:06d}.json").write_text(receipt_to_text(sign_receipt(receipt, key)), encoding="utf-8")
    signed = sign_receipt(typical_receipt(), key)
    message = canonicalize({k: v for k, v in signed.items() if k != "signature"})
    signature = bytes.fromhex(signed["signature"][8:])
    verify_key = nacl.signing.VerifyKey(key.public_key.raw)
    return key.public_key.text, per_second(lambda: verify_key.verify(message, signature))


def _cpu_of(arguments: list[str]) -> tuple[float, float]:
    """(parent, children) CPU seconds of one `attestkit ARGUMENTS` run, output discarded."""
    import subprocess

    read_end, write_end = os.pipe()
    subprocess.run(
        [sys.executable, "-c", _CPU_PROBE, *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,), check=False,
        env=dict(os.environ, CPU_PROBE_FD=str(write_end)),
    )  # fmt: skip
    os.close(write_end)
    parent, children = (float(x) for x in os.read(read_end, 100).split())
    os.close(read_end)
    return parent, children


def directory_rows(count: int = 10_000, runs: int = 3) -> list[Row]:
    """`verify DIR` on 1 and 2 workers (alternating, median of *runs*), the parent's share of the CPU."""
    import statistics

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "receipts"
        public, raw_rate = _directory(folder, count)
        base = ["verify", str(folder), "--public-key", public, "--now", "2026-11-20T12:00:00Z", "--json"]
        timings: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for _ in range(runs):
            for jobs in (1, 2):
                start = time.perf_counter()
                cpu[jobs].append(_cpu_of([*base, "--jobs", str(jobs)]))
                timings[jobs].append(count / (time.perf_counter() - start))
        small = Path(tmp) / "small"
        small.mkdir()
        for path in sorted(folder.iterdir())[:10]:
            (small / path.name).write_bytes(path.read_bytes())
        small_base = [*base[:1], str(small), *base[2:], "--jobs", "2"]
        fixed = statistics.median(_cpu_of(small_base)[0] for _ in range(runs))  # start-up, pool, ten receipts
        one, two = statistics.median(timings[1]), statistics.median(timings[2])
        spread = (min(timings[2]) / max(timings[1]), max(timings[2]) / min(timings[1]))
        rows.append(Row("bulk", f"verify DIR --jobs 1, {count:,} receipts", one, "/s", "raw PyNaCl verify", raw_rate, "≥ 0.60x"))
        rows.append(Row("bulk", f"verify DIR --jobs 2, {count:,} receipts", two, "/s", "--jobs 1", one, "≥ 1.80x", spread))
        parent2 = statistics.median(p for p, _ in cpu[2]) / count * 1e6
        workers2 = statistics.median(c for _, c in cpu[2]) / count * 1e6
        rows.append(Row("bulk", "CPU per receipt, parent (--jobs 2)", parent2, "µs", "workers", workers2))
        marginal = (statistics.median(p for p, _ in cpu[2]) - fixed) / (count - 10) * 1e6
        rows.append(Row("bulk", "CPU per receipt, parent beyond start-up (--jobs 2)", marginal, "µs", "workers", workers2))
        total1 = statistics.median(p + c for p, c in cpu[1]) / count * 1e6
        rows.append(Row("bulk", "CPU per receipt, all processes (--jobs 2)", parent2 + workers2, "µs", "--jobs 1", total1))
    return rows


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

    save(directory_rows(10_000 if "--full" in sys.argv else 2_000) + run(), "bulk")
