"""What the ecosystem formats cost (issue 18), against references measured in the same run.

* ``export --artifacts`` on a 256 MiB output (512 MiB with --full): the receipt's blake3 is
  checked first (as ``verify --artifacts``), then the file is read once more for blake3 and
  sha256 together. Reference: ``b3sum`` then ``sha256sum`` on the same file, i.e. the two
  digests the subject carries, each by its own fastest tool.
* ``verify --summary-out`` over 2,000 receipts: the summary records each receipt's digests and
  subjects as it goes by. Reference: the same ``verify`` without a summary.

``python -m benchmarks.interop_bench [--full]``; results in benchmarks/results/interop.{md,json}.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, save


def _best(command: list[str], *, runs: int = 3, env: dict[str, str] | None = None) -> float:
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)  # warm
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        best = min(best, time.perf_counter() - start)
    return best


def _receipts(root: Path, count: int, exe: str, key: Path) -> list[str]:
    from attestkit import sign_receipt
    from attestkit.adapters.files import load_private_key_file

    signing = load_private_key_file(str(key))
    paths = []
    for index in range(count):
        receipt = {
            "timestamp": "2026-11-20T10:00:00Z",
            "pipeline_hash": "blake3:" + "ab" * 32,
            "steps": [
                {
                    "name": "build",
                    "command": "make",
                    "exit_code": 0,
                    "outputs": [{"path": f"dist/app{index}.bin", "hash": "blake3:" + f"{index:064x}"}],
                }
            ],
        }
        path = root / "receipts" / f"r{index:05d}.json"
        path.write_text(json.dumps(sign_receipt(receipt, signing)))
        paths.append(str(path))
    return paths


def run(full: bool = False) -> list[Row]:
    b3sum, sha256sum = shutil.which("b3sum"), shutil.which("sha256sum")
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    rows: list[Row] = []
    size = (512 if full else 256) << 20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([exe, "keys", "generate", "--out-dir", str(root), "--name", "k"], check=True, capture_output=True)
        key = root / "k.key"
        public = (root / "k.pub").read_text().strip()
        art = root / "art"
        art.mkdir()
        block = os.urandom(1 << 20)
        with open(art / "big.bin", "wb") as handle:
            for _ in range(size >> 20):
                handle.write(block)
        digest = subprocess.run([exe, "hash", str(art / "big.bin")], capture_output=True, text=True, check=True).stdout.split()[0]
        draft = root / "draft.json"
        draft.write_text(json.dumps({"timestamp": "2026-11-20T10:00:00Z", "steps": [
            {"name": "build", "command": "make", "exit_code": 0, "outputs": [{"path": "big.bin", "hash": digest}]}
        ]}))
        receipt = root / "r.json"
        subprocess.run([exe, "sign", str(draft), "--key", str(key), "-o", str(receipt)], check=True, capture_output=True)
        common = [str(receipt), "--key", str(key), "--public-key", public, "--now", "2026-11-20T12:00:00Z"]
        if b3sum and sha256sum:
            export = _best([exe, "export", *common, "--artifacts", str(art), "-o", str(root / "e.json")])
            reference = _best([b3sum, str(art / "big.bin")]) + _best([sha256sum, str(art / "big.bin")])
            mib = size >> 20
            rows.append(Row("interop", f"export --artifacts, {mib} MiB output", export, "s", "b3sum + sha256sum", reference))
            verify = _best([exe, "verify", str(receipt), "--public-key", public, "--now", "2026-11-20T12:00:00Z",
                            "--artifacts", str(art)])
            rows.append(Row("interop", f"export --artifacts vs verify --artifacts, {mib} MiB", export, "s",
                            "verify --artifacts", verify))
        (root / "receipts").mkdir()
        count = 2_000
        paths = _receipts(root, count, exe, key)
        base = [exe, "verify", str(root / "receipts"), "--public-key", public, "--now", "2026-11-20T12:00:00Z", "--json"]
        plain = _best(base)
        summarised = _best([*base, "--summary-out", str(root / "s.json"), "--key", str(key)])
        rows.append(Row("interop", f"verify --summary-out, {count} receipts", summarised, "s", "verify alone", plain))
        assert len(paths) == count
    return rows


if __name__ == "__main__":
    save(run(full="--full" in sys.argv), "interop")
