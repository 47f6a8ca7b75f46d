"""Cluster throughput: receipts/s on 1 and 2 Dask workers and a local[2] Spark session vs the --jobs pool.

Every rate is for the same in-memory corpus (signed typical receipts, one trusted key, the
``steps-succeeded`` policy), measured after the engine is up and warmed on a small run, so
start-up is left out (it is reported separately). The reference for each row is the
``verify_many`` process pool with as many processes as the row has workers, measured in the
same run. ``python -m benchmarks.scale_bench [--count N]``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import Row
from benchmarks.verify_bench import typical_receipt


def _corpus(count: int) -> tuple[list[Any], Any]:
    from attestkit import PrivateKey, sign_receipt
    from attestkit.core.policy.builtin import builtin_policy
    from attestkit.core.timeutil import parse_rfc3339
    from attestkit.core.trust.store import TrustStore
    from attestkit.core.verify.bulk import BulkItem
    from attestkit.core.verify.verifier import VerifyOptions

    key = PrivateKey.from_seed(bytes(32))
    items = []
    for i in range(count):
        receipt = typical_receipt()
        receipt["total_duration_secs"] = float(i)  # every receipt distinct, every signature computed
        items.append(BulkItem(f"r{i}", json.dumps(sign_receipt(receipt, key)).encode(), fmt="json"))
    options = VerifyOptions(
        trusted=TrustStore.of([key.public_key]),
        now=parse_rfc3339("2026-11-20T12:00:00Z"),
        policies=(builtin_policy("steps-succeeded"),),
    )
    return items, options


def _rate(count: int, work: Callable[[], int]) -> float:
    start = time.perf_counter()
    done = work()
    elapsed = time.perf_counter() - start
    assert done == count, (done, count)
    return count / elapsed


def _pool(items: list[Any], options: Any, jobs: int) -> float:
    from attestkit.core.verify.bulk import verify_many

    return _rate(len(items), lambda: sum(1 for o in verify_many(items, options, jobs=jobs) if o.valid))


def _dask(items: list[Any], options: Any, workers: int) -> tuple[float, float]:
    from distributed import Client, LocalCluster

    from attestkit.adapters.dask_verify import verify_paths

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        startup = time.perf_counter() - start
        verify_paths(client, items[:512], options)  # warm the workers (imports, options decoded)
        rate = _rate(len(items), lambda: sum(1 for v in verify_paths(client, items, options) if v.valid))
    return rate, startup


def _spark(items: list[Any], options: Any) -> tuple[float, float]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only, whatever the host name resolves to
    from pyspark.sql import SparkSession

    from attestkit.adapters.spark_verify import verify_dataframe

    start = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]").appName("attestkit-bench")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        startup = time.perf_counter() - start
        frame = spark.createDataFrame([(i.label, i.data) for i in items], "id string, receipt binary").repartition(8)
        frame = frame.cache()
        frame.count()

        def run(df: Any) -> int:
            return int(verify_dataframe(df, options).where("valid").count())

        run(frame.limit(512))  # warm the Python workers
        rate = _rate(len(items), lambda: run(frame))
    finally:
        spark.stop()
    return rate, startup


def run(count: int = 20_000) -> list[Row]:
    """The scale rows: each engine against the process pool with as many processes."""
    items, options = _corpus(count)
    pool1, pool2 = _pool(items, options, 1), _pool(items, options, 2)
    rows = [Row("scale", f"--jobs pool, 2 processes, {count:,} receipts", pool2, "/s", "1 process", pool1, "")]
    dask1, start1 = _dask(items, options, 1)
    rows.append(Row("scale", "Dask, 1 worker process", dask1, "/s", "pool, 1 process", pool1, "≥ 0.75x"))
    dask2, start2 = _dask(items, options, 2)
    rows.append(Row("scale", "Dask, 2 worker processes", dask2, "/s", "pool, 2 processes", pool2, "≥ 0.75x"))
    rows.append(Row("scale", "Dask, 2 workers vs 1", dask2, "/s", "Dask, 1 worker", dask1, ""))
    spark2, spark_start = _spark(items, options)
    rows.append(Row("scale", "Spark local[2], mapInArrow", spark2, "/s", "pool, 2 processes", pool2, "≥ 0.75x"))
    rows.append(Row("scale", "start-up: LocalCluster(2 workers)", start2, "s", "LocalCluster(1 worker)", start1, ""))
    rows.append(Row("scale", "start-up: Spark local[2] session", spark_start, "s", "LocalCluster(2 workers)", start2, ""))
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    size = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 20_000
    save(run(size), "scale")
