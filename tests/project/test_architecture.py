"""The shape of the package: a pure core, a curated API, one exception hierarchy."""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attestkit
import attestkit.core
import attestkit.errors as errors
from attestkit.core.crypto.keys import PrivateKey
from tests.conftest import NOW, write_json

FOREIGN = ["attestkit.adapters", "attestkit.cli", "click", "http.client", "urllib.request", "regopy", "regorus"]


def _imports_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


# One fresh interpreter, one fork per module: each module is imported alone into the same
# clean start (as a separate interpreter per module would, at a fraction of the time). The start
# holds the stdlib and the allowed libraries, none of which is or brings a FOREIGN module.
_IMPORT_EACH = """
import json, os, sys
import dataclasses, datetime, enum, functools, hashlib, pathlib, re, typing
import blake3, nacl.bindings, nacl.signing, orjson, yaml
import cryptography.hazmat.primitives.serialization
for name in sys.argv[1:]:
    read, write = os.pipe()
    if os.fork() == 0:
        os.close(read)
        __import__(name)
        os.write(write, "\\n".join(sorted(sys.modules)).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.wait()
    print(json.dumps([name, os.waitstatus_to_exitcode(status), b"".join(chunks).decode()]))
"""


def test_core_modules_import_nothing_foreign() -> None:
    names = [module.name for module in pkgutil.walk_packages(attestkit.core.__path__, "attestkit.core.")]
    assert len(names) > 50
    baseline = _imports_after(_IMPORT_EACH.split("for name")[0].replace("\n", "; ").strip("; "))
    assert not [foreign for foreign in FOREIGN if foreign in baseline]
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *names], capture_output=True, text=True, check=True)
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [name for name, _, _ in results] == names
    for name, status, modules in results:
        assert status == 0 and name in modules.split(), (name, status)
        leaked = [foreign for foreign in FOREIGN if foreign in modules.split()]
        assert not leaked, f"{name} imports {leaked}"


def test_import_attestkit_is_light() -> None:
    loaded = _imports_after("import attestkit")
    for heavy in ["click", "yaml", "regopy", "regorus", "http.client", "blake3", "cryptography", "nacl"]:
        assert heavy not in loaded, heavy


def test_verify_path_imports_no_yaml_rego_http_or_hashing() -> None:
    loaded = _imports_after("import attestkit.core.verify.verifier")
    for heavy in ["yaml", "regopy", "regorus", "http.client", "blake3", "cryptography"]:
        assert heavy not in loaded, heavy


_MODULES_AT_EXIT = """
import atexit, os, sys
atexit.register(lambda: os.write(1, "\\n".join(sorted(sys.modules)).encode()))
from attestkit.cli import run
sys.stdout = open(os.devnull, "w")
sys.exit(run(sys.argv[1:]))
"""

# What a plain one-receipt `verify` may load beyond click (which brings typing, inspect, uuid, ast...):
# the receipt reader, the signature check, the verdict. No summary/in-toto, fetch/HTTP, YAML, Rego,
# hashing, reports or process pools unless a flag asks for them.
_PLAIN_VERIFY_EXTRA_STDLIB = {"_contextvars", "_json", "_locale", "atexit", "binascii", "contextvars", "copy",
                              "dataclasses", "json", "json.decoder", "json.encoder", "json.scanner", "locale",
                              "signal", "unicodedata"}  # fmt: skip
_PLAIN_VERIFY_NEVER = ["attestkit.cli.summary", "attestkit.core.intoto", "attestkit.cli.cmd_fetch", "attestkit.adapters.http",
                       "attestkit.core.render", "attestkit.core.policy.builtin", "attestkit.core.trust.keyring", "hashlib", "base64", "yaml", "regopy",
                       "regorus", "http.client", "urllib.request", "concurrent.futures", "multiprocessing", "blake3",
                       "cryptography", "ssl"]  # fmt: skip


def test_plain_verify_loads_only_what_it_needs(tmp_path: Path, key: PrivateKey, signed: dict[str, Any]) -> None:
    receipt = write_json(tmp_path / "r.json", signed)
    args = ["verify", str(receipt), "--public-key", key.public_key.text, "--now", NOW]
    proc = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert "attestkit.core.verify.verifier" in loaded  # the probe saw the verification
    leaked = [name for name in _PLAIN_VERIFY_NEVER if name in loaded or any(m.startswith(name + ".") for m in loaded)]
    assert not leaked, leaked
    beyond_click = loaded - _imports_after("import click")  # so uuid, ast, inspect only if click itself loads them
    foreign = {m for m in beyond_click if not m.startswith(("attestkit", "nacl", "_sodium", "_cffi_backend", "orjson"))}
    assert foreign <= _PLAIN_VERIFY_EXTRA_STDLIB, sorted(foreign - _PLAIN_VERIFY_EXTRA_STDLIB)


def test_exported_names() -> None:
    assert sorted(attestkit.__all__) == sorted(set(attestkit.__all__))
    for name in attestkit.__all__:
        assert getattr(attestkit, name) is not None, name
    assert {
        "sign_receipt",
        "verify_receipt",
        "VerificationResult",
        "AttestkitError",
        "hash_tree",
        "verify_webhook",
    } <= set(attestkit.__all__)


def test_exception_hierarchy() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.AttestkitError)
        assert cls.exit_code in (1, 2)
        assert isinstance(cls.code, str) and cls.code
    assert issubclass(errors.MalformedReceiptError, errors.InvalidError)
    assert errors.MalformedReceiptError.exit_code == 1
    assert errors.UsageError.exit_code == 2 and errors.FetchError.exit_code == 2
    assert issubclass(errors.WebhookReplayError, errors.WebhookVerificationError)


def test_library_never_prints() -> None:
    import pathlib

    root = pathlib.Path(attestkit.__file__).parent
    for path in root.rglob("*.py"):
        if "cli" in path.parts or path.name == "__main__.py":
            continue
        text = path.read_text()
        assert not re.search(r"(?<![\w.])print\(", text) and "sys.exit" not in text, path
        assert "import click" not in text, path


def _import_graph() -> dict[str, set[str]]:
    """Every attestkit module and the attestkit modules it imports (function-level imports included)."""
    import ast
    import pathlib

    root = pathlib.Path(attestkit.__file__).parent
    modules: dict[str, pathlib.Path] = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_anywhere() -> None:
    graph = _import_graph()
    assert graph.get("attestkit.core.verify.verifier")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_point_downwards() -> None:
    for module, imported in _import_graph().items():
        if module.startswith("attestkit.core"):
            assert not {m for m in imported if m.startswith(("attestkit.cli", "attestkit.adapters"))}, module
        if module.startswith("attestkit.adapters"):
            assert not {m for m in imported if m.startswith("attestkit.cli")}, module


def test_long_core_functions_say_why() -> None:
    """No function in the core over 60 lines without a written reason (``# Long by design: ...``)."""
    import ast
    import pathlib

    root = pathlib.Path(attestkit.__file__).parent / "core"
    unexplained = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                body = lines[node.lineno - 1 : node.end_lineno]
                if len(body) > 60 and not any("# Long by design: " in line for line in body):
                    unexplained.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({len(body)} lines)")
    assert not unexplained, unexplained
