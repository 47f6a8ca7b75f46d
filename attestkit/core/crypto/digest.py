"""BLAKE3 digests of files and directory trees (contract section 1).

Files are read into reused, page-aligned buffers (a file truncated under a mapping would
kill the process with SIGBUS: only a forked helper maps one, :mod:`.mapped_file`) and large
ones hashed with BLAKE3's own threads; in a tree, files big enough to share out are hashed on threads (BLAKE3 releases the
GIL), and a caller that asks for *processes* shares a large tree with forked helpers
(:mod:`.tree_split`: small files are Python work, which threads cannot share). Trees are
walked from directory file descriptors, never by path and never following a link, so an
entry swapped for a symlink or FIFO during the walk is an error (code ``changed``), not a
file outside the tree. Special files are refused without being opened for blocking reads.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import TYPE_CHECKING

from blake3 import blake3

from attestkit.core import forking
from attestkit.core.crypto import mapped_file, tree_split
from attestkit.core.crypto.tree_split import Shared, Split
from attestkit.errors import ArgumentTypeError, HashingError, UsageError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

PREFIX = "blake3:"
_SMALL_FILE = 4 << 20  # read at once below this size (a read-ahead thread per file costs more below it)
_ALIGNED_FROM = 64 << 10  # ... into an aligned buffer from this size (see _aligned)
_BUFFER = 2 << 20  # read buffers for larger files: a ring of _RING per thread, reused
_RING = 3
_MULTITHREAD_FROM = 8 << 20  # BLAKE3's own threads from this file size
_PARALLEL_FROM = 64 << 10  # files from this size are hashed on worker threads in a tree
_MAP_FROM = 64 << 20  # a single file from this size may be hashed mapped, in a helper (processes > 1)


@dataclass(frozen=True)
class ManifestEntry:
    """One line of a directory manifest."""

    relpath: str
    hexdigest: str
    size: int
    is_symlink: bool

    def line(self) -> str:
        """The manifest line, ``<hex>  <relpath>``, without the newline."""
        return f"{self.hexdigest}  {self.relpath}"


def _describe(path: str | bytes) -> str:
    return os.fsdecode(path) if isinstance(path, bytes) else path


Progress = Callable[[int], None]
"""Called with a number of bytes just hashed (from worker threads too)."""

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in is opened without blocking, then refused
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
FILE_FLAGS = os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_NOFOLLOW
"""Flags for opening a file found by a walk: never follow, never block."""
DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC | _O_NOFOLLOW
"""Flags for opening a directory found by a walk: never follow a symlink swapped in."""
_buffers = threading.local()
_threads_used = False  # BLAKE3's own thread pool has been started in this process
_threads_gone = False  # ... perhaps, in a process we were forked from: its threads do not exist here
_forking_threaded = False  # set just before a fork: whether this process has threads (the pool, perhaps)


def _before_fork() -> None:
    global _forking_threaded
    # Not only attestkit's own use: a caller may have started BLAKE3's pool itself.
    _forking_threaded = _threads_used or not forking.only_thread()


def _forked() -> None:
    global _threads_gone
    _threads_gone = _threads_gone or _forking_threaded


if hasattr(os, "register_at_fork"):
    # BLAKE3's pool (Rust's rayon) hangs forever in a child forked after it started (as bulk
    # workers are): there, hash on this thread instead.
    os.register_at_fork(before=_before_fork, after_in_child=_forked)


def _max_threads(size: int) -> int:
    global _threads_used
    if size < _MULTITHREAD_FROM or _threads_gone:
        return 1
    _threads_used = True
    return int(blake3.AUTO)


def _aligned(size: int) -> mmap.mmap:
    """A page-aligned read buffer: private anonymous memory, never a mapping of the file read.

    Measured on the standard machine: the kernel copies a file into a destination 16 bytes
    off a 32-byte boundary (where a large ``bytearray``'s data starts) three to four times
    slower, 0.81 s instead of 0.24 s of system time per 2 GiB. Private, so that a process
    forked afterwards (bulk workers, hashing helpers) reads into its own copy.
    """
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)


def _ring() -> list[mmap.mmap]:
    """This thread's read buffers (reused: fresh ones cost page faults on every file)."""
    ring: list[mmap.mmap] | None = getattr(_buffers, "ring", None)
    if ring is None:
        ring = _buffers.ring = [_aligned(_BUFFER) for _ in range(_RING)]
    return ring


def _medium() -> memoryview:
    """This thread's buffer for one read of a file below ``_SMALL_FILE`` (and one byte more)."""
    view: memoryview | None = getattr(_buffers, "medium", None)
    if view is None:
        view = _buffers.medium = memoryview(_aligned(_SMALL_FILE + 1))
    return view


def _read_ahead(
    fd: int, ring: list[mmap.mmap], free: SimpleQueue[int], full: SimpleQueue[tuple[int, int] | OSError]
) -> None:
    """Fill the buffers *free* hands out, in file order, until EOF, an error, or a negative index."""
    try:
        while (index := free.get()) >= 0:
            count = os.readv(fd, (ring[index],))
            full.put((index, count))
            if not count:
                return
    except OSError as exc:
        full.put(exc)


def _hash_large(fd: int, size: int, name: str, hasher: blake3, progress: Progress | None) -> int:
    """Hash *fd* to its end, reading the next buffer on a thread while BLAKE3 hashes this one.

    Both the read and BLAKE3's update release the GIL, so copying from the page cache
    overlaps hashing instead of adding to it. Returns the number of bytes hashed.
    """
    ring = _ring()
    free: SimpleQueue[int] = SimpleQueue()
    full: SimpleQueue[tuple[int, int] | OSError] = SimpleQueue()
    for index in range(len(ring)):
        free.put(index)
    reader = threading.Thread(target=_read_ahead, args=(fd, ring, free, full), daemon=True)
    reader.start()
    total = 0
    try:
        while True:
            item = full.get()
            if isinstance(item, OSError):
                raise item
            index, count = item
            if not count:
                return total
            hasher.update(memoryview(ring[index])[:count] if count < _BUFFER else ring[index])
            free.put(index)
            total += count
            if total > size:
                raise _changed(name, f"grew beyond {size} bytes")
            if progress is not None:
                progress(count)
    finally:
        free.put(-1)  # the reader stops at its next buffer; the fd stays open until it has
        reader.join()


def _changed(name: str, detail: str) -> HashingError:
    return HashingError(f"{name}: changed while being hashed ({detail})", code="changed")


class _ShortRead(Exception):
    """A small file's read did not return its ``fstat`` size (callers name the file)."""

    def __init__(self, count: int, size: int) -> None:
        super().__init__(count, size)
        self.count = count
        self.size = size

    def error(self, name: str) -> HashingError:
        """The :class:`HashingError` (code ``changed``) for the file called *name*."""
        return _changed(name, f"read {self.count} bytes{'+' if self.count > self.size else ''}, expected {self.size}")


def _hash_small(fd: int, size: int, data: bytes | None = None) -> str:
    """Hex BLAKE3 of a file below ``_SMALL_FILE`` from one read of *size* + 1 bytes.

    The extra byte notices a file that grew (:class:`_ShortRead`; OSError passes through).
    Below ``_ALIGNED_FROM`` the bytes object ``os.read`` returns is cheapest (*data*: what a
    caller already read of it); above it, one read into an aligned buffer.
    """
    if size < _ALIGNED_FROM:
        if data is None:
            data = os.read(fd, size + 1)
        while len(data) < size and (more := os.read(fd, size + 1 - len(data))):
            data += more  # pragma: no cover - short reads only on network file systems
        if len(data) != size:
            raise _ShortRead(len(data), size)
        return blake3(data).hexdigest()
    view = _medium()
    count = os.readv(fd, (view[: size + 1],))
    while 0 < count < size and (extra := os.readv(fd, (view[count : size + 1],))):
        count += extra  # pragma: no cover - short reads only on network file systems
    if count != size:
        raise _ShortRead(count, size)
    return blake3(view[:size]).hexdigest()


def _hash_mapped(fd: int, size: int, progress: Progress | None, processes: int) -> tuple[str | None, int]:
    """The mapped helper's digest and the bytes it reported, or ``(None, reported)`` to read instead.

    Only where the caller allows helper processes, for files from ``_MAP_FROM`` bytes, and
    before this process has started BLAKE3's threads (a fork would inherit a dead pool).
    """
    if processes < 2 or size < _MAP_FROM or _threads_used or _threads_gone or not _may_fork():
        return None, 0
    if os.lseek(fd, 0, os.SEEK_CUR) != 0:  # a caller's fd read part-way: reading decides, as without helpers
        return None, 0
    reported = [0]

    def note(count: int) -> None:
        reported[0] += count
        if progress is not None:
            progress(count)

    hexdigest = mapped_file.hash_mapped(fd, size, note)
    return hexdigest, size if hexdigest is not None else reported[0]


def _after(skip: int, progress: Progress | None) -> Progress | None:
    """*progress* that stays silent for the first *skip* bytes (a helper reported them already)."""
    if progress is None or skip <= 0:
        return progress
    left = [skip]

    def report(count: int) -> None:
        quiet = min(left[0], count)
        left[0] -= quiet
        if count > quiet:
            progress(count - quiet)

    return report


def hash_fd(fd: int, size: int, name: str, progress: Progress | None = None, *, processes: int = 1) -> str:
    """Hex BLAKE3 of the regular file open on *fd*, whose ``fstat`` size was *size*.

    Reads into buffers: a file truncated meanwhile gives a short read (an error), where a
    mapping would kill the process with SIGBUS. With *processes* > 1, a large file may be
    hashed through a mapping in a forked helper instead (:mod:`.mapped_file`), whose death
    only sends this back to reading. A file that shrinks, grows or is modified while it is
    read raises :class:`HashingError` with code ``changed``.
    """
    try:
        if size < _SMALL_FILE:
            try:
                hexdigest = _hash_small(fd, size)
            except _ShortRead as short:
                raise short.error(name) from None
            if progress is not None:
                progress(size)
            return hexdigest
        before = os.fstat(fd)
        digest_hex, total = _hash_mapped(fd, size, progress, processes)
        if digest_hex is None:
            hasher = blake3(max_threads=_max_threads(size))
            total = _hash_large(fd, size, name, hasher, _after(total, progress))
            digest_hex = hasher.hexdigest()
        after = os.fstat(fd)
        # ctime too: a writer can put the mtime back (os.utime), never the ctime.
        if (
            total != size
            or after.st_size != size
            or (after.st_mtime_ns, after.st_ctime_ns)
            != (
                before.st_mtime_ns,
                before.st_ctime_ns,
            )
        ):
            raise _changed(name, f"read {total} bytes, expected {size}" if total != size else "modified")
        return digest_hex
    except OSError as exc:
        if exc.errno is None:  # raised by Python code (a caller's deadline, a progress callback), not a read
            raise
        raise HashingError(f"{name}: read failed: {exc.strerror}", code="unreadable") from None


def _open_regular(path: str | bytes) -> tuple[int, int]:
    try:
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
    except FileNotFoundError:
        raise HashingError(f"{_describe(path)}: no such file or directory", code="missing") from None
    except OSError as exc:
        raise HashingError(f"{_describe(path)}: cannot open: {exc.strerror}", code="unreadable") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise HashingError(f"{_describe(path)}: not a regular file", code="special-file")
    return fd, info.st_size


def hash_file_hex(path: str | bytes, progress: Progress | None = None) -> tuple[str, int]:
    """Hex BLAKE3 digest and size of a regular file (symlinks followed)."""
    fd, size = _open_regular(path)
    try:
        return hash_fd(fd, size, _describe(path), progress), size
    finally:
        os.close(fd)


def _fspath(path: str | os.PathLike[str]) -> str:
    try:
        text = os.fspath(path)
    except TypeError:
        ArgumentTypeError.refuse(path, (str, os.PathLike), "a path")
    if "\x00" in text if isinstance(text, str) else b"\x00" in text:
        raise UsageError(f"{text[:80]!r}: a path cannot hold a NUL character")
    return text


def hash_bytes(data: bytes) -> str:
    """``blake3:<hex>`` of *data* (bytes already read, e.g. the pipeline file that was parsed)."""
    return PREFIX + blake3(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """``blake3:<hex>`` digest of a file's bytes."""
    return PREFIX + hash_file_hex(_fspath(path))[0]


def _check_name(name: bytes, shown: str) -> None:
    if b"\n" in name or b"\r" in name:
        raise HashingError(f"{shown!r}: name contains a newline or carriage return", code="unrepresentable-name")
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        raise HashingError(f"{shown!r}: name is not valid UTF-8", code="unrepresentable-name") from None


def _walk_error(shown: str, exc: OSError) -> HashingError:
    """A walk's OSError: a vanished or swapped entry is a change, anything else unreadable.

    An OSError that no system call raised (a caller's deadline handler raising TimeoutError)
    is not the tree's: it is raised again as it is.
    """
    if exc.errno is None:
        raise exc
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)) or exc.errno in (errno.ELOOP, errno.EINVAL):
        return HashingError(f"{shown}: changed while the tree was walked ({exc.strerror})", code="changed")
    return HashingError(f"{shown}: cannot read: {exc.strerror}", code="unreadable")


_FORK_AFTER = 512  # regular files walked before helper processes are forked (small trees stay in one)
_FORK_BYTES = 16 << 20  # ... or bytes hashed, whichever comes first
_FS_UTF8 = sys.getfilesystemencoding() == "utf-8"
_S_IFMT, _S_IFREG = (
    0o170000,
    stat.S_IFREG,
)  # stat.S_ISREG, without the call  # then a name str encodes to its bytes strictly
_Row = tuple[bytes, str, int, bool]  # relpath, hex digest, size, is_symlink


class _Redo(Exception):
    """The walk was shared with helpers and something went wrong: redo it in one process."""


class _TreeHasher:
    """Walks a tree from a directory fd, opening every entry relative to its parent's fd.

    Nothing is opened by path, nothing is followed: a symlink or FIFO swapped in for a file
    or directory during the walk fails the ``O_NOFOLLOW``/``O_DIRECTORY`` open or the
    ``fstat`` type check and raises :class:`HashingError` (code ``changed``). Open
    directories are at most the tree's depth; files big enough to share out are hashed on
    threads, with a bounded number in flight. With *processes* > 1 (then *workers* is 1:
    the processes are the parallelism), once ``_FORK_AFTER`` files or ``_FORK_BYTES``
    bytes have been walked the rest are shared with forked helpers (:mod:`.tree_split`);
    any failure then raises :class:`_Redo`, and the caller walks again in one process.
    """

    def __init__(self, display: str, workers: int, progress: Progress | None, processes: int = 1) -> None:
        self.display = display.rstrip("/") or "/"
        self.workers = workers
        self.progress = progress
        self.results: list[_Row] = []
        self.pool: ThreadPoolExecutor | None = None
        self.pending: deque[tuple[bytes, Future[tuple[str, int]], int]] = deque()  # (relpath, task, fd)
        self.stopped = False
        self.files = 0  # regular files walked so far
        self.hashed = 0  # bytes of the regular files walked so far (before a fork: all in this process)
        self.processes = processes
        self.split: Split | None = None
        self.placeholders: list[list[int]] = []  # parent: per helper, indexes in results of its files
        self.shared = Shared()  # helper: what it hashed

    def shown(self, relpath: bytes) -> str:
        return f"{self.display}/{os.fsdecode(relpath)}"

    def run(self, root_fd: int) -> list[_Row]:
        """The sorted rows of the tree; raises :class:`HashingError` (or :class:`_Redo`)."""
        try:
            self._walk(root_fd)
            self._drain(0)
            if self.split is not None:
                if self.split.role:  # pragma: no cover - a helper ends here
                    tree_split.finish_helper(self.split, self.shared)
                self._merge(tree_split.collect(self.split))
        except BaseException as exc:  # an error, or an interruption (a deadline): running hashes stop too
            self.stopped = True
            if self.split is not None:
                if self.split.role:  # pragma: no cover - a helper ends here, whatever happened
                    tree_split.finish_helper(self.split, None)
                tree_split.abandon(self.split)
                if isinstance(exc, HashingError):  # the single-process walk names the first error
                    raise _Redo from None
            raise
        finally:
            if self.pool is not None:
                for _, future, fd in self.pending:  # after an error: tasks not started own an fd
                    if future.cancel():
                        os.close(fd)
                self.pool.shutdown(wait=True)
        self.results.sort()  # relpaths are unique: the first field decides
        return self.results

    def _merge(self, collected: list[Shared] | None) -> None:
        """Fill the helpers' files in; :class:`_Redo` unless each hashed exactly its files (it saw another tree)."""
        if collected is None or len(collected) != len(self.placeholders):
            raise _Redo
        results = self.results
        for indexes, shared in zip(self.placeholders, collected, strict=True):
            if shared.paths != [results[index][0] for index in indexes]:
                raise _Redo
            for index, relpath, hexdigest, size in zip(
                indexes, shared.paths, shared.digests, shared.sizes, strict=True
            ):
                results[index] = (relpath, hexdigest, size, False)
                if self.progress is not None:
                    self.progress(size)

    def _walk(self, root_fd: int) -> None:
        # A stack of (directory fd, relpath prefix, subdirectory names still to visit).
        stack: list[tuple[int, bytes, list[bytes]]] = [(root_fd, b"", self._list(root_fd, b""))]
        try:
            while stack:
                fd, prefix, subdirs = stack[-1]
                if not subdirs:
                    stack.pop()
                    if fd != root_fd:
                        os.close(fd)
                    continue
                name = subdirs.pop()
                relpath = prefix + name
                try:
                    child = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _walk_error(self.shown(relpath), exc) from None
                try:
                    listing = self._list(child, relpath + b"/")
                except BaseException:
                    os.close(child)
                    raise
                stack.append((child, relpath + b"/", listing))
        finally:
            for fd, _, _ in stack:
                if fd != root_fd:
                    os.close(fd)

    def _list(self, dir_fd: int, prefix: bytes) -> list[bytes]:
        """Hash the files and links of one directory; return its subdirectory names."""
        try:
            with os.scandir(dir_fd) as iterator:
                entries = list(iterator)
        except OSError as exc:
            raise _walk_error(self.shown(prefix.rstrip(b"/")) if prefix else self.display, exc) from None
        subdirs: list[bytes] = []
        for entry in entries:
            text = entry.name
            try:  # names that are not UTF-8 hold lone surrogates (os.fsdecode's escapes): strict refuses
                name: bytes | None = text.encode("utf-8") if _FS_UTF8 else None
            except UnicodeEncodeError:
                name = None
            if name is None or "\n" in text or "\r" in text:
                raw = os.fsencode(text)
                _check_name(raw, self.shown(prefix + raw))
                name = raw  # pragma: no cover - a locale whose file-system encoding is not UTF-8
            relpath = prefix + name
            try:
                if entry.is_file(follow_symlinks=False):
                    self._file(dir_fd, name, relpath)
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(name)
                elif entry.is_symlink():
                    if self.split is None or not self.split.role:  # helpers hash regular files only
                        target = os.readlink(name, dir_fd=dir_fd)
                        self.results.append((relpath, blake3(b"symlink:" + target).hexdigest(), 0, True))
                else:
                    raise HashingError(
                        f"{self.shown(relpath)}: not a regular file, directory or symlink", code="special-file"
                    )
            except OSError as exc:
                raise _walk_error(self.shown(relpath), exc) from None
        subdirs.sort(reverse=True)  # popped from the end: visited in name order
        return subdirs

    def _file(self, dir_fd: int, name: bytes, relpath: bytes) -> None:
        index = self.files
        self.files = index + 1
        if self.processes > 1 and (index >= _FORK_AFTER or self.hashed >= _FORK_BYTES):
            self._fork(index)
        split = self.split
        if split is not None and not split.mine(index):
            if not split.role:
                self.placeholders[(index - split.base) % split.count - 1].append(len(self.results))
                self.results.append((relpath, "", 0, False))
            return
        if split is not None and split.orphaned():  # pragma: no cover - in a helper whose parent was killed
            raise HashingError(f"{self.display}: hashing abandoned (the walking process is gone)", code="cancelled")
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
        try:
            info = os.fstat(fd)
            if info.st_mode & _S_IFMT != _S_IFREG:  # the walk saw a regular file here
                raise HashingError(f"{self.shown(relpath)}: changed while the tree was walked", code="changed")
            size = info.st_size
            self.hashed += size
            if size < _ALIGNED_FROM:  # the common case, inline: per-file Python work is the cost here
                try:
                    data = os.read(fd, size + 1)  # one extra byte notices a file that grew
                    hexdigest = blake3(data).hexdigest() if len(data) == size else _hash_small(fd, size, data)
                except _ShortRead as short:
                    raise short.error(self.shown(relpath)) from None
                except OSError as exc:
                    if exc.errno is None:  # not the read's: a caller's deadline, say
                        raise
                    raise HashingError(
                        f"{self.shown(relpath)}: read failed: {exc.strerror}", code="unreadable"
                    ) from None
                if self.progress is not None:
                    self.progress(size)
            elif self.workers > 1 and size >= _PARALLEL_FROM:
                if self.pool is None:
                    from concurrent.futures import ThreadPoolExecutor  # only trees with large files

                    self.pool = ThreadPoolExecutor(max_workers=self.workers)
                self._drain(4 * self.workers)
                self.pending.append((relpath, self.pool.submit(self._hash_and_close, fd, size, relpath), fd))
                fd = -1  # the task owns it now
                return
            else:
                hexdigest = hash_fd(fd, size, self.shown(relpath), self.progress)
            if split is not None and split.role:
                self.shared.add(relpath, hexdigest, size)
            else:
                self.results.append((relpath, hexdigest, size, False))
        finally:
            if fd >= 0:
                os.close(fd)

    def _fork(self, index: int) -> None:
        """Share the files from *index* on with helper processes, when this process may fork."""
        processes, self.processes = self.processes, 1  # one attempt
        if self.pool is not None or not _may_fork():
            return
        self.split = tree_split.start(index, processes)
        self.placeholders = [[] for _ in range(processes - 1)]
        if self.split is not None and self.split.role:  # pragma: no cover - in a helper
            self.workers = 1  # no thread pool: large files are hashed inline
            self.progress = None

    def _hash_and_close(self, fd: int, size: int, relpath: bytes) -> tuple[str, int]:
        try:
            return hash_fd(fd, size, self.shown(relpath), self._step), size
        finally:
            os.close(fd)

    def _step(self, count: int) -> None:
        """Progress from a worker thread; stops the hash once the walk has failed or was interrupted."""
        if self.stopped:
            raise HashingError(f"{self.display}: hashing abandoned", code="cancelled")
        if self.progress is not None:
            self.progress(count)

    def _drain(self, keep: int) -> None:
        while len(self.pending) > keep:
            relpath, future, _ = self.pending.popleft()
            hexdigest, size = future.result()
            if self.split is not None and self.split.role:  # pragma: no cover - helpers have no pool
                self.shared.add(relpath, hexdigest, size)
            else:
                self.results.append((relpath, hexdigest, size, False))


def _may_fork() -> bool:
    """Forking is safe here: the main thread, and no other thread (Python's or native) that could hold a lock."""
    return forking.may_fork()


def _tree_rows(dir_fd: int, display: str, workers: int | None, progress: Progress | None, processes: int) -> list[_Row]:
    count = workers or min(4, os.cpu_count() or 1)
    if processes > 1 and _may_fork():
        reported = [0]

        def noted(size: int) -> None:
            reported[0] += size
            if progress is not None:
                progress(size)

        try:
            return _TreeHasher(display, 1, noted if progress is not None else None, processes).run(dir_fd)
        except _Redo:
            progress = _after(reported[0], progress)  # the walk again: each byte reported once in all
    return _TreeHasher(display, count, progress).run(dir_fd)


def tree_manifest_fd(
    dir_fd: int,
    display: str,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> list[ManifestEntry]:
    """The manifest entries of the directory open on *dir_fd* (named *display* in errors).

    The caller keeps ownership of *dir_fd*. Raises :class:`HashingError`; a tree that
    changes under the walk raises it with code ``changed``. *processes* > 1 shares a large
    tree's files with that many forked processes in all (call it only from the main thread
    of a process with no other threads; otherwise, or for a small tree, it hashes alone).
    """
    rows = _tree_rows(dir_fd, display, workers, progress, processes)
    return [ManifestEntry(rel.decode("utf-8"), digest, size, link) for rel, digest, size, link in rows]


def tree_manifest(
    path: str | os.PathLike[str],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> list[ManifestEntry]:
    """The manifest entries of a directory, sorted by relpath as UTF-8 bytes (*processes*: as in :func:`tree_manifest_fd`)."""
    text = _fspath(path)
    try:
        fd = os.open(text, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except FileNotFoundError:
        raise HashingError(f"{text}: no such file or directory", code="missing") from None
    except NotADirectoryError:
        raise HashingError(f"{text}: not a directory", code="not-directory") from None
    except OSError as exc:
        raise HashingError(f"{text}: cannot open: {exc.strerror}", code="unreadable") from None
    try:
        return tree_manifest_fd(fd, text, workers=workers, progress=progress, processes=processes)
    finally:
        os.close(fd)


def _manifest_text(lines: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The manifest text of sorted ``(hex digest, relpath)`` pairs: the one place a line is spelled."""
    return b"".join([b"%s  %s\n" % (hex_, rel) for hex_, rel in lines])


def manifest_bytes(entries: Sequence[ManifestEntry]) -> bytes:
    """The manifest text whose BLAKE3 is the directory digest."""
    return _manifest_text((e.hexdigest.encode("ascii"), e.relpath.encode("utf-8")) for e in entries)


def digest_of_manifest(entries: Sequence[ManifestEntry]) -> str:
    """``blake3:<hex>`` directory digest of a manifest."""
    return PREFIX + blake3(manifest_bytes(entries)).hexdigest()


def files_map_digest(files: Mapping[str, str]) -> str | None:
    """The directory digest a ``files`` map (relpath -> ``blake3:<hex>``) stands for, or ``None``.

    The map holds one manifest line per entry, so a map equal to the directory's manifest
    reproduces its digest; any map that does not is not what the directory holds. A name with
    a line break cannot be a manifest line (it could forge further lines): ``None``.
    """
    if any("\n" in rel or "\r" in rel for rel in files):
        return None
    pairs = sorted(
        (rel.encode("utf-8"), normalize_digest(d)[len(PREFIX) :].encode("ascii")) for rel, d in files.items()
    )
    return PREFIX + blake3(_manifest_text((hex_, rel) for rel, hex_ in pairs)).hexdigest()


def hash_tree(path: str | os.PathLike[str]) -> str:
    """``blake3:<hex>`` directory digest (symlinks hashed as links, never followed)."""
    return digest_of_manifest(tree_manifest(path))


def _rows_digest(rows: Sequence[_Row]) -> str:
    """``blake3:<hex>`` directory digest of sorted rows (the manifest of :func:`manifest_bytes`)."""
    return PREFIX + blake3(_manifest_text((digest.encode("ascii"), rel) for rel, digest, _, _ in rows)).hexdigest()


def hash_path_with_size(
    path: str | os.PathLike[str], progress: Progress | None = None, *, processes: int = 1
) -> tuple[str, int]:
    """Digest and total regular-file size of a file or directory (top-level links followed).

    *processes* > 1 may share a large directory with forked processes (see :func:`tree_manifest_fd`).
    """
    text = _fspath(path)
    try:
        fd = os.open(text, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
    except FileNotFoundError:
        raise HashingError(f"{text}: no such file or directory", code="missing") from None
    except OSError as exc:
        raise HashingError(f"{text}: {exc.strerror}", code="unreadable") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            rows = _tree_rows(fd, text, None, progress, processes)
            return _rows_digest(rows), sum(row[2] for row in rows)
        if not stat.S_ISREG(info.st_mode):
            raise HashingError(f"{text}: not a regular file", code="special-file")
        return PREFIX + hash_fd(fd, info.st_size, text, progress, processes=processes), info.st_size
    finally:
        os.close(fd)


def hash_path(path: str | os.PathLike[str], progress: Progress | None = None, *, processes: int = 1) -> str:
    """``blake3:<hex>`` of a file or a directory, as the contract defines each (*processes*: see above)."""
    return hash_path_with_size(path, progress, processes=processes)[0]


def normalize_digest(text: str) -> str:
    """Lower-case the hex of a ``blake3:`` digest for comparison."""
    return PREFIX + text[len(PREFIX) :].lower() if text.lower().startswith(PREFIX) else text


__all__ = [
    "DIR_FLAGS",
    "FILE_FLAGS",
    "ManifestEntry",
    "digest_of_manifest",
    "files_map_digest",
    "hash_bytes",
    "hash_fd",
    "hash_file",
    "hash_path",
    "hash_path_with_size",
    "hash_tree",
    "manifest_bytes",
    "normalize_digest",
    "tree_manifest",
    "tree_manifest_fd",
]
