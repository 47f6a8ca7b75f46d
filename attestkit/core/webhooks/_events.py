"""What a verified delivery gives the receiver: :class:`WebhookEvent` and the ATTEST event types."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook delivery; the JSON payload is parsed on first use."""

    scheme: str
    body: bytes = field(repr=False)
    message_id: str | None = None
    timestamp: int | None = None

    @classmethod
    def _verified(cls, scheme: str, body: bytes, message_id: str | None, timestamp: int | None) -> WebhookEvent:
        # The verifier's fast path: a frozen dataclass's __init__ pays one object.__setattr__
        # per field, which costs as much as the HMAC of a small body.
        event = object.__new__(cls)
        event.__dict__.update(scheme=scheme, body=body, message_id=message_id, timestamp=timestamp)
        return event

    @cached_property
    def payload(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
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


def receipt_digest_matches(event: WebhookEvent, receipt_bytes: bytes) -> bool:
    """True when a fetched receipt's BLAKE3 digest equals the event's ``receipt_hash``."""
    from blake3 import blake3

    announced = event.receipt_hash
    if announced is None:
        return False
    actual = "blake3:" + blake3(receipt_bytes).hexdigest()
    return hmac.compare_digest(actual.encode(), announced.lower().encode("utf-8", "replace"))
