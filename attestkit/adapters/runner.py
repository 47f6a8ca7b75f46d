"""Running pipeline commands and recording them as receipt steps.

Inputs are hashed before a step runs and outputs after it; a declared output that is not
there afterwards fails the step. Pipelines run as a DAG on a bounded thread pool (the work
happens in child processes), fail-fast by default; an interrupt terminates running steps and
propagates, so no receipt claims they finished.

Steps never see a secret: every child gets :func:`attestkit.core.secret_env.child_environment`
(no signing key, passphrase or service credential), and a secret name in a pipeline's ``env``
or among the variables to snapshot is refused before anything runs.
"""

from __future__ import annotations

import getpass
import os
import platform
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from attestkit.core.produce.pipeline import Pipeline, Step
from attestkit.core.produce.producer import artifact_record, environment_snapshot, step_record
from attestkit.core.secret_env import child_environment, refuse_secret_names
from attestkit.core.timeutil import utc_now
from attestkit.errors import AttestkitError, UsageError

Clock = Callable[[], datetime]


def host_facts() -> dict[str, str]:
    """``host_os``, ``host_arch``, ``user``, ``working_directory`` for the receipt environment."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {
        "host_os": platform.system().lower(),
        "host_arch": platform.machine(),
        "user": user,
        "working_directory": os.getcwd(),
    }


@dataclass
class _Running:
    processes: set[subprocess.Popen[bytes]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def terminate(self) -> None:
        # Each step runs in its own process group: signal the group, so that grandchildren
        # (a shell's `sleep`, a build's compilers) stop too and release the output pipe.
        with self.lock:
            processes = list(self.processes)
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def run_command(
    command: str | Sequence[str],
    *,
    shell: bool,
    env: Mapping[str, str],
    cwd: str = ".",
    prefix: str | None = None,
    output: IO[bytes] | None = None,
    running: _Running | None = None,
) -> int:
    """Run a command, streaming its output live (prefixed when *prefix* is given).

    The child gets *env* without the variables attestkit treats as secrets.
    """
    args: Any = command if shell else list(command)
    capture = prefix is not None and output is not None
    try:
        process = subprocess.Popen(
            args,
            shell=shell,
            env=child_environment(env),
            cwd=cwd,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            start_new_session=running is not None,
        )
    except FileNotFoundError:
        return 127
    except PermissionError:
        return 126
    if running is not None:
        with running.lock:
            running.processes.add(process)
    try:
        if capture:
            assert process.stdout is not None and output is not None
            for line in process.stdout:
                output.write(f"[{prefix}] ".encode() + line)
                output.flush()
        return process.wait()
    finally:
        if running is not None:
            with running.lock:
                running.processes.discard(process)


def _hash_all(paths: Sequence[str], root: str, what: str) -> tuple[list[dict[str, Any]], list[str]]:
    records, missing = [], []
    for path in paths:
        try:
            records.append(artifact_record(path, root))
        except AttestkitError as exc:
            missing.append(f"{what} {exc.message}")
    return records, missing


def record_step(
    *,
    name: str,
    command: str | Sequence[str],
    shell: bool,
    inputs: Sequence[str],
    outputs: Sequence[str],
    env: Mapping[str, str],
    snapshot_names: Sequence[str],
    root: str = ".",
    clock: Clock = utc_now,
    prefix: str | None = None,
    output: IO[bytes] | None = None,
    running: _Running | None = None,
) -> dict[str, Any]:
    """Hash inputs, run the command, hash outputs; return the step record.

    A secret name among *snapshot_names* is a :class:`UsageError` and nothing runs.
    """
    refusal = refuse_secret_names(snapshot_names, env, "--env")
    if refusal is not None:
        raise UsageError(refusal)
    env = child_environment(env)
    text = command if isinstance(command, str) else shlex.join(command)
    input_records, problems = _hash_all(inputs, root, "input")
    start = clock()
    if problems:
        exit_code = 1
        end = start
    else:
        exit_code = run_command(command, shell=shell, env=env, cwd=root, prefix=prefix, output=output, running=running)
        end = clock()
    output_records, missing = _hash_all(outputs, root, "declared output") if not problems else ([], [])
    problems += missing
    if problems and exit_code == 0:
        exit_code = 1
    return step_record(
        name=name,
        command=text,
        exit_code=exit_code,
        start=start,
        end=end,
        inputs=input_records,
        outputs=output_records,
        snapshot=environment_snapshot(snapshot_names, env),
        error="; ".join(problems) if problems else None,
    )


def _refuse_secrets(pipeline: Pipeline, environ: Mapping[str, str], snapshot_names: Sequence[str]) -> None:
    checks: list[tuple[Sequence[str], str]] = [
        (snapshot_names, "--env"),
        ([n for n, _ in pipeline.env], "pipeline env"),
    ]
    checks += [([n for n, _ in step.env], f"step {step.name!r} env") for step in pipeline.steps]
    for names, what in checks:
        refusal = refuse_secret_names(names, environ, what)
        if refusal is not None:
            raise UsageError(refusal)


def run_pipeline(
    pipeline: Pipeline,
    *,
    jobs: int,
    environ: Mapping[str, str],
    snapshot_names: Sequence[str] = (),
    root: str = ".",
    clock: Clock = utc_now,
    output: IO[bytes] | None = None,
    fail_fast: bool = True,
) -> list[dict[str, Any]]:
    """Run the pipeline's steps as a DAG; the step records, in file order, of the steps that ran."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    _refuse_secrets(pipeline, environ, snapshot_names)
    base_env = {**environ, **dict(pipeline.env)}
    declared = [name for name, _ in pipeline.env]
    records: dict[str, dict[str, Any]] = {}
    running = _Running()
    done: set[str] = set()
    failed = False

    def execute(step: Step) -> dict[str, Any]:
        env = {**base_env, **dict(step.env)}
        names = [*snapshot_names, *declared, *(n for n, _ in step.env)]
        # Pipeline `run` strings are shell scripts by definition of the ATTEST file format.
        return record_step(  # noqa: S604
            name=step.name, command=step.run, shell=True, inputs=step.inputs, outputs=step.outputs, env=env,
            snapshot_names=names, root=root, clock=clock, prefix=step.name, output=output, running=running,
        )  # fmt: skip

    pending = list(pipeline.steps)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        active: dict[Future[dict[str, Any]], str] = {}
        try:
            while pending or active:
                if not (failed and fail_fast):
                    for step in [s for s in pending if set(s.needs) <= done]:
                        if len(active) >= jobs:
                            break
                        pending.remove(step)
                        active[pool.submit(execute, step)] = step.name
                if not active:
                    break  # fail-fast stopped scheduling, or the rest depend on failed steps
                finished, _ = wait(active, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = active.pop(future)
                    record = future.result()
                    records[name] = record
                    if record["exit_code"] == 0:
                        done.add(name)
                    else:
                        failed = True
                pending = [s for s in pending if not (set(s.needs) & (set(records) - done))]
        except BaseException:
            running.terminate()
            raise
    return [records[s.name] for s in pipeline.steps if s.name in records]


__all__ = ["host_facts", "record_step", "run_command", "run_pipeline"]
