"""A hand-built CompareResult (no trainer): five policies, a constant one, a diverged seed, one single seed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from initlab.experiments.records import DIVERGED, CompareResult, RunRecord, config_hash
from initlab.experiments.stats import summarize

CONFIG = {"model": "mlp:784-128-64-10", "data": "fashion-mnist", "epochs": 8, "optimizer": "sgd", "lr": 0.05,
          "batch_size": 128, "policies": ["he", "xavier", "zeros", "big-normal", "orthogonal"], "seeds": [0, 1, 2]}


def _run(policy, seed, h, rate, plateau, noise, diverge_at=None, epochs=8):
    rng = np.random.default_rng(seed * 100 + len(policy))
    hist = []
    for e in range(1, epochs + 1):
        loss = 2.3 * math.exp(-rate * e) + plateau + noise * rng.random()
        acc = min(0.99, 0.1 + (0.92 - 0.1) * (1 - math.exp(-rate * 1.5 * e))) - noise * rng.random()
        row = {"epoch": e, "train_loss": loss, "val_loss": loss * 1.08, "val_acc": acc}
        if diverge_at is not None and e == diverge_at:
            row.update(train_loss=math.inf, val_loss=math.nan, val_acc=0.1)
            hist.append(row)
            return RunRecord(policy, seed, h, status=DIVERGED, history=hist,
                             final={k: v for k, v in row.items() if k != "epoch"}, seconds=0.4)
        hist.append(row)
    return RunRecord(policy, seed, h, history=hist, final={k: v for k, v in hist[-1].items() if k != "epoch"},
                     seconds=1.25 + seed)


def build_result(with_summary=True) -> CompareResult:
    h = config_hash(CONFIG)
    runs = []
    for s in range(3):
        runs.append(_run("he", s, h, 0.6, 0.25, 0.03))
        runs.append(_run("xavier", s, h, 0.45, 0.3, 0.03))
        runs.append(RunRecord("zeros", s, h, history=[{"epoch": e, "train_loss": 2.302585, "val_loss": 2.302585,
                                                         "val_acc": 0.1} for e in range(1, 9)],
                              final={"train_loss": 2.302585, "val_loss": 2.302585, "val_acc": 0.1}, seconds=1.0))
        runs.append(_run("big-normal", s, h, 0.3, 0.5, 0.08, diverge_at=3 if s == 1 else None))
    runs.append(_run("orthogonal", 0, h, 0.55, 0.26, 0.03))
    res = CompareResult(config=dict(CONFIG), runs=runs, path="sequential",
                        path_reason="torch.func.vmap is unavailable for this model <with BatchNorm & co>", skipped=2)
    if with_summary:
        res.summary = summarize(runs, "val_acc", higher_is_better=True, target=0.8)
    return res



@pytest.fixture
def result():
    return build_result()


@pytest.fixture(name="build_result", scope="session")
def _build_result():
    return build_result


@pytest.fixture(name="config")
def _config():
    return dict(CONFIG)
