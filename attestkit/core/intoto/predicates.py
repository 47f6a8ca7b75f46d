"""Standard predicates built from a receipt: SLSA Provenance v1 and in-toto Test Result v0.1.

Each carries the receipt it was built from, whole, as a resource descriptor whose ``content``
is the receipt's RFC 8785 bytes (media type :data:`RECEIPT_MEDIA_TYPE`): in Provenance it is a
``runDetails.byproducts`` entry, in Test Result a ``configuration`` entry. Reading one back
(:func:`receipt_from_predicate`) takes that receipt and rebuilds the predicate from it: a
predicate that says anything the receipt does not (another step, another result) is refused,
so ``attestkit verify`` judges the receipt and vouches for the predicate around it.

Only fields the in-toto-attestation protobuf definitions know are written, and times are in
the form protobuf ``Timestamp`` prints (UTC, ``Z``, a fraction of 0, 3, 6 or 9 digits).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.intoto.statement import integral_doubles_as_integers
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import AttestkitError, MalformedReceiptError, UsageError

PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
TEST_RESULT_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
BUILD_TYPE = "https://attestkit.dev/buildtypes/pipeline/v1"
RECEIPT_MEDIA_TYPE = "application/vnd.attestkit.receipt+json"
RECEIPT_NAME = "attestkit-receipt.json"


def protobuf_time(moment: datetime) -> str:
    """RFC 3339 in UTC as protobuf's ``Timestamp`` JSON form writes it (fraction of 0/3/6 digits)."""
    utc = moment.astimezone(timezone.utc)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    if utc.microsecond % 1000 == 0 and utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    elif utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1].lower()


def receipt_descriptor(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The resource descriptor that carries *receipt* whole (RFC 8785 bytes, base64)."""
    from blake3 import blake3

    content = canonicalize(dict(receipt))
    return {
        "name": RECEIPT_NAME,
        "digest": {"sha256": hashlib.sha256(content).hexdigest(), "blake3": blake3(content).hexdigest()},
        "content": base64.b64encode(content).decode("ascii"),
        "mediaType": RECEIPT_MEDIA_TYPE,
    }


def _times(receipt: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The run's start and finish: the steps' earliest start and latest end, else from the timestamp."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    for step in receipt.get("steps") or []:
        for name, into in (("start_time", starts), ("end_time", ends)):
            value = step.get(name)
            if isinstance(value, str):
                try:
                    into.append(parse_rfc3339(value))
                except ValueError:
                    pass
    stamp = parse_rfc3339(receipt["timestamp"])
    duration = receipt.get("total_duration_secs")
    started = min(starts) if starts else stamp
    if not starts and isinstance(duration, (int, float)) and not isinstance(duration, bool) and 0 <= duration < 1e9:
        started = stamp - timedelta(seconds=duration)
    return started, max(ends) if ends else stamp


def _dependencies(receipt: Mapping[str, Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for step in receipt.get("steps") or []:
        for entry in step.get("inputs") or []:
            seen.setdefault(entry["path"], {"name": entry["path"], "digest": {"blake3": _hex(entry["hash"])}})
    return [seen[name] for name in sorted(seen, key=str.encode)]


def provenance(receipt: Mapping[str, Any], builder_id: str) -> dict[str, Any]:
    """SLSA Provenance v1 for the run *receipt* records, built by *builder_id*.

    ``buildDefinition``: the pipeline (``pipeline_hash``) and each step's name and command as
    external parameters, ``attest_version``/``environment`` as internal ones, the recorded
    inputs as ``resolvedDependencies``. ``runDetails``: the builder, the run's start and
    finish, and the receipt itself as a byproduct.
    """
    if not builder_id or not builder_id.strip():
        raise UsageError("SLSA provenance needs a builder id (builder_id)")
    external: dict[str, Any] = {
        "steps": [
            {k: step[k] for k in ("name", "command") if isinstance(step.get(k), (str, list))}
            for step in receipt.get("steps") or []
        ]
    }
    if isinstance(receipt.get("pipeline_hash"), str):
        external["pipeline"] = {"digest": {"blake3": _hex(receipt["pipeline_hash"])}}
    internal = {k: receipt[k] for k in ("attest_version", "environment") if k in receipt}
    definition: dict[str, Any] = {"buildType": BUILD_TYPE, "externalParameters": external}
    if internal:
        definition["internalParameters"] = internal
    dependencies = _dependencies(receipt)
    if dependencies:
        definition["resolvedDependencies"] = dependencies
    started, finished = _times(receipt)
    return {
        "buildDefinition": definition,
        "runDetails": {
            "builder": {"id": builder_id},
            "metadata": {"startedOn": protobuf_time(started), "finishedOn": protobuf_time(finished)},
            "byproducts": [receipt_descriptor(receipt)],
        },
    }


def test_result(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """in-toto Test Result v0.1 from the receipt's ``attestations.test`` counts.

    ``FAILED`` when a test failed, none ran, or a step of the run exited non-zero (counts that
    say all passed beside a failed step are not a pass), ``WARNED`` when some were skipped,
    else ``PASSED``. The receipt records counts, not test names, so the name lists are left out;
    ``configuration`` holds the pipeline (by digest) and the receipt itself.
    """
    counts = _test_counts(receipt)
    if counts is None:
        raise UsageError(
            "the receipt has no test attestation (attestations.test.predicate.test_results with integer "
            "total and failed) to export as a test result",
            code="export-no-tests",
        )
    total, failed, skipped = counts
    steps = receipt.get("steps")
    step_failed = isinstance(steps, list) and any(
        isinstance(step, Mapping) and step.get("exit_code") != 0 for step in steps
    )
    result = "FAILED" if failed or total == 0 or step_failed else "WARNED" if skipped else "PASSED"
    configuration: list[dict[str, Any]] = []
    if isinstance(receipt.get("pipeline_hash"), str):
        configuration.append({"name": "pipeline", "digest": {"blake3": _hex(receipt["pipeline_hash"])}})
    configuration.append(receipt_descriptor(receipt))
    return {"result": result, "configuration": configuration}


test_result.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def _test_counts(receipt: Mapping[str, Any]) -> tuple[int, int, int] | None:
    attestations = receipt.get("attestations")
    test = attestations.get("test") if isinstance(attestations, Mapping) else None
    predicate = test.get("predicate") if isinstance(test, Mapping) else None
    results = predicate.get("test_results") if isinstance(predicate, Mapping) else None
    if not isinstance(results, Mapping):
        return None
    values = [results.get(k, 0 if k == "skipped" else None) for k in ("total", "failed", "skipped")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        return None
    total, failed, skipped = values
    return total, failed, skipped


def _carried(descriptors: Any, where: str, source: str) -> bytes:
    if not isinstance(descriptors, list):
        raise MalformedReceiptError(f"{where} is not a list", source=source, code="dsse")
    found = [d for d in descriptors if isinstance(d, Mapping) and d.get("mediaType") == RECEIPT_MEDIA_TYPE]
    if len(found) != 1:
        raise MalformedReceiptError(
            f"{where} must hold exactly one {RECEIPT_MEDIA_TYPE} descriptor (the receipt), found {len(found)}",
            source=source,
            code="dsse",
        )
    content = found[0].get("content")
    try:
        return base64.b64decode(content, validate=True) if isinstance(content, str) else b""
    except (binascii.Error, ValueError):
        raise MalformedReceiptError(
            f"{where}: the receipt's content is not base64", source=source, code="dsse"
        ) from None


def carried_receipt(predicate_type: str, predicate: Any, source: str) -> bytes:
    """The receipt bytes a Provenance or Test Result predicate carries."""
    if not isinstance(predicate, Mapping):
        raise MalformedReceiptError("the predicate is not an object", source=source, code="dsse")
    if predicate_type == PROVENANCE_TYPE:
        run = predicate.get("runDetails")
        return _carried(run.get("byproducts") if isinstance(run, Mapping) else None, "runDetails.byproducts", source)
    return _carried(predicate.get("configuration"), "configuration", source)


def predicate_problem(predicate_type: str, predicate: Any, receipt: Mapping[str, Any]) -> str | None:
    """Why *predicate* says something other than what attestkit derives from *receipt*, or ``None``."""
    if predicate_type == PROVENANCE_TYPE:
        run = predicate.get("runDetails") if isinstance(predicate, Mapping) else None
        builder = run.get("builder") if isinstance(run, Mapping) else None
        builder_id = builder.get("id") if isinstance(builder, Mapping) else None
        if not isinstance(builder_id, str) or not builder_id.strip():
            return "runDetails.builder.id is missing"
        expected = provenance(receipt, builder_id)
    else:
        try:
            expected = test_result(receipt)
        except UsageError as exc:
            return str(exc)
    actual = integral_doubles_as_integers(predicate)
    if _same_json(actual, expected):
        return None
    differing = sorted(k for k in set(actual) | set(expected) if not _same_json(actual.get(k), expected.get(k)))
    return f"the predicate's {', '.join(differing)} differ from what the receipt it carries records"


def _same_json(a: Any, b: Any) -> bool:
    """The same JSON value: Python's ``==`` would equate ``true`` with ``1`` and ``false`` with ``0``."""
    try:
        return canonicalize(a) == canonicalize(b)
    except AttestkitError:
        return False


__all__ = [
    "BUILD_TYPE",
    "PROVENANCE_TYPE",
    "RECEIPT_MEDIA_TYPE",
    "TEST_RESULT_TYPE",
    "carried_receipt",
    "predicate_problem",
    "protobuf_time",
    "provenance",
    "receipt_descriptor",
    "test_result",
]
