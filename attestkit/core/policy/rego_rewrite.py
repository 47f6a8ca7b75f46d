"""Rewrites of a policy's text so the embedded engine evaluates it as OPA's compiler would.

Two places where OPA's compiler moves terms before it evaluates, and the embedded engine does
not, measured against OPA 1.20.2:

**Negations.** OPA moves the operands of a negated call out of the negation
(``not startswith(input.branch, "x")`` is ``b := input.branch; not startswith(b, "x")``), so an
undefined operand makes the whole body undefined: a missing field fails the rule. The embedded
engine negates the undefined call and gets *true*: a receipt that leaves a field out would pass
an ``allow`` that OPA refuses. Hoisted as OPA does:

* a call (builtin or user function), ``!=``, ``<``, ``>``, ``<=``, ``>=``, ``in`` and arithmetic:
  every operand that is not a scalar literal;
* ``==`` and ``=``: only operands that are calls, arithmetic or composite values (a plain
  reference is compared inside the negation: ``not input.missing == "x"`` is true in OPA too).

A variable that is not bound before the negation (``_``, or ``i`` in ``not input.l[i]``) is a
compile error in OPA ("var is unsafe") and is refused here.

**Heads of multi-value rules.** In ``deny contains f(s) if { some s in xs }`` OPA evaluates the
head after the body, member by member, and a member whose head is undefined is simply left out.
The embedded engine dropped *every* member when a call in the head was undefined for one of
them. A head term with a call in it is evaluated at the end of the body instead:
``deny contains h if { some s in xs; h := f(s) }``.

A construct these rewrites cannot handle exactly is refused, never evaluated differently.

Public face: :func:`rewrite_like_opa`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from attestkit.core.policy.rego_ast import (
    COMPREHENSIONS,
    literals,
    node_kind,
    parse_policy,
    rule_nodes,
    walk,
    walk_pruned,
)
from attestkit.core.policy.rego_scan import tokenize
from attestkit.errors import RegoUnsupportedError

_SCALARS = frozenset({"String", "RawString", "Number", "Bool", "Null"})
_REFERENCES = frozenset({"Var", "RefDot", "RefBrack"})
_ORDERING = frozenset({"Ne", "Lt", "Gt", "Le", "Ge"})
_NAME = "__attestkit_not_"


def _operands(name: str, line: int, expr: Any, globals_: frozenset[str]) -> list[Any]:
    """The operands OPA evaluates outside ``not`` for the negated expression *expr*."""
    kind, body = node_kind(expr)
    if kind == "Call":
        candidates = list(body.get("params") or [])
    elif kind in ("BoolExpr", "AssignExpr") and body.get("op") == "Eq":
        hoisted = []
        for side in (body.get("lhs"), body.get("rhs")):
            # A reference stays inside the negation; only its calls and dynamic parts move out
            # (`not input.env[lower("X")] == 1` is `k := lower("X"); not input.env[k] == 1`).
            if node_kind(side)[0] in _REFERENCES:
                hoisted.extend(_ref_parts(side, globals_))
            elif node_kind(side)[0] not in _SCALARS:
                hoisted.append(side)
        return hoisted
    elif kind == "BoolExpr" and body.get("op") in _ORDERING:
        candidates = [body.get("lhs"), body.get("rhs")]
    elif kind == "Membership":
        candidates = [body.get("key"), body.get("value"), body.get("collection")]
    elif kind in ("ArithExpr", "BinExpr"):
        candidates = [body.get("lhs"), body.get("rhs")]
    elif kind in _REFERENCES:
        return _ref_parts(expr, globals_)
    elif kind in _SCALARS:
        return []
    else:
        raise RegoUnsupportedError(
            f"{name}: line {line}: attestkit cannot evaluate this negation exactly like OPA "
            "(bind its parts to variables first, or use the OPA engine)"
        )
    return [node for node in candidates if node is not None and node_kind(node)[0] not in _SCALARS]


def _has_call(node: Any) -> bool:
    return any(kind in ("Call", "ArithExpr", "BinExpr") for kind, _ in walk(node))


def _child_nodes(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The nodes directly below a node's fields."""
    stack: list[Any] = [value for key, value in body.items() if key != "span"]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if len(item) == 1:
                kind, inner = next(iter(item.items()))
                if isinstance(inner, dict) and kind[:1].isupper():
                    yield kind, inner
                    continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _vars_below(kind: str, body: dict[str, Any]) -> list[Any] | None:
    if kind in COMPREHENSIONS or kind == "Var":
        return []
    return (body.get("params") or []) if kind == "Call" else None


def _vars(node: Any) -> Iterator[tuple[str, int]]:
    """Variables used by *node* outside comprehensions (a call's function name is not one)."""
    for kind, body in walk_pruned(node, _vars_below):
        if kind == "Var" and isinstance(body.get("value"), str):
            yield body["value"], int(body["span"]["start"])


class _Text:
    """The policy text with the engine's byte offsets mapped to characters and snapped to tokens."""

    def __init__(self, name: str, text: str) -> None:
        self.text = text
        self.char_at: list[int] = []
        for index, char in enumerate(text):
            self.char_at.extend([index] * len(char.encode("utf-8")))
        self.char_at.append(len(text))
        self.tokens = tokenize(name, text)

    def snap(self, start: int, end: int) -> tuple[int, int]:
        """Character offsets of the tokens covering bytes ``[start, end)`` (a string's quotes included)."""
        first, last = self.char_at[start], self.char_at[max(end - 1, start)]
        lo = next(t.start for t in reversed(self.tokens) if t.start <= first)
        hi_token = next(t for t in reversed(self.tokens) if t.start <= last)
        return lo, hi_token.start + len(hi_token.text)

    def node_span(self, name: str, line: int, node: Any) -> tuple[int, int]:
        """Character offsets of the text of *node* (a one-key ``{Kind: fields}`` mapping).

        The engine's span of an object with several items starts at its last key, not at the
        ``{``; a node starts at its leftmost part, an object at the ``{`` before its first key.
        A span whose brackets do not pair up is refused rather than rewritten.
        """
        kind, body = node_kind(node)
        lo = self._start(kind, body)
        _, hi = self.snap(int(body["span"]["start"]), int(body["span"]["end"]))
        depth = 0
        for token in self.tokens:
            if lo <= token.start < hi and token.kind == "op" and token.text in "([{)]}":
                depth += 1 if token.text in "([{" else -1
                if depth < 0:
                    break
        if depth != 0 or hi <= lo:
            raise RegoUnsupportedError(f"{name}: line {line}: cannot rewrite this expression exactly like OPA")
        return lo, hi

    def _start(self, kind: str, body: dict[str, Any]) -> int:
        span = body.get("span")
        lo = self.snap(int(span["start"]), int(span["start"]) + 1)[0] if isinstance(span, dict) else len(self.text)
        for child_kind, child in _child_nodes(body):
            lo = min(lo, self._start(child_kind, child))
        if kind == "Object" and body.get("fields"):
            index = next(i for i, t in enumerate(self.tokens) if t.start == lo)
            while index > 0 and self.tokens[index - 1].text in ("(", "\n"):
                index -= 1
            if index > 0 and self.tokens[index - 1].text == "{":
                lo = self.tokens[index - 1].start
        return lo

    def before(self, position: int) -> str:
        """The text of the token just before *position* (``\\n`` for a line break)."""
        earlier = [t for t in self.tokens if t.start < position]
        return earlier[-1].text if earlier else ""


def _span_text(raw: bytes, part: Any) -> str | None:
    if isinstance(part, dict) and "start" in part and "end" in part:
        return raw[int(part["start"]) : int(part["end"])].decode("utf-8", "replace")
    return None


def _check_bound(name: str, rule: Any, raw: bytes, globals_: frozenset[str]) -> None:
    """Refuse a negation using a variable no earlier statement of its own query (or an enclosing one) binds.

    OPA refuses such a policy (``rego_unsafe_var_error``); the embedded engine would read the
    variable as undefined and the negation as true. Scopes follow Rego: a comprehension's or an
    ``every`` body's variables stay inside it; each ``else`` body stands alone; function
    arguments are bound for every body. ``some x`` declares without binding.
    """
    kind, spec = node_kind(rule)
    head = spec.get("head") if kind == "Spec" else None
    arguments: set[str] = set()
    if isinstance(head, dict) and "Func" in head:
        arguments = {var for var, _ in _vars(head["Func"].get("args") or [])}
    if head is not None:
        _nested_queries(name, head, set(arguments), raw, globals_)  # comprehensions in a head value
    for body in spec.get("bodies") or [] if kind == "Spec" else []:
        query = body.get("query") if isinstance(body, dict) else None
        if isinstance(query, dict):
            _check_query(name, query, set(arguments), raw, globals_)


def _check_query(name: str, query: dict[str, Any], bound: set[str], raw: bytes, globals_: frozenset[str]) -> None:
    for literal in literals(query):
        kind, body = node_kind(literal)
        if kind == "NotExpr":
            line = int(body["span"]["line"])
            for var, _ in _vars(body.get("expr")):
                if var == "_":
                    raise RegoUnsupportedError(f"{name}: line {line}: var _ is unsafe in a negation (OPA refuses this)")
                if var not in bound and var not in globals_ and var not in ("input", "data"):
                    raise RegoUnsupportedError(
                        f"{name}: line {line}: var {var} is not bound before this negation (OPA refuses this: unsafe var)"
                    )
            if any(k == "Call" and _callee(b) == "print" for k, b in walk(body.get("expr"))):
                raise RegoUnsupportedError(f"{name}: line {line}: print inside a negation is not evaluated like OPA")
        _nested_queries(name, literal, bound, raw, globals_)
        if kind == "Every":
            bound |= {var for var, _ in _vars(body.get("domain"))}
        elif kind != "SomeVars":
            bound |= {var for var, _ in _vars(literal)}


def _scopes_below(kind: str, body: dict[str, Any]) -> list[Any] | None:
    if kind == "Every":
        return [body.get("domain")]
    return [] if kind in COMPREHENSIONS else None


def _nested_queries(name: str, node: Any, bound: set[str], raw: bytes, globals_: frozenset[str]) -> None:
    """Check the queries of the comprehensions and ``every`` bodies inside *node*, in their own scopes."""
    for kind, body in walk_pruned(node, _scopes_below):
        if kind in COMPREHENSIONS or kind == "Every":
            inner = set(bound)
            if kind == "Every":
                inner |= {t for t in (_span_text(raw, body.get("key")), _span_text(raw, body.get("value"))) if t}
            if isinstance(body.get("query"), dict):
                _check_query(name, body["query"], inner, raw, globals_)


def _callee(call: dict[str, Any]) -> str | None:
    fcn = call.get("fcn")
    if isinstance(fcn, dict) and "Var" in fcn:
        value = fcn["Var"].get("value")
        return value if isinstance(value, str) else None
    return None


def _ref_parts(node: Any, globals_: frozenset[str]) -> list[Any]:
    """The parts of a reference OPA evaluates before it: non-ground indices and a composite head."""
    parts: list[Any] = []
    while True:
        kind, body = node_kind(node)
        if kind == "RefBrack":
            index = body.get("index")
            index_kind, index_body = node_kind(index)
            if index_kind == "Var":
                if index_body.get("value") in globals_:
                    parts.append(index)
            elif index_kind not in _SCALARS:
                parts.append(index)
            node = body.get("refr")
        elif kind == "RefDot":
            node = body.get("refr")
        else:
            if kind not in _SCALARS and kind != "Var":
                parts.append(node)  # [input.x][0], {"k": input.x}.k
            return parts


def hoist_negations(name: str, text: str, globals_: frozenset[str], *, tree: Any = None) -> str:
    """*text* with every ``not`` rewritten to hoist its operands as OPA does (see the module docstring).

    *globals_* are the rule and function names of the policy (references that may be undefined).
    :class:`RegoUnsupportedError` for a negation that cannot be rewritten exactly or that OPA
    refuses (an unsafe variable). A text the engine cannot parse is returned unchanged (compiling
    reports the error). *tree*: its :func:`parse_policy` tree when the caller has it.
    """
    if "not" not in text:
        return text
    tree = parse_policy(name, text) if tree is None else tree
    if tree is None:
        return text
    rules = rule_nodes(tree)
    source = _Text(name, text)
    raw = text.encode("utf-8")
    edits: list[tuple[int, int, str]] = []
    counter = 0
    for rule in rules:
        _check_bound(name, rule, raw, globals_)
        negations = [body for kind, body in walk(rule) if kind == "NotExpr"]
        for negation in negations:
            line = int(negation["span"]["line"])
            expr = negation.get("expr")
            hoisted = _operands(name, line, expr, globals_)
            if not hoisted:
                continue
            edit, counter = _rewrite(name, line, source, negation, hoisted, counter)
            edits.append(edit)
    if not edits:
        return text
    return _apply(name, source, edits)


def _rewrite(
    name: str, line: int, source: _Text, negation: dict[str, Any], hoisted: list[Any], counter: int
) -> tuple[tuple[int, int, str], int]:
    """The edit ``(start, end, text)`` that rewrites *negation*, and the last variable number used."""
    lo, hi = source.node_span(name, line, {"NotExpr": negation})
    text = source.text
    pieces: list[str] = []
    replaced = text[lo:hi]
    # Operands from last to first, so earlier character offsets stay valid while replacing.
    spans = sorted((source.node_span(name, line, node) for node in hoisted), reverse=True)
    for a, b in spans:
        if not lo <= a < b <= hi:
            raise RegoUnsupportedError(f"{name}: line {line}: cannot rewrite this negation exactly like OPA")
    for (a, b), (a2, b2) in itertools.pairwise(spans):
        if a2 < b and b2 > a:
            raise RegoUnsupportedError(f"{name}: line {line}: cannot rewrite this negation exactly like OPA")
    names: list[tuple[str, str]] = []
    for a, b in spans:
        operand = text[a:b]
        if "#" in operand or ("`" in operand and "\n" in operand) or " not " in f" {operand} ".replace("\n", " "):
            raise RegoUnsupportedError(
                f"{name}: line {line}: a negated expression with comments, multi-line raw strings or another "
                "negation inside an operand is not rewritten (bind the operand to a variable first)"
            )
        counter += 1
        var = f"{_NAME}{counter}"
        # Line breaks stay where they were, so the engine's line numbers stay the policy's.
        replaced = replaced[: a - lo] + var + "\n" * operand.count("\n") + replaced[b - lo :]
        names.append((var, operand.replace("\n", " ")))
    for var, operand in reversed(names):
        pieces.append(f"{var} := {operand}; ")
    rewritten = "".join(pieces) + replaced
    opener = source.before(lo)
    if opener == "if":
        rewritten = "{ " + rewritten + " }"
    elif opener not in ("{", ";", "\n", "|"):
        raise RegoUnsupportedError(f"{name}: line {line}: cannot rewrite this negation exactly like OPA")
    return (lo, hi, rewritten), counter


def _apply(name: str, source: _Text, edits: list[tuple[int, int, str]]) -> str:
    edits.sort()
    for (_, end, _), (start, _, _) in itertools.pairwise(edits):
        if start < end:
            raise RegoUnsupportedError(
                f"{name}: overlapping rewrites (a negation inside a rewritten term) are not made"
            )
    out, position = [], 0
    for start, end, replacement in edits:
        out.append(source.text[position:start])
        out.append(replacement)
        position = end
    out.append(source.text[position:])
    return "".join(out)


def _head_indices(ref: Any) -> list[Any]:
    """The bracket indices of a rule head's reference that are not scalar literals (``s.name`` in ``p[s.name].v``)."""
    indices = []
    while isinstance(ref, dict):
        kind, body = node_kind(ref)
        if kind == "RefBrack" and node_kind(body.get("index"))[0] not in _SCALARS:
            indices.append(body.get("index"))
        if kind not in _REFERENCES - {"Var"}:
            break
        ref = body.get("refr")
    return indices


def _may_be_undefined(node: Any) -> bool:
    return any(kind in ("Call", "ArithExpr", "BinExpr", "RefDot", "RefBrack") for kind, _ in walk(node))


def _head_terms(rule: Any) -> list[Any]:
    """The head terms of a multi-value rule (``contains`` key; ``deny[k] := v`` key and value;
    the computed indices of a reference head) that may be undefined for some members: a call or
    a reference (``m[s.name]``, ``s.label``)."""
    kind, spec = node_kind(rule)
    if kind != "Spec":
        return []
    head_kind, head = node_kind(spec.get("head"))
    terms: list[Any] = []
    if head_kind == "Set":
        terms.append(head.get("key"))
        terms.extend(_head_indices(head.get("refr")))
    elif head_kind == "Compr":
        indices = _head_indices(head.get("refr"))
        terms.extend(indices)
        assign = head.get("assign")
        if indices and isinstance(assign, dict):
            terms.append(assign.get("value"))
    return [term for term in terms if term is not None and _may_be_undefined(term)]


def hoist_head_terms(name: str, text: str, *, tree: Any = None) -> str:
    """*text* with each call in the head of a multi-value rule evaluated at the end of its body
    (*tree*: its :func:`parse_policy` tree when the caller has it)."""
    tree = parse_policy(name, text) if tree is None else tree
    if tree is None:
        return text
    source = _Text(name, text)
    edits: list[tuple[int, int, str]] = []
    counter = 0
    for rule in rule_nodes(tree):
        terms = _head_terms(rule)
        if not terms:
            continue
        spec = node_kind(rule)[1]
        line = int(spec["span"]["line"])
        bodies = spec.get("bodies") or []
        if not bodies:
            continue  # one member, evaluated once: undefined is simply no member
        if len(bodies) != 1:
            raise RegoUnsupportedError(
                f"{name}: line {line}: a call or reference in the head of a rule without one body is not "
                "evaluated like OPA (bind it to a variable in the body)"
            )
        assignments = []
        for term in terms:
            lo, hi = source.node_span(name, line, term)
            operand = source.text[lo:hi]
            if "#" in operand or ("`" in operand and "\n" in operand):
                raise RegoUnsupportedError(f"{name}: line {line}: cannot move this head term into the body like OPA")
            counter += 1
            var = f"__attestkit_head_{counter}"
            edits.append((lo, hi, var + "\n" * operand.count("\n")))
            assignments.append(f"{var} := {operand.replace(chr(10), ' ')}")
        q_lo, q_hi = source.node_span(name, line, {"Query": bodies[0]["query"]})
        body = source.text[q_lo:q_hi]
        if body.startswith("{") and body.endswith("}"):
            edits.append((q_hi - 1, q_hi - 1, "; " + "; ".join(assignments) + " "))
        else:
            edits.append((q_lo, q_lo, "{ "))
            edits.append((q_hi, q_hi, "; " + "; ".join(assignments) + " }"))
    return _apply(name, source, edits) if edits else text


def check_like_opa(name: str, text: str, *, tree: Any = None) -> None:
    """Refuse what OPA's compiler refuses and the embedded engine would evaluate differently.

    ``walk(x)`` with one argument is a relation in OPA (every ``[path, value]`` pair) and a
    single value in the embedded engine; ``some x`` whose ``x`` is never used is OPA's
    ``declared var x unused`` (an ``every`` variable too); ``1[0]`` is OPA's "illegal ref".
    *tree*: its :func:`parse_policy` tree when the caller has it.
    """
    tree = parse_policy(name, text) if tree is None else tree
    if tree is None:
        return
    raw = text.encode("utf-8")
    for rule in rule_nodes(tree):
        used = {body["value"] for kind, body in walk(rule) if kind == "Var"}
        for kind, body in walk(rule):
            line = int((body.get("span") or {}).get("line", 0))
            if kind == "Call" and node_kind(body.get("fcn"))[0] == "Var" and len(body.get("params") or []) == 1:
                if node_kind(body["fcn"])[1].get("value") == "walk":
                    raise RegoUnsupportedError(
                        f"{name}: line {line}: walk(x) as a value is a relation in OPA; write walk(x, [path, value])"
                    )
            if kind in ("RefBrack", "RefDot"):
                root = body.get("refr")
                while isinstance(root, dict) and node_kind(root)[0] in ("RefBrack", "RefDot"):
                    root = node_kind(root)[1].get("refr")
                if isinstance(root, dict) and node_kind(root)[0] in _SCALARS:
                    raise RegoUnsupportedError(
                        f"{name}: line {line}: illegal ref (its head cannot be a {node_kind(root)[0].lower()})"
                    )
            if kind == "Every":
                inner = {b["value"] for k, b in walk(body.get("query")) if k == "Var"}
                for part in (body.get("key"), body.get("value")):
                    declared = _span_text(raw, part)
                    if declared and declared != "_" and declared not in inner:
                        raise RegoUnsupportedError(
                            f"{name}: line {line}: declared var {declared} unused (OPA refuses to compile this)"
                        )
            if kind == "SomeVars":
                for part in body.get("vars") or []:
                    declared = raw[int(part["start"]) : int(part["end"])].decode("utf-8", "replace")
                    if declared not in used:
                        raise RegoUnsupportedError(
                            f"{name}: line {line}: declared var {declared} unused (OPA refuses to compile this)"
                        )


def _bound_in(query: Any, bound: set[str]) -> set[str]:
    """*bound* and the variables a query's positive statements mention (outside comprehensions):
    more than OPA counts as safe, never less."""
    out = set(bound)
    for literal in literals(query):
        kind, body = node_kind(literal)
        if kind == "Every":
            out |= {var for var, _ in _vars(body.get("domain"))}
        elif kind not in ("NotExpr", "SomeVars"):
            out |= {var for var, _ in _vars(literal)}
    return out


def _head_kind(rule: Any) -> tuple[tuple[str, ...], str, int]:
    """(path, kind, arity) of a rule head: *path* is the head's names up to its first computed
    part; kind is function, set, complete, object (a computed part follows *path*) or default."""
    kind, spec = node_kind(rule)
    if kind == "Default":
        path, computed = _head_path(spec.get("refr"))
        return path, "object" if computed else "default", len(spec.get("args") or [])
    head_kind, head = node_kind(spec.get("head"))
    path, computed = _head_path(head.get("refr"))
    if computed:
        return path, "object", -1
    if head_kind == "Func":
        return path, "function", len(head.get("args") or [])
    return path, "set" if head_kind == "Set" else "complete", -1


def _head_path(ref: Any) -> tuple[tuple[str, ...], bool]:
    """The names of a head reference up to its first computed part (a string, number, boolean
    or null key is a name), and whether one follows."""
    names: list[str | None] = []
    while isinstance(ref, dict) and node_kind(ref)[0] in ("RefDot", "RefBrack"):
        kind, body = node_kind(ref)
        if kind == "RefDot":
            field = body.get("field")
            names.append(field[1] if isinstance(field, list) and len(field) == 2 else None)
        else:
            index = body.get("index")
            scalar = node_kind(index)[1].get("value") if isinstance(index, dict) and "String" in index else None
            if isinstance(index, dict) and ("Number" in index or "Bool" in index or "Null" in index):
                scalar = f"[{json.dumps(node_kind(index)[1].get('value'))}]"  # p[1], p[true]: a name too
            names.append(scalar if isinstance(scalar, str) else None)
        ref = body.get("refr")
    root = node_kind(ref)[1].get("value") if isinstance(ref, dict) and "Var" in ref else None
    names.append(root if isinstance(root, str) else None)
    names.reverse()
    static = list(itertools.takewhile(lambda n: isinstance(n, str), names))
    return tuple(str(n) for n in static), len(static) < len(names)


def _check_rule_kinds(name: str, rules: list[Any]) -> dict[tuple[str, ...], set[int]]:
    """Refuse rules OPA finds conflicting (per head path); the policy's functions' arities by path."""
    kinds: dict[tuple[str, ...], set[str]] = {}
    defaults: set[tuple[str, ...]] = set()
    arities: dict[tuple[str, ...], set[int]] = {}
    for rule in rules:
        path, kind, arity = _head_kind(rule)
        if not path:
            continue
        if kind == "default":
            defaults.add(path)
            if arity:
                arities.setdefault(path, set()).add(arity)
        else:
            kinds.setdefault(path, set()).add(kind)
        if kind == "function":
            arities.setdefault(path, set()).add(arity)
    for path in defaults:
        # A default rule is a single value, or a function's default.
        kinds.setdefault(path, set()).add("function" if path in arities else "complete")
    for path, found in sorted(kinds.items()):
        if len(found) > 1:
            raise RegoUnsupportedError(
                f"{name}: {'.'.join(path)} is defined as {' and as '.join(sorted(found))} rules (OPA: conflicting rules)"
            )
        if found != {"object"}:  # a value, a set or a function: no rule may define a part of it
            inner = next((other for other in sorted(kinds) if other[: len(path)] == path != other), None)
            if inner is not None:
                raise RegoUnsupportedError(
                    f"{name}: rule {'.'.join(path)} conflicts with rule {'.'.join(inner)} (OPA: conflicting rules)"
                )
    for path, counts in sorted(arities.items()):
        if len(counts) > 1:
            raise RegoUnsupportedError(
                f"{name}: function {'.'.join(path)} is defined with different numbers of arguments"
            )
    _check_below_computed(name, kinds, defaults, arities)
    return arities


def _check_below_computed(
    name: str, kinds: dict[tuple[str, ...], set[str]], defaults: set[tuple[str, ...]], arities: dict[Any, set[int]]
) -> None:
    """Below a rule with a computed key (``p[x] := ...``) OPA refuses a function (``p.a(x)``:
    conflicting rules) and ignores a default (``default p.a := 1`` is never p.a's value, nor in p)."""
    for path, found in sorted(kinds.items()):
        if "object" not in found:
            continue
        below = sorted(other for other in set(arities) | defaults if other[: len(path)] == path != other)
        if below:
            what = "function" if below[0] in arities else "default rule"
            raise RegoUnsupportedError(
                f"{name}: {what} {'.'.join(below[0])} is below rule {'.'.join(path)}[...] with a computed key "
                "(OPA refuses a function there and ignores a default)"
            )


def check_compiles_like_opa(name: str, text: str, tree: Any, globals_: frozenset[str]) -> None:
    """Refuse what OPA's compiler refuses for every input and the embedded engine notices only
    when evaluation reaches it (so a receipt that never reaches it would be decided):

    * a head variable no positive statement of its body binds (``r := y if { ... }``: unsafe var);
    * ``some x`` then ``x := ...`` in the same query ("var x declared above");
    * one name defined as a function and as a rule, or as a set and a single value, or
      functions of different arities, or a call with the wrong number of arguments;
    * a function used as a value (``x := f``).
    """
    rules = rule_nodes(tree)
    raw = text.encode("utf-8")
    arities = _check_rule_kinds(name, rules)
    functions = {".".join(path): counts for path, counts in arities.items() if counts}  # checks.failed too
    _check_function_refs(name, tree, {("data", "attest", "verification", *path) for path in arities})
    _check_aliased_rule_names(name, tree, {path[0] for path in map(lambda r: _head_kind(r)[0], rules) if path})
    for rule in rules:
        kind, spec = node_kind(rule)
        if kind != "Spec":
            continue
        _check_head_safety(name, int(spec["span"]["line"]), spec, globals_)
        queries = [
            b["query"] for b in spec.get("bodies") or [] if isinstance(b, dict) and isinstance(b.get("query"), dict)
        ]
        queries += [body["query"] for _, body in walk(rule) if isinstance(body.get("query"), dict)]
        for query in queries:
            _check_redeclared(name, raw, query)
        _check_function_uses(name, raw, spec, functions)


def _literal_parts(kind: str, body: dict[str, Any]) -> list[Any] | None:
    return None if kind in ("Array", "Object", "Set") else []


def _check_aliased_rule_names(name: str, tree: Any, roots: set[str]) -> None:
    """``kind := n`` (a bare variable, also inside ``[...]`` or ``{...}``) declaring a local
    named like one of the policy's rules or functions: the embedded engine then reads the rule,
    not the local, where ``kind`` is an index (``m[kind]``) and decides what OPA does not."""
    for kind, body in walk(tree):
        if kind != "AssignExpr" or body.get("op") != "ColEq":
            continue
        shadowing = sorted(roots & {var for var, _ in _vars(body.get("lhs"))})
        bare = any(part == "Var" for part, _ in walk_pruned(body.get("rhs"), _literal_parts))
        if shadowing and bare:
            raise RegoUnsupportedError(
                f"{name}: line {int(body['span']['line'])}: local {shadowing[0]} is named like a rule or function "
                "and assigned a variable; rename the local (the embedded engine would read the rule there)"
            )


def _check_function_refs(name: str, tree: Any, functions: set[tuple[str, ...]]) -> None:
    """``data.attest.verification.f`` naming a function without calling it: OPA's "function
    used as reference, not called" (the embedded engine read it as undefined)."""
    fcns = [body.get("fcn") for kind, body in walk(tree) if kind == "Call"]
    called = {id(fcn[next(iter(fcn))]) for fcn in fcns if isinstance(fcn, dict) and len(fcn) == 1}
    for kind, body in walk(tree):
        if kind in ("RefDot", "RefBrack") and id(body) not in called:
            path, _ = _head_path({kind: body})
            if any(path[: len(function)] == function for function in functions):
                raise RegoUnsupportedError(
                    f"{name}: line {int(body['span']['line'])}: function {path[3]} is used as a value, not called "
                    "(OPA refuses this)"
                )


def _check_function_uses(name: str, raw: bytes, spec: dict[str, Any], arities: dict[str, set[int]]) -> None:
    """Calls of the policy's functions take its number of arguments (or one more, the output);
    a function is never a value, and never called where a local variable shadows it."""
    uses = {"bodies": spec.get("bodies"), "head": _head_value(spec)}
    for kind, body in walk(uses):
        if kind == "Call" and node_kind(body.get("fcn"))[0] == "Var":
            callee = node_kind(body["fcn"])[1]
            counts = arities.get(str(callee.get("value")))
            if counts and len(body.get("params") or []) - min(counts) not in (0, 1):
                raise RegoUnsupportedError(
                    f"{name}: line {int(body['span']['line'])}: function {callee.get('value')} takes {min(counts)} "
                    "arguments (OPA refuses this call)"
                )
    functions = frozenset(arities)
    arguments, terms, bodies = _head_terms_and_bodies(spec)
    if not any(not b.get("is_else") for b in bodies):
        _function_values(name, raw, terms, arguments, functions)
    for body in bodies:
        query = body.get("query")
        declared = _declared_in(name, raw, query, arguments, functions) if isinstance(query, dict) else arguments
        if not body.get("is_else"):
            _function_values(name, raw, terms, declared, functions)
        elif isinstance(body.get("assign"), dict):
            _function_values(name, raw, body["assign"].get("value"), declared, functions)


def _uses_below(kind: str, body: dict[str, Any]) -> list[Any] | None:
    if kind == "Call":
        return body.get("params") or []
    if kind == "Every":
        return [body.get("domain")]
    return [] if kind in COMPREHENSIONS else None


def _function_values(name: str, raw: bytes, node: Any, declared: set[str], functions: frozenset[str]) -> None:
    """Refuse in *node* (outside the scopes below it, which are checked in their own) a policy
    function named as a value and not a local *declared* in scope (``kind := s.kind`` or
    ``some kind in ...`` shadows function ``kind``, as in OPA), or called where a local shadows it."""
    for kind, body in walk_pruned(node, _uses_below):
        line = int((body.get("span") or {}).get("line", 0))
        if kind == "Var" and body.get("value") in functions and body["value"] not in declared:
            raise RegoUnsupportedError(
                f"{name}: line {line}: function {body['value']} is used as a value, not called (OPA refuses this)"
            )
        if kind in ("RefDot", "RefBrack"):
            path, _ = _head_path({kind: body})
            named = next((".".join(path[:n]) for n in range(2, len(path) + 1) if ".".join(path[:n]) in functions), None)
            if named is not None and path[0] not in declared:  # checks.failed, checks["failed"]
                raise RegoUnsupportedError(
                    f"{name}: line {line}: function {named} is used as a value, not called (OPA refuses this)"
                )
        callee = _head_path(body.get("fcn"))[0] if kind == "Call" else ()
        if callee and ".".join(callee) in functions and callee[0] in declared:
            raise RegoUnsupportedError(
                f"{name}: line {line}: called function {'.'.join(callee)} shadowed (OPA refuses this)"
            )
        if kind == "Every":
            inner = declared | {t for t in (_span_text(raw, body.get("key")), _span_text(raw, body.get("value"))) if t}
            _declared_in(name, raw, body.get("query"), inner, functions)
        elif kind in COMPREHENSIONS:
            inner = _declared_in(name, raw, body.get("query"), declared, functions)
            _function_values(name, raw, [body.get("term"), body.get("key"), body.get("value")], inner, functions)


def _declared_in(name: str, raw: bytes, query: Any, declared: set[str], functions: frozenset[str]) -> set[str]:
    """*declared* and the locals *query* declares (``:=``, ``some``), statement by statement,
    each statement checked with :func:`_function_values` in the scope it sees."""
    declared = set(declared)
    called: set[str] = set()  # first names of the functions this query called so far (comprehensions too)
    for statement in literals(query):
        literal: Any = statement  # the part still to check once an assignment's sides are handled
        callees = (_head_path(inner.get("fcn"))[0] for inner_kind, inner in walk(literal) if inner_kind == "Call")
        called |= {path[0] for path in callees if ".".join(path) in functions}  # kind(x), checks.failed(s)
        kind, body = node_kind(literal)
        new: set[str] = set()
        line = int((body.get("span") or {}).get("line", 0))
        if kind in ("SomeVars", "SomeIn"):
            if kind == "SomeVars":
                some = {_span_text(raw, part) for part in body.get("vars") or []}
            else:
                some = {var for part in (body.get("key"), body.get("value")) for var, _ in _vars(part)}
                _function_values(name, raw, body.get("collection"), declared, functions)
            for shadowing in sorted(functions & {text for text in some if text}):
                # OPA shadows the function; the embedded engine still reads the function there
                raise RegoUnsupportedError(
                    f"{name}: line {line}: some {shadowing} is named like function {shadowing}; rename the variable"
                )
        elif kind == "Expr" and node_kind(body.get("expr"))[0] == "AssignExpr":
            assign = node_kind(body["expr"])[1]
            if assign.get("op") == "ColEq":
                new = {var for var, _ in _vars(assign.get("lhs"))}
                for above in sorted(new & called):  # kind := kind(x), or kind(x) before
                    raise RegoUnsupportedError(f"{name}: line {line}: var {above} referenced above (OPA refuses this)")
                _function_values(name, raw, assign.get("rhs"), declared, functions)
                literal = assign.get("lhs")
        declared |= new
        _function_values(name, raw, literal, declared, functions)
    return declared


def _head_value(spec: dict[str, Any]) -> Any:
    head = node_kind(spec["head"])[1]
    return [head.get("assign"), head.get("key"), head.get("args")]


def _check_redeclared(name: str, raw: bytes, query: dict[str, Any]) -> None:
    """``some x`` followed by ``x := ...`` in the same query: OPA's "var x declared above"."""
    declared: set[str] = set()
    for literal in literals(query):
        kind, body = node_kind(literal)
        if kind == "SomeVars":
            declared |= {text for text in (_span_text(raw, part) for part in body.get("vars") or []) if text}
        elif kind == "Expr" and node_kind(body.get("expr"))[0] == "AssignExpr":
            assign = node_kind(body["expr"])[1]
            if assign.get("op") == "ColEq":
                for var, _ in _vars(assign.get("lhs")):
                    if var in declared:
                        raise RegoUnsupportedError(
                            f"{name}: line {int(assign['span']['line'])}: var {var} declared above (OPA refuses this)"
                        )


def _head_terms_and_bodies(spec: dict[str, Any]) -> tuple[set[str], list[Any], list[dict[str, Any]]]:
    """A rule's function arguments, the terms of its head (computed reference parts, key,
    value) and its bodies (``else`` ones included)."""
    head_kind, head = node_kind(spec["head"])
    arguments = {var for var, _ in _vars(head.get("args") or [])} if head_kind == "Func" else set()
    _, parts = _head_ref_parts(head.get("refr"))
    assign = head.get("assign")
    terms = [*parts, head.get("key"), assign.get("value") if isinstance(assign, dict) else None]
    return arguments, terms, [b for b in spec.get("bodies") or [] if isinstance(b, dict)]


def _check_head_safety(name: str, line: int, spec: dict[str, Any], globals_: frozenset[str]) -> None:
    """Each variable of a rule's head (key, value, computed reference parts) must be bound in its body."""
    arguments, terms, bodies = _head_terms_and_bodies(spec)
    main = next((b for b in bodies if not b.get("is_else")), None)
    checks = [(terms, _bound_in(main.get("query") if main else None, arguments))]
    for body in bodies:
        if body.get("is_else") and isinstance(body.get("assign"), dict):
            checks.append(([body["assign"].get("value")], _bound_in(body.get("query"), arguments)))
    for nodes, bound in checks:
        for node in nodes:
            if node is None:
                continue
            for var, _ in _vars(node):
                if var not in bound and var not in globals_ and var not in ("input", "data"):
                    raise RegoUnsupportedError(
                        f"{name}: line {line}: var {var} in the rule's head is not bound by its body "
                        "(OPA refuses this: unsafe var)"
                    )


def _head_ref_parts(ref: Any) -> tuple[Any, list[Any]]:
    parts = []
    while isinstance(ref, dict) and node_kind(ref)[0] in ("RefDot", "RefBrack"):
        kind, body = node_kind(ref)
        if kind == "RefBrack":
            parts.append(body.get("index"))
        ref = body.get("refr")
    return ref, parts


def rewrite_like_opa(name: str, text: str, globals_: frozenset[str]) -> str:
    """*text* checked and rewritten as OPA's compiler does: head terms, then negations (module docstring)."""
    if "__attestkit_" in text:
        raise RegoUnsupportedError(f"{name}: names starting with __attestkit_ are reserved for attestkit's rewrites")
    tree = parse_policy(name, text)
    if tree is None:
        return text  # compiling reports why it cannot be parsed
    check_like_opa(name, text, tree=tree)
    check_compiles_like_opa(name, text, tree, globals_)
    moved = hoist_head_terms(name, text, tree=tree)
    return hoist_negations(name, moved, globals_, tree=tree if moved == text else None)


__all__ = ["check_like_opa", "hoist_head_terms", "hoist_negations", "rewrite_like_opa"]
