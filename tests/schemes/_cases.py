"""Test data shared by the scheme tests: shapes, argument sets and hand-computed fans.

Fans are computed here by hand (not with initlab's fans.py) so the tests check the
library against an independent statement of the rule:
    weight (out, in, *kernel): fan_in = in * prod(kernel), fan_out = out * prod(kernel).
"""
from __future__ import annotations

import math

import initlab

# Layer layouts used throughout (big enough for a KS test, small enough to be fast).
SHAPES = {
    "linear": (256, 128),          # nn.Linear(128, 256).weight
    "conv1d": (64, 32, 5),         # nn.Conv1d(32, 64, 5).weight
    "conv2d": (64, 16, 3, 3),      # nn.Conv2d(16, 64, 3).weight
    "conv3d": (16, 8, 3, 3, 3),    # nn.Conv3d(8, 16, 3).weight
}

# Arguments for every *random* built-in scheme (several sets where the scheme has branches).
# A random built-in missing here makes test_conformance fail, so new schemes get covered.
RANDOM_ARGS: dict[str, list[dict]] = {
    "uniform": [{}, {"a": -0.3, "b": 0.7}],
    "normal": [{}, {"mean": 0.5, "std": 0.02}],
    "trunc_normal": [{}, {"mean": 0.1, "std": 0.5, "a": -0.4, "b": 0.9}, {"mean": 0.0, "std": 1.0, "a": 2.0, "b": 3.0}],
    "centered_uniform": [{}],
    "inverse_fan_uniform": [{}],
    "variance_scaling": [{}, {"scale": 2.0, "mode": "fan_out", "distribution": "normal"},
                         {"scale": 0.5, "mode": "fan_avg", "distribution": "uniform"},
                         {"scale": 3.0, "mode": "fan_avg", "distribution": "truncated_normal"}],
    "xavier_uniform": [{}, {"gain": 5.0 / 3}],
    "xavier_normal": [{}, {"gain": 2.0}],
    "kaiming_uniform": [{}, {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
                        {"mode": "fan_in", "nonlinearity": "relu"}],
    "kaiming_normal": [{}, {"mode": "fan_out", "nonlinearity": "relu"},
                       {"a": math.sqrt(5), "nonlinearity": "leaky_relu"}, {"nonlinearity": "tanh", "mode": "FAN_OUT"}],
    "lecun_uniform": [{}],
    "lecun_normal": [{}],
    "general_rule_uniform": [{}],
    "general_rule_normal": [{}],
    "orthogonal": [{}, {"gain": math.sqrt(2)}],
    "sparse": [{"sparsity": 0.1}, {"sparsity": 0.9, "std": 0.5}],
}

# One valid argument set for every built-in (random or not), for dtype and property tests.
DEFAULT_ARGS: dict[str, dict] = {name: sets[0] for name, sets in RANDOM_ARGS.items()}
DEFAULT_ARGS.update({"constant": {"val": 0.25}, "ones": {}, "zeros": {}, "eye": {}, "dirac": {}, "zero_init": {}})


def builtins():
    """Every built-in Scheme (user schemes registered by other tests are left out)."""
    return [s for s in initlab.registered_schemes() if s.builtin]


def random_builtins():
    return [s for s in builtins() if s.kind == "random"]


def fits(scheme, shape) -> bool:
    lo, hi = scheme.dims
    return lo <= len(shape) and (hi is None or len(shape) <= hi)


def fan_in(shape) -> int:
    return shape[1] * math.prod(shape[2:])


def fan_out(shape) -> int:
    return shape[0] * math.prod(shape[2:])


def takes_generator(scheme) -> bool:
    import inspect
    return "generator" in inspect.signature(scheme.fn).parameters


def strict(scheme) -> dict:
    """{"strict": True} for a built-in with torch's name (initlab's checks, and a generator that drives
    every draw), {} for initlab's own names (always strict)."""
    import inspect
    return {"strict": True} if "strict" in inspect.signature(scheme.fn).parameters else {}
