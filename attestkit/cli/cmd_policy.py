"""``attestkit policy list`` and ``attestkit policy check``."""

from __future__ import annotations

import click

from attestkit.adapters.files import read_bytes
from attestkit.cli.output import out
from attestkit.core.policy.builtin import BUILTIN_DESCRIPTIONS


@click.group()
def policy() -> None:
    """List built-in policies and check policy files."""


@policy.command("list")
def list_cmd() -> int:
    """Print built-in policy names and rule-file types."""
    from attestkit.core.policy.rules import RULE_TYPES

    for name, text in BUILTIN_DESCRIPTIONS.items():
        out(f"{name:<24} {text}")
    for name, (text, _) in RULE_TYPES.items():
        out(f"type: {name:<18} {text}")
    return 0


@policy.command("check")
@click.argument("files", nargs=-1, required=True)
def check_cmd(files: tuple[str, ...]) -> int:
    """Validate policy files (.yaml/.yml rules or .rego) without a receipt."""
    from attestkit.core.policy.loader import load_policy_text

    for path in files:
        load_policy_text(path, read_bytes(path, "policy file"))
        out(f"ok  {path}")
    return 0
