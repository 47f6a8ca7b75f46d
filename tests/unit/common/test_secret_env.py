"""Build steps never see attestkit's secrets, and receipts never record them (issue 15 item 6).

Every test runs real steps through the installed command: a step that dumps its environment
or reads the key by name gets nothing, and neither the receipt nor the draft holds a secret.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.adapters import files
from attestkit.adapters.profiles import PROFILES
from attestkit.adapters.runner import record_step, run_command, run_pipeline
from attestkit.core.produce.pipeline import parse_pipeline
from attestkit.core.secret_env import (
    SECRET_ENV_NAMES,
    child_environment,
    secret_names,
)
from attestkit.errors import PipelineError, UsageError
from tests.conftest import CliResult

PASSPHRASE = "pass-phrase-SECRET-1"
TOKEN = "attest_key_SECRET_TOKEN_2"
HOOK = "whsec_SECRET_HOOK_3"

# A step that writes its whole environment, and each secret looked up by name, to dist/.
DUMP = (
    f"{sys.executable} -c \"import json, os; os.makedirs('dist', exist_ok=True);"
    " open('dist/env.json', 'w').write(json.dumps(dict(os.environ)))\""
    ' && printf \'%s|%s|%s\' "$ATTESTKIT_SIGNING_KEY" "$ATTESTKIT_KEY_PASSPHRASE" "$ATTEST_TOKEN" > dist/probe.txt'
)


@pytest.fixture()
def project(tmp_path: Path, cli: Callable[..., CliResult]) -> Path:
    made = cli("keys", "generate", "--out-dir", str(tmp_path / "k"), env={"ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE})
    assert made.code == 0, made.err
    (tmp_path / "attest.yaml").write_text(
        f'version: "0.1"\nsteps:\n  dump:\n    run: {json.dumps(DUMP)}\n    outputs: [dist/]\n'
    )
    return tmp_path


def _secret_env(project: Path) -> dict[str, str]:
    return {
        "ATTESTKIT_SIGNING_KEY": (project / "k" / "attestkit.key").read_text(),
        "ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE,
        "ATTEST_TOKEN": TOKEN,
        "CONTINUM_API_KEY": "ck_live_SECRET_4",
        "HOOK_SECRET": HOOK,
        "ATTESTKIT_SECRET_ENV": "HOOK_SECRET",
        "HARMLESS": "visible",
    }


def _secrets(env: dict[str, str]) -> list[str]:
    key_body = env["ATTESTKIT_SIGNING_KEY"].splitlines()[1]  # a line of the PEM body
    return [key_body, PASSPHRASE, TOKEN, "ck_live_SECRET_4", HOOK]


def _assert_clean(texts: list[str], env: dict[str, str]) -> None:
    for text in texts:
        for secret in _secrets(env):
            assert secret not in text


def test_run_steps_see_no_secret_and_the_receipt_holds_none(project: Path, cli: Callable[..., CliResult]) -> None:
    env = _secret_env(project)
    result = cli("run", "-o", "r.json", "--env", "HARMLESS", cwd=project, env=env)
    assert result.code == 0, result.err
    seen = json.loads((project / "dist" / "env.json").read_text())
    assert seen["HARMLESS"] == "visible"  # the rest of the environment is passed on
    assert not set(seen) & (SECRET_ENV_NAMES | {"HOOK_SECRET"})
    assert (project / "dist" / "probe.txt").read_text() == "||"
    receipt_text = (project / "r.json").read_text()
    _assert_clean([receipt_text, (project / "dist" / "env.json").read_text(), result.out, result.err], env)
    assert json.loads(receipt_text)["steps"][0]["environment_snapshot"] == {"HARMLESS": "visible"}
    verified = cli("verify", "r.json", "--public-key", "k/attestkit.pub", "--artifacts", ".", cwd=project)
    assert verified.code == 0, verified.out + verified.err


@pytest.mark.parametrize("name", ["ATTESTKIT_SIGNING_KEY", "ATTESTKIT_KEY_PASSPHRASE", "ATTEST_TOKEN", "HOOK_SECRET"])
def test_run_refuses_to_snapshot_a_secret(project: Path, cli: Callable[..., CliResult], name: str) -> None:
    env = _secret_env(project)
    result = cli("run", "-o", "r.json", "--env", f"HARMLESS,{name}", cwd=project, env=env)
    assert result.code == 2 and name in result.err and "--env" in result.err
    assert not (project / "dist").exists() and not (project / "r.json").exists()
    _assert_clean([result.out, result.err], env)


@pytest.mark.parametrize("where", ["pipeline", "step"])
def test_pipeline_env_may_not_set_a_secret(project: Path, cli: Callable[..., CliResult], where: str) -> None:
    if where == "pipeline":
        text = 'version: "0.1"\nenv:\n  ATTEST_TOKEN: literal\nsteps:\n  a: {run: "touch ran"}\n'
    else:
        text = 'version: "0.1"\nsteps:\n  a: {run: "touch ran", env: {ATTESTKIT_SIGNING_KEY: x}}\n'
    (project / "attest.yaml").write_text(text)
    result = cli("run", "--key", "k/attestkit.key", cwd=project, env={"ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE})
    assert result.code == 2 and "secret" in result.err and not (project / "ran").exists()
    with pytest.raises(PipelineError, match="secret"):
        parse_pipeline(text.encode())


def test_pipeline_env_may_not_set_a_declared_secret(project: Path, cli: Callable[..., CliResult]) -> None:
    (project / "attest.yaml").write_text('version: "0.1"\nsteps:\n  a: {run: "touch ran", env: {HOOK_SECRET: x}}\n')
    result = cli("run", cwd=project, env=_secret_env(project))
    assert result.code == 2 and "HOOK_SECRET" in result.err and "ATTESTKIT_SECRET_ENV" in result.err
    assert not (project / "ran").exists()


def test_record_steps_see_no_secret(project: Path, cli: Callable[..., CliResult]) -> None:
    env = _secret_env(project)
    record = ["record", "--receipt", ".attest/draft.json", "--name", "dump", "--outputs", "dist/", "--env", "HARMLESS"]
    result = cli(*record, "--shell", "--", DUMP, cwd=project, env=env)
    assert result.code == 0, result.err
    seen = json.loads((project / "dist" / "env.json").read_text())
    assert seen["HARMLESS"] == "visible" and not set(seen) & (SECRET_ENV_NAMES | {"HOOK_SECRET"})
    assert (project / "dist" / "probe.txt").read_text() == "||"
    finalized = cli("receipt", "finalize", "--receipt", ".attest/draft.json", "-o", "r.json", cwd=project, env=env)
    assert finalized.code == 0, finalized.err
    _assert_clean([(project / "r.json").read_text(), (project / ".attest" / "draft.json").read_text()], env)


def test_record_refuses_to_snapshot_a_secret(project: Path, cli: Callable[..., CliResult]) -> None:
    env = _secret_env(project)
    for names in ("ATTESTKIT_SIGNING_KEY", "HARMLESS,ATTESTKIT_KEY_PASSPHRASE", "HOOK_SECRET"):
        result = cli("record", "--receipt", ".attest/draft.json", "--name", "x", "--env", names, "--",
                     "touch", "ran", cwd=project, env=env)  # fmt: skip
        assert result.code == 2 and "secret" in result.err, result.err
        _assert_clean([result.out, result.err], env)
    assert not (project / "ran").exists() and not (project / ".attest" / "draft.json").exists()


def test_library_runner_strips_secrets(tmp_path: Path) -> None:
    env = {"ATTESTKIT_SIGNING_KEY": "pem", "CONTINUUM_PASSWORD": "pw", "PATH": "/usr/bin:/bin", "KEEP": "1"}
    sink = io.BytesIO()
    code = run_command(
        [sys.executable, "-c", "import os; print(sorted(k for k in os.environ if k in ('ATTESTKIT_SIGNING_KEY', 'CONTINUUM_PASSWORD', 'KEEP')))"],
        shell=False, env=env, cwd=str(tmp_path), prefix="s", output=sink,
    )  # fmt: skip
    assert code == 0 and sink.getvalue() == b"[s] ['KEEP']\n"
    with pytest.raises(UsageError, match="ATTEST_TOKEN"):
        record_step(name="s", command=["true"], shell=False, inputs=(), outputs=(), env=env,
                    snapshot_names=["ATTEST_TOKEN"], root=str(tmp_path))  # fmt: skip
    pipeline = parse_pipeline(b'version: "0.1"\nsteps:\n  a: {run: "true"}\n')
    with pytest.raises(UsageError, match="CONTINUE_HUB_API_KEY"):
        run_pipeline(pipeline, jobs=1, environ=env, snapshot_names=["CONTINUE_HUB_API_KEY"], root=str(tmp_path))


def test_every_credential_attestkit_reads_is_a_secret() -> None:
    assert {files.SIGNING_KEY_ENV, files.PASSPHRASE_ENV} <= SECRET_ENV_NAMES
    for profile in PROFILES.values():
        assert profile.token_env in SECRET_ENV_NAMES
        assert set(profile.basic_env or ()) <= SECRET_ENV_NAMES
    declared = {"ATTESTKIT_SECRET_ENV": "A, B C", "A": "1", "B": "2", "C": "3", "D": "4"}
    assert {"A", "B", "C"} <= secret_names(declared)
    assert child_environment(declared) == {"ATTESTKIT_SECRET_ENV": "A, B C", "D": "4"}


def test_the_documented_pipeline_parses() -> None:
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    pipeline = parse_pipeline(example.encode(), "docs/pipeline.md")
    assert [s.name for s in pipeline.steps] == ["build", "test"]
