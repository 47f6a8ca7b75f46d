"""Token files are secret files: refused when group/world-readable, like key files (issue 24 item 5)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.adapters.profiles import PROFILES
from attestkit.adapters.source import credentials, read_token_file
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import InputFileError, KeyPermissionError, UsageError
from tests.conftest import CliResult, assert_one_line_error, make_receipt
from tests.http_server import Reply, serve

TOKEN = "attest_key_TOKENFILE_SECRET"
PATH = "/v1/executions/e1/receipt"


def _token_file(tmp_path: Path, mode: int, text: str = TOKEN + "\n") -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_cli_refuses_a_readable_token_file_before_any_request(
    cli: Callable[..., CliResult], tmp_path: Path, mode: int
) -> None:
    path = _token_file(tmp_path, mode)
    with serve({PATH: [Reply(200, {"receipt": {}})]}) as server:
        result = cli("fetch", "--base-url", server.base_url, "--execution", "e1", "--token-file", str(path))
        assert not server.requests
    assert result.code == 2
    assert f"chmod 600 {path}" in result.err and f"{mode:o}" in result.err
    assert TOKEN not in result.err


def test_cli_accepts_a_private_token_file(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    path = _token_file(tmp_path, 0o600)
    receipt = sign_receipt(make_receipt(), key)
    with serve({PATH: [Reply(200, {"receipt": receipt})]}) as server:
        result = cli("fetch", "--base-url", server.base_url, "--execution", "e1", "--token-file", str(path))
        assert result.code == 0, result.err
        assert server.requests[0][2]["authorization"] == f"Bearer {TOKEN}"


def test_key_and_token_files_get_the_same_refusal(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    made = cli("keys", "generate", "--out-dir", str(tmp_path / "k"))
    assert made.code == 0
    key_path = tmp_path / "k" / "attestkit.key"
    os.chmod(key_path, 0o644)
    (tmp_path / "r.json").write_text("{}")
    key_refusal = cli("sign", "r.json", "--key", str(key_path)).err
    token_refusal = cli("fetch", "--execution", "e1", "--token-file", str(_token_file(tmp_path, 0o644))).err
    for text, path in ((key_refusal, key_path), (token_refusal, tmp_path / "token")):
        assert "accessible by group or others (mode 644)" in text and f"run: chmod 600 {path}" in text


def test_library_refusals(tmp_path: Path) -> None:
    with pytest.raises(KeyPermissionError, match="chmod 600"):
        read_token_file(str(_token_file(tmp_path, 0o644)))
    assert read_token_file(str(_token_file(tmp_path, 0o600))) == TOKEN
    assert read_token_file(str(_token_file(tmp_path, 0o600, " \n"))) is None
    with pytest.raises(InputFileError, match="not found"):
        read_token_file(str(tmp_path / "absent"))
    with pytest.raises(InputFileError, match="not a regular file"):
        read_token_file(str(tmp_path))
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_token_file(_binary(tmp_path))
    with pytest.raises(InputFileError, match="64 KiB"):
        read_token_file(str(_token_file(tmp_path, 0o600, "a" * (64 * 1024 + 1))))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(InputFileError, match="not a regular file"):
        read_token_file(str(fifo))  # never blocks waiting for a writer
    with pytest.raises(UsageError, match="control characters") as info:
        credentials(PROFILES["attest"], token_file=str(_token_file(tmp_path, 0o600, "abc\r\nX-Injected: 1")))
    assert "Injected" not in str(info.value)


def _binary(tmp_path: Path) -> str:
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe token")
    os.chmod(path, 0o600)
    return str(path)


def test_every_secret_file_gets_the_same_refusal(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Key files, token files, webhook secret files and log keys: one rule, one hint (issue 24.5)."""
    assert cli("keys", "generate", "--out-dir", "k").code == 0
    assert cli("log", "init", "log", "--origin", "example.com/log", "--key", "log.key").code == 0
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "body").write_bytes(b"{}")
    files = {
        "k/attestkit.key": ["sign", "r.json", "--key", "k/attestkit.key"],
        "token": ["fetch", "--execution", "e1", "--token-file", "token"],
        "hook.secret": ["webhook", "sign", "body", "--secret-file", "hook.secret"],
        "log.key": ["log", "checkpoint", "log", "--key", "log.key"],
    }
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "hook.secret").write_text("s3cret-hook")
    for name, command in files.items():
        os.chmod(tmp_path / name, 0o640)
        result = cli(*command)
        assert result.code == 2, (name, result.err)
        assert_one_line_error(result)
        assert f"accessible by group or others (mode 640); run: chmod 600 {name}" in result.err, result.err
        assert TOKEN not in result.err and "s3cret-hook" not in result.err and "PRIVATE" not in result.err
