"""Honest re-signing: a receipt's existing proof and ``signer`` claim are replaced only when asked.

A receipt that already carries a ``signature`` was signed by someone; silently replacing it
with another key's signature, or keeping a ``signer`` claim that the new key may have no right
to, makes the receipt say something nobody checked. :func:`plan_signing` decides what signing
*receipt* would replace and refuses (``ResignRefused``, exit 2) unless the caller said so:

* an existing ``signature`` needs ``replace_signature``;
* a ``signer`` claim bound to an earlier proof (the receipt has a ``signature``, or a
  ``signer_public_key`` other than the new key) needs ``signer`` (the identity to record, or
  the same one stated again) or ``no_signer`` (drop it): the new key must not inherit an
  identity another key's proof carried. A claim written before any proof (an unsigned
  receipt the producer wrote with its ``signer``, as ``receipt finalize --signer`` does) is
  signed as it is, as the contract's ``sign`` does.

The plan lists, in words, what was replaced so the command can say it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestkit.core.crypto.keys import PublicKey, parse_public_key
from attestkit.core.textsafe import escape_text
from attestkit.errors import AttestkitError, ResignRefused, UsageError


@dataclass(frozen=True)
class SigningPlan:
    """What to sign (``receipt``, without any old proof) and what that replaces (``replaced``)."""

    receipt: dict[str, Any]
    signer: str | None
    replaced: tuple[str, ...]


def _old_key(data: Mapping[str, Any]) -> str:
    text = data.get("signer_public_key")
    if not isinstance(text, str) or not text.strip():
        return "an unnamed key"
    try:
        return f"{text} (key id {parse_public_key(text).key_id})"
    except AttestkitError:  # an unusable embedded key is still named
        return escape_text(text[:80])


def plan_signing(
    receipt: Mapping[str, Any],
    new_key: PublicKey,
    *,
    replace_signature: bool = False,
    signer: str | None = None,
    no_signer: bool = False,
    source: str = "receipt",
) -> SigningPlan:
    """Decide how to sign *receipt* with *new_key*; :class:`ResignRefused` names what is in the way."""
    if signer is not None and no_signer:
        raise UsageError("signer and no_signer contradict each other; give one")
    if signer is not None and not signer.strip():
        raise UsageError("signer: the identity is empty (use no_signer to record none)")
    replaced: list[str] = []
    refusals: list[str] = []
    if "signature" in receipt:
        old = _old_key(receipt)
        same = receipt.get("signer_public_key") == new_key.text
        if replace_signature:
            replaced.append(f"signature by {old}" + (" (same key)" if same else ""))
        else:
            refusals.append(f"it is already signed by {old}; pass replace_signature to replace that signature")
    old_signer = receipt.get("signer")
    earlier_key = receipt.get("signer_public_key")
    bound = "signature" in receipt or (earlier_key is not None and earlier_key != new_key.text)
    if "signer" in receipt and not bound and signer is None and not no_signer:
        signer = old_signer if isinstance(old_signer, str) else None  # no earlier proof: the producer's claim
    if "signer" in receipt:
        shown = escape_text(repr(old_signer)[:200])
        if no_signer:
            replaced.append(f"signer claim {shown} (removed)")
        elif signer is not None:
            if signer != old_signer:
                replaced.append(f"signer claim {shown} (now {escape_text(repr(signer)[:200])})")
        else:
            refusals.append(
                f"it claims signer {shown}, made with the earlier proof of {_old_key(receipt)}, and the new"
                f" key {new_key.key_id} may not be entitled to it;"
                " pass signer to record an identity or no_signer to drop the claim"
            )
    if refusals:
        raise ResignRefused(f"{source}: not signed: " + "; and ".join(refusals))
    unsigned = {k: v for k, v in receipt.items() if k not in ("signature", "signer")}
    return SigningPlan(receipt=unsigned, signer=None if no_signer else signer, replaced=tuple(replaced))


__all__ = ["ResignRefused", "SigningPlan", "plan_signing"]
