"""Verifying many receipts on every core, in input order, with bounded memory.

Receipts are verified in batches by worker processes (parsing and canonicalising hold the
GIL, so threads would not scale). At most ``4 x jobs`` batches are in flight, so memory stays
flat however long the input is. ``VerifyOptions`` is picklable: the same function can run
inside a distributed engine's map step (see docs/scale.md).
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, ClassVar

from attestkit.core import forking, interruption
from attestkit.core.policy.base import Violation
from attestkit.core.receipt.reader import MAX_RECEIPT_BYTES, format_for_name
from attestkit.core.verify.result import Check, VerificationResult
from attestkit.core.verify.verifier import VerifyOptions, malformed_result, verify_bytes
from attestkit.errors import ArgumentTypeError, AttestkitError, MalformedReceiptError, UsageError

if TYPE_CHECKING:
    from concurrent.futures import Future

BATCH = 128  # the largest batch: each batch costs the parent a round trip (pickling, wake-ups, a future)
FIRST_BATCH = 8  # batches start small and double, so that a short run still spreads over the workers
MAX_JOBS = 1024  # worker processes a bulk run may ask for (each is forked when the pool starts)


class _Record:
    """Immutable value semantics (equality, hash, repr, pickling) for the small records of this module.

    Not dataclasses: creating one costs about a millisecond at import, a fifth of this module's share
    of a one-receipt ``attestkit verify``. Each subclass lists its fields in ``__slots__``, in the
    order of its ``__init__`` parameters, as ``_fields``.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (type(self), self._values())


_set = object.__setattr__


class Budget(_Record):
    """The work one receipt may cost in a bulk run; a receipt over it is invalid, and the run goes on.

    *seconds* is wall-clock time for reading, checking and verifying one receipt (artifact
    hashing included), enforced with ``SIGALRM`` in the process that verifies it (worker
    processes, or the main thread; a run started from another thread uses one worker
    process for this). ``None`` or ``0`` means no time limit. Python code is interrupted at
    the deadline; a call into a C extension is interrupted when it returns. *max_bytes*
    bounds each receipt's size (never above the contract's 32 MiB).
    """

    _fields = ("seconds", "max_bytes")
    __slots__ = _fields
    seconds: float | None
    max_bytes: int

    def __init__(self, seconds: float | None = 60.0, max_bytes: int = MAX_RECEIPT_BYTES) -> None:
        if seconds is not None and not seconds >= 0:
            raise UsageError(f"receipt time budget must be a number of seconds >= 0, not {seconds!r}")
        if not 0 < max_bytes <= MAX_RECEIPT_BYTES:
            raise UsageError(f"receipt size budget must be 1 to {MAX_RECEIPT_BYTES} bytes, not {max_bytes!r}")
        _set(self, "seconds", seconds)
        _set(self, "max_bytes", max_bytes)


DEFAULT_BUDGET = Budget()


class _OverBudget(BaseException):
    """Raised by the alarm inside a receipt's verification (a BaseException: no handler swallows it)."""


_armed = False


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _armed:
        raise interruption.note(_OverBudget())


def _alarm_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class _Deadline:
    """Arms ``ITIMER_REAL`` around each receipt of a batch, restoring the previous handler after."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds if seconds and _alarm_usable() else None
        self.previous: object = None

    def __enter__(self) -> _Deadline:
        if self.seconds:
            self.previous = signal.signal(signal.SIGALRM, _on_alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)  # type: ignore[arg-type]

    def arm(self) -> None:
        global _armed
        if self.seconds:
            _armed = True
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def disarm(self) -> None:
        global _armed
        if self.seconds:
            _armed = False  # first: an alarm firing now is ignored
            signal.setitimer(signal.ITIMER_REAL, 0)


def budget_result(label: str, code: str, message: str, options: VerifyOptions) -> VerificationResult:
    """The result of a receipt that exceeded its budget: invalid, nothing else checked."""
    violations = tuple(Violation(p.name, "not evaluated: receipt exceeded its budget") for p in options.policies)
    return VerificationResult(
        source=label,
        checks=(Check("budget", False, code, f"{label}: {message}"),),
        violations=violations,
        policies_evaluated=not options.policies,
    )


class BulkItem(_Record):
    """One input: a label (file name, ``file:line``) and its bytes, or why it could not be read.

    Or, for the worker to read (so that reading costs the parent nothing): a *path* and the
    module-level function *read* (it pickles by name) that returns the bytes or raises an
    :class:`AttestkitError`, which becomes the item's error as if the caller had read it.
    """

    _fields = ("label", "data", "error", "fmt", "path", "read")
    __slots__ = _fields
    label: str
    data: bytes | None
    error: AttestkitError | None
    fmt: str | None  # "json", "yaml" or None to detect from the content
    path: str | None
    read: Callable[[str], bytes] | None

    def __init__(
        self,
        label: str,
        data: bytes | None = None,
        error: AttestkitError | None = None,
        fmt: str | None = None,
        path: str | None = None,
        read: Callable[[str], bytes] | None = None,
    ) -> None:
        ArgumentTypeError.check(label, str, "a BulkItem's label")
        if data is not None:
            ArgumentTypeError.check(data, (bytes, bytearray), "a BulkItem's data")
        if error is not None:
            ArgumentTypeError.check(error, AttestkitError, "a BulkItem's error")
        if fmt not in (None, "json", "yaml"):
            raise UsageError(f"a BulkItem's fmt must be 'json', 'yaml' or None, not {fmt!r}")
        if path is not None:
            ArgumentTypeError.check(path, str, "a BulkItem's path")
        if read is not None and not callable(read):
            raise ArgumentTypeError(f"a BulkItem's read must be a function, not {type(read).__name__}")
        if data is None and error is None and (path is None or read is None):
            raise UsageError(f"BulkItem {label!r} holds no receipt: give its bytes, its error, or a path and read")
        _set(self, "label", label)
        _set(self, "data", data)
        _set(self, "error", error)
        _set(self, "fmt", fmt)
        _set(self, "path", path)
        _set(self, "read", read)

    def loaded(self) -> BulkItem:
        """This item with its bytes (or its reading error) when it names a file to read."""
        if self.data is not None or self.error is not None or self.path is None or self.read is None:
            return self
        try:
            return BulkItem(self.label, self.read(self.path), fmt=self.fmt)
        except AttestkitError as exc:
            return BulkItem(self.label, error=exc)


class BulkOutcome(_Record):
    """A verification result, or the error that prevented checking (exit 2).

    With a *render* function, ``text`` holds its output, made where the work was done, and
    ``result`` is dropped so that only strings travel back from worker processes.
    """

    _fields = ("label", "result", "error", "valid", "text", "failures")
    __slots__ = _fields
    label: str
    result: VerificationResult | None
    error: AttestkitError | None
    valid: bool | None
    text: str | None
    failures: tuple[str, ...]  # codes of the failed checks (kept when the result is dropped)

    def __init__(
        self,
        label: str,
        result: VerificationResult | None = None,
        error: AttestkitError | None = None,
        valid: bool | None = None,
        text: str | None = None,
        failures: tuple[str, ...] = (),
    ) -> None:
        _set(self, "label", label)
        _set(self, "result", result)
        _set(self, "error", error)
        _set(self, "valid", valid)
        _set(self, "text", text)
        _set(self, "failures", failures)

    @property
    def failure_classes(self) -> tuple[str, ...]:
        """Why the receipt failed: the code of its first failed check, or the error's (empty when valid).

        One class per receipt, so the counts of a run add up to its failures; checks that only
        follow from the first (not evaluated, not checked) are not counted again.
        """
        if self.error is not None:
            return (self.error.code,)
        if self.result is not None:
            failed = self.result.failed_checks
            first = next((c for c in failed if c.evaluated and c.code != "not-checked"), failed[0] if failed else None)
            return (first.code,) if first is not None else ()
        return self.failures


Render = Callable[[BulkOutcome], str]
Report = Callable[[BulkOutcome], tuple[str, str]]  # (text for stdout, text for stderr); "" for none


class PathList(_Record):
    """Receipt files for the process that verifies them to read, each labelled by its path.

    Cheaper for the parent than one :class:`BulkItem` per file: a batch of them travels to a
    worker process as one NUL-separated string (no path holds NUL). *read* works as in
    :class:`BulkItem`; the format comes from each file name's extension. With *folder*, the
    *paths* are names in it, joined to it (``os.path.join``) where they are read: the parent
    then holds only the names a directory listing gave it.
    """

    _fields = ("paths", "read", "folder")
    __slots__ = _fields
    paths: Sequence[str]
    read: Callable[[str], bytes]
    folder: str | None

    def __init__(self, paths: Sequence[str], read: Callable[[str], bytes], folder: str | None = None) -> None:
        _set(self, "paths", paths)
        _set(self, "read", read)
        _set(self, "folder", folder)


class _PathBatch(_Record):
    _fields = ("joined", "read", "folder")
    __slots__ = _fields
    joined: str  # NUL-separated paths (names in *folder* when it is given)
    read: Callable[[str], bytes]
    folder: str | None

    def __init__(self, joined: str, read: Callable[[str], bytes], folder: str | None = None) -> None:
        _set(self, "joined", joined)
        _set(self, "read", read)
        _set(self, "folder", folder)

    def items(self) -> list[BulkItem]:
        read, folder, names = self.read, self.folder, self.joined.split("\0")
        paths = names if folder is None else [os.path.join(folder, name) for name in names]
        return [BulkItem(p, fmt=format_for_name(p), path=p, read=read) for p in paths]


Batch = list[BulkItem] | _PathBatch
Input = BulkItem | PathList


class BatchReport:
    """What a batch sends back when only its output and its counts matter (see :func:`verify_reports`).

    *chunks* are ``(to_stderr, text)`` in input order, the texts of consecutive receipts for
    one stream joined: a batch costs the parent a few writes, whatever its size.
    """

    __slots__ = ("_open", "_stream", "chunks", "tally")

    def __init__(self) -> None:
        self.chunks: list[tuple[bool, str]] = []
        self.tally = Tally()
        self._open: list[str] = []  # the texts of the chunk being built, joined once (not re-copied per receipt)
        self._stream = False

    def add(self, outcome: BulkOutcome, report: Report) -> None:
        """Count *outcome* and append its texts."""
        self.tally.add(outcome)
        text, error = report(outcome)
        for to_stderr, part in ((True, error), (False, text)):
            if not part:
                continue
            if self._open and self._stream is not to_stderr:
                self.close()
            self._stream = to_stderr
            self._open.append(part)

    def close(self) -> BatchReport:
        """Finish the chunk being built (call before reading *chunks*); returns this report."""
        if self._open:
            self.chunks.append((self._stream, "".join(self._open)))
            self._open = []
        return self

    def __getstate__(self) -> tuple[list[tuple[bool, str]], Tally]:
        return self.close().chunks, self.tally

    def __setstate__(self, state: tuple[list[tuple[bool, str]], Tally]) -> None:
        self.chunks, self.tally = state
        self._open, self._stream = [], False


_worker_options: VerifyOptions | None = None
_worker_render: Render | None = None
_worker_report: Report | None = None
_worker_budget: Budget = DEFAULT_BUDGET


def _init_worker(
    options: VerifyOptions, render: Render | None, budget: Budget = DEFAULT_BUDGET, report: Report | None = None
) -> None:
    global _worker_options, _worker_render, _worker_budget, _worker_report
    # Ctrl-C reaches the whole process group: the parent alone answers it (exit 130, one line);
    # a worker that took it too would print multiprocessing's traceback. Nor may a worker run
    # the caller's own handlers (a service's SIGTERM shutdown), which the fork copied.
    forking.settle()
    _worker_options, _worker_render, _worker_budget, _worker_report = options, render, budget, report


def rendered(outcomes: list[BulkOutcome], render: Render | None) -> list[BulkOutcome]:
    """*outcomes* with their text rendered and their results dropped (what travels back from a worker)."""
    if render is None:
        return outcomes
    return [BulkOutcome(o.label, None, o.error, o.valid, render(o), o.failure_classes) for o in outcomes]


def verify_batch(
    items: Sequence[BulkItem], options: VerifyOptions, budget: Budget = DEFAULT_BUDGET
) -> list[BulkOutcome]:
    """Verify a batch in this process (the map step of a distributed run), each item within *budget*."""
    outcomes = []
    with _Deadline(budget.seconds) as deadline:
        for item in items:
            outcomes.append(_verify_item(item, options, budget, deadline))
    return outcomes


def _verify_item(item: BulkItem, options: VerifyOptions, budget: Budget, deadline: _Deadline) -> BulkOutcome:
    item = item.loaded()
    if item.data is None:
        if isinstance(item.error, MalformedReceiptError):  # e.g. over the size limit: invalid
            return BulkOutcome(item.label, malformed_result(item.label, item.error, options), valid=False)
        return BulkOutcome(item.label, error=item.error)
    if len(item.data) > budget.max_bytes:
        message = f"receipt is {len(item.data)} bytes; the budget is {budget.max_bytes} bytes per receipt"
        return BulkOutcome(item.label, budget_result(item.label, "budget-size", message, options), valid=False)
    try:
        deadline.arm()
        try:
            result = verify_bytes(item.data, options, source=item.label, fmt=item.fmt)
        finally:
            deadline.disarm()
        return BulkOutcome(item.label, result, valid=result.valid)
    except AttestkitError as exc:
        return BulkOutcome(item.label, error=exc)
    except _OverBudget:
        message = f"verification took longer than the budget of {budget.seconds:g} s per receipt"
        return BulkOutcome(item.label, budget_result(item.label, "budget-time", message, options), valid=False)


def _run_batch(
    batch: Batch, options: VerifyOptions, budget: Budget, render: Render | None, report: Report | None
) -> list[BulkOutcome] | BatchReport:
    """One batch in this process: its outcomes (rendered when *render*), or its report when *report*."""
    items = batch.items() if isinstance(batch, _PathBatch) else batch
    if report is None:
        return rendered(verify_batch(items, options, budget), render)
    packed = BatchReport()
    with _Deadline(budget.seconds) as deadline:
        for item in items:
            packed.add(_verify_item(item, options, budget, deadline), report)
    return packed.close()


def _worker_batch(batch: Batch) -> list[BulkOutcome] | BatchReport:
    assert _worker_options is not None
    return _run_batch(batch, _worker_options, _worker_budget, _worker_render, _worker_report)


def _batches(items: Iterable[Input], size: int, first: int | None = None, workers: int = 1) -> Iterator[Batch]:
    """*items* cut into batches that start at *first* and double up to *size*; a path list never mixes with items.

    The end of a path list is known: its last batches shrink so that the *workers* finish together.
    """
    step = min(first or size, size)
    pending: list[BulkItem] = []
    for entry in items:
        if isinstance(entry, BulkItem):
            pending.append(entry)
            if len(pending) >= step:
                yield pending
                pending, step = [], min(step * 2, size)
            continue
        if not isinstance(entry, PathList):  # a path or bytes would be an AttributeError further on
            ArgumentTypeError.refuse(entry, (BulkItem, PathList), "each of items")
        if pending:
            yield pending
            pending, step = [], min(step * 2, size)
        paths, start = entry.paths, 0
        while start < len(paths):
            cut = step if workers <= 1 else max(min(step, (len(paths) - start) // (2 * workers)), first or 1)
            yield _PathBatch("\0".join(paths[start : start + cut]), entry.read, entry.folder)
            start, step = start + cut, min(step * 2, size)
    if pending:
        yield pending


SMALL_RUN = 16  # named files up to this many are verified in-process: a pool costs more than it saves


def default_jobs(named_files: int, *, walks_directories: bool, reads_streams: bool) -> int | None:
    """Worker processes for a bulk run: 1 for a few named files, else ``None`` (every core)."""
    if walks_directories or reads_streams or named_files > SMALL_RUN:
        return None
    return 1


def _run(
    items: Iterable[Input],
    options: VerifyOptions,
    jobs: int | None,
    render: Render | None,
    report: Report | None,
    budget: Budget,
) -> Iterator[list[BulkOutcome] | BatchReport]:
    """Each batch's outcomes or report, in input order, from this process or from *jobs* workers."""
    ArgumentTypeError.check(options, VerifyOptions, "options")
    ArgumentTypeError.check(budget, Budget, "budget")
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ArgumentTypeError(f"items must be an iterable of BulkItem or PathList, not {type(items).__name__}")
    if jobs is not None:
        ArgumentTypeError.check(jobs, int, "jobs")
        if not 1 <= jobs <= MAX_JOBS:  # 10**6 forked a million workers (a hang); 0 and -1 passed as "default" or 1
            raise UsageError(f"jobs must be from 1 to {MAX_JOBS} (or None for every core), not {jobs}", option="jobs")
    workers = jobs or os.cpu_count() or 1
    if workers <= 1 and (not budget.seconds or _alarm_usable()):
        for batch in _batches(items, BATCH):
            yield _run_batch(batch, options, budget, render, report)
        return
    # Several workers, or a time budget that only a worker process can enforce from this thread.
    from concurrent.futures import ProcessPoolExecutor  # only when there is parallel work

    initargs = (options, render, budget, report)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=initargs) as pool:
        pending: deque[Future[list[BulkOutcome] | BatchReport]] = deque()
        for batch in _batches(items, BATCH, FIRST_BATCH, workers):
            pending.append(pool.submit(_worker_batch, batch))
            if len(pending) >= 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def verify_many(
    items: Iterable[Input],
    options: VerifyOptions,
    *,
    jobs: int | None = None,
    render: Render | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> Iterator[BulkOutcome]:
    """Verify *items* on *jobs* processes (default: every core), yielding outcomes in input order.

    *render* (a module-level function, so it pickles) turns each outcome into text in the
    worker; the outcomes then carry ``text`` and ``valid`` instead of the full result. A
    receipt over *budget* is an invalid outcome (check ``budget``, code ``budget-time`` or
    ``budget-size``) and the run goes on.
    """
    for outcomes in _run(items, options, jobs, render, None, budget):
        assert isinstance(outcomes, list)
        yield from outcomes


def verify_reports(
    items: Iterable[Input],
    options: VerifyOptions,
    *,
    report: Report,
    jobs: int | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> Iterator[BatchReport]:
    """Verify *items* as :func:`verify_many` does, yielding one :class:`BatchReport` per batch, in input order.

    *report* (module-level, or a :func:`functools.partial` of one, so it pickles) gives each
    outcome's texts where it was verified; the parent only writes them and adds up the counts.
    """
    for packed in _run(items, options, jobs, None, report, budget):
        assert isinstance(packed, BatchReport)
        yield packed


class Tally:
    """Counts of a bulk run: valid, invalid, could not check, and receipts per failure class."""

    def __init__(self) -> None:
        self.valid = self.invalid = self.errors = 0
        self.classes: dict[str, int] = {}

    def merge(self, other: Tally) -> None:
        """Add *other*'s counts to these."""
        self.valid += other.valid
        self.invalid += other.invalid
        self.errors += other.errors
        for code, count in other.classes.items():
            self.classes[code] = self.classes.get(code, 0) + count

    def add(self, outcome: BulkOutcome) -> None:
        """Count one outcome."""
        if outcome.error is not None:
            self.errors += 1
        elif outcome.valid:
            self.valid += 1
        else:
            self.invalid += 1
        for code in outcome.failure_classes:
            self.classes[code] = self.classes.get(code, 0) + 1

    @property
    def total(self) -> int:
        """Every receipt counted."""
        return self.valid + self.invalid + self.errors

    @property
    def exit_code(self) -> int:
        """2 if any could not be checked or none was counted, else 1 if any is invalid, else 0.

        A run that checked nothing (an empty directory or stream) vouches for nothing: a gate
        must not pass on it.
        """
        return 2 if self.errors or not self.total else 1 if self.invalid else 0

    def nothing_checked(self, inputs: Sequence[str]) -> UsageError | None:
        """The error for a run that counted no receipt (code ``nothing-checked``), else ``None``."""
        if self.total:
            return None
        shown = ", ".join(inputs[:3]) + (", ..." if len(inputs) > 3 else "")
        return UsageError(
            f"no receipt found in {shown or 'the input'}: nothing was checked "
            "(a directory takes .json, .yaml and .yml files; JSON Lines one receipt per line)",
            code="nothing-checked",
        )

    def summary(self) -> str:
        """``3 valid, 2 invalid, 1 errors`` then the failure classes, most frequent first."""
        text = f"{self.valid} valid, {self.invalid} invalid, {self.errors} errors"
        if self.classes:
            ranked = sorted(self.classes.items(), key=lambda item: (-item[1], item[0]))
            text += "; failures: " + ", ".join(f"{code} {count}" for code, count in ranked)
        return text


__all__ = [
    "DEFAULT_BUDGET",
    "MAX_JOBS",
    "SMALL_RUN",
    "BatchReport",
    "Budget",
    "BulkItem",
    "BulkOutcome",
    "PathList",
    "Report",
    "Tally",
    "budget_result",
    "default_jobs",
    "rendered",
    "verify_batch",
    "verify_many",
    "verify_reports",
]
