"""docs/pipeline.md runs (issue 22 item 6): its field tables are the validator's, its YAML is valid,
its example runs and verifies, and the semantics it states hold for real steps."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from attestkit.core.produce.pipeline import PIPELINE_FIELDS, STEP_FIELDS, PipelineError, parse_pipeline
from tests.conftest import ROOT
from tests.unit.produce.test_honest_drafts import _clean_env, _run

DOC = (ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", DOC, re.S)


def _table_fields(title: str) -> set[str]:
    section = DOC.split(title, 1)[1].split("\n\n", 2)[1]  # the table right after the title line
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def test_field_tables_are_exactly_the_validators_fields() -> None:
    assert _table_fields("Top level:") == PIPELINE_FIELDS
    assert _table_fields("Each step:") == STEP_FIELDS


def test_every_yaml_block_is_a_valid_pipeline_and_the_examples_use_every_field() -> None:
    assert len(YAML_BLOCKS) >= 2
    used_top: set[str] = set()
    used_step: set[str] = set()
    for block in YAML_BLOCKS:
        parse_pipeline(block.encode(), "docs/pipeline.md")
        used_top |= set(re.findall(r"^([a-z_]+):", block, re.M))
        used_step |= set(re.findall(r"^ {4}([a-z_]+):", block, re.M)) | set(
            re.findall(r"^ {2}- ([a-z_]+):", block, re.M)
        )
    assert used_top == PIPELINE_FIELDS
    assert used_step == STEP_FIELDS


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.txt").write_text("hello\n")
    (tmp_path / "attest.yaml").write_text(YAML_BLOCKS[0])
    assert _run(["keys", "generate", "--out-dir", ".", "--name", "ci"], tmp_path, _clean_env()).code == 0
    return tmp_path


def test_the_example_runs_as_written(site: Path) -> None:
    (block,) = SH_BLOCKS
    results = [_run(shlex.split(line)[1:], site, _clean_env()) for line in block.strip().splitlines()]
    assert [r.code for r in results] == [0, 0, 0], [r.err for r in results]
    assert results[0].out.splitlines() == ["level 1: build", "level 2: test", "critical path: build -> test"]
    receipt = json.loads((site / "receipt.json").read_text())
    steps = {s["name"]: s for s in receipt["steps"]}
    assert steps["build"]["environment_snapshot"] == {"SITE_LANG": "en"}
    assert steps["test"]["environment_snapshot"] == {"CHECK_MODE": "strict", "SITE_LANG": "en"}
    assert receipt["receipt_format"] == "attestkit/v2" and receipt["run_id"]


def test_stated_semantics(site: Path) -> None:
    # Working directory: where `run` started, not the pipeline file's directory.
    (site / "sub").mkdir()
    (site / "sub" / "p.yaml").write_text(
        'version: "0.1"\nsteps:\n  where: {run: "pwd > where.txt", outputs: [where.txt]}\n'
    )
    assert _run(["run", "sub/p.yaml", "--key", "ci.key", "-o", "w.json"], site, _clean_env()).code == 0
    assert (site / "where.txt").read_text().strip() == str(site.resolve())
    # --keep-going: independent steps run, dependents of a failed step are not run.
    (site / "k.yaml").write_text(
        'version: "0.1"\nsteps:\n  a: {run: "exit 3"}\n  b: {run: "touch b", needs: a}\n  c: {run: "touch c"}\n'
    )
    kept = _run(["run", "k.yaml", "--jobs", "1", "--keep-going", "--key", "ci.key", "-o", "k.json"], site, _clean_env())
    assert kept.code == 1 and kept.err.splitlines()[-1].endswith("failed: a; not run: b")
    assert (site / "c").exists() and not (site / "b").exists()
    fast = _run(["run", "k.yaml", "--jobs", "1", "--key", "ci.key", "-o", "f.json"], site, _clean_env())
    assert fast.code == 1 and fast.err.splitlines()[-1].endswith("failed: a; not run: b, c")
    # A missing input fails the step without running it; numbers in env are passed as text.
    (site / "m.yaml").write_text('version: "0.1"\nsteps:\n  m: {run: "touch ran", inputs: [absent], env: {N: 1.50}}\n')
    missing = _run(["run", "m.yaml", "--key", "ci.key", "-o", "m.json"], site, _clean_env())
    assert missing.code == 1 and not (site / "ran").exists()
    step = json.loads((site / "m.json").read_text())["steps"][0]
    assert "input absent: does not exist" in step["error"] and step["environment_snapshot"] == {"N": "1.5"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version: "0.1"\nsteps:\n  a: {run: x, output: [d/]}\n', "unknown field 'output'"),
        ('version: "0.1"\nsteps:\n  a: {run: x, env: {CI: true}}\n', "must be a string or number"),
        ('version: "0.1"\nsteps:\n  - {name: a, run: x}\n  - {name: a, run: y}\n', "duplicate step name"),
        ('version: "0.1"\nsteps: {}\n', "no steps"),
        ('version: "0.1"\nsteps:\n  - {run: x}\n', "needs a name"),
    ],
)
def test_stated_refusals(text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        parse_pipeline(text.encode())
