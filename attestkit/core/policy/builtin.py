"""The contract's built-in policies, looked up by name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from attestkit.core.policy.base import PolicyContext, Violation, lookup
from attestkit.core.timeutil import human_duration, parse_duration
from attestkit.errors import ArgumentTypeError, PolicyError

_MAX_AGE = re.compile(r"max-age-([0-9]+[smhd])\Z", re.ASCII)

BUILTIN_DESCRIPTIONS: dict[str, str] = {
    "require-signature": "the receipt carries a signature that verified",
    "max-age-<N><s|m|h|d>": "timestamp is no older than N (e.g. max-age-24h)",
    "require-tests": "attestations.test.predicate.test_results has total > 0 and failed == 0",
    "security-scan": "attestations.security.predicate.results.vulnerabilities.critical == 0",
    "steps-succeeded": "every step has exit_code 0",
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    """A whole, non-negative number (``3`` or ``3.0``, never ``1e-300`` or ``-3``)."""
    return _is_number(value) and value >= 0 and float(value).is_integer()  # type: ignore[operator, arg-type]


@dataclass(frozen=True)
class RequireSignature:
    """The receipt's signature verified."""

    name: str = "require-signature"

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation unless the signature verified."""
        if context.signature_verified:
            return []
        if "signature" not in context.receipt:
            return [Violation(self.name, "receipt is not signed", "/signature")]
        return [Violation(self.name, "receipt signature did not verify", "/signature")]


@dataclass(frozen=True)
class MaxAge:
    """The receipt's timestamp is no older than ``limit``."""

    name: str
    limit: timedelta

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when the receipt is older than the limit."""
        if context.timestamp is None:
            return [Violation(self.name, "receipt has no valid timestamp", "/timestamp")]
        age = context.now - context.timestamp
        if age > self.limit:
            return [
                Violation(
                    self.name,
                    f"built {human_duration(age)} ago; the limit is {human_duration(self.limit)}",
                    "/timestamp",
                )
            ]
        return []


@dataclass(frozen=True)
class RequireTests:
    """A test attestation with at least one test and no failures."""

    name: str = "require-tests"

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when tests are missing, empty or failing."""
        pointer = "/attestations/test/predicate/test_results"
        if lookup(context.receipt, "attestations", "test") is None:
            return [Violation(self.name, "no test attestation", "/attestations/test")]
        results = lookup(context.receipt, "attestations", "test", "predicate", "test_results")
        if not isinstance(results, dict):
            return [Violation(self.name, "test attestation has no test_results", pointer)]
        total, failed = results.get("total"), results.get("failed")
        if not _is_number(total):
            return [Violation(self.name, "test_results.total is missing or not a number", pointer + "/total")]
        if not _is_number(failed):
            return [Violation(self.name, "test_results.failed is missing or not a number", pointer + "/failed")]
        assert isinstance(total, (int, float)) and isinstance(failed, (int, float))
        for field in ("total", "failed", "passed", "skipped"):  # counts of tests: whole, not negative
            value = results.get(field)
            if (field in ("total", "failed") or value is not None) and not _is_count(value):
                return [
                    Violation(
                        self.name, f"test_results.{field} is not a count of tests ({value!r})", f"{pointer}/{field}"
                    )
                ]
        found: list[Violation] = []
        if total <= 0:
            found.append(Violation(self.name, "no tests ran (total is 0)", pointer + "/total"))
        if failed != 0:
            found.append(Violation(self.name, f"{failed} of {total} tests failed", pointer + "/failed"))
        return found


@dataclass(frozen=True)
class SecurityScan:
    """A security attestation reporting zero critical vulnerabilities."""

    name: str = "security-scan"

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Violation when the scan is missing or reports critical vulnerabilities."""
        if lookup(context.receipt, "attestations", "security") is None:
            return [Violation(self.name, "no security attestation", "/attestations/security")]
        pointer = "/attestations/security/predicate/results/vulnerabilities/critical"
        critical = lookup(
            context.receipt, "attestations", "security", "predicate", "results", "vulnerabilities", "critical"
        )
        if not _is_number(critical):
            return [Violation(self.name, "security scan has no critical vulnerability count", pointer)]
        if critical != 0:
            return [Violation(self.name, f"{critical} critical vulnerabilities reported", pointer)]
        return []


@dataclass(frozen=True)
class StepsSucceeded:
    """Every step exited with code 0."""

    name: str = "steps-succeeded"

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """One violation per failed step or step without an exit code."""
        steps = context.receipt.get("steps")
        if not isinstance(steps, list):
            return [Violation(self.name, "receipt has no steps", "/steps")]
        found: list[Violation] = []
        for index, step in enumerate(steps):
            name = step.get("name", f"#{index}") if isinstance(step, dict) else f"#{index}"
            code = step.get("exit_code") if isinstance(step, dict) else None
            if not _is_int(code):
                found.append(Violation(self.name, f"step {name!r} has no exit_code", f"/steps/{index}/exit_code"))
            elif code != 0:
                found.append(
                    Violation(self.name, f"step {name!r} exited with code {code}", f"/steps/{index}/exit_code")
                )
        return found


def builtin_policy(name: str) -> RequireSignature | MaxAge | RequireTests | SecurityScan | StepsSucceeded:
    """The built-in policy called *name*; :class:`PolicyError` if there is none."""
    ArgumentTypeError.check(name, str, "a policy name")
    if name == "require-signature":
        return RequireSignature()
    if name == "require-tests":
        return RequireTests()
    if name == "security-scan":
        return SecurityScan()
    if name == "steps-succeeded":
        return StepsSucceeded()
    match = _MAX_AGE.match(name)
    if match:
        try:
            return MaxAge(name=name, limit=parse_duration(match.group(1)))
        except ValueError as exc:
            raise PolicyError(f"policy {name[:48]!r}: {exc}") from None
    known = ", ".join(BUILTIN_DESCRIPTIONS)
    import difflib

    names = [n for n in BUILTIN_DESCRIPTIONS if "<" not in n] + ["max-age-24h"]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise PolicyError(f"unknown policy {name!r}; {hint}built-in policies are: {known}")


__all__ = [
    "BUILTIN_DESCRIPTIONS",
    "MaxAge",
    "RequireSignature",
    "RequireTests",
    "SecurityScan",
    "StepsSucceeded",
    "builtin_policy",
]
