"""Numerical gain of an elementwise activation: the factor that preserves the second moment.

For a layer y = W x with i.i.d. zero-mean weights, E[y^2] = fan_in Var(w) E[x^2]
(He et al. 2015, eq. 7-10).  If x = f(z) with z ~ N(0, 1), then
    gain(f) = 1 / sqrt(E[f(z)^2])
makes Var(w) = gain^2 / fan_in give E[y^2] = 1 again.  Checks: ReLU -> sqrt(2)
(E[relu(z)^2] = 1/2), identity -> 1, tanh -> 1.593 (torch's table says 5/3, a
rounder choice from pytorch#50664).

E[f(z)^2] is computed by Gauss-Hermite quadrature for the probabilists'
weight exp(-z^2/2) (numpy.polynomial.hermite_e.hermegauss, 201 nodes, weights
normalized to sum 1), in float64.  201 nodes make the rule exact for
polynomials up to degree 401; for ReLU the odd node count puts a node at 0 so
the kink gives exactly 1/2.  Results are cached per activation.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

NODES = 201


@lru_cache(maxsize=None)
def _rule():
    z, w = np.polynomial.hermite_e.hermegauss(NODES)
    return torch.tensor(z, dtype=torch.float64), torch.tensor(w / w.sum(), dtype=torch.float64)


def second_moment(fn) -> float:
    """E[f(z)^2] for z ~ N(0, 1), by Gauss-Hermite quadrature."""
    z, w = _rule()
    with torch.no_grad():
        y = fn(z.clone())
        y = torch.as_tensor(y, dtype=torch.float64)
    return float((w * y * y).sum())


_CACHE: dict = {}


def numerical_gain(key, fn) -> float:
    """1 / sqrt(E[f(z)^2]) for the activation `fn`, cached under `key` (hashable, e.g. ('gelu', ())).

    Example:
        >>> numerical_gain(("relu", ()), torch.relu)     # 1.4142135623730951
    """
    if key not in _CACHE:
        m2 = second_moment(fn)
        _CACHE[key] = 1.0 / math.sqrt(m2) if m2 > 0 and math.isfinite(m2) else 1.0
    return _CACHE[key]
