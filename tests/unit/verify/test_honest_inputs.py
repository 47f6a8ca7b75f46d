"""Inputs judged per step (issue 24 item 3): a path a later step recorded differently is history.

The scenario from the issue, with real tools: a first step byte-compiles `src/` (Python adds
`src/__pycache__/`), the second step records `src/` as its input, and `verify --check-inputs`
must pass, report the first state as history, and name the step in every finding.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit import verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.verify.artifacts import check_artifacts_report
from tests.conftest import CliResult, make_receipt, write_json
from tests.unit.produce.test_honest_drafts import _clean_env, _run


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    assert _run(["keys", "generate", "--out-dir", "k"], tmp_path, _clean_env()).code == 0
    return tmp_path


def _record_two_steps(workspace: Path) -> Path:
    env = _clean_env(ATTESTKIT_RUN_ID="inputs")
    compile_step = [
        "record",
        "--receipt",
        "d.json",
        "--name",
        "compile",
        "--inputs",
        "src/",
        "--",
        sys.executable,
        "-m",
        "py_compile",
        "src/app.py",
    ]
    assert _run(compile_step, workspace, env).code == 0
    assert (workspace / "src" / "__pycache__").is_dir()
    test_step = [
        "record",
        "--receipt",
        "d.json",
        "--name",
        "test",
        "--inputs",
        "src/",
        "--outputs",
        "out.txt",
        "--",
        sys.executable,
        "-c",
        "open('out.txt', 'w').write('ok')",
    ]
    assert _run(test_step, workspace, env).code == 0
    final = ["receipt", "finalize", "--receipt", "d.json", "--key", "k/attestkit.key", "-o", "r.json"]
    assert _run(final, workspace, env).code == 0
    return workspace / "r.json"


def _verify(workspace: Path, receipt: str, *extra: str) -> CliResult:
    args = ["verify", receipt, "--public-key", "k/attestkit.pub", "--artifacts", ".", "--check-inputs", *extra]
    return _run(args, workspace, _clean_env())


def test_an_input_changed_by_an_earlier_step_is_history(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    receipt = json.loads(_record_two_steps(workspace).read_text())
    first, second = (step["inputs"][0]["hash"] for step in receipt["steps"])
    assert first != second  # the __pycache__ the first step added
    result = _verify(workspace, "r.json", "--json")
    assert result.code == 0, result.out
    checks = result.json_lines()[0]["checks"]
    history = [c for c in checks if c["code"] == "history"]
    assert len(history) == 1 and history[0]["passed"] is True and history[0]["location"] == "src/"
    assert f"step 'compile' input src/: recorded {first}" in history[0]["message"]
    assert f"step 'test' later recorded it as input {second}" in history[0]["message"]
    text = _verify(workspace, "r.json")
    assert text.code == 0 and "history, not a mismatch" in text.out


def test_findings_name_the_step(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    _record_two_steps(workspace)
    (workspace / "src" / "app.py").write_text("print('tampered')\n")
    (workspace / "out.txt").write_text("tampered")
    result = _verify(workspace, "r.json", "--json")
    assert result.code == 1
    failed = [c["message"] for c in result.json_lines()[0]["checks"] if not c["passed"]]
    assert len(failed) == 2
    assert failed[0].startswith("step 'test' input src/: digest ") and "changed: app.py" in failed[0]
    assert failed[1].startswith("step 'test' output out.txt: digest ")


def test_a_receipt_without_the_format_keeps_the_contracts_rule(tmp_path: Path, key: PrivateKey) -> None:
    workspace = _workspace(tmp_path)
    receipt = json.loads(_record_two_steps(workspace).read_text())
    legacy = {k: v for k, v in receipt.items() if k not in ("receipt_format", "signature")}
    write_json(workspace / "legacy.json", sign_receipt(legacy, key))
    result = _run(
        ["verify", "legacy.json", "--public-key", key.public_key.text, "--artifacts", ".", "--check-inputs"],
        workspace,
        _clean_env(),
    )
    assert result.code == 1
    assert "step 'compile' input src/: digest" in result.out and "added: __pycache__/" in result.out


def test_run_orders_states_by_time_not_file_order(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    workspace = _workspace(tmp_path)
    # `check` is listed first but runs after `build`, which rewrites the file both record.
    (workspace / "attest.yaml").write_text(
        'version: "0.1"\nsteps:\n'
        "  check:\n    run: grep -q built state.txt\n    inputs: [state.txt]\n    needs: [build]\n"
        "  build:\n    run: echo built > state.txt\n    inputs: [state.txt]\n    outputs: [state.txt]\n"
    )
    (workspace / "state.txt").write_text("fresh\n")
    ran = _run(["run", "--key", "k/attestkit.key", "-o", "r.json"], workspace, _clean_env())
    assert ran.code == 0, ran.err
    result = _verify(workspace, "r.json", "--json")
    assert result.code == 0, result.out
    history = [c["message"] for c in result.json_lines()[0]["checks"] if c["code"] == "history"]
    assert len(history) == 1 and history[0].startswith("step 'build' input state.txt")


def _entry(path: str, byte: int) -> dict[str, Any]:
    return {"path": path, "hash": "blake3:" + f"{byte:02x}" * 32, "size_bytes": 1}


def test_library_report(tmp_path: Path, key: PrivateKey) -> None:
    (tmp_path / "a").write_text("x")
    steps = [
        {"name": "one", "inputs": [_entry("a", 1)], "outputs": [_entry("a", 2)]},
        {"name": "two", "inputs": [_entry("a", 2)], "outputs": []},
    ]
    receipt = make_receipt(steps=steps, receipt_format="attestkit/v2")
    report = check_artifacts_report(receipt, str(tmp_path), check_inputs=True)
    assert [h.step for h in report.history] == ["one"] and report.history[0].pointer == "/steps/0/inputs/0"
    assert [(f.step, f.pointer) for f in report.findings] == [("two", "/steps/1/inputs/0")]
    outputs_only = check_artifacts_report(receipt, str(tmp_path))
    assert outputs_only.history == [] and [f.step for f in outputs_only.findings] == ["one"]
    result = verify_receipt(
        sign_receipt(receipt, key), trusted_keys=[key.public_key], artifacts_dir=str(tmp_path), check_inputs=True
    )
    assert [c.code for c in result.checks if c.name == "artifacts"] == ["digest-mismatch", "history"]


paths = st.sampled_from(["a", "b/", "c"])


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["inputs", "outputs"]), paths, st.integers(0, 3)), max_size=8), st.booleans())
def test_every_recorded_path_is_checked_once_or_listed_as_history(
    records: list[tuple[str, str, int]], declared: bool
) -> None:
    import tempfile

    steps = [{"name": f"s{i}", field: [_entry(path, byte)]} for i, (field, path, byte) in enumerate(records)]
    receipt = make_receipt(steps=steps, **({"receipt_format": "attestkit/v2"} if declared else {}))
    with tempfile.TemporaryDirectory() as directory:
        report = check_artifacts_report(receipt, directory, check_inputs=True)
    checked = {(f.path, f.step) for f in report.findings}  # the tree is empty: every check is a finding
    if not declared:
        assert len(report.findings) == len(records) and report.history == []
        return
    assert len(checked) == len({path for _, path, _ in records})  # one check per path: its last state
    for item in report.history:
        assert (item.path, item.step) not in checked
