"""Service conventions as data: how to authenticate, unwrap, read errors and page.

One small declarative description per service, not a subclass per service.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How to talk to one kind of receipt service."""

    name: str
    auth_scheme: str  # "Bearer", "Token", or "header" (the key goes in key_header)
    token_env: str
    key_header: str | None = None
    token_prefix: str | None = None  # keys without it are refused before any request
    basic_env: tuple[str, str] | None = None  # (user variable, password variable)
    query: tuple[tuple[str, str], ...] = ()  # added to every GET, e.g. output_format=json
    envelope: str | None = None  # member wrapping every success body (continum's "data"), or None
    receipt_member: str | None = None  # member of the receipt response that holds the receipt
    error_shape: str = "attest"  # "attest", "continum" or "message"
    paging: str = "offset"  # "offset" (limit/offset/has_more) or "page" (page/limit/pagination.pages)
    idempotency_on_post: bool = False


PROFILES: dict[str, Profile] = {
    "attest": Profile(
        "attest", "Bearer", "ATTEST_TOKEN", receipt_member="receipt", error_shape="attest", paging="offset"
    ),
    "continuum": Profile(
        "continuum",
        "Token",
        "CONTINUUM_TOKEN",
        basic_env=("CONTINUUM_USER", "CONTINUUM_PASSWORD"),
        query=(("output_format", "json"),),
        error_shape="message",
        paging="offset",
    ),
    "continum": Profile(
        "continum",
        "header",
        "CONTINUM_API_KEY",
        key_header="x-continum-key",
        envelope="data",
        error_shape="continum",
        paging="page",
        idempotency_on_post=True,
    ),
    "continue-hub": Profile(
        "continue-hub",
        "Bearer",
        "CONTINUE_HUB_API_KEY",
        token_prefix="con_",  # noqa: S106 - a prefix, not a secret
        error_shape="message",
        paging="offset",
    ),
}

# Names one typo apart: a failure with one of them mentions the other when its credentials are set.
LOOK_ALIKES = {"continuum": "continum", "continum": "continuum"}

__all__ = ["LOOK_ALIKES", "PROFILES", "Profile"]
