"""Cross-checks with the peers' own libraries (issue 18, items 5 and 6).

The official ``standardwebhooks`` library, Svix's ``svix`` library and Stripe's ``stripe``
library sign deliveries that attestkit verifies, and verify deliveries that attestkit signs.
The peers check timestamps against the real clock, so every delivery here is stamped with the
current time (read once, never slept on).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from attestkit import WebhookVerifier, sign_webhook, verify_webhook
from attestkit.errors import WebhookSignatureError
from tests.conftest import CliResult

standardwebhooks = pytest.importorskip("standardwebhooks")
svix_webhooks = pytest.importorskip("svix.webhooks")
stripe = pytest.importorskip("stripe")

BODY = json.dumps({"event": "receipt.signed", "data": {"execution_id": "exec_7", "note": "caf\u00e9"}}).encode()
RAW_KEY = bytes(range(24))
PADDED = "whsec_" + base64.b64encode(RAW_KEY + b"\x01").decode()  # 25 bytes: base64 ends in "=="
UNPADDED = PADDED.rstrip("=")


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize("secret", [PADDED, UNPADDED])
def test_standardwebhooks_signs_attestkit_verifies(secret: str) -> None:
    assert UNPADDED != PADDED
    moment = _now()
    peer = standardwebhooks.Webhook(secret)
    signature = peer.sign("msg_peer_1", datetime.fromtimestamp(moment, tz=timezone.utc), BODY.decode())
    headers = {"webhook-id": "msg_peer_1", "webhook-timestamp": str(moment), "webhook-signature": signature}
    event = WebhookVerifier([secret], schemes=["standard"]).verify(BODY, headers, now=moment)
    assert event.scheme == "standard" and event.message_id == "msg_peer_1"
    assert verify_webhook(BODY, headers, [secret], now=moment).execution_id == "exec_7"
    with pytest.raises(WebhookSignatureError):
        verify_webhook(BODY + b" ", headers, [secret], now=moment)


@pytest.mark.parametrize("secret", [PADDED, UNPADDED])
def test_attestkit_signs_standardwebhooks_verifies(secret: str) -> None:
    headers = sign_webhook(BODY, secret, scheme="standard", message_id="msg_ak_1", timestamp=_now())
    assert standardwebhooks.Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(BODY.replace(b"exec_7", b"exec_8"), headers)


def test_svix_signs_attestkit_verifies_svix_headers() -> None:
    moment = _now()
    signature = svix_webhooks.Webhook(UNPADDED).sign(
        "msg_svix_1", datetime.fromtimestamp(moment, tz=timezone.utc), BODY.decode()
    )
    headers = {"svix-id": "msg_svix_1", "svix-timestamp": str(moment), "svix-signature": signature}
    event = WebhookVerifier([UNPADDED], schemes=["standard"]).verify(BODY, headers, now=moment)
    assert event.scheme == "standard" and event.message_id == "msg_svix_1"
    assert (
        verify_webhook(BODY, {k.upper(): v for k, v in headers.items()}, [PADDED], now=moment).message_id
        == "msg_svix_1"
    )
    # Svix sends both spellings in some setups: identical values are one delivery.
    both = headers | {k.replace("svix-", "webhook-"): v for k, v in headers.items()}
    assert verify_webhook(BODY, both, [PADDED], now=moment).scheme == "standard"


def test_attestkit_signs_svix_verifies() -> None:
    headers = sign_webhook(BODY, PADDED, scheme="standard", message_id="msg_ak_2", timestamp=_now())
    svix_headers = {k.replace("webhook-", "svix-"): v for k, v in headers.items()}
    svix_webhooks.Webhook(UNPADDED).verify(BODY, svix_headers)
    with pytest.raises(svix_webhooks.WebhookVerificationError):
        svix_webhooks.Webhook(UNPADDED).verify(BODY + b"\n", svix_headers)


def test_stripe_signs_attestkit_verifies() -> None:
    secret = "whsec_test_stripe_endpoint_secret"  # Stripe uses the secret's text as the HMAC key
    moment = _now()
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), secret, timestamp=moment)
    event = WebhookVerifier([secret], schemes=["stripe"]).verify(BODY, {"Stripe-Signature": header}, now=moment)
    assert event.scheme == "stripe" and event.timestamp == moment
    with pytest.raises(WebhookSignatureError):
        verify_webhook(BODY, {"Stripe-Signature": header}, ["whsec_other"], now=moment)


def test_attestkit_signs_stripe_verifies() -> None:
    secret = "whsec_test_stripe_endpoint_secret"
    headers = sign_webhook(BODY, secret, scheme="stripe", timestamp=_now())
    assert stripe.WebhookSignature.verify_header(BODY, headers["Stripe-Signature"], secret, tolerance=300) is True
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY + b" ", headers["Stripe-Signature"], secret, tolerance=300)


def test_cli_verifies_peer_deliveries(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """The command a receiver scripts: an unpadded whsec_ secret and Svix's header names."""
    (tmp_path / "body.json").write_bytes(BODY)
    moment = _now()
    signature = svix_webhooks.Webhook(UNPADDED).sign(
        "msg_cli", datetime.fromtimestamp(moment, tz=timezone.utc), BODY.decode()
    )
    args = ["webhook", "verify", str(tmp_path / "body.json"), "--secret-env", "HOOK", "--now", str(moment)]
    args += ["--header", "svix-id: msg_cli", "--header", f"svix-timestamp: {moment}"]
    args += ["--header", f"svix-signature: {signature}", "--scheme", "standard"]
    result = cli(*args, env={"HOOK": UNPADDED})
    assert result.code == 0, result.err
    assert "scheme=standard" in result.out and "id=msg_cli" in result.out
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), "whsec_cli", timestamp=moment)
    stripe_args = ["webhook", "verify", str(tmp_path / "body.json"), "--secret-env", "HOOK", "--now", str(moment)]
    assert (
        cli(
            *stripe_args, "--header", f"Stripe-Signature: {header}", "--scheme", "stripe", env={"HOOK": "whsec_cli"}
        ).code
        == 0
    )
    signed = cli(
        "webhook",
        "sign",
        str(tmp_path / "body.json"),
        "--secret-env",
        "HOOK",
        "--scheme",
        "stripe",
        env={"HOOK": "whsec_cli"},
    )
    assert signed.code == 0
    name, _, value = signed.out.strip().partition(": ")
    assert name == "Stripe-Signature"
    stripe.WebhookSignature.verify_header(BODY, value, "whsec_cli", tolerance=300)
