"""auto with example_inputs: which weight layers are calibrated on the batch, and why (calibrate.py does it).

The rule.  When the plan has example_inputs (and calibrate=True), every Linear/Conv weight layer is drawn
from its analytic rule (auto.choose) and then calibrated on that batch, in forward order: its output's unit
means are moved into its bias when they carry more than half of the output's mean of squares (calibrate.
MEAN_SHARE), and weight and bias are scaled so the output's mean of squares (after that centring) is 1.
Why: every gain rule assumes standardized, zero-mean inputs and an idealized activation; on real data
(pixels in [0, 1], sigmoid's outputs around 0.5, depth that compounds small errors) the assumption fails
and the signal that reaches the logits drifts.  Measuring it on the batch is what LSUV does (Mishkin &
Matas 2015) and what closes the gap in benchmarks/auto_quality.py.

Not calibrated, each for its own reason (the row says which):
  * the output layer: it keeps its own rule (lecun_normal on what the calibrated layers feed it, so logits
    of second moment ~1; zeros for a single output, auto_stream.py); scaling it on the batch made training
    worse in the benchmark;
  * the last layer of a residual branch: its scale (1/sqrt(L) or 0) is the residual rule's choice;
  * the other layers of a residual branch: the skip path carries the signal (nothing compounds with depth),
    and calibrating them changes the branch's size next to the skip, which the residual rule set
    (measured on benchmarks/auto_quality.py, 3 seeds: not calibrating them gained 1.0 point on the pre-norm
    GELU residual MLP, lost 0.4 on the plain ReLU one and changed nothing on the transformer);
  * a layer followed by a norm: the norm sets mean and variance itself;
  * MultiheadAttention's out_proj (applied functionally, never called as a module), kept parameters,
    layers the forward pass does not reach.
"""
from __future__ import annotations

import math

from .targets import MHA

DATA_TOL = 0.01       # |mean of squares - 1| < tol (and |unit mean| < tol when centred)
DATA_ROUNDS = 3       # one round is exact for an affine layer; more only if a layer recomputes differently


def skip_reason(ctx, t) -> str | None:
    """Why the weight layer `t` is not calibrated on example_inputs; None when it is."""
    if t.kept is not None:
        return "kept"
    topo = ctx.topology
    hit = topo.branch_of(t.module_name)
    if hit is not None and hit[0].last == t.module_name:
        return "last layer of a residual branch: its scale is the residual rule's"
    if hit is not None:
        return ("inside a residual branch: the skip path carries the signal, so no error compounds with depth, "
                "and the branch's size next to the skip is the residual rule's choice")
    parent = t.module_name.rpartition(".")[0]
    if t.module_name.endswith("out_proj") and isinstance(ctx.modules.get(parent), MHA):
        return "MultiheadAttention applies out_proj functionally (no module call to measure)"
    f = topo.follow.get(t.module_name)
    if f is None or f.kind == "unused":
        return "not reached by the forward pass"
    if f.kind == "output":
        return "output layer: keeps its own rule (analytic scale, zeros for a single output)"
    if f.kind == "norm":
        return "a norm follows and sets mean and variance itself"
    return None


def calibrated_modules(ctx, targets) -> set:
    """Module names whose weight is calibrated on example_inputs (empty without example_inputs)."""
    if ctx.example_inputs is None:
        return set()
    return {t.module_name for t in targets if not t.is_bias and t.family in ("linear", "conv", "conv_transpose")
            and t.param.dim() >= 2 and t.part is None and skip_reason(ctx, t) is None}


def centres(ctx) -> bool:
    """Whether the calibrated layers may be centred: only in a model without residual branches.

    Why.  Centring resets the unit means that drift through a plain stack: each relu/sigmoid layer passes a
    non-zero mean on, and in a plain stack it compounds layer by layer (the share of the mean in a deep relu
    stack's output grows past 1/2 every few layers), so without it relu-d20 of benchmarks/auto_quality.py
    trains to 64 % instead of 79 %.  With residual branches only the stem is calibrated (auto does not
    calibrate inside branches), there is no stack for a mean to compound through, and moving the data's mean
    into the stem's bias (a large bias that the blocks then see on every input) measured worse: 76.0 vs 78.8 %
    on the residual ReLU MLP (5 seeds); the scale is still calibrated."""
    return not ctx.topology.branches


def weight_reason(reason: str, centre: bool = True) -> str:
    if not centre:
        return (f"{reason}; then calibrated on example_inputs at apply time (forward order): weight scaled so "
                "the output's mean of squares is 1 (the q every gain assumes, measured instead of assumed; "
                "LSUV-style, Mishkin & Matas 2015); not centred: the model has residual branches (auto_data."
                "centres)")
    return (f"{reason}; then calibrated on example_inputs at apply time (forward order): unit means moved into "
            "the bias when they carry > 50 % of the output's mean of squares, then weight and bias scaled so "
            "that mean of squares is 1 (the q every gain assumes, measured instead of assumed; LSUV-style, "
            "Mishkin & Matas 2015)")


BIAS_REASON = ("0, then at apply time minus each unit's mean on example_inputs when the unit means carry > 50 % "
               "of the layer's output mean of squares (a non-zero-mean input such as sigmoid outputs or [0, 1] "
               "pixels shifts every unit; no gain removes that), else stays 0")


def note(ctx, decisions) -> str:
    """The plan's note: what is calibrated on which batch, and which weight layers are not, and why."""
    c = ctx.calibration
    n_layers = sum(d.action == "calibrate" and not d.target.is_bias for d in decisions)
    skipped: dict = {}
    for d in decisions:
        t = d.target
        if (d.action != "calibrate" and not t.is_bias and t.family in ("linear", "conv", "conv_transpose")
                and t.param.dim() >= 2):
            why = skip_reason(ctx, t) or "split parameter"
            skipped.setdefault(why, []).append(t.module_name)
    how = ("centred when their unit means carry > 50 % of their output's mean of squares, then scaled" if centres(ctx)
           else "not centred (the model has residual branches), scaled")
    out = (f"auto calibration: {n_layers} layer(s) are calibrated at apply time, in forward order, on "
           f"{c.text()}: {how} to mean of squares 1 (tol {c.tol:g}, at most {c.max_iter} rounds); row.applied says "
           "by how much after apply")
    if skipped:
        out += "; not calibrated: " + "; ".join(f"{', '.join(v[:3])}{' ...' if len(v) > 3 else ''} ({k})"
                                                for k, v in skipped.items())
    return out



# ---------------------------------------------------------------------------- depth-aware target
GROWTH = 2.0                                   # at most this growth of the gradient's second moment per stack
Q_GRID = tuple(0.8 ** k for k in range(22))    # candidate targets 1 ... 0.0092, largest first
_CHI: dict = {}


def chi(fn, q: float) -> float:
    """Mean-field gradient factor of one layer calibrated to pre-activation second moment q:
    chi(q) = q E[f'(sqrt(q) z)^2] / E[f(sqrt(q) z)^2] (Poole et al. 2016; Schoenholz et al. 2017): what one
    layer multiplies the gradient's second moment by.  1 for relu at every q; tanh 1.18 at q = 1 -> 1 as q -> 0."""
    from .gains import second_moment
    s, e = math.sqrt(q), 1e-4
    m2 = second_moment(lambda z: fn(s * z))
    d2 = second_moment(lambda z: (fn(s * z + e) - fn(s * z - e)) / (2 * e))
    return q * d2 / m2 if m2 > 0 else 1.0


def depth_target(act, depth: int) -> tuple[float, float]:
    """(q, chi(q)): the largest q of Q_GRID with chi(q)^depth <= GROWTH, for `depth` layers before `act` in
    a plain stack (no skip path for the gradient); (1, chi(1)) when q = 1 already satisfies it."""
    key = (act.key, depth)
    if key not in _CHI:
        best = (Q_GRID[-1], chi(act.fn, Q_GRID[-1]))
        for q in Q_GRID:
            c = chi(act.fn, q)
            if c ** depth <= GROWTH:
                best = (q, c)
                break
        _CHI[key] = best
    return _CHI[key]


def plain_depth(ctx, act) -> int:
    """Weight layers followed by `act` outside residual branches (the gradient has no skip path there)."""
    topo = ctx.topology
    return sum(1 for n, f in topo.follow.items() if f.kind == "activation" and f.act is not None
               and f.act.key == act.key and topo.branch_of(n) is None)


def target_for(ctx, t) -> tuple[float, str]:
    """(target mean of squares, words for the reason) for the calibrated layer `t`."""
    f = ctx.topology.follow.get(t.module_name)
    if (f is None or f.kind != "activation" or f.act is None or f.act.fn is None
            or ctx.topology.branch_of(t.module_name) is not None):
        return 1.0, ""
    L = plain_depth(ctx, f.act)
    c1 = chi(f.act.fn, 1.0)
    if c1 ** L <= GROWTH:
        return 1.0, ""
    q, c = depth_target(f.act, L)
    return q, (f"; target mean of squares {q:.3g}, not 1: at 1 {f.act.name}'s gradient factor chi = {c1:.3f} per "
               f"layer would grow the gradient's second moment {c1 ** L:.3g}x through these {L} plain layers; at "
               f"{q:.3g} chi = {c:.3f} (chi^{L} <= {GROWTH:g}; depth-aware, Schoenholz et al. 2017)")
