"""The embedded engine's syntax tree of a policy, parsed once and walked one way.

The checks that must see a policy as a Rego parser does (which rules it defines, which
variables a negation uses, which constructs OPA's compiler refuses) read the abstract syntax
tree regorus parses, as JSON: a node is a one-key mapping ``{Kind: {fields}}``.

Public face: :func:`parse_policy`, :func:`rule_nodes`, :func:`literals`, :func:`node_kind`, :func:`walk`,
:func:`walk_pruned`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

COMPREHENSIONS = frozenset({"ArrayCompr", "SetCompr", "ObjectCompr"})


def parse_policy(name: str, text: str) -> Any:
    """The engine's syntax tree of *text*, or ``None`` when it cannot parse it (compiling says why)."""
    try:
        import regorus
    except ModuleNotFoundError:  # pragma: no cover - a dependency; without it the token scan decides
        return None
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    try:
        engine.add_policy(name, text)
        tree = json.loads(engine.get_ast_as_json())
        rule_nodes(tree)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a parse error (compiling reports it), or an AST this code cannot read
        return None
    return tree


def rule_nodes(tree: Any) -> list[Any]:
    """The rule nodes of a tree from :func:`parse_policy`."""
    return list(tree[0]["ast"]["rules"])


def literals(query: Any) -> Iterator[dict[str, Any]]:
    """The literal node of each statement of a query, in order (nothing for what is not one)."""
    for statement in (query.get("stmts") or []) if isinstance(query, dict) else []:
        literal = statement.get("literal") if isinstance(statement, dict) else None
        if isinstance(literal, dict):
            yield literal


def node_kind(node: Any) -> tuple[str, dict[str, Any]]:
    """(kind, fields) of one node; :class:`ValueError` for anything else."""
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError("not a node")
    kind, body = next(iter(node.items()))
    if not isinstance(body, dict):
        raise ValueError("not a node")
    return kind, body


def walk_pruned(
    node: Any, children: Callable[[str, dict[str, Any]], Iterable[Any] | None]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node (kind, fields) at or below *node*; below each node only what
    ``children(kind, fields)`` returns is walked (``None``: all of it)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if len(item) == 1:
                kind, body = next(iter(item.items()))
                if isinstance(body, dict) and kind[:1].isupper():
                    yield kind, body
                    below = children(kind, body)
                    if below is not None:
                        stack.extend(below)
                        continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _everything(kind: str, body: dict[str, Any]) -> None:
    return None


def _outside_comprehensions(kind: str, body: dict[str, Any]) -> tuple[()] | None:
    return () if kind in COMPREHENSIONS else None


def walk(node: Any, *, into_comprehensions: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node (kind, fields) at or below *node* (a comprehension's inside only if asked)."""
    return walk_pruned(node, _everything if into_comprehensions else _outside_comprehensions)


__all__ = ["COMPREHENSIONS", "literals", "node_kind", "parse_policy", "rule_nodes", "walk", "walk_pruned"]
