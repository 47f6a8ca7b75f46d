"""Issue 15.9: artifact checks cannot be won by swapping files and symlinks during the check.

A racing process flips ``dist/app.bin`` between a regular file and a symlink to a file outside
the artifacts directory whose digest the receipt records, and flips the parent directory
``pkg`` between a real directory and a symlink to an outside directory. The check must never
say VALID and never fail with an internal error: every race is a finding (exit 1).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.digest import hash_file, hash_tree
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339
from tests.conftest import NOW, CliResult, make_receipt, write_json

RACER = textwrap.dedent(
    """
    import os, sys
    root, outside = sys.argv[1], sys.argv[2]
    n = 0
    while True:
        n += 1
        # dist/app.bin: regular file <-> symlink to the outside file (atomic renames)
        link = os.path.join(root, "dist", f".l{n}")
        os.symlink(os.path.join(outside, "app.bin"), link)
        os.replace(link, os.path.join(root, "dist", "app.bin"))
        tmp = os.path.join(root, "dist", f".f{n}")
        with open(tmp, "wb") as f:
            f.write(b"inside")
        os.replace(tmp, os.path.join(root, "dist", "app.bin"))
        # pkg: directory <-> symlink to the outside directory
        real = os.path.join(root, f".pkg{n}")
        os.mkdir(real)
        with open(os.path.join(real, "app.bin"), "wb") as f:
            f.write(b"inside")
        old = os.path.join(root, f".old{n}")
        os.rename(os.path.join(root, "pkg"), old)
        os.rename(real, os.path.join(root, "pkg"))
        if os.path.islink(old):
            os.unlink(old)
        else:
            os.unlink(os.path.join(old, "app.bin"))
            os.rmdir(old)
        pkg_link = os.path.join(root, f".pl{n}")
        os.symlink(outside, pkg_link)
        os.replace(os.path.join(root, "pkg"), os.path.join(root, f".gone{n}"))
        os.rename(pkg_link, os.path.join(root, "pkg"))
        os.unlink(os.path.join(root, f".gone{n}", "app.bin"))
        os.rmdir(os.path.join(root, f".gone{n}"))
        # tree/x: regular file <-> symlink <-> FIFO inside a recorded directory
        x = os.path.join(root, "tree", "x")
        tmp = x + f".{n}"
        os.mkfifo(tmp)
        os.replace(tmp, x)
        os.symlink("elsewhere", tmp)
        os.replace(tmp, x)
        with open(tmp, "wb") as f:
            f.write(b"outside")
        os.replace(tmp, x)
    """
)
ALLOWED = {"escapes-tree", "digest-mismatch", "changed", "missing", "size-mismatch", "special-file", "wrong-kind"}


@pytest.fixture()
def raced(tmp_path: Path, key: PrivateKey) -> Iterator[tuple[Path, dict[str, Any]]]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.bin").write_bytes(b"outside")
    root = tmp_path / "art"
    (root / "dist").mkdir(parents=True)
    (root / "dist" / "app.bin").write_bytes(b"inside")
    (root / "pkg").symlink_to(outside)
    (root / "tree").mkdir()
    (root / "tree" / "x").write_bytes(b"outside")
    evil = hash_file(outside / "app.bin")
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = [
        {"path": "dist/app.bin", "hash": evil, "size_bytes": 7},
        {"path": "pkg/app.bin", "hash": evil, "size_bytes": 7},
        {"path": "tree/", "hash": "blake3:" + "00" * 32},
    ]
    signed = sign_receipt(receipt, key)
    racer = subprocess.Popen([sys.executable, "-c", RACER, str(root), str(outside)])
    try:
        yield root, signed
    finally:
        racer.kill()
        racer.wait()
    assert racer.returncode == -9, "the racer stopped early: the race was not run"


def test_swapping_files_and_symlinks_never_verifies_library(
    raced: tuple[Path, dict[str, Any]], key: PrivateKey
) -> None:
    root, signed = raced
    seen: set[str] = set()
    for _ in range(400):
        result = verify_receipt(signed, trusted_keys=[key.public_key], now=parse_rfc3339(NOW), artifacts_dir=str(root))
        assert not result.valid
        codes = {c.code for c in result.failed_checks}
        assert codes <= ALLOWED, codes
        seen |= codes
    assert "escapes-tree" in seen and "digest-mismatch" in seen


def test_swapping_files_and_symlinks_never_verifies_cli(
    raced: tuple[Path, dict[str, Any]], key: PrivateKey, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    root, signed = raced
    path = write_json(tmp_path / "r.json", signed)
    for _ in range(15):
        result = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--artifacts", str(root))
        assert result.code == 1, result
        assert "VALID" not in result.out.replace("INVALID", "")
        assert "internal error" not in result.err and "Traceback" not in result.err


def test_tree_digest_race_is_an_error_not_a_crash(raced: tuple[Path, dict[str, Any]]) -> None:
    from attestkit.errors import HashingError

    root, _ = raced
    for _ in range(200):
        try:
            hash_tree(root / "tree")
        except HashingError as exc:
            assert exc.code in ("changed", "special-file"), exc
