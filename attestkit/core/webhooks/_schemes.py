"""The signature schemes: one object per scheme, all in :data:`SCHEME_TABLE`.

Not a public API; use :mod:`attestkit.core.webhooks`. Each scheme knows which headers select
it, which configured secrets can serve it (:meth:`Scheme.key_for`, checked once when a
receiver is configured), how to verify a delivery and how to sign one. Verification raises
only :class:`~attestkit.errors.WebhookVerificationError` subclasses for anything a request
contains.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from attestkit.errors import (
    WebhookHeaderError,
    WebhookInputTypeError,
    WebhookSecretError,
    WebhookSignatureError,
    WebhookTimestampError,
)

#: A header value longer than this is refused before it is parsed.
MAX_HEADER_CHARS = 8192
#: At most this many signatures in one ``webhook-signature`` / ``Stripe-Signature`` header
#: (senders list one per active secret during a rotation).
MAX_SIGNATURES = 16
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")


class Secret:
    """A configured secret as bytes (a ``str`` is its UTF-8 encoding); never shown in a repr,
    never pickled.

    Secrets and the keys derived from them stay in this wrapper down to the HMAC call, which
    reads ``.raw`` in its argument list: so no frame's locals (what a traceback with
    ``capture_locals=True``, or an error tracker, records) hold the secret's bytes.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    def __reduce_ex__(self, protocol: object) -> Any:
        raise refuse_serialising("a webhook secret")

    def prefixed(self, prefix: bytes) -> bool:
        """True when the secret starts with a Standard Webhooks prefix such as ``whsec_``."""
        return self.raw.startswith(prefix)


def refuse_serialising(what: str) -> WebhookSecretError:
    """The error for an attempt to pickle or copy *what*, which holds webhook secrets."""
    return WebhookSecretError(
        f"{what} holds webhook secrets and is never pickled or copied: build it where it is used",
        code="webhook-serialise",
    )


def as_secret(value: object, position: int) -> Secret:
    """Normalise one configured secret; :class:`WebhookSecretError` when unusable by any scheme."""
    if isinstance(value, str):
        try:
            # surrogateescape gives back the exact bytes of a non-UTF-8 environment variable.
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise WebhookSecretError(f"webhook secret #{position} is not encodable as UTF-8") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise WebhookInputTypeError(f"webhook secret #{position} must be str or bytes, not {type(value).__name__}")
    if not raw:
        raise WebhookSecretError(f"webhook secret #{position} is empty")
    return Secret(raw)


def require_bytes(body: object) -> bytes:
    """The raw body as ``bytes``; :class:`WebhookInputTypeError` (also a ``TypeError``) otherwise."""
    if type(body) is bytes:
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise WebhookInputTypeError(
        f"webhook body must be the raw request bytes, not {type(body).__name__}: "
        "signatures cover the exact bytes sent, and re-serialised JSON or decoded text differs"
    )


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased; refuses a non-mapping and non-``str`` names or values."""
    try:
        items = list(headers.items())
    except AttributeError:
        raise WebhookInputTypeError(f"webhook headers must be a mapping, not {type(headers).__name__}") from None
    lowered: dict[str, str] = {}
    for name, value in items:
        if type(name) is not str or type(value) is not str:
            raise WebhookInputTypeError("webhook header names and values must be str")
        key = name.lower()
        if key in lowered and lowered[key] != value and key in KNOWN_HEADERS:
            raise WebhookHeaderError(f"header {name} is given twice with different values")
        lowered[key] = value
    return lowered


def _value(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise WebhookHeaderError(f"missing {name} header")
    if len(value) > MAX_HEADER_CHARS:
        raise WebhookHeaderError(f"{name} header is longer than {MAX_HEADER_CHARS} characters")
    return value


def _b64_loose_padding(text: bytes) -> bytes | None:
    """Strict base64 whose ``=`` padding may be left off (as the Standard Webhooks libraries allow)."""
    if len(text) % 4 == 1:
        return None
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _timestamp(text: str) -> int:
    if not _TIMESTAMP.match(text):
        raise WebhookTimestampError("webhook timestamp must be a decimal integer of Unix seconds")
    return int(text)


def _check_time(timestamp: int, now: float, tolerance: float) -> None:
    if timestamp < now - tolerance:
        raise WebhookTimestampError(
            f"webhook timestamp is too old ({int(now - timestamp)}s; tolerance {int(tolerance)}s)"
        )
    if timestamp > now + tolerance:
        raise WebhookTimestampError(
            f"webhook timestamp is in the future ({int(timestamp - now)}s; tolerance {int(tolerance)}s)"
        )


def _hex_mac(text: str) -> bytes | None:
    """32 bytes from exactly 64 hex digits (either case), else None."""
    if not _HEX64.match(text):
        return None
    return bytes.fromhex(text)


def _matching_mac(keys: Sequence[Any], message: bytes, provided: Sequence[bytes]) -> bytes | None:
    """The MAC among *provided* that some key produces over *message*, else None.

    Every key is tried against every candidate (no early exit), so the time taken does not say
    which secret matched; every comparison is ``hmac.compare_digest`` on 32-byte strings.
    """
    found: bytes | None = None
    for key in keys:
        expected = hmac.digest(key.raw, message, hashlib.sha256)
        for candidate in provided:
            if hmac.compare_digest(expected, candidate):
                found = expected
    return found


class Verified(NamedTuple):
    """What a scheme established about a delivery."""

    message_id: str | None
    timestamp: int | None
    replay_key: str


class Scheme:
    """One webhook signature scheme."""

    name: ClassVar[str]
    #: Schemes of one family sign the same content with the same key: headers of two schemes
    #: of one family in a delivery are not ambiguous, two families are.
    family: ClassVar[str]
    #: Lower-case header names whose presence selects this scheme.
    selected_by: ClassVar[tuple[str, ...]]
    #: Every header the scheme reads (lower-case).
    reads: ClassVar[tuple[str, ...]]
    timestamped: ClassVar[bool]

    def key_for(self, secret: Secret) -> Any | None:
        """The verification key *secret* gives this scheme (a :class:`Secret` for an HMAC key),
        or None when it cannot serve it."""
        return None if secret.raw.startswith((b"whpk_", b"whsk_")) else secret

    def why_not(self, secret: Secret) -> str:
        """Why :meth:`key_for` gave None (never quotes the secret)."""
        if secret.prefixed(b"whpk_"):
            return "a whpk_ key is public, so it cannot be an HMAC secret"
        return "a whsk_ key is an Ed25519 signing key, not an HMAC secret"

    def present(self, headers: Mapping[str, str]) -> bool:
        """True when a header that selects this scheme is in *headers* (lower-cased)."""
        return any(name in headers for name in self.selected_by)

    def verify(
        self, headers: Mapping[str, str], body: bytes, keys: Sequence[Any], now: float, tolerance: float
    ) -> Verified:
        """Check the delivery; raise a :class:`WebhookVerificationError` subclass if it is not authentic."""
        raise NotImplementedError

    def sign(self, body: bytes, secret: Secret, message_id: str | None, timestamp: int) -> dict[str, str]:
        """The headers a sender attaches to *body*."""
        raise NotImplementedError

    def _signing_key(self, secret: Secret) -> Any:
        key = self.key_for(secret)
        if key is None:
            raise WebhookSecretError(f"cannot sign with this secret for the {self.name} scheme: {self.why_not(secret)}")
        return key


class BodyMacScheme(Scheme):
    """``<Header>: sha256=<hex HMAC-SHA256(secret, raw body)>`` (ATTEST, GitHub)."""

    family = "body-mac"
    timestamped = False
    header: ClassVar[str]

    def verify(
        self, headers: Mapping[str, str], body: bytes, keys: Sequence[Any], now: float, tolerance: float
    ) -> Verified:
        """Check ``sha256=<hex>`` against every key (contract section 4)."""
        name = self.header.lower()
        value = _value(headers, name).strip()
        if not value.startswith("sha256="):
            raise WebhookHeaderError(f"{self.header} must be sha256=<hex>")
        provided = _hex_mac(value[len("sha256=") :])
        mac = None if provided is None else _matching_mac(keys, body, (provided,))
        if mac is None:
            raise WebhookSignatureError("webhook signature does not match")
        # Keyed on the verified MAC, so re-spelling the hex or the header name is the same delivery.
        return Verified(None, None, "body-mac:" + mac.hex())

    def sign(self, body: bytes, secret: Secret, message_id: str | None, timestamp: int) -> dict[str, str]:
        """``{Header: sha256=<hex>}``."""
        mac = hmac.digest(self._signing_key(secret).raw, body, hashlib.sha256).hex()
        return {self.header: f"sha256={mac}"}


class AttestScheme(BodyMacScheme):
    """ATTEST's ``X-Attest-Signature``."""

    name = "attest"
    header = "X-Attest-Signature"
    selected_by = ("x-attest-signature",)
    reads = selected_by


class GitHubScheme(BodyMacScheme):
    """GitHub's ``X-Hub-Signature-256``."""

    name = "github"
    header = "X-Hub-Signature-256"
    selected_by = ("x-hub-signature-256",)
    reads = selected_by


class StripeScheme(Scheme):
    """``Stripe-Signature: t=<ts>,v1=<hex>`` over ``<ts>.<body>``; the secret is used as is."""

    name = "stripe"
    family = "stripe"
    timestamped = True
    selected_by = ("stripe-signature",)
    reads = selected_by

    def verify(
        self, headers: Mapping[str, str], body: bytes, keys: Sequence[Any], now: float, tolerance: float
    ) -> Verified:
        """Check the timestamp, then every ``v1`` MAC against every key."""
        timestamps: list[str] = []
        signatures: list[str] = []
        for item in _value(headers, "stripe-signature").split(","):
            key, _, value = item.strip().partition("=")
            if key == "t":
                timestamps.append(value)
            elif key == "v1":
                signatures.append(value)
        if len(timestamps) != 1 or not signatures:
            raise WebhookHeaderError("Stripe-Signature must carry one t=<timestamp> and at least one v1=<hex>")
        if len(signatures) > MAX_SIGNATURES:
            raise WebhookHeaderError(f"Stripe-Signature carries more than {MAX_SIGNATURES} signatures")
        timestamp = _timestamp(timestamps[0])
        _check_time(timestamp, now, tolerance)
        provided = [mac for mac in map(_hex_mac, signatures) if mac is not None]
        # The timestamp's text as sent (a strict decimal, so ASCII): "0123" is not "123".
        mac = _matching_mac(keys, timestamps[0].encode("ascii") + b"." + body, provided)
        if mac is None:
            raise WebhookSignatureError("no webhook signature matches")
        return Verified(None, timestamp, "stripe:" + mac.hex())

    def sign(self, body: bytes, secret: Secret, message_id: str | None, timestamp: int) -> dict[str, str]:
        """``{"Stripe-Signature": "t=<ts>,v1=<hex>"}``."""
        mac = hmac.digest(self._signing_key(secret).raw, b"%d." % timestamp + body, hashlib.sha256).hex()
        return {"Stripe-Signature": f"t={timestamp},v1={mac}"}


class StandardScheme(Scheme):
    """Standard Webhooks (and Svix, whose ``svix-*`` headers carry the same scheme).

    Signed content ``id.timestamp.body``; ``whsec_<base64>`` HMAC secrets (padding optional,
    the prefix too, as in the official libraries) and ``whpk_<base64>`` Ed25519 public keys.
    """

    name = "standard"
    family = "standard"
    timestamped = True
    selected_by = ("webhook-signature", "svix-signature")
    reads = (
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
    )

    def key_for(self, secret: Secret) -> Any | None:
        """``("hmac", Secret)`` for a ``whsec_`` secret, ``("ed25519", PublicKey)`` for ``whpk_``."""
        if secret.prefixed(b"whsk_"):
            return None
        if secret.prefixed(b"whpk_"):
            from attestkit.core.crypto.keys import PublicKey
            from attestkit.errors import KeyFormatError

            raw = _b64_loose_padding(secret.raw[len(b"whpk_") :])
            if raw is None:
                return None
            try:
                return ("ed25519", PublicKey.from_raw(raw))
            except KeyFormatError:
                return None
        key = Secret(
            _b64_loose_padding(secret.raw[len(b"whsec_") :] if secret.prefixed(b"whsec_") else secret.raw) or b""
        )
        return ("hmac", key) if key.raw else None

    def why_not(self, secret: Secret) -> str:
        """Why the secret cannot serve Standard Webhooks."""
        if secret.prefixed(b"whsk_"):
            return "a whsk_ key signs; configure its whpk_ public key to verify"
        if secret.prefixed(b"whpk_"):
            return "a whpk_ key must be whpk_<base64 of a valid 32-byte Ed25519 public key>"
        return "a Standard Webhooks secret must be whsec_<base64>"

    def _field(self, headers: Mapping[str, str], field: str) -> str:
        standard, svix = headers.get("webhook-" + field), headers.get("svix-" + field)
        if standard is not None and svix is not None and standard != svix:
            raise WebhookHeaderError(f"webhook-{field} and svix-{field} disagree")
        if standard is None and svix is None:
            svix_named = "svix-signature" in headers and "webhook-signature" not in headers
            raise WebhookHeaderError(f"missing {'svix' if svix_named else 'webhook'}-{field} header")
        return _value(headers, "webhook-" + field if standard is not None else "svix-" + field)

    def verify(
        self, headers: Mapping[str, str], body: bytes, keys: Sequence[Any], now: float, tolerance: float
    ) -> Verified:
        """Check the timestamp, then each ``v1``/``v1a`` signature against every key."""
        message_id = self._field(headers, "id")
        timestamp_text = self._field(headers, "timestamp")
        entries = self._field(headers, "signature").split()
        if not message_id:
            raise WebhookHeaderError("webhook-id is empty")
        if len(entries) > MAX_SIGNATURES:
            raise WebhookHeaderError(f"webhook-signature carries more than {MAX_SIGNATURES} signatures")
        timestamp_text = timestamp_text.strip()
        timestamp = _timestamp(timestamp_text)
        _check_time(timestamp, now, tolerance)
        try:
            content = f"{message_id}.{timestamp_text}.".encode() + body
        except UnicodeEncodeError:
            raise WebhookHeaderError("webhook-id is not valid text") from None
        macs: list[bytes] = []
        ed25519: list[bytes] = []
        for entry in entries:
            version, _, encoded = entry.partition(",")
            try:
                provided = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if version == "v1" and len(provided) == 32:
                macs.append(provided)
            elif version == "v1a" and len(provided) == 64:
                ed25519.append(provided)
        matched = _matching_mac([key for kind, key in keys if kind == "hmac"], content, macs) is not None
        for kind, key in keys:
            if kind == "ed25519":
                for signature in ed25519:
                    matched |= key.verify(content, signature)
        if not matched:
            raise WebhookSignatureError("no webhook signature matches")
        # The id is covered by the signature and names the message across the sender's retries.
        return Verified(message_id, timestamp, "standard:" + message_id)

    def sign(self, body: bytes, secret: Secret, message_id: str | None, timestamp: int) -> dict[str, str]:
        """``webhook-id``/``-timestamp``/``-signature``; ``v1a`` with a ``whsk_`` key."""
        ident = message_id or "msg_" + hashlib.sha256(body + str(timestamp).encode()).hexdigest()[:24]
        try:
            content = f"{ident}.{timestamp}.".encode() + body
        except UnicodeEncodeError:
            raise WebhookSecretError("the message id is not valid text") from None
        if secret.prefixed(b"whsk_"):
            signature = "v1a," + base64.b64encode(_ed25519_signing_key(secret).sign(content)).decode("ascii")
        else:
            kind, key = self._signing_key(secret)
            if kind != "hmac":
                raise WebhookSecretError("a whpk_ key is public and cannot sign; use its whsk_ signing key")
            signature = "v1," + base64.b64encode(hmac.digest(key.raw, content, hashlib.sha256)).decode("ascii")
        return {"webhook-id": ident, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def _ed25519_signing_key(secret: Secret) -> Any:
    """The key of ``whsk_<base64 of the 32-byte seed, or of seed || public key>``."""
    from attestkit.core.crypto.keys import PrivateKey

    raw = _b64_loose_padding(secret.raw[len(b"whsk_") :])
    if raw is None or len(raw) not in (32, 64):
        raise WebhookSecretError("a whsk_ key must be whsk_<base64 of a 32-byte seed or 64-byte secret key>")
    key = PrivateKey.from_seed(raw[:32])
    if len(raw) == 64 and not hmac.compare_digest(raw[32:], key.public_key.raw):
        raise WebhookSecretError("the whsk_ key's public half does not match its seed")
    return key


SCHEME_TABLE: dict[str, Scheme] = {
    scheme.name: scheme for scheme in (AttestScheme(), GitHubScheme(), StandardScheme(), StripeScheme())
}
SCHEMES: tuple[str, ...] = tuple(SCHEME_TABLE)
KNOWN_HEADERS = frozenset(name for scheme in SCHEME_TABLE.values() for name in scheme.reads)
