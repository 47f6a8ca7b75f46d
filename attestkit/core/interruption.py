"""Interruptions raised inside a native engine's callback, kept so they are re-raised as themselves.

The per-receipt time budget raises from a ``SIGALRM`` handler, which Python runs at the next
bytecode: when that is inside a Python function a native engine called (a Rego builtin
attestkit supplies), the engine turns the exception into an error string, and the budget would
read as "could not evaluate". The raiser notes the exception here; the engine's caller takes it
back and raises it instead of the engine's error.
"""

from __future__ import annotations

import threading

_pending = threading.local()


def note(exc: BaseException) -> BaseException:
    """Remember *exc* for this thread and return it (``raise note(Interrupt())``)."""
    _pending.exc = exc
    return exc


def take() -> BaseException | None:
    """The exception noted since the last call, if any (and forget it)."""
    exc: BaseException | None = getattr(_pending, "exc", None)
    _pending.exc = None
    return exc


__all__ = ["note", "take"]
