"""The docs' walkthroughs, run exactly as written (issue 22.6).

Each line of the shell block is run by bash in a fresh directory that holds the repository's
``vectors/`` (as a checkout does), with the installed ``attestkit`` first on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

KEYS_DOC = ROOT / "docs" / "keys.md"


def _block(doc: Path, heading: str) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    body = section[section.index("```sh\n") + len("```sh\n") :]
    return [line for line in body[: body.index("```")].splitlines() if line.strip() and not line.startswith("#")]


def _run(lines: list[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTESTKIT_", "ATTEST_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = []
    for line in lines:
        proc = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{line!r} exited {proc.returncode}: {proc.stderr}"
        done.append(proc)
    return done


def test_rotation_walkthrough_as_written(tmp_path: Path) -> None:
    lines = _block(KEYS_DOC, "### Rotation walkthrough")
    assert lines[0].startswith("attestkit keys generate") and lines[-1].startswith("attestkit verify old.json new.json")
    # A copy, as a checkout has it: a link would lead outputs outside the working directory.
    shutil.copytree(ROOT / "vectors" / "demo", tmp_path / "vectors" / "demo", symlinks=True)
    results = _run(lines, tmp_path)
    verified = results[-1].stdout.splitlines()
    assert [line.split()[0] for line in verified if line.startswith(("VALID", "INVALID"))] == ["VALID", "VALID"]
    assert verified[-1] == "2 valid, 0 invalid, 0 errors"
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "attestkit"), "keys", "list", "--keyring", "ring.yaml", "--json"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [r["identity"] for r in rows] == ["ci-system@company.com"] * 2
    assert rows[0]["status"].startswith("active until") and rows[1]["status"] == "active"
    assert not (ROOT / "vectors" / "demo" / "draft.json").exists()  # everything was written in tmp_path
