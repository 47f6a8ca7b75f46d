"""Policy unit tests: policies run against fixture receipts, each with its expected verdict.

Public face: :func:`parse_expectation`, :func:`run_case`, :class:`Expectation`, :class:`CaseRow`.
The fixture format (``attestkit policy test``, docs/policies.md) is an expectation file beside
each fixture receipt, ``NAME.expect.yaml`` for ``NAME.json``/``NAME.yaml``::

    verdict: fail                 # pass | fail, for every policy under test
    verdicts: {release.yaml: pass}  # optional: per policy (by file name or built-in name)
    violations: ["no attestation"]  # optional: each must appear in some violation message
    identity: ci@company.com      # optional: the trusted signer identity the policies see
    signature_verified: true      # optional (default true)
    now: 2026-11-20T12:00:00Z     # optional: the time the policies see (default: the receipt's)

The signature is not checked: a fixture is about the policy, not the receipt's proof.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from attestkit.core.policy.base import Policy, PolicyContext
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import AttestkitError, UsageError

VERDICTS = ("pass", "fail")
_FIELDS = {"verdict", "verdicts", "violations", "identity", "signature_verified", "now"}


@dataclass(frozen=True)
class Expectation:
    """What a fixture expects of the policies under test."""

    verdict: str | None
    verdicts: Mapping[str, str]
    violations: tuple[str, ...] = ()
    identity: str | None = None
    signature_verified: bool = True
    now: datetime | None = None

    def verdict_for(self, policy_name: str) -> str | None:
        """The expected verdict of one policy (its file name or built-in name, else the default)."""
        short = policy_name.replace("\\", "/").rsplit("/", 1)[-1]
        return self.verdicts.get(policy_name, self.verdicts.get(short, self.verdict))


def _fixture_error(source: str, message: str) -> UsageError:
    return UsageError(f"{source}: {message}", code="policy-fixture")


def parse_expectation(document: Any, source: str) -> Expectation:
    """A parsed expectation file; :class:`UsageError` (code ``policy-fixture``) names the rule broken."""
    if not isinstance(document, Mapping):
        raise _fixture_error(source, "an expectation file must be a mapping (verdict: pass|fail, ...)")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise _fixture_error(source, f"unknown field {unknown[0]!r}; known: {', '.join(sorted(_FIELDS))}")
    verdict = document.get("verdict")
    if verdict is not None and verdict not in VERDICTS:
        raise _fixture_error(source, f"verdict must be pass or fail, not {verdict!r}")
    verdicts = document.get("verdicts") or {}
    if not isinstance(verdicts, Mapping) or not all(isinstance(k, str) and v in VERDICTS for k, v in verdicts.items()):
        raise _fixture_error(source, "verdicts must map policy names to pass or fail")
    if verdict is None and not verdicts:
        raise _fixture_error(source, "give verdict: pass|fail (or verdicts: per policy)")
    violations = document.get("violations") or []
    if not isinstance(violations, list) or not all(isinstance(v, str) for v in violations):
        raise _fixture_error(source, "violations must be a list of strings")
    identity = document.get("identity")
    if identity is not None and not isinstance(identity, str):
        raise _fixture_error(source, "identity must be a string")
    verified = document.get("signature_verified", True)
    if not isinstance(verified, bool):
        raise _fixture_error(source, "signature_verified must be true or false")
    now = document.get("now")
    try:
        moment = parse_rfc3339(now) if isinstance(now, str) else None
    except ValueError as exc:
        raise _fixture_error(source, f"now: {exc}") from None
    if now is not None and moment is None:
        raise _fixture_error(source, "now must be an RFC 3339 string")
    return Expectation(verdict, dict(verdicts), tuple(violations), identity, verified, moment)


@dataclass(frozen=True)
class CaseRow:
    """One line of the table: a fixture under one policy."""

    fixture: str
    policy: str
    expected: str | None  # None: this fixture says nothing about this policy
    actual: str  # pass, fail or error
    detail: str  # the violations, or the error
    missing: str = ""  # an expected violation text that no violation contains

    @property
    def ok(self) -> bool:
        """Whether the policy did what the fixture expects."""
        return not self.missing and (self.expected is None or self.actual == self.expected)


def run_case(
    policies: Sequence[Policy],
    receipt: Mapping[str, Any],
    timestamp: datetime | None,
    expectation: Expectation,
    fixture: str,
) -> list[CaseRow]:
    """Evaluate every policy on one fixture; one row per policy."""
    now = expectation.now or timestamp
    if now is None:
        raise _fixture_error(fixture, "the receipt has no timestamp: give now: in the expectation file")
    context = PolicyContext(
        receipt=receipt,
        signature_verified=expectation.signature_verified,
        signer=expectation.identity,
        public_key=receipt.get("signer_public_key") if isinstance(receipt.get("signer_public_key"), str) else None,
        now=now,
        timestamp=timestamp,
        trusted_identity=expectation.identity,
    )
    if policies and all(expectation.verdict_for(p.name) is None for p in policies):
        # e.g. a misspelt name in verdicts: every row passed with nothing asserted
        names = ", ".join(sorted(expectation.verdicts))
        under_test = ", ".join(sorted(p.name for p in policies))
        raise _fixture_error(
            fixture, f"verdicts ({names}) name no policy under test ({under_test}); nothing would be checked"
        )
    rows: list[CaseRow] = []
    messages: list[str] = []
    for policy in policies:
        try:
            found = policy.evaluate(context)
        except AttestkitError as exc:
            rows.append(CaseRow(fixture, policy.name, expectation.verdict_for(policy.name), "error", str(exc)))
            continue
        messages.extend(v.message for v in found)
        actual = "fail" if found else "pass"
        rows.append(CaseRow(fixture, policy.name, expectation.verdict_for(policy.name), actual,
                            "; ".join(v.message for v in found)))  # fmt: skip
    missing = [text for text in expectation.violations if not any(text in m for m in messages)]
    if missing and rows:
        first = rows[0]
        rows[0] = CaseRow(first.fixture, first.policy, first.expected, first.actual, first.detail, missing[0])
    return rows


__all__ = ["VERDICTS", "CaseRow", "Expectation", "parse_expectation", "run_case"]
