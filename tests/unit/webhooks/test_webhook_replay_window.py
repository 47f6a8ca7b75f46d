"""A replay guard always remembers: no tolerance, guard size or instant makes it forget at once.

``tolerance=timedelta(0)`` gave the guard a lifetime of 0 s, so an identical delivery was
accepted every time; ``max_entries=0`` evicted every entry before it was looked up.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from attestkit.core.webhooks import MemoryReplayGuard, WebhookVerifier, sign_webhook, verify_webhook
from attestkit.errors import ArgumentTypeError, UsageError, WebhookReplayError
from tests.conftest import CliResult

T0 = 1_795_176_000
SECRET = "s3cr3t-replay-window"


def test_a_tolerance_of_zero_is_refused() -> None:
    tolerance = timedelta(0)
    with pytest.raises(UsageError, match="more than 0"):
        WebhookVerifier([SECRET], schemes=["attest"], tolerance=tolerance, replay_guard=MemoryReplayGuard())
    with pytest.raises(UsageError, match="more than 0"):
        verify_webhook(b"{}", sign_webhook(b"{}", SECRET), [SECRET], tolerance=tolerance)


@pytest.mark.parametrize("size", [0, -1])
def test_a_guard_that_keeps_nothing_is_refused(size: int) -> None:
    with pytest.raises(UsageError, match="max_entries"):
        MemoryReplayGuard(max_entries=size)
    with pytest.raises(ArgumentTypeError):
        MemoryReplayGuard(max_entries="10")  # type: ignore[arg-type]


def test_a_replay_at_the_edge_of_the_window_is_refused() -> None:
    # Timestamped at the window's far edge, replayed exactly two tolerances after it was first seen.
    tolerance = timedelta(seconds=1)
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    verifier = WebhookVerifier([secret], schemes=["standard"], tolerance=tolerance, replay_guard=MemoryReplayGuard())
    headers = sign_webhook(b"{}", secret, scheme="standard", timestamp=T0 + 1, message_id="msg_edge")
    verifier.verify(b"{}", headers, now=T0)
    with pytest.raises(WebhookReplayError):
        verifier.verify(b"{}", headers, now=T0 + 2)


def test_cli_tolerance_zero_is_a_usage_error(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b"{}")
    header = "X-Attest-Signature: " + sign_webhook(b"{}", SECRET)["X-Attest-Signature"]
    env = {"ATTEST_WEBHOOK_SECRET": SECRET}
    args = ("webhook", "verify", str(body), "--secret-env", "ATTEST_WEBHOOK_SECRET", "--scheme", "attest")
    assert cli(*args, "--header", header, env=env).code == 0
    refused = cli(*args, "--header", header, "--tolerance", "0s", env=env)
    assert refused.code == 2
    assert "more than 0" in refused.err
