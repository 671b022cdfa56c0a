"""PNG of a Diagnosis: depth profile on top, per-layer activation histograms below (matplotlib, Agg)."""
from __future__ import annotations

import math
import os
import textwrap

from ..errors import bad_argument

_COLORS = {"symmetric": "#9467bd", "saturated": "#ff7f0e", "dead": "#7f7f7f", "exploding": "#d62728",
           "vanishing": "#1f77b4", "non-finite": "#000000"}


def _pick(layers, k):
    acts = [l for l in layers if l.family is not None] or list(layers)
    if len(acts) <= k:
        return acts
    idx = sorted({round(i * (len(acts) - 1) / (k - 1)) for i in range(k)})
    return [acts[i] for i in idx]


def plot_diagnosis(diag, path, *, max_histograms: int = 12):
    """Write the figure to `path` (PNG) and return the path."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_argument("Diagnosis.plot", "path", path, "a file path such as 'diagnosis.png'",
                           "pass where to write the PNG")
    if not isinstance(max_histograms, int) or max_histograms < 1:
        raise bad_argument("Diagnosis.plot", "max_histograms", max_histograms, "a positive int", "e.g. 12")
    # Figure + the Agg canvas directly: no pyplot, no global backend switch, works headless.
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    layers = diag.layers
    hist = _pick(layers, max_histograms)
    ncols = min(4, len(hist))
    nrows = math.ceil(len(hist) / ncols)
    fig = Figure(figsize=(13, 4.6 + 2.3 * nrows), dpi=100)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(1 + nrows, ncols, height_ratios=[2.2] + [1] * nrows, hspace=0.75, wspace=0.3)
    ax = fig.add_subplot(gs[0, :])
    xs = [l.index for l in layers]

    def series(vals):
        pts = [(x, v) for x, v in zip(xs, vals) if v == v and 0 < v < math.inf]
        return [p[0] for p in pts], [p[1] for p in pts]

    fx, fy = series([l.ratio for l in layers])
    bx, by = series([l.grad_ratio for l in layers])
    ax.plot(fx, fy, "o-", ms=3, lw=1.4, color="#2ca02c", label="forward: signal std / input's")
    ax.plot(bx, by, "s-", ms=3, lw=1.4, color="#e377c2", label="backward: gradient RMS / last hidden layer's")
    th = diag.thresholds
    ax.axhline(th.vanishing, ls="--", lw=0.8, color="#2ca02c", label="forward limits")
    ax.axhline(th.exploding, ls="--", lw=0.8, color="#2ca02c")
    ax.axhline(th.grad_vanishing, ls=":", lw=1.0, color="#e377c2", label="backward limits")
    ax.axhline(th.grad_exploding, ls=":", lw=1.0, color="#e377c2")
    ax.axhline(1.0, ls="-", lw=0.5, color="gray")
    ax.set_yscale("log")
    allv = fy + by + [th.grad_vanishing, th.grad_exploding]
    lo, hi = min(allv), max(allv)
    ax.set_ylim(lo / 3, hi * 3)
    bad = [(l.index, l) for l in layers if not (0 < l.ratio < math.inf)]
    for x, l in bad:   # zeros, inf and nan cannot sit on a log axis: mark them at the edges
        y = hi * 2 if l.ratio == math.inf or l.ratio != l.ratio else lo / 2
        ax.plot([x], [y], marker="x", color="#2ca02c" if l.ratio == l.ratio else "black", ms=5)
    for v in diag.verdicts:
        if v.first is None:
            continue
        span = [l.index for l in layers if v.first <= l.depth <= v.last]
        if span:
            ax.axvspan(min(span) - 0.5, max(span) + 0.5, color=_COLORS.get(v.kind, "gray"), alpha=0.08)
    ticks = [l for l in layers if l.weight_layer]
    step = max(1, math.ceil(len(ticks) / 25))
    ax.set_xticks([l.index for l in ticks[::step]], [str(l.depth) for l in ticks[::step]], fontsize=7)
    ax.set_xlabel("layer (depth; one tick per weight layer)")
    ax.set_ylabel("ratio (log scale)")
    head = "healthy" if diag.healthy else "; ".join(
        f"{v.kind}{' ' + v.direction if v.direction else ''} {v.where}".strip() for v in diag.verdicts[:4])
    ax.set_title(textwrap.fill(f"Depth profile — {head}", 130), fontsize=10)
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    ax.grid(True, which="major", alpha=0.3)

    for i, l in enumerate(hist):
        a = fig.add_subplot(gs[1 + i // ncols, i % ncols])
        vals = l.sample
        if vals is not None:
            import torch
            v = vals[torch.isfinite(vals)]
            if v.numel():
                lo_, hi_ = float(v.min()), float(v.max())
                if hi_ - lo_ <= 1e-12 * max(1.0, abs(hi_)):
                    lo_, hi_ = lo_ - 0.5, hi_ + 0.5
                a.hist(v.numpy(), bins=40, range=(lo_, hi_), color="#4c72b0")
            else:
                a.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=a.transAxes)
        extra = ""
        if l.saturated == l.saturated:
            extra = f", sat {100 * l.saturated:.0f}%"
        elif l.dead == l.dead:
            extra = f", dead {100 * l.dead:.0f}%"
        a.set_title(f"layer {l.depth} {l.type} ({l.name})\nstd {l.std:.3g}, signal x{l.ratio:.2g} of input{extra}",
                    fontsize=8)
        a.tick_params(labelsize=6)
        a.set_yticks([])
    fig.suptitle(f"initlab diagnose — batch {diag.settings.get('batch')}, {diag.settings.get('mode')} mode",
                 fontsize=11)
    fig.savefig(os.fspath(path), format="png")
    return path


__all__ = ["plot_diagnosis"]
