"""Where `-o` writes: a file through a rename; a pipe or device into it, never replaced (adversarial review).

As root, a rename onto ``-o /dev/null`` turned /dev/null into a 0644 file of verdict JSON for
every user of the machine; ``-o /dev/stdout`` with stdout on a file replaced the /dev/stdout link.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.adapters.files import _own_descriptor, write_atomic
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import InputFileError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, run_cli_process, write_json


def _null_device(path: Path) -> Path:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root (CI runs as root)")
    return path


def _same_device(path: Path) -> bool:
    info = os.lstat(path)
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)


def test_a_character_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    device = _null_device(tmp_path / "null")
    write_atomic(str(device), b"verdicts\n")
    assert _same_device(device)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file left beside it


def test_a_link_to_a_device_is_refused_and_left_alone(tmp_path: Path) -> None:
    link = tmp_path / "report.json"
    link.symlink_to("/dev/null")
    with pytest.raises(InputFileError) as caught:
        write_atomic(str(link), b"x")
    assert caught.value.code == "special-file" and "report.json" in str(caught.value)
    assert link.is_symlink() and os.readlink(link) == "/dev/null" and _same_device(Path("/dev/null"))


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(InputFileError) as caught:
            write_atomic(str(path), b"x")
        assert caught.value.code == "special-file"
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        server.close()


def test_a_pipe_nobody_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="nobody reads"):
        write_atomic(str(fifo), b"x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_pipe_with_a_reader_gets_the_bytes(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    reader = threading.Thread(target=lambda: received.append(_read_all(reader_fd)))
    reader.start()
    data = b"line\n" * 30_000  # more than a pipe buffer: the write must block, not fail with EAGAIN
    write_atomic(str(fifo), data)
    reader.join(10)
    assert received == [data] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_pipe_whose_reader_never_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    try:
        started = time.monotonic()
        with pytest.raises(InputFileError, match=r"took nothing for 0\.3 s; output incomplete") as caught:
            write_atomic(str(fifo), b"line\n" * 30_000, stall=0.3)  # more than a pipe buffer
        assert time.monotonic() - started < 5 and "fifo" in str(caught.value)
    finally:
        os.close(reader_fd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_an_own_descriptor_is_known_by_where_it_lives_not_by_its_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decided without writing: a wrong answer here would replace /dev/stdout on this machine.
    assert _own_descriptor("/dev/./stdout") == 1
    assert _own_descriptor("/dev//stderr") == 2
    assert _own_descriptor("/dev/fd/./1") == 1
    assert _own_descriptor(f"/proc/{os.getpid()}/fd/2") == 2
    assert _own_descriptor("/proc/thread-self/fd/1") == 1
    assert _own_descriptor(str(tmp_path / "stdout")) is None
    monkeypatch.chdir("/dev")
    assert _own_descriptor("stdout") == 1 and _own_descriptor("fd/1") == 1
    with pytest.raises(InputFileError) as caught:
        _own_descriptor("/proc/1/fd/1")  # another process's descriptor
    assert caught.value.code == "special-file"


def test_no_new_entry_is_made_in_dev(tmp_path: Path) -> None:
    # An absent name or a link in /dev is never created or replaced (as root that is the machine's /dev).
    absent = "/dev/attestkit-test-absent.json"
    try:
        for name in (absent, "/dev/./attestkit-test-absent.json", "/dev/stdin"):
            with pytest.raises(InputFileError) as caught:
                write_atomic(name, b"x")
            assert caught.value.code == "special-file"
        assert not os.path.lexists(absent) and os.path.islink("/dev/stdin")
    finally:
        if os.path.isfile(absent) and not os.path.islink(absent):
            os.unlink(absent)  # only if a regression made it


def test_a_pipe_whose_reader_trickles_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """Review, stop 35: the stall limit applied to each wait, so a reader taking 4 KiB just
    before every stall stretched a write almost without end (here 512 KiB at 20 KiB/s: 25 s
    with stall 0.3 s). The reader must take 64 KiB per stall period on average."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.2):
            try:
                os.read(reader_fd, 4096)
            except BlockingIOError:
                pass

    reader = threading.Thread(target=trickle, daemon=True)
    reader.start()
    try:
        started = time.monotonic()
        with pytest.raises(InputFileError, match=r"took less than 64 KiB per 0\.3 s; output incomplete"):
            write_atomic(str(fifo), b"x" * (512 * 1024), stall=0.3)
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        reader.join(5)
        os.close(reader_fd)


def _read_all(fd: int) -> bytes:
    chunks, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        if not chunk:
            if chunks:
                break  # the writer closed its end
            time.sleep(0.001)  # no writer yet
            continue
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_an_own_descriptor_is_written_to(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with open(target, "wb") as handle:
        handle.write(b"head\n")
        handle.flush()
        write_atomic(f"/dev/fd/{handle.fileno()}", b"body\n")
    assert target.read_bytes() == b"head\nbody\n"  # at the descriptor's offset, not over its start
    with pytest.raises(InputFileError, match="not open"):
        write_atomic("/proc/self/fd/987654", b"x")


def test_cli_output_to_a_device_and_to_stdout(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    device = _null_device(tmp_path / "null")
    args = ["verify", "r.json", "--public-key", key.public_key.text, "--json"]
    assert cli(*args, "-o", str(device), cwd=tmp_path).code == 0
    assert _same_device(device)
    (tmp_path / "linked.json").symlink_to(device)
    refused = cli(*args, "-o", "linked.json", cwd=tmp_path)
    assert refused.code == 2 and "linked.json" in refused.err and (tmp_path / "linked.json").is_symlink()
    assert_one_line_error(refused)
    # A child process: -o /dev/stdout with stdout on a pipe writes the report there.
    shown = run_cli_process([*args, "-o", "/dev/stdout"], cwd=tmp_path)
    assert shown.code == 0 and json.loads(shown.out.splitlines()[-1])["valid"] is True
    assert os.path.islink("/dev/stdout")
    # Spelled another way, from /dev itself: still the descriptor, never a rename over the link.
    receipt = str(tmp_path / "r.json")
    shown = run_cli_process(
        ["verify", receipt, "--public-key", key.public_key.text, "--json", "-o", "./stdout"], cwd=Path("/dev")
    )
    assert shown.code == 0 and json.loads(shown.out.splitlines()[-1])["valid"] is True
    assert os.path.islink("/dev/stdout") and os.readlink("/dev/stdout") == "/proc/self/fd/1"


_DEV_PROBE = """
import sys
from attestkit.adapters.files import write_atomic
from attestkit.errors import InputFileError
for target in sys.argv[1:]:
    try:
        write_atomic(target, b"x")
        print("written", target)
    except InputFileError as exc:
        print(exc.code, target, *(["(block device)"] if "block device" in exc.message else []))
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_no_new_entry_below_dev_or_in_dev_mounted_elsewhere(tmp_path: Path) -> None:
    """Review, stop 35: only /dev itself was refused, so ``-o /dev/disk/x`` (as root) made a file
    in the machine's /dev and /dev bind-mounted elsewhere was not seen. Run in a private mount
    namespace whose /dev is a scratch tmpfs: nothing here can touch the machine's /dev."""
    bind = tmp_path / "bind"
    bind.mkdir()
    script = (
        "mount -t tmpfs none /dev && mkdir /dev/sub /dev/shm && mount -t tmpfs none /dev/shm && "
        "mknod /dev/sub/blk b 7 0 && "
        f'mount --bind /dev "{bind}" && exec "$0" -c "$1" /dev/sub/x.json "{bind}/y.json" /dev/z.json '
        f'/dev/shm/r.json "{tmp_path}/ok.json" /dev/sub/blk'
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable, _DEV_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "special-file /dev/sub/x.json",
        f"special-file {bind}/y.json",
        "special-file /dev/z.json",
        "written /dev/shm/r.json",
        f"written {tmp_path}/ok.json",
        "special-file /dev/sub/blk (block device)",  # said "is not a device in /dev" (review, stop 35)
    ]


_DEV_COMMANDS = r"""
set -e
mount -t tmpfs none /dev
mkdir /dev/shm /dev/sub && mount -t tmpfs none /dev/shm
mknod -m 666 /dev/null c 1 3
cli() { "$PY" -m attestkit "$@" >/dev/null 2>err || true; tail -c 300 err | tr '\n' ' '; echo; }
for base in /dev/sub /dev/shm; do
  cli keys generate --out-dir "$base/pair"
  cli keys import "$KEY" --keyring "$base/kr.yaml" --identity ci
  cli record --receipt "$base/d/draft.json" --name b -- true
  cli log init "$base/log" --origin example.com/x --key "$base/log.key"
  cli log witness keygen --name w --key "$base/w.key"
done
cli keys import "$KEY" --keyring /dev/null --identity ci
find /dev -mindepth 1 -not -path '/dev/shm*' -not -path /dev/null -not -path /dev/sub | sed 's/^/NEW /'
find /dev/shm -mindepth 1 -maxdepth 1 | sort
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_no_command_makes_locks_keys_logs_or_directories_on_dev(tmp_path: Path) -> None:
    """Review (adv-io2): only write_atomic knew the /dev rule: `keys generate --out-dir`, a draft's
    directory and lock, a keyring's lock (even `--keyring /dev/null`: /dev/null.lock), `log init`
    and `log witness keygen` made entries on /dev's file system. Run in a private mount namespace
    whose /dev is a scratch tmpfs: nothing here can touch the machine's /dev."""
    key = PrivateKey.generate().public_key.text
    env = {**os.environ, "PY": sys.executable, "KEY": key}
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _DEV_COMMANDS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    refused, allowed, last = lines[:5], lines[5:10], lines[10]
    assert all("on /dev's file system" in line for line in [*refused, last]), lines
    assert not any("error" in line for line in allowed), lines
    assert not [line for line in lines if line.startswith("NEW ")], lines
    assert lines[11:] == [
        f"/dev/shm/{name}" for name in ("d", "kr.yaml", "kr.yaml.lock", "log", "log.key", "pair", "w.key")
    ]


def test_a_directory_whose_link_cannot_be_read_is_one_clear_refusal(tmp_path: Path) -> None:
    """Review (adv-io2): os.path.realpath raises when a link on the way cannot be read (another
    user's /proc/PID/root; from another mount namespace even root's): `-o` through it was
    'internal error (PermissionError)'."""
    from unittest import mock

    with mock.patch("os.readlink", side_effect=PermissionError(13, "Permission denied")):
        (tmp_path / "real").mkdir()
        (tmp_path / "via").symlink_to(tmp_path / "real")
        with pytest.raises(InputFileError) as caught:
            write_atomic(str(tmp_path / "via" / "out.json"), b"{}")
    assert "cannot resolve" in caught.value.message and "\n" not in caught.value.message
    assert caught.value.code == "special-file" and not list((tmp_path / "real").iterdir())


def test_an_own_descriptor_left_non_blocking_is_written_in_full() -> None:
    """Review, stop 35: ``-o /dev/fd/N`` on a descriptor a parent left non-blocking failed with
    EAGAIN as soon as the pipe was full, although its reader was there."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    received: list[bytes] = []

    def drain() -> None:
        chunks = []
        while True:
            time.sleep(0.01)  # behind the writer, so the pipe fills
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        received.append(b"".join(chunks))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    data = b"r" * (1 << 20)
    try:
        write_atomic(f"/dev/fd/{write_end}", data)
    finally:
        os.close(write_end)
    reader.join(30)
    os.close(read_end)
    assert received == [data]
