"""The receiver's side: :class:`WebhookVerifier`, configured once, and the convenience functions.

Not a public API; use :mod:`attestkit.core.webhooks`.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from binascii import unhexlify
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from attestkit.core.webhooks._events import WebhookEvent
from attestkit.core.webhooks._schemes import (
    SCHEME_TABLE,
    SCHEMES,
    BodyMacScheme,
    Scheme,
    Secret,
    as_secret,
    lower_headers,
    refuse_serialising,
    require_bytes,
)
from attestkit.errors import (
    ArgumentTypeError,
    UsageError,
    WebhookHeaderError,
    WebhookReplayError,
    WebhookSecretError,
    WebhookSignatureError,
)

DEFAULT_TOLERANCE = timedelta(minutes=5)
_new = object.__new__


class _KeyedSha256(Protocol):
    """An HMAC-SHA256 state (OpenSSL's, or the stdlib's wrapper) that can be copied and fed."""

    def copy(self) -> _KeyedSha256: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_keyed_sha256: Callable[[bytes], _KeyedSha256]
try:  # OpenSSL's HMAC object, without the stdlib's Python wrapper around it
    from _hashlib import hmac_new as _openssl_hmac_new

    def _keyed_sha256(key: bytes) -> _KeyedSha256:
        return _openssl_hmac_new(key, digestmod="sha256")

except ImportError:  # pragma: no cover - an interpreter built without OpenSSL

    def _keyed_sha256(key: bytes) -> _KeyedSha256:
        return hmac.new(key, digestmod="sha256")


class ReplayGuard(Protocol):
    """Remembers accepted messages; a service may back it with its own store."""

    def seen(self, key: str, now: float, ttl: float) -> bool:
        """Return True if *key* was recorded within *ttl*; otherwise record it, return False."""
        ...


class MemoryReplayGuard:
    """A bounded in-process replay guard (oldest entries evicted first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        ArgumentTypeError.check(max_entries, int, "max_entries")
        if max_entries < 1:  # a guard that may keep nothing evicts every delivery before it is checked
            raise UsageError(f"max_entries must be 1 or more, not {max_entries}")
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def seen(self, key: str, now: float, ttl: float) -> bool:
        """Check-and-record *key* (expiring after *ttl* seconds)."""
        with self._lock:
            while self._entries:
                oldest_key, expires = next(iter(self._entries.items()))
                if expires >= now and len(self._entries) < self._max:
                    break
                del self._entries[oldest_key]
            expires_at = self._entries.get(key)
            # Still remembered at the very instant it expires: a replay exactly 2 x tolerance
            # later may still carry a timestamp inside the window.
            if expires_at is not None and expires_at >= now:
                return True
            self._entries[key] = now + ttl
            self._entries.move_to_end(key)
            return False


def _scheme_names(schemes: str | Iterable[str] | None) -> tuple[str, ...]:
    if schemes is None:
        return SCHEMES
    if not isinstance(schemes, (str, Iterable)):
        ArgumentTypeError.refuse(schemes, (str, Iterable), "schemes")
    names = (schemes,) if isinstance(schemes, str) else tuple(schemes)
    for name in names:
        ArgumentTypeError.check(name, str, "a scheme name")
    names = tuple(dict.fromkeys(names))
    if not names:
        raise UsageError("schemes= names no scheme; omit it to accept every scheme")
    for name in names:
        if name not in SCHEME_TABLE:
            raise UsageError(f"unknown webhook scheme {name!r}; choose from {', '.join(SCHEMES)}")
    # Table order, so the precedence between schemes of one family never depends on the caller.
    return tuple(name for name in SCHEMES if name in names)


def _secret_list(secrets: Sequence[str | bytes] | str | bytes) -> list[Secret]:
    if not isinstance(secrets, (str, bytes, bytearray, memoryview, Iterable)):
        ArgumentTypeError.refuse(secrets, (str, bytes, Sequence), "secrets")
    values = [secrets] if isinstance(secrets, (str, bytes, bytearray, memoryview)) else list(secrets)
    if not values:
        raise WebhookSecretError("no webhook secret given")
    return [as_secret(value, position) for position, value in enumerate(values, 1)]


def _moment(now: datetime | float | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        if now.utcoffset() is None:  # .timestamp() would read it in the machine's local time
            raise UsageError("now must be a timezone-aware datetime, not a naive one (add tzinfo=timezone.utc)")
        return now.timestamp()
    ArgumentTypeError.check(now, (int, float), "now")
    try:
        moment = float(now)
    except OverflowError:
        raise UsageError("now is too large for a number of POSIX seconds") from None
    if not math.isfinite(moment):  # NaN compares false: the window check would pass
        raise UsageError(f"now must be a finite number of POSIX seconds, not {now!r}")
    return moment


class WebhookVerifier:
    """A webhook receiver's configuration, checked once when it is built.

    *secrets* holds every currently valid secret (rotation). *schemes* pins the schemes the
    receiver accepts (see :data:`SCHEMES`); without it the headers of a delivery choose among
    all of them, which lets a sender pick a weaker scheme than the one you use (docs/webhooks.md,
    "Pin the scheme"). Every secret is checked here against the schemes it must serve, so a
    request can only ever raise :class:`~attestkit.errors.WebhookVerificationError`.

    Raises :class:`~attestkit.errors.WebhookSecretError` for a secret that cannot serve the
    pinned schemes (without pinning: one that can serve none), and ``UsageError`` for an
    unknown scheme name or a *tolerance* that is not more than zero.
    """

    def __init__(
        self,
        secrets: Sequence[str | bytes] | str | bytes,
        *,
        schemes: str | Iterable[str] | None = None,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        names = _scheme_names(schemes)
        parsed = _secret_list(secrets)
        ArgumentTypeError.check(tolerance, timedelta, "tolerance")
        if tolerance <= timedelta(0):
            # Zero would also make the replay guard remember nothing (it keeps 2 x tolerance),
            # and other libraries read 0 as "no timestamp check": refused, not guessed.
            raise UsageError(
                f"the webhook timestamp tolerance must be more than 0, not {tolerance}", option="tolerance"
            )
        self._schemes: tuple[Scheme, ...] = tuple(SCHEME_TABLE[name] for name in names)
        table = [[scheme.key_for(secret) for scheme in self._schemes] for secret in parsed]
        self._keys: dict[str, tuple[Any, ...]] = {
            scheme.name: tuple(row[column] for row in table if row[column] is not None)
            for column, scheme in enumerate(self._schemes)
        }
        for position, (secret, row) in enumerate(zip(parsed, table, strict=True), 1):
            if all(key is None for key in row):
                reasons = "; ".join(f"{scheme.name}: {scheme.why_not(secret)}" for scheme in self._schemes)
                raise WebhookSecretError(f"webhook secret #{position} cannot serve any accepted scheme ({reasons})")
        if schemes is not None:
            for scheme in self._schemes:
                if not self._keys[scheme.name]:
                    example = scheme.why_not(parsed[0])
                    raise WebhookSecretError(f"no configured secret can verify the {scheme.name} scheme: {example}")
        self._pinned = schemes is not None
        self._tolerance = tolerance.total_seconds()
        self._guard = replay_guard
        # The fast path (one body-MAC scheme, no replay guard) skips lower-casing every header:
        # it looks the header up under its three usual spellings and leaves anything else to
        # the general path. (A mapping holding a usual and an unusual spelling of the header,
        # with different values, is refused by the general path; the fast path reads the usual
        # one, and accepts only if that one carries the body's MAC.)
        # Each secret's HMAC state is keyed once, here (the inner and outer padded key blocks
        # hashed): a delivery copies it and hashes only the body, a third cheaper than a
        # one-shot HMAC of 1 KiB, whose key set-up and digest look-up cost 0.8 µs per call.
        only = self._schemes[0]
        self._fast: tuple[str, str, str, str, tuple[_KeyedSha256, ...]] | None = None
        if len(self._schemes) == 1 and isinstance(only, BodyMacScheme) and replay_guard is None:
            header = only.header
            states = tuple(_keyed_sha256(key.raw) for key in self._keys[only.name])
            self._fast = (only.name, header, header.lower(), header.upper(), states)

    @property
    def schemes(self) -> tuple[str, ...]:
        """The schemes this receiver accepts, in precedence order."""
        return tuple(scheme.name for scheme in self._schemes)

    def __reduce_ex__(self, protocol: object) -> Any:
        raise refuse_serialising("a WebhookVerifier")

    def __repr__(self) -> str:
        return f"WebhookVerifier(schemes={self.schemes!r}, secrets=<{sum(map(len, self._keys.values()))} keys>)"

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: datetime | float | None = None) -> WebhookEvent:
        """Verify one delivery and return its event.

        Raises a :class:`~attestkit.errors.WebhookVerificationError` subclass when the delivery
        is not authentic (whatever the body and header values contain), and
        :class:`~attestkit.errors.WebhookInputTypeError` (a ``TypeError``) when *body* is not
        bytes or *headers* not a mapping of ``str``.
        """
        fast = self._fast
        if fast is not None and now is not None:
            _moment(now)  # checked even where no timestamp is read: a bad argument is refused alike
        if fast is not None:
            # Everything here costs about as much as the HMAC of a 1 KiB body, so it is written
            # out flat; anything unusual falls through to the general path below.
            name, canonical, lower, upper, states = fast
            if type(body) is not bytes:
                body = require_bytes(body)
            try:
                get = headers.get
            except AttributeError:
                get = None
            if get is not None:
                value, low, high = get(canonical), get(lower), get(upper)
                if value is None:
                    value = low if low is not None else high
                if (low is not None and low != value) or (high is not None and high != value):
                    value = None  # two spellings disagree: the general path refuses the delivery
                if type(value) is str and len(value) == 71 and value.startswith("sha256="):
                    try:  # unhexlify: half the cost of bytes.fromhex, and no whitespace skipping
                        provided = unhexlify(value[7:])
                    except ValueError:  # binascii.Error, or a non-ASCII str
                        provided = b""
                    matched = False
                    for state in states:  # no early exit: the time taken does not say which secret matched
                        mac = state.copy()
                        mac.update(body)
                        matched |= hmac.compare_digest(mac.digest(), provided)
                    if not matched:
                        raise WebhookSignatureError("webhook signature does not match")
                    event = _new(WebhookEvent)
                    fields = event.__dict__  # message_id and timestamp keep their class defaults (None)
                    fields["scheme"] = name
                    fields["body"] = body
                    return event
        return self._verify(require_bytes(body), headers, _moment(now))

    def _verify(self, body: bytes, headers: Mapping[str, str], moment: float) -> WebhookEvent:
        lowered = lower_headers(headers)
        present = [scheme for scheme in self._schemes if scheme.present(lowered)]
        if not present:
            wanted = ", ".join(name for scheme in self._schemes for name in scheme.selected_by)
            raise WebhookHeaderError(f"no webhook signature header ({wanted})")
        families = {scheme.family for scheme in present}
        if len(families) > 1:
            names = ", ".join(scheme.name for scheme in present)
            raise WebhookHeaderError(
                f"delivery carries signature headers of several schemes ({names}); pin the scheme you use"
            )
        scheme = present[0]
        keys = self._keys[scheme.name]
        if not keys:  # only without pinning: no configured secret has the form this scheme needs
            raise WebhookSignatureError(f"no configured secret can verify a {scheme.name} delivery")
        verified = scheme.verify(lowered, body, keys, moment, self._tolerance)
        if self._guard is not None and self._guard.seen(verified.replay_key, moment, 2 * self._tolerance):
            raise WebhookReplayError("webhook was already delivered (replay)")
        return WebhookEvent._verified(scheme.name, body, verified.message_id, verified.timestamp)


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str | bytes] | str | bytes,
    *,
    schemes: str | Iterable[str] | None = None,
    now: datetime | float | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    replay_guard: ReplayGuard | None = None,
) -> WebhookEvent:
    """Verify a webhook delivery and return the event (builds a :class:`WebhookVerifier` per call).

    *schemes* pins what the receiver accepts; without it the delivery's headers choose the
    scheme (contract section 4). A receiver should build one :class:`WebhookVerifier` at start
    up instead, so that its secrets are checked once.
    """
    verifier = WebhookVerifier(secrets, schemes=schemes, tolerance=tolerance, replay_guard=replay_guard)
    return verifier.verify(body, headers, now=now)


def sign_webhook(
    body: bytes,
    secret: str | bytes,
    *,
    scheme: str = "attest",
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers a sender attaches to *body* for *scheme*.

    Raises :class:`~attestkit.errors.WebhookSecretError` when *secret* cannot sign for
    *scheme* (e.g. a malformed ``whsk_`` key), ``UsageError`` for an unknown scheme.
    """
    raw = require_bytes(body)
    ArgumentTypeError.check(scheme, str, "scheme")
    if timestamp is not None:
        ArgumentTypeError.check(timestamp, int, "timestamp")
    if message_id is not None:
        ArgumentTypeError.check(message_id, str, "message_id")
    if scheme not in SCHEME_TABLE:
        raise UsageError(f"unknown webhook scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    moment = int(time.time()) if timestamp is None else timestamp
    return SCHEME_TABLE[scheme].sign(raw, as_secret(secret, 1), message_id, moment)
