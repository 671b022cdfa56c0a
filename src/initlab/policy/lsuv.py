"""The data-dependent half of LSUV (Mishkin & Matas 2015, "All you need is a good init", Algorithm 1).

After the orthogonal draws, for each planned layer in forward order: run the
example batch, measure Var(output of that layer), divide the weight by
sqrt(Var) and repeat until |Var - 1| < tol or max_iter rounds.  Later layers do
not change earlier outputs, so one sweep leaves every layer at variance ~1.
The forward passes run quietly (eval mode, no_grad, RNG restored).
"""
from __future__ import annotations

import math
import warnings

import torch

from ..schemes import get_scheme
from .trace import call, quiet_forward


class _Stop(Exception):
    pass


def _output_variance(model, module, example_inputs) -> float:
    box = {}

    def hook(mod, inp, out):
        o = out[0] if isinstance(out, tuple) else out
        box["var"] = float(o.detach().double().var())
        raise _Stop

    h = module.register_forward_hook(hook)
    try:
        call(model, example_inputs)
    except _Stop:
        pass
    finally:
        h.remove()
    return box.get("var", float("nan"))


def forward_order(model, names, example_inputs) -> list[str]:
    mods = dict(model.named_modules())
    seen, hooks = [], []
    for n in names:
        hooks.append(mods[n].register_forward_hook(lambda m, i, o, n=n: seen.append(n) if n not in seen else None))
    try:
        call(model, example_inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen + [n for n in names if n not in seen]


def run(model, plan) -> None:
    opts = plan.lsuv
    rows = {r.param.rpartition(".")[0]: r for r in plan.rows if r.action == "lsuv"}
    mods = dict(model.named_modules())
    params = dict(model.named_parameters())
    with quiet_forward(model):
        order = forward_order(model, list(rows), plan.example_inputs)
        for name in order:
            row, module, w = rows[name], mods[name], params[rows[name].param]
            scale, it, var = 1.0, 0, float("nan")
            for it in range(opts.max_iter + 1):
                var = _output_variance(model, module, plan.example_inputs)
                if not math.isfinite(var) or abs(var - 1.0) < opts.tol or it == opts.max_iter or var == 0:
                    break
                w.div_(math.sqrt(var))
                scale /= math.sqrt(var)
            ok = math.isfinite(var) and abs(var - 1.0) < opts.tol
            row.applied = {"scale": scale, "output_variance": var, "rounds": it, "converged": ok}
            row.kwargs = {"gain": scale}
            row.law = get_scheme("orthogonal").describe(row.shape, gain=scale)
            if not ok:
                warnings.warn(f"lsuv: layer {name!r} reached output variance {var:.4g} after {it} rounds "
                              f"(tol {opts.tol:g}); raise max_iter or check the inputs", stacklevel=3)
