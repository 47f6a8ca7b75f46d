"""in-toto Statement v1 inside a DSSE envelope: the form the in-toto/Sigstore ecosystem verifies.

Three predicates are written (``export --format``): the receipt itself
(:data:`PREDICATE_TYPE`), SLSA Provenance v1 and in-toto Test Result v0.1 (both carry the
receipt, see :mod:`attestkit.core.intoto.predicates`). Subjects are the receipt's recorded
outputs with ``blake3``, and ``sha256`` when the artifacts were hashed
(:mod:`attestkit.core.intoto.subjects`). The envelope is signed with Ed25519 over the DSSE
pre-authentication encoding (PAE) of the exact payload bytes; its ``keyid`` is the one
securesystemslib and in-toto compute for the key, and is only a hint when verifying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestkit.core.intoto.statement import (
    STATEMENT_TYPE,
    integral_doubles_as_integers,
    receipt_statement_subjects,
    statement,
    subject_list,
    subject_problem,
)
from attestkit.core.intoto.vsa import VSA_TYPE
from attestkit.core.receipt.envelope import (
    MAX_SIGNATURES,
    MAX_VERIFICATIONS,
    PAYLOAD_TYPE,
    SignerSearch,
    b64_field,
    envelope_signatures,
    find_signer,
    is_envelope,
    pae,
    sign_statement,
)
from attestkit.core.receipt.reader import Receipt, parse_document, receipt_from_mapping
from attestkit.errors import MalformedReceiptError, UsageError

PREDICATE_TYPE = "https://attestkit.dev/receipt/v1"
FORMATS = ("in-toto", "slsa-provenance", "test-result")


def statement_for(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto statement whose subjects are the receipt's outputs (blake3 only) and predicate the receipt."""
    return statement(receipt_statement_subjects(receipt), PREDICATE_TYPE, dict(receipt))


def export_statement(
    receipt: Mapping[str, Any],
    fmt: str = "in-toto",
    *,
    subjects: Mapping[str, Mapping[str, str]] | None = None,
    builder_id: str | None = None,
) -> dict[str, Any]:
    """The statement ``export --format FMT`` signs: *subjects* (name -> digest set) or the blake3 ones.

    Raises :class:`UsageError` (code ``export-no-subject``) when there is nothing to name as a
    subject: in-toto requires at least one.
    """
    from attestkit.core.intoto import predicates

    listed = subject_list(subjects) if subjects is not None else receipt_statement_subjects(receipt)
    if not listed:
        raise UsageError(
            "not exported: the receipt records no outputs, so the statement would have no subject "
            "(in-toto requires at least one)",
            code="export-no-subject",
        )
    if fmt == "in-toto":
        return statement(listed, PREDICATE_TYPE, dict(receipt))
    if fmt == "slsa-provenance":
        return statement(listed, predicates.PROVENANCE_TYPE, predicates.provenance(receipt, builder_id or ""))
    if fmt == "test-result":
        return statement(listed, predicates.TEST_RESULT_TYPE, predicates.test_result(receipt))
    raise UsageError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")


@dataclass(frozen=True)
class OpenedEnvelope:
    """What :func:`open_statement` read: the receipt, the signed bytes, the signatures, the subjects."""

    receipt: Receipt
    signed: bytes
    signatures: list[tuple[str | None, bytes]]
    subjects: list[Any]


def open_envelope(document: Mapping[str, Any], source: str) -> tuple[Receipt, bytes, list[tuple[str | None, bytes]]]:
    """The receipt inside an envelope, the bytes its signatures cover, and the signatures (see :func:`open_statement`)."""
    opened = open_statement(document, source)
    return opened.receipt, opened.signed, opened.signatures


def open_statement(document: Mapping[str, Any], source: str) -> OpenedEnvelope:
    """The receipt inside an envelope, the bytes its signatures cover, the signatures and the subjects.

    The payload is read with the same strict rules as a receipt; an envelope with more than
    :data:`MAX_SIGNATURES` signatures is refused before anything is decoded. The predicate is
    the receipt itself, or a Provenance / Test Result predicate carrying it (which must say
    what the receipt says); integral doubles (``0.0``, as protobuf writes them) are read as
    integers, and the subjects must name the receipt's outputs (any order, extra digests and
    fields allowed, see :func:`~attestkit.core.intoto.statement.subject_problem`). Nothing here
    checks a signature: that is the verifier's job, against trusted keys.
    """
    from attestkit.core.intoto import predicates

    if document.get("payloadType") != PAYLOAD_TYPE:
        raise MalformedReceiptError(f"DSSE payloadType must be {PAYLOAD_TYPE!r}", source=source, code="dsse")
    signatures = envelope_signatures(document.get("signatures"), source)  # the count is capped before any decoding
    payload = b64_field(document.get("payload"), "payload", source)
    parsed = parse_document(payload, source=f"{source} (payload)", fmt="json")
    if not isinstance(parsed, Mapping) or parsed.get("_type") != STATEMENT_TYPE:
        raise MalformedReceiptError(
            f"payload is not an in-toto Statement v1 ({STATEMENT_TYPE})", source=source, code="dsse"
        )
    kind = parsed.get("predicateType")
    if kind == PREDICATE_TYPE:
        receipt = receipt_from_mapping(integral_doubles_as_integers(parsed.get("predicate")), source=source)
    elif kind in (predicates.PROVENANCE_TYPE, predicates.TEST_RESULT_TYPE):
        carried = predicates.carried_receipt(kind, parsed.get("predicate"), source)
        inner = parse_document(carried, source=f"{source} (the receipt in the predicate)", fmt="json")
        receipt = receipt_from_mapping(inner, source=source)
        problem = predicates.predicate_problem(kind, parsed.get("predicate"), receipt.data)
        if problem is not None:
            raise MalformedReceiptError(problem, source=source, code="dsse")
    elif kind == VSA_TYPE:
        raise MalformedReceiptError(
            "this is a verification summary (SLSA VSA), not a receipt: check it with `verify --summary FILE`",
            source=source,
            code="dsse",
        )
    else:
        raise MalformedReceiptError(
            f"predicateType {str(kind)[:100]!r} is not one attestkit reads ({PREDICATE_TYPE}, "
            f"{predicates.PROVENANCE_TYPE}, {predicates.TEST_RESULT_TYPE})",
            source=source,
            code="dsse",
        )
    problem = subject_problem(parsed.get("subject"), receipt.data)
    if problem is not None:
        raise MalformedReceiptError(f"statement subjects: {problem}", source=source, code="dsse")
    return OpenedEnvelope(receipt, pae(PAYLOAD_TYPE, payload), signatures, list(parsed["subject"]))


__all__ = [
    "FORMATS",
    "MAX_SIGNATURES",
    "MAX_VERIFICATIONS",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "VSA_TYPE",
    "OpenedEnvelope",
    "SignerSearch",
    "export_statement",
    "find_signer",
    "is_envelope",
    "open_envelope",
    "open_statement",
    "pae",
    "sign_statement",
    "statement_for",
]
