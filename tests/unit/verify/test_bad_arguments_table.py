"""A bad argument to the public API is an AttestkitError (README: "no other exception comes out
of the public API for a bad argument"), never AttributeError, AssertionError or OverflowError."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from attestkit import PrivateKey, TrustStore, Verifier, VerifyOptions, sign_receipt, verify_receipt
from attestkit.core.verify.bulk import BulkItem, verify_many
from attestkit.core.webhooks import WebhookVerifier, sign_webhook
from attestkit.errors import ArgumentTypeError, UsageError
from tests.conftest import make_receipt

KEY = PrivateKey.from_seed(b"\x43" * 32)
SIGNED = sign_receipt(make_receipt(), KEY)
RAW = json.dumps(SIGNED).encode()
VERIFIER = Verifier(VerifyOptions(trusted=TrustStore.of([KEY.public_key])))
OPTIONS = VERIFIER.options
WEBHOOK = WebhookVerifier(["s3cr3t"], schemes=["attest"])
BODY = b"{}"


def _many(documents: Any, **kwargs: Any) -> Callable[[], object]:
    return lambda: list(VERIFIER.verify_many(documents, **kwargs))


CASES: list[tuple[str, Callable[[], object], type[Exception]]] = [
    ("verify_many (label, dict)", _many([("a", SIGNED)]), ArgumentTypeError),
    ("verify_many (label, str)", _many([("a", RAW.decode())]), ArgumentTypeError),
    ("verify_many bare bytes", _many([RAW]), ArgumentTypeError),
    ("verify_many (label, None)", _many([("a", None)]), ArgumentTypeError),
    ("verify_many (None, bytes)", _many([(None, RAW)]), ArgumentTypeError),
    ("verify_many jobs='2'", _many([("a", RAW)], jobs="2"), ArgumentTypeError),
    # 10**6 forked a million workers for one receipt (a hang); 0 and -1 passed silently.
    ("verify_many jobs=10**6", _many([("a", RAW)], jobs=10**6), UsageError),
    ("verify_many jobs=0", _many([("a", RAW)], jobs=0), UsageError),
    ("verify_many jobs=-1", _many([("a", RAW)], jobs=-1), UsageError),
    (
        "bulk verify_many jobs=1.5",
        lambda: list(verify_many([BulkItem("a", RAW)], OPTIONS, jobs=1.5)),
        ArgumentTypeError,
    ),  # type: ignore[arg-type]
    # Review (adv-io2): these were AttributeError or TypeError from the middle of the library.
    ("bulk verify_many path str item", lambda: list(verify_many(["a.json"], OPTIONS, jobs=1)), ArgumentTypeError),  # type: ignore[list-item]
    ("bulk verify_many None item", lambda: list(verify_many([None], OPTIONS, jobs=2)), ArgumentTypeError),  # type: ignore[list-item]
    ("bulk verify_many items=None", lambda: list(verify_many(None, OPTIONS, jobs=1)), ArgumentTypeError),  # type: ignore[arg-type]
    ("bulk verify_many options=None", lambda: list(verify_many([BulkItem("a", RAW)], None, jobs=1)), ArgumentTypeError),  # type: ignore[arg-type]
    (
        "bulk verify_many budget=30",
        lambda: list(verify_many([BulkItem("a", RAW)], OPTIONS, budget=30)),
        ArgumentTypeError,
    ),  # type: ignore[arg-type]
    ("TrustStore.of(None)", lambda: TrustStore.of(None), ArgumentTypeError),  # type: ignore[arg-type]
    ("TrustStore.of(one key)", lambda: TrustStore.of(KEY.public_key), ArgumentTypeError),  # type: ignore[arg-type]
    ("TrustStore.of(one key text)", lambda: TrustStore.of(KEY.public_key.text), ArgumentTypeError),
    ("TrustStore.merged(a list)", lambda: OPTIONS.trusted.merged([KEY.public_key]), ArgumentTypeError),  # type: ignore[arg-type]
    ("BulkItem without bytes", lambda: BulkItem("x", None), UsageError),
    ("BulkItem str data", lambda: BulkItem("x", RAW.decode()), ArgumentTypeError),  # type: ignore[arg-type]
    ("BulkItem bad fmt", lambda: BulkItem("x", RAW, fmt="xml"), UsageError),
    (
        "verify_receipt tolerance=timedelta.max",
        lambda: verify_receipt(RAW, trusted_keys=[KEY.public_key], tolerance=timedelta.max),
        UsageError,
    ),
    ("webhook now=10**400", lambda: WEBHOOK.verify(BODY, sign_webhook(BODY, "s3cr3t"), now=10**400), UsageError),
    (
        "webhook naive now",
        lambda: WebhookVerifier(["s3cr3t"], schemes=["stripe"]).verify(
            BODY, sign_webhook(BODY, "s3cr3t", scheme="stripe"), now=datetime(2026, 1, 1)
        ),
        UsageError,
    ),
]


@pytest.mark.parametrize(("label", "call", "error"), CASES, ids=[label for label, _, _ in CASES])
def test_a_bad_argument_is_an_attestkit_error(label: str, call: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


def test_good_arguments_still_work() -> None:
    assert [r.valid for r in VERIFIER.verify_many([("a", RAW), ("b", bytearray(RAW))])] == [True, True]
    for keys in (
        (k for k in [KEY.public_key]),
        frozenset([KEY.public_key]),
        (KEY.public_key.text,),
        {KEY.public_key.text: 1},
    ):
        assert TrustStore.of(keys).keys[0].public_key == KEY.public_key
    assert [o.valid for o in verify_many(iter([BulkItem("a", RAW)]), OPTIONS, jobs=1)] == [True]
    now = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    assert verify_receipt(RAW, trusted_keys=[KEY.public_key], now=now, tolerance=timedelta(days=366)).valid
