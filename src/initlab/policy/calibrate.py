"""auto's data-aware calibration: per layer, in forward order, center and scale the output on a real batch.

When `example_inputs` are given, auto (like LSUV, Mishkin & Matas 2015) measures each calibrated layer's
output on that batch after the draw and
  1. subtracts each output unit's (channel's) mean from the layer's bias, so every unit starts centred on
     the data (half of a ReLU unit's inputs on each side, a sigmoid unit at its steepest point) -- the mean
     that variance-only rules ignore: pixels in [0, 1] and sigmoid outputs in (0, 1) shift every
     pre-activation by W E[x], which no gain removes (Kraehenbuehl et al. 2016 centre per unit too);
  2. divides weight and bias by one scalar so the layer's output variance on the batch is 1 (LSUV's
     statistic), the pre-activation variance every gain rule aims at, now measured instead of assumed
     (inputs that are not standardized, depth, the real activation statistics).
A layer's output is affine in its weight and bias, so one round is exact; a second round only runs when a
layer recomputes its output differently (bounded by max_iter).  Layers are measured in forward order on what
the earlier, already calibrated layers produce, in ONE forward pass (forward hooks that rescale and recompute
the layer's output, as lsuv.rescale_layers).
"""
from __future__ import annotations

import math

import torch

from ..schemes import get_scheme
from .targets import part_view
from .trace import run_hooked


def _channels(module, o: torch.Tensor) -> int:
    """The dim holding the output units: 1 for a conv (N, C, ...), else the last (Linear, Hugging Face's
    Conv1D: (..., out))."""
    return 1 if isinstance(module, torch.nn.modules.conv._ConvNd) and o.dim() >= 3 else o.dim() - 1


SCALED = ("std", "low", "high", "a", "b", "gain")   # law entries that a weight scale multiplies
MEAN_SHARE = 0.5   # centre a layer when its units' means carry more than this share of its output's second moment


def _stats(module, out, part=None):
    """(per-unit means, mean of squares, share of the mean of squares that the per-unit means carry), over
    output units [start, stop) when `part` = (start, stop, transposed) is given."""
    o = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(o, torch.Tensor) or o.numel() < 2:
        return None, float("nan"), float("nan")
    o = o.detach().double()
    c = _channels(module, o)
    if part is not None:
        o = o.narrow(c, part[0], part[1] - part[0])
    dims = [d for d in range(o.dim()) if d != c]
    mean = o.mean(dim=dims)
    q = float((o * o).mean())
    return mean, q, float((mean * mean).mean()) / q if q > 0 else float("nan")


def _rnn_hook(name, params, results):
    """Forward hook of a recurrent module: scale its first layer's input weights `params` by 1/sqrt(mean of
    squares of the input it reads), once, and recompute its output with them (later layers measure that)."""
    def hook(mod, args, kwargs, out):
        if name in results:
            return None
        x = args[0] if args else kwargs.get("input")
        x = getattr(x, "data", x) if not isinstance(x, torch.Tensor) else x      # a PackedSequence's rows
        q = float(x.detach().double().pow(2).mean()) if isinstance(x, torch.Tensor) and x.numel() else float("nan")
        ok = math.isfinite(q) and q > 0
        scale = 1.0 / math.sqrt(q) if ok else 1.0
        if ok:
            with torch.no_grad():
                for local in params:
                    getattr(mod, local).mul_(scale)
        results[name] = {"scale": scale, "target": 1.0, "centered": False, "shift": 0.0, "second_moment": q,
                         "measured": "input", "mean_share": float("nan"), "rounds": 1, "converged": ok}
        return mod.forward(*args, **kwargs) if ok else None
    return hook


def calibrate_layers(model, layers: dict, example_inputs, *, center="share", target=1.0,
                     tol: float = 0.01, max_iter: int = 3, fixed_bias=(), rnn_inputs=None, parts=None) -> dict:
    """Centre (when `center` and the layer has a bias) and scale each layer's output on `example_inputs`.

    layers: module name -> module (with .weight, optional .bias), written in place.  Returns module name ->
    {"scale", "shift", "variance", "mean", "rounds", "converged"}: the factor the weight was multiplied by,
    the largest |change| of a bias entry, the output variance and largest |unit mean| measured before.
    target: the mean of squares to reach, a float or {layer name: float} (missing names: 1).
    fixed_bias: names of layers whose bias must not change (a user's bias= choice): their weight alone is scaled.
    rnn_inputs: recurrent module name -> names of its input-weight parameters (weight_ih_l0, ...), scaled by
    1/sqrt(mean of squares of the module's input) in the same pass (its entry: second_moment of the input).
    parts: layer name -> (start, stop, transposed): calibrate only output units [start, stop) and their weight
    rows (one half of a fused gate|up layer: the other half is not followed by the activation); the rest of
    the layer's output is left as drawn.
    A layer whose hook never ran (not called as a module) is reported with variance nan, not converged."""
    mods = dict(model.named_modules())
    results: dict = {}

    def hook_for(name, module):
        goal = float(target.get(name, 1.0)) if isinstance(target, dict) else float(target)

        def hook(mod, args, kwargs, out):
            if name in results:          # a layer called twice: calibrated on its first call
                return None
            w, b = mod.weight, (None if name in fixed_bias else getattr(mod, "bias", None))
            part = (parts or {}).get(name)
            if part is not None:        # only units [start, stop): their rows of the weight, their bias entries
                lo, hi, transposed = part
                w = part_view(w, ("part", lo, hi), transposed)
                b = b[lo:hi] if isinstance(b, torch.Tensor) else b
            scale, shift, first, it, ok, cen = 1.0, 0.0, None, 0, False, False
            b0 = b.detach().clone() if isinstance(b, torch.Tensor) else None
            for it in range(max_iter + 1):
                mean, q, share = _stats(mod, out, part)
                if first is None:
                    first = (q, share)
                    cen = isinstance(b, torch.Tensor) and (center is True or (center == "share" and share > MEAN_SHARE))
                if mean is None or not math.isfinite(q) or q <= 0:
                    break
                var = q - float((mean * mean).mean()) if cen else q
                ok = abs(var - goal) < tol * goal and (not cen or float(mean.abs().max()) < tol * math.sqrt(goal))
                if ok or it == max_iter:
                    break
                d = math.sqrt(var / goal)
                with torch.no_grad():
                    if cen:
                        b.sub_(mean.to(b.dtype).view(b.shape))
                    w.div_(d)
                    if isinstance(b, torch.Tensor):
                        b.div_(d)
                scale /= d
                out = mod.forward(*args, **kwargs)
            if cen:
                shift = float((b.detach() - b0).abs().max())
            results[name] = {"scale": scale, "target": goal, "centered": cen, "shift": shift,
                             "second_moment": first[0] if first else float("nan"),
                             "mean_share": first[1] if first else float("nan"), "rounds": it, "converged": ok}
            return out
        return hook

    hooks = {mods[n]: hook_for(n, m) for n, m in layers.items()}
    hooks.update({mods[n]: _rnn_hook(n, ps, results) for n, ps in (rnn_inputs or {}).items()})
    run_hooked(model, example_inputs, hooks)
    for n in [*layers, *(rnn_inputs or {})]:
        results.setdefault(n, {"scale": 1.0, "centered": False, "shift": 0.0, "second_moment": float("nan"),
                               "mean_share": float("nan"), "rounds": 0, "converged": False})
    return results


def _scaled_law(row, scale: float) -> dict | None:
    """The row's planned law with every spread entry (SCALED) times `scale`: what a weight scaled in place holds."""
    law = get_scheme(row.scheme).describe(row.shape, **row.kwargs)
    return law and {k: (v * scale if k in SCALED else v) for k, v in law.items()}


def apply_rows(model, plan) -> None:
    """Plan.apply's step for auto's data calibration (plan.calibration.center): run calibrate_layers on the
    weight rows with action "calibrate", record in row.applied what was measured and done, and scale each
    weight row's law by the factor (so Plan.verify checks the real law).  A centred bias row's values come
    from the data: its law becomes None (nothing to test them against) and row.applied keeps the shift."""
    import warnings
    cal = plan.calibration
    rows = [r for r in plan.rows if r.action == "calibrate"]
    mods = dict(model.named_modules())
    wrows = {r.param.rpartition(".")[0]: r for r in rows if r.param.endswith("weight")}
    brows = {r.param.rpartition(".")[0]: r for r in rows if r.param.endswith("bias")}
    rnn: dict = {}                    # recurrent module -> its rows (one per gate block of weight_ih_l0[_reverse])
    for r in rows:
        name = r.param.rpartition(".")[0]
        if isinstance(mods.get(name), torch.nn.RNNBase):
            rnn.setdefault(name, []).append(r)
    goal = {n: dict(cal.targets).get(n, cal.target) for n in wrows}
    parts = {n: (r.part[1], r.part[2], r.transposed) for n, r in wrows.items() if r.part is not None}
    res = calibrate_layers(model, {n: mods[n] for n in wrows}, cal.batch(model), center="share" if cal.center else False,
                           target=goal, tol=cal.tol, max_iter=cal.max_iter, fixed_bias=set(wrows) - set(brows),
                           rnn_inputs={n: sorted({r.param.rpartition(".")[2] for r in rs}) for n, rs in rnn.items()},
                           parts=parts)
    for name, rs in rnn.items():
        got = res[name]
        for r in rs:
            r.applied = dict(got, planned_kwargs=dict(r.kwargs))
            r.law = _scaled_law(r, got["scale"])
        if not got["converged"]:
            warnings.warn(f"auto: the input of recurrent layer {name!r} on {cal.text()} could not be measured "
                          f"(mean of squares {got['second_moment']:.4g}); its input weights keep the analytic draw",
                          stacklevel=3)
    for name, r in wrows.items():
        got = res[name]
        r.applied = dict(got, planned_kwargs=dict(r.kwargs))
        r.law = _scaled_law(r, got["scale"])
        b = brows.get(name)
        if b is not None:
            b.applied = {"centered": got["centered"], "shift": got["shift"], "planned_kwargs": dict(b.kwargs)}
            if got["centered"]:
                b.law = None
            else:                         # scaled with the weight (a non-zero draw: auto_data.input_bias)
                b.law = _scaled_law(b, got["scale"])
        if not got["converged"]:
            warnings.warn(f"auto: calibrating layer {name!r} on {cal.text()} did not converge in {got['rounds']} "
                          f"round(s) (target mean of squares {cal.target:g}, tol {cal.tol:g})", stacklevel=3)
