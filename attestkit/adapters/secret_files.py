"""Reading secret files (webhook secrets): private, bounded, byte-exact.

Treated like key and token files: a secret file must be a regular file that neither group nor
others can access (``KeyPermissionError`` with the ``chmod 600`` hint otherwise); it is read as
bytes, at most :data:`MAX_SECRET_BYTES`, without ever blocking on a FIFO or reading a device. A text file's trailing line endings are not part of the
secret; a file that is not UTF-8 text is used byte for byte.
"""

from __future__ import annotations

import os
import re
import stat

from attestkit.core.textsafe import TOKEN_PREFIXES, shown_argument
from attestkit.errors import InputFileError, KeyPermissionError, WebhookSecretError

#: A secret file larger than this is refused (secrets are tens of bytes).
MAX_SECRET_BYTES = 64 * 1024


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n" for ch in text)


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


def shown_secret_reference(value: str, what: str, *, env_name: bool = False) -> str:
    """*value*, a secret file's path or (*env_name*) a variable's name, as an error may show it.

    Either is as likely the secret itself pasted in its place (``--secret-file "$HOOK_SECRET"``,
    ``--secret-env "$HOOK_SECRET"``): it is described unless it reads as what it should be (a
    path holds a ``/`` or ``.``; a variable's name is upper-case ``A-Z0-9_``), with no token prefix.
    """
    shown = shown_argument(value, what)
    if shown != value or any(prefix in value for prefix in TOKEN_PREFIXES):
        return f"the {what} value ({len(value)} characters, not shown)"
    if _ENV_NAME.fullmatch(value) if env_name else ("/" in value or "." in value):
        return value
    # Said how to be named, so that a real name without a / or . (`--key logkey`) can be told apart.
    hint = "a variable's name is upper-case A-Z0-9_" if env_name else "a file's name is shown as ./NAME"
    return f"the {what} value ({len(value)} characters, not shown; {hint})"


def _shown_missing(path: str, shown: str, what: str, private: bool) -> str:
    """How an error names a secret file *path* that does not exist (private: :func:`shown_secret_reference`)."""
    if not private or shown != path:
        return shown
    return shown_secret_reference(path, what)


def read_regular_file(
    path: str, what: str, limit: int, *, private: bool, not_found_hint: str = "", special_hint: str = ""
) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file *path* (at most *limit*) and the ``fstat`` of what was read.

    The one opener for key and secret files: opened without blocking (a FIFO with no writer
    cannot hang us) and judged by the opened descriptor, so what is checked is what is read (a
    swap after a path check cannot slip through). A FIFO, device or socket is refused
    (``special-file``): it cannot be held to the mode rule. With *private*, a file that group
    or others can access is refused with the ``chmod 600`` hint. A *path* that cannot be a
    file's name (a secret pasted in its place) is described, never repeated.
    """
    shown = shown_argument(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        missing = _shown_missing(path, shown, what, private)
        raise InputFileError(f"{missing}: {what} not found{not_found_hint if missing == path else ''}") from None
    except IsADirectoryError:
        raise InputFileError(f"{shown}: is a directory, not a regular file; a {what} must be one") from None
    except PermissionError:
        raise InputFileError(f"{shown}: permission denied reading {what}") from None
    except OSError as exc:
        raise InputFileError(f"{shown}: cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputFileError(f"{shown}: is a directory, not a regular file; a {what} must be one")
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(
                f"{shown}: not a regular file; a {what} must be one{special_hint}", code="special-file"
            )
        if private and info.st_mode & 0o077:
            raise KeyPermissionError(
                f"{shown}: {what} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
                f"run: chmod 600 {shown}"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputFileError(f"{shown}: cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputFileError(f"{shown}: {what} is larger than the limit of {limit // 1024} KiB", code="too-large")
    return b"".join(chunks), info


def read_private_file(path: str, what: str, limit: int) -> bytes:
    """The bytes of *path*, a regular file only its owner can access, at most *limit* of them
    (:func:`read_regular_file` with the mode rule)."""
    return read_regular_file(path, what, limit, private=True)[0]


def read_secret_file(path: str, what: str = "secret file") -> bytes:
    """The secret held in *path* as bytes; one-line errors that never quote the secret."""
    data = read_private_file(path, what, MAX_SECRET_BYTES)
    if _is_text(data):
        data = data.rstrip(b"\r\n")
    if not data:
        raise WebhookSecretError(f"{path}: {what} is empty")
    return data


__all__ = ["MAX_SECRET_BYTES", "read_private_file", "read_regular_file", "read_secret_file", "shown_secret_reference"]
