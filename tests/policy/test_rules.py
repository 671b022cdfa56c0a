"""Rule lists: selectors, first match wins, unmatched parameters kept, rules matching nothing are errors."""
import pytest
import torch
import torch.nn as nn

import initlab
from initlab import InitError, Rule


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 10)
        self.norm = nn.LayerNorm(64)


def test_first_match_wins():
    m = Net()
    p = initlab.init_(m, [Rule("zeros", name="fc1.weight"), Rule("ones", type=nn.Linear), Rule("zeros")], seed=0)
    assert torch.all(m.fc1.weight == 0)               # rule 0, though rule 1 also matches
    assert torch.all(m.fc2.weight == 1) and torch.all(m.fc1.bias == 1)
    assert torch.all(m.conv.weight == 0)               # only the catch-all matches
    assert p["fc1.weight"].rule.startswith("rule 0") and p["fc2.weight"].rule.startswith("rule 1")


def test_selectors_type_name_param_and_regex():
    m = Net()
    p = initlab.plan(m, [Rule("kaiming_normal", {"nonlinearity": "relu"}, type=(nn.Conv2d,), param="weight"),
                         Rule("constant", {"val": 0.5}, name="re:^fc\\d\\.bias$"),
                         Rule("orthogonal", name="fc*.weight")])
    assert p["conv.weight"].scheme == "kaiming_normal" and p["conv.weight"].kwargs["nonlinearity"] == "relu"
    assert p["fc1.bias"].scheme == p["fc2.bias"].scheme == "constant"
    assert p["fc1.weight"].scheme == p["fc2.weight"].scheme == "orthogonal"


def test_unmatched_parameters_keep_their_values_and_say_so():
    m = Net()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    p = initlab.init_(m, [Rule("zeros", name="fc2.*")])
    for k in ("conv.weight", "fc1.weight", "norm.weight"):
        assert torch.equal(m.state_dict()[k], before[k])
        assert p[k].action == "keep" and "no rule" in p[k].reason
    assert torch.all(m.fc2.weight == 0)
    assert p.verify(m) == []


def test_keep_rule():
    m = Net()
    w = m.fc1.weight.detach().clone()
    initlab.init_(m, [Rule("keep", name="fc1.weight"), Rule("zeros", type=nn.Linear)])
    assert torch.equal(m.fc1.weight, w) and torch.all(m.fc2.weight == 0)


def test_rule_matching_nothing_lists_nearest_names():
    with pytest.raises(InitError, match=r"policy\[1\].*matches no parameter.*'fc1.weight'"):
        initlab.plan(Net(), [Rule("zeros", name="fc2.weight"), Rule("zeros", name="fc_1.weight")])
    with pytest.raises(InitError, match=r"module types with parameters.*Conv2d.*Linear"):
        initlab.plan(Net(), [Rule("zeros", type=nn.LSTM)])


def test_bad_rules():
    with pytest.raises(InitError, match=r"name='re:fc\(\['.*valid regular expression"):
        Rule("zeros", name="re:fc([")
    with pytest.raises(InitError, match=r"scheme='kaiming_nrmal'.*Did you mean 'kaiming_normal'"):
        Rule("kaiming_nrmal")
    with pytest.raises(InitError, match="argument"):
        Rule("kaiming_normal", {"slope": 0.1})
    with pytest.raises(InitError, match="type"):
        Rule("zeros", type=int)
    with pytest.raises(InitError, match=r"policy\[0\]"):
        initlab.plan(Net(), [42])


def test_rule_on_mha_in_proj_uses_fans_of_each_block():
    m = nn.MultiheadAttention(16, 4)
    p = initlab.plan(m, [Rule("xavier_normal", type=nn.MultiheadAttention, param="in_proj_weight")])
    rows = [p[f"in_proj_weight[{x}]"] for x in "qkv"]
    assert all((r.shape, r.fan_in, r.fan_out) == ((16, 16), 16, 16) for r in rows)
    assert rows[0].law["std"] == pytest.approx((2 / 32) ** 0.5)


def test_tuple_and_string_items():
    m = nn.Linear(4, 4)
    p = initlab.plan(m, [("constant", {"val": 0.3})])
    assert p["weight"].scheme == "constant" and p["bias"].scheme == "constant"


def test_bias_option_with_rules_applies_to_unmatched_biases_only():
    m = Net()
    p = initlab.init_(m, [Rule("orthogonal", type=nn.Linear, param="weight"), Rule("ones", name="fc2.bias")],
                      bias=0.25)
    assert torch.all(m.fc1.bias == 0.25) and torch.all(m.fc2.bias == 1) and torch.all(m.conv.bias == 0.25)
    assert p["conv.weight"].action == "keep"


def test_a_rule_shadowed_by_an_earlier_one_says_so():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    rules = [Rule("xavier_uniform", type=nn.Linear, param="weight"), Rule("zeros", name="2.weight")]
    with pytest.raises(InitError, match=r"policy\[1\].*earlier policy\[0\].*'2\.weight'.*put policy\[1\] before"):
        initlab.plan(m, rules)
    p = initlab.plan(m, rules[::-1])                           # the specific rule first: both decide something
    assert p["2.weight"].scheme == "zeros" and p["0.weight"].scheme == "xavier_uniform"
