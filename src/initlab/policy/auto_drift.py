"""auto's calibration without example_inputs: which activations drift with depth (their second-moment map
is unstable), the batch to calibrate them on (a fixed standard-normal batch when the input shape is known),
and the plan's notes that say so.  With example_inputs, auto_data.py decides instead."""
from __future__ import annotations

import math

import torch.nn as nn

from ..errors import InitError
from . import auto_data
from .base import Calibration, Context
from .graph import Follow
from .trace import check_inputs

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



def unstable_slope(follow: Follow | None) -> float | None:
    """The drift slope of the activation after a layer when it exceeds 1 + DRIFT_EPS (calibrate), else None."""
    if follow is None or follow.kind != "activation" or follow.act is None or follow.act.fn is None:
        return None
    if follow.act.name in CLOSED_FORM:
        return None
    s = _slope(follow.act)
    return s if s > 1 + DRIFT_EPS else None



_SLOPES: dict = {}


def _slope(act) -> float:
    if act.key not in _SLOPES:
        _SLOPES[act.key] = drift_slope(act)
    return _SLOPES[act.key]


def batch_words(cal) -> str:
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


def calibration(ctx: Context) -> Calibration | None:
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


def drift_note(ctx: Context, decisions, calibrate: bool = True) -> None:
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
