"""A real HTTP server on 127.0.0.1 for adapter tests, scripted per path."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream_bytes: int = 0  # send this many bytes with no Content-Length, then close
    drip: float = 0.0  # send the body one byte at a time, this many seconds apart, until the client leaves
    drip_head: bool = False  # with drip: the status line and headers too
    content_length: int | None = None  # announce this length instead of the body's (a cut answer)


@dataclass
class FakeTime:
    """Injected wall clock, monotonic clock and sleep: sleeping moves both clocks, instantly."""

    now: float = 1_800_000_000.0
    mono: float = 1_000.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.mono += seconds

    def client(self, **kwargs: Any) -> Any:
        from attestkit.adapters.http import HttpClient

        kwargs.setdefault("jitter", self.jitter)
        return HttpClient(sleep=self.sleep, clock=self.time, monotonic=self.monotonic, **kwargs)

    def jitter(self, low: float, high: float) -> float:
        """Deterministic jitter: always the top of the range, so schedules are exact."""
        return high


@dataclass
class Server:
    base_url: str
    routes: dict[str, list[Reply]]
    requests: list[tuple[str, str, dict[str, str]]]
    bodies: list[bytes]


@contextmanager
def serve(routes: dict[str, list[Reply]]) -> Iterator[Server]:
    """Serve each path's replies in order (the last one repeats)."""
    requests: list[tuple[str, str, dict[str, str]]] = []
    bodies: list[bytes] = []
    lock = threading.Lock()
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            bodies.append(self.rfile.read(length))
            self._answer("POST")

        def _answer(self, method: str) -> None:
            with lock:
                requests.append((method, self.path, {k.lower(): v for k, v in self.headers.items()}))
                queue = routes.get(self.path) or routes.get(self.path.split("?")[0])
                reply = (
                    (queue.pop(0) if len(queue) > 1 else queue[0])
                    if queue
                    else Reply(404, {"error": {"code": "NOT_FOUND", "message": "no route", "request_id": "req_404"}})
                )
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            if reply.drip:
                self._drip(reply)
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.stream_bytes:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    chunk = b"x" * 65536
                    sent = 0
                    while sent < reply.stream_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                    return
                announced = len(body) if reply.content_length is None else reply.content_length
                self.send_header("Content-Length", str(announced))
                if reply.content_length is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _drip(self, reply: Reply) -> None:
            head = f"HTTP/1.1 {reply.status} OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
            try:
                if not reply.drip_head:
                    self.wfile.write(head.encode())
                    self.wfile.flush()
                    head = ""
                for byte in head.encode() + b'{"receipt": "' + b"x" * 1_000_000:
                    if stopping.wait(reply.drip):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:  # the client gave up: what the test wants
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # shutdown() waits for serve_forever's next poll: the default 0.5 s cost every test half a second
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_address[1]}", routes, requests, bodies)
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
