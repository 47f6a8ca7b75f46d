"""Bulk runs where the worker reads each file: the same verdicts, errors and order as reading in the parent."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attestkit.adapters.files import read_receipt_bytes
from attestkit.cli.cmd_verify import _read_walked
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.bulk import BulkItem, verify_many
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import AttestkitError
from tests.conftest import NOW, CliResult, make_receipt, write_json


def _tree(root: Path, signed: dict[str, Any], outside: Path) -> Path:
    folder = root / "receipts"
    folder.mkdir()
    for index in range(40):
        write_json(folder / f"{index:02d}-ok.json", signed)
    tampered = dict(signed, attest_version="9.9.9")
    write_json(folder / "10-tampered.json", tampered)
    (folder / "11-malformed.json").write_text('{"timestamp": "2026-11-20T10:00:00Z", "a": 1, "a": 2}')
    (folder / "12-receipt.yaml").write_text(receipt_to_text(signed, "yaml"))
    with open(folder / "13-huge.json", "wb") as handle:  # over the 32 MiB limit: malformed
        handle.truncate(33 * 1024 * 1024)
    os.mkfifo(folder / "14-fifo.json")  # never opened for reading: not a regular file
    (folder / "15-link.json").symlink_to(outside)
    (folder / "16-not-utf8.json").write_bytes(b'{"timestamp": "\xff"}')
    return folder


def _outcomes(items: list[BulkItem], key: PrivateKey, jobs: int) -> list[tuple[str, bool | None, str | None]]:
    options = VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339(NOW))
    return [
        (o.label, o.valid, o.error.code if o.error is not None else None)
        for o in verify_many(items, options, jobs=jobs)
    ]


def _read_in_parent(path: str) -> BulkItem:
    try:
        return BulkItem(path, read_receipt_bytes(path, walked=True), fmt="yaml" if path.endswith(".yaml") else None)
    except AttestkitError as exc:
        return BulkItem(path, error=exc)


def test_worker_reads_give_the_parent_reads_verdicts(tmp_path: Path, key: PrivateKey, signed: dict[str, Any]) -> None:
    outside = write_json(tmp_path / "outside.json", signed)
    folder = _tree(tmp_path, signed, outside)
    paths = sorted(str(p) for p in folder.iterdir())
    in_parent = _outcomes([_read_in_parent(p) for p in paths], key, jobs=1)
    for jobs in (1, 2):
        deferred = [BulkItem(p, fmt="yaml" if p.endswith(".yaml") else None, path=p, read=_read_walked) for p in paths]
        assert _outcomes(deferred, key, jobs=jobs) == in_parent
    verdicts = {Path(label).name: (valid, code) for label, valid, code in in_parent}
    assert verdicts["00-ok.json"] == (True, None)
    assert verdicts["12-receipt.yaml"] == (True, None)
    assert verdicts["10-tampered.json"] == (False, None)
    assert verdicts["11-malformed.json"] == (False, None)
    assert verdicts["13-huge.json"] == (False, None)
    assert verdicts["14-fifo.json"][1] is not None
    assert "15-link.json" in verdicts  # followed or refused, the same either way


def test_directory_run_same_output_on_one_and_two_workers(
    tmp_path: Path, key: PrivateKey, signed: dict[str, Any], cli: Callable[..., CliResult]
) -> None:
    outside = write_json(tmp_path / "outside.json", signed)
    folder = _tree(tmp_path, signed, outside)
    args = ["verify", str(folder), "--public-key", key.public_key.text, "--now", NOW, "--json"]
    one, two = cli(*args, "--jobs", "1"), cli(*args, "--jobs", "2")
    assert one.code == two.code == 2  # the FIFO and the symlink could not be checked
    assert one.out == two.out
    assert sorted(one.err.splitlines()) == sorted(two.err.splitlines())
    lines = [json.loads(line) for line in one.out.splitlines()]
    assert [line["valid"] for line in lines].count(True) >= 41
    assert any("14-fifo.json" in line for line in one.err.splitlines())


def test_summary_still_reads_in_the_parent(tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]) -> None:
    from attestkit.core.receipt.signing import sign_receipt

    folder = tmp_path / "r"
    folder.mkdir()
    for index in range(3):
        write_json(folder / f"{index}.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(folder), "--public-key", key.public_key.text, "--now", NOW, "--jobs", "2")
    assert result.code == 0, result.err
