"""Witnessing: ``log cosign`` (rollback and fork refused, naming which) and ``log witness serve``
answering tlog-witness add-checkpoint requests from a real HTTP client."""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.adapters.tlog_store import FileLog, init_log, read_key_file
from attestkit.adapters.tlog_witness import WitnessState, make_server
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.tlog import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    MemoryTree,
    consistency_proof,
    leaf_hash,
    open_note,
    signer_from_key,
    tree_hash,
)
from attestkit.core.tlog.note import Signer
from attestkit.errors import AttestkitError, LogCorruptError
from tests.conftest import CliResult, assert_one_line_error

ORIGIN = "example.com/ci-log"


def _log(tmp_path: Path, entries: int) -> tuple[Path, Signer]:
    directory = tmp_path / "log"
    signer = init_log(str(directory), ORIGIN, str(tmp_path / "log.key"))
    log = FileLog(str(directory))
    with log.writer():
        log.append([f"e{i}".encode() for i in range(entries)])
        log.checkpoint(signer)
    return directory, signer


def _witness_key(tmp_path: Path, cli: Callable[..., CliResult]) -> str:
    result = cli("log", "witness", "keygen", "--name", "witness.example/w1", "--key", "w.key")
    assert result.code == 0, result.err
    assert (tmp_path / "w.key").stat().st_mode & 0o777 == 0o600
    return result.out.strip()


def test_cosign_then_refuse_rollback_and_fork(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    directory, signer = _log(tmp_path, 5)
    wvkey = _witness_key(tmp_path, cli)
    vkey = signer.verifier.vkey
    base = ["--key", "w.key", "--state", "wstate", "--log-vkey", vkey]
    (tmp_path / "cp5").write_bytes((directory / "checkpoint").read_bytes())
    result = cli("log", "cosign", "cp5", *base, "--log", "log", "-o", "cp5.cosigned")
    assert result.code == 0, result.err
    from attestkit.core.tlog import parse_vkey

    note = open_note((tmp_path / "cp5.cosigned").read_bytes(), [parse_vkey(wvkey)])
    assert note.verified[0][0].alg == ALG_COSIGNATURE_V1
    log = FileLog(str(directory))
    with log.writer():
        log.append([b"e5", b"e6"])
        log.checkpoint(signer)
    (tmp_path / "cp7").write_bytes((directory / "checkpoint").read_bytes())
    result = cli("log", "cosign", "cp7", *base, "--log", "log", "-o", "cp7.cosigned")
    assert result.code == 0, result.err
    rollback = cli("log", "cosign", "cp5", *base, "--log", "log")
    assert rollback.code == 1 and "rollback" in rollback.err
    assert_one_line_error(rollback)
    forked_tree = MemoryTree([leaf_hash(f"e{i}".encode()) for i in range(3)] + [leaf_hash(b"evil")] * 5)
    fork = Checkpoint(ORIGIN, 8, tree_hash(forked_tree, 8)).sign(signer)
    (tmp_path / "fork8").write_text(fork)
    proof = "old 7\n" + "".join(base64.b64encode(h).decode() + "\n" for h in consistency_proof(forked_tree, 7, 8))
    (tmp_path / "fork8.proof").write_text(proof)
    result = cli("log", "cosign", "fork8", *base, "--proof", "fork8.proof")
    assert result.code == 1 and "fork" in result.err
    same_size = Checkpoint(ORIGIN, 7, tree_hash(forked_tree, 7)).sign(signer)
    (tmp_path / "fork7").write_text(same_size)
    (tmp_path / "empty.proof").write_text("old 7\n")
    result = cli("log", "cosign", "fork7", *base, "--proof", "empty.proof")
    assert result.code == 1 and "fork" in result.err
    stranger = signer_from_key(ORIGIN, PrivateKey.generate())
    (tmp_path / "forged").write_text(Checkpoint(ORIGIN, 9, b"\x00" * 32).sign(stranger))
    result = cli("log", "cosign", "forged", *base, "--proof", "empty.proof")
    assert result.code == 1 and "forged" in result.err
    assert WitnessState(str(tmp_path / "wstate")).load(ORIGIN) == Checkpoint(ORIGIN, 7, tree_hash(_tree(7), 7))


def _tree(n: int) -> MemoryTree:
    return MemoryTree([leaf_hash(f"e{i}".encode()) for i in range(n)])


def _post(port: int, body: bytes, path: str = "/add-checkpoint") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def _body(old: int, size: int, signer: Signer, tree: MemoryTree, root: bytes | None = None) -> bytes:
    proof = consistency_proof(tree, old, size) if 0 < old <= size else []
    checkpoint = Checkpoint(ORIGIN, size, root if root is not None else tree_hash(tree, size)).sign(signer)
    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + checkpoint).encode()


def test_witness_serve_subprocess_answers_with_the_spec_status_codes(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    log_signer = signer_from_key(ORIGIN, PrivateKey.from_seed(b"\x07" * 32))
    wvkey = _witness_key(tmp_path, cli)
    command = [sys.executable, "-m", "attestkit", "log", "witness", "serve", "--key", "w.key", "--state", "ws"]
    command += ["--log-vkey", log_signer.verifier.vkey]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/add-checkpoint")
        port = int(url.split(":")[2].split("/")[0])
        tree = _tree(9)
        status, _, body = _post(port, _body(0, 4, log_signer, tree))
        assert status == 200 and body.startswith("\u2014 witness.example/w1 ".encode())
        from attestkit.core.tlog import parse_vkey

        cosigned = Checkpoint(ORIGIN, 4, tree_hash(tree, 4)).sign(log_signer) + body.decode()
        assert open_note(cosigned, [parse_vkey(wvkey)]).verified
        status, ctype, body = _post(port, _body(0, 6, log_signer, tree))
        assert (status, ctype, body) == (409, "text/x.tlog.size", b"4\n")
        assert _post(port, _body(4, 6, log_signer, tree))[0] == 200
        assert _post(port, _body(6, 8, log_signer, tree, root=b"\x01" * 32))[0] == 422
        assert _post(port, _body(6, 5, log_signer, tree))[0] == 400
        forged = signer_from_key(ORIGIN, PrivateKey.from_seed(b"\x08" * 32))
        assert _post(port, _body(6, 8, forged, tree))[0] == 403
        other = signer_from_key("example.com/other", PrivateKey.from_seed(b"\x09" * 32))
        assert _post(port, _body(0, 2, other, tree).replace(ORIGIN.encode(), b"example.com/other"))[0] in (403, 404)
        assert _post(port, b"old x\n\n")[0] == 400
        assert _post(port, b"", path="/elsewhere")[0] == 404
        assert _post(port, _body(6, 9, log_signer, tree))[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert WitnessState(str(tmp_path / "ws")).load(ORIGIN) == Checkpoint(ORIGIN, 9, tree_hash(tree, 9))


def test_concurrent_add_checkpoint_requests_never_roll_back(tmp_path: Path) -> None:
    log_signer = signer_from_key(ORIGIN, PrivateKey.from_seed(b"\x07" * 32))
    witness = signer_from_key("w", PrivateKey.from_seed(b"\x0a" * 32), ALG_COSIGNATURE_V1)
    state = WitnessState(str(tmp_path / "ws"))
    server = make_server("127.0.0.1", 0, {ORIGIN: [log_signer.verifier]}, state, witness)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    tree = _tree(40)
    try:
        assert _post(port, _body(0, 10, log_signer, tree))[0] == 200
        results: list[int | str] = []

        def post(body: bytes) -> None:
            try:
                results.append(_post(port, body)[0])
            except OSError as exc:  # recorded, so that a failure shows what the client saw
                results.append(repr(exc))

        bodies = [_body(10, size, log_signer, tree) for size in range(11, 40)]
        workers = [threading.Thread(target=post, args=(b,)) for b in bodies]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert results.count(200) == 1 and results.count(409) == len(bodies) - 1, results
        stored = state.load(ORIGIN)
        assert stored is not None and stored.size > 10
    finally:
        server.shutdown()
        server.server_close()


def test_witness_key_must_be_a_cosignature_key(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    _log(tmp_path, 1)
    result = cli(
        "log", "cosign", "log/checkpoint", "--key", "log.key", "--state", "s", "--log-vkey", "x", "--log", "log"
    )
    assert result.code == 2
    assert_one_line_error(result)
    assert read_key_file(str(tmp_path / "log.key")).alg == 1


@pytest.mark.parametrize("args", [["--proof", "p", "--log", "log"], []])
def test_cosign_needs_exactly_one_proof_source(tmp_path: Path, cli: Callable[..., CliResult], args: list[str]) -> None:
    _log(tmp_path, 1)
    _witness_key(tmp_path, cli)
    vkey = read_key_file(str(tmp_path / "log.key")).verifier.vkey
    result = cli("log", "cosign", "log/checkpoint", "--key", "w.key", "--state", "s", "--log-vkey", vkey, *args)
    assert result.code == 2 and "exactly one" in result.err


def test_a_fifo_or_link_at_the_state_temp_name_is_replaced_not_opened(tmp_path: Path) -> None:
    """Review, stop 35: the temp file was opened for writing as it was, so a FIFO left at its
    name blocked the witness until something read it (and a link there made every store fail)."""
    state = WitnessState(str(tmp_path / "ws"))
    os.makedirs(state.directory, mode=0o700)
    checkpoint = Checkpoint(ORIGIN, 7, tree_hash(_tree(7), 7))
    temp = state._file(ORIGIN) + ".tmp"
    os.mkfifo(temp)
    outcome: list[BaseException | None] = []

    def store() -> None:
        try:
            state.store(checkpoint)
            outcome.append(None)
        except BaseException as exc:  # recorded for the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=store, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # the old code: unblock it before failing
        os.close(os.open(temp, os.O_RDONLY | os.O_NONBLOCK))
    assert outcome == [None], "store blocked on a FIFO at its temp name"
    assert state.load(ORIGIN) == checkpoint
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, temp)
    state.store(checkpoint)
    assert victim.read_text() == "keep" and not os.path.lexists(temp)


def test_a_fifo_at_the_state_file_is_refused_not_waited_for(tmp_path: Path) -> None:
    """Review (adv-io2): load() opened the stored checkpoint blocking, so a FIFO at its name held
    the state lock until something wrote to it: every add-checkpoint request queued behind it."""
    state = WitnessState(str(tmp_path / "ws"))
    os.makedirs(state.directory, mode=0o700)
    os.mkfifo(state._file(ORIGIN))
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            with state.locked():
                state.load(ORIGIN)
            outcome.append(None)
        except BaseException as exc:  # recorded for the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5)
    blocked = worker.is_alive()
    if blocked:  # the old code: unblock it before failing
        os.close(os.open(state._file(ORIGIN), os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
    assert not blocked, "load blocked on a FIFO at the state file"
    assert len(outcome) == 1 and isinstance(outcome[0], LogCorruptError), outcome


def test_a_directory_at_the_state_temp_name_is_one_clear_error(tmp_path: Path) -> None:
    """Review (adv-io2): open_fresh's unlink raised IsADirectoryError, which no caller turned into
    an attestkit error (the HTTP handler only catches those)."""
    state = WitnessState(str(tmp_path / "ws"))
    os.makedirs(state._file(ORIGIN) + ".tmp")
    with pytest.raises(AttestkitError) as caught, state.locked():
        state.store(Checkpoint(ORIGIN, 7, tree_hash(_tree(7), 7)))
    assert "\n" not in str(caught.value)
