"""``attestkit webhook verify`` and ``attestkit webhook sign``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import click

from attestkit.adapters.files import MAX_WEBHOOK_BODY_BYTES, read_bytes
from attestkit.adapters.secret_files import read_secret_file, shown_secret_reference
from attestkit.cli.output import out
from attestkit.cli.params import DURATION, INSTANT
from attestkit.core.textsafe import escape_text
from attestkit.core.webhooks import SCHEMES, WebhookVerifier, sign_webhook
from attestkit.core.webhooks._schemes import KNOWN_HEADERS
from attestkit.errors import UsageError, WebhookHeaderError


def _secrets(env_names: tuple[str, ...], files: tuple[str, ...]) -> list[str | bytes]:
    values: list[str | bytes] = []
    for name in env_names:
        value = os.environ.get(name)
        if not value:
            # Never the name itself when it may be the secret (--secret-env "$HOOK_SECRET").
            shown = shown_secret_reference(name, "--secret-env", env_name=True)
            raise UsageError(
                f"environment variable {shown} is not set or empty"
                if shown == name
                else f"{shown}: is not set or empty"
            )
        values.append(value)  # byte-exact: a secret's whitespace is part of the secret
    for path in files:
        values.append(read_secret_file(path, "webhook secret file"))  # bytes: binary secrets verify
    if not values:
        raise UsageError("give --secret-env VAR (or --secret-file FILE); secrets are never taken as flag values")
    return values


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise UsageError(f"--header must be 'Name: value', got {escape_text(item[:40])!r}")
        if name in headers and headers[name] != value and name.lower() in KNOWN_HEADERS:
            raise WebhookHeaderError(f"header {name} is given twice with different values")
        headers[name] = value
    return headers


@click.group()
def webhook() -> None:
    """Verify or sign webhook deliveries."""


@webhook.command("verify")
@click.argument("body", required=False, default="-", metavar="[BODY|-]")
@click.option(
    "--secret-env",
    "secret_envs",
    multiple=True,
    metavar="VAR",
    help="Environment variable holding a secret (repeatable, for rotation).",
)
@click.option(
    "--secret-file",
    "secret_files",
    multiple=True,
    metavar="FILE",
    help="File holding a secret, mode 600 (repeatable); read as bytes.",
)
@click.option(
    "--header",
    "header_values",
    metavar="NAME: VALUE",
    multiple=True,
    help="A received header, 'Name: value' (repeatable).",
)
@click.option(
    "--scheme",
    "schemes",
    multiple=True,
    type=click.Choice(SCHEMES),
    help="Accept only this scheme (repeatable). Without it the headers choose, which lets a sender downgrade.",
)
@click.option("--now", type=INSTANT, help="Pin the current time (RFC 3339 or Unix seconds).")
@click.option(
    "--tolerance", type=DURATION, default="5m", show_default=True, help="Allowed timestamp skew, both directions."
)
def verify_cmd(
    body: str,
    secret_envs: tuple[str, ...],
    secret_files: tuple[str, ...],
    header_values: tuple[str, ...],
    schemes: tuple[str, ...],
    now: datetime | None,
    tolerance: timedelta,
) -> int:
    """Verify a webhook BODY (file, or - for stdin) against its signature headers."""
    verifier = WebhookVerifier(_secrets(secret_envs, secret_files), schemes=schemes or None, tolerance=tolerance)
    moment = now
    headers = _headers(header_values)
    raw = read_bytes(body, "webhook body", MAX_WEBHOOK_BODY_BYTES)
    event = verifier.verify(raw, headers, now=moment)
    details = f"scheme={event.scheme}"
    if event.event_type:
        details += f" event={escape_text(event.event_type)}"
    if event.message_id:
        details += f" id={escape_text(event.message_id)}"
    out(f"valid webhook: {details}")
    return 0


@webhook.command("sign")
@click.argument("body", required=False, default="-", metavar="[BODY|-]")
@click.option(
    "--secret-env", "secret_envs", metavar="VAR", multiple=True, help="Environment variable holding the secret."
)
@click.option("--secret-file", "secret_files", metavar="FILE", multiple=True, help="File holding the secret, mode 600.")
@click.option("--scheme", type=click.Choice(SCHEMES), default="attest", show_default=True)
@click.option("--id", "message_id", metavar="ID", help="Message id (Standard Webhooks).")
@click.option("--timestamp", type=INSTANT, help="Time to sign with: RFC 3339 or Unix seconds (default: now).")
def sign_cmd(
    body: str,
    secret_envs: tuple[str, ...],
    secret_files: tuple[str, ...],
    scheme: str,
    message_id: str | None,
    timestamp: datetime | None,
) -> int:
    """Print the headers to send with BODY, one 'Name: value' per line."""
    secret = _secrets(secret_envs, secret_files)[0]
    raw = read_bytes(body, "webhook body", MAX_WEBHOOK_BODY_BYTES)
    for name, value in sign_webhook(
        raw, secret, scheme=scheme, message_id=message_id, timestamp=int(timestamp.timestamp()) if timestamp else None
    ).items():
        out(f"{name}: {value}")
    return 0
