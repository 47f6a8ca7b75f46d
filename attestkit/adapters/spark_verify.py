"""Verifying receipts with Spark (``attestkit[spark]``): Arrow batches of receipt bytes in, verdict columns out.

Public face: :data:`VERDICT_DDL` and :func:`verdict_schema` (the output columns),
:func:`verify_arrow_batches` (the ``mapInArrow`` body), :func:`arrow_verifier` (that body
bound to options broadcast once), :func:`verify_dataframe`, :func:`receipts_dataframe` and
:func:`verify_to_parquet`.

The input is any DataFrame with a string column ``id`` (the receipt's name in the output) and
a binary column ``receipt`` (its bytes, JSON or YAML). The options are broadcast once as bytes
and decoded once per Python worker; each batch runs
:func:`attestkit.core.verify.bulk.verify_batch`, the code ``--jobs`` runs. Output rows are
:class:`attestkit.adapters.verdicts.Verdict` fields, so an audit is a table (Parquet), not a log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from attestkit.adapters.verdicts import Verdict, options_from_bytes, options_to_bytes, verdict_of
from attestkit.core.verify.bulk import DEFAULT_BUDGET, Budget, BulkItem, verify_batch
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import InputFileError, UsageError

if TYPE_CHECKING:
    import pyarrow
    from pyspark.sql import DataFrame, SparkSession

VERDICT_DDL = (
    "receipt string, valid boolean, status string, code string, check string, message string, "
    "key_id string, signer string, chain_of_trust string, policy_ids array<string>"
)
_FIELDS = ("receipt", "valid", "status", "code", "check", "message", "key_id", "signer", "chain_of_trust", "policy_ids")
ArrowMap = Callable[[Iterable["pyarrow.RecordBatch"]], Iterator["pyarrow.RecordBatch"]]


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise UsageError("pyarrow is not installed: pip install 'attestkit[spark]'") from None
    return pyarrow


def verdict_schema() -> pyarrow.Schema:
    """The Arrow schema of the verdict columns (the same as :data:`VERDICT_DDL`)."""
    pa = _pyarrow()
    text = pa.string()
    schema: pyarrow.Schema = pa.schema(
        [
            ("receipt", text),
            ("valid", pa.bool_()),
            ("status", text),
            ("code", text),
            ("check", text),
            ("message", text),
            ("key_id", text),
            ("signer", text),
            ("chain_of_trust", text),
            ("policy_ids", pa.list_(text)),
        ]
    )
    return schema


def _items(batch: pyarrow.RecordBatch, first: int = 0, partition: int | None = None) -> list[BulkItem]:
    """The batch's rows as items; a row with a null ``id`` is labelled by its place: row *first* + i
    of the partition (``<partition P row N>``, unique in the job and the same on every run)."""
    names = batch.schema.names
    if "id" not in names or "receipt" not in names:
        raise UsageError(f"receipt batches need columns 'id' (string) and 'receipt' (binary), not {names}")
    items = []
    for row, (label, data) in enumerate(
        zip(batch.column("id").to_pylist(), batch.column("receipt").to_pylist(), strict=True)
    ):
        where = f"row {first + row}" if partition is None else f"partition {partition} row {first + row}"
        name = str(label) if label is not None else f"<{where}>"
        if isinstance(data, (bytes, bytearray)):
            items.append(BulkItem(name, bytes(data)))
        else:
            items.append(
                BulkItem(name, error=InputFileError(f"{name}: no receipt bytes in the row", code="no-receipt"))
            )
    return items


def _batch_of(verdicts: Sequence[Verdict]) -> pyarrow.RecordBatch:
    pa = _pyarrow()
    columns = {name: [getattr(v, name) for v in verdicts] for name in _FIELDS}
    columns["policy_ids"] = [list(v.policy_ids) for v in verdicts]
    batch: pyarrow.RecordBatch = pa.RecordBatch.from_pydict(columns, schema=verdict_schema())
    return batch


def verify_arrow_batches(
    batches: Iterable[pyarrow.RecordBatch], options_blob: bytes, budget: Budget = DEFAULT_BUDGET
) -> Iterator[pyarrow.RecordBatch]:
    """One verdict batch per receipt batch, rows in the same order (*options_blob* from ``options_to_bytes``)."""
    options = options_from_bytes(options_blob)
    partition = _partition_id()
    first = 0  # rows are counted across the partition's batches, not per batch
    for batch in batches:
        outcomes = verify_batch(_items(batch, first, partition), options, budget)
        first += batch.num_rows
        yield _batch_of([verdict_of(o) for o in outcomes])


def _partition_id() -> int | None:
    """The Spark partition this task reads (None outside a Spark task)."""
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - the [spark] extra installs it
        return None
    context = TaskContext.get()
    return None if context is None else int(context.partitionId())


def arrow_verifier(
    options: VerifyOptions, spark: SparkSession | None = None, budget: Budget = DEFAULT_BUDGET
) -> ArrowMap:
    """A ``mapInArrow`` function verifying with *options*, broadcast once through *spark* (if given)."""
    blob = options_to_bytes(options)
    if spark is None:

        def local(batches: Iterable[pyarrow.RecordBatch]) -> Iterator[pyarrow.RecordBatch]:
            return verify_arrow_batches(batches, blob, budget)

        return local
    shared = spark.sparkContext.broadcast(blob)

    def broadcast(batches: Iterable[pyarrow.RecordBatch]) -> Iterator[pyarrow.RecordBatch]:
        return verify_arrow_batches(batches, shared.value, budget)

    return broadcast


def verify_dataframe(df: DataFrame, options: VerifyOptions, budget: Budget = DEFAULT_BUDGET) -> DataFrame:
    """The verdicts for a DataFrame of ``id``/``receipt`` rows (lazy; one row out per row in)."""
    function = arrow_verifier(options, df.sparkSession, budget)
    return df.select("id", "receipt").mapInArrow(function, VERDICT_DDL)


def receipts_dataframe(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """A DataFrame of ``id`` (the file's URI) and ``receipt`` (its bytes) for receipt files or globs."""
    frame = spark.read.format("binaryFile").load(list(paths))
    return frame.selectExpr("path AS id", "content AS receipt")


def verify_to_parquet(df: DataFrame, options: VerifyOptions, path: str, budget: Budget = DEFAULT_BUDGET) -> None:
    """Verify *df* and write the verdict table to Parquet at *path* (Spark writes the files)."""
    verify_dataframe(df, options, budget).write.mode("errorifexists").parquet(path)


__all__ = [
    "VERDICT_DDL",
    "arrow_verifier",
    "receipts_dataframe",
    "verdict_schema",
    "verify_arrow_batches",
    "verify_dataframe",
    "verify_to_parquet",
]
