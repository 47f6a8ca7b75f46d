"""Webhook verification rate next to a bare hmac.digest + compare_digest loop."""

from __future__ import annotations

import hashlib
import hmac
import os

from benchmarks._common import Row, per_second


def run() -> list[Row]:
    from attestkit.core.webhooks import sign_webhook, verify_webhook

    rows = []
    secret = b"0123456789abcdef0123456789abcdef"
    for size, label in ((1024, "1 KiB"), (65536, "64 KiB")):
        body = os.urandom(size)
        headers = sign_webhook(body, secret, scheme="attest")
        expected = bytes.fromhex(headers["X-Attest-Signature"][7:])
        bare = per_second(lambda b=body, e=expected: hmac.compare_digest(hmac.digest(secret, b, hashlib.sha256), e))
        ours = per_second(lambda b=body, h=headers: verify_webhook(b, h, [secret]))
        rows.append(Row("webhook", f"verify {label} body", ours, "/s", "hmac.digest+compare_digest", bare, "≥ 0.85x"))
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "webhook")
