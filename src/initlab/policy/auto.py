"""`auto`: pick each layer's scheme from the activation that follows it.

    relu               -> kaiming_normal, fan_in, gain sqrt(2)            (He et al. 2015)
    leaky_relu(a)      -> kaiming_normal with that a                       (He et al. 2015)
    tanh               -> xavier_normal, gain 5/3                          (Glorot & Bengio 2010; torch's tanh gain)
    sigmoid            -> xavier_normal, gain 1                            (Glorot & Bengio 2010)
    selu               -> lecun_normal                                     (Klambauer et al. 2017)
    any other elementwise f (gelu, silu, mish, softplus, elu, ...)
                       -> fan_in normal, gain 1/sqrt(E[f(z)^2]), z~N(0,1)  (gains.py; He et al.'s argument)
                          and, when f's second-moment map is unstable (drift slope > 1 + DRIFT_EPS: gelu, silu,
                          mish, hardswish, tanhshrink; not softplus, elu), calibrated at apply time: the weight is
                          rescaled so the mean of squares of the layer's output on a batch is 1 (see CALIBRATION)
    a norm layer       -> lecun_normal (the norm rescales; no gain needed)  (Ioffe & Szegedy 2015)
    nothing (logits)   -> lecun_normal (gain 1)                             (LeCun et al. 1998)
    last layer of a residual branch (of L): the above scaled by 1/sqrt(L)  (GPT-2 / T-Fixup style), or
                          zero with residual="zero" (Goyal et al. 2017; Zhang et al. 2019)
    MHA q, k, v        -> xavier_uniform on each (E, E) block
    with example_inputs (calibrate=True): every hidden Linear/Conv is drawn as above and then calibrated on the
                          batch in forward order (auto_data.py, calibrate.py): unit means into the bias when they
                          dominate, scale to mean of squares 1 (or the depth-aware q for deep plain stacks of
                          tanh/gelu/silu/selu...); not the logits layer, residual-branch ends, layers before a norm
    RNN/LSTM/GRU       -> input weights by gate activation (sigmoid gates xavier, tanh gates xavier 5/3,
                          relu RNN kaiming), recurrent weights orthogonal per gate (Saxe et al. 2014),
                          LSTM forget-gate bias `forget_bias` (Gers et al. 2000; Jozefowicz et al. 2015)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch.nn as nn

from ..errors import InitError, bad_argument, check_finite, unknown_choice
from ..schemes import calculate_gain
from . import auto_data
from .base import (Calibration, Context, Decision, bias_decision, expand, is_weight, keep_as_is, structural, use,
                   weight_decisions)
from .gains import NODES, numerical_gain
from .graph import Follow
from .targets import MHA, rnn_activation
from .trace import check_inputs

RESIDUAL = ("scale", "zero", "none")
DRIFT_EPS = 0.02            # calibrate when d ln E[f(sqrt(q) z)^2] / d ln q > 1 + DRIFT_EPS at q = 1
CALIBRATION_ROWS = 256      # size of the fixed standard-normal batch when no example_inputs are given
CALIBRATION_SEED = 1592642075   # its own torch.Generator seed (0x5EED_CA1B): not a seed users pick for draws
CALIBRATION_TOL = 0.01      # |E[h^2] - 1| < tol
CALIBRATION_ROUNDS = 5      # at most this many rescalings per layer (one suffices with zero biases)
CLOSED_FORM = ("relu", "leaky_relu", "tanh", "sigmoid", "selu")

CALIBRATION = """Why calibrate.  For a non-homogeneous f (gelu, silu, ...) E[f(sqrt(q) z)^2]/q grows with q, so the
fixed point q = 1 of the second-moment map q -> g^2 E[f(sqrt(q) z)^2] has slope s > 1: a deviation of the
second moment grows by s per layer (gelu 1.144, silu 1.173: 1.14^49 ~ 700 over 50 layers).  No fixed gain is
stable.  Measuring the gain on the actual signal is: after the draw, each such layer (forward order) is
rescaled so that the mean of squares of its output on the batch is 1, the q the gain assumes.  The mean of
squares, not the variance: q is the second moment of the pre-activation and f sees h with its mean.  What
this cannot fix: the map is unstable for each input separately, so inputs whose norm differs from the batch's
still drift apart with depth (norm layers or residual connections avoid that)."""


def choose(follow: Follow | None) -> tuple[str, dict, float, str]:
    """(scheme, kwargs, fan_in gain, reason) for a layer with this follower."""
    if follow is None:
        return "lecun_normal", {}, 1.0, "not seen in the forward pass -> lecun_normal (gain 1)"
    why = follow.text()
    if follow.kind == "activation":
        a = follow.act
        if a.name == "relu":
            return ("kaiming_normal", {"mode": "fan_in", "nonlinearity": "relu"}, calculate_gain("relu"),
                    f"{why} -> kaiming_normal (fan_in, gain sqrt(2); He et al. 2015)")
        if a.name == "leaky_relu":
            s = float(a.param("negative_slope", 0.01))
            g = calculate_gain("leaky_relu", s)
            return ("kaiming_normal", {"a": s, "mode": "fan_in", "nonlinearity": "leaky_relu"}, g,
                    f"{why} -> kaiming_normal with a={s:g} (gain {g:.4f}; He et al. 2015)")
        if a.name == "tanh":
            return ("xavier_normal", {"gain": calculate_gain("tanh")}, calculate_gain("tanh"),
                    f"{why} -> xavier_normal, gain 5/3 "
                    "(Glorot & Bengio 2010 with torch's tanh gain)")
        if a.name == "sigmoid":
            return ("xavier_normal", {"gain": 1.0}, 1.0, f"{why} -> xavier_normal, gain 1 (Glorot & Bengio 2010)")
        if a.name == "selu":
            return ("lecun_normal", {}, 1.0, f"{why} -> lecun_normal (self-normalizing: Var(w) = 1/fan_in; "
                    "Klambauer et al. 2017)")
        g = numerical_gain(a.key, a.fn)
        return ("variance_scaling", {"scale": g * g, "mode": "fan_in", "distribution": "normal"}, g,
                f"{why} -> fan_in normal, gain {g:.4f} = 1/sqrt(E[{a.name}(z)^2]), z~N(0,1) "
                f"(Gauss-Hermite, {NODES} nodes)")
    if follow.kind == "norm":
        return "lecun_normal", {}, 1.0, f"{why} -> lecun_normal (the norm rescales its output; no gain correction)"
    if follow.kind == "output":
        return ("lecun_normal", {}, 1.0, f"{why} -> lecun_normal: gain 1 on fan_in gives each logit the second "
                "moment of one input unit (LeCun et al. 1998); Xavier's fan_avg would shrink logits when fan_out > fan_in")
    return "lecun_normal", {}, 1.0, f"{why} -> lecun_normal (gain 1: nothing to correct for)"


def unstable_slope(follow: Follow | None) -> float | None:
    """The drift slope of the activation after a layer when it exceeds 1 + DRIFT_EPS (calibrate), else None."""
    if follow is None or follow.kind != "activation" or follow.act is None or follow.act.fn is None:
        return None
    if follow.act.name in CLOSED_FORM:
        return None
    s = _slope(follow.act)
    return s if s > 1 + DRIFT_EPS else None


@dataclass(frozen=True)
class Auto:
    """The `auto` policy.  residual: 'scale' | 'zero' | 'none'; forget_bias: LSTM forget-gate bias or None;
    calibrate: rescale layers followed by an unstable activation (gelu, silu, ...) at apply time (see CALIBRATION)."""

    residual: str = "scale"
    forget_bias: float | None = 1.0
    name: str = "auto"
    calibrate: bool = True
    needs_data = False

    def __post_init__(self):
        if self.residual not in RESIDUAL:
            raise unknown_choice("auto", "residual", self.residual, RESIDUAL)
        if self.forget_bias is not None:
            check_finite("auto", forget_bias=self.forget_bias)
        if not isinstance(self.calibrate, bool):
            raise bad_argument("auto", "calibrate", self.calibrate, "True or False", "e.g. calibrate=False")

    def layer(self, ctx: Context, t) -> tuple[str, dict, str]:
        """Scheme for a Linear/Conv weight from the graph (activation + residual position)."""
        topo = ctx.topology
        follow = topo.follow.get(t.module_name)
        scheme, kwargs, gain, reason = choose(follow)
        hit = topo.branch_of(t.module_name)
        if hit is not None and hit[0].last == t.module_name and self.residual != "none":
            b, L = hit[0], len(topo.branches)
            k = topo.branches.index(b) + 1
            if self.residual == "zero":
                if b.last_norm:
                    return scheme, kwargs, f"{reason}; last layer of residual branch {k}/{L}, whose norm " \
                                           f"{b.last_norm} starts at 0 instead"
                return "zeros", {}, f"last layer of residual branch {k}/{L} -> zeros: the block starts as the " \
                                    "identity (Goyal et al. 2017; Zhang et al. 2019)"
            if b.last_norm:
                return scheme, kwargs, f"{reason}; last layer of residual branch {k}/{L}: its norm " \
                                       f"{b.last_norm} is scaled by 1/sqrt({L}) instead"
            g = gain / math.sqrt(L)
            return ("variance_scaling", {"scale": g * g, "mode": "fan_in", "distribution": "normal"},
                    f"{reason}; last layer of residual branch {k}/{L}: gain {gain:.4f}/sqrt({L}) so the {L} "
                    "branches add variance 1/L each (GPT-2 / T-Fixup style)")
        return scheme, kwargs, reason

    def calibrates(self, ctx: Context, t) -> float | None:
        """The drift slope when this layer gets a calibrate row (an unstable activation follows it), else None.

        Not for the last layer of a residual branch (what f sees there is the sum with the skip, and residual=
        'scale'/'zero' set its scale on purpose), nor MultiheadAttention.out_proj (not called as a module)."""
        if not self.calibrate or t.kept is not None:
            return None
        topo = ctx.topology
        hit = topo.branch_of(t.module_name)
        if hit is not None and hit[0].last == t.module_name:
            return None
        parent = t.module_name.rpartition(".")[0]
        if t.module_name.endswith("out_proj") and isinstance(ctx.modules.get(parent), MHA):
            return None
        return unstable_slope(topo.follow.get(t.module_name))

    def norm_override(self, ctx: Context, t) -> Decision | None:
        """A norm right after the last layer of a residual branch: weight 0 or 1/sqrt(L)."""
        if t.is_bias or self.residual == "none" or t.kept is not None:
            return None
        topo = ctx.topology
        for k, b in enumerate(topo.branches, 1):
            if b.last_norm == t.module_name:
                L = len(topo.branches)
                if self.residual == "zero":
                    return use(t, "zeros", {}, "residual", f"norm ending residual branch {k}/{L} -> weight 0 "
                               "(zero-init residual; Goyal et al. 2017)")
                return use(t, "constant", {"val": 1.0 / math.sqrt(L)}, "residual",
                           f"norm ending residual branch {k}/{L} -> weight 1/sqrt({L})")
        return None

    def decide(self, ctx: Context) -> list[Decision]:
        uncalibrated = []              # layers that would be calibrated, had the plan a batch
        out = self._decide(ctx, uncalibrated)
        _drift_note(ctx, out, self.calibrate)
        if uncalibrated and not any("calibrating them needs a batch" in n for n in ctx.notes):
            names = ", ".join(uncalibrated[:4]) + (" ..." if len(uncalibrated) > 4 else "")
            ctx.notes.append(f"auto: {len(uncalibrated)} layer(s) followed by an unstable activation "
                             f"({names}) keep their Gauss-Hermite gain uncalibrated: there is no batch to calibrate "
                             "on (no example_inputs, and the input shape is not known); pass example_inputs=...")
        return out

    def _decide(self, ctx: Context, uncalibrated: list) -> list[Decision]:
        out = []
        data = auto_data.calibrated_modules(ctx, expand(ctx.targets)) if self.calibrate else set()
        targets: dict = {}
        for t in expand(ctx.targets):
            if t.family == "norm":
                d = self.norm_override(ctx, t)
                if d is not None:
                    out.append(d)
                    continue
            d = structural(t)
            if d is not None:
                out.append(d)
                continue
            if not is_weight(t):
                if t.module_name in data and ctx.bias is None and t.local == "bias" and t.part is None:
                    out.append(use(t, "zeros", {}, "auto", auto_data.BIAS_REASON, action="calibrate"))
                else:
                    out.append(self.bias(ctx, t))
                continue
            if t.family in ("linear", "conv", "conv_transpose"):
                scheme, kwargs, reason = self.layer(ctx, t)
                from .heads import transformer_head      # models helper: logits of a transformer (heads.py)
                scheme, kwargs, reason = transformer_head(ctx, t, scheme, kwargs, reason)
                if t.family == "conv_transpose":
                    scheme, kwargs, reason = _forward_fan(t, scheme, kwargs, reason)
                if t.module_name in data and t.part is None:
                    _calibration(ctx)
                    q, why = auto_data.target_for(ctx, t)
                    targets[t.module_name] = q
                    out.append(use(t, scheme, kwargs, "auto", auto_data.weight_reason(reason) + why,
                                   action="calibrate"))
                    continue
                slope = self.calibrates(ctx, t)
                if slope is not None and scheme == "variance_scaling" and _calibration(ctx) is None:
                    uncalibrated.append(t.name)
                if slope is not None and scheme == "variance_scaling" and _calibration(ctx) is not None:
                    act = ctx.topology.follow[t.module_name].act.name
                    out.append(use(t, scheme, kwargs, "auto", f"{reason}, then calibrated on "
                                   f"{_batch_words(ctx.calibration)} to unit second moment (mean of the output^2 = "
                                   f"1, the q the gain assumes) because {act}'s second-moment map is unstable "
                                   f"with depth (slope {slope:.3f}/layer)", action="calibrate"))
                else:
                    out.append(use(t, scheme, kwargs, "auto", reason))
            elif t.family == "embedding":   # models helper: tied heads get N(0, s^2/d) (policy/embeddings.py)
                from .embeddings import embedding_decisions
                out.extend(embedding_decisions(ctx, t))
            elif t.family == "mha":
                out.append(use(t, "xavier_uniform", {"gain": 1.0}, "auto", f"attention {t.part[0] if t.part else t.local}"
                               " projection -> xavier_uniform with the fans of this (E, E) block, not of the "
                               "stacked (3E, E) in_proj"))
            elif t.family == "rnn":
                out.append(self.rnn(t))
            else:
                out.append(keep_as_is(t, "auto", "no auto rule for this parameter"))
        if targets and ctx.calibration is not None:
            ctx.calibration = replace(ctx.calibration, targets=tuple(targets.items()))
        return out

    def bias(self, ctx: Context, t) -> Decision:
        if (ctx.bias is None and self.forget_bias is not None and t.family == "rnn" and t.part
                and t.part[0] == "f" and t.local.startswith("bias_ih")):
            return use(t, "constant", {"val": float(self.forget_bias)}, "auto",
                       f"LSTM forget-gate bias {self.forget_bias:g} (in bias_ih; bias_hh stays 0) so the cell "
                       "remembers at the start (Gers et al. 2000; Jozefowicz et al. 2015)")
        return bias_decision(t, ctx.bias)

    def rnn(self, t) -> Decision:
        gate = t.part[0] if t.part else "h"
        if t.local.startswith("weight_hh"):
            return use(t, "orthogonal", {"gain": 1.0}, "auto", f"recurrent weight, gate {gate}: orthogonal per gate "
                       "block so repeated steps neither grow nor shrink the state (Saxe et al. 2014)")
        if t.local.startswith("weight_hr"):
            return use(t, "lecun_normal", {}, "auto", "LSTM projection: lecun_normal (no activation after it)")
        if gate == "h":
            act = rnn_activation(t.module)
        else:
            act = "tanh" if gate in ("g", "n") else "sigmoid"
        if act == "relu":
            return use(t, "kaiming_normal", {"mode": "fan_in", "nonlinearity": "relu"}, "auto",
                       "input weight of a relu RNN -> kaiming_normal (He et al. 2015)")
        g = calculate_gain(act)  # tanh 5/3, sigmoid 1
        return use(t, "xavier_normal", {"gain": g}, "auto", f"input weight, gate {gate} ({act}) -> xavier_normal, "
                   f"gain {'5/3' if act == 'tanh' else '1'} on this gate's (H, in) block")


_SLOPES: dict = {}


def _slope(act) -> float:
    if act.key not in _SLOPES:
        _SLOPES[act.key] = drift_slope(act)
    return _SLOPES[act.key]


def _batch_words(cal) -> str:
    return "example_inputs" if cal.source == "example_inputs" else f"a fixed standard-normal batch ({cal.rows} rows)"


def _first_layer(ctx: Context):
    """(name, module) of the first weight layer: in forward order when traced, else in registration order."""
    mods = ctx.modules
    topo = ctx.topology
    if topo.method != "registration order":
        for n in topo.order:
            if n in mods:
                return n, mods[n]
    for t in ctx.targets:
        if t.family in ("linear", "conv", "conv_transpose", "embedding", "rnn", "mha"):
            return t.module_name, t.module
    return None, None


def _calibration(ctx: Context) -> Calibration | None:
    """The calibration batch (decided once per plan): example_inputs, else a fixed standard-normal batch when
    the input shape is known (model.initlab_input_shape, or a first layer that is an nn.Linear), else None."""
    if ctx.calibration is not None or ctx.calibration_tried:
        return ctx.calibration
    ctx.calibration_tried = True
    opts = dict(target=1.0, tol=CALIBRATION_TOL, max_iter=CALIBRATION_ROUNDS)
    if ctx.example_inputs is not None:     # every eligible layer, centred where its unit means dominate
        ctx.calibration = Calibration("example_inputs", example_inputs=ctx.example_inputs, center=True,
                                      target=1.0, tol=auto_data.DATA_TOL, max_iter=auto_data.DATA_ROUNDS)
        return ctx.calibration
    shape, where = getattr(ctx.model, "initlab_input_shape", None), "model.initlab_input_shape"
    name, first = _first_layer(ctx)
    if shape is None and type(first) is nn.Linear:
        shape, where = (first.in_features,), f"the first layer {name or '<root>'!r}, Linear(in_features=" \
                                              f"{first.in_features})"
    weight = next((t.param_name for t in ctx.targets if t.module is first and t.local == "weight"), None)
    if shape is not None:
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            shape = None
    if shape is None:
        return None
    cal = Calibration("synthetic", shape=shape, rows=CALIBRATION_ROWS, seed=CALIBRATION_SEED, shape_from=where,
                      like=weight, **opts)
    try:
        check_inputs(ctx.model, cal.batch(ctx.model))
    except InitError as e:
        ctx.notes.append(f"auto: no calibration: a standard-normal batch of shape {(cal.rows, *shape)} (from "
                         f"{where}) does not run through the model ({str(e).split('; expected')[0]}); pass "
                         "example_inputs=...")
        return None
    ctx.calibration = cal
    return cal


def drift_slope(act) -> float:
    """d ln E[f(sqrt(q) z)^2] / d ln q at q = 1: 1 for relu (neutral), < 1 for tanh (a stable fixed point),
    > 1 for gelu/silu (the second-moment fixed point is unstable, so deep plain stacks drift)."""
    from .gains import second_moment
    eps = 1e-3
    lo = second_moment(lambda z: act.fn(z * (1 - eps) ** 0.5))
    hi = second_moment(lambda z: act.fn(z * (1 + eps) ** 0.5))
    return (math.log(hi) - math.log(lo)) / (math.log(1 + eps) - math.log(1 - eps))


def _drift_note(ctx: Context, decisions, calibrate: bool = True) -> None:
    """Say what calibration does (and on which batch), or, when it could not be planned, why the variance of a
    deep stack of layers with an unstable activation drifts."""
    if ctx._topology is None:
        return
    cal = [d for d in decisions if d.action == "calibrate"]
    if cal and ctx.calibration is not None and ctx.calibration.center:
        ctx.notes.append(auto_data.note(ctx, decisions))
    elif cal:
        c = ctx.calibration
        ctx.notes.append(
            f"auto calibration: {len(cal)} layer(s) followed by an unstable activation are rescaled at apply time, "
            f"in forward order, until the mean of squares of their output on {c.text()} is 1 (tol {c.tol:g}, at "
            f"most {c.max_iter} rounds); the mean of squares, not the variance, because the gain 1/sqrt(E[f(z)^2]) "
            "and the mean-field map are about q = E[h^2] of the pre-activation, mean included"
            + ("; pass example_inputs=... to calibrate on real data" if c.source == "synthetic" else ""))
    acts = {}
    for f in ctx.topology.follow.values():
        if f.kind == "activation" and f.act is not None and f.act.name not in CLOSED_FORM:
            acts.setdefault(f.act.key, [f.act, 0])[1] += 1
    for act, n in acts.values():
        if n >= 8 and act.fn is not None:
            s = _slope(act)
            if s > 1 + DRIFT_EPS:
                head = (f"{act.text}: {n} layers use gain 1/sqrt(E[f(z)^2]), but this activation's second-moment "
                        f"fixed point is unstable (d ln E[f^2]/d ln q = {s:.3f} > 1 at q = 1), so in a deep plain "
                        "stack small deviations grow layer by layer and the variance drifts (no fixed gain avoids "
                        "this without biases or norms)")
                if cal:
                    ctx.notes.append(head + "; auto calibrates these layers on the batch (as policy='lsuv' does, "
                                     "but keeping the Gauss-Hermite draw), which holds the batch's second moment "
                                     "at 1, but single inputs whose norm differs from the batch's still drift "
                                     "apart with depth: norm layers or residual connections avoid that")
                else:
                    why = "calibrate=False" if not calibrate else "no example_inputs and no known input shape"
                    ctx.notes.append(head + f"; calibrating them needs a batch ({why}): pass example_inputs=... "
                                     "so auto calibrates them at apply time, or use policy='lsuv' with "
                                     "example_inputs; or add norm layers or residual connections")


def auto(residual: str = "scale", forget_bias: float | None = 1.0, calibrate: bool = True) -> Auto:
    """The auto policy with options.  Example: ``initlab.init_(m, initlab.policy.auto(residual="zero"))``.

    calibrate=False keeps the pure closed-form/Gauss-Hermite draws (no apply-time rescaling, no batch)."""
    if not isinstance(residual, str):
        raise bad_argument("auto", "residual", residual, "one of " + ", ".join(RESIDUAL), "e.g. residual='zero'")
    return Auto(residual, forget_bias, calibrate=calibrate)


def _forward_fan(t, scheme: str, kwargs: dict, reason: str) -> tuple[str, dict, str]:
    """A transposed conv's scheme re-expressed on its forward fan.

    Its weight is (in, out/groups, *k), so torch's fan_in (size(1) * k) counts output channels; each output
    value actually sums (in/groups) * prod(k / stride) inputs.  The chosen law's variance is kept per unit
    of *forward* fan: variance_scaling on mode fan_out (size(0) * k = in * k) with scale corrected by
    groups * prod(stride).  Zero and structural schemes pass through."""
    from ..schemes import get_scheme
    from ..schemes.fans import fans_from_shape
    law = get_scheme(scheme).describe(tuple(t.shape), **kwargs)
    if law is None or not law.get("std"):
        return scheme, kwargs, reason
    m = t.module
    fan_in, fan_out = fans_from_shape(tuple(t.shape))
    stride = math.prod(m.stride) if hasattr(m, "stride") else 1
    groups = getattr(m, "groups", 1)
    forward_fan = fan_out / (groups * stride)
    gain2 = law["std"] ** 2 * fan_in                  # what the law gives per unit of (torch's) fan_in
    scale = gain2 * fan_out / forward_fan             # the same gain^2 per unit of forward fan, on mode fan_out
    return ("variance_scaling", {"scale": scale, "mode": "fan_out", "distribution": "normal"},
            f"{reason}; transposed conv: on its forward fan (in/groups x kernel / stride = {forward_fan:g}, "
            f"not torch's fan_in {fan_in} of the transposed weight)")
