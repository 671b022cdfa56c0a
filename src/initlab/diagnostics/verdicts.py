"""Verdicts: what is wrong with an initialization, where, the evidence and the fix.

Kinds (in the order they are listed, causes before consequences):

    symmetric   units of a hidden layer that copy another unit (same outputs and gradients)
    saturated   tanh / sigmoid outputs stuck in the flat tails
    dead        ReLU units that output 0 for every sample of the batch
    exploding   forward signal or backward gradient growing across depth
    vanishing   forward signal or backward gradient shrinking across depth
    non-finite  NaN or inf in the inputs, parameters, outputs or gradients
                (listed first when nothing explodes: then it is the cause)
    overconfident  logits far from O(1) at init: starting loss >> ln(classes) (output_scale.py)
    healthy     none of the above

Consecutive layers with the same problem form one verdict ("layers 3-20").
Layer numbers are depths: the count of weight layers (Linear, Conv, ...) up to
and including the layer, so an activation has the number of the layer it follows.
All thresholds live in `initlab.diagnostics.thresholds`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


KINDS = ("healthy", "symmetric", "saturated", "dead", "exploding", "vanishing", "non-finite", "overconfident")
_ORDER = {"symmetric": 0, "saturated": 1, "dead": 2, "exploding": 3, "vanishing": 4, "non-finite": 5,
          "overconfident": 6}
from .fixes import AUTO_HINT  # noqa: E402


@dataclass
class Verdict:
    """One finding: ``str(v)`` is "layers 3-20: tanh saturated (62 % of outputs): <fix>"."""

    kind: str
    message: str
    fix: str
    direction: str | None = None          # 'forward' / 'backward' for vanishing and exploding
    first: int | None = None              # first and last layer number (depth) of the group
    last: int | None = None
    layers: list[str] = field(default_factory=list)   # names of the layers in the group
    evidence: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        if self.first is None:
            return ""
        return f"layer {self.first}" if self.first == self.last else f"layers {self.first}-{self.last}"

    def __str__(self) -> str:
        return f"{self.message}: {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict:
        return {"kind": self.kind, "direction": self.direction, "first": self.first, "last": self.last,
                "where": self.where, "message": self.message, "fix": self.fix, "layers": list(self.layers),
                "evidence": _clean(self.evidence), "text": str(self)}


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _fin(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.1g} %"


def num(x: float) -> str:
    if not _fin(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}"
    return f"{x:.1e}"


def _where(a, b) -> str:
    return f"layer {a}" if a == b else f"layers {a}-{b}"


def _groups(layers, flagged, gap: int = 0):
    """Runs of flagged layers, consecutive by depth among the applicable `layers` (in order).

    gap > 0 merges runs separated by at most `gap` unflagged depths (a fraction hovering around its limit
    would otherwise give one verdict per layer)."""
    by_depth: dict[int, list] = {}
    for l in layers:
        by_depth.setdefault(l.depth, []).append(l)
    runs, cur, miss = [], [], 0
    for d in sorted(by_depth):
        hit = [l for l in by_depth[d] if flagged(l)]
        if hit:
            cur.append((d, hit))
            miss = 0
        elif cur:
            miss += 1
            if miss > gap:
                runs.append(cur)
                cur, miss = [], 0
    if cur:
        runs.append(cur)
    return [(run[0][0], run[-1][0], [l for _, hs in run for l in hs]) for run in runs]


# ---------------------------------------------------------------- fixes (fixes.py: auto's rule table)
from .fixes import recommend, weight_fix  # noqa: E402


# ---------------------------------------------------------------- the judge

def judge(diag) -> list[Verdict]:
    th = diag.thresholds
    layers = diag.layers
    hidden = [l for l in layers if not l.is_output]
    verdicts: list[Verdict] = []

    verdicts += _non_finite(diag)
    verdicts += _symmetric(diag, hidden, th)
    verdicts += _saturated(diag, layers, th)
    verdicts += _dead(diag, layers, th)
    verdicts += _depthwise(diag, layers, hidden, th)

    exploding = any(v.kind == "exploding" for v in verdicts)
    if not any(v.kind == "exploding" and v.direction == "forward" for v in verdicts):
        from .output_scale import verdicts as output_verdicts   # large logits from an exploding signal: a symptom
        verdicts += output_verdicts(diag)

    def key(v):
        k = _ORDER[v.kind]
        if v.kind == "non-finite" and not exploding:
            k = -1
        return (k, 0 if v.direction != "backward" else 1, v.first if v.first is not None else -1)

    verdicts.sort(key=key)
    if not verdicts:
        verdicts.append(_healthy(diag, hidden))
    return verdicts


def _non_finite(diag) -> list[Verdict]:
    out = []
    if diag.input.get("nonfinite"):
        out.append(Verdict("non-finite", f"inputs: {diag.input['nonfinite']} NaN/inf values",
                           "clean the data (drop or impute NaN, clip inf) before diagnosing or training",
                           evidence={"count": diag.input["nonfinite"]}))
    bad_params = [p for p in diag.params if p.nonfinite]
    if bad_params:
        names = [p.name for p in bad_params]
        out.append(Verdict("non-finite", f"parameters {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}: "
                           f"{sum(p.nonfinite for p in bad_params)} NaN/inf values",
                           f"re-initialize these parameters (e.g. {AUTO_HINT}); check custom init code for "
                           "divisions by zero", layers=names, evidence={p.name: p.nonfinite for p in bad_params}))
    for direction, attr in (("forward", "nonfinite"), ("backward", "grad_nonfinite")):
        for a, b, ls in _groups(diag.layers, lambda l: bool(getattr(l, attr))):
            what = "outputs" if direction == "forward" else "gradients"
            grew = [l for l in diag.layers if l.index < ls[0].index and _fin(l.ratio) and l.ratio > 1]
            if direction == "forward":
                cause = ("they follow from the exploding signal: fix that first" if any(
                    _fin(l.ratio) and l.ratio > diag.thresholds.exploding for l in grew)
                    else "look for NaN/inf in the inputs or parameters, or a layer that divides by ~0")
            else:
                cause = ("they follow from gradients exploding towards the input: fix that first"
                         if diag.backward_ok else "check the loss for NaN/inf")
            out.append(Verdict("non-finite", f"{_where(a, b)}: NaN/inf in the {what} ({direction})", cause,
                               direction=direction, first=a, last=b, layers=[l.name for l in ls],
                               evidence={"count": sum(int(getattr(l, attr)) for l in ls)}))
    return out


def _carries_symmetry(diag, hidden, l, th) -> bool:
    """For a layer whose units got no gradient (a zero head blocks every gradient of the first step), the
    gradient half of the copy test says nothing.  Its units are then copies only if the copying reaches the
    head: every later hidden layer and the head's input copy too.  A zero last layer of a residual branch
    (Fixup) fails this, since x + 0 is diverse; an all-constant MLP passes."""
    if diag.backward_ok and _fin(l.grad_rms) and l.grad_rms > 0:
        return True
    later = [m for m in hidden if m.index > l.index and m.units >= 2 and _fin(m.identical)]
    if any(m.identical < th.symmetric for m in later):
        return False
    head = diag.input.get("head_input_identical", math.nan)
    return not (_fin(head) and head < th.symmetric)


def _symmetric(diag, hidden, th) -> list[Verdict]:
    out = []
    cand = [l for l in hidden if l.units >= 2 and _fin(l.identical) and _carries_symmetry(diag, hidden, l, th)]
    for a, b, ls in _groups(cand, lambda l: l.identical >= th.symmetric):
        frac = max(l.identical for l in ls)
        rows = []
        for l in ls:
            if l.weight_layer:
                r = diag.distinct_rows(l)
                if r is not None:
                    rows.append(r)
        ev = {"identical_fraction": frac, "distinct_units": min(l.distinct_units for l in ls),
              "units": max(l.units for l in ls), "weight_rows": rows}
        if rows:
            name, n, k, val = rows[0]
            const = f" (all {num(val)})" if val is not None else ""
            cause = f"{name} has {k} distinct row{'s' if k != 1 else ''} out of {n}{const}"
        else:
            cause = "the units get identical inputs"
        fix = (f"{cause}, so every unit computes the same function and gets the same update, and symmetry is never "
               f"broken; initialize weights randomly (e.g. kaiming_normal / xavier_normal; constants are fine for "
               f"biases), or {AUTO_HINT}")
        out.append(Verdict("symmetric", f"{_where(a, b)}: symmetric ({pct(frac)} of units copy another unit's "
                           "outputs and gradients)", fix, first=a, last=b, layers=[l.name for l in ls], evidence=ev))
    return out


def _saturated(diag, layers, th) -> list[Verdict]:
    out = []
    cand = [l for l in layers if l.family in ("tanh", "sigmoid") and _fin(l.saturated)]
    for a, b, ls in _groups(cand, lambda l: l.saturated > th.saturated, gap=2):
        frac = sum(l.saturated for l in ls) / len(ls)
        fam = ls[0].family
        rule = f"|y| > {th.tanh_saturation:g}" if fam == "tanh" else \
            f"y < {th.sigmoid_saturation:g} or y > {1 - th.sigmoid_saturation:g}"
        wl = diag.weight_layers_between(a, b)
        fix, ev = weight_fix(diag, wl, effect=", pushing pre-activations into the flat tails")
        ev.update({"saturated_fraction": frac, "max_saturated_fraction": max(l.saturated for l in ls), "rule": rule})
        out.append(Verdict("saturated", f"{_where(a, b)}: {fam} saturated ({pct(frac)} of outputs have {rule})",
                           fix, first=a, last=b, layers=[l.name for l in ls], evidence=ev))
    return out


def _dead(diag, layers, th) -> list[Verdict]:
    out = []
    cand = [l for l in layers if l.family == "relu" and _fin(l.dead) and l.values_per_unit >= th.min_samples_dead]
    for a, b, ls in _groups(cand, lambda l: l.dead > th.dead, gap=2):
        frac = sum(l.dead for l in ls) / len(ls)
        wl = diag.weight_layers_between(a, b)
        ev = {"dead_fraction": frac, "max_dead_fraction": max(l.dead for l in ls)}
        pre = next((l for l in diag.layers if l.weight_layer and l.depth == a), None)   # feeds the first one
        bias = diag.param(f"{pre.base_name}.bias") if pre is not None else None
        if pre is not None and _fin(pre.ratio) and pre.ratio < th.vanishing:
            fix = ("the units are constant across the batch because the input signal has vanished before them "
                   "(see the vanishing verdict), so each unit's bias alone decides whether it is 0; fix that first")
        elif (bias is not None and _fin(bias.mean) and bias.mean < 0
              and -bias.mean > max(bias.std, pre.signal_std if _fin(pre.signal_std) else 0.0)):
            fix = (f"biases are negative (mean {num(bias.mean)}, more than the spread of the pre-activations, "
                   f"{num(pre.signal_std)}), so most pre-activations are below 0; set biases to 0 (or small "
                   f"positive), or {AUTO_HINT}")
        else:
            fix, wev = weight_fix(diag, wl)
            ev.update(wev)
            fix += "; a LeakyReLU cannot die"
        out.append(Verdict("dead", f"{_where(a, b)}: ReLU dead ({pct(frac)} of units output 0 for every sample)",
                           fix, first=a, last=b, layers=[l.name for l in ls], evidence=ev))
    return out


def _depthwise(diag, layers, hidden, th) -> list[Verdict]:
    out = []
    depth = max((l.depth for l in hidden), default=0)
    # forward: exploding anywhere (the output included), vanishing on hidden layers (a zero-init head is fine)
    # the signal that reaches the output layer decides (a layer before BatchNorm may be off-scale, the zero
    # last layer of a residual branch outputs nothing, and neither is a problem); the groups say where.
    # When it is NaN (overflow), any layer above the limit counts.
    arriving = diag.input.get("arriving_ratio", math.nan)
    last_hidden = hidden[-1].ratio if hidden else math.nan
    end = arriving if arriving == arriving else last_hidden
    outs = [l.ratio for l in layers if l.is_output and l.ratio == l.ratio]
    fwd = [l for l in layers if l.ratio == l.ratio]
    exploded = (end > th.exploding if end == end else True) or any(r > th.exploding for r in outs)
    for a, b, ls in (_groups(fwd, lambda l: l.ratio > th.exploding) if exploded else []):
        peak = max(l.ratio for l in ls)
        over = next((l for l in ls if l.ratio == math.inf), None)
        finite_peak = max((l.ratio for l in ls if _fin(l.ratio)), default=math.nan)
        ref = next((l for l in reversed(ls) if _fin(l.ratio)), None)
        factor = ref.ratio ** (1 / max(ref.depth, 1)) if ref is not None and ref.depth else math.nan
        msg = f"{_where(a, b)}: forward signal explodes (std across the batch reaches " \
              f"{num(finite_peak)}x the input's"
        msg += f", x{num(factor)} per layer" if _fin(factor) else ""
        msg += f"; overflows to inf at layer {over.depth})" if over is not None else ")"
        fix, ev = weight_fix(diag, diag.weight_layers_between(a, b, hidden_only=False))
        ev.update({"max_ratio": peak, "per_layer_factor": factor, "threshold": th.exploding})
        out.append(Verdict("exploding", msg, fix, direction="forward", first=a, last=b,
                           layers=[l.name for l in ls], evidence=ev))
    # vanishing: the signal reaching the output layer is lost; the group is the last run of layers below the
    # limit (a dip that recovers, like a zero residual branch or a layer before BatchNorm, is not reported)
    last_depth = max((l.depth for l in hidden), default=None)
    vanished = end == end and end < th.vanishing
    runs = _groups([l for l in hidden if l.ratio == l.ratio], lambda l: l.ratio < th.vanishing) if vanished else []
    for a, b, ls in runs[-1:]:
        if b != last_depth and arriving != arriving:
            continue
        low = min(l.ratio for l in ls)
        last = hidden[-1]
        factor = last.ratio ** (1 / max(last.depth, 1)) if _fin(last.ratio) and last.ratio > 0 else 0.0
        msg = (f"{_where(a, b)}: forward signal vanishes (std across the batch falls to {num(low)}x the input's"
               + (f", x{num(factor)} per layer)" if factor > 0 else ")"))
        fix, ev = weight_fix(diag, diag.weight_layers_between(a, b))
        ev.update({"min_ratio": low, "per_layer_factor": factor, "threshold": th.vanishing})
        out.append(Verdict("vanishing", msg, fix, direction="forward", first=a, last=b,
                           layers=[l.name for l in ls], evidence=ev))
    if vanished and arriving == 0 and not any(v.kind == "vanishing" for v in out):
        # nothing the layers record shows it, yet the head reads a constant: a zero-width layer before it
        # (not recorded: it has no units) cuts the input off, and the output is the head's bias alone
        out.append(Verdict("vanishing", "no signal reaches the output layer (what it reads does not vary across "
                           "the batch)", "look for a zero-width layer before the head (e.g. nn.Linear(n, 0)) and "
                           "give it units", direction="forward",
                           evidence={"arriving_ratio": 0.0, "threshold": th.vanishing}))
    # backward, relative to the last hidden layer's gradient
    bwd = [l for l in hidden if l.grad_ratio == l.grad_ratio]
    if not bwd or depth < 2:
        return out
    heads = [diag.param(f"{l.base_name}.weight") for l in layers if l.is_output and l.weight_layer]
    if all(l.grad_rms == 0 for l in bwd) and heads and all(p is not None and p.norm == 0 for p in heads):
        diag.notes.append("the output layer's weights are all 0, so no gradient reaches the hidden layers in this "
                          "first step (normal for a zero-initialized head: they get gradients from the second step "
                          "on); the backward checks were skipped")
        return out
    for a, b, ls in _groups(bwd, lambda l: l.grad_ratio > th.grad_exploding):
        peak = max(l.grad_ratio for l in ls)
        first = bwd[0]
        factor = first.grad_ratio ** (1 / max(depth - first.depth, 1)) if _fin(first.grad_ratio) else math.nan
        fpeak = max((l.grad_ratio for l in ls if _fin(l.grad_ratio)), default=math.nan)
        msg = (f"{_where(a, b)}: gradients explode towards the input (RMS up to {num(fpeak)}x the last hidden "
               f"layer's" + (f", x{num(factor)} per layer" if _fin(factor) else "")
               + ("; overflows to inf)" if peak == math.inf else ")"))
        fix, ev = weight_fix(diag, diag.weight_layers_between(a, depth + 1, hidden_only=False))
        ev.update({"max_ratio": peak, "per_layer_factor": factor, "threshold": th.grad_exploding})
        out.append(Verdict("exploding", msg, fix, direction="backward", first=a, last=b,
                           layers=[l.name for l in ls], evidence=ev))
    # likewise a backward dip must reach the first layer (a zero residual branch starves only its inner layer)
    for a, b, ls in _groups(bwd, lambda l: l.grad_ratio < th.grad_vanishing):
        if a != bwd[0].depth:
            continue
        low = min(l.grad_ratio for l in ls)
        first = bwd[0]
        factor = first.grad_ratio ** (1 / max(depth - first.depth, 1)) if first.grad_ratio > 0 else 0.0
        if low == 0:
            msg = f"{_where(a, b)}: no gradient reaches these layers (it is exactly 0)"
        else:
            msg = (f"{_where(a, b)}: gradients vanish towards the input (RMS down to {num(low)}x the last hidden "
                   f"layer's" + (f", x{num(factor)} per layer)" if factor > 0 else ")"))
        fix, ev = weight_fix(diag, diag.weight_layers_between(a, depth + 1, hidden_only=False))
        ev.update({"min_ratio": low, "per_layer_factor": factor, "threshold": th.grad_vanishing})
        out.append(Verdict("vanishing", msg, fix, direction="backward", first=a, last=b,
                           layers=[l.name for l in ls], evidence=ev))
    return out


def _healthy(diag, hidden) -> Verdict:
    rat = [l.ratio for l in hidden if _fin(l.ratio)]
    grat = [l.grad_ratio for l in hidden if _fin(l.grad_ratio)]
    sat = [l.saturated for l in diag.layers if _fin(l.saturated)]
    dead = [l.dead for l in diag.layers if _fin(l.dead)]
    parts = []
    if rat:
        parts.append(f"forward signal stays within x{num(min(rat))}..x{num(max(rat))} of the input's")
    if grat:
        parts.append(f"gradients within x{num(min(grat))}..x{num(max(grat))} of the last hidden layer's")
    if sat:
        parts.append(f"at most {pct(max(sat))} saturated")
    if dead:
        parts.append(f"at most {pct(max(dead))} dead")
    parts.append("no copied units, all finite")
    depth = max((l.depth for l in diag.layers), default=0)
    ev = {"ratio_range": [min(rat), max(rat)] if rat else None,
          "grad_ratio_range": [min(grat), max(grat)] if grat else None,
          "max_saturated": max(sat) if sat else None, "max_dead": max(dead) if dead else None}
    return Verdict("healthy", f"healthy over {depth} layers: " + "; ".join(parts), "", first=None, last=None,
                   evidence=ev)


__all__ = ["Verdict", "KINDS", "judge", "recommend"]
