"""Export: verify a receipt, then sign a statement about it (``attestkit export``).

Export never launders (docs/security.md): what is signed is only ever a receipt that verified
here, under trust the caller gave, or integrity-only under the receipt's own key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.dsse import FORMATS, export_statement, is_envelope, sign_statement
from attestkit.core.receipt.reader import Receipt
from attestkit.core.verify.verifier import VerifyOptions, verify_with_options
from attestkit.errors import AttestkitError, InvalidError, UsageError


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
    source = receipt.source if isinstance(receipt, Receipt) else "<receipt to export>"
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if fmt == "slsa-provenance" and not (builder_id or "").strip():
        raise UsageError("format slsa-provenance needs the builder's id (builder_id)")
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
        raise InvalidError(f"{source}: not exported: the receipt does not verify ({reasons})", code="export-unverified")
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


__all__ = ["make_envelope"]
