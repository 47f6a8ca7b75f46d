"""Keyring edits on disk: the pure edit functions of :mod:`attestkit.core.trust.keyring`, applied
to a keyring file under its lock (atomically, with a ``.bak`` of the previous version).

Public face: :func:`trust_key`, :func:`revoke`, :func:`rotate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec

from attestkit.adapters.files import update_keyring, write_keypair
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.trust.keyring import add_key, revocation_status, revoke_key, rotate_key
from attestkit.core.trust.store import TrustStore

_P = ParamSpec("_P")


def on_file(
    edit: Callable[Concatenate[Mapping[str, Any], _P], dict[str, Any]],
) -> Callable[Concatenate[str, _P], TrustStore]:
    """The pure keyring edit *edit* applied to the keyring file at a path (created if missing),
    under its lock, with the path as the edit's ``source``: same arguments after the path."""

    def apply(path: str, /, *args: _P.args, **kwargs: _P.kwargs) -> TrustStore:
        call: Callable[..., dict[str, Any]] = edit
        return update_keyring(path, lambda document: call(document, *args, **{"source": path, **kwargs}))

    return apply


#: ``trust_key(path, public_key, *, identity, scopes, roles, not_before, not_after)``: add
#: *public_key* to the keyring at *path* (created if missing); the keyring as written. The
#: arguments are :func:`attestkit.core.trust.keyring.add_key`'s, whose docstring says the rules.
trust_key = on_file(add_key)
trust_key.__doc__ = "Add *public_key* to the keyring at *path* (created if missing); the keyring as written."


def revoke(path: str, selector: str, reason: str, at: datetime) -> str:
    """Revoke the key *selector* in the keyring at *path* from *at*; how it now stands (reason and date)."""
    store = update_keyring(path, lambda document: revoke_key(document, selector, reason, at, source=path))
    return revocation_status(store, selector)


def rotate(
    path: str,
    selector: str,
    out_dir: str,
    name: str,
    now: datetime,
    transition: timedelta,
    passphrase: bytes | None = None,
) -> tuple[PrivateKey, str, str]:
    """Generate a key, trust it like *selector*, supersede *selector* at *now* + *transition*.

    The key files (``out_dir/name.key`` 0600 and ``.pub``) are written only once the edit is
    known to be acceptable, under the keyring's lock; if the keyring cannot be written they
    are removed again, so no key exists that the keyring does not know. Returns the new key
    and the paths of its two files.
    """
    import os

    new_key = PrivateKey.generate()
    written: list[str] = []

    def change(document: dict[str, Any]) -> dict[str, Any]:
        updated = rotate_key(document, selector, new_key.public_key, now, transition, source=path)
        written.extend(write_keypair(out_dir, name, new_key, passphrase))
        return updated

    try:
        update_keyring(path, change)
    except BaseException:
        for written_path in written:
            os.unlink(written_path)
        raise
    return new_key, written[0], written[1]


__all__ = ["revoke", "rotate", "trust_key"]
