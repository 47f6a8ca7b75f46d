"""Producing receipts: record, finalize, run, pipeline validation, reports, interrupts."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.core.produce.pipeline import parse_pipeline
from attestkit.core.produce.producer import summarize_junit, summarize_trivy
from attestkit.errors import PipelineError, UsageError
from tests.conftest import CliResult, _cli_command

PIPELINE = """version: "0.1"
name: demo
env:
  NODE_ENV: production
steps:
  build:
    run: mkdir -p dist && printf app > dist/app.bin
    inputs: [src/]
    outputs: [dist/]
  test:
    run: test -f dist/app.bin
    inputs: [dist/app.bin]
    needs: [build]
  lint:
    run: "true"
    inputs: [src/main.c]
"""


@pytest.fixture()
def project(tmp_path: Path, cli: Callable[..., CliResult]) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.c").write_text("int main;")
    (tmp_path / "attest.yaml").write_text(PIPELINE)
    assert cli("keys", "generate", "--out-dir", str(tmp_path / "k")).code == 0
    return tmp_path


def _verify(cli: Callable[..., CliResult], project: Path, receipt: str, *extra: str) -> CliResult:
    return cli("verify", receipt, "--public-key", str(project / "k" / "attestkit.pub"), "--artifacts", ".",
               "--pipeline", "attest.yaml", "--policy", "steps-succeeded", *extra, cwd=project)  # fmt: skip


def test_run_produces_a_verifiable_receipt(project: Path, cli: Callable[..., CliResult]) -> None:
    result = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=project)
    assert result.code == 0, result.err
    assert "[build]" not in result.err
    receipt = json.loads((project / "r.json").read_text())
    assert [s["name"] for s in receipt["steps"]] == ["build", "test", "lint"]
    build = receipt["steps"][0]
    assert build["outputs"][0]["path"] == "dist/" and build["outputs"][0]["files"] == {
        "app.bin": build["outputs"][0]["files"]["app.bin"]
    }
    assert build["environment_snapshot"] == {"NODE_ENV": "production"}
    assert set(receipt["environment"]) == {"host_os", "host_arch", "user", "working_directory"}
    assert _verify(cli, project, "r.json", "--check-inputs").code == 0
    (project / "dist" / "app.bin").write_text("tampered")
    failed = _verify(cli, project, "r.json")
    assert failed.code == 1 and "changed: app.bin" in failed.out


def test_run_default_output_and_fail_fast(project: Path, cli: Callable[..., CliResult]) -> None:
    (project / "attest.yaml").write_text(PIPELINE.replace("run: test -f dist/app.bin", "run: exit 4"))
    result = cli("run", "--key", "k/attestkit.key", "--jobs", "1", cwd=project)
    assert result.code == 1 and "failed: test" in result.err
    (path,) = (project / ".attest" / "receipts").iterdir()
    assert path.name.startswith("receipt_") and path.name.endswith("Z.json")
    steps = {s["name"]: s["exit_code"] for s in json.loads(path.read_text())["steps"]}
    assert steps["test"] == 4
    assert _verify(cli, project, str(path)).code == 1


def test_run_without_key_runs_nothing(project: Path, cli: Callable[..., CliResult]) -> None:
    result = cli("run", cwd=project)
    assert result.code == 2 and "signing key" in result.err and not (project / "dist").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version: "0.1"\nsteps:\n  a: {run: x, needs: [b]}\n  b: {run: y, needs: [a]}\n', "dependency cycle"),
        ('version: "0.1"\nsteps:\n  a: {run: x, needs: [ghost]}\n', "needs unknown step 'ghost'"),
        ('version: "0.1"\nsteps:\n  a: {inputs: [x]}\n', "step 'a': missing run"),
        ('version: "0.1"\nsteps:\n  a: {run: x, colour: red}\n', "step 'a': unknown field 'colour'"),
        ('version: "0.1"\nsteps:\n  a: {run: x, outputs: [../out]}\n', "'..' component"),
        ('version: "0.2"\nsteps:\n  a: {run: x}\n', "version must be"),
        ('version: "0.1"\nsteps: [run: x\n', "invalid YAML"),
    ],
)
def test_pipeline_rejections(text: str, message: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text.encode(), "attest.yaml")
    assert message in str(info.value)


def test_bad_pipeline_rejected_before_running(project: Path, cli: Callable[..., CliResult]) -> None:
    (project / "attest.yaml").write_text(
        'version: "0.1"\nsteps:\n  a: {run: "touch ran", needs: [b]}\n  b: {run: "touch ran", needs: [a]}\n'
    )
    result = cli("run", "--key", "k/attestkit.key", cwd=project)
    assert result.code == 2 and "cycle" in result.err and not (project / "ran").exists()


def test_pipeline_show_levels_and_critical_path(project: Path, cli: Callable[..., CliResult]) -> None:
    result = cli("pipeline", "show", cwd=project)
    assert result.out.splitlines() == ["level 1: build, lint", "level 2: test", "critical path: build -> test"]
    listed = parse_pipeline(b'version: "0.1"\nsteps:\n  - {name: a, run: x}\n  - {name: b, run: y, needs: a}\n')
    assert listed.levels() == [["a"], ["b"]]


def _chain(count: int, *, reverse: bool, cycle: bool = False) -> bytes:
    """A pipeline of *count* steps in one ``needs`` chain: s0 <- s1 <- ... (or s0 -> s1 -> ... reversed)."""
    lines = ['version: "0.1"', "steps:"]
    for index in range(count):
        need = index + 1 if reverse else index - 1
        if cycle and reverse and index == count - 1:
            need = 0
        needs = f", needs: [s{need}]" if 0 <= need < count else ""
        lines.append(f'  s{index}: {{run: "true"{needs}}}')
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("reverse", [False, True])
def test_long_needs_chains_in_the_library(reverse: bool) -> None:
    pipeline = parse_pipeline(_chain(5000, reverse=reverse))
    order = [f"s{i}" for i in range(5000)]
    expected = order[::-1] if reverse else order
    assert pipeline.levels() == [[name] for name in expected]
    assert pipeline.critical_path() == expected
    with pytest.raises(PipelineError, match=r"dependency cycle s0 -> s1 -> .* -> s4999 -> s0$"):
        parse_pipeline(_chain(5000, reverse=True, cycle=True))


@pytest.mark.parametrize("reverse", [False, True])
def test_pipeline_show_on_a_long_needs_chain(tmp_path: Path, cli: Callable[..., CliResult], reverse: bool) -> None:
    (tmp_path / "attest.yaml").write_bytes(_chain(5000, reverse=reverse))
    result = cli("pipeline", "show", cwd=tmp_path)
    assert result.code == 0 and result.err == "", result.err
    lines = result.out.splitlines()
    first = "s4999" if reverse else "s0"
    assert len(lines) == 5001 and lines[0] == f"level 1: {first}"
    assert lines[-1].startswith(f"critical path: {first} -> ") and lines[-1].count(" -> ") == 4999


def test_cycle_check_is_not_recursive() -> None:
    """A chain deeper than the interpreter's recursion limit is checked like any other."""
    depth = sys.getrecursionlimit() + 100
    assert len(parse_pipeline(_chain(depth, reverse=True)).steps) == depth


def test_run_on_a_reverse_chain_deeper_than_the_recursion_limit(project: Path, cli: Callable[..., CliResult]) -> None:
    (project / "attest.yaml").write_bytes(_chain(400, reverse=True))
    limit = sys.getrecursionlimit()
    # Running 1000+ processes takes long: the chain is made deeper than a lowered limit instead.
    sys.setrecursionlimit(len(inspect.stack(0)) + 250)
    try:
        result = cli("run", "--key", "k/attestkit.key", "-o", "r.json", cwd=project)
    finally:
        sys.setrecursionlimit(limit)
    assert result.code == 0, result.err
    steps = json.loads((project / "r.json").read_text())["steps"]
    assert [s["name"] for s in steps] == [f"s{i}" for i in range(400)]


def test_pipeline_step_bound(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    from attestkit.core.produce.pipeline import MAX_STEPS

    assert MAX_STEPS == 10_000
    assert len(parse_pipeline(_chain(MAX_STEPS, reverse=True)).steps) == MAX_STEPS
    (tmp_path / "big.yaml").write_bytes(_chain(MAX_STEPS + 1, reverse=False))
    result = cli("pipeline", "show", "big.yaml", cwd=tmp_path)
    assert result.code == 2 and result.out == ""
    assert result.err == "attestkit: error: big.yaml: 10001 steps; a pipeline file may have at most 10000\n"
    assert cli("run", "big.yaml", "--key", "k", cwd=tmp_path).code == 2


def test_record_and_finalize(project: Path, cli: Callable[..., CliResult]) -> None:
    env = {"NODE_ENV": "production", "API_TOKEN": "s3cr3t-value", "CI": "true"}
    record = ["record", "--receipt", ".attest/draft.json"]
    ok = cli(*record, "--name", "build", "--inputs", "src/", "attest.yaml", "--outputs", "dist/", "--env", "NODE_ENV,CI",
             "--", "sh", "-c", "mkdir -p dist && printf x > dist/a", cwd=project, env=env)  # fmt: skip
    assert ok.code == 0, ok.err
    passthrough = cli(*record, "--name", "check", "--", sys.executable, "-c", "raise SystemExit(5)", cwd=project)
    assert passthrough.code == 5
    missing = cli(*record, "--name", "package", "--outputs", "pkg.tgz", "--", "true", cwd=project)
    assert missing.code == 1 and "declared output pkg.tgz: does not exist" in missing.err
    shell = cli(*record, "--name", "shell", "--shell", "--", "echo hi > note.txt", cwd=project)
    assert shell.code == 0 and (project / "note.txt").exists()
    draft = json.loads((project / ".attest" / "draft.json").read_text())
    assert [s["exit_code"] for s in draft["steps"]] == [0, 5, 1, 0]
    assert draft["steps"][0]["environment_snapshot"] == {"CI": "true", "NODE_ENV": "production"}
    assert "s3cr3t-value" not in (project / ".attest" / "draft.json").read_text()
    (project / "junit.xml").write_text(
        '<testsuite tests="4" failures="0" errors="0" skipped="1"><testcase name="a"/><testcase name="b"/>'
        '<testcase name="c"/><testcase name="d"><skipped/></testcase></testsuite>'
    )
    (project / "trivy.json").write_text(json.dumps({"Results": [{"Vulnerabilities": [{"Severity": "HIGH"}]}]}))
    finalized = cli("receipt", "finalize", "--receipt", ".attest/draft.json", "--pipeline", "attest.yaml", "--attest", "test=junit.xml",
                    "--attest", "security=trivy.json", "-o", "final.json", cwd=project, env={"ATTESTKIT_SIGNING_KEY": (project / "k" / "attestkit.key").read_text()})  # fmt: skip
    assert finalized.code == 0, finalized.err
    receipt = json.loads((project / "final.json").read_text())
    assert receipt["attestations"]["test"]["predicate"]["test_results"] == {
        "total": 4,
        "passed": 3,
        "failed": 0,
        "skipped": 1,
    }
    assert receipt["attestations"]["security"]["predicate"]["results"]["vulnerabilities"]["high"] == 1
    verdict = _verify(cli, project, "final.json", "--policy", "require-tests", "--policy", "security-scan", "--json")
    violations = {v["policy"] for v in verdict.json_lines()[0]["policy_compliance"]["violations"]}
    assert verdict.code == 1 and violations == {"steps-succeeded"}


def test_record_usage_errors(project: Path, cli: Callable[..., CliResult]) -> None:
    assert cli("record", "--receipt", "d.json", "--name", "x", cwd=project).code == 2
    assert cli("record", "--name", "x", "--", "true", cwd=project).code == 2
    assert cli("record", "--receipt", "d.json", "--name", "x", "--bogus", "--", "true", cwd=project).code == 2
    assert cli("record", "--receipt", "d.json", "--name", "x", "--outputs", "/etc", "--", "true", cwd=project).code == 2


def test_reports() -> None:
    junit = b"""<testsuites><testsuite tests="2"><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>
    <testsuite><testcase name="c"/><testcase name="d"><error/></testcase><testcase name="e"><skipped/></testcase></testsuite></testsuites>"""
    assert summarize_junit(junit)["predicate"]["test_results"] == {"total": 5, "passed": 2, "failed": 2, "skipped": 1}
    with pytest.raises(UsageError, match="DTD"):
        summarize_junit(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite/>')
    with pytest.raises(UsageError, match="not a JUnit report"):
        summarize_junit(b"<html/>")
    counts = summarize_trivy(
        b'{"Results": [{"Vulnerabilities": [{"Severity": "CRITICAL"}, {"Severity": "UNKNOWN"}]}, {}]}'
    )
    assert counts["predicate"]["results"]["vulnerabilities"] == {
        "critical": 1,
        "high": 0,
        "medium": 0,
        "low": 0,
        "unknown": 1,
    }
    with pytest.raises(UsageError, match="not a Trivy severity"):
        summarize_trivy(b'{"Results": [{"Vulnerabilities": [{"Severity": "weird"}]}]}')
    with pytest.raises(UsageError):
        summarize_trivy(b"<xml/>")


def test_sigint_stops_steps_and_writes_no_receipt(project: Path) -> None:
    (project / "attest.yaml").write_text('version: "0.1"\nsteps:\n  slow:\n    run: sleep 30 && touch finished\n')
    process = subprocess.Popen([*_cli_command(), "run", "--key", "k/attestkit.key", "-o", "r.json"], cwd=project,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130 and b"no receipt was written" in err and b"Traceback" not in err
    assert not (project / "r.json").exists() and not (project / "finished").exists()
    assert os.path.exists(project / "attest.yaml")
