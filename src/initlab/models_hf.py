"""`hf:TYPE[:key=value,...]`: a Hugging Face model built from its config, without weights and without a network.

    initlab plan hf:mixtral                                  # Mixtral-8x7B as configured by default (46.7 B)
    initlab plan hf:llama:num_hidden_layers=2,hidden_size=64,intermediate_size=128
    initlab plan hf:bert:num_hidden_layers=2 --policy bert

TYPE is a `model_type` of transformers' config registry (llama, mistral, mixtral, qwen2, phi3, gpt2, bert, t5,
vit, ...); the key=value pairs override the config's defaults (ints, floats, true/false, lists as [a,b,...],
else strings: hf:resnet:hidden_sizes=[16,32,64],depths=[1,1,1]).  The model
is the type's causal-LM class where it has one (else its base model, `AutoModel`), so the plan shows the output
head and its tie to the token table as a user's training script would hold them.

Size: the model is first built on the meta device (no memory: a 47 B-parameter config plans in seconds).  At most
SMALL parameters it is built again on the CPU, with the values its own `_init_weights` gives, so commands that run
it (diagnose, compare) work; above that it stays on meta, which `plan` handles (nothing to write: `init_` skips
meta tensors, as for any deferred init).  transformers is not a dependency of initlab: without it this spec
says how to install it.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from .errors import InitError, bad_argument, did_you_mean

SMALL = 200_000_000       # parameters: above this a config stays on the meta device


def _value(text: str):
    if text.startswith("[") and text.endswith("]"):       # a list: hidden_sizes=[16,32,64]
        return [_value(x.strip()) for x in text[1:-1].split(",") if x.strip()]
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _items(spec: str, opts: str) -> list[str]:
    """`opts` split at the commas outside [...] (a list value keeps its own commas)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(opts):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0 or depth > 1:
            break
        if ch == "," and depth == 0:
            out.append(opts[start:i])
            start = i + 1
    if depth != 0:
        raise bad_argument("build_model", "spec", spec, "hf:TYPE:key=value,key=[a,b,...]",
                           "close each list with one ']' and do not nest them, e.g. hf:resnet:hidden_sizes=[16,32,64]")
    return out + [opts[start:]]


def build_hf(spec: str) -> nn.Module:
    """The model of an `hf:TYPE[:key=value,...]` spec (see the module docstring)."""
    _, _, rest = spec.partition(":")
    mtype, _, opts = rest.partition(":")
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")      # a config from the registry: nothing to download
        import transformers
    except ImportError:
        raise InitError(f"build_model: spec={spec!r} needs Hugging Face transformers, which is not installed. "
                        "Fix: pip install transformers (initlab works without it otherwise)") from None
    transformers.logging.set_verbosity_error()
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    if mtype not in CONFIG_MAPPING:
        hint = did_you_mean(mtype, sorted(CONFIG_MAPPING.keys()))
        raise bad_argument("build_model", "spec", spec, "hf:TYPE with TYPE a transformers model_type (llama, "
                           "mistral, mixtral, qwen2, phi3, gpt2, bert, t5, vit, ...)",
                           (hint.strip() + " " if hint else "") + "e.g. initlab plan hf:llama:num_hidden_layers=2")
    overrides = {}
    for item in filter(None, _items(spec, opts)):
        key, eq, val = item.partition("=")
        if not eq or not key:
            raise bad_argument("build_model", "spec", spec, "hf:TYPE:key=value,key=value",
                               f"write {item!r} as key=value, e.g. hf:llama:num_hidden_layers=2")
        overrides[key] = _value(val)
    try:
        cfg = transformers.AutoConfig.for_model(mtype, **overrides)
        auto = (transformers.AutoModelForCausalLM if type(cfg) in transformers.AutoModelForCausalLM._model_mapping
                else transformers.AutoModel)
        with torch.device("meta"):
            model = auto.from_config(cfg)
        if sum(p.numel() for p in model.parameters()) <= SMALL:
            model = auto.from_config(cfg)
            _describe_inputs(model, cfg)
    except InitError:
        raise
    except Exception as e:  # noqa: BLE001 - a config transformers refuses: one line, with its own words
        raise InitError(f"build_model: spec={spec!r}: transformers could not build it ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}). Fix: check the key=value overrides against "
                        f"transformers.{CONFIG_MAPPING[mtype].__name__}") from None
    return model


def _describe_inputs(model: nn.Module, cfg) -> None:
    """Tell initlab's tools what a batch looks like (models.example_inputs): token ids for a text model, images
    of the config's size for a vision model; nothing otherwise, or when the model refuses such a batch (an
    encoder-decoder also wants decoder inputs): the plan then reads the structure without a forward pass."""
    try:
        emb = model.get_input_embeddings()
    except Exception:  # noqa: BLE001 - some models (CLIP, ResNet) do not implement it
        emb = None
    if isinstance(emb, nn.Embedding):
        seq = min(16, int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 16))
        model.initlab_token_inputs = (emb.num_embeddings, seq)
        x = torch.randint(0, emb.num_embeddings, (2, seq))
    elif isinstance(getattr(cfg, "image_size", None), int) and isinstance(getattr(cfg, "num_channels", None), int):
        model.initlab_input_shape = (cfg.num_channels, cfg.image_size, cfg.image_size)
        x = torch.randn(2, *model.initlab_input_shape)
    else:
        model.initlab_inputs_unknown = True
        return
    try:                                               # the guess must run, or the tools get no inputs at all
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001
        for attr in ("initlab_token_inputs", "initlab_input_shape"):
            model.__dict__.pop(attr, None)
        model.initlab_inputs_unknown = True


__all__ = ["build_hf", "SMALL"]
