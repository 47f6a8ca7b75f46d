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
@click.option("-o", "--output", help="Write the envelope here (default: stdout).")
def export(receipt: str, fmt: str, key_file: str | None, output: str | None) -> int:
    """Wrap RECEIPT in an in-toto Statement v1 inside a DSSE envelope signed with Ed25519.

    `attestkit verify` accepts the envelope like a receipt (same trust, policy and artifact
    checks); so does any DSSE verifier given the public key.
    """
    from attestkit.core.dsse import make_envelope

    parsed = read_receipt_file(receipt)
    envelope = make_envelope(parsed.data, _signing_key(key_file))
    emit(json.dumps(envelope, indent=2) + "\n", output)
    return 0
