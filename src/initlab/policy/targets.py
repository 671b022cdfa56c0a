"""What a policy can write: every parameter of a model, its owner, its family and its natural parts.

A *target* is a parameter or a row-slice of one.  Two kinds of parameters are
stacks of independent matrices, and are split so each part gets its own fans:
  * nn.MultiheadAttention.in_proj_weight (3E, E) = [W_q; W_k; W_v]
    (each an (E, E) block: fan_in = fan_out = E, not the stacked (3E, E));
  * RNN/LSTM/GRU weights stack their gates along dim 0 (torch's layout:
    LSTM i, f, g, o; GRU r, z, n; see torch.nn.LSTM docs), so
    weight_ih_l0 (4H, in) is four (H, in) gate blocks;
  * the 3-D weights of a mixture-of-experts module (Hugging Face's `...Experts`: gate_up_proj / up_proj /
    down_proj of shape (E, out, in), or (E, in, out) when stored transposed) are E independent (out, in)
    matrices, one per expert.  A part of such a weight indexes the rows of its experts stacked along dim 0
    (E * out rows; `part_view`), so every part is a 2-D (out, in) view and the schemes' fans are the expert's.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import bad_argument
from . import families
from .keep import kept_reason

LINEAR = (nn.Linear,)
CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
EMBEDDING = (nn.Embedding, nn.EmbeddingBag)
NORM = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
RNN = (nn.RNNBase, nn.RNNCellBase)
MHA = (nn.MultiheadAttention,)
PRELU = (nn.PReLU,)
WEIGHT_LAYERS = LINEAR + CONV + CONV_T + EMBEDDING + RNN + MHA

GATES = {"LSTM": "ifgo", "LSTMCell": "ifgo", "GRU": "rzn", "GRUCell": "rzn"}


def family(module: nn.Module) -> str:
    """linear | conv | conv_transpose | embedding | norm | rnn | mha | prelu | unknown (see families.py:
    user registrations and foreign modules such as Hugging Face's Conv1D count too)."""
    return families.family(module)


def rnn_gate_names(module: nn.Module) -> str:
    """Gate letters in torch's stacking order ('ifgo' LSTM, 'rzn' GRU, 'h' plain RNN)."""
    return GATES.get(type(module).__name__, GATES.get(type(module).__mro__[1].__name__, "h"))


def rnn_activation(module: nn.Module) -> str:
    return getattr(module, "nonlinearity", "tanh")


@dataclass
class Target:
    """One parameter, or a row-slice of one (`part` = (label, start, stop) along dim 0)."""

    param_name: str            # qualified parameter name, e.g. "encoder.0.weight"
    module_name: str           # qualified owner name, "" for the root
    module: nn.Module
    local: str                 # the parameter's own name, e.g. "weight"
    param: torch.Tensor
    family: str
    kept: str | None           # why the parameter must not be written (None: free)
    part: tuple | None = None  # (label, start, stop)
    transposed: bool = False   # stored (in, out) (families.py layout "in_out"): planned and written as (out, in)
    aliases: tuple = ()        # other qualified names of the same tensor (tied weights), see ties.py

    @property
    def name(self) -> str:
        return f"{self.param_name}[{self.part[0]}]" if self.part else self.param_name

    @property
    def shape(self) -> tuple:
        return tuple(self.view().shape)          # a view: no copy, and one place (part_view) for the orientation

    @property
    def layer(self) -> str:
        """The layer name the model's graph (trace, block table) knows this weight by: its module's, or for a
        mixture-of-experts module, whose 3-D weights are layers of their own, `module.param` (blocks.py)."""
        return f"{self.module_name}.{self.local}" if self.family == "experts" else self.module_name

    @property
    def is_bias(self) -> bool:
        return "bias" in self.local

    def view(self, tensor: torch.Tensor | None = None) -> torch.Tensor:
        return part_view(self.param if tensor is None else tensor, self.part, self.transposed)

    def split(self, parts) -> list["Target"]:
        return [Target(self.param_name, self.module_name, self.module, self.local, self.param, self.family,
                       self.kept, p, self.transposed, self.aliases) for p in parts]


def part_view(t: torch.Tensor, part: tuple | None, transposed: bool) -> torch.Tensor:
    """What a target (or plan row) writes of parameter `t`: the (out, in) orientation of a transposed layout,
    then rows [start, stop) of `part`.  A 3-D weight (experts, out, in) is seen as its experts' rows stacked
    (E * out rows): a part lies inside one expert and is a 2-D view of it."""
    if t.dim() == 3 and part is not None:
        if transposed:
            t = t.transpose(1, 2)
        e, lo = divmod(part[1], t.shape[1])
        return t[e, lo:lo + part[2] - part[1]]
    if transposed:
        t = t.transpose(1, 2) if t.dim() == 3 else t.t()
    return t[part[1]:part[2]] if part else t


def collect(model: nn.Module, keep_patterns=()) -> list[Target]:
    """Every parameter of `model` (shared parameters once, first owner wins), in registration order."""
    if not isinstance(model, nn.Module):
        raise bad_argument("plan", "model", type(model).__name__, "a torch.nn.Module",
                           "pass the model (or a submodule such as model.head)")
    modules = dict(model.named_modules(remove_duplicate=False))
    seen: set[int] = set()
    out = []
    for mname, mod in model.named_modules():
        for local, p in mod.named_parameters(recurse=False):
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            qual = f"{mname}.{local}" if mname else local
            owners = [("", model)] + [(n, modules[n]) for n in _prefixes(mname)]
            fam = families.param_family(mod, local, p, mname)
            transposed = families.layout(mod) == "in_out" and ((fam == "linear" and local == "weight" and p.dim() == 2)
                                                              or (fam == "experts" and p.dim() == 3))
            out.append(Target(qual, mname, mod, local, p, fam, kept_reason(qual, p, owners, keep_patterns),
                              transposed=transposed))
    from .ties import resolve_ties
    return resolve_ties(model, out)


def _prefixes(mname: str) -> list[str]:
    if not mname:
        return []
    bits = mname.split(".")
    return [".".join(bits[:i]) for i in range(1, len(bits) + 1)]


def natural_parts(t: Target) -> list[tuple] | None:
    """q/k/v of a packed MHA in_proj, RNN gate blocks, one (out, in) block per expert; None when the parameter is
    one piece."""
    if t.family == "mha" and t.local == "in_proj_weight":
        e = t.module.embed_dim
        return [("q", 0, e), ("k", e, 2 * e), ("v", 2 * e, 3 * e)]
    if t.family == "experts" and t.param.dim() == 3 and not t.is_bias:
        e, out = t.param.shape[0], t.shape[1]                       # t.shape: (E, out, in) as the experts see it
        return [(f"expert{i}", i * out, (i + 1) * out) for i in range(e)]
    if t.family == "rnn" and (t.local.startswith("weight_ih") or t.local.startswith("weight_hh")
                              or (t.local.startswith("bias_ih") and "f" in rnn_gate_names(t.module))):
        gates = rnn_gate_names(t.module)
        h = t.module.hidden_size
        if len(gates) > 1 and t.param.shape[0] == len(gates) * h:
            return [(g, i * h, (i + 1) * h) for i, g in enumerate(gates)]
    return None
