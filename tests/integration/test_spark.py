"""Spark for real: a local[2] session verifies receipts with mapInArrow, as the serial path does, to Parquet."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attestkit.adapters.spark_verify import (
    VERDICT_DDL,
    receipts_dataframe,
    verdict_schema,
    verify_arrow_batches,
    verify_dataframe,
    verify_to_parquet,
)
from attestkit.adapters.verdicts import Verdict, options_to_bytes, verdict_of
from attestkit.core.verify.bulk import BulkItem, verify_many
from tests.scale_corpus import Corpus, build_corpus

pytestmark = pytest.mark.slow  # starts a local Spark session (a JVM)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pyspark_sql = pytest.importorskip("pyspark.sql")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("spark-corpus"), rounds=3)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One session for the module: Spark's start-up is most of this file's time."""
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this venv's Python (attestkit, pyarrow)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("attestkit-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def _serial(corpus: Corpus) -> list[Verdict]:
    items = [BulkItem(p, Path(p).read_bytes()) for p in corpus.paths]  # format from the content, as in Spark
    return [verdict_of(o) for o in verify_many(items, corpus.options(), jobs=1)]


def _rows(verdicts: list[Verdict]) -> list[dict[str, Any]]:
    return [{**v.__dict__, "policy_ids": list(v.policy_ids)} for v in verdicts]


def _input(corpus: Corpus) -> Any:
    ids = [*corpus.paths, "empty-row"]
    data = [Path(p).read_bytes() for p in corpus.paths] + [None]
    return pa.RecordBatch.from_pydict(
        {"id": ids, "receipt": data}, schema=pa.schema([("id", pa.string()), ("receipt", pa.binary())])
    )


def test_arrow_function_matches_serial_without_spark(corpus: Corpus) -> None:
    batch = _input(corpus)
    halves = [batch.slice(0, 10), batch.slice(10)]
    out = list(verify_arrow_batches(halves, options_to_bytes(corpus.options())))
    assert [b.num_rows for b in out] == [10, batch.num_rows - 10]
    assert all(b.schema == verdict_schema() for b in out)
    rows = pa.Table.from_batches(out).to_pylist()
    assert rows[:-1] == _rows(_serial(corpus))
    assert rows[-1]["status"] == "error" and rows[-1]["code"] == "no-receipt" and rows[-1]["valid"] is False


def test_schema_and_ddl_agree(spark: Any) -> None:
    from pyspark.sql.types import _parse_datatype_string

    ddl_names = [f.name for f in _parse_datatype_string(VERDICT_DDL).fields]
    assert ddl_names == verdict_schema().names


def test_spark_session_matches_serial_and_writes_parquet(spark: Any, corpus: Corpus, tmp_path: Path) -> None:
    rows = [(p, Path(p).read_bytes()) for p in corpus.paths]
    frame = spark.createDataFrame(rows, "id string, receipt binary").repartition(2)
    verdicts = verify_dataframe(frame, corpus.options())
    got = sorted((r.asDict(recursive=True) for r in verdicts.collect()), key=lambda r: corpus.paths.index(r["receipt"]))
    assert got == _rows(_serial(corpus))
    ordered = spark.createDataFrame(rows, "id string, receipt binary").coalesce(2)
    assert [r["receipt"] for r in verify_dataframe(ordered, corpus.options()).collect()] == corpus.paths
    target = tmp_path / "verdicts.parquet"
    verify_to_parquet(ordered, corpus.options(), str(target))
    table = pq.read_table(str(target))
    assert table.schema.names == verdict_schema().names
    assert sorted(table.to_pylist(), key=lambda r: r["receipt"]) == sorted(
        _rows(_serial(corpus)), key=lambda r: r["receipt"]
    )


def test_binary_files_dataframe(spark: Any, corpus: Corpus) -> None:
    frame = receipts_dataframe(spark, [str(Path(corpus.paths[0]).parent / "*.json")])
    got = {
        Path(r["receipt"]).name: r
        for r in (x.asDict(recursive=True) for x in verify_dataframe(frame, corpus.options()).collect())
    }
    expected = {Path(v.receipt).name: v for v in _serial(corpus)}
    assert set(got) == set(expected)
    for name, verdict in expected.items():
        row = got[name]
        assert (row["valid"], row["status"], row["code"], row["check"], row["key_id"], row["policy_ids"]) == (
            verdict.valid,
            verdict.status,
            verdict.code,
            verdict.check,
            verdict.key_id,
            list(verdict.policy_ids),
        ), name


def test_rows_without_id_are_labelled_uniquely_across_batches(corpus: Corpus) -> None:
    data = Path(corpus.paths[0]).read_bytes()
    schema = pa.schema([("id", pa.string()), ("receipt", pa.binary())])
    batches = [pa.RecordBatch.from_pydict({"id": [None, "named", None], "receipt": [data] * 3}, schema=schema)] * 3
    out = pa.Table.from_batches(list(verify_arrow_batches(batches, options_to_bytes(corpus.options())))).to_pylist()
    labels = [r["receipt"] for r in out]
    assert labels == ["<row 0>", "named", "<row 2>", "<row 3>", "named", "<row 5>", "<row 6>", "named", "<row 8>"]


def test_rows_without_id_on_spark_are_labelled_by_partition_and_row(spark: Any, corpus: Corpus) -> None:
    data = Path(corpus.paths[0]).read_bytes()
    rows = [(None if i % 3 else f"id-{i}", data) for i in range(24)]
    previous = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "4")  # several Arrow batches per partition
    try:
        frame = spark.createDataFrame(rows, "id string, receipt binary").coalesce(2)
        first = [r["receipt"] for r in verify_dataframe(frame, corpus.options()).collect()]
        again = [r["receipt"] for r in verify_dataframe(frame, corpus.options()).collect()]
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", previous)
    unnamed = [label for label in first if not label.startswith("id-")]
    assert len(unnamed) == 16 and len(set(unnamed)) == 16, first  # unique in the job
    assert all(label.startswith("<partition ") and " row " in label for label in unnamed)
    assert again == first  # and the same on every run
