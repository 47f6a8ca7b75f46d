"""Webhook verification rate next to a bare hmac.digest + compare_digest loop.

The reference is the least any verifier must do: one HMAC-SHA256 of the body and one
constant-time comparison with a MAC already decoded. "pinned" is a receiver built once with
``WebhookVerifier(secret, schemes=["attest"])`` (the fast path, issue 20 item 5); "unpinned"
is the one-call ``verify_webhook`` whose headers choose the scheme (contract section 4).

The two sides are timed in alternating short windows and the ratio is the median of the
per-window ratios, so load from other processes on a shared machine cancels out; the spread
printed is the inter-quartile range of those ratios.

The pinned receiver keys each secret's HMAC state once and copies it per delivery, which the
bare reference (re-keying on every call, as ``hmac.digest`` does) does not; so a second,
stricter reference does the same copy-and-compare in a bare loop: the ratio against it is
what the verifier's own Python (header look-up, the event object) costs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from _hashlib import hmac_new  # OpenSSL's HMAC state, as the pinned receiver keys it
from collections.abc import Callable
from typing import Any

from benchmarks._common import Row, paired


def run() -> list[Row]:
    from attestkit.core.webhooks import WebhookVerifier, sign_webhook, verify_webhook

    rows = []
    secret = b"0123456789abcdef0123456789abcdef"
    verifier = WebhookVerifier([secret], schemes=["attest"])
    reference_name = "hmac.digest+compare_digest"
    for size, label in ((1024, "1 KiB"), (65536, "64 KiB")):
        body = os.urandom(size)
        headers = sign_webhook(body, secret, scheme="attest")
        expected = bytes.fromhex(headers["X-Attest-Signature"][7:])

        def bare(b: bytes = body, e: bytes = expected) -> bool:
            return hmac.compare_digest(hmac.digest(secret, b, hashlib.sha256), e)

        keyed = hmac_new(secret, digestmod="sha256")

        def bare_keyed(b: bytes = body, e: bytes = expected, k: Any = keyed) -> bool:
            mac = k.copy()
            mac.update(b)
            return hmac.compare_digest(mac.digest(), e)

        # A request as a WSGI server hands it over: a dozen headers, upper-case names.
        wsgi = {f"HTTP-{i}": "x" for i in range(11)} | {"X-ATTEST-SIGNATURE": headers["X-Attest-Signature"]}
        cases: list[tuple[str, Callable[[], Any], str]] = [
            (f"verify {label} body, pinned", lambda b=body, h=headers: verifier.verify(b, h), "≥ 0.85x"),
        ]
        if size == 1024:
            cases.append(
                (f"verify {label} body, pinned, 12 WSGI headers", lambda b=body, h=wsgi: verifier.verify(b, h), "")
            )
            cases.append(
                (
                    f"verify {label} body, unpinned verify_webhook",
                    lambda b=body, h=headers: verify_webhook(b, h, [secret]),
                    "",
                )
            )
        cases.append((f"verify {label} body, pinned (stricter reference)", cases[0][1], ""))
        for metric, func, target in cases:
            stricter = "stricter" in metric
            reference = bare_keyed if stricter else bare
            rate, ref, ratio, (low, high) = paired(func, reference, batch=100)
            name = "keyed-state copy+compare_digest" if stricter else reference_name
            row = Row("webhook", metric, rate, "/s", name, ref, target, (low, high))
            row.reference_value = rate / ratio  # so that Row.ratio is the paired median
            rows.append(row)
            print(f"{metric}: median ratio {ratio:.2f}, IQR {low:.2f}-{high:.2f}")
    return rows


if __name__ == "__main__":
    from benchmarks._common import save

    save(run(), "webhook")
