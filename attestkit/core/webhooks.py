"""Webhook signature verification and signing (contract section 4, ``webhook verify``).

Schemes, detected from the headers (names are case-insensitive):

* ``attest``  — ``X-Attest-Signature: sha256=<hex HMAC-SHA256(secret, body)>``
* ``github``  — ``X-Hub-Signature-256``, same form
* ``standard`` — Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature`` (space-separated ``v1,<b64 HMAC>`` or ``v1a,<b64 Ed25519>``),
  signed content ``id.timestamp.body``, ``whsec_``/``whpk_`` secrets
* ``stripe`` — ``Stripe-Signature: t=<ts>,v1=<hex>`` over ``ts.body``

The body is always the raw bytes. Every comparison is ``hmac.compare_digest`` on
equal-length byte strings. Timestamps are strict decimal integers checked in both
directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from attestkit.errors import (
    UsageError,
    WebhookHeaderError,
    WebhookReplayError,
    WebhookSignatureError,
    WebhookTimestampError,
)

DEFAULT_TOLERANCE = timedelta(minutes=5)
SCHEMES = ("attest", "github", "standard", "stripe")
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")


class ReplayGuard(Protocol):
    """Remembers accepted messages; a service may back it with its own store."""

    def seen(self, key: str, now: float, ttl: float) -> bool:
        """Return True if *key* was recorded within *ttl*; otherwise record it, return False."""
        ...


class MemoryReplayGuard:
    """A bounded in-process replay guard (oldest entries evicted first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def seen(self, key: str, now: float, ttl: float) -> bool:
        """Check-and-record *key* (expiring after *ttl* seconds)."""
        with self._lock:
            while self._entries:
                oldest_key, expires = next(iter(self._entries.items()))
                if expires > now and len(self._entries) < self._max:
                    break
                del self._entries[oldest_key]
            expires_at = self._entries.get(key)
            if expires_at is not None and expires_at > now:
                return True
            self._entries[key] = now + ttl
            self._entries.move_to_end(key)
            return False


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook delivery; the JSON payload is parsed on first use."""

    scheme: str
    body: bytes = field(repr=False)
    message_id: str | None = None
    timestamp: int | None = None

    @cached_property
    def payload(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def event_type(self) -> str | None:
        """``event`` (or ``type``) of the JSON payload, e.g. ``execution.completed``."""
        if isinstance(self.payload, dict):
            value = self.payload.get("event", self.payload.get("type"))
            return value if isinstance(value, str) else None
        return None

    def _data(self, name: str) -> str | None:
        if not isinstance(self.payload, dict):
            return None
        for container in (self.payload.get("data"), self.payload):
            if isinstance(container, dict) and isinstance(container.get(name), str):
                return str(container[name])
        return None

    @property
    def execution_id(self) -> str | None:
        """The execution the event is about, when the payload names one."""
        return self._data("execution_id")

    @property
    def receipt_url(self) -> str | None:
        """Where the receipt can be fetched, when given."""
        return self._data("receipt_url")

    @property
    def receipt_hash(self) -> str | None:
        """The announced digest of the receipt (``receipt.signed``)."""
        return self._data("receipt_hash")

    def typed(self) -> WebhookEvent:
        """This event as its ATTEST type (:class:`ExecutionCompleted`, ...), else itself."""
        kind = EVENT_TYPES.get(self.event_type or "")
        if kind is None or type(self) is kind:
            return self
        return kind(scheme=self.scheme, body=self.body, message_id=self.message_id, timestamp=self.timestamp)


@dataclass(frozen=True)
class ExecutionCompleted(WebhookEvent):
    """``execution.completed``: a pipeline execution finished successfully."""


@dataclass(frozen=True)
class ExecutionFailed(WebhookEvent):
    """``execution.failed``: a pipeline execution failed."""


@dataclass(frozen=True)
class ReceiptSigned(WebhookEvent):
    """``receipt.signed``: a receipt is ready at ``receipt_url`` with digest ``receipt_hash``."""

    def matches(self, receipt_bytes: bytes) -> bool:
        """True when the fetched receipt's BLAKE3 digest is the announced ``receipt_hash``."""
        return receipt_digest_matches(self, receipt_bytes)


EVENT_TYPES: dict[str, type[WebhookEvent]] = {
    "execution.completed": ExecutionCompleted,
    "execution.failed": ExecutionFailed,
    "receipt.signed": ReceiptSigned,
}


def _require_bytes(body: object) -> bytes:
    if type(body) is bytes:
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(
        f"webhook body must be the raw request bytes, not {type(body).__name__}: "
        "signatures cover the exact bytes sent, and re-serialised JSON or decoded text differs"
    )


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def _standard_key(secret: str | bytes) -> bytes:
    text = secret.decode("ascii", "replace") if isinstance(secret, bytes) else secret
    if text.startswith("whsec_"):
        text = text[len("whsec_") :]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("Standard Webhooks secret must be whsec_<base64>") from None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def detect_scheme(headers: Mapping[str, str]) -> str:
    """The scheme implied by the headers present; :class:`WebhookHeaderError` if none."""
    return _detect_lowered(_lower(headers))


def _detect_lowered(names: Mapping[str, str]) -> str:
    if "webhook-signature" in names:
        return "standard"
    if "x-attest-signature" in names:
        return "attest"
    if "x-hub-signature-256" in names:
        return "github"
    if "stripe-signature" in names:
        return "stripe"
    raise WebhookHeaderError(
        "no webhook signature header (X-Attest-Signature, X-Hub-Signature-256, webhook-signature or Stripe-Signature)"
    )


def _parse_timestamp(text: str) -> int:
    if not _TIMESTAMP.match(text):
        raise WebhookTimestampError("webhook timestamp must be a decimal integer of Unix seconds")
    return int(text)


def _check_time(timestamp: int, now: float, tolerance: timedelta) -> None:
    limit = tolerance.total_seconds()
    if timestamp < now - limit:
        raise WebhookTimestampError(f"webhook timestamp is too old ({int(now - timestamp)}s; tolerance {int(limit)}s)")
    if timestamp > now + limit:
        raise WebhookTimestampError(
            f"webhook timestamp is in the future ({int(timestamp - now)}s; tolerance {int(limit)}s)"
        )


def _hmac_hex_matches(secrets: Sequence[str | bytes], message: bytes, provided_hex: str) -> bool:
    if len(provided_hex) != 64:
        return False
    try:
        provided = bytes.fromhex(provided_hex)
    except ValueError:
        return False
    if len(provided) != 32:  # fromhex skips whitespace
        return False
    matched = False
    for secret in secrets:  # no early exit: the time taken does not say which secret matched
        expected = hmac.digest(_secret_bytes(secret), message, hashlib.sha256)
        matched |= hmac.compare_digest(expected, provided)
    return matched


def _verify_prefixed(headers: dict[str, str], name: str, body: bytes, secrets: Sequence[str | bytes]) -> None:
    value = headers[name].strip()
    if not value.startswith("sha256="):
        raise WebhookHeaderError(f"{name} must be sha256=<hex>")
    if not _hmac_hex_matches(secrets, body, value[len("sha256=") :]):
        raise WebhookSignatureError("webhook signature does not match")


def _verify_standard(
    headers: dict[str, str], body: bytes, secrets: Sequence[str | bytes], now: float, tolerance: timedelta
) -> tuple[str, int]:
    for required in ("webhook-id", "webhook-timestamp"):
        if required not in headers:
            raise WebhookHeaderError(f"missing {required} header")
    message_id = headers["webhook-id"]
    timestamp = _parse_timestamp(headers["webhook-timestamp"].strip())
    _check_time(timestamp, now, tolerance)
    content = f"{message_id}.{timestamp}.".encode() + body
    hmac_keys = [s for s in secrets if not _text(s).startswith("whpk_")]
    ed_keys = [s for s in secrets if _text(s).startswith("whpk_")]
    expected_macs = [hmac.digest(_standard_key(s), content, hashlib.sha256) for s in hmac_keys]
    matched = False
    for entry in headers["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        try:
            provided = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if version == "v1":
            for expected in expected_macs:
                if len(provided) == len(expected):
                    matched |= hmac.compare_digest(expected, provided)
        elif version == "v1a" and ed_keys:
            matched |= _ed25519_matches(ed_keys, content, provided)
    if not matched:
        raise WebhookSignatureError("no webhook signature matches")
    return message_id, timestamp


def _text(secret: str | bytes) -> str:
    return secret if isinstance(secret, str) else secret.decode("ascii", "replace")


def _ed25519_matches(keys: Sequence[str | bytes], content: bytes, signature: bytes) -> bool:
    from attestkit.core.keys import PublicKey
    from attestkit.errors import KeyFormatError

    matched = False
    for key in keys:
        try:
            raw = base64.b64decode(_text(key)[len("whpk_") :], validate=True)
            matched |= PublicKey.from_raw(raw).verify(content, signature)
        except (binascii.Error, ValueError, KeyFormatError):
            raise UsageError("Standard Webhooks public key must be whpk_<base64 of 32 bytes>") from None
    return matched


def _verify_stripe(
    headers: dict[str, str], body: bytes, secrets: Sequence[str | bytes], now: float, tolerance: timedelta
) -> int:
    timestamp_text: str | None = None
    signatures: list[str] = []
    for item in headers["stripe-signature"].split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp_text = value
        elif key == "v1":
            signatures.append(value)
    if timestamp_text is None or not signatures:
        raise WebhookHeaderError("Stripe-Signature must carry t=<timestamp> and v1=<hex>")
    timestamp = _parse_timestamp(timestamp_text)
    _check_time(timestamp, now, tolerance)
    message = f"{timestamp}.".encode() + body
    matched = False
    for provided in signatures:
        matched |= _hmac_hex_matches(secrets, message, provided)
    if not matched:
        raise WebhookSignatureError("no webhook signature matches")
    return timestamp


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str | bytes],
    *,
    now: datetime | float | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    replay_guard: ReplayGuard | None = None,
) -> WebhookEvent:
    """Verify a webhook delivery and return the event.

    *secrets* holds every currently valid secret (rotation). Raises a
    :class:`WebhookVerificationError` subclass when the delivery is not authentic, and
    ``TypeError`` when *body* is not bytes.
    """
    raw = _require_bytes(body)
    if isinstance(secrets, (str, bytes)):
        secrets = [secrets]
    if not secrets:
        raise UsageError("no webhook secret given")
    lowered = _lower(headers)
    scheme = _detect_lowered(lowered)
    moment = now.timestamp() if isinstance(now, datetime) else (time.time() if now is None else float(now))
    message_id: str | None = None
    timestamp: int | None = None
    if scheme == "standard":
        message_id, timestamp = _verify_standard(lowered, raw, secrets, moment, tolerance)
    elif scheme == "stripe":
        timestamp = _verify_stripe(lowered, raw, secrets, moment, tolerance)
    else:
        name = "x-attest-signature" if scheme == "attest" else "x-hub-signature-256"
        _verify_prefixed(lowered, name, raw, secrets)
    if replay_guard is not None:
        key = message_id or hashlib.sha256(raw + lowered.get("x-attest-signature", "").encode()).hexdigest()
        if replay_guard.seen(f"{scheme}:{key}", moment, 2 * tolerance.total_seconds()):
            raise WebhookReplayError("webhook was already delivered (replay)")
    return WebhookEvent(scheme=scheme, body=raw, message_id=message_id, timestamp=timestamp)


def sign_webhook(
    body: bytes,
    secret: str | bytes,
    *,
    scheme: str = "attest",
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers a sender attaches to *body* for *scheme*."""
    raw = _require_bytes(body)
    if scheme in ("attest", "github"):
        mac = hmac.new(_secret_bytes(secret), raw, hashlib.sha256).hexdigest()
        name = "X-Attest-Signature" if scheme == "attest" else "X-Hub-Signature-256"
        return {name: f"sha256={mac}"}
    moment = int(time.time()) if timestamp is None else timestamp
    if scheme == "stripe":
        mac = hmac.new(_secret_bytes(secret), f"{moment}.".encode() + raw, hashlib.sha256).hexdigest()
        return {"Stripe-Signature": f"t={moment},v1={mac}"}
    if scheme == "standard":
        ident = message_id or "msg_" + hashlib.sha256(raw + str(moment).encode()).hexdigest()[:24]
        content = f"{ident}.{moment}.".encode() + raw
        if _text(secret).startswith("whsk_"):
            from attestkit.core.keys import PrivateKey

            seed = base64.b64decode(_text(secret)[len("whsk_") :])[:32]
            signature = "v1a," + base64.b64encode(PrivateKey.from_seed(seed).sign(content)).decode("ascii")
        else:
            digest = hmac.digest(_standard_key(secret), content, hashlib.sha256)
            signature = "v1," + base64.b64encode(digest).decode("ascii")
        return {"webhook-id": ident, "webhook-timestamp": str(moment), "webhook-signature": signature}
    raise UsageError(f"unknown webhook scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def receipt_digest_matches(event: WebhookEvent, receipt_bytes: bytes) -> bool:
    """True when a fetched receipt's BLAKE3 digest equals the event's ``receipt_hash``."""
    from blake3 import blake3

    announced = event.receipt_hash
    if announced is None:
        return False
    actual = "blake3:" + blake3(receipt_bytes).hexdigest()
    return hmac.compare_digest(actual.encode(), announced.lower().encode())


__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_TYPES",
    "SCHEMES",
    "ExecutionCompleted",
    "ExecutionFailed",
    "MemoryReplayGuard",
    "ReceiptSigned",
    "ReplayGuard",
    "WebhookEvent",
    "detect_scheme",
    "receipt_digest_matches",
    "sign_webhook",
    "verify_webhook",
]
