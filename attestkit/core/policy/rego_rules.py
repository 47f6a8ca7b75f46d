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
    # ... and the computed parts of that reference (q in p[q] := 1).
    indices = [part for part in _ref_chain(variant.get("refr"))[1] if isinstance(part, dict)]
    return _root_name(variant.get("refr")), int(node["span"]["line"]), [parts, indices, node.get("bodies")]


_PACKAGE_PATH = ("attest", "verification")


def _ref_chain(node: Any) -> tuple[Any, list[Any]]:
    """The root of a reference and its parts (a field name, an index node), outermost last."""
    parts: list[Any] = []
    while isinstance(node, dict) and len(node) == 1 and next(iter(node)) in ("RefDot", "RefBrack"):
        kind, body = next(iter(node.items()))
        if kind == "RefDot":
            field = body.get("field")
            parts.append(field[1] if isinstance(field, list) and len(field) == 2 else None)
        else:
            parts.append(body.get("index"))
        node = body.get("refr")
    return node, parts[::-1]


def _static(part: Any) -> str | None:
    """A reference part's name when it is written out (``.r``, ``["r"]``); None when computed."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and len(part) == 1:
        kind, body = next(iter(part.items()))
        if kind in ("String", "RawString") and isinstance(body, dict) and isinstance(body.get("value"), str):
            return str(body["value"])
    return None


def _data_uses(node: Any, names: frozenset[str]) -> Iterator[str]:
    """The rules of this package that references to ``data`` in *node* read.

    ``data.attest.verification.r`` (or ``["r"]``) reads ``r``; ``data``, ``data.attest``,
    ``data.attest.verification`` or a computed part (``data.attest.verification[k]``) read the
    whole package, so every rule: OPA counts these for recursion at compile time, whether or
    not evaluation reaches them.
    """
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        root, parts = _ref_chain(item)
        if parts and isinstance(root, dict) and "Var" in root and root["Var"].get("value") == "data":
            path = [_static(part) for part in parts]
            stack.extend(part for part in parts if isinstance(part, dict))
        elif "Var" in item and isinstance(item["Var"], dict) and item["Var"].get("value") == "data":
            path = []
        else:
            stack.extend(item.values())
            continue
        if any(part is not None and part != expected for part, expected in zip(path, _PACKAGE_PATH, strict=False)):
            continue  # another package: no rules of this one
        rule = path[len(_PACKAGE_PATH)] if len(path) > len(_PACKAGE_PATH) else None
        if rule is not None:
            yield from [rule] if rule in names else []
        else:
            yield from names


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
            graph[rule].update(_data_uses(body, names))
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
