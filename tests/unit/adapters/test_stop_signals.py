"""A stop signal at any instant of a step's start stops it: no process group is ever lost.

A CI run once left `attestkit record` waiting on a step it had started but not yet registered:
SIGTERM raised inside ``subprocess.Popen``, the child's process group was never signalled and
it kept the job's output pipes open. These tests send real SIGTERMs at random instants around
the spawn, through the library (a handler that raises, as the CLI's does) and through the CLI
(the step signals its own parent at once), and read the process table afterwards.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO

import pytest

from attestkit.adapters.runner import record_step, run_pipeline, run_stoppable
from attestkit.core.produce.pipeline import Pipeline, parse_pipeline
from tests.unit.produce.test_honest_drafts import _clean_env, _run
from tests.unit.produce.test_honest_processes import _marker, _processes_with

pytestmark = pytest.mark.slow  # hundreds of real SIGTERMs at random instants


class _Stop(BaseException):
    """What the test's SIGTERM handler raises (the CLI raises its own ``_Terminated``)."""


@pytest.fixture()
def raising_sigterm() -> Iterator[None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted_at_random(call: Callable[[], object], rng: random.Random) -> bool:
    """Run *call* while another thread sends this process SIGTERM 0.1 to 4 ms in; True if it stopped it."""
    timer = threading.Timer(rng.uniform(0.0001, 0.004), os.kill, (os.getpid(), signal.SIGTERM))
    stopped = False
    try:
        timer.start()  # the signal can land while start() still waits for the timer thread
        call()
    except _Stop:
        stopped = True
    timer.join()
    return stopped


def _finished_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("finished"))


@pytest.mark.usefixtures("raising_sigterm")
def test_a_sigterm_anywhere_in_a_steps_start_stops_it(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    marker = _marker()
    stopped = 0
    for attempt in range(150):
        command = f"sleep 4.{marker} && touch finished-{attempt}"

        def record(command: str = command) -> object:
            return run_stoppable(
                lambda running: record_step(
                    name="s", command=command, shell=True, inputs=(), outputs=(), env=_clean_env(),
                    snapshot_names=(), root=str(tmp_path), running=running,
                )
            )  # fmt: skip

        stopped += _interrupted_at_random(record, rng)
        assert _processes_with(marker) == [], f"attempt {attempt} left its step running"
    assert stopped == 150
    assert _finished_files(tmp_path) == []


@pytest.mark.usefixtures("raising_sigterm")
def test_a_sigterm_anywhere_in_a_pipelines_start_stops_every_step(tmp_path: Path) -> None:
    rng = random.Random(2026)
    marker = _marker()
    for attempt in range(60):
        step = f"sleep 4.{marker} && touch finished-{attempt}"
        pipeline = parse_pipeline(
            f'version: "0.1"\nsteps:\n  a:\n    run: {step}\n  b:\n    run: {step}\n'
            f"  c:\n    run: {step}\n    needs: [a]\n".encode(),
            "attest.yaml",
        )
        with open(os.devnull, "wb") as sink:

            def run(sink: IO[bytes] = sink, pipeline: Pipeline = pipeline) -> object:
                return run_pipeline(pipeline, jobs=2, environ=_clean_env(), root=str(tmp_path), output=sink)

            assert _interrupted_at_random(run, rng), f"attempt {attempt} was not stopped"
        assert _processes_with(marker) == [], f"attempt {attempt} left a step running"
    assert _finished_files(tmp_path) == []


def test_record_stopped_by_its_own_step_at_once_records_nothing(tmp_path: Path) -> None:
    """The step signals `attestkit record` the moment it runs, while the CLI may still be in spawn."""
    assert _run(["record", "--receipt", "d.json", "--name", "first", "--", "true"], tmp_path, _clean_env()).code == 0
    before = (tmp_path / "d.json").read_bytes()
    marker = _marker()
    for attempt in range(8):
        script = f"kill -TERM $PPID; sleep 5.{marker}; touch finished-{attempt}"
        result = _run(
            ["record", "--receipt", "d.json", "--name", "slow", "--shell", "--", script], tmp_path, _clean_env()
        )
        assert result.code == 143, result.err
        assert "'slow' was not recorded" in result.err and "Traceback" not in result.err
        assert _processes_with(marker) == []
    assert (tmp_path / "d.json").read_bytes() == before and _finished_files(tmp_path) == []


def test_a_worker_failure_reaches_the_caller_unchanged() -> None:
    def fail(_running: object) -> object:
        raise ValueError("from the worker")

    with pytest.raises(ValueError, match="from the worker"):
        run_stoppable(fail)
    assert run_stoppable(lambda running: running.stopping) is False


def test_steps_get_the_callers_signal_mask_not_the_blocked_one(tmp_path: Path) -> None:
    """Signals are blocked only while the worker starts: a step can still be stopped by SIGTERM."""
    out = tmp_path / "mask"
    command = f"grep SigBlk /proc/self/status > {out}"
    run_stoppable(
        lambda running: record_step(
            name="s", command=command, shell=True, inputs=(), outputs=(), env=_clean_env(),
            snapshot_names=(), running=running,
        )
    )  # fmt: skip
    blocked = int(out.read_text().split()[1], 16)
    assert not blocked & (1 << (signal.SIGTERM - 1)) and not blocked & (1 << (signal.SIGINT - 1))
