"""``trust_key`` is :func:`add_key` applied to a file: same arguments, the path as its source."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from pathlib import Path

import pytest

from attestkit.adapters.files import update_keyring
from attestkit.adapters.keyring_files import on_file, trust_key
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.trust.keyring import add_key, revoke_key
from attestkit.errors import KeyringEditError

T0 = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def test_trust_key_takes_add_keys_arguments_and_names_the_file(tmp_path: Path) -> None:
    ring = str(tmp_path / "ring.json")
    key = PrivateKey.from_seed(b"\x01" * 32).public_key
    store = trust_key(ring, key, identity="ci@x", scopes=["p"], roles=["root"], not_before=T0)
    [entry] = store.keys
    assert (entry.identity, entry.scopes, entry.roles, entry.not_before) == ("ci@x", ("p",), ("root",), T0)
    with pytest.raises(KeyringEditError, match=f"^{ring}: key {key.text} is already in the keyring"):
        trust_key(ring, key)
    assert list(inspect.signature(add_key).parameters)[1:] == ["public_key", "identity", "scopes", "roles",
                                                                "not_before", "not_after", "source"]  # fmt: skip


def test_any_pure_edit_lifts_to_a_file(tmp_path: Path) -> None:
    ring = str(tmp_path / "ring.json")
    key = PrivateKey.from_seed(b"\x02" * 32).public_key
    trust_key(ring, key)
    revoked = on_file(revoke_key)(ring, key.text, "key-compromise", T0)
    assert revoked.keys[0].revoked_at == T0 and revoked.keys[0].revocation_reason == "key-compromise"
    with pytest.raises(KeyringEditError, match=f"^{ring}: "):
        update_keyring(ring, lambda document: add_key(document, key, source=ring))
