"""Keyring edits: the pure core functions, and the file update (lock, durability, mode, symlinks)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attestkit.adapters.files import update_keyring
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.delegation import create_delegation
from attestkit.core.trust.keyring import (
    add_key,
    empty_keyring,
    key_status,
    keyring_from_document,
    parse_keyring,
    revoke_key,
    rotate_key,
)
from attestkit.core.trust.store import TrustedKey
from attestkit.errors import InputFileError, KeyringEditError, TrustStoreError
from tests.conftest import CliResult

T = parse_rfc3339


def _key(n: int) -> PrivateKey:
    return PrivateKey.from_seed(bytes([n + 150]) * 32)


def _ring(*keys: PrivateKey, **fields: Any) -> dict[str, Any]:
    document = empty_keyring()
    for key in keys:
        document = add_key(document, key.public_key, **fields)
    return document


def test_add_key_returns_a_new_document() -> None:
    a, b = _key(0), _key(1)
    first = _ring(a)
    second = add_key(first, b.public_key, identity="ci@x", scopes=["s"], roles=["root"],
                     not_before=T("2026-01-01T00:00:00Z"))  # fmt: skip
    assert len(first["keys"]) == 1 and len(second["keys"]) == 2  # the input is untouched
    entry = keyring_from_document(second).lookup(b.public_key)
    assert entry is not None and entry.identity == "ci@x" and entry.roles == ("root",)
    with pytest.raises(KeyringEditError, match="already in the keyring"):
        add_key(second, a.public_key)
    with pytest.raises(TrustStoreError):
        add_key({"keys": [{"public_key": "nope"}]}, a.public_key)  # never builds on a broken keyring


@pytest.mark.parametrize(
    ("existing", "requested", "kept"),
    [
        (None, ("retired", "2026-06-01T00:00:00Z"), ("retired", "2026-06-01T00:00:00Z")),
        (("retired", "2026-06-01T00:00:00Z"), ("retired", "2026-05-01T00:00:00Z"), ("retired", "2026-05-01T00:00:00Z")),
        (("retired", "2026-06-01T00:00:00Z"), ("superseded", "2026-06-01T00:00:00Z"), ("superseded", "2026-06-01T00:00:00Z")),
        (("retired", "2026-06-01T00:00:00Z"), ("key-compromise", "2027-01-01T00:00:00Z"), ("key-compromise", "2026-06-01T00:00:00Z")),
        (("key-compromise", "2026-06-01T00:00:00Z"), ("key-compromise", "2026-01-01T00:00:00Z"), ("key-compromise", "2026-01-01T00:00:00Z")),
        (("key-compromise", "2026-06-01T00:00:00Z"), ("retired", "2026-01-01T00:00:00Z"), None),
        (("key-compromise", "2026-06-01T00:00:00Z"), ("key-compromise", "2026-07-01T00:00:00Z"), None),
        (("superseded", "2026-06-01T00:00:00Z"), ("retired", "2030-01-01T00:00:00Z"), None),
    ],
)  # fmt: skip
def test_revoke_key_only_strengthens(
    existing: tuple[str, str] | None, requested: tuple[str, str], kept: tuple[str, str] | None
) -> None:
    key = _key(0)
    document = _ring(key)
    if existing is not None:
        document = revoke_key(document, key.public_key.key_id, existing[0], T(existing[1]))
    if kept is None:
        with pytest.raises(KeyringEditError, match="weaken") as info:
            revoke_key(document, key.public_key.text, requested[0], T(requested[1]))
        assert info.value.code == "weakens-revocation" and info.value.exit_code == 2
        return
    result = revoke_key(document, key.public_key.text, requested[0], T(requested[1]))
    entry = keyring_from_document(result).keys[0]
    assert (entry.revocation_reason, entry.revoked_at) == (kept[0], T(kept[1]))


def test_revoke_a_delegated_key() -> None:
    root, ci, stranger = _key(0), _key(1), _key(2)
    document = _ring(root, roles=["root"])
    document["delegations"] = [create_delegation(root, ci.public_key, identity="ci@x")]
    by_id = revoke_key(document, ci.public_key.key_id, "key-compromise", T("2026-06-01T00:00:00Z"))
    store = keyring_from_document(by_id)
    assert len(store) == 1 and store.revocation_of(ci.public_key.raw) == (T("2026-06-01T00:00:00Z"), "key-compromise")
    with pytest.raises(KeyringEditError, match="weaken"):
        revoke_key(by_id, ci.public_key.text, "retired", T("2026-01-01T00:00:00Z"))
    with pytest.raises(KeyringEditError, match="full ed25519"):
        revoke_key(document, stranger.public_key.key_id, "retired", T("2026-01-01T00:00:00Z"))
    by_key = revoke_key(document, stranger.public_key.text, "retired", T("2026-01-01T00:00:00Z"))
    assert keyring_from_document(by_key).revocation_of(stranger.public_key.raw) is not None
    with pytest.raises(KeyringEditError, match="undo the revocation"):
        add_key(by_key, stranger.public_key)


def test_rotate_key() -> None:
    old, new = _key(0), _key(1)
    document = _ring(old, identity="ci@x", scopes=["s"])
    now = T("2026-11-20T00:00:00Z")
    rotated = rotate_key(document, old.public_key.key_id, new.public_key, now, timedelta(days=7))
    store = keyring_from_document(rotated)
    old_entry, new_entry = store.lookup(old.public_key), store.lookup(new.public_key)
    assert old_entry is not None and new_entry is not None
    assert (old_entry.revocation_reason, old_entry.revoked_at) == ("superseded", now + timedelta(days=7))
    assert (new_entry.identity, new_entry.scopes, new_entry.not_before) == ("ci@x", ("s",), now)
    compromised = revoke_key(document, old.public_key.key_id, "key-compromise", now)
    with pytest.raises(KeyringEditError, match="key-compromise"):
        rotate_key(compromised, old.public_key.key_id, new.public_key, now, timedelta(days=7))
    early = revoke_key(document, old.public_key.key_id, "superseded", now)
    with pytest.raises(KeyringEditError, match="earlier date"):
        rotate_key(early, old.public_key.key_id, new.public_key, now, timedelta(days=7))


def test_key_status_uses_the_verification_rules() -> None:
    key = _key(0).public_key
    now = T("2026-11-20T00:00:00Z")
    cases = [
        (TrustedKey(key), "active"),
        (TrustedKey(key, revoked_at=T("2030-01-01T00:00:00Z"), revocation_reason="key-compromise"), "revoked (key-compromise)"),
        (TrustedKey(key, revoked_at=T("2030-01-01T00:00:00Z"), revocation_reason="retired"), "active until 2030-01-01T00:00:00Z (retired)"),
        (TrustedKey(key, revoked_at=T("2026-01-01T00:00:00Z"), revocation_reason="retired"), "revoked (retired)"),
        (TrustedKey(key, not_after=T("2026-01-01T00:00:00Z")), "expired"),
        (TrustedKey(key, not_before=T("2027-01-01T00:00:00Z")), "not yet valid"),
    ]  # fmt: skip
    for entry, status in cases:
        assert key_status(entry, now) == status


# ---- the file: serialised, durable, mode kept, symlinks refused ------------------------


def test_update_keyring_keeps_mode_and_refuses_symlinks(tmp_path: Path) -> None:
    ring = tmp_path / "ring.yaml"
    update_keyring(str(ring), lambda doc: add_key(doc, _key(0).public_key))
    assert stat.S_IMODE(ring.stat().st_mode) == 0o644
    ring.chmod(0o600)
    update_keyring(str(ring), lambda doc: add_key(doc, _key(1).public_key))
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ring.yaml.bak").stat().st_mode) == 0o600
    link = tmp_path / "link.yaml"
    link.symlink_to(ring)
    before = ring.read_bytes()
    with pytest.raises(InputFileError, match="symbolic link"):
        update_keyring(str(link), lambda doc: add_key(doc, _key(2).public_key))
    assert link.is_symlink() and ring.read_bytes() == before
    refused = tmp_path / "refused.yaml"
    with pytest.raises(KeyringEditError):
        update_keyring(str(refused), lambda doc: revoke_key(doc, "0" * 16, "retired", T("2026-01-01T00:00:00Z")))
    assert not refused.exists()


def _spawn(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTESTKIT_KEY", "ATTESTKIT_SIGNING", "ATTEST_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "attestkit", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_all(processes: list[subprocess.Popen[bytes]]) -> list[tuple[int, str]]:
    results = []
    for process in processes:
        _, err = process.communicate(timeout=120)
        results.append((process.returncode, err.decode("utf-8", "replace")))
    return results


def test_concurrent_trust_loses_nothing(tmp_path: Path) -> None:
    """Issue 15.11: 12 concurrent `keys trust` used to leave 3 keys."""
    ring = tmp_path / "ring.yaml"
    keys = [_key(i) for i in range(12)]
    results = _wait_all(
        [_spawn("keys", "trust", k.public_key.text, "--keyring", str(ring), cwd=tmp_path) for k in keys]
    )
    assert all(code == 0 for code, _ in results), results
    store = parse_keyring(ring.read_text())
    assert {entry.public_key for entry in store} == {k.public_key for k in keys}


def test_concurrent_revoke_loses_nothing(tmp_path: Path, cli: Any) -> None:
    """Issue 15.11: 3 in 20 concurrent `keys revoke` exited 0 and lost the revocation."""
    ring = tmp_path / "ring.yaml"
    keys = [_key(i) for i in range(20)]
    document = empty_keyring()
    for k in keys:
        document = add_key(document, k.public_key)
    update_keyring(str(ring), lambda _: document)
    processes = [
        _spawn(
            "keys", "revoke", k.public_key.key_id, "--keyring", str(ring), "--reason", "key-compromise", cwd=tmp_path
        )
        for k in keys
    ]
    results = _wait_all(processes)
    assert all(code == 0 for code, _ in results), results
    listing: CliResult = cli("keys", "list", "--keyring", str(ring), "--json")
    assert [row["status"] for row in listing.json_lines()] == ["revoked (key-compromise)"] * 20
    assert not list(tmp_path.glob(".ring.yaml.*.tmp"))  # no temporary file left behind
