"""Reading and writing the files attestkit works with: receipts, keys, trust stores.

Private keys are refused when group/other can access them and are written 0600; every
write goes to a temporary file that is renamed into place, so a failure never leaves a
partial file behind.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

from attestkit.adapters.descriptors import write_all
from attestkit.adapters.secret_files import read_regular_file
from attestkit.core.crypto.keys import PrivateKey, PublicKey, parse_private_key, parse_public_key
from attestkit.core.receipt.reader import MAX_RECEIPT_BYTES, Receipt, format_for_name, parse_receipt
from attestkit.core.textsafe import shown_argument
from attestkit.core.trust.store import TrustStore
from attestkit.errors import (
    ArgumentTypeError,
    AttestkitError,
    InputFileError,
    KeyFormatError,
    KeyPermissionError,
    MalformedReceiptError,
    TrustStoreError,
    UsageError,
)

_BARE_HEX = re.compile(r"[0-9a-fA-F]{64}")
PASSPHRASE_ENV = "ATTESTKIT_KEY_PASSPHRASE"  # noqa: S105 - the variable name
SIGNING_KEY_ENV = "ATTESTKIT_SIGNING_KEY"


# Bounds on the files attestkit reads (docs/security.md, "Files: sizes, special files, races").
MAX_KEY_FILE_BYTES = 1 << 20  # private and public key files
MAX_TRUST_FILE_BYTES = 16 << 20  # trusted-keys files and keyrings
MAX_POLICY_FILE_BYTES = 8 << 20  # .yaml rule files and .rego policies
MAX_WEBHOOK_BODY_BYTES = 32 << 20  # `webhook verify` / `webhook sign` bodies
MAX_OTHER_FILE_BYTES = 64 << 20  # pipeline files, reports, check lists, token and secret files
_CHUNK = 1 << 20


def _limit_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and limit % (1 << 20) == 0 else f"{limit} bytes"


def _too_large(path: str, what: str, limit: int, size: int | None) -> InputFileError:
    shown = "<stdin>" if path == "-" else path
    amount = f"is {size} bytes; the limit is" if size is not None else "is larger than the limit of"
    return InputFileError(f"{shown}: {what} {amount} {_limit_text(limit)}", code="too-large")


def _open_for_reading(
    path: str, what: str, *, regular_only: bool, follow_links: bool | None = None
) -> tuple[int, os.stat_result]:
    """Open for reading without ever blocking on a FIFO found by walking; refuse special files when *regular_only*.

    With *regular_only* (a file found in a directory) a symbolic link is not followed either: a
    committed link could lead out of the tree (to ``/proc/self/environ``, a private key) and an
    error would quote what it read there. *follow_links* (default: not *regular_only*) says
    otherwise: a path a caller named is followed, and must still lead to a regular file.
    """
    import errno

    def shown() -> str:  # key text given as a policy or receipt path is not repeated (errors only)
        return shown_argument(path, what)

    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    nofollow = regular_only if follow_links is None else not follow_links
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        # A FIFO named on the command line is waited for, as `cat` would (opening it without
        # blocking and clearing the flag would read EOF before its writer comes); anything
        # else is opened without blocking, so a FIFO swapped in meanwhile cannot stall us.
        if regular_only or not stat.S_ISFIFO(os.stat(path).st_mode):
            flags |= getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputFileError(f"{shown()}: {what} not found") from None
    except IsADirectoryError:
        raise InputFileError(f"{shown()}: is a directory, expected a {what}") from None
    except PermissionError:
        raise InputFileError(f"{shown()}: permission denied reading {what}") from None
    except OSError as exc:
        if nofollow and exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise InputFileError(
                f"{shown()}: is a symbolic link, not a regular file; links below a directory are not followed: name its target to check it",
                code="special-file",
            ) from None
        raise InputFileError(f"{shown()}: cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputFileError(f"{shown()}: is a directory, expected a {what}")
        if regular_only and not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"{shown()}: not a regular file; a {what} must be one", code="special-file")
        os.set_blocking(fd, True)
    except OSError as exc:
        os.close(fd)
        raise InputFileError(f"{shown()}: cannot read {what}: {exc.strerror}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _read_fd(fd: int, path: str, what: str, limit: int, size: int | None) -> bytes:
    """At most *limit* bytes from *fd*; one byte more is an error (the file is too large)."""
    if size is not None and size > limit:
        raise _too_large(path, what, limit, size)
    chunks: list[bytes] = []
    total = 0
    first = min(limit, size) + 1 if size is not None else min(limit + 1, _CHUNK)
    want = first
    while True:
        try:
            chunk = os.read(fd, want)
        except InterruptedError:  # pragma: no cover - retried by Python since PEP 475
            continue
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read {what}: {exc.strerror}") from None
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large(path, what, limit, size if size is not None and size > limit else None)
        want = min(limit + 1 - total, _CHUNK)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def path_argument(path: str | os.PathLike[str]) -> str:
    """*path* as text; :class:`ArgumentTypeError` for anything else (an int would be read as an
    open file descriptor, and closed)."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    ArgumentTypeError.check(path, str, "a path")
    if "\x00" in path:
        raise UsageError(f"{path[:80]!r}: a path cannot hold a NUL character")
    return path


def read_bounded(
    path: str, what: str, limit: int, *, regular_only: bool = False, follow_links: bool | None = None
) -> bytes:
    """Read a whole file, but never more than *limit* bytes (``-`` is standard input).

    FIFOs are opened without blocking and special files are refused when *regular_only*
    (anything found by walking a directory); a named special file such as ``/dev/stdin``
    is read, still bounded. A link is not followed when *regular_only*, unless *follow_links*.
    A file over the limit raises :class:`InputFileError` with code
    ``too-large`` after reading at most *limit* + 1 bytes (none when its size is known).
    """
    path = path_argument(path)
    if path == "-":
        data = _stdin().read(limit + 1)
        if len(data) > limit:
            raise _too_large(path, what, limit, None)
        return data
    fd, info = _open_for_reading(path, what, regular_only=regular_only, follow_links=follow_links)
    try:
        return _read_fd(fd, path, what, limit, info.st_size if stat.S_ISREG(info.st_mode) else None)
    finally:
        os.close(fd)


def read_bytes(path: str, what: str = "file", limit: int = MAX_OTHER_FILE_BYTES) -> bytes:
    """Read a whole file (``-`` is standard input), at most *limit* bytes, with a one-line error."""
    return read_bounded(path, what, limit)


def read_receipt_bytes(path: str, *, walked: bool = False, regular: bool = False) -> bytes:
    """A receipt file's bytes, at most the 32 MiB receipt limit (over it: malformed, exit 1).

    *walked* (a file found below a directory) requires a regular file, not reached through a
    link. *regular* (a path a batch worker reads: nobody is there to feed a FIFO) requires a
    regular file too, opened without blocking, but follows a link the caller named.
    """
    try:
        if regular and not walked:
            return read_bounded(path, "receipt", MAX_RECEIPT_BYTES, regular_only=True, follow_links=True)
        return read_bounded(path, "receipt", MAX_RECEIPT_BYTES, regular_only=walked)
    except InputFileError as exc:
        if exc.code != "too-large":
            raise
        source = "<stdin>" if path == "-" else path
        raise MalformedReceiptError(exc.message.split(": ", 1)[1], source=source, code="size") from None


def _stdin() -> BinaryIO:
    """Standard input's bytes; :class:`InputFileError` when it is closed (``<&-``: Python has no ``sys.stdin``)."""
    if sys.stdin is None:
        raise InputFileError("<stdin>: standard input is closed; nothing to read")
    return sys.stdin.buffer


def iter_lines(path: str, what: str, limit: int) -> Iterator[tuple[int, bytes | AttestkitError]]:
    """(line number, bytes) of each non-blank line of a file (``-``: stdin), each at most *limit*.

    A longer line is yielded as an error and ends the reading: the rest of the file (for
    ``/dev/zero``, forever) is not read. Open errors are yielded as line 0.
    """
    handle: BinaryIO
    try:
        if path == "-":
            handle = _stdin()
        else:
            fd, _ = _open_for_reading(path, what, regular_only=False)
            handle = open(fd, "rb", buffering=_CHUNK)
    except InputFileError as exc:
        yield 0, exc
        return
    name = "<stdin>" if path == "-" else path
    try:
        number = 0
        while True:
            try:
                line = handle.readline(limit + 1)
            except OSError as exc:
                yield number + 1, InputFileError(f"{name}: cannot read {what}: {exc.strerror}")
                return
            if not line:
                return
            number += 1
            if len(line) > limit and not (len(line) == limit + 1 and line.endswith(b"\n")):
                yield (
                    number,
                    MalformedReceiptError(
                        f"line is longer than the {_limit_text(limit)} limit", source=f"{name}:{number}", code="size"
                    ),
                )
                # The line's end may be gigabytes away (or never come, as from /dev/zero).
                yield number, InputFileError(f"{name}: not read after line {number} (a line over the limit)")
                return
            if line.strip():
                yield number, line[:-1] if line.endswith(b"\n") else line
    finally:
        if path != "-":
            handle.close()


def read_receipt_file(path: str) -> Receipt:
    """Read and strictly parse a receipt file (JSON or YAML; ``-`` is stdin).

    A DSSE envelope (``attestkit export``'s output) is refused as such: only ``verify`` reads
    envelopes.
    """
    path = path_argument(path)
    data = read_receipt_bytes(path)
    source = "<stdin>" if path == "-" else path
    return parse_receipt(data, source=source, fmt=format_for_name(path))


_PRIVATE_KEY_MARKS = (b"PRIVATE KEY-----", b"PRIVATE+KEY+")  # PEM and OpenSSH; a signed-note skey


def refuse_key_overwrite(path: str) -> None:
    """:class:`InputFileError` (``overwrites-key``) when *path* is a regular file holding a private key.

    An output named like the key (``--key k -o k``) would replace the key with a receipt: the
    key is lost and a receipt lands with the key's old mode. Only a regular file is looked at
    (a link is replaced, not followed), as far as a key file may be long.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return  # absent, a link, or unreadable: nothing of ours to lose by replacing it
    try:
        # as far as a key attestkit would load may reach (leading blank lines are allowed there)
        head = os.read(fd, MAX_KEY_FILE_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        head = b""
    finally:
        os.close(fd)
    if any(mark in head for mark in _PRIVATE_KEY_MARKS):
        raise InputFileError(f"{path}: is a private key file; refusing to overwrite it", code="overwrites-key")


def open_fresh(path: str, mode: int = 0o666) -> BinaryIO:
    """A new empty regular file at *path* for writing, whatever was there (a state file's temp).

    An entry left at *path* is removed first and the file is created exclusively, never
    through a link: a FIFO planted at a temp name would block the open for a reader, and a link
    would be written through. An entry that cannot be replaced (a directory) is one
    :class:`InputFileError`.
    """
    try:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None
    return os.fdopen(fd, "wb")


_PIPE_BUFFER = 65536

STREAM_STALL_SECONDS = 60.0
"""How long a pipe or device given as ``-o`` may take no bytes before the write is abandoned."""

_PROC_FD_DIR = re.compile(r"/proc/([0-9]+)(?:/task/[0-9]+)?/fd")


def _resolved_directory(path: str, directory: str) -> str:
    """*directory* (``""``: the working directory) with its links resolved; :class:`InputFileError`
    when a link on the way cannot be read (``/proc/1/root`` from another mount namespace, or
    another user's): where a write would land is then unknown, so nothing is written."""
    try:
        return os.path.realpath(directory or ".")
    except OSError as exc:
        raise InputFileError(
            f"{path}: cannot resolve the directory it is in: {exc.strerror}; refusing to write", code="special-file"
        ) from None


def _own_descriptor(path: str) -> int | None:
    """The caller's descriptor *path* names (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``), else ``None``.

    Decided by the directory the name lives in once resolved, not by its spelling: a rename would
    replace the entry in that directory, so ``/dev/./stdout`` (or ``stdout`` run from /dev) is
    the link /dev/stdout and must be written through, never replaced. Another process's
    descriptors are refused (``special-file``).
    """
    parent = _resolved_directory(path, os.path.dirname(path))
    entry = os.path.basename(path)
    if parent == "/dev" and entry in ("stdout", "stderr"):
        return 1 if entry == "stdout" else 2
    match = _PROC_FD_DIR.fullmatch(parent)
    if match is None:
        return None
    if int(match.group(1)) != os.getpid() or not entry.isdigit() or not entry.isascii() or len(entry) > 9:
        raise InputFileError(f"{path}: is not a descriptor of this process; refusing to write", code="special-file")
    return int(entry)


def _in_dev(parent: str) -> bool:
    """Whether the resolved directory *parent* is /dev or on the file system /dev is.

    That is /dev's subdirectories (``/dev/disk/by-uuid``) and /dev bind-mounted elsewhere when
    /dev is a file system of its own (devtmpfs), not /dev/shm (a tmpfs of its own, where files
    are written as anywhere else). When /dev is not a mount, its own path decides.
    """
    try:
        here, dev, root = os.stat(_existing(parent)).st_dev, os.stat("/dev").st_dev, os.stat("/").st_dev
    except OSError:
        return parent == "/dev" or parent.startswith("/dev/")
    return here == dev and (dev != root or parent == "/dev" or parent.startswith("/dev/"))


def _existing(directory: str) -> str:
    """*directory*, or its nearest ancestor that exists (the file system new directories would be made on)."""
    while not os.path.lexists(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return directory


def refuse_in_dev(directory: str, shown: str) -> None:
    """:class:`InputFileError` (``special-file``) when entries would be made in *directory* (or the
    directories still to create for it) on /dev's file system (:func:`_in_dev`): a draft's
    lock, a keyring's lock, a key pair's directory, a log or a witness state."""
    if _in_dev(_resolved_directory(shown, directory)):
        raise InputFileError(f"{shown}: is on /dev's file system; refusing to create files there", code="special-file")


def _stream_target(path: str) -> bool:
    """True when *path* is a pipe or character device to write into; :class:`InputFileError` for other specials.

    A rename over a device would replace the device itself (as root, ``-o /dev/null`` would turn
    /dev/null into a file for every user of the machine). A pipe or character device named
    directly is written into; any other special file, a link to a device or pipe (a committed
    ``report.json -> /dev/...``), or a new entry in /dev itself is refused. The caller's own
    descriptors are handled apart.
    """
    try:
        info = os.lstat(path)
    except OSError:
        info = None  # absent (or unreachable: the write says why)
    if info is not None and (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
        return True
    if info is not None and (stat.S_ISBLK(info.st_mode) or stat.S_ISSOCK(info.st_mode)):
        raise InputFileError(f"{path}: is a block device or socket, not a file; refusing to write", code="special-file")
    if _in_dev(_resolved_directory(path, os.path.dirname(path))):
        raise InputFileError(f"{path}: is not a device in /dev; refusing to create or replace it", code="special-file")
    if info is None or stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
        return False
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            return False  # a dangling link is replaced, as a link to a file is
        if stat.S_ISFIFO(target.st_mode) or stat.S_ISCHR(target.st_mode):
            raise InputFileError(
                f"{path}: is a link to a device or pipe; refusing to write through it", code="special-file"
            )
        return False
    raise InputFileError(f"{path}: is a device or socket, not a file; refusing to write", code="special-file")


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _write_descriptor(path: str, descriptor: int, data: bytes) -> None:
    """Write *data* to the caller's open *descriptor* (``-o /dev/stdout``), after what Python buffered.

    Blocking, as a shell redirection is: the caller chose the reader.
    """
    _flush_std_streams()
    try:
        fd = os.dup(descriptor)
    except OSError:
        raise InputFileError(f"{path}: descriptor {descriptor} is not open") from None
    try:
        write_all(fd, data)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None
    finally:
        os.close(fd)


def _write_stream(path: str, data: bytes, stall: float) -> None:
    """Write *data* into a named pipe or device; a reader that takes nothing for *stall* seconds
    ends it, and so does one that takes less than a pipe's buffer (64 KiB) per *stall* seconds
    on average (a reader taking a few bytes just before each stall would stretch the write
    without end)."""
    import errno
    import select

    try:
        # Non-blocking open: a pipe nobody reads is an error now, not a hang.
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InputFileError(f"{path}: is a pipe that nobody reads; nothing written") from None
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None
    view, done = memoryview(data), 0
    deadline = time.monotonic() + stall * (1 + len(view) // _PIPE_BUFFER)
    try:
        while done < len(view):
            try:
                done += os.write(fd, view[done : done + (1 << 20)])
                continue
            except BlockingIOError:
                pass
            ready = select.poll()
            ready.register(fd, select.POLLOUT)
            left = deadline - time.monotonic()
            if left <= 0:
                raise InputFileError(
                    f"{path}: its reader took less than 64 KiB per {stall:g} s; output incomplete "
                    f"({done} of {len(view)} bytes)"
                )
            waited = min(stall, left)
            if not ready.poll(waited * 1000) and waited == stall:
                raise InputFileError(
                    f"{path}: its reader took nothing for {stall:g} s; output incomplete ({done} of {len(view)} bytes)"
                )
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None
    finally:
        os.close(fd)


def write_atomic(
    path: str, data: bytes, *, mode: int = 0o644, overwrite: bool = True, stall: float = STREAM_STALL_SECONDS
) -> None:
    """Write *data* to *path* through a temporary file and a rename (never over a private key).

    A pipe or character device (``-o /dev/null``, ``-o /dev/stdout``) is written into, not
    replaced, and a named one whose reader takes nothing for *stall* seconds is an error;
    other special files are refused (:func:`_stream_target`).
    """
    import tempfile

    directory = os.path.dirname(path) or "."
    name = os.path.basename(path)
    if not overwrite and os.path.lexists(path):
        raise InputFileError(f"{path}: already exists; refusing to overwrite")
    descriptor = _own_descriptor(path)
    if descriptor is not None:
        _write_descriptor(path, descriptor, data)
        return
    if _stream_target(path):
        _write_stream(path, data, stall)
        return
    refuse_key_overwrite(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if overwrite:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if path appeared meanwhile
            os.unlink(temp)
    except FileExistsError:
        os.unlink(temp)
        raise InputFileError(f"{path}: already exists; refusing to overwrite") from None
    except OSError as exc:
        if os.path.exists(temp):
            os.unlink(temp)
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None


def _env_bytes(value: str, name: str) -> bytes:
    """A variable's value as the bytes the environment held (``os.environb``), never shown in an error.

    ``os.environ`` decodes bytes that are not UTF-8 to lone surrogates (surrogateescape);
    ``os.fsencode`` gives the original bytes back.
    """
    try:
        return os.fsencode(value)
    except UnicodeEncodeError:  # a mapping given by a library caller, not the environment
        raise KeyFormatError(f"{name} cannot be encoded as bytes (value not shown)", code="passphrase") from None


def _passphrase(environ: Mapping[str, str]) -> bytes | None:
    value = environ.get(PASSPHRASE_ENV)
    return _env_bytes(value, PASSPHRASE_ENV) if value else None


def passphrase_for_new_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The passphrase to encrypt a new private key with: ``ATTESTKIT_KEY_PASSPHRASE``, or ``None`` if unset.

    Set but empty is refused (:class:`UsageError`, ``empty-passphrase``): CI expands a missing
    secret to "", and the key would be written unencrypted without a word.
    """
    env = os.environ if environ is None else environ
    value = env.get(PASSPHRASE_ENV)
    if value is None:
        return None
    if not value:
        raise UsageError(
            f"{PASSPHRASE_ENV} is set but empty (a missing CI secret?): set the passphrase, "
            f"or unset the variable to write an unencrypted key",
            code="empty-passphrase",
        )
    return _env_bytes(value, PASSPHRASE_ENV)


def _hidden(exc: InputFileError, path: str, what: str) -> InputFileError:
    """*exc* about *path* with the path described instead of repeated when it may be key text."""
    shown = shown_argument(path, what)
    if shown == path:
        return exc
    rest = exc.message[len(path) :] if exc.message.startswith(path) else ": cannot be read"
    return InputFileError(shown + rest, code=exc.code)


def _read_key_file(path: str) -> tuple[bytes, os.stat_result]:
    """The bytes of the key file *path* and the ``fstat`` of the file they were read from
    (:func:`~attestkit.adapters.secret_files.read_regular_file`; the mode rule is applied by
    the caller, after a public key given in its place is told apart). A symbolic link is
    followed, as to any file."""
    return read_regular_file(
        path,
        "key file",
        MAX_KEY_FILE_BYTES,
        private=False,
        not_found_hint=f" (a key's text goes in {SIGNING_KEY_ENV}, not in place of a file)",
        special_hint=f" (a pipe or device cannot be held to mode 0600: pass the key's text in {SIGNING_KEY_ENV} instead)",
    )


def _private_key_from_file(path: str, data: bytes, info: os.stat_result, env: Mapping[str, str]) -> PrivateKey:
    """The private key in *data*, read from *path* whose opened file is *info*."""
    if data.lstrip()[:128].startswith((b"ed25519:", b"ssh-ed25519 ", b"-----BEGIN PUBLIC KEY-----")):
        # Said before the permission rule: no chmod makes a public key sign.
        raise KeyFormatError(
            f"{path}: is a public key, not a private key: sign with the private key file (NAME.key, not NAME.pub)",
            code="public-not-private",
        )
    if info.st_mode & 0o077:
        raise KeyPermissionError(
            f"{path}: private key is accessible by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod 600 {path}"
        )
    try:
        return parse_private_key(data, _passphrase(env))
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc.message}", code=exc.code) from None


def load_private_key_file(path: str, environ: Mapping[str, str] | None = None) -> PrivateKey:
    """Load a private key file: a regular file that neither group nor others can access.

    The file is opened once, without blocking, and the rules are applied to the opened file
    (:func:`_read_key_file`). A *path* that is not a file's name (key text pasted in its
    place) is never repeated in an error.
    """
    path = path_argument(path)
    data, info = _read_key_file(path)
    return _private_key_from_file(path, data, info, os.environ if environ is None else environ)


def load_key_file_public(value: str, environ: Mapping[str, str] | None = None) -> PublicKey:
    """``keys show``: the public key of a private key file (mode rule applied), a public key file, or a literal.

    A file is opened once, without blocking, and must be a regular file.
    """
    value = path_argument(value)
    if value.strip().startswith(("ed25519:", "ssh-ed25519 ", "-----BEGIN")) or not os.path.lexists(value):
        return load_public_key(value)
    data, info = _read_key_file(value)
    if b"PRIVATE KEY" in data.lstrip()[:64]:
        return _private_key_from_file(value, data, info, os.environ if environ is None else environ).public_key
    return _public_key_from_file(value, data)


def load_private_key_env(environ: Mapping[str, str] | None = None) -> PrivateKey | None:
    """The private key held as PEM text in ``ATTESTKIT_SIGNING_KEY``, if set.

    A value that is a file's path is refused with a hint (the variable holds the key itself).
    """
    env = os.environ if environ is None else environ
    text = env.get(SIGNING_KEY_ENV)
    if not text:
        return None
    if not text.lstrip().startswith("-----BEGIN") and "\n" not in text.strip() and os.path.isfile(text.strip()):
        raise KeyFormatError(
            f"{SIGNING_KEY_ENV} holds a file path, not a key: pass --key PATH, or put the key's PEM text "
            f'in the variable (e.g. {SIGNING_KEY_ENV}="$(cat PATH)")',
            code="key-path-in-env",
        )
    try:
        return parse_private_key(_env_bytes(text, SIGNING_KEY_ENV), _passphrase(env))
    except KeyFormatError as exc:
        raise KeyFormatError(f"{SIGNING_KEY_ENV}: {exc.message}", code=exc.code) from None


def load_signing_key(key_file: str | None, environ: Mapping[str, str] | None = None) -> PrivateKey:
    """The signing key: *key_file* (``--key``), else ``ATTESTKIT_SIGNING_KEY``; :class:`UsageError` if neither.

    This process is made non-dumpable first: a process of the same user (one a build step left
    behind) can then read neither its memory nor its ``/proc/PID/environ``, where the key may be.
    """
    from attestkit.core.forking import not_dumpable

    not_dumpable()
    if key_file is not None:
        return load_private_key_file(key_file, environ)
    key = load_private_key_env(environ)
    if key is None:
        from attestkit.errors import UsageError

        raise UsageError(f"no signing key: pass --key KEYFILE or set {SIGNING_KEY_ENV}")
    return key


def load_public_key(value: str) -> PublicKey:
    """A public key from a literal (``ed25519:<hex>``, ``ssh-ed25519 ...``) or a file holding one.

    Errors never repeat a *value* that is not a file's name (it may be a private key pasted
    in): :func:`attestkit.core.textsafe.shown_argument` describes it instead.
    """
    value = path_argument(value)
    text = value.strip()
    if text.startswith(("ed25519:", "ssh-ed25519 ", "-----BEGIN")):
        return parse_public_key(text)
    if not os.path.exists(value):
        if _BARE_HEX.fullmatch(text):
            # Not repeated: 64 hex digits may as well be a private key's seed.
            raise KeyFormatError("a bare 64-hex key (not shown): write it as ed25519:<the 64 hex digits>")
        raise KeyFormatError(f"{shown_argument(value, 'public key')}: not a public key literal and no such file")
    return _public_key_from_file(value, read_bytes(value, "public key file", MAX_KEY_FILE_BYTES))


def _public_key_from_file(value: str, data: bytes) -> PublicKey:
    try:
        return parse_public_key(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise KeyFormatError(f"{value}: public key file is not text") from None
    except KeyFormatError as exc:
        raise KeyFormatError(f"{value}: {exc.message}", code=exc.code) from None


def load_trusted_keys_file(path: str) -> TrustStore:
    """Parse a trusted-keys file (key lines, PEM blocks or a keyring)."""
    try:
        data = read_bytes(path, "trusted keys file", MAX_TRUST_FILE_BYTES)
    except InputFileError as exc:
        raise _hidden(exc, path, "trusted keys file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustStoreError(f"{path}: trusted keys file is not UTF-8 text") from None
    from attestkit.core.trust.keyring import parse_trusted_keys  # not loaded by a verify with --public-key only

    return parse_trusted_keys(text, path)


KEYRING_MODE = 0o644


def _fsync_directory(path: str) -> None:
    """Make a rename in *path*'s directory durable (where the platform supports it)."""
    try:
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is atomic
    finally:
        os.close(fd)


def update_keyring(path: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> TrustStore:
    """Replace the keyring at *path* (created if absent) by ``change(document)``, validated.

    Edits are serialised: an exclusive ``flock`` on ``PATH.lock`` (beside the keyring, never
    removed) is held from reading to renaming, so concurrent edits never lose one another.
    The new file and its directory are fsynced, the keyring's mode is kept, the previous
    version is kept as ``PATH.bak``, and a keyring that is a symlink (or not a regular file)
    is refused rather than silently replaced by a regular file.
    """
    import fcntl

    from attestkit.core.receipt.yaml_reader import dump_yaml
    from attestkit.core.trust.keyring import empty_keyring, keyring_from_document, load_keyring_document

    refuse_in_dev(os.path.dirname(path), path)
    try:
        lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise InputFileError(f"{path}.lock: cannot open the keyring lock: {exc.strerror}") from None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            info: os.stat_result | None = os.lstat(path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read keyring: {exc.strerror}") from None
        old: bytes | None = None
        document = empty_keyring()
        mode = KEYRING_MODE
        if info is not None:
            if stat.S_ISLNK(info.st_mode):
                raise InputFileError(
                    f"{path}: keyring is a symbolic link; refusing to replace it (edit {os.path.realpath(path)} instead)"
                )
            if not stat.S_ISREG(info.st_mode):
                raise InputFileError(f"{path}: keyring is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            old = read_bytes(path, "keyring", MAX_TRUST_FILE_BYTES)
            try:
                text = old.decode("utf-8")
            except UnicodeDecodeError:
                raise TrustStoreError(f"{path}: keyring is not UTF-8 text") from None
            document = load_keyring_document(text, path)
            keyring_from_document(document, path)  # refuse to build on a broken keyring
        updated = change(document)
        text = "# attestkit keyring (see docs/keys.md)\n" + dump_yaml(updated)
        store = keyring_from_document(load_keyring_document(text, path), path)
        if old is not None:
            write_atomic(path + ".bak", old, mode=mode)
        write_atomic(path, text.encode("utf-8"), mode=mode)
        _fsync_directory(path)
        return store
    finally:
        os.close(lock_fd)  # releases the lock


def write_keypair(out_dir: str, name: str, key: PrivateKey, passphrase: bytes | None = None) -> tuple[str, str]:
    """Write ``DIR/NAME.key`` (PKCS#8 PEM, 0600) and ``DIR/NAME.pub``; never overwrite."""
    if not name or "/" in name or name.startswith("."):
        raise InputFileError(f"{name!r}: key name must be a plain file name")
    refuse_in_dev(out_dir, out_dir)
    try:
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{out_dir}: cannot create the directory: {exc.strerror}") from None
    key_path = os.path.join(out_dir, f"{name}.key")
    pub_path = os.path.join(out_dir, f"{name}.pub")
    for existing in (key_path, pub_path):
        if os.path.lexists(existing):
            raise InputFileError(f"{existing}: already exists; refusing to overwrite a key")
    write_atomic(key_path, key.to_pem(passphrase), mode=0o600, overwrite=False)
    try:
        write_atomic(pub_path, (key.public_key.text + "\n").encode("ascii"), mode=0o644, overwrite=False)
    except Exception:
        os.unlink(key_path)
        raise
    return key_path, pub_path


__all__ = [
    "MAX_KEY_FILE_BYTES",
    "MAX_OTHER_FILE_BYTES",
    "MAX_POLICY_FILE_BYTES",
    "MAX_TRUST_FILE_BYTES",
    "MAX_WEBHOOK_BODY_BYTES",
    "PASSPHRASE_ENV",
    "SIGNING_KEY_ENV",
    "iter_lines",
    "load_key_file_public",
    "load_private_key_env",
    "load_private_key_file",
    "load_public_key",
    "load_signing_key",
    "load_trusted_keys_file",
    "open_fresh",
    "passphrase_for_new_key",
    "read_bounded",
    "read_bytes",
    "read_receipt_bytes",
    "read_receipt_file",
    "refuse_in_dev",
    "refuse_key_overwrite",
    "update_keyring",
    "write_atomic",
    "write_keypair",
]
