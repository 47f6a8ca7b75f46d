"""Verifying many receipts on every core, in input order, with bounded memory.

Receipts are verified in batches by worker processes (parsing and canonicalising hold the
GIL, so threads would not scale). At most ``4 x jobs`` batches are in flight, so memory stays
flat however long the input is. ``VerifyOptions`` is picklable: the same function can run
inside a distributed engine's map step (see docs/scale.md).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from attestkit.core.reader import parse_document
from attestkit.core.result import VerificationResult
from attestkit.core.verify import VerifyOptions, malformed_result, verify_document
from attestkit.errors import AttestkitError, MalformedReceiptError

if TYPE_CHECKING:
    from concurrent.futures import Future

BATCH = 32


@dataclass(frozen=True)
class BulkItem:
    """One input: a label (file name, ``file:line``) and its bytes, or why it could not be read."""

    label: str
    data: bytes | None = None
    error: AttestkitError | None = None
    fmt: str | None = None  # "json", "yaml" or None to detect from the content


@dataclass(frozen=True)
class BulkOutcome:
    """A verification result, or the error that prevented checking (exit 2).

    With a *render* function, ``text`` holds its output, made where the work was done, and
    ``result`` is dropped so that only strings travel back from worker processes.
    """

    label: str
    result: VerificationResult | None = None
    error: AttestkitError | None = None
    valid: bool | None = None
    text: str | None = None


Render = Callable[[BulkOutcome], str]
_worker_options: VerifyOptions | None = None
_worker_render: Render | None = None


def _init_worker(options: VerifyOptions, render: Render | None) -> None:
    global _worker_options, _worker_render
    _worker_options, _worker_render = options, render


def _rendered(outcomes: list[BulkOutcome], render: Render | None) -> list[BulkOutcome]:
    if render is None:
        return outcomes
    return [BulkOutcome(o.label, None, o.error, o.valid, render(o)) for o in outcomes]


def verify_batch(items: Sequence[BulkItem], options: VerifyOptions) -> list[BulkOutcome]:
    """Verify a batch in this process (the map step of a distributed run)."""
    outcomes = []
    for item in items:
        if item.data is None:
            if isinstance(item.error, MalformedReceiptError):  # e.g. over the size limit: invalid
                outcomes.append(BulkOutcome(item.label, malformed_result(item.label, item.error, options), valid=False))
            else:
                outcomes.append(BulkOutcome(item.label, error=item.error))
            continue
        try:
            try:
                document = parse_document(item.data, source=item.label, fmt=item.fmt)
            except MalformedReceiptError as exc:
                outcomes.append(BulkOutcome(item.label, malformed_result(item.label, exc, options), valid=False))
                continue
            result = verify_document(document, options, source=item.label)
            outcomes.append(BulkOutcome(item.label, result, valid=result.valid))
        except AttestkitError as exc:
            outcomes.append(BulkOutcome(item.label, error=exc))
    return outcomes


def _worker_batch(items: Sequence[BulkItem]) -> list[BulkOutcome]:
    assert _worker_options is not None
    return _rendered(verify_batch(items, _worker_options), _worker_render)


def _batches(items: Iterable[BulkItem], size: int) -> Iterator[list[BulkItem]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def verify_many(
    items: Iterable[BulkItem], options: VerifyOptions, *, jobs: int | None = None, render: Render | None = None
) -> Iterator[BulkOutcome]:
    """Verify *items* on *jobs* processes (default: every core), yielding outcomes in input order.

    *render* (a module-level function, so it pickles) turns each outcome into text in the
    worker; the outcomes then carry ``text`` and ``valid`` instead of the full result.
    """
    workers = jobs or os.cpu_count() or 1
    if workers <= 1:
        for batch in _batches(items, BATCH):
            yield from _rendered(verify_batch(batch, options), render)
        return
    from concurrent.futures import ProcessPoolExecutor  # only when there is parallel work

    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(options, render)) as pool:
        pending: deque[Future[list[BulkOutcome]]] = deque()
        for batch in _batches(items, BATCH):
            pending.append(pool.submit(_worker_batch, batch))
            if len(pending) >= 4 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


__all__ = ["BulkItem", "BulkOutcome", "verify_batch", "verify_many"]
