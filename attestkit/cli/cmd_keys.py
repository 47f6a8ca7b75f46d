"""``attestkit keys``: generate and show Ed25519 keys."""

from __future__ import annotations

import os

import click

from attestkit.adapters.files import PASSPHRASE_ENV, load_private_key_file, load_public_key, write_keypair
from attestkit.cli.output import out
from attestkit.core.keys import PrivateKey
from attestkit.errors import KeyFormatError


@click.group()
def keys() -> None:
    """Generate and inspect Ed25519 keys."""


@keys.command()
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Directory for NAME.key and NAME.pub.")
@click.option("--name", default="attestkit", show_default=True, help="Base name of the key files.")
def generate(out_dir: str, name: str) -> int:
    """Write DIR/NAME.key (PKCS#8 PEM, 0600) and DIR/NAME.pub.

    The private key is encrypted when ATTESTKIT_KEY_PASSPHRASE is set. Existing files are
    never overwritten.
    """
    passphrase = os.environ.get(PASSPHRASE_ENV)
    key = PrivateKey.generate()
    key_path, pub_path = write_keypair(out_dir, name, key, passphrase.encode("utf-8") if passphrase else None)
    out(f"private key: {key_path}")
    out(f"public key:  {pub_path}")
    out(f"{key.public_key.text}")
    out(f"key id:      {key.public_key.key_id}")
    return 0


@keys.command()
@click.argument("keyfile")
@click.option("--format", "fmt", type=click.Choice(["text", "pem", "openssh"]), default="text", show_default=True)
def show(keyfile: str, fmt: str) -> int:
    """Print the public key and key id of a private or public key file."""
    try:
        with open(keyfile, "rb") as handle:
            head = handle.read(64)
    except OSError:
        head = b""
    if b"PRIVATE KEY" in head:
        public = load_private_key_file(keyfile).public_key
    else:
        try:
            public = load_public_key(keyfile)
        except KeyFormatError as exc:
            raise KeyFormatError(f"{exc.message}") from None
    if fmt == "pem":
        out(public.to_pem().decode("ascii").rstrip("\n"))
    elif fmt == "openssh":
        out(public.to_openssh())
    else:
        out(public.text)
        out(f"key id: {public.key_id}")
    return 0
