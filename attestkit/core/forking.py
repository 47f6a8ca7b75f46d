"""Forking helpers safely: when a process may fork, and what the child forgets first.

attestkit forks helpers (hashing a tree or a large file, bulk verification workers) from a
process that may be a library user's service. A fork copies that process's Python signal
handlers, its wakeup fd and faulthandler: without this, a SIGTERM sent to the process group
would run the service's own shutdown code inside the helper, a signal would write a byte into
the parent's event loop, and a helper killed by SIGBUS (a file truncated under its mapping)
would print faulthandler's "Fatal Python error" to the user's terminal. Helpers decide
nothing, so a signal meant for the parent simply ends them, except SIGINT: Ctrl-C reaches the
whole process group and the parent alone answers it. And a fork copies one thread only, so
nothing is forked from a process that has others (:func:`only_thread`).

Public face: :func:`settle`, :func:`only_thread`.
"""

from __future__ import annotations

import os
import signal
import threading


def settle() -> None:
    """In a forked child: default action for every signal the parent handled in Python, SIGINT ignored.

    Also: no core dump (it would copy the caller's memory, keys included, into a file or a
    crash store), and the terminal's stop signals ignored (a caller that handles Ctrl-Z itself
    carries on, and would wait forever for a helper the kernel stopped).
    """
    import faulthandler  # built in, but loaded only in helpers (the plain verify path stays small)
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError):  # pragma: no cover - a hard limit already lower
        pass
    not_dumpable()
    if faulthandler.is_enabled():
        faulthandler.disable()
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:  # pragma: no cover - only the main thread may; helpers are forked from it
        pass
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):  # pragma: no cover - signals Python cannot query
            continue
        if callable(handler):
            signal.signal(signum, signal.SIG_DFL)
    for signum in (signal.SIGINT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_IGN)


def not_dumpable() -> None:
    """``prctl(PR_SET_DUMPABLE, 0)`` on Linux: no core even for a crash handler behind a pipe,
    and no process of the same user (a build step) can read this one's memory or its
    ``/proc/PID/environ``, where the signing key may be (ssh-agent does the same)."""
    if not os.path.exists("/proc/self"):  # pragma: no cover - not Linux
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        pass


def may_fork() -> bool:
    """Whether this process may fork a helper and wait for it: :func:`only_thread`, and SIGCHLD at its default.

    A caller that ignores SIGCHLD (or reaps children in a handler) lets the kernel or itself
    reap the helper, whose status then never reaches us.
    """
    return hasattr(os, "fork") and signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL and only_thread()


def only_thread() -> bool:
    """Whether this is the main thread of a process with no other thread, native ones included.

    A fork copies only the calling thread: a lock held by any other thread (a Python thread,
    or a native pool such as BLAKE3's own, which a library user may have started) would never
    be released in the child, and the child would hang. On Linux ``/proc/self/task`` lists
    every thread; elsewhere only Python's threads can be counted.
    """
    if threading.current_thread() is not threading.main_thread() or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # pragma: no cover - no /proc (not Linux)
        return True


__all__ = ["may_fork", "not_dumpable", "only_thread", "settle"]
