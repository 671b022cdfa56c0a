"""Measured: depth-50, width-256 plain MLPs keep their activation scale under `auto`.

Ratio = std(activations of the last hidden layer) / std(first hidden layer), standard-normal inputs,
median over 3 fixed seeds (benchmarks/auto_depth.py prints the same numbers next to torch's default).
gelu and silu pass through auto's apply-time calibration (no example_inputs given: the fixed standard-normal
batch of the plan, not the measured batch); tanh/relu/selu through the closed-form schemes alone.
"""
import statistics

import pytest
import torch
import torch.nn as nn

import initlab

ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU, "selu": nn.SELU, "gelu": nn.GELU, "silu": nn.SiLU}


def ratio(act, policy, seed, depth=50, width=256, batch=512):
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), ACTS[act]()]
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    if policy is not None:
        initlab.init_(model, policy, seed=seed)
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(10_000 + seed))
    stds = []
    with torch.no_grad():
        for m in model:
            x = m(x)
            if not isinstance(m, nn.Linear):
                stds.append(float(x.std()))
    return stds[-1] / stds[0]


@pytest.mark.parametrize("act", ["tanh", "relu", "selu", "gelu", "silu"])
def test_auto_keeps_depth_50_signal_within_a_factor_2(act):
    r = statistics.median(ratio(act, "auto", s) for s in range(3))
    assert 0.5 <= r <= 2, r


def test_the_measurement_discriminates_torch_default_vanishes():
    assert ratio("relu", None, 0) < 0.5


def test_without_calibration_gelu_drifts():
    """The same measurement with calibrate=False: the fixed Gauss-Hermite gain alone drifts far out of [0.5, 2]
    (gelu's second-moment fixed point is unstable, slope 1.14/layer), so the passing gelu case above is the
    calibration's doing."""
    assert ratio("gelu", initlab.policy.auto(calibrate=False), 0) > 4
