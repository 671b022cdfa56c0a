"""A dependency-free progress bar on stderr (steps = epochs x chunks, with an ETA).

On a terminal it redraws one line; elsewhere (logs, pipes, tests) it prints only the
`log` lines (e.g. "saved 4 runs"), so output stays readable.  stdout is never touched.
"""
from __future__ import annotations

import sys
import time


def _fmt(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    def __init__(self, total: int, *, enabled: bool = True, stream=None, label: str = "training"):
        self.total = max(1, int(total))
        self.done = 0
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label = label
        self.note = ""
        self.t0 = time.perf_counter()
        self._drawn = False
        self._last = 0.0

    def update(self, n: float = 1, note: str | None = None) -> None:
        self.done = min(self.total, self.done + n)
        if note is not None:
            self.note = note
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.2 and self.done < self.total:
            return
        self._last = now
        el = now - self.t0
        frac = self.done / self.total
        # no estimate before 2 % or 10 s: start-up costs would inflate it (it said "22:31" for a 3 s run)
        early = frac < 0.02 and el < 10.0
        eta = el / frac * (1 - frac) if self.done and not early else float("nan")
        width = 24
        fill = int(round(width * frac))
        eta_s = _fmt(eta) if eta == eta else "?"
        line = (f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {100 * frac:3.0f}% "
                f"elapsed {_fmt(el)} ETA {eta_s} {self.note}")
        self.stream.write(line[:150].ljust(100))
        self.stream.flush()
        self._drawn = True

    def log(self, msg: str) -> None:
        if not self.enabled:
            return
        if self._drawn:
            self.stream.write("\r" + " " * 150 + "\r")
        self.stream.write(msg + "\n")
        self.stream.flush()
        self._drawn = False
        if self.done < self.total:          # a finished bar is not drawn again under its last log line
            self._draw(force=True)

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
