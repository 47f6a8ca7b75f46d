"""Every vector in vectors/receipts.json through the library and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import verify_receipt
from attestkit.core.receipt.reader import parse_receipt
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import MalformedReceiptError
from tests.conftest import ROOT, VECTORS, CliResult

DATA = json.loads((VECTORS / "receipts.json").read_text(encoding="utf-8"))
CASES = DATA["cases"]


def _bytes(case: dict[str, Any]) -> bytes:
    return case["document"].encode("utf-8") if "document" in case else bytes.fromhex(case["document_hex"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_library(case: dict[str, Any]) -> None:
    data = _bytes(case)
    if case["expected"] == "malformed":
        with pytest.raises(MalformedReceiptError) as info:
            parse_receipt(data, source=case["name"], fmt=case["format"])
        assert info.value.code == case["rule"], info.value
        return
    parsed = parse_receipt(data, source=case["name"], fmt=case["format"])
    result = verify_receipt(parsed, trusted_keys=[DATA["trusted_public_key"]], now=parse_rfc3339(DATA["now"]))
    assert result.valid is (case["expected"] == "valid")
    if case["expected"] == "invalid":
        assert case["rule"] in {c.code for c in result.failed_checks}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cli(case: dict[str, Any], cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = tmp_path / ("receipt.json" if case["format"] == "json" else "receipt.yaml")
    path.write_bytes(_bytes(case))
    result = cli("verify", str(path), "--public-key", DATA["trusted_public_key"], "--now", DATA["now"], "--json")
    assert result.code == case["exit_code"], result.err
    (line,) = result.json_lines()
    assert line["valid"] is (case["expected"] == "valid")
    assert "Traceback" not in result.err


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    """The generator is deterministic and its rfc8785+cryptography cross-check passes."""
    subprocess.run(
        [sys.executable, str(ROOT / "vectors" / "generate.py"), str(tmp_path)], check=True, capture_output=True
    )
    for relative in ["receipts.json", "demo/receipt.json", "demo/receipt.unsigned.json", "demo/demo.pub", "demo/attest.yaml",
                     "demo/artifacts/dist/app.bin", "demo/artifacts/dist/docs/README.txt", "demo/artifacts/src/app.c",
                     "demo/junit.xml", "demo/trivy.json"]:  # fmt: skip
        assert (tmp_path / relative).read_bytes() == (VECTORS / relative).read_bytes(), relative


def test_demo_receipt_verifies_with_artifacts(cli: Callable[..., CliResult]) -> None:
    demo = VECTORS / "demo"
    result = cli(
        "verify", str(demo / "receipt.json"), "--public-key", str(demo / "demo.pub"),
        "--artifacts", str(demo / "artifacts"), "--pipeline", str(demo / "attest.yaml"),
        "--policy", "steps-succeeded", "--policy", "require-tests", "--policy", "security-scan", "--check-inputs",
    )  # fmt: skip
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("VALID")
