"""Checks of the library's arguments: a wrong type is an :class:`ArgumentTypeError` (a ``TypeError``
and a :class:`UsageError`) that says what was expected; a wrong value a :class:`UsageError`.

Public face: :func:`trusted_keys_argument`, :func:`instant_argument`, :func:`duration_argument`,
:func:`policies_argument`, :func:`directory_argument`, :func:`receipt_argument`,
:func:`private_key_argument`. Each returns the value in the form the library works with, or
raises; none does I/O except :func:`directory_argument` (one ``stat``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.trust.store import TrustedKey, TrustStore
from attestkit.errors import ArgumentTypeError, UsageError

_KEYS = "a TrustStore or a list of keys (PublicKey, TrustedKey or 'ed25519:<hex>' text)"


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__


def trusted_keys_argument(value: object, name: str = "trusted_keys") -> TrustStore:
    """*value* as a :class:`TrustStore`: a store, or an iterable of keys (never one bare key or text)."""
    if isinstance(value, TrustStore):
        return value
    if isinstance(value, (PublicKey, TrustedKey, str, bytes)):
        raise ArgumentTypeError(f"{name}: expected {_KEYS}, got one {_kind(value)}; wrap a single key in a list: [key]")
    if value is None or isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{name}: expected {_KEYS}, got {_kind(value)}")
    keys = list(value)
    for item in keys:
        if not isinstance(item, (PublicKey, TrustedKey, str)):
            raise ArgumentTypeError(f"{name}: expected {_KEYS}, got a list holding {_kind(item)}")
    return TrustStore.of(keys)


def instant_argument(value: object, name: str) -> datetime | None:
    """*value* as an aware datetime (or ``None``)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        hint = (
            " (parse text with attestkit.core.timeutil.parse_instant)" if isinstance(value, (str, int, float)) else ""
        )
        raise ArgumentTypeError(f"{name}: expected a timezone-aware datetime, got {_kind(value)}{hint}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"{name}: expected a timezone-aware datetime, got a naive one (add tzinfo=timezone.utc)")
    return value


def duration_argument(value: object, name: str) -> timedelta:
    """*value* as a non-negative timedelta."""
    if not isinstance(value, timedelta):
        hint = " (parse '5m' with attestkit.core.timeutil.parse_duration)" if isinstance(value, str) else ""
        raise ArgumentTypeError(f"{name}: expected a datetime.timedelta, got {_kind(value)}{hint}")
    if value < timedelta(0):
        raise UsageError(f"{name}: expected a duration of 0 or more, got {value}")
    return value


def policies_argument(value: object, name: str = "policies") -> tuple[Any, ...]:
    """*value* as a tuple of policy objects (names are refused with the call that makes one)."""
    from attestkit.core.policy.base import Policy

    if isinstance(value, (str, bytes)) or value is None or not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{name}: expected a list of policies, got {_kind(value)}")
    found = tuple(value)
    for item in found:
        if isinstance(item, str):
            raise ArgumentTypeError(f"{name}: {item!r} is a policy name, not a policy: use builtin_policy({item!r})")
        if not isinstance(item, Policy):
            raise ArgumentTypeError(f"{name}: expected policies (objects with name and evaluate), got {_kind(item)}")
    return found


def directory_argument(value: object, name: str) -> str | None:
    """*value* as the path of an existing directory (or ``None``)."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name}: expected a directory path, got {_kind(value)}")
    path = os.fspath(value)
    if not isinstance(path, str) or not os.path.isdir(path):
        raise UsageError(f"{name} {path!r}: no such directory")
    return path


def receipt_argument(value: object, name: str = "receipt") -> Mapping[str, Any]:
    """*value* as a receipt mapping."""
    if not isinstance(value, Mapping):
        hint = (
            " (read text or bytes with attestkit.parse_receipt(data).data)" if isinstance(value, (str, bytes)) else ""
        )
        raise ArgumentTypeError(f"{name}: expected the receipt as a mapping, got {_kind(value)}{hint}")
    return value


def private_key_argument(value: object, name: str = "private_key") -> PrivateKey:
    """*value* as a :class:`PrivateKey`."""
    if not isinstance(value, PrivateKey):
        hint = " (load one with attestkit.load_private_key_file)" if isinstance(value, (str, bytes)) else ""
        raise ArgumentTypeError(f"{name}: expected a PrivateKey, got {_kind(value)}{hint}")
    return value


__all__ = [
    "directory_argument",
    "duration_argument",
    "instant_argument",
    "policies_argument",
    "private_key_argument",
    "receipt_argument",
    "trusted_keys_argument",
]
