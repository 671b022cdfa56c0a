"""Policies as data, and the decisions they produce.

A policy is an immutable description (a scheme name, a rule list, a preset
with its options).  `decide(ctx)` turns it into one `Decision` per target:
which scheme with which arguments, the rule that matched and why.  Deciding is
pure; only Plan.apply writes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InitError, bad_argument, unknown_choice
from ..schemes import get_scheme
from .rules import KEEP, Rule, as_rule, unmatched_error
from .targets import Target, collect, natural_parts
from .families import norm_offset
from .ties import tie_text


@dataclass
class Decision:
    target: Target
    scheme: str | None        # None: keep the current values
    kwargs: dict
    rule: str
    reason: str
    action: str = "init"      # init | keep | lsuv | calibrate


@dataclass(frozen=True)
class Calibration:
    """The batch and the target of auto's apply-time calibration (rows with action "calibrate").

    Either the user's `example_inputs`, or a recipe for a fixed batch: `rows` standard-normal samples of
    `shape` from its own torch.Generator seeded with `seed` (regenerated at apply time on the device and in
    the dtype of `like`, so the global RNG and the plan's seed stream are never touched).
    """

    source: str                         # "example_inputs" | "synthetic"
    statistic: str = "second moment"    # of each calibrated layer's output
    target: float = 1.0
    tol: float = 0.01
    max_iter: int = 5
    example_inputs: object = field(default=None, repr=False, compare=False)
    shape: tuple | None = None          # one sample (synthetic)
    rows: int = 0
    seed: int | None = None
    shape_from: str = ""                # where the shape came from, for the plan's note
    like: str | None = None             # parameter whose device and dtype the batch takes
    center: bool = False                # example_inputs: also centre layers (auto_data.py, calibrate.py)
    targets: tuple = ()                 # ((module name, target), ...) where a layer's target is not `target`

    def batch(self, model=None):
        if self.source == "example_inputs":
            return self.example_inputs
        import torch
        x = torch.randn((self.rows, *self.shape), generator=torch.Generator().manual_seed(self.seed),
                        dtype=torch.float64)
        p = dict(model.named_parameters()).get(self.like) if model is not None and self.like else None
        if p is not None and p.dtype.is_floating_point:
            return x.to(device=p.device, dtype=p.dtype)
        return x.float()

    def text(self) -> str:
        if self.source == "example_inputs":
            from .trace import shapes
            return f"example_inputs ({shapes(self.example_inputs)})"
        return (f"a fixed standard-normal batch of {self.rows} x {tuple(self.shape)} (torch.Generator seed "
                f"{self.seed}; shape from {self.shape_from})")

    def to_dict(self) -> dict:
        d = {"source": self.source, "statistic": self.statistic, "target": self.target, "tol": self.tol,
             "max_iter": self.max_iter}
        if self.targets:
            d["targets"] = {n: v for n, v in self.targets if v != self.target}
        if self.center:
            d["center"] = "unit means into the bias when they carry > 50 % of the output's mean of squares"
        if self.source == "synthetic":
            d.update(rows=self.rows, shape=list(self.shape), seed=self.seed, shape_from=self.shape_from)
        return d


def use(t: Target, scheme: str, kwargs: dict | None, rule: str, reason: str, action: str = "init") -> Decision:
    return Decision(t, scheme, dict(kwargs or {}), rule, reason + tie_text(t), action)


def keep_as_is(t: Target, rule: str, reason: str) -> Decision:
    return Decision(t, None, {}, rule, reason + tie_text(t), "keep")


@dataclass
class Context:
    """What deciding may look at: the model, its targets, options and (lazily) its topology."""

    model: object
    targets: list
    bias: tuple | None = None          # normalized bias option, None = the policy's default
    example_inputs: object = None
    notes: list = field(default_factory=list)
    calibration: Calibration | None = None   # set by auto when it plans calibrate rows
    calibration_tried: bool = False
    _topology: object = None
    _modules: dict | None = None

    @property
    def topology(self):
        if self._topology is None:
            from .trace import topology
            self._topology = topology(self.model, self.example_inputs)
        return self._topology

    @property
    def modules(self) -> dict:
        """name -> module, built once per planning (rules look modules up per target; planning never mutates)."""
        if self._modules is None:
            self._modules = dict(self.model.named_modules())
        return self._modules


# ------------------------------------------------------------------ bias option
def normalize_bias(bias) -> tuple | None:
    """bias= : None (policy default) | "zeros" | a float | "keep" | a scheme name | (scheme, kwargs)."""
    if bias is None:
        return None
    if isinstance(bias, bool):
        raise bad_argument("plan", "bias", bias, "'zeros', a float constant, 'keep' or a scheme name",
                           "e.g. bias='zeros' or bias=0.01")
    if isinstance(bias, (int, float)):
        if not math.isfinite(bias):
            raise bad_argument("plan", "bias", bias, "a finite float", "e.g. bias=0.0")
        return ("constant", {"val": float(bias)})
    if isinstance(bias, str) and bias.strip().lower() == KEEP:
        return (KEEP, {})
    name, kwargs = (bias, {}) if isinstance(bias, str) else (bias if isinstance(bias, tuple) and len(bias) == 2 else (None, None))
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise bad_argument("plan", "bias", bias, "'zeros', a float constant, 'keep', a scheme name or (scheme, kwargs)",
                           "e.g. bias='zeros', bias=0.1, bias='keep' or bias=('normal', {'std': 0.01})")
    try:
        s = get_scheme(name)
    except InitError:
        from ..schemes import list_schemes
        raise unknown_choice("plan", "bias", bias, ["zeros", "keep", "<float>"] + list_schemes(),
                             "pass 'zeros', 'keep', a float constant or a scheme name") from None
    s.bind(**kwargs)
    return (s.name, dict(kwargs))


def bias_decision(t: Target, spec: tuple | None, default: Decision | None = None) -> Decision:
    """The decision for a bias under the bias= option (or `default` / zeros when not given)."""
    if spec is None:
        return default or use(t, "zeros", {}, "bias", "biases start at 0 (bias='zeros', the default)")
    name, kwargs = spec
    if name == KEEP:
        return keep_as_is(t, "bias='keep'", "bias='keep': biases keep their current values")
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return use(t, name, kwargs, f"bias={name}" + (f"({args})" if args else ""), f"bias option: {name}"
               + (f"({args})" if args else ""))


# ------------------------------------------------------------------ shared structure
def expand(targets: list[Target], split: bool = True) -> list[Target]:
    """Split MHA in_proj into q/k/v and RNN weights into gate blocks (when `split`)."""
    out = []
    for t in targets:
        parts = natural_parts(t) if split and t.kept is None else None
        out.extend(t.split(parts) if parts else [t])
    return out


def structural(t: Target) -> Decision | None:
    """Decisions every model-level policy shares: kept parameters, norms, PReLU, unknown modules."""
    if t.kept is not None:
        return keep_as_is(t, "kept", f"kept: {t.kept}")
    if t.family == "norm":
        if t.is_bias:
            return None  # the bias option applies
        if norm_offset(t.module):
            return use(t, "zeros", {}, "norm layer", f"{type(t.module).__name__}: weight 0 (it scales by 1 + weight, "
                       "so 0 is the identity, as its own init)")
        return use(t, "ones", {}, "norm layer", f"{type(t.module).__name__}: weight 1 (starts as the identity, "
                   "as torch's reset_parameters)")
    if t.family == "prelu":
        v = float(getattr(t.module, "init", 0.25))
        return use(t, "constant", {"val": v}, "PReLU", f"PReLU slope {v} (torch's default)")
    if t.family in PARAM_RULES:
        return PARAM_RULES[t.family](t)
    if t.family == "unknown":
        return keep_as_is(t, "unknown module", f"{type(t.module).__name__} is not a module type initlab knows; "
                          "kept as it is (write a Rule naming it, or initlab.policy.register_module("
                          f"{type(t.module).__name__}, family) to set it)")
    return None


TOKEN_STD = 0.02   # ViT (Dosovitskiy et al. 2021) / timm / HF ViT _init_weights: trunc_normal_(std=0.02), bounds +-2


def _token(t: Target) -> Decision:
    what = {"token": "learned token", "position": "learned position table"}[t.family]
    return use(t, "trunc_normal", {"mean": 0.0, "std": TOKEN_STD, "a": -2.0, "b": 2.0},
               t.family, f"{what} {t.local!r} -> trunc_normal(std {TOKEN_STD}, absolute bounds +-2) exactly as "
               "timm and HF ViT initialize it (Dosovitskiy et al. 2021)")


def _mask_token(t: Target) -> Decision:
    return use(t, "zeros", {}, "mask token", f"{t.local!r} -> 0 (a mask token starts empty, as HF ViT/BEiT)")


def _layer_scale(t: Target) -> Decision:
    x = t.param.detach()
    if x.is_meta or x.numel() == 0:
        return keep_as_is(t, "layer scale", f"layer scale {t.local!r}: kept (its constructor sets init_values)")
    v = x.reshape(-1)[0]
    if bool((x == v).all()):
        return use(t, "constant", {"val": float(v)}, "layer scale", f"layer scale {t.local!r} -> its constructor's "
                   f"constant {float(v):g} (init_values; Touvron et al. 2021, CaiT)")
    return keep_as_is(t, "layer scale", f"layer scale {t.local!r} is not constant (trained?): kept as it is")


def _attention_bias(t: Target) -> Decision:
    return use(t, "trunc_normal", {"mean": 0.0, "std": TOKEN_STD, "a": -2.0, "b": 2.0}, "attention bias",
               f"relative position bias table {t.local!r} (added to the attention logits) -> trunc_normal(std "
               f"{TOKEN_STD}): near zero, so attention starts almost free of position bias, as the Swin authors' code "
               "and timm draw it (Liu et al. 2021; Hugging Face starts Swin's at exactly 0; T5's bucketed table, "
               "Raffel et al. 2020, is the same kind of bias)")


def _grn(t: Target) -> Decision:
    return use(t, "zeros", {}, "grn", f"Global Response Normalization {t.local!r} -> 0: with gamma = beta = 0 "
               "the GRN layer is the identity at the start (Woo et al. 2023, ConvNeXt V2)")


PARAM_RULES = {"token": _token, "position": _token, "mask_token": _mask_token, "layer_scale": _layer_scale,
               "attention_bias": _attention_bias, "grn": _grn}


def per_target(ctx: Context, weight, targets=None) -> list[Decision]:
    """The loop most policies share: structural decisions first, `weight(t)` (a Decision or a list of
    them) for weight tensors, the bias= option for everything else."""
    out = []
    for t in expand(ctx.targets) if targets is None else targets:
        d = structural(t)
        if d is not None:
            out.append(d)
        elif is_weight(t):
            w = weight(t)
            out.extend(w if isinstance(w, list) else [w])
        else:
            out.append(bias_decision(t, ctx.bias))
    return out


def is_weight(t: Target) -> bool:
    """A weight matrix/kernel of a known weight layer (not a bias, not bias_k/bias_v)."""
    return not t.is_bias and t.param.dim() >= 2 and t.family in ("linear", "conv", "conv_transpose", "embedding",
                                                                   "rnn", "mha", "experts")


def embedding_padding(t: Target) -> list[Target] | None:
    """An embedding weight with padding_idx as [rows before, padding row, rows after] (the padding row is 0)."""
    p = getattr(t.module, "padding_idx", None)
    if t.family != "embedding" or p is None or t.part is not None:
        return None
    n = t.param.shape[0]
    p = p % n
    parts = ([("rows", 0, p)] if p > 0 else []) + [("padding", p, p + 1)] + ([("rows2", p + 1, n)] if p + 1 < n else [])
    return t.split(parts)


def weight_decisions(t: Target, scheme: str, kwargs: dict, rule: str, reason: str) -> list[Decision]:
    """`scheme` on a weight; an embedding's padding row is set to 0 as torch does."""
    pieces = embedding_padding(t)
    if not pieces:
        return [use(t, scheme, kwargs, rule, reason)]
    return [use(p, "zeros", {}, rule, "padding_idx row is 0 (as nn.Embedding)") if p.part[0] == "padding"
            else use(p, scheme, kwargs, rule, reason) for p in pieces]


# ------------------------------------------------------------------ a scheme name
@dataclass(frozen=True)
class SchemePolicy:
    """Every weight gets `scheme(**kwargs)`; biases follow bias= (zeros by default); norms 1/0."""

    scheme: str
    kwargs: dict = field(default_factory=dict)
    needs_data = False

    @property
    def name(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return self.scheme + (f"({args})" if args else "")

    def decide(self, ctx: Context) -> list[Decision]:
        return per_target(ctx, lambda t: weight_decisions(t, self.scheme, self.kwargs, f"policy {self.name!r}",
                                                          f"every weight gets {self.name}"))


# ------------------------------------------------------------------ a rule list
@dataclass(frozen=True)
class RulesPolicy:
    """First matching rule wins; unmatched parameters keep their values (biases follow bias= if given)."""

    rules: tuple
    needs_data = False
    name = "rules"

    @staticmethod
    def of(items) -> "RulesPolicy":
        if isinstance(items, Rule):
            items = [items]
        rules = tuple(as_rule(x, i) for i, x in enumerate(items))
        if not rules:
            raise bad_argument("plan", "policy", [], "a non-empty list of initlab.Rule",
                               "add at least one rule, or pass a scheme name or preset such as 'auto'")
        return RulesPolicy(rules)

    def decide(self, ctx: Context) -> list[Decision]:
        out, hits = [], [0] * len(self.rules)
        shadowed = {}                  # rule index -> (earlier rule index that took a parameter it matches, name)
        for t in expand(ctx.targets):
            chosen = None
            for i, r in enumerate(self.rules):
                if r.matches(t.module, t.param_name, t.name, t.local):
                    if chosen is not None:
                        shadowed.setdefault(i, (chosen[0], t.name))
                        continue
                    hits[i] += 1
                    if t.kept is not None and not r.names_exactly(t.param_name, t.name):
                        continue  # kept parameters are written only by a rule that names them exactly
                    chosen = (i, r)
            if chosen is None:
                if t.kept is not None:
                    out.append(keep_as_is(t, "kept", f"kept: {t.kept}"))
                elif t.is_bias and ctx.bias is not None:
                    out.append(bias_decision(t, ctx.bias))
                else:
                    out.append(keep_as_is(t, "no rule matched", "kept as it is: no rule in the policy matches it"))
                continue
            i, r = chosen
            label = f"rule {i}: {r.label()}"
            if r.scheme == KEEP:
                out.append(keep_as_is(t, label, "the rule says keep"))
            else:
                why = "first matching rule" + (f" (names the kept parameter; {t.kept})" if t.kept else "")
                out.append(use(t, r.scheme, r.kwargs, label, why))
        names = [t.param_name for t in ctx.targets]
        types = [type(t.module).__name__ for t in ctx.targets]
        for i, (r, n) in enumerate(zip(self.rules, hits)):
            if n == 0 and i in shadowed:
                j, name = shadowed[i]
                raise InitError(f"plan: policy[{i}] = {r.label()} only matches parameters that the earlier "
                                f"policy[{j}] = {self.rules[j].label()} already takes (e.g. {name!r}; the first "
                                "matching rule wins). Expected every rule to decide at least one parameter. Fix: "
                                f"put policy[{i}] before policy[{j}], or narrow policy[{j}].")
            if n == 0:
                raise unmatched_error(r, i, names, types)
        return out


__all__ = ["Decision", "Calibration", "Context", "SchemePolicy", "RulesPolicy", "normalize_bias", "collect"]
