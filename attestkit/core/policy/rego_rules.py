"""The rules of a Rego policy as the engine's own parser sees them (not attestkit's token scan).

Three decisions depend on which rules a policy defines, and a token scan can miss a rule OPA
reads (OPA needs no newline between statements: ``package attest.verification allow :=
false`` defines ``allow``). So they are taken from the abstract syntax tree the embedded
engine (regorus) parses:

* whether the package has a rule named ``allow`` (then ``allow`` not true is a violation);
* whether it has ``allow`` or ``deny`` at all: a policy with neither would pass every
  receipt without checking anything, and is refused;
* whether a rule depends on itself: OPA refuses recursion at compile time, and the embedded
  engine would recurse until its stack overflows (the process dies), so it is refused.

Every rule must also start a line on which attestkit's scan saw a statement start: the
scan's other checks (builtins, ``with``, numbers) read one statement per line.

Public face: :class:`RuleFacts`, :func:`rule_facts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from attestkit.core.policy.rego_ast import parse_policy, rule_nodes, walk
from attestkit.errors import PolicyError


@dataclass(frozen=True)
class RuleFacts:
    """What the parsed policy defines: rule names (the first part of each head) and their lines."""

    names: frozenset[str]
    lines: tuple[int, ...]


def _root_name(ref: Any) -> str | None:
    """The variable a rule head's reference starts with (``a`` for ``a.b[c]``)."""
    while isinstance(ref, dict):
        if "Var" in ref:
            value = ref["Var"].get("value")
            return value if isinstance(value, str) else None
        inner = next(iter(ref.values()), None)
        ref = inner.get("refr") if isinstance(inner, dict) else None
    return None


def _head(rule: dict[str, Any]) -> tuple[str | None, int, Any]:
    """(name, line, bodies) of one rule of the AST."""
    kind, node = next(iter(rule.items()))
    if kind == "Default":
        return _root_name(node.get("refr")), int(node["span"]["line"]), node.get("value")
    head = node.get("head") or {}
    variant: Any = next(iter(head.values()), {}) if isinstance(head, dict) else {}
    # The head's own reference names the rule: only its key and value can depend on other rules.
    parts = {key: value for key, value in variant.items() if key not in ("refr", "span", "args")}
    return _root_name(variant.get("refr")), int(node["span"]["line"]), [parts, node.get("bodies")]


def _cycle(graph: dict[str, set[str]]) -> str | None:
    """A rule that depends on itself, directly or through others, or ``None``."""
    state: dict[str, int] = {}  # 1: being visited, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        state[start] = 1
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[name] = 2
                stack.pop()
            elif state.get(child) == 1:
                return child
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
    return None


def rule_facts(name: str, text: str, statement_lines: frozenset[int]) -> RuleFacts | None:
    """The rules the engine parses in *text*; ``None`` when it cannot parse it (the scan decides).

    :class:`PolicyError` when a rule does not start a line the scan read as a statement, when
    a rule depends on itself, or when neither ``allow`` nor ``deny`` is defined.
    """
    tree = parse_policy(name, text)
    if tree is None:
        return None
    rules = rule_nodes(tree)
    heads = [_head(rule) for rule in rules]
    names = frozenset(rule for rule, _, _ in heads if rule is not None)
    lines = tuple(line for _, line, _ in heads)
    for rule, line, _ in heads:
        if rule is None or line not in statement_lines or lines.count(line) > 1:
            raise PolicyError(
                f"{name}: line {line}: write each rule on a line of its own "
                "(attestkit's checks read one rule per line; OPA needs no newline between them)"
            )
    graph: dict[str, set[str]] = {rule: set() for rule in names}
    for rule, _, body in heads:
        if rule is not None:
            graph[rule].update(
                used
                for used in (
                    node["value"] for kind, node in walk(body) if kind == "Var" and isinstance(node.get("value"), str)
                )
                if used in names
            )
    looping = _cycle(graph)
    if looping is not None:
        raise PolicyError(
            f"{name}: rule {looping} depends on itself (recursion): OPA refuses to compile this (rego_recursion_error)"
        )
    if "allow" not in names and "deny" not in names:
        raise PolicyError(
            f"{name}: defines no rule named allow or deny: it would pass every receipt without checking anything"
        )
    return RuleFacts(names, lines)


__all__ = ["RuleFacts", "rule_facts"]
