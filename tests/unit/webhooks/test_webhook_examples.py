"""The WSGI and ASGI examples in docs/webhooks.md, run for real."""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from attestkit import sign_webhook
from tests.conftest import ROOT

SECRET = "example-webhook-secret"
T0 = 1_795_176_000
BODY = json.dumps({"event": "execution.completed", "data": {"execution_id": "exec_42"}}).encode()


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_WEBHOOK_SECRET", SECRET)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def wsgi_port() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, _load("webhook_wsgi").app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/hooks/attest", body=body, headers={"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    return response.status, response.read().decode()


def test_wsgi_example(wsgi_port: int) -> None:
    headers = sign_webhook(BODY, SECRET, scheme="attest")
    assert _post(wsgi_port, BODY, headers) == (200, "accepted execution.completed for exec_42\n")
    assert _post(wsgi_port, BODY + b" ", headers) == (401, "rejected: webhook-signature\n")
    assert _post(wsgi_port, BODY, {}) == (401, "rejected: webhook-header\n")
    # Announce a 2 MiB body without sending it: the app refuses it before reading anything.
    connection = http.client.HTTPConnection("127.0.0.1", wsgi_port, timeout=5)
    connection.putrequest("POST", "/hooks/attest")
    connection.putheader("Content-Length", str(2 << 20))
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()


def _other_schemes() -> list[dict[str, str]]:
    """Deliveries in schemes the receiver does not use: unpinned, these chose the scheme (or a 500)."""
    now = str(int(time.time()))
    standard = {"webhook-id": "m", "webhook-timestamp": now, "webhook-signature": "v1,AAAA"}
    stripe = sign_webhook(BODY, SECRET, scheme="stripe")
    return [standard, {"svix-id": "m", "svix-timestamp": now, "svix-signature": "v1,AAAA"}, stripe]


def test_wsgi_example_pins_the_scheme(wsgi_port: int) -> None:
    for headers in _other_schemes():
        assert _post(wsgi_port, BODY, headers) == (401, "rejected: webhook-header\n"), headers
    # Other schemes' headers beside a genuine ATTEST signature change nothing once pinned.
    for extra in _other_schemes():
        assert _post(wsgi_port, BODY, sign_webhook(BODY, SECRET, scheme="attest") | extra)[0] == 200
    # A GitHub-style header is another scheme here, even with a genuine MAC.
    assert _post(wsgi_port, BODY, sign_webhook(BODY, SECRET, scheme="github"))[0] == 401


def _call_asgi(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    app = _load("webhook_asgi").app
    chunks = [body[:10], body[10:]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_asgi_example() -> None:
    headers = sign_webhook(BODY, SECRET, scheme="github")
    assert _call_asgi(BODY, headers) == (200, b"accepted execution.completed for exec_42\n")
    assert _call_asgi(BODY.replace(b"42", b"43"), headers) == (401, b"rejected: webhook-signature\n")
    for attack in _other_schemes():
        assert _call_asgi(BODY, attack) == (401, b"rejected: webhook-header\n"), attack


def test_examples_refuse_a_bad_secret_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from attestkit.errors import WebhookSecretError

    monkeypatch.setenv("ATTEST_WEBHOOK_SECRET", "whpk_" + "A" * 43 + "=")
    for name in ("webhook_wsgi", "webhook_asgi"):
        with pytest.raises(WebhookSecretError):
            _load(name)


def test_docs_show_the_examples_as_they_are() -> None:
    """The code blocks in docs/webhooks.md are the tested example files, minus their docstring."""
    import re

    doc = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    for name in ("webhook_wsgi", "webhook_asgi"):
        source = (ROOT / "docs" / "examples" / f"{name}.py").read_text(encoding="utf-8")
        docstring, blank, code = source.split("\n", 2)
        assert docstring.startswith('"""') and not blank
        assert code in blocks, name
