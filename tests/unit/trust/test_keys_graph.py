"""``keys graph``: the trust graph as DOT (parsed by Graphviz), Mermaid and SVG, with receipt chains."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.trust.delegation import create_delegation
from attestkit.core.trust.graph import Node, TrustGraph, build_graph, mermaid_text, to_dot, to_mermaid
from attestkit.core.trust.keyring import parse_keyring
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

HOSTILE = 'ci"\n}\ndigraph evil { x -> y }\\N<script>alert(1)</script>|"]-->x;#\x1b[31m\u202e'
SVG = "{http://www.w3.org/2000/svg}"


def _dot() -> str:
    found = shutil.which("dot")
    if found is None:
        pytest.skip("Graphviz is not installed (Debian: apt-get install graphviz)")
    return found


def _svg_of(dot_text: str) -> ET.Element:
    """Graphviz's own parse of the DOT text: it must accept it, and we read back what it drew."""
    done = subprocess.run([_dot(), "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr.strip(), done.stderr.decode()  # no warning: every attribute understood
    return ET.fromstring(done.stdout)


def _titles(svg: ET.Element, kind: str) -> list[str]:
    return [g.findtext(f"{SVG}title") or "" for g in svg.iter(f"{SVG}g") if g.get("class") == kind]


def _texts(svg: ET.Element) -> str:
    return "\n".join(t.text or "" for t in svg.iter(f"{SVG}text"))


def _key(seed: int) -> PrivateKey:
    return PrivateKey.from_seed(bytes([seed]) * 32)


def _keyring(tmp_path: Path, identity: str = "release@company.com") -> tuple[Path, PrivateKey, PrivateKey, PrivateKey]:
    """A root (release), a CI key it delegates to with may_delegate, a job key CI delegates to, a revoked key."""
    root, ci, job, gone = _key(1), _key(2), _key(3), _key(4)
    to_ci = create_delegation(root, ci.public_key, identity=identity, scopes=["project:myapp"], may_delegate=True,
                              not_before=datetime(2026, 1, 1, tzinfo=timezone.utc))  # fmt: skip
    to_job = create_delegation(ci, job.public_key, scopes=["project:myapp"],
                               not_after=datetime(2026, 12, 31, tzinfo=timezone.utc))  # fmt: skip
    to_gone = create_delegation(root, gone.public_key, identity=identity, scopes=["project:myapp"])
    ring = tmp_path / "ring.yaml"
    ring.write_text(
        "version: 1\nkeys:\n"
        f"  - public_key: {root.public_key.text}\n    identity: {json.dumps(identity)}\n"
        "    roles: [root]\n    scopes: [project:myapp]\n"
        f"revocations:\n  - public_key: {gone.public_key.text}\n    revoked_at: 2026-06-01T00:00:00Z\n"
        "    reason: key-compromise\n"
        f"delegations:\n  - {json.dumps(to_ci)}\n  - {json.dumps(to_job)}\n  - {json.dumps(to_gone)}\n",
        encoding="utf-8",
    )
    return ring, root, ci, job


def test_delegation_chain_of_a_receipt_is_marked(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _ring, root, ci, job = _keyring(tmp_path)
    write_json(tmp_path / "job.json", sign_receipt(make_receipt(), job))
    write_json(tmp_path / "stranger.json", sign_receipt(make_receipt(), _key(9)))
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "job.json", "--now", NOW)
    assert result.code == 0, result.err
    svg = _svg_of(result.out)
    nodes = _titles(svg, "node")
    ids = {f"k_{k.public_key.key_id}" for k in (root, ci, job, _key(4))}
    assert set(nodes) == ids | {"r1"}
    edges = _titles(svg, "edge")
    assert f"k_{root.public_key.key_id}->k_{ci.public_key.key_id}" in edges
    assert f"k_{ci.public_key.key_id}->k_{job.public_key.key_id}" in edges
    assert f"k_{job.public_key.key_id}->r1" in edges
    text = _texts(svg)
    assert "release@company.com" in text and "may delegate" in text and "scopes project:myapp" in text
    assert "revoked key-compromise from 2026-06-01T00:00:00Z" in text
    assert "window - .. 2026-12-31T00:00:00Z" in text
    chained = [line for line in result.out.splitlines() if "chain of r1" in line]
    assert len(chained) == 2  # root -> ci -> job: both links the receipt's chain went through
    # Receipts that do not verify: exit 1, graph still written, the receipt's own key shown.
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "job.json", "--receipt", "stranger.json",
                 "--now", NOW, "--format", "mermaid", "-o", "g.mmd")  # fmt: skip
    assert result.code == 1 and result.out == ""
    mermaid = (tmp_path / "g.mmd").read_text()
    assert mermaid.startswith("flowchart TB\n") and "not in the keyring" in mermaid
    assert re.search(r"linkStyle \d+,\d+ stroke:#1a7f37", mermaid)


def test_rotation_walkthrough_graph(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """docs/keys.md rotation walkthrough, then `keys graph` of it (docs/audit.md shows this graph)."""
    receipt = write_json(tmp_path / "receipt.json", make_receipt(timestamp="2026-11-20T10:00:00Z"))
    assert cli("keys", "generate", "--out-dir", "v1", "--name", "ci").code == 0
    assert cli("keys", "trust", "v1/ci.pub", "--keyring", "ring.yaml", "--identity", "ci-system@company.com",
               "--scope", "project:myapp").code == 0  # fmt: skip
    assert cli("sign", str(receipt), "--key", "v1/ci.key", "--no-signer", "-o", "old.json").code == 0
    old_id = json.loads(cli("keys", "list", "--keyring", "ring.yaml", "--json").out.splitlines()[0])["key_id"]
    assert cli("keys", "rotate", "--keyring", "ring.yaml", "--old", old_id, "--out-dir", "v2", "--name", "ci").code == 0
    soon = datetime.now(timezone.utc) + timedelta(seconds=60)  # after the new key's not_before, within tolerance
    new = make_receipt(timestamp=soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    write_json(tmp_path / "fresh.json", new)
    assert cli("sign", "fresh.json", "--key", "v2/ci.key", "--no-signer", "-o", "new.json").code == 0
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "old.json", "--receipt", "new.json")
    assert result.code == 0, result.err
    svg = _svg_of(result.out)
    assert len(_titles(svg, "node")) == 4 and len(_titles(svg, "edge")) == 3  # two signatures, the rotation
    assert "superseded by (same identity)" in _texts(svg)
    text = _texts(svg)
    assert "revocation superseded from" in text and text.count("ci-system@company.com") == 2
    assert text.count("valid, chain verified") == 2
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "old.json", "--format", "svg", "-o", "g.svg")
    assert result.code == 0, result.err
    assert ET.parse(tmp_path / "g.svg").getroot().tag == f"{SVG}svg"


def test_receipt_carried_delegation_is_drawn(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    root, ci = _key(1), _key(2)
    ring = tmp_path / "ring.yaml"
    ring.write_text(f"version: 1\nkeys:\n  - public_key: {root.public_key.text}\n    roles: [root]\n", encoding="utf-8")
    statement = create_delegation(root, ci.public_key, identity="ci@company.com")
    write_json(tmp_path / "r.json", sign_receipt(make_receipt(delegations=[statement]), ci))
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "r.json", "--now", NOW)
    assert result.code == 0, result.err
    svg = _svg_of(result.out)
    assert f"k_{root.public_key.key_id}->k_{ci.public_key.key_id}" in _titles(svg, "edge")
    assert "carried by the receipt" in _texts(svg) and "ci@company.com" in _texts(svg)  # the statement's terms
    assert "not in the keyring" not in _texts(svg)  # the signing key is known: delegated in the receipt


def test_hostile_identities_stay_labels(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    ring, _root, _ci, job = _keyring(tmp_path, identity=HOSTILE)
    assert parse_keyring(ring.read_text()).keys[0].identity == HOSTILE
    write_json(tmp_path / "job.json", sign_receipt(make_receipt(), job))
    dot = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "job.json", "--now", NOW)
    assert dot.code == 0, dot.err
    svg = _svg_of(dot.out)
    assert len(_titles(svg, "node")) == 5 and "evil" not in "".join(_titles(svg, "node"))
    assert "\x1b" not in dot.out and "\u202e" not in dot.out
    assert "\\x1b[31m\\u202e" in _texts(svg)  # control characters shown as visible escapes
    mermaid = cli("keys", "graph", "--keyring", "ring.yaml", "--format", "mermaid").out
    labels = re.findall(r'"([^"]*)"', mermaid)
    assert labels and all(not set(label.replace("<br/>", "")) & set("<>|[]{}\n") for label in labels)
    assert "<script>" not in mermaid and "-->x" not in mermaid


def test_svg_without_graphviz_is_one_line_with_a_hint(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _ring, *_ = _keyring(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--format", "svg", "-o", "g.svg", env={"PATH": str(empty)})
    assert result.code == 2
    assert_one_line_error(result)
    assert "apt-get install graphviz" in result.err and "--format dot" in result.err
    assert not (tmp_path / "g.svg").exists()


def test_bad_inputs_are_one_line(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _ring, *_ = _keyring(tmp_path)
    for args in (["--keyring", "missing.yaml"], ["--keyring", "ring.yaml", "--receipt", "missing.json"],
                 ["--keyring", "ring.yaml", "--now", "yesterday"]):  # fmt: skip
        result = cli("keys", "graph", *args)
        assert result.code == 2, args
        assert_one_line_error(result)
    (tmp_path / "bad.json").write_text("{")
    result = cli("keys", "graph", "--keyring", "ring.yaml", "--receipt", "bad.json", "--now", NOW)
    assert result.code == 1 and "digraph" in result.out


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=40))
def test_any_label_text_parses_as_one_node(text: str) -> None:
    graph = TrustGraph((Node("a", "key", (text, text)), Node("b", "root", (text,))), ())
    svg = _svg_of(to_dot(graph))
    assert sorted(_titles(svg, "node")) == ["a", "b"]
    assert all(c.isascii() and c not in '"<>\n[]|{}' for c in mermaid_text(text))
    assert to_mermaid(graph).count("\n") == 6  # one line per node, whatever the text


def test_build_graph_marks_revocations_by_date() -> None:
    ring_text = (
        f"version: 1\nkeys:\n  - public_key: {_key(1).public_key.text}\n"
        "    revoked_at: 2026-06-01T00:00:00Z\n    reason: superseded\n"
    )
    store = parse_keyring(ring_text)
    before = build_graph(store, now=datetime(2026, 5, 1, tzinfo=timezone.utc))
    after = build_graph(store, now=datetime(2026, 7, 1, tzinfo=timezone.utc))
    assert not before.nodes[0].revoked and after.nodes[0].revoked
    assert "revocation superseded from 2026-06-01T00:00:00Z" in before.nodes[0].lines
