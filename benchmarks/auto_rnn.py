"""Trained quality of `auto` on recurrent models, against torch's default, the fixed schemes and the peers.

The same machinery as benchmarks/auto_quality.py (columns, same freshly built model per seed, same batches,
one engine call per task and block of seeds: recurrent layers have no vmap rule, so the engine runs them one
after another and says so), on three recurrent tasks:

  lstm-digits-sgd   digits' 8x8 image as 8 rows of 8 pixels in [0, 1] -> 2-layer LSTM(64) -> last state -> 10
  lstm-digits-adam  the same with Adam
  gru-mnist1d-adam  MNIST-1D's 40 standardized values as 40 steps of 1 -> GRU(64) -> last state -> 10

    python benchmarks/auto_rnn.py [--seeds 8] [--columns ...] [--save runs.json]

Why these: digits' pixels are not standardized (mean of squares 0.23), MNIST-1D's are (1.0), so the pair
shows what auto's measured input scale (auto_data.rnn_input) does where the fan rules' unit-input
assumption fails and where it holds.  Results and history: docs/auto_quality.md, "Recurrent layers".
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import auto_quality as q  # noqa: E402  (the suite's columns, training and table)


class RowsRNN(nn.Module):
    """An (n, n_in) sample read as `steps` rows -> recurrent layer(s) of `hidden` -> last state -> 10 logits."""

    def __init__(self, cls=nn.LSTM, n_in=64, steps=8, hidden=64, layers=2):
        super().__init__()
        self.steps = steps
        self.rnn = cls(n_in // steps, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 10)
        self.initlab_input_shape = (n_in,)

    def forward(self, x):
        h, _ = self.rnn(x.view(x.shape[0], self.steps, -1))
        return self.head(h[:, -1])


TASKS = [
    q.Task("lstm-digits-sgd", "digits", lambda: RowsRNN(nn.LSTM), "sgd", 0.05, 12),
    q.Task("lstm-digits-adam", "digits", lambda: RowsRNN(nn.LSTM), "adam", 1e-3, 12),
    q.Task("gru-mnist1d-adam", "mnist1d", lambda: RowsRNN(nn.GRU, 40, 40, 64, 1), "adam", 2e-3, 8),
]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--columns", default="", help="comma-separated columns (default: those of auto_quality.py)")
    ap.add_argument("--save", default="", help="JSON file of per-seed results; a rerun with it resumes")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    columns, notes = q.available(a.columns.split(",") if a.columns else q.COLUMNS)
    for n in notes:
        print("note:", n)
    t0 = time.perf_counter()
    res = q.run(TASKS, columns, a.seeds, a.jobs, save=a.save)
    print()
    print(q.table(q.summarize(res, TASKS, columns), columns, a.seeds))
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
