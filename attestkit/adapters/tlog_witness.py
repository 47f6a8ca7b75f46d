"""A witness's stored state on disk, and the tlog-witness ``add-checkpoint`` HTTP endpoint.

The state directory holds, per log origin, the latest checkpoint the witness cosigned
(``<sha256(origin)>.checkpoint``, the note text). Checking and persisting happen under one
lock (an in-process mutex plus ``fcntl`` on ``.lock``), as the spec requires, so two
requests can never roll the stored state back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from attestkit.adapters.files import open_fresh, refuse_in_dev
from attestkit.core.textsafe import ascii_digits
from attestkit.core.tlog.checkpoint import Checkpoint, parse_checkpoint_text
from attestkit.core.tlog.note import Signer, Verifier
from attestkit.core.tlog.witness import MAX_REQUEST_BYTES, Response, add_checkpoint
from attestkit.errors import AttestkitError, InputFileError, LogCorruptError, LogStateError


class WitnessState:
    """The latest cosigned checkpoint text for each origin, in a directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._mutex = threading.Lock()

    def _file(self, origin: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(origin.encode()).hexdigest() + ".checkpoint")

    @contextlib.contextmanager
    def locked(self) -> Iterator[WitnessState]:
        """Hold the state lock (threads and processes)."""
        refuse_in_dev(self.directory, self.directory)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd = os.open(
                os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            raise LogStateError(f"{self.directory}: cannot use the witness state: {exc.strerror}") from None
        with self._mutex:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield self
            finally:
                os.close(fd)

    def load(self, origin: str) -> Checkpoint | None:
        """The stored checkpoint for *origin*, or ``None`` if it never cosigned one."""
        path = self._file(origin)
        try:
            # Without blocking: a FIFO planted here would hold the state lock until written to.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read witness state: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LogCorruptError(f"{path}: witness state is not a regular file; remove it")
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read(1 << 20)
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read witness state: {exc.strerror}") from None
        finally:
            os.close(fd)
        try:
            checkpoint = parse_checkpoint_text(data.decode("utf-8"))
        except (UnicodeDecodeError, AttestkitError):
            raise LogCorruptError(f"{path}: witness state is not a checkpoint") from None
        if checkpoint.origin != origin:
            raise LogCorruptError(f"{path}: witness state is for another origin")
        return checkpoint

    def store(self, checkpoint: Checkpoint) -> None:
        """Persist *checkpoint* durably (temp file, fsync, rename, fsync the directory)."""
        path = self._file(checkpoint.origin)
        temp = path + ".tmp"
        with open_fresh(temp, 0o600) as handle:
            handle.write(checkpoint.text.encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def handle_add_checkpoint(
    body: bytes, logs: Mapping[str, Sequence[Verifier]], state: WitnessState, signer: Signer, now: int
) -> Response:
    """Check, cosign and persist atomically."""
    with state.locked():
        response = add_checkpoint(body, logs, state.load, signer, now)
        if response.new_state is not None:
            state.store(response.new_state)
        return response


class _WitnessServer(ThreadingHTTPServer):
    # socketserver's listen backlog of 5 drops connections when logs post at once (seen in CI).
    request_queue_size = 128


def make_server(
    host: str,
    port: int,
    logs: Mapping[str, Sequence[Verifier]],
    state: WitnessState,
    signer: Signer,
    clock: Callable[[], float] = time.time,
) -> ThreadingHTTPServer:
    """An HTTP server answering ``POST /add-checkpoint`` (other paths 404, other methods 405)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "attestkit-witness"
        sys_version = ""
        timeout = 30  # a client that stops sending is dropped, not waited for

        def log_message(self, format: str, *args: object) -> None:
            return  # no request logging to stderr; the caller reports what it needs

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def do_POST(self) -> None:
            if self.path != "/add-checkpoint":
                self._send(Response(404, b"not found\n"))
                return
            length = self.headers.get("Content-Length")
            if length is None or not ascii_digits(length):
                self._send(Response(411 if length is None else 400, b"a Content-Length is required\n"))
                return
            if int(length) > MAX_REQUEST_BYTES:
                self._send(Response(413, b"request body too large\n"))
                return
            body = self.rfile.read(int(length))
            try:
                response = handle_add_checkpoint(body, logs, state, signer, int(clock()))
            except AttestkitError as exc:
                response = Response(500, f"witness state unusable: {exc.code}\n".encode())
            self._send(response)

        def do_GET(self) -> None:
            self._send(Response(405 if self.path == "/add-checkpoint" else 404, b"use POST /add-checkpoint\n"))

    server = _WitnessServer((host, port), Handler)
    server.daemon_threads = True
    return server


__all__ = ["WitnessState", "handle_add_checkpoint", "make_server"]
