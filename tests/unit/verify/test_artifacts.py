"""--artifacts and --pipeline: digests, sizes, traversal and symlink escapes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.digest import hash_file, hash_path_with_size
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339
from tests.conftest import NOW, CliResult, make_receipt, write_json


def _setup(tmp_path: Path) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    root = tmp_path / "art"
    (root / "dist" / "sub").mkdir(parents=True)
    (root / "dist" / "app.bin").write_bytes(b"app")
    (root / "dist" / "sub" / "lib.so").write_bytes(b"lib")
    (root / "src").mkdir()
    (root / "src" / "main.c").write_bytes(b"int main;")
    tree, size = hash_path_with_size(root / "dist")
    outputs = [
        {"path": "dist/", "hash": tree, "size_bytes": size},
        {
            "path": "dist/app.bin",
            "hash": hash_file(root / "dist" / "app.bin").upper().replace("BLAKE3:", "blake3:"),
            "size_bytes": 3,
        },
    ]
    inputs = [{"path": "src/main.c", "hash": hash_file(root / "src" / "main.c"), "size_bytes": 9}]
    return root, outputs, inputs


def _verify(key: PrivateKey, outputs: list[dict[str, Any]], inputs: list[dict[str, Any]], root: Path, **kw: Any) -> Any:
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = outputs
    receipt["steps"][0]["inputs"] = inputs
    return verify_receipt(
        sign_receipt(receipt, key), trusted_keys=[key.public_key], now=parse_rfc3339(NOW), artifacts_dir=str(root), **kw
    )


def _codes(result: Any) -> list[str]:
    return [c.code for c in result.failed_checks]


def test_matching_artifacts(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    assert _verify(key, outputs, inputs, root, check_inputs=True).valid


def test_changed_file_and_tree(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    (root / "dist" / "app.bin").write_bytes(b"APP")
    result = _verify(key, outputs, inputs, root)
    assert _codes(result) == ["digest-mismatch", "digest-mismatch"]
    assert any("dist/app.bin" in c.message and "blake3:" in c.message for c in result.failed_checks)


def test_size_mismatch(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    outputs[1]["size_bytes"] = 4
    assert _codes(_verify(key, outputs, inputs, root)) == ["size-mismatch"]


def test_missing_and_wrong_kind(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    outputs.append({"path": "dist/gone.bin", "hash": outputs[1]["hash"]})
    outputs.append({"path": "dist/app.bin/", "hash": outputs[1]["hash"]})
    assert _codes(_verify(key, outputs, inputs, root)) == ["missing", "wrong-kind"]


def test_inputs_only_with_check_inputs(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    (root / "src" / "main.c").write_bytes(b"changed")
    assert _verify(key, outputs, inputs, root).valid
    assert _codes(_verify(key, outputs, inputs, root, check_inputs=True)) == ["digest-mismatch"]


def test_symlink_escapes_are_findings_and_never_read(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    os.symlink(secret, root / "dist" / "leak.txt")
    os.symlink(tmp_path, root / "parent")
    outputs = [
        {"path": "dist/leak.txt", "hash": hash_file(secret)},
        {"path": "parent/secret.txt", "hash": hash_file(secret)},
    ]
    assert _codes(_verify(key, outputs, inputs, root)) == ["escapes-tree", "escapes-tree"]


def test_symlink_inside_tree_is_followed_for_files(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    os.symlink("app.bin", root / "dist" / "alias.bin")
    outputs = [{"path": "dist/alias.bin", "hash": hash_file(root / "dist" / "app.bin"), "size_bytes": 3}]
    assert _verify(key, outputs, inputs, root).valid


def test_unrepresentable_name_in_recorded_tree_is_a_finding(tmp_path: Path, key: PrivateKey) -> None:
    root, outputs, inputs = _setup(tmp_path)
    with open(os.fsencode(root / "dist") + b"/bad\xff", "wb") as handle:
        handle.write(b"x")
    assert _codes(_verify(key, outputs[:1], inputs, root)) == ["unrepresentable-name"]


def test_pipeline_check(tmp_path: Path, key: PrivateKey) -> None:
    pipeline = tmp_path / "attest.yaml"
    pipeline.write_bytes(b"version: '0.1'\n")
    receipt = sign_receipt(make_receipt(pipeline_hash=hash_file(pipeline)), key)
    ok = verify_receipt(receipt, trusted_keys=[key.public_key], now=parse_rfc3339(NOW), pipeline_file=str(pipeline))
    assert ok.valid
    pipeline.write_bytes(b"version: '0.2'\n")
    bad = verify_receipt(receipt, trusted_keys=[key.public_key], now=parse_rfc3339(NOW), pipeline_file=str(pipeline))
    assert _codes(bad) == ["pipeline-mismatch"]


def test_cli_artifact_exit_codes(tmp_path: Path, key: PrivateKey, cli: Callable[..., CliResult]) -> None:
    root, outputs, _inputs = _setup(tmp_path)
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = outputs
    path = write_json(tmp_path / "r.json", sign_receipt(receipt, key))
    args = ["verify", str(path), "--public-key", key.public_key.text, "--now", NOW]
    assert cli(*args, "--artifacts", str(root)).code == 0
    (root / "dist" / "sub" / "lib.so").write_bytes(b"evil")
    changed = cli(*args, "--artifacts", str(root))
    assert changed.code == 1 and "dist/" in changed.out
    assert cli(*args, "--artifacts", str(tmp_path / "missing")).code == 2
    assert cli(*args, "--pipeline", str(tmp_path / "missing.yaml")).code == 2


def test_directory_mismatch_names_files_from_recorded_map(tmp_path: Path, key: PrivateKey) -> None:
    from attestkit.core.crypto.digest import tree_manifest

    root, outputs, inputs = _setup(tmp_path)
    files = {e.relpath: "blake3:" + e.hexdigest for e in tree_manifest(root / "dist")}
    entry = dict(outputs[0], files=files)
    assert _verify(key, [entry], inputs, root).valid
    (root / "dist" / "app.bin").write_bytes(b"APP")
    (root / "dist" / "sub" / "lib.so").unlink()
    (root / "dist" / "new.txt").write_bytes(b"new")
    (message,) = [c.message for c in _verify(key, [entry], inputs, root).failed_checks]
    assert message.endswith("(added: new.txt; removed: sub/lib.so; changed: app.bin)")
    (no_map,) = [c.message for c in _verify(key, outputs[:1], inputs, root).failed_checks]
    assert "record a 'files' map" in no_map


def test_files_map_is_validated(key: PrivateKey) -> None:
    from attestkit.core.receipt.reader import receipt_from_mapping
    from attestkit.errors import MalformedReceiptError

    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = [
        {"path": "dist/", "hash": "blake3:" + "00" * 32, "files": {"../x": "blake3:" + "00" * 32}}
    ]
    with pytest.raises(MalformedReceiptError) as info:
        receipt_from_mapping(receipt)
    assert info.value.code == "unsafe-path"


def test_a_files_map_that_lies_under_a_true_directory_digest(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    """Adversarial review: the directory digest matched, so `verify --artifacts` said VALID and
    `--summary-out` signed PASSED for the files map's names and digests (`installer.exe`, which
    does not exist); `export` without --artifacts named them as subjects too."""
    import base64
    import json

    from attestkit.core.crypto.digest import tree_manifest

    root, outputs, _ = _setup(tmp_path)
    true_files = {e.relpath: "blake3:" + e.hexdigest for e in tree_manifest(root / "dist")}
    fake = "blake3:" + "66" * 32
    lying = dict(outputs[0], files={"app.bin": fake, "installer.exe": fake})
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = [lying]
    write_json(tmp_path / "r.json", sign_receipt(receipt, key))
    (tmp_path / "gate.key").write_bytes(PrivateKey.from_seed(b"\x42" * 32).to_pem())
    (tmp_path / "gate.key").chmod(0o600)
    trust = ["--public-key", key.public_key.text, "--now", NOW]
    checked = cli("verify", "r.json", *trust, "--artifacts", str(root), "--json")
    assert checked.code == 1, checked.out + checked.err
    codes = {c["code"] for c in json.loads(checked.out)["checks"] if not c["passed"]}
    assert codes == {"files-mismatch"}
    summary = cli("verify", "r.json", *trust, "--artifacts", str(root), "--summary-out", "r.vsa", "--key", "gate.key")
    assert summary.code == 1
    if (tmp_path / "r.vsa").exists():
        payload = json.loads(base64.b64decode(json.loads((tmp_path / "r.vsa").read_text())["payload"]))
        assert payload["predicate"]["verificationResult"] != "PASSED"
    exported = cli("export", "r.json", *trust, "--key", "gate.key", "-o", "r.env")
    if exported.code == 0:
        statement = json.loads(base64.b64decode(json.loads((tmp_path / "r.env").read_text())["payload"]))
        assert [s["name"] for s in statement["subject"]] == ["dist/"], statement["subject"]
    # A true files map still names the files.
    receipt["steps"][0]["outputs"] = [dict(outputs[0], files=true_files)]
    write_json(tmp_path / "t.json", sign_receipt(receipt, key))
    assert cli("verify", "t.json", *trust, "--artifacts", str(root)).code == 0
    assert cli("export", "t.json", *trust, "--key", "gate.key", "-o", "t.env").code == 0
    statement = json.loads(base64.b64decode(json.loads((tmp_path / "t.env").read_text())["payload"]))
    assert sorted(s["name"] for s in statement["subject"]) == ["dist/app.bin", "dist/sub/lib.so"]


def test_a_files_map_name_cannot_forge_manifest_lines(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    """Review of the files-map fix: a name holding ``\\n<hex>  sub/lib.so`` reproduced the true digest."""
    from attestkit.core.crypto.digest import files_map_digest, tree_manifest

    root, outputs, _ = _setup(tmp_path)
    app, lib = tree_manifest(root / "dist")
    forged = {f"app.bin\n{lib.hexdigest}  sub/lib.so": "blake3:" + app.hexdigest}
    assert files_map_digest(forged) is None
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = [dict(outputs[0], files=forged)]
    write_json(tmp_path / "r.json", sign_receipt(receipt, key))
    result = cli("verify", "r.json", "--public-key", key.public_key.text, "--now", NOW, "--artifacts", str(root))
    assert result.code != 0, result.out
