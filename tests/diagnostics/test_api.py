"""The numbers diagnose reports, checked against direct computations; JSON, table, plot, losses, bad inputs."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab
from initlab import InitError
from initlab.diagnostics import Thresholds, diagnose


@pytest.fixture
def small():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
    x = torch.randn(200, 12) * 2 + 0.5
    return model, x


def test_layer_statistics_match_direct_computation(small):
    model, x = small
    d = diagnose(model, x)
    assert [l.name for l in d.layers] == ["0", "1", "2", "3", "4"]
    assert [l.depth for l in d.layers] == [1, 1, 2, 2, 3]
    assert [l.is_output for l in d.layers] == [False, False, False, False, True]
    outs = []
    h = x.requires_grad_(False)
    for m in model:
        h = m(h)
        outs.append(h)
    grads = torch.autograd.grad(outs[-1], outs, grad_outputs=torch.ones_like(outs[-1]))
    sig_in = x.var(0, unbiased=False).mean().sqrt().item()
    for l, o, g in zip(d.layers, outs, grads):
        o = o.detach()
        assert l.mean == pytest.approx(o.mean().item(), rel=1e-4, abs=1e-6)
        assert l.std == pytest.approx(o.std(unbiased=False).item(), rel=1e-4)
        assert (l.min, l.max) == (pytest.approx(o.min().item()), pytest.approx(o.max().item()))
        sig = o.var(0, unbiased=False).mean().sqrt().item()
        assert l.signal_std == pytest.approx(sig, rel=1e-4)
        assert l.ratio == pytest.approx(sig / sig_in, rel=1e-4)
        assert l.grad_rms == pytest.approx(g.pow(2).mean().sqrt().item(), rel=1e-4)
        assert l.units == o.shape[1] and l.values_per_unit == 200
    tanh, relu = d.layers[1], d.layers[3]
    assert tanh.saturated == pytest.approx((outs[1].abs() > 0.99).float().mean().item())
    assert relu.dead == pytest.approx((outs[3].amax(0) <= 0).float().mean().item())
    assert math.isnan(tanh.dead) and math.isnan(relu.saturated)
    ref = d.layers[3].grad_rms          # last hidden layer
    assert d.layers[0].grad_ratio == pytest.approx(d.layers[0].grad_rms / ref)


def test_parameter_statistics_match_autograd(small):
    model, x = small
    d = diagnose(model, x)
    grads = torch.autograd.grad(model(x).sum(), list(model.parameters()))
    for (name, p), g in zip(model.named_parameters(), grads):
        s = d.param(name)
        assert s.shape == tuple(p.shape)
        assert s.mean == pytest.approx(p.mean().item(), abs=1e-6)
        assert s.std == pytest.approx(p.std(unbiased=False).item(), rel=1e-4)
        assert s.grad_std == pytest.approx(g.std(unbiased=False).item(), rel=1e-3, abs=1e-7)
        assert s.grad_to_weight == pytest.approx((g.norm() / p.norm()).item(), rel=1e-4)
    assert d.param("2.weight").fan_in == 32 and d.param("2.bias").fan_in is None


def test_identical_units_fraction():
    """Units 0-9 of a 16-unit layer are copies (same weight rows); the rest are distinct."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    with torch.no_grad():
        model[0].weight[1:10] = model[0].weight[0]
        model[0].bias[1:10] = model[0].bias[0]
        model[2].weight[:, 1:10] = model[2].weight[:, :1]   # ... and equal outgoing weights: equal gradients
    d = diagnose(model, torch.randn(64, 8))
    lin, act = d.layers[0], d.layers[1]
    assert lin.identical == pytest.approx(10 / 16) and lin.distinct_units == 7
    assert act.identical == pytest.approx(10 / 16)
    v = d.verdict("symmetric")
    assert v is not None and "0.weight has 7 distinct rows out of 16" in v.fix
    # with different outgoing weights the copies get different gradients: symmetry breaks in one step
    with torch.no_grad():
        model[2].weight.normal_()
    d = diagnose(model, torch.randn(64, 8))
    assert d.layers[0].identical == 0 and "symmetric" not in d.kinds


def test_conv_units_are_channels(make):
    model, x = make("cnn")
    d = diagnose(model, x)
    convs = [l for l in d.layers if l.type == "Conv2d"]
    assert [l.units for l in convs] == [16, 32]
    assert convs[0].values_per_unit == 256 * 28 * 28
    assert d.layers[-1].type == "Linear" and d.layers[-1].units == 10


def test_to_dict_is_strict_json(make, schemes):
    d = diagnose(*make("deep-mlp:20:256:relu", schemes["uniform01"]))   # has inf and nan inside
    text = json.dumps(d.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["healthy"] is False and "exploding" in back["kinds"]
    assert len(back["layers"]) == len(d.layers) and len(back["params"]) == len(d.params)
    assert back["thresholds"]["vanishing"] == 1e-2
    v = back["verdicts"][0]
    assert {"kind", "direction", "first", "last", "message", "fix", "evidence", "text"} <= set(v)
    assert back["layers"][-1]["max"] is None        # inf becomes null


def test_table_and_summary(make):
    d = diagnose(*make("deep-mlp:50:256:tanh"))
    t = d.table()
    assert "sig/in" in t and "grad/last" in t and "parameter" in t
    assert t.count("\n") > 101                      # one row per layer and parameter
    assert "[vanishing forward] layers" in t and "fix:" in t
    assert str(d) == d.summary() and d.summary().startswith("diagnosis: 2 problems")


def test_plot_writes_a_png(make, tmp_path):
    d = diagnose(*make("deep-mlp:50:256:tanh"))
    path = d.plot(tmp_path / "diag.png")
    data = (tmp_path / "diag.png").read_bytes()
    assert path == tmp_path / "diag.png" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    with pytest.raises(InitError, match="path"):
        d.plot(None)


def test_loss_and_targets(small):
    model, x = small
    y = torch.randint(0, 5, (200,))
    d = diagnose(model, x, y)                         # integer targets -> cross-entropy
    assert d.settings["backward"] == "gradient of the loss (cross_entropy)"
    out = [None]
    h = model[3](model[2](model[1](model[0](x))))
    g = torch.autograd.grad(F.cross_entropy(model[4](h), y), h)[0]
    assert d.layers[3].grad_rms == pytest.approx(g.pow(2).mean().sqrt().item(), rel=1e-4)
    d2 = diagnose(model, x, torch.randn(200, 5), loss_fn=F.mse_loss)
    assert d2.settings["backward"] == "gradient of the loss (mse_loss)"
    d3 = diagnose(model, x, loss_fn=lambda o: o.pow(2).mean())
    assert "gradient of the loss" in d3.settings["backward"]
    assert out == [None]
    with pytest.raises(InitError, match="loss_fn"):
        diagnose(model, x, y, loss_fn=lambda o, t: o)  # not a scalar


@pytest.mark.parametrize("kwargs,match", [
    (dict(model="mlp"), "model"),
    (dict(inputs=torch.randn(1, 12)), "inputs.shape"),
    (dict(inputs=torch.ones(8, 12)), "identical samples"),
    (dict(inputs=[1, 2]), "inputs"),
    (dict(targets=[1, 2]), "targets"),
    (dict(loss_fn="mse"), "loss_fn"),
    (dict(train="yes"), "train"),
    (dict(thresholds={"dead": 0.5}), "thresholds"),
])
def test_bad_arguments_are_init_errors(small, kwargs, match):
    model, x = small
    args = dict(model=model, inputs=x)
    args.update(kwargs)
    with pytest.raises(InitError, match=match) as e:
        diagnose(**args)
    assert "expected" in str(e.value) and "Fix:" in str(e.value)


def test_model_without_recordable_layers():
    class Fn(nn.Module):
        def forward(self, x):
            return torch.relu(x)
    with pytest.raises(InitError, match="activation modules"):
        diagnose(Fn(), torch.randn(4, 3))


@pytest.mark.parametrize("bad", [dict(vanishing=2.0), dict(exploding=0.5), dict(dead=0), dict(min_samples_dead=0),
                                 dict(grad_exploding=True)])
def test_threshold_validation(bad):
    with pytest.raises(InitError):
        Thresholds(**bad)


def test_exported_at_top_level():
    assert initlab.diagnose is diagnose
    assert "diagnose" in initlab.__all__ and "Diagnosis" in initlab.__all__


def test_copies_are_found_through_float_rounding_but_near_copies_are_not():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    with torch.no_grad():
        w0, b0 = model[0].weight[0].clone(), model[0].bias[0].clone()
        model[0].weight[1:6] = w0 * (1 + 1e-7 * torch.arange(1, 6)[:, None])    # last-bit differences
        model[0].bias[1:6] = b0
        model[0].weight[6] = w0 * 1.01                                           # 1 % off: a different unit
        model[0].bias[6] = b0
        model[2].weight[:, 1:7] = model[2].weight[:, :1]
    d = diagnose(model, torch.randn(64, 8))
    assert d.layers[0].identical == pytest.approx(6 / 16) and d.layers[0].distinct_units == 11


def test_sequence_models_units_are_features():
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 1)
    d = diagnose(enc, torch.randn(16, 10, 32))
    units = {l.name: l.units for l in d.layers}
    assert units["layers.0.self_attn"] == 32 and units["layers.0.linear1"] == 64 and units["layers.0.norm2"] == 32
    assert d.layers[0].values_per_unit == 160 and d.healthy

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.head = nn.Embedding(50, 16), nn.LSTM(16, 24, batch_first=True), nn.Linear(24, 3)

        def forward(self, i):
            return self.head(self.lstm(self.emb(i))[0][:, -1])
    d = diagnose(Tokens(), torch.randint(0, 50, (32, 6)))      # integer inputs: ratios relative to the embedding
    assert [(l.name, l.units) for l in d.layers] == [("emb", 16), ("lstm", 24), ("head", 3)]
    assert d.layers[0].ratio == 1.0 and "layer emb" in d.settings["ratios_relative_to"]
