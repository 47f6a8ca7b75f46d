"""Digests of files and trees: official BLAKE3 vectors and b3sum cross-checks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from blake3 import blake3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.crypto.digest import (
    hash_file,
    hash_path,
    hash_path_with_size,
    hash_tree,
    manifest_bytes,
    tree_manifest,
)
from attestkit.errors import HashingError
from tests.conftest import external, load_json


def b3sum() -> str:
    path = shutil.which("b3sum")
    if path is None:
        pytest.skip("b3sum is not installed (.ci/run installs it)")
    return path


def test_official_blake3_vectors(tmp_path: Path) -> None:
    data = load_json(external("blake3/test_vectors.json"))
    for case in data["cases"]:
        path = tmp_path / f"in{case['input_len']}"
        path.write_bytes(bytes(i % 251 for i in range(case["input_len"])))
        assert hash_file(path) == "blake3:" + case["hash"][:64]


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 1 << 20, (1 << 20) + 1, 9 << 20])
def test_file_digest_equals_b3sum(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    out = subprocess.run([b3sum(), str(path)], capture_output=True, text=True, check=True).stdout
    assert hash_file(path) == "blake3:" + out.split()[0]


def test_100_mib_file_equals_b3sum(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for i in range(100):
            handle.write(chunk[i:] + chunk[:i])
    out = subprocess.run([b3sum(), str(path)], capture_output=True, text=True, check=True).stdout
    assert hash_file(path) == "blake3:" + out.split()[0]


def _b3sum_tree_digest(root: Path) -> str:
    files = sorted(
        (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
        key=lambda s: s.encode(),
    )
    if not files:
        return "blake3:" + blake3(b"").hexdigest()
    # "./" keeps b3sum from reading a file named "-" as standard input; it is stripped again below.
    out = subprocess.run([b3sum(), "--", *(f"./{f}" for f in files)], cwd=root, capture_output=True, check=True).stdout
    lines = [line.replace(b"  ./", b"  ", 1) for line in out.splitlines(keepends=True)]
    lines.sort(key=lambda line: line.split(b"  ", 1)[1])
    return "blake3:" + blake3(b"".join(lines)).hexdigest()


def _make_tree(root: Path) -> None:
    (root / "a b" / "deep" / "deeper").mkdir(parents=True)
    (root / "é").mkdir()
    (root / "empty-dir").mkdir()
    (root / "top.txt").write_bytes(b"top")
    (root / "a b" / "x y.bin").write_bytes(os.urandom(3000))
    (root / "a b" / "deep" / "deeper" / "z").write_bytes(b"")
    (root / "é" / "日本.txt").write_text("unicode")
    (root / "B").write_bytes(b"capital sorts first")


def test_tree_digest_equals_b3sum_manifest(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    assert hash_tree(tmp_path) == _b3sum_tree_digest(tmp_path)
    digest, size = hash_path_with_size(tmp_path)
    assert digest == hash_tree(tmp_path) and size == 3 + 3000 + 7 + 19


def test_manifest_lines_sorted_as_utf8_bytes(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    paths = [e.relpath for e in tree_manifest(tmp_path)]
    assert paths == sorted(paths, key=lambda p: p.encode())
    assert "a b/deep/deeper/z" in paths and not any(p.startswith("./") for p in paths)


def test_empty_tree_is_digest_of_empty_string(tmp_path: Path) -> None:
    (tmp_path / "only-dirs" / "inner").mkdir(parents=True)
    assert hash_tree(tmp_path) == "blake3:" + blake3(b"").hexdigest()


def test_symlinks_are_hashed_as_links(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_bytes(b"data")
    os.symlink("target.txt", tmp_path / "link")
    os.symlink("/etc/passwd", tmp_path / "outside")
    os.symlink("missing", tmp_path / "dangling")
    entries = {e.relpath: e for e in tree_manifest(tmp_path)}
    assert entries["link"].hexdigest == blake3(b"symlink:target.txt").hexdigest()
    assert entries["outside"].hexdigest == blake3(b"symlink:/etc/passwd").hexdigest()
    assert entries["dangling"].is_symlink and entries["link"].size == 0
    expected = b"".join(
        f"{h}  {p}\n".encode()
        for p, h in sorted(
            [
                ("dangling", blake3(b"symlink:missing").hexdigest()),
                ("link", blake3(b"symlink:target.txt").hexdigest()),
                ("outside", blake3(b"symlink:/etc/passwd").hexdigest()),
                ("target.txt", blake3(b"data").hexdigest()),
            ]
        )
    )
    assert manifest_bytes(list(entries.values())) == expected


def test_symlinked_directory_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_bytes(b"x")
    os.symlink("real", tmp_path / "alias")
    paths = [e.relpath for e in tree_manifest(tmp_path)]
    assert paths == ["alias", "real/f"]


@pytest.mark.parametrize("name", [b"bad\xffname", b"new\nline", b"carriage\rreturn"])
def test_unrepresentable_names_are_errors(tmp_path: Path, name: bytes) -> None:
    os.makedirs(os.fsencode(tmp_path) + b"/d")
    with open(os.fsencode(tmp_path) + b"/d/" + name, "wb") as handle:
        handle.write(b"x")
    with pytest.raises(HashingError) as info:
        hash_tree(tmp_path)
    assert info.value.code == "unrepresentable-name"


def test_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(HashingError, match="not a regular file"):
        hash_tree(tmp_path)
    with pytest.raises(HashingError, match="not a regular file"):
        hash_file(tmp_path / "pipe")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(HashingError, match="no such file"):
        hash_path(tmp_path / "nope")


def test_many_small_files_parallel_equals_sequential(tmp_path: Path) -> None:
    for i in range(300):
        (tmp_path / f"f{i:04d}").write_bytes(os.urandom(i))
    assert tree_manifest(tmp_path, workers=1) == tree_manifest(tmp_path, workers=4)
    assert hash_tree(tmp_path) == _b3sum_tree_digest(tmp_path)


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"), min_size=1, max_size=12
).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.lists(names, min_size=1, max_size=3).map(tuple), st.binary(max_size=64), max_size=8))
def test_random_trees_match_b3sum(tmp_path_factory: pytest.TempPathFactory, tree: dict[tuple[str, ...], bytes]) -> None:
    root = tmp_path_factory.mktemp("tree")
    for parts, data in tree.items():
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                continue
            path.write_bytes(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue
    assert hash_tree(root) == _b3sum_tree_digest(root)


def test_cli_hash(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "f").write_bytes(b"hello")
    result = cli("hash", str(tmp_path / "f"), str(tmp_path))
    assert result.code == 0
    assert result.out.splitlines()[0] == f"{hash_file(tmp_path / 'f')}  {tmp_path / 'f'}"
    assert result.out.splitlines()[1] == f"{hash_tree(tmp_path)}  {tmp_path}"
    manifest = cli("hash", "--manifest", str(tmp_path))
    assert manifest.out == f"{blake3(b'hello').hexdigest()}  f\n"
    os.mkfifo(tmp_path / "p")
    failed = cli("hash", str(tmp_path))
    assert failed.code == 2 and "not a regular file" in failed.err


def test_cli_hash_check(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"b")
    listing = cli("hash", "a", "d", cwd=tmp_path).out
    (tmp_path / "sums").write_text(listing)
    ok = cli("hash", "--check", "sums", cwd=tmp_path)
    assert ok.code == 0 and ok.out == "a: OK\nd: OK\n"
    (tmp_path / "d" / "b").write_bytes(b"B")
    (tmp_path / "a").unlink()
    bad = cli("hash", "--check", "sums", cwd=tmp_path)
    assert bad.code == 1
    assert "a: FAILED (a: no such file or directory)" in bad.out and "d: FAILED (expected blake3:" in bad.out
    (tmp_path / "garbage").write_text("not a digest line\n")
    assert cli("hash", "--check", "garbage", cwd=tmp_path).code == 2
    b3sum_style = listing.replace("blake3:", "")
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b3").write_text(b3sum_style.splitlines()[0] + "\n")
    assert cli("hash", "--check", "b3", cwd=tmp_path).code == 0


@pytest.mark.parametrize("name", ["a\nblake3:" + "0" * 64 + "  forged", "b\x1b[2Jc", "d\re"])
def test_cli_hash_prints_one_escaped_line_per_path(tmp_path: Path, cli, name: str) -> None:  # type: ignore[no-untyped-def]
    """A PATH naming a file with a newline cannot forge a second digest line, on stdout as in -o."""
    target = tmp_path / name
    target.write_bytes(b"x")
    shown = cli("hash", str(target))
    assert shown.code == 0 and shown.out.count("\n") == 1, shown
    assert "\x1b" not in shown.out and "\r" not in shown.out, shown
    assert shown.out.startswith(hash_file(target) + "  ")  # the contract's line, its name escaped
    assert cli("hash", str(target), "-o", str(tmp_path / "out.txt")).code == 0
    assert (tmp_path / "out.txt").read_text() == shown.out
