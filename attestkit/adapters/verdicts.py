"""Typed verdicts and trust material as bytes: what cluster runs (Dask, Spark) send and return.

A cluster worker gets its verification options once, as bytes (:func:`options_to_bytes`):
trusted keys travel as their 32 raw bytes and are validated again on arrival, Rego policies
as their source text, recompiled on arrival; no key object crosses the wire. Each worker
process decodes the bytes once (:func:`options_from_bytes` keeps them by digest).

A :class:`Verdict` is one flat row per receipt, the shape of an audit table.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from threading import Lock

import blake3

from attestkit.core.verify.bulk import BulkOutcome
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import UsageError

VALID = "valid"
INVALID = "invalid"
ERROR = "error"


@dataclass(frozen=True)
class Verdict:
    """The verdict on one receipt, as one row.

    ``status`` is ``valid``, ``invalid`` (checked and found invalid: exit 1) or ``error``
    (could not be checked: exit 2). ``code`` is ``ok`` for a valid receipt, else the stable
    code of the first failed check (or of the error); ``check`` names that check. ``policy_ids``
    are the policies the receipt violated (or could not be evaluated against), in the order given.
    """

    receipt: str
    valid: bool
    status: str
    code: str
    check: str | None
    message: str | None
    key_id: str | None
    signer: str | None
    chain_of_trust: str
    policy_ids: tuple[str, ...]


def verdict_of(outcome: BulkOutcome) -> Verdict:
    """Flatten a bulk outcome (full result, or could-not-check error) into a :class:`Verdict`."""
    result = outcome.result
    if result is None:
        if outcome.error is None:
            raise ValueError(f"{outcome.label}: outcome carries neither a result nor an error (rendered?)")
        return Verdict(
            outcome.label, False, ERROR, outcome.error.code, "input", str(outcome.error), None, None, "untrusted", ()
        )
    failed = result.failed_checks
    first = failed[0] if failed else None
    violated = tuple(dict.fromkeys(v.policy for v in result.violations))
    return Verdict(
        receipt=outcome.label,
        valid=result.valid,
        status=VALID if result.valid else INVALID,
        code="ok" if first is None else first.code,
        check=None if first is None else first.name,
        message=None if first is None else first.message,
        key_id=result.key_id,
        signer=result.signer,
        chain_of_trust=result.chain_of_trust,
        policy_ids=violated,
    )


def options_to_bytes(options: VerifyOptions) -> bytes:
    """The verification options as bytes for workers (keys as raw bytes, Rego as source)."""
    return pickle.dumps(options, protocol=pickle.HIGHEST_PROTOCOL)


def options_digest(blob: bytes) -> str:
    """The BLAKE3 digest naming an options blob (the per-worker cache key)."""
    return blake3.blake3(blob).hexdigest()


_decoded: dict[str, VerifyOptions] = {}
_lock = Lock()
_CACHE_LIMIT = 8
_decodes = 0


def options_from_bytes(blob: bytes) -> VerifyOptions:
    """Decode options sent by the driver, once per process for the same bytes.

    The bytes come from this run's own driver (:func:`options_to_bytes`), never from a
    receipt; keys are validated again as they are rebuilt.
    """
    name = options_digest(blob)
    with _lock:
        cached = _decoded.get(name)
        if cached is not None:
            return cached
        options = pickle.loads(blob)  # noqa: S301 - the driver's own options, see the docstring
        if not isinstance(options, VerifyOptions):
            raise UsageError("the options sent to this worker are not attestkit verification options")
        global _decodes
        _decodes += 1
        if len(_decoded) >= _CACHE_LIMIT:
            _decoded.clear()
        _decoded[name] = options
        return options


def decode_count() -> int:
    """How many times this process has decoded an options blob (once per worker per run)."""
    with _lock:
        return _decodes


__all__ = [
    "ERROR",
    "INVALID",
    "VALID",
    "Verdict",
    "decode_count",
    "options_digest",
    "options_from_bytes",
    "options_to_bytes",
    "verdict_of",
]
