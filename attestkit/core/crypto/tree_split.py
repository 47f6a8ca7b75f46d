"""Sharing one tree walk with forked helper processes (``attestkit hash DIR`` on several cores).

Per-file work on a tree of small files is Python code (open, fstat, read, close, a BLAKE3
call): threads serialise on the GIL, so more cores need more processes. A helper here is a
fork of the walking process taken mid-walk: it holds the same walk state and directory
descriptors, carries on the same walk (new directories it opens itself), and hashes every
*count*-th regular file from the fork on; the parent hashes the others and, at the end,
collects the helpers' digests, which must come for exactly the files it left to them, in
its own walk order.

Helpers decide nothing. A helper that fails, dies, or saw a different listing (the tree
changed between the two walks) leaves a file without a digest, and the caller then redoes
the whole walk in one process: every result and every error is the single-process one.

Public face: :class:`Split`, :class:`Shared`, :func:`start`, :func:`finish_helper`,
:func:`collect`, :func:`abandon`. Only the main thread of a process with no other threads may :func:`start`.
"""

from __future__ import annotations

import os
import signal
import struct
from array import array
from typing import NoReturn

from attestkit.core import forking

_READ = 1 << 20
_HEAD = struct.Struct("<QQ")  # files, bytes of their NUL-separated relpaths; then 64 hex digits and 8 size bytes each
_HEX = 64


class Shared:
    """What one helper hashed, in its walk order: relpaths, hex digests and sizes."""

    __slots__ = ("digests", "paths", "sizes")

    def __init__(
        self, paths: list[bytes] | None = None, digests: list[str] | None = None, sizes: list[int] | None = None
    ) -> None:
        self.paths: list[bytes] = paths or []
        self.digests: list[str] = digests or []
        self.sizes: list[int] = sizes or []

    def add(self, relpath: bytes, hexdigest: str, size: int) -> None:
        """Record one file."""
        self.paths.append(relpath)
        self.digests.append(hexdigest)
        self.sizes.append(size)

    def encode(self) -> bytes:
        """The bytes a helper sends (names hold no NUL byte: it separates them)."""
        paths = b"\0".join(self.paths)
        return b"".join(
            (
                _HEAD.pack(len(self.paths), len(paths)),
                paths,
                "".join(self.digests).encode("ascii"),
                array("Q", self.sizes).tobytes(),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> Shared | None:
        """What :meth:`encode` wrote; ``None`` for anything else (a helper cut off mid-write)."""
        if len(data) < _HEAD.size:
            return None
        count, length = _HEAD.unpack_from(data)
        start = _HEAD.size + length
        if len(data) != start + count * (_HEX + 8):
            return None
        paths = data[_HEAD.size : start].split(b"\0") if count else []
        try:
            text = data[start : start + count * _HEX].decode("ascii")
        except UnicodeDecodeError:
            return None
        sizes = array("Q")
        sizes.frombytes(data[start + count * _HEX :])
        if len(paths) != count:
            return None
        return cls(paths, [text[i : i + _HEX] for i in range(0, count * _HEX, _HEX)], sizes.tolist())


class Split:
    """How the regular files of a walk are shared: file *i* (from *base* on) is role ``(i - base) % count``'s.

    Role 0 is the parent, which holds ``(pid, read end of its pipe)`` per helper; a helper
    (role 1 .. count-1) holds the write end its digests go to.
    """

    __slots__ = ("base", "count", "helpers", "parent", "role", "write_fd")

    def __init__(self, base: int, count: int, role: int, write_fd: int = -1, parent: int = 0) -> None:
        self.base = base
        self.count = count
        self.role = role
        self.helpers: list[tuple[int, int]] = []
        self.write_fd = write_fd
        self.parent = parent or os.getpid()  # the walking process (a helper's, taken before the fork)

    def orphaned(self) -> bool:
        """In a helper: whether the parent is gone (killed), so that nobody will read its digests."""
        return self.role != 0 and os.getppid() != self.parent

    def mine(self, index: int) -> bool:
        """Whether this process hashes the walk's *index*-th regular file."""
        return index < self.base or (index - self.base) % self.count == self.role


def start(base: int, count: int) -> Split | None:
    """Fork ``count - 1`` helpers; in each, and in the parent, return its :class:`Split`.

    ``None`` when a fork fails (the walk carries on in one process). A helper forgets the
    caller's signal handlers and ignores SIGINT (:func:`.forking.settle`): the parent alone
    answers an interruption, and kills its helpers.
    """
    split = Split(base, count, 0)
    for role in range(1, count):
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            abandon(split)
            return None
        if pid == 0:  # pragma: no cover - runs in the helper, which leaves by os._exit
            os.close(read_fd)
            for _, sibling in split.helpers:
                os.close(sibling)
            forking.settle()
            return Split(base, count, role, write_fd, split.parent)
        os.close(write_fd)
        split.helpers.append((pid, read_fd))
    return split


def finish_helper(split: Split, shared: Shared | None) -> NoReturn:  # pragma: no cover - in the helper
    """Send *shared* (``None``: this helper failed) to the parent and end the helper process."""
    status = 1
    try:
        if shared is not None:
            view = memoryview(shared.encode())
            while view:
                view = view[os.write(split.write_fd, view) :]
            status = 0
    except BaseException:  # noqa: S110 - a parent gone or an interruption: it redoes the walk
        pass
    finally:
        os._exit(status)


def collect(split: Split) -> list[Shared] | None:
    """What each helper sent, in role order; ``None`` if any helper failed or sent nothing usable."""
    collected: list[Shared] = []
    failed = False
    while split.helpers:
        pid, read_fd = split.helpers[0]  # still listed until reaped: an interruption here leaves it to abandon()
        chunks: list[bytes] = []
        try:
            while chunk := os.read(read_fd, _READ):
                chunks.append(chunk)
        except OSError:  # pragma: no cover - a pipe read does not fail
            failed = True
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere: its status is lost
            status = 1 << 8
        split.helpers.pop(0)
        os.close(read_fd)
        shared = Shared.decode(b"".join(chunks))
        if shared is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            failed = True
        else:
            collected.append(shared)
    return None if failed else collected


def abandon(split: Split) -> None:
    """Kill and reap the parent's helpers (after an error or an interruption)."""
    while split.helpers:
        pid, read_fd = split.helpers.pop()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - already gone (it is still reaped)
            pass
        os.close(read_fd)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            pass


__all__ = ["Shared", "Split", "abandon", "collect", "finish_helper", "start"]
