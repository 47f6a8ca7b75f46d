"""Draft files on disk: read, written atomically, changed only under the draft's lock.

Every change to a draft (``record`` appending a step, ``finalize`` replacing it by its
finalized marker) holds an exclusive ``flock`` on ``<draft>.lock`` while it reads, checks and
rewrites the draft, so two ``record``s cannot lose each other's step and two ``finalize``s
cannot both sign it. The lock file is left in place: removing it would let a process that
already opened it lock a file nobody else sees.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from attestkit.adapters.files import read_bytes, refuse_in_dev, write_atomic
from attestkit.errors import InputFileError, UsageError


@contextmanager
def draft_lock(path: str) -> Iterator[None]:
    """Hold the exclusive lock of the draft at *path* (its directory is created if needed)."""
    directory = os.path.dirname(path)
    refuse_in_dev(directory, path)
    try:
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot lock the draft: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def load_draft(path: str) -> dict[str, Any] | None:
    """The draft at *path*, or ``None`` when there is none; :class:`UsageError` when it is not a draft."""
    if not os.path.lexists(path):
        return None
    from attestkit.core.receipt.reader import parse_document

    draft = parse_document(read_bytes(path, "draft receipt"), source=path, fmt="json")
    if not isinstance(draft, dict) or not isinstance(draft.get("steps", []), list):
        raise UsageError(f"{path}: not a draft receipt (expected an object with a steps list)")
    return draft


def write_draft(path: str, draft: Any) -> None:
    """Replace the draft at *path* atomically."""
    directory = os.path.dirname(path)
    refuse_in_dev(directory, path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    write_atomic(path, (json.dumps(draft, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def generate_run_id() -> str:
    """A fresh run id for a draft whose run was not named."""
    return "local-" + secrets.token_hex(8)


__all__ = ["draft_lock", "generate_run_id", "load_draft", "write_draft"]
