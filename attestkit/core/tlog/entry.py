"""The log entry for a receipt: a small, versioned commitment, not the receipt itself.

::

    attestkit.receipt-entry/v1
    signing-input blake3:<64 hex>   BLAKE3 of the receipt's RFC 8785 signing input
    signature blake3:<64 hex>       BLAKE3 of the 64 raw Ed25519 signature bytes
    signer ed25519:<64 hex>         the receipt's signer_public_key

Each line ends with a newline; the entry is 275 bytes, far below the 65,535-byte cap.
"""

from __future__ import annotations

import re

from blake3 import blake3

from attestkit.core.receipt.reader import Receipt
from attestkit.core.receipt.signing import check_signature
from attestkit.core.tlog.merkle import leaf_hash
from attestkit.errors import InvalidError

ENTRY_HEADER = "attestkit.receipt-entry/v1"
_SIGNATURE = re.compile(r"ed25519:([0-9a-fA-F]{128})\Z")


def receipt_entry(receipt: Receipt, *, check: bool = True) -> bytes:
    """The entry bytes for *receipt*; with *check*, its signature must verify first."""
    signer = str(receipt.data.get("signer_public_key", "")).lower()
    if check:
        outcome = check_signature(receipt)
        if outcome.key is not None:
            signer = outcome.key.text
        if not outcome.valid:
            raise InvalidError(
                f"{receipt.source}: {outcome.message}; only validly signed receipts are logged", code=outcome.code
            )
    signature = receipt.data.get("signature")
    match = _SIGNATURE.match(signature) if isinstance(signature, str) else None
    if match is None:
        raise InvalidError(f"{receipt.source}: receipt has no ed25519 signature to commit to", code="unsigned")
    lines = [
        ENTRY_HEADER,
        "signing-input blake3:" + blake3(receipt.signing_input).hexdigest(),
        "signature blake3:" + blake3(bytes.fromhex(match.group(1))).hexdigest(),
        "signer " + signer,
    ]
    return "".join(line + "\n" for line in lines).encode("ascii")


def receipt_leaf_hash(receipt: Receipt, *, check: bool = True) -> bytes:
    """The Merkle leaf hash of the receipt's entry."""
    return leaf_hash(receipt_entry(receipt, check=check))


__all__ = ["ENTRY_HEADER", "receipt_entry", "receipt_leaf_hash"]
