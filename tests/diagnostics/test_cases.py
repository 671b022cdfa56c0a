"""The cases the issue names: each bad initialization gets its verdict, good ones get exactly 'healthy'.

Fixed seeds, batch 256 of N(0, 1) inputs (initlab.models.example_inputs).
"""
import re

import pytest
import torch
from torch import nn

import initlab
from initlab.diagnostics import Thresholds, diagnose


def kinds(d):
    return [v.kind for v in d.verdicts]


# ------------------------------------------------------------------ symmetric (seed 004: zeros / ones)

@pytest.mark.parametrize("scheme,value", [("zeros", 0), ("ones", 1)])
def test_constant_weights_are_symmetric(make, schemes, scheme, value):
    model, x = make("seed004", schemes[scheme])
    d = diagnose(model, x)
    assert not d.healthy
    v = d.verdicts[0]
    assert v.kind == "symmetric"
    assert (v.first, v.last) == (1, 2)          # both hidden layers; the head is never called symmetric
    assert v.evidence["identical_fraction"] == 1.0 and v.evidence["distinct_units"] == 1
    assert f"0.weight has 1 distinct row out of 256 (all {value})" in v.fix
    assert "init_(model, 'auto')" in v.fix


def test_constant_weights_zeros_also_report_dead_and_vanishing(make, schemes):
    d = diagnose(*make("seed004", schemes["zeros"]))
    assert kinds(d) == ["symmetric", "dead", "vanishing"]
    assert d.verdict("vanishing").direction == "forward"
    assert "the weights are all 0" in d.verdict("vanishing", "forward").fix
    # the zero head stops every gradient in this first step: said in a note, not as a second verdict
    assert any("output layer's weights are all 0" in n for n in d.notes)


def test_ones_explode_as_well(make, schemes):
    d = diagnose(*make("seed004", schemes["ones"]))
    assert kinds(d) == ["symmetric", "exploding"]
    assert "constant weights (1)" in d.verdict("exploding").fix


# ------------------------------------------------------------------ exploding: U[0, 1] on a deep ReLU MLP

def test_uniform01_on_deep_relu_explodes(make, schemes):
    d = diagnose(*make("deep-mlp:20:256:relu", schemes["uniform01"]))
    assert d.verdicts[0].kind == "exploding" and d.verdicts[0].direction == "forward"
    fwd = d.verdict("exploding", "forward")
    assert fwd.first <= 2 and fwd.evidence["per_layer_factor"] > 50          # ~x100 per layer
    assert "not centred" in fwd.fix and "kaiming_normal" in fwd.fix
    assert d.verdict("exploding", "backward") is not None
    # float32 overflows after ~18 layers: reported, and listed after its cause
    nf = d.verdict("non-finite", "forward")
    assert nf is not None and "exploding" in nf.fix
    assert kinds(d).index("non-finite") > kinds(d).index("exploding")


# ------------------------------------------------------------------ saturated: N(0, 1) on a deep tanh MLP

def test_normal01_on_deep_tanh_saturates(make, schemes):
    d = diagnose(*make("deep-mlp:20:256:tanh", schemes["normal01"]))
    v = d.verdicts[0]
    assert v.kind == "saturated"
    assert (v.first, v.last) == (1, 20)
    assert v.evidence["saturated_fraction"] > 0.8
    assert re.match(r"layers 1-20: tanh saturated \(\d+ % of outputs have \|y\| > 0.99\)", v.message)
    assert "too large for fan_in 256" in v.fix and "xavier_normal with gain 5/3" in v.fix
    # gradients also grow (chaotic phase); the N(0, 1) head (fan_in 256) gives logits of std ~16: overconfident
    assert set(kinds(d)) <= {"saturated", "exploding", "overconfident"}


# ------------------------------------------------------------------ vanishing: torch's default on 50 tanh layers

def test_torch_default_on_50_layer_tanh_vanishes(make):
    d = diagnose(*make("deep-mlp:50:256:tanh"))        # freshly constructed: torch's own init
    assert kinds(d) == ["vanishing", "vanishing"]
    fwd, bwd = d.verdict("vanishing", "forward"), d.verdict("vanishing", "backward")
    assert fwd.last == 50 and fwd.evidence["min_ratio"] < 1e-6
    assert bwd.first == 1 and bwd.evidence["min_ratio"] < 1e-9
    assert "too small for fan_in 256" in fwd.fix
    # the plain std stays normal-looking (biases); only the signal across the batch is gone
    deep = [l for l in d.layers if l.depth == 50 and l.type == "Tanh"][0]
    assert deep.std > 1e-2 and deep.signal_std < 1e-6


# ------------------------------------------------------------------ healthy: no false alarms

@pytest.mark.parametrize("spec,scheme", [("deep-mlp:20:256:relu", "kaiming_relu"),
                                         ("deep-mlp:20:256:tanh", "xavier_tanh"),
                                         ("deep-mlp:50:256:tanh", "xavier_tanh")])
def test_good_inits_are_exactly_healthy(make, schemes, spec, scheme):
    d = diagnose(*make(spec, schemes[scheme]))
    assert kinds(d) == ["healthy"], [str(v) for v in d.verdicts]
    assert d.healthy
    assert d.verdicts[0].fix == ""


@pytest.mark.parametrize("spec", ["cnn", "resmlp:8:128", "digits-mlp"])
def test_torch_default_on_shallow_or_residual_nets_is_healthy(make, spec):
    d = diagnose(*make(spec))
    assert d.healthy, [str(v) for v in d.verdicts]


# ------------------------------------------------------------------ auto -> healthy

@pytest.mark.parametrize("spec", ["seed004", "deep-mlp:20:256:relu", "deep-mlp:20:256:tanh", "deep-mlp:50:256:tanh"])
def test_auto_policy_is_healthy_on_every_case(make, schemes, spec):
    model, x = make(spec, schemes["zeros"])          # start from a broken init
    assert not diagnose(model, x).healthy
    initlab.init_(model, "auto", seed=0)
    d = diagnose(model, x)
    assert d.healthy, [str(v) for v in d.verdicts]


# ------------------------------------------------------------------ the other verdicts

def test_negative_biases_kill_relus(make, schemes):
    model, x = make("mlp:64-256-256-10:relu", schemes["kaiming_relu"])
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, -5.0)
    d = diagnose(model, x)
    v = d.verdict("dead")
    assert v is not None and v.evidence["dead_fraction"] > 0.9
    assert "biases are negative" in v.fix


def test_dead_threshold_is_respected(make, schemes):
    model, x = make("deep-mlp:20:256:relu", schemes["kaiming_relu"])
    d = diagnose(model, x)
    worst = max(l.dead for l in d.layers if l.family == "relu")
    assert 0.05 < worst < 0.5 and d.healthy
    strict = diagnose(model, x, thresholds=Thresholds(dead=worst / 2))
    assert "dead" in strict.kinds


def test_sigmoid_saturation(make, schemes):
    d = diagnose(*make("mlp:64-256-256-10:sigmoid", schemes["normal01"]))
    v = d.verdict("saturated")
    assert v is not None and "sigmoid saturated" in v.message and "y < 0.01 or y > 0.99" in v.message


def test_groups_follow_the_layers(make, schemes):
    """xavier on layers 1-4 and N(0, 1) on 5-10: one saturated verdict for layers 5-10."""
    model, x = make("deep-mlp:10:256:tanh", schemes["xavier_tanh"])
    g = torch.Generator().manual_seed(1)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for m in linears[4:10]:
        initlab.normal_(m.weight, 0.0, 1.0, generator=g)
    d = diagnose(model, x)
    sat = [v for v in d.verdicts if v.kind == "saturated"]
    assert len(sat) == 1 and (sat[0].first, sat[0].last) == (5, 10)
    assert sat[0].message.startswith("layers 5-10: tanh saturated")


def test_nan_parameter_is_non_finite_and_listed_first(make, schemes):
    model, x = make("mlp:64-128-10:relu", schemes["kaiming_relu"])
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    d = diagnose(model, x)
    assert d.verdicts[0].kind == "non-finite"
    assert "2.weight" in d.verdicts[0].message
    assert d.param("2.weight").nonfinite == 1


def test_nan_inputs_are_reported(make, schemes):
    model, x = make("mlp:64-128-10:relu", schemes["kaiming_relu"])
    x[3, 5] = float("inf")
    d = diagnose(model, x)
    assert d.verdicts[0].kind == "non-finite" and d.verdicts[0].message.startswith("inputs")
    assert d.input["nonfinite"] == 1


def test_zero_init_residual_branches_are_not_symmetric(make, schemes):
    """Zero rows are only symmetric when the units also get equal gradients: the zero last layer of a
    residual branch (Fixup, zero-init-residual) gets distinct gradients through the skip path."""
    model, x = make("resmlp:4:128:relu", schemes["kaiming_relu"])
    for name, m in model.named_modules():
        if name.endswith("fc2"):
            nn.init.zeros_(m.weight)
    d = diagnose(model, x)
    fc2 = [l for l in d.layers if l.name.endswith("fc2")]
    assert len(fc2) == 4 and all(l.std == 0 for l in fc2)     # equal (zero) outputs, but distinct gradients:
    assert all(l.identical < 0.05 for l in fc2)
    assert d.healthy, [str(v) for v in d.verdicts]


def test_zero_init_head_is_not_a_problem(make, schemes):
    model, x = make("deep-mlp:6:128:relu", schemes["kaiming_relu"])
    nn.init.zeros_(model[-1].weight)
    d = diagnose(model, x)
    assert d.healthy, [str(v) for v in d.verdicts]
    assert any("zero-initialized head" in n for n in d.notes)
    assert all(l.grad_rms == 0 for l in d.layers if not l.is_output)


def test_torch_default_deep_relu_blames_the_vanishing_signal(make):
    """torch's default on 20 ReLU layers: the signal vanishes, so each unit's bias sign decides whether it is
    dead (~50 %).  That is reported once, with that cause, and constant units are not called copies."""
    d = diagnose(*make("deep-mlp:20:256:relu"))
    assert kinds(d) == ["dead", "vanishing", "vanishing"]
    dead = d.verdict("dead")
    assert "input signal has vanished" in dead.fix and dead.last >= 18
    assert max(l.identical for l in d.layers if not l.is_output) < 0.05


def test_zero_residual_branches_under_a_zero_head_are_not_symmetric(make, schemes):
    """Fixup zeroes the branches' last layers *and* the head: no gradient reaches any hidden layer in the
    first step, so the gradient half of the copy test is silent; x + 0 stays diverse, so no symmetry."""
    model, x = make("resmlp:4:128:relu")
    initlab.init_(model, "fixup", seed=0)
    d = diagnose(model, x)
    assert not any(v.kind == "symmetric" for v in d.verdicts), [str(v) for v in d.verdicts]
    assert any("zero-initialized head" in n for n in d.notes)
    # the same zero head over an MLP whose hidden layers are all constant is still symmetric
    mlp, xm = make("deep-mlp:4:64:relu")
    with torch.no_grad():
        for m in mlp:
            if isinstance(m, nn.Linear):
                m.weight.fill_(0.01)
        mlp[-1].weight.zero_()
    assert any(v.kind == "symmetric" for v in diagnose(mlp, xm).verdicts)


def test_a_binary_head_with_unit_logits_is_not_called_overconfident_but_a_blown_up_one_is():
    """2 classes: a logit difference of std 2.5 costs ~0.5 nats over ln 2 (a ratio of ~1.75); only a real
    excess is a verdict."""
    torch.manual_seed(0)
    x, y = torch.randn(256, 8), torch.randint(0, 2, (256,))
    m = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    initlab.init_(m, "auto")
    with torch.no_grad():
        m[2].weight.mul_(2.5 / float((m(x)[:, 0] - m(x)[:, 1]).std()))   # logit difference std 2.5
    d = initlab.diagnose(m, x, y)
    assert d.output["loss_ratio"] > 1.5 and d.output["loss"] - d.output["ln_classes"] < 1.0
    assert "overconfident" not in d.kinds
    with torch.no_grad():
        m[2].weight.mul_(20.0)
    assert "overconfident" in initlab.diagnose(m, x, y).kinds
