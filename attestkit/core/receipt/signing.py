"""Signing receipts and checking receipt signatures (contract section 2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.receipt.reader import Receipt, receipt_from_mapping
from attestkit.errors import KeyFormatError, UsageError

ALGORITHM = "ed25519"
_SIGNATURE = re.compile(r"ed25519:([0-9a-fA-F]{128})\Z")
_EMBEDDED_KEY = re.compile(r"ed25519:([0-9a-fA-F]{64})\Z")


def sign_receipt(receipt: Mapping[str, Any], private_key: PrivateKey, *, signer: str | None = None) -> dict[str, Any]:
    """Return a signed copy of *receipt*; the caller's mapping is not modified.

    Fills ``signer_public_key``, ``signature_algorithm`` (and ``signer`` when given), then
    signs the RFC 8785 form of everything but ``signature``.
    """
    from attestkit.core.arguments import private_key_argument, receipt_argument

    receipt, private_key = receipt_argument(receipt), private_key_argument(private_key)
    if signer is not None and not isinstance(signer, str):
        raise UsageError(f"signer: expected a string or None, got {type(signer).__name__}")
    draft = {k: v for k, v in receipt.items() if k != "signature"}
    draft["signer_public_key"] = private_key.public_key.text
    draft["signature_algorithm"] = ALGORITHM
    if signer is not None:
        draft["signer"] = signer
    checked = receipt_from_mapping(draft, source="<receipt to sign>")
    draft["signature"] = "ed25519:" + private_key.sign(checked.signing_input).hex()
    return draft


@lru_cache(maxsize=4096)
def _validated_key(raw: bytes) -> PublicKey:
    # Point validation costs about as much as a signature check: do it once per key.
    return PublicKey.from_raw(raw)


def embedded_public_key(data: Mapping[str, Any], known: Callable[[bytes], PublicKey | None] | None = None) -> PublicKey:
    """The receipt's ``signer_public_key``; :class:`KeyFormatError` when absent or unusable.

    *known* may return an already validated key for the raw bytes (e.g. a trusted key).
    """
    text = data.get("signer_public_key")
    if not isinstance(text, str):
        raise KeyFormatError("receipt has no signer_public_key", code="no-public-key")
    match = _EMBEDDED_KEY.match(text)
    if match is None:
        raise KeyFormatError("signer_public_key must be ed25519:<64 hex>", code="public-key-format")
    raw = bytes.fromhex(match.group(1))
    found = known(raw) if known is not None else None
    return found if found is not None and found.raw == raw else _validated_key(raw)


@dataclass(frozen=True)
class SignatureOutcome:
    """What checking a proof found: whether it verified, why, and the key that made it.

    ``claims_bound`` tells whether the receipt's own claims (``signer``) were made with
    ``key``: false for an envelope signed by a key other than the receipt's
    ``signer_public_key``, whose inner ``signer`` is then nobody's word.
    """

    valid: bool
    code: str
    message: str
    key: PublicKey | None = None
    claims_bound: bool = True


def check_signature(receipt: Receipt, known: Callable[[bytes], PublicKey | None] | None = None) -> SignatureOutcome:
    """Verify the receipt's signature against its embedded key; never raises for a bad receipt.

    The signed bytes are ``receipt.signing_input``, derived from ``receipt.data`` (see
    :class:`Receipt`).
    """
    data = receipt.data
    if "signature" not in data:
        return SignatureOutcome(False, "unsigned", "receipt is not signed")
    algorithm = data.get("signature_algorithm")
    if algorithm != ALGORITHM:
        return SignatureOutcome(False, "algorithm", f"signature_algorithm must be {ALGORITHM!r}, found {algorithm!r}")
    try:
        key = embedded_public_key(data, known)
    except KeyFormatError as exc:
        return SignatureOutcome(False, exc.code, str(exc))
    match = _SIGNATURE.match(data["signature"])
    if match is None:
        return SignatureOutcome(False, "signature-format", "signature must be ed25519:<128 hex>", key)
    if not key.verify(receipt.signing_input, bytes.fromhex(match.group(1))):
        return SignatureOutcome(False, "bad-signature", "signature does not verify against signer_public_key", key)
    return SignatureOutcome(True, "ok", f"signed by {key.text} (key id {key.key_id})", key)


__all__ = ["ALGORITHM", "SignatureOutcome", "check_signature", "embedded_public_key", "sign_receipt"]
