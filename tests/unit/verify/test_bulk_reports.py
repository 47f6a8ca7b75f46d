"""Bulk runs whose batches come back as texts and counts: byte for byte what one outcome at a time gives."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from attestkit.cli.cmd_verify import _read_walked, render_json_line, render_text, report_texts, shown
from attestkit.cli.output import error_line, escaped
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.bulk import BulkItem, BulkOutcome, PathList, Tally, verify_many, verify_reports
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import AttestkitError
from tests.conftest import NOW, CliResult, write_json


def _tree(root: Path, signed: dict[str, Any]) -> list[str]:
    """A folder of good, tampered, malformed, YAML, special and strangely named receipts; their paths in order."""
    folder = root / "receipts"
    folder.mkdir()
    for index in range(30):
        write_json(folder / f"{index:02d}-ok.json", signed)
    write_json(folder / "03-tampered.json", dict(signed, attest_version="9.9.9"))
    (folder / "05-malformed.json").write_text('{"a": 1, "a": 2}')
    (folder / "07-receipt.yaml").write_text(receipt_to_text(signed, "yaml"))
    os.mkfifo(folder / "09-fifo.json")  # could not check (not a regular file), never opened
    write_json(folder / "11-new\nline.json", signed)  # a newline in a name: the paths travel NUL-separated
    write_json(folder / "12-\x1b[31mred.json", dict(signed, attest_version="0.0.0"))  # escaped on output
    (folder / "13-not-utf8.json").write_bytes(b'{"timestamp": "\xff"}')
    return sorted(str(p) for p in folder.iterdir())


def _options(key: PrivateKey) -> VerifyOptions:
    return VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339(NOW))


def _one_at_a_time(
    paths: list[str], options: VerifyOptions, fmt: str, quiet: bool
) -> tuple[list[tuple[bool, str]], Tally]:
    """The reference: each outcome rendered and written on its own, as the CLI did before batches were packed."""
    writes: list[tuple[bool, str]] = []
    tally = Tally()
    items = [BulkItem(p, path=p, read=_read_walked) for p in paths]
    for outcome in verify_many(items, options, jobs=1):
        tally.add(outcome)
        if outcome.error is not None:
            writes.append((True, error_line(str(outcome.error))))
        if quiet and outcome.error is None and outcome.valid:
            continue
        if fmt == "json":
            writes.append((False, escaped(render_json_line(outcome), markup=True) + "\n"))
        elif outcome.result is not None:
            writes.append((False, escaped(render_text(shown(outcome.result)), markup=True) + "\n"))
    return writes, tally


def _flatten(chunks: list[tuple[bool, str]]) -> list[tuple[bool, str]]:
    """Adjacent texts for one stream joined, so that two write sequences compare as what a reader sees."""
    joined: list[tuple[bool, str]] = []
    for stream, text in chunks:
        if joined and joined[-1][0] == stream:
            joined[-1] = (stream, joined[-1][1] + text)
        else:
            joined.append((stream, text))
    return joined


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(("fmt", "quiet"), [("json", False), ("text", False), ("json", True)])
def test_reports_write_what_outcomes_one_at_a_time_write(
    tmp_path: Path, key: PrivateKey, signed: dict[str, Any], jobs: int, fmt: str, quiet: bool
) -> None:
    paths = _tree(tmp_path, signed)
    options = _options(key)
    expected, expected_tally = _one_at_a_time(paths, options, fmt, quiet)
    texts = partial(report_texts, fmt=fmt, quiet=quiet, colour=False, to_file=False)
    chunks: list[tuple[bool, str]] = []
    tally = Tally()
    for batch in verify_reports([PathList(paths, _read_walked)], options, report=texts, jobs=jobs):
        chunks.extend(batch.chunks)
        tally.merge(batch.tally)
    assert _flatten(chunks) == _flatten(expected)
    assert (tally.valid, tally.invalid, tally.errors, tally.classes) == (
        expected_tally.valid,
        expected_tally.invalid,
        expected_tally.errors,
        expected_tally.classes,
    )
    assert tally.valid == 32 and tally.invalid == 4 and tally.errors == 1
    assert "\x1b" not in "".join(text for _, text in chunks)


@pytest.mark.parametrize("jobs", [1, 2])
def test_path_lists_and_items_keep_input_order(
    tmp_path: Path, key: PrivateKey, signed: dict[str, Any], jobs: int
) -> None:
    """Batches grow from 8 to 128 across path lists and items alike; the outcomes come back in input order."""
    folder = tmp_path / "many"
    folder.mkdir()
    paths = [str(write_json(folder / f"{index:03d}.json", signed)) for index in range(300)]
    data = Path(paths[0]).read_bytes()
    entries: list[BulkItem | PathList] = [
        BulkItem("first", data),
        PathList(paths[:5], _read_walked),
        BulkItem("between", b"{}"),
        PathList(paths[5:], _read_walked),
        BulkItem("last", data),
    ]
    outcomes = list(verify_many(entries, _options(key), jobs=jobs))
    assert [o.label for o in outcomes] == ["first", *paths[:5], "between", *paths[5:], "last"]
    assert [o.valid for o in outcomes].count(True) == 302
    between = outcomes[6]
    assert between.valid is False and between.failure_classes


def test_reading_error_of_a_listed_path_is_its_outcome(tmp_path: Path, key: PrivateKey) -> None:
    missing = str(tmp_path / "gone.json")
    (outcome,) = verify_many([PathList([missing], _read_walked)], _options(key), jobs=1)
    assert isinstance(outcome, BulkOutcome) and isinstance(outcome.error, AttestkitError)
    assert outcome.label == missing and "not found" in str(outcome.error)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_cli_directory_output_is_the_same_on_one_and_two_workers_and_in_a_file(
    tmp_path: Path, key: PrivateKey, signed: dict[str, Any], cli: Callable[..., CliResult], fmt: str
) -> None:
    paths = _tree(tmp_path, signed)
    folder = str(Path(paths[0]).parent)
    args = ["verify", folder, "--public-key", key.public_key.text, "--now", NOW, "--format", fmt]
    one, two = cli(*args, "--jobs", "1"), cli(*args, "--jobs", "2")
    assert one.code == two.code == 2  # the FIFO could not be checked
    assert one.out == two.out and one.err == two.err
    assert "\x1b" not in one.out and "\x1b" not in one.err
    assert one.err.count("attestkit: error: ") == 1 and "09-fifo.json" in one.err
    written = tmp_path / "out.txt"
    to_file = cli(*args, "--jobs", "2", "--output", str(written))
    assert to_file.code == 2
    if fmt == "json":
        assert written.read_text(encoding="utf-8") == one.out
        lines = [json.loads(line) for line in one.out.splitlines()]
        assert [line["receipt"] for line in lines] == paths  # the newline in a name survived the transport
        assert [line["valid"] for line in lines].count(True) == 32
    else:
        summary = (
            "32 valid, 4 invalid, 1 errors; failures: bad-signature 2, duplicate-key 1, encoding 1, special-file 1\n"
        )
        report = written.read_text(encoding="utf-8")
        # The file also names the receipt that could not be checked (stdout leaves that to stderr).
        error_block = re.search(r"ERROR  [^\n]*09-fifo\.json\n  could not check: [^\n]*\n", report)
        assert error_block is not None, report
        assert report.replace(error_block.group(), "") + summary == one.out
        assert "11-new\\nline.json" in one.out and "\\x1b[31mred.json" in one.out


def test_cli_quiet_prints_only_failures_on_two_workers(
    tmp_path: Path, key: PrivateKey, signed: dict[str, Any], cli: Callable[..., CliResult]
) -> None:
    paths = _tree(tmp_path, signed)
    folder = str(Path(paths[0]).parent)
    result = cli(
        "verify", folder, "--public-key", key.public_key.text, "--now", NOW, "--json", "--quiet", "--jobs", "2"
    )
    assert result.code == 2
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["valid"] for line in lines] == [False] * 5  # 4 invalid, 1 could not check
    assert result.err.splitlines()[-1].startswith("32 valid, 4 invalid, 1 errors; failures: ")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_nested_tree_in_walk_then_name_order(
    tmp_path: Path, key: PrivateKey, signed: dict[str, Any], cli: Callable[..., CliResult], jobs: str
) -> None:
    """Small folders travel together as full paths, a big one as names in it: the order is the walk's either way."""
    root = tmp_path / "tree"
    layout = {"a": 3, "a/b": 2, "big": 130, "c": 1, "": 2}
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            write_json(root / folder / f"{count - index:03d}.json", signed)  # written in reverse name order
    expected = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        expected += [os.path.join(folder, name) for name in sorted(files)]
    result = cli("verify", str(root), "--public-key", key.public_key.text, "--now", NOW, "--json", "--jobs", jobs)
    assert result.code == 0, result.err
    assert [line["receipt"] for line in result.json_lines()] == expected
    assert len(expected) == 138
