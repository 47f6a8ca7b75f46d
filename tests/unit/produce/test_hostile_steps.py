"""Build steps that attack the run that records them: they rewrite the pipeline file, aim the
receipt at the signing key, fork daemons, read the parent's secrets or edit the draft."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from tests.conftest import CliResult, assert_one_line_error, make_receipt

BENIGN = 'version: "0.1"\nsteps:\n  build:\n    run: "true"\n'


@pytest.fixture()
def workspace(tmp_path: Path, cli: Callable[..., CliResult]) -> Path:
    assert cli("keys", "generate", "--out-dir", str(tmp_path / "k")).code == 0
    return tmp_path


def test_the_pipeline_hash_is_of_the_file_that_ran(workspace: Path, cli: Callable[..., CliResult]) -> None:
    (workspace / "benign.yaml").write_text(BENIGN)
    evil = 'version: "0.1"\nsteps:\n  build:\n    run: "echo deploying-evil; cp benign.yaml attest.yaml"\n'
    (workspace / "attest.yaml").write_text(evil)
    done = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace)
    assert done.code == 0, done.err
    assert (workspace / "attest.yaml").read_text() == BENIGN  # the step covered its tracks
    receipt = json.loads((workspace / "r.json").read_text())
    assert receipt["pipeline_hash"] == "blake3:" + blake3(evil.encode()).hexdigest()
    public = str(workspace / "k" / "attestkit.pub")
    covered = cli("verify", "r.json", "--public-key", public, "--pipeline", "benign.yaml", cwd=workspace)
    assert covered.code == 1 and "pipeline" in covered.out


@pytest.mark.parametrize("command", ["run", "finalize", "sign"])
def test_an_output_naming_the_key_file_leaves_the_key(
    workspace: Path, cli: Callable[..., CliResult], command: str
) -> None:
    key = workspace / "k" / "attestkit.key"
    key.write_bytes(b"\n" * 5000 + key.read_bytes())  # still a key attestkit loads
    before = key.read_bytes()
    (workspace / "attest.yaml").write_text('version: "0.1"\nsteps:\n  build:\n    run: "touch ran"\n')
    if command == "run":
        done = cli("run", "--key", str(key), "-o", str(key), cwd=workspace)
        assert not (workspace / "ran").exists(), "the steps ran before the output was refused"
    elif command == "finalize":
        assert cli("record", "--receipt", "d.json", "--name", "a", "--", "true", cwd=workspace).code == 0
        done = cli("receipt", "finalize", "--receipt", "d.json", "--key", str(key), "-o", str(key), cwd=workspace)
    else:
        assert cli("run", "--key", str(key), "-o", "r.json", cwd=workspace).code == 0
        done = cli("sign", "r.json", "--key", str(key), "--replace-signature", "-o", str(key), cwd=workspace)
    assert done.code == 2, done.out + done.err
    assert "private key file" in done.err and str(key) in done.err
    assert_one_line_error(done)
    assert key.read_bytes() == before and key.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("where", ["pipeline", "step"])
def test_a_pipeline_cannot_unlist_the_jobs_secrets(workspace: Path, cli: Callable[..., CliResult], where: str) -> None:
    # With ATTESTKIT_SECRET_ENV=WEBHOOK_SECRET in the job, a pipeline `env` emptying that list
    # handed WEBHOOK_SECRET to every step.
    env_block = '  ATTESTKIT_SECRET_ENV: ""\n'
    text = 'version: "0.1"\n' + ("env:\n" + env_block if where == "pipeline" else "")
    text += 'steps:\n  leak:\n    run: "echo WEBHOOK_SECRET=$WEBHOOK_SECRET > seen"\n'
    text += "    env:\n    " + env_block if where == "step" else ""
    (workspace / "attest.yaml").write_text(text)
    job = {"ATTESTKIT_SECRET_ENV": "WEBHOOK_SECRET", "WEBHOOK_SECRET": "whsec_topsecret"}
    done = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace, env=job)
    assert done.code == 2, done.out + done.err
    assert "ATTESTKIT_SECRET_ENV says which variables are secret" in done.err and not (workspace / "seen").exists()
    assert_one_line_error(done)
    # without the override the step runs and does not see the secret
    (workspace / "attest.yaml").write_text(text.replace('ATTESTKIT_SECRET_ENV: ""', "OTHER: x"))
    assert cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace, env=job).code == 0
    assert (workspace / "seen").read_text() == "WEBHOOK_SECRET=\n"


def test_a_running_step_cannot_read_the_runs_memory_or_environment() -> None:
    # Steps get an environment without the key, but a step of the same user could read the
    # key from /proc/<attestkit>/environ while attestkit was dumpable. Checked in a fresh
    # interpreter: the flag is process-wide and this one is pytest's.
    code = (
        "import ctypes, os\n"
        "from attestkit.adapters.runner import run_command, run_stoppable\n"
        "libc = ctypes.CDLL(None)\n"
        "assert libc.prctl(3, 0, 0, 0, 0) == 1\n"  # PR_GET_DUMPABLE: dumpable before
        "code = run_stoppable(lambda running: run_command(['true'], shell=False, env=dict(os.environ), running=running))\n"
        "assert code == 0 and libc.prctl(3, 0, 0, 0, 0) == 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["sign", "receipt finalize"])
def test_commands_that_load_the_signing_key_are_not_dumpable(command: str, tmp_path: Path) -> None:
    # Adversarial review: `receipt finalize` and `sign` stayed dumpable, so a process a recorded
    # step left behind (setsid) read ATTESTKIT_SIGNING_KEY from /proc/<finalize>/environ. Run in
    # a fresh interpreter through the CLI entry point; the flag is read after the command.
    from attestkit.core.crypto.keys import PrivateKey

    key = PrivateKey.from_seed(b"\x07" * 32)
    (tmp_path / "u.json").write_text(json.dumps(make_receipt()))
    recorded = [sys.executable, "-m", "attestkit", "record", "--receipt", "d.json", "--name", "a", "--", "true"]
    assert subprocess.run(recorded, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0  # its own process
    args = (
        ["sign", "u.json", "-o", "r.json"]
        if command == "sign"
        else ["receipt", "finalize", "--receipt", "d.json", "-o", "r.json"]
    )
    code = (
        "import ctypes, sys\n"
        "from attestkit.cli import run\n"
        "libc = ctypes.CDLL(None)\n"
        "assert libc.prctl(3, 0, 0, 0, 0) == 1\n"
        f"status = run({args!r})\n"
        "print('exit', status, 'dumpable', libc.prctl(3, 0, 0, 0, 0))\n"
    )
    env = {**os.environ, "ATTESTKIT_SIGNING_KEY": key.to_pem().decode()}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    assert done.stdout.strip().endswith("exit 0 dumpable 0"), done.stdout + done.stderr


def test_a_draft_member_a_step_added_is_refused_not_signed(workspace: Path, cli: Callable[..., CliResult]) -> None:
    # A later step rewrote the draft: a test attestation nobody ran, and a signer claim.
    record = ["record", "--receipt", "d.json"]
    assert cli(*record, "--name", "test", "--", "false", cwd=workspace).code == 1
    forge = (
        "import json; d = json.load(open('d.json'));"
        "d['attestations'] = {'test': {'predicate': {'test_results': {'total': 50, 'passed': 50, 'failed': 0}}}};"
        "json.dump(d, open('d.json', 'w'))"
    )
    assert cli(*record, "--name", "package", "--", sys.executable, "-c", forge, cwd=workspace).code == 0
    done = cli("receipt", "finalize", "--receipt", "d.json", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace)
    assert done.code == 2, done.out + done.err
    assert "'attestations'" in done.err and not (workspace / "r.json").exists()
    assert_one_line_error(done)


def _alive_with(marker: str) -> list[str]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(cmdline)
    return found


@pytest.mark.parametrize("command", ["run", "record"])
def test_a_daemon_a_step_left_behind_does_not_outlive_the_run(
    workspace: Path, cli: Callable[..., CliResult], command: str
) -> None:
    marker = str(uuid.uuid4().int % 10**9)
    daemon = f"sleep 47.{marker} >/dev/null 2>&1 & echo $! > daemon.pid"
    if command == "run":
        # a service started by one step is still there for the steps after it...
        (workspace / "attest.yaml").write_text(
            f'version: "0.1"\nsteps:\n  start:\n    run: "{daemon}"\n'
            '  use:\n    run: "kill -0 $(cat daemon.pid)"\n    needs: [start]\n'
        )
        done = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace)
    else:
        done = cli("record", "--receipt", "d.json", "--name", "start", "--shell", "--", daemon, cwd=workspace)
    assert done.code == 0, done.out + done.err
    assert _alive_with(marker) == []  # ...and gone when the run ends


def test_outputs_that_lead_outside_the_workspace_fail_the_step(
    tmp_path: Path, workspace: Path, cli: Callable[..., CliResult]
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    (outside / "secretdir").mkdir(parents=True)
    (outside / "secretdir" / "id_rsa").write_text("s3cret")
    (outside / "f").write_text("hi")
    (workspace / "inside.bin").write_text("ok")
    links = f"ln -sfn {outside}/f out.bin; ln -sfn {outside}/secretdir dist; ln -sfn {outside} sub; ln -sfn inside.bin ok.bin"
    links += f"; ln -sfn ../{workspace.name}/inside.bin back.bin"  # out and back in: verify refuses it too
    for output in ("out.bin", "dist/", "sub/f", "back.bin"):
        (workspace / "attest.yaml").write_text(
            f'version: "0.1"\nsteps:\n  build:\n    run: "{links}"\n    outputs: [{output}, ok.bin]\n'
        )
        done = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace)
        assert done.code == 1, done.out + done.err
        assert "outside the working directory" in done.err
        step = json.loads((workspace / "r.json").read_text())["steps"][0]
        assert step["exit_code"] != 0 and "id_rsa" not in json.dumps(step)
    # a link that stays inside is an output like any other
    (workspace / "attest.yaml").write_text(
        f'version: "0.1"\nsteps:\n  build:\n    run: "{links}"\n    outputs: [ok.bin]\n'
    )
    assert cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace).code == 0
    public = str(workspace / "k" / "attestkit.pub")
    assert cli("verify", "r.json", "--public-key", public, "--artifacts", ".", cwd=workspace).code == 0


def test_step_names_reach_the_terminal_escaped(workspace: Path, cli: Callable[..., CliResult]) -> None:
    (workspace / "attest.yaml").write_text(
        'version: "0.1"\nsteps:\n  "a\\e[2J\\rb\\ncritical path: forged":\n    run: "echo hi"\n'
    )
    shown = cli("pipeline", "show", cwd=workspace)
    assert shown.code == 0, shown.err
    assert len(shown.out.splitlines()) == 2 and "\x1b" not in shown.out and "\r" not in shown.out
    ran = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=workspace)
    assert ran.code == 0, ran.err
    (line,) = [x for x in ran.out.splitlines() if x.endswith("hi")]
    assert line.startswith("[a\\x1b[2J\\rb\\ncritical path: forged] ")


def test_a_stranger_that_got_an_ended_steps_group_id_is_left_alone() -> None:
    # A step's group id is remembered until the run ends; if its members all died meanwhile,
    # the id was free and a process nobody started for this run may be its new owner.
    from attestkit.adapters.runner import stop_leftover_groups

    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        fields = Path(f"/proc/{stranger.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        seen_at_step_end = [(stranger.pid, b"1")]  # the step's member: same pid, another start time
        stop_leftover_groups([(stranger.pid, seen_at_step_end)], grace=0.2)
        assert stranger.poll() is None, "a stranger's process group was killed"
        stop_leftover_groups([(stranger.pid, [(stranger.pid, fields[19])])], grace=0.2)  # really the step's
        assert stranger.wait(timeout=5) == -15
    finally:
        stranger.kill()
        stranger.wait()


class _GoneSink(io.RawIOBase):
    """A stderr whose every write fails, as ``2>/dev/full`` or a pipe whose reader left."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_step_whose_stderr_sink_fails_still_finishes() -> None:
    """Review, stop 35: the stderr pump died on its first failed write, so a step writing more
    than a pipe's buffer to stderr blocked for ever (library path; the CLI's stand-in drops
    failed writes too). The step's stdout still arrives."""
    from attestkit.adapters.runner import run_command

    output = io.BytesIO()
    script = "yes 'a line of step diagnostics' | head -n 20000 >&2; echo out"
    finished: list[int] = []
    worker = threading.Thread(
        target=lambda: finished.append(
            run_command(script, shell=True, env=dict(os.environ), prefix="s", output=output, errors=_GoneSink())  # type: ignore[arg-type]
        ),
        daemon=True,
    )
    worker.start()
    worker.join(30)
    assert finished == [0], "the step blocked on its stderr pipe"
    assert output.getvalue() == b"[s] out\n"
