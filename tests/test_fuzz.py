"""Malformed input never crashes: every parser of untrusted input raises only attestkit errors."""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.delegation import parse_delegation
from attestkit.core.keyring import parse_keyring
from attestkit.core.keys import parse_private_key, parse_public_key
from attestkit.core.pipeline import parse_pipeline
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.trust import parse_trusted_keys
from attestkit.core.verify import verify_receipt
from attestkit.core.webhooks import verify_webhook
from attestkit.errors import AttestkitError

yaml_like = st.one_of(
    st.text(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=15,
    ).map(lambda v: json.dumps({"keys": v, "verification": {"rules": v}, "version": "0.1", "steps": v})),
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(yaml_like)
def test_keyring_and_trusted_keys(text: str) -> None:
    for parse in (parse_keyring, parse_trusted_keys):
        try:
            parse(text, "fuzz")
        except AttestkitError:
            pass


@FAST
@given(yaml_like)
def test_pipeline_and_rule_files(text: str) -> None:
    for parse in (
        lambda t: parse_pipeline(t.encode("utf-8", "surrogatepass"), "p.yaml"),
        lambda t: load_policy_text("r.yaml", t.encode("utf-8", "surrogatepass")),
    ):
        try:
            parse(text)
        except AttestkitError:
            pass


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200))
def test_rego_files(text: str) -> None:
    try:
        load_policy_text("p.rego", ("package attest.verification\n" + text).encode("utf-8", "surrogatepass"))
    except AttestkitError:
        pass


@FAST
@given(st.binary(max_size=200), st.text(max_size=120))
def test_keys(data: bytes, text: str) -> None:
    for attempt in (
        lambda: parse_private_key(data),
        lambda: parse_private_key(b"-----BEGIN PRIVATE KEY-----\n" + data),
        lambda: parse_public_key(text),
    ):
        try:
            attempt()
        except AttestkitError:
            pass


headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Attest-Signature",
            "X-Hub-Signature-256",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "Stripe-Signature",
            "Other",
        ]
    ),
    st.text(max_size=80),
    max_size=5,
)


@FAST
@given(
    st.binary(max_size=200),
    headers,
    st.sampled_from(
        ["s3cret", "whsec_" + base64.b64encode(b"k" * 24).decode(), "whpk_" + base64.b64encode(b"\x01" * 32).decode()]
    ),
)
def test_webhooks(body: bytes, header_values: dict[str, str], secret: str) -> None:
    try:
        verify_webhook(body, header_values, [secret], now=1_795_176_000)
    except AttestkitError:
        pass


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["payloadType", "payload", "signatures", "type", "delegator", "delegate", "signature"]),
        st.text(max_size=60)
        | st.lists(st.dictionaries(st.sampled_from(["keyid", "sig"]), st.text(max_size=40)), max_size=2),
        max_size=7,
    )
)
def test_envelopes_and_delegations(document: dict[str, object]) -> None:
    try:
        parse_delegation(document)
    except AttestkitError:
        pass
    result = verify_receipt(document, integrity_only=True)
    assert not result.valid
