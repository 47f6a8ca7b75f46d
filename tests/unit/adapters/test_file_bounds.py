"""Issue 15.3: every file attestkit reads is bounded before it is read, and never blocks.

Each attack goes through the installed command (and the library where there is one): a
2 GiB receipt, ``/dev/zero`` as every kind of input, a FIFO and a link to ``/dev/zero``
inside a directory given to ``verify DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.adapters.files import (
    MAX_KEY_FILE_BYTES,
    iter_lines,
    read_bounded,
    read_bytes,
    read_receipt_bytes,
    read_receipt_file,
)
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.reader import MAX_RECEIPT_BYTES
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import InputFileError, MalformedReceiptError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/zero") or sys.platform == "win32", reason="POSIX only")


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.write(b'{"a": "')
        handle.truncate(size)
    return path


def test_huge_receipt_is_refused_without_reading_it(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    big = _sparse(tmp_path / "big.json", 2 << 30)
    result = cli("verify", str(big), "--integrity-only")
    assert result.code == 1, result.err
    assert "2147483648 bytes" in result.out + result.err and "32 MiB" in result.out + result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    with pytest.raises(MalformedReceiptError) as caught:
        read_receipt_file(str(big))
    assert caught.value.code == "size"
    # The CLI's own peak RSS, measured by a fresh parent whose only child it is (this test
    # process's RUSAGE_CHILDREN would include every earlier test's browsers and JVMs): far
    # below the 2 GiB a whole read would take (ru_maxrss is KiB on Linux).
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run([sys.executable, '-m', 'attestkit', 'verify', sys.argv[1], '--integrity-only'], capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    peak = int(
        subprocess.run([sys.executable, "-c", probe, str(big)], capture_output=True, text=True, check=True).stdout
    )
    assert 0 < peak < 400 * 1024


def test_huge_receipt_on_stdin_reads_at_most_the_limit(tmp_path: Path) -> None:
    big = _sparse(tmp_path / "big.json", 2 << 30)
    with open(big, "rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "attestkit", "verify", "-", "--integrity-only"],
            stdin=stdin,
            capture_output=True,
            timeout=120,
        )
        assert stdin.tell() <= MAX_RECEIPT_BYTES + (1 << 20)  # nothing near 2 GiB was consumed
    assert proc.returncode == 1, proc.stderr
    assert b"32 MiB" in proc.stdout + proc.stderr and b"Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "/dev/zero", "--integrity-only"],
        ["verify", "--jsonl", "/dev/zero", "--integrity-only"],
        ["verify", "r.json", "--trusted-keys-file", "/dev/zero"],
        ["verify", "r.json", "--public-key", "/dev/zero"],
        ["verify", "r.json", "--integrity-only", "--policy-file", "/dev/zero"],
        ["webhook", "verify", "/dev/zero", "--secret-env", "SECRET", "--header", "X-Attest-Signature: sha256=00"],
        ["sign", "/dev/zero", "--key", "k.key"],
        ["hash", "--check", "/dev/zero"],
        ["fetch", "--base-url", "http://127.0.0.1:9", "--execution", "x", "--token-file", "/dev/zero"],
    ],
    ids=["receipt", "jsonl", "trusted-keys", "public-key", "policy", "webhook-body", "sign", "hash-check", "token"],
)
def test_dev_zero_is_never_read_forever(
    args: list[str], cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    (tmp_path / "k.key").write_bytes(key.to_pem())
    (tmp_path / "k.key").chmod(0o600)
    result = cli(*args, env={"SECRET": "s3cret"})  # the fixture's 60 s timeout turns a hang into a failure
    assert result.code in (1, 2), result
    assert "Traceback" not in result.err and "internal error" not in result.err
    said = result.out + result.err
    assert "/dev/zero" in said and ("limit" in said or "not a regular file" in said), said


def test_library_reader_bounds(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as caught:
        read_bytes("/dev/zero", "public key file", MAX_KEY_FILE_BYTES)
    assert caught.value.code == "too-large" and "1 MiB" in caught.value.message
    with pytest.raises(MalformedReceiptError):
        read_receipt_bytes("/dev/zero")
    exact = tmp_path / "exact.bin"
    exact.write_bytes(b"x" * 1000)
    assert read_bounded(str(exact), "file", 1000) == b"x" * 1000
    with pytest.raises(InputFileError, match="1000 bytes; the limit is 999 bytes"):
        read_bounded(str(exact), "file", 999)
    with pytest.raises(InputFileError, match="not a regular file"):
        read_bounded("/dev/zero", "receipt", 10, regular_only=True)
    with pytest.raises(InputFileError, match="is a directory"):
        read_bounded(str(tmp_path), "receipt", 10)
    with pytest.raises(InputFileError, match="not found"):
        read_bounded(str(tmp_path / "absent"), "receipt", 10)


def test_jsonl_line_over_the_limit_stops_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b'{"a": 1}\n\n' + b"x" * 50 + b"\n" + b'{"b": 2}\n')
    got = list(iter_lines(str(path), "JSON Lines file", 40))
    assert got[0] == (1, b'{"a": 1}')
    assert isinstance(got[1][1], MalformedReceiptError) and got[1][0] == 3
    assert isinstance(got[2][1], InputFileError) and len(got) == 3
    exact = tmp_path / "exact.jsonl"
    exact.write_bytes(b"y" * 40 + b"\n" + b"z" * 40)
    assert list(iter_lines(str(exact), "JSON Lines file", 40)) == [(1, b"y" * 40), (2, b"z" * 40)]
    assert isinstance(next(iter_lines(str(tmp_path / "none"), "JSON Lines file", 40))[1], InputFileError)


def test_verify_dir_with_fifo_and_link_to_dev_zero(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    tree = tmp_path / "receipts"
    tree.mkdir()
    write_json(tree / "a-good.json", sign_receipt(make_receipt(), key))
    os.mkfifo(tree / "b-fifo.json")
    (tree / "c-zero.json").symlink_to("/dev/zero")
    write_json(tree / "d-good.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(tree), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 2, result
    lines = result.json_lines()
    verdicts = {Path(line["receipt"]).name: line for line in lines}
    assert verdicts["a-good.json"]["valid"] is True and verdicts["d-good.json"]["valid"] is True
    for name in ("b-fifo.json", "c-zero.json"):
        assert verdicts[name]["valid"] is False
        assert verdicts[name]["error"]["code"] == "special-file"
        assert "not a regular file" in verdicts[name]["error"]["message"]
    assert "2 valid, 0 invalid, 2 errors" in result.err


def test_unlistable_subdirectory_is_reported(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can list any directory")
    tree = tmp_path / "receipts"
    (tree / "locked").mkdir(parents=True)
    write_json(tree / "locked" / "r.json", sign_receipt(make_receipt(), key))
    write_json(tree / "ok.json", sign_receipt(make_receipt(), key))
    (tree / "locked").chmod(0)
    try:
        result = cli("verify", str(tree), "--public-key", key.public_key.text, "--now", NOW)
    finally:
        (tree / "locked").chmod(0o755)
    assert result.code == 2 and "cannot list directory" in result.err


def test_named_fifo_is_still_read(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    body = json.dumps(sign_receipt(make_receipt(), key)).encode()

    def writer() -> None:
        with open(fifo, "wb") as handle:
            handle.write(body)

    thread = threading.Thread(target=writer)
    thread.start()
    result = cli("verify", str(fifo), "--public-key", key.public_key.text, "--now", NOW)
    thread.join(timeout=60)
    assert result.code == 0, result


def test_oversized_jsonl_line_cli(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    good = json.dumps(sign_receipt(make_receipt(), key))
    path = tmp_path / "lines.jsonl"
    with open(path, "w") as handle:
        handle.write(good + "\n")
        handle.write('{"pad": "' + "x" * (MAX_RECEIPT_BYTES + 10) + '"}\n')
        handle.write(good + "\n")
    result = cli("verify", "--jsonl", str(path), "--public-key", key.public_key.text, "--now", NOW)
    assert result.code == 2
    assert "lines.jsonl:2" in result.out + result.err and "32 MiB" in result.out + result.err
    assert "not read after line 2" in result.err


def test_error_is_one_line(cli: Callable[..., CliResult]) -> None:
    result = cli("verify", "--trusted-keys-file", "/dev/zero", "x.json")
    assert result.code == 2
    assert_one_line_error(result)
