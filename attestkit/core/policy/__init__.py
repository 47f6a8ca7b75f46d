"""Policies: small objects with one ``evaluate(context) -> list[Violation]`` method.

The built-ins live in ``builtin``, rule files in ``rules``, Rego in ``rego``; each is imported
only when used.
"""

from attestkit.core.policy.base import AllOf, Policy, PolicyContext, Violation

__all__ = ["AllOf", "Policy", "PolicyContext", "Violation"]
