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
                          only norms read it and the model declares its init std (HF config.initializer_range):
                          N(0, std^2): the scale only sets its learning speed (auto_scale_free.py)
    nothing (logits)   -> lecun_normal (gain 1)                             (LeCun et al. 1998)
                          a single output (regression, score): zeros          (auto_stream.py; Fixup's zero head)
                          a transformer's head: gain sqrt(0.1 ln C)           (heads.py)
    embedding          -> N(0, 1); tied to a head: N(0, s^2/d)              (embeddings.py)
                          untied, in a model with transformer blocks: N(0, 1/d), and so a bare token /
                          position table there; the tables of a post-norm embeddings block N(0, 0.02^2)
                          (auto_stream.py)
    last layer of a residual branch (of L): the above scaled by 1/sqrt(L)  (GPT-2 / T-Fixup style), or
                          zero with residual="zero" (Goyal et al. 2017; Zhang et al. 2019)
    MHA q, k, v        -> xavier_uniform on each (E, E) block
    T5's query         -> fan_in normal, gain 1/sqrt(d_k): its attention has no 1/sqrt(d_k) (blocks.py, auto_choose.py)
    q, k, v of causal attention with rotary positions (a ...RotaryEmbedding in the model: Llama, Phi-3,
                          GPT-NeoX, Mixtral, ...)
                       -> fan_in normal, gain 1/sqrt(2): logits start at variance 1/4 (blocks.py; measured, see
                          docs/auto_quality.md "rotary attention"); encoders and other positions: lecun_normal
    fused gate|up      -> planned as two halves (`weight[gate]`, `weight[up]`), each as the split layer would be:
                          the activation's gain on the gate half (calibrated with example_inputs, as a split gate
                          layer is), 1 on the up half (Phi-3, ModernBERT; blocks.py)
    mixture of experts -> each expert's (out, in) block as the Linear it stands for (gate_up -act-> down, down
                          a branch end); the router fan_in normal, gain sqrt(0.1) (Switch Transformer; blocks.py)
    with example_inputs (calibrate=True): every hidden Linear/Conv is drawn as above and then calibrated on the
                          batch in forward order (auto_data.py, calibrate.py); in a plain stack drawn orthogonal
                          (dynamical isometry), unit means into the bias when they dominate and the layer reads the
                          input or a sigmoid-like output (not relu/tanh/gelu outputs; not with residual branches),
                          the input layer before relu starting at torch's default bias; scale to mean of squares 1
                          (or the depth-aware q for deep plain stacks of tanh/gelu/silu/selu...); not the output
                          layer, layers before a norm, residual-branch layers (except, scaled only, those before an
                          unstable activation: see CALIBRATION)
    RNN/LSTM/GRU       -> input weights by gate activation (sigmoid gates xavier, tanh gates xavier 5/3,
                          relu RNN kaiming), recurrent weights orthogonal per gate (Saxe et al. 2014),
                          LSTM forget-gate bias `forget_bias` (Gers et al. 2000; Jozefowicz et al. 2015);
                          with example_inputs the first layer's input weights are scaled at apply time by
                          1/sqrt(mean of squares of what the RNN reads on the batch): the fan rule assumes unit
                          inputs (auto_data.rnn_input)

Files: auto.py (this table, the Auto policy), auto_choose.py (one layer's analytic rule), auto_drift.py
(unstable activations, the synthetic calibration batch), auto_data.py (calibration on example_inputs),
auto_stream.py (embeddings and the single-output readout), auto_scale_free.py (weights only a norm reads),
calibrate.py (the apply-time calibration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import bad_argument, check_finite, unknown_choice
from ..schemes import calculate_gain
from . import auto_data, auto_scale_free, auto_stream
from .auto_choose import choose, forward_fan
from .auto_drift import (CALIBRATION, CLOSED_FORM, DRIFT_EPS, batch_words, calibration, drift_note, drift_slope,
                         unstable_slope)
from .blocks import GATED
from .families import norm_offset
from .graph import Follow
from .base import Context, Decision, bias_decision, expand, is_weight, keep_as_is, structural, use
from .targets import MHA, rnn_activation

RESIDUAL = ("scale", "zero", "none")
SCALE_FREE = ("declared", "fan")

@dataclass(frozen=True)
class Auto:
    """The `auto` policy.  residual: 'scale' | 'zero' | 'none'; forget_bias: LSTM forget-gate bias or None;
    calibrate: rescale layers followed by an unstable activation (gelu, silu, ...) at apply time (see CALIBRATION);
    scale_free: 'declared' (a weight only norms read gets the model's declared init std, auto_scale_free.py) |
    'fan' (the fan rule everywhere)."""

    residual: str = "scale"
    forget_bias: float | None = 1.0
    name: str = "auto"
    calibrate: bool = True
    scale_free: str = "declared"
    needs_data = False

    def __post_init__(self):
        if self.residual not in RESIDUAL:
            raise unknown_choice("auto", "residual", self.residual, RESIDUAL)
        if self.forget_bias is not None:
            check_finite("auto", forget_bias=self.forget_bias)
        if not isinstance(self.calibrate, bool):
            raise bad_argument("auto", "calibrate", self.calibrate, "True or False", "e.g. calibrate=False")
        if self.scale_free not in SCALE_FREE:
            raise unknown_choice("auto", "scale_free", self.scale_free, SCALE_FREE)

    def layer(self, ctx: Context, t) -> tuple[str, dict, str]:
        """Scheme for a Linear/Conv weight from the graph (activation + residual position)."""
        topo = ctx.topology
        name = t.layer
        follow, half = follow_of(topo, t)
        scheme, kwargs, gain, reason = choose(follow)
        reason = half + reason
        hit = topo.branch_of(name)
        if hit is not None and hit[0].last == name and self.residual != "none":
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
                    f"{reason}; last layer of residual branch {k}/{L}: gain {gain:.4f}/sqrt({L}), so each branch adds "
                    f"1/{L} of the variance an unscaled branch would and the {L} together add about one "
                    "branch's worth (GPT-2 / T-Fixup style)")
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
        if t.family == "experts":                             # an expert's block is not called as a module
            return None
        return unstable_slope(follow_of(topo, t)[0])          # a fused gate|up layer: its gate half only

    def norm_override(self, ctx: Context, t) -> Decision | None:
        """A norm right after the last layer of a residual branch: weight 0 or 1/sqrt(L)."""
        if t.is_bias or self.residual == "none" or t.kept is not None:
            return None
        topo = ctx.topology
        for k, b in enumerate(topo.branches, 1):
            if b.last_norm == t.module_name:
                L = len(topo.branches)
                gain, what = (0.0, "0 (zero-init residual; Goyal et al. 2017)") if self.residual == "zero" else \
                    (1.0 / math.sqrt(L), f"1/sqrt({L})")
                val = gain - norm_offset(t.module)     # a norm scaling by (1 + weight) is written as gain - 1
                how = f"weight {what}" if val == gain else \
                    f"gain {what}, written as weight {val:.4f} (it scales by 1 + weight)"
                why = f"norm ending residual branch {k}/{L} -> {how}"
                if val == 0.0:
                    return use(t, "zeros", {}, "residual", why)
                return use(t, "constant", {"val": val}, "residual", why)
        return None

    def decide(self, ctx: Context) -> list[Decision]:
        uncalibrated = []              # layers that would be calibrated, had the plan a batch
        out = self._decide(ctx, uncalibrated)
        drift_note(ctx, out, self.calibrate)
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
        for t in _fused_halves(ctx, expand(ctx.targets)):
            if t.family == "norm":
                d = self.norm_override(ctx, t)
                if d is not None:
                    out.append(d)
                    continue
            tables = auto_stream.table_decisions(ctx, t)
            if tables is not None:
                out.extend(tables)
                continue
            d = structural(t)
            if d is not None:
                out.append(d)
                continue
            if not is_weight(t):
                if (t.module_name in data and ctx.bias is None and t.local == "bias" and t.part is None
                        and auto_data.centres(ctx, t)):
                    out.append(use(t, *auto_data.input_bias(ctx, t), "auto", auto_data.bias_reason(ctx, t),
                                   action="calibrate"))
                else:
                    out.append(self.bias(ctx, t))
                continue
            if t.family in ("linear", "conv", "conv_transpose", "experts"):
                d = auto_scale_free.decision(ctx, t) if self.scale_free == "declared" else None
                if d is not None:                         # only norms read it and the model declares its init
                    out.append(d)
                    continue
                scheme, kwargs, reason = self.layer(ctx, t)
                from .heads import transformer_head      # models helper: logits of a transformer (heads.py)
                scheme, kwargs, reason = transformer_head(ctx, t, scheme, kwargs, reason)
                scheme, kwargs, reason = auto_stream.readout(ctx, t, scheme, kwargs, reason)
                if t.family == "conv_transpose":
                    scheme, kwargs, reason = forward_fan(t, scheme, kwargs, reason)
                if self.calibrate and auto_data.attention_end(ctx, t):
                    q, why = auto_data.attention_target(t, scheme, kwargs)
                    if q > 0:
                        calibration(ctx)
                        targets[t.module_name] = q
                        out.append(use(t, scheme, kwargs, "auto", reason + why, action="calibrate"))
                        continue
                if t.module_name in data and t.part is None:
                    calibration(ctx)
                    q, why = auto_data.target_for(ctx, t)
                    targets[t.module_name] = q
                    scheme, kwargs, reason = auto_data.draw(ctx, t, scheme, kwargs, reason)
                    out.append(use(t, scheme, kwargs, "auto", auto_data.weight_reason(reason, ctx, t) + why,
                                   action="calibrate"))
                    continue
                slope = self.calibrates(ctx, t)
                if slope is not None and scheme == "variance_scaling" and calibration(ctx) is None:
                    uncalibrated.append(t.name)
                if slope is not None and scheme == "variance_scaling" and calibration(ctx) is not None:
                    act = ctx.topology.follow[t.module_name].act.name
                    out.append(use(t, scheme, kwargs, "auto", f"{reason}, then calibrated on "
                                   f"{batch_words(ctx.calibration)} to unit second moment (mean of the output^2 = "
                                   f"1, the q the gain assumes) because {act}'s second-moment map is unstable "
                                   f"with depth (slope {slope:.3f}/layer){_in_branch(ctx, t, act)}",
                                   action="calibrate"))
                else:
                    out.append(use(t, scheme, kwargs, "auto", reason))
            elif t.family == "embedding":   # tied: embeddings.py; untied in a transformer: auto_stream.py
                out.extend(auto_stream.embedding_decisions(ctx, t))
            elif t.family == "mha":
                out.append(use(t, "xavier_uniform", {"gain": 1.0}, "auto", f"attention {t.part[0] if t.part else t.local}"
                               " projection -> xavier_uniform with the fans of this (E, E) block, not of the "
                               "stacked (3E, E) in_proj"))
            elif t.family == "rnn":
                d = self.rnn(t)
                if self.calibrate and auto_data.rnn_input(ctx, t, d):
                    calibration(ctx)
                    d = replace(d, reason=d.reason + auto_data.RNN_INPUT_REASON, action="calibrate")
                out.append(d)
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


def _fused_halves(ctx: Context, targets):
    """A fused gate|up weight (act(first half) * second half; Follow kind "fused") as its two halves, so each is
    drawn as the split layer would be (as q/k/v of a packed in_proj are); everything else unchanged."""
    for t in targets:
        f = ctx.topology.follow.get(t.layer)
        whole = t.part is None and t.family == "linear"
        expert = t.part is not None and t.family == "experts"         # one expert's (out, in) block
        if (f is None or f.kind != "fused" or not (whole or expert) or t.is_bias or t.kept is not None
                or t.shape[0] % 2):
            yield t
            continue
        h = t.shape[0] // 2
        if whole:
            yield from t.split([("gate", 0, h), ("up", h, 2 * h)])
        else:
            label, lo, hi = t.part
            yield from t.split([(f"{label} gate", lo, lo + h), (f"{label} up", lo + h, hi)])


def follow_of(topo, t) -> tuple:
    """(what target `t`'s output meets first, a prefix for the reason): one half of a fused gate|up layer as the
    split layer it stands for (half_follow), anything else as the graph has it (prefix "")."""
    follow = topo.follow.get(t.layer)
    if follow is not None and follow.kind == "fused" and t.part is not None:
        return half_follow(follow, t.part[0])
    return follow, ""


def half_follow(follow, part: str):
    """(the follower of one half of a fused gate|up layer, the reason's prefix)."""
    if part.endswith("gate"):
        return (Follow("activation", follow.act.text, follow.act),
                f"gate half of a fused gate|up projection ({follow.act.text}(gate) * up; Shazeer 2020), drawn as a "
                "split gate layer: ")
    return GATED, "up half of a fused gate|up projection, drawn as a split up layer: "


def _in_branch(ctx: Context, t, act: str) -> str:
    """The calibrate reason's qualifier for a layer inside a residual branch: there the unstable map is applied
    once per branch (the skip carries the stream), so nothing compounds; calibrating only puts the layer's
    output at the q its gain assumes."""
    hit = ctx.topology.branch_of(t.module_name)
    if hit is None:
        return ""
    return (f"; inside residual branch {ctx.topology.branches.index(hit[0]) + 1}/{len(ctx.topology.branches)}"
            f", {act} is applied once per branch, so nothing compounds here: the calibration only sets the q the "
            "gain assumes")


def auto(residual: str = "scale", forget_bias: float | None = 1.0, calibrate: bool = True,
         scale_free: str = "declared") -> Auto:
    """The auto policy with options.  Example: ``initlab.init_(m, initlab.policy.auto(residual="zero"))``.

    calibrate=False keeps the pure closed-form/Gauss-Hermite draws (no apply-time rescaling, no batch).
    scale_free="fan" keeps the fan rule for weights only norms read, also where the model declares an init std
    (e.g. a Hugging Face BatchNorm CNN trained with SGD: see auto_scale_free.py)."""
    if not isinstance(residual, str):
        raise bad_argument("auto", "residual", residual, "one of " + ", ".join(RESIDUAL), "e.g. residual='zero'")
    if not isinstance(scale_free, str):
        raise bad_argument("auto", "scale_free", scale_free, "one of " + ", ".join(SCALE_FREE),
                           "e.g. scale_free='fan'")
    return Auto(residual, forget_bias, calibrate=calibrate, scale_free=scale_free)



__all__ = ["Auto", "auto", "choose", "drift_slope", "CALIBRATION", "CLOSED_FORM", "DRIFT_EPS", "RESIDUAL",
           "SCALE_FREE"]
