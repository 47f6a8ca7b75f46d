"""attestkit next to peer verifiers (in-toto, sigstore), all installed in one scratch venv.

`benchmarks/.peers-venv` (not committed) gets in-toto, sigstore and a regular (non-editable)
install of this checkout, so every tool pays the same interpreter start-up. in-toto is timed
end to end on an offline one-step supply chain (a signed layout and one link) built here;
sigstore's verification needs network access, so only its `verify --help` start-up is timed.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import venv
from pathlib import Path

from benchmarks._common import Row, wall_time
from benchmarks.verify_bench import typical_receipt

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = Path(__file__).resolve().parent / ".peers-venv"

LAYOUT_SCRIPT = """
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock
key = Ed25519PrivateKey.generate()
open("key.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open("key.pub.pem", "wb").write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
signer = CryptoSigner(key)
layout = Layout()
layout.set_relative_expiration(months=12)
layout.keys[signer.public_key.keyid] = {"keyid": signer.public_key.keyid, **signer.public_key.to_dict()}
step = Step(name="build")
step.pubkeys = [signer.public_key.keyid]
step.expected_command = ["true"]
step.expected_materials = [["ALLOW", "*"]]
step.expected_products = [["ALLOW", "*"]]
layout.steps = [step]
meta = Metablock(signed=layout)
meta.create_signature(signer)
meta.dump("root.layout")
"""


def _peers_bin() -> Path:
    bindir = PEERS_VENV / "bin"
    if not (bindir / "sigstore").exists() or not (bindir / "in-toto-verify").exists():
        venv.create(PEERS_VENV, with_pip=True)
        subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "in-toto", "sigstore"], check=True)
    pip = [str(bindir / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(ROOT)], check=True)  # attestkit's dependencies
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(ROOT)], check=True)  # this checkout's code
    return bindir


def _must_succeed(command: list[str], cwd: str | None = None) -> None:
    """Time only commands that work: a failing command exits early and looks fast."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{Path(command[0]).name} failed (exit {done.returncode}): {done.stderr.decode()[:300]}")


def run() -> list[Row]:
    from attestkit import PrivateKey, sign_receipt

    bindir = _peers_bin()
    key = PrivateKey.from_seed(bytes(32))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        receipt = work / "r.json"
        receipt.write_text(json.dumps(sign_receipt(typical_receipt(), key)))
        verify = [
            str(bindir / "attestkit"),
            "verify",
            str(receipt),
            "--public-key",
            key.public_key.text,
            "--now",
            "2026-11-20T12:00:00Z",
        ]
        _must_succeed(verify)
        ours = wall_time(verify)
        baseline = wall_time([str(bindir / "python"), "-c", "pass"])
        subprocess.run([str(bindir / "python"), "-c", LAYOUT_SCRIPT], cwd=work, check=True)
        (work / "dist").mkdir()
        (work / "dist" / "app.bin").write_bytes(b"app\n")
        subprocess.run(
            [
                str(bindir / "in-toto-run"),
                "-n",
                "build",
                "--signing-key",
                "key.pem",
                "-p",
                "dist/app.bin",
                "--",
                "true",
            ],
            cwd=work,
            check=True,
        )
        in_toto_command = [
            str(bindir / "in-toto-verify"),
            "--layout",
            str(work / "root.layout"),
            "--verification-keys",
            str(work / "key.pub.pem"),
        ]
        _must_succeed(in_toto_command, cwd=str(work))
        in_toto = wall_time(in_toto_command, cwd=str(work))
    sigstore_help = [str(bindir / "sigstore"), "verify", "--help"]
    _must_succeed(sigstore_help)
    sigstore = wall_time(sigstore_help)
    name = "attestkit verify, 1 receipt (clean venv)"
    return [
        Row("peers", name, ours * 1000, "ms", "python -c pass (same venv)", baseline * 1000, "≤ 6x"),
        Row("peers", name, ours * 1000, "ms", "in-toto-verify, end to end", in_toto * 1000, "≤ 0.5x"),
        Row("peers", name, ours * 1000, "ms", "sigstore verify --help", sigstore * 1000, "≤ 0.2x"),
    ]


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "peers")
