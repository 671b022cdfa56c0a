"""Data-dependent rescaling of drawn weights: the engine behind LSUV and auto's calibration.

LSUV (Mishkin & Matas 2015, "All you need is a good init", Algorithm 1): after
the orthogonal draws, for each planned layer in forward order, measure
Var(output of that layer) on the example batch, divide the weight by sqrt(Var)
and repeat until |Var - 1| < tol or max_iter rounds.

auto's calibration (action "calibrate"): the same loop with a different
statistic, the mean of squares E[h^2] of the layer's output, and target 1.
The mean-field map q -> g^2 E[f(sqrt(q) z)^2] and the numerical gain
g = 1/sqrt(E[f(z)^2]) are both about the second moment q = E[h^2] of the
pre-activation: what f sees is h itself, mean included (with zero biases the
per-unit means W E[x] of a layer fed by gelu/silu are part of the signal), so
the second moment, not the variance, is what must be 1.

Both run as ONE forward pass (`rescale_layers`): a forward hook on each planned
layer measures the statistic on its first call, rescales the weight, recomputes
that layer's output (module.forward, hooks not re-entered) and hands the
rescaled output on, so later layers are measured on what earlier ones now
produce.  Later layers never change earlier outputs, so this equals the layer
by layer sweep of the paper, at the cost of one forward pass plus one call of
each layer per extra round (not one truncated pass per layer and round).
The forward pass runs quietly (eval mode, no_grad, RNG restored).
"""
from __future__ import annotations

import math
import warnings

import torch

from .plans import law_of
from .trace import run_hooked

STATISTICS = {
    "variance": lambda o: float(o.var()),
    "second moment": lambda o: float((o * o).mean()),
}

# scheme -> (its scale argument, the power of the gain it holds): the draw that a measured factor rescales
SCALE_ARGUMENT = {"orthogonal": ("gain", 1), "variance_scaling": ("scale", 2)}


def _measure(out, statistic: str) -> float:
    o = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(o, torch.Tensor) or o.numel() < 2:
        return float("nan")
    return STATISTICS[statistic](o.detach().double())


def rescale_layers(model, layers: dict, example_inputs, *, statistic: str, target: float = 1.0, tol: float,
                   max_iter: int) -> dict:
    """Rescale each layer's weight so that `statistic` of its output on `example_inputs` is `target`.

    layers: module name -> its weight parameter (a tensor written in place).  statistic: "variance" (LSUV) or
    "second moment" (auto's calibration).  Stops at |stat - target| < tol or after max_iter rescalings.
    Returns module name -> {"scale", "statistic", "value", "rounds", "converged"}; a layer whose forward hook
    never ran (not called through its module, e.g. MultiheadAttention.out_proj) gets value nan, not converged.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r}; expected one of {sorted(STATISTICS)}")
    mods = dict(model.named_modules())
    results: dict = {}

    def hook_for(name, w):
        def hook(module, args, kwargs, out):
            if name in results:        # a layer called twice: calibrated on its first call
                return None
            scale, it, value = 1.0, 0, float("nan")
            for it in range(max_iter + 1):
                value = _measure(out, statistic)
                if not math.isfinite(value) or value <= 0 or abs(value - target) < tol or it == max_iter:
                    break
                d = math.sqrt(value / target)
                w.div_(d)
                scale /= d
                out = module.forward(*args, **kwargs)
            ok = math.isfinite(value) and abs(value - target) < tol
            results[name] = {"scale": scale, "statistic": statistic, "value": value, "rounds": it, "converged": ok}
            return out
        return hook

    run_hooked(model, example_inputs, {mods[n]: hook_for(n, w) for n, w in layers.items()})
    for n in layers:
        results.setdefault(n, {"scale": 1.0, "statistic": statistic, "value": float("nan"), "rounds": 0,
                               "converged": False})
    return results


def _record(row, res: dict, key: str) -> None:
    """Fill row.applied and scale the row's law by the measured factor (so Plan.verify checks the real law)."""
    planned = dict(row.kwargs)
    arg, power = SCALE_ARGUMENT[row.scheme]
    kwargs = dict(planned)
    kwargs[arg] = float(planned.get(arg, 1.0)) * res["scale"] ** power
    row.applied = {"scale": res["scale"], key: res["value"], "rounds": res["rounds"], "converged": res["converged"],
                   "planned_kwargs": planned}
    row.kwargs = kwargs
    row.law = law_of(row.scheme, row.shape, **kwargs)


def _layers(model, rows) -> dict:
    params = dict(model.named_parameters())
    return {r.param.rpartition(".")[0]: params[r.param] for r in rows}


def _deferred(model, rows, what: str) -> bool:
    """True (and a warning) when the planned layers live on the meta device: no values to measure yet."""
    params = dict(model.named_parameters())
    if not any(params[r.param].is_meta for r in rows):
        return False
    for r in rows:
        r.applied = {"deferred": "meta device: nothing to measure"}
    warnings.warn(f"{what}: the model is on the meta device (deferred init), so the {len(rows)} data-dependent "
                  "rescaling(s) were skipped; the draws are planned. Materialize it (model.to_empty(device=...)) "
                  "and apply the plan again to measure them", stacklevel=4)
    return True


def run(model, plan) -> None:
    """LSUV rows (action "lsuv"): output variance 1, options from plan.lsuv (tol, max_iter)."""
    opts = plan.lsuv
    rows = [r for r in plan.rows if r.action == "lsuv"]
    if _deferred(model, rows, "lsuv"):
        return
    res = rescale_layers(model, _layers(model, rows), plan.example_inputs, statistic="variance",
                         tol=opts.tol, max_iter=opts.max_iter)
    for r in rows:
        name = r.param.rpartition(".")[0]
        _record(r, res[name], "output_variance")
        if not res[name]["converged"]:
            warnings.warn(f"lsuv: layer {name!r} reached output variance {res[name]['value']:.4g} after "
                          f"{res[name]['rounds']} rounds (tol {opts.tol:g}); raise max_iter or check the inputs",
                          stacklevel=3)


def calibrate(model, plan) -> None:
    """auto's calibrate rows: mean of squares of the layer's output = 1 on plan.calibration's batch."""
    cal = plan.calibration
    if getattr(cal, "center", False):          # example_inputs: centre and scale every calibrated layer
        from .calibrate import apply_rows
        return apply_rows(model, plan)
    rows = [r for r in plan.rows if r.action == "calibrate"]
    if _deferred(model, rows, "auto calibration"):
        return
    res = rescale_layers(model, _layers(model, rows), cal.batch(model), statistic="second moment",
                         target=cal.target, tol=cal.tol, max_iter=cal.max_iter)
    for r in rows:
        name = r.param.rpartition(".")[0]
        _record(r, res[name], "output_second_moment")
        if not res[name]["converged"]:
            warnings.warn(f"auto: calibrating layer {name!r} reached output second moment {res[name]['value']:.4g} "
                          f"after {res[name]['rounds']} rounds (target {cal.target:g}, tol {cal.tol:g}); its draw "
                          "keeps the Gauss-Hermite gain times the scale reached", stacklevel=3)
