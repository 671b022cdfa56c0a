"""auto: activation detection (fx, hooked forward, registration order) and the scheme chosen for each."""
import json
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import initlab
from initlab.policy import auto
from initlab.policy.gains import numerical_gain

from .conftest import ResMLP


def seq(act):
    return nn.Sequential(nn.Linear(16, 32), act, nn.Linear(32, 4))


@pytest.mark.parametrize("act,scheme,std,word", [
    (nn.ReLU(), "kaiming_normal", math.sqrt(2 / 16), "relu"),
    (nn.LeakyReLU(0.2), "kaiming_normal", math.sqrt(2 / (1 + 0.04)) / 4, "a=0.2"),
    (nn.Tanh(), "xavier_normal", 5 / 3 * math.sqrt(2 / 48), "gain 5/3"),
    (nn.Sigmoid(), "xavier_normal", math.sqrt(2 / 48), "sigmoid"),
    (nn.SELU(), "lecun_normal", 1 / 4, "selu"),
])
def test_closed_form_choices(act, scheme, std, word):
    p = initlab.plan(seq(act), "auto")
    r = p["0.weight"]
    assert r.scheme == scheme and r.law["std"] == pytest.approx(std) and word in r.reason
    assert p.method == "fx"


@pytest.mark.parametrize("act,f", [(nn.GELU(), F.gelu), (nn.SiLU(), F.silu), (nn.Mish(), F.mish),
                                   (nn.Softplus(), F.softplus), (nn.ELU(), F.elu)])
def test_other_activations_get_the_second_moment_gain(act, f):
    p = initlab.plan(seq(act), "auto")
    r = p["0.weight"]
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g_mc = 1 / math.sqrt(float((f(z) ** 2).mean()))              # Monte Carlo, 2e6 samples: +-0.2%
    assert r.scheme == "variance_scaling" and r.kwargs["mode"] == "fan_in" and r.kwargs["distribution"] == "normal"
    assert math.sqrt(r.kwargs["scale"]) == pytest.approx(g_mc, rel=5e-3)
    assert r.law["std"] == pytest.approx(g_mc / 4, rel=5e-3)
    assert "E[" in r.reason and "Gauss-Hermite" in r.reason


def test_numerical_gain_sanity():
    assert numerical_gain(("t-relu", ()), torch.relu) == pytest.approx(math.sqrt(2), abs=1e-12)
    assert numerical_gain(("t-id", ()), lambda z: z) == pytest.approx(1.0, abs=1e-12)
    assert numerical_gain(("t-lrelu", ()), lambda z: F.leaky_relu(z, 0.3)) == pytest.approx(
        initlab.calculate_gain("leaky_relu", 0.3), abs=1e-9)


def test_logits_and_norm_followers():
    m = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    p = initlab.plan(m, "auto")
    assert p["0.weight"].scheme == "lecun_normal" and "norm" in p["0.weight"].reason
    assert p["3.weight"].scheme == "lecun_normal" and "logits" in p["3.weight"].reason
    assert p["1.weight"].scheme == "ones" and p["1.bias"].scheme == "zeros"


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d, self.e = (nn.Linear(8, 8) for _ in range(5))

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = F.gelu(self.b(x))
        x = self.c(x).relu()
        x = torch.tanh(self.d(x).view(-1, 8))
        return self.e(x)


def test_functional_activations_found_by_fx():
    p = initlab.plan(Functional(), "auto")
    assert p.method == "fx"
    assert "relu" in p["a.weight"].reason and p["a.weight"].scheme == "kaiming_normal"
    assert "gelu" in p["b.weight"].reason and p["b.weight"].scheme == "variance_scaling"
    assert "relu" in p["c.weight"].reason and p["c.weight"].scheme == "kaiming_normal"
    assert "tanh" in p["d.weight"].reason and p["d.weight"].scheme == "xavier_normal"
    assert "logits" in p["e.weight"].reason


class Untraceable(Functional):
    def forward(self, x):
        if x.sum() > -1e9:  # data-dependent control flow: torch.fx cannot trace this
            x = x * 1.0
        return super().forward(x)


def test_hooked_forward_fallback_for_untraceable_models():
    p = initlab.plan(Untraceable(), "auto", example_inputs=torch.randn(4, 8))
    assert p.method == "hooked forward" and any("fx symbolic trace failed" in n for n in p.notes)
    assert "kaiming_normal" in p["a.weight"].reason and "gelu" in p["b.weight"].reason
    assert "tanh" in p["d.weight"].reason and "logits" in p["e.weight"].reason


def test_registration_order_fallback_without_inputs():
    class U(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))

        def forward(self, x):
            return self.net(x) if x.sum() > 0 else -self.net(x)

    p = initlab.plan(U(), "auto")
    assert p.method == "registration order"
    assert "tanh" in p["net.0.weight"].reason and any("example_inputs" in n for n in p.notes)


def test_residual_branch_last_layers_are_scaled_or_zeroed():
    m = ResMLP(d=32, n=4)
    p = initlab.plan(m, "auto")
    r = p["blocks.2.fc2.weight"]
    assert r.scheme == "variance_scaling" and "residual branch 3/4" in r.reason
    # the residual stream goes straight into the next block (no activation after the add): gain 1, / sqrt(L=4)
    assert r.law["std"] == pytest.approx(math.sqrt(1 / 32) / 2)
    last = p["blocks.3.fc2.weight"]  # the last add is followed by the head's relu
    assert last.law["std"] == pytest.approx(math.sqrt(2 / 32) / 2) and "relu" in last.reason
    assert p["blocks.2.fc1.weight"].scheme == "kaiming_normal"
    z = initlab.plan(m, auto(residual="zero"))
    assert z["blocks.0.fc2.weight"].scheme == "zeros"


def test_mha_qkv_use_the_fans_of_each_block():
    m = nn.MultiheadAttention(32, 4)
    p = initlab.init_(m, "auto", seed=0)
    for x in "qkv":
        r = p[f"in_proj_weight[{x}]"]
        assert (r.shape, r.fan_in, r.fan_out) == ((32, 32), 32, 32)
        assert r.law["high"] == pytest.approx(math.sqrt(6 / 64))          # not sqrt(6 / (32 + 96))
    assert p.verify(m) == []
    w = m.in_proj_weight.detach()
    assert float(w[:32].abs().max()) > math.sqrt(6 / 128)                   # wider than the stacked bound


def test_lstm_recurrent_orthogonal_per_gate_and_forget_bias():
    m = nn.LSTM(6, 10, num_layers=2)
    p = initlab.init_(m, "auto", seed=0)
    for layer in (0, 1):
        w = m._parameters[f"weight_hh_l{layer}"].detach()
        for gate in range(4):
            blk = w[gate * 10:(gate + 1) * 10]
            assert torch.allclose(blk @ blk.T, torch.eye(10), atol=1e-5)
        b = m._parameters[f"bias_ih_l{layer}"].detach()
        assert torch.all(b[10:20] == 1.0) and torch.all(b[:10] == 0) and torch.all(b[20:] == 0)
        assert torch.all(m._parameters[f"bias_hh_l{layer}"] == 0)
    assert p["weight_ih_l0[g]"].kwargs["gain"] == pytest.approx(5 / 3)
    assert p.verify(m) == []
    q = initlab.plan(m, auto(forget_bias=None))
    assert q["bias_ih_l0[f]"].scheme == "zeros"


def test_unknown_modules_are_reported_not_skipped():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.alpha

    m = nn.Sequential(nn.Linear(3, 3), Scale())
    a = m[1].alpha.detach().clone()
    p = initlab.init_(m, "auto", seed=0)
    assert p["1.alpha"].rule == "unknown module" and "Scale" in p["1.alpha"].reason
    assert torch.equal(m[1].alpha, a)


def test_embedding_and_conv_transpose_and_padding_idx():
    m = nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Flatten(), nn.Linear(8, 8), nn.ReLU())
    p = initlab.init_(m, "auto", seed=0, example_inputs=torch.randint(0, 10, (3, 2)))
    assert torch.all(m[0].weight[0] == 0)
    assert p["0.weight[padding]"].scheme == "zeros" and p["0.weight[rows2]"].scheme == "normal"
    c = nn.Sequential(nn.ConvTranspose2d(4, 8, 3), nn.ReLU(), nn.Conv3d(8, 2, 1))
    row = initlab.plan(c, "auto")["0.weight"]                # He on the forward fan: 4 in-channels x 3 x 3
    assert row.scheme == "variance_scaling" and row.kwargs["mode"] == "fan_out"
    assert row.law["std"] == pytest.approx(math.sqrt(2 / 36))


def test_drift_note_for_unstable_activations():
    layers = []
    for _ in range(10):
        layers += [nn.Linear(8, 8), nn.GELU()]
    p = initlab.plan(nn.Sequential(*layers), "auto")
    assert any("unstable" in n and "lsuv" in n for n in p.notes)
    layers = []
    for _ in range(10):
        layers += [nn.Linear(8, 8), nn.ReLU()]
    assert initlab.plan(nn.Sequential(*layers), "auto").notes == []


def test_hooked_forward_is_pure():
    class U(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.bn, self.drop, self.out = nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2)

        def forward(self, x):
            if x.mean() > -1e9:
                x = self.drop(F.silu(self.bn(self.fc(x))))
            return self.out(x)

    m, x = U().train(), torch.randn(16, 6)
    before, rng = {k: v.clone() for k, v in m.state_dict().items()}, torch.get_rng_state()
    p = initlab.plan(m, "auto", example_inputs=x)
    assert p.method == "hooked forward" and "norm" in p["fc.weight"].reason
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # BN running stats too
    assert torch.equal(rng, torch.get_rng_state()) and m.training and m.bn.training


# ------------------------------------------------------------------ apply-time calibration (unstable activations)
def stack(act, n=10, width=16, d_in=None):
    layers = []
    for i in range(n):
        layers += [nn.Linear(d_in if (d_in and i == 0) else width, width), act()]
    return nn.Sequential(*layers, nn.Linear(width, 3))


def layer_outputs(m, x):
    """Output of every Linear/Conv of `m` on x (one forward pass)."""
    out, hooks = {}, []
    for n, mod in m.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            hooks.append(mod.register_forward_hook(lambda _m, _i, o, n=n: out.setdefault(n, o.detach())))
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    return out


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.SELU, nn.LeakyReLU, nn.Sigmoid, nn.ELU, nn.Softplus])
def test_stable_or_homogeneous_activations_get_no_calibration(act):
    p = initlab.plan(stack(act), "auto", seed=0)
    assert not any(r.action == "calibrate" for r in p.rows)
    assert p.calibration is None and "calibration" not in p.to_dict()
    assert not any("calibrat" in n for n in p.notes)


@pytest.mark.parametrize("act,slope", [(nn.GELU, 1.144), (nn.SiLU, 1.173), (nn.Mish, 1.076)])
def test_unstable_activations_are_calibrated_to_unit_second_moment(act, slope):
    m = stack(act)
    p = initlab.plan(m, "auto", seed=0)
    r = p["0.weight"]
    assert r.action == "calibrate" and r.scheme == "variance_scaling" and r.applied is None
    assert "Gauss-Hermite" in r.reason and "then calibrated on a fixed standard-normal batch (256 rows)" in r.reason
    assert "unit second moment" in r.reason and f"unstable with depth (slope {slope:.3f}/layer)" in r.reason
    assert p["20.weight"].action == "init"                               # the logits layer: nothing follows
    assert sum(r.action == "calibrate" for r in p.rows) == 10
    assert any("mean of squares, not the variance" in n and "seed 1592642075" in n for n in p.notes)
    assert p.calibration.to_dict()["shape"] == [16] and p.calibration.rows == 256
    planned = {q.name: q.law["std"] for q in p.rows if q.action == "calibrate"}
    p.apply(m)
    x = p.calibration.batch(m)
    outs = layer_outputs(m, x)
    for q in p.rows:
        if q.action != "calibrate":
            continue
        h = outs[q.param.rpartition(".")[0]].double()
        assert abs(float((h * h).mean()) - 1) < 0.01, q.name                # the mean of squares, not the variance
        assert q.applied["converged"] and q.applied["rounds"] <= 5
        assert q.applied["output_second_moment"] == pytest.approx(float((h * h).mean()), rel=1e-6)
        assert q.law["std"] == pytest.approx(planned[q.name] * q.applied["scale"])
    assert p.verify(m) == []


def test_calibration_planning_is_pure_and_apply_is_reproducible():
    a, b = stack(nn.GELU), stack(nn.GELU)
    before, rng = {k: v.clone() for k, v in a.state_dict().items()}, torch.get_rng_state()
    p = initlab.plan(a, "auto", seed=3)
    assert all(torch.equal(before[k], v) for k, v in a.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    p.apply(a)
    assert torch.equal(rng, torch.get_rng_state())                       # own generators, quiet forward
    first = {k: v.clone() for k, v in a.state_dict().items()}
    scales = [r.applied["scale"] for r in p.rows if r.action == "calibrate"]
    p.apply(b)                                                           # the same plan again: same weights
    assert all(torch.equal(first[k], v) for k, v in b.state_dict().items())
    assert [r.applied["scale"] for r in p.rows if r.action == "calibrate"] == scales
    q = initlab.init_(stack(nn.GELU), "auto", seed=3)
    assert [r.applied["scale"] for r in q.rows if r.action == "calibrate"] == scales
    assert p.verify(b) == []


def test_calibration_uses_example_inputs_and_their_mean():
    m = stack(nn.GELU, n=3, width=32, d_in=8)
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(1)) * 2 + 3     # not centred
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    assert p.calibration.source == "example_inputs" and "calibrated on example_inputs" in p["0.weight"].reason
    h = layer_outputs(m, x)["0"].double()
    assert abs(float((h * h).mean()) - 1) < 0.01
    assert p.verify(m) == []


def test_calibration_with_nonzero_biases_takes_rounds():
    m = stack(nn.SiLU, n=3, width=32)
    p = initlab.init_(m, "auto", seed=0, bias=0.5)
    h = layer_outputs(m, p.calibration.batch(m))
    for n in ("0", "2", "4"):
        assert abs(float((h[n].double() ** 2).mean()) - 1) < 0.01
    assert float(h["0"].double().var()) < 0.8                            # ~ 1 - 0.5^2: the variance is not set to 1
    assert max(r.applied["rounds"] for r in p.rows if r.action == "calibrate") >= 2
    assert p.verify(m) == []


def test_calibration_batch_from_initlab_input_shape_and_fallback_without_a_shape():
    from initlab.models import build_model
    cnn = build_model("cnn:gelu")                                          # initlab_input_shape (1, 28, 28)
    p = initlab.init_(cnn, "auto", seed=0)
    assert p["features.0.weight"].action == "calibrate" and p["features.3.weight"].action == "calibrate"
    assert p.calibration.shape == (1, 28, 28) and "initlab_input_shape" in p.calibration.shape_from
    assert p.verify(cnn) == []
    layers = []
    for _ in range(8):
        layers += [nn.Conv1d(4, 4, 1), nn.GELU()]
    conv = nn.Sequential(*layers)                                          # first layer a Conv: shape unknown
    q = initlab.plan(conv, "auto")
    assert not any(r.action == "calibrate" for r in q.rows) and q.calibration is None
    assert any("unstable" in n and "pass example_inputs" in n for n in q.notes)
    q = initlab.plan(conv, "auto", example_inputs=torch.randn(16, 4, 5))
    assert sum(r.action == "calibrate" for r in q.rows if r.param.endswith("weight")) == 8   # + their biases


def test_residual_branch_ends_fixup_and_lsuv_are_not_calibrated():
    from initlab.models import ResMLP
    m = ResMLP(3, 16, act="gelu", n_in=8)
    p = initlab.init_(m, "auto", seed=0)
    assert p["inp.weight"].action == "calibrate" and p["blocks.1.fc1.weight"].action == "calibrate"
    assert p["blocks.1.fc2.weight"].action == "init" and "residual branch 2/3" in p["blocks.1.fc2.weight"].reason
    assert p.verify(m) == []
    assert not any(r.action == "calibrate" for r in initlab.plan(m, "fixup"))
    assert not any(r.action == "calibrate" for r in initlab.plan(m, "lsuv", example_inputs=torch.randn(32, 8)))



def test_branch_reasons_say_what_the_scale_does_inside_a_residual_branch():
    """A branch's first layer is calibrated for the q its gain assumes, not for a depth that does not compound
    inside a branch; a branch end's reason states what 1/sqrt(L) does (1/L of an unscaled branch each), not a
    unit variance it only adds when its input has unit second moment."""
    from initlab.models import ResMLP
    p = initlab.plan(ResMLP(3, 16, act="gelu", n_in=8), "auto", seed=0)
    inner, end = p["blocks.1.fc1.weight"].reason, p["blocks.1.fc2.weight"].reason
    assert "inside residual branch 2/3, gelu is applied once per branch, so nothing compounds" in inner
    assert "each branch adds 1/3 of the variance an unscaled branch would" in end and "variance 1/L" not in end
    assert "inside residual branch" not in p["inp.weight"].reason                 # the stem is not in a branch
    assert "inside residual branch" not in initlab.plan(stack(nn.GELU), "auto", seed=0)["0.weight"].reason

def test_calibrate_false_keeps_the_pure_draw():
    p = initlab.plan(stack(nn.GELU), auto(calibrate=False))
    assert not any(r.action == "calibrate" for r in p.rows) and p.calibration is None
    assert any("unstable" in n and "calibrate=False" in n for n in p.notes)
    with pytest.raises(initlab.InitError, match="calibrate"):
        auto(calibrate="yes")


def test_plan_table_and_json_show_calibration():
    p = initlab.plan(stack(nn.GELU, n=2), "auto", seed=0)
    assert "~std" in str(p)
    d = json.loads(json.dumps(p.to_dict()))
    assert d["calibration"]["statistic"] == "second moment" and d["rows"][0]["action"] == "calibrate"
    p.apply(stack(nn.GELU, n=2))
    d = json.loads(json.dumps(p.to_dict()))
    assert d["rows"][0]["applied"]["converged"] and "~std" not in str(p)


def test_verify_checks_the_calibrated_law():
    m = stack(nn.GELU, n=3, width=64)
    p = initlab.init_(m, "auto", seed=0)
    assert p.verify(m) == []
    assert p["0.weight"].applied["scale"] < 0.8     # standard-normal inputs: the first layer's q was g^2 = 2.35
    with torch.no_grad():
        m[0].weight.mul_(1 / p["0.weight"].applied["scale"])           # back to the uncalibrated draw
    assert any(x.startswith("0.weight: std") for x in p.verify(m))


@pytest.mark.parametrize("cin,cout,k,stride,pad", [(64, 32, 3, 1, 1), (16, 48, 3, 1, 1), (32, 16, 4, 2, 1)])
def test_auto_uses_the_forward_fan_of_a_transposed_conv(cin, cout, k, stride, pad):
    """torch's fan_in of a transposed weight counts output channels; auto must keep Var(pre-activation)
    at He's 2 for ReLU like it does for an ordinary conv (border effects of the padding aside)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=pad), nn.ReLU())
    x = torch.randn(32, cin, 16, 16)
    plan = initlab.init_(m, "auto", seed=0)          # the analytic law (example_inputs would calibrate it to 1)
    assert "forward fan" in plan.rows[0].reason
    assert plan.verify(m) == []
    with torch.no_grad():
        z = m[0](x)[:, :, 2:-2, 2:-2]                        # away from the padded border
    assert 1.7 < float(z.var()) < 2.3


def test_auto_says_when_it_cannot_calibrate_for_want_of_a_batch():
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GELU(), nn.Conv2d(8, 8, 3), nn.GELU(), nn.Flatten(), nn.Linear(128, 10))
    p = initlab.plan(m, "auto")
    assert any("uncalibrated" in n and "example_inputs" in n for n in p.notes)
    with_batch = initlab.plan(m, "auto", example_inputs=torch.randn(16, 3, 8, 8))
    assert [r.action for r in with_batch.rows if r.param.endswith("weight")].count("calibrate") == 2
    assert not any("uncalibrated" in n for n in with_batch.notes)
    from initlab.policy import Auto
    assert not any("uncalibrated" in n for n in initlab.plan(m, Auto(calibrate=False)).notes)
