"""Bulk verification: files, directories, JSON Lines, order, exit codes, worker processes."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.bulk import BulkItem, verify_batch, verify_many
from attestkit.core.verify.verifier import VerifyOptions
from tests.conftest import NOW, ROOT, CliResult, make_receipt, write_json


def _items(key: PrivateKey, other: PrivateKey, count: int) -> list[BulkItem]:
    items = []
    for i in range(count):
        signer = other if i % 7 == 3 else key
        receipt = sign_receipt(make_receipt(total_duration_secs=float(i) + 0.5), signer)
        data = json.dumps(receipt).encode()
        if i % 11 == 5:
            data = data.replace(b'"attest_version"', b'"attest_version": 1, "attest_version"')
        items.append(BulkItem(f"r{i}", data, fmt="json"))
    return items


def _expected(i: int) -> bool:
    return not (i % 7 == 3 or i % 11 == 5)


@pytest.mark.parametrize("jobs", [1, 2])
def test_verify_many_in_order(key: PrivateKey, other_key: PrivateKey, jobs: int) -> None:
    rego = load_policy_text("attest.rego", (ROOT / "docs" / "examples" / "attest.rego").read_bytes())
    options = VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339(NOW), policies=(rego,))
    outcomes = list(verify_many(_items(key, other_key, 150), options, jobs=jobs))
    assert [o.label for o in outcomes] == [f"r{i}" for i in range(150)]
    assert [o.result.valid for o in outcomes if o.result is not None] == [_expected(i) for i in range(150)]


def test_options_are_picklable_for_distributed_map(key: PrivateKey, other_key: PrivateKey) -> None:
    rego = load_policy_text("attest.rego", (ROOT / "docs" / "examples" / "attest.rego").read_bytes())
    options = VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339(NOW), policies=(rego,))
    copy = pickle.loads(pickle.dumps(options))
    batch = _items(key, other_key, 12)
    assert [o.result.valid for o in verify_batch(batch, copy) if o.result is not None] == [
        _expected(i) for i in range(12)
    ]


def test_cli_directories_jsonl_and_summary(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    tree = tmp_path / "receipts" / "2026" / "11"
    tree.mkdir(parents=True)
    for i in range(5):
        write_json(tree / f"r{i}.json", sign_receipt(make_receipt(), key))
    (tree / "notes.txt").write_text("not a receipt")
    (tmp_path / "receipts" / "bad.yaml").write_text("a: &x 1\n")
    lines = [json.dumps(sign_receipt(make_receipt(), k)) for k in (key, other_key, key)]
    (tmp_path / "batch.jsonl").write_text("\n".join(lines) + "\n\n")
    args = ["--public-key", key.public_key.text, "--now", NOW]
    result = cli("verify", str(tmp_path / "receipts"), "--jsonl", str(tmp_path / "batch.jsonl"), *args, "--jobs", "2")
    assert result.code == 1
    # r0..r4 and two jsonl lines by the trusted key are valid; bad.yaml (an alias) and the other
    # key's line are not; notes.txt is not a receipt name, so it is not read at all.
    assert (
        result.out.strip().splitlines()[-1] == "7 valid, 2 invalid, 0 errors; failures: untrusted-key 1, yaml-anchor 1"
    )
    assert "notes.txt" not in result.out
    as_json = cli("verify", str(tmp_path / "receipts"), "--jsonl", str(tmp_path / "batch.jsonl"), *args, "--json")
    labels = [line["receipt"] for line in as_json.json_lines()]
    assert labels[0].endswith("bad.yaml") and labels[1].endswith("2026/11/r0.json")
    assert labels[-3:] == [f"{tmp_path / 'batch.jsonl'}:{n}" for n in (1, 2, 3)]
    assert [line["valid"] for line in as_json.json_lines()] == [False, True, True, True, True, True, True, False, True]
    assert "7 valid, 2 invalid, 0 errors" in as_json.err
    stdin = cli("verify", "--jsonl", "-", *args, stdin=("\n".join(lines) + "\n").encode())
    assert stdin.code == 1 and "2 valid, 1 invalid, 0 errors" in stdin.out
    missing = cli("verify", str(tmp_path / "receipts"), str(tmp_path / "nope.json"), *args)
    assert missing.code == 2


def test_scale_doc_dask_example(key: PrivateKey, other_key: PrivateKey) -> None:
    dask = pytest.importorskip("dask.bag")
    options = VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339(NOW))
    bag = dask.from_sequence(_items(key, other_key, 40), partition_size=8)
    outcomes = bag.map_partitions(lambda part: verify_batch(list(part), options)).compute()
    assert [o.result.valid for o in outcomes if o.result is not None] == [_expected(i) for i in range(40)]
