"""The log on disk and its CLI: init, append, checkpoint, prove, verify; the Tessera log;
crash safety; HTTP reading; and an independent, spec-only reader of attestkit's logs."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nacl.bindings
import pytest

from attestkit.adapters.tlog_store import FileLog, audit_directory, init_log, open_source, prove, read_key_file
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.reader import receipt_from_mapping
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.tlog import parse_vkey
from attestkit.core.tlog.entry import receipt_entry, receipt_leaf_hash
from attestkit.core.tlog.tiles import tile_path
from attestkit.errors import AttestkitError, LogCorruptError, LogStateError
from tests.conftest import CliResult, assert_one_line_error, external, load_json, make_receipt, write_json

TESSERA_VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
ORIGIN = "example.com/ci-log"


def _receipts(tmp_path: Path, key: PrivateKey, count: int, start: int = 0) -> list[Path]:
    paths = []
    for i in range(start, start + count):
        receipt = sign_receipt(make_receipt(pipeline_hash="blake3:" + f"{i:064x}"), key)
        paths.append(write_json(tmp_path / f"r{i}.json", receipt))
    return paths


# ---- an independent reader: nothing but the specs, hashlib, base64 and libsodium -------


def _spec_sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _spec_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, written from the definition (recursive split at the largest power of two)."""
    if not leaves:
        return _spec_sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _spec_sha(b"\x01" + _spec_mth(leaves[:k]) + _spec_mth(leaves[k:]))


def _spec_read_log(directory: Path, vkey: str) -> tuple[str, int, bytes, list[bytes]]:
    """Read a log with the C2SP texts only: open the checkpoint, read bundles, check level-0 tiles and the root."""
    name, key_hash, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 1 and len(key) == 33
    assert _spec_sha(name.encode() + b"\n" + key)[:4].hex() == key_hash
    note = (directory / "checkpoint").read_text(encoding="utf-8")
    text, sigs = note[: note.rindex("\n\n") + 1], note[note.rindex("\n\n") + 2 :]
    verified = False
    for line in sigs.splitlines():
        dash, signer, blob_b64 = line.split(" ")
        blob = base64.b64decode(blob_b64)
        if dash == "\u2014" and signer == name and blob[:4].hex() == key_hash:
            nacl.bindings.crypto_sign_open(blob[4:] + text.encode(), key[1:])
            verified = True
    assert verified
    origin, size_text, root_b64 = text.splitlines()[:3]
    size = int(size_text)
    entries: list[bytes] = []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        suffix = "" if width == 256 else f".p/{width}"
        bundle = (directory / "tile" / "entries" / (f"{n:03d}" + suffix)).read_bytes()
        tile = (directory / "tile" / "0" / (f"{n:03d}" + suffix)).read_bytes()
        offset, got = 0, []
        while offset < len(bundle):
            length = int.from_bytes(bundle[offset : offset + 2], "big")
            got.append(bundle[offset + 2 : offset + 2 + length])
            offset += 2 + length
        assert len(got) == width and len(tile) == 32 * width
        for i, entry in enumerate(got):
            assert tile[32 * i : 32 * i + 32] == _spec_sha(b"\x00" + entry)
        entries += got
    root = _spec_mth([_spec_sha(b"\x00" + e) for e in entries])
    assert base64.b64decode(root_b64) == root
    return origin, size, root, entries


def _spec_check_proof(proof_file: Path, leaf: bytes) -> int:
    """Verify a .tlog-proof with RFC 9162 2.1.3.2 written out here, independent of attestkit."""
    text = proof_file.read_text(encoding="utf-8")
    head, checkpoint = text.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("index ")
    index = int(lines[1][6:])
    path = [base64.b64decode(x) for x in lines[2:]]
    _, size_text, root_b64 = checkpoint.split("\n")[:3]
    fn, sn, r = index, int(size_text) - 1, leaf
    for p in path:
        if fn % 2 == 1 or fn == sn:
            r = _spec_sha(b"\x01" + p + r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _spec_sha(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == base64.b64decode(root_b64)
    return index


# ---- the CLI flow -------------------------------------------------------------------


def test_cli_log_flow_read_back_by_an_independent_reader(
    tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]
) -> None:
    result = cli("log", "init", "log", "--origin", ORIGIN)
    assert result.code == 0, result.err
    vkey = result.out.strip()
    assert parse_vkey(vkey).name == ORIGIN
    key_file = tmp_path / "log.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not any("PRIVATE" in p.read_text(errors="replace") for p in (tmp_path / "log").rglob("*") if p.is_file())
    receipts = _receipts(tmp_path, key, 5)
    result = cli("log", "append", "log", *map(str, receipts[:3]))
    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"{i}  {receipts[i]}" for i in range(3)]
    result = cli("log", "append", "log", "--no-checkpoint", "--json", *map(str, receipts[3:]))
    assert result.code == 0 and result.json_lines()[-1] == {"receipt": str(receipts[4]), "index": 4, "size": 5}
    assert _spec_read_log(tmp_path / "log", vkey)[1] == 3  # not yet checkpointed
    result = cli("log", "checkpoint", "log")
    assert result.code == 0 and result.out.startswith(f"{ORIGIN}\n5\n")
    origin, size, _, entries = _spec_read_log(tmp_path / "log", vkey)
    assert (origin, size) == (ORIGIN, 5)
    receipt = load_json(receipts[2])
    assert entries[2].decode().splitlines()[0] == "attestkit.receipt-entry/v1"
    assert entries[2].decode().splitlines()[3] == "signer " + receipt["signer_public_key"]
    result = cli("log", "prove", "log", str(receipts[2]), "-o", "r2.tlog-proof")
    assert result.code == 0, result.err
    assert _spec_check_proof(tmp_path / "r2.tlog-proof", _spec_sha(b"\x00" + entries[2])) == 2
    result = cli("log", "verify", "log", "--json")
    assert result.code == 0 and result.json_lines()[0]["size"] == 5 and result.json_lines()[0]["checkpoints"] == 3


def test_append_refuses_an_invalid_receipt_and_appends_nothing(
    tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]
) -> None:
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    good = _receipts(tmp_path, key, 1)[0]
    tampered = load_json(good)
    tampered["total_duration_secs"] = 1.0
    bad = write_json(tmp_path / "bad.json", tampered)
    result = cli("log", "append", "log", str(good), str(bad))
    assert result.code == 1 and "bad.json" in result.err
    assert_one_line_error(result)
    assert FileLog(str(tmp_path / "log")).state().size == 0
    missing = cli("log", "append", "nolog", str(good))
    assert missing.code == 2 and "nolog" in missing.err


def test_init_refuses_a_non_empty_directory_an_existing_key_and_a_bad_origin(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for args in (["full", "--origin", ORIGIN], ["new", "--origin", "has space"], ["new", "--origin", "a+b"]):
        result = cli("log", "init", *args)
        assert result.code == 2, result
        assert_one_line_error(result)
    (tmp_path / "taken.key").write_text("x")
    result = cli("log", "init", "taken", "--origin", ORIGIN)
    assert result.code == 2 and "already exists" in result.err
    assert (tmp_path / "taken.key").read_text() == "x"
    result = cli("log", "init", "inside", "--origin", ORIGIN, "--key", "inside/k")
    assert result.code == 2 and "inside" in result.err


def test_a_group_readable_log_key_is_refused(tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]) -> None:
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    os.chmod(tmp_path / "log.key", 0o640)
    result = cli("log", "append", "log", str(_receipts(tmp_path, key, 1)[0]))
    assert result.code == 2 and "chmod 600" in result.err
    assert "PRIVATE" not in result.err


def test_prove_refuses_a_receipt_not_in_the_log(tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]) -> None:
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    a, b = _receipts(tmp_path, key, 2)
    assert cli("log", "append", "log", str(a)).code == 0
    result = cli("log", "prove", "log", str(b), "-o", "b.tlog-proof")
    assert result.code == 2 and "not in the log" in result.err
    assert not (tmp_path / "b.tlog-proof").exists()


def test_a_second_writer_is_refused(tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]) -> None:
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    with FileLog(str(tmp_path / "log")).writer():
        result = cli("log", "append", "log", str(_receipts(tmp_path, key, 1)[0]))
    assert result.code == 2 and "another attestkit command is writing" in result.err


def test_a_directory_at_the_lock_or_in_the_temp_directory_is_one_clear_error(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """Review (adv-io2): the writer's lock and its clean-up of interrupted writes let OSError out:
    'internal error (IsADirectoryError)'."""
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    (tmp_path / "log" / ".tmp" / "sub").mkdir(parents=True)
    result = cli("log", "checkpoint", "log")
    assert result.code == 2 and "sub: cannot remove it" in result.err and "internal" not in result.err
    assert_one_line_error(result)
    (tmp_path / "log" / ".tmp" / "sub").rmdir()
    (tmp_path / "log" / ".lock").unlink()
    (tmp_path / "log" / ".lock").mkdir()
    result = cli("log", "checkpoint", "log")
    assert result.code == 2 and "cannot open the log's lock" in result.err
    assert_one_line_error(result)


def test_a_fifo_in_a_log_copy_is_refused_not_waited_on(
    tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]
) -> None:
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    assert cli("log", "append", "log", *map(str, _receipts(tmp_path, key, 2))).code == 0
    for name in ("checkpoint.2", "tile/entries/000.p/2"):
        copy = tmp_path / f"copy-{name.replace('/', '-')}"
        shutil.copytree(tmp_path / "log", copy)
        (copy / name).unlink()
        os.mkfifo(copy / name)
        result = cli("log", "verify", str(copy))
        assert result.code == 2, result.out + result.err
        assert name.split("/")[-1] in result.err and "regular file" in result.err
        assert_one_line_error(result)


def test_a_linked_scratch_directory_is_refused_and_its_target_untouched(
    tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]
) -> None:
    init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "a.txt").write_text("keep me")
    (tmp_path / "log" / ".tmp").rmdir()
    (tmp_path / "log" / ".tmp").symlink_to(victim)
    for args in (["checkpoint", "log"], ["append", "log", str(_receipts(tmp_path, key, 1)[0])]):
        result = cli("log", *args)
        assert result.code == 2 and ".tmp" in result.err, result.err
        assert_one_line_error(result)
        assert [p.name for p in victim.iterdir()] == ["a.txt"]
    assert FileLog(str(tmp_path / "log")).state().size == 0


# ---- the Tessera log ----------------------------------------------------------------


def test_tessera_log_passes_log_verify(cli: Callable[..., CliResult]) -> None:
    root = external("tlog-tessera-log")
    result = cli("log", "verify", str(root), "--vkey", TESSERA_VKEY)
    assert result.code == 0, result.err
    assert "15 entries" in result.out and "16 checkpoints" in result.out
    assert cli("log", "verify", str(root)).code == 2  # no key, no verdict


def _tessera_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.slow
def test_every_single_byte_flip_of_the_tessera_log_is_rejected(tmp_path: Path) -> None:
    """Every byte of the files of size 7 (tile, bundle, checkpoint) and of ``checkpoint``; every
    29th byte of the others (ATTESTKIT_TLOG_FULL_FLIPS=1: every byte of every file, ~3 minutes)."""
    copy = tmp_path / "log"
    shutil.copytree(external("tlog-tessera-log"), copy)
    key = parse_vkey(TESSERA_VKEY)
    audit_directory(FileLog(str(copy)), key)
    full = os.environ.get("ATTESTKIT_TLOG_FULL_FLIPS") == "1"
    flips = 0
    for path in _tessera_files(copy):
        original = path.read_bytes()
        every = full or path.name in ("checkpoint", "checkpoint.7", "7")
        for position in range(0, len(original), 1 if every else 29):
            changed = bytearray(original)
            changed[position] ^= 0x01
            path.write_bytes(bytes(changed))
            with pytest.raises(AttestkitError):
                audit_directory(FileLog(str(copy)), key)
            flips += 1
        path.write_bytes(original)
    assert flips > (7000 if full else 800)
    audit_directory(FileLog(str(copy)), key)


def test_a_flipped_tessera_copy_is_rejected_by_the_cli(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    source = external("tlog-tessera-log")
    for relative in ["tile/entries/000.p/7", "tile/0/000.p/15", "checkpoint.9", "checkpoint"]:
        copy = tmp_path / relative.replace("/", "_")
        shutil.copytree(source, copy)
        data = bytearray((copy / relative).read_bytes())
        data[len(data) // 2] ^= 0x20
        (copy / relative).write_bytes(bytes(data))
        result = cli("log", "verify", str(copy), "--vkey", TESSERA_VKEY)
        assert result.code == 1, (relative, result)
        assert_one_line_error(result)


# ---- crash safety -------------------------------------------------------------------


class _Crash(Exception):
    pass


class _CrashingLog(FileLog):
    def __init__(self, directory: str, after: int) -> None:
        super().__init__(directory)
        self.left = after

    def _before_rename(self, relative: str) -> None:
        if self.left == 0:
            raise _Crash(relative)
        self.left -= 1


def test_a_crash_at_any_write_leaves_a_log_the_next_command_continues(tmp_path: Path, key: PrivateKey) -> None:
    signer = init_log(str(tmp_path / "seed"), ORIGIN, str(tmp_path / "seed.key"))
    entries = [
        receipt_entry(receipt_from_mapping(sign_receipt(make_receipt(pipeline_hash="blake3:" + f"{i:064x}"), key)))
        for i in range(300)
    ]
    base = FileLog(str(tmp_path / "seed"))
    with base.writer():
        base.append(entries[:250])
        base.checkpoint(signer)
    crash_points = 0
    for after in range(0, 40):
        directory = tmp_path / f"c{after}"
        shutil.copytree(tmp_path / "seed", directory)
        crashing = _CrashingLog(str(directory), after)
        try:
            with crashing.writer():
                crashing.append(entries[250:])
                crashing.checkpoint(signer)
        except _Crash:
            crash_points += 1
        else:
            break
        log = FileLog(str(directory))
        report, latest = audit_directory(log, signer.verifier)
        assert latest.checkpoint.size in (250, 300)
        with log.writer():  # the next command recovers and completes
            log.checkpoint(signer)
            log.append(entries[:1])
            log.checkpoint(signer)
        report, latest = audit_directory(log, signer.verifier)
        assert latest.checkpoint.size in (251, 301) and report.checkpoints >= 2
    assert crash_points >= 8


def test_a_rolled_back_state_or_rewritten_tile_is_refused_never_forked(tmp_path: Path, key: PrivateKey) -> None:
    directory = tmp_path / "log"
    signer = init_log(str(directory), ORIGIN, str(tmp_path / "log.key"))
    log = FileLog(str(directory))
    with log.writer():
        log.append([b"a", b"b"])
        log.checkpoint(signer)
    old_state = (directory / ".attestkit-log").read_bytes()
    with log.writer():
        log.append([b"c"])
        log.checkpoint(signer)
    (directory / ".attestkit-log").write_bytes(old_state)  # restored from an old backup
    with pytest.raises(LogStateError, match="behind the last signed checkpoint"), log.writer():
        log.append([b"evil"])
    shutil.rmtree(directory)
    signer = init_log(str(directory), ORIGIN, str(tmp_path / "log2.key"))
    with log.writer():
        log.append([b"a", b"b"])
        log.checkpoint(signer)
    (directory / tile_path(0, 0, 2)).write_bytes(hashlib.sha256(b"\x00x").digest() * 2)
    with pytest.raises(LogCorruptError), log.writer():
        log.append([b"c"])


# ---- over HTTP ----------------------------------------------------------------------


@contextmanager
def _static_server(directory: Path) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_prove_and_verify_over_http(tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]) -> None:
    signer = init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    receipts = _receipts(tmp_path, key, 3)
    assert cli("log", "append", "log", *map(str, receipts)).code == 0
    with _static_server(tmp_path / "log") as url:
        source = open_source(url)
        from attestkit.adapters.files import read_receipt_file

        signed = source.read_checkpoint("checkpoint", [signer.verifier])
        index, _ = prove(source, receipt_leaf_hash(read_receipt_file(str(receipts[1]))), signed)
        assert index == 1
        result = cli("log", "prove", url, str(receipts[1]), "-o", "p.tlog-proof", "--vkey", signer.verifier.vkey)
        assert result.code == 0, result.err
        result = cli("log", "verify", url, "--vkey", signer.verifier.vkey)
        assert result.code == 0, result.err
        assert cli("log", "verify", url).code == 2
    with _static_server(external("tlog-tessera-log")) as url:
        assert cli("log", "verify", url + "/", "--vkey", TESSERA_VKEY).code == 0


def test_a_log_written_by_attestkit_reads_back_with_the_key_file(tmp_path: Path) -> None:
    signer = init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    assert read_key_file(str(tmp_path / "log.key")).verifier == signer.verifier
    assert "PRIVATE" not in repr(signer)
    state: Any = json.loads((tmp_path / "log" / ".attestkit-log").read_text())
    assert state["size"] == 0 and state["vkey"] == signer.verifier.vkey


def test_log_verify_rejects_a_forked_checkpoint_signed_by_the_log_key(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    from attestkit.core.tlog import Checkpoint, leaf_hash, root_of

    signer = init_log(str(tmp_path / "log"), ORIGIN, str(tmp_path / "log.key"))
    log = FileLog(str(tmp_path / "log"))
    with log.writer():
        log.append([b"a", b"b", b"c"])
        log.checkpoint(signer)
    assert cli("log", "verify", "log").code == 0
    forged = Checkpoint(ORIGIN, 2, root_of([leaf_hash(b"a"), leaf_hash(b"evil")])).sign(signer)
    (tmp_path / "log" / "checkpoint.2").write_text(forged)
    result = cli("log", "verify", "log")
    assert result.code == 1 and "size 2" in result.err
    assert_one_line_error(result)
    (tmp_path / "log" / "checkpoint.2").unlink()
    with log.writer():
        log.append([b"d"])
        log.checkpoint(signer)
    shutil.copy(tmp_path / "log" / "checkpoint.3", tmp_path / "log" / "checkpoint")
    assert cli("log", "verify", "log").code == 0  # an older published checkpoint is still consistent
    with log.writer():  # and the next writer republishes the latest
        log.recover()
    assert (tmp_path / "log" / "checkpoint").read_bytes() == (tmp_path / "log" / "checkpoint.4").read_bytes()
