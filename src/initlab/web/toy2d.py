"""The 2-D toy sets of the demo that `initlab.data` does not have yet: moons, circles, spirals.

initlab.data has the seed-000 points (points2d); the demo loads those from there.  Moons and circles
are scikit-learn's generators (sklearn.datasets.make_moons / make_circles); the two-arm spiral is
the classic one (Lang & Witbrock 1988, here with radius growing linearly with angle and Gaussian
noise).  Each returns an `initlab.data.Dataset` with the same rules as `initlab.data.load`: seeded,
a stratified validation split, inputs standardized with the training part's statistics.
(These belong in initlab.data; they live here until that layer registers them.)
"""
from __future__ import annotations

import numpy as np
import torch

TOY_SETS = ("moons", "circles", "spirals")


def _spirals(n: int, noise: float, gen: np.random.Generator):
    k = n // 2
    t = np.sqrt(gen.uniform(0.0, 1.0, size=n)) * 3.0 * np.pi          # sqrt: even density along the arm
    y = np.r_[np.zeros(k, np.int64), np.ones(n - k, np.int64)]
    r = t / (3.0 * np.pi)
    sign = np.where(y == 0, 1.0, -1.0)
    x = np.c_[sign * r * np.cos(t), sign * r * np.sin(t)] + gen.normal(0.0, noise, size=(n, 2))
    return x, y


def make_toy(name: str, n_train: int, seed: int, val_fraction: float = 0.25):
    """Dataset `name` ("moons" | "circles" | "spirals") with n_train training points (and a validation part)."""
    from ..data import Dataset
    n = int(round(n_train / (1.0 - val_fraction)))
    gen = np.random.default_rng([seed, 2024])
    if name == "spirals":
        x, y = _spirals(n, 0.04, gen)
    else:
        import sklearn.datasets as skd
        rs = int(gen.integers(2 ** 31))
        if name == "moons":
            x, y = skd.make_moons(n, noise=0.15, random_state=rs)
        elif name == "circles":
            x, y = skd.make_circles(n, noise=0.08, factor=0.5, random_state=rs)
        else:
            raise KeyError(name)
    perm = gen.permutation(n)
    n_val = n - n_train
    va, tr = perm[:n_val], perm[n_val:]
    mean, std = x[tr].mean(0), x[tr].std(0) + 1e-12
    x = ((x - mean) / std).astype(np.float32)
    t = torch.from_numpy
    info = {"name": name, "source": f"initlab.web.toy2d ({name}, seed {seed})", "sizes": {"train": len(tr), "val": n_val}}
    return Dataset(name=name, task="classification", x_train=t(x[tr].copy()), y_train=t(y[tr].astype(np.int64)),
                   x_val=t(x[va].copy()), y_val=t(y[va].astype(np.int64)), x_test=None, y_test=None, n_classes=2,
                   input_shape=(2,), info=info)
