"""plan() is pure, apply() writes, verify() checks; seeds, bias options, table/JSON, bad input."""
import json

import pytest
import torch
import torch.nn as nn

import initlab
from initlab import InitError

from .conftest import mlp


def snapshot(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("policy", ["auto", "torch-default", "kaiming_normal", "gpt2", "zero", "orthogonal"])
def test_plan_is_pure(policy):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5),
                      nn.Dropout(0.5), nn.Tanh(), nn.Linear(5, 2))
    m.train()
    x = torch.randn(2, 3, 8, 8)
    before, rng = snapshot(m), torch.get_rng_state()
    p = initlab.plan(m, policy, example_inputs=x, seed=1)
    assert same(before, snapshot(m))
    assert torch.equal(rng, torch.get_rng_state())
    assert m.training and all(c.training for c in m.modules())  # the traced forward restored the flags
    assert len(p) == len(list(m.parameters()))


def test_lsuv_plan_is_pure_too():
    m, x = mlp(6, 8, 8, 2), torch.randn(32, 6)
    before, rng = snapshot(m), torch.get_rng_state()
    initlab.plan(m, "lsuv", example_inputs=x)
    assert same(before, snapshot(m)) and torch.equal(rng, torch.get_rng_state())


def test_rows_carry_name_shape_fans_scheme_law_rule_reason():
    m = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))
    p = initlab.plan(m, "auto")
    r = p["0.weight"]
    assert (r.shape, r.fan_in, r.fan_out) == ((30, 20), 20, 30)
    assert r.scheme == "kaiming_normal" and r.kwargs["nonlinearity"] == "relu"
    assert r.law["std"] == pytest.approx(2 ** 0.5 / 20 ** 0.5)
    assert "relu" in r.reason and r.rule == "auto"
    assert p["2.weight"].scheme == "lecun_normal" and "logits" in p["2.weight"].reason
    assert p["0.bias"].scheme == "zeros"


def test_print_shows_a_table_and_to_dict_is_json():
    p = initlab.plan(mlp(4, 8, 2), "auto", seed=3)
    text = str(p)
    assert "0.weight" in text and "kaiming_normal" in text and "fan_in" in text and "reason" in text
    d = json.loads(json.dumps(p.to_dict()))
    assert d["policy"] == "auto" and d["seed"] == 3 and d["method"] == "fx"
    row = d["rows"][0]
    assert {"name", "shape", "fan_in", "fan_out", "scheme", "kwargs", "std", "bound", "rule", "reason"} <= set(row)
    assert row["std"] == pytest.approx(2 ** 0.5 / 2)


def test_apply_then_verify_ok_and_init_returns_plan():
    torch.manual_seed(0)
    m = mlp(64, 128, 128, 10)
    p = initlab.init_(m, "auto", seed=0)
    assert isinstance(p, initlab.Plan)
    assert p.verify(m) == []


def test_verify_catches_a_layer_overwritten_with_zeros():
    m = mlp(64, 128, 128, 10)
    p = initlab.init_(m, "auto", seed=0)
    with torch.no_grad():
        m[2].weight.zero_()
    problems = p.verify(m)
    assert problems and all(s.startswith("2.weight") for s in problems)


def test_verify_catches_a_rule_that_did_nothing():
    m = mlp(64, 128, 10)
    p = initlab.plan(m, "kaiming_normal", seed=0)  # planned, never applied
    assert any("unchanged since planning" in s for s in p.verify(m))


def test_verify_catches_wrong_distribution_and_constant_and_kept_change():
    m = mlp(64, 128, 10)
    p = initlab.init_(m, "xavier_uniform", seed=0)
    with torch.no_grad():
        m[0].weight.normal_(0, float(p["0.weight"].law["std"]))   # same std, wrong law: KS / bounds
        m[0].bias.fill_(0.5)
    problems = p.verify(m)
    assert any(s.startswith("0.weight") for s in problems)
    assert any(s.startswith("0.bias") for s in problems)
    q = initlab.init_(m, [initlab.Rule("zeros", name="0.weight")], seed=0)
    with torch.no_grad():
        m[2].weight.add_(1e-3)
    assert any("2.weight" in s and "kept" in s for s in q.verify(m))


def test_verify_exact_for_deterministic_schemes():
    m = mlp(16, 16, 32)
    p = initlab.init_(m, "zero")
    assert p.verify(m) == []
    with torch.no_grad():
        m[0].weight[0, 0] += 1
    assert any("0.weight" in s for s in p.verify(m))


def test_seed_is_reproducible_and_independent_of_global_rng():
    m1, m2 = mlp(8, 16, 4), mlp(8, 16, 4)
    torch.manual_seed(1)
    initlab.init_(m1, "auto", seed=3)
    torch.manual_seed(2)
    rng = torch.get_rng_state()
    initlab.init_(m2, "auto", seed=3)
    assert same(snapshot(m1), snapshot(m2))
    assert torch.equal(rng, torch.get_rng_state())  # the global RNG was not touched


def test_seed_none_uses_the_global_rng():
    m1, m2 = mlp(8, 16, 4), mlp(8, 16, 4)
    torch.manual_seed(5)
    initlab.init_(m1, "kaiming_normal")
    torch.manual_seed(5)
    initlab.init_(m2, "kaiming_normal")
    assert same(snapshot(m1), snapshot(m2))
    a = torch.get_rng_state()
    initlab.init_(m2, "kaiming_normal")
    assert not torch.equal(a, torch.get_rng_state())


def test_one_generator_in_plan_order():
    m = mlp(8, 16, 4)
    initlab.init_(m, "normal", seed=7)
    g = torch.Generator().manual_seed(7)
    w0 = torch.empty(16, 8).normal_(0, 1, generator=g)
    w2 = torch.empty(4, 16).normal_(0, 1, generator=g)
    assert torch.equal(m[0].weight, w0) and torch.equal(m[2].weight, w2)


@pytest.mark.parametrize("bias,check", [
    ("zeros", lambda b: torch.all(b == 0)),
    (0.1, lambda b: torch.all(b == 0.1)),
    ("ones", lambda b: torch.all(b == 1)),
    (("normal", {"std": 0.5}), lambda b: 0.3 < float(b.std()) < 0.7),
])
def test_bias_options(bias, check):
    m = nn.Linear(10, 400)
    initlab.init_(m, "kaiming_normal", bias=bias, seed=0)
    assert check(m.bias.detach())


def test_bias_keep_and_default_zeros():
    m = nn.Linear(10, 40)
    b = m.bias.detach().clone()
    p = initlab.init_(m, "xavier_normal", bias="keep", seed=0)
    assert torch.equal(m.bias, b) and p["bias"].action == "keep"
    initlab.init_(m, "xavier_normal", seed=0)
    assert torch.all(m.bias == 0)


def test_scheme_kwargs_as_tuple_policy():
    m = nn.Linear(100, 200)
    p = initlab.init_(m, ("kaiming_normal", {"nonlinearity": "relu", "mode": "fan_out"}), seed=0)
    assert p["weight"].law["std"] == pytest.approx(2 ** 0.5 / 200 ** 0.5)
    assert p.verify(m) == []


def test_uniform_policy_is_u01():
    m = nn.Linear(100, 100)
    p = initlab.init_(m, "uniform", seed=0)
    w = m.weight.detach()
    assert float(w.min()) >= 0 and float(w.max()) < 1 and abs(float(w.mean()) - 0.5) < 0.02
    assert p.verify(m) == []


def test_selective_init_of_a_submodule_only():
    m = nn.Sequential()
    m.add_module("body", mlp(8, 16, 16))
    m.add_module("head", nn.Linear(16, 3))
    body = snapshot(m.body)
    initlab.init_(m.head, "zeros")
    assert torch.all(m.head.weight == 0) and same(body, snapshot(m.body))


def test_definition_time_use_inside_init():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(10, 20)
            self.fc2 = nn.Linear(20, 5)
            self.plan = initlab.init_(self, "auto", seed=0)

        def forward(self, x):
            return self.fc2(torch.tanh(self.fc1(x)))

    net = Net()
    assert net.plan["fc1.weight"].scheme == "xavier_normal" and "tanh" in net.plan["fc1.weight"].reason
    assert net.plan.verify(net) == []


# ----------------------------------------------------------------------------- bad input
def test_unknown_policy_did_you_mean():
    with pytest.raises(InitError, match=r"policy='autoo'.*Did you mean 'auto'"):
        initlab.plan(mlp(2, 2), "autoo")
    with pytest.raises(InitError, match=r"kaiming_normal"):
        initlab.plan(mlp(2, 2), "kaiming_norml")


def test_unknown_scheme_kwarg_and_bad_bias_and_seed():
    with pytest.raises(InitError, match="argument"):
        initlab.plan(mlp(2, 2), ("kaiming_normal", {"nonlin": "relu"}))
    with pytest.raises(InitError, match="bias"):
        initlab.plan(mlp(2, 2), "auto", bias="zeross")
    with pytest.raises(InitError, match="seed"):
        initlab.plan(mlp(2, 2), "auto", seed=-1)


def test_model_without_parameters():
    with pytest.raises(InitError, match=r"model='ReLU'.*at least one parameter"):
        initlab.plan(nn.ReLU(), "auto")
    with pytest.raises(InitError, match="torch.nn.Module"):
        initlab.plan("not a model", "auto")


def test_example_inputs_of_the_wrong_shape():
    m = mlp(784, 32, 10)
    with pytest.raises(InitError, match=r"example_inputs has shape \(4, 100\).*\(batch, \.\.\., 784\).*'0'"):
        initlab.plan(m, "auto", example_inputs=torch.randn(4, 100))
    c = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    with pytest.raises(InitError, match=r"\(2, 1, 8, 8\).*\(batch, 3, d0, d1\)"):
        initlab.plan(c, "torch-default", example_inputs=torch.randn(2, 1, 8, 8))


def test_fan_scheme_on_a_1d_parameter_names_it():
    m = nn.Linear(4, 4)
    with pytest.raises(InitError, match=r"'bias'.*shape \(4,\)"):
        initlab.plan(m, "auto", bias="kaiming_normal")


def test_apply_validates_the_whole_plan_before_writing():
    m = mlp(8, 16, 4)
    p = initlab.plan(m, "auto", seed=0)
    other = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))  # last layer differs
    before = snapshot(other)
    with pytest.raises(InitError, match=r"nothing was written: 2.weight: shape \(5, 16\) != planned \(4, 16\)"):
        p.apply(other)
    assert same(before, snapshot(other))  # never half-applied


def test_a_plan_applies_to_a_twin_model():
    a, b = mlp(8, 16, 4), mlp(8, 16, 4)
    p = initlab.plan(a, "auto", seed=0)
    p.apply(b)
    assert p.verify(b) == []


def test_list_policies():
    assert set(initlab.list_policies()) >= {"auto", "torch_default", "gpt2", "zero_init_residual", "fixup", "zero",
                                            "lsuv"}


def test_verify_accepts_a_redraw_that_equals_the_old_values():
    """Applying with the same seed twice (or torch-default over torch's own init) rewrites identical values:
    that is a match, not 'unchanged since planning'; a plan never applied is still caught."""
    import pickle
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(30, 40), nn.ReLU(), nn.Linear(40, 5))
    p = initlab.plan(m, "torch-default", seed=0)
    p.apply(m)
    assert p.verify(m) == []
    initlab.init_(m, "auto", seed=0)
    again = initlab.init_(m, "auto", seed=0)
    assert again.verify(m) == []
    fresh = nn.Sequential(nn.Linear(30, 40), nn.ReLU(), nn.Linear(40, 5))
    never = initlab.plan(fresh, "auto", seed=1)
    assert any("unchanged since planning" in x for x in never.verify(fresh))
    assert len(pickle.loads(pickle.dumps(again)).rows) == len(again.rows)
