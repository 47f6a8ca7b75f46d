"""One run, one receipt (issue 24 item 1): drafts know their run, finalize once, step names are unique.

Everything runs the installed command on real files with real keys; the persistent-runner
scenario reuses one draft path for two runs, as a self-hosted runner reuses its workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit import verify_receipt
from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.produce.drafts import (
    CI_RUN_VARIABLES,
    DraftRefused,
    draft_for_finalize,
    draft_for_record,
    new_draft,
    run_id_from_environment,
)
from attestkit.core.produce.producer import finalize_receipt
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import MalformedReceiptError, UsageError
from tests.conftest import (
    NOW,
    CliResult,
    _cli_command,
    assert_one_line_error,
    make_receipt,
    run_cli_in_process,
    write_json,
)

CI_NAMES = {name for _, names in CI_RUN_VARIABLES for name in names} | {"ATTESTKIT_RUN_ID"}
DRAFT = ".attest/draft.json"


def _clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any run id a CI system may have set."""
    env = {k: v for k, v in os.environ.items() if k not in CI_NAMES and not k.startswith(("ATTESTKIT_", "ATTEST_"))}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> CliResult:
    """The real CLI entry point, in this process, with exactly *env* (the concurrency tests start processes)."""
    return run_cli_in_process(args, cwd=cwd, env=env, exact_env=True)


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    assert _run(["keys", "generate", "--out-dir", "k"], tmp_path, _clean_env()).code == 0
    return tmp_path


def _record(workspace: Path, name: str, *extra: str, env: dict[str, str] | None = None) -> CliResult:
    args = ["record", "--receipt", DRAFT, "--name", name, *extra, "--", "sh", "-c", f"echo {name} >> ran.txt"]
    return _run(args, workspace, env if env is not None else _clean_env())


def _finalize(workspace: Path, output: str, env: dict[str, str] | None = None) -> CliResult:
    args = ["receipt", "finalize", "--receipt", DRAFT, "--key", "k/attestkit.key", "-o", output]
    return _run(args, workspace, env if env is not None else _clean_env())


def _verify(workspace: Path, receipt: str) -> CliResult:
    return _run(["verify", receipt, "--public-key", "k/attestkit.pub", "--json"], workspace, _clean_env())


def _ran(workspace: Path) -> list[str]:
    path = workspace / "ran.txt"
    return path.read_text().split() if path.exists() else []


def test_persistent_runner_two_runs_give_two_receipts(workspace: Path) -> None:
    for run, output in (("job-1", "r1.json"), ("job-2", "r2.json")):
        env = _clean_env(ATTESTKIT_RUN_ID=run)
        for step in ("build", "test"):
            assert _record(workspace, step, env=env).code == 0
        finalized = _finalize(workspace, output, env)
        assert finalized.code == 0, finalized.err
    for run, output in (("job-1", "r1.json"), ("job-2", "r2.json")):
        receipt = json.loads((workspace / output).read_text())
        assert [s["name"] for s in receipt["steps"]] == ["build", "test"]
        assert receipt["run_id"] == run and receipt["receipt_format"] == "attestkit/v2"
        assert "attestkit_draft" not in receipt
        verdict = _verify(workspace, output)
        assert verdict.code == 0, verdict.out
    marker = json.loads((workspace / DRAFT).read_text())
    assert marker["steps"] == [] and marker["attestkit_draft"]["state"] == "finalized"
    assert marker["attestkit_draft"]["receipt"] == "r2.json"


def test_persistent_runner_with_a_ci_run_id_from_the_environment(workspace: Path) -> None:
    for attempt, output in (("1", "a.json"), ("2", "b.json")):
        env = _clean_env(GITHUB_RUN_ID="4242", GITHUB_RUN_ATTEMPT=attempt)
        assert _record(workspace, "build", env=env).code == 0
        assert _finalize(workspace, output, env).code == 0
        receipt = json.loads((workspace / output).read_text())
        assert receipt["run_id"] == f"github-4242-{attempt}" and [s["name"] for s in receipt["steps"]] == ["build"]


def test_persistent_runner_without_run_ids_is_a_clear_refusal(workspace: Path) -> None:
    assert _record(workspace, "build").code == 0
    assert _finalize(workspace, "r1.json").code == 0
    run_id = json.loads((workspace / "r1.json").read_text())["run_id"]
    assert run_id.startswith("local-")
    second = _record(workspace, "build")
    assert second.code == 2
    assert_one_line_error(second)
    assert f"run '{run_id}' was finalized at " in second.err and "into r1.json" in second.err
    assert "--run-id" in second.err
    assert _ran(workspace) == ["build"]  # the refused step never ran


def test_record_into_another_runs_open_draft_is_refused_naming_both(workspace: Path) -> None:
    assert _record(workspace, "build", "--run-id", "run-A").code == 0
    before = (workspace / DRAFT).read_bytes()
    other = _record(workspace, "test", "--run-id", "run-B")
    assert other.code == 2
    assert_one_line_error(other)
    assert "belongs to run 'run-A', not to run 'run-B'" in other.err
    assert (workspace / DRAFT).read_bytes() == before and _ran(workspace) == ["build"]
    same = _record(workspace, "test", "--run-id", "run-A")
    assert same.code == 0
    unnamed = _record(workspace, "lint")  # no run id given: the draft's run continues
    assert unnamed.code == 0
    assert [s["name"] for s in json.loads((workspace / DRAFT).read_text())["steps"]] == ["build", "test", "lint"]


def test_duplicate_step_name_is_refused_before_running(workspace: Path) -> None:
    assert _record(workspace, "build").code == 0
    again = _record(workspace, "build")
    assert again.code == 2
    assert_one_line_error(again)
    assert "already has a step named 'build'" in again.err
    assert _ran(workspace) == ["build"]


def test_finalize_twice_is_refused(workspace: Path) -> None:
    assert _record(workspace, "build").code == 0
    assert _finalize(workspace, "r1.json").code == 0
    second = _finalize(workspace, "r2.json")
    assert second.code == 2
    assert_one_line_error(second)
    assert "was finalized" in second.err and "finalized once" in second.err
    assert not (workspace / "r2.json").exists()


def test_concurrent_finalize_signs_once(workspace: Path) -> None:
    assert _record(workspace, "build").code == 0
    args = ["receipt", "finalize", "--receipt", DRAFT, "--key", "k/attestkit.key"]
    procs = [
        subprocess.Popen(
            [*_cli_command(), *args, "-o", f"r{i}.json"],
            cwd=workspace,
            env=_clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    codes = sorted(p.wait(timeout=60) for p in procs)
    assert codes == [0, 2, 2, 2]
    assert len([p for p in workspace.glob("r*.json")]) == 1


def test_concurrent_records_lose_no_step(workspace: Path) -> None:
    env = _clean_env(ATTESTKIT_RUN_ID="parallel")
    procs = [
        subprocess.Popen(
            [*_cli_command(), "record", "--receipt", DRAFT, "--name", f"s{i}", "--", "sleep", "0.2"],
            cwd=workspace,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(5)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 5
    names = sorted(s["name"] for s in json.loads((workspace / DRAFT).read_text())["steps"])
    assert names == [f"s{i}" for i in range(5)]


def test_an_older_draft_without_run_id_still_works(workspace: Path) -> None:
    old = {"steps": [json.loads(json.dumps(make_receipt()["steps"][0]))]}
    (workspace / ".attest").mkdir()
    write_json(workspace / ".attest" / "draft.json", old)
    refused = _record(workspace, "test", "--run-id", "new-run")
    assert refused.code == 2 and "a run with no run id (an older draft)" in refused.err
    assert _record(workspace, "test").code == 0
    assert _finalize(workspace, "r.json").code == 0
    receipt = json.loads((workspace / "r.json").read_text())
    assert "run_id" not in receipt and [s["name"] for s in receipt["steps"]] == ["build", "test"]


def test_bad_run_id_is_a_usage_error(workspace: Path) -> None:
    for bad in ("", " x", "a\x1bb", "x" * 201):
        result = _record(workspace, "build", "--run-id", bad)
        assert result.code == 2 and "run id" in result.err, bad
    assert _ran(workspace) == []


# ---- verifying: duplicate step names are malformed in receipts that declare attestkit/v2 ----------


def _steps(*names: str) -> list[dict[str, Any]]:
    step = make_receipt()["steps"][0]
    return [{**step, "name": name} for name in names]


def _signed(receipt: dict[str, Any], key: PrivateKey) -> dict[str, Any]:
    """Sign without the signer's shape check, as a hostile or buggy producer would."""
    body = dict(receipt, signer_public_key=key.public_key.text, signature_algorithm="ed25519")
    return dict(body, signature="ed25519:" + key.sign(canonicalize(body)).hex())


def test_signing_refuses_duplicates_in_a_v2_receipt(key: PrivateKey) -> None:
    with pytest.raises(MalformedReceiptError, match="repeats an earlier step"):
        sign_receipt(make_receipt(steps=_steps("a", "a"), receipt_format="attestkit/v2"), key)


def test_verify_duplicate_steps_by_receipt_format(
    tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]
) -> None:
    legacy = sign_receipt(make_receipt(steps=_steps("build", "build")), key)
    assert verify_receipt(
        legacy, trusted_keys=[key.public_key], now=parse_rfc3339(NOW)
    ).valid  # no silent contract change
    declared = _signed(make_receipt(steps=_steps("build", "test", "build"), receipt_format="attestkit/v2"), key)
    result = verify_receipt(declared, trusted_keys=[key.public_key], now=parse_rfc3339(NOW))
    assert not result.valid
    first = result.to_json()["checks"][0]
    assert first["code"] == "duplicate-step" and "/steps/2/name" in first["message"]
    unknown = _signed(make_receipt(receipt_format="attestkit/v9"), key)
    assert (
        verify_receipt(unknown, trusted_keys=[key.public_key], now=parse_rfc3339(NOW)).to_json()["checks"][0]["code"]
        == "receipt-format"
    )
    write_json(tmp_path / "d.json", declared)
    write_json(tmp_path / "l.json", legacy)
    verdict = cli("verify", "d.json", "l.json", "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert verdict.code == 1
    lines = verdict.json_lines()
    assert [line["valid"] for line in lines] == [False, True]
    assert lines[0]["policy_compliance"]["evaluated"] is False


def test_finalize_receipt_refuses_duplicates() -> None:
    with pytest.raises(UsageError, match="'a' appears more than once"):
        finalize_receipt({"steps": _steps("a", "b", "a")}, now=parse_rfc3339(NOW), host={})


# ---- the pure rules, and malformed drafts never crash ------------------------------------------


def test_run_id_from_environment() -> None:
    assert run_id_from_environment({}) is None
    assert run_id_from_environment({"CI_PIPELINE_ID": "77"}) == "gitlab-77"
    assert run_id_from_environment({"ATTESTKIT_RUN_ID": "mine", "CI_PIPELINE_ID": "77"}) == "mine"
    with pytest.raises(UsageError):
        run_id_from_environment({"ATTESTKIT_RUN_ID": "a\nb"})


def test_finalize_rules_on_a_hand_made_draft() -> None:
    draft = {**new_draft("r"), "steps": _steps("a", "a")}
    with pytest.raises(DraftRefused, match="more than once"):
        draft_for_finalize(draft, "d.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@given(
    st.dictionaries(st.sampled_from(["steps", "attestkit_draft", "x"]), json_values, max_size=3),
    st.none() | st.text(min_size=1, max_size=5),
)
def test_malformed_drafts_are_refused_never_crash(draft: dict[str, Any], run_id: str | None) -> None:
    for call in (
        lambda: draft_for_record(draft, "d.json", run_id=run_id, step_name="s", generated_id="g"),
        lambda: draft_for_finalize(draft, "d.json"),
    ):
        try:
            call()
        except UsageError as exc:
            assert "d.json" in str(exc)


step_names = st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 2), st.none())


@given(
    st.lists(st.fixed_dictionaries({}, optional={"name": step_names}), max_size=4),
    st.one_of(st.just("attestkit/v2"), st.text(max_size=12), st.integers(-9, 9), st.none()),
    st.one_of(st.text(max_size=5), st.integers(-9, 9), st.none()),
)
def test_declared_receipts_never_crash_the_verifier(steps: list[dict[str, Any]], declared: Any, run_id: Any) -> None:
    key = PrivateKey.from_seed(bytes(32))
    receipt = _signed(make_receipt(steps=steps, receipt_format=declared, run_id=run_id), key)
    result = verify_receipt(receipt, trusted_keys=[key.public_key], now=parse_rfc3339(NOW))
    names = [s.get("name") for s in steps]
    well_formed = (
        declared == "attestkit/v2"
        and isinstance(run_id, str)
        and run_id != ""
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    )
    assert result.valid is well_formed


def test_an_older_draft_once_finalized_refuses_a_late_step(workspace: Path) -> None:
    (workspace / ".attest").mkdir()
    write_json(workspace / DRAFT, {"steps": [make_receipt()["steps"][0]]})
    assert _finalize(workspace, "r.json").code == 0
    late = _record(workspace, "late")
    assert late.code == 2 and "the draft's run (no run id) was finalized at " in late.err
    assert _record(workspace, "next", "--run-id", "next-run").code == 0
