"""Loading the policies a command is given: ``--policy`` names, ``--policy-file`` files,
``--identity`` pins and the ``--rego-engine`` choice (shared by ``verify`` and ``policy``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from attestkit.adapters.files import MAX_POLICY_FILE_BYTES, read_bytes

if TYPE_CHECKING:
    from attestkit.core.policy.base import Policy
    from attestkit.core.policy.rego import RegoEngine

IDENTITY_POLICY = "identity"
REGO_ENGINES = ("embedded", "opa")


def rego_engine_option(function: Any) -> Any:
    """The ``--rego-engine`` option shared by ``verify`` and ``policy check``."""
    return click.option(
        "--rego-engine",
        type=click.Choice(REGO_ENGINES),
        help="Evaluate .rego files with the embedded engine or the real opa binary "
        "(default: opa when ATTESTKIT_OPA is set, else embedded).",
    )(function)


def rego_engine_from(choice: str | None, *, quiet: bool = True) -> RegoEngine | None:
    """The engine for *choice* (None: ``opa`` when ``$ATTESTKIT_OPA`` is set, else the embedded one).

    Unless *quiet*, a line on stderr says when the opa binary, not the embedded engine, decides.
    """
    import os

    chosen = choice
    if chosen is None:
        chosen = "opa" if os.environ.get("ATTESTKIT_OPA") else "embedded"
    if chosen == "embedded":
        return None
    from attestkit.adapters.opa import OpaBinaryEngine, find_opa

    engine = OpaBinaryEngine(find_opa())
    if not quiet:
        from attestkit.cli.output import warn

        why = "--rego-engine opa" if choice is not None else "ATTESTKIT_OPA is set"
        warn(f"Rego policies are evaluated by {engine.opa}, not the embedded engine ({why})")
    return engine


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)


def policy_print(path: str, message: str) -> None:
    """A Rego ``print``: one line on stderr, prefixed with the policy path (never on stdout)."""
    sys.stderr.write(f"{_printable(path)}: print: {_printable(message)}\n")


def load_policies(
    names: tuple[str, ...],
    files: tuple[str, ...],
    rego_engine: str | None = None,
    quiet: bool = False,
    identities: tuple[str, ...] = (),
    read_into: dict[str, bytes] | None = None,
    announce_engine: bool = False,
) -> tuple[Policy, ...]:
    """``--identity`` pins, built-in policies by name, then policy files (.yaml/.yml rules or .rego).

    *read_into*, when given, receives each file's bytes as evaluated (for the summary's digests).
    With *announce_engine*, a line on stderr says when the opa binary evaluates the ``.rego`` files.
    """
    policies: list[Policy] = []
    if identities:
        from attestkit.core.policy.rules import SignerAllowed

        # The same rule as a rule file's `type: signer-allowed` (docs/policies.md).
        policies.append(SignerAllowed(IDENTITY_POLICY, tuple(identities)))
    if names:
        from attestkit.core.policy.builtin import builtin_policy

        policies.extend(builtin_policy(name) for name in names)
    if files:
        from attestkit.core.policy.loader import load_policy_text

        rego = any(p.lower().endswith(".rego") for p in files)
        engine = rego_engine_from(rego_engine, quiet=not announce_engine) if rego else None
        for path in files:
            data = read_bytes(path, "policy file", MAX_POLICY_FILE_BYTES)
            if read_into is not None:
                read_into[path] = data
            policies.append(
                load_policy_text(path, data, rego_engine=engine, print_sink=None if quiet else policy_print)
            )
    return tuple(policies)


__all__ = ["IDENTITY_POLICY", "REGO_ENGINES", "load_policies", "policy_print", "rego_engine_from", "rego_engine_option"]
