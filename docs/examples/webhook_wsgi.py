"""A WSGI endpoint that accepts only authentic ATTEST webhooks (tested in tests/test_webhook_examples.py)."""

import os

from attestkit import WebhookVerificationError, verify_webhook


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))  # raw bytes, never re-encoded
    headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    try:
        event = verify_webhook(body, headers, [os.environ["ATTEST_WEBHOOK_SECRET"]])
    except WebhookVerificationError as exc:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [f"rejected: {exc.code}\n".encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"accepted {event.event_type} for {event.execution_id}\n".encode()]
