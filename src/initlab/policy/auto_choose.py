"""auto's analytic choice for one Linear/Conv weight: the scheme, its gain and the reason, from the activation
that follows the layer (see auto.py's table); and the transposed-conv correction to the forward fan."""
from __future__ import annotations

import math

from ..schemes import calculate_gain
from .gains import NODES, numerical_gain
from .graph import Follow


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
    if follow.kind == "scaled" and follow.gain is not None:
        g = float(follow.gain)
        return ("variance_scaling", {"scale": g * g, "mode": "fan_in", "distribution": "normal"}, g,
                f"{why} -> fan_in normal, gain {g:.4f} (the factor the block's structure asks of it)")
    if follow.kind == "output":
        return ("lecun_normal", {}, 1.0, f"{why} -> lecun_normal: gain 1 on fan_in gives each logit the second "
                "moment of one input unit (LeCun et al. 1998); Xavier's fan_avg would shrink logits when fan_out > fan_in")
    return "lecun_normal", {}, 1.0, f"{why} -> lecun_normal (gain 1: nothing to correct for)"




def fan_in_gain2(scheme: str, kwargs: dict, shape) -> float | None:
    """gain^2 on torch's fan_in of the law `scheme(**kwargs)` draws for `shape`: std^2 * fan_in, i.e. the output
    mean of squares it gives an input of mean of squares 1.  None for a law without a std (or std 0)."""
    from ..schemes import get_scheme
    from ..schemes.fans import fans_from_shape
    law = get_scheme(scheme).describe(tuple(shape), **kwargs)
    if law is None or not law.get("std"):
        return None
    return float(law["std"]) ** 2 * fans_from_shape(tuple(shape))[0]


def forward_fan(t, scheme: str, kwargs: dict, reason: str) -> tuple[str, dict, str]:
    """A transposed conv's scheme re-expressed on its forward fan.

    Its weight is (in, out/groups, *k), so torch's fan_in (size(1) * k) counts output channels; each output
    value actually sums (in/groups) * prod(k / stride) inputs.  The chosen law's variance is kept per unit
    of *forward* fan: variance_scaling on mode fan_out (size(0) * k = in * k) with scale corrected by
    groups * prod(stride).  Zero and structural schemes pass through."""
    from ..schemes.fans import fans_from_shape
    gain2 = fan_in_gain2(scheme, kwargs, t.shape)     # what the law gives per unit of (torch's) fan_in
    if not gain2:
        return scheme, kwargs, reason
    m = t.module
    fan_in, fan_out = fans_from_shape(tuple(t.shape))
    stride = math.prod(m.stride) if hasattr(m, "stride") else 1
    groups = getattr(m, "groups", 1)
    forward_fan = fan_out / (groups * stride)
    scale = gain2 * fan_out / forward_fan             # the same gain^2 per unit of forward fan, on mode fan_out
    return ("variance_scaling", {"scale": scale, "mode": "fan_out", "distribution": "normal"},
            f"{reason}; transposed conv: on its forward fan (in/groups x kernel / stride = {forward_fan:g}, "
            f"not torch's fan_in {fan_in} of the transposed weight)")
