"""``attestkit keys``: generate and show Ed25519 keys."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import click

from attestkit.adapters.files import (
    PASSPHRASE_ENV,
    load_private_key_file,
    load_public_key,
    load_trusted_keys_file,
    update_keyring,
    write_keypair,
)
from attestkit.cli.output import json_line, out
from attestkit.cli.reporting import emit
from attestkit.core.keys import PrivateKey, PublicKey, parse_public_key
from attestkit.core.timeutil import format_rfc3339, parse_duration, parse_instant, utc_now
from attestkit.errors import KeyFormatError, UsageError


@click.group()
def keys() -> None:
    """Generate and inspect keys; manage keyrings (trust, revoke, rotate, delegate)."""


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


@keys.command("show")
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


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except UsageError:
        raise UsageError(f"{option}: use RFC 3339 or Unix seconds") from None


def _matches(item: dict[str, Any], selector: str) -> bool:
    text = item.get("public_key", "")
    try:
        key = parse_public_key(text)
    except KeyFormatError:
        return False
    return selector in (key.key_id, key.text) or selector.lower() == key.text.lower()


def _find(document: dict[str, Any], selector: str, path: str) -> dict[str, Any]:
    found = [item for item in document.get("keys", []) if isinstance(item, dict) and _matches(item, selector)]
    if not found:
        raise UsageError(f"{path}: no key {selector!r} in the keyring")
    return found[0]


def _trust_entry(public: PublicKey, identity: str | None, scopes: tuple[str, ...], roles: tuple[str, ...],
                 not_before: datetime | None, not_after: datetime | None) -> dict[str, Any]:  # fmt: skip
    entry: dict[str, Any] = {"public_key": public.text}
    if identity:
        entry["identity"] = identity
    if not_before:
        entry["not_before"] = format_rfc3339(not_before)
    if not_after:
        entry["not_after"] = format_rfc3339(not_after)
    if scopes:
        entry["scopes"] = list(scopes)
    if roles:
        entry["roles"] = list(roles)
    return entry


def _add(document: dict[str, Any], entry: dict[str, Any], path: str) -> None:
    keys = document.setdefault("keys", [])
    if any(isinstance(item, dict) and _matches(item, entry["public_key"]) for item in keys):
        raise UsageError(f"{path}: key {entry['public_key']} is already in the keyring")
    keys.append(entry)


_KEYRING = click.option("--keyring", "keyring_path", required=True, help="Keyring file (YAML, see docs/keys.md).")


@keys.command("trust")
@click.argument("pubkey")
@_KEYRING
@click.option("--identity", help="Signer identity, e.g. ci-system@company.com.")
@click.option("--scope", "scopes", multiple=True, help="Scope the key is trusted for (repeatable).")
@click.option("--role", "roles", multiple=True, type=click.Choice(["root", "signer"]), help="'root' may delegate.")
@click.option("--not-before", help="Start of the validity window.")
@click.option("--not-after", help="End of the validity window.")
def trust_cmd(pubkey: str, keyring_path: str, identity: str | None, scopes: tuple[str, ...], roles: tuple[str, ...],
              not_before: str | None, not_after: str | None) -> int:  # fmt: skip
    """Add PUBKEY (literal or file, any accepted form) to a keyring, atomically."""
    public = load_public_key(pubkey)
    entry = _trust_entry(
        public, identity, scopes, roles, _when(not_before, "--not-before"), _when(not_after, "--not-after")
    )
    update_keyring(keyring_path, lambda doc: _add(doc, entry, keyring_path))
    out(f"trusted {public.text} (key id {public.key_id}) in {keyring_path}")
    return 0


keys.add_command(trust_cmd, "import")


@keys.command("revoke")
@click.argument("keyid")
@_KEYRING
@click.option("--reason", required=True, type=click.Choice(["key-compromise", "superseded", "retired"]))
@click.option("--effective-date", help="When the revocation takes effect (default: now).")
def revoke_cmd(keyid: str, keyring_path: str, reason: str, effective_date: str | None) -> int:
    """Revoke KEYID (key id or ed25519:<hex>) in a keyring, atomically."""
    moment = _when(effective_date, "--effective-date") or utc_now()

    def change(document: dict[str, Any]) -> None:
        item = _find(document, keyid, keyring_path)
        item["revoked_at"] = format_rfc3339(moment)
        item["reason"] = reason

    update_keyring(keyring_path, change)
    out(f"revoked {keyid} ({reason}) from {format_rfc3339(moment)}")
    return 0


@keys.command("rotate")
@_KEYRING
@click.option("--old", "old_key", required=True, help="Key id (or ed25519:<hex>) of the key being replaced.")
@click.option("--out-dir", required=True, help="Where to write the new NAME.key and NAME.pub.")
@click.option("--name", default="attestkit", show_default=True)
@click.option("--transition", default="7d", show_default=True, help="How long the old key stays valid.")
def rotate_cmd(keyring_path: str, old_key: str, out_dir: str, name: str, transition: str) -> int:
    """Generate a new key; trust it like the old one; supersede the old one after a transition."""
    try:
        overlap = parse_duration(transition)
    except ValueError as exc:
        raise UsageError(f"--transition: {exc}") from None
    now = utc_now()
    new_key = PrivateKey.generate()

    def change(document: dict[str, Any]) -> None:
        old = _find(document, old_key, keyring_path)
        entry = {k: v for k, v in old.items() if k in ("identity", "scopes", "roles", "not_after")}
        entry = {"public_key": new_key.public_key.text, **entry, "not_before": format_rfc3339(now)}
        entry.pop("not_after", None)
        _add(document, entry, keyring_path)
        old["revoked_at"] = format_rfc3339(now + overlap)
        old["reason"] = "superseded"

    passphrase = os.environ.get(PASSPHRASE_ENV)
    key_path, pub_path = write_keypair(out_dir, name, new_key, passphrase.encode("utf-8") if passphrase else None)
    try:
        update_keyring(keyring_path, change)
    except Exception:
        os.unlink(key_path)
        os.unlink(pub_path)
        raise
    out(f"new key {new_key.public_key.text} (key id {new_key.public_key.key_id}) written to {key_path}")
    out(f"old key {old_key} superseded from {format_rfc3339(now + overlap)}")
    return 0


@keys.command("list")
@_KEYRING
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def list_cmd(keyring_path: str, as_json: bool) -> int:
    """Show the keyring: id, identity, window, scopes, roles, status."""
    store = load_trusted_keys_file(keyring_path)
    now = utc_now()
    rows: list[dict[str, Any]] = []
    for entry in store.keys:
        if entry.revoked_at is not None and (entry.revocation_reason == "key-compromise" or now >= entry.revoked_at):
            status = f"revoked ({entry.revocation_reason})"
        elif entry.revoked_at is not None:
            status = f"active until {format_rfc3339(entry.revoked_at)} ({entry.revocation_reason})"
        elif entry.not_after is not None and now > entry.not_after:
            status = "expired"
        elif entry.not_before is not None and now < entry.not_before:
            status = "not yet valid"
        else:
            status = "active"
        window = f"{format_rfc3339(entry.not_before) if entry.not_before else '-'} .. {format_rfc3339(entry.not_after) if entry.not_after else '-'}"
        rows.append({"key_id": entry.public_key.key_id, "public_key": entry.public_key.text, "identity": entry.identity,
                     "window": window, "scopes": list(entry.scopes), "roles": list(entry.roles), "status": status})  # fmt: skip
    if as_json:
        for row in rows:
            out(json_line(row))
        return 0
    out(f"{'KEY ID':<16}  {'IDENTITY':<28}  {'WINDOW':<44}  {'SCOPES':<20}  STATUS")
    for row in rows:
        scopes = ",".join(row["scopes"]) + (" [root]" if "root" in row["roles"] else "")
        out(
            f"{row['key_id']:<16}  {row['identity'] or '-':<28}  {row['window']:<44}  {scopes or '-':<20}  {row['status']}"
        )
    return 0


@keys.command("delegate")
@click.option("--key", "root_key", required=True, help="The delegating (root) private key file.")
@click.option("--delegate", "delegate_key", required=True, help="Public key being authorised (literal or file).")
@click.option("--identity", help="Identity the delegated key signs as.")
@click.option("--scope", "scopes", multiple=True, help="Scope granted (repeatable).")
@click.option("--not-before", help="Start of the delegation window (default: now).")
@click.option("--not-after", help="End of the delegation window.")
@click.option("-o", "--output", help="Write the statement here (default: stdout).")
def delegate_cmd(root_key: str, delegate_key: str, identity: str | None, scopes: tuple[str, ...], not_before: str | None,
                 not_after: str | None, output: str | None) -> int:  # fmt: skip
    """Create a signed delegation statement (add it to a keyring's `delegations` or a receipt's)."""
    from attestkit.core.delegation import create_delegation

    root = load_private_key_file(root_key)
    statement = create_delegation(
        root,
        load_public_key(delegate_key),
        identity=identity,
        scopes=scopes,
        not_before=_when(not_before, "--not-before") or utc_now(),
        not_after=_when(not_after, "--not-after"),
        issued_at=utc_now(),
    )
    emit(json.dumps(statement, indent=2) + "\n", output)
    return 0


keys.add_command(show, "export")
