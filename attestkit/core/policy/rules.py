"""Rule files (``.attest/verification.yaml``): typed rules validated when loaded."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from attestkit.core.crypto.digest import normalize_digest
from attestkit.core.policy.base import PolicyContext, Violation, lookup
from attestkit.core.policy.builtin import MaxAge
from attestkit.core.receipt.shape import DIGEST_RE
from attestkit.core.timeutil import human_duration, parse_duration
from attestkit.errors import PolicyError


def _num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def same_value(actual: object, expected: object) -> bool:
    """Equal in type and value: ``true``, ``1``, ``1.0`` and ``"1"`` are four different values."""
    return type(actual) is type(expected) and actual == expected


def _show(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    return f"{value!r} ({kinds.get(type(value), type(value).__name__)})"


@dataclass(frozen=True)
class AttestationRequired:
    """An attestation of the given type is present."""

    name: str
    attestation_type: str

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation unless some attestation has this type (or this key)."""
        attestations = context.receipt.get("attestations")
        if isinstance(attestations, Mapping):
            for key, value in attestations.items():
                if key == self.attestation_type and isinstance(value, Mapping):  # null or "x" is no attestation
                    return []
                if isinstance(value, Mapping) and value.get("type") == self.attestation_type:
                    return []
        return [Violation(self.name, f"no attestation of type {self.attestation_type!r}", "/attestations")]


@dataclass(frozen=True)
class SignerAllowed:
    """The signer identity established by the trust store is in the allow-list."""

    name: str
    allowed_signers: tuple[str, ...]

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Matches the keyring identity, never the receipt's own claim."""
        identity = context.trusted_identity
        if identity is None:
            return [Violation(self.name, "signer identity is not established by a trusted keyring entry", "/signer")]
        if identity not in self.allowed_signers:
            return [Violation(self.name, f"signer {identity!r} is not allowed", "/signer")]
        return []


@dataclass(frozen=True)
class StepRequired:
    """A step with this name ran and exited 0."""

    name: str
    step: str

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when the step is absent, or when any step of that name failed.

        A receipt may repeat a step name (formats before ``attestkit/v2``): every step of the
        name is judged, so a failing second ``test`` cannot hide behind a passing first one.
        """
        found = [
            Violation(
                self.name, f"step {self.step!r} exited with code {step.get('exit_code')}", f"/steps/{index}/exit_code"
            )
            for index, step in _named_steps(context, self.step)
            if not (type(step.get("exit_code")) is int and step.get("exit_code") == 0)
        ]
        if not found and not _named_steps(context, self.step):
            return [Violation(self.name, f"step {self.step!r} did not run", "/steps")]
        return found


def _named_steps(context: PolicyContext, name: str) -> list[tuple[int, Mapping[str, Any]]]:
    """Every step called *name*, with its index."""
    steps = context.receipt.get("steps") or []
    return [(i, step) for i, step in enumerate(steps) if isinstance(step, Mapping) and step.get("name") == name]


@dataclass(frozen=True)
class MinCoverage:
    """Coverage percentages reported by the test attestation meet minimums."""

    name: str
    minimums: tuple[tuple[str, float], ...]

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """One violation per metric below its minimum or missing."""
        pointer = "/attestations/test/predicate/coverage"
        coverage = lookup(context.receipt, "attestations", "test", "predicate", "coverage")
        found: list[Violation] = []
        for metric, minimum in self.minimums:
            value = coverage.get(metric) if isinstance(coverage, Mapping) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                found.append(Violation(self.name, f"no {metric} coverage reported", f"{pointer}/{metric}"))
            elif value < minimum:
                found.append(
                    Violation(self.name, f"{metric} coverage {value}% is below {minimum}%", f"{pointer}/{metric}")
                )
        return found


@dataclass(frozen=True)
class MaxVulnerabilities:
    """Vulnerability counts per severity stay within limits."""

    name: str
    limits: tuple[tuple[str, int], ...]

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """One violation per severity over its limit or missing."""
        pointer = "/attestations/security/predicate/results/vulnerabilities"
        counts = lookup(context.receipt, "attestations", "security", "predicate", "results", "vulnerabilities")
        if not isinstance(counts, Mapping):
            return [Violation(self.name, "no security scan results", pointer)]
        found: list[Violation] = []
        for severity, limit in self.limits:
            value = counts.get(severity)
            if value is None:
                found.append(Violation(self.name, f"no {severity} count reported", f"{pointer}/{severity}"))
            elif not _count(value):
                found.append(
                    Violation(
                        self.name, f"{severity} count {value!r} is not a non-negative integer", f"{pointer}/{severity}"
                    )
                )
            elif value > limit:
                found.append(
                    Violation(
                        self.name, f"{value} {severity} vulnerabilities; the limit is {limit}", f"{pointer}/{severity}"
                    )
                )
        return found


@dataclass(frozen=True)
class MaxDuration:
    """The pipeline's total duration stays within a limit."""

    name: str
    limit: timedelta

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when total_duration_secs exceeds the limit or is missing."""
        total = context.receipt.get("total_duration_secs")
        if not isinstance(total, (int, float)) or isinstance(total, bool):
            return [Violation(self.name, "receipt has no total_duration_secs", "/total_duration_secs")]
        if total < 0:  # a duration no run can have: the receipt's own numbers cannot be trusted
            return [Violation(self.name, f"total_duration_secs is negative ({total})", "/total_duration_secs")]
        if total > self.limit.total_seconds():
            return [
                Violation(
                    self.name,
                    f"pipeline ran {total}s; the limit is {human_duration(self.limit)}",
                    "/total_duration_secs",
                )
            ]
        return []


@dataclass(frozen=True)
class EnvironmentEquals:
    """``environment[key]`` (or a step's ``environment_snapshot[key]``) equals a value."""

    name: str
    key: str
    value: Any
    step: str | None = None

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when the value differs or is absent (in every step of the name, if a step is given)."""
        if self.step is None:
            return self._judge(lookup(context.receipt, "environment", self.key), f"/environment/{self.key}")
        steps = _named_steps(context, self.step)
        if not steps:
            return self._judge(None, "/steps")
        found: list[Violation] = []
        for index, step in steps:  # a repeated step name: each of them must hold the value
            pointer = f"/steps/{index}/environment_snapshot/{self.key}"
            found += self._judge(lookup(step, "environment_snapshot", self.key), pointer)
        return found

    def _judge(self, actual: Any, pointer: str) -> list[Violation]:
        if same_value(actual, self.value):
            return []
        if actual is None:
            return [Violation(self.name, f"{self.key} is absent, expected {self.value!r}", pointer)]
        if type(actual) is type(self.value):
            return [Violation(self.name, f"{self.key} is {actual!r}, expected {self.value!r}", pointer)]
        return [Violation(self.name, f"{self.key} is {_show(actual)}, expected {_show(self.value)}", pointer)]


@dataclass(frozen=True)
class PipelineHashIn:
    """``pipeline_hash`` is one of an allow-list."""

    name: str
    allowed: frozenset[str]

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when the pipeline digest is not allowed."""
        value = context.receipt.get("pipeline_hash")
        if not isinstance(value, str) or normalize_digest(value) not in self.allowed:
            return [Violation(self.name, f"pipeline_hash {value} is not in the allow-list", "/pipeline_hash")]
        return []


class _Fields:
    """Typed access to one rule's parameters, with errors naming rule and field."""

    def __init__(self, source: str, rule: Mapping[str, Any], name: str) -> None:
        self.source, self.rule, self.name = source, rule, name
        self.used = {"name", "type", "description"}

    def fail(self, field: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: rule {self.name!r}: field {field!r}: {problem}")

    def get(self, field: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
        self.used.add(field)
        if field not in self.rule:
            if required:
                raise self.fail(field, "is required")
            return None
        value = self.rule[field]
        if not isinstance(value, kind) or (
            isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        ):
            raise self.fail(field, f"has the wrong type ({type(value).__name__})")
        return value

    def duration(self, field: str) -> timedelta:
        text = self.get(field, str)
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise self.fail(field, str(exc)) from None

    def strings(self, field: str) -> tuple[str, ...]:
        values = self.get(field, list)
        if not values or not all(isinstance(v, str) for v in values):
            raise self.fail(field, "must be a non-empty list of strings")
        return tuple(values)

    def done(self) -> None:
        extra = sorted(set(self.rule) - self.used)
        if extra:
            raise self.fail(extra[0], "is not a parameter of this rule type")


def _coverage(f: _Fields) -> MinCoverage:
    mins = []
    for metric in ("lines", "branches", "functions"):
        value = f.get(metric, (int, float), required=False)
        if value is not None:
            mins.append((metric, float(value)))
    if not mins:
        raise f.fail("lines", "give at least one of lines, branches, functions")
    return MinCoverage(f.name, tuple(mins))


def _vulns(f: _Fields) -> MaxVulnerabilities:
    limits = []
    for severity in ("critical", "high", "medium", "low"):
        value = f.get(severity, int, required=False)
        if value is not None:
            if value < 0:
                raise f.fail(severity, "must be >= 0")
            limits.append((severity, value))
    if not limits:
        raise f.fail("critical", "give at least one of critical, high, medium, low")
    return MaxVulnerabilities(f.name, tuple(limits))


def _pipeline_hashes(f: _Fields) -> PipelineHashIn:
    allowed = f.strings("allowed")
    for digest in allowed:
        if not DIGEST_RE.match(digest):
            raise f.fail("allowed", f"{digest!r} is not blake3:<64 hex>")
    return PipelineHashIn(f.name, frozenset(normalize_digest(d) for d in allowed))


RULE_TYPES: dict[str, tuple[str, Callable[[_Fields], Any]]] = {
    "attestation-required": (
        "an attestation of attestation_type is present",
        lambda f: AttestationRequired(f.name, f.get("attestation_type", str)),
    ),
    "signer-allowed": (
        "the keyring identity of the signer is in allowed_signers",
        lambda f: SignerAllowed(f.name, f.strings("allowed_signers")),
    ),
    "max-age": ("timestamp is no older than max_age", lambda f: MaxAge(f.name, f.duration("max_age"))),
    "step-required": ("a step named step ran and exited 0", lambda f: StepRequired(f.name, f.get("step", str))),
    "min-coverage": ("test coverage lines/branches/functions at least the given percentages", _coverage),
    "max-vulnerabilities": ("vulnerability counts per severity at most the given limits", _vulns),
    "max-duration": (
        "total_duration_secs is at most max_duration",
        lambda f: MaxDuration(f.name, f.duration("max_duration")),
    ),
    "environment-equals": (
        "environment[key] (or a step's environment_snapshot) equals value",
        lambda f: EnvironmentEquals(
            f.name, f.get("key", str), f.get("value", (str, int, float, bool)), f.get("step", str, required=False)
        ),
    ),
    "pipeline-hash-in": ("pipeline_hash is one of allowed", _pipeline_hashes),
}


def parse_rules(document: Any, source: str) -> list[Any]:
    """Build policies from a parsed rules document; :class:`PolicyError` on any problem.

    The document is ``verification: {rules: [...]}`` with at least one rule: an empty list, or
    a bare top-level ``rules:``, would otherwise pass every receipt without checking anything.
    """
    if not isinstance(document, Mapping) or "verification" not in document:
        hint = " (nest it under verification:)" if isinstance(document, Mapping) and "rules" in document else ""
        raise PolicyError(f"{source}: expected verification.rules: a list of rules{hint}")
    verification = document["verification"]
    rules = verification.get("rules") if isinstance(verification, Mapping) else None
    if not isinstance(rules, list):
        raise PolicyError(f"{source}: expected verification.rules: a list of rules")
    if not rules:
        raise PolicyError(f"{source}: verification.rules is empty; a rule file must contain at least one rule")
    policies: list[Any] = []
    names: set[str] = set()
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise PolicyError(f"{source}: rule #{index + 1}: must be a mapping")
        name = rule.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError(f"{source}: rule #{index + 1}: field 'name' is required")
        if name in names:
            raise PolicyError(f"{source}: rule {name!r}: duplicate rule name")
        names.add(name)
        kind = rule.get("type")
        if not isinstance(kind, str) or kind not in RULE_TYPES:
            raise PolicyError(f"{source}: rule {name!r}: unknown type {kind!r}; known types: {', '.join(RULE_TYPES)}")
        fields = _Fields(source, rule, name)
        policy = RULE_TYPES[kind][1](fields)
        fields.done()
        policies.append(policy)
    return policies


__all__ = ["RULE_TYPES", "parse_rules"]
