"""The real OPA engine as a test oracle (../shared/tools/opa-oracle), and an `opa` test double.

Test-only: attestkit never depends on it at run time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORACLE_TOOL = ROOT.parent / "shared" / "tools" / "opa-oracle"
DOUBLE = Path(__file__).resolve().parent / "opa_double" / "opa"
_cached: list[str] = []


def oracle_path() -> str:
    """The folder to put on sys.path for ``opa_bindings``: ``$ATTESTKIT_OPA_ORACLE`` (set by
    ``make test`` before the network is cut), else what the oracle tool prints; skip when absent."""
    if not _cached and os.environ.get("ATTESTKIT_OPA_ORACLE"):
        folder = Path(os.environ["ATTESTKIT_OPA_ORACLE"])
        assert (folder / "opa_bindings").is_dir(), f"ATTESTKIT_OPA_ORACLE={folder} holds no opa_bindings"
        _cached.append(str(folder))
    if not _cached:
        if not ORACLE_TOOL.exists():
            pytest.skip(f"OPA oracle tool not found at {ORACLE_TOOL}")
        done = subprocess.run(["bash", str(ORACLE_TOOL)], capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        _cached.append(done.stdout.strip())
    return _cached[0]


def oracle_engine_class() -> Any:
    """``opa_bindings.OpaEngine`` from the oracle folder."""
    path = oracle_path()
    if path not in sys.path:
        sys.path.insert(0, path)
    import opa_bindings

    return opa_bindings


def oracle_decision(text: str, document: dict[str, Any], has_allow: bool) -> tuple[str, Any]:
    """What the real OPA engine decides for policy *text* on *document*: ``("ok", sorted
    violation messages)`` through attestkit's :func:`decide`, or ``("error", why)``."""
    from attestkit.core.policy.rego import QUERY, RegoOutcome, decide
    from attestkit.errors import PolicyError

    bindings = oracle_engine_class()
    engine = bindings.OpaEngine()
    engine.print_handler = lambda message, location: None
    try:
        engine.add_policy("p.rego", text)
        results = engine.eval_query(QUERY, input=document)
    except bindings.OpaError as exc:
        return "error", str(exc)
    finally:
        engine.close()
    if len(results) != 1:
        return "error", f"{len(results)} results"
    types = results[0]["t"]
    outcome = RegoOutcome(results[0]["x"], types[0] if types else None)
    try:
        return "ok", sorted(v.message for v in decide("p.rego", outcome, has_allow))
    except PolicyError as exc:
        return "error", str(exc)


def write_opa_double(directory: Path) -> Path:
    """An executable ``opa`` in *directory* that runs the test double on the oracle."""
    script = directory / "opa"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"os.environ['OPA_ORACLE_PATH'] = {oracle_path()!r}\n"
        f"sys.argv[0] = {str(DOUBLE)!r}\n"
        f"exec(compile(open({str(DOUBLE)!r}, encoding='utf-8').read(), {str(DOUBLE)!r}, 'exec'))\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Sockets cannot connect (or resolve names) in this process while the test runs."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
