"""ATTEST REST API: receipts, execution status, listings, and the server's own verdict.

Only the ``receipt`` member is used for verification; the server's ``verification`` member
and its ``POST /v1/receipts/verify`` answer are never trusted (the latter is only compared).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from attestkit.adapters.http import HttpClient
from attestkit.adapters.profiles import PROFILES
from attestkit.adapters.source import ReceiptSource, credentials
from attestkit.errors import FetchError, UsageError

DEFAULT_BASE_URL = "https://api.attest.continuu.ms"
TOKEN_ENV = "ATTEST_TOKEN"  # noqa: S105 - the variable name, not a token
BASE_URL_ENV = "ATTEST_BASE_URL"


def base_url_of(base_url: str | None) -> str:
    """--base-url, else $ATTEST_BASE_URL, else the ATTEST cloud; one with a query or fragment is
    refused (``/v1/...`` would land inside it)."""
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    if "?" in url or "#" in url:
        raise UsageError(f"{url[:200]!r}: a base URL has no query or fragment; paths are added after it")
    return url


def attest_source(
    *, token: str | None = None, token_file: str | None = None, client: HttpClient | None = None
) -> ReceiptSource:
    """A source for the ATTEST API (token from the argument, --token-file or $ATTEST_TOKEN)."""
    profile = PROFILES["attest"]
    if token is not None:
        creds = credentials(profile, environ={TOKEN_ENV: token})
        creds.source = "the given token"
    else:
        creds = credentials(profile, token_file=token_file)
    return ReceiptSource(profile, creds, client or HttpClient())


@dataclass(frozen=True)
class AttestEndpoints:
    """Every ATTEST URL, built in one place: ids (given or from a server) are percent-quoted.

    An id can never add a path segment, a query or a fragment: ``../x``, ``a/b``, ``x?y``
    and ``x#y`` all stay one segment.
    """

    base_url: str

    @classmethod
    def of(cls, base_url: str | None) -> AttestEndpoints:
        """The endpoints under --base-url, else $ATTEST_BASE_URL, else the ATTEST cloud."""
        return cls(base_url_of(base_url))

    def execution(self, execution_id: str) -> str:
        """``GET /v1/executions/{id}``: the execution and its status."""
        return f"{self.base_url}/v1/executions/{_id(execution_id)}"

    def receipt(self, execution_id: str) -> str:
        """``GET /v1/executions/{id}/receipt``."""
        return f"{self.execution(execution_id)}/receipt"

    def pipeline_executions(self, pipeline_id: str) -> str:
        """``GET /v1/pipelines/{id}/executions`` (paged)."""
        return f"{self.base_url}/v1/pipelines/{_id(pipeline_id)}/executions"

    def verify(self) -> str:
        """``POST /v1/receipts/verify``."""
        return f"{self.base_url}/v1/receipts/verify"


def _id(value: str) -> str:
    if not value:
        raise FetchError("an execution or pipeline id may not be empty", code="bad-id")
    if set(value) == {"."}:  # "." and ".." would be resolved as path steps
        return value.replace(".", "%2E")
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:  # a lone surrogate: bytes that were not UTF-8 on the command line
        raise FetchError(
            f"{value.encode('utf-8', 'backslashreplace').decode()!r}: an id must be UTF-8 text", code="bad-id"
        ) from None


@dataclass(frozen=True)
class AttestApi:
    """The ATTEST API: one source (credentials, client) and one URL layout (:class:`AttestEndpoints`)."""

    source: ReceiptSource
    endpoints: AttestEndpoints

    @classmethod
    def of(cls, source: ReceiptSource, base_url: str | None = None) -> AttestApi:
        """The API under *base_url* (else $ATTEST_BASE_URL, else the ATTEST cloud)."""
        return cls(source, AttestEndpoints.of(base_url))

    def receipt(self, execution_id: str) -> dict[str, Any]:
        """The ``receipt`` member of ``GET /v1/executions/{id}/receipt`` (unverified)."""
        return self.source.fetch_receipt(self.endpoints.receipt(execution_id))

    def wait(self, execution_id: str, timeout: float) -> str:
        """Poll ``GET /v1/executions/{id}`` until it is completed or failed; return the status."""
        return self.source.wait_until_finished(self.endpoints.execution(execution_id), timeout=timeout)

    def execution_ids(self, pipeline_id: str) -> Iterator[str]:
        """Every execution id of a pipeline, following ``has_more`` paging."""
        for item in self.source.pages(self.endpoints.pipeline_executions(pipeline_id), "executions"):
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                yield item["id"]

    def pipeline_receipts(self, pipeline_id: str) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(execution id, receipt) for every execution of a pipeline; ``None`` when it has no receipt yet (404)."""
        for execution_id in self.execution_ids(pipeline_id):
            try:
                yield execution_id, self.receipt(execution_id)
            except FetchError as exc:
                if exc.status != 404:
                    raise
                yield execution_id, None

    def verdict(self, receipt: Mapping[str, Any]) -> dict[str, Any]:
        """The server's answer to ``POST /v1/receipts/verify`` (for comparison only, never trusted)."""
        body = json.dumps({"receipt": dict(receipt)}).encode("utf-8")
        answer = self.source.request_json("POST", self.endpoints.verify(), body=body)
        if not isinstance(answer, dict):
            raise FetchError("the verify endpoint did not answer with an object", code="bad-response")
        return answer


def fetch_receipt_document(
    base_url: str | None,
    execution_id: str,
    *,
    token: str | None = None,
    token_file: str | None = None,
    client: HttpClient | None = None,
) -> dict[str, Any]:
    """GET the receipt of *execution_id* and return its ``receipt`` member (unverified)."""
    return AttestApi.of(attest_source(token=token, token_file=token_file, client=client), base_url).receipt(
        execution_id
    )


def wait_for_execution(source: ReceiptSource, base_url: str | None, execution_id: str, timeout: float) -> str:
    """Poll ``GET /v1/executions/{id}`` until it is completed or failed; return the status."""
    return AttestApi.of(source, base_url).wait(execution_id, timeout)


def execution_ids(source: ReceiptSource, base_url: str | None, pipeline_id: str) -> Iterator[str]:
    """Every execution id of a pipeline, following ``has_more`` paging."""
    return AttestApi.of(source, base_url).execution_ids(pipeline_id)


def remote_verdict(source: ReceiptSource, base_url: str | None, receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The server's answer to ``POST /v1/receipts/verify`` (for comparison only)."""
    return AttestApi.of(source, base_url).verdict(receipt)


def verdict_differences(local: Mapping[str, Any], remote: Mapping[str, Any]) -> list[str]:
    """Where the server's verdict differs from the local one, one line each."""
    fields = [
        ("valid",),
        ("signature_verification", "valid"),
        ("policy_compliance", "passed"),
        ("timestamp_check", "valid"),
        ("chain_of_trust",),
    ]
    lines = []
    for path in fields:
        mine: Any = local
        theirs: Any = remote
        for key in path:
            mine = mine.get(key) if isinstance(mine, Mapping) else None
            theirs = theirs.get(key) if isinstance(theirs, Mapping) else None
        if theirs is not None and mine != theirs:
            lines.append(f"{'.'.join(path)}: remote says {json.dumps(theirs)}, local says {json.dumps(mine)}")
    return lines


__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "TOKEN_ENV",
    "AttestApi",
    "AttestEndpoints",
    "attest_source",
    "base_url_of",
    "execution_ids",
    "fetch_receipt_document",
    "remote_verdict",
    "verdict_differences",
    "wait_for_execution",
]
