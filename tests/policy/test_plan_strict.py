"""A plan draws with initlab's exact, seeded laws (strict=True), even where torch's same-named function
does not (sparse_'s zero positions come from the global RNG in torch; docs/torch-compat.md)."""
import torch
from torch import nn

import initlab


def _sparse_model():
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))


def test_a_seeded_sparse_plan_reproduces_its_zero_positions_whatever_the_global_rng():
    rule = [initlab.Rule("sparse", type=nn.Linear, param="weight", kwargs={"sparsity": 0.5})]
    a, b = _sparse_model(), _sparse_model()
    torch.manual_seed(1)
    initlab.init_(a, rule, bias="zeros", seed=7)
    torch.manual_seed(2)                       # another global RNG state must not change a seeded plan
    initlab.init_(b, rule, bias="zeros", seed=7)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    zeros = (a[0].weight == 0).float().mean(0)  # sparse_: the given fraction of each column is zero
    assert torch.allclose(zeros, torch.full_like(zeros, 0.5), atol=1 / 64)
