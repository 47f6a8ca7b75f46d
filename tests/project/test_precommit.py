"""The pre-commit hooks, run by pre-commit itself (`run` with this checkout pinned by `rev`) in a scratch repository.

The hook environment is a real pre-commit install (a virtualenv, `pip install` of this
repository) made without network: pip reads only the wheelhouse the Makefile fetched
(PIP_NO_INDEX, PIP_FIND_LINKS), the way docs/ci.md tells air-gapped users to do it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from attestkit.core.receipt.signing import sign_receipt
from tests.conftest import IN_CI, ROOT, make_receipt, write_json
from tests.project.test_action import _wheelhouse, checkout_copy
from tests.scale_corpus import TRUSTED, UNTRUSTED

pytestmark = pytest.mark.slow  # runs pre-commit, which builds the hook's venv

NOW_KEYRING = """version: 1
keys:
  - public_key: {trusted}
    identity: ci@example.com
    not_after: 2099-01-01T00:00:00Z
"""
SOON = """  - public_key: {other}
    identity: old-ci@example.com
    not_after: {when}
"""


def _pre_commit() -> str:
    exe = shutil.which("pre-commit", path=str(Path(os.sys.executable).parent))  # type: ignore[attr-defined]
    if exe is None:
        if IN_CI:
            pytest.fail("pre-commit is not installed (the test extra installs it)")
        pytest.skip("pre-commit not installed")
    return exe


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("pre-commit-home")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ATTESTKIT_", "PRE_COMMIT", "GIT_"))}
    base.update(
        PRE_COMMIT_HOME=str(home),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(_wheelhouse()),
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        VIRTUALENV_NO_DOWNLOAD="1",
    )
    return base


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("scratch")
    (root / ".attest").mkdir()
    (root / ".attest" / "keyring.yaml").write_text(NOW_KEYRING.format(trusted=TRUSTED.public_key.text))
    (root / "receipts").mkdir()
    write_json(root / "receipts" / "release.json", sign_receipt(make_receipt(), TRUSTED))
    write_json(root / "receipts" / "other-signer.json", sign_receipt(make_receipt(), UNTRUSTED))
    tampered = sign_receipt(make_receipt(), TRUSTED)
    tampered["total_duration_secs"] = 1.0
    write_json(root / "receipts" / "tampered.json", tampered)
    (root / "policy").mkdir()
    shutil.copy(ROOT / "docs" / "examples" / "attest.rego", root / "policy" / "attest.rego")
    (root / "policy" / "broken.rego").write_text("package attest.verification\n\nallow if {\n")
    (root / "expiring-keyring.yaml").write_text(
        NOW_KEYRING.format(trusted=TRUSTED.public_key.text)
        + SOON.format(other=UNTRUSTED.public_key.text, when="2026-01-01T00:00:00Z")
    )
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "scratch"], cwd=root, check=True, env=env)
    return root


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """This checkout's working state as one commit, the `rev` the tests pin."""
    target = checkout_copy(tmp_path_factory.mktemp("hooks") / "attestkit")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "snapshot"]):
        subprocess.run(command, cwd=target, check=True, env=env, capture_output=True)
    return target


def run_hooks(hooks_repo: Path, repo: Path, env: dict[str, str], *files: str) -> subprocess.CompletedProcess[str]:
    """``pre-commit run`` of every hook of this checkout, pinned by commit as users pin it, on *files* of *repo*.

    The hook environment is installed once, in the module's ``PRE_COMMIT_HOME``, and reused by later calls.
    """
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hooks_repo, check=True, env=env, capture_output=True, text=True
    ).stdout.strip()
    hooks = [h["id"] for h in yaml.safe_load((hooks_repo / ".pre-commit-hooks.yaml").read_text())]
    config = repo.parent / f"{repo.name}-pre-commit-config.yaml"
    config.write_text(
        yaml.safe_dump({"repos": [{"repo": str(hooks_repo), "rev": rev, "hooks": [{"id": h} for h in hooks]}]})
    )
    selection = ["--files", *files] if files else ["--all-files"]
    return subprocess.run(
        [_pre_commit(), "run", "--config", str(config), "--verbose", "--color", "never", *selection],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _sections(stdout: str) -> dict[str, str]:
    """Each hook's part of pre-commit's output, by hook name."""
    names = ("attestkit policy check", "attestkit verify", "attestkit keys check")
    parts: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        head = next((n for n in names if line.startswith(n + ".")), None)
        if head is not None:
            current = head
        if current is not None:
            parts[current] = parts.get(current, "") + line + "\n"
    return parts


def test_hooks_pass_on_good_files(hooks_repo: Path, repo: Path, env: dict[str, str]) -> None:
    run = run_hooks(hooks_repo, repo, env, "policy/attest.rego", "receipts/release.json", ".attest/keyring.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    parts = _sections(run.stdout)
    assert set(parts) == {"attestkit policy check", "attestkit verify", "attestkit keys check"}, run.stdout
    assert all("Passed" in part.splitlines()[0] for part in parts.values()), run.stdout


def test_hooks_fail_on_bad_files(hooks_repo: Path, repo: Path, env: dict[str, str]) -> None:
    run = run_hooks(hooks_repo, repo, env)
    assert run.returncode == 1, run.stdout + run.stderr
    parts = _sections(run.stdout)
    policy, verify, keys = parts["attestkit policy check"], parts["attestkit verify"], parts["attestkit keys check"]
    assert "Failed" in policy.splitlines()[0] and "broken.rego" in policy
    assert "Failed" in verify.splitlines()[0] and "INVALID" in verify
    assert "tampered.json" in verify and "other-signer.json" in verify and "attest.rego" not in verify
    assert "Failed" in keys.splitlines()[0]
    assert f"expiring-keyring.yaml: key {UNTRUSTED.public_key.key_id} (old-ci@example.com) expired" in keys


def test_local_hook_without_install(repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The no-install route for machines without a package index: a `repo: local` hook on an installed attestkit."""
    config = tmp_path / "local.yaml"
    bin_dir = str(Path(os.sys.executable).parent)  # type: ignore[attr-defined]
    config.write_text(
        "repos:\n  - repo: local\n    hooks:\n"
        "      - {id: attestkit-keys-check, name: attestkit keys check, entry: attestkit keys check --,"
        " language: system, files: 'keyring[^/]*\\.ya?ml$'}\n"
    )
    local_env = {**env, "PATH": bin_dir + os.pathsep + env.get("PATH", "")}
    result = subprocess.run(
        [_pre_commit(), "run", "--config", str(config), "--color", "never", "--files", "expiring-keyring.yaml"],
        cwd=repo,
        env=local_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "expired" in result.stdout, result.stdout + result.stderr


def test_keys_check_cli(cli: object, tmp_path: Path) -> None:
    ring = tmp_path / "keyring.yaml"
    ring.write_text(
        NOW_KEYRING.format(trusted=TRUSTED.public_key.text)
        + SOON.format(other=UNTRUSTED.public_key.text, when="2026-12-10T00:00:00Z")
    )
    run = cli  # the installed command, in a subprocess
    soon = run("keys", "check", str(ring), "--now", "2026-12-01T00:00:00Z", "--json")  # type: ignore[operator]
    assert soon.code == 1
    (row,) = [json.loads(line) for line in soon.out.splitlines()]
    assert row["status"] == "expiring" and row["key_id"] == UNTRUSTED.public_key.key_id and row["keyring"] == str(ring)
    assert run("keys", "check", str(ring), "--now", "2026-12-01T00:00:00Z", "--within", "1d").code == 0  # type: ignore[operator]
    late = run("keys", "check", str(ring), "--now", "2026-12-20T00:00:00Z")  # type: ignore[operator]
    assert late.code == 1 and "expired 10d ago" in late.out, late.out
    missing = run("keys", "check", str(tmp_path / "nope.yaml"))  # type: ignore[operator]
    assert missing.code == 2 and "Traceback" not in missing.err and len(missing.err.strip().splitlines()) == 1
    assert run("keys", "check", str(ring), "--within", "soon").code == 2  # type: ignore[operator]


def test_expiring_keys_library() -> None:
    from datetime import timedelta

    from attestkit.core.timeutil import parse_rfc3339
    from attestkit.core.trust.expiry import expiring_keys
    from attestkit.core.trust.keyring import parse_keyring

    text = (
        NOW_KEYRING.format(trusted=TRUSTED.public_key.text)
        + SOON.format(other=UNTRUSTED.public_key.text, when="2026-12-10T00:00:00Z")
        + "    revoked_at: 2026-06-01T00:00:00Z\n    reason: retired\n"
    )
    store = parse_keyring(text)
    assert (
        expiring_keys(store, parse_rfc3339("2026-12-09T00:00:00Z"), timedelta(days=30)) == []
    )  # revoked: not an expiry
    unrevoked = parse_keyring(NOW_KEYRING.format(trusted=TRUSTED.public_key.text))
    assert [f.status for f in expiring_keys(unrevoked, parse_rfc3339("2098-12-15T00:00:00Z"), timedelta(days=30))] == [
        "expiring"
    ]
    assert [f.status for f in expiring_keys(unrevoked, parse_rfc3339("2099-02-01T00:00:00Z"), timedelta(0))] == [
        "expired"
    ]
    with pytest.raises(ValueError):
        expiring_keys(unrevoked, parse_rfc3339("2099-02-01T00:00:00Z"), timedelta(days=-1))


def test_a_file_named_like_an_option_stays_a_file(hooks_repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Adversarial review: a committed ``--public-key=evil-receipt.yaml`` (matching the hook's ``files:``)
    reached `attestkit verify` as an option, and a link beside it (left out by ``types: [file]``)
    named the attacker's key: a forged receipt passed the hook."""
    from attestkit.core.crypto.keys import PrivateKey

    repo = tmp_path / "scratch"
    (repo / ".attest").mkdir(parents=True)
    (repo / ".attest" / "keyring.yaml").write_text(NOW_KEYRING.format(trusted=TRUSTED.public_key.text))
    attacker = PrivateKey.from_seed(b"\x66" * 32)
    (repo / "receipts").mkdir()
    write_json(repo / "receipts" / "deploy.json", sign_receipt(make_receipt(), attacker))
    (repo / "attacker.pub").write_text(attacker.public_key.text + "\n")
    (repo / "evil-receipt.yaml").symlink_to("attacker.pub")
    (repo / "--public-key=evil-receipt.yaml").write_text("")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "evil"]):
        subprocess.run(command, cwd=repo, check=True, env=env, capture_output=True)
    run = run_hooks(hooks_repo, repo, env)
    verify = _sections(run.stdout)["attestkit verify"]
    assert run.returncode == 1 and "Failed" in verify.splitlines()[0], run.stdout + run.stderr
    assert "deploy.json" in verify and "VALID" not in verify.replace("INVALID", ""), verify
