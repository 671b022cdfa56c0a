"""Every parameter of real models is planned (no "unknown module"), tied tensors once, verify passes."""
import pytest
import torch
import torch.nn as nn

import initlab

NAMES = ["gpt2", "bert", "vit", "encoder", "lstm", "mha", "timm-vit", "resnet", "convnext", "convnextv2", "swin", "llama",
         "gemma", "t5"]
POLICIES = ["auto", "gpt2", "zero-init-residual", "torch-default", "zero", "bert", "kaiming_normal"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_inputs", [False, True])
def test_plan_covers_every_parameter(models, name, with_inputs, ids, images):
    make, inputs, _ = models[name]
    torch.manual_seed(0)
    m = make()
    x = inputs(ids, images) if with_inputs else None
    for policy in POLICIES + (["lsuv", "fixup"] if with_inputs and name not in ("lstm", "mha") else []):
        p = initlab.plan(m, policy, example_inputs=x, seed=0)
        assert not [r.name for r in p.rows if r.action == "keep"], (policy, [r.reason for r in p.rows
                                                                           if r.action == "keep"][:2])
        assert not any("unknown" in r.rule or "unknown" in r.reason for r in p.rows)
        planned = {r.param for r in p.rows}
        assert planned == {n for n, _ in m.named_parameters()}, policy
    p.apply(m)
    assert p.verify(m) == []


def test_gpt2_conv1d_is_written_and_tied_head_planned_once(mk):
    m = mk.gpt2()
    before = m.transformer.h[0].attn.c_attn.weight.detach().clone()
    p = initlab.init_(m, "auto", seed=0)
    assert not torch.equal(before, m.transformer.h[0].attn.c_attn.weight)
    wte = p["transformer.wte.weight"]
    assert "'lm_head.weight'" in wte.reason and "planned and written once" in wte.reason
    assert not [r for r in p.rows if r.param == "lm_head.weight"]
    assert m.lm_head.weight is m.transformer.wte.weight
    # Conv1D rows see the (out, in) layout: c_fc of width D is (4D, D) with fan_in D
    row = p["transformer.h.0.mlp.c_fc.weight"]
    assert row.shape == (4 * mk.D, mk.D) and row.fan_in == mk.D and row.transposed
    assert p.verify(m) == []


def test_user_rule_on_conv1d_gets_the_right_fans(mk):
    Conv1D = pytest.importorskip("transformers.pytorch_utils").Conv1D
    m = Conv1D(512, 128)                                  # nf=512 outputs, nx=128 inputs: weight (128, 512)
    p = initlab.init_(m, [initlab.Rule("kaiming_normal", {"nonlinearity": "relu"}, type=Conv1D, param="weight")],
                      bias="zeros", seed=0)
    assert p["weight"].law["std"] == pytest.approx((2 / 128) ** 0.5)        # 0.125, not 0.0625
    assert float(m.weight.detach().std()) == pytest.approx(0.125, rel=0.03)


def test_storage_tie_between_distinct_parameters_is_one_row():
    import torch.nn as nn
    m = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 50, bias=False))
    m[1].weight = nn.Parameter(m[0].weight.data)          # another Parameter object on the same storage
    p = initlab.plan(m, "auto", seed=0)
    assert [r.param for r in p.rows] == ["0.weight"] and "'1.weight'" in p.rows[0].reason


def test_bert_decoder_bias_is_planned_as_the_linear_bias(mk):
    p = initlab.plan(mk.bert(), "auto", seed=0)
    row = p["cls.predictions.bias"]
    assert row.scheme == "zeros" and row.module_type == "Linear" and "decoder.bias" in row.reason


def test_tokens_positions_and_layer_scale(mk):
    """auto: tables in a transformer's stream at N(0, 1/d) like untied embeddings (auto_stream.table_decisions);
    the shared rule (every other model-level policy, and models without known blocks): timm/HF's 0.02."""
    m = mk.TimmViT()
    d = m.pos_embed.shape[-1]
    p = initlab.init_(m, "auto", seed=0)
    for name in ("cls_token", "pos_embed"):
        assert p[name].scheme == "normal" and p[name].law["std"] == pytest.approx(d ** -0.5), p[name].reason
        assert "N(0, 1/d)" in p[name].reason
    assert p["blocks.0.ls1.gamma"].scheme == "constant" and p["blocks.0.ls1.gamma"].kwargs["val"] == pytest.approx(1e-5)
    assert float(m.pos_embed.detach().std()) == pytest.approx(d ** -0.5, rel=0.2)
    p = initlab.plan(mk.TimmViT(), "torch_default")
    assert p["pos_embed"].scheme == "trunc_normal" and p["pos_embed"].law["std"] == pytest.approx(0.02)
    hf = mk.vit()
    p = initlab.plan(hf, "auto")
    for name in ("vit.embeddings.cls_token", "vit.embeddings.position_embeddings"):
        assert p[name].scheme == "normal" and p[name].law["std"] == pytest.approx(hf.config.hidden_size ** -0.5)
    bare = nn.Sequential(nn.Linear(4, 4))
    bare.pos_embed = nn.Parameter(torch.zeros(1, 3, 4))                    # no transformer blocks: the shared rule
    assert initlab.plan(bare, "auto")["pos_embed"].law["std"] == pytest.approx(0.02)


def test_frozen_backbone_stays_byte_identical(models, ids, images):
    for name in ("gpt2", "bert", "vit"):
        make, inputs, _ = models[name]
        m = make()
        backbone = {"gpt2": m.transformer if hasattr(m, "transformer") else None,
                    "bert": getattr(m, "bert", None), "vit": getattr(m, "vit", None)}[name]
        initlab.freeze(backbone)
        saved = {n: p.detach().clone() for n, p in backbone.named_parameters()}
        p = initlab.init_(m, "auto", example_inputs=inputs(ids, images), seed=0)
        assert all(torch.equal(saved[n], q) for n, q in backbone.named_parameters()), name
        assert p.verify(m) == []


def test_register_module_for_a_custom_dense_layer():
    import torch.nn as nn

    class XW(nn.Module):                                  # y = x @ W, W stored (in, out)
        def __init__(self, i, o):
            super().__init__()
            self.w_in, self.w_out = i, o
            self.weight = nn.Parameter(torch.zeros(i, o))

        def forward(self, x):
            return x @ self.weight

    m = nn.Sequential(XW(64, 256), nn.ReLU(), XW(256, 10))
    p = initlab.plan(m, "auto")
    assert p["0.weight"].action == "keep" and "register_module" in p["0.weight"].reason
    initlab.policy.register_module(XW, "linear", fan="in_out")
    try:
        p = initlab.init_(m, "auto", seed=0)
        assert p["0.weight"].scheme == "kaiming_normal" and p["0.weight"].fan_in == 64
        assert float(m[0].weight.detach().std()) == pytest.approx((2 / 64) ** 0.5, rel=0.05)
    finally:
        initlab.policy.unregister_module(XW)
    with pytest.raises(initlab.InitError, match="family"):
        initlab.policy.register_module(XW, "dense")


def test_cnns_people_bring_keep_layer_scale_and_scale_their_branch_ends(models, ids, images):
    """HF ConvNeXt: the layer scale keeps its constructor's 1e-6 and the pointwise conv ending each branch gets
    the residual rule's 1/sqrt(L); HF ResNet: the BatchNorm ending each basic block's branch gets weight
    1/sqrt(L), the other norms 1, every conv a fan_in law; both verify after apply."""
    for name in ("convnext", "resnet"):
        make, inputs, _ = models[name]
        torch.manual_seed(0)
        m = make()
        p = initlab.init_(m, "auto", example_inputs=inputs(ids, images), seed=0)
        assert p.verify(m) == [], name
        params = dict(m.named_parameters())
        if name == "convnext":
            scales = [n for n in params if n.endswith("layer_scale_parameter")]
            assert len(scales) == 2
            for n in scales:
                assert torch.all(params[n] == 1e-6), n
            ends = [r for r in p.rows if r.name.endswith("pwconv2.weight")]
            assert len(ends) == 2 and all("residual branch" in r.reason and "sqrt(2)" in r.reason for r in ends)
        else:
            ends = [r for r in p.rows if r.name.endswith("layer.1.normalization.weight")]
            assert len(ends) == 2
            for r in ends:
                assert torch.allclose(params[r.param], torch.full_like(params[r.param], 2 ** -0.5)), r.reason
            other = [n for n in params if n.endswith("layer.0.normalization.weight")]
            assert other and all(torch.all(params[n] == 1) for n in other)
            convs = [r for r in p.rows if r.module_type == "Conv2d" and r.name.endswith(".weight")]
            assert convs and all(r.scheme in ("lecun_normal", "kaiming_normal", "variance_scaling") for r in convs)


def test_relative_position_bias_tables_and_grn_are_known(models):
    """Swin's relative position bias tables: trunc_normal(0.02) (the authors' code, timm) in every policy;
    ConvNeXt V2's GRN gamma and beta: 0 (the block starts without it)."""
    for policy in ("auto", "kaiming_normal", "torch_default"):
        m = models["swin"][0]()
        p = initlab.init_(m, policy, seed=0)
        tables = [r for r in p.rows if r.name.endswith("relative_position_bias_table")]
        assert len(tables) == 2 and all(r.scheme == "trunc_normal" and r.kwargs["std"] == 0.02 for r in tables)
        for r in tables:
            t = dict(m.named_parameters())[r.param].detach()
            assert 0.01 < float(t.std()) < 0.03 and float(t.abs().max()) <= 2.0
        m = models["convnextv2"][0]()
        with torch.no_grad():
            for n, q in m.named_parameters():
                if ".grn." in n:
                    q.fill_(0.5)                       # as if trained: a policy must start them at 0 again
        p = initlab.init_(m, policy, seed=0)
        grn = [r for r in p.rows if ".grn." in r.name]
        assert len(grn) == 4 and all(r.scheme == "zeros" for r in grn)
        assert all(torch.all(q == 0) for n, q in m.named_parameters() if ".grn." in n)
