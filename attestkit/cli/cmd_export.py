"""``attestkit export``: a receipt as an in-toto statement (receipt, SLSA Provenance or Test Result) in a DSSE envelope."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click

from attestkit.adapters.files import SIGNING_KEY_ENV, load_signing_key, read_receipt_file
from attestkit.cli.params import DURATION, INSTANT, trusted_key_options
from attestkit.cli.reporting import emit
from attestkit.core.crypto.keys import PublicKey


@click.command()
@click.argument("receipt", metavar="RECEIPT|-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["in-toto", "slsa-provenance", "test-result"]),
    default="in-toto",
    show_default=True,
    help="Predicate: the receipt itself, SLSA Provenance v1, or in-toto Test Result v0.1.",
)
@click.option(
    "--artifacts",
    "artifacts_dir",
    metavar="DIR",
    help="Directory holding the outputs: each is checked against the receipt, and subjects get sha256 too.",
)
@click.option(
    "--builder-id",
    metavar="URI",
    help="SLSA builder id (a URI naming the CI that ran the pipeline); slsa-provenance only.",
)
@click.option(
    "--key", "key_file", metavar="FILE", help=f"Signing key file (or {SIGNING_KEY_ENV}); usually the receipt's own key."
)
@trusted_key_options(
    public_key_help="Trusted public key the receipt must verify against (as for verify). Repeatable.",
    keyring_help="File of trusted keys: key lines, PEM blocks or a keyring (as for verify).",
    load_keys=True,
)
@click.option(
    "--integrity-only", is_flag=True, help="Export when the signature verifies against the receipt's embedded key."
)
@click.option("--now", type=INSTANT, help="Pin the current time (RFC 3339 or Unix seconds).")
@click.option(
    "--tolerance", type=DURATION, default="5m", show_default=True, help="Allowed clock skew for future timestamps."
)
@click.option("--scope", metavar="SCOPE", help="Accept only keys whose keyring scopes include this scope.")
@click.option("-o", "--output", metavar="FILE", help="Write the envelope here (default: stdout).")
def export(
    receipt: str,
    fmt: str,
    artifacts_dir: str | None,
    builder_id: str | None,
    key_file: str | None,
    public_keys: tuple[PublicKey, ...],
    trusted_files: tuple[str, ...],
    integrity_only: bool,
    now: datetime | None,
    tolerance: timedelta,
    scope: str | None,
    output: str | None,
) -> int:
    """Wrap RECEIPT in an in-toto Statement v1 inside a DSSE envelope signed with Ed25519.

    Subjects are the recorded outputs (a dir/ output: one per file). With --artifacts DIR each
    output is checked against DIR first (a mismatch refuses the export, exit 1) and subjects
    carry sha256 and blake3; without it they carry blake3 only, which most in-toto consumers
    ignore (a note on stderr says so).

    The receipt is verified first, against the trusted keys given (or, with --integrity-only,
    its embedded key): a receipt that does not verify is not exported (exit 1), and without
    any trust the command is a usage error (exit 2). `attestkit verify` accepts the envelope
    like a receipt (same trust, policy and artifact checks); so does any DSSE verifier given
    the public key.
    """
    import os

    from attestkit.cli.cmd_verify import build_options
    from attestkit.cli.output import warn
    from attestkit.core.intoto.export import make_envelope
    from attestkit.errors import UsageError

    if builder_id is not None and fmt != "slsa-provenance":
        raise UsageError("--builder-id is only for --format slsa-provenance")
    if fmt == "slsa-provenance" and not (builder_id or "").strip():
        raise UsageError("--format slsa-provenance needs --builder-id URI (the id of the CI that ran the pipeline)")
    if artifacts_dir is not None and not os.path.isdir(artifacts_dir):
        raise UsageError(f"--artifacts {artifacts_dir}: no such directory")
    options = build_options(public_keys, trusted_files, integrity_only, (), None, False, None, now, tolerance, scope)
    key = load_signing_key(key_file)
    parsed = read_receipt_file(receipt)
    envelope = make_envelope(parsed, key, options, fmt=fmt, artifacts_dir=artifacts_dir, builder_id=builder_id)
    if artifacts_dir is None:
        warn(
            "note: subjects carry blake3 digests only; tools that match sha256 (cosign, gh attestation, "
            "slsa-verifier) will see no subject: pass --artifacts DIR to add sha256"
        )
    emit(json.dumps(envelope, indent=2) + "\n", output)
    return 0
