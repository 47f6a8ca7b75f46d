"""Webhook verification: official vectors, every scheme, every failure mode."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit.core import webhooks
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.webhooks import MemoryReplayGuard, receipt_digest_matches, sign_webhook, verify_webhook
from attestkit.errors import (
    UsageError,
    WebhookHeaderError,
    WebhookReplayError,
    WebhookSignatureError,
    WebhookTimestampError,
)
from tests.conftest import CliResult, external, load_json

T0 = 1_795_176_000


def test_standard_webhooks_vectors() -> None:
    data = load_json(external("standard-webhooks/standard_webhooks_vectors.json"))
    by_name = {}
    for vector in data["vectors"]:
        by_name[vector["name"]] = vector
        body = vector["payload"].encode()
        headers = sign_webhook(
            body, vector["secret"], scheme="standard", message_id=vector["id"], timestamp=vector["timestamp"]
        )
        assert headers["webhook-signature"] == vector["expected_signature"]
        event = verify_webhook(
            body,
            {
                "webhook-id": vector["id"],
                "webhook-timestamp": str(vector["timestamp"]),
                "webhook-signature": vector["expected_signature"],
            },
            [vector["secret"]],
            now=vector["timestamp"],
        )
        assert event.scheme == "standard" and event.message_id == vector["id"]
    for negative in data["negative"]:
        base = by_name[negative["based_on"]]
        headers = {
            "webhook-id": base["id"],
            "webhook-timestamp": str(base["timestamp"]),
            "webhook-signature": negative["webhook_signature"],
        }
        if negative["expected"] == "valid":
            verify_webhook(base["payload"].encode(), headers, [base["secret"]], now=base["timestamp"])
        else:
            with pytest.raises(WebhookSignatureError):
                verify_webhook(base["payload"].encode(), headers, [base["secret"]], now=base["timestamp"])
    for bad in data["sign_input_errors"]["timestamps"]:
        vector = data["vectors"][0]
        headers = {
            "webhook-id": vector["id"],
            "webhook-timestamp": bad,
            "webhook-signature": vector["expected_signature"],
        }
        with pytest.raises(WebhookTimestampError):
            verify_webhook(vector["payload"].encode(), headers, [vector["secret"]], now=vector["timestamp"])


def test_wycheproof_hmac_sha256_through_the_attest_path() -> None:
    """Full-length tags verify exactly as Wycheproof says; truncated tags are never accepted."""
    data = load_json(external("wycheproof/hmac_sha256_test.json"))
    checked = 0
    for group in data["testGroups"]:
        for test in group["tests"]:
            body, key, tag = bytes.fromhex(test["msg"]), bytes.fromhex(test["key"]), test["tag"]
            headers = {"X-Attest-Signature": f"sha256={tag}"}
            should_pass = test["result"] == "valid" and group["tagSize"] == 256
            if should_pass:
                verify_webhook(body, headers, [key])
            else:
                with pytest.raises(WebhookSignatureError):
                    verify_webhook(body, headers, [key])
            checked += 1
    assert checked == 174


def test_rfc4231_vectors() -> None:
    for test in load_json(external("rfc4231/hmac_sha256_rfc4231.json"))["tests"]:
        if test.get("truncate_bits"):
            continue
        headers = sign_webhook(bytes.fromhex(test["data"]), bytes.fromhex(test["key"]), scheme="attest")
        assert headers == {"X-Attest-Signature": "sha256=" + test["mac"]}


def test_github_documented_example() -> None:
    # From GitHub's "Validating webhook deliveries" documentation.
    body = b"Hello, World!"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    event = verify_webhook(body, {"X-Hub-Signature-256": signature}, ["It's a Secret to Everybody"])
    assert event.scheme == "github" and event.payload is None


@pytest.mark.parametrize("scheme", ["attest", "github", "stripe", "standard"])
def test_round_trip_each_scheme_case_insensitive_headers(scheme: str) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode() if scheme == "standard" else "s3cret"
    body = json.dumps(
        {"event": "receipt.signed", "data": {"execution_id": "exec_1", "receipt_hash": "blake3:" + "aa" * 32}}
    ).encode()
    headers = sign_webhook(body, secret, scheme=scheme, timestamp=T0)
    shouted = {k.upper(): v for k, v in headers.items()}
    old = "whsec_" + base64.b64encode(b"o" * 24).decode() if scheme == "standard" else "old-secret"
    event = verify_webhook(body, shouted, [old, secret], now=T0)
    assert event.scheme == scheme and event.event_type == "receipt.signed" and event.execution_id == "exec_1"
    with pytest.raises(WebhookSignatureError):
        verify_webhook(body + b" ", headers, [secret], now=T0)
    with pytest.raises(WebhookSignatureError):
        verify_webhook(
            body,
            headers,
            ["whsec_" + base64.b64encode(b"x" * 24).decode() if scheme == "standard" else "other"],
            now=T0,
        )


@pytest.mark.parametrize("scheme", ["stripe", "standard"])
def test_timestamp_tolerance_both_directions(scheme: str) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode() if scheme == "standard" else "s3cret"
    headers = sign_webhook(b"{}", secret, scheme=scheme, timestamp=T0)
    verify_webhook(b"{}", headers, [secret], now=T0 + 300)
    verify_webhook(b"{}", headers, [secret], now=T0 - 300)
    with pytest.raises(WebhookTimestampError, match="too old"):
        verify_webhook(b"{}", headers, [secret], now=T0 + 301)
    with pytest.raises(WebhookTimestampError, match="future"):
        verify_webhook(b"{}", headers, [secret], now=T0 - 301)


@pytest.mark.parametrize("bad", ["1795176000.9", "1795176000e0", " 1795176000x", "-1", "", "0x10"])
def test_timestamps_are_strict_integers(bad: str) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    headers = sign_webhook(b"{}", secret, scheme="standard", timestamp=T0, message_id="m1")
    headers["webhook-timestamp"] = bad
    with pytest.raises(WebhookTimestampError):
        verify_webhook(b"{}", headers, [secret], now=T0)


def test_non_utf8_body_verifies_as_bytes() -> None:
    body = b"\xff\xfe\x00binary"
    event = verify_webhook(body, sign_webhook(body, "s", scheme="attest"), ["s"])
    assert event.body == body and event.payload is None


@pytest.mark.parametrize("body", ['{"a": 1}', {"a": 1}, None])
def test_body_must_be_bytes(body: Any) -> None:
    with pytest.raises(TypeError, match="raw request bytes"):
        verify_webhook(body, {"X-Attest-Signature": "sha256=" + "0" * 64}, ["s"])


def test_missing_headers() -> None:
    with pytest.raises(WebhookHeaderError, match="no webhook signature header"):
        verify_webhook(b"{}", {"Content-Type": "application/json"}, ["s"])
    with pytest.raises(WebhookHeaderError, match="webhook-id"):
        verify_webhook(b"{}", {"webhook-signature": "v1,AAAA", "webhook-timestamp": str(T0)}, ["whsec_AAAA"], now=T0)
    with pytest.raises(WebhookHeaderError):
        verify_webhook(b"{}", {"X-Attest-Signature": "md5=abc"}, ["s"])
    with pytest.raises(WebhookHeaderError):
        verify_webhook(b"{}", {"Stripe-Signature": "v1=abc"}, ["s"], now=T0)
    with pytest.raises(UsageError):
        verify_webhook(b"{}", {"X-Attest-Signature": "sha256=" + "0" * 64}, [])


def test_replay_guard() -> None:
    guard = MemoryReplayGuard(max_entries=2)
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    headers = sign_webhook(b"{}", secret, scheme="standard", timestamp=T0, message_id="msg_1")
    verify_webhook(b"{}", headers, [secret], now=T0, replay_guard=guard)
    with pytest.raises(WebhookReplayError):
        verify_webhook(b"{}", headers, [secret], now=T0 + 10, replay_guard=guard)
    attest_headers = sign_webhook(b"body", "s", scheme="attest")
    verify_webhook(b"body", attest_headers, ["s"], now=T0, replay_guard=guard)
    with pytest.raises(WebhookReplayError):
        verify_webhook(b"body", attest_headers, ["s"], now=T0, replay_guard=guard)
    assert not guard.seen("late", T0 + 10_000, 600)


def test_asymmetric_v1a_signatures() -> None:
    key = PrivateKey.from_seed(bytes(range(32)))
    signing = "whsk_" + base64.b64encode(key.seed).decode()
    public = "whpk_" + base64.b64encode(key.public_key.raw).decode()
    headers = sign_webhook(b'{"x":1}', signing, scheme="standard", timestamp=T0, message_id="m")
    assert headers["webhook-signature"].startswith("v1a,")
    assert verify_webhook(b'{"x":1}', headers, [public], now=T0).message_id == "m"
    with pytest.raises(WebhookSignatureError):
        verify_webhook(b'{"x":2}', headers, [public], now=T0)


def test_comparisons_are_constant_time_by_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every MAC comparison goes through hmac.compare_digest on 32-byte strings, once per secret."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for scheme in ("attest", "github", "stripe", "standard"):
        secret = "whsec_" + base64.b64encode(b"k" * 24).decode() if scheme == "standard" else "s"
        headers = sign_webhook(b"x", secret, scheme=scheme, timestamp=T0)
        for pinned in (None, [scheme]):  # the general path and the pinned fast path
            calls.clear()
            with pytest.raises(WebhookSignatureError):
                verify_webhook(b"y", headers, [secret, secret], now=T0, schemes=pinned)
            assert calls == [(32, 32), (32, 32)], (scheme, pinned, calls)
            calls.clear()
            verify_webhook(
                b"x", headers, [secret, "whsec_" + base64.b64encode(b"o" * 24).decode()], now=T0, schemes=pinned
            )
            assert calls == [(32, 32), (32, 32)], (scheme, pinned, calls)


def test_receipt_digest_helper() -> None:
    from blake3 import blake3

    receipt = b'{"receipt": 1}'
    body = json.dumps(
        {"event": "receipt.signed", "data": {"receipt_hash": "blake3:" + blake3(receipt).hexdigest().upper()}}
    ).encode()
    event = verify_webhook(body, sign_webhook(body, "s"), ["s"])
    assert receipt_digest_matches(event, receipt)
    assert not receipt_digest_matches(event, receipt + b" ")


@settings(max_examples=100)
@given(st.binary(max_size=2048), st.text(min_size=1, max_size=40), st.sampled_from(["attest", "github", "stripe"]))
def test_sign_verify_round_trip(body: bytes, secret: str, scheme: str) -> None:
    headers = sign_webhook(body, secret, scheme=scheme, timestamp=T0)
    assert verify_webhook(body, headers, [secret], now=T0).body == body
    mac = hmac.new(
        secret.encode(), (f"{T0}.".encode() if scheme == "stripe" else b"") + body, hashlib.sha256
    ).hexdigest()
    assert mac in next(iter(headers.values()))


def test_cli_webhook(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"event":"execution.completed","data":{"execution_id":"e1"}}')
    env = {"WEBHOOK_SECRET": "s3cret"}
    signed = cli("webhook", "sign", str(body), "--secret-env", "WEBHOOK_SECRET", env=env)
    assert signed.code == 0
    header = signed.out.strip()
    ok = cli("webhook", "verify", str(body), "--secret-env", "WEBHOOK_SECRET", "--header", header, env=env)
    assert ok.code == 0 and "scheme=attest" in ok.out and "execution.completed" in ok.out
    via_stdin = cli(
        "webhook", "verify", "-", "--secret-env", "WEBHOOK_SECRET", "--header", header, env=env, stdin=body.read_bytes()
    )
    assert via_stdin.code == 0
    wrong = cli(
        "webhook",
        "verify",
        str(body),
        "--secret-env",
        "WEBHOOK_SECRET",
        "--header",
        header,
        env={"WEBHOOK_SECRET": "nope"},
    )
    assert wrong.code == 1 and "nope" not in wrong.err and "s3cret" not in wrong.err
    assert cli("webhook", "verify", str(body), "--secret-env", "UNSET_VAR_X", "--header", header).code == 2
    assert cli("webhook", "verify", str(body), "--secret-env", "WEBHOOK_SECRET", env=env).code == 1
    assert (
        cli("webhook", "verify", str(body), "--secret-env", "WEBHOOK_SECRET", "--header", "garbage", env=env).code == 2
    )
    std_env = {"WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    lines = cli(
        "webhook",
        "sign",
        str(body),
        "--secret-env",
        "WEBHOOK_SECRET",
        "--scheme",
        "standard",
        "--timestamp",
        str(T0),
        env=std_env,
    ).out.splitlines()
    args = [arg for line in lines for arg in ("--header", line)]
    assert (
        cli(
            "webhook", "verify", str(body), "--secret-env", "WEBHOOK_SECRET", *args, "--now", str(T0 + 60), env=std_env
        ).code
        == 0
    )
    assert (
        cli(
            "webhook",
            "verify",
            str(body),
            "--secret-env",
            "WEBHOOK_SECRET",
            *args,
            "--now",
            "2026-11-20T12:10:00Z",
            env=std_env,
        ).code
        == 1
    )


def test_typed_events() -> None:
    from blake3 import blake3

    from attestkit import ExecutionCompleted, ExecutionFailed, ReceiptSigned

    receipt = b'{"timestamp": "2026-11-20T10:00:00Z"}'
    cases = {
        "execution.completed": ExecutionCompleted,
        "execution.failed": ExecutionFailed,
        "receipt.signed": ReceiptSigned,
        "pipeline.created": webhooks.WebhookEvent,
    }
    for name, kind in cases.items():
        data = {
            "execution_id": "exec_9",
            "receipt_url": "https://x/r",
            "receipt_hash": "blake3:" + blake3(receipt).hexdigest(),
        }
        body = json.dumps({"event": name, "data": data}).encode()
        event = verify_webhook(body, sign_webhook(body, "s"), ["s"]).typed()
        assert type(event) is kind
        assert event.execution_id == "exec_9" and event.receipt_url == "https://x/r"
        if isinstance(event, ReceiptSigned):
            assert event.matches(receipt) and not event.matches(receipt + b"\n")
    garbage = verify_webhook(b"\xff", sign_webhook(b"\xff", "s"), ["s"]).typed()
    assert type(garbage) is webhooks.WebhookEvent and garbage.event_type is None
