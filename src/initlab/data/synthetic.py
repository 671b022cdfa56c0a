"""The two toy sets of the source tutorials, regenerated with our own seeded code.

points2d (seed 000): points uniform in the unit square, label 1 when x1 + x2 > 1.  The
tutorial drew its 20 test points with the same seed as its 100 training points, so
the test points were the first 20 training points; here train and test come from one
stream without replacement, so they never share a sample.

logistic1d (seed 002): the 40-point grid -2.0, -1.9, ..., 1.9 with label 1 when
x > 0.2 (17 ones, 23 zeros: a model stuck at "always 0" scores 23/40 = 57.5 %, the
"around 57 percent" the tutorial reports for its badly initialized model).  The
tutorial evaluates on its training grid; we add a seeded test set of points drawn
uniformly from [-2, 2) and labelled by the same rule.

Labels are computed from the stored float32 values, so `x[:,0] + x[:,1] > 1` (or
`x > 0.2`) evaluated on the returned tensors reproduces them exactly.  No scaling: the
tutorials feed these raw values to their models.
"""
from __future__ import annotations

import numpy as np

from ..errors import bad_argument
from . import scaling
from .registry import Raw, Spec, register
from .splits import rng

THRESHOLD_1D = np.float32(0.2)


def _count(where, arg, v, lo, example):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise bad_argument(where, arg, v, f"an integer >= {lo}", f"e.g. {arg}={example}")


def _distinct_uniform(gen, n, dim, low, high, avoid=None) -> np.ndarray:
    """n distinct float32 rows uniform in [low, high)^dim, none equal to a row of `avoid`."""
    seen = set() if avoid is None else {r.tobytes() for r in avoid}
    rows = []
    while len(rows) < n:  # duplicates in float32 are astronomically rare; the loop just makes "never" exact
        for r in gen.uniform(low, high, size=(n - len(rows), dim)).astype(np.float32):
            key = r.tobytes()
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return np.stack(rows) if rows else np.empty((0, dim), np.float32)


def points2d_label(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return (x[:, 0] + x[:, 1] > np.float32(1.0)).astype(np.int64)


def logistic1d_label(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float32)[:, 0] > THRESHOLD_1D).astype(np.int64)


def _points2d(*, seed, data_dir, want_test, n, n_test) -> Raw:
    where = "load('points2d')"
    _count(where, "n", n, 2, 100)
    _count(where, "n_test", n_test, 0, 20)
    x = _distinct_uniform(rng(seed, "points2d"), n + n_test, 2, 0.0, 1.0)
    y = points2d_label(x)
    return Raw(x[:n], y[:n], x[n:] if want_test and n_test else None, y[n:] if want_test and n_test else None,
               n_classes=2, input_shape=(2,), scaling=scaling.NONE,
               info={"source": "synthetic (seed 000 recipe): x ~ U[0,1)^2, y = 1[x1 + x2 > 1]",
                     "test_split": f"{n_test} further distinct points from the same seeded stream (no overlap)"})


def _logistic1d(*, seed, data_dir, want_test, n, n_test) -> Raw:
    where = "load('logistic1d')"
    if n is not None:
        _count(where, "n", n, 2, 40)
    _count(where, "n_test", n_test, 0, 40)
    gen = rng(seed, "logistic1d")
    if n is None:
        # integer steps avoid the drift of repeated +0.1 (the tutorial's arange gives the same 40 points)
        x = (np.arange(-20, 20, dtype=np.float64) / 10.0).astype(np.float32).reshape(-1, 1)
        how = "the tutorial's grid -2.0:0.1:1.9 (40 points)"
    else:
        x = _distinct_uniform(gen, n, 1, -2.0, 2.0)
        how = f"{n} points ~ U[-2, 2) (seeded)"
    xt = _distinct_uniform(gen, n_test, 1, -2.0, 2.0, avoid=x)
    return Raw(x, logistic1d_label(x),
               xt if want_test and n_test else None, logistic1d_label(xt) if want_test and n_test else None,
               n_classes=2, input_shape=(1,), scaling=scaling.NONE,
               info={"source": f"synthetic (seed 002 recipe): train = {how}, y = 1[x > 0.2]",
                     "test_split": f"{n_test} points ~ U[-2, 2) from the seeded stream, none equal to a training point"})


register(Spec("points2d", "classification", _points2d,
              "seed 000's toy set: 2-D points in [0,1]^2, label 1 when x1 + x2 > 1; 100 train + 20 disjoint test",
              0.0, {"n": 100, "n_test": 20},
              {"n": "training points (seed 000: 100)", "n_test": "test points (seed 000: 20)"}))
register(Spec("logistic1d", "classification", _logistic1d,
              "seed 002's 1-D logistic-regression set: 40-point grid on [-2, 2), label 1 when x > 0.2; + 40 random test points",
              0.0, {"n": None, "n_test": 40},
              {"n": "None = the tutorial's 40-point grid; an int draws that many points ~ U[-2, 2)",
               "n_test": "random test points"}))
