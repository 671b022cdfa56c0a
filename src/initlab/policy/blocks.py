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

T5's attention has no 1/sqrt(d_k): its query is read "scaled" (Follow kind "scaled", gain 1/sqrt(d_k)), so auto
draws it that much smaller, as T5's own init does.

A gated MLP (SwiGLU / GeGLU; Shazeer 2020) multiplies act(gate(x)) by a second projection up(x): `up` is in the
branch and, like q/k/v, followed by no elementwise activation.

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
    Spec("HF ViT layer", ((("attention.q_proj", "attention.k_proj", "attention.v_proj"), "attention.o_proj"),),
         ((("mlp.fc1", "mlp.activation_fn"), "mlp.fc2"),)),
    Spec("timm-style block", ((("attn.qkv",), "attn.proj"),), ((("mlp.fc1", "mlp.act"), "mlp.fc2"),)),
    Spec("HF Gemma-2-style decoder layer", ((("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                                             "self_attn.o_proj"),),
         ((("mlp.gate_proj", "mlp.act_fn"), "mlp.down_proj"),), gated=("mlp.up_proj",),
         end_norms=("post_attention_layernorm", "post_feedforward_layernorm")),
    Spec("HF T5 self-attention", ((("SelfAttention.q", "SelfAttention.k", "SelfAttention.v"), "SelfAttention.o"),),
         (), unscaled=True),
    Spec("HF T5 cross-attention", ((("EncDecAttention.q", "EncDecAttention.k", "EncDecAttention.v"),
                                    "EncDecAttention.o"),), (), unscaled=True),
    Spec("HF T5 gated feed-forward", (), ((("DenseReluDense.wi_0", "DenseReluDense.act"), "DenseReluDense.wo"),),
         gated=("DenseReluDense.wi_1",)),
    Spec("HF T5 feed-forward", (), ((("DenseReluDense.wi", "DenseReluDense.act"), "DenseReluDense.wo"),)),
    Spec("HF Llama-style decoder layer", ((("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                                           "self_attn.o_proj"),),
         ((("mlp.gate_proj", "mlp.act_fn"), "mlp.down_proj"),), gated=("mlp.up_proj",)),
)
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


def _head_dim(m: nn.Module, q_path: str) -> int | None:
    """d_k of the attention module owning `q_path` (T5Attention.key_value_proj_dim, else q's width / heads)."""
    att = _get(m, q_path.rpartition(".")[0]) if "." in q_path else m
    dk = getattr(att, "key_value_proj_dim", None) or getattr(att, "head_dim", None)
    heads = getattr(att, "n_heads", None) or getattr(att, "num_heads", None)
    if not dk and heads:
        dk = getattr(_get(m, q_path), "out_features", 0) // int(heads)
    return int(dk) if dk else None


def _get(m: nn.Module, path: str):
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
          + tuple(p for (i, _), o in spec.mlp for p in (i, o)) + tuple(spec.gated) for spec in SPECS}


def block_activation(m: nn.Module, spec: Spec, act_path: str | None):
    """The activation between the MLP's two layers (an Activation or None)."""
    if spec.torch_type is not None:                    # nn.TransformerEncoderLayer.activation: module or function
        a = getattr(m, "activation", None)
        if isinstance(a, nn.Module):
            return activation_of_module(a)
        name = getattr(a, "__name__", None)
        return activation_of_call(name, (), {}) if name else None
    mod = _get(m, act_path) if act_path else None
    return activation_of_module(mod) if isinstance(mod, nn.Module) else None


def structure(model: nn.Module) -> list[tuple[str, Spec, dict, list]]:
    """(block name, spec, {layer: Follow}, [Branch]) for every known block in `model`."""
    out = []
    taken: list[str] = []
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
            for p in ins:
                follow[pre + p] = ATTENTION
            if spec.unscaled:
                dk = _head_dim(m, ins[0])
                if dk:
                    follow[pre + ins[0]] = Follow(
                        "scaled", f"attention logits q k^T computed without the 1/sqrt(d_k) of Vaswani et al. 2017 "
                        f"(d_k={dk}; T5, Raffel et al. 2020): the query carries it, so the logits start at unit "
                        "scale, as T5's own init", gain=1.0 / math.sqrt(dk))
            norm = next(norms, None)
            follow[pre + end] = Follow("norm", pre + norm) if norm else RESIDUAL_ADD
            branches.append(Branch([pre + p for p in ins] + [pre + end], pre + end, pre + norm if norm else None))
        for (i, act_path), o in spec.mlp:
            act = block_activation(m, spec, act_path)
            follow[pre + i] = Follow("activation", act.text, act) if act is not None else \
                Follow("other", f"{act_path or 'activation'} (not an elementwise activation initlab knows)")
            for g in spec.gated:
                follow[pre + g] = GATED
            norm = next(norms, None)
            follow[pre + o] = Follow("norm", pre + norm) if norm else RESIDUAL_ADD
            branches.append(Branch([pre + i] + [pre + g for g in spec.gated] + [pre + o], pre + o,
                                   pre + norm if norm else None))
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
    have = {b.last for b in topo.branches}
    for mname, spec, follow, branches in found:
        topo.follow.update(follow)
        covered.update(follow)
        for b in branches:
            if b.last not in have:
                topo.branches.append(b)
                have.add(b.last)
        counts[spec.name] = counts.get(spec.name, 0) + 1
    what = ", ".join(f"{n} x {name}" for name, n in counts.items())
    topo.notes.append(f"known blocks: {what}; their activations and residual branch ends come from initlab's block "
                      "table (policy/blocks.py), not from the trace")
    return covered


__all__ = ["SPECS", "Spec", "match", "structure", "apply"]
