import json
import subprocess
import sys

import torch

import initlab
from initlab.experiments.reproduce import backprop


def test_hand_chain_rule_equals_autograd():
    r = initlab.reproduce("backprop", budget="quick")
    assert r.ok
    assert r.data["max_abs_difference"] <= 1e-6
    # independent check: a torch nn version of the same net, gradients by autograd
    w = backprop.W0
    lin1 = torch.nn.Linear(2, 2, bias=False).double()
    lin2 = torch.nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[w["w1"], w["w2"]], [w["w3"], w["w4"]]]))
        lin2.weight.copy_(torch.tensor([[w["w5"], w["w6"]]]))
    x = torch.tensor([[backprop.X1, backprop.X2]], dtype=torch.float64)
    loss = 0.5 * (backprop.Y - lin2(lin1(x))) ** 2
    loss.sum().backward()
    loss = loss.detach()
    g = r.data["gradients"]
    assert abs(loss.item() - r.data["loss_before"]) <= 1e-6
    for k, v in zip(["w1", "w2", "w3", "w4"], lin1.weight.grad.flatten().tolist()):
        assert abs(g[k] - v) <= 1e-6
    for k, v in zip(["w5", "w6"], lin2.weight.grad.flatten().tolist()):
        assert abs(g[k] - v) <= 1e-6
    for k in backprop.W0:
        assert abs(r.data["updated_weights"][k] - (w[k] - 0.1 * g[k])) <= 1e-12
    assert r.data["loss_after"] < r.data["loss_before"]
    assert r.plots and r.plots[0].endswith("gradients_and_weights.png")


def test_json_has_the_keys():
    out = subprocess.run([sys.executable, "-m", "initlab.cli.main", "reproduce", "backprop", "--json"],
                         capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    assert {"loss_before", "loss_after", "gradients", "updated_weights"} <= set(d)
    assert set(d["gradients"]) == set(d["updated_weights"]) == {f"w{i}" for i in range(1, 7)}
    assert d["loss_after"] < d["loss_before"]


def test_published_typo_is_reported_not_copied():
    r = initlab.reproduce("backprop")
    w2 = r.figure("updated weight", "w2")
    assert w2.published != w2.mean            # the source's w2 = 0.895 is a typo
    assert any("w2" in n and "typo" in n for n in r.notes)
