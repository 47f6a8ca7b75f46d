"""in-toto Statement v1 inside a DSSE envelope: the form the in-toto/Sigstore ecosystem verifies.

The statement's subjects are the receipt's recorded outputs (``blake3`` is a registered in-toto
digest name) and its predicate is the receipt. The envelope is signed with Ed25519 over the
DSSE pre-authentication encoding (PAE) of the exact payload bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.receipt.reader import Receipt, parse_document, receipt_from_mapping
from attestkit.errors import InvalidError, MalformedReceiptError

if TYPE_CHECKING:
    from attestkit.core.verify.verifier import VerifyOptions

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://attestkit.dev/receipt/v1"
MAX_SIGNATURES = 8  # entries in an envelope's `signatures`; envelopes carry one to a few
MAX_VERIFICATIONS = 16  # Ed25519 checks over the PAE per envelope, however many keys are trusted


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def statement_for(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto statement whose subjects are the receipt's outputs."""
    subjects = []
    seen: set[str] = set()
    for step in receipt.get("steps") or []:
        for output in step.get("outputs") or []:
            name = output["path"]
            if name in seen:
                continue
            seen.add(name)
            subjects.append({"name": name, "digest": {"blake3": output["hash"].split(":", 1)[1].lower()}})
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE, "predicate": dict(receipt)}


def make_envelope(receipt: Receipt | Mapping[str, Any], key: PrivateKey, options: VerifyOptions) -> dict[str, Any]:
    """A DSSE envelope over the receipt's statement, signed with *key*.

    Export never launders: the receipt is verified first with *options* (its trusted keys, or
    ``integrity_only=True`` as an explicit choice) and a receipt that does not verify —
    tampered, unsigned, untrusted, malformed — raises :class:`InvalidError`
    (code ``export-unverified``) naming the failed checks; nothing is signed.
    """
    from attestkit.core.verify.verifier import verify_with_options

    source = receipt.source if isinstance(receipt, Receipt) else "<receipt to export>"
    if is_envelope(receipt.data if isinstance(receipt, Receipt) else receipt):
        raise InvalidError(f"{source}: not exported: this is already a DSSE envelope", code="export-unverified")
    result = verify_with_options(receipt, options, source=source)
    if not result.valid:
        reasons = "; ".join(f"{c.name}: {c.message}" for c in result.failed_checks)
        raise InvalidError(
            f"{source}: not exported: the receipt does not verify ({reasons})", code="export-unverified"
        )
    data = receipt.data if isinstance(receipt, Receipt) else receipt
    payload = canonicalize(statement_for(data))
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key.public_key.key_id, "sig": base64.b64encode(signature).decode("ascii")}],
    }


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

    Pairs are tried in this order: a signature with the key its ``keyid`` names, then every
    other signature/key pair with *keys* in the order given (key ids are hints: other tools
    compute them differently). At most *budget* checks are made, so the work per envelope is
    bounded by ``budget x len(signed)`` whatever the envelope and the trust store hold.
    """
    usable = [(keyid, sig) for keyid, sig in signatures if len(sig) == 64]  # others cannot verify: free to skip

    def pairs() -> Iterator[tuple[PublicKey, bytes]]:
        for keyid, sig in usable:
            for key in keys:
                if keyid is not None and key.key_id == keyid:
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


def open_envelope(document: Mapping[str, Any], source: str) -> tuple[Receipt, bytes, list[tuple[str | None, bytes]]]:
    """The receipt inside an envelope, the bytes its signatures cover, and the signatures.

    The payload is read with the same strict rules as a receipt; an envelope with more than
    :data:`MAX_SIGNATURES` signatures is refused before anything is decoded. Nothing here checks
    a signature: that is the verifier's job, against trusted keys.
    """
    if document.get("payloadType") != PAYLOAD_TYPE:
        raise MalformedReceiptError(f"DSSE payloadType must be {PAYLOAD_TYPE!r}", source=source, code="dsse")
    signatures = _signatures(document.get("signatures"), source)  # the count is capped before any decoding
    payload = _b64(document.get("payload"), "payload", source)
    statement = parse_document(payload, source=f"{source} (payload)", fmt="json")
    if not isinstance(statement, Mapping) or statement.get("_type") != STATEMENT_TYPE:
        raise MalformedReceiptError(
            f"payload is not an in-toto Statement v1 ({STATEMENT_TYPE})", source=source, code="dsse"
        )
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise MalformedReceiptError(f"predicateType must be {PREDICATE_TYPE!r}", source=source, code="dsse")
    receipt = receipt_from_mapping(statement.get("predicate"), source=source)
    expected_subjects = statement_for(receipt.data)["subject"]
    if statement.get("subject") != expected_subjects:
        raise MalformedReceiptError("statement subjects do not match the receipt's outputs", source=source, code="dsse")
    return receipt, pae(PAYLOAD_TYPE, payload), signatures


__all__ = [
    "MAX_SIGNATURES",
    "MAX_VERIFICATIONS",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "SignerSearch",
    "find_signer",
    "is_envelope",
    "make_envelope",
    "open_envelope",
    "pae",
    "statement_for",
]
