"""Writing to an open descriptor in full, whatever its blocking mode (no other imports: the CLI's
stdout stand-in uses it at start-up)."""

from __future__ import annotations

import os
from typing import Any


def write_all(fd: int, data: Any) -> int:
    """Write all of *data* to *fd*, waiting while it is full, as a blocking descriptor would.

    A parent may leave a descriptor non-blocking (``O_NONBLOCK`` is shared with it): a write to
    a full pipe then fails with EAGAIN although the reader is there. OSError for anything else
    (EPIPE once the reader has left).
    """
    import select

    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        try:
            done += os.write(fd, view[done:])
        except BlockingIOError:
            waiting = select.poll()
            waiting.register(fd, select.POLLOUT)
            waiting.poll()  # POLLERR (the reader left) too: the next write then says EPIPE
    return done


__all__ = ["write_all"]
