"""An ASGI endpoint that accepts only authentic GitHub-style webhooks (tested in tests/unit/webhooks/test_webhook_examples.py)."""

import os

from attestkit import WebhookVerificationError, WebhookVerifier

# Built once at start-up: a bad secret fails here, not on a request; the scheme is pinned.
verifier = WebhookVerifier([os.environ["ATTEST_WEBHOOK_SECRET"]], schemes=["github"])
MAX_BODY = 1 << 20


async def app(scope, receive, send):
    body, more = b"", True
    while more and len(body) <= MAX_BODY:  # collect the raw body bytes exactly as sent
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    try:
        if len(body) > MAX_BODY:
            status, text = 413, "rejected: body size\n"
        else:
            event = verifier.verify(body, headers)
            status, text = 200, f"accepted {event.event_type} for {event.execution_id}\n"
    except WebhookVerificationError as exc:
        status, text = 401, f"rejected: {exc.code}\n"
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text.encode()})
