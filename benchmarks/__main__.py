"""Run every benchmark and print one table (`python -m benchmarks [--full] [--peers]`)."""

from __future__ import annotations

import sys

from benchmarks import bulk_bench, cold_bench, hash_bench, policy_bench, verify_bench, webhook_bench
from benchmarks._common import save


def main() -> None:
    full = "--full" in sys.argv
    rows = verify_bench.run() + policy_bench.run() + webhook_bench.run() + bulk_bench.run(100_000 if full else 20_000)
    rows += bulk_bench.directory_rows(10_000 if full else 2_000)
    rows += hash_bench.run(full=full)
    rows += cold_bench.run()
    if "--peers" in sys.argv:
        from benchmarks import peers_bench

        rows += peers_bench.run()
    save(rows, "latest")


if __name__ == "__main__":
    main()
