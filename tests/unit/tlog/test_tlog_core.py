"""The pure tlog core against the external vectors (signed-note, tlog-merkle, tessera log)
and against itself: proofs generated for every small tree verify, and tampering fails."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.tlog import (
    ALG_COSIGNATURE_V1,
    EMPTY_ROOT,
    Checkpoint,
    MemoryTree,
    TileHashSource,
    append_tiles,
    audit_log,
    consistency_proof,
    decode_bundle,
    encode_bundle,
    inclusion_proof,
    leaf_hash,
    open_checkpoint,
    open_note,
    parse_checkpoint_text,
    parse_policy,
    parse_skey,
    parse_tlog_proof,
    parse_vkey,
    root_of,
    sign_note,
    signer_from_key,
    tile_path,
    tree_hash,
    verify_consistency,
    verify_inclusion,
    verify_proof,
)
from attestkit.core.tlog.proof import make_tlog_proof
from attestkit.core.tlog.tiles import index_path
from attestkit.core.tlog.witness import add_checkpoint
from attestkit.errors import (
    AttestkitError,
    LogConsistencyError,
    LogCorruptError,
    MerkleProofError,
    NoteVerificationError,
    TlogConfigError,
    WitnessQuorumError,
)
from tests.conftest import external, load_json


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


# ---- signed notes --------------------------------------------------------------------


@pytest.fixture(scope="module")
def notes() -> Any:
    return load_json(external("signed-note/vectors.json"))


def test_signing_reproduces_the_go_note_byte_for_byte(notes: Any) -> None:
    for case in notes["sign"]:
        signer = parse_skey(notes["keys"][case["skey"]]["skey"])
        assert sign_note(case["text"], [signer]) == case["want"]
        assert signer.verifier.vkey == notes["keys"][case["skey"]]["vkey"]


def test_every_vkey_and_skey_of_the_vectors_parses_and_round_trips(notes: Any) -> None:
    for name, entry in notes["keys"].items():
        verifier = parse_vkey(entry["vkey"])
        assert verifier.name == name and verifier.vkey == entry["vkey"]
        if "skey" in entry:
            signer = parse_skey(entry["skey"])
            assert signer.skey == entry["skey"] and signer.verifier == verifier
            assert entry["skey"] not in repr(signer) and "PRIVATE" not in repr(signer)


def test_open_ok_cases_verify_exactly_the_known_keys(notes: Any) -> None:
    for case in notes["open_ok"]:
        known = [parse_vkey(notes["keys"][n]["vkey"]) for n in case["known"]]
        note = open_note(case["note"], known)
        assert sorted(v.name for v, _ in note.verified) == sorted(case["verified"])
        assert len(note.unverified) == case.get("unverified_lines", 0)
        assert note.text == case["note"][: case["note"].rfind("\n\n") + 1]


def test_every_open_fail_case_fails(notes: Any) -> None:
    assert len(notes["open_fail"]) == 11
    for case in notes["open_fail"]:
        data: bytes | str = bytes.fromhex(case["note_hex"]) if "note_hex" in case else case["note"]
        known = [parse_vkey(notes["keys"][n]["vkey"]) for n in case["known"]]
        with pytest.raises(NoteVerificationError):
            open_note(data, known)


def test_every_bad_vkey_is_refused(notes: Any) -> None:
    assert len(notes["bad_vkeys"]) == 5
    for text in notes["bad_vkeys"]:
        with pytest.raises(TlogConfigError):
            parse_vkey(text)


def test_vkey_refuses_uppercase_id_small_order_key_and_unknown_type() -> None:
    good = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    parse_vkey(good)
    for bad in [
        good.replace("c74f20a3", "C74F20A3"),
        "x+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
        "x+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
        good + "+extra",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(TlogConfigError):
            parse_vkey(bad)


def test_a_known_key_with_a_bad_signature_fails_even_beside_a_good_one(notes: Any) -> None:
    signer = parse_skey(notes["keys"]["PeterNeumann"]["skey"])
    other = signer_from_key("Other", PrivateKey.from_seed(bytes(32)))
    note = sign_note("hello\n", [signer, other])
    tampered_line = other.signature_line("hello!\n")
    bad = note.split("\n\n")[0] + "\n\n" + note.split("\n\n")[1].split("\n")[0] + "\n" + tampered_line
    open_note(note, [signer.verifier, other.verifier])
    with pytest.raises(NoteVerificationError, match="Other"):
        open_note(bad, [signer.verifier, other.verifier])
    assert open_note(bad, [signer.verifier]).unverified  # unknown: ignored, not verified


@given(st.binary(max_size=400))
def test_malformed_notes_only_raise_attestkit_errors(data: bytes) -> None:
    key = parse_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    try:
        open_note(data, [key])
    except AttestkitError:
        pass
    else:  # pragma: no cover - a random note never carries a valid signature
        raise AssertionError("a random note opened")


# ---- Merkle vectors ------------------------------------------------------------------


def _merkle_cases(kind: str) -> list[Path]:
    folder = external(f"tlog-merkle/{kind}")
    return sorted(folder.rglob("*.json"))


def test_all_inclusion_vectors() -> None:
    cases = _merkle_cases("inclusion")
    assert len(cases) == 98
    for path in cases:
        case = load_json(path)
        proof = [_b64(p) for p in case["proof"] or []]
        ok = True
        try:
            verify_inclusion(case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof, _b64(case["root"]))
        except MerkleProofError:
            ok = False
        assert ok is not case["wantErr"], f"{path}: {case['desc']}"


def test_all_consistency_vectors() -> None:
    cases = _merkle_cases("consistency")
    assert len(cases) == 98
    for path in cases:
        case = load_json(path)
        proof = [_b64(p) for p in case["proof"] or []]
        ok = True
        try:
            verify_consistency(case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)
        except MerkleProofError:
            ok = False
        assert ok is not case["wantErr"], f"{path}: {case['desc']}"


def test_the_traps_are_refused() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    tree = MemoryTree(leaves)
    root = tree_hash(tree, 5)
    proof = inclusion_proof(tree, 2, 5)
    verify_inclusion(2, 5, leaves[2], proof, root)
    with pytest.raises(MerkleProofError, match="32"):
        verify_inclusion(2, 5, leaves[2] + b"\x00", proof, root)  # a 33-byte "leaf hash"
    with pytest.raises(MerkleProofError):
        verify_inclusion(2, 5, leaves[2], [*proof, proof[0]], root)  # trailing garbage
    with pytest.raises(MerkleProofError, match="empty tree"):
        verify_consistency(0, 5, EMPTY_ROOT, root, [])
    cproof = consistency_proof(tree, 3, 5)
    with pytest.raises(MerkleProofError):
        verify_consistency(3, 5, tree_hash(tree, 3), root, [*cproof, cproof[0]])


def test_generated_proofs_verify_for_every_small_tree() -> None:
    leaves = [leaf_hash(f"entry {i}".encode()) for i in range(70)]
    tree = MemoryTree(leaves)
    for size in range(1, 70):
        root = tree_hash(tree, size)
        assert root == root_of(leaves[:size])
        for index in range(size):
            verify_inclusion(index, size, leaves[index], inclusion_proof(tree, index, size), root)
        for old in range(1, size + 1):
            verify_consistency(old, size, tree_hash(tree, old), root, consistency_proof(tree, old, size))
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


# ---- tiles ---------------------------------------------------------------------------


def test_tile_paths_follow_the_spec() -> None:
    assert index_path(1234067) == "x001/x234/067"
    assert index_path(0) == "000"
    assert tile_path(0, 0, 3) == "tile/0/000.p/3"
    assert tile_path(1, 1000) == "tile/1/x001/000"
    assert tile_path(None, 5, 255) == "tile/entries/005.p/255"
    with pytest.raises(TlogConfigError):
        tile_path(0, 0, 0)
    with pytest.raises(TlogConfigError):
        tile_path(64, 0)


def test_bundles_round_trip_and_refuse_garbage() -> None:
    entries = [b"", b"a", b"x" * 65535]
    data = encode_bundle(entries)
    assert decode_bundle(data, 3) == entries
    with pytest.raises(LogCorruptError):
        decode_bundle(data + b"\x00", 3)
    with pytest.raises(LogCorruptError):
        decode_bundle(data[:-1], 3)
    with pytest.raises(TlogConfigError, match="65535"):
        encode_bundle([b"x" * 65536])


def _memory_log(sizes: list[int]) -> tuple[dict[str, bytes], list[bytes]]:
    files: dict[str, bytes] = {}
    entries: list[bytes] = []
    size = 0

    def read(level: int | None, index: int, width: int) -> bytes:
        return files[tile_path(level, index, width)]

    for step in sizes:
        batch = [f"e{size + i}".encode() for i in range(step)]
        files.update(append_tiles(size, batch, read).files)
        entries += batch
        size += step
    return files, entries


def test_tiles_appended_in_batches_match_the_in_memory_tree() -> None:
    files, entries = _memory_log([1, 254, 1, 300, 65536 - 556, 3])
    size = len(entries)
    assert size == 65539

    def read(level: int | None, index: int, width: int) -> bytes:
        return files[tile_path(level, index, width)]

    leaves = [leaf_hash(e) for e in entries]
    assert tree_hash(TileHashSource(size, read), size) == root_of(leaves)
    assert "tile/2/000.p/1" in files and "tile/1/000" in files and "tile/0/x001/000.p/3" not in files
    report = audit_log(size, [Checkpoint("o", 256, root_of(leaves[:256]))], read)
    assert report.root == root_of(leaves)
    source = TileHashSource(size, read)
    proof = inclusion_proof(source, 40000, size)
    verify_inclusion(40000, size, leaves[40000], proof, report.root)
    assert source.reads <= 3 * 3  # O(log n) tiles: at most a few per level


# ---- the Tessera log -----------------------------------------------------------------


def _tessera_reader(root: Path) -> Any:
    def read(level: int | None, index: int, width: int) -> bytes:
        return (root / tile_path(level, index, width)).read_bytes()

    return read


def test_tessera_log_checkpoints_roots_and_consistency(notes: Any) -> None:
    root = external("tlog-tessera-log")
    key = parse_vkey(notes["keys"]["example.com/log/testdata"]["vkey"])
    read = _tessera_reader(root)
    checkpoints = []
    for size in range(16):
        signed = open_checkpoint((root / f"checkpoint.{size}").read_bytes(), [key])
        assert signed.checkpoint.size == size and signed.checkpoint.origin == "example.com/log/testdata"
        checkpoints.append(signed.checkpoint)
    latest = open_checkpoint((root / "checkpoint").read_bytes(), [key]).checkpoint
    report = audit_log(15, checkpoints, read)
    assert report.root == latest.root
    words = b"one two three four five six seven eit nain ten ileven twelf threeten fourten fivten".split()
    assert decode_bundle(read(None, 0, 15), 15) == words
    for a in checkpoints[1:]:
        for b in checkpoints:
            if b.size >= a.size:
                proof = consistency_proof(TileHashSource(b.size, read), a.size, b.size)
                verify_consistency(a.size, b.size, a.root, b.root, proof)


# ---- checkpoints, cosignatures, policies, proofs --------------------------------------


def _keys() -> tuple[Any, Any, Any]:
    log = signer_from_key("example.com/log", PrivateKey.from_seed(b"\x01" * 32))
    w1 = signer_from_key("w1.example", PrivateKey.from_seed(b"\x02" * 32), ALG_COSIGNATURE_V1)
    w2 = signer_from_key("w2.example", PrivateKey.from_seed(b"\x03" * 32), ALG_COSIGNATURE_V1)
    return log, w1, w2


def test_checkpoint_text_rules() -> None:
    good = Checkpoint("o", 3, b"\x00" * 32)
    assert parse_checkpoint_text(good.text) == good
    for bad in [
        "o\n03\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n1\nAAAA\n",
        "o\n0\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "\n1\nx\n",
        "o\n1\n",
    ]:
        with pytest.raises(NoteVerificationError):
            parse_checkpoint_text(bad)


def test_tlog_proof_with_policy_quorum_and_witnessed_time() -> None:
    log, w1, w2 = _keys()
    leaves = [leaf_hash(bytes([i])) for i in range(7)]
    tree = MemoryTree(leaves)
    checkpoint = Checkpoint("example.com/log", 7, tree_hash(tree, 7))
    note = checkpoint.sign(log) + w1.signature_line(checkpoint.text, 1000) + w2.signature_line(checkpoint.text, 2000)
    policy_text = (
        f"log {log.verifier.vkey}\n# comment\nwitness a {w1.verifier.vkey}\n\twitness b {w2.verifier.vkey} https://w\n"
        "group both all a b\ngroup one any a b\nquorum both\n"
    )
    policy = parse_policy(policy_text.encode())
    proof = parse_tlog_proof(make_tlog_proof(4, inclusion_proof(tree, 4, 7), note).encode())
    result = verify_proof(proof, leaves[4], policy)
    assert (result.origin, result.index, result.size, result.witnessed_at) == ("example.com/log", 4, 7, 2000)
    assert (
        parse_policy(policy_text.replace("quorum both", "quorum one").encode()).witnessed_at({"a": 1000, "b": 2000})
        == 1000
    )
    with pytest.raises(MerkleProofError):
        verify_proof(proof, leaves[3], policy)
    only_w1 = parse_tlog_proof(
        make_tlog_proof(
            4, inclusion_proof(tree, 4, 7), checkpoint.sign(log) + w1.signature_line(checkpoint.text, 5)
        ).encode()
    )
    with pytest.raises(WitnessQuorumError):
        verify_proof(only_w1, leaves[4], policy)


@pytest.mark.parametrize(
    "text",
    [
        "quorum x\n",
        "witness a {w}\nwitness a {w2}\nquorum a\n",
        "witness a {w}\nwitness b {w}\nquorum a\n",
        "witness a {w}\ngroup g 2 a\nquorum g\n",
        "witness a {w}\ngroup g 0 a\nquorum g\n",
        "witness a {w}\ngroup g any a a\nquorum g\n",
        "witness a {w}\ngroup g any none\nquorum g\n",
        "witness a {w}\nquorum a\nquorum a\n",
        "witness a {log}\nquorum a\n",
        "log {w}\nquorum none\n",
        "frobnicate\nquorum none\n",
        "witness a {w}\n",
        "quorum none\x00\n",
    ],
)
def test_bad_policies_are_refused(text: str) -> None:
    log, w1, w2 = _keys()
    data = text.format(w=w1.verifier.vkey, w2=w2.verifier.vkey, log=log.verifier.vkey).encode()
    with pytest.raises(TlogConfigError):
        parse_policy(data)


def test_a_policy_that_is_not_utf8_is_refused_with_its_byte() -> None:
    log, w1, _ = _keys()
    data = f"log {log.verifier.vkey}\nwitness a {w1.verifier.vkey}\nquorum a\n".encode().replace(b"a ", b"\xff ", 1)
    with pytest.raises(TlogConfigError, match="not UTF-8"):
        parse_policy(data)


def test_groups_that_share_members_are_each_evaluated_once() -> None:
    # group g<n> all g<n-1> g<n-2>: without remembering each group's answer, a 1 KB policy of
    # 40 such groups took longer than a minute to evaluate (2**n member visits).
    log, w1, w2 = _keys()
    lines = [f"log {log.verifier.vkey}", f"witness a {w1.verifier.vkey}", f"witness b {w2.verifier.vkey}"]
    lines += ["group g0 all a", "group g1 all a b"]
    lines += [f"group g{n} all g{n - 1} g{n - 2}" for n in range(2, 200)]
    policy = parse_policy(("\n".join([*lines, "quorum g199"]) + "\n").encode())
    looked_up: list[str] = []

    class Counting(dict[str, Any]):
        def __getitem__(self, name: str) -> Any:
            looked_up.append(name)
            return super().__getitem__(name)

    counted = replace(policy, groups=Counting(policy.groups))
    assert counted.satisfied({"a", "b"}) and not counted.satisfied({"a"})
    assert len(looked_up) <= 2 * 200
    assert counted.witnessed_at({"a": 5, "b": 9}) == 9


def test_witness_add_checkpoint_status_codes() -> None:
    log, w1, _ = _keys()
    leaves = [leaf_hash(bytes([i])) for i in range(9)]
    tree = MemoryTree(leaves)
    state: dict[str, Checkpoint] = {}
    logs = {"example.com/log": [log.verifier]}

    def submit(
        old: int, size: int, proof: list[bytes] | None = None, note: str | None = None, root: bytes | None = None
    ) -> Any:
        cp = Checkpoint("example.com/log", size, root if root is not None else tree_hash(tree, size))
        if proof is None:
            proof = consistency_proof(tree, old, size) if old else []
        body = (
            f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + (note or cp.sign(log))
        )
        response = add_checkpoint(body.encode(), logs, state.get, w1, 1700000000)
        if response.new_state is not None:
            state[response.new_state.origin] = response.new_state
        return response

    ok = submit(0, 4)
    assert ok.status == 200
    assert open_note(Checkpoint("example.com/log", 4, tree_hash(tree, 4)).sign(log) + ok.body.decode(), [w1.verifier])
    assert submit(0, 6).status == 409 and submit(0, 6).body == b"4\n"
    assert submit(4, 6).content_type == "text/plain; charset=utf-8"
    assert state["example.com/log"].size == 6
    assert submit(6, 5, proof=[]).status == 400
    assert submit(6, 8, proof=[b"\x00" * 32]).status == 422
    assert submit(6, 6, root=b"\x01" * 32).status == 422
    other = signer_from_key("example.com/other", PrivateKey.from_seed(b"\x05" * 32))
    assert submit(6, 8, note=Checkpoint("example.com/other", 8, tree_hash(tree, 8)).sign(other)).status == 404
    forged = signer_from_key("example.com/log", PrivateKey.from_seed(b"\x06" * 32))
    assert submit(6, 8, note=Checkpoint("example.com/log", 8, tree_hash(tree, 8)).sign(forged)).status == 403
    assert add_checkpoint(b"garbage", logs, state.get, w1, 1).status == 400
    assert state["example.com/log"].size == 6


def test_check_update_names_rollback_and_fork() -> None:
    from attestkit.core.tlog import check_update

    leaves = [leaf_hash(bytes([i])) for i in range(9)]
    tree = MemoryTree(leaves)
    stored = Checkpoint("o", 5, tree_hash(tree, 5))
    with pytest.raises(LogConsistencyError) as rollback:
        check_update(stored, Checkpoint("o", 4, tree_hash(tree, 4)), [])
    assert rollback.value.kind == "rollback"
    with pytest.raises(LogConsistencyError) as fork:
        check_update(stored, Checkpoint("o", 5, b"\x09" * 32), [])
    assert fork.value.kind == "fork"
    forked = MemoryTree([*leaves[:3], leaf_hash(b"evil"), *leaves[4:]])
    with pytest.raises(LogConsistencyError) as fork2:
        check_update(stored, Checkpoint("o", 8, tree_hash(forked, 8)), consistency_proof(forked, 5, 8))
    assert fork2.value.kind == "fork"
    check_update(stored, Checkpoint("o", 8, tree_hash(tree, 8)), consistency_proof(tree, 5, 8))


# ---- malformed input never crashes ---------------------------------------------------

_LINES = st.lists(
    st.sampled_from(
        [
            "c2sp.org/tlog-proof@v1",
            "index 0",
            "index 01",
            "extra AAAA",
            "",
            "old 0",
            "old 3",
            "quorum none",
            "log x",
            "witness a b",
            "group g any a",
            base64.b64encode(bytes(32)).decode(),
            "\u2014 a AAAAAAA=",
            "o",
            "3",
        ]
    )
    | st.text(max_size=40),
    max_size=12,
)


@given(_LINES)
def test_malformed_proofs_policies_checkpoints_and_witness_requests_never_crash(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    for parse in (parse_tlog_proof, parse_policy, lambda d: parse_checkpoint_text(d.decode("utf-8", "replace"))):
        try:
            parse(data)
        except AttestkitError:
            pass
    log, w1, _ = _keys()
    response = add_checkpoint(data, {"o": [log.verifier]}, lambda origin: None, w1, 1)
    assert response.status in (200, 400, 403, 404, 409, 422)
    assert response.status != 200


@given(st.binary(max_size=300))
def test_random_bytes_as_proof_or_policy_only_raise_attestkit_errors(data: bytes) -> None:
    for parse in (parse_tlog_proof, parse_policy):
        try:
            parse(data)
        except AttestkitError:
            pass
