"""A one-line progress bar on stderr for long runs (evaluation, replay, benchmarks)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``Progress(total, "label")``; :meth:`advance` per item, :meth:`close` at the end (drawn on a TTY)."""

    def __init__(self, total: int, label: str, *, enabled: bool | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.perf_counter()
        self._last_draw = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw > 0.2 or self.done >= self.total):
            self._last_draw = now
            filled = int(30 * min(self.done, self.total) / self.total)
            rate = self.done / max(now - self.started, 1e-9)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {rate:.1f}/s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
