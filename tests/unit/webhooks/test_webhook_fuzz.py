"""Fuzzing the receiver with its scheme pinned (issue 15 item 14, "Done when").

Whatever a request contains, a configured :class:`WebhookVerifier` raises nothing but
``WebhookVerificationError``; and whatever it accepts is authentic by an independent check
written with ``hmac``/``base64`` here. Under CI (``CI=true``) the profile is derandomised and
the example counts are in the thousands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit import WebhookVerifier, sign_webhook
from attestkit.errors import WebhookSecretError, WebhookVerificationError

CI = os.environ.get("CI", "").lower() in ("true", "1")
EXAMPLES = 3000 if CI else 300
T0 = 1_795_176_000
HMAC_SECRET = b"fuzz-secret"
STANDARD_RAW = b"k" * 24
STANDARD_SECRET = "whsec_" + base64.b64encode(STANDARD_RAW).decode()
SECRETS = {"attest": HMAC_SECRET, "github": HMAC_SECRET, "stripe": HMAC_SECRET, "standard": STANDARD_SECRET}
VERIFIERS = {name: WebhookVerifier([secret], schemes=[name]) for name, secret in SECRETS.items()}


class _Forgetful:
    """A replay guard that remembers nothing: it only sends the verifier down its general path."""

    def seen(self, key: str, now: float, ttl: float) -> bool:
        return False


GENERAL = {
    name: WebhookVerifier([secret], schemes=[name], replay_guard=_Forgetful()) for name, secret in SECRETS.items()
}

_NAMES = [
    "X-Attest-Signature",
    "x-attest-signature",
    "X-ATTEST-SIGNATURE",
    "X-Hub-Signature-256",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "Stripe-Signature",
    "Content-Type",
]
_ATOMS = st.sampled_from(
    [
        "sha256=",
        "v1,",
        "v1a,",
        "t=",
        "v1=",
        ",",
        " ",
        "=",
        "\t",
        str(T0),
        "0" * 64,
        "f" * 64,
        "AAAA",
        "msg_1",
        "\x00",
        "é",
    ]
)
_VALUES = st.one_of(
    st.text(max_size=90),
    st.lists(_ATOMS | st.text(max_size=6), max_size=12).map("".join),
)


def _mutate(value: str, data: st.DataObject) -> str:
    choice = data.draw(st.integers(0, 6))
    if choice == 0:
        return value
    if choice == 1:
        return value.upper()
    if choice == 2:
        cut = data.draw(st.integers(0, len(value)))
        return value[:cut] + data.draw(_VALUES) + value[cut:]
    if choice == 3:
        return value[: data.draw(st.integers(0, len(value)))]
    if choice == 4:
        return f" {value} "
    if choice == 5:
        position = data.draw(st.integers(0, max(len(value) - 1, 0)))
        return value[:position] + data.draw(st.characters()) + value[position + 1 :]
    return data.draw(_VALUES)


def _variants(headers: dict[str, str], name: str) -> list[str]:
    return [value for key, value in headers.items() if key.lower() == name]


def _authentic(scheme: str, body: bytes, headers: dict[str, str]) -> bool:
    """An independent check (hmac and base64 only): some signature header carries a genuine MAC."""
    if scheme in ("attest", "github"):
        name = "x-attest-signature" if scheme == "attest" else "x-hub-signature-256"
        mac = hmac.new(HMAC_SECRET, body, hashlib.sha256).hexdigest()
        return any(value.strip()[7:].lower() == mac for value in _variants(headers, name))
    if scheme == "stripe":
        for value in _variants(headers, "stripe-signature"):
            items = [item.strip().partition("=") for item in value.split(",")]
            stamps = [v for k, _, v in items if k == "t"]
            if len(stamps) == 1:
                mac = hmac.new(HMAC_SECRET, stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
                if any(k == "v1" and v == mac for k, _, v in items):
                    return True
        return False
    ids = _variants(headers, "webhook-id") + _variants(headers, "svix-id")
    stamps = _variants(headers, "webhook-timestamp") + _variants(headers, "svix-timestamp")
    signatures = _variants(headers, "webhook-signature") + _variants(headers, "svix-signature")
    for ident in ids:
        for stamp in stamps:
            mac = hmac.new(STANDARD_RAW, f"{ident}.{stamp.strip()}.".encode() + body, hashlib.sha256).digest()
            expected = "v1," + base64.b64encode(mac).decode()
            if any(expected in value.split() for value in signatures):
                return True
    return False


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(sorted(SECRETS)),
    body=st.binary(max_size=300),
    tamper_body=st.booleans(),
    extra=st.dictionaries(st.sampled_from(_NAMES), _VALUES, max_size=3),
    data=st.data(),
)
def test_pinned_receiver_raises_only_verification_errors(
    scheme: str, body: bytes, tamper_body: bool, extra: dict[str, str], data: st.DataObject
) -> None:
    secret = SECRETS[scheme]
    message_id = data.draw(st.sampled_from(["msg_1", "m.1", "é", ""]) | st.text(max_size=12))
    try:
        genuine = sign_webhook(body, secret, scheme=scheme, timestamp=T0, message_id=message_id or None)
    except WebhookSecretError:  # a message id that is not text cannot be signed; the receiver still gets fuzzed
        genuine = {"webhook-id": message_id, "webhook-timestamp": str(T0), "webhook-signature": "v1,AAAA"}
    headers: dict[str, Any] = {}
    for name, value in genuine.items():
        spelled = data.draw(st.sampled_from([name, name.lower(), name.upper(), name.replace("webhook-", "svix-")]))
        headers[spelled] = _mutate(value, data)
    for name, value in extra.items():
        headers.setdefault(name, value)
    if data.draw(st.booleans()):
        headers.pop(data.draw(st.sampled_from(sorted(headers))), None)
    sent = body + b"x" if tamper_body else body
    now = T0 + data.draw(st.integers(-400, 400))
    for verifier in (VERIFIERS[scheme], GENERAL[scheme]):
        try:
            event = verifier.verify(sent, headers, now=now)
        except WebhookVerificationError:
            continue
        assert event.body == sent and event.scheme == scheme
        assert _authentic(scheme, sent, headers), (scheme, headers)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(body=st.binary(max_size=200), data=st.data())
def test_fast_path_agrees_with_the_general_path(body: bytes, data: st.DataObject) -> None:
    """The pinned fast path accepts and refuses exactly what the general path does."""
    genuine = sign_webhook(body, HMAC_SECRET, scheme="attest")["X-Attest-Signature"]
    usual = ["X-Attest-Signature", "x-attest-signature", "X-ATTEST-SIGNATURE"]
    names = data.draw(
        st.lists(st.sampled_from(usual), min_size=1, max_size=3, unique=True) | st.just(["X-Attest-SIGNATURE"])
    )
    headers = {name: _mutate(genuine, data) for name in names}
    if data.draw(st.booleans()):
        headers["Content-Type"] = "application/json"
    outcomes = []
    for verifier in (VERIFIERS["attest"], GENERAL["attest"]):
        try:
            verifier.verify(body, headers)
            outcomes.append("valid")
        except WebhookVerificationError as exc:
            outcomes.append(exc.code)
    assert outcomes[0] == outcomes[1], (headers, outcomes)
