"""Structured random schemes: orthogonality and exact sparsity."""
import math

import pytest
import torch
from scipy import stats

import initlab

ORTHO_SHAPES = {
    "square": (64, 64), "tall": (256, 128), "wide": (32, 200),
    "conv1d": (64, 32, 5), "conv2d": (64, 16, 3, 3), "conv2d_tall": (200, 4, 3, 3), "conv3d": (16, 8, 3, 3, 3),
}


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2), 0.5, -2.0])
@pytest.mark.parametrize("shape", list(ORTHO_SHAPES.values()), ids=list(ORTHO_SHAPES))
def test_orthogonal_gram_is_gain_squared_identity(shape, gain):
    w = initlab.orthogonal_(torch.empty(shape), gain=gain, generator=torch.Generator().manual_seed(11))
    m = w.reshape(shape[0], -1).double()   # conv kernels flattened to (out, in * prod(k))
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    eye = torch.eye(min(rows, cols), dtype=torch.float64)
    # float32 QR: entries of the Gram matrix are exact up to a few hundred ulps
    assert torch.allclose(gram, gain ** 2 * eye, atol=1e-5 * max(1.0, gain ** 2), rtol=0)


def test_orthogonal_is_haar_not_a_fixed_basis():
    """Different seeds give different matrices; and diag(R) sign fix makes the first column
    of Q not biased (its first entry is positive only about half the time)."""
    firsts = [float(initlab.orthogonal_(torch.empty(8, 8), generator=torch.Generator().manual_seed(s))[0, 0])
              for s in range(400)]
    positive = sum(f > 0 for f in firsts)
    assert abs(positive - 200) < 5 * math.sqrt(400 * 0.25)


@pytest.mark.parametrize("rows,cols,sparsity", [(100, 50, 0.9), (50, 40, 0.25), (7, 300, 0.5), (33, 10, 0.0),
                                                (64, 64, 0.999)])
def test_sparse_has_exactly_ceil_zeros_per_column(rows, cols, sparsity):
    w = initlab.sparse_(torch.empty(rows, cols), sparsity, std=0.5, generator=torch.Generator().manual_seed(2))
    zeros = (w == 0).sum(dim=0)
    # A N(0, 0.5^2) float32 draw is exactly 0 with probability ~1e-8 per entry: never in practice.
    assert torch.equal(zeros, torch.full((cols,), math.ceil(sparsity * rows))), zeros.tolist()


def test_sparse_zero_positions_differ_between_columns():
    w = initlab.sparse_(torch.empty(100, 20), 0.5, generator=torch.Generator().manual_seed(4))
    patterns = {tuple((w[:, c] == 0).nonzero().flatten().tolist()) for c in range(20)}
    assert len(patterns) == 20


def test_sparse_nonzeros_are_normal_with_std():
    w = initlab.sparse_(torch.empty(400, 100), 0.3, std=0.07, generator=torch.Generator().manual_seed(9))
    x = w[w != 0].double().numpy()
    assert x.size == 100 * (400 - 120)
    assert stats.kstest(x, stats.norm(0, 0.07).cdf).pvalue > 1e-4
