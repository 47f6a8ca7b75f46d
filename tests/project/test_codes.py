"""The code registry: every code in the source has an entry, the docs are generated from it,
and no code disappears or changes name (codes are a stable interface)."""

from __future__ import annotations

import ast
from pathlib import Path

import attestkit
import attestkit.errors as errors
from attestkit.codes import REGISTRY, codes_markdown

ROOT = Path(attestkit.__file__).parent
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "codes.txt"
HOW = "add it to attestkit/codes.py, then run `python docs/gen_codes.py`"

# Constructors whose code is positional: the index of the code argument.
POSITIONAL = {"Check": 2, "TrustDecision": 1, "SignatureOutcome": 1, "ArtifactFinding": 1, "Transparency": 1}
POSITIONAL["budget_result"] = 1


def _called_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else ""


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def codes_in_source() -> dict[str, str]:
    """Every string literal used as a code in attestkit/, with one place it is used."""
    found: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            candidates: list[ast.AST] = []
            if isinstance(node, ast.Call):
                candidates += [kw.value for kw in node.keywords if kw.arg == "code"]
                index = POSITIONAL.get(_called_name(node))
                if index is not None and len(node.args) > index:
                    candidates.append(node.args[index])
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
                candidates.append(node.value)
            for candidate in candidates:
                code = _literal(candidate)
                if code is not None:
                    found.setdefault(code, f"{path.relative_to(ROOT.parent)}:{getattr(node, 'lineno', 0)}")
    return found


def test_collector_sees_the_known_shapes() -> None:
    found = codes_in_source()
    for code in ("bad-signature", "revoked", "digest-mismatch", "duplicate-key", "webhook-replay", "budget-time"):
        assert code in found, code


def test_every_code_in_the_source_is_registered() -> None:
    missing = {code: where for code, where in codes_in_source().items() if code not in REGISTRY}
    assert not missing, f"unregistered codes {missing}: {HOW}"


def test_every_error_class_code_is_registered() -> None:
    for name in errors.__all__:
        assert getattr(errors, name).code in REGISTRY, f"{name}.code: {HOW}"


def test_registry_entries_say_cause_and_action() -> None:
    for entry in REGISTRY.values():
        assert entry.cause and entry.action and entry.area, entry
        assert entry.code == entry.code.strip().lower() and " " not in entry.code, entry


def test_codes_are_stable() -> None:
    pinned = GOLDEN.read_text(encoding="utf-8").split()
    removed = sorted(set(pinned) - set(REGISTRY))
    assert not removed, f"codes are a stable interface and these disappeared: {removed}"
    assert sorted(REGISTRY) == pinned, HOW


def test_docs_codes_md_is_generated_from_the_registry() -> None:
    docs = ROOT.parent / "docs" / "codes.md"
    assert docs.read_text(encoding="utf-8") == codes_markdown(), "run `python docs/gen_codes.py`"
    for code in REGISTRY:
        assert f"| `{code}` |" in codes_markdown()
