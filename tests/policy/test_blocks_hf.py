"""The block table (policy/blocks.py) on the Hugging Face families people bring beyond GPT-2/BERT/ViT/Llama/T5.

Without example_inputs torch.fx cannot trace these models and module registration order finds no residual add,
so before the table knew them `auto` drew every branch end unscaled and read the MLP's activation after the
wrong layer.  Each case names the layers that must end a residual branch and the activation the MLP's first
layer must be read as; with example_inputs the traced structure must agree (Bloom's and MPT's ALiBi bias,
added to the attention scores, once read as one more residual add)."""
import math

import pytest
import torch

import initlab
from initlab.policy.gains import numerical_gain
from tests._hf_tiny import hf

D, VOCAB, LAYERS = 16, 32, 2


def _cfg(name, **kw):
    T = hf()
    return getattr(T, name)(**kw)


def _dec(model_cls, cfg_cls, **kw):
    """A decoder-only causal LM with the common tiny sizes."""
    base = dict(num_hidden_layers=LAYERS, hidden_size=D, num_attention_heads=2, intermediate_size=2 * D,
                vocab_size=VOCAB, max_position_embeddings=16)
    base.update(kw)
    return lambda: getattr(hf(), model_cls)(_cfg(cfg_cls, **base))


BART = dict(encoder_layers=1, decoder_layers=1, d_model=D, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=2 * D, decoder_ffn_dim=2 * D, vocab_size=VOCAB, max_position_embeddings=16)

# name: (builder, spec name, layer prefix with {i}, [branch-end suffixes], MLP in-layer suffix, activation, tokens)
CASES = {
    "phi3": (_dec("Phi3ForCausalLM", "Phi3Config", num_key_value_heads=2, pad_token_id=0), "HF Phi-3 decoder layer",
             "model.layers.{i}.", ["self_attn.o_proj", "mlp.down_proj"], "mlp.gate_up_proj", "silu", True),
    "gpt_neox": (_dec("GPTNeoXForCausalLM", "GPTNeoXConfig"), "HF GPT-NeoX layer", "gpt_neox.layers.{i}.",
                 ["attention.dense", "mlp.dense_4h_to_h"], "mlp.dense_h_to_4h", "gelu", True),
    "bloom": (lambda: hf().BloomForCausalLM(_cfg("BloomConfig", n_layer=LAYERS, hidden_size=D, n_head=2,
                                                 vocab_size=VOCAB)),
              "HF Bloom / Falcon block", "transformer.h.{i}.", ["self_attention.dense", "mlp.dense_4h_to_h"],
              "mlp.dense_h_to_4h", "gelu_tanh", True),
    "falcon": (lambda: hf().FalconForCausalLM(_cfg("FalconConfig", num_hidden_layers=LAYERS, hidden_size=D,
                                                   num_attention_heads=2, vocab_size=VOCAB)),
               "HF Bloom / Falcon block", "transformer.h.{i}.", ["self_attention.dense", "mlp.dense_4h_to_h"],
               "mlp.dense_h_to_4h", "gelu", True),
    "gptj": (lambda: hf().GPTJForCausalLM(_cfg("GPTJConfig", n_layer=LAYERS, n_embd=D, n_head=2, vocab_size=VOCAB,
                                               n_positions=16, rotary_dim=4)),
             "HF GPT-J block", "transformer.h.{i}.", ["attn.out_proj", "mlp.fc_out"], "mlp.fc_in", "gelu_tanh", True),
    "codegen": (lambda: hf().CodeGenForCausalLM(_cfg("CodeGenConfig", n_layer=LAYERS, n_embd=D, n_head=2,
                                                     vocab_size=VOCAB, n_positions=16, rotary_dim=4)),
                "HF CodeGen block", "transformer.h.{i}.", ["attn.out_proj", "mlp.fc_out"], "mlp.fc_in", "gelu_tanh",
                True),
    "phi": (_dec("PhiForCausalLM", "PhiConfig", num_key_value_heads=2), "HF Phi decoder layer", "model.layers.{i}.",
            ["self_attn.dense", "mlp.fc2"], "mlp.fc1", "gelu_tanh", True),
    "starcoder2": (_dec("Starcoder2ForCausalLM", "Starcoder2Config", num_key_value_heads=1),
                   "HF Starcoder2 decoder layer", "model.layers.{i}.", ["self_attn.o_proj", "mlp.c_proj"], "mlp.c_fc",
                   "gelu_tanh", True),
    "opt": (lambda: hf().OPTForCausalLM(_cfg("OPTConfig", num_hidden_layers=LAYERS, hidden_size=D,
                                             num_attention_heads=2, ffn_dim=2 * D, vocab_size=VOCAB,
                                             max_position_embeddings=16, word_embed_proj_dim=D)),
            "HF BART-style encoder layer", "model.decoder.layers.{i}.", ["self_attn.out_proj", "fc2"], "fc1", "relu",
            True),
    "mpt": (lambda: hf().MptForCausalLM(_cfg("MptConfig", n_layers=LAYERS, d_model=D, n_heads=2, vocab_size=VOCAB,
                                             max_seq_len=16)),
            "HF MPT block", "transformer.blocks.{i}.", ["attn.out_proj", "ffn.down_proj"], "ffn.up_proj", "gelu", True),
    "distilbert": (lambda: hf().DistilBertForSequenceClassification(_cfg(
        "DistilBertConfig", n_layers=LAYERS, dim=D, n_heads=2, hidden_dim=2 * D, vocab_size=VOCAB,
        max_position_embeddings=16)), "HF DistilBERT block", "distilbert.transformer.layer.{i}.",
        ["attention.out_lin", "ffn.lin2"], "ffn.lin1", "gelu", True),
    "deberta_v2": (_dec("DebertaV2ForSequenceClassification", "DebertaV2Config"), "HF DeBERTa layer",
                   "deberta.encoder.layer.{i}.", ["attention.output.dense", "output.dense"], "intermediate.dense",
                   "gelu", True),
    "modernbert": (lambda: hf().ModernBertForSequenceClassification(_cfg(
        "ModernBertConfig", num_hidden_layers=LAYERS, hidden_size=D, num_attention_heads=2, intermediate_size=2 * D,
        vocab_size=VOCAB, max_position_embeddings=16, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1,
        sep_token_id=2)), "HF ModernBERT layer", "model.layers.{i}.", ["attn.Wo", "mlp.Wo"], "mlp.Wi", "gelu", True),
    "clip_text": (lambda: hf().CLIPTextModel(_cfg("CLIPTextConfig", num_hidden_layers=LAYERS, hidden_size=D,
                                                  num_attention_heads=2, intermediate_size=2 * D, vocab_size=VOCAB,
                                                  max_position_embeddings=16)),
                  "HF CLIP-style encoder layer", "encoder.layers.{i}.", ["self_attn.out_proj", "mlp.fc2"],
                  "mlp.fc1", "quick_gelu", True),
    "siglip_vision": (lambda: hf().SiglipVisionModel(_cfg("SiglipVisionConfig", num_hidden_layers=LAYERS,
                                                          hidden_size=D, num_attention_heads=2,
                                                          intermediate_size=2 * D, image_size=16, patch_size=4)),
                      "HF CLIP-style encoder layer", "encoder.layers.{i}.",
                      ["self_attn.out_proj", "mlp.fc2"], "mlp.fc1", "gelu_tanh", False),
    "wav2vec2": (lambda: hf().Wav2Vec2Model(_cfg("Wav2Vec2Config", num_hidden_layers=LAYERS, hidden_size=D,
                                                 num_attention_heads=2, intermediate_size=2 * D, conv_dim=(8, 8),
                                                 conv_stride=(2, 2), conv_kernel=(3, 3), num_conv_pos_embeddings=4,
                                                 num_conv_pos_embedding_groups=2)),
                 "HF wav2vec2-style encoder layer", "encoder.layers.{i}.", ["attention.out_proj",
                                                                            "feed_forward.output_dense"],
                 "feed_forward.intermediate_dense", "gelu", False),
}


def _rows(plan):
    return {r.name: r for r in plan.rows}


def _ends(plan):
    return {r.name for r in plan.rows if "last layer of residual branch" in r.reason}


def _expected_ends(case):
    _, _, pre, ends, _, _, _ = CASES[case]
    return {f"{pre.format(i=i)}{e}.weight" for i in range(LAYERS) for e in ends}


@pytest.mark.parametrize("case", sorted(CASES))
def test_block_table_reads_the_family(case):
    build, spec, pre, ends, mlp_in, act, _ = CASES[case]
    torch.manual_seed(0)
    plan = initlab.plan(build(), "auto")
    assert any(spec in n and "known blocks" in n for n in plan.notes), (case, plan.notes)
    r = _rows(plan)
    assert _ends(plan) == _expected_ends(case)
    L = 2 * LAYERS
    for name in _expected_ends(case):                 # each branch end adds 1/L of an unscaled branch's variance
        assert r[name].kwargs["scale"] == pytest.approx(1 / L), (name, r[name].kwargs)
    for i in range(LAYERS):
        name = f"{pre.format(i=i)}{mlp_in}.weight"
        first = r.get(name) or r[name + "[gate]"]            # a fused gate|up layer is planned as two halves
        assert f"{act}(" in first.reason or f"followed by {act} " in first.reason, (case, first.reason)


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c][6]))
def test_block_table_and_trace_agree(case):
    """With example_inputs the hooked forward sees the real graph; the branch ends must be the same layers."""
    torch.manual_seed(0)
    m = CASES[case][0]()
    ids = torch.randint(3, VOCAB, (4, 8), generator=torch.Generator().manual_seed(0))
    plan = initlab.plan(m, "auto", example_inputs=ids)
    assert _ends(plan) == _expected_ends(case), sorted(_ends(plan) ^ _expected_ends(case))


def test_bart_encoder_and_decoder_layers():
    """A decoder layer has three branches (self-attention, cross-attention, MLP), an encoder layer two."""
    m = hf().BartForConditionalGeneration(_cfg("BartConfig", **BART))
    plan = initlab.plan(m, "auto")
    assert any("1 x HF BART-style encoder layer, 1 x HF BART-style decoder layer" in n for n in plan.notes)
    assert _ends(plan) == {"model.encoder.layers.0.self_attn.out_proj.weight", "model.encoder.layers.0.fc2.weight",
                           "model.decoder.layers.0.self_attn.out_proj.weight",
                           "model.decoder.layers.0.encoder_attn.out_proj.weight", "model.decoder.layers.0.fc2.weight"}
    r = _rows(plan)
    assert all(r[n].kwargs["scale"] == pytest.approx(1 / 5) for n in _ends(plan))
    assert "attention" in r["model.decoder.layers.0.encoder_attn.q_proj.weight"].reason


@pytest.mark.parametrize("case", ["phi3", "modernbert"])
def test_fused_gate_up_is_planned_as_its_two_halves(case):
    """Phi-3's gate_up_proj and ModernBERT's Wi compute act(first half) * second half in one Linear: auto plans the
    halves as the split layers of a Llama MLP (gate at the activation's gain, up at 1), and init_ writes them so."""
    build, _, pre, _, mlp_in, act, _ = CASES[case]
    torch.manual_seed(0)
    m = build()
    r = _rows(initlab.plan(m, "auto"))
    name = f"{pre.format(i=0)}{mlp_in}.weight"
    gate, up = r[name + "[gate]"], r[name + "[up]"]
    fn = {"silu": torch.nn.functional.silu, "gelu": torch.nn.functional.gelu}[act]
    g = numerical_gain((act, ()), fn)
    assert gate.kwargs["scale"] == pytest.approx(g * g)
    assert "gate half" in gate.reason and f"followed by {act}" in gate.reason
    assert up.scheme == "lecun_normal" and "up half" in up.reason and "gated product" in up.reason
    assert name not in r                                    # the whole matrix has no row of its own
    initlab.init_(m, "auto", seed=0)
    lin = m.get_submodule(f"{pre.format(i=0)}{mlp_in}")
    h, fan_in = lin.weight.shape[0] // 2, lin.weight.shape[1]
    with torch.no_grad():                                    # 16 x 16 draws per half: std within 25 %
        assert float(lin.weight[:h].std()) == pytest.approx(g / math.sqrt(fan_in), rel=0.25)
        assert float(lin.weight[h:].std()) == pytest.approx(1 / math.sqrt(fan_in), rel=0.25)
        assert float(lin.weight[:h].std() / lin.weight[h:].std()) > 1.2


def test_bloom_gelu_is_read_as_tanh_gelu():
    from initlab.policy.activations import activation_of_module
    hf()
    from transformers.models.bloom.modeling_bloom import BloomGelu
    a = activation_of_module(BloomGelu())
    z = torch.linspace(-4, 4, 101, dtype=torch.float64)
    assert a.name == "gelu_tanh"
    assert torch.allclose(a.fn(z), torch.nn.functional.gelu(z, approximate="tanh"), atol=1e-3)


# ---------------------------------------------------------------- mixture-of-experts (transformers >= 5 layout)
def _moe(kind):
    T = hf()
    base = dict(num_hidden_layers=LAYERS, hidden_size=D, num_attention_heads=2, num_key_value_heads=1,
                intermediate_size=2 * D, vocab_size=VOCAB, max_position_embeddings=16)
    if kind == "mixtral":
        return T.MixtralForCausalLM(T.MixtralConfig(num_local_experts=3, num_experts_per_tok=2, **base))
    if kind == "qwen2_moe":
        return T.Qwen2MoeForCausalLM(T.Qwen2MoeConfig(num_experts=3, num_experts_per_tok=2, moe_intermediate_size=8,
                                                      shared_expert_intermediate_size=16, **base))
    return T.GptOssForCausalLM(T.GptOssConfig(num_local_experts=3, num_experts_per_tok=2, head_dim=8,
                                              layer_types=["full_attention"] * LAYERS, **base))


# kind: (router path, experts (E, out of gate_up, in) as the experts see them, branches per layer, gated halves)
MOE = {"mixtral": ("gate", 3, 2 * 2 * D, 2, True), "qwen2_moe": ("gate", 3, 2 * 8, 3, True),
       "gpt_oss": ("router", 3, 2 * 2 * D, 2, False)}


@pytest.mark.parametrize("kind", sorted(MOE))
def test_moe_layers_are_planned_expert_by_expert(kind):
    """Each expert's (out, in) block is a row with the expert's own fans (not torch's fans of the 3-D stack);
    gate|up halves as the split layers; down_proj ends the MoE branch (1/L); the router at 1/10 of lecun's variance;
    stored-transposed experts (GPT-OSS: (E, in, out)) are planned through their (out, in) view."""
    router, e, out, per_layer, halves = MOE[kind]
    m = _moe(kind)
    plan = initlab.plan(m, "auto")
    assert any("HF mixture-of-experts decoder layer" in n for n in plan.notes), plan.notes
    assert not any(r.rule == "unknown module" and "experts" in r.name for r in plan.rows)
    r = _rows(plan)
    L = per_layer * LAYERS
    pre = "model.layers.0.mlp."
    assert r[f"{pre}{router}.weight"].kwargs["scale"] == pytest.approx(0.1)
    for i in range(e):
        down = r[f"{pre}experts.down_proj[expert{i}]"]
        assert (down.fan_in, down.fan_out) == (out // 2, D) and down.kwargs["scale"] == pytest.approx(1 / L)
        if halves:
            gate, up = r[f"{pre}experts.gate_up_proj[expert{i} gate]"], r[f"{pre}experts.gate_up_proj[expert{i} up]"]
            assert gate.shape == up.shape == (out // 2, D) and gate.fan_in == D
            assert gate.kwargs["scale"] == pytest.approx(numerical_gain(("silu", ()), torch.nn.functional.silu) ** 2)
            assert up.scheme == "lecun_normal"
        else:                                    # interleaved gate/up and a clamped SwiGLU: one (out, in) row, gain 1
            row = r[f"{pre}experts.gate_up_proj[expert{i}]"]
            assert row.shape == (out, D) and row.scheme == "lecun_normal"
    if kind == "qwen2_moe":                      # the always-on shared expert is a gated MLP branch of its own
        assert r[f"{pre}shared_expert.down_proj.weight"].kwargs["scale"] == pytest.approx(1 / L)
        assert "gated product" in r[f"{pre}shared_expert.up_proj.weight"].reason


@pytest.mark.parametrize("policy", ["auto", "xavier_normal", "torch_default", "gpt2", "fixup", "orthogonal"])
@pytest.mark.parametrize("kind", ["mixtral", "gpt_oss"])
def test_moe_policies_write_each_expert_with_its_fans(kind, policy):
    """After init_ every expert block has the std its row planned (verify passes), and the fixed schemes use the
    expert's fans: xavier_normal's std on an expert is sqrt(2 / (in + out)) of that expert, not of the stack."""
    m = _moe(kind)
    plan = initlab.plan(m, policy, seed=0)
    plan.apply(m)
    assert plan.verify(m) == []
    ex = m.model.layers[0].mlp.experts
    w = ex.down_proj.detach()
    blocks = [w[i].t() if ex.is_transposed else w[i] for i in range(w.shape[0])]     # (out=D, in=I) each
    assert all(b.shape == (D, 2 * D) for b in blocks)
    std = float(torch.stack(blocks).std())
    if policy == "xavier_normal":
        assert std == pytest.approx(math.sqrt(2 / (D + 2 * D)), rel=0.1)
    if policy == "torch_default":                # U(+-1/sqrt(in)) per expert: std 1/sqrt(3 in)
        assert std == pytest.approx(1 / math.sqrt(3 * 2 * D), rel=0.1)
        assert float(torch.stack(blocks).abs().max()) <= 1 / math.sqrt(2 * D)
        if kind == "gpt_oss":                    # expert biases as nn.Linear's: U(+-1/sqrt(that expert's in))
            rows = _rows(plan)
            for name, fan in (("gate_up_proj", D), ("down_proj", 2 * D)):
                b = getattr(ex, f"{name}_bias").detach()
                assert f"fan_in={fan}" in rows[f"model.layers.0.mlp.experts.{name}_bias"].reason
                assert float(b.abs().max()) <= 1 / math.sqrt(fan) and float(b.std()) == pytest.approx(
                    1 / math.sqrt(3 * fan), rel=0.15)
    if policy == "gpt2":                         # a residual projection: 0.02 / sqrt(2 n_layer)
        assert std == pytest.approx(0.02 / math.sqrt(2 * LAYERS), rel=0.1)
    if policy == "fixup":                        # the last layer of each branch starts at 0
        assert std == 0.0


def test_a_registered_experts_module_is_planned_expert_by_expert():
    """Your own mixture-of-experts module: register it as family 'experts' and every 3-D weight is planned one
    (out, in) expert at a time ("in_out" when it is stored (E, in, out))."""
    class MyExperts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w_in = torch.nn.Parameter(torch.empty(4, 8, 24))      # (E, in, out): x @ w_in[e]
            self.w_out = torch.nn.Parameter(torch.empty(4, 24, 8))

        def forward(self, x):
            return torch.einsum("bi,eio->beo", x, self.w_in).relu().matmul(self.w_out).mean(1)

    initlab.register_module(MyExperts, "experts", fan="in_out")
    try:
        m = MyExperts()
        plan = initlab.plan(m, "xavier_normal", seed=0)
        r = _rows(plan)
        assert set(r) == {f"w_in[expert{i}]" for i in range(4)} | {f"w_out[expert{i}]" for i in range(4)}
        assert (r["w_in[expert0]"].fan_in, r["w_in[expert0]"].fan_out) == (8, 24)
        assert (r["w_out[expert3]"].fan_in, r["w_out[expert3]"].fan_out) == (24, 8)
        plan.apply(m)
        assert plan.verify(m) == []
        assert float(m.w_in.detach().std()) == pytest.approx(math.sqrt(2 / (8 + 24)), rel=0.1)
    finally:
        initlab.unregister_module(MyExperts)


def test_deepseek_layers_dense_and_moe_with_latent_attention():
    """DeepSeek-V3: multi-head latent attention (q_a / kv_a feed norms, q_b / kv_b feed the attention), a dense
    first layer and MoE layers with a shared expert: every layer known, no guessed structure, 5 branches here."""
    T = hf()
    m = T.DeepseekV3ForCausalLM(T.DeepseekV3Config(
        num_hidden_layers=2, hidden_size=D, num_attention_heads=2, num_key_value_heads=2, intermediate_size=2 * D,
        moe_intermediate_size=8, vocab_size=VOCAB, max_position_embeddings=16, n_routed_experts=4,
        num_experts_per_tok=2, n_shared_experts=1, first_k_dense_replace=1, q_lora_rank=8, kv_lora_rank=8,
        qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=4, n_group=1, topk_group=1))
    plan = initlab.plan(m, "auto")
    assert any("1 x HF DeepSeek dense decoder layer, 1 x HF DeepSeek MoE decoder layer" in n for n in plan.notes)
    assert not any("WARNING" in n for n in plan.notes), plan.notes
    r = _rows(plan)
    for i in range(2):
        a = f"model.layers.{i}.self_attn."
        assert "q_a_layernorm (a norm layer)" in r[a + "q_a_proj.weight"].reason
        assert "kv_a_layernorm (a norm layer)" in r[a + "kv_a_proj_with_mqa.weight"].reason
        assert "attention" in r[a + "kv_b_proj.weight"].reason
    ends = {"model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.shared_experts.down_proj.weight"} | \
        {f"model.layers.1.mlp.experts.down_proj[expert{e}]" for e in range(4)}
    assert _ends(plan) == ends
    assert all(r[n].kwargs["scale"] == pytest.approx(1 / 5) for n in ends)
    assert r["model.layers.1.mlp.gate.weight"].kwargs["scale"] == pytest.approx(0.1)


def test_a_fused_gate_half_is_calibrated_on_example_inputs_as_the_split_gate_layer_is():
    """With a batch, Llama's gate_proj (followed by silu, unstable) is calibrated to unit mean of squares; Phi-3's
    fused gate half gets the same: its units calibrated, its rows scaled by one factor, the up half untouched."""
    build, _, pre, _, mlp_in, _, _ = CASES["phi3"]
    torch.manual_seed(0)
    m = build()
    ids = torch.randint(1, VOCAB, (8, 12), generator=torch.Generator().manual_seed(5))
    name = f"{pre.format(i=0)}{mlp_in}"
    p = initlab.init_(m, "auto", seed=0, example_inputs=ids)
    gate, up = p[name + ".weight[gate]"], p[name + ".weight[up]"]
    assert gate.action == "calibrate" and "calibrated on" in gate.reason and up.action == "init"
    assert gate.applied["converged"] and gate.applied["scale"] != pytest.approx(1.0, abs=1e-3)
    torch.manual_seed(0)
    ref = build()
    initlab.init_(ref, initlab.policy.auto(calibrate=False), seed=0, example_inputs=ids)
    w, w0 = m.get_parameter(name + ".weight"), ref.get_parameter(name + ".weight")
    h = w.shape[0] // 2
    assert torch.equal(w[h:], w0[h:])                                        # the up half as drawn
    assert torch.allclose(w[:h], w0[:h] * gate.applied["scale"])             # the gate half: one factor
    out = {}
    hook = m.get_submodule(name).register_forward_hook(lambda mod, i, o: out.update(y=o.detach().double()))
    with torch.no_grad():
        m(ids)
    hook.remove()
    assert abs(float(out["y"][..., :h].pow(2).mean()) - 1) < 0.02
    assert p.verify(m) == []


ROTARY = {"phi3", "gpt_neox", "falcon", "gptj", "codegen", "phi", "starcoder2", "modernbert"}   # by architecture
CAUSAL_ROTARY = ROTARY - {"modernbert"}                                                       # an encoder


@pytest.mark.parametrize("case", sorted(CASES))
def test_causal_rotary_attention_inputs_start_at_gain_one_over_sqrt2(case):
    """Where self-attention is causal and its positions rotary (a ...RotaryEmbedding module), q, k and v (fused or
    not) are drawn at gain 1/sqrt(2): the logits start at variance 1/4.  A rotary encoder (ModernBERT) and learned,
    ALiBi, relative or conv positions keep lecun_normal."""
    from initlab.policy.blocks import uses_rotary
    torch.manual_seed(0)
    m = CASES[case][0]()
    assert uses_rotary(m) == (case in ROTARY)
    rows = [r for r in initlab.plan(m, "auto").rows
            if r.reason.startswith(("followed by attention", "read by causal attention")) and not r.param.endswith("bias")]
    assert len(rows) >= LAYERS                               # at least one input projection per layer
    for r in rows:
        if case in CAUSAL_ROTARY:
            assert r.scheme == "variance_scaling" and r.kwargs["scale"] == pytest.approx(0.5), r.name
            assert "causal attention with rotary positions" in r.reason
        else:
            assert r.scheme == "lecun_normal" and "rotary" not in r.reason, r.name


TOKEN_CASES = sorted(c for c in CASES if CASES[c][6])


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_with_a_batch_the_attention_output_projection_starts_at_its_rules_share(case):
    """Attention averages value vectors, so its output projection reads inputs of mean of squares below 1 and, drawn
    by the fan rule alone, adds less than the 1/L of the stream its row asks for.  With example_inputs it is
    calibrated to exactly that (its own draw's gain on a unit input); the MLP's branch end and every layer without
    a batch keep the analytic draw."""
    build, _, pre, ends, _, _, _ = CASES[case]
    attn_end, mlp_end = ends
    ids = torch.randint(3, VOCAB, (8, 12), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    analytic = _rows(initlab.plan(build(), "auto", seed=0))
    assert analytic[f"{pre.format(i=0)}{attn_end}.weight"].action == "init"
    torch.manual_seed(0)
    m = build()
    plan = initlab.init_(m, "auto", seed=0, example_inputs=ids)
    r = _rows(plan)
    L = 2 * LAYERS
    outs = {}

    def keep(i):
        def hook(mod, args, out):
            outs.setdefault(i, float(out.detach().double().pow(2).mean()))
        return hook
    hooks = [m.get_submodule(f"{pre.format(i=i)}{attn_end}").register_forward_hook(keep(i)) for i in range(LAYERS)]
    with torch.no_grad():
        m.eval()(ids)                        # as the calibration measured: eval mode (no dropout)
    for h in hooks:
        h.remove()
    for i in range(LAYERS):
        row = r[f"{pre.format(i=i)}{attn_end}.weight"]
        assert row.action == "calibrate" and "attention_end" in row.reason, (case, row.reason)
        assert row.kwargs["scale"] == pytest.approx(1 / L) and row.applied["converged"]
        assert outs[i] == pytest.approx(1 / L, rel=0.02), (case, i, outs[i])
        assert r[f"{pre.format(i=i)}{mlp_end}.weight"].action == "init"
    assert plan.verify(m) == []


def test_multihead_attentions_out_proj_is_not_calibrated_and_nothing_warns():
    """nn.MultiheadAttention applies out_proj functionally (no module call to measure): no calibrate row for it."""
    import warnings
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True, norm_first=True)
    m = torch.nn.Sequential(torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = initlab.init_(m, "auto", seed=0, example_inputs=torch.randn(4, 6, 16))
    assert all(r.action != "calibrate" for r in plan.rows if "out_proj" in r.name)
