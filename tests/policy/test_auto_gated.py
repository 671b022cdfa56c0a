"""Llama-style decoders (gated MLP, RMSNorm), T5 (attention without 1/sqrt(d_k)) and norms that scale by
(1 + weight) (Gemma).

Without example_inputs torch.fx cannot trace a Hugging Face decoder and module registration order puts the
MLP's activation after `down_proj`, so the block table (policy/blocks.py) must supply the structure; a norm
whose identity is weight 0 must be planned at 0 by every policy (weight 1 would double its output)."""
import math

import pytest
import torch
import torch.nn as nn

import initlab
from initlab.policy.families import norm_offset
from tests._hf_tiny import gemma, gemma2, llama, t5

LAYERS, D, VOCAB = 2, 16, 40


def rows(plan):
    return {r.name: r for r in plan.rows}


def ids(n=4, t=6):
    return torch.randint(0, VOCAB, (n, t), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("inputs", [False, True], ids=["no inputs", "example_inputs"])
def test_llama_block_structure(inputs):
    m = llama(LAYERS, D, VOCAB, 16)
    plan = initlab.plan(m, "auto", example_inputs=ids() if inputs else None)
    r = rows(plan)
    L = 2 * LAYERS                                               # an attention and an MLP branch per layer
    assert any("HF Llama-style decoder layer" in n for n in plan.notes)
    for i in range(LAYERS):
        pre = f"model.layers.{i}."
        gate, up, down = (r[f"{pre}mlp.{k}_proj.weight"] for k in ("gate", "up", "down"))
        assert "silu" in gate.reason and "silu" not in down.reason.split(";")[0]
        assert "gated product" in up.reason and up.scheme == "lecun_normal"
        for end in (r[f"{pre}self_attn.o_proj.weight"], down):
            assert "residual branch" in end.reason and end.kwargs["scale"] == pytest.approx(1 / L)
        for k in ("q", "k", "v"):                                # rotary positions: gain 1/sqrt(2)
            row = r[f"{pre}self_attn.{k}_proj.weight"]
            assert row.scheme == "variance_scaling" and row.kwargs["scale"] == pytest.approx(0.5)
            assert row.kwargs["mode"] == "fan_in" and row.kwargs["distribution"] == "normal"
            assert "causal attention with rotary positions" in row.reason and "variance 1/4" in row.reason
    # a model with known transformer blocks: untied tables N(0, 1/d), the logits layer at gain sqrt(0.1 ln C)
    assert r["model.embed_tokens.weight"].kwargs["std"] == pytest.approx(1 / math.sqrt(D))
    assert r["lm_head.weight"].kwargs["scale"] == pytest.approx(0.1 * math.log(VOCAB))


def test_llama_branch_ends_agree_with_and_without_inputs():
    m = llama(LAYERS, D, VOCAB, 16)
    a, b = rows(initlab.plan(m, "auto")), rows(initlab.plan(m, "auto", example_inputs=ids()))
    for name in a:
        if name.endswith(("o_proj.weight", "down_proj.weight", "up_proj.weight")):
            assert (a[name].scheme, a[name].kwargs) == (b[name].scheme, b[name].kwargs), name


@pytest.mark.parametrize("policy", ["auto", "torch_default", "gpt2"])
def test_gemma_norms_start_at_zero(policy):
    m = gemma(LAYERS, D, VOCAB, 16)
    norms = [n for n, p in m.named_parameters() if "norm" in n]
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "norm" in n:
                p.fill_(0.3)                                     # as if trained: the plan must restore 0
    r = rows(initlab.plan(m, policy))
    for n in norms:
        assert r[n].scheme == "zeros" and "1 + weight" in r[n].reason, (policy, n, r[n].reason)
    initlab.init_(m, policy, seed=0)
    params = dict(m.named_parameters())
    assert all(float(params[n].detach().abs().max()) == 0.0 for n in norms)
    x = torch.randn(3, 5, D, generator=torch.Generator().manual_seed(1))
    y = m.model.norm(x)                                           # weight 0 is the identity scale: unit rms rows
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(3, 5), atol=1e-3)


class ScaleRMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.full((d,), 0.7))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class OffsetRMSNorm(ScaleRMSNorm):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (1 + self.weight)


class ChannelsFirstLayerNorm(ScaleRMSNorm):        # refuses (N, T, d): normalizes dim 1 of (N, d, H, W)
    def forward(self, x):
        assert x.dim() == 4
        x = (x - x.mean(1, keepdim=True)) / (x.var(1, keepdim=True, unbiased=False) + 1e-6).sqrt()
        return x * (1 + self.weight)[None, :, None, None]


class RefusingLayerNorm(ScaleRMSNorm):
    def forward(self, x):
        raise RuntimeError("needs a mask")


def test_norm_offset_is_measured_not_named():
    state = torch.random.get_rng_state()
    assert norm_offset(nn.LayerNorm(8)) == 0.0
    assert norm_offset(ScaleRMSNorm(8)) == 0.0
    assert norm_offset(RefusingLayerNorm(8)) == 0.0                # cannot run it: scale by weight, as torch
    off = OffsetRMSNorm(8)
    assert norm_offset(off) == 1.0
    assert norm_offset(ChannelsFirstLayerNorm(8)) == 1.0
    assert torch.equal(off.weight, torch.full((8,), 0.7))          # the probe writes nothing
    assert torch.equal(torch.random.get_rng_state(), state)        # nor draws from the global generator


class Res(nn.Module):
    """x + norm(fc2(relu(fc1(x)))) twice: a norm ends each branch (Gemma-2 style post-branch norm)."""

    def __init__(self, norm, d=8):
        super().__init__()
        self.fc1 = nn.ModuleList(nn.Linear(d, d) for _ in range(2))
        self.fc2 = nn.ModuleList(nn.Linear(d, d) for _ in range(2))
        self.post = nn.ModuleList(norm(d) for _ in range(2))
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        for f1, f2, n in zip(self.fc1, self.fc2, self.post):
            x = x + n(f2(torch.relu(f1(x))))
        return self.head(x)


@pytest.mark.parametrize("residual, gain", [("scale", 1 / math.sqrt(2)), ("zero", 0.0)])
def test_branch_end_norm_gain_respects_the_offset(residual, gain):
    for norm, off in ((ScaleRMSNorm, 0.0), (OffsetRMSNorm, 1.0)):
        m = Res(norm)
        r = rows(initlab.plan(m, initlab.policy.auto(residual=residual)))
        d = r["post.0.weight"]
        val = 0.0 if d.scheme == "zeros" else d.kwargs["val"]
        assert val == pytest.approx(gain - off), (norm.__name__, residual, d.reason)
        initlab.init_(m, initlab.policy.auto(residual=residual), seed=0)
        x = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
        rms = m.post[0](x).pow(2).mean(-1).sqrt()
        assert torch.allclose(rms, torch.full((4,), gain), atol=1e-3)   # the branch's gain, whatever the form


class Pre(nn.Module):
    """fc -> an RMSNorm written out as ops (pow/mean/rsqrt/mul, as Llama's and T5's are) -> head."""

    def __init__(self, norm=ScaleRMSNorm):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.norm = norm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.norm(self.fc(x)))


def test_hooked_forward_records_a_norm_module_as_one_norm_node():
    from initlab.policy import trace
    m = Pre()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(3))
    nodes = trace.from_forward(m, (x,))
    kinds = [(n.kind, n.label) for n in nodes]
    assert ("norm", "norm") in kinds and not any(label in ("pow", "rsqrt") for _, label in kinds), kinds
    norm = next(i for i, n in enumerate(nodes) if n.kind == "norm")
    assert nodes[norm].inputs == [next(i for i, n in enumerate(nodes) if n.layer == "fc")]
    topo = trace.analyze(nodes, "hooked forward")        # what topology() builds when fx fails (HF models)
    assert topo.follow["fc"].kind == "norm" and "fc" in topo.norm_only
    assert topo.follow["head"].kind == "output"


@pytest.mark.parametrize("inputs", [False, True], ids=["no inputs", "example_inputs"])
def test_gemma2_branch_end_norms_take_the_residual_gain(inputs):
    m = gemma2(LAYERS, D, VOCAB, 16)
    plan = initlab.plan(m, "auto", example_inputs=ids() if inputs else None)
    r = rows(plan)
    L = 2 * LAYERS
    for i in range(LAYERS):
        pre = f"model.layers.{i}."
        for norm, end in (("post_attention_layernorm", "self_attn.o_proj"),
                          ("post_feedforward_layernorm", "mlp.down_proj")):
            d = r[f"{pre}{norm}.weight"]
            assert d.kwargs["val"] == pytest.approx(1 / math.sqrt(L) - 1), d.reason      # gain 1/sqrt(L)
            assert f"{pre}{norm}" in r[f"{pre}{end}.weight"].reason                    # the norm, not the add
        for norm in ("input_layernorm", "pre_feedforward_layernorm"):
            assert r[f"{pre}{norm}.weight"].scheme == "zeros"
    z = rows(initlab.plan(m, "zero-init-residual", example_inputs=ids() if inputs else None))
    assert z["model.layers.0.post_feedforward_layernorm.weight"].kwargs["val"] == pytest.approx(-1.0)


@pytest.mark.parametrize("gated", [False, True], ids=["t5", "t5 v1.1 gated"])
@pytest.mark.parametrize("inputs", [False, True], ids=["no inputs", "example_inputs"])
def test_t5_query_carries_the_missing_attention_scale(gated, inputs):
    d, dk = 32, 16
    m = t5(LAYERS, d, VOCAB, gated=gated)
    x = {"input_ids": ids(), "decoder_input_ids": ids()} if inputs else None
    r = rows(initlab.plan(m, "auto", example_inputs=x))
    for att in ("encoder.block.0.layer.0.SelfAttention", "decoder.block.1.layer.1.EncDecAttention"):
        q = r[f"{att}.q.weight"]
        assert q.kwargs["scale"] == pytest.approx(1 / dk) and "without the 1/sqrt(d_k)" in q.reason, q.reason
        assert r[f"{att}.k.weight"].scheme == "lecun_normal"
    # T5's bucketed position bias (an nn.Embedding, in the first block only) is an attention bias, not a table
    assert r["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].rule == "attention bias"
    ff = "encoder.block.0.layer.1.DenseReluDense"
    L = 2 * LAYERS + 3 * LAYERS                         # encoder: attention + FF; decoder: + cross-attention
    assert r[f"{ff}.wo.weight"].kwargs["scale"] == pytest.approx(1 / L)
    if gated:
        assert "gelu" in r[f"{ff}.wi_0.weight"].reason and "gated product" in r[f"{ff}.wi_1.weight"].reason
    else:
        assert r[f"{ff}.wi.weight"].scheme == "kaiming_normal"


def test_t5_attention_logits_start_at_unit_scale():
    """What the query's gain is for: per-head q.k over unit inputs has std ~1, not sqrt(d_k) (= 4 here)."""
    d, dk = 32, 16
    m = t5(LAYERS, d, VOCAB)
    initlab.init_(m, "auto", seed=0)
    att = m.encoder.block[0].layer[0].SelfAttention
    h = torch.randn(2048, d, generator=torch.Generator().manual_seed(4))      # a LayerNorm'd stream: unit rows
    with torch.no_grad():
        q, k = att.q(h).view(-1, 2, dk), att.k(h.roll(1, 0)).view(-1, 2, dk)
    std = float((q * k).sum(-1).std())
    assert 0.7 < std < 1.4, std
    assert float(m.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight.detach().std()) < 0.05


def test_norm_offset_is_measured_on_a_meta_device_model():
    """A model built on the meta device (deferred init: a 7B config planned without memory) has no values to run;
    the (1 + weight) probe runs the norm on CPU stand-ins, so Gemma's norms are still planned at 0."""
    T = pytest.importorskip("transformers")
    cfg = T.GemmaConfig(num_hidden_layers=LAYERS, hidden_size=D, num_attention_heads=2, num_key_value_heads=1,
                        head_dim=D // 2, intermediate_size=2 * D, vocab_size=VOCAB, max_position_embeddings=16)
    with torch.device("meta"):
        m = T.GemmaForCausalLM(cfg)
    r = rows(initlab.plan(m, "auto"))
    norms = [n for n in r if "norm" in n]
    assert norms and all(r[n].scheme == "zeros" for n in norms)
    initlab.init_(m, "auto", seed=0)                  # nothing to write on meta: no error, still meta
    assert all(p.is_meta for p in m.parameters())
