"""diagnose on real models: dict / tuple-with-None inputs, loss functions, the output-scale verdict, fixes
from auto's rule table, per-parameter lookup, frozen prefixes, meta-device models."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import initlab
from initlab.diagnostics.fixes import recommend
from initlab.policy.activations import activation_of_module
from initlab.policy.auto import choose
from initlab.policy.graph import Follow


def test_dict_inputs_and_blown_embeddings(mk, ids):
    m = mk.gpt2()
    initlab.init_(m, "auto", seed=0)
    d = initlab.diagnose(m, {"input_ids": ids}, ids)
    assert d.healthy, d.summary()
    assert d.output["classes"] == mk.V and d.output["tied_to"] == "transformer.wte.weight"
    with torch.no_grad():
        m.transformer.wte.weight.normal_(0, 1)             # blow the (tied) embedding up to torch's N(0, 1)
    d = initlab.diagnose(m, {"input_ids": ids})
    v = d.verdict("overconfident")
    assert v is not None and "overconfident at init" in v.message
    assert "transformer.wte.weight" in v.fix and "'auto'" in v.fix
    assert d.output["loss_ratio"] > 1.5


def test_tuple_with_none_and_loss_fn(mk, ids):
    m = mk.bert()
    initlab.init_(m, "auto", seed=0)
    d = initlab.diagnose(m, (ids, None), loss_fn=lambda z: z.logsumexp(-1).mean())
    assert "loss" in d.settings["backward"] and d.healthy
    with pytest.raises(initlab.InitError, match="inputs"):
        initlab.diagnose(m, (None, None))
    with pytest.raises(initlab.InitError, match="inputs"):
        initlab.diagnose(m, {})


def test_lstm_fix_names_the_recurrent_weights(mk, ids):
    m = mk.LSTMLM()
    initlab.init_(m, "auto", seed=0)
    with torch.no_grad():
        for n, p in m.rnn.named_parameters():
            if "weight" in n:
                p.normal_(0, 3)
    d = initlab.diagnose(m, ids, ids)
    bad = [v for v in d.verdicts if v.kind == "exploding"]
    assert bad and "rnn.weight_ih_l0" in bad[0].fix and "rnn.weight_hh_l0" in bad[0].fix
    assert "emb.weight" not in bad[0].fix and "initlab.init_(model.rnn, 'auto')" in bad[0].fix


def test_recommend_calls_what_auto_calls():
    for act in (nn.ReLU(), nn.GELU(), nn.SiLU(), nn.Tanh(), nn.LeakyReLU(0.2)):
        a = activation_of_module(act)
        scheme, kwargs, _, _ = choose(Follow("activation", a.text, a))
        from initlab.schemes import get_scheme
        want = get_scheme(scheme).describe((64, 32), **kwargs)["std"]
        fam = {"ReLU": "relu", "GELU": "relu_like", "SiLU": "relu_like", "Tanh": "tanh", "LeakyReLU": "leaky_relu"}
        _, _, std = recommend(fam[type(act).__name__], 32, 64, getattr(act, "negative_slope", 0.01), act)
        assert std == pytest.approx(want)


def test_gelu_net_advice_is_autos_not_relu():
    torch.manual_seed(0)
    m = nn.Sequential(*[x for _ in range(30) for x in (nn.Linear(64, 64), nn.GELU())], nn.Linear(64, 10))
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 1)
    d = initlab.diagnose(m, torch.randn(64, 64))
    v = d.verdict("exploding", "forward")
    assert v is not None and "ReLU-like" in v.fix and "gain 1.5" in v.fix and "nonlinearity='relu'" not in v.fix


def test_frozen_first_layer_is_not_called_symmetric():
    wrong = 0
    for seed in range(25):
        torch.manual_seed(seed)
        m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        x = torch.randn(4, 8)
        before = initlab.diagnose(m, x).healthy
        m[0].requires_grad_(False)
        d = initlab.diagnose(m, x)
        wrong += before and "symmetric" in d.kinds
        assert all(p.grad is None for p in m.parameters())
    assert wrong == 0


def test_meta_device_plan_apply_verify_then_materialize():
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))
    for policy in ("kaiming_normal", "gpt2", "torch-default", "zero", "bert"):
        p = initlab.plan(m, policy, seed=0)
        p.apply(m)
        assert p.verify(m) == []
    with pytest.warns(UserWarning, match="meta device"):
        p = initlab.init_(m, "auto", seed=0)
    with pytest.raises(initlab.InitError, match="meta"):
        initlab.diagnose(m, torch.randn(4, 16))
    m.to_empty(device="cpu")
    p.apply(m)                                                # the same plan, now with values to measure
    assert p.verify(m) == [] and all(torch.isfinite(q).all() for q in m.parameters())
    with torch.device("meta"):
        g = torch.nn.LSTM(4, 8)
    initlab.init_(g, "auto")


def test_meta_gpt2(mk):
    with torch.device("meta"):
        m = mk.gpt2()
    p = initlab.init_(m, "gpt2")
    assert p.verify(m) == [] and len(p.rows) == len(list(m.parameters()))


def test_output_scale_only_for_class_outputs():
    m = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    with torch.no_grad():
        m[2].weight.mul_(100)
    x, y = torch.randn(64, 8), torch.randn(64, 3)
    assert "overconfident" not in initlab.diagnose(m, x, y).kinds            # regression targets: not logits
    d = initlab.diagnose(m, x, torch.randint(0, 3, (64,)), loss_fn=F.cross_entropy)
    assert "overconfident" in d.kinds and "lecun_normal" in d.verdict("overconfident").fix
