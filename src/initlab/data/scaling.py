"""Input (and target) scaling, always fitted on the training part only.

Fitting on train and applying the same numbers to val and test is what a deployed model
would see; fitting on everything would leak test statistics.  The consequence is
deliberate and tested: val/test means are close to, but not exactly, zero.
"""
from __future__ import annotations

import numpy as np

# how each loader wants its inputs scaled; the choice is recorded in Dataset.info["scaling"]
NONE = "none"                # keep the values (synthetic sets whose tutorials use raw inputs)
FEATURE = "standardize"      # per feature: (x - mean_j) / std_j
GLOBAL = "standardize-global"  # one mean/std for all values: keeps the shape of images and 1-D signals


def _moments(x: np.ndarray, per_feature: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std in float64, two passes over row chunks (no full float64 copy of 60k images)."""
    x = x.reshape(len(x), -1)
    step = 8192
    n = x.shape[0] if per_feature else x.size
    total = np.zeros(x.shape[1]) if per_feature else 0.0
    for i in range(0, len(x), step):
        c = x[i:i + step].astype(np.float64)
        total = total + (c.sum(axis=0) if per_feature else c.sum())
    mean = total / n
    sq = np.zeros(x.shape[1]) if per_feature else 0.0
    for i in range(0, len(x), step):
        c = x[i:i + step].astype(np.float64) - mean
        sq = sq + ((c * c).sum(axis=0) if per_feature else (c * c).sum())
    return np.asarray(mean), np.sqrt(np.asarray(sq) / n)


def fit(x: np.ndarray, mode: str) -> dict:
    """Statistics for `mode` from the training inputs x (N, ...)."""
    if mode == NONE:
        return {"mode": NONE}
    if mode not in (FEATURE, GLOBAL):
        raise ValueError(f"unknown scaling mode {mode!r}")
    mean, std = _moments(np.asarray(x), per_feature=(mode == FEATURE))
    # a constant feature (std 0, e.g. a border pixel) is centred but not divided by zero
    std = np.where(std > 0, std, 1.0)
    return {"mode": mode, "mean": mean, "std": std}


def apply(x: np.ndarray | None, stats: dict) -> np.ndarray | None:
    """Scale x with fitted stats; float32 in, float32 arithmetic (memory), float64 otherwise."""
    if x is None or stats["mode"] == NONE:
        return x
    x = np.asarray(x)
    dt = np.float32 if x.dtype == np.float32 else np.float64
    shape = x.shape
    flat = x.reshape(len(x), -1).astype(dt, copy=False)
    out = (flat - stats["mean"].astype(dt)) / stats["std"].astype(dt)
    return out.reshape(shape)


def describe(stats: dict, fitted_on: str) -> dict:
    """JSON-friendly summary for Dataset.info (scalars as floats, vectors as lists)."""
    out = {"mode": stats["mode"]}
    if stats["mode"] != NONE:
        out["fitted_on"] = fitted_on
        for k in ("mean", "std"):
            v = np.asarray(stats[k])
            out[k] = float(v) if v.ndim == 0 else [float(a) for a in v.ravel()] if v.size <= 64 else f"<{v.size} values>"
    return out
