"""The ``transparency`` check of ``verify``: a receipt's ``.tlog-proof`` against a witness policy.

Imported only when a log proof or ``--require-log`` is given (it needs BLAKE3 for the entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from attestkit.core.receipt.reader import Receipt
from attestkit.core.tlog.entry import receipt_leaf_hash
from attestkit.core.tlog.policy import Policy, ProofResult, verify_proof
from attestkit.core.tlog.proof import parse_tlog_proof
from attestkit.errors import AttestkitError


@dataclass(frozen=True)
class Transparency:
    """The outcome: whether it passed, a stable code, a message, the JSON member, the witnessed time."""

    passed: bool
    code: str
    message: str
    member: dict[str, Any]
    witnessed_at: datetime | None


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_transparency(
    receipt: Receipt, proofs: Sequence[bytes], policy: Policy | None, *, required: bool
) -> Transparency:
    """Find the proof (among *proofs*) that proves *receipt* under *policy*; never raises."""
    if not proofs:
        message = "a log proof is required and none was given"
        return Transparency(False, "log-proof-required", message, {"valid": False, "error": message}, None)
    if policy is None:
        message = "a log proof needs a witness policy to be checked against"
        return Transparency(False, "log-policy-missing", message, {"valid": False, "error": message}, None)
    try:
        leaf = receipt_leaf_hash(receipt, check=False)
    except AttestkitError as exc:  # no signature to find in a log: a failed check, like a bad one
        message = f"log proof: {exc}"
        return Transparency(False, exc.code, message, {"valid": False, "error": message}, None)
    last: AttestkitError | None = None
    result: ProofResult | None = None
    for data in proofs:
        try:
            result = verify_proof(parse_tlog_proof(data), leaf, policy)
            break
        except AttestkitError as exc:
            last = exc
    if result is None:
        assert last is not None
        message = f"log proof: {last}"
        return Transparency(False, last.code, message, {"valid": False, "error": message}, None)
    witnessed = datetime.fromtimestamp(result.witnessed_at, timezone.utc) if result.witnessed_at is not None else None
    member = {
        "valid": True,
        "origin": result.origin,
        "index": result.index,
        "tree_size": result.size,
        "witnessed_at": _rfc3339(witnessed) if witnessed is not None else None,
        "witnesses": list(result.witnesses),
    }
    when = f", witnessed by {_rfc3339(witnessed)}" if witnessed is not None else ", no witness quorum required"
    message = f"entry {result.index} of {result.origin} (size {result.size}){when}"
    return Transparency(True, "ok", message, member, witnessed)


__all__ = ["Transparency", "check_transparency"]
