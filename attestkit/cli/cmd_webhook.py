"""``attestkit webhook verify`` and ``attestkit webhook sign``."""

from __future__ import annotations

import os
from datetime import timedelta

import click

from attestkit.adapters.files import MAX_WEBHOOK_BODY_BYTES, read_bytes
from attestkit.cli.output import out
from attestkit.core.timeutil import parse_duration, parse_instant
from attestkit.core.webhooks import SCHEMES, sign_webhook, verify_webhook
from attestkit.errors import UsageError


def _secrets(env_names: tuple[str, ...], files: tuple[str, ...]) -> list[str]:
    values: list[str] = []
    for name in env_names:
        value = os.environ.get(name)
        if not value:
            raise UsageError(f"environment variable {name} is not set or empty")
        values.append(value)  # byte-exact: a secret's whitespace is part of the secret
    for path in files:
        text = read_bytes(path, "secret file").decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            raise UsageError(f"{path}: secret file is empty")
        values.append(text)
    if not values:
        raise UsageError("give --secret-env VAR (or --secret-file FILE); secrets are never taken as flag values")
    return values


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header must be 'Name: value', got {item[:40]!r}")
        headers[name.strip()] = value.strip()
    return headers


@click.group()
def webhook() -> None:
    """Verify or sign webhook deliveries."""


@webhook.command("verify")
@click.argument("body", required=False, default="-")
@click.option(
    "--secret-env",
    "secret_envs",
    multiple=True,
    help="Environment variable holding a secret (repeatable, for rotation).",
)
@click.option("--secret-file", "secret_files", multiple=True, help="File holding a secret (repeatable).")
@click.option("--header", "header_values", multiple=True, help="A received header, 'Name: value' (repeatable).")
@click.option("--now", help="Pin the current time (RFC 3339 or Unix seconds).")
@click.option("--tolerance", default="5m", show_default=True, help="Allowed timestamp skew, both directions.")
def verify_cmd(
    body: str,
    secret_envs: tuple[str, ...],
    secret_files: tuple[str, ...],
    header_values: tuple[str, ...],
    now: str | None,
    tolerance: str,
) -> int:
    """Verify a webhook BODY (file, or - for stdin) against its signature headers."""
    secrets = _secrets(secret_envs, secret_files)
    headers = _headers(header_values)
    try:
        tolerance_delta: timedelta = parse_duration(tolerance)
    except ValueError as exc:
        raise UsageError(f"--tolerance: {exc}") from None
    raw = read_bytes(body, "webhook body", MAX_WEBHOOK_BODY_BYTES)
    moment = parse_instant(now) if now is not None else None
    event = verify_webhook(raw, headers, secrets, now=moment, tolerance=tolerance_delta)
    details = f"scheme={event.scheme}"
    if event.event_type:
        details += f" event={event.event_type}"
    if event.message_id:
        details += f" id={event.message_id}"
    out(f"valid webhook: {details}")
    return 0


@webhook.command("sign")
@click.argument("body", required=False, default="-")
@click.option("--secret-env", "secret_envs", multiple=True, help="Environment variable holding the secret.")
@click.option("--secret-file", "secret_files", multiple=True, help="File holding the secret.")
@click.option("--scheme", type=click.Choice(SCHEMES), default="attest", show_default=True)
@click.option("--id", "message_id", help="Message id (Standard Webhooks).")
@click.option("--timestamp", type=int, help="Unix timestamp to sign with (default: now).")
def sign_cmd(
    body: str,
    secret_envs: tuple[str, ...],
    secret_files: tuple[str, ...],
    scheme: str,
    message_id: str | None,
    timestamp: int | None,
) -> int:
    """Print the headers to send with BODY, one 'Name: value' per line."""
    secret = _secrets(secret_envs, secret_files)[0]
    raw = read_bytes(body, "webhook body", MAX_WEBHOOK_BODY_BYTES)
    for name, value in sign_webhook(raw, secret, scheme=scheme, message_id=message_id, timestamp=timestamp).items():
        out(f"{name}: {value}")
    return 0
