"""A webhook secret never shows in a rejected delivery's traceback locals, and is never pickled.

Error trackers (Sentry and others) record every frame's locals: ``keys = (b'...',)`` in
``_verify`` and the schemes' ``verify`` printed the secret on every rejected delivery, and
``pickle.dumps`` of a verifier held it in plain text (or failed with a raw ``TypeError``).
"""

from __future__ import annotations

import base64
import copy
import pickle
import traceback
from collections.abc import Callable

import pytest

from attestkit.core.webhooks import MemoryReplayGuard, WebhookVerifier
from attestkit.core.webhooks._schemes import Secret
from attestkit.errors import WebhookSecretError, WebhookVerificationError

T0 = 1_795_176_000
PLAIN = "s3cr3t-Hunter2-webhook-secret"
DECODED = b"decoded-standard-key-0123"  # what a whsec_ secret's base64 decodes to
STANDARD = "whsec_" + base64.b64encode(DECODED).decode()
BAD_HEX = "0" * 64
BAD_B64 = base64.b64encode(b"\0" * 32).decode()

DELIVERIES: dict[str, tuple[str, dict[str, str]]] = {
    "attest": (PLAIN, {"X-Attest-Signature": "sha256=" + BAD_HEX}),
    "github": (PLAIN, {"X-Hub-Signature-256": "sha256=" + BAD_HEX}),
    "stripe": (PLAIN, {"Stripe-Signature": f"t={T0},v1={BAD_HEX}"}),
    "standard": (
        STANDARD,
        {"webhook-id": "msg_1", "webhook-timestamp": str(T0), "webhook-signature": "v1," + BAD_B64},
    ),
}
LEAKS = (PLAIN, repr(PLAIN.encode()), STANDARD, repr(DECODED), DECODED.hex())


def _verifier(scheme: str, guarded: bool) -> WebhookVerifier:
    guard = MemoryReplayGuard() if guarded else None
    return WebhookVerifier([DELIVERIES[scheme][0]], schemes=[scheme], replay_guard=guard)


def _rejection_text(verify: Callable[[], object]) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify()
    exception = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    return "".join(exception.format())


@pytest.mark.parametrize("scheme", sorted(DELIVERIES))
def test_no_frame_of_a_rejected_delivery_shows_the_secret(scheme: str) -> None:
    verifier = _verifier(scheme, guarded=True)  # a guard takes every scheme through the general path
    text = _rejection_text(lambda: verifier.verify(b"{}", DELIVERIES[scheme][1], now=T0))
    assert "verify" in text  # the library's frames are in it
    assert [leak for leak in LEAKS if leak in text] == []


@pytest.mark.parametrize("scheme", sorted(DELIVERIES))
def test_a_verifier_is_never_pickled_or_copied(scheme: str) -> None:
    verifier = _verifier(scheme, guarded=False)
    for serialise in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(WebhookSecretError) as caught:
            serialise(verifier)
        assert caught.value.code == "webhook-serialise"
    with pytest.raises(WebhookSecretError):
        pickle.dumps(Secret(PLAIN.encode()))
