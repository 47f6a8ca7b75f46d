"""A WSGI endpoint that accepts only authentic ATTEST webhooks (tested in tests/unit/webhooks/test_webhook_examples.py)."""

import os

from attestkit import WebhookVerificationError, WebhookVerifier

# Built once at start-up: a bad secret fails here, not on a request. The pinned scheme stops a
# sender from choosing another one (e.g. a replayed Stripe-style MAC passed off as ATTEST).
verifier = WebhookVerifier([os.environ["ATTEST_WEBHOOK_SECRET"]], schemes=["attest"])
MAX_BODY = 1 << 20


def app(environ, start_response):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 <= length <= MAX_BODY:
        start_response("413 Content Too Large", [("Content-Type", "text/plain")])
        return [b"rejected: body size\n"]
    body = environ["wsgi.input"].read(length)  # raw bytes, never re-encoded
    headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    try:
        event = verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [f"rejected: {exc.code}\n".encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"accepted {event.event_type} for {event.execution_id}\n".encode()]
