"""ATTEST REST API: fetch an execution's receipt (``GET /v1/executions/{id}/receipt``).

Only the ``receipt`` member is used; the server's own ``verification`` member is never
trusted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from attestkit.adapters.http import HttpClient, HttpResponse
from attestkit.core.reader import parse_document
from attestkit.errors import AttestkitError, FetchError, InputFileError, MalformedReceiptError

DEFAULT_BASE_URL = "https://api.attest.continuu.ms"
TOKEN_ENV = "ATTEST_TOKEN"  # noqa: S105 - the variable name, not a token
BASE_URL_ENV = "ATTEST_BASE_URL"


def resolve_token(token_file: str | None = None, environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The API token and where it came from (for messages that never show the token)."""
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError:
            raise InputFileError(f"{token_file}: cannot read token file") from None
        return token or None, token_file
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV) or None, f"${TOKEN_ENV}"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _error_message(response: HttpResponse, token_source: str) -> FetchError:
    code: str | None = None
    request_id: str | None = None
    message = ""
    try:
        document = parse_document(response.body, source="response", fmt="json")
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict):
            code = _str_or_none(error.get("code"))
            message = _str_or_none(error.get("message")) or ""
            request_id = _str_or_none(error.get("request_id"))
    except AttestkitError:
        pass
    text = f"HTTP {response.status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message[:300]}"
    if request_id:
        text += f" (request id {request_id})"
    if response.status in (401, 403) or code == "AUTHENTICATION_FAILED":
        text += f"; check the token in {token_source}"
    return FetchError(text, code=code or f"http-{response.status}", status=response.status, request_id=request_id)


def fetch_receipt_document(
    base_url: str | None,
    execution_id: str,
    *,
    token: str | None = None,
    token_file: str | None = None,
    client: HttpClient | None = None,
) -> dict[str, Any]:
    """GET the receipt of *execution_id* and return its ``receipt`` member (unverified)."""
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    source = "argument"
    if token is None:
        token, source = resolve_token(token_file)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{base}/v1/executions/{quote(execution_id, safe='')}/receipt"
    response = (client or HttpClient()).request("GET", url, headers)
    if response.status != 200:
        raise _error_message(response, source)
    try:
        document = parse_document(response.body, source=f"execution {execution_id}", fmt="json")
    except MalformedReceiptError as exc:
        if exc.code in ("syntax", "encoding", "size"):
            raise FetchError(f"response is not valid JSON: {exc.rule}", code="bad-response") from None
        raise  # JSON that breaks the strict rules: a malformed receipt, exit 1
    receipt = document.get("receipt") if isinstance(document, dict) else None
    if not isinstance(receipt, dict):
        raise FetchError("response has no 'receipt' object", code="bad-response")
    return receipt


__all__ = ["BASE_URL_ENV", "DEFAULT_BASE_URL", "TOKEN_ENV", "fetch_receipt_document", "resolve_token"]
