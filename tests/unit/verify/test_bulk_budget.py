"""Issue 15.5: a receipt that exceeds its budget in a bulk run is its own failure; the run goes on.

The slow receipt here records a 64 GiB sparse artifact: hashing it takes many seconds on any
machine, far past the 1 s budget, while the other receipts take milliseconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.core.crypto.digest import hash_file
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.bulk import Budget, BulkItem, BulkOutcome, verify_batch, verify_many
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import UsageError
from tests.conftest import NOW, CliResult, make_receipt, write_json

pytestmark = pytest.mark.slow  # waits for real time budgets to run out

HUGE = 64 << 30


def _setup(tmp_path: Path, key: PrivateKey) -> tuple[Path, bytes, bytes]:
    root = tmp_path / "art"
    root.mkdir()
    (root / "small.bin").write_bytes(b"small")
    with open(root / "huge.bin", "wb") as handle:
        handle.truncate(HUGE)
    fast, slow = make_receipt(), make_receipt()
    fast["steps"][0]["outputs"] = [{"path": "small.bin", "hash": hash_file(root / "small.bin"), "size_bytes": 5}]
    slow["steps"][0]["outputs"] = [{"path": "huge.bin", "hash": "blake3:" + "00" * 32, "size_bytes": HUGE}]
    return root, json.dumps(sign_receipt(fast, key)).encode(), json.dumps(sign_receipt(slow, key)).encode()


def _options(key: PrivateKey, root: Path) -> VerifyOptions:
    return VerifyOptions(trusted=TrustStore.of([key.public_key]), now=parse_rfc3339(NOW), artifacts_dir=str(root))


def _check(outcomes: list[BulkOutcome]) -> None:
    assert [o.label for o in outcomes] == ["fast-1", "slow", "fast-2"]
    fast1, slow, fast2 = outcomes
    assert fast1.valid is True and fast2.valid is True
    assert slow.valid is False and slow.result is not None and slow.error is None
    (check,) = slow.result.failed_checks
    assert check.name == "budget" and check.code == "budget-time" and "1 s" in check.message


@pytest.mark.parametrize("jobs", [1, 2])
def test_time_budget_library(tmp_path: Path, key: PrivateKey, jobs: int) -> None:
    root, fast, slow = _setup(tmp_path, key)
    items = [BulkItem("fast-1", fast), BulkItem("slow", slow), BulkItem("fast-2", fast)]
    _check(list(verify_many(items, _options(key, root), jobs=jobs, budget=Budget(seconds=1))))


def test_time_budget_from_another_thread_uses_a_worker_process(tmp_path: Path, key: PrivateKey) -> None:
    root, fast, slow = _setup(tmp_path, key)
    items = [BulkItem("fast-1", fast), BulkItem("slow", slow), BulkItem("fast-2", fast)]
    got: list[BulkOutcome] = []
    thread = threading.Thread(
        target=lambda: got.extend(verify_many(items, _options(key, root), jobs=1, budget=Budget(seconds=1)))
    )
    thread.start()
    thread.join(timeout=120)
    _check(got)


def test_size_budget_and_tree_hash_interrupted(tmp_path: Path, key: PrivateKey) -> None:
    root, fast, _slow = _setup(tmp_path, key)
    items = [BulkItem("fast-1", fast), BulkItem("big", fast + b" " * 2000), BulkItem("fast-2", fast)]
    outcomes = verify_batch(items, _options(key, root), Budget(seconds=None, max_bytes=len(fast) + 10))
    assert [o.valid for o in outcomes] == [True, False, True]
    assert outcomes[1].result is not None and outcomes[1].result.failed_checks[0].code == "budget-size"
    # A recorded directory with the huge file: the threads hashing it stop at the deadline too.
    tree = make_receipt()
    tree["steps"][0]["outputs"] = [{"path": "./", "hash": "blake3:" + "00" * 32}]
    (root / "more.bin").write_bytes(b"x" * (1 << 20))
    items = [
        BulkItem("fast-1", fast),
        BulkItem("slow", json.dumps(sign_receipt(tree, key)).encode()),
        BulkItem("fast-2", fast),
    ]
    _check(verify_batch(items, _options(key, root), Budget(seconds=1)))


def test_budget_is_validated() -> None:
    with pytest.raises(UsageError):
        Budget(seconds=-1)
    with pytest.raises(UsageError):
        Budget(max_bytes=(32 << 20) + 1)


def test_cli_budget(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    root, fast, slow = _setup(tmp_path, key)
    folder = tmp_path / "receipts"
    folder.mkdir()
    (folder / "a.json").write_bytes(fast)
    (folder / "b.json").write_bytes(slow)
    (folder / "c.json").write_bytes(fast)
    args = ["verify", str(folder), "--public-key", key.public_key.text, "--now", NOW, "--artifacts", str(root)]
    for jobs in ("1", "2"):
        result = cli(*args, "--receipt-timeout", "1s", "--jobs", jobs, "--json")
        assert result.code == 1, result
        lines = result.json_lines()
        assert [line["valid"] for line in lines] == [True, False, True]
        assert "2 valid, 1 invalid, 0 errors" in result.err
    text = cli(*args, "--receipt-timeout", "1s")
    *reports, summary = text.out.strip().splitlines()
    assert text.code == 1 and "budget-time" not in "\n".join(reports)  # text names the check, not the code
    assert summary == "2 valid, 1 invalid, 0 errors; failures: budget-time 1"  # the summary counts codes
    assert "longer than the budget of 1 s" in text.out
    assert cli(*args, "--receipt-timeout", "soon").code == 2
    write_json(tmp_path / "one.json", json.loads(fast))
    assert (
        cli(
            "verify",
            str(tmp_path / "one.json"),
            "--public-key",
            key.public_key.text,
            "--now",
            NOW,
            "--receipt-max-bytes",
            "100",
        ).code
        == 1
    )
