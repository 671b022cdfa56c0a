"""Module families: what a module *does*, so policies treat modules by behaviour, not only by class.

A family names how a parameter is initialized and where its fans come from:

    linear          a dense map: torch's nn.Linear, and Hugging Face's GPT-2 `Conv1D` (weight stored
                    (in, out): its fans come from that layout, see `layout`)
    conv, conv_transpose, embedding, norm, rnn, mha, prelu    torch's own layers
    experts         a mixture-of-experts module's 3-D weights (E, out, in) (Hugging Face's `...Experts`:
                    gate_up_proj / up_proj / down_proj, "in_out" when stored (E, in, out)): planned one (out, in)
                    expert at a time, each like an nn.Linear (targets.natural_parts); a top-k router's (E, d)
                    weight is "linear"
    token           a learned class / distillation / register token (ViT `cls_token`): trunc_normal std 0.02
    position        a learned position table held as a bare parameter (ViT `position_embeddings`, timm
                    `pos_embed`): trunc_normal std 0.02 (Dosovitskiy et al. 2021; timm; HF ViT _init_weights)
    mask_token      a masked-modelling token: zeros (HF ViT / BEiT)
    layer_scale     a per-channel scale (CaiT/ConvNeXt/timm LayerScale `gamma`): kept at its constant value
    attention_bias  a learned relative-position bias table added to attention logits (Swin / BEiT
                    `relative_position_bias_table`; T5's `relative_attention_bias` embedding, by its name):
                    trunc_normal std 0.02 (Liu et al. 2021's code, timm)
    grn             Global Response Normalization's gamma and beta (ConvNeXt V2 `grn.weight` / `grn.bias`):
                    zeros, so the block starts without it (Woo et al. 2023)
    unknown         none of these: kept, and the plan says so

Layouts: "out_in" is torch's (weight (out, in, *kernel)); "in_out" is a dense weight stored transposed
(x @ W, e.g. HF Conv1D): plans write it through its transpose so every fan-based scheme sees (out, in).

Users add their own modules with `register_module`:

    >>> initlab.policy.register_module(MyDense, "linear", fan="in_out")   # weight stored (in, out)
    >>> initlab.policy.register_module(MyRMSNorm, "norm")
"""
from __future__ import annotations

import weakref

import torch
import torch.nn as nn

from ..errors import bad_argument, unknown_choice

FAMILIES = ("linear", "conv", "conv_transpose", "embedding", "norm", "rnn", "mha", "prelu", "experts")
PARAM_FAMILIES = ("token", "position", "mask_token", "layer_scale", "attention_bias", "grn")
LAYOUTS = ("out_in", "in_out")
WEIGHT_FAMILIES = ("linear", "conv", "conv_transpose", "embedding", "rnn", "mha", "experts")

NORM = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
_BUILTIN = (("linear", (nn.Linear, nn.Bilinear)), ("conv", (nn.Conv1d, nn.Conv2d, nn.Conv3d)),
            ("conv_transpose", (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)),
            ("embedding", (nn.Embedding, nn.EmbeddingBag)), ("norm", NORM), ("rnn", (nn.RNNBase, nn.RNNCellBase)),
            ("mha", (nn.MultiheadAttention,)), ("prelu", (nn.PReLU,)))

_REGISTRY: dict[type, tuple[str, str]] = {}     # user registrations: class -> (family, layout)
_CACHE: dict[type, tuple[str, str]] = {}


def register_module(cls: type, family: str, *, fan: str = "out_in") -> type:
    """Tell initlab what `cls` is: one of FAMILIES, its weight layout ("out_in", torch's, or "in_out").

    Registered classes (and their subclasses) are then planned like the family's torch module: fans,
    activation gains, residual scaling, diagnose's per-parameter advice.  Returns `cls` (usable as a
    class decorator through functools.partial).

    Example:
        >>> initlab.policy.register_module(Conv1D, "linear", fan="in_out")
    """
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise bad_argument("register_module", "cls", cls, "a torch.nn.Module subclass",
                           "pass the class itself, e.g. register_module(MyLinear, 'linear')")
    if family not in FAMILIES:
        raise unknown_choice("register_module", "family", family, FAMILIES)
    if fan not in LAYOUTS:
        raise unknown_choice("register_module", "fan", fan, LAYOUTS)
    _REGISTRY[cls] = (family, fan)
    _CACHE.clear()
    return cls


def unregister_module(cls: type) -> None:
    """Undo `register_module(cls, ...)` (for tests and notebooks)."""
    _REGISTRY.pop(cls, None)
    _CACHE.clear()


def _is_hf_conv1d(m: nn.Module) -> bool:
    """Hugging Face's Conv1D (transformers.pytorch_utils): y = x @ W + b with W of shape (nx, nf)."""
    w = getattr(m, "weight", None)
    return (type(m).__name__ == "Conv1D" and hasattr(m, "nf") and hasattr(m, "nx") and w is not None
            and tuple(w.shape) == (m.nx, m.nf))


def _is_hf_experts(m: nn.Module) -> bool:
    """Hugging Face's mixture-of-experts weights (transformers >= 5, `@use_experts_implementation`: Mixtral,
    Qwen2/3-MoE, OLMoE, ...): 3-D `down_proj` (E, out, in), `is_transposed` when stored (E, in, out)."""
    w = getattr(m, "down_proj", None)
    return (hasattr(m, "is_transposed") and hasattr(m, "has_gate") and isinstance(w, nn.Parameter) and w.dim() == 3)


def _is_hf_router(m: nn.Module) -> bool:
    """A Hugging Face top-k router (MixtralTopKRouter & co): logits = x W^T over the experts, W (E, d)."""
    w = getattr(m, "weight", None)
    return (type(m).__name__.endswith("Router") and isinstance(w, nn.Parameter) and w.dim() == 2
            and hasattr(m, "top_k"))


def _is_named_norm(m: nn.Module) -> bool:
    """Norms of other libraries are named, not typed: Hugging Face's own rule ("LayerNorm" / "RMSNorm" in the
    class name, modeling_utils._init_weights) with a weight of one dim."""
    name = type(m).__name__
    w = getattr(m, "weight", None)
    return ("LayerNorm" in name or "RMSNorm" in name) and (w is None or getattr(w, "dim", lambda: 0)() == 1)


def classify(m: nn.Module) -> tuple[str, str]:
    """(family, layout) of a module: user registrations first, then torch's classes, then known foreign ones."""
    t = type(m)
    got = _CACHE.get(t)
    if got is not None and t.__name__ != "Conv1D":
        return got
    out = None
    for c in t.__mro__:
        if c in _REGISTRY:
            out = _REGISTRY[c]
            break
    if out is None:
        out = next(((fam, "out_in") for fam, types in _BUILTIN if isinstance(m, types)), None)
    if out is None:
        if _is_hf_conv1d(m):
            out = ("linear", "in_out")
        elif _is_hf_experts(m):
            out = ("experts", "in_out" if m.is_transposed else "out_in")
        elif _is_hf_router(m):
            out = ("linear", "out_in")
        elif _is_named_norm(m):
            out = ("norm", "out_in")
        else:
            out = ("unknown", "out_in")
    _CACHE[t] = out
    return out


def family(m: nn.Module) -> str:
    return classify(m)[0]


def layout(m: nn.Module) -> str:
    return classify(m)[1]


def is_weight_layer(m: nn.Module) -> bool:
    """A layer whose output is a weighted sum of its input (what the tracers call a "layer")."""
    return family(m) in WEIGHT_FAMILIES


def is_norm(m: nn.Module) -> bool:
    return family(m) == "norm"


_OFFSETS: "weakref.WeakKeyDictionary[nn.Module, float]" = weakref.WeakKeyDictionary()


def norm_offset(m: nn.Module) -> float:
    """1.0 for a norm that scales by (1 + weight), whose identity is weight 0 (Gemma's RMSNorm and its copies,
    which start at 0), else 0.0.

    Found by running the norm, not by its name: on a fixed random input (weight and bias substituted through
    torch.func.functional_call, so nothing of the module is written), weight 1 must give twice what weight 0
    gives.  Only named norms of other libraries are probed (torch's own scale by `weight`), and only those
    with no buffers (a BatchNorm-like module would update its running statistics).  Measured once per module
    (every policy's norm rows and auto's branch-end norms ask)."""
    got = _OFFSETS.get(m)
    if got is None:
        got = _OFFSETS[m] = _measure_offset(m)
    return got


def _measure_offset(m: nn.Module) -> float:
    w = getattr(m, "weight", None)
    if isinstance(m, NORM) or not _is_named_norm(m) or not isinstance(w, torch.Tensor) or w.dim() != 1:
        return 0.0
    if any(True for _ in m.buffers(recurse=False)):
        return 0.0
    gen = torch.Generator(device="cpu").manual_seed(0)
    d = w.numel()
    bias = getattr(m, "bias", None)
    dev = torch.device("cpu") if w.is_meta else w.device    # a model built on the meta device: probe on the CPU
    for shape in ((2, 3, d), (2, d, 3, 3)):         # channels last (LayerNorm/RMSNorm), channels first
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(device=dev, dtype=w.dtype)
        outs = []
        try:
            with torch.no_grad():
                for v in (0.0, 1.0):
                    params = {"weight": torch.full(w.shape, v, dtype=w.dtype, device=dev)}
                    if isinstance(bias, torch.Tensor):
                        params["bias"] = torch.zeros(bias.shape, dtype=bias.dtype, device=dev)
                    outs.append(torch.func.functional_call(m, params, (x,)))
        except Exception:       # noqa: BLE001 -- a shape the module refuses: try the next, else scale by weight
            continue
        if not all(isinstance(o, torch.Tensor) and o.shape == x.shape for o in outs):
            continue
        zero, one = (o.double() for o in outs)
        return 1.0 if zero.abs().max() > 1e-3 and torch.allclose(one, 2 * zero, rtol=1e-3, atol=1e-4) else 0.0
    return 0.0


_TOKEN = ("cls_token", "class_token", "dist_token", "reg_token", "register_tokens", "registers", "cls_embedding")
_POSITION = ("pos_embed", "pos_embedding", "position_embeddings", "position_embedding", "positional_embedding",
             "absolute_pos_embed", "pos_emb")
_MASK = ("mask_token", "mask_embedding")
_SCALE = ("gamma", "gamma_1", "gamma_2", "ls", "layer_scale", "layerscale", "lambda1", "lambda2", "scale")
_REL_BIAS = ("relative_position_bias_table", "rel_pos_bias_table", "relative_bias_table")
_REL_BIAS_MODULES = ("relative_attention_bias",)   # T5-family nn.Embedding of per-bucket, per-head logit biases
_GRN = ("grn", "globalresponsenorm")      # class names (lower case) containing one of these: HF ConvNextV2GRN, timm


def param_family(module: nn.Module, local: str, param, module_name: str = "") -> str:
    """The family of one parameter: its module's, or for a bare parameter of an unknown module (a
    container holding `cls_token`, `pos_embed`, `gamma`, ...) one of PARAM_FAMILIES by its name.  An
    embedding registered as `relative_attention_bias` (T5's bucketed bias) is an attention bias."""
    fam = family(module)
    if fam == "embedding" and module_name.rpartition(".")[2] in _REL_BIAS_MODULES:
        return "attention_bias"                   # an nn.Embedding read by the attention logits, not the stream
    if fam != "unknown":
        return fam
    key = local.lower()
    if key in _MASK:
        return "mask_token"
    if key in _TOKEN or key.endswith("cls_token"):
        return "token"
    if key in _POSITION or (key.endswith("pos_embed") and param.dim() >= 2):
        return "position"
    if (key in _SCALE or key.startswith("layer_scale") or key.startswith("gamma")) and param.dim() <= 1:
        return "layer_scale"
    if key in _REL_BIAS:
        return "attention_bias"
    if key in ("weight", "bias", "gamma", "beta") and any(g in type(module).__name__.lower() for g in _GRN):
        return "grn"
    return "unknown"


__all__ = ["register_module", "unregister_module", "classify", "family", "layout", "is_weight_layer", "is_norm",
           "norm_offset", "param_family", "FAMILIES", "PARAM_FAMILIES", "LAYOUTS"]
