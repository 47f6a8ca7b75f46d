"""The installed ``attestkit`` command, in a child process: exit codes, one-line errors, --json shape.

The rest of the suite runs the CLI in-process (tests/conftest.py); this module keeps the
contract's surface checked through the real console script.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

Cli = Callable[..., CliResult]


@pytest.fixture()
def cli(cli_process: Cli) -> Cli:
    """Every test here runs the console script in a child process."""
    return cli_process


def _keypair(cli: Cli, tmp_path: Path, name: str = "attestkit", env: dict[str, str] | None = None) -> tuple[Path, Path]:
    result = cli("keys", "generate", "--out-dir", str(tmp_path / "keys"), "--name", name, env=env)
    assert result.code == 0, result.err
    return tmp_path / "keys" / f"{name}.key", tmp_path / "keys" / f"{name}.pub"


def test_version_and_module_entry(cli: Cli) -> None:
    result = cli("--version")
    assert result.code == 0 and "attestkit" in result.out
    proc = subprocess.run([sys.executable, "-m", "attestkit", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == result.out


def test_generate_sign_verify_round_trip(cli: Cli, tmp_path: Path) -> None:
    key_path, pub_path = _keypair(cli, tmp_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert pub_path.read_text().startswith("ed25519:")
    unsigned = write_json(tmp_path / "r.json", make_receipt())
    assert cli("sign", str(unsigned), "--key", str(key_path), "-o", str(tmp_path / "s.json")).code == 0
    assert cli("sign", str(unsigned), "--key", str(key_path), "-o", str(tmp_path / "s.yaml")).code == 0
    for name in ("s.json", "s.yaml"):
        result = cli("verify", str(tmp_path / name), "--public-key", str(pub_path), "--now", NOW)
        assert result.code == 0, result.out + result.err
        assert result.out.startswith("VALID")
    shown = cli("keys", "show", str(key_path))
    assert shown.code == 0 and pub_path.read_text().strip() in shown.out


def test_sign_from_stdin_to_stdout_and_env_key(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    body = json.dumps(make_receipt()).encode()
    env = {"ATTESTKIT_SIGNING_KEY": key.to_pem().decode()}
    result = cli("sign", "-", stdin=body, env=env)
    assert result.code == 0, result.err
    signed = json.loads(result.out)
    assert signed["signer_public_key"] == key.public_key.text
    assert signed == sign_receipt(make_receipt(), key)


def test_encrypted_key_uses_passphrase_env(cli: Cli, tmp_path: Path) -> None:
    env = {"ATTESTKIT_KEY_PASSPHRASE": "correct horse"}
    key_path, _pub_path = _keypair(cli, tmp_path, env=env)
    assert b"ENCRYPTED" in key_path.read_bytes()
    unsigned = write_json(tmp_path / "r.json", make_receipt())
    no_pass = cli("sign", str(unsigned), "--key", str(key_path))
    assert no_pass.code == 2 and "ATTESTKIT_KEY_PASSPHRASE" in no_pass.err
    wrong = cli("sign", str(unsigned), "--key", str(key_path), env={"ATTESTKIT_KEY_PASSPHRASE": "Zq9-not-it-Zq9"})
    assert wrong.code == 2 and "Zq9-not-it-Zq9" not in wrong.err
    assert_one_line_error(wrong)
    assert cli("sign", str(unsigned), "--key", str(key_path), env=env).code == 0


def test_refuses_world_readable_key_and_overwrite(cli: Cli, tmp_path: Path) -> None:
    key_path, _ = _keypair(cli, tmp_path)
    again = cli("keys", "generate", "--out-dir", str(tmp_path / "keys"))
    assert again.code == 2 and "refusing to overwrite" in again.err
    key_path.chmod(0o644)
    unsigned = write_json(tmp_path / "r.json", make_receipt())
    result = cli("sign", str(unsigned), "--key", str(key_path))
    assert result.code == 2 and "chmod 600" in result.err
    assert_one_line_error(result)


def test_sign_never_leaves_partial_output(cli: Cli, tmp_path: Path) -> None:
    key_path, _ = _keypair(cli, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"timestamp": "2026-11-20T10:00:00Z", "a": NaN}')
    out = tmp_path / "out.json"
    result = cli("sign", str(bad), "--key", str(key_path), "-o", str(out))
    assert result.code == 1 and not out.exists()
    assert "bad.json" in result.err and "NaN" in result.err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json")]


def _signed_file(tmp_path: Path, key: PrivateKey, name: str = "s.json", **overrides: Any) -> Path:
    return write_json(tmp_path / name, sign_receipt(make_receipt(**overrides), key))


def test_verify_json_shape(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    path = _signed_file(tmp_path, key, signer="ci@example.com")
    result = cli(
        "verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--json", "--policy", "require-tests"
    )
    assert result.code == 0
    (line,) = result.json_lines()
    assert line["valid"] is True
    assert line["signature_verification"]["valid"] is True
    assert line["signature_verification"]["signer"] == "ci@example.com"
    assert line["signature_verification"]["algorithm"] == "ed25519"
    assert line["policy_compliance"] == {"passed": True, "violations": []}
    assert line["timestamp_check"] == {"valid": True, "age_hours": 2.0}
    assert line["chain_of_trust"] == "verified"


def test_verify_exit_codes(cli: Cli, tmp_path: Path, key: PrivateKey, other_key: PrivateKey) -> None:
    good = _signed_file(tmp_path, key)
    pub = key.public_key.text
    assert cli("verify", str(good), "--public-key", pub, "--now", NOW).code == 0
    tampered = tmp_path / "t.json"
    tampered.write_text(good.read_text().replace('"exit_code": 0', '"exit_code": 1'))
    assert cli("verify", str(tampered), "--public-key", pub, "--now", NOW).code == 1
    assert cli("verify", str(good), "--public-key", other_key.public_key.text, "--now", NOW).code == 1
    integrity = cli("verify", str(good), "--integrity-only", "--json", "--now", NOW)
    assert integrity.code == 0
    assert integrity.json_lines()[0]["chain_of_trust"] == "untrusted" and integrity.json_lines()[0]["valid"] is True
    for args in (
        [str(good)],
        [str(tmp_path / "missing.json"), "--public-key", pub],
        [str(good), "--public-key", "ed25519:" + "00" * 32],
        [str(good), "--public-key", pub, "--policy", "no-such-policy"],
        [str(good), "--public-key", pub, "--artifacts", str(tmp_path / "nope")],
        [str(good), "--public-key", pub, "--now", "yesterday"],
        [str(good), "--public-key", pub, "--tolerance", "5 minutes"],
    ):
        result = cli("verify", *args)
        assert result.code == 2, (args, result.out, result.err)
        assert "Traceback" not in result.err


def test_now_accepts_unix_seconds(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    good = _signed_file(tmp_path, key)
    result = cli("verify", str(good), "--public-key", key.public_key.text, "--now", "1795176000", "--json")
    assert result.json_lines()[0]["timestamp_check"]["age_hours"] == 2.0


def test_future_timestamp_exit_1(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    path = _signed_file(tmp_path, key, timestamp="2026-11-20T12:06:00Z")
    assert cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW).code == 1
    assert cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--tolerance", "10m").code == 0


def test_several_receipts_json_lines_and_worst_exit(
    cli: Cli, tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    a = _signed_file(tmp_path, key, "a.json")
    b = write_json(tmp_path / "b.json", sign_receipt(make_receipt(), other_key))
    result = cli("verify", str(a), str(b), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 1
    assert [line["valid"] for line in result.json_lines()] == [True, False]
    missing = cli(
        "verify", str(a), str(tmp_path / "gone.json"), "--public-key", key.public_key.text, "--now", NOW, "--json"
    )
    assert missing.code == 2 and len(missing.json_lines()) == 2


def test_trusted_keys_file(cli: Cli, tmp_path: Path, key: PrivateKey, other_key: PrivateKey) -> None:
    good = _signed_file(tmp_path, key)
    keys_file = tmp_path / "trusted.txt"
    keys_file.write_text(f"# trusted\n{other_key.public_key.text}\n{key.public_key.to_pem().decode()}")
    assert cli("verify", str(good), "--trusted-keys-file", str(keys_file), "--now", NOW).code == 0
    keys_file.write_text(f"{key.public_key.text}\ned25519:{'00' * 32}\n")
    result = cli("verify", str(good), "--trusted-keys-file", str(keys_file), "--now", NOW)
    assert result.code == 2 and "line 2" in result.err


def test_malformed_receipt_message_names_file_rule_and_place(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    bad = tmp_path / "dup.json"
    bad.write_text('{"timestamp": "2026-11-20T10:00:00Z",\n"a": 1,\n"a": 2}')
    result = cli("verify", str(bad), "--public-key", key.public_key.text, "--json")
    assert result.code == 1
    line = result.json_lines()[0]
    assert line["valid"] is False
    assert "dup.json" in line["checks"][0]["message"] and "duplicate" in line["checks"][0]["message"]
    assert "line 3" in line["checks"][0]["message"]


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("verify", "--no-such-flag").code == 2
    assert cli("no-such-command").code == 2
    assert cli("sign").code == 2


def test_sign_output_without_known_extension_is_json(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(key.to_pem())
    key_file.chmod(0o600)
    unsigned = write_json(tmp_path / "r.json", make_receipt())
    assert cli("sign", str(unsigned), "--key", str(key_file), "-o", str(tmp_path / "signed")).code == 0
    assert json.loads((tmp_path / "signed").read_text())["signature"].startswith("ed25519:")
