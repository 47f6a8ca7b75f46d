"""The shape of the package: a pure core, a curated API, one exception hierarchy."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys

import attestkit
import attestkit.core
import attestkit.errors as errors

FOREIGN = ["attestkit.adapters", "attestkit.cli", "click", "http.client", "urllib.request", "regopy", "regorus"]


def _imports_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_modules_import_nothing_foreign() -> None:
    for module in pkgutil.walk_packages(attestkit.core.__path__, "attestkit.core."):
        loaded = _imports_after(f"import {module.name}")
        leaked = [name for name in FOREIGN if name in loaded]
        assert not leaked, f"{module.name} imports {leaked}"


def test_import_attestkit_is_light() -> None:
    loaded = _imports_after("import attestkit")
    for heavy in ["click", "yaml", "regopy", "regorus", "http.client", "blake3", "cryptography", "nacl"]:
        assert heavy not in loaded, heavy


def test_verify_path_imports_no_yaml_rego_http_or_hashing() -> None:
    loaded = _imports_after("import attestkit.core.verify.verifier")
    for heavy in ["yaml", "regopy", "regorus", "http.client", "blake3", "cryptography"]:
        assert heavy not in loaded, heavy


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
