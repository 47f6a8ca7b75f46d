"""DSSE envelopes: the pre-authentication encoding, signing, reading signatures, finding the signer.

The primitives every envelope user shares (receipt envelopes, standard predicates, verification
summaries), with no knowledge of what the payload means. Work per envelope is bounded: at most
:data:`MAX_SIGNATURES` signatures are read and :data:`MAX_VERIFICATIONS` Ed25519 checks made.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.intoto.statement import intoto_key_id
from attestkit.errors import MalformedReceiptError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_SIGNATURES = 8  # entries in an envelope's `signatures`; envelopes carry one to a few
MAX_VERIFICATIONS = 16  # Ed25519 checks over the PAE per envelope, however many keys are trusted


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_statement(document: Mapping[str, Any], key: PrivateKey) -> dict[str, Any]:
    """A DSSE envelope over the RFC 8785 bytes of *document*, signed with *key*."""
    payload = canonicalize(dict(document))
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": intoto_key_id(key.public_key), "sig": base64.b64encode(signature).decode("ascii")}],
    }


def is_envelope(document: Any) -> bool:
    """Whether a parsed document has the shape of a DSSE envelope."""
    return (
        isinstance(document, Mapping)
        and {"payloadType", "payload", "signatures"} <= set(document)
        and "timestamp" not in document
    )


def b64_field(value: Any, what: str, source: str) -> bytes:
    """A base64 (or URL-safe base64) member of an envelope, decoded; malformed otherwise."""
    if not isinstance(value, str):
        raise MalformedReceiptError(f"DSSE {what} must be a base64 string", source=source, code="dsse")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    # URL-safe (or unpadded) base64, validated as strictly: the lenient decoder drops
    # characters outside the alphabet and stops at the first padding, so text appended after
    # a padded payload went unseen by attestkit while `base64 -d` decoded it too.
    translated = value.translate(_URL_SAFE)
    try:
        return base64.b64decode(translated + "=" * (-len(translated) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedReceiptError(f"DSSE {what} is not base64", source=source, code="dsse") from None


_URL_SAFE = str.maketrans("-_", "+/")


def envelope_signatures(raw: Any, source: str) -> list[tuple[str | None, bytes]]:
    """The ``(keyid, signature)`` pairs of an envelope, de-duplicated, at most :data:`MAX_SIGNATURES`."""
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
        signature = (
            keyid if isinstance(keyid, str) and keyid else None,
            b64_field(entry.get("sig"), "signature", source),
        )
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


__all__ = [
    "MAX_SIGNATURES",
    "MAX_VERIFICATIONS",
    "PAYLOAD_TYPE",
    "SignerSearch",
    "b64_field",
    "envelope_signatures",
    "find_signer",
    "is_envelope",
    "pae",
    "sign_statement",
]
