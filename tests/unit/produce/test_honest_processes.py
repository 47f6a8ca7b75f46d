"""`record` and `run` as processes (issue 22 item 2): click options, failures explained, signals obeyed.

Real steps, real signals, and the process table (``/proc``) to check that no step outlives
the command that started it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import CliResult, _cli_command, assert_one_line_error
from tests.unit.produce.test_honest_drafts import _clean_env, _run

pytestmark = pytest.mark.slow  # sends real signals to commands and waits for their process groups


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    assert _run(["keys", "generate", "--out-dir", "k"], tmp_path, _clean_env()).code == 0
    return tmp_path


def _processes_with(marker: str) -> list[str]:
    """Live (non-zombie) processes whose command line contains *marker*, from the process table."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if marker in cmdline and state != "Z":
            found.append(f"{entry}: {cmdline}")
    return found


def _wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)


def _running_steps(marker: str, stubborn: bool) -> str:
    """Two steps that keep running: one plain `sleep`, one that ignores SIGTERM (needs SIGKILL) if *stubborn*."""
    trap = "trap '' TERM; " if stubborn else ""
    return (
        'version: "0.1"\nsteps:\n'
        f"  plain:\n    run: touch started-plain && sleep 31.{marker} && touch finished\n"
        f"  stubborn:\n    run: {trap}touch started-stubborn; sleep 32.{marker}; touch finished\n"
    )


def _marker() -> str:
    return str(uuid.uuid4().int % 10**9)


# The SIGKILL escalation does not depend on the signal received: one case per signal waits out the grace.
@pytest.mark.parametrize(
    ("signum", "code", "word", "stubborn"),
    [(signal.SIGTERM, 143, b"terminated", True), (signal.SIGINT, 130, b"interrupted", False)],
)
def test_run_stops_every_step_process_group(
    workspace: Path, signum: int, code: int, word: bytes, stubborn: bool
) -> None:
    marker = _marker()
    (workspace / "attest.yaml").write_text(_running_steps(marker, stubborn))
    process = subprocess.Popen(
        [*_cli_command(), "run", "--key", "k/attestkit.key", "--jobs", "2", "-o", "r.json"],
        cwd=workspace,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(workspace / "started-plain", process)
    _wait_for(workspace / "started-stubborn", process)
    assert len(_processes_with(marker)) >= 2
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert word in err and b"no receipt was written" in err and b"Traceback" not in err
    assert _processes_with(marker) == []  # the stubborn one too: SIGKILL after the grace period
    assert not (workspace / "r.json").exists() and not (workspace / ".attest" / "receipts").exists()
    assert not (workspace / "finished").exists()


@pytest.mark.parametrize(("signum", "code", "stubborn"), [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)])
def test_record_stops_its_step_and_records_nothing(workspace: Path, signum: int, code: int, stubborn: bool) -> None:
    marker = _marker()
    first = _run(["record", "--receipt", "d.json", "--name", "first", "--", "true"], workspace, _clean_env())
    assert first.code == 0
    before = (workspace / "d.json").read_bytes()
    trap = "trap '' TERM INT; " if stubborn else ""
    script = f"touch started-plain; {trap}sleep 33.{marker}; touch finished"
    process = subprocess.Popen(
        [*_cli_command(), "record", "--receipt", "d.json", "--name", "slow", "--shell", "--", script],
        cwd=workspace,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(workspace / "started-plain", process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert b"'slow' was not recorded" in err and b"Traceback" not in err
    assert _processes_with(marker) == []
    assert (workspace / "d.json").read_bytes() == before and not (workspace / "finished").exists()


def test_run_explains_each_failed_step_and_keeps_stderr_off_stdout(workspace: Path) -> None:
    (workspace / "attest.yaml").write_text(
        'version: "0.1"\nsteps:\n'
        "  noisy:\n    run: echo to-stdout; echo to-stderr >&2; seq 1 30; exit 3\n"
        "  fine:\n    run: echo fine-output\n"
        "  later:\n    run: 'true'\n    needs: [noisy]\n"
    )
    result = _run(
        ["run", "--key", "k/attestkit.key", "--jobs", "1", "--keep-going", "-o", "r.json"], workspace, _clean_env()
    )
    assert result.code == 1
    assert "[noisy] to-stdout" in result.out and "[fine] fine-output" in result.out
    assert "to-stderr" not in result.out
    assert "[noisy] to-stderr" in result.err
    assert "step 'noisy' failed with exit code 3" in result.err
    lines = result.err.splitlines()
    start = lines.index("  last 20 lines of its output:")
    assert lines[start + 20] == "  [noisy] 30" and "  [noisy] 11" in lines[start + 1 : start + 21]
    assert lines[-1] == "attestkit: error: failed: noisy; not run: later"
    receipt = json.loads((workspace / "r.json").read_text())
    assert {s["name"]: s["exit_code"] for s in receipt["steps"]} == {"noisy": 3, "fine": 0}


def test_run_failure_lines_are_escaped(workspace: Path) -> None:
    (workspace / "attest.yaml").write_text(
        'version: "0.1"\nsteps:\n  bad:\n    run: printf "\\033[32mOK\\r\\n"; exit 1\n'
    )
    result = _run(["run", "--key", "k/attestkit.key", "-o", "r.json"], workspace, _clean_env())
    assert result.code == 1
    assert "  [bad] \\x1b[32mOK" in result.err and "\x1b" not in result.err.split("last 1 lines")[1]


def test_record_is_a_click_command(workspace: Path) -> None:
    helped = _run(["record", "--help"], workspace, _clean_env())
    assert helped.code == 0
    for option in ("--receipt FILE", "--name NAME", "--inputs PATH...", "--outputs PATH...", "--env VARS...",
                   "--shell", "--run-id ID"):  # fmt: skip
        assert option in helped.out, option
    equals = _run(
        ["record", "--receipt=d.json", "--name=a", "--inputs=k/", "k/attestkit.pub", "--", "true"],
        workspace,
        _clean_env(),
    )
    assert equals.code == 0, equals.err
    step = json.loads((workspace / "d.json").read_text())["steps"][0]
    assert [i["path"] for i in step["inputs"]] == ["k/", "k/attestkit.pub"]
    unknown = _run(["record", "--receipt", "d.json", "--name", "b", "--bogus", "--", "true"], workspace, _clean_env())
    assert unknown.code == 2 and "No such option '--bogus'" in unknown.err
    missing = _run(["record", "--receipt", "d.json", "--", "true"], workspace, _clean_env())
    assert missing.code == 2 and "Missing option '--name'" in missing.err
    no_command = _run(["record", "--receipt", "d.json", "--name", "c", "true"], workspace, _clean_env())
    assert no_command.code == 2 and "goes after --" in no_command.err


def test_record_says_when_a_command_cannot_start(workspace: Path) -> None:
    result: CliResult = _run(
        ["record", "--receipt", "d.json", "--name", "ghost", "--", "no-such-command-4821"], workspace, _clean_env()
    )
    assert result.code == 127
    assert_one_line_error(result)
    assert "cannot start 'no-such-command-4821': command not found" in result.err
    (workspace / "script.sh").write_text("#!/bin/sh\n")
    denied = _run(["record", "--receipt", "d.json", "--name", "noexec", "--", "./script.sh"], workspace, _clean_env())
    assert denied.code == 126 and "permission denied" in denied.err
    steps = json.loads((workspace / "d.json").read_text())["steps"]
    assert [(s["name"], s["exit_code"]) for s in steps] == [("ghost", 127), ("noexec", 126)]
    assert "command not found" in steps[0]["error"]


def _wait_blocked_on_pipe(pid: int, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "pipe" in Path(f"/proc/{pid}/wchan").read_text():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the command never waited for its input")


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--jsonl", "-", "--public-key", "k/attestkit.pub", "--jobs", "2"],
        ["webhook", "verify", "-", "--secret-env", "HOOK", "--header", "X-Attest-Signature: sha256=00"],
    ],
    ids=["bulk-verify", "webhook-verify"],
)
def test_ctrl_c_exits_130_without_a_traceback_from_any_process(workspace: Path, args: list[str]) -> None:
    from attestkit.core.crypto.keys import PrivateKey
    from attestkit.core.receipt.signing import sign_receipt
    from tests.conftest import make_receipt

    key = PrivateKey.from_seed(bytes(32))
    (workspace / "k" / "attestkit.pub").write_text(key.public_key.text)
    lines = b"".join(json.dumps(sign_receipt(make_receipt(n=i), key)).encode() + b"\n" for i in range(300))
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches every process in it.
    process = subprocess.Popen(
        [*_cli_command(), *args],
        cwd=workspace,
        env=_clean_env(HOOK="secret"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdin is not None
    if args[0] == "verify":
        process.stdin.write(lines)
        process.stdin.flush()
    _wait_blocked_on_pipe(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
