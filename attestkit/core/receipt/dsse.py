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

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.intoto.statement import (
    STATEMENT_TYPE,
    integral_doubles_as_integers,
    intoto_key_id,
    receipt_statement_subjects,
    statement,
    subject_list,
    subject_problem,
)
from attestkit.core.intoto.vsa import VSA_TYPE
from attestkit.core.receipt.reader import Receipt, parse_document, receipt_from_mapping
from attestkit.errors import AttestkitError, InvalidError, MalformedReceiptError, UsageError

if TYPE_CHECKING:
    from attestkit.core.verify.verifier import VerifyOptions

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://attestkit.dev/receipt/v1"
FORMATS = ("in-toto", "slsa-provenance", "test-result")
MAX_SIGNATURES = 8  # entries in an envelope's `signatures`; envelopes carry one to a few
MAX_VERIFICATIONS = 16  # Ed25519 checks over the PAE per envelope, however many keys are trusted


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


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


def sign_statement(document: Mapping[str, Any], key: PrivateKey) -> dict[str, Any]:
    """A DSSE envelope over the RFC 8785 bytes of *document*, signed with *key*."""
    payload = canonicalize(dict(document))
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": intoto_key_id(key.public_key), "sig": base64.b64encode(signature).decode("ascii")}],
    }


def make_envelope(
    receipt: Receipt | Mapping[str, Any],
    key: PrivateKey,
    options: VerifyOptions,
    *,
    fmt: str = "in-toto",
    artifacts_dir: str | None = None,
    builder_id: str | None = None,
) -> dict[str, Any]:
    """A DSSE envelope over the receipt's statement (*fmt*, see :data:`FORMATS`), signed with *key*.

    Export never launders: the receipt is verified first with *options* (its trusted keys, or
    ``integrity_only=True`` as an explicit choice, allowed only when *key* is the receipt's own
    signing key) and a receipt that does not verify —
    tampered, unsigned, untrusted, malformed — raises :class:`InvalidError`
    (code ``export-unverified``) naming the failed checks; nothing is signed. With
    *artifacts_dir* every output is checked against the files there and the subjects carry
    their ``sha256`` too (:class:`ArtifactError` on a mismatch); without it they are blake3-only.
    """
    from attestkit.core.verify.verifier import verify_with_options

    source = receipt.source if isinstance(receipt, Receipt) else "<receipt to export>"
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if fmt == "slsa-provenance" and not (builder_id or "").strip():
        raise UsageError("--format slsa-provenance needs the builder's id (--builder-id URI)")
    if is_envelope(receipt.data if isinstance(receipt, Receipt) else receipt):
        raise InvalidError(f"{source}: not exported: this is already a DSSE envelope", code="export-unverified")
    result = verify_with_options(receipt, options, source=source)
    if options.integrity_only and result.public_key != key.public_key.text:
        # Integrity alone says nothing about who made the receipt: wrapping another key's receipt
        # under this key would lend it this key's trust. Only one's own receipts, then.
        raise InvalidError(
            f"{source}: not exported: integrity-only export must be signed with the receipt's own key "
            f"({result.public_key}); verify its signer's trust instead",
            code="export-unverified",
        )
    if not result.valid:
        reasons = "; ".join(f"{c.name}: {c.message}" for c in result.failed_checks)
        raise InvalidError(
            f"{source}: not exported: the receipt does not verify ({reasons})", code="export-unverified"
        )
    data = receipt.data if isinstance(receipt, Receipt) else receipt
    subjects = None
    if artifacts_dir is not None:
        from attestkit.core.intoto.subjects import artifact_subjects

        try:
            subjects = artifact_subjects(data, artifacts_dir)
        except AttestkitError as exc:
            raise exc.prefixed(f"{source}: ") from None
    try:
        document = export_statement(data, fmt, subjects=subjects, builder_id=builder_id)
    except UsageError as exc:
        raise exc.prefixed(f"{source}: ") from None
    return sign_statement(document, key)


def is_envelope(document: Any) -> bool:
    """Whether a parsed document has the shape of a DSSE envelope."""
    return (
        isinstance(document, Mapping)
        and {"payloadType", "payload", "signatures"} <= set(document)
        and "timestamp" not in document
    )


def _b64(value: Any, what: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedReceiptError(f"DSSE {what} must be a base64 string", source=source, code="dsse")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise MalformedReceiptError(f"DSSE {what} is not base64", source=source, code="dsse") from None


def _signatures(raw: Any, source: str) -> list[tuple[str | None, bytes]]:
    if not isinstance(raw, list) or not raw:
        raise MalformedReceiptError("DSSE envelope has no signatures", source=source, code="dsse")
    if len(raw) > MAX_SIGNATURES:
        raise MalformedReceiptError(
            f"DSSE envelope carries {len(raw)} signatures; at most {MAX_SIGNATURES} are accepted",
            source=source,
            code="dsse-signatures",
        )
    signatures: list[tuple[str | None, bytes]] = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise MalformedReceiptError("DSSE signature entries must be objects", source=source, code="dsse")
        keyid = entry.get("keyid")
        signature = (keyid if isinstance(keyid, str) and keyid else None, _b64(entry.get("sig"), "signature", source))
        if signature not in signatures:
            signatures.append(signature)
    return signatures


@dataclass(frozen=True)
class SignerSearch:
    """The outcome of :func:`find_signer`: the key found (or ``None``) and the work it cost."""

    key: PublicKey | None
    attempts: int  # Ed25519 checks made
    exhausted: bool  # the budget ran out with pairs left untried


def find_signer(
    signed: bytes,
    signatures: Sequence[tuple[str | None, bytes]],
    keys: Sequence[PublicKey],
    *,
    budget: int = MAX_VERIFICATIONS,
) -> SignerSearch:
    """The key that made one of *signatures* over *signed*, and how many Ed25519 checks it took.

    Pairs are tried in this order: a signature with the key its ``keyid`` names (attestkit's
    16-hex id or the securesystemslib/in-toto one, :func:`intoto_key_id`), then every
    other signature/key pair with *keys* in the order given (key ids are hints: other tools
    compute them differently). At most *budget* checks are made, so the work per envelope is
    bounded by ``budget x len(signed)`` whatever the envelope and the trust store hold.
    """
    usable = [(keyid, sig) for keyid, sig in signatures if len(sig) == 64]  # others cannot verify: free to skip

    def pairs() -> Iterator[tuple[PublicKey, bytes]]:
        for keyid, sig in usable:
            for key in keys:
                if keyid is not None and keyid in (key.key_id, intoto_key_id(key)):
                    yield key, sig
        for key in keys:
            for _, sig in usable:
                yield key, sig

    attempts = 0
    tried: set[tuple[bytes, bytes]] = set()
    for key, sig in pairs():
        if (key.raw, sig) in tried:
            continue
        if attempts == budget:
            return SignerSearch(None, attempts, exhausted=True)
        tried.add((key.raw, sig))
        attempts += 1
        if key.verify(signed, sig):
            return SignerSearch(key, attempts, exhausted=False)
    return SignerSearch(None, attempts, exhausted=False)


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
    signatures = _signatures(document.get("signatures"), source)  # the count is capped before any decoding
    payload = _b64(document.get("payload"), "payload", source)
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
    "make_envelope",
    "open_envelope",
    "open_statement",
    "pae",
    "sign_statement",
    "statement_for",
]
