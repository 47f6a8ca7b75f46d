"""A trusted entry's fields are checked when it is built: a wrong type never widens trust.

``scopes="nonprod"`` was a str, and ``"prod" in "nonprod"`` is a substring test: the key was
trusted for scope ``prod``. Naive or text dates raised raw ``TypeError`` during verify.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from attestkit import PrivateKey, TrustedKey, TrustStore, Verifier, VerifyOptions, sign_receipt, verify_receipt
from attestkit.core.trust.delegation import Delegation
from attestkit.core.trust.store import KeyRevocation
from attestkit.errors import ArgumentTypeError, UsageError
from tests.conftest import make_receipt

KEY = PrivateKey.from_seed(b"\x41" * 32)
PUB = KEY.public_key
AWARE = datetime(2099, 1, 1, tzinfo=timezone.utc)


class _AnyScope(str):
    """Equal to every string: a scope of this type would match any scope asked for."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"scopes": "nonprod"}, ArgumentTypeError),
        ({"roles": "root"}, ArgumentTypeError),
        ({"scopes": ["a", 1]}, ArgumentTypeError),
        ({"scopes": b"prod"}, ArgumentTypeError),
        ({"not_after": datetime(2099, 1, 1)}, UsageError),
        ({"not_before": datetime(2000, 1, 1)}, UsageError),
        ({"not_after": "2000-01-01T00:00:00Z"}, ArgumentTypeError),
        ({"revoked_at": "2000-01-01T00:00:00Z", "revocation_reason": "key-compromise"}, ArgumentTypeError),
        ({"revoked_at": AWARE, "revocation_reason": 1}, ArgumentTypeError),
        ({"identity": 7}, ArgumentTypeError),
    ],
)
def test_wrong_field_types_are_refused_when_built(fields: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        TrustedKey(PUB, **fields)


@pytest.mark.parametrize("value", [PUB.text, PUB.raw, None])
def test_a_trusted_key_holds_a_public_key_object(value: object) -> None:
    with pytest.raises(ArgumentTypeError, match="PublicKey"):
        TrustedKey(value)  # type: ignore[arg-type]


def test_a_str_scope_grants_no_substring_scope() -> None:
    signed = json.dumps(sign_receipt(make_receipt(), KEY)).encode()
    with pytest.raises(ArgumentTypeError, match="tuple of str"):
        TrustStore.of([TrustedKey(PUB, scopes="nonprod")])  # type: ignore[arg-type]
    store = TrustStore.of([TrustedKey(PUB, scopes=("nonprod",))])
    result = Verifier(VerifyOptions(trusted=store, scope="prod", now=AWARE)).verify(signed)
    assert not result.valid
    assert "out-of-scope" in [check.code for check in result.failed_checks]


def test_scopes_are_kept_as_exact_strings() -> None:
    entry = TrustedKey(PUB, scopes=[_AnyScope("nonprod")], roles=frozenset({"signer", "root"}))  # type: ignore[arg-type]
    assert [type(scope) for scope in entry.scopes] == [str]
    assert entry.roles == ("root", "signer")
    signed = sign_receipt(make_receipt(), KEY)
    result = verify_receipt(signed, trusted_keys=[entry], scope="prod", now=AWARE)
    assert not result.valid


def test_scope_option_is_a_str() -> None:
    with pytest.raises(ArgumentTypeError, match="scope"):
        VerifyOptions(trusted=TrustStore.of([PUB]), scope=["prod"])  # type: ignore[arg-type]


def test_revocations_and_delegations_check_their_fields() -> None:
    with pytest.raises(UsageError):
        KeyRevocation(PUB, datetime(2020, 1, 1))
    with pytest.raises(ArgumentTypeError):
        KeyRevocation(PUB, "2020-01-01T00:00:00Z")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match=r"Delegation\.scopes"):
        Delegation(PUB, PUB.raw, None, "nonprod", None, None, True)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Delegation(PUB, PUB.raw, None, ("a",), datetime(2020, 1, 1), None, True)


@pytest.mark.parametrize(
    "fields",
    [
        {"keys": (PUB,)},  # a PublicKey where a TrustedKey goes
        {"keys": "ed25519:" + PUB.raw.hex()},
        {"keys": (TrustedKey(PUB) for _ in range(1))},
        {"revocations": ("x",)},
        {"delegations": ("x",)},  # accepted silently, then AttributeError in the middle of a verify
        {"delegations": (None,)},
    ],
    ids=["public-key", "str", "generator", "revocation-str", "delegation-str", "delegation-none"],
)
def test_a_trust_store_checks_its_entries_when_built(fields: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"keys": (TrustedKey(PUB, roles=("root",)),), **fields}
    with pytest.raises(ArgumentTypeError, match="TrustStore"):
        TrustStore(**arguments)


def test_a_trust_store_takes_lists() -> None:
    store = TrustStore([TrustedKey(PUB)], [], [])
    assert store.keys == (TrustedKey(PUB),) and store.lookup(PUB) is not None
