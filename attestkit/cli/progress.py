"""A progress line on stderr for long work: only on a terminal, never in CI or when redirected."""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType


class Progress:
    """Counts bytes; after ``delay`` seconds redraws one status line at most 10 times a second."""

    def __init__(self, label: str, *, quiet: bool = False, unit: str = "MiB") -> None:
        self.label = label
        self.unit = unit
        self.delay = float(os.environ.get("ATTESTKIT_PROGRESS_AFTER", "1.0"))
        self.enabled = not quiet and sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")
        self._bytes = 0
        self._files = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._bytes += nbytes
            self._files += 1
            now = time.monotonic()
            if now - self._start < self.delay or now - self._last < 0.1:
                return
            self._last = now
            self._shown = True
            scale = 2**20 if self.unit == "MiB" else 1
            rate = self._bytes / max(now - self._start, 1e-9) / scale
            sys.stderr.write(f"\r{self.label}: {self._bytes / scale:,.0f} {self.unit}, {rate:,.0f} {self.unit}/s ")
            sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
