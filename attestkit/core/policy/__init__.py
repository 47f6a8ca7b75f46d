"""Policies: small objects with one ``evaluate(context) -> list[Violation]`` method."""

from attestkit.core.policy.base import AllOf, Policy, PolicyContext, Violation
from attestkit.core.policy.builtin import BUILTIN_DESCRIPTIONS, builtin_policy

__all__ = ["BUILTIN_DESCRIPTIONS", "AllOf", "Policy", "PolicyContext", "Violation", "builtin_policy"]
