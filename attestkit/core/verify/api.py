"""The library's front door for verification: :class:`Verifier`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from attestkit.core.receipt.reader import Receipt
from attestkit.core.verify.bulk import BulkItem, verify_many
from attestkit.core.verify.result import VerificationResult
from attestkit.core.verify.verifier import VerifyOptions, verify_with_options
from attestkit.errors import ArgumentTypeError


def _document(entry: object) -> BulkItem:
    """One ``(label, bytes)`` pair of :meth:`Verifier.verify_many` as a bulk item, or refused."""
    if not isinstance(entry, tuple) or len(entry) != 2:
        raise ArgumentTypeError(f"verify_many: expected (label, bytes) pairs, got {type(entry).__name__}")
    label, data = entry
    if not isinstance(data, (bytes, bytearray, memoryview)):
        hint = " (pass a parsed receipt to Verifier.verify)" if isinstance(data, Mapping) else ""
        raise ArgumentTypeError(f"verify_many: a receipt must be bytes, not {type(data).__name__}{hint}")
    return BulkItem(label, bytes(data))


class Verifier:
    """The library's front door: configure once, then verify one receipt or many::

    verifier = Verifier(VerifyOptions(trusted=TrustStore.of([public_key])))
    if not verifier.verify(receipt_bytes).valid: ...
    """

    def __init__(self, options: VerifyOptions) -> None:
        if not isinstance(options, VerifyOptions):
            raise ArgumentTypeError(f"Verifier needs VerifyOptions, not {type(options).__name__}")
        self.options = options

    def __repr__(self) -> str:
        return f"Verifier(trusted keys={len(self.options.trusted)}, policies={len(self.options.policies)})"

    def verify(self, receipt: Receipt | Mapping[str, Any] | bytes, *, source: str | None = None) -> VerificationResult:
        """Verify one receipt (a :class:`Receipt`, a parsed mapping, or raw JSON/YAML bytes)."""
        return verify_with_options(receipt, self.options, source=source)

    def verify_many(
        self, documents: Iterable[tuple[str, bytes]], *, jobs: int | None = 1
    ) -> Iterator[VerificationResult]:
        """Verify ``(label, bytes)`` pairs on *jobs* processes (``None``: every core), in input order.

        Each receipt is bounded as in bulk verification (size and time); an invalid or malformed
        receipt is a result, so one bad receipt never stops the others; a receipt that could not
        be checked at all raises its error (never skipped).
        """
        if jobs is not None:
            ArgumentTypeError.check(jobs, int, "jobs")
        items = (_document(entry) for entry in documents)
        for outcome in verify_many(items, self.options, jobs=jobs):
            if outcome.error is not None:
                raise outcome.error
            assert outcome.result is not None  # no render function: every outcome keeps its result
            yield outcome.result


__all__ = ["Verifier"]
