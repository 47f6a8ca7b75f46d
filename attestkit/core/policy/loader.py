"""Loading a policy file (``.yaml``/``.yml`` rules or ``.rego``) into the policy interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attestkit.core.policy.base import AllOf, Policy
from attestkit.errors import ArgumentTypeError, AttestkitError, PolicyError

if TYPE_CHECKING:
    from attestkit.core.policy.rego import PrintSink, RegoEngine


def load_policy_text(
    name: str, data: bytes, *, rego_engine: RegoEngine | None = None, print_sink: PrintSink | None = None
) -> Policy:
    """Compile the policy file *name* (the path as given) from its bytes.

    ``.rego`` files are checked and compiled with *rego_engine* (default: the embedded one);
    Rego ``print`` output goes to *print_sink* (dropped when None).
    """
    ArgumentTypeError.check(name, str, "a policy file name")
    ArgumentTypeError.check(data, (bytes, bytearray), "policy file data")
    lowered = name.lower()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{name}: policy file is not UTF-8") from None
    if lowered.endswith(".rego"):
        from attestkit.core.policy.rego import RegoPolicy

        return RegoPolicy(name, text, engine=rego_engine, print_sink=print_sink)
    if lowered.endswith((".yaml", ".yml")):
        from attestkit.core.policy.rules import parse_rules
        from attestkit.core.receipt.reader import parse_document

        try:
            document = parse_document(data, source=name, fmt="yaml")
        except AttestkitError as exc:
            raise PolicyError(f"{exc.message}") from None
        return AllOf(name, tuple(parse_rules(document, name)))
    raise PolicyError(f"{name}: policy files must end in .yaml, .yml or .rego")


__all__ = ["load_policy_text"]
