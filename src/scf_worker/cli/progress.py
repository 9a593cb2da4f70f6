"""A one-line progress bar for long CLI runs, drawn only when the stream is a terminal."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30
# Redraw at most this often, so a fast run does not spend its time on the terminal.
REDRAW_SECONDS = 0.1


class TerminalProgress:
    """Draw ``label [#####-----] done/total pct  status counts`` on one line of ``stream``.

    Reports may come from several worker threads. Nothing is drawn when the
    stream is not a terminal, so logs and pipes stay clean.
    """

    def __init__(self, stream: TextIO, label: str, status_names: dict[str, str],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.label = label
        self.status_names = status_names
        self.monotonic = monotonic
        self.enabled = stream.isatty()
        self.total = 0
        self.done = 0
        self.counts: Counter[str] = Counter()
        self._drawn_at = float("-inf")
        self._lock = threading.Lock()

    def start(self, total: int, done: int = 0) -> None:
        with self._lock:
            self.total, self.done = total, done
            self._draw(force=True)

    def advance(self, status: str) -> None:
        with self._lock:
            self.done += 1
            self.counts[status] += 1
            self._draw(force=self.done >= self.total)

    def finish(self) -> None:
        with self._lock:
            self._draw(force=True)
            if self.enabled:
                self.stream.write("\n")
                self.stream.flush()

    def render(self) -> str:
        total = max(self.total, 1)
        filled = min(BAR_WIDTH, BAR_WIDTH * self.done // total)
        percent = min(100, 100 * self.done // total)
        counts = "  ".join(f"{self.status_names.get(name, name)} {count}"
                           for name, count in sorted(self.counts.items()))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"{self.label} [{bar}] {self.done}/{self.total} {percent:3d}%"
        return f"{line}  {counts}" if counts else line

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.monotonic()
        if not force and now - self._drawn_at < REDRAW_SECONDS:
            return
        self._drawn_at = now
        # \r returns to the line start and \x1b[K clears what a longer earlier line left.
        self.stream.write(f"\r{self.render()}\x1b[K")
        self.stream.flush()
