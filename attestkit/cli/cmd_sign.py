"""``attestkit sign``."""

from __future__ import annotations

import sys

import click

from attestkit.adapters.files import (
    SIGNING_KEY_ENV,
    load_signing_key,
    read_receipt_bytes,
    write_atomic,
)
from attestkit.cli.output import warn
from attestkit.core.produce.resign import plan_signing
from attestkit.core.receipt.reader import format_for_name, parse_receipt
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.receipt.writer import receipt_to_text


def _warn_yaml11(data: bytes, path: str, source: str) -> None:
    """Warn when a YAML draft holds plain scalars that YAML 1.1 readers read differently."""
    fmt = format_for_name(path)
    if fmt == "json" or (fmt is None and data.lstrip(b" \t\r\n")[:1] in (b"{", b"[", b'"', b"")):
        return
    from attestkit.core.receipt.yaml_reader import yaml11_differences

    found = yaml11_differences(data.decode("utf-8"), source)
    if found:
        shown = "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
        warn(
            f"{source}: YAML 1.1 readers (PyYAML safe_load, libyaml tools) read {len(found)} plain scalar(s) "
            f"differently from attestkit's YAML 1.2 ({shown}): quote them, or sign a JSON receipt"
        )


@click.command()
@click.argument("receipt")
@click.option(
    "--key", "key_file", metavar="FILE", help=f"Private key file (PKCS#8 PEM or OpenSSH); or set {SIGNING_KEY_ENV}."
)
@click.option(
    "-o", "--output", metavar="FILE", help="Output file; YAML for .yaml/.yml, JSON otherwise (stdout by default)."
)
@click.option("--signer", metavar="ID", help="Signer identity to record in the receipt (e.g. ci@company.com).")
@click.option("--no-signer", is_flag=True, help="Record no signer identity (drops an existing signer claim).")
@click.option("--replace-signature", is_flag=True, help="Re-sign a receipt that is already signed.")
def sign(
    receipt: str, key_file: str | None, output: str | None, signer: str | None, no_signer: bool, replace_signature: bool
) -> int:
    """Sign RECEIPT (a file, or - for stdin).

    Fills signer_public_key, signature_algorithm and signature. The passphrase of an
    encrypted key comes from ATTESTKIT_KEY_PASSPHRASE.

    A receipt that is already signed is refused unless --replace-signature; one that carries
    a signer claim is refused unless --signer ID (the identity to record) or --no-signer
    (drop it): a new key must not inherit an identity. What was replaced is said on stderr.
    """
    key = load_signing_key(key_file)
    data = read_receipt_bytes(receipt)
    source = "<stdin>" if receipt == "-" else receipt
    parsed = parse_receipt(data, source=source, fmt=format_for_name(receipt))
    _warn_yaml11(data, receipt, source)
    plan = plan_signing(
        parsed.data,
        key.public_key,
        replace_signature=replace_signature,
        signer=signer,
        no_signer=no_signer,
        source="<stdin>" if receipt == "-" else receipt,
    )
    signed = sign_receipt(plan.receipt, key, signer=plan.signer)
    if output is None or output == "-":
        sys.stdout.write(receipt_to_text(signed, "json"))
    else:
        write_atomic(output, receipt_to_text(signed, format_for_name(output) or "json").encode("utf-8"))
    for replaced in plan.replaced:
        warn(f"replaced {replaced}")
    return 0
