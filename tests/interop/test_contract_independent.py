"""The contract's CLI surface on data made only by independent implementations.

Keys come from `cryptography`, signatures from `rfc8785` + `cryptography`, YAML from PyYAML's
own dumper, webhook MACs from `hmac`: nothing here is produced by attestkit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import NOW, CliResult, make_receipt

Cli = Callable[..., CliResult]


def _sign(receipt: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body = {k: v for k, v in receipt.items() if k != "signature"}
    body.update(signer_public_key="ed25519:" + raw.hex(), signature_algorithm="ed25519")
    return {**body, "signature": "ed25519:" + key.sign(rfc8785.dumps(body)).hex()}


@pytest.fixture()
def independent(tmp_path: Path) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    files = {
        "pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "ssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        + b" ci@example\n",
        "text": (
            "ed25519:" + public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex() + "\n"
        ).encode(),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"trusted.{name}"
        paths[name].write_bytes(data)
    ssh_private = tmp_path / "id_ed25519"
    ssh_private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    ssh_private.chmod(0o600)
    return {"key": key, "paths": paths, "ssh_private": ssh_private, "text": files["text"].decode().strip()}


def test_every_public_key_form_verifies(cli: Cli, tmp_path: Path, independent: dict[str, Any]) -> None:
    receipt = tmp_path / "r.json"
    receipt.write_text(json.dumps(_sign(make_receipt(), independent["key"]), indent=1))
    for path in independent["paths"].values():
        assert cli("verify", str(receipt), "--public-key", str(path), "--now", NOW).code == 0, path
        assert cli("verify", str(receipt), "--trusted-keys-file", str(path), "--now", NOW).code == 0, path
    assert cli("verify", str(receipt), "--public-key", independent["text"], "--now", NOW).code == 0
    both = tmp_path / "both.pem"
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    both.write_bytes(other + independent["paths"]["pem"].read_bytes())
    assert cli("verify", str(receipt), "--trusted-keys-file", str(both), "--now", NOW).code == 0


def test_pyyaml_receipts_verify(cli: Cli, tmp_path: Path, independent: dict[str, Any]) -> None:
    signed = _sign(
        make_receipt(extra={"ratio": 1e-07, "big": 1e21, "flag": True, "nothing": None, "when": "2026-11-20"}),
        independent["key"],
    )
    for name, text in (
        ("r.yaml", yaml.safe_dump(signed)),
        ("r.yml", yaml.safe_dump(signed, sort_keys=False, default_flow_style=True)),
    ):
        (tmp_path / name).write_text(text)
        result = cli("verify", str(tmp_path / name), "--public-key", independent["text"], "--now", NOW, "--json")
        assert result.code == 0, (text, result.out)
        assert result.json_lines()[0]["chain_of_trust"] == "verified"


def test_signing_with_an_openssh_key_matches_independent_bytes(
    cli: Cli, tmp_path: Path, independent: dict[str, Any]
) -> None:
    unsigned = make_receipt(note="é ✓ \U0001f600", amounts=[45.0, -0.0, 1e-7])
    (tmp_path / "u.json").write_text(json.dumps(unsigned))
    result = cli("sign", str(tmp_path / "u.json"), "--key", str(independent["ssh_private"]))
    assert result.code == 0, result.err
    assert json.loads(result.out) == _sign(unsigned, independent["key"])


def test_independent_tampering_and_untrusted(cli: Cli, tmp_path: Path, independent: dict[str, Any]) -> None:
    signed = _sign(make_receipt(), independent["key"])
    signed["total_duration_secs"] = 45.3
    (tmp_path / "t.json").write_text(json.dumps(signed))
    result = cli("verify", str(tmp_path / "t.json"), "--public-key", independent["text"], "--json", "--now", NOW)
    assert result.code == 1 and result.json_lines()[0]["signature_verification"]["valid"] is False
    stranger = _sign(make_receipt(), Ed25519PrivateKey.generate())
    (tmp_path / "s.json").write_text(json.dumps(stranger))
    out = cli("verify", str(tmp_path / "s.json"), "--public-key", independent["text"], "--json", "--now", NOW)
    line = out.json_lines()[0]
    assert out.code == 1 and line["signature_verification"]["valid"] is True and line["chain_of_trust"] == "untrusted"


@pytest.mark.parametrize("header", ["X-Attest-Signature", "X-Hub-Signature-256"])
def test_webhooks_signed_with_hmac(cli: Cli, tmp_path: Path, header: str) -> None:
    body = b'{"event":"receipt.signed","data":{"execution_id":"e1"}}'
    (tmp_path / "body").write_bytes(body)
    mac = hmac.new(b"top-secret", body, hashlib.sha256).hexdigest()
    env = {"HOOK_SECRET": "top-secret"}

    def check(signature: str) -> CliResult:
        args = [
            "webhook",
            "verify",
            str(tmp_path / "body"),
            "--secret-env",
            "HOOK_SECRET",
            "--header",
            f"{header}: sha256={signature}",
        ]
        return cli(*args, env=env)

    assert check(mac).code == 0
    bad = check("0" * 64)
    assert bad.code == 1 and "Traceback" not in bad.err
