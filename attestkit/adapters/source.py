"""A receipt source: one service, one profile, the shared HTTP client.

No trust in anything the server says about validity: only the receipt is taken, and it is
verified locally. Tokens come from environment variables or files and never appear in
messages or reprs (a server that echoes one back has it replaced by ``REDACTED``).

Credentials go only to the URLs the caller gave. A URL that a response names (a listing's
``receipt_url``) is followed by the redirect rules of :func:`attestkit.adapters.http.follow_url`:
same origin as the URL that named it, or no credentials; never https to http; never a remote
host to a loopback one.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urlsplit, urlunsplit

from attestkit.adapters.http import HttpClient, HttpResponse, follow_url, redact_url
from attestkit.adapters.profiles import LOOK_ALIKES, PROFILES, Profile
from attestkit.adapters.secret_files import read_private_file
from attestkit.core.receipt.reader import parse_document
from attestkit.errors import FetchError, InputFileError, MalformedReceiptError, UsageError

MAX_TOKEN_FILE_BYTES = 64 * 1024

FINISHED = frozenset({"completed", "failed", "succeeded", "success", "error", "finished", "cancelled", "canceled"})


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class Credentials:
    """What goes in the request, and where it came from (for messages); only ``source`` is in the repr."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)
    query: dict[str, str] = field(default_factory=dict, repr=False)
    source: str = "no credentials"
    secrets: tuple[str, ...] = field(default=(), repr=False)  # every secret value, to redact
    # The values no honest answer holds (the token, the password and its Basic pair; not the
    # user name): a response that does is refused before any of it is shown or written.
    private: tuple[str, ...] = field(default=(), repr=False)

    def redact(self, text: str) -> str:
        """*text* with every secret value (and its Basic-auth and URL-encoded forms) replaced by ``REDACTED``."""
        spans = _spans(text, [s for s in self.secrets if s])
        for start, end in reversed(spans):
            text = text[:start] + "REDACTED" + text[end:]
        return text

    def echoed_in(self, text: str) -> bool:
        """Whether *text* holds one of the private values, as sent or as a URL would carry it."""
        # A secret under 8 characters would match honest text ("k" in "ok"): only redacted.
        return bool(_spans(text, [s for s in self.private if len(s) >= 8]))


_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def _lower_hex(text: str) -> str:
    return _PERCENT.sub(lambda match: match.group(0).lower(), text)  # same length: spans carry over


def _spans(text: str, secrets: list[str]) -> list[tuple[int, int]]:
    """Where *secrets* occur in *text*, as sent or percent-encoded (either hex case); merged, in order."""
    folded = _lower_hex(text)
    found: list[tuple[int, int]] = []
    for secret in secrets:
        for form in {_lower_hex(f) for f in (secret, quote(secret, safe=""), quote(secret), quote_plus(secret))}:
            at = folded.find(form)
            while at != -1:
                found.append((at, at + len(form)))
                at = folded.find(form, at + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def credentials(
    profile: Profile,
    *,
    token_file: str | None = None,
    token_in_query: bool = False,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Credentials:
    """Credentials for *profile* from --token-file or the profile's environment variables."""
    env = os.environ if environ is None else environ
    token: str | None
    if token_file is not None:
        token, source = read_token_file(token_file), token_file
    else:
        token, source = env.get(profile.token_env) or None, f"${profile.token_env}"
    creds = Credentials(source=source)
    if token is None and profile.basic_env is not None:
        user, password = (env.get(name) for name in profile.basic_env)
        if user and password:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            creds.headers["Authorization"] = f"Basic {pair}"
            creds.secrets = (pair, password, user) if len(user) >= 4 else (pair, password)
            creds.private = (pair, password)
            creds.source = f"${profile.basic_env[0]}/${profile.basic_env[1]}"
        return creds
    if token is None:
        return creds
    creds.secrets = creds.private = (token,)
    if any(c.isspace() or not c.isprintable() for c in token):
        raise UsageError(f"the token in {source} contains whitespace or control characters; refusing to send it")
    if profile.token_prefix is not None and not token.startswith(profile.token_prefix):
        raise UsageError(f"the key in {source} does not start with {profile.token_prefix!r}; refusing to send it")
    if token_in_query:
        if warn is not None:
            warn(
                "sending the token as a query argument: the least secure option (it can end up in server and proxy logs)"
            )
        creds.query["token"] = token
    elif profile.auth_scheme == "header":
        assert profile.key_header is not None
        creds.headers[profile.key_header] = token
    else:
        creds.headers["Authorization"] = f"{profile.auth_scheme} {token}"
    return creds


def read_token_file(path: str) -> str | None:
    """The token in *path* (surrounding whitespace removed), refusing a file others can read.

    Like a private key file, a token file must be a regular file that neither group nor others
    can access (``chmod 600``); it is read without following it into a FIFO or device, and at
    most 64 KiB of it.
    """
    data = read_private_file(path, "token file", MAX_TOKEN_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: token file is not UTF-8 text") from None
    return text.strip() or None


def _twin_hint(profile: Profile, environ: Mapping[str, str] | None = None) -> str:
    """A hint when the look-alike profile's credentials are set instead (continuum / continum)."""
    env = os.environ if environ is None else environ
    twin = PROFILES.get(LOOK_ALIKES.get(profile.name, ""))
    if twin is not None and env.get(twin.token_env):
        return f"; ${twin.token_env} is set: did you mean --profile {twin.name}?"
    return ""


def _with_query(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(dict(params))]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@dataclass
class ReceiptSource:
    """Fetches JSON documents and receipts from one service."""

    profile: Profile
    creds: Credentials
    client: HttpClient = field(default_factory=HttpClient)

    @classmethod
    def named(cls, name: str, **kwargs: Any) -> ReceiptSource:
        """A source for the profile called *name* (credentials from the environment)."""
        profile = PROFILES.get(name)
        if profile is None:
            import difflib

            close = difflib.get_close_matches(name, list(PROFILES), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"unknown profile {name!r}; {hint}choose one of {', '.join(PROFILES)}")
        client = kwargs.pop("client", None) or HttpClient()
        return cls(profile, credentials(profile, **kwargs), client)

    def request_json(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        send_credentials: bool = True,
    ) -> Any:
        """One request; the parsed JSON body, or :class:`FetchError` with the service's reason."""
        creds_headers = self.creds.headers if send_credentials else {}
        creds_query = self.creds.query if send_credentials else {}
        headers = {"Accept": "application/json", **creds_headers}
        query = {**dict(self.profile.query), **creds_query, **(params or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self.profile.idempotency_on_post:
                headers["Idempotency-Key"] = str(uuid.uuid4())
        response = self.client.request(method, _with_query(url, query), headers, body)
        if response.status >= 400:
            raise self._error(response)
        return self._parse(response, url)

    def _parse(self, response: HttpResponse, url: str) -> Any:
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        head = response.body.lstrip()[:1]
        if kind in ("text/xml", "application/xml", "text/html", "text/plain") or head == b"<":
            shown = kind or "non-JSON"
            raise FetchError(
                f"{self.profile.name}: the service answered {shown} instead of JSON (asked for JSON)", code="not-json"
            )
        self._refuse_echo(response.body.decode("utf-8", "replace"), url)
        try:
            document = parse_document(response.body, source=f"response from {urlsplit(url).hostname}", fmt="json")
        except MalformedReceiptError as exc:
            self._refuse_echo(str(exc), url)  # the secret written with JSON escapes
            if exc.code in ("syntax", "encoding", "size"):
                raise FetchError(
                    f"{self.profile.name}: response is not valid JSON: {exc.rule}", code="bad-response"
                ) from None
            raise
        if self.creds.private:
            self._refuse_echo(json.dumps(document, ensure_ascii=False), url)
        return document

    def _refuse_echo(self, text: str, url: str) -> None:
        """:class:`FetchError` when *text* holds a credential that was sent: the answer would
        carry it into messages, reports and written receipts."""
        if self.creds.echoed_in(text):
            raise FetchError(
                f"{self.profile.name}: the response from {redact_url(url)} contains the credentials from "
                f"{self.creds.source}; refusing to use it",
                code="echoed-credentials",
            )

    def _error(self, response: HttpResponse) -> FetchError:
        code: str | None = None
        message: str | None = None
        request_id: str | None = None
        try:
            document = parse_document(response.body, source="error response", fmt="json")
        except MalformedReceiptError:
            document = None
        if isinstance(document, dict):
            if self.profile.error_shape == "attest" and isinstance(document.get("error"), dict):
                error = document["error"]
                code, message, request_id = (
                    _str(error.get("code")),
                    _str(error.get("message")),
                    _str(error.get("request_id")),
                )
            elif self.profile.error_shape == "continum":
                code, message = _str(document.get("error")), _str(document.get("message"))
            else:
                message = _str(document.get("message"))
        code, message, request_id = (
            self.creds.redact(value)[:300] if value is not None else None for value in (code, message, request_id)
        )
        text = f"{self.profile.name}: HTTP {response.status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if request_id:
            text += f" (request id {request_id})"
        if response.status in (401, 403) or code == "AUTHENTICATION_FAILED":
            if not self.creds.secrets:
                text += (
                    f"; no credentials were sent: {self.creds.source} is not set (set it, or give --token-file FILE)"
                )
                text += _twin_hint(self.profile)
            else:
                text += f"; check the credentials in {self.creds.source}"
        return FetchError(text, code=code or f"http-{response.status}", status=response.status, request_id=request_id)

    def unwrap(self, document: Any, url: str) -> Any:
        """The payload inside the profile's envelope."""
        if self.profile.envelope is None:
            return document
        if not isinstance(document, dict) or self.profile.envelope not in document:
            raise FetchError(
                f"{self.profile.name}: response from {redact_url(url)} has no {self.profile.envelope!r} member",
                code="bad-response",
            )
        return document[self.profile.envelope]

    def fetch_receipt(self, url: str, *, named_by: str | None = None) -> dict[str, Any]:
        """The receipt at *url*, unwrapped (a ``receipt`` member inside the body is accepted too).

        *named_by* is the URL whose response named *url* (a listing): then *url* is followed by
        the redirect rules, and credentials go with it only within that URL's origin.
        """
        send_credentials = True
        if named_by is not None:
            url, send_credentials = follow_url(named_by, url)
        payload = self.unwrap(self.request_json("GET", url, send_credentials=send_credentials), url)
        member = self.profile.receipt_member
        if member is not None:
            if not isinstance(payload, dict) or member not in payload:
                raise FetchError(
                    f"{self.profile.name}: response from {redact_url(url)} has no {member!r} member",
                    code="bad-response",
                )
            payload = payload[member]
        elif isinstance(payload, dict) and isinstance(payload.get("receipt"), dict) and "timestamp" not in payload:
            payload = payload["receipt"]
        if not isinstance(payload, dict):
            raise FetchError(
                f"{self.profile.name}: response from {redact_url(url)} is not a receipt object", code="bad-response"
            )
        return payload

    def wait_until_finished(
        self, status_url: str, *, timeout: float, sleep: Callable[[float], None] | None = None
    ) -> str:
        """Poll *status_url* (with backoff) until its ``status`` is final; return that status.

        Waiting stops after *timeout* seconds (``wait-timeout``) or at the client's overall
        deadline (``deadline``), whichever comes first; time is the client's monotonic clock.
        """
        pause = sleep or self.client.sleep
        now = self.client.monotonic
        deadline = now() + timeout
        delay = 1.0
        while True:
            document = self.unwrap(self.request_json("GET", status_url), status_url)
            status = document.get("status") if isinstance(document, dict) else None
            if isinstance(status, str) and status.lower() in FINISHED:
                return status.lower()
            shown = self.creds.redact(status[:80]) if isinstance(status, str) else status
            if now() + delay > deadline:
                raise FetchError(
                    f"{self.profile.name}: still {shown!r} after waiting {timeout:.0f}s", code="wait-timeout"
                )
            left = self.client.remaining()
            if left is not None and delay >= left:
                raise FetchError(
                    f"{self.profile.name}: still {shown!r} when the overall deadline ran out", code="deadline"
                )
            pause(delay)
            delay = min(delay * 2, 15.0)

    def pages(self, url: str, items_key: str, limit: int = 50) -> Iterator[Any]:
        """Every item of a listing, following the profile's paging."""
        if self.profile.paging == "page":
            page = 1
            while True:
                document = self.request_json("GET", url, {"page": str(page), "limit": str(limit)})
                items = self.unwrap(document, url)
                yield from items if isinstance(items, list) else []
                pagination = document.get("pagination") if isinstance(document, dict) else None
                pages = pagination.get("pages") if isinstance(pagination, dict) else None
                if not isinstance(pages, int) or page >= pages:
                    return
                page += 1
        offset = 0
        while True:
            document = self.request_json("GET", url, {"limit": str(limit), "offset": str(offset)})
            items = document.get(items_key, document.get("data")) if isinstance(document, dict) else None
            if not isinstance(items, list):
                raise FetchError(
                    f"{self.profile.name}: listing at {redact_url(url)} has no {items_key!r} list", code="bad-response"
                )
            yield from items
            if not (isinstance(document, dict) and document.get("has_more") is True) or not items:
                return
            offset += len(items)


__all__ = ["FINISHED", "MAX_TOKEN_FILE_BYTES", "Credentials", "ReceiptSource", "credentials", "read_token_file"]
