"""Webhook signature verification and signing (contract section 4, ``webhook verify``).

Schemes, one object each in :data:`SCHEME_TABLE` (header names are case-insensitive):

* ``attest``  — ``X-Attest-Signature: sha256=<hex HMAC-SHA256(secret, body)>``
* ``github``  — ``X-Hub-Signature-256``, same form
* ``standard`` — Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature`` (space-separated ``v1,<b64 HMAC>`` or ``v1a,<b64 Ed25519>``), or
  Svix's ``svix-id``/``svix-timestamp``/``svix-signature``; signed content
  ``id.timestamp.body``, ``whsec_`` secrets (padding optional) and ``whpk_`` public keys
* ``stripe`` — ``Stripe-Signature: t=<ts>,v1=<hex>`` over ``ts.body``

A receiver builds one :class:`WebhookVerifier` (secrets checked once, schemes pinned) and calls
:meth:`WebhookVerifier.verify` per request; :func:`verify_webhook` is the one-call form. The
body is always the raw bytes. Every comparison is ``hmac.compare_digest`` on equal-length byte
strings. Timestamps are strict decimal integers checked in both directions.
"""

from __future__ import annotations

from collections.abc import Mapping

from attestkit.core.webhooks._events import (
    EVENT_TYPES,
    ExecutionCompleted,
    ExecutionFailed,
    ReceiptSigned,
    WebhookEvent,
    receipt_digest_matches,
)
from attestkit.core.webhooks._schemes import (
    MAX_HEADER_CHARS,
    MAX_SIGNATURES,
    SCHEME_TABLE,
    SCHEMES,
    Scheme,
    lower_headers,
)
from attestkit.core.webhooks._verifier import (
    DEFAULT_TOLERANCE,
    MemoryReplayGuard,
    ReplayGuard,
    WebhookVerifier,
    sign_webhook,
    verify_webhook,
)
from attestkit.errors import WebhookHeaderError


def detect_scheme(headers: Mapping[str, str]) -> str:
    """The scheme the headers select when none is pinned; :class:`WebhookHeaderError` if none or several."""
    lowered = lower_headers(headers)
    present = [scheme for scheme in SCHEME_TABLE.values() if scheme.present(lowered)]
    if not present:
        raise WebhookHeaderError("no webhook signature header")
    if len({scheme.family for scheme in present}) > 1:
        raise WebhookHeaderError("signature headers of several schemes")
    return present[0].name


__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_TYPES",
    "MAX_HEADER_CHARS",
    "MAX_SIGNATURES",
    "SCHEMES",
    "SCHEME_TABLE",
    "ExecutionCompleted",
    "ExecutionFailed",
    "MemoryReplayGuard",
    "ReceiptSigned",
    "ReplayGuard",
    "Scheme",
    "WebhookEvent",
    "WebhookVerifier",
    "detect_scheme",
    "receipt_digest_matches",
    "sign_webhook",
    "verify_webhook",
]
