"""The trust a keyring decides, as a graph: roots, keys, delegations, revocations, receipts.

:func:`build_graph` turns a :class:`~attestkit.core.trust.store.TrustStore` (and, optionally,
the verification results of some receipts) into nodes and edges; :func:`to_dot` and
:func:`to_mermaid` write it as Graphviz DOT or Mermaid text. Pure: running ``dot`` to get SVG
is the job of :mod:`attestkit.adapters.graphviz`.

Edges go from the delegator to the delegate, and from the signing key to each receipt. A
receipt's chain (signing key first, root last, as the verifier found it) marks the delegation
edges it went through; a link the keyring does not hold came from the receipt's own
``delegations`` and is drawn as such.

Labels carry keyring text (identities, scopes), so they are escaped for each language: every
control, bidi or invisible character is first made visible
(:func:`attestkit.core.textsafe.escape_text`); then DOT strings escape ``\\`` and ``"``, and
Mermaid labels use ``#<code>;`` entities for everything but plain letters and digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from attestkit.core.crypto.keys import key_id_of
from attestkit.core.textsafe import escape_text
from attestkit.core.timeutil import format_rfc3339
from attestkit.core.trust.chain import ROOT_ROLE, ChainLink
from attestkit.core.trust.store import TrustedKey, TrustStore, is_revoked

if TYPE_CHECKING:
    from attestkit.core.trust.delegation import Delegation

ROOT, KEY, DELEGATE, REVOKED_ONLY, RECEIPT = "root", "key", "delegate", "revoked", "receipt"
DELEGATION, RECEIPT_DELEGATION, SIGNED, SUCCESSOR = "delegation", "receipt-delegation", "signed", "successor"


@dataclass(frozen=True)
class ReceiptTrace:
    """What verification found about one receipt: its signing key and the chain it went through."""

    source: str
    key_id: str | None
    chain_of_trust: str  # "verified", "untrusted", "revoked", "expired"
    chain: tuple[ChainLink, ...] = ()
    valid: bool = False
    delegations: tuple[Delegation, ...] = ()  # the statements the receipt carries (parsed; maybe unusable)


@dataclass(frozen=True)
class Node:
    """A key or a receipt; ``lines`` is its label, one fact per line (unescaped)."""

    id: str
    kind: str  # root, key, delegate, revoked, receipt
    lines: tuple[str, ...]
    revoked: bool = False
    status: str = ""  # receipts: their chain_of_trust


@dataclass(frozen=True)
class Edge:
    """A delegation (delegator -> delegate) or a signature (key -> receipt)."""

    source: str
    target: str
    kind: str  # delegation, receipt-delegation, signed, successor (a rotation, see successors)
    lines: tuple[str, ...] = ()
    bad_signature: bool = False
    used_by: tuple[str, ...] = ()  # node ids of the receipts whose chain went through it


@dataclass(frozen=True)
class TrustGraph:
    """Nodes and edges, in a stable order (keyring order, then receipts in the order given)."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _window(not_before: datetime | None, not_after: datetime | None) -> str | None:
    if not_before is None and not_after is None:
        return None
    start = format_rfc3339(not_before) if not_before else "-"
    end = format_rfc3339(not_after) if not_after else "-"
    return f"window {start} .. {end}"


def _node_id(key_id: str) -> str:
    return "k_" + key_id


def _delegation_lines(statement: Delegation) -> list[str]:
    lines = []
    if statement.identity is not None:
        lines.append(statement.identity)
    if statement.scopes:
        lines.append("scopes " + ", ".join(statement.scopes))
    window = _window(statement.not_before, statement.not_after)
    if window:
        lines.append(window)
    if statement.may_delegate:
        lines.append("may delegate")
    if not statement.signature_valid:
        lines.append("BAD SIGNATURE: ignored")
    return lines


def build_graph(store: TrustStore, receipts: Sequence[ReceiptTrace] = (), now: datetime | None = None) -> TrustGraph:
    """The graph of *store*, with each of *receipts* attached to its signing key and chain.

    *now* marks keys whose revocation is in effect (``revoked`` in their label) as opposed to
    scheduled; without it every revocation is shown with its date only.
    """
    # Long by design: one pass adding nodes, then edges, in the order they are drawn.
    nodes: dict[str, Node] = {}
    for entry in store.keys:
        key = entry.public_key
        lines = [key.key_id]
        if entry.identity is not None:
            lines.append(entry.identity)
        if entry.scopes:
            lines.append("scopes " + ", ".join(entry.scopes))
        window = _window(entry.not_before, entry.not_after)
        if window:
            lines.append(window)
        revoked = False
        if entry.revoked_at is not None:
            reason = entry.revocation_reason or "revoked"
            revoked = now is not None and is_revoked(entry.revoked_at, entry.revocation_reason, now)
            lines.append(f"{'revoked' if revoked else 'revocation'} {reason} from {format_rfc3339(entry.revoked_at)}")
        kind = ROOT if ROOT_ROLE in entry.roles else KEY
        nodes[_node_id(key.key_id)] = Node(_node_id(key.key_id), kind, tuple(lines), revoked)
    revocations = {r.public_key.key_id: r for r in store.revocations}

    def delegate_node(key_id: str) -> None:
        node_id = _node_id(key_id)
        if node_id in nodes:
            return
        lines, revoked = [key_id], False
        revocation = revocations.get(key_id)
        if revocation is not None:
            revoked = now is not None and is_revoked(revocation.revoked_at, revocation.reason, now)
            word = "revoked" if revoked else "revocation"
            lines.append(f"{word} {revocation.reason or 'revoked'} from {format_rfc3339(revocation.revoked_at)}")
        nodes[node_id] = Node(node_id, DELEGATE, tuple(lines), revoked)

    edges: dict[tuple[str, str, str], Edge] = {}
    for statement in store.delegations:
        delegator, delegate = statement.delegator.key_id, key_id_of(statement.delegate)
        delegate_node(delegator)
        delegate_node(delegate)
        lines = _delegation_lines(statement)
        edge_key = (_node_id(delegator), _node_id(delegate), DELEGATION)
        if edge_key not in edges:  # two statements for one pair: both labels on one edge
            edges[edge_key] = Edge(edge_key[0], edge_key[1], DELEGATION, tuple(lines), not statement.signature_valid)
        else:
            known = edges[edge_key]
            edges[edge_key] = Edge(known.source, known.target, DELEGATION, (*known.lines, "and:", *lines),
                                   known.bad_signature and not statement.signature_valid)  # fmt: skip
    for revocation in store.revocations:
        if _node_id(revocation.public_key.key_id) not in nodes:
            delegate_node(revocation.public_key.key_id)
            node = nodes[_node_id(revocation.public_key.key_id)]
            nodes[node.id] = Node(node.id, REVOKED_ONLY, node.lines, node.revoked)

    for old, new in successors(store):
        edge_key = (_node_id(old.public_key.key_id), _node_id(new.public_key.key_id), SUCCESSOR)
        assert old.revoked_at is not None
        edges[edge_key] = Edge(
            *edge_key, ("superseded by (same identity)", f"overlap until {format_rfc3339(old.revoked_at)}")
        )
    for index, trace in enumerate(receipts, start=1):
        receipt_id = f"r{index}"
        lines = [trace.source, f"{'valid' if trace.valid else 'not valid'}, chain {trace.chain_of_trust}"]
        nodes[receipt_id] = Node(receipt_id, RECEIPT, tuple(lines), status=trace.chain_of_trust)
        for statement in trace.delegations:  # the receipt's own statements, drawn with their terms
            source, target = _node_id(statement.delegator.key_id), _node_id(key_id_of(statement.delegate))
            for node_id, key_id in ((source, statement.delegator.key_id), (target, key_id_of(statement.delegate))):
                if node_id not in nodes:
                    nodes[node_id] = Node(node_id, DELEGATE, (key_id, "delegated in a receipt"))
            edge_key = (source, target, RECEIPT_DELEGATION)
            if edge_key not in edges and (source, target, DELEGATION) not in edges:
                terms = (*_delegation_lines(statement), "carried by the receipt")
                edges[edge_key] = Edge(source, target, RECEIPT_DELEGATION, terms, not statement.signature_valid)
        # chain: signing key first, the trusted root last; each pair is (delegate, delegator).
        for delegate_link, delegator_link in zip(trace.chain, trace.chain[1:], strict=False):
            source, target = _node_id(delegator_link.key_id), _node_id(delegate_link.key_id)
            for node_id, link in ((source, delegator_link), (target, delegate_link)):
                if node_id not in nodes:
                    nodes[node_id] = Node(node_id, DELEGATE, (link.key_id, "delegated in a receipt"))
            edge_key = (source, target, DELEGATION)
            if edge_key not in edges:
                edge_key = (source, target, RECEIPT_DELEGATION)
                if edge_key not in edges:
                    label = (delegate_link.identity,) if delegate_link.identity else ()
                    edges[edge_key] = Edge(source, target, RECEIPT_DELEGATION, (*label, "carried by the receipt"))
            known = edges[edge_key]
            edges[edge_key] = Edge(known.source, known.target, known.kind, known.lines, known.bad_signature,
                                   (*known.used_by, receipt_id))  # fmt: skip
        if trace.key_id is None:
            continue
        signer = _node_id(trace.key_id)
        if signer not in nodes:
            nodes[signer] = Node(signer, DELEGATE, (trace.key_id, "not in the keyring"))
        edges[(signer, receipt_id, SIGNED)] = Edge(signer, receipt_id, SIGNED)
    return TrustGraph(tuple(nodes.values()), tuple(edges.values()))


def successors(store: TrustStore) -> list[tuple[TrustedKey, TrustedKey]]:
    """(old, new) pairs that look like ``keys rotate``: a superseded key and a key with its identity
    and scopes whose window starts before the old key's revocation. Drawn only, never trusted on."""
    pairs = []
    for old in store.keys:
        if old.revocation_reason != "superseded" or old.revoked_at is None or old.identity is None:
            continue
        for new in store.keys:
            if (new is not old and new.identity == old.identity and new.scopes == old.scopes
                    and new.not_before is not None and new.not_before <= old.revoked_at
                    and (old.not_before is None or new.not_before > old.not_before)):  # fmt: skip
                pairs.append((old, new))
    return pairs


# ---- DOT -------------------------------------------------------------------------------


def dot_string(text: str) -> str:
    """A DOT double-quoted string of untrusted *text* (visible escapes, ``\\`` and ``"`` escaped)."""
    shown = escape_text(text)
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: Sequence[str]) -> str:
    # Each line escaped on its own, joined by DOT's own line break (never one from the data).
    return '"' + "\\n".join(dot_string(line)[1:-1] for line in lines) + '"'


_DOT_NODE_STYLE = {
    ROOT: 'shape=box, style="rounded,filled,bold", fillcolor="#dbeafe"',
    KEY: 'shape=box, style="rounded,filled", fillcolor="#f3f4f6"',
    DELEGATE: 'shape=box, style="rounded,dashed"',
    REVOKED_ONLY: 'shape=box, style="rounded,dashed", color="#cf222e"',
    RECEIPT: 'shape=note, style=filled, fillcolor="#ffffff"',
}
_RECEIPT_COLOURS = {"verified": "#1a7f37", "revoked": "#cf222e", "expired": "#9a6700", "untrusted": "#57606a"}


def to_dot(graph: TrustGraph, title: str = "attestkit trust graph") -> str:
    """Graphviz DOT text for *graph* (``dot -Tsvg`` draws it)."""
    lines = [
        "digraph trust {",
        f"  label={dot_string(title)}; labelloc=t; rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in graph.nodes:
        style = _DOT_NODE_STYLE[node.kind]
        if node.kind == RECEIPT:
            colour = _RECEIPT_COLOURS.get(node.status, "#57606a")
            style += f', color="{colour}", fontcolor="{colour}"'
        elif node.revoked:
            style += ', color="#cf222e", fontcolor="#cf222e"'
        lines.append(f"  {node.id} [label={_dot_label(node.lines)}, {style}];")
    for edge in graph.edges:
        attributes = []
        if edge.lines:
            attributes.append(f"label={_dot_label(edge.lines)}")
        if edge.kind == SIGNED:
            attributes.append('style=dotted, arrowhead=odot, label="signed"')
        elif edge.kind == RECEIPT_DELEGATION:
            attributes.append("style=dashed")
        elif edge.kind == SUCCESSOR:
            attributes.append('style=dashed, color="#57606a", fontcolor="#57606a", constraint=false')
        if edge.bad_signature:
            attributes.append('color="#cf222e", style=dashed')
        elif edge.used_by:
            attributes.append('color="#1a7f37", penwidth=2.5')
            attributes.append(f"xlabel={_dot_label(['chain of ' + ', '.join(edge.used_by)])}")
        lines.append(f"  {edge.source} -> {edge.target} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- Mermaid ---------------------------------------------------------------------------


def mermaid_text(text: str) -> str:
    """Untrusted *text* for a Mermaid label: everything but letters, digits and a few safe marks as ``#N;``."""
    shown = escape_text(text)
    return "".join(c if (c.isascii() and (c.isalnum() or c in " .,:@_+=/-")) else f"#{ord(c)};" for c in shown)


def _mermaid_label(lines: Sequence[str]) -> str:
    return '"' + "<br/>".join(mermaid_text(line) for line in lines) + '"'


_MERMAID_SHAPES = {ROOT: ("[[", "]]"), KEY: ("[", "]"), DELEGATE: ("(", ")"), REVOKED_ONLY: ("(", ")"),
                   RECEIPT: ("[/", "/]")}  # fmt: skip


def to_mermaid(graph: TrustGraph) -> str:
    """Mermaid ``flowchart`` text for *graph* (renders in GitHub Markdown)."""
    lines = ["flowchart TB"]
    for node in graph.nodes:
        opening, closing = _MERMAID_SHAPES[node.kind]
        lines.append(f"  {node.id}{opening}{_mermaid_label(node.lines)}{closing}")
    used: list[int] = []
    bad: list[int] = []
    for index, edge in enumerate(graph.edges):
        label = list(edge.lines)
        if edge.used_by:
            label.append("chain of " + ", ".join(edge.used_by))
        arrow = "-.->" if edge.kind in (SIGNED, RECEIPT_DELEGATION, SUCCESSOR) or edge.bad_signature else "-->"
        if edge.kind == SIGNED:
            label = ["signed"]
        text = f"|{_mermaid_label(label)}|" if label else ""
        lines.append(f"  {edge.source} {arrow}{text} {edge.target}")
        if edge.bad_signature:
            bad.append(index)
        elif edge.used_by:
            used.append(index)
    lines.append("  classDef revoked stroke:#cf222e,color:#cf222e")
    lines.append("  classDef root fill:#dbeafe,stroke-width:2px")
    for kind, class_name in ((ROOT, "root"),):
        ids = [n.id for n in graph.nodes if n.kind == kind]
        if ids:
            lines.append(f"  class {','.join(ids)} {class_name}")
    revoked = [n.id for n in graph.nodes if n.revoked or n.kind == REVOKED_ONLY or n.status == "revoked"]
    if revoked:
        lines.append(f"  class {','.join(revoked)} revoked")
    if used:
        lines.append(f"  linkStyle {','.join(map(str, used))} stroke:#1a7f37,stroke-width:3px")
    if bad:
        lines.append(f"  linkStyle {','.join(map(str, bad))} stroke:#cf222e")
    return "\n".join(lines) + "\n"


__all__ = [
    "Edge",
    "Node",
    "ReceiptTrace",
    "TrustGraph",
    "build_graph",
    "dot_string",
    "mermaid_text",
    "successors",
    "to_dot",
    "to_mermaid",
]
