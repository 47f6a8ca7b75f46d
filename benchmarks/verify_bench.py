"""Verification hot path and cold start.

Reports, measured in one run: raw PyNaCl verify/s on the same bytes; the canonicaliser's
µs per ~3 KB receipt next to rfc8785's; in-process verify_receipt/s; one-receipt
`attestkit verify` wall time next to `python -c pass`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import Row, paired, wall_time


def typical_receipt() -> dict[str, Any]:
    """A ~3 KB receipt shaped like ATTEST's."""
    digest = "blake3:" + "3f" * 32
    steps = []
    for i in range(6):
        steps.append(
            {
                "name": f"step-{i}",
                "command": f"npm run task-{i} -- --flag value",
                "exit_code": 0,
                "duration_secs": 12.5 + i,
                "start_time": "2026-11-20T09:59:00Z",
                "end_time": "2026-11-20T09:59:12.5Z",
                "inputs": [{"path": f"src/module{i}/", "hash": digest, "size_bytes": 1024 * i}],
                "outputs": [{"path": f"dist/out{i}.js", "hash": digest, "size_bytes": 2048 + i}],
                "environment_snapshot": {"NODE_ENV": "production", "CI": "true"},
                "cache_hit": i % 2 == 0,
            }
        )
    return {
        "pipeline_hash": digest,
        "timestamp": "2026-11-20T10:00:00Z",
        "total_duration_secs": 93.25,
        "attest_version": "0.1.0",
        "environment": {"host_os": "linux", "host_arch": "x86_64", "user": "ci", "working_directory": "/build"},
        "steps": steps,
        "attestations": {
            "test": {"type": "attest/test", "predicate": {"test_results": {"total": 120, "passed": 120, "failed": 0}}},
            "security": {
                "type": "attest/security",
                "predicate": {"results": {"vulnerabilities": {"critical": 0, "high": 0}}},
            },
        },
    }


def run() -> list[Row]:
    import nacl.signing
    import rfc8785

    from attestkit import PrivateKey, sign_receipt, verify_receipt
    from attestkit.core.crypto.canonical import canonicalize
    from attestkit.core.receipt.reader import parse_receipt
    from attestkit.core.timeutil import parse_rfc3339
    from attestkit.core.trust.store import TrustStore
    from attestkit.core.verify.verifier import VerifyOptions, verify_with_options

    key = PrivateKey.from_seed(bytes(32))
    signed = sign_receipt(typical_receipt(), key)
    raw = json.dumps(signed).encode()
    unsigned = {k: v for k, v in signed.items() if k != "signature"}
    message = canonicalize(unsigned)
    signature = bytes.fromhex(signed["signature"][8:])
    verify_key = nacl.signing.VerifyKey(key.public_key.raw)

    from attestkit.core.receipt import fast_reader

    def verify_raw() -> object:
        return verify_key.verify(message, signature)

    def strictly(func: Callable[[], object]) -> Callable[[], object]:
        def run_strict() -> object:
            fast_reader.ENABLED = False
            try:
                return func()
            finally:
                fast_reader.ENABLED = True

        return run_strict

    options = VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339("2026-11-20T12:00:00Z"))
    assert verify_receipt(signed, trusted_keys=[key.public_key], now=options.now).valid
    assert fast_reader.read_proven(raw) is not None  # the bytes as json.dumps wrote them are served fast

    def from_bytes() -> object:
        return verify_with_options(raw, options)

    def read_fast() -> object:
        return parse_receipt(raw)

    ours, theirs, _, _ = paired(lambda: canonicalize(unsigned), lambda: rfc8785.dumps(unsigned), windows=7)
    rate, raw_rate, _, spread = paired(from_bytes, verify_raw)
    strict_rate, raw_rate2, _, strict_spread = paired(strictly(from_bytes), verify_raw)
    read_rate, verify_rate, _, read_spread = paired(read_fast, verify_raw)
    strict_read, fast_read, _, _ = paired(strictly(read_fast), read_fast)
    dict_rate, raw_rate3, _, dict_spread = paired(lambda: verify_with_options(signed, options), verify_raw, windows=7)
    rows = [
        Row("verify", f"canonicalise {len(message)} B receipt (pure Python)", 1e6 / ours, "µs", "rfc8785.dumps", 1e6 / theirs),
        Row("verify", "parse_receipt from bytes, fast path", 1e6 / fast_read, "µs", "strict path", 1e6 / strict_read),
        Row(
            "verify", "parse_receipt (fast) vs one Ed25519 verify", 1e6 / read_rate, "µs", "PyNaCl verify",
            1e6 / verify_rate, "well under 1x", (1 / read_spread[1], 1 / read_spread[0]),
        ),
        Row("verify", "verify_receipt from bytes", rate, "/s", "raw PyNaCl verify", raw_rate, "≥ 0.70x", spread),
        Row(
            "verify", "verify_receipt from bytes, strict reader", strict_rate, "/s", "raw PyNaCl verify", raw_rate2, "",
            strict_spread,
        ),
        Row("verify", "verify_receipt from dict", dict_rate, "/s", "raw PyNaCl verify", raw_rate3, "", dict_spread),
    ]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_bytes(raw)
        exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
        command = [exe, "verify", str(path), "--public-key", key.public_key.text, "--now", "2026-11-20T12:00:00Z"]
        env = dict(os.environ)
        baseline = wall_time([sys.executable, "-c", "pass"], env=env)
        cli = wall_time(command, env=env)
        rows.append(
            Row(
                "cold start",
                "attestkit verify (1 receipt)",
                cli * 1000,
                "ms",
                "python -c pass",
                baseline * 1000,
                "≤ 4.5x (clean venv)",
            )
        )
        strict_cli = wall_time(command, env=env | {"ATTESTKIT_READER": "strict"})
        rows.append(
            Row("cold start", "attestkit verify (1 receipt)", cli * 1000, "ms", "same, strict reader", strict_cli * 1000)
        )
        module = wall_time([sys.executable, "-c", "import attestkit"], env=env)
        rows.append(Row("cold start", "import attestkit", module * 1000, "ms", "python -c pass", baseline * 1000))
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    started = time.time()
    save(run(), "verify")
    print(f"\n({time.time() - started:.0f}s)")
