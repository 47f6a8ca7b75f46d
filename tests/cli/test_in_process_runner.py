"""The in-process CLI runner the suite uses answers exactly as the console script does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from tests.conftest import NOW, make_receipt, run_cli_in_process, run_cli_process, write_json


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    key = PrivateKey.from_seed(bytes(range(32)))
    (tmp_path / "k.pub").write_text(key.public_key.text + "\n")
    write_json(tmp_path / "ok.json", sign_receipt(make_receipt(), key))
    bad = sign_receipt(make_receipt(), key)
    bad["steps"][0]["exit_code"] = 1
    write_json(tmp_path / "bad.json", bad)
    (tmp_path / "broken.json").write_text('{"a": 1, "a": 2}')
    (tmp_path / "a.txt").write_bytes(b"hello\n")
    return tmp_path


CASES = [
    ("verify", "ok.json", "--public-key", "k.pub", "--now", NOW),
    ("verify", "ok.json", "bad.json", "--public-key", "k.pub", "--now", NOW, "--json"),
    ("verify", "broken.json", "--public-key", "k.pub"),
    ("verify", "missing.json", "--public-key", "k.pub"),
    ("verify", "ok.json", "--no-such-flag"),
    ("verify", "-", "--public-key", "k.pub", "--now", NOW),
    ("hash", "a.txt"),
    ("--help",),
    ("verify", "--help"),
    ("--version",),
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c)[:40] for c in CASES])
def test_in_process_equals_child_process(corpus: Path, args: tuple[str, ...]) -> None:
    stdin = (corpus / "ok.json").read_bytes()
    child = run_cli_process(args, cwd=corpus, stdin=stdin, env={"COLUMNS": "100"})
    inner = run_cli_in_process(args, cwd=corpus, stdin=stdin, env={"COLUMNS": "100"})
    assert (inner.code, inner.out, inner.err) == (child.code, child.out, child.err)


def test_in_process_run_restores_the_test_process(corpus: Path) -> None:
    before = (os.getcwd(), dict(os.environ))
    run_cli_in_process(("verify", "ok.json", "--public-key", "k.pub"), cwd=corpus, env={"ATTESTKIT_X": "1"})
    assert (os.getcwd(), dict(os.environ)) == before
