"""Lost output is exit 2 (could not check), never 0 or 1; a lost stderr never changes the verdict.

Real child processes with real pipes, closed descriptors and ``/dev/full`` (CONTRACT §4).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from attestkit import PrivateKey, sign_receipt
from tests.conftest import NOW, _child_env, _cli_command, make_receipt, write_json

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


@pytest.fixture()
def corpus(tmp_path: Path, key: PrivateKey) -> Path:
    (tmp_path / "k.pub").write_text(key.public_key.text + "\n")
    good = sign_receipt(make_receipt(), key)
    write_json(tmp_path / "good.json", good)
    bad = sign_receipt(make_receipt(), key)
    bad["steps"][0]["exit_code"] = 1
    write_json(tmp_path / "bad.json", sign_receipt(bad, key))
    many = tmp_path / "many"
    many.mkdir()
    for i in range(300):
        write_json(many / f"r{i:03}.json", good if i % 2 else bad)
    return tmp_path


def _verify(*args: str) -> list[str]:
    return [*_cli_command(), "verify", *args, "--public-key", "k.pub", "--now", NOW, "--policy", "steps-succeeded"]


def _shell(redirect: str, argv: list[str], corpus: Path) -> subprocess.CompletedProcess[bytes]:
    """*argv* run by sh with *redirect* applied to it (``2>&-`` closes stderr, as CI scripts do)."""
    script = f'exec "$@" {redirect}'
    return subprocess.run(
        ["sh", "-c", script, "sh", *argv], cwd=corpus, env=_child_env(None), capture_output=True, timeout=60
    )


@pytest.mark.parametrize("fmt", [(), ("--json",)], ids=["text", "json"])
def test_a_reader_that_goes_away_is_exit_2_with_a_line(corpus: Path, fmt: tuple[str, ...]) -> None:
    proc = subprocess.Popen(
        _verify("many", *fmt), cwd=corpus, env=_child_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1)
    proc.stdout.close()  # `| head -c1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 2  # not 1: nothing was found invalid because of the reader
    assert "Traceback" not in err
    assert err.splitlines() == ["attestkit: error: cannot write to standard output: its reader closed the pipe; "
                                "the output is incomplete"]  # fmt: skip


@pytest.mark.parametrize(
    ("redirect", "receipt", "code"),
    [
        ("2>&-", "good.json", 0),
        ("2>&-", "bad.json", 1),
        ("2>&-", "missing.json", 2),
        pytest.param("2>/dev/full", "missing.json", 2, marks=needs_dev_full),
    ],
)
def test_a_lost_stderr_keeps_the_verdict(corpus: Path, redirect: str, receipt: str, code: int) -> None:
    done = _shell(redirect, _verify(receipt), corpus)
    assert done.returncode == code
    if code != 2:
        assert (b"VALID" if code == 0 else b"INVALID") in done.stdout


@pytest.mark.parametrize("redirect", [">&-", pytest.param(">/dev/full", marks=needs_dev_full)])
@pytest.mark.parametrize("receipt", ["good.json", "bad.json"])
def test_a_stdout_that_cannot_be_written_is_exit_2_said_clearly(corpus: Path, redirect: str, receipt: str) -> None:
    done = _shell(redirect, _verify(receipt), corpus)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "internal error" not in err and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attestkit: error: cannot write to standard output: "), err


def test_a_closed_stderr_is_not_taken_by_the_next_file_opened(corpus: Path) -> None:
    # With descriptor 2 free, the report file would get it, and an error line would land in it.
    done = _shell("2>&-", _verify("bad.json", "missing.json", "-o", "report.txt"), corpus)
    assert done.returncode == 2
    report = (corpus / "report.txt").read_bytes() if (corpus / "report.txt").exists() else b""
    assert b"attestkit: error" not in report


@pytest.mark.parametrize("inputs", [("-",), ("--jsonl", "-")], ids=["receipt", "jsonl"])
def test_a_closed_stdin_is_a_clear_error(corpus: Path, inputs: tuple[str, ...]) -> None:
    # Python has no sys.stdin when descriptor 0 is closed: reading `-` was an internal error.
    done = _shell("<&-", _verify(*inputs), corpus)
    err = done.stderr.decode()
    assert done.returncode == 2 and "internal error" not in err and "Traceback" not in err
    assert "standard input is closed" in err


@pytest.mark.parametrize("redirect", [pytest.param("2>/dev/full", marks=needs_dev_full), "gone-reader"])
def test_run_with_a_stderr_that_cannot_be_written_still_finishes(
    tmp_path: Path, key: PrivateKey, redirect: str
) -> None:
    # `attestkit run` pumped a step's stderr straight into the real stderr's buffer: the first
    # failed write killed the pump, the step blocked on a full pipe and the run hung forever.
    (tmp_path / "ci.key").write_bytes(key.to_pem())
    (tmp_path / "ci.key").chmod(0o600)
    (tmp_path / "attest.yaml").write_text(
        'version: "0.1"\nsteps:\n  noisy:\n    run: |\n'
        "      i=0; while [ $i -lt 3000 ]; do echo 'a line of step diagnostics to stderr' >&2; i=$((i+1)); done\n"
        "      echo done\n"
    )
    argv = [*_cli_command(), "run", "attest.yaml", "--key", "ci.key", "-o", "r.json"]
    if redirect == "gone-reader":  # stderr a pipe whose reader has gone (`2> >(head -c1)`)
        read_end, write_end = os.pipe()
        os.close(read_end)
        done = subprocess.run(argv, cwd=tmp_path, env=_child_env(None), stdout=subprocess.PIPE, stderr=write_end,
                              timeout=30)  # fmt: skip
        os.close(write_end)
    else:
        done = _shell(redirect, argv, tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "r.json").is_file()


@pytest.mark.parametrize("unbuffered", ["1", None], ids=["PYTHONUNBUFFERED", "buffered"])
def test_a_non_blocking_stdout_with_a_slow_reader_loses_nothing(corpus: Path, unbuffered: str | None) -> None:
    """Review (adv-io2): a parent that leaves stdout O_NONBLOCK (it is shared with the parent)
    and a reader that is slow for a moment: with PYTHONUNBUFFERED=1 (set in many CI images)
    attestkit wrote part of each full-pipe write, dropped the rest and exited 0 (65 KB of
    4 MB arrived); buffered, it was exit 2 'output-lost' although the reader was there."""
    import fcntl
    import time

    env = _child_env(None)
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    expected = subprocess.run(_verify("many", "--json"), cwd=corpus, env=env, capture_output=True, timeout=60)
    assert len(expected.stdout) > 1 << 17  # more than a pipe holds
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, fcntl.fcntl(write_end, fcntl.F_GETFL) | os.O_NONBLOCK)
    proc = subprocess.Popen(_verify("many", "--json"), cwd=corpus, env=env, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    time.sleep(1.5)  # the pipe fills while the reader is busy
    got = b""
    while chunk := os.read(read_end, 1 << 20):
        got += chunk
    os.close(read_end)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == expected.returncode == 1, err
    assert got == expected.stdout
