"""ATTESTKIT_KEY_PASSPHRASE as the environment holds it: any bytes, and never "" for a new key.

A passphrase that is not UTF-8 used to end in ``internal error (UnicodeEncodeError)`` (with
ATTESTKIT_DEBUG=1, a traceback quoting a character of it), even for an unencrypted key; an
empty one (a missing CI secret) made ``keys generate`` and ``keys rotate`` write an
unencrypted key without a word.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from attestkit.core.crypto.keys import parse_private_key
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json

Cli = Callable[..., CliResult]
RAW = b"p\xffw\xe9"  # Latin-1 bytes, not UTF-8
AS_ENV = os.fsdecode(RAW)  # how os.environ holds them (surrogateescape); the child gets the bytes


def _unsigned(tmp_path: Path) -> str:
    return str(write_json(tmp_path / "r.u.json", make_receipt()))


def test_non_utf8_passphrase_with_an_unencrypted_key(cli_process: Cli, tmp_path: Path) -> None:
    assert cli_process("keys", "generate", "--out-dir", str(tmp_path), "--name", "a").code == 0
    for debug in ("", "1"):
        signed = cli_process(
            "sign",
            _unsigned(tmp_path),
            "--key",
            str(tmp_path / "a.key"),
            env={"ATTESTKIT_KEY_PASSPHRASE": AS_ENV, "ATTESTKIT_DEBUG": debug},
        )
        assert signed.code == 0, signed.err
        assert "internal error" not in signed.err and "Traceback" not in signed.err


def test_non_utf8_passphrase_encrypts_with_its_bytes(cli_process: Cli, tmp_path: Path) -> None:
    env = {"ATTESTKIT_KEY_PASSPHRASE": AS_ENV}
    made = cli_process("keys", "generate", "--out-dir", str(tmp_path), "--name", "e", env=env)
    assert made.code == 0, made.err
    data = (tmp_path / "e.key").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert parse_private_key(data, RAW).public_key.text in made.out
    key = str(tmp_path / "e.key")
    assert cli_process("sign", _unsigned(tmp_path), "--key", key, env=env).code == 0
    wrong = cli_process("sign", _unsigned(tmp_path), "--key", key, env={"ATTESTKIT_KEY_PASSPHRASE": "p\udcfew\udce9"})
    assert wrong.code == 2 and "wrong passphrase" in wrong.err
    assert_one_line_error(wrong)


def test_non_utf8_signing_key_variable(cli_process: Cli, tmp_path: Path) -> None:
    result = cli_process("sign", _unsigned(tmp_path), env={"ATTESTKIT_SIGNING_KEY": "-----BEGIN \udcff"})
    assert result.code == 2 and "internal error" not in result.err
    assert_one_line_error(result)


def test_empty_passphrase_is_refused_for_a_new_key(cli: Cli, tmp_path: Path) -> None:
    env = {"ATTESTKIT_KEY_PASSPHRASE": ""}
    made = cli("keys", "generate", "--out-dir", str(tmp_path / "k"), "--name", "e", env=env)
    assert made.code == 2, made.out
    assert_one_line_error(made)
    assert "ATTESTKIT_KEY_PASSPHRASE is set but empty" in made.err
    assert not (tmp_path / "k" / "e.key").exists()
    assert cli("keys", "generate", "--out-dir", str(tmp_path / "k"), "--name", "old").code == 0
    ring = str(tmp_path / "ring.yaml")
    assert cli("keys", "trust", str(tmp_path / "k" / "old.pub"), "--keyring", ring).code == 0
    before = Path(ring).read_text()
    rotated = cli("keys", "rotate", "--keyring", ring, "--old", str(tmp_path / "k" / "old.pub"),
                  "--out-dir", str(tmp_path / "new"), env=env)  # fmt: skip
    assert rotated.code == 2 and "set but empty" in rotated.err
    assert_one_line_error(rotated)
    assert Path(ring).read_text() == before and not (tmp_path / "new" / "attestkit.key").exists()


def test_empty_passphrase_still_reads_an_unencrypted_key(cli: Cli, tmp_path: Path) -> None:
    assert cli("keys", "generate", "--out-dir", str(tmp_path), "--name", "a").code == 0
    signed = cli("sign", _unsigned(tmp_path), "--key", str(tmp_path / "a.key"), env={"ATTESTKIT_KEY_PASSPHRASE": ""})
    assert signed.code == 0, signed.err
