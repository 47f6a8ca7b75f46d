"""``attestkit log``: an append-only receipt log in the C2SP tlog formats, and a witness."""

from __future__ import annotations

import sys
import time
from datetime import datetime

import click

from attestkit.cli.output import error, json_line, out, safe, warn
from attestkit.cli.params import INSTANT
from attestkit.errors import NoteVerificationError, TlogConfigError, UsageError

_KEY_HELP = "The log's signing key (default: DIR.key, next to the log directory)."


@click.group("log")
def log() -> None:
    """Run a transparency log of receipts (tlog-tiles), prove inclusion, witness checkpoints."""


@log.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--origin", metavar="ORIGIN", required=True, help="The log's origin line and key name, e.g. example.com/ci-log."
)
@click.option("--key", "key_path", metavar="FILE", help="Where to write the log key (default: DIR.key, mode 0600).")
def init(directory: str, origin: str, key_path: str | None) -> int:
    """Create an empty log in DIRECTORY and print its vkey."""
    from attestkit.adapters.tlog_store import check_origin, default_key_path, init_log

    check_origin(origin)
    path = key_path or default_key_path(directory)
    signer = init_log(directory, origin, path)
    out(signer.verifier.vkey)
    warn(f"log key written to {path} (mode 0600); keep it out of the published directory")
    return 0


@log.command("append")
@click.argument("directory", type=click.Path(file_okay=False))
@click.argument("receipts", nargs=-1, required=True)
@click.option("--key", "key_path", metavar="FILE", help=_KEY_HELP)
@click.option("--no-checkpoint", is_flag=True, help="Sequence only; sign the checkpoint later with 'log checkpoint'.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per receipt.")
def append(directory: str, receipts: tuple[str, ...], key_path: str | None, no_checkpoint: bool, as_json: bool) -> int:
    """Append a commitment to each RECEIPT (signature checked first; all or none are appended)."""
    from attestkit.adapters.files import read_receipt_file
    from attestkit.adapters.tlog_store import FileLog, default_key_path, read_key_file
    from attestkit.core.tlog.entry import receipt_entry

    entries = []
    for path in receipts:
        entries.append(receipt_entry(read_receipt_file(path)))
    signer = None if no_checkpoint else read_key_file(key_path or default_key_path(directory))
    store = FileLog(directory)
    with store.writer():
        first, state = store.append(entries)
        if signer is not None:
            store.checkpoint(signer)
    for offset, path in enumerate(receipts):
        index = first + offset
        out(json_line({"receipt": path, "index": index, "size": state.size}) if as_json else f"{index}  {safe(path)}")
    return 0


@log.command("checkpoint")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--key", "key_path", metavar="FILE", help=_KEY_HELP)
def checkpoint(directory: str, key_path: str | None) -> int:
    """Sign a checkpoint of everything appended; refuses one inconsistent with the last signed."""
    from attestkit.adapters.tlog_store import FileLog, default_key_path, read_key_file

    signer = read_key_file(key_path or default_key_path(directory))
    store = FileLog(directory)
    with store.writer():
        signed, new = store.checkpoint(signer)
    sys.stdout.write(signed.raw)
    if not new:
        warn(f"size {signed.checkpoint.size} was already checkpointed; nothing new to sign")
    return 0


def _log_key(source: object, vkey: str | None) -> object:
    from attestkit.adapters.tlog_store import STATE_FILE, FileLog
    from attestkit.core.tlog.note import ALG_ED25519, parse_vkey

    if vkey is not None:
        key = parse_vkey(vkey)
        if key.alg != ALG_ED25519:
            raise TlogConfigError("--vkey must be a log key (signature type 0x01)")
        return key
    if isinstance(source, FileLog):
        import os

        if os.path.exists(source.path(STATE_FILE)):
            return source.verifier()
    raise UsageError("give the log's public key with --vkey (needed for a log without attestkit state or over HTTP)")


@log.command("prove")
@click.argument("log_location", metavar="LOG")
@click.argument("receipt")
@click.option("-o", "--output", "output_file", metavar="FILE", required=True, help="The .tlog-proof file to write.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    metavar="FILE",
    help="Prove against this (cosigned) checkpoint file instead of LOG/checkpoint.",
)
@click.option("--vkey", metavar="VKEY", help="The log's vkey (default: from the log directory's state).")
def prove(log_location: str, receipt: str, output_file: str, checkpoint_file: str | None, vkey: str | None) -> int:
    """Write a c2sp.org/tlog-proof@v1 file proving RECEIPT's entry is in LOG (a directory or URL)."""
    from attestkit.adapters.files import read_bytes, read_receipt_file, write_atomic
    from attestkit.adapters.tlog_store import open_source
    from attestkit.adapters.tlog_store import prove as prove_leaf
    from attestkit.core.tlog.checkpoint import open_checkpoint
    from attestkit.core.tlog.entry import receipt_leaf_hash
    from attestkit.core.tlog.note import Verifier
    from attestkit.core.tlog.proof import make_tlog_proof

    leaf = receipt_leaf_hash(read_receipt_file(receipt))
    source = open_source(log_location)
    key = _log_key(source, vkey)
    assert isinstance(key, Verifier)
    if checkpoint_file is not None:
        data = read_bytes(checkpoint_file, "checkpoint")
        try:
            signed = open_checkpoint(data, [key])
        except NoteVerificationError as exc:
            raise exc.prefixed(f"{checkpoint_file}: ") from None
    else:
        signed = source.read_checkpoint("checkpoint", [key])
    index, proof = prove_leaf(source, leaf, signed)
    write_atomic(output_file, make_tlog_proof(index, proof, signed.raw).encode())
    warn(f"{receipt}: entry {index} of {signed.checkpoint.origin} at size {signed.checkpoint.size} -> {output_file}")
    return 0


@log.command("verify")
@click.argument("log_location", metavar="LOG")
@click.option("--vkey", metavar="VKEY", help="The log's vkey (default: from the log directory's state).")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary line.")
def verify(log_location: str, vkey: str | None, as_json: bool) -> int:
    """Recompute every tile from the entries; check every checkpoint's signature, root and consistency with the next."""
    from attestkit.adapters.tlog_store import audit_directory, open_source
    from attestkit.core.tlog.note import Verifier, b64encode

    source = open_source(log_location)
    key = _log_key(source, vkey)
    assert isinstance(key, Verifier)
    report, latest = audit_directory(source, key)
    summary = {
        "valid": True,
        "origin": latest.checkpoint.origin,
        "size": report.size,
        "root": b64encode(report.root),
        "tiles": report.tiles,
        "checkpoints": report.checkpoints,
    }
    if as_json:
        out(json_line(summary))
    else:
        out(
            f"VALID  {log_location}: {report.size} entries, {report.tiles} tiles and {report.checkpoints}"
            f" checkpoints recomputed and consistent ({latest.checkpoint.origin})"
        )
    return 0


# ---- witness ------------------------------------------------------------------------


@log.command("cosign")
@click.argument("checkpoint_file", metavar="CHECKPOINT")
@click.option(
    "--key", "key_path", metavar="FILE", required=True, help="The witness key (an skey of type 0x04, mode 0600)."
)
@click.option(
    "--state",
    "state_dir",
    metavar="DIR",
    required=True,
    help="The witness state directory (latest cosigned per origin).",
)
@click.option(
    "--log-vkey",
    "log_vkeys",
    multiple=True,
    required=True,
    metavar="VKEY",
    help="A log key the witness trusts (repeatable).",
)
@click.option(
    "--log", "log_location", metavar="LOG", help="Compute the consistency proof from this log (directory or URL)."
)
@click.option(
    "--proof", "proof_file", metavar="FILE", help="A consistency proof file: 'old N' then one base64 hash per line."
)
@click.option(
    "-o", "--output", "output_file", metavar="FILE", help="Write the cosigned checkpoint here (default: stdout)."
)
@click.option("--now", type=INSTANT, help="Pin the cosignature time (RFC 3339 or Unix seconds; default: the clock).")
def cosign_cmd(
    checkpoint_file: str,
    key_path: str,
    state_dir: str,
    log_vkeys: tuple[str, ...],
    log_location: str | None,
    proof_file: str | None,
    output_file: str | None,
    now: datetime | None,
) -> int:
    """Witness CHECKPOINT: verify it extends the stored one, refuse rollback or fork, add a cosignature/v1."""
    from attestkit.adapters.files import read_bytes, write_atomic
    from attestkit.adapters.tlog_store import open_source, read_key_file
    from attestkit.adapters.tlog_witness import WitnessState
    from attestkit.core.tlog.checkpoint import open_checkpoint
    from attestkit.core.tlog.merkle import consistency_proof
    from attestkit.core.tlog.note import ALG_COSIGNATURE_V1, ALG_ED25519, parse_vkey
    from attestkit.core.tlog.tiles import TileHashSource
    from attestkit.core.tlog.witness import check_update, cosign, parse_request

    if (log_location is None) == (proof_file is None):
        raise UsageError("give exactly one of --log (compute the proof) or --proof FILE")
    moment = int(time.time())
    if now is not None:
        moment = int(now.timestamp())
        if moment <= 0:
            raise UsageError("--now must be after 1970")
    signer = read_key_file(key_path, alg=ALG_COSIGNATURE_V1)
    keys = [parse_vkey(v) for v in log_vkeys]
    if any(k.alg != ALG_ED25519 for k in keys):
        raise TlogConfigError("--log-vkey must be log keys (signature type 0x01)")
    data = read_bytes(checkpoint_file, "checkpoint")
    try:
        signed = open_checkpoint(data, keys)
    except NoteVerificationError as exc:
        raise exc.prefixed(f"{checkpoint_file}: ") from None
    new = signed.checkpoint
    state = WitnessState(state_dir)
    with state.locked():
        stored = state.load(new.origin)
        old_size = 0 if stored is None else stored.size
        if proof_file is not None:
            body = read_bytes(proof_file, "consistency proof")
            try:
                given_old, proof, _ = parse_request(body if b"\n\n" in body else body + b"\n")
            except ValueError as exc:
                raise TlogConfigError(f"{proof_file}: {exc}") from None
            if given_old != old_size:
                raise UsageError(f"{proof_file}: the proof is from size {given_old}; the witness holds size {old_size}")
        elif 0 < old_size < new.size:
            source = open_source(log_location or "")
            proof = consistency_proof(TileHashSource(new.size, source.read_tile), old_size, new.size)
        else:
            proof = []
        check_update(stored, new, proof)
        line = cosign(signer, signed.raw, new, moment)
        state.store(new)
    text = signed.raw + line
    if output_file is None:
        sys.stdout.write(text)
    else:
        write_atomic(output_file, text.encode())
    warn(f"cosigned {new.origin} at size {new.size} (was {old_size}) as {signer.name}")
    return 0


@log.group("witness")
def witness() -> None:
    """Run a witness: make its key, serve the tlog-witness add-checkpoint endpoint."""


@witness.command("keygen")
@click.option("--name", metavar="NAME", required=True, help="The witness's key name, e.g. witness.example.com/w1.")
@click.option("--key", "key_path", metavar="FILE", required=True, help="Where to write the witness key (mode 0600).")
def keygen(name: str, key_path: str) -> int:
    """Write a new cosignature/v1 witness key and print its vkey."""
    from attestkit.adapters.tlog_store import write_key_file
    from attestkit.core.crypto.keys import PrivateKey
    from attestkit.core.tlog.note import ALG_COSIGNATURE_V1, signer_from_key

    signer = signer_from_key(name, PrivateKey.generate(), ALG_COSIGNATURE_V1)
    write_key_file(key_path, signer)
    out(signer.verifier.vkey)
    return 0


@witness.command("serve")
@click.option(
    "--key", "key_path", metavar="FILE", required=True, help="The witness key (an skey of type 0x04, mode 0600)."
)
@click.option("--state", "state_dir", metavar="DIR", required=True, help="The witness state directory.")
@click.option(
    "--log-vkey", "log_vkeys", metavar="VKEY", multiple=True, required=True, help="A log key to witness (repeatable)."
)
@click.option(
    "--host", metavar="HOST", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port (0: any free port).")
def serve(key_path: str, state_dir: str, log_vkeys: tuple[str, ...], host: str, port: int) -> int:
    """Serve POST /add-checkpoint (c2sp.org/tlog-witness) until interrupted."""
    from attestkit.adapters.tlog_store import read_key_file
    from attestkit.adapters.tlog_witness import WitnessState, make_server
    from attestkit.core.tlog.note import ALG_COSIGNATURE_V1, ALG_ED25519, Verifier, parse_vkey

    signer = read_key_file(key_path, alg=ALG_COSIGNATURE_V1)
    logs: dict[str, list[Verifier]] = {}
    for text in log_vkeys:
        key = parse_vkey(text)
        if key.alg != ALG_ED25519:
            raise TlogConfigError("--log-vkey must be log keys (signature type 0x01)")
        logs.setdefault(key.name, []).append(key)
    try:
        server = make_server(host, port, logs, WitnessState(state_dir), signer)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    out(f"http://{bound_host}:{bound_port}/add-checkpoint")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        error("witness stopped")
    finally:
        server.server_close()
    return 0
