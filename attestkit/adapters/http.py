"""The one HTTP seam: a small transport interface over ``http.client``, and a client
that adds the transport rules. Standard-library errors become :class:`FetchError` here and
nowhere else; no token ever appears in an error.

The rules:

- HTTPS, or plain http to a loopback host only.
- Time is bounded three ways: each socket operation (``timeout``, 10 s), each request with its
  retries, redirects and body (``request_deadline``, 60 s; a watchdog closes the connection
  when it passes, so a server dripping one byte every few seconds cannot hold it), and the
  whole operation (``deadline``: an instant on the client's monotonic clock after which no
  request starts or continues; the CLI sets it from ``--deadline``).
- Connection errors, 429 and 5xx are retried with backoff, honouring ``Retry-After`` and
  ``X-RateLimit-Reset``, within ``max_attempts`` and ``max_total_wait``.
- Redirects (and every other URL a response names, see :func:`follow_url`) keep credentials
  only within the origin; https is never followed to http, and a remote origin is never
  followed to a loopback host.
- Responses above 32 MiB are refused.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from attestkit._version import __version__
from attestkit.core.textsafe import ascii_digits
from attestkit.errors import FetchError

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = f"attestkit/{__version__}"
SENSITIVE_HEADERS = frozenset({"authorization", "x-continum-key", "x-api-key", "cookie", "proxy-authorization"})
DEFAULT_TIMEOUT = 10.0
DEFAULT_REQUEST_DEADLINE = 60.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HttpResponse:
    """Status, lower-cased headers and body of one response."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request; raises :class:`FetchError` (code ``network``) on failure."""

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        *,
        budget: float | None = None,
    ) -> HttpResponse:
        """Send the request and return the response, without following redirects.

        *timeout* bounds each socket operation; *budget* (seconds) bounds the whole exchange
        and is exceeded with :class:`FetchError` code ``deadline``.
        """
        ...


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1``."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """*url* fit for a message: no user:password, every query value replaced, at most 200 characters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(
            f"{name}=REDACTED"
            if value and len(name) <= 32 and name.replace("_", "").replace("-", "").isalnum()
            else "REDACTED"
            for name, value in pairs
        )
        if parts.query and not query:
            query = "REDACTED"
        text = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        text = "<unparseable URL>"
    return text if len(text) <= 200 else text[:197] + "..."


def check_url(url: str) -> None:
    """Refuse anything but https, or http to a loopback host (and URLs with a bad port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise FetchError("not a valid URL: bad host or port", code="bad-url") from None
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return
    if parts.scheme == "http":
        raise FetchError(
            f"refusing plain http:// to {parts.hostname}: only loopback hosts may use http", code="insecure-url"
        )
    shown = parts.scheme[:20] if parts.scheme.isascii() and parts.scheme.isalnum() else "?"
    raise FetchError(
        f"not an http(s) URL (scheme {shown!r}{', host ' + parts.hostname[:80] if parts.hostname else ''})"
        " (the URL is not shown: it may carry a credential)",
        code="bad-url",
    )


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, lower-case host, port with the scheme's default filled in)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(parts.scheme)


def follow_url(trusted: str, named: str) -> tuple[str, bool]:
    """Resolve a URL a response *named* (a redirect, a listing's ``receipt_url``) against *trusted*.

    Returns the absolute URL and whether credentials meant for *trusted* may go with it (only
    to the same origin). Refused with :class:`FetchError`: anything :func:`check_url` refuses,
    https to plain http (a downgrade), and a remote host to a loopback one (a path into the
    services of the machine running attestkit).
    """
    target = urljoin(trusted, named)
    check_url(target)
    source_scheme, source_host, _ = origin(trusted)
    scheme, host, _ = origin(target)
    if source_scheme == "https" and scheme != "https":
        raise FetchError(
            f"refusing to follow {redact_url(trusted)} to {redact_url(target)}: https never downgrades to http",
            code="insecure-redirect",
        )
    if is_loopback_host(host) and not is_loopback_host(source_host):
        raise FetchError(
            f"refusing to follow {redact_url(trusted)} to the loopback host {host}: a remote service may not "
            "point attestkit at this machine",
            code="insecure-redirect",
        )
    return target, origin(target) == origin(trusted)


class _Watchdog:
    """Shuts a connection's socket down when the budget runs out (it interrupts a blocked read).

    The socket is attached once connected: ``http.client`` drops its own reference when a
    response says ``Connection: close``, while the response keeps reading from it.
    """

    def __init__(self, budget: float | None) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        if budget is not None:
            self._timer = threading.Timer(max(budget, 0.0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class StdlibTransport:
    """A transport on ``http.client``; one connection per request."""

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        *,
        budget: float | None = None,
    ) -> HttpResponse:
        """Send one request; responses above 32 MiB are aborted, and so is the whole exchange after *budget* s."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname or ""
        if budget is not None and budget <= 0:
            raise FetchError(f"deadline exceeded before talking to {host}", code="deadline")
        per_op = timeout if budget is None else min(timeout, budget)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=per_op, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=per_op)
        watchdog = _Watchdog(budget)
        try:
            connection.connect()
            watchdog.attach(connection.sock)
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            length = response.getheader("Content-Length")
            if length is not None and ascii_digits(length) and int(length) > MAX_RESPONSE_BYTES:
                raise FetchError(f"response from {host} is larger than 32 MiB", code="too-large")
            data = response.read(MAX_RESPONSE_BYTES + 1)
            if watchdog.expired:
                raise TimeoutError
            if len(data) > MAX_RESPONSE_BYTES:
                raise FetchError(f"response from {host} is larger than 32 MiB", code="too-large")
            if length is not None and ascii_digits(length) and len(data) < int(length):
                # http.client's sized read returns short, without IncompleteRead: a cut answer
                raise FetchError(
                    f"response from {host} ended after {len(data)} of its {int(length)} bytes", code="network"
                )
            return HttpResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        except FetchError:
            raise
        except Exception as exc:
            if watchdog.expired:
                raise FetchError(
                    f"gave up on {host}: no complete answer within the {budget:.0f}s deadline", code="deadline"
                ) from None
            raise _network_error(exc, host) from None
        finally:
            watchdog.cancel()
            connection.close()


def _network_error(exc: Exception, host: str) -> FetchError:
    if isinstance(exc, TimeoutError):
        return FetchError(f"timed out talking to {host}", code="network")
    if isinstance(exc, ssl.SSLError):
        return FetchError(f"TLS error talking to {host}: {exc.reason}", code="network")
    if isinstance(exc, socket.gaierror):
        # Not retried: a name that does not resolve now will not resolve in a second either.
        return FetchError(
            f"cannot resolve host {host}: {exc.strerror or 'name lookup failed'} (offline, or a typo in the URL?)",
            code="dns",
        )
    if isinstance(exc, ConnectionRefusedError):
        return FetchError(
            f"cannot reach {host}: connection refused (is the service running on that port?)", code="network"
        )
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return FetchError(
            f"cannot reach {host}: {getattr(exc, 'strerror', None) or type(exc).__name__}", code="network"
        )
    if isinstance(exc, ValueError):  # a header or URL http.client cannot encode
        return FetchError(f"cannot send the request to {host}: {type(exc).__name__}", code="bad-request")
    raise exc


def _retry_delay(response: HttpResponse, now: float) -> float | None:
    retry_after = response.headers.get("retry-after")
    if retry_after:
        value = retry_after.strip()
        if ascii_digits(value):
            return float(value)
        try:
            moment = email.utils.parsedate_to_datetime(value)
            return max(0.0, moment.timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset and ascii_digits(reset.strip()):
        return max(0.0, float(reset.strip()) - now)
    return None


@dataclass
class HttpClient:
    """Requests with the transport rules applied.

    ``clock`` is wall time (for ``Retry-After`` dates and ``X-RateLimit-Reset``); ``monotonic``
    measures the deadlines; ``sleep`` waits between attempts; ``jitter(low, high)`` spreads
    backoffs. Tests inject all four, so a retry schedule is exact and nothing really sleeps.
    """

    transport: Transport = field(default_factory=StdlibTransport)
    timeout: float = DEFAULT_TIMEOUT
    max_attempts: int = 4
    max_total_wait: float = 30.0
    backoff_base: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    max_redirects: int = 5
    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    deadline: float | None = None  # on the monotonic clock: nothing runs after it
    monotonic: Callable[[], float] = time.monotonic
    notify: Callable[[str], None] | None = None  # told of each retry before its wait (the CLI: one stderr line)
    jitter: Callable[[float, float], float] = random.uniform

    def remaining(self) -> float | None:
        """Seconds left before :attr:`deadline` (None when there is none)."""
        return None if self.deadline is None else self.deadline - self.monotonic()

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> HttpResponse:
        """Send with retries (connection errors, 429, 5xx) and safe redirects, within the deadlines."""
        check_url(url)
        current_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        started = self.monotonic()
        until = started + self.request_deadline
        if self.deadline is not None:
            until = min(until, self.deadline)
        waited = 0.0
        attempt = 0
        redirects = 0
        while True:
            attempt += 1
            budget = until - self.monotonic()
            if budget <= 0:
                raise self._deadline_error(url, started)
            try:
                response = self.transport.send(method, url, current_headers, body, self.timeout, budget=budget)
            except FetchError as exc:
                if exc.code == "deadline":
                    raise self._deadline_error(url, started) from None
                if exc.code != "network" or attempt >= self.max_attempts:
                    raise
                delay = self._backoff(attempt)
                why = exc.message
            else:
                if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    redirects += 1
                    if redirects > self.max_redirects:
                        raise FetchError("too many redirects", code="redirects", status=response.status)
                    target, same_origin = follow_url(url, response.headers["location"])
                    if not same_origin:
                        current_headers = {
                            k: v for k, v in current_headers.items() if k.lower() not in SENSITIVE_HEADERS
                        }
                    if response.status == 303:
                        method, body = "GET", None
                    url = target
                    attempt = 0
                    continue
                if response.status != 429 and response.status < 500:
                    return response
                if attempt >= self.max_attempts:
                    return response
                hinted = _retry_delay(response, self.clock())
                delay = hinted if hinted is not None else self._backoff(attempt)
                why = f"{urlsplit(url).hostname}: HTTP {response.status}"
            if waited + delay > self.max_total_wait:
                raise FetchError(
                    f"gave up after {attempt} attempts: the server asked to wait {delay:.0f}s more than the {self.max_total_wait:.0f}s budget",
                    code="retry-budget",
                )
            if self.monotonic() + delay >= until:
                raise self._deadline_error(url, started, f" (the next attempt would start {delay:.0f}s later)")
            if self.notify is not None:  # retries are never silent: say why and when
                self.notify(f"{why}; retrying in {delay:.1f}s (attempt {attempt + 1} of {self.max_attempts})")
            self.sleep(delay)
            waited += delay

    def _deadline_error(self, url: str, started: float, why: str = "") -> FetchError:
        overall = self.deadline is not None and self.deadline < started + self.request_deadline
        which = "the overall deadline" if overall else f"the {self.request_deadline:.0f}s request deadline"
        return FetchError(
            f"gave up on {urlsplit(url).hostname} after {self.monotonic() - started:.0f}s: {which} ran out{why}",
            code="deadline",
        )

    def _backoff(self, attempt: int) -> float:
        base: float = self.backoff_base * (2 ** (attempt - 1))
        return base + self.jitter(0, base / 2)


__all__ = [
    "DEFAULT_REQUEST_DEADLINE",
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "SENSITIVE_HEADERS",
    "USER_AGENT",
    "HttpClient",
    "HttpResponse",
    "StdlibTransport",
    "Transport",
    "check_url",
    "follow_url",
    "is_loopback_host",
    "origin",
    "redact_url",
]
