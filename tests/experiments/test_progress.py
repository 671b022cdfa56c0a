"""The progress bar: drawn only on a terminal, log lines above it, no stale redraw, no wild early ETA."""
from __future__ import annotations

import io

from initlab.experiments.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_only_log_lines_are_written():
    s = io.StringIO()
    bar = Progress(4, stream=s)
    bar.update(2)
    bar.log("chunk 1/2 saved")
    bar.close()
    assert s.getvalue() == "chunk 1/2 saved\n"


def test_no_eta_from_the_first_steps_and_no_redraw_after_the_end():
    s = Tty()
    bar = Progress(100, stream=s, label="runs")
    bar.update(0.5)                                   # 0.5 %: an estimate from this would be noise
    assert "ETA ?" in s.getvalue()
    bar.update(99.5)
    bar.log("chunk 1/1: 4 run(s) finished")
    bar.close()
    out = s.getvalue()
    tail = out[out.index("chunk 1/1"):]
    assert "100%" not in tail                          # the finished bar is not drawn again under the log line
    assert "100%" in out[:out.index("chunk 1/1")]


def test_mid_run_log_redraws_the_bar():
    s = Tty()
    bar = Progress(10, stream=s)
    bar.update(5)
    bar.log("chunk 1/2 saved")
    assert "50%" in s.getvalue()[s.getvalue().index("chunk 1/2 saved"):]
