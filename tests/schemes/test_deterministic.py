"""Deterministic schemes: exact algebra (identity maps, ZerO's Hadamard scaling, constants)."""
import math

import pytest
import torch
import torch.nn.functional as F

import initlab

X = torch.randn(16, 12, generator=torch.Generator().manual_seed(0))   # 16 input vectors of size 12


@pytest.mark.parametrize("out", [5, 12, 20])
def test_eye_passes_the_input_through(out):
    w = initlab.eye_(torch.full((out, 12), float("nan")))
    y = X @ w.T
    k = min(out, 12)
    assert torch.equal(y[:, :k], X[:, :k])          # W x = x[:out]
    assert torch.equal(y[:, k:], torch.zeros(16, out - k))


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_dirac_conv_returns_the_input(nd, k, groups):
    channels = 8
    w = initlab.dirac_(torch.full((channels, channels // groups) + (k,) * nd, float("nan")), groups=groups)
    x = torch.randn((2, channels) + (6,) * nd, generator=torch.Generator().manual_seed(1))
    y = _CONV[nd](x, w, padding=k // 2, groups=groups)
    assert torch.equal(y, x)


def test_dirac_with_more_outputs_than_inputs_copies_then_zeros():
    w = initlab.dirac_(torch.empty(6, 4, 3, 3))
    x = torch.randn(1, 4, 5, 5, generator=torch.Generator().manual_seed(2))
    y = F.conv2d(x, w, padding=1)
    assert torch.equal(y[:, :4], x) and torch.equal(y[:, 4:], torch.zeros(1, 2, 5, 5))


# --- ZerO (Zhao et al. 2021) -------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 3, 16, 100])
def test_zero_square_is_identity(n):
    w = initlab.zero_init_(torch.full((n, n), float("nan")))
    assert torch.equal(w, torch.eye(n))


@pytest.mark.parametrize("out,inp", [(3, 8), (10, 64), (1, 5)])
def test_zero_narrowing_is_partial_identity(out, inp):
    w = initlab.zero_init_(torch.empty(out, inp))
    x = torch.randn(inp, 7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(w @ x, x[:out])


@pytest.mark.parametrize("out,inp", [(2, 1), (8, 4), (16, 3), (64, 32), (128, 100), (256, 255)])
def test_zero_widening_is_scaled_hadamard(out, inp):
    """out > in, out = 2^m: W = c H_m[:out, :in], c = 2^{-(m-1)/2}, so W^T W = c^2 * 2^m I = 2 I."""
    m = int(math.log2(out))
    assert 2 ** m == out
    c = 2.0 ** (-(m - 1) / 2)
    w = initlab.zero_init_(torch.empty(out, inp, dtype=torch.float64))
    values = set(w.unique().tolist())
    assert values <= {c, -c}, values
    assert torch.allclose(w.T @ w, 2.0 * torch.eye(inp, dtype=torch.float64), atol=1e-12, rtol=0)
    assert torch.all(w[:, 0] == c)   # the first Hadamard column is all ones: no sign flips


@pytest.mark.parametrize("out,inp", [(6, 3), (12, 5)])
def test_zero_widening_non_power_of_two_uses_next_hadamard(out, inp):
    m = math.ceil(math.log2(out))
    c = 2.0 ** (-(m - 1) / 2)
    w = initlab.zero_init_(torch.empty(out, inp, dtype=torch.float64))
    assert set(w.unique().tolist()) <= {c, -c}
    assert torch.linalg.matrix_rank(w) == inp     # injective: no input direction is lost


@pytest.mark.parametrize("shape", [(8, 8, 3), (16, 16, 3, 3), (4, 4, 3, 3, 3), (8, 8, 1, 5)])
def test_zero_conv_square_is_centre_tap_identity(shape):
    w = initlab.zero_init_(torch.full(shape, float("nan")))
    nd = len(shape) - 2
    centre = tuple(k // 2 for k in shape[2:])
    assert torch.equal(w[(slice(None), slice(None)) + centre], torch.eye(shape[0]))
    assert int((w != 0).sum()) == shape[0]
    x = torch.randn((2, shape[1]) + (5,) * nd, generator=torch.Generator().manual_seed(4))
    y = _CONV[nd](x, w, padding=tuple(k // 2 for k in shape[2:]))
    assert torch.equal(y, x)


def test_zero_is_deterministic():
    a = initlab.zero_init_(torch.empty(32, 8))
    torch.manual_seed(99)
    assert torch.equal(a, initlab.zero_init_(torch.empty(32, 8)))


# --- constants ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.int8])
def test_constants(dtype):
    assert torch.equal(initlab.zeros_(torch.empty(3, 4, dtype=dtype)), torch.zeros(3, 4, dtype=dtype))
    assert torch.equal(initlab.ones_(torch.empty(5, dtype=dtype)), torch.ones(5, dtype=dtype))
    assert torch.equal(initlab.constant_(torch.empty(2, 3, dtype=dtype), 3), torch.full((2, 3), 3, dtype=dtype))


def test_constant_float_value():
    assert torch.equal(initlab.constant_(torch.empty(2, 2), 0.1), torch.full((2, 2), 0.1))
