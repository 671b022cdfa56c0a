"""Seeded index selection: validation splits, subsampling and label noise.

Every random choice draws from its own stream, `rng(seed, purpose)`, so changing the
subsample size does not move the validation split and adding label noise does not
change which samples were kept.  numpy's Generator gives the same numbers on every
platform and torch version, which keeps a split reproducible across machines.
"""
from __future__ import annotations

import zlib

import numpy as np


def rng(seed: int, purpose: str) -> np.random.Generator:
    """Independent random stream for (seed, purpose)."""
    return np.random.default_rng([zlib.crc32(purpose.encode()), int(seed)])


def _allocate(counts: np.ndarray, k: int, gen: np.random.Generator) -> np.ndarray:
    """Split k picks over classes in proportion to `counts` (largest remainder, random ties)."""
    total = counts.sum()
    exact = counts * (k / total)
    take = np.floor(exact).astype(np.int64)
    left = k - int(take.sum())
    if left > 0:
        # largest fractional part first; a random key breaks ties without favouring class 0
        order = np.lexsort((gen.random(len(counts)), -(exact - take)))
        for c in order:
            if left == 0:
                break
            if take[c] < counts[c]:
                take[c] += 1
                left -= 1
    return take


def choose(n: int, k: int, gen: np.random.Generator, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pick k of n indices; stratified by `labels` when given.  Returns (picked, rest), both sorted.

    Stratifying keeps class proportions in small subsamples and validation sets, so a
    1000-sample quick run of Fashion-MNIST still has about 100 images of each class.
    """
    if not 0 <= k <= n:
        raise ValueError(f"cannot choose {k} of {n}")
    if labels is None:
        picked = gen.permutation(n)[:k]
    else:
        labels = np.asarray(labels)
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        take = _allocate(counts, k, gen)
        parts = []
        for c in range(len(classes)):
            members = np.flatnonzero(inverse == c)
            parts.append(gen.permutation(members)[: take[c]])
        picked = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    picked = np.sort(picked)
    mask = np.ones(n, dtype=bool)
    mask[picked] = False
    return picked, np.flatnonzero(mask)


def add_label_noise(y: np.ndarray, fraction: float, n_classes: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Give round(fraction * N) samples a uniformly random *wrong* label.

    As in the deep double descent experiments (Nakkiran et al. 2019), the new label is
    always different from the old one, so exactly that fraction of labels is wrong; the
    noise is drawn once, not per epoch.  Returns (noisy labels, sorted indices changed).
    """
    y = np.asarray(y).copy()
    n_flip = int(round(fraction * len(y)))
    idx = np.sort(gen.permutation(len(y))[:n_flip])
    if n_flip:
        # an offset in 1..n_classes-1 added modulo n_classes is uniform over the other classes
        offset = gen.integers(1, n_classes, size=n_flip)
        y[idx] = (y[idx] + offset) % n_classes
    return y, idx
