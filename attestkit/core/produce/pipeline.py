"""ATTEST pipeline files (``attest.yaml``): validation and the step DAG.

Everything is checked before anything runs: unknown fields, a missing ``run``, ``needs`` that
name unknown steps, cycles, and an ``env`` that sets a variable attestkit reads as a secret
(:data:`attestkit.core.secret_env.SECRET_ENV_NAMES`) are errors naming the step; a file of
more than :data:`MAX_STEPS` steps is refused. Nothing here recurses on the step graph.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attestkit.core.receipt.shape import unsafe_path_reason
from attestkit.core.secret_env import SECRET_ENV_NAMES
from attestkit.errors import AttestkitError, PipelineError

PIPELINE_FIELDS = {"version", "name", "env", "steps", "description"}
STEP_FIELDS = {"run", "inputs", "outputs", "needs", "env", "name", "description"}
MAX_STEPS = 10_000


@dataclass(frozen=True)
class Step:
    """One step of a pipeline."""

    name: str
    run: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: steps in file order, acyclic."""

    name: str
    steps: tuple[Step, ...]
    env: tuple[tuple[str, str], ...] = ()

    def step(self, name: str) -> Step:
        """The step called *name*."""
        return next(s for s in self.steps if s.name == name)

    def levels(self) -> list[list[str]]:
        """Steps grouped so that each level only needs earlier levels."""
        level = _levels(self.steps)
        grouped: list[list[str]] = [[] for _ in range(1 + max(level.values(), default=-1))]
        for step in self.steps:
            grouped[level[step.name]].append(step.name)
        return grouped

    def critical_path(self) -> list[str]:
        """The longest chain of dependent steps (by step count); the first such chain on a tie."""
        length: dict[str, int] = {}
        previous: dict[str, str | None] = {}
        for step in self._topological():
            longest = max(step.needs, key=length.__getitem__, default=None)
            previous[step.name] = longest
            length[step.name] = 1 + (length[longest] if longest is not None else 0)
        if not length:
            return []
        last: str | None = max(length, key=length.__getitem__)
        path: list[str] = []
        while last is not None:
            path.append(last)
            last = previous[last]
        return path[::-1]

    def _topological(self) -> list[Step]:
        """Steps by level, in file order within a level."""
        level = _levels(self.steps)
        return sorted(self.steps, key=lambda step: level[step.name])  # stable: file order within a level


def _levels(steps: Sequence[Step]) -> dict[str, int]:
    """Each step's level: 0 without needs, else one more than its deepest need (Kahn's algorithm)."""
    waiting = {step.name: len(set(step.needs)) for step in steps}
    needed_by: dict[str, list[str]] = {step.name: [] for step in steps}
    for step in steps:
        for need in set(step.needs):
            needed_by[need].append(step.name)
    level = dict.fromkeys((name for name, count in waiting.items() if count == 0), 0)
    ready = list(level)
    while ready:
        name = ready.pop()
        for dependent in needed_by[name]:
            level[dependent] = max(level.get(dependent, 0), level[name] + 1)
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return level


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PipelineError(f"{where}: must be a string or a list of strings")


def _env(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PipelineError(f"{where}: env must be a mapping")
    pairs = []
    for key, item in value.items():
        if str(key) in SECRET_ENV_NAMES:
            raise PipelineError(
                f"{where}: env {str(key)!r} is a secret attestkit reads; a pipeline file may not set it"
                " (build steps never see secrets and receipts never record them)"
            )
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise PipelineError(f"{where}: env {key!r} must be a string or number")
        pairs.append((str(key), str(item)))
    return tuple(pairs)


def parse_pipeline(data: bytes, source: str = "attest.yaml") -> Pipeline:
    """Validate a pipeline file; :class:`PipelineError` names the step and the problem."""
    # Long by design: one check per field, in the order of docs/pipeline.md's tables.
    from attestkit.core.receipt.reader import parse_document

    try:
        document = parse_document(data, source=source, fmt="yaml")
    except AttestkitError as exc:
        raise PipelineError(f"{exc.message}") from None
    if not isinstance(document, Mapping):
        raise PipelineError(f"{source}: a pipeline file is a mapping")
    unknown = sorted(set(document) - PIPELINE_FIELDS)
    if unknown:
        raise PipelineError(f"{source}: unknown field {unknown[0]!r}")
    if str(document.get("version", "")) != "0.1":
        raise PipelineError(f'{source}: version must be "0.1"')
    raw_steps = document.get("steps")
    if isinstance(raw_steps, Mapping):
        named = [(str(k), v) for k, v in raw_steps.items()]
    elif isinstance(raw_steps, list):
        named = []
        for index, item in enumerate(raw_steps):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise PipelineError(f"{source}: steps[{index}]: a listed step needs a name")
            named.append((item["name"], item))
    else:
        raise PipelineError(f"{source}: steps must be a mapping or a list")
    if not named:
        raise PipelineError(f"{source}: no steps")
    if len(named) > MAX_STEPS:
        raise PipelineError(f"{source}: {len(named)} steps; a pipeline file may have at most {MAX_STEPS}")
    steps: list[Step] = []
    seen: set[str] = set()
    for name, body in named:
        where = f"{source}: step {name!r}"
        if name in seen:
            raise PipelineError(f"{where}: duplicate step name")
        seen.add(name)
        if not isinstance(body, Mapping):
            raise PipelineError(f"{where}: must be a mapping")
        unknown = sorted(set(body) - STEP_FIELDS)
        if unknown:
            raise PipelineError(f"{where}: unknown field {unknown[0]!r}")
        run = body.get("run")
        if not isinstance(run, str) or not run.strip():
            raise PipelineError(f"{where}: missing run")
        paths = _strings(body.get("inputs"), where + " inputs") + _strings(body.get("outputs"), where + " outputs")
        for path in paths:
            reason = unsafe_path_reason(path)
            if reason is not None:
                raise PipelineError(f"{where}: path {path!r}: {reason}")
        steps.append(
            Step(
                name=name,
                run=run,
                inputs=_strings(body.get("inputs"), where + " inputs"),
                outputs=_strings(body.get("outputs"), where + " outputs"),
                needs=_strings(body.get("needs"), where + " needs"),
                env=_env(body.get("env"), where),
            )
        )
    names = {s.name for s in steps}
    for step in steps:
        for need in step.needs:
            if need not in names:
                raise PipelineError(f"{source}: step {step.name!r}: needs unknown step {need!r}")
    _reject_cycles(steps, source)
    title = document.get("name")
    return Pipeline(
        name=title if isinstance(title, str) else "", steps=tuple(steps), env=_env(document.get("env"), source)
    )


def _reject_cycles(steps: list[Step], source: str) -> None:
    # Depth-first with an explicit stack: a needs chain may be as long as the file has steps.
    needs = {s.name: s.needs for s in steps}
    done: set[str] = set()
    for step in steps:
        if step.name in done:
            continue
        trail = [step.name]
        position = {step.name: 0}
        pending: list[Iterator[str]] = [iter(needs[step.name])]
        while pending:
            need = next(pending[-1], None)
            if need is None:
                pending.pop()
                finished = trail.pop()
                del position[finished]
                done.add(finished)
            elif need in position:
                cycle = [*trail[position[need] :], need]
                raise PipelineError(f"{source}: step {need!r}: dependency cycle {' -> '.join(cycle)}")
            elif need not in done:
                position[need] = len(trail)
                trail.append(need)
                pending.append(iter(needs[need]))


__all__ = ["MAX_STEPS", "Pipeline", "PipelineError", "Step", "parse_pipeline"]
