"""Known blocks: the structure of common transformer blocks, read from a table instead of a trace.

torch.fx cannot trace nn.TransformerEncoderLayer nor Hugging Face models, and without example_inputs the
fallback (module registration order) misses activations held as functions and every residual add.  For
the blocks below the structure is known, so it is written down here (not guessed):

    block                                    attention branch (inputs -> end)        MLP branch (in -act-> out)
    nn.TransformerEncoderLayer               self_attn -> self_attn.out_proj         linear1 -activation-> linear2
    nn.TransformerDecoderLayer               + multihead_attn -> .out_proj           linear1 -activation-> linear2
    HF GPT-2 block (GPT2Block & co)          attn.c_attn -> attn.c_proj              mlp.c_fc -mlp.act-> mlp.c_proj
    HF BERT-style layer (Bert/Roberta/...)   attention.self.{query,key,value}        intermediate.dense -act->
                                             -> attention.output.dense                output.dense
    HF ViT layer (transformers >= 5)         attention.{q,k,v}_proj -> attention.o_proj   mlp.fc1 -act-> mlp.fc2
    timm-style block (ViT, DeiT, ...)        attn.qkv -> attn.proj                   mlp.fc1 -mlp.act-> mlp.fc2
    HF Llama-style decoder layer             self_attn.{q,k,v}_proj                  mlp.gate_proj -mlp.act_fn->
      (Llama, Mistral, Qwen2, Gemma, ...)    -> self_attn.o_proj                     (x mlp.up_proj) mlp.down_proj
    HF Gemma-2-style decoder layer           the same, each branch ending in a norm before the add (Gemma-2,
                                             Gemma-3, OLMo-2: post_attention_ / post_feedforward_layernorm)
    HF T5 sublayers (T5, mT5, ...)           SelfAttention / EncDecAttention           DenseReluDense.wi -act-> wo
                                             .{q,k,v} -> .o (q k^T unscaled)          (gated: wi_0 -act-> x wi_1)
    HF Phi-3 decoder layer                   self_attn.qkv_proj -> self_attn.o_proj  mlp.gate_up_proj (fused) -act->
                                                                                      mlp.down_proj
    HF GPT-NeoX layer (Pythia; parallel)     attention.query_key_value -> .dense     mlp.dense_h_to_4h -act-> dense_4h_to_h
    HF Bloom / Falcon block                  self_attention.query_key_value -> .dense  (the same MLP names)
    HF GPT-J / CodeGen block (parallel)      attn.{q,k,v}_proj or attn.qkv_proj        mlp.fc_in -act-> mlp.fc_out
                                             -> attn.out_proj
    HF Phi decoder layer (parallel)          self_attn.{q,k,v}_proj -> self_attn.dense  mlp.fc1 -act-> mlp.fc2
    HF BART-style encoder / decoder layer    self_attn.{q,k,v}_proj -> .out_proj       fc1 -activation_fn-> fc2
      (BART, mBART, Marian, Pegasus,         (decoder: + encoder_attn.{q,k,v}_proj
       Whisper, M2M100/NLLB, OPT, ...)        -> encoder_attn.out_proj)
    HF CLIP-style encoder layer (CLIP,       self_attn.{q,k,v}_proj -> .out_proj       mlp.fc1 -act-> mlp.fc2
      SigLIP, ...)
    HF DistilBERT block                      attention.{q,k,v}_lin -> .out_lin         ffn.lin1 -act-> ffn.lin2
    HF DeBERTa layer                         attention.self.{query,key,value}_proj     intermediate.dense -act->
                                             -> attention.output.dense                 output.dense
    HF wav2vec2-style encoder layer          attention.{q,k,v}_proj -> .out_proj       feed_forward.intermediate_dense
      (wav2vec2, HuBERT, ...)                                                          -act-> .output_dense
    HF Starcoder2 decoder layer              self_attn.{q,k,v}_proj -> .o_proj         mlp.c_fc -act-> mlp.c_proj
    HF MPT block                             attn.Wqkv -> attn.out_proj               ffn.up_proj -act-> ffn.down_proj
    HF ModernBERT layer                      attn.Wqkv -> attn.Wo                     mlp.Wi (fused GLU) -act-> mlp.Wo
    HF mixture-of-experts decoder layer      self_attn.{q,k,v}_proj -> .o_proj         mlp.gate (router) -> mlp.experts
      (Mixtral, Qwen2/3-MoE, OLMoE, ...)                                               .gate_up_proj -act-> .down_proj;
                                                                                       a shared expert: its own branch
    HF DeepSeek decoder layer (V2, V3)       self_attn.{q_b,kv_b}_proj -> .o_proj     the same MoE (or a Llama MLP)

T5's attention has no 1/sqrt(d_k): its query is read "scaled" (Follow kind "scaled", gain 1/sqrt(d_k)), so auto
draws it that much smaller, as T5's own init does.

A gated MLP (SwiGLU / GeGLU; Shazeer 2020) multiplies act(gate(x)) by a second projection up(x): `up` is in the
branch and, like q/k/v, followed by no elementwise activation.  Where one Linear computes both halves (Phi-3's
gate_up_proj, ModernBERT's Wi: act(first half) * second half) it is read as Follow kind "fused", and auto plans
its two halves as the split layers (`weight[gate]` at the activation's gain, `weight[up]` at 1), as it plans
q/k/v of a packed in_proj one block at a time.

A parallel block (GPT-J, GPT-NeoX, Falcon, Phi, Cohere: x + attn(ln(x)) + mlp(ln(x))) adds its two branches to
the stream at once; each is still one branch end, so the branch count (what residual scaling divides by) is the
same as for the sequential layout.

A block is recognized by its sub-module paths (duck typing), so subclasses and copies with the same layout
count.  Each branch ends in the projection that writes into the residual stream: what `gpt2`,
`zero_init_residual`, `fixup` and `auto` scale.  The table wins over a trace for the layers it names (a
hooked forward pass sees GPT-2's tanh-GELU as a `pow` followed by `tanh`); everything else comes from the trace.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn as nn

from .activations import activation_of_call, activation_of_module
from .families import is_norm, is_weight_layer
from .graph import Branch, Follow

ATTENTION = Follow("other", "attention (softmax(Q K^T / sqrt(d)) V)")
# Causal self-attention whose positions are rotary (RoFormer, Su et al. 2021: q and k rotated by position, nothing
# added to the stream): its input projections are drawn at gain 1/sqrt(2), so the logits q.k / sqrt(d_k) start at
# variance 1/4, not 1.  A measured rule (docs/auto_quality.md, "rotary attention"): +2.3 to +3.2 points on four
# rotary decoders (Llama, Phi-3, GPT-NeoX, Mixtral), while the same change cost 0.7 to 5.6 points on four models
# with learned absolute positions (GPT-2, causal too; BERT, ViT, a torch TransformerEncoder) and 1.5 +- 1.1 on a
# rotary encoder (ModernBERT), which all keep gain 1.
ROTARY_GAIN = math.sqrt(0.5)
ROTARY_ATTENTION = Follow("scaled", "causal attention with rotary positions (softmax(Q K^T / sqrt(d)) V, positions "
                          "only in q.k; Su et al. 2021): q, k and v at gain 1/sqrt(2), so the logits start at "
                          "variance 1/4 (measured on rotary decoders; docs/auto_quality.md)", gain=ROTARY_GAIN)
RESIDUAL_ADD = Follow("other", "the residual add (x + branch)")


@dataclass(frozen=True)
class Spec:
    name: str
    attention: tuple          # ((input paths...), end path) per attention branch
    mlp: tuple                # ((in path, activation path or None), out path) per MLP branch
    torch_type: type | None = None
    gated: tuple = ()         # paths of the layers multiplying the activated MLP input (a gated MLP's `up`)
    end_norms: tuple = ()     # (attention branch's, MLP branch's) norm between the branch end and the add
    unscaled: bool = False    # attention logits q k^T without 1/sqrt(d_k) (T5): the query carries it
    fused: bool = False       # the MLP's first layer computes gate and up in one (halves act(a) * b)
    experts: str = ""         # a mixture-of-experts module (families "experts"): its own MLP branch
    router: str = ""          # the top-k router feeding it ("a|b": the first that exists)
    normed: tuple = ()        # (layer, the norm that reads it) pairs inside the block, where present


def _qkv(att: str, end: str) -> tuple:
    """An attention branch of separate q/k/v projections under `att`: ((att.q_proj, att.k_proj, att.v_proj),
    att.end), the layout most Hugging Face families share."""
    return (tuple(f"{att}.{k}_proj" for k in "qkv"), f"{att}.{end}")


# DeepSeek's multi-head latent attention: the low-rank down-projections feed a norm (kv_a's rope slice goes to
# the attention directly; the norm reads the rest)
_MLA_NORMS = (("self_attn.q_a_proj", "self_attn.q_a_layernorm"), ("self_attn.kv_a_proj_with_mqa",
                                                                   "self_attn.kv_a_layernorm"))
SPECS = (
    Spec("nn.TransformerEncoderLayer", ((("self_attn",), "self_attn.out_proj"),), ((("linear1", None), "linear2"),),
         nn.TransformerEncoderLayer),
    Spec("nn.TransformerDecoderLayer", ((("self_attn",), "self_attn.out_proj"),
                                        (("multihead_attn",), "multihead_attn.out_proj")),
         ((("linear1", None), "linear2"),), nn.TransformerDecoderLayer),
    Spec("HF GPT-2 block", ((("attn.c_attn",), "attn.c_proj"),), ((("mlp.c_fc", "mlp.act"), "mlp.c_proj"),)),
    Spec("HF BERT-style layer", ((("attention.self.query", "attention.self.key", "attention.self.value"),
                                  "attention.output.dense"),),
         ((("intermediate.dense", "intermediate.intermediate_act_fn"), "output.dense"),)),
    Spec("HF ViT layer (old)", ((("attention.attention.query", "attention.attention.key", "attention.attention.value"),
                                 "attention.output.dense"),),
         ((("intermediate.dense", "intermediate.intermediate_act_fn"), "output.dense"),)),
    Spec("HF ViT layer", (_qkv("attention", "o_proj"),), ((("mlp.fc1", "mlp.activation_fn"), "mlp.fc2"),)),
    Spec("timm-style block", ((("attn.qkv",), "attn.proj"),), ((("mlp.fc1", "mlp.act"), "mlp.fc2"),)),
    Spec("HF Gemma-2-style decoder layer", (_qkv("self_attn", "o_proj"),),
         ((("mlp.gate_proj", "mlp.act_fn"), "mlp.down_proj"),), gated=("mlp.up_proj",),
         end_norms=("post_attention_layernorm", "post_feedforward_layernorm")),
    Spec("HF T5 self-attention", ((("SelfAttention.q", "SelfAttention.k", "SelfAttention.v"), "SelfAttention.o"),),
         (), unscaled=True),
    Spec("HF T5 cross-attention", ((("EncDecAttention.q", "EncDecAttention.k", "EncDecAttention.v"),
                                    "EncDecAttention.o"),), (), unscaled=True),
    Spec("HF T5 gated feed-forward", (), ((("DenseReluDense.wi_0", "DenseReluDense.act"), "DenseReluDense.wo"),),
         gated=("DenseReluDense.wi_1",)),
    Spec("HF T5 feed-forward", (), ((("DenseReluDense.wi", "DenseReluDense.act"), "DenseReluDense.wo"),)),
    Spec("HF Llama-style decoder layer", (_qkv("self_attn", "o_proj"),),
         ((("mlp.gate_proj", "mlp.act_fn"), "mlp.down_proj"),), gated=("mlp.up_proj",)),
    Spec("HF Phi-3 decoder layer", ((("self_attn.qkv_proj",), "self_attn.o_proj"),),
         ((("mlp.gate_up_proj", "mlp.activation_fn"), "mlp.down_proj"),), fused=True),
    Spec("HF GPT-NeoX layer", ((("attention.query_key_value",), "attention.dense"),),
         ((("mlp.dense_h_to_4h", "mlp.act"), "mlp.dense_4h_to_h"),)),
    Spec("HF Bloom / Falcon block", ((("self_attention.query_key_value",), "self_attention.dense"),),
         ((("mlp.dense_h_to_4h", "mlp.gelu_impl|mlp.act"), "mlp.dense_4h_to_h"),)),
    Spec("HF GPT-J block", (_qkv("attn", "out_proj"),), ((("mlp.fc_in", "mlp.act"), "mlp.fc_out"),)),
    Spec("HF CodeGen block", ((("attn.qkv_proj",), "attn.out_proj"),), ((("mlp.fc_in", "mlp.act"), "mlp.fc_out"),)),
    Spec("HF Phi decoder layer", (_qkv("self_attn", "dense"),), ((("mlp.fc1", "mlp.activation_fn"), "mlp.fc2"),)),
    Spec("HF BART-style decoder layer", (_qkv("self_attn", "out_proj"),
                                         _qkv("encoder_attn", "out_proj")),
         ((("fc1", "activation_fn"), "fc2"),)),
    Spec("HF BART-style encoder layer", (_qkv("self_attn", "out_proj"),), ((("fc1", "activation_fn"), "fc2"),)),
    Spec("HF CLIP-style encoder layer", (_qkv("self_attn", "out_proj"),),
         ((("mlp.fc1", "mlp.activation_fn"), "mlp.fc2"),)),
    Spec("HF DistilBERT block", ((("attention.q_lin", "attention.k_lin", "attention.v_lin"), "attention.out_lin"),),
         ((("ffn.lin1", "ffn.activation"), "ffn.lin2"),)),
    Spec("HF DeBERTa layer", ((("attention.self.query_proj", "attention.self.key_proj", "attention.self.value_proj"),
                               "attention.output.dense"),),
         ((("intermediate.dense", "intermediate.intermediate_act_fn"), "output.dense"),)),
    Spec("HF wav2vec2-style encoder layer", (_qkv("attention", "out_proj"),),
         ((("feed_forward.intermediate_dense", "feed_forward.intermediate_act_fn"), "feed_forward.output_dense"),)),
    Spec("HF Starcoder2 decoder layer", (_qkv("self_attn", "o_proj"),), ((("mlp.c_fc", "mlp.act"), "mlp.c_proj"),)),
    Spec("HF MPT block", ((("attn.Wqkv",), "attn.out_proj"),), ((("ffn.up_proj", "ffn.act"), "ffn.down_proj"),)),
    Spec("HF ModernBERT layer", ((("attn.Wqkv",), "attn.Wo"),), ((("mlp.Wi", "mlp.act"), "mlp.Wo"),), fused=True),
    Spec("HF mixture-of-experts decoder layer", (_qkv("self_attn", "o_proj"),), (), experts="mlp.experts",
         router="mlp.gate|mlp.router"),
    # DeepSeek-V2/V3: multi-head latent attention; q_a_proj / kv_a_proj_with_mqa feed a norm (registration order
    # reads that right), their up-projections feed the attention
    Spec("HF DeepSeek MoE decoder layer", ((("self_attn.q_b_proj|self_attn.q_proj", "self_attn.kv_b_proj"),
                                            "self_attn.o_proj"),), (), experts="mlp.experts", router="mlp.gate",
         normed=_MLA_NORMS),
    Spec("HF DeepSeek dense decoder layer", ((("self_attn.q_b_proj|self_attn.q_proj", "self_attn.kv_b_proj"),
                                              "self_attn.o_proj"),),
         ((("mlp.gate_proj", "mlp.act_fn"), "mlp.down_proj"),), gated=("mlp.up_proj",), normed=_MLA_NORMS),
)
# a mixture-of-experts layer's always-on expert (Qwen2-MoE `shared_expert`, DeepSeek `shared_experts`): a gated MLP
# added to the routed experts' output, so a branch of its own; Qwen2-MoE scales it by sigmoid(shared_expert_gate)
SHARED_EXPERTS = ("mlp.shared_expert", "mlp.shared_experts")
ROUTER = Follow("scaled", "a top-k router's scores over the experts (softmax or sigmoid, then top k): 1/10 of "
                "the fan-in variance, so routing starts near uniform and the experts share the first updates (the "
                "reduced init scale of the Switch Transformer, Fedus et al. 2022, sec. 2.4)", gain=math.sqrt(0.1))
GATED = Follow("other", "the gated product act(gate) * up (a gated MLP; Shazeer 2020)")


# Single layers inside known modules: (name, layer path, activation path or None, what follows when no activation)
LAYERS = (
    ("HF prediction-head transform", "dense", "transform_act_fn", None),     # BERT MLM head: dense -act-> LayerNorm
    ("HF pooler", "dense", "activation", None),                              # BERT/ViT pooler: dense -> tanh
    ("HF ViT patch embedding", "projection", None, "the position table (added) and the first block"),
    ("timm-style patch embedding", "proj", None, "the position table (added) and the first block"),
)
_LAYER_OWNERS = {"HF prediction-head transform": ("PredictionHeadTransform",), "HF pooler": ("Pooler",),
                 "HF ViT patch embedding": ("PatchEmbeddings",), "timm-style patch embedding": ("PatchEmbed",)}


def known_layers(model: nn.Module) -> dict:
    """{layer name: Follow} for the single layers of LAYERS found in `model` (matched by owner class name)."""
    out = {}
    for mname, m in model.named_modules():
        cls = type(m).__name__
        for name, path, act_path, text in LAYERS:
            if not any(cls.endswith(k) for k in _LAYER_OWNERS[name]):
                continue
            layer = _get(m, path)
            if not isinstance(layer, nn.Module) or not is_weight_layer(layer):
                continue
            full = f"{mname}.{path}" if mname else path
            act = activation_of_module(_get(m, act_path)) if act_path and isinstance(_get(m, act_path), nn.Module) \
                else None
            out[full] = Follow("activation", act.text, act) if act is not None else Follow("other", text or name)
    return out


def uses_rotary(model: nn.Module) -> bool:
    """Whether the model's attention positions are rotary: a rotary-embedding module (Hugging Face's
    ...RotaryEmbedding, in Llama, Mistral, Qwen, Gemma, Phi-3, GPT-NeoX, Falcon, Mixtral, ModernBERT, ...)."""
    return any("Rotary" in type(x).__name__ for x in model.modules())


def _attention_of(m: nn.Module, q_path: str) -> nn.Module | None:
    """The attention module owning the input projection at `q_path` (its parent; the block itself at top level)."""
    return _get(m, q_path.rpartition(".")[0]) if "." in q_path else m


def _causal(m: nn.Module, q_path: str) -> bool:
    """Whether the attention module owning `q_path` masks the future (Hugging Face's `is_causal` attribute)."""
    return getattr(_attention_of(m, q_path), "is_causal", None) is True


def _head_dim(m: nn.Module, q_path: str) -> int | None:
    """d_k of the attention module owning `q_path` (T5Attention.key_value_proj_dim, else q's width / heads)."""
    att = _attention_of(m, q_path)
    dk = getattr(att, "key_value_proj_dim", None) or getattr(att, "head_dim", None)
    heads = getattr(att, "n_heads", None) or getattr(att, "num_heads", None)
    if not dk and heads:
        dk = getattr(_get(m, q_path), "out_features", 0) // int(heads)
    return int(dk) if dk else None


def _get(m: nn.Module, path: str):
    if "|" in path:                                   # alternatives: the first that exists
        path = _which(m, path)
    for bit in path.split("."):
        m = getattr(m, bit, None) if isinstance(m, nn.Module) else None
        if m is None:
            return None
    return m


def match(m: nn.Module) -> Spec | None:
    """The spec whose every layer path is a weight layer of `m` (torch's layers by type), or None."""
    if not any(True for _ in m.children()):           # a leaf holds no block (most modules of a big model)
        return None
    for spec in SPECS:
        if spec.torch_type is not None:
            if isinstance(m, spec.torch_type):
                return spec
            continue
        if all(isinstance(_get(m, p), nn.Module) and is_weight_layer(_get(m, p)) for p in _PATHS[spec.name]) and \
                all(isinstance(_get(m, p), nn.Module) and is_norm(_get(m, p)) for p in spec.end_norms):
            return spec
    return None


# every weight-layer path a spec needs, computed once (match runs for every module of the model)
_PATHS = {spec.name: tuple(p for ins, end in spec.attention for p in ins + (end,))
          + tuple(p for (i, _), o in spec.mlp for p in (i, o)) + tuple(spec.gated)
          + tuple(p for p in (spec.experts, spec.router) if p) for spec in SPECS}


def _which(m: nn.Module, path: str) -> str:
    """The alternative of `path` ("a|b") that exists in `m` (the last one when none does)."""
    alts = path.split("|")
    return next((p for p in alts[:-1] if _get(m, p) is not None), alts[-1])


def _add_mlp(follow: dict, branches: list, pre: str, first: str, act, out: str, gated=(), fused=False, norm=None,
             what: str = "activation") -> None:
    """One MLP branch: `first` -act-> (x each of `gated`) -> `out`, which ends the branch (into `norm`, if the
    block has one before the add, else the residual add).  A `fused` first layer holds gate and up itself."""
    if act is None:
        follow[pre + first] = Follow("other", f"{what} (not an elementwise activation initlab knows)")
    else:
        follow[pre + first] = _fused_follow(act) if fused else Follow("activation", act.text, act)
    for g in gated:
        follow[pre + g] = GATED
    follow[pre + out] = Follow("norm", pre + norm) if norm else RESIDUAL_ADD
    branches.append(Branch([pre + first] + [pre + g for g in gated] + [pre + out], pre + out,
                           pre + norm if norm else None))


def _experts(m: nn.Module, spec: Spec, pre: str, follow: dict, branches: list) -> None:
    """A mixture-of-experts MLP: router -> experts (gate_up -act-> x up, down), plus a shared expert if any.
    The experts' 3-D weights are layers of their own, named `experts.gate_up_proj` / `experts.down_proj`
    (targets.Target.layer); the module's own name is covered too, so a trace that ends a branch there is
    overruled."""
    ex = _get(m, spec.experts)
    e = spec.experts
    gate = getattr(ex, "has_gate", True)
    act = _act(ex, "act_fn")
    if gate and act is not None and not getattr(ex, "is_concatenated", True):
        act = None                                    # GPT-OSS: gate and up interleaved row by row, a clamped SwiGLU
    _add_mlp(follow, branches, pre, f"{e}.gate_up_proj" if gate else f"{e}.up_proj", act, f"{e}.down_proj",
             fused=gate, what="the experts' activation")
    router = pre + _which(m, spec.router)
    follow[router] = ROUTER
    branches[-1].layers.insert(0, router)
    follow[pre + e] = RESIDUAL_ADD
    for path in SHARED_EXPERTS:                       # a Llama MLP added to the routed experts' output
        sh = _get(m, path)
        if all(isinstance(_get(sh, k), nn.Module) and is_weight_layer(_get(sh, k))
               for k in ("gate_proj", "up_proj", "down_proj")):
            _add_mlp(follow, branches, f"{pre}{path}.", "gate_proj", _act(sh, "act_fn"), "down_proj",
                     gated=("up_proj",), what="act_fn")
            g = _get(m, path + "_gate")               # Qwen2-MoE: sigmoid(shared_expert_gate(x)) * shared
            if isinstance(g, nn.Module) and is_weight_layer(g):
                sig = activation_of_call("sigmoid", (), {})
                follow[pre + path + "_gate"] = Follow("activation", sig.text, sig)


def _act(m, path: str):
    """The elementwise activation module at `path` of `m` (an Activation), or None."""
    a = _get(m, path) if isinstance(m, nn.Module) else None
    return activation_of_module(a) if isinstance(a, nn.Module) else None


def _fused_follow(act) -> Follow:
    """The follower of a fused gate|up layer: act(first half) * second half, each half its own matrix."""
    return Follow("fused", f"the fused gate|up projection of a gated MLP: {act.text}(first half) * second half "
                  "(Shazeer 2020)", act)


def block_activation(m: nn.Module, spec: Spec, act_path: str | None):
    """The activation between the MLP's two layers (an Activation or None)."""
    if spec.torch_type is not None:                    # nn.TransformerEncoderLayer.activation: module or function
        a = getattr(m, "activation", None)
        if isinstance(a, nn.Module):
            return activation_of_module(a)
        name = getattr(a, "__name__", None)
        return activation_of_call(name, (), {}) if name else None
    return _act(m, act_path) if act_path else None


def structure(model: nn.Module) -> list[tuple[str, Spec, dict, list]]:
    """(block name, spec, {layer: Follow}, [Branch]) for every known block in `model`."""
    out = []
    taken: list[str] = []
    rotary = uses_rotary(model)
    for mname, m in model.named_modules():
        if any(mname.startswith(t + ".") for t in taken):
            continue
        spec = match(m)
        if spec is None:
            continue
        taken.append(mname)
        pre = f"{mname}." if mname else ""
        follow, branches = {}, []
        norms = iter(spec.end_norms)
        for ins, end in spec.attention:
            ins = tuple(_which(m, p) for p in ins)
            small = rotary and _causal(m, ins[0])
            for p in ins:
                follow[pre + p] = ROTARY_ATTENTION if small else ATTENTION
            if spec.unscaled:
                dk = _head_dim(m, ins[0])
                if dk:
                    rot = (" (times 1/sqrt(2): causal with rotary positions, so the logits start at variance 1/4)"
                           if small else "")
                    follow[pre + ins[0]] = Follow(
                        "scaled", f"attention logits q k^T computed without the 1/sqrt(d_k) of Vaswani et al. 2017 "
                        f"(d_k={dk}; T5, Raffel et al. 2020): the query carries it, so the logits start at unit "
                        f"scale, as T5's own init{rot}", gain=(ROTARY_GAIN if small else 1.0) / math.sqrt(dk))
            norm = next(norms, None)
            follow[pre + end] = Follow("norm", pre + norm) if norm else RESIDUAL_ADD
            branches.append(Branch([pre + p for p in ins] + [pre + end], pre + end, pre + norm if norm else None,
                                   reads_attention=True))
        for (i, act_path), o in spec.mlp:
            _add_mlp(follow, branches, pre, i, block_activation(m, spec, act_path), o, spec.gated, spec.fused,
                     next(norms, None), act_path or "activation")
        if spec.experts:
            _experts(m, spec, pre, follow, branches)
        for layer, norm in spec.normed:
            if isinstance(_get(m, layer), nn.Module) and isinstance(_get(m, norm), nn.Module):
                follow[pre + layer] = Follow("norm", pre + norm)
        out.append((mname, spec, follow, branches))
    return out


def apply(model: nn.Module, topo) -> set:
    """Write the known blocks' structure into `topo` (follows override, missing branches added).
    Returns the set of layer names the table covers."""
    found = structure(model)
    singles = known_layers(model)
    covered, counts = set(), {}
    if topo.method == "registration order":          # a trace saw these layers' real consumers: keep them
        topo.follow.update(singles)
        covered.update(singles)
    if not found:
        return covered
    for mname, spec, follow, branches in found:
        covered.update(follow)
    ends = {b.last for _, _, _, branches in found for b in branches}
    # a traced "branch" ending in a layer the table names but does not end a branch with is a misreading (Bloom's
    # and MPT's ALiBi bias is added to the attention scores, which the trace takes for a residual add): drop it
    topo.branches = [b for b in topo.branches if b.last not in covered or b.last in ends]
    have = {b.last: b for b in topo.branches}
    for mname, spec, follow, branches in found:
        topo.follow.update(follow)
        for b in branches:
            if b.last not in have:
                topo.branches.append(b)
                have[b.last] = b
            elif b.reads_attention:                   # a traced branch keeps its layers; the table says what it reads
                have[b.last].reads_attention = True
        counts[spec.name] = counts.get(spec.name, 0) + 1
    what = ", ".join(f"{n} x {name}" for name, n in counts.items())
    topo.notes.append(f"known blocks: {what}; their activations and residual branch ends come from initlab's block "
                      "table (policy/blocks.py), not from the trace")
    return covered


__all__ = ["SPECS", "Spec", "match", "structure", "apply"]
