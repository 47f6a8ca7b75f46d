"""A receipt corpus holding every failure class, for differential tests of the cluster paths.

Dask, Spark and the GitHub Action must give the verdicts, codes and order the serial path
gives on the same receipts: valid, bad signature, untrusted key, revoked key, malformed,
policy violation, artifact mismatch (and, for paths, a file that cannot be read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from attestkit.core.crypto.digest import hash_file
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.policy.builtin import builtin_policy
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.keyring import parse_keyring
from attestkit.core.verify.bulk import BulkItem
from attestkit.core.verify.verifier import VerifyOptions
from tests.conftest import NOW, make_receipt

TRUSTED = PrivateKey.from_seed(bytes([7]) * 32)
UNTRUSTED = PrivateKey.from_seed(bytes([8]) * 32)
REVOKED = PrivateKey.from_seed(bytes([9]) * 32)
CLASSES = ("valid", "bad-signature", "untrusted", "revoked", "malformed", "policy", "artifact")


@dataclass(frozen=True)
class Corpus:
    root: Path
    keyring: Path
    artifacts: Path
    paths: list[str]  # every receipt file, in order (several rounds of every class)

    def options(self) -> VerifyOptions:
        """The options the CLI builds from ``--trusted-keys-file``, ``--policy``, ``--artifacts``, ``--now``."""
        return VerifyOptions(
            trusted=parse_keyring(self.keyring.read_text(encoding="utf-8"), str(self.keyring)),
            now=parse_rfc3339(NOW),
            policies=(builtin_policy("steps-succeeded"),),
            artifacts_dir=str(self.artifacts),
        )

    def cli_args(self) -> list[str]:
        return [
            "--trusted-keys-file",
            str(self.keyring),
            "--policy",
            "steps-succeeded",
            "--artifacts",
            str(self.artifacts),
            "--now",
            NOW,
        ]

    def items(self) -> list[BulkItem]:
        """The receipts as items read here (what the serial path verifies)."""
        from attestkit.core.receipt.reader import format_for_name

        return [BulkItem(p, Path(p).read_bytes(), fmt=format_for_name(p)) for p in self.paths]


def _receipt(digest: str, **overrides: object) -> dict[str, object]:
    receipt = make_receipt(**overrides)
    receipt["steps"][0]["outputs"] = [{"path": "dist/app.bin", "hash": digest, "size_bytes": 7}]  # type: ignore[index]
    return receipt


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def build_corpus(root: Path, rounds: int = 3) -> Corpus:
    """Write *rounds* copies of every class under *root* (files named ``NN-class.json``)."""
    artifacts = root / "artifacts"
    (artifacts / "dist").mkdir(parents=True)
    (artifacts / "dist" / "app.bin").write_bytes(b"binary\n")
    digest = hash_file(str(artifacts / "dist" / "app.bin"))
    keyring = root / "keyring.yaml"
    keyring.write_text(
        "version: 1\nkeys:\n"
        f"  - public_key: {TRUSTED.public_key.text}\n    identity: ci@example.com\n"
        f"  - public_key: {REVOKED.public_key.text}\n    identity: old-ci@example.com\n"
        "    revoked_at: 2026-01-01T00:00:00Z\n    reason: key-compromise\n",
        encoding="utf-8",
    )
    receipts = root / "receipts"
    receipts.mkdir()
    paths: list[str] = []
    for n in range(rounds):
        good = sign_receipt(_receipt(digest, total_duration_secs=10.0 + n), TRUSTED)
        tampered = dict(good, total_duration_secs=99.0 + n)
        failing = _receipt(digest)
        failing["steps"][0]["exit_code"] = 1  # type: ignore[index]
        wrong = _receipt("blake3:" + "00" * 32)
        body = json.dumps(sign_receipt(_receipt(digest), TRUSTED)).encode()
        contents = {
            "valid": json.dumps(good).encode(),
            "bad-signature": json.dumps(tampered).encode(),
            "untrusted": json.dumps(sign_receipt(_receipt(digest), UNTRUSTED)).encode(),
            "revoked": json.dumps(sign_receipt(_receipt(digest), REVOKED)).encode(),
            "malformed": body.replace(b'"attest_version"', b'"attest_version": "x", "attest_version"', 1),
            "policy": json.dumps(sign_receipt(failing, TRUSTED)).encode(),
            "artifact": json.dumps(sign_receipt(wrong, TRUSTED)).encode(),
        }
        for i, name in enumerate(CLASSES):
            paths.append(_write(receipts / f"{n:02d}-{i}-{name}.json", contents[name]))
    return Corpus(root, keyring, artifacts, paths)
