"""``attestkit export``: a receipt as an in-toto statement in a signed DSSE envelope."""

from __future__ import annotations

import json

import click

from attestkit.adapters.files import SIGNING_KEY_ENV, read_receipt_file
from attestkit.cli.cmd_produce import _signing_key
from attestkit.cli.reporting import emit


@click.command()
@click.argument("receipt")
@click.option("--format", "fmt", type=click.Choice(["in-toto"]), default="in-toto", show_default=True)
@click.option("--key", "key_file", help=f"Signing key file (or {SIGNING_KEY_ENV}); usually the receipt's own key.")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="Trusted public key the receipt must verify against (as for verify). Repeatable.",
)
@click.option("--trusted-keys-file", "trusted_files", multiple=True, help="File of trusted keys (as for verify).")
@click.option(
    "--integrity-only", is_flag=True, help="Export when the signature verifies against the receipt's embedded key."
)
@click.option("--now", help="Pin the current time (RFC 3339 or Unix seconds).")
@click.option("--tolerance", default="5m", show_default=True, help="Allowed clock skew for future timestamps.")
@click.option("--scope", help="Accept only keys whose keyring scopes include this scope.")
@click.option("-o", "--output", help="Write the envelope here (default: stdout).")
def export(
    receipt: str,
    fmt: str,
    key_file: str | None,
    public_keys: tuple[str, ...],
    trusted_files: tuple[str, ...],
    integrity_only: bool,
    now: str | None,
    tolerance: str,
    scope: str | None,
    output: str | None,
) -> int:
    """Wrap RECEIPT in an in-toto Statement v1 inside a DSSE envelope signed with Ed25519.

    The receipt is verified first, against the trusted keys given (or, with --integrity-only,
    its embedded key): a receipt that does not verify is not exported (exit 1), and without
    any trust the command is a usage error (exit 2). `attestkit verify` accepts the envelope
    like a receipt (same trust, policy and artifact checks); so does any DSSE verifier given
    the public key.
    """
    from attestkit.cli.cmd_verify import build_options
    from attestkit.core.receipt.dsse import make_envelope

    options = build_options(public_keys, trusted_files, integrity_only, (), None, False, None, now, tolerance, scope)
    key = _signing_key(key_file)
    parsed = read_receipt_file(receipt)
    envelope = make_envelope(parsed, key, options)
    emit(json.dumps(envelope, indent=2) + "\n", output)
    return 0
