"""``attestkit keys``: generate and show Ed25519 keys; edit keyrings through the pure core functions."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from attestkit.adapters.files import (
    load_key_file_public,
    load_private_key_file,
    load_public_key,
    load_trusted_keys_file,
    passphrase_for_new_key,
    read_bytes,
    write_keypair,
)
from attestkit.cli.output import format_table, json_line, out, safe
from attestkit.cli.params import DURATION, INSTANT, PUBLIC_KEY
from attestkit.cli.reporting import emit
from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.timeutil import format_rfc3339, utc_now
from attestkit.core.trust.keyring import ROLES
from attestkit.core.trust.store import REVOCATION_REASONS, TrustStore
from attestkit.errors import TrustStoreError

if TYPE_CHECKING:
    from attestkit.core.trust.delegation import Delegation
    from attestkit.core.trust.graph import ReceiptTrace


@click.group()
def keys() -> None:
    """Generate and inspect keys; manage keyrings (trust, revoke, rotate, delegate)."""


@keys.command()
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Directory for NAME.key and NAME.pub.",
)
@click.option("--name", metavar="NAME", default="attestkit", show_default=True, help="Base name of the key files.")
def generate(out_dir: str, name: str) -> int:
    """Write DIR/NAME.key (PKCS#8 PEM, 0600) and DIR/NAME.pub.

    The private key is encrypted when ATTESTKIT_KEY_PASSPHRASE is set (set but empty is an
    error). Existing files are never overwritten.
    """
    passphrase = passphrase_for_new_key()
    key = PrivateKey.generate()
    key_path, pub_path = write_keypair(out_dir, name, key, passphrase)
    out(f"private key: {safe(str(key_path))}")
    out(f"public key:  {safe(str(pub_path))}")
    out(f"{key.public_key.text}")
    out(f"key id:      {key.public_key.key_id}")
    return 0


@keys.command("show")
@click.argument("keyfile", metavar="FILE")
@click.option("--format", "fmt", type=click.Choice(["text", "pem", "openssh"]), default="text", show_default=True)
def show(keyfile: str, fmt: str) -> int:
    """Print the public key and key id of a private or public key FILE."""
    public = load_key_file_public(keyfile)
    if fmt == "pem":
        out(public.to_pem().decode("ascii").rstrip("\n"))
    elif fmt == "openssh":
        out(public.to_openssh())
    else:
        out(public.text)
        out(f"key id: {public.key_id}")
    return 0


_KEYRING = click.option(
    "--keyring", "keyring_path", required=True, metavar="FILE", help="Keyring file (YAML, see docs/keys.md)."
)


@keys.command("trust")
@click.argument("pubkey", metavar="KEY", type=PUBLIC_KEY)
@_KEYRING
@click.option("--identity", metavar="ID", help="Signer identity, e.g. ci-system@company.com.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE", help="Scope the key is trusted for (repeatable).")
@click.option("--role", "roles", multiple=True, type=click.Choice(list(ROLES)), help="'root' may delegate.")
@click.option("--not-before", type=INSTANT, help="Start of the validity window.")
@click.option("--not-after", type=INSTANT, help="End of the validity window.")
def trust_cmd(pubkey: PublicKey, keyring_path: str, identity: str | None, scopes: tuple[str, ...],
              roles: tuple[str, ...], not_before: datetime | None, not_after: datetime | None) -> int:  # fmt: skip
    """Add KEY (literal or file, any accepted form) to a keyring, atomically."""
    from attestkit.adapters.keyring_files import trust_key

    trust_key(keyring_path, pubkey, identity=identity, scopes=scopes, roles=roles, not_before=not_before,
              not_after=not_after)  # fmt: skip
    out(f"trusted {pubkey.text} (key id {pubkey.key_id}) in {safe(keyring_path)}")
    return 0


keys.add_command(trust_cmd, "import")


def _key_selector(value: str) -> str:
    """A key id or ``ed25519:<hex>`` as given, or the key held by a public key file."""
    if os.path.isfile(value):
        return load_public_key(value).text
    return value


@keys.command("revoke")
@click.argument("keyid", metavar="KEY_ID")
@_KEYRING
@click.option("--reason", required=True, type=click.Choice(list(REVOCATION_REASONS)))
@click.option("--effective-date", type=INSTANT, help="When the revocation takes effect (default: now).")
def revoke_cmd(keyid: str, keyring_path: str, reason: str, effective_date: datetime | None) -> int:
    """Revoke KEY_ID (key id, ed25519:<hex> or a .pub file) in a keyring, atomically.

    A delegated key that the keyring does not list is recorded in its `revocations` (give the
    full key). A revocation is one-way: only a stronger reason or an earlier date is accepted.
    """
    from attestkit.adapters.keyring_files import revoke

    selector = _key_selector(keyid)
    out(f"revoked {safe(keyid)}: {safe(revoke(keyring_path, selector, reason, effective_date or utc_now()))}")
    return 0


@keys.command("rotate")
@_KEYRING
@click.option(
    "--old",
    "old_key",
    required=True,
    metavar="KEY_ID",
    help="The key being replaced: key id, ed25519:<hex> or its .pub file.",
)
@click.option("--out-dir", required=True, metavar="DIR", help="Where to write the new NAME.key and NAME.pub.")
@click.option("--name", metavar="NAME", default="attestkit", show_default=True, help="Base name of the new key files.")
@click.option("--transition", type=DURATION, default="7d", show_default=True, help="How long the old key stays valid.")
def rotate_cmd(keyring_path: str, old_key: str, out_dir: str, name: str, transition: timedelta) -> int:
    """Generate a new key; trust it like the old one; supersede the old one after a transition.

    The new key is valid from now: receipts it signs must be timestamped from now on.
    """
    from attestkit.adapters.keyring_files import rotate

    old_key = _key_selector(old_key)
    now = utc_now()
    passphrase = passphrase_for_new_key()
    new_key, key_path, _ = rotate(keyring_path, old_key, out_dir, name, now, transition, passphrase)
    out(f"new key {new_key.public_key.text} (key id {new_key.public_key.key_id}) written to {safe(str(key_path))}")
    out(f"old key {safe(str(old_key))} superseded from {format_rfc3339(now + transition)}")
    return 0


@keys.command("list")
@_KEYRING
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key (dates as RFC 3339 or null).")
def list_cmd(keyring_path: str, as_json: bool) -> int:
    """Show the keyring: id, identity, window, scopes, roles, status (then revoked delegated keys)."""
    from attestkit.core.trust.keyring import keyring_listing

    rows = keyring_listing(load_trusted_keys_file(keyring_path), utc_now())
    if as_json:
        for row in rows:
            out(json_line(row.to_dict()))
        return 0
    table = [("KEY ID", "IDENTITY", "WINDOW", "SCOPES", "STATUS")]
    for row in rows:
        scopes = ",".join(row.scopes) + (" [root]" if "root" in row.roles else "")
        window = row.window if row.kind == "key" else "-"
        table.append((row.key_id, safe(row.identity or "-"), window, safe(scopes.strip() or "-"), row.status))
    out(format_table(table))
    return 0


@keys.command("check")
@click.argument("keyrings", nargs=-1, required=True)
@click.option(
    "--within", type=DURATION, default="30d", show_default=True, help="Also fail on keys expiring within this."
)
@click.option("--now", type=INSTANT, help="Judge at this time.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per finding.")
def check_cmd(keyrings: tuple[str, ...], within: timedelta, now: datetime | None, as_json: bool) -> int:
    """Check KEYRING files for expired or soon-expiring keys (exit 1 if any; a pre-commit hook).

    Revoked keys and keys without not_after are not findings.
    """
    from attestkit.core.timeutil import human_duration
    from attestkit.core.trust.expiry import expiring_keys

    period = within
    instant = now if now is not None else utc_now()
    found = 0
    for path in keyrings:
        for finding in expiring_keys(load_trusted_keys_file(path), instant, period):
            found += 1
            if as_json:
                out(json_line({"keyring": path, **finding.to_dict()}))
            else:
                out(safe(f"{path}: {finding.message}"))
    if not as_json:
        checked = f"{len(keyrings)} keyring{'s' if len(keyrings) != 1 else ''}"
        warned = human_duration(period)
        print(
            f"{found} expired or expiring key{'s' if found != 1 else ''} in {checked} (within {warned})",
            file=sys.stderr,
        )
    return 1 if found else 0


def _statements(paths: tuple[str, ...]) -> list[Delegation]:
    from attestkit.core.receipt.reader import parse_document
    from attestkit.core.trust.delegation import parse_delegation

    found: list[Delegation] = []
    for path in paths:
        document = parse_document(read_bytes(path, "delegation statement"), source=path, fmt="json")
        try:
            found.append(parse_delegation(document))
        except TrustStoreError as exc:
            raise exc.prefixed(f"{path}: ") from None
    return found


@keys.command("delegate")
@click.option(
    "--key",
    "root_key",
    required=True,
    metavar="FILE",
    help="The delegating private key file (a root, or a key delegated with may_delegate).",
)
@click.option(
    "--delegate", "delegate_key", required=True, type=PUBLIC_KEY, help="Public key being authorised (literal or file)."
)
@_KEYRING
@click.option(
    "--via", "via", multiple=True, metavar="FILE", help="Delegation statement that lets --key re-delegate (repeatable)."
)
@click.option("--identity", metavar="ID", help="Identity the delegated key signs as.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE", help="Scope granted (repeatable).")
@click.option("--not-before", type=INSTANT, help="Start of the delegation window (default: now).")
@click.option("--not-after", type=INSTANT, help="End of the delegation window.")
@click.option("--may-delegate", is_flag=True, help="Let the delegate delegate in turn (never more than it holds).")
@click.option("-o", "--output", metavar="FILE", help="Write the statement here (default: stdout).")
def delegate_cmd(root_key: str, delegate_key: PublicKey, keyring_path: str, via: tuple[str, ...],
                 identity: str | None, scopes: tuple[str, ...], not_before: datetime | None,
                 not_after: datetime | None, may_delegate: bool,
                 output: str | None) -> int:  # fmt: skip
    """Create a signed delegation statement (add it to a keyring's `delegations` or a receipt's).

    The statement is checked against --keyring first: the key must be a root there, or be
    delegated with may_delegate (--via), and may only narrow identity, scopes and window.
    """
    from attestkit.core.trust.chain import check_can_delegate
    from attestkit.core.trust.delegation import create_delegation, parse_delegation

    store = load_trusted_keys_file(keyring_path)
    root = load_private_key_file(root_key)
    now = utc_now()
    statement = create_delegation(
        root,
        delegate_key,
        identity=identity,
        scopes=scopes,
        not_before=not_before or now,
        not_after=not_after,
        issued_at=now,
        may_delegate=may_delegate,
    )
    check_can_delegate(parse_delegation(statement), store, now, via=_statements(via))
    emit(json.dumps(statement, indent=2) + "\n", output)
    return 0


keys.add_command(show, "export")


@keys.command("graph")
@_KEYRING
@click.option(
    "--receipt",
    "receipts",
    multiple=True,
    metavar="FILE",
    help="Receipt to place on the graph with its chain (repeatable).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["dot", "mermaid", "svg"]), default="dot", show_default=True,
    help="Graphviz DOT, Mermaid, or SVG drawn by Graphviz's dot.",
)  # fmt: skip
@click.option("--now", type=INSTANT, help="Judge revocations and receipts at this time (RFC 3339 or Unix seconds).")
@click.option("--scope", metavar="SCOPE", help="Verify the receipts for this scope, as verify --scope does.")
@click.option("-o", "--output", metavar="FILE", help="Write the graph here, atomically (default: stdout).")
def graph_cmd(keyring_path: str, receipts: tuple[str, ...], fmt: str, now: datetime | None, scope: str | None,
              output: str | None) -> int:  # fmt: skip
    """Draw a keyring's trust: roots, keys, delegations, revocations, and each receipt's chain.

    Exit 0 when every --receipt verified (signature, trust, timestamp; no policies), 1 when
    one did not: the graph is written either way.
    """
    from attestkit.core.trust.graph import build_graph, to_dot, to_mermaid

    store = load_trusted_keys_file(keyring_path)
    moment = now or utc_now()
    traces = [_trace(path, store, moment, scope) for path in receipts]
    graph = build_graph(store, traces, moment)
    if fmt == "mermaid":
        emit(to_mermaid(graph), output)
    elif fmt == "dot":
        emit(to_dot(graph), output)
    else:
        from attestkit.adapters.graphviz import render_svg

        svg = render_svg(to_dot(graph))
        if output is None or output == "-":
            sys.stdout.buffer.write(svg)
        else:
            from attestkit.adapters.files import write_atomic

            write_atomic(output, svg)
    return 0 if all(t.valid for t in traces) else 1


def _carried(document: Any) -> tuple[Delegation, ...]:
    """The delegation statements a receipt carries that parse (at most as many as verify reads)."""
    from attestkit.core.trust.chain import MAX_RECEIPT_DELEGATIONS
    from attestkit.core.trust.delegation import parse_delegation

    statements = document.get("delegations") if isinstance(document, dict) else None
    if not isinstance(statements, list) or len(statements) > MAX_RECEIPT_DELEGATIONS:
        return ()
    found = []
    for statement in statements:
        try:
            found.append(parse_delegation(statement))
        except TrustStoreError:
            continue  # unusable: verification ignores it too, and says so in the trust message
    return tuple(found)


def _trace(path: str, store: TrustStore, now: datetime, scope: str | None) -> ReceiptTrace:
    """Verify one receipt against the keyring (no policies) and keep what the graph shows."""
    from attestkit.adapters.files import read_receipt_bytes
    from attestkit.core.receipt.reader import format_for_name, parse_document
    from attestkit.core.trust.graph import ReceiptTrace
    from attestkit.core.verify.verifier import VerifyOptions, malformed_result, verify_document
    from attestkit.errors import MalformedReceiptError

    options = VerifyOptions(trusted=store, now=now, scope=scope)
    label = "<stdin>" if path == "-" else path
    carried: tuple[Delegation, ...] = ()
    try:
        document = parse_document(read_receipt_bytes(path), source=label, fmt=format_for_name(path))
        result = verify_document(document, options, source=label)
        carried = _carried(document)
    except MalformedReceiptError as exc:
        result = malformed_result(label, exc, options)
    return ReceiptTrace(label, result.key_id, result.chain_of_trust, result.chain, result.valid, carried)
