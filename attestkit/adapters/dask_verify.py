"""Verifying receipts on a Dask cluster (``attestkit[dask]``), in input order, with bounded memory.

Public face: :func:`connect`, :func:`verify_on_dask` (outcomes, as :func:`verify_many`
yields them), :func:`verify_paths` (typed :class:`Verdict` rows) and :func:`verify_bag`
(a Dask bag of receipts in, a bag of verdicts out).

The verification options reach each worker once, as bytes (``client.scatter(...,
broadcast=True)``, or one graph key for a bag), and each worker process decodes them once
(:func:`attestkit.adapters.verdicts.options_from_bytes`). Batches run
:func:`attestkit.core.verify.bulk.verify_batch`, the same code as ``--jobs``. Dask runs tasks
on worker threads, where no ``SIGALRM`` can interrupt a receipt: the per-receipt size budget
holds, the time budget does not (bound the run with Dask's own timeouts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from attestkit.adapters.verdicts import Verdict, options_from_bytes, options_to_bytes, verdict_of
from attestkit.core.verify.bulk import DEFAULT_BUDGET, Budget, BulkItem, BulkOutcome, Render, rendered, verify_batch
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import AttestkitError, CouldNotCheckError, UsageError

if TYPE_CHECKING:
    import dask.bag
    from distributed import Client

DEFAULT_BATCH = 256
# Receipts read by the caller travel with their bytes: a batch closes at this many bytes, and no
# more than this many bytes are in flight (receipts are up to 32 MiB each; 256 of them are 8 GiB).
MAX_BATCH_BYTES = 64 * 2**20
MAX_IN_FLIGHT_BYTES = 256 * 2**20
Input = str | BulkItem  # a path (read on the worker) or a receipt's bytes already read


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError("Dask is not installed: pip install 'attestkit[dask]'") from None
    return distributed


def connect(address: str, timeout: float | None = None) -> Client:
    """A client for the scheduler at *address* (``tcp://host:8786``); a one-line error if unreachable.

    *timeout* (seconds) bounds reaching the scheduler and, later, sending it work; by default
    it is Dask's own ``distributed.comm.timeouts.connect`` (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT``).
    """
    distributed = _require_distributed()
    if timeout is None:
        import dask.config
        from dask.utils import parse_timedelta

        timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds")
    try:
        return distributed.Client(address, timeout=timeout)  # type: ignore[no-any-return]
    except (OSError, TimeoutError) as exc:
        raise CouldNotCheckError(
            f"--dask {address}: cannot reach the scheduler ({exc})", code="dask-scheduler"
        ) from None
    except ValueError as exc:  # an address Dask cannot parse
        raise UsageError(f"--dask {address}: {exc}") from None


def _item_for(entry: Input) -> BulkItem:
    """The item for a path (read here, on the worker) or an item given with its bytes."""
    if isinstance(entry, BulkItem):
        return entry
    from attestkit.adapters.files import read_receipt_bytes
    from attestkit.core.receipt.reader import format_for_name

    try:
        # Without blocking, and a regular file only: a worker thread has no alarm to end a wait
        # on a FIFO nobody writes, and the budget would never hold.
        return BulkItem(entry, read_receipt_bytes(entry, regular=True), fmt=format_for_name(entry))
    except AttestkitError as exc:
        return BulkItem(entry, error=exc)


def _run_batch(entries: Sequence[Input], blob: bytes, budget: Budget, render: Render | None) -> list[BulkOutcome]:
    """The task each worker runs: read (paths), verify, and optionally render a batch."""
    options = options_from_bytes(blob)
    return rendered(verify_batch([_item_for(e) for e in entries], options, budget), render)


def _weight(entry: Input) -> int:
    return len(entry.data) if isinstance(entry, BulkItem) and entry.data is not None else 0


def _batches(entries: Iterable[Input], size: int) -> Iterator[tuple[list[Input], int]]:
    """Batches of at most *size* entries and (past its first entry) :data:`MAX_BATCH_BYTES`, with their bytes."""
    batch: list[Input] = []
    weight = 0
    for entry in entries:
        entry_weight = _weight(entry)
        if batch and (len(batch) >= size or weight + entry_weight > MAX_BATCH_BYTES):
            yield batch, weight
            batch, weight = [], 0
        batch.append(entry)
        weight += entry_weight
    if batch:
        yield batch, weight


def _worker_count_exact(client: Client) -> int:
    try:
        return len(client.scheduler_info().get("workers", {}))
    except (OSError, TimeoutError):
        return 0


def _worker_count(client: Client) -> int:
    return max(1, _worker_count_exact(client))


def _in_order(client: Client, entries: Iterable[Input], batch_size: int, task: Any, *args: Any) -> Iterator[Any]:
    """Submit *task* over batches of *entries* (bounded window), yielding each batch's list in order."""
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, not {batch_size}")
    dask_client: Any = client  # distributed is untyped
    window = 4 * _worker_count(client)
    pending: deque[tuple[Any, int]] = deque()
    in_flight = 0
    try:
        for batch, weight in _batches(entries, batch_size):
            pending.append((dask_client.submit(task, batch, *args, pure=False), weight))
            in_flight += weight
            while pending and (len(pending) >= window or in_flight > MAX_IN_FLIGHT_BYTES):
                future, done = pending.popleft()
                in_flight -= done
                yield from future.result()
        while pending:
            yield from pending.popleft()[0].result()
    finally:
        for future, _ in pending:
            future.cancel()


def _scattered(client: Client, options: VerifyOptions) -> Any:
    """The options as one bytes object on every worker (sent once per worker)."""
    dask_client: Any = client
    try:
        return dask_client.scatter(options_to_bytes(options), broadcast=True, hash=False)
    except (OSError, TimeoutError) as exc:
        reason = "it has no workers" if not _worker_count_exact(client) else str(exc) or type(exc).__name__
        raise CouldNotCheckError(
            f"the Dask cluster took no work ({reason}; timed out sending the options)", code="dask-scheduler"
        ) from None


def verify_on_dask(
    client: Client,
    entries: Iterable[Input],
    options: VerifyOptions,
    *,
    batch_size: int = DEFAULT_BATCH,
    budget: Budget = DEFAULT_BUDGET,
    render: Render | None = None,
) -> Iterator[BulkOutcome]:
    """Verify *entries* (paths or :class:`BulkItem`) on *client*'s workers, yielding outcomes in input order.

    Paths are read by the workers (a file system they share); at most ``4 x workers``
    batches are in flight. *render* works as in :func:`verify_many`.
    """
    blob = _scattered(client, options)
    try:
        yield from _in_order(client, entries, batch_size, _run_batch, blob, budget, render)
    finally:
        blob.release()


def _verdict_batch(entries: Sequence[Input], blob: bytes, budget: Budget) -> list[Verdict]:
    """A worker's batch as verdict rows (only the rows travel back, not the full results)."""
    return [verdict_of(o) for o in _run_batch(entries, blob, budget, None)]


def verify_paths(
    client: Client,
    entries: Iterable[Input],
    options: VerifyOptions,
    *,
    batch_size: int = DEFAULT_BATCH,
    budget: Budget = DEFAULT_BUDGET,
) -> list[Verdict]:
    """Verify a list of paths (or items) on *client*: one :class:`Verdict` per receipt, in input order."""
    blob = _scattered(client, options)
    try:
        return list(_in_order(client, entries, batch_size, _verdict_batch, blob, budget))
    finally:
        blob.release()


def _bag_partition(entries: Iterable[Input], blob: bytes, budget: Budget) -> list[Verdict]:
    return _verdict_batch(list(entries), blob, budget)


def verify_bag(bag: dask.bag.Bag, options: VerifyOptions, *, budget: Budget = DEFAULT_BUDGET) -> dask.bag.Bag:
    """A bag of :class:`Verdict` for a bag of paths or :class:`BulkItem` (same partitions, same order).

    The options travel as one bytes key of the graph, fetched once by each worker.
    """
    from dask.delayed import delayed

    blob = delayed(options_to_bytes(options), pure=True)
    partitions: Any = bag  # dask is untyped
    mapped: dask.bag.Bag = partitions.map_partitions(_bag_partition, blob, budget)
    return mapped


__all__ = ["DEFAULT_BATCH", "Input", "connect", "verify_bag", "verify_on_dask", "verify_paths"]
