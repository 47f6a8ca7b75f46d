"""Webhook attacks (issue 15 items 12-14, issue 17's leaks): each test performs the attack.

Library first, then the same attack through the CLI a receiver would script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit import (
    MemoryReplayGuard,
    WebhookVerifier,
    sign_webhook,
    verify_webhook,
)
from attestkit.errors import (
    UsageError,
    WebhookHeaderError,
    WebhookInputTypeError,
    WebhookReplayError,
    WebhookSecretError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)
from tests.conftest import CliResult

T0 = 1_795_176_000
BODY = b'{"event":"execution.completed","data":{"execution_id":"exec_1"}}'
STRIPE_SECRET = "whsec_stripe_style_raw_secret"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def _stripe_downgrade() -> tuple[bytes, dict[str, str]]:
    """A captured Stripe delivery replayed, long after, as an ATTEST delivery (no timestamp)."""
    captured = sign_webhook(BODY, STRIPE_SECRET, scheme="stripe", timestamp=T0)
    mac = captured["Stripe-Signature"].split("v1=")[1]
    return b"%d." % T0 + BODY, {"X-Attest-Signature": "sha256=" + mac}


# ---- 15.12: the receiver pins the scheme ---------------------------------------------------


def test_stripe_mac_as_attest_downgrade_is_refused_when_pinned() -> None:
    forged_body, forged_headers = _stripe_downgrade()
    a_year_later = T0 + 365 * 86400
    # Unpinned, the contract lets the headers choose, and the downgrade goes through: the
    # reason to pin (documented in docs/webhooks.md).
    assert verify_webhook(forged_body, forged_headers, [STRIPE_SECRET], now=a_year_later).scheme == "attest"
    for pinned in (["stripe"], "stripe", ("stripe", "github")):
        with pytest.raises(WebhookHeaderError, match="no webhook signature header"):
            verify_webhook(forged_body, forged_headers, [STRIPE_SECRET], schemes=pinned, now=a_year_later)
    verifier = WebhookVerifier([STRIPE_SECRET], schemes=["stripe"])
    with pytest.raises(WebhookHeaderError):
        verifier.verify(forged_body, forged_headers, now=a_year_later)
    # The genuine delivery still verifies under the pin, within the tolerance only.
    genuine = sign_webhook(BODY, STRIPE_SECRET, scheme="stripe", timestamp=T0)
    assert verifier.verify(BODY, genuine, now=T0 + 60).scheme == "stripe"
    with pytest.raises(WebhookTimestampError):
        verifier.verify(BODY, genuine, now=a_year_later)


def test_pinned_scheme_ignores_other_schemes_headers() -> None:
    headers = sign_webhook(BODY, "s3cret", scheme="attest") | {"Stripe-Signature": "t=1,v1=00"}
    assert verify_webhook(BODY, headers, ["s3cret"], schemes=["attest"]).scheme == "attest"
    with pytest.raises(WebhookHeaderError, match="several schemes"):
        verify_webhook(BODY, headers, ["s3cret"])


def test_unpinned_delivery_with_two_schemes_headers_is_ambiguous() -> None:
    standard = sign_webhook(BODY, STANDARD_SECRET, scheme="standard", timestamp=T0)
    attest = sign_webhook(BODY, STANDARD_SECRET, scheme="attest")
    with pytest.raises(WebhookHeaderError, match="several schemes"):
        verify_webhook(BODY, standard | attest, [STANDARD_SECRET], now=T0)
    # ATTEST and GitHub sign the same content with the same key: both headers are one scheme family.
    github = sign_webhook(BODY, "s", scheme="github")
    assert verify_webhook(BODY, sign_webhook(BODY, "s") | github, ["s"]).scheme == "attest"


def test_unknown_or_empty_scheme_pin_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown webhook scheme"):
        WebhookVerifier(["s"], schemes=["hmac"])
    with pytest.raises(UsageError, match="no scheme"):
        WebhookVerifier(["s"], schemes=[])


def test_cli_scheme_pin_refuses_the_downgrade(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    forged_body, forged_headers = _stripe_downgrade()
    (tmp_path / "body").write_bytes(forged_body)
    env = {"HOOK": STRIPE_SECRET}
    (header,) = (f"{k}: {v}" for k, v in forged_headers.items())
    args = ["webhook", "verify", str(tmp_path / "body"), "--secret-env", "HOOK", "--header", header]
    assert cli(*args, env=env).code == 0  # the contract's default: the headers choose
    pinned = cli(*args, "--scheme", "stripe", env=env)
    assert pinned.code == 1 and "no webhook signature header" in pinned.err and STRIPE_SECRET not in pinned.err
    two = cli(*args, "--scheme", "stripe", "--scheme", "github", env=env)
    assert two.code == 1
    assert cli(*args, "--scheme", "attest", env=env).code == 0
    assert cli(*args, "--scheme", "nope", env=env).code == 2


# ---- 15.13: the replay guard keys on what was verified ---------------------------------------


def _respellings(headers: dict[str, str]) -> list[dict[str, str]]:
    value = headers["X-Attest-Signature"]
    return [
        headers,
        {"X-Attest-Signature": "sha256=" + value[7:].upper()},
        {"X-Attest-Signature": f"  {value}\t"},
        {"x-attest-signature": value},
        {"X-Hub-Signature-256": value},
        {"X-HUB-SIGNATURE-256": " sha256=" + value[7:].upper()},
    ]


def test_replay_guard_is_not_fooled_by_respelling() -> None:
    headers = sign_webhook(BODY, "s3cret", scheme="attest")
    guard = MemoryReplayGuard()
    verifier = WebhookVerifier(["s3cret"], replay_guard=guard)
    verifier.verify(BODY, headers, now=T0)
    for variant in _respellings(headers)[1:]:
        with pytest.raises(WebhookReplayError):
            verifier.verify(BODY, variant, now=T0 + 1)
    # A different delivery is not a replay.
    other = BODY.replace(b"exec_1", b"exec_2")
    verifier.verify(other, sign_webhook(other, "s3cret"), now=T0 + 2)


def test_replay_guard_per_scheme_with_rotation() -> None:
    guard = MemoryReplayGuard()
    stripe = sign_webhook(BODY, "new", scheme="stripe", timestamp=T0)
    verify_webhook(BODY, stripe, ["old", "new"], now=T0, replay_guard=guard)
    spaced = {"stripe-signature": stripe["Stripe-Signature"].replace(",", " , ").upper().replace("T=", "t=")}
    spaced["stripe-signature"] = spaced["stripe-signature"].replace("V1=", "v1=")
    with pytest.raises(WebhookReplayError):
        verify_webhook(BODY, spaced, ["new"], now=T0 + 5, replay_guard=guard)
    standard = sign_webhook(BODY, STANDARD_SECRET, scheme="standard", timestamp=T0, message_id="msg_1")
    verify_webhook(BODY, standard, [STANDARD_SECRET], now=T0, replay_guard=guard)
    as_svix = {k.replace("webhook-", "svix-"): v for k, v in standard.items()}
    with pytest.raises(WebhookReplayError):
        verify_webhook(BODY, as_svix, [STANDARD_SECRET], now=T0 + 5, replay_guard=guard)


# ---- 15.14: request content raises only WebhookVerificationError ----------------------------


def test_standard_headers_to_a_receiver_with_a_plain_secret() -> None:
    """A sender adding Standard Webhooks headers used to make this receiver raise UsageError (HTTP 500)."""
    standard = {"webhook-id": "m", "webhook-timestamp": str(T0), "webhook-signature": "v1,AAAA"}
    for secret in ("s3cret!", "whsec_not*base64"):
        with pytest.raises(WebhookVerificationError):
            verify_webhook(BODY, standard, [secret, "plain"], now=T0)
    verifier = WebhookVerifier(["s3cret!"])
    with pytest.raises(WebhookSignatureError, match="no configured secret"):
        verifier.verify(BODY, standard, now=T0)


def test_secrets_are_checked_when_configured() -> None:
    with pytest.raises(WebhookSecretError, match="standard"):
        WebhookVerifier(["s3cret!"], schemes=["standard"])
    with pytest.raises(WebhookSecretError, match="#2"):
        WebhookVerifier([STANDARD_SECRET, "whsec_***"], schemes=["standard"])
    with pytest.raises(WebhookSecretError, match="whpk_"):
        WebhookVerifier(["whpk_" + base64.b64encode(b"\x01" * 32).decode()], schemes=["attest"])
    with pytest.raises(WebhookSecretError, match="empty"):
        WebhookVerifier([""])
    with pytest.raises(WebhookSecretError, match="no webhook secret"):
        WebhookVerifier([])
    with pytest.raises(WebhookSecretError, match="whsk_"):
        WebhookVerifier(["whsk_" + base64.b64encode(b"\x02" * 32).decode()])
    # An unpadded whsec_ secret (accepted by the official libraries) is valid.
    unpadded = "whsec_" + base64.b64encode(b"k" * 25).decode().rstrip("=")
    assert len(unpadded) % 4 != 2
    WebhookVerifier([unpadded], schemes=["standard"])
    with pytest.raises(WebhookSecretError) as error:
        WebhookVerifier(["s3cret-value!"], schemes=["standard"])
    assert "s3cret-value!" not in str(error.value)
    assert "s3cret" not in repr(WebhookVerifier(["s3cret"]))


def test_whpk_public_key_is_never_an_hmac_secret() -> None:
    """A whpk_ key is public: anyone could compute an HMAC keyed with its text."""
    public = (
        "whpk_"
        + base64.b64encode(bytes.fromhex("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29")).decode()
    )
    forged = {"X-Attest-Signature": "sha256=" + hmac.new(public.encode(), BODY, hashlib.sha256).hexdigest()}
    with pytest.raises(WebhookSignatureError):
        verify_webhook(BODY, forged, [public])
    stripe = {
        "Stripe-Signature": f"t={T0},v1=" + hmac.new(public.encode(), b"%d." % T0 + BODY, hashlib.sha256).hexdigest()
    }
    with pytest.raises(WebhookSignatureError):
        verify_webhook(BODY, stripe, [public], now=T0)


def test_malformed_signing_keys_raise_attestkit_errors() -> None:
    """Issue 17: a malformed whsk_ secret raised binascii.Error ("internal error (Error)")."""
    for bad in ("whsk_!!!!", "whsk_" + base64.b64encode(b"short").decode(), "whsk_", "whsec_***"):
        with pytest.raises(WebhookSecretError):
            sign_webhook(BODY, bad, scheme="standard", timestamp=T0)
    seed = bytes(range(32))
    from attestkit.core.crypto.keys import PrivateKey

    key = PrivateKey.from_seed(seed)
    mismatched = "whsk_" + base64.b64encode(seed + b"\x00" * 32).decode()
    with pytest.raises(WebhookSecretError, match="public half"):
        sign_webhook(BODY, mismatched, scheme="standard", timestamp=T0)
    full = "whsk_" + base64.b64encode(seed + key.public_key.raw).decode()
    public = "whpk_" + base64.b64encode(key.public_key.raw).decode()
    headers = sign_webhook(BODY, full, scheme="standard", timestamp=T0)
    assert verify_webhook(BODY, headers, [public], now=T0, schemes=["standard"]).scheme == "standard"
    with pytest.raises(WebhookSecretError, match="public"):
        sign_webhook(BODY, public, scheme="standard", timestamp=T0)
    with pytest.raises(WebhookSecretError):
        sign_webhook(BODY, public, scheme="attest")


@pytest.mark.parametrize("body", ['{"a": 1}', {"a": 1}, None, 17])
def test_non_bytes_body_is_an_attestkit_type_error(body: object) -> None:
    """Issue 17: a non-bytes body raised a bare TypeError; it is now also a UsageError."""
    for call in (
        lambda: verify_webhook(body, {"X-Attest-Signature": "sha256=" + "0" * 64}, ["s"]),  # type: ignore[arg-type]
        lambda: WebhookVerifier(["s"], schemes=["attest"]).verify(body, {}),  # type: ignore[arg-type]
        lambda: sign_webhook(body, "s"),  # type: ignore[arg-type]
    ):
        with pytest.raises(WebhookInputTypeError, match="raw request bytes") as caught:
            call()
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, UsageError)


def test_non_str_headers_are_an_attestkit_type_error() -> None:
    verifier = WebhookVerifier(["s"])
    for headers in ({b"X-Attest-Signature": b"sha256=00"}, {"X-Attest-Signature": None}, [("a", "b")]):
        with pytest.raises(WebhookInputTypeError):
            verifier.verify(BODY, headers, now=T0)  # type: ignore[arg-type]


def test_bytearray_and_memoryview_bodies_verify() -> None:
    headers = sign_webhook(BODY, "s")
    for body in (bytearray(BODY), memoryview(BODY)):
        assert WebhookVerifier(["s"], schemes="attest").verify(body, headers).body == BODY  # type: ignore[arg-type]
        assert verify_webhook(body, headers, ["s"]).body == BODY  # type: ignore[arg-type]


def test_bounds_on_header_work() -> None:
    from attestkit.core.webhooks import MAX_HEADER_CHARS, MAX_SIGNATURES

    headers = sign_webhook(BODY, STANDARD_SECRET, scheme="standard", timestamp=T0, message_id="m")
    many = dict(headers, **{"webhook-signature": " ".join(["v1,AAAA"] * (MAX_SIGNATURES + 1))})
    with pytest.raises(WebhookHeaderError, match="more than"):
        verify_webhook(BODY, many, [STANDARD_SECRET], now=T0)
    long = dict(headers, **{"webhook-signature": headers["webhook-signature"] + " " * MAX_HEADER_CHARS})
    with pytest.raises(WebhookHeaderError, match="longer than"):
        verify_webhook(BODY, long, [STANDARD_SECRET], now=T0)
    stripe = sign_webhook(BODY, "s", scheme="stripe", timestamp=T0)["Stripe-Signature"]
    with pytest.raises(WebhookHeaderError, match="more than"):
        verify_webhook(BODY, {"Stripe-Signature": stripe + ",v1=00" * MAX_SIGNATURES}, ["s"], now=T0)
    with pytest.raises(WebhookHeaderError, match="one t="):
        verify_webhook(BODY, {"Stripe-Signature": f"t={T0}," + stripe}, ["s"], now=T0)


def test_duplicate_header_spellings_that_disagree() -> None:
    good = sign_webhook(BODY, "s")["X-Attest-Signature"]
    with pytest.raises(WebhookHeaderError, match="twice"):
        verify_webhook(BODY, {"X-Attest-Signature": good, "x-attest-signature": "sha256=" + "0" * 64}, ["s"])
    standard = sign_webhook(BODY, STANDARD_SECRET, scheme="standard", timestamp=T0, message_id="m")
    mixed = standard | {"svix-id": "other"}
    with pytest.raises(WebhookHeaderError, match="disagree"):
        verify_webhook(BODY, mixed, [STANDARD_SECRET], now=T0)


# ---- CLI: secret files are bytes, private, bounded ---------------------------------------------


def _write_secret(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_cli_binary_secret_file_verifies(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """--secret-file decoded with errors="replace", so a binary secret never verified."""
    secret = bytes(range(256))[::-1][:48] + b"\xff\xfe\n"  # not UTF-8, ends in a newline byte
    path = _write_secret(tmp_path / "hook.secret", secret)
    (tmp_path / "body").write_bytes(BODY)
    mac = hmac.new(secret, BODY, hashlib.sha256).hexdigest()
    ok = cli(
        "webhook",
        "verify",
        str(tmp_path / "body"),
        "--secret-file",
        str(path),
        "--header",
        f"X-Attest-Signature: sha256={mac}",
    )
    assert ok.code == 0, ok.err
    text = _write_secret(tmp_path / "text.secret", b"s3cret\n")
    mac = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    ok = cli(
        "webhook",
        "verify",
        str(tmp_path / "body"),
        "--secret-file",
        str(text),
        "--header",
        f"X-Attest-Signature: sha256={mac}",
    )
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_cli_exposed_secret_file_is_refused(cli: Callable[..., CliResult], tmp_path: Path, mode: int) -> None:
    path = _write_secret(tmp_path / "hook.secret", b"s3cret\n", mode)
    (tmp_path / "body").write_bytes(BODY)
    mac = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    for command in (
        ["verify", str(tmp_path / "body"), "--header", f"X-Attest-Signature: sha256={mac}"],
        ["sign", str(tmp_path / "body")],
    ):
        result = cli("webhook", *command, "--secret-file", str(path))
        assert result.code == 2
        assert f"chmod 600 {path}" in result.err and "s3cret" not in result.err
        assert "accessible by group or others" in result.err
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def _fifo(path: Path) -> Path:
    os.mkfifo(path, 0o600)
    return path


def test_cli_secret_file_edge_cases(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(BODY)
    header = "X-Attest-Signature: sha256=" + "0" * 64
    base = ["webhook", "verify", str(tmp_path / "body"), "--header", header]
    empty = _write_secret(tmp_path / "empty", b"\n")
    assert "empty" in cli(*base, "--secret-file", str(empty)).err
    assert cli(*base, "--secret-file", str(tmp_path / "missing")).code == 2
    assert cli(*base, "--secret-file", str(tmp_path)).code == 2
    huge = _write_secret(tmp_path / "huge", b"x" * (1 << 20))
    big = cli(*base, "--secret-file", str(huge))
    assert big.code == 2 and "larger" in big.err
    for special in ("/dev/zero", str(_fifo(tmp_path / "fifo"))):
        refused = cli(*base, "--secret-file", special)
        assert refused.code == 2 and "not a regular file" in refused.err


def test_cli_plain_secret_with_standard_headers_is_exit_1(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(BODY)
    args = ["webhook", "verify", str(tmp_path / "body"), "--secret-env", "HOOK", "--now", str(T0)]
    headers = [
        "--header",
        "webhook-id: m",
        "--header",
        f"webhook-timestamp: {T0}",
        "--header",
        "webhook-signature: v1,AAAA",
    ]
    result = cli(*args, *headers, env={"HOOK": "s3cret!"})
    assert result.code == 1 and "Traceback" not in result.err
    pinned = cli(*args, *headers, "--scheme", "standard", env={"HOOK": "s3cret!"})
    assert pinned.code == 2 and "whsec_" in pinned.err and "s3cret" not in pinned.err


def test_cli_malformed_whsk_is_one_line_exit_2(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(BODY)
    result = cli(
        "webhook",
        "sign",
        str(tmp_path / "body"),
        "--secret-env",
        "HOOK",
        "--scheme",
        "standard",
        env={"HOOK": "whsk_!!"},
    )
    assert result.code == 2 and "internal error" not in result.err and "whsk_" in result.err


def test_cli_output_escapes_payload_controls(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """An authentic payload is still the sender's text: its event name cannot repaint the terminal."""
    body = b'{"event": "x\\r\\u001b[32mVALID\\u202e", "data": {}}'
    (tmp_path / "body").write_bytes(body)
    mac = hmac.new(b"s", body, hashlib.sha256).hexdigest()
    result = cli(
        "webhook",
        "verify",
        str(tmp_path / "body"),
        "--secret-env",
        "HOOK",
        "--header",
        f"X-Attest-Signature: sha256={mac}",
        env={"HOOK": "s"},
    )
    assert result.code == 0 and "\x1b" not in result.out and "\r" not in result.out and "\u202e" not in result.out
    assert "\\x1b[32mVALID" in result.out


@pytest.mark.parametrize("now", [float("nan"), float("inf"), float("-inf")])
def test_a_clock_that_is_not_a_finite_number_is_refused(now: float) -> None:
    # NaN compares false with everything: a delivery stamped 0 (1970) passed the 5-minute window.
    headers = sign_webhook(BODY, STANDARD_SECRET, scheme="standard", timestamp=0)
    with pytest.raises(UsageError, match="finite number"):
        verify_webhook(BODY, headers, [STANDARD_SECRET], now=now)
    with pytest.raises(UsageError, match="finite number"):
        WebhookVerifier([STANDARD_SECRET], schemes=["standard"]).verify(BODY, headers, now=now)
    with pytest.raises(WebhookTimestampError):
        verify_webhook(BODY, headers, [STANDARD_SECRET], now=float(T0))
