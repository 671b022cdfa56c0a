"""compare plans once per (policy, architecture) and reuses the plan for every seed: the weights must be
exactly those init_ gives each model alone."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import initlab
from initlab.errors import InitError
from initlab.experiments.compare import build_models
from initlab.models import build_model


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_reused_plans_draw_exactly_what_init_draws():
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    policies = ["torch-default", "general_rule_normal", "orthogonal", "auto", "lsuv"]
    keys = [(p, s) for s in (0, 3, 11) for p in policies]
    plans = {}
    got = build_models(lambda: build_model("digits-mlp"), keys, x, plans=plans)
    for (p, s), m in zip(keys, got):
        ref = build_model("digits-mlp")
        initlab.init_(ref, p, seed=s, example_inputs=x)
        assert _same(m, ref), (p, s)
    # one plan per cacheable policy; lsuv and auto (with example_inputs: calibrate rows) measure each model
    # at apply, so they are planned every time
    assert {k[0] for k in plans} == {"torch-default", "general_rule_normal", "orthogonal"}
    assert not _same(got[0], got[len(policies)])                # another seed, other draws


def test_a_plan_is_not_reused_for_another_architecture_or_frozen_parameters():
    x = torch.randn(8, 64)
    shapes = iter(["mlp:64-32-10:relu", "mlp:64-16-10:relu", "mlp:64-32-10:relu"])
    plans = {}
    got = build_models(lambda: build_model(next(shapes)), [("torch-default", s) for s in (0, 1, 2)], x, plans=plans)
    assert [m[0].out_features for m in got] == [32, 16, 32] and len(plans) == 2

    def frozen():
        m = build_model("mlp:64-32-10:relu")
        m[0].weight.requires_grad_(False)
        return m
    before = frozen()
    kept = build_models(frozen, [("general_rule_uniform", 0)], x, plans=plans)[0]
    ref = frozen()
    ref[0].weight.data.copy_(before[0].weight)
    kept[0].weight.data.copy_(before[0].weight)
    initlab.init_(ref, "general_rule_uniform", seed=0, example_inputs=x)
    assert len(plans) == 3 and _same(kept, ref)


def test_with_seed_refuses_a_plan_that_measures_the_model():
    m = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    p = initlab.plan(m, "lsuv", seed=0, example_inputs=torch.randn(32, 8))
    with pytest.raises(InitError, match="with_seed"):
        p.with_seed(1)
