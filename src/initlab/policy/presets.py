"""Named presets: torch_default, gpt2, fixup, zero_init_residual, zero (ZerO), lsuv.

Names are spelled with underscores, like scheme names; api.resolve accepts the hyphenated spellings
(torch-default, zero-init-residual) too.

Each is a frozen dataclass (a policy is data); its options are its fields.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from ..errors import InitError, bad_argument, check_finite
from ..schemes import fans_from_shape
from .auto import Auto, choose, follow_of
from .base import (Context, Decision, bias_decision, expand, is_weight, keep_as_is, per_target, structural, use,
                   weight_decisions)
from .targets import MHA, natural_parts


def branch_ends(ctx: Context) -> set:
    """Module names of the last layer of every residual branch (an MHA's out_proj counts as its module too)."""
    ends = set()
    for b in ctx.topology.branches:
        ends.add(b.last)
    return ends


# ------------------------------------------------------------------ torch_default
@dataclass(frozen=True)
class TorchDefault:
    """Exactly the distributions of torch's own reset_parameters (torch/nn/modules/*.py).

    Linear/Conv/ConvTranspose: weight kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)) (general_rule_uniform),
    bias U(+-1/sqrt(fan_in)); Embedding N(0, 1) with the padding row 0; norms 1/0; RNN/LSTM/GRU every
    parameter U(+-1/sqrt(hidden)); MultiheadAttention in_proj xavier_uniform_ on the stacked weight, in_proj
    and out_proj biases 0, bias_k/bias_v xavier_normal_.  With seed=None the draws come from the global RNG in
    registration order, so a module whose constructor draws in that order (Linear, Conv, Embedding, RNNs,
    Sequential of them) is reproduced bit for bit; MultiheadAttention draws its out_proj first, so there the
    match is in distribution only.  Buffers (BatchNorm running stats) are not touched.
    """

    name: str = "torch_default"
    needs_data = False

    def decide(self, ctx: Context) -> list[Decision]:
        out = []
        mods = ctx.modules
        # an expert bias's fan is its weight's input size as the experts see it (Target.shape: (E, out, in), the
        # orientation read in one place, part_view); e.g. gate_up_proj_bias -> gate_up_proj
        expert_in = {(t.module_name, t.local): t.shape[2] for t in ctx.targets
                     if t.family == "experts" and not t.is_bias and t.param.dim() == 3}
        for t in ctx.targets:  # whole parameters: torch does not split q/k/v or gates
            d = structural(t)
            if d is not None:
                out.append(d)
            elif t.family == "norm":  # norm bias
                out.append(bias_decision(t, ctx.bias, use(t, "zeros", {}, "torch_default", "norm bias 0")))
            elif t.family == "experts":  # no torch reset: each expert as the nn.Linear it stands for
                if t.is_bias:
                    fan_in = expert_in.get((t.module_name, t.local.replace("_bias", "")))
                    bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
                    out.append(bias_decision(t, ctx.bias, use(t, "uniform", {"a": -bound, "b": bound}, "torch_default",
                                                              f"bias U(+-1/sqrt(fan_in)), fan_in={fan_in} (as "
                                                              "nn.Linear's)")))
                else:
                    out.extend(use(p, "general_rule_uniform", {}, "torch_default",
                                   "one expert's (out, in) block as an nn.Linear: kaiming_uniform_(a=sqrt(5)) = "
                                   "U(+-1/sqrt(fan_in)) (the experts module has no torch reset of its own)")
                               for p in t.split(natural_parts(t)))
            elif t.family in ("linear", "conv", "conv_transpose"):
                parent = mods.get(t.module_name.rpartition(".")[0]) if "." in t.module_name else (
                    ctx.model if t.module_name else None)
                in_mha = isinstance(parent, MHA) and t.module_name.endswith("out_proj")
                if not t.is_bias:
                    out.append(use(t, "general_rule_uniform", {}, "torch_default",
                                   "kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)) (torch's reset_parameters)"))
                elif in_mha:
                    out.append(bias_decision(t, ctx.bias, use(t, "zeros", {}, "torch_default",
                                                              "MultiheadAttention out_proj bias 0")))
                else:
                    fan_in = fans_from_shape(tuple(t.module.weight.shape))[0]
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                    out.append(bias_decision(t, ctx.bias, use(t, "uniform", {"a": -bound, "b": bound}, "torch_default",
                                                              f"bias U(+-1/sqrt(fan_in)), fan_in={fan_in}")))
            elif t.family == "embedding":
                out.extend(weight_decisions(t, "normal", {"mean": 0.0, "std": 1.0}, "torch_default", "N(0, 1)"))
            elif t.family == "rnn":
                h = t.module.hidden_size
                stdv = 1.0 / math.sqrt(h) if h > 0 else 0
                d = use(t, "uniform", {"a": -stdv, "b": stdv}, "torch_default", f"U(+-1/sqrt(hidden)), hidden={h}")
                out.append(bias_decision(t, ctx.bias, d) if t.is_bias else d)
            elif t.family == "mha":
                if t.local in ("bias_k", "bias_v"):
                    out.append(use(t, "xavier_normal", {"gain": 1.0}, "torch_default", f"{t.local}: xavier_normal_"))
                elif t.is_bias:
                    out.append(bias_decision(t, ctx.bias, use(t, "zeros", {}, "torch_default", "in_proj_bias 0")))
                else:
                    out.append(use(t, "xavier_uniform", {"gain": 1.0}, "torch_default",
                                   f"{t.local}: xavier_uniform_ (fans of the whole stacked weight, as torch)"))
            else:
                out.append(keep_as_is(t, "torch_default", "no torch default known"))
        return out


# ------------------------------------------------------------------ gpt2
GPT2_RESIDUAL = ("*c_proj.weight", "*out_proj.weight", "*fc2.weight", "*w2.weight")


@dataclass(frozen=True)
class GPT2:
    """GPT-2 (Radford et al. 2019; HF GPT2PreTrainedModel._init_weights): every weight N(0, std^2), biases 0,
    norms 1/0, and residual output projections N(0, (std/sqrt(2 n_layer))^2).

    residual: globs on parameter names of the projections that write into the residual stream; with the
              default globs the last layer of every residual branch found in the structure counts too
              (trace or known block, blocks.py: timm's attn.proj, BERT's output.dense, ...).
    n_layer: number of blocks; None counts the matched projections (2 per block: 2 n_layer = count).
    """

    std: float = 0.02
    residual: tuple = GPT2_RESIDUAL
    n_layer: int | None = None
    name: str = "gpt2"
    needs_data = False

    def __post_init__(self):
        check_finite("gpt2", std=self.std)
        if self.std <= 0:
            raise bad_argument("gpt2", "std", self.std, "std > 0", "e.g. std=0.02")
        if self.n_layer is not None and (isinstance(self.n_layer, bool) or not isinstance(self.n_layer, int)
                                         or self.n_layer < 1):
            raise bad_argument("gpt2", "n_layer", self.n_layer, "a positive int or None (count projections)",
                               "e.g. n_layer=12")

    def decide(self, ctx: Context) -> list[Decision]:
        def resid(t):
            return any(fnmatch.fnmatchcase(t.param_name, p) for p in self.residual)

        targets = expand(ctx.targets, split=False)
        # models helper: with the default globs, every branch end the trace / block table shows counts too;
        # residual=(...) given by the user is taken literally
        ends = branch_ends(ctx) if self.residual == GPT2_RESIDUAL else set()
        glob_resid = resid

        def resid(t):  # noqa: F811 - the globs, and every residual branch end the structure shows
            return glob_resid(t) or (t.layer in ends and not t.is_bias)
        n_res = sum(1 for t in targets if t.kept is None and is_weight(t) and resid(t))
        if self.n_layer is not None:
            two_n, how = 2 * self.n_layer, f"n_layer={self.n_layer}"
        else:
            two_n, how = max(n_res, 1), f"2 n_layer = {n_res} residual projections found"
            if n_res == 0:
                ctx.notes.append(f"gpt2: no residual branch end found and no parameter matches the residual "
                                 f"patterns {list(self.residual)}; no projection is scaled (pass example_inputs=..., "
                                 "or initlab.policy.GPT2(residual=(...)))")
        small = self.std / math.sqrt(two_n)

        def weight(t):
            if resid(t):
                return use(t, "normal", {"mean": 0.0, "std": small}, "gpt2 residual",
                           f"residual projection: N(0, ({self.std:g}/sqrt({two_n}))^2), {how} (Radford et al. 2019)")
            return weight_decisions(t, "normal", {"mean": 0.0, "std": self.std}, "gpt2", f"N(0, {self.std:g}^2) (GPT-2)")
        return per_target(ctx, weight, targets)


# ------------------------------------------------------------------ fixup
@dataclass(frozen=True)
class Fixup:
    """Fixup (Zhang et al. 2019, "Fixup Initialization", section 3): with L residual branches of m layers,
    (1) the classification layer and the last layer of each branch start at 0, (2) other layers inside a
    branch get the standard (auto / He) init scaled by L^(-1/(2m-2)); layers outside branches get auto's choice.
    """

    name: str = "fixup"
    needs_data = False

    def decide(self, ctx: Context) -> list[Decision]:
        topo = ctx.topology
        L = len(topo.branches)
        if L == 0:
            raise InitError(f"plan: policy='fixup' found no residual branches (x + f(x)) in the model "
                            f"(method: {topo.method}); expected a model with skip connections. Fix: use 'auto' for "
                            "plain nets, or pass example_inputs=... if the model cannot be traced by torch.fx.")
        base = Auto(residual="none", calibrate=False)
        out = []
        for d in base.decide(ctx):
            t = d.target
            if d.action == "keep" or t.family not in ("linear", "conv", "conv_transpose", "experts") or t.is_bias:
                out.append(d)
                continue
            name = t.layer
            hit = topo.branch_of(name)
            follow = follow_of(topo, t)[0]                       # one half of a fused gate|up layer as the split one
            if hit is None:
                if follow is not None and follow.kind == "output":
                    out.append(use(t, "zeros", {}, "fixup", "classification layer -> 0 (Fixup rule 1)"))
                else:
                    out.append(d)
                continue
            b, i = hit
            k, m = topo.branches.index(b) + 1, len(b.layers)
            if name == b.last:
                out.append(use(t, "zeros", {}, "fixup", f"last layer of residual branch {k}/{L} -> 0 (Fixup rule 1)"))
                continue
            scheme, kwargs, gain, reason = choose(follow)
            f = L ** (-1.0 / (2 * m - 2))
            g = gain * f
            out.append(use(t, "variance_scaling", {"scale": g * g, "mode": "fan_in", "distribution": "normal"},
                           "fixup", f"{reason}; inside residual branch {k}/{L} (m={m}): gain x L^(-1/(2m-2)) = "
                           f"{f:.4f} (Fixup rule 2)"))
        return out


# ------------------------------------------------------------------ ZerO
@dataclass(frozen=True)
class ZerO:
    """ZerO (Zhao et al. 2021): every weight matrix/kernel from zeros and ones (schemes.zero_init_), biases 0."""

    name: str = "zero"
    needs_data = False

    def decide(self, ctx: Context) -> list[Decision]:
        def weight(t):
            if t.family == "embedding":
                return weight_decisions(t, "normal", {"mean": 0.0, "std": 1.0}, "zero",
                                        "ZerO defines no embedding init: N(0, 1) (torch's default)")
            return use(t, "zero_init", {}, "zero", "ZerO: identity / partial identity / Hadamard (Zhao et al. 2021)")
        return per_target(ctx, weight)


# ------------------------------------------------------------------ LSUV
@dataclass(frozen=True)
class LSUV:
    """LSUV (Mishkin & Matas 2015): orthogonal weights, then layer by layer (forward order) divide the weight
    by sqrt(Var(output)) on example_inputs until |Var - 1| < tol or max_iter rounds.  Other parameters: auto."""

    tol: float = 0.1
    max_iter: int = 10
    name: str = "lsuv"
    needs_data = True

    def __post_init__(self):
        check_finite("lsuv", tol=self.tol)
        if self.tol <= 0:
            raise bad_argument("lsuv", "tol", self.tol, "tol > 0", "e.g. tol=0.1 (Mishkin & Matas use 0.1)")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise bad_argument("lsuv", "max_iter", self.max_iter, "an int >= 1", "e.g. max_iter=10")

    def decide(self, ctx: Context) -> list[Decision]:
        out = []
        for d in Auto(residual="none", calibrate=False).decide(ctx):
            t = d.target
            if d.action != "keep" and t.family in ("linear", "conv", "conv_transpose") and not t.is_bias:
                out.append(use(t, "orthogonal", {"gain": 1.0}, "lsuv",
                               f"orthogonal (Saxe et al. 2014), then scaled at apply time so this layer's output "
                               f"variance on example_inputs is 1 (tol {self.tol:g}, at most {self.max_iter} rounds; "
                               "Mishkin & Matas 2015)", action="lsuv"))
            else:
                out.append(d)
        return out


PRESETS = {
    "auto": Auto(),
    "torch_default": TorchDefault(),
    "gpt2": GPT2(),
    "fixup": Fixup(),
    "zero_init_residual": Auto(residual="zero", name="zero_init_residual"),
    "zero": ZerO(),
    "lsuv": LSUV(),
}
from .hf_presets import BERT  # noqa: E402 - models helper: reference inits of Hugging Face families
PRESETS["bert"] = BERT()
