"""``attestkit sign``."""

from __future__ import annotations

import sys

import click

from attestkit.adapters.files import (
    SIGNING_KEY_ENV,
    load_private_key_env,
    load_private_key_file,
    read_receipt_file,
    write_atomic,
)
from attestkit.core.receipt.reader import format_for_name
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.errors import UsageError


@click.command()
@click.argument("receipt")
@click.option("--key", "key_file", help=f"Private key file (PKCS#8 PEM or OpenSSH); or set {SIGNING_KEY_ENV}.")
@click.option("-o", "--output", help="Output file; YAML for .yaml/.yml, JSON otherwise (stdout by default).")
@click.option("--signer", help="Signer identity to record in the receipt (e.g. ci@company.com).")
def sign(receipt: str, key_file: str | None, output: str | None, signer: str | None) -> int:
    """Sign RECEIPT (a file, or - for stdin).

    Fills signer_public_key, signature_algorithm and signature. The passphrase of an
    encrypted key comes from ATTESTKIT_KEY_PASSPHRASE.
    """
    if key_file is not None:
        key = load_private_key_file(key_file)
    else:
        env_key = load_private_key_env()
        if env_key is None:
            raise UsageError(f"no signing key: pass --key KEYFILE or set {SIGNING_KEY_ENV}")
        key = env_key
    parsed = read_receipt_file(receipt)
    signed = sign_receipt(parsed.data, key, signer=signer)
    if output is None or output == "-":
        sys.stdout.write(receipt_to_text(signed, "json"))
        return 0
    write_atomic(output, receipt_to_text(signed, format_for_name(output) or "json").encode("utf-8"))
    return 0
