"""in-toto Statement v1 inside a DSSE envelope: the form the in-toto/Sigstore ecosystem verifies.

The statement's subjects are the receipt's recorded outputs (``blake3`` is a registered in-toto
digest name) and its predicate is the receipt. The envelope is signed with Ed25519 over the
DSSE pre-authentication encoding (PAE) of the exact payload bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from attestkit.core.canonical import canonicalize
from attestkit.core.keys import PrivateKey
from attestkit.core.reader import Receipt, parse_document, receipt_from_mapping
from attestkit.errors import MalformedReceiptError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://attestkit.dev/receipt/v1"


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


def make_envelope(receipt: Mapping[str, Any], key: PrivateKey) -> dict[str, Any]:
    """A DSSE envelope over the receipt's statement, signed with *key*."""
    receipt_from_mapping(receipt, source="<receipt to export>")  # refuse to wrap a malformed receipt
    payload = canonicalize(statement_for(receipt))
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


def open_envelope(document: Mapping[str, Any], source: str) -> tuple[Receipt, bytes, list[tuple[str | None, bytes]]]:
    """The receipt inside an envelope, the bytes its signatures cover, and the signatures.

    The payload is read with the same strict rules as a receipt. Nothing here checks a
    signature: that is the verifier's job, against trusted keys.
    """
    if document.get("payloadType") != PAYLOAD_TYPE:
        raise MalformedReceiptError(f"DSSE payloadType must be {PAYLOAD_TYPE!r}", source=source, code="dsse")
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
    raw_signatures = document.get("signatures")
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise MalformedReceiptError("DSSE envelope has no signatures", source=source, code="dsse")
    signatures = []
    for entry in raw_signatures:
        if not isinstance(entry, Mapping):
            raise MalformedReceiptError("DSSE signature entries must be objects", source=source, code="dsse")
        keyid = entry.get("keyid")
        signatures.append(
            (keyid if isinstance(keyid, str) and keyid else None, _b64(entry.get("sig"), "signature", source))
        )
    return receipt, pae(PAYLOAD_TYPE, payload), signatures


__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "is_envelope",
    "make_envelope",
    "open_envelope",
    "pae",
    "statement_for",
]
