"""Run every benchmark and print one table (`python -m benchmarks [--full]`)."""

from __future__ import annotations

import sys

from benchmarks import hash_bench, policy_bench, verify_bench, webhook_bench
from benchmarks._common import save


def main() -> None:
    rows = verify_bench.run() + policy_bench.run() + webhook_bench.run() + hash_bench.run(full="--full" in sys.argv)
    save(rows, "latest")


if __name__ == "__main__":
    main()
