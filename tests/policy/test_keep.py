"""Transfer learning: frozen / kept modules are never written unless a name rule names them."""
import pytest
import torch
import torch.nn as nn

import initlab
from initlab import InitError, Rule

from .conftest import mlp


def model():
    torch.manual_seed(0)
    m = nn.Sequential()
    m.add_module("backbone", nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten()))
    m.add_module("head", nn.Linear(8 * 6 * 6, 10))
    return m


def state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def bytes_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_frozen_backbone_is_byte_identical_and_head_initialized():
    m = model()
    initlab.freeze(m.backbone)
    assert not any(p.requires_grad for p in m.backbone.parameters())
    before = state(m.backbone)
    head_before = m.head.weight.detach().clone()
    p = initlab.init_(m, "auto", seed=0)
    assert bytes_equal(before, state(m.backbone))
    assert not torch.equal(head_before, m.head.weight) and torch.all(m.head.bias == 0)
    assert p["backbone.0.weight"].action == "keep" and "requires_grad=False" in p["backbone.0.weight"].reason
    assert p.verify(m) == []


def test_keep_mark_and_keep_patterns():
    m = model()
    initlab.keep(m.backbone)
    before = state(m.backbone)
    initlab.init_(m, "kaiming_normal", seed=0)
    assert bytes_equal(before, state(m.backbone))
    assert all(p.requires_grad for p in m.backbone.parameters())  # keep() does not freeze

    m2 = model()
    before = state(m2.backbone)
    p = initlab.init_(m2, "zeros", keep=["backbone"])
    assert bytes_equal(before, state(m2.backbone)) and torch.all(m2.head.weight == 0)
    assert "keep= pattern" in p["backbone.1.weight"].reason
    m3 = model()
    initlab.init_(m3, "zeros", keep="backbone.0.*")
    assert not torch.all(m3.backbone[0].weight == 0) and torch.all(m3.head.weight == 0)


def test_only_a_name_rule_writes_a_kept_parameter():
    m = model()
    initlab.freeze(m.backbone)
    initlab.init_(m, [Rule("zeros", type=nn.Conv2d), Rule("zeros", name="*.weight"), Rule("zeros", name="head.*"),
                      Rule("zeros", name="re:backbone")])
    assert not torch.all(m.backbone[0].weight == 0)           # a type rule, a glob or a regex cannot
    assert torch.all(m.head.weight == 0)
    initlab.init_(m, [Rule("zeros", name="backbone.0.weight")])
    assert torch.all(m.backbone[0].weight == 0)               # a rule naming it can


def test_kept_parameters_are_fingerprinted():
    m = model()
    initlab.freeze(m.backbone)
    p = initlab.init_(m, "auto", seed=0)
    with torch.no_grad():
        m.backbone[1].bias.add_(1)
    assert any(s.startswith("backbone.1.bias") for s in p.verify(m))


def test_selective_name_rule_only_fc1():
    m = mlp(4, 8, 8, 2)
    before = state(m)
    initlab.init_(m, [Rule("orthogonal", name="2.weight")], seed=0)
    after = state(m)
    assert not torch.equal(before["2.weight"], after["2.weight"])
    assert all(torch.equal(before[k], after[k]) for k in before if k != "2.weight")


def test_a_keep_glob_that_matches_nothing_is_an_error_not_a_silent_overwrite():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = m[0].weight.detach().clone()
    with pytest.raises(InitError, match=r"keep='0\.weigth'.*Did you mean '0\.weight'"):
        initlab.init_(m, "auto", keep=["0.weigth"])
    assert torch.equal(m[0].weight, before)                    # nothing was written
    assert initlab.plan(m, "auto", keep=["0.*"])["0.weight"].action == "keep"
