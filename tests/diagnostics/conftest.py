"""Fixtures for the diagnostics tests: zoo models with a chosen tensor-level init, fixed seeds."""
import pytest
import torch
from torch import nn

import initlab
from initlab.models import build_model, example_inputs


def _init_linear(model, fill, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            fill(m.weight, g)
            nn.init.zeros_(m.bias)
    return model


@pytest.fixture
def make():
    """make(spec, fill=None, seed=0) -> (model, inputs): fill(weight, generator) on every Linear, zero biases;
    fill=None keeps torch's default init (drawn after torch.manual_seed(seed)).  Inputs: 256 x N(0, 1)."""
    def _make(spec, fill=None, seed=0, batch=256):
        torch.manual_seed(seed)
        model = build_model(spec)
        if fill is not None:
            _init_linear(model, fill, seed)
        return model, example_inputs(model, batch, seed=seed)
    return _make


SCHEMES = {
    "zeros": lambda w, g: initlab.zeros_(w),
    "ones": lambda w, g: initlab.ones_(w),
    "uniform01": lambda w, g: initlab.uniform_(w, 0.0, 1.0, generator=g),
    "normal01": lambda w, g: initlab.normal_(w, 0.0, 1.0, generator=g),
    "kaiming_relu": lambda w, g: initlab.kaiming_normal_(w, nonlinearity="relu", generator=g),
    "xavier_tanh": lambda w, g: initlab.xavier_normal_(w, gain=5 / 3, generator=g),
}


@pytest.fixture
def schemes():
    return SCHEMES


@pytest.fixture(autouse=True)
def one_thread():
    """These tests run many small ops (256-wide layers), where a second intra-op thread buys nothing and,
    on a busy 2-core machine, costs a lot (spinning workers): run them on one thread, then restore."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
