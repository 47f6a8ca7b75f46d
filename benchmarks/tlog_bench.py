"""The receipt log: append throughput, proof verification against one Ed25519 verify,
tile reads per proof, disk bytes per entry (and that they stay flat as the log grows).

`python -m benchmarks.tlog_bench [--full]` (quick: 20,000 entries; full: 100,000).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from benchmarks._common import Row, per_second

if TYPE_CHECKING:
    from attestkit.core.tlog.note import Signer


def _entries(count: int) -> list[bytes]:
    """Real entries for 200 signed receipts, then entries of the same format and size with random digests."""
    from attestkit.core.crypto.keys import PrivateKey
    from attestkit.core.receipt.reader import receipt_from_mapping
    from attestkit.core.receipt.signing import sign_receipt
    from attestkit.core.tlog.entry import ENTRY_HEADER, receipt_entry

    key = PrivateKey.from_seed(bytes(32))
    base = {
        "pipeline_hash": "blake3:" + "ab" * 32,
        "timestamp": "2026-11-20T10:00:00Z",
        "total_duration_secs": 1.0,
        "attest_version": "0.1.0",
        "environment": {"host_os": "linux", "host_arch": "x86_64"},
        "steps": [],
    }
    real = []
    for i in range(min(200, count)):
        receipt = sign_receipt({**base, "pipeline_hash": "blake3:" + f"{i:064x}"}, key)
        real.append(receipt_entry(receipt_from_mapping(receipt)))
    rng = random.Random(1)
    signer = "signer " + key.public_key.text
    synthetic = [
        (
            f"{ENTRY_HEADER}\nsigning-input blake3:{rng.randbytes(32).hex()}\n"
            f"signature blake3:{rng.randbytes(32).hex()}\n{signer}\n"
        ).encode()
        for _ in range(count - len(real))
    ]
    return real + synthetic


def _du(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


def _build(directory: str, entries: list[bytes], batch: int) -> tuple[float, Signer]:
    from attestkit.adapters.tlog_store import FileLog, init_log

    signer = init_log(directory, "bench.example/log", directory + ".key")
    log = FileLog(directory)
    start = time.perf_counter()
    with log.writer():
        for offset in range(0, len(entries), batch):
            log.append(entries[offset : offset + batch])
            log.checkpoint(signer)
    return time.perf_counter() - start, signer


def run(count: int = 20_000) -> list[Row]:
    """Measure; every figure next to a reference from the same run."""
    import hashlib

    import nacl.bindings

    from attestkit.adapters.tlog_store import FileLog
    from attestkit.core.crypto.keys import PrivateKey
    from attestkit.core.tlog import (
        ALG_COSIGNATURE_V1,
        Checkpoint,
        leaf_hash,
        parse_policy,
        signer_from_key,
        verify_inclusion,
    )
    from attestkit.core.tlog.merkle import inclusion_proof, tree_hash
    from attestkit.core.tlog.policy import verify_proof
    from attestkit.core.tlog.proof import make_tlog_proof, parse_tlog_proof
    from attestkit.core.tlog.tiles import TileHashSource

    rows = []
    entries = _entries(count)
    hashing = per_second(lambda: hashlib.sha256(b"\x00" + entries[0]).digest())
    with tempfile.TemporaryDirectory() as tmp:
        small_dir = os.path.join(tmp, "small")
        _build(small_dir, entries[: count // 10], 1000)
        directory = os.path.join(tmp, "log")
        seconds, signer = _build(directory, entries, 1000)
        rows.append(
            Row(
                "tlog",
                f"append {count:,} entries (batches of 1,000, each checkpointed)",
                count / seconds,
                "/s",
                "SHA-256 leaf hash alone",
                hashing,
                "",
            )
        )
        log = FileLog(directory)
        per_entry = _du(directory) / count
        rows.append(
            Row("tlog", f"disk bytes per entry, {count:,} entries", per_entry, "B", "entry size", len(entries[0]), "")
        )
        rows.append(
            Row(
                "tlog",
                f"disk bytes per entry, {count:,} vs {count // 10:,}",
                per_entry,
                "B",
                f"{count // 10:,} entries",
                _du(small_dir) / (count // 10),
                "flat ± 10%",
            )
        )
        rng = random.Random(2)
        reads = []
        for _ in range(200):
            source = TileHashSource(count, log.read_tile)
            inclusion_proof(source, rng.randrange(count), count)
            reads.append(source.reads)
        levels = max(1, (count - 1).bit_length() // 8 + 1)
        rows.append(
            Row(
                "tlog",
                f"tile reads per inclusion proof (max of 200), {count:,} entries",
                max(reads),
                "",
                "tile levels",
                levels,
                "≤ 2x levels",
            )
        )
        # a cosigned proof, verified with a 2-of-2 witness policy
        w1 = signer_from_key("w1.example", PrivateKey.from_seed(b"\x02" * 32), ALG_COSIGNATURE_V1)
        w2 = signer_from_key("w2.example", PrivateKey.from_seed(b"\x03" * 32), ALG_COSIGNATURE_V1)
        source = TileHashSource(count, log.read_tile)
        index = count // 3
        root = tree_hash(source, count)
        checkpoint = Checkpoint("bench.example/log", count, root)
        note = checkpoint.sign(signer) + w1.signature_line(checkpoint.text, 1) + w2.signature_line(checkpoint.text, 2)
        proof_text = make_tlog_proof(index, inclusion_proof(source, index, count), note).encode()
        policy = parse_policy(
            f"log {signer.verifier.vkey}\nwitness a {w1.verifier.vkey}\nwitness b {w2.verifier.vkey}\n"
            "group g all a b\nquorum g\n".encode()
        )
        leaf = leaf_hash(entries[index])
        pk = PrivateKey.from_seed(bytes(32))
        message, sig = b"x" * 200, pk.sign(b"x" * 200)
        ed = per_second(lambda: nacl.bindings.crypto_sign_open(sig + message, pk.public_key.raw))
        full = per_second(lambda: verify_proof(parse_tlog_proof(proof_text), leaf, policy))
        parsed = parse_tlog_proof(proof_text)
        merkle = per_second(lambda: verify_inclusion(index, count, leaf, parsed.proof, root))
        rows.append(
            Row(
                "tlog",
                "verify .tlog-proof (log sig + 2 cosigs + inclusion)",
                1e6 / full,
                "µs",
                "one Ed25519 verify",
                1e6 / ed,
                "≈ 3x (three signatures)",
            )
        )
        rows.append(
            Row(
                "tlog",
                f"inclusion proof alone, {count:,} entries",
                1e6 / merkle,
                "µs",
                "one Ed25519 verify",
                1e6 / ed,
                "well under 1x",
            )
        )
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(100_000 if "--full" in sys.argv else 20_000), "tlog")
