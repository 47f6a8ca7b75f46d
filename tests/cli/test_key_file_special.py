"""A private key file is a regular file, judged by the descriptor that is read.

A named FIFO given as ``--key`` used to hang (opened blocking, waiting for a writer), and the
0600 rule was checked only for a regular file found by a ``stat`` before the open: a 0666 FIFO
fed the key was read and signed with. ``keys show FIFO`` hung the same way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from attestkit.adapters.files import load_private_key_file
from attestkit.errors import InputFileError, KeyPermissionError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json

Cli = Callable[..., CliResult]


@pytest.fixture()
def keyfiles(cli: Cli, tmp_path: Path) -> tuple[Path, str]:
    assert cli("keys", "generate", "--out-dir", str(tmp_path), "--name", "a").code == 0
    return tmp_path / "a.key", str(write_json(tmp_path / "r.u.json", make_receipt()))


@pytest.fixture()
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo.key"
    os.mkfifo(path)
    path.chmod(0o666)
    yield path


def _refused_special(result: CliResult) -> None:
    assert result.code == 2, (result.out, result.err)
    assert_one_line_error(result)
    assert "fifo.key: not a regular file; a key file must be one" in result.err


def test_fifo_without_writer_does_not_hang(cli_process: Cli, keyfiles: tuple[Path, str], fifo: Path) -> None:
    _, unsigned = keyfiles
    _refused_special(cli_process("sign", unsigned, "--key", str(fifo)))
    _refused_special(cli_process("keys", "show", str(fifo)))


def test_world_readable_fifo_fed_the_key_is_refused(cli_process: Cli, keyfiles: tuple[Path, str], fifo: Path) -> None:
    key, unsigned = keyfiles
    writer = subprocess.Popen(["sh", "-c", 'exec cat "$1" > "$2"', "sh", str(key), str(fifo)])
    try:
        _refused_special(cli_process("sign", unsigned, "--key", str(fifo), "--no-signer"))
    finally:
        writer.kill()
        writer.wait()


def test_library_refuses_a_fifo(fifo: Path) -> None:
    with pytest.raises(InputFileError) as caught:
        load_private_key_file(str(fifo), {})
    assert caught.value.code == "special-file"


def test_a_link_to_a_key_is_judged_by_its_target(cli: Cli, keyfiles: tuple[Path, str], tmp_path: Path) -> None:
    key, unsigned = keyfiles
    link = tmp_path / "link.key"
    link.symlink_to(key)
    assert cli("sign", unsigned, "--key", str(link)).code == 0  # documented: a link to a 0600 key is fine
    key.chmod(0o644)
    refused = cli("sign", unsigned, "--key", str(link))
    assert refused.code == 2 and "accessible by group or others (mode 644)" in refused.err
    with pytest.raises(KeyPermissionError):
        load_private_key_file(str(link), {})


def test_directory_and_device_as_key(cli: Cli, keyfiles: tuple[Path, str], tmp_path: Path) -> None:
    _, unsigned = keyfiles
    directory = cli("sign", unsigned, "--key", str(tmp_path))
    assert directory.code == 2 and "is a directory" in directory.err
    device = cli("sign", unsigned, "--key", "/dev/null")
    assert device.code == 2 and "/dev/null: not a regular file" in device.err
    assert_one_line_error(device)
