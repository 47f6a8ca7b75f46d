"""ATTEST pipeline files (``attest.yaml``): validation and the step DAG.

Everything is checked before anything runs: unknown fields, a missing ``run``, ``needs`` that
name unknown steps, cycles, and an ``env`` that sets a variable attestkit reads as a secret
(:data:`attestkit.core.secret_env.SECRET_ENV_NAMES`) are errors naming the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestkit.core.receipt.shape import unsafe_path_reason
from attestkit.core.secret_env import SECRET_ENV_NAMES
from attestkit.errors import AttestkitError, PipelineError

PIPELINE_FIELDS = {"version", "name", "env", "steps", "description"}
STEP_FIELDS = {"run", "inputs", "outputs", "needs", "env", "name", "description"}


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
        level: dict[str, int] = {}
        for step in self._topological():
            level[step.name] = 1 + max((level[n] for n in step.needs), default=-1)
        grouped: list[list[str]] = [[] for _ in range(1 + max(level.values(), default=-1))]
        for step in self.steps:
            grouped[level[step.name]].append(step.name)
        return grouped

    def critical_path(self) -> list[str]:
        """The longest chain of dependent steps (by step count)."""
        best: dict[str, list[str]] = {}
        for step in self._topological():
            longest = max((best[n] for n in step.needs), key=len, default=[])
            best[step.name] = [*longest, step.name]
        return max(best.values(), key=len, default=[])

    def _topological(self) -> list[Step]:
        done: set[str] = set()
        order: list[Step] = []
        remaining = list(self.steps)
        while remaining:
            ready = [s for s in remaining if set(s.needs) <= done]
            order.extend(ready)
            done.update(s.name for s in ready)
            remaining = [s for s in remaining if s.name not in done]
        return order


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
    needs = {s.name: s.needs for s in steps}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*trail[trail.index(name) :], name]
            raise PipelineError(f"{source}: step {name!r}: dependency cycle {' -> '.join(cycle)}")
        state[name] = 1
        for need in needs[name]:
            visit(need, [*trail, name])
        state[name] = 2

    for step in steps:
        visit(step.name, [])


__all__ = ["Pipeline", "PipelineError", "Step", "parse_pipeline"]
