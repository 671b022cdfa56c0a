"""Fixes: what the weights are, what they should be, and the call that gets them there.

One source of truth: the recommended scheme is what `auto` would choose for the same layer
(`initlab.policy.auto.choose` on the activation that follows it, `Auto.rnn` for recurrent weights), so
`diagnose` and `auto` cannot disagree (a GELU net gets auto's Gauss-Hermite gain, not "kaiming for ReLU").
Weights are looked up per parameter: every parameter of the layer with 2+ dims (`weight`,
`weight_ih_l0`, `weight_hh_l0`, `in_proj_weight`, ...), not only `<module>.weight`.
"""
from __future__ import annotations

import math

from ..schemes import get_scheme

AUTO_HINT = "initlab.init_(model, 'auto')"
_ACT_WORDS = {"relu": "ReLU", "relu_like": "ReLU-like", "tanh": "tanh", "sigmoid": "sigmoid",
              "leaky_relu": "leaky ReLU", "selu": "SELU"}


def _fin(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _num(x: float) -> str:
    from .verdicts import num
    return num(x)


def _activation(fam: str | None, slope: float, module=None):
    """The policy-side Activation for a diagnostics family (and the activation module when known)."""
    from ..policy.activations import Activation, activation_of_module
    import torch
    import torch.nn.functional as F
    if module is not None:
        a = activation_of_module(module)
        if a is not None:
            return a
    table = {"relu": Activation("relu", (), torch.relu), "tanh": Activation("tanh", (), torch.tanh),
             "sigmoid": Activation("sigmoid", (), torch.sigmoid), "selu": Activation("selu", (), F.selu),
             "leaky_relu": Activation("leaky_relu", (("negative_slope", slope),), lambda z: F.leaky_relu(z, slope)),
             "relu_like": Activation("gelu", (), F.gelu)}
    return table.get(fam)


def _text(scheme: str, kwargs: dict, gain: float) -> tuple[str, str]:
    """(description, call) of a scheme choice, as a user would write it."""
    if scheme == "kaiming_normal":
        if kwargs.get("nonlinearity") == "leaky_relu":
            a = kwargs.get("a", 0.01)
            return (f"kaiming_normal (nonlinearity='leaky_relu', a={a:g})",
                    f"initlab.kaiming_normal_(w, a={a:g}, nonlinearity='leaky_relu')")
        return "kaiming_normal (nonlinearity='relu')", "initlab.kaiming_normal_(w, nonlinearity='relu')"
    if scheme == "xavier_normal":
        g = kwargs.get("gain", 1.0)
        if abs(g - 5 / 3) < 1e-12:
            return "xavier_normal with gain 5/3", "initlab.xavier_normal_(w, gain=5/3)"
        return ("xavier_normal", "initlab.xavier_normal_(w)") if g == 1 else \
            (f"xavier_normal with gain {g:.4g}", f"initlab.xavier_normal_(w, gain={g:.4g})")
    if scheme == "variance_scaling":
        return (f"fan_in normal with gain {gain:.4g} (auto's rule for this activation)",
                f"initlab.variance_scaling_(w, scale={kwargs['scale']:.4g}, mode='fan_in', distribution='normal')")
    return scheme, f"initlab.{scheme}_(w)"


def recommend(fam: str | None, fan_in: int, fan_out: int, slope: float = 0.01, module=None) -> tuple[str, str, float]:
    """(scheme description, call, std it gives) for weights followed by an activation family: auto's choice.

    module: the activation module after the layer (its exact gain for GELU, SiLU, ...).  The std comes from
    the scheme registry's law for a (fan_out, fan_in) weight, so the advice matches what the scheme draws."""
    from ..policy.auto import choose
    from ..policy.graph import Follow
    act = _activation(fam, slope, module) if fam is not None else None
    follow = Follow("activation", act.text, act) if act is not None else Follow("output", "output")
    scheme, kwargs, gain, _ = choose(follow)
    desc, call = _text(scheme, kwargs, gain)
    return desc, call, get_scheme(scheme).describe((fan_out, fan_in), **kwargs)["std"]


def _rnn_recommend(diag, p) -> tuple[str, str, float]:
    """auto's RNN rule for one recurrent parameter (per gate block of H rows)."""
    mod = (diag._modules or {}).get(p.name.rpartition(".")[0])
    h = getattr(mod, "hidden_size", None) or p.shape[0]
    local = p.name.rpartition(".")[2]
    if local.startswith("weight_hh"):
        std = 1.0 / math.sqrt(p.shape[1])
    else:
        std = math.sqrt(2.0 / (h + p.shape[1]))
    owner = p.name.rpartition(".")[0]
    return ("auto's RNN rule (input weights xavier_normal per gate block, recurrent weights orthogonal per gate)",
            f"initlab.init_(model.{owner}, 'auto')" if owner else "initlab.init_(model, 'auto')", std)


def weight_params(diag, layer) -> list:
    """ParamStats of the layer's own parameters with 2+ dims (weight, weight_ih_l0, in_proj_weight, ...)."""
    base = layer.base_name
    out = [p for p in diag.params if p.name.rpartition(".")[0] == base and len(p.shape) >= 2 and p.fan_in]
    return out


def _weight_summary(diag, weight_layers):
    """Mean of weight std / mean over the layers, their commonest fans and the activation after them."""
    ps = [(l, p) for l in weight_layers for p in weight_params(diag, l)]
    if not ps:
        return None
    stds = [p.std for _, p in ps if _fin(p.std)]
    means = [p.mean for _, p in ps if _fin(p.mean)]
    fans = [(p.fan_in, p.fan_out) for _, p in ps]
    fan_in, fan_out = max(set(fans), key=fans.count)
    fams = [diag.activation_after(l) for l, _ in ps]
    fams = [f for f in fams if f is not None]
    fam = max(set(fams), key=fams.count) if fams else None
    slope, module = 0.01, None
    for l, _ in ps:
        act = diag.activation_module_after(l)
        if act is not None and diag.activation_after(l) == fam:
            module = act
            if hasattr(act, "negative_slope"):
                slope = float(act.negative_slope)
            break
    if not stds:
        return None
    rnn = [p for l, p in ps if l.family is None and p.name.rpartition(".")[2].startswith(("weight_ih", "weight_hh"))]
    if rnn and len(rnn) * 2 >= len(ps):      # a recurrent net: judge (and name) the recurrent weights only
        ps = [(l, p) for l, p in ps if p in rnn]
        stds = [p.std for _, p in ps if _fin(p.std)]
        means = [p.mean for _, p in ps if _fin(p.mean)]
        fan_in, fan_out = ps[0][1].fan_in, ps[0][1].fan_out
    else:
        rnn = []
    names = [p.name for _, p in ps]
    return {"std": sum(stds) / len(stds), "mean": sum(means) / len(means) if means else 0.0,
            "fan_in": fan_in, "fan_out": fan_out, "family": fam, "slope": slope, "module": module,
            "n": len(ps), "first": names[0], "names": names, "rnn": rnn}


def weight_fix(diag, weight_layers, *, effect: str = "") -> tuple[str, dict]:
    """A fix naming what the weights are, what they should be and how to get there."""
    s = _weight_summary(diag, weight_layers)
    if s is None:
        return f"re-initialize the weights with a variance-scaling scheme, or {AUTO_HINT}", {}
    if s["rnn"]:
        scheme, call, target = _rnn_recommend(diag, s["rnn"][0])
    else:
        scheme, call, target = recommend(s["family"], s["fan_in"], s["fan_out"], s["slope"], s["module"])
    rms = math.sqrt(s["std"] ** 2 + s["mean"] ** 2)
    ev = {"weight_std": s["std"], "weight_mean": s["mean"], "fan_in": s["fan_in"], "fan_out": s["fan_out"],
          "recommended": scheme, "recommended_std": target, "parameters": s["names"][:8]}
    centred = abs(s["mean"]) <= 0.5 * s["std"] + 1e-12
    named = ""
    if any(not n.endswith(".weight") for n in s["names"]):
        named = ", ".join(s["names"][:4]) + (" ..." if len(s["names"]) > 4 else "") + ": "
    if rms == 0:
        return (f"{named}the weights are all 0{effect}; use {scheme} (std {_num(target)}), e.g. {call} on each "
                f"layer, or {AUTO_HINT}", ev)
    if s["std"] == 0:
        what, centred = f"constant weights ({_num(s['mean'])})", False
    elif centred:
        what = f"weights with std {_num(s['std'])}"
    else:
        what = f"weights with mean {_num(s['mean'])} (not centred) and std {_num(s['std'])}"
    if rms > 1.25 * target:
        judge = f"are {_num(rms / target)}x too large"
    elif rms < 0.8 * target:
        judge = f"are {_num(target / rms)}x too small"
    elif not centred:
        judge = "are not centred"
    else:
        judge = f"match {scheme}; look at the biases and the input scale"
        return (f"{named}{what} {judge} (fan_in {s['fan_in']}){effect}; or {AUTO_HINT}", ev)
    if s["rnn"]:
        return (f"{named}{what} {judge} for fan_in {s['fan_in']} (recurrent gates){effect}; use {scheme} "
                f"(std {_num(target)} for {s['first']}), e.g. {call}", ev)
    act = _ACT_WORDS.get(s["family"], "linear")
    return (f"{named}{what} {judge} for fan_in {s['fan_in']} with {act} units{effect}; use {scheme} "
            f"(std {_num(target)}), e.g. {call} on each layer, or {AUTO_HINT}", ev)


__all__ = ["recommend", "weight_fix", "weight_params", "AUTO_HINT"]
