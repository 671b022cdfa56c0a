"""Fuzz the model level: plan / init_ / diagnose on odd models with odd arguments (issue 13, Checks).

Each example draws a model from _zoo.ZOO (meta device, tied, frozen, fp16 / bf16 / fp64, LSTM / GRU,
MultiheadAttention, Embedding, raw nn.Parameters, zero-size layers, nested containers, buffers, Hugging Face
models from tiny configs), a transform (dtype, frozen part, meta), an operation and its arguments, from
valid values and hostile ones.  Nothing but an InitError may escape.  When the call succeeds, what it
promises is checked too: plan writes nothing and draws nothing; init_ leaves frozen parameters alone and
its plan verifies; diagnose leaves the model as it was, and its result serializes to strict JSON.

2,000 examples in the default suite, 20,000 under the `slow` marker (`make test-slow`), derandomized
(the style of tests/schemes/test_fuzz.py).
"""
from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import initlab
from initlab import InitError, Rule

from ._zoo import ZOO

pytest.importorskip("transformers")

POLICIES = initlab.list_policies() + [p.replace("_", "-") for p in initlab.list_policies()] + initlab.list_schemes()
ODD_POLICY = [None, "", "nope", 3, ("kaiming_normal", {"nonlinearity": "tanh"}), ("uniform", {"a": 1, "b": 0}),
              ("normal", {"std": math.nan}), ("orthogonal", {"gain": 1e30}), ("sparse", {"sparsity": 0.5}),
              ("dirac", {"groups": 0}), ("nope", {}), [Rule("zeros", name="*bias")],
              [Rule("orthogonal", type=nn.Linear, param="weight"), Rule("zeros", param="bias")],
              [Rule("xavier_uniform", name="re:.*weight"), Rule("ones", type=nn.LayerNorm)], [],
              [Rule("keep", name="*")]]
POLICY = st.one_of(st.sampled_from(POLICIES), st.sampled_from(POLICIES), st.sampled_from(ODD_POLICY))
BIAS = st.sampled_from([None, None, "zeros", "keep", 0.1, -1.0, math.nan, math.inf, "xavier_uniform", "uniform",
                        ("normal", {"std": 0.1}), ("constant", {"val": 2}), "nope", 3j, [1]])
KEEP = st.sampled_from([None, None, ["*"], ["0.*"], ["*.bias"], ["*emb*"], ["nomatch"], "head", [3], ["re:("]])
SEED = st.sampled_from([None, 0, 0, 1, 2 ** 64 - 1, 2 ** 64, -1, 1.5, True, "0"])
DTYPE = st.sampled_from([None, None, None, torch.float16, torch.bfloat16, torch.float64])
FREEZE = st.sampled_from(["none", "none", "first", "all"])
BATCH = st.sampled_from([2, 4, 16])
# a forward pass through a transformer costs ~100x one through a small MLP: they come up less often
HEAVY = ("bert", "gpt2", "llama", "t5", "vit", "transformer")
NAMES = st.sampled_from(sorted(set(ZOO) - set(HEAVY)) * 6 + list(HEAVY))


def _build(name, dtype, freeze, meta):
    factory, inputs = ZOO[name]
    torch.manual_seed(0)
    model = factory()
    if dtype is not None:
        model = model.to(dtype)
    params = [p for p in model.parameters() if not isinstance(p, nn.parameter.UninitializedParameter)]
    if freeze == "first" and params:
        params[0].requires_grad_(False)
    elif freeze == "all":
        for p in params:
            p.requires_grad_(False)
    if meta:
        model = model.to("meta")
    return model, inputs


def _x(inputs, batch, dtype, kind):
    """The model's inputs, or a hostile variant of them."""
    if inputs is None or kind == "none":
        return None
    x = inputs(batch)
    if dtype is not None:
        x = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in x.items()} if isinstance(x, dict) else (
            x.to(dtype) if x.is_floating_point() else x)
    if kind == "wrong-shape":
        return torch.randn(batch, 7)
    if kind == "one-sample":
        return x[:1] if isinstance(x, torch.Tensor) else {k: v[:1] for k, v in x.items()}
    if kind == "constant":
        return torch.ones_like(x) if isinstance(x, torch.Tensor) else x
    if kind == "nan" and isinstance(x, torch.Tensor) and x.is_floating_point():
        return torch.full_like(x, math.nan)
    if kind == "list":
        return [x] if isinstance(x, torch.Tensor) else list(x.values())
    if kind == "odd":
        return "x"
    return x


def _state(model):
    """Every parameter and buffer, copied (none on meta: no values), and the global RNG."""
    vals = {n: t.detach().clone() for n, t in list(model.named_parameters()) + list(model.named_buffers())
            if not t.is_meta and not isinstance(t, nn.parameter.UninitializedParameter)}
    return vals, torch.get_rng_state()


def _same(before, after) -> list[str]:
    (a, ra), (b, rb) = before, after
    diff = [n for n in a if n in b and not torch.equal(a[n].nan_to_num(), b[n].nan_to_num())]
    if not torch.equal(ra, rb):
        diff.append("<global RNG>")
    return diff


def _check_plan(model, kw):
    before = _state(model)
    p = initlab.plan(model, **kw)
    assert _same(before, _state(model)) == [], "plan() wrote to the model or drew from the global RNG"
    str(p)
    json.dumps(_json_safe(p.to_dict()), allow_nan=False)


def _check_init(model, kw):
    frozen = {n: t.detach().clone() for n, t in model.named_parameters()
              if not t.requires_grad and not t.is_meta and not isinstance(t, nn.parameter.UninitializedParameter)}
    p = initlab.init_(model, **kw)
    params = dict(model.named_parameters())
    changed = [n for n, t in frozen.items() if not torch.equal(t.nan_to_num(), params[n].detach().nan_to_num())]
    assert changed == [], f"init_ overwrote frozen parameters {changed}"
    if kw["seed"] is not None:                 # a statistical check: only on seeded (reproducible) draws
        problems = p.verify(model)
        assert problems == [], problems


def _check_diagnose(model, x, targets, loss_fn, train):
    before = _state(model)
    d = initlab.diagnose(model, x, targets, loss_fn, train=train)
    assert _same(before, _state(model)) == [], "diagnose changed the model or the global RNG"
    json.dumps(d.to_dict(), allow_nan=False)           # the CLI prints it with allow_nan=False
    d.table()
    d.summary()
    assert isinstance(d.healthy, bool)


def _json_safe(d):
    from initlab.experiments.store import json_safe
    return json_safe(d)


TARGETS = st.sampled_from(["none", "none", "int", "float", "wrong", "odd"])
LOSS = st.sampled_from([None, None, F.mse_loss, lambda y: y.sum(), lambda y: y, "nope"])


def _targets(kind, x, batch):
    if kind == "none" or x is None:
        return None
    if kind == "int":
        return torch.zeros(batch, dtype=torch.long)
    if kind == "float":
        return torch.randn(batch)
    if kind == "wrong":
        return torch.randn(batch + 1, 3)
    return [1, 2]


def _run(name, dtype, freeze, meta, op, policy, bias, keep, seed, batch, xkind, tkind, loss_fn, train):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torch warns on zero-element layers, HF on odd configs
        model, inputs = _build(name, dtype, freeze, meta)
        x = None if meta else _x(inputs, batch, dtype, xkind)
        try:
            if op == "diagnose":
                _check_diagnose(model, x, _targets(tkind, x, batch), loss_fn, train)
            else:
                kw = {"policy": policy, "example_inputs": x, "seed": seed, "bias": bias, "keep": keep}
                (_check_plan if op == "plan" else _check_init)(model, kw)
        except InitError:
            pass


def _fuzz(n):
    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(name=NAMES, dtype=DTYPE, freeze=FREEZE, meta=st.sampled_from([False] * 5 + [True]),
           op=st.sampled_from(["plan", "plan", "init_", "init_", "diagnose"]), policy=POLICY, bias=BIAS, keep=KEEP,
           seed=SEED, batch=BATCH,
           xkind=st.sampled_from(["ok"] * 6 + ["none", "wrong-shape", "one-sample", "constant", "nan", "list", "odd"]),
           tkind=TARGETS, loss_fn=LOSS, train=st.sampled_from([True, True, False, None, "yes"]))
    def check(**kw):
        _run(**kw)
    with torch.random.fork_rng(devices=[]):       # the examples seed the global RNG: later tests see it as it was
        check()


def test_fuzz_models_default_suite():
    _fuzz(2000)


@pytest.mark.slow
def test_fuzz_models_slow():
    _fuzz(20000)
