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
  * the logits layer: it keeps lecun_normal on what the calibrated layers feed it (unit second moment
    in, so logits of second moment ~1); scaling it on the batch made training worse in the benchmark;
  * the last layer of a residual branch: its scale (1/sqrt(L) or 0) is the residual rule's choice;
  * a layer followed by a norm: the norm sets mean and variance itself;
  * MultiheadAttention's out_proj (applied functionally, never called as a module), kept parameters,
    layers the forward pass does not reach.
"""
from __future__ import annotations

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
    parent = t.module_name.rpartition(".")[0]
    if t.module_name.endswith("out_proj") and isinstance(ctx.modules.get(parent), MHA):
        return "MultiheadAttention applies out_proj functionally (no module call to measure)"
    f = topo.follow.get(t.module_name)
    if f is None or f.kind == "unused":
        return "not reached by the forward pass"
    if f.kind == "output":
        return "logits layer: keeps its analytic scale"
    if f.kind == "norm":
        return "a norm follows and sets mean and variance itself"
    return None


def calibrated_modules(ctx, targets) -> set:
    """Module names whose weight is calibrated on example_inputs (empty without example_inputs)."""
    if ctx.example_inputs is None:
        return set()
    return {t.module_name for t in targets if not t.is_bias and t.family in ("linear", "conv", "conv_transpose")
            and t.param.dim() >= 2 and t.part is None and skip_reason(ctx, t) is None}


def weight_reason(reason: str) -> str:
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
    out = (f"auto calibration: {n_layers} layer(s) are calibrated at apply time, in forward order, on "
           f"{c.text()}: centred when their unit means carry > 50 % of their output's mean of squares, then "
           f"scaled to mean of squares 1 (tol {c.tol:g}, at most {c.max_iter} rounds); row.applied says by how "
           "much after apply")
    if skipped:
        out += "; not calibrated: " + "; ".join(f"{', '.join(v[:3])}{' ...' if len(v) > 3 else ''} ({k})"
                                                for k, v in skipped.items())
    return out

