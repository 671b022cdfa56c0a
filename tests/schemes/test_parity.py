"""Parity with torch.nn.init: the same generator state gives a bit-identical tensor.

initlab promises to draw exactly the random numbers torch.nn.init draws, so a
model initialized with initlab matches one initialized with PyTorch (torch.equal,
not allclose).  Every registered scheme with a `torch_name` is covered.
"""
import math

import pytest
import torch
import torch.nn.init as tinit

import initlab
from initlab.schemes.fans import NONLINEARITIES

from ._cases import builtins, fits

# Layouts: Linear (out, in), Conv1d/2d/3d (out, in, *k), ConvTranspose2d (in, out/groups, kH, kW).
PARITY_SHAPES = {
    "linear": (32, 20),
    "linear_wide": (7, 50),
    "conv1d": (16, 8, 5),
    "conv2d": (16, 8, 3, 3),
    "conv3d": (8, 4, 3, 3, 3),
    "conv_transpose2d": (8, 16, 3, 3),
}

SQ5 = math.sqrt(5)
PARITY_ARGS = {
    "uniform_": [{}, {"a": -0.3, "b": 0.7}],
    "normal_": [{}, {"mean": 0.5, "std": 0.02}],
    "trunc_normal_": [
        {},                                                    # mass 0.95 > 0.3: normal draws + rejection
        {"mean": 0.1, "std": 0.5, "a": -0.4, "b": 0.9},
        {"mean": 0.0, "std": 1.0, "a": 2.0, "b": 3.0},         # mass 0.021: uniform proposals branch
        {"mean": 0.0, "std": 0.02, "a": -0.005, "b": 0.004},   # narrow window around the mean, mass 0.18
    ],
    "constant_": [{"val": 0.25}, {"val": -3}],
    "ones_": [{}],
    "zeros_": [{}],
    "xavier_uniform_": [{}, {"gain": 5.0 / 3}, {"gain": math.sqrt(2)}],
    "xavier_normal_": [{}, {"gain": 0.5}],
    "kaiming_uniform_": [
        {},
        {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"},
        {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
        {"a": SQ5, "mode": "fan_in", "nonlinearity": "leaky_relu"},
        {"a": 0, "mode": "fan_out", "nonlinearity": "relu"},
        {"mode": "fan_in", "nonlinearity": "tanh"},
        {"mode": "fan_in", "nonlinearity": "selu"},
    ],
    "kaiming_normal_": [
        {},
        {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"},
        {"a": SQ5, "mode": "fan_out", "nonlinearity": "leaky_relu"},
        {"mode": "fan_out", "nonlinearity": "relu"},
        {"mode": "fan_in", "nonlinearity": "linear"},
        {"mode": "fan_in", "nonlinearity": "sigmoid"},
        {"mode": "fan_out", "nonlinearity": "conv2d"},
    ],
    "orthogonal_": [{}, {"gain": math.sqrt(2)}, {"gain": -0.5}],
    "eye_": [{}],
    "dirac_": [{}, {"groups": 2}],
    "sparse_": [{"sparsity": 0.1}, {"sparsity": 0.5, "std": 0.3}, {"sparsity": 0.0}],
}

TORCH_SCHEMES = [s for s in builtins() if s.torch_name]


def _cases():
    for s in TORCH_SCHEMES:
        for shape_name, shape in PARITY_SHAPES.items():
            if not fits(s, shape):
                continue
            for i, kw in enumerate(PARITY_ARGS.get(s.torch_name, [None])):
                if s.name == "dirac" and kw and shape[0] % kw.get("groups", 1):
                    continue
                yield pytest.param(s, shape, kw, id=f"{s.name}-{shape_name}-{i}")


def test_every_torch_scheme_has_parity_arguments():
    missing = [s.name for s in TORCH_SCHEMES if s.torch_name not in PARITY_ARGS]
    assert not missing, f"add parity argument sets for {missing}"
    assert {s.torch_name for s in TORCH_SCHEMES} >= {"uniform_", "normal_", "trunc_normal_", "xavier_uniform_",
                                                    "kaiming_normal_", "orthogonal_", "sparse_", "dirac_", "eye_"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("scheme,shape,kwargs", list(_cases()))
def test_bit_identical_to_torch(scheme, shape, kwargs, dtype):
    assert kwargs is not None, f"no parity arguments for {scheme.name}"
    ours_fn, theirs_fn = scheme.fn, getattr(tinit, scheme.torch_name)
    ours = torch.full(shape, float("nan"), dtype=dtype)
    theirs = torch.full(shape, float("nan"), dtype=dtype)
    if scheme.kind == "deterministic":
        ours_fn(ours, **kwargs)
        theirs_fn(theirs, **kwargs)
    else:
        g_ours = torch.Generator().manual_seed(1234)
        torch.rand(5, generator=g_ours)                 # a used generator: parity is about its state
        g_theirs = torch.Generator()
        g_theirs.set_state(g_ours.get_state())
        torch.manual_seed(99)   # sparse_ draws its zero positions from the global RNG, as torch's does
        ours_fn(ours, **kwargs, generator=g_ours)
        global_ours = torch.get_rng_state()
        torch.manual_seed(99)
        theirs_fn(theirs, **kwargs, generator=g_theirs)
        assert torch.equal(global_ours, torch.get_rng_state())
        # exactly the same random numbers consumed: later draws from the generator agree too
        assert torch.equal(g_ours.get_state(), g_theirs.get_state())
    assert not ours.isnan().any()
    assert torch.equal(ours, theirs), f"{scheme.name}{kwargs} on {shape} differs from torch.nn.init.{scheme.torch_name}"


@pytest.mark.parametrize("shape", list(PARITY_SHAPES.values()), ids=list(PARITY_SHAPES))
def test_general_rule_uniform_is_torch_linear_default(shape):
    ours = initlab.general_rule_uniform_(torch.empty(shape), generator=torch.Generator().manual_seed(5))
    theirs = tinit.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5), generator=torch.Generator().manual_seed(5))
    assert torch.equal(ours, theirs)


def test_general_rule_uniform_matches_nn_linear_init():
    torch.manual_seed(3)
    layer = torch.nn.Linear(20, 32)
    torch.manual_seed(3)
    w = initlab.general_rule_uniform_(torch.empty(32, 20))
    assert torch.equal(w, layer.weight.detach())


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0, 0.01, 0.2, SQ5, 1, 3, -0.5])
def test_calculate_gain_equals_torch(nonlinearity, param):
    ours = initlab.calculate_gain(nonlinearity, param)
    theirs = tinit.calculate_gain(nonlinearity, param)
    assert ours == theirs and type(ours) is type(theirs)


def test_calculate_gain_covers_every_torch_nonlinearity():
    assert set(NONLINEARITIES) == {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                   "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"}
