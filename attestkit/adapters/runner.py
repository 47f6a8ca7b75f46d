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

import contextlib
import getpass
import os
import platform
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar

from attestkit.core.produce.pipeline import Pipeline, Step
from attestkit.core.produce.producer import artifact_record, environment_snapshot, step_record
from attestkit.core.secret_env import child_environment, refuse_secret_names
from attestkit.core.textsafe import escape_text
from attestkit.core.timeutil import utc_now
from attestkit.errors import AttestkitError, UsageError

Clock = Callable[[], datetime]
T = TypeVar("T")


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


#: How long a stopped step's process group gets between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 3.0
#: How many of a step's last output lines are kept to show why it failed.
TAIL_LINES = 20


@dataclass
class RunningSteps:
    """The process groups of the steps running now; :meth:`terminate` stops them all for good."""

    processes: set[subprocess.Popen[bytes]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: bool = False
    # The process groups of steps that ended: what a step left running in the background (a
    # service for later steps) lives until the run ends, then is stopped with them.
    # Each with the (pid, start time) of the members found when the step ended: a group whose
    # members all died frees its id, and a stranger's new session may get it.
    ended: list[tuple[int, list[tuple[int, bytes]]]] = field(default_factory=list)

    def add(self, process: subprocess.Popen[bytes]) -> None:
        """Register a step's process group (killed at once if stopping has begun)."""
        with self.lock:
            self.processes.add(process)
            stopping = self.stopping
        if stopping:  # started while everything was being stopped: stop it too
            _signal_group(process, signal.SIGKILL)

    def check(self) -> None:
        """:class:`Stopped` once :meth:`terminate` was called: nothing more starts or is hashed."""
        if self.stopping:
            raise Stopped

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        """Forget a step's process once it has ended (its group is stopped when the run ends)."""
        with self.lock:
            self.processes.discard(process)
        members = _group_members(process.pid)
        if members:
            with self.lock:
                self.ended.append((process.pid, members))

    def stop_ended(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop whatever the ended steps left in their process groups: no step outlives the run."""
        with self.lock:
            groups, self.ended = self.ended, []
        stop_leftover_groups(groups, grace)

    def terminate(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every step's process group, then SIGKILL whatever is left after *grace* seconds."""
        with self.lock:
            self.stopping = True
            processes = list(self.processes)
        stop_process_groups(processes, grace)


_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
#: How often the calling thread wakes while a step runs, to run a stop signal's handler.
_SIGNAL_POLL_SECONDS = 0.05


def run_stoppable(work: Callable[[RunningSteps], T]) -> T:
    """Run *work* on a worker thread; any exception in the calling thread stops what it started.

    *work* gets the :class:`RunningSteps` registry to pass as ``running=``. Python runs signal
    handlers in the main thread only, so a handler that raises (Ctrl-C, a CI job's SIGTERM) can
    never land between a step's ``fork`` and its registration, where the process group would be
    lost and keep the job's output pipes open. On any exception the registered groups are
    stopped (SIGTERM, SIGKILL after :data:`STOP_GRACE_SECONDS`), a process the worker starts
    afterwards is killed as it registers, the worker starts nothing more, and it is waited for
    (at most the file it is hashing) before the exception propagates.
    """
    from attestkit.core.forking import not_dumpable

    not_dumpable()  # before any step starts: a step may not read our environment (the key)
    running = RunningSteps()
    outcome: list[T] = []
    failure: list[BaseException] = []
    finished: list[bool] = []
    done = threading.Lock()
    done.acquire()
    previous: set[int] = set()

    def target() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # the steps get the caller's mask back
        try:
            outcome.append(work(running))
        except BaseException as exc:  # handed to the caller, who re-raises it
            failure.append(exc)
        finally:
            finished.append(True)
            done.release()

    worker = threading.Thread(target=target, name="attestkit-step", daemon=True)
    try:
        # Thread.start and Thread.join are not safe against a signal handler raising inside
        # them (3.11's join then marks a running thread stopped), so the stop signals stay
        # blocked until the worker runs, and the wait is on a plain lock.
        previous.update(signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS))
        try:
            worker.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        # A signal the kernel hands to another thread does not wake a lock wait in this one;
        # the Python handler runs here when the wait times out.
        while not done.acquire(timeout=_SIGNAL_POLL_SECONDS):
            pass
    except BaseException:
        running.terminate()
        while worker.ident is not None and not finished:
            time.sleep(0.01)
        running.stop_ended()
        raise
    running.stop_ended()
    if failure:
        raise failure[0]
    return outcome[0]


def stop_process_groups(processes: Sequence[subprocess.Popen[bytes]], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each process's group, wait up to *grace* seconds, then SIGKILL the groups.

    Each step runs in its own process group: signalling the group stops grandchildren too (a
    shell's ``sleep``, a build's compilers), so nothing keeps running or holds the output pipe.
    The SIGKILL goes to every group even when its leader exited: a grandchild that ignored
    SIGTERM is still in it.
    """
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in processes:
        _signal_group(process, signal.SIGKILL)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass


def _group_members(pgid: int) -> list[tuple[int, bytes]]:
    """The (pid, start time) of each member of process group *pgid* that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []  # the usual case: the step left nothing behind, no /proc walk
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return []
    members = []
    for entry in entries:
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[2] == str(pgid).encode() and fields[0] != b"Z":
                members.append((int(entry), fields[19]))
    return members


def _stat_fields(pid: int) -> list[bytes] | None:
    """``/proc/PID/stat`` after the command name (state, ppid, pgrp, ... starttime at 19), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def _still_ours(pgid: int, members: Sequence[tuple[int, bytes]]) -> bool:
    """Whether a member seen when the step ended is alive in *pgid* still: then the group has
    existed all along and is the step's, not a stranger's that got the freed id."""
    for pid, started in members:
        fields = _stat_fields(pid)
        if fields is not None and fields[19] == started and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def stop_leftover_groups(
    groups: Sequence[tuple[int, Sequence[tuple[int, bytes]]]], grace: float = STOP_GRACE_SECONDS
) -> None:
    """SIGTERM the ended steps' process groups that are still theirs, SIGKILL any left after *grace*."""
    alive = [pgid for pgid, members in groups if _still_ours(pgid, members)]
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [pgid for pgid in alive if _group_members(pgid)]
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class Stopped(Exception):
    """The steps are being stopped (an interrupt in the caller): this one does not start."""


class CannotStart(Exception):
    """The command could not be started at all; ``exit_code`` is the shell's (127 or 126)."""

    def __init__(self, reason: str, exit_code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code


def _pump(
    source: IO[bytes],
    sink: IO[bytes] | None,
    prefix: bytes,
    tail: deque[bytes] | None,
    lock: threading.Lock,
    *,
    side: bool = False,
) -> None:
    """Copy *source* line by line to *sink*. On the *side* thread (the step's stderr) a sink that
    fails is dropped and the pipe still drained: a dead pump would leave the step blocked on
    its full pipe, and the run hung. On the main thread the failure is raised (lost output)."""
    for line in source:
        if tail is not None:
            with lock:
                tail.append(line)
        if sink is not None:
            with lock:
                try:
                    sink.write(prefix + line)
                    sink.flush()
                except (OSError, ValueError):
                    if not side:
                        raise
                    sink = None


def run_command(
    command: str | Sequence[str],
    *,
    shell: bool,
    env: Mapping[str, str],
    cwd: str = ".",
    prefix: str | None = None,
    output: IO[bytes] | None = None,
    errors: IO[bytes] | None = None,
    running: RunningSteps | None = None,
    tail: deque[bytes] | None = None,
) -> int:
    """Run a command, streaming its output live (prefixed when *prefix* is given).

    With a *prefix* and an *output*, the command's stdout goes to *output* and its stderr to
    *errors* (default: *output*), each line prefixed; *tail* keeps the last lines of both.
    With *running*, the command gets its own process group, registered there so that it can be
    stopped with everything it started. The child gets *env* without the variables attestkit
    treats as secrets. :class:`CannotStart` when the command cannot be started.
    """
    args: Any = command if shell else list(command)
    capture = prefix is not None and output is not None
    if running is not None:
        running.check()
    try:
        process = subprocess.Popen(
            args,
            shell=shell,
            env=child_environment(env),
            cwd=cwd,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            start_new_session=running is not None,
        )
    except FileNotFoundError:
        name = args if isinstance(args, str) else (args[0] if args else "")
        raise CannotStart(f"cannot start {name!r}: command not found", 127) from None
    except PermissionError:
        name = args if isinstance(args, str) else (args[0] if args else "")
        raise CannotStart(f"cannot start {name!r}: permission denied (not executable?)", 126) from None
    except OSError as exc:
        raise CannotStart(f"cannot start the command: {exc.strerror}", 126) from None
    if running is not None:
        running.add(process)
    try:
        if capture:
            assert process.stdout is not None and process.stderr is not None and output is not None
            lock = threading.Lock()
            tag = f"[{escape_text(prefix or '')}] ".encode()  # a step name is the pipeline file's text
            side = threading.Thread(
                target=_pump,
                args=(process.stderr, errors or output, tag, tail, lock),
                kwargs={"side": True},
                daemon=True,
            )
            side.start()
            _pump(process.stdout, output, tag, tail, lock)
            side.join()
        return process.wait()
    except BaseException:
        if running is not None:  # interrupted (e.g. KeyboardInterrupt): the step stops with us
            stop_process_groups([process])
        raise
    finally:
        if running is not None:
            running.discard(process)


def _hash_all(
    paths: Sequence[str], root: str, what: str, running: RunningSteps | None
) -> tuple[list[dict[str, Any]], list[str]]:
    records, missing = [], []
    for path in paths:
        if running is not None:
            running.check()
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
    errors: IO[bytes] | None = None,
    running: RunningSteps | None = None,
    tail: deque[bytes] | None = None,
) -> dict[str, Any]:
    """Hash inputs, run the command, hash outputs; return the step record.

    A secret name among *snapshot_names* is a :class:`UsageError` and nothing runs. A command
    that cannot be started is a failed step (exit code 127 or 126) whose ``error`` says why.
    """
    refusal = refuse_secret_names(snapshot_names, env, "--env")
    if refusal is not None:
        raise UsageError(refusal)
    env = child_environment(env)
    text = command if isinstance(command, str) else shlex.join(command)
    input_records, problems = _hash_all(inputs, root, "input", running)
    start = clock()
    if problems:
        exit_code = 1
        end = start
    else:
        try:
            exit_code = run_command(command, shell=shell, env=env, cwd=root, prefix=prefix, output=output,
                                    errors=errors, running=running, tail=tail)  # fmt: skip
        except CannotStart as exc:
            exit_code = exc.exit_code
            problems.append(exc.reason)
        end = clock()
    output_records, missing = _hash_all(outputs, root, "declared output", running) if not problems else ([], [])
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
    errors: IO[bytes] | None = None,
    fail_fast: bool = True,
    tails: dict[str, list[bytes]] | None = None,
) -> list[dict[str, Any]]:
    """Run the pipeline's steps as a DAG; the step records, in file order, of the steps that ran.

    Each step's stdout goes to *output* and its stderr to *errors* (default *output*), lines
    prefixed with ``[step]``. *tails*, when given, receives each step's last output lines.
    Fail-fast (the default) starts no step after one failed; steps already running finish.
    Any exception, ``KeyboardInterrupt`` included, stops every running step's process group
    (SIGTERM, then SIGKILL after :data:`STOP_GRACE_SECONDS`) before it propagates.
    """
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    _refuse_secrets(pipeline, environ, snapshot_names)
    # The scheduling runs on a worker too: a signal handler raising inside the thread pool's
    # own locking (submit, wait) would leave it broken rather than stop the steps.
    return run_stoppable(
        lambda running: _schedule(
            pipeline, jobs=jobs, environ=environ, snapshot_names=snapshot_names, root=root, clock=clock,
            output=output, errors=errors, fail_fast=fail_fast, tails=tails, running=running,
        )
    )  # fmt: skip


def _schedule(
    pipeline: Pipeline,
    *,
    jobs: int,
    environ: Mapping[str, str],
    snapshot_names: Sequence[str],
    root: str,
    clock: Clock,
    output: IO[bytes] | None,
    errors: IO[bytes] | None,
    fail_fast: bool,
    tails: dict[str, list[bytes]] | None,
    running: RunningSteps,
) -> list[dict[str, Any]]:
    base_env = {**environ, **dict(pipeline.env)}
    declared = [name for name, _ in pipeline.env]
    records: dict[str, dict[str, Any]] = {}
    done: set[str] = set()
    failed = False

    def execute(step: Step) -> dict[str, Any]:
        env = {**base_env, **dict(step.env)}
        names = [*snapshot_names, *declared, *(n for n, _ in step.env)]
        tail: deque[bytes] = deque(maxlen=TAIL_LINES)
        # Pipeline `run` strings are shell scripts by definition of the ATTEST file format.
        record = record_step(  # noqa: S604
            name=step.name, command=step.run, shell=True, inputs=step.inputs, outputs=step.outputs, env=env,
            snapshot_names=names, root=root, clock=clock, prefix=step.name, output=output, errors=errors,
            running=running, tail=tail,
        )  # fmt: skip
        if tails is not None:
            tails[step.name] = list(tail)
        return record

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
                unmet = set(records) - done  # once per round: per step it made long chains cubic
                pending = [s for s in pending if unmet.isdisjoint(s.needs)]
        except BaseException:
            running.terminate()
            raise
    return [records[s.name] for s in pipeline.steps if s.name in records]


__all__ = [
    "STOP_GRACE_SECONDS",
    "TAIL_LINES",
    "CannotStart",
    "RunningSteps",
    "Stopped",
    "host_facts",
    "record_step",
    "run_command",
    "run_pipeline",
    "run_stoppable",
]
