"""The standard streams as the CLI uses them: lost output is an error, lost diagnostics are not.

A verdict is the exit code and what went to stdout. When stdout cannot be written (its reader
closed the pipe, the disk is full, the descriptor is closed) the output is incomplete: that is
"could not check" (exit 2, :class:`~attestkit.errors.OutputLostError`), never 0 and never 1
("checked and found invalid"). When stderr cannot be written (closed with ``2>&-``, on a full
disk) only messages are lost: the exit code stays the verdict's.

A closed descriptor 0, 1 or 2 is held open on ``/dev/null`` for the run (stdout read-only, so
that writing to it still fails): otherwise the next file opened would get that number, and a
child process, or a later write meant for the terminal, would land in it.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import IO, Any, TextIO, cast

from attestkit.adapters.descriptors import write_all
from attestkit.errors import OutputLostError


def lost_output(exc: OSError) -> OutputLostError:
    """The error for a failed write to stdout, saying why in one line."""
    if exc.errno == errno.EPIPE:
        return OutputLostError("cannot write to standard output: its reader closed the pipe; the output is incomplete")
    if exc.errno == errno.EBADF:
        return OutputLostError("cannot write to standard output: it is closed; the output is lost")
    reason = exc.strerror or type(exc).__name__
    return OutputLostError(f"cannot write to standard output: {reason}; the output is incomplete")


class _StandIn(io.TextIOBase):
    """What both stand-ins pass through to the stream they wrap."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Output(_StandIn):
    """Stands in for ``sys.stdout``: a failed write or flush raises :class:`OutputLostError`."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.lost: OutputLostError | None = None

    def _failed(self, exc: OSError | ValueError) -> OutputLostError:
        if self.lost is None:
            self.lost = lost_output(exc) if isinstance(exc, OSError) else lost_output(OSError(errno.EBADF, ""))
        return self.lost

    def write(self, text: str) -> int:
        if self.lost is not None:
            raise self.lost
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise self._failed(exc) from None

    def flush(self) -> None:
        if self.lost is not None:
            raise self.lost
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise self._failed(exc) from None

    @property
    def buffer(self) -> IO[bytes]:
        return cast(IO[bytes], _Binary(self))


class _BytesSide(io.RawIOBase):
    """What both ``buffer`` stand-ins pass through to their text stand-in."""

    def __init__(self, text: _StandIn) -> None:
        super().__init__()
        self._text = text

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text.fileno()

    def isatty(self) -> bool:
        return self._text.isatty()


class _Binary(_BytesSide):
    """``sys.stdout.buffer`` through :class:`_Output`: text written before it is flushed first."""

    _text: _Output

    def write(self, data: Any) -> int:
        self._text.flush()
        try:
            raw = self._text._stream.buffer
            written = raw.write(bytes(data))
            return written
        except (OSError, ValueError) as exc:
            raise self._text._failed(exc) from None

    def flush(self) -> None:
        self._text.flush()
        try:
            self._text._stream.buffer.flush()
        except (OSError, ValueError) as exc:
            raise self._text._failed(exc) from None


class _Diagnostics(_StandIn):
    """Stands in for ``sys.stderr``: a write that fails is dropped (with all that follow)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._broken = False

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                self._broken = True
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._broken = True

    def isatty(self) -> bool:
        return not self._broken and super().isatty()

    @property
    def buffer(self) -> IO[bytes]:
        """The bytes side (``attestkit run`` pumps a step's stderr into it), dropping failed writes too."""
        return cast(IO[bytes], _DiagnosticBytes(self))


class _DiagnosticBytes(_BytesSide):
    """``sys.stderr.buffer`` through :class:`_Diagnostics`: a write that fails is dropped, never raised.

    A step's stderr pump that died on the first failed write would leave the step blocked on a
    full pipe: the run hung.
    """

    _text: _Diagnostics

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        self._text.flush()
        if not self._text._broken:
            try:
                raw = self._text._stream.buffer
                raw.write(bytes(data))
                raw.flush()
            except (OSError, ValueError, AttributeError):
                self._text._broken = True
        return size

    def flush(self) -> None:
        self._text.flush()


class _Patient(io.RawIOBase):
    """Descriptor 1 written in full, waiting while it is full, as a blocking descriptor would.

    A parent may leave stdout non-blocking (``O_NONBLOCK`` is shared with it): a write to a
    full pipe then fails with EAGAIN although the reader is there, and an unbuffered stream
    (``PYTHONUNBUFFERED=1``) wrote part of the bytes and dropped the rest without a word.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        return write_all(self._fd, data)


def _patient_stdout(stream: TextIO) -> TextIO | None:
    """*stream* rebuilt over :class:`_Patient` when its descriptor is non-blocking or unbuffered, else ``None``."""
    try:
        fd = stream.fileno()
        blocking = os.get_blocking(fd)
        raw = isinstance(stream.buffer, io.RawIOBase)
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture), or closed
        return None
    if blocking and not raw:
        return None
    try:
        stream.flush()
    except (OSError, ValueError):
        return None
    writer = _Patient(fd)
    buffer: IO[bytes] = cast(IO[bytes], writer if raw else io.BufferedWriter(writer))
    return io.TextIOWrapper(
        cast(Any, buffer),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=bool(stream.line_buffering),
        write_through=raw,
    )


def _hold_closed_descriptors() -> None:
    for fd, flags in ((0, os.O_WRONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            try:
                held = os.open(os.devnull, flags)
            except OSError:
                continue
            if held != fd:
                os.dup2(held, fd, inheritable=True)
                os.close(held)
            else:
                os.set_inheritable(fd, True)


class StandardStreams:
    """Installs the stand-ins for one run and puts the caller's streams back after it."""

    def __init__(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        self._opened: list[IO[Any]] = []
        self.output: _Output | None = None

    def __enter__(self) -> StandardStreams:
        if sys.stdout is None or sys.stderr is None:
            _hold_closed_descriptors()
        stdout, stderr = sys.stdout, sys.stderr
        if stdout is None:  # closed at start: writing to descriptor 1 (held read-only) fails
            stdout = open(1, "w", encoding="utf-8", closefd=False)  # closed in __exit__
            self._opened.append(stdout)
        else:
            patient = _patient_stdout(stdout)
            if patient is not None:
                stdout = patient
                self._opened.append(patient)  # closed (flushed) in __exit__; descriptor 1 stays open
        if stderr is None:
            stderr = open(os.devnull, "w", encoding="utf-8")  # closed in __exit__
            self._opened.append(stderr)
        self.output = _Output(stdout)
        sys.stdout = cast(TextIO, self.output)
        sys.stderr = cast(TextIO, _Diagnostics(stderr))
        return self

    def settle(self) -> None:
        """Flush stdout (raises :class:`OutputLostError` if what was written did not get out)."""
        assert self.output is not None
        self.output.flush()

    def __exit__(self, *exc_info: object) -> None:
        lost = self.output is not None and self.output.lost is not None
        sys.stdout, sys.stderr = self._saved
        for stream in self._opened:
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        if lost and sys.stdout is not None:
            # What the interpreter still buffered for stdout would fail again at exit ("Exception
            # ignored ... BrokenPipeError", exit 120): drop it into /dev/null instead.
            try:
                fd = sys.stdout.fileno()
            except (OSError, ValueError):
                return
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
