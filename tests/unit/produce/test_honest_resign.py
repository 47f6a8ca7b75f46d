"""Honest re-signing (issue 24 item 2): an existing signature or signer claim is replaced only when asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit import verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.produce.resign import ResignRefused, plan_signing
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import UsageError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json


@pytest.fixture()
def keys(cli: Callable[..., CliResult], tmp_path: Path) -> tuple[Path, Path]:
    for name in ("old", "new"):
        assert cli("keys", "generate", "--out-dir", str(tmp_path / "k"), "--name", name).code == 0
    return tmp_path / "k" / "old.key", tmp_path / "k" / "new.key"


def _pub(path: Path) -> str:
    return path.with_suffix(".pub").read_text().strip()


def _signed_by_old(cli: Callable[..., CliResult], tmp_path: Path, old: Path, **fields: Any) -> Path:
    path = write_json(tmp_path / "r.json", make_receipt(**fields))
    args = ["sign", str(path), "--key", str(old), "-o", str(path)]
    if "signer" in fields:
        args += ["--signer", fields["signer"]]
    result = cli(*args)
    assert result.code == 0, result.err
    return path


def test_cli_refuses_to_replace_a_signature_silently(
    cli: Callable[..., CliResult], tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    old, new = keys
    path = _signed_by_old(cli, tmp_path, old)
    before = path.read_bytes()
    refused = cli("sign", str(path), "--key", str(new), "-o", str(path))
    assert refused.code == 2
    assert_one_line_error(refused)
    assert "already signed by " + _pub(old) in refused.err and "--replace-signature" in refused.err
    assert path.read_bytes() == before  # nothing written
    replaced = cli("sign", str(path), "--key", str(new), "--replace-signature", "-o", str(tmp_path / "n.json"))
    assert replaced.code == 0, replaced.err
    assert f"replaced signature by {_pub(old)}" in replaced.err
    signed = json.loads((tmp_path / "n.json").read_text())
    assert signed["signer_public_key"] == _pub(new) and "signer" not in signed
    ok = cli("verify", str(tmp_path / "n.json"), "--public-key", _pub(new), "--now", "2026-11-20T12:00:00Z")
    assert ok.code == 0, ok.out + ok.err


def test_cli_refuses_to_keep_a_signer_claim_for_a_new_key(
    cli: Callable[..., CliResult], tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    old, new = keys
    path = _signed_by_old(cli, tmp_path, old, signer="release@company.com")
    only_signature = cli("sign", str(path), "--key", str(new), "--replace-signature")
    assert only_signature.code == 2
    assert_one_line_error(only_signature)
    assert "claims signer 'release@company.com'" in only_signature.err
    assert "--signer ID" in only_signature.err and "--no-signer" in only_signature.err
    both = cli("sign", str(path), "--key", str(new))
    assert both.code == 2 and "already signed" in both.err and "claims signer" in both.err

    dropped = cli("sign", str(path), "--key", str(new), "--replace-signature", "--no-signer")
    assert dropped.code == 0, dropped.err
    assert "signer" not in json.loads(dropped.out)
    assert "replaced signer claim 'release@company.com' (removed)" in dropped.err

    renamed = cli("sign", str(path), "--key", str(new), "--replace-signature", "--signer", "ci@company.com")
    assert renamed.code == 0, renamed.err
    assert json.loads(renamed.out)["signer"] == "ci@company.com"
    assert "(now 'ci@company.com')" in renamed.err

    contradiction = cli("sign", str(path), "--key", str(new), "--replace-signature", "--signer", "x", "--no-signer")
    assert contradiction.code == 2 and "contradict" in contradiction.err


def test_cli_claim_bound_to_another_key_is_refused_even_without_a_signature(
    cli: Callable[..., CliResult], tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    old, new = keys
    stripped = {k: v for k, v in json.loads(_signed_by_old(cli, tmp_path, old, signer="a@x").read_text()).items()
                if k != "signature"}  # fmt: skip
    path = write_json(tmp_path / "stripped.json", stripped)
    refused = cli("sign", str(path), "--key", str(new))
    assert refused.code == 2 and f"made with the earlier proof of {_pub(old)}" in refused.err
    same_key = cli("sign", str(path), "--key", str(old))
    assert same_key.code == 0 and json.loads(same_key.out)["signer"] == "a@x"


def test_cli_a_claim_written_before_any_proof_is_signed_as_the_contract_says(
    cli: Callable[..., CliResult], tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    _, new = keys
    path = write_json(tmp_path / "u.json", make_receipt(signer="demo-ci@example.com"))
    kept = cli("sign", str(path), "--key", str(new))
    assert kept.code == 0 and json.loads(kept.out)["signer"] == "demo-ci@example.com"
    assert kept.err == ""
    dropped = cli("sign", str(path), "--key", str(new), "--no-signer")
    assert dropped.code == 0 and "signer" not in json.loads(dropped.out)
    assert "replaced signer claim 'demo-ci@example.com' (removed)" in dropped.err


def test_cli_plain_receipt_signs_as_before(
    cli: Callable[..., CliResult], tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    _, new = keys
    path = write_json(tmp_path / "u.json", make_receipt())
    result = cli("sign", str(path), "--key", str(new), "--signer", "ci@company.com")
    assert result.code == 0 and result.err == ""
    assert json.loads(result.out)["signer"] == "ci@company.com"


def test_library_plan(key: PrivateKey, other_key: PrivateKey) -> None:
    signed = sign_receipt(make_receipt(), key, signer="a@x")
    with pytest.raises(ResignRefused, match=r"already signed by .*pass replace_signature to.*claims signer 'a@x'"):
        plan_signing(signed, other_key.public_key)
    plan = plan_signing(signed, other_key.public_key, replace_signature=True, no_signer=True)
    assert "signature" not in plan.receipt and "signer" not in plan.receipt and plan.signer is None
    assert plan.replaced == (
        f"signature by {key.public_key.text} (key id {key.public_key.key_id})",
        "signer claim 'a@x' (removed)",
    )
    resigned = sign_receipt(plan.receipt, other_key, signer=plan.signer)
    assert verify_receipt(resigned, trusted_keys=[other_key.public_key]).valid
    same = plan_signing(signed, key.public_key, replace_signature=True, signer="a@x")
    assert same.replaced == (f"signature by {key.public_key.text} (key id {key.public_key.key_id}) (same key)",)
    with pytest.raises(UsageError, match="empty"):
        plan_signing(make_receipt(), key.public_key, signer=" ")


@given(st.dictionaries(st.sampled_from(["signature", "signer", "signer_public_key", "x"]), st.text(max_size=20)))
def test_plan_never_crashes_and_never_keeps_a_proof(fields: dict[str, str]) -> None:
    key = PrivateKey.from_seed(bytes(32))
    try:
        plan = plan_signing({**make_receipt(), **fields}, key.public_key, replace_signature=True, no_signer=True)
    except UsageError:
        raise AssertionError("with both permissions nothing is refused") from None
    assert "signature" not in plan.receipt and "signer" not in plan.receipt
    for text in plan.replaced:
        assert "\n" not in text and "\x1b" not in text
