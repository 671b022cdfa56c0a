"""Presets: torch-default parity, gpt2, fixup, zero-init-residual, zero (ZerO), lsuv."""
import math

import pytest
import torch
import torch.nn as nn

import initlab
from initlab import InitError
from initlab.policy import GPT2, LSUV

from .conftest import ResMLP, mlp


def state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


# ------------------------------------------------------------------ torch-default
def parity_model():
    return nn.Sequential(nn.Conv1d(3, 4, 3), nn.Conv2d(4, 5, 3), nn.ConvTranspose2d(5, 3, 2), nn.Linear(7, 9),
                         nn.Embedding(11, 6), nn.LayerNorm(6), nn.BatchNorm1d(6), nn.GroupNorm(2, 4),
                         nn.LSTM(5, 7, num_layers=2), nn.GRU(3, 4), nn.RNN(3, 4), nn.PReLU())


def test_torch_default_is_bit_identical_to_reset_parameters_with_the_global_rng():
    torch.manual_seed(123)
    fresh = parity_model()                      # torch's own reset_parameters, global RNG
    m = parity_model()
    initlab.init_(m, "zeros")                   # wipe
    torch.manual_seed(123)
    p = initlab.init_(m, "torch-default")       # seed=None: global RNG, same order
    a, b = state(fresh), state(m)
    bad = [k for k in a if not torch.equal(a[k], b[k])]
    assert bad == []
    assert p.verify(m) == []


def test_torch_default_with_a_generator_matches_torch_distributions():
    m = nn.Sequential(nn.Linear(300, 200), nn.Conv2d(16, 32, 3))
    p = initlab.init_(m, "torch-default", seed=0)
    assert p["0.weight"].law["high"] == pytest.approx(1 / math.sqrt(300))
    assert p["0.bias"].kwargs == {"a": -1 / math.sqrt(300), "b": 1 / math.sqrt(300)}
    assert p["1.weight"].law["high"] == pytest.approx(1 / math.sqrt(16 * 9))
    assert p.verify(m) == []
    # and its draws equal torch.nn.init's with the same generator
    g = torch.Generator().manual_seed(0)
    w = torch.empty(200, 300)
    torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
    assert torch.equal(w, m[0].weight)


def test_torch_default_mha_matches_torch_statistically():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    m = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    p = initlab.init_(m, "torch-default", seed=0)
    assert p["in_proj_weight"].part is None            # torch uses the stacked (3E, E) fans
    assert p["in_proj_weight"].law["high"] == pytest.approx(math.sqrt(6 / (64 + 192)))
    assert float(ref.in_proj_weight.detach().abs().max()) <= p["in_proj_weight"].law["high"]
    assert torch.all(m.in_proj_bias == 0) and torch.all(m.out_proj.bias == 0)
    # torch's own MHA init passes every check of the plan: same distributions
    assert p.verify(ref) == []


# ------------------------------------------------------------------ gpt2
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.c_attn, self.attn.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)


class TinyGPT(nn.Module):
    def __init__(self, d=64, n_layer=3, vocab=50):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(16, d)
        self.h = nn.ModuleList([Block(d) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)


def test_gpt2_preset():
    m = TinyGPT()
    p = initlab.init_(m, "gpt2", seed=0)
    assert p["wte.weight"].law["std"] == 0.02 and p["h.0.attn.c_attn.weight"].law["std"] == 0.02
    small = 0.02 / math.sqrt(2 * 3)
    for i in range(3):
        for name in (f"h.{i}.attn.c_proj.weight", f"h.{i}.mlp.c_proj.weight"):
            assert p[name].law["std"] == pytest.approx(small) and "sqrt(6)" in p[name].reason
    assert torch.all(m.h[0].attn.c_proj.bias == 0) and torch.all(m.ln_f.weight == 1)
    assert p.verify(m) == []
    w = torch.cat([m.h[i].mlp.c_proj.weight.detach().reshape(-1) for i in range(3)])
    assert float(w.std()) == pytest.approx(small, rel=0.05)


def test_gpt2_options():
    m = TinyGPT(n_layer=2)
    p = initlab.plan(m, GPT2(std=0.01, residual=("*mlp.c_proj.weight",), n_layer=12))
    assert p["h.0.mlp.c_proj.weight"].law["std"] == pytest.approx(0.01 / math.sqrt(24))
    assert p["h.0.attn.c_proj.weight"].law["std"] == 0.01
    with pytest.raises(InitError, match="std"):
        GPT2(std=-1)


# ------------------------------------------------------------------ fixup / zero-init-residual
def test_fixup_on_a_residual_mlp():
    torch.manual_seed(0)
    m = ResMLP(d=64, n=4)
    p = initlab.init_(m, "fixup", seed=0)
    L, mm = 4, 2
    for i in range(L):
        assert torch.all(m.blocks[i].fc2.weight == 0), "last layer of each branch is 0"
        r = p[f"blocks.{i}.fc1.weight"]
        assert r.law["std"] == pytest.approx(math.sqrt(2 / 64) * L ** (-1 / (2 * mm - 2)))
        assert "Fixup" in r.reason
    assert torch.all(m.head.weight == 0), "classification layer is 0"
    assert p["inp.weight"].scheme == "lecun_normal" and "followed directly by layer" in p["inp.weight"].reason
    assert p.verify(m) == []
    x = torch.randn(16, 8)
    assert torch.all(m(x) == 0)  # zero classifier


def test_fixup_needs_residual_branches():
    with pytest.raises(InitError, match="no residual branches"):
        initlab.plan(mlp(4, 8, 2), "fixup")


class BNBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def test_zero_init_residual_zeroes_the_last_norm_or_layer():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BNBlock(8), BNBlock(8))
    p = initlab.init_(m, "zero-init-residual", seed=0)
    assert torch.all(m[1].bn2.weight == 0) and torch.all(m[2].bn2.weight == 0)
    assert torch.all(m[1].bn1.weight == 1)
    assert "residual branch" in p["1.bn2.weight"].reason
    r = initlab.init_(ResMLP(), "zero-init-residual", seed=0)
    assert r["blocks.0.fc2.weight"].scheme == "zeros"


# ------------------------------------------------------------------ ZerO
def test_zero_preset_is_deterministic_identity_and_hadamard():
    m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    p = initlab.init_(m, "zero")
    assert torch.equal(m[0].weight, torch.eye(8))
    assert torch.equal(m[4].weight, torch.eye(4, 16))
    vals = m[2].weight.detach().abs().unique().tolist()  # c * Hadamard block, c = 2^(-(m-1)/2), m = 4
    assert vals == [pytest.approx(2 ** (-1.5))]
    assert all(r.scheme in ("zero_init", "zeros") for r in p)
    assert p.verify(m) == []


# ------------------------------------------------------------------ LSUV
def output_variances(m, x):
    out, h = {}, []
    for n, mod in m.named_modules():
        if isinstance(mod, nn.Linear):
            h.append(mod.register_forward_hook(lambda mod, i, o, n=n: out.__setitem__(n, float(o.var()))))
    with torch.no_grad():
        m(x)
    for x_ in h:
        x_.remove()
    return out


def test_lsuv_gives_unit_output_variance_per_layer():
    torch.manual_seed(0)
    m = mlp(20, 64, 64, 64, 5, act=nn.Tanh)
    x = torch.randn(256, 20) * 3
    p = initlab.init_(m, LSUV(tol=0.05, max_iter=20), example_inputs=x, seed=0)
    for n, v in output_variances(m, x).items():
        assert abs(v - 1) < 0.05, (n, v)
    r = p["0.weight"]
    assert r.action == "lsuv" and r.applied["converged"] and r.applied["scale"] != 1.0
    assert "apply time" in r.reason
    assert p.verify(m) == []   # orthogonal with the measured gain


def test_lsuv_needs_example_inputs():
    with pytest.raises(InitError, match=r"example_inputs=None.*lsuv.*Fix: initlab.plan\(model, 'lsuv', example_inputs"):
        initlab.plan(mlp(4, 4), "lsuv")
    with pytest.raises(InitError, match="tol"):
        LSUV(tol=0)
    with pytest.raises(InitError, match="max_iter"):
        LSUV(max_iter=0)


def test_lsuv_plan_applied_twice_gives_the_same_weights():
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(5))
    a, b = mlp(10, 32, 32, 3, act=nn.Tanh), mlp(10, 32, 32, 3, act=nn.Tanh)
    p = initlab.plan(a, "lsuv", example_inputs=x, seed=0)
    p.apply(a)
    gains = [r.kwargs["gain"] for r in p.rows if r.action == "lsuv"]
    p.apply(b)                                   # draws from the planned law again, not from the rescaled one
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))
    assert [r.kwargs["gain"] for r in p.rows if r.action == "lsuv"] == gains
    assert p.verify(a) == [] and p.verify(b) == []
