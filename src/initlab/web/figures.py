"""The demo's three figures (matplotlib Figure + Agg, no pyplot state): histograms, curves, boundary.

Histograms are ridgelines: one row per layer, first layer on top, all rows of a panel on one x
range, so the seed's classic picture reads at a glance (zeros: a spike at 0 in every row; too small:
rows narrowing to a spike; too large: mass piling up at the ends; right-sized: rows that stay alike).
Values beyond a panel's range (0.25th-99.75th percentile) land in its end bins.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

COLORS = ("#1f6fb4", "#e8710a")          # init A, init B
BINS = 41


def _figure(w, h):
    fig = Figure(figsize=(w, h), dpi=100)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    return fig


def _span(samples) -> tuple[float, float]:
    """A panel's x range: the 0.25th to 99.75th percentile of its layers' values, 0 included ([-1, 1] if all 0)."""
    vals = [v[torch.isfinite(v)] for _, v in samples if v.numel()]
    vals = [v for v in vals if v.numel()]
    if not vals:
        return -1.0, 1.0
    allv = torch.cat(vals)[:200_000].double()
    lo, hi = (float(q) for q in torch.quantile(allv, torch.tensor([0.0025, 0.9975], dtype=torch.float64)))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        lo, hi = float(allv.min()), float(allv.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return lo - 1.0, hi + 1.0
    pad = 0.03 * (hi - lo)
    return lo - pad, hi + pad


def _ridges(ax, samples, color, title, names: bool):
    """One panel: all ridges as ONE PolyCollection, few short texts (glyph rendering is most of the cost)."""
    from matplotlib.collections import LineCollection, PolyCollection
    lo, hi = _span(samples)
    n = len(samples)
    edges = np.linspace(lo, hi, BINS + 1)
    xs = np.repeat(edges, 2)[1:-1]                     # step outline: each bin's left and right edge
    polys, labels = [], []
    for i, (label, v) in enumerate(samples):
        base = n - 1 - i
        v = v[torch.isfinite(v)].numpy() if v.numel() else np.zeros(0)
        if v.size:
            h, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
            # heights relative to the second-highest bin (clipped at 1): ReLU's spike at 0 would otherwise
            # flatten the rest of the distribution; a lone spike (zeros init) still reaches full height
            top = np.sort(h)[-2] if (h > 0).sum() > 1 else h.max()
            ys = base + 0.9 * np.repeat(np.minimum(h / max(1, top), 1.0), 2)
            polys.append(np.c_[np.r_[xs[0], xs, xs[-1]], np.r_[base, ys, base]])
            labels.append(f"\u03c3 {float(np.std(v)):.2g}")
        else:
            labels.append("no gradient")
    ax.add_collection(PolyCollection(polys, facecolors=color, alpha=0.75, linewidths=0))
    ax.add_collection(LineCollection([[(lo, b), (hi, b)] for b in range(n)], colors="#cccccc", linewidths=0.5))
    ax.axvline(0.0, color="#999999", lw=0.5, ls=":")
    rows = [n - 1 - i + 0.35 for i in range(n)]
    ax.set_yticks(rows, [lab for lab, _ in samples] if names else [], fontsize=8)
    for y, text in zip(rows, labels):                  # each layer's std, right of its ridge
        ax.text(1.005, y, text, transform=ax.get_yaxis_transform(), fontsize=8, va="center", color="#333333")
    ax.set_ylim(-0.2, n)
    ax.set_xlim(lo, hi)
    ax.tick_params(axis="x", labelsize=7)
    ax.tick_params(axis="y", length=0)
    ax.set_title(title, fontsize=9)
    for s in ("top", "right", "left"):
        ax.spines[s].set_visible(False)


def histograms(sides) -> Figure:
    """2 x 2 panels: activations (top) and gradients (bottom) of init A (left) and init B (right)."""
    rows = max(len(s.acts) for s in sides)
    panel = min(max(0.55 * rows, 1.2), 4.2)          # inches per panel: 16 ridges still fit on a screen
    height = 1.35 + 2 * panel
    fig = _figure(11, height)
    axes = fig.subplots(2, len(sides), squeeze=False)
    for j, (s, c) in enumerate(zip(sides, COLORS)):
        _ridges(axes[0][j], s.acts, c, f"{'AB'[j]}: {s.policy} - activations at init", j == 0)
        _ridges(axes[1][j], s.grads, c, f"{'AB'[j]}: {s.policy} - gradients at init (d loss / d activation)", j == 0)
    # margins in inches, so titles never touch the tick labels above them whatever the number of layers
    top_in, bottom_in, gap_in = 0.3, 0.3, 0.75
    ax_h = (height - top_in - bottom_in - gap_in) / 2
    fig.subplots_adjust(left=0.1, right=0.94, top=1 - top_in / height, bottom=bottom_in / height, wspace=0.2,
                        hspace=gap_in / ax_h)
    return fig


def curves(histories, labels, chance: float, n_epochs: int) -> Figure:
    """Loss (train solid, validation dashed) and validation accuracy per epoch, both inits on one axis each."""
    fig = _figure(11, 3.4)
    ax_l, ax_a = fig.subplots(1, 2)
    for hist, lab, c in zip(histories, labels, COLORS):
        ep = [h["epoch"] for h in hist]
        ax_l.plot(ep, [h["train_loss"] for h in hist], "-", color=c, lw=1.6, label=f"{lab} train")
        ax_l.plot(ep, [h["val_loss"] for h in hist], "--", color=c, lw=1.2, label=f"{lab} validation")
        ax_a.plot(ep, [100 * h["val_acc"] for h in hist], "-", color=c, lw=1.6, label=lab)
    ax_a.axhline(100 * chance, color="#888888", lw=0.8, ls=":", label=f"chance ({100 * chance:.0f} %)")
    from matplotlib.ticker import MaxNLocator
    # legends where the curves are not: above the loss curves (headroom), below the accuracies (chance and up)
    for ax, name, where in ((ax_l, "loss", "upper right"), (ax_a, "validation accuracy (%)", "lower right")):
        ax.set_xlim(0.5, max(1, n_epochs) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc=where, framealpha=0.9, ncol=2)
    ax_a.set_ylim(0, 100)
    top = max((v for hist in histories for h in hist for v in (h["train_loss"], h["val_loss"]) if math.isfinite(v)),
              default=1.0)
    ax_l.set_ylim(0, min(top, 10) * 1.5 or 1)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.15, wspace=0.18)
    return fig


def grid_for(x: torch.Tensor, steps: int = 80):
    """(grid points (steps^2, 2), xs, ys) covering the 2-D inputs with a margin."""
    lo, hi = x.min(0).values, x.max(0).values
    pad = 0.15 * (hi - lo).clamp_min(1e-3)
    xs = torch.linspace(float(lo[0] - pad[0]), float(hi[0] + pad[0]), steps)
    ys = torch.linspace(float(lo[1] - pad[1]), float(hi[1] + pad[1]), steps)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    return torch.stack([gx.flatten(), gy.flatten()], 1), xs, ys


def boundary(probs, labels, xs, ys, x, y, epoch: int) -> Figure:
    """Each init's P(class 1) on the grid, with the training points; the 0.5 contour is the boundary."""
    fig = _figure(11, 4.2)
    axes = fig.subplots(1, len(probs), squeeze=False)[0]
    keep = slice(None, None, max(1, len(x) // 600))
    xp, yp = x[keep].numpy(), y[keep].numpy()
    for ax, p, lab in zip(axes, probs, labels):
        if p is not None:
            z = p.reshape(len(ys), len(xs)).numpy()
            ax.contourf(xs.numpy(), ys.numpy(), z, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55,
                        vmin=0, vmax=1)
            if np.nanmin(z) < 0.5 < np.nanmax(z):
                ax.contour(xs.numpy(), ys.numpy(), z, levels=[0.5], colors="k", linewidths=1.2)
        ax.scatter(xp[:, 0], xp[:, 1], c=np.where(yp == 1, "#b2182b", "#2166ac"), s=7, lw=0)
        ax.set_title(f"{lab}: decision boundary after epoch {epoch}" if p is not None else f"{lab}: diverged",
                     fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_aspect("auto")
    fig.subplots_adjust(left=0.05, right=0.98, top=0.91, bottom=0.08, wspace=0.12)
    return fig


__all__ = ["histograms", "curves", "boundary", "grid_for", "COLORS"]
