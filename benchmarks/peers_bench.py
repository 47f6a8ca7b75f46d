"""Start-up of peer verifiers (in-toto, sigstore) next to a one-receipt `attestkit verify`.

Installs the peers into a scratch venv (benchmarks/.peers-venv, not committed) on first use.
Only CLI start-up is compared: an end-to-end in-toto verification needs a layout, links and
keys, which this script does not set up yet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from benchmarks._common import Row, wall_time
from benchmarks.verify_bench import typical_receipt

PEERS_VENV = Path(__file__).resolve().parent / ".peers-venv"


def _peers_bin() -> Path:
    bindir = PEERS_VENV / "bin"
    if not (bindir / "sigstore").exists() or not (bindir / "in-toto-verify").exists():
        venv.create(PEERS_VENV, with_pip=True)
        subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "in-toto", "sigstore"], check=True)
    return bindir


def run() -> list[Row]:
    from attestkit import PrivateKey, sign_receipt

    bindir = _peers_bin()
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    key = PrivateKey.from_seed(bytes(32))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_text(json.dumps(sign_receipt(typical_receipt(), key)))
        ours = wall_time(
            [exe, "verify", str(path), "--public-key", key.public_key.text, "--now", "2026-11-20T12:00:00Z"]
        )
    in_toto = wall_time([str(bindir / "in-toto-verify"), "--help"])
    sigstore = wall_time([str(bindir / "sigstore"), "verify", "--help"])
    return [
        Row(
            "peers",
            "attestkit verify (1 receipt, end to end)",
            ours * 1000,
            "ms",
            "in-toto-verify --help",
            in_toto * 1000,
            "≤ 0.5x of end-to-end in-toto-verify",
        ),
        Row(
            "peers",
            "attestkit verify (1 receipt, end to end)",
            ours * 1000,
            "ms",
            "sigstore verify --help",
            sigstore * 1000,
            "≤ 0.2x",
        ),
    ]


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "peers")
