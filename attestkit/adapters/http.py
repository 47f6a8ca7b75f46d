"""The one HTTP seam: a small transport interface over ``http.client``, and a client
that adds the transport rules (HTTPS except loopback, timeouts, bounded retries with
backoff honouring ``Retry-After``/``X-RateLimit-Reset``, no credentials across origins
on redirects, a response size cap). Standard-library errors become :class:`FetchError`
here and nowhere else; no token ever appears in an error."""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from attestkit._version import __version__
from attestkit.errors import FetchError

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = f"attestkit/{__version__}"
SENSITIVE_HEADERS = frozenset({"authorization", "x-continum-key", "x-api-key", "cookie"})


@dataclass(frozen=True)
class HttpResponse:
    """Status, lower-cased headers and body of one response."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request; raises :class:`FetchError` (code ``network``) on failure."""

    def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> HttpResponse:
        """Send the request and return the response, without following redirects."""
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


def check_url(url: str) -> None:
    """Refuse anything but https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return
    if parts.scheme == "http":
        raise FetchError(
            f"refusing plain http:// to {parts.hostname}: only loopback hosts may use http", code="insecure-url"
        )
    raise FetchError(f"not an http(s) URL: {url[:80]!r}", code="bad-url")


class StdlibTransport:
    """A transport on ``http.client``; one connection per request."""

    def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> HttpResponse:
        """Send one request; responses above 32 MiB are aborted."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname or ""
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            length = response.getheader("Content-Length")
            if length is not None and length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
                raise FetchError(f"response from {host} is larger than 32 MiB", code="too-large")
            data = response.read(MAX_RESPONSE_BYTES + 1)
            if len(data) > MAX_RESPONSE_BYTES:
                raise FetchError(f"response from {host} is larger than 32 MiB", code="too-large")
            return HttpResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(f"timed out talking to {host}", code="network") from None
        except ssl.SSLError as exc:
            raise FetchError(f"TLS error talking to {host}: {exc.reason}", code="network") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"cannot reach {host}: {type(exc).__name__}", code="network") from None
        finally:
            connection.close()


def _retry_delay(response: HttpResponse, now: float) -> float | None:
    retry_after = response.headers.get("retry-after")
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return float(value)
        try:
            moment = email.utils.parsedate_to_datetime(value)
            return max(0.0, moment.timestamp() - now)
        except (TypeError, ValueError, IndexError):
            pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset.strip()) - now)
    return None


@dataclass
class HttpClient:
    """Requests with the transport rules applied."""

    transport: Transport = field(default_factory=StdlibTransport)
    timeout: float = 10.0
    max_attempts: int = 4
    max_total_wait: float = 30.0
    backoff_base: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    max_redirects: int = 5

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> HttpResponse:
        """Send with retries (connection errors, 429, 5xx) and safe redirects."""
        check_url(url)
        current_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        waited = 0.0
        attempt = 0
        redirects = 0
        while True:
            attempt += 1
            try:
                response = self.transport.send(method, url, current_headers, body, self.timeout)
            except FetchError as exc:
                if exc.code != "network" or attempt >= self.max_attempts:
                    raise
                delay = self._backoff(attempt)
            else:
                if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    redirects += 1
                    if redirects > self.max_redirects:
                        raise FetchError("too many redirects", code="redirects", status=response.status)
                    target = urljoin(url, response.headers["location"])
                    check_url(target)
                    if _origin(target) != _origin(url):
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
            if waited + delay > self.max_total_wait:
                raise FetchError(
                    f"gave up after {attempt} attempts: the server asked to wait {delay:.0f}s more than the {self.max_total_wait:.0f}s budget",
                    code="retry-budget",
                )
            self.sleep(delay)
            waited += delay

    def _backoff(self, attempt: int) -> float:
        base: float = self.backoff_base * (2 ** (attempt - 1))
        return base + random.uniform(0, base / 2)  # noqa: S311 - jitter, not cryptography


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


__all__ = [
    "MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "HttpClient",
    "HttpResponse",
    "StdlibTransport",
    "Transport",
    "check_url",
    "is_loopback_host",
]
