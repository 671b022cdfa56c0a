"""auto's rule for weights only a norm reads (auto_scale_free.py) and the graph property it rests on
(graph.Topology.norm_only)."""
from __future__ import annotations

import types

import pytest
import torch
import torch.nn as nn

import initlab
from initlab.policy.graph import analyze
from initlab.policy.trace import from_registration, topology
from tests import _hf_tiny as hf_tiny


class ConvBN(nn.Module):
    """conv -> BN -> relu, then a stem whose output a norm and a residual add both read, then a head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.stem = nn.Linear(8, 16)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 16)
        self.both = nn.Linear(16, 16)         # read by a norm and by an activation
        self.norm2 = nn.LayerNorm(16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x))).mean((2, 3))
        s = self.stem(h)
        s = s + self.fc(self.norm(s))
        b = self.both(s)
        return self.head(self.norm2(b) + torch.tanh(b))


def x():
    return torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(0))


def test_norm_only_is_every_path_into_a_norm_and_nothing_else():
    m = ConvBN()
    for ex in (None, x()):                           # fx, and the hooked forward pass
        topo = topology(m, ex)
        assert topo.method == "fx"
        assert topo.norm_only == {"conv"}, topo.norm_only   # stem: also the residual add; both: also tanh
    # a chain guessed from registration order says nothing about other readers: no claim is made from it
    nodes = from_registration(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
    assert analyze(nodes, "fx").norm_only == {"0"}
    assert analyze(nodes, "registration order").norm_only == set()


def test_a_declared_init_std_sets_the_weights_only_a_norm_reads():
    m = ConvBN()
    m.config = types.SimpleNamespace(initializer_range=0.05)
    p = initlab.plan(m, "auto", example_inputs=x(), seed=0)
    row = p["conv.weight"]
    assert row.scheme == "normal" and row.kwargs == {"mean": 0.0, "std": 0.05}
    assert "initializer_range" in row.reason and "only norms read its output (bn)" in row.reason
    for name in ("stem.weight", "fc.weight", "both.weight", "head.weight"):   # the other rules, unchanged
        assert p[name].scheme != "normal" or p[name].kwargs.get("std") != 0.05, name
    initlab.init_(m, "auto", example_inputs=x(), seed=0)
    assert float(m.conv.weight.detach().std()) == pytest.approx(0.05, rel=0.15)
    assert torch.all(m.conv.bias == 0)


def test_without_a_declaration_the_fan_rule_stays():
    m = ConvBN()
    row = initlab.plan(m, "auto", example_inputs=x(), seed=0)["conv.weight"]
    assert row.scheme == "lecun_normal" and "a norm layer" in row.reason
    for bad in (True, float("nan"), float("inf"), 0.0, -0.02, "0.02"):      # not a usable std: ignored
        m.config = types.SimpleNamespace(initializer_range=bad)
        assert initlab.plan(m, "auto", example_inputs=x(), seed=0)["conv.weight"].scheme == "lecun_normal", bad


def test_frozen_weights_are_kept():
    m = ConvBN()
    m.config = types.SimpleNamespace(initializer_range=0.05)
    initlab.freeze(m.conv)
    before = m.conv.weight.detach().clone()
    p = initlab.init_(m, "auto", example_inputs=x(), seed=0)
    assert p["conv.weight"].action == "keep" and torch.equal(m.conv.weight, before)


def test_hugging_face_convnext_and_resnet():
    """ConvNeXt declares 0.02: its patch embedding and depthwise convs (read only by LayerNorms) get it, the
    pointwise convs (read by GELU, or ending a branch) keep the fan rules; ResNet declares nothing: unchanged."""
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    m = hf_tiny.convnext()
    p = initlab.plan(m, "auto", example_inputs={"pixel_values": images}, seed=0)
    scale_free = [r for r in p.rows if r.name.endswith(("patch_embeddings.weight", "dwconv.weight"))]
    assert len(scale_free) == 3
    assert all(r.scheme == "normal" and r.kwargs["std"] == m.config.initializer_range for r in scale_free)
    assert all(p[r.name].scheme != "normal" for r in p.rows if r.name.endswith(("pwconv1.weight", "pwconv2.weight")))
    torch.manual_seed(0)
    r = hf_tiny.resnet()
    p = initlab.plan(r, "auto", example_inputs={"pixel_values": images}, seed=0)
    convs = [row for row in p.rows if row.name.endswith("convolution.weight")]
    assert convs and all(row.scheme == "lecun_normal" for row in convs)


def test_scale_free_fan_keeps_the_fan_rule_and_bad_values_are_named():
    m = ConvBN()
    m.config = types.SimpleNamespace(initializer_range=0.05)
    row = initlab.plan(m, initlab.policy.auto(scale_free="fan"), example_inputs=x(), seed=0)["conv.weight"]
    assert row.scheme == "lecun_normal"
    with pytest.raises(initlab.InitError, match=r"scale_free='x'.*'declared', 'fan'"):
        initlab.policy.auto(scale_free="x")
    with pytest.raises(initlab.InitError, match="scale_free=3"):
        initlab.policy.auto(scale_free=3)
