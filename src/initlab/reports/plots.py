"""PNG figures of a sweep (matplotlib, Agg, no pyplot global state).

* ``plot_curves``: train loss, val loss and the validation metric vs epoch, one colour per
  policy: the mean over seeds as a line and the min–max range over seeds as a band.
  Only finite values enter (a diverged run contributes its epochs before it blew up).
  The loss (and MSE) axes are logarithmic when their values, taken together, span more
  than a factor of 20.
* ``plot_final``: the final metric of every seed per policy (dots, deterministic jitter),
  the mean as a bar and its 95 % t-interval as an error bar; diverged seeds as red
  crosses (at the axis edge when their value is infinite); ``*`` marks policies
  significantly worse than the best.
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict

import numpy as np

from ..errors import InitError
from ..experiments.records import DIVERGED, CompareResult
from ..experiments.stats import run_value
from .table import SIG_MARK, fmt, metric_of, setup_of, summary_rows, title_of

LOG_RATIO = 20.0
DPI = 110


def _figure(w, h):
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:  # pragma: no cover - matplotlib is in the report extra
        raise InitError("plots need matplotlib, which is not installed. "
                        "Fix: pip install 'initlab[report]'") from None
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plain(text) -> str:
    """Text shown literally by matplotlib (a '$' would otherwise start mathtext)."""
    return str(text).replace("$", r"\$")


def _colors(n):
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _policies(result: CompareResult, rows: list[dict]) -> list[str]:
    """Policies in rank order (then any without a summary row, by name)."""
    order = [r["policy"] for r in rows]
    return order + sorted({r.policy for r in result.runs} - set(order))


def _by_policy(result: CompareResult) -> "OrderedDict[str, list]":
    out: OrderedDict = OrderedDict()
    for r in sorted(result.runs, key=lambda r: (r.policy, r.seed)):
        out.setdefault(r.policy, []).append(r)
    return out


def curve_stats(runs, key: str):
    """(epochs, mean, min, max) over the runs' finite values of `key` per epoch."""
    per_epoch: dict[int, list[float]] = {}
    for r in runs:
        for i, h in enumerate(r.history, start=1):
            v = h.get(key)
            if v is None or not math.isfinite(float(v)):
                continue
            per_epoch.setdefault(int(h.get("epoch", i)), []).append(float(v))
    ep = sorted(per_epoch)
    vals = [per_epoch[e] for e in ep]
    return (np.array(ep), np.array([np.mean(v) for v in vals]), np.array([np.min(v) for v in vals]),
            np.array([np.max(v) for v in vals]))


def _wants_log(values) -> bool:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    return v.size > 0 and bool(np.all(v > 0)) and float(v.max() / v.min()) > LOG_RATIO


def plot_curves(result: CompareResult, path: str | os.PathLike) -> str:
    """Train loss, val loss and the validation metric vs epoch per policy (mean line, min–max band)."""
    rows = summary_rows(result)
    metric, hib = metric_of(rows, result) if (rows or result.runs) else ("val_acc", True)
    groups = _by_policy(result)
    policies = _policies(result, rows)
    colors = dict(zip(policies, _colors(len(policies))))
    panels = [("train_loss", "train loss"), ("val_loss", "validation loss")]
    if metric not in ("train_loss", "val_loss"):
        panels.append((metric, f"validation {metric.removeprefix('val_')}"))
    fig = _figure(5.0 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    stats = {key: {p: curve_stats(groups.get(p, []), key) for p in policies} for key, _ in panels}

    def lossy(key):
        return key.endswith("loss") or key.endswith("mse")

    # one decision for every loss-like panel, so train and val loss share the same kind of axis
    log = _wants_log([v for key, _ in panels if lossy(key) for st in stats[key].values() for v in (*st[2], *st[3])])
    for ax, (key, label) in zip(axes, panels):
        every = []
        for p in policies:
            ep, mean, lo, hi = stats[key][p]
            if ep.size == 0:
                continue
            n = len(groups.get(p, []))
            nd = sum(r.status == DIVERGED for r in groups.get(p, []))
            name = _plain(f"{p} ({nd}/{n} diverged)" if nd else p)
            ax.plot(ep, mean, color=colors[p], lw=1.8, marker="o" if ep.size <= 12 else None, ms=3, label=name)
            if n > 1:
                ax.fill_between(ep, lo, hi, color=colors[p], alpha=0.18, lw=0)
            every += list(lo) + list(hi)
        if lossy(key) and log and every and min(every) > 0:
            ax.set_yscale("log")
            label += " (log scale)"
        ax.set_title(label, fontsize=11)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3, which="both")
        if not every:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        for ax in axes[1:]:
            handles, labels = ax.get_legend_handles_labels()
            if handles:
                break
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=9, title="policy (line: mean,\nband: min–max over seeds)",
                   title_fontsize=8)
    fig.suptitle(_plain(f"{title_of(result.config)}: learning curves per initialization\n{setup_of(result.config)}"),
                 fontsize=12)
    fig.savefig(path, dpi=DPI)
    return str(path)


def _jitter(n: int) -> np.ndarray:
    """Deterministic horizontal offsets in [-0.15, 0.15] for n dots."""
    if n <= 1:
        return np.zeros(n)
    return np.linspace(-0.15, 0.15, n)


def plot_final(result: CompareResult, path: str | os.PathLike) -> str:
    """The final metric of every seed per policy, with the mean and its 95 % CI."""
    rows = summary_rows(result)
    metric, hib = metric_of(rows, result) if (rows or result.runs) else ("val_acc", True)
    by_row = {r["policy"]: r for r in rows}
    groups = _by_policy(result)
    policies = _policies(result, rows)
    colors = dict(zip(policies, _colors(len(policies))))
    fig = _figure(max(7.0, 1.1 * len(policies) + 2.5), 4.8)
    ax = fig.subplots()

    finite_vals = []
    for i, p in enumerate(policies):
        r = by_row.get(p)
        runs = groups.get(p, [])
        vals = r["values"] if r and len(r.get("values", [])) == len(runs) else [run_value(x, metric) for x in runs]
        finite_vals += [v for v in vals if math.isfinite(v)]
    lo_all = min(finite_vals) if finite_vals else 0.0
    hi_all = max(finite_vals) if finite_vals else 1.0
    log = not hib and _wants_log(finite_vals)
    span = (hi_all - lo_all) or max(abs(hi_all), 1.0) * 0.1
    edge_hi, edge_lo = hi_all + 0.08 * span, lo_all - 0.08 * span
    if log:
        edge_hi, edge_lo = hi_all * 1.6, lo_all / 1.6
    any_inf = False

    labels_done = set()
    for i, p in enumerate(policies):
        r = by_row.get(p)
        runs = groups.get(p, [])
        vals = r["values"] if r and len(r.get("values", [])) == len(runs) else [run_value(x, metric) for x in runs]
        xs = i + _jitter(len(vals))
        for x, v, run in zip(xs, vals, runs):
            div = run.status == DIVERGED or not math.isfinite(v)
            y = v if math.isfinite(v) else (edge_hi if v > 0 else edge_lo)
            any_inf = any_inf or not math.isfinite(v)
            lab = None
            if div and "div" not in labels_done:
                lab, _ = "diverged seed", labels_done.add("div")
            elif not div and "seed" not in labels_done:
                lab, _ = "one seed", labels_done.add("seed")
            ax.scatter([x], [y], s=36 if not div else 60, marker="x" if div else "o",
                       color="crimson" if div else colors[p], alpha=0.85, zorder=3, label=lab)
        if r and r.get("mean") is not None and math.isfinite(r["mean"]):
            lo, hi = r["ci95"]
            ax.errorbar([i], [r["mean"]], yerr=[[r["mean"] - lo], [hi - r["mean"]]], fmt="none", ecolor="black",
                        elinewidth=1.4, capsize=8, zorder=4, label=None if "ci" in labels_done else "95% CI")
            ax.hlines(r["mean"], i - 0.28, i + 0.28, color="black", lw=2.2, zorder=4,
                      label=None if "ci" in labels_done else "mean")
            labels_done.add("ci")
        if r and r.get("significantly_worse"):
            ax.annotate(SIG_MARK, (i, 1.0), xycoords=("data", "axes fraction"), ha="center", va="top",
                        fontsize=16, color="crimson")
    if not policies:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(policies)))
    ax.set_xticklabels([_plain(f"{p}\n#{by_row[p]['rank']}" if p in by_row else p) for p in policies],
                       rotation=0 if len(policies) <= 6 else 30, fontsize=9)
    ax.set_xlim(-0.6, len(policies) - 0.4)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(edge_lo / 1.3, edge_hi * 1.6)
    elif finite_vals:
        ax.set_ylim(edge_lo - 0.04 * span, edge_hi + 0.1 * span)
    ax.set_ylabel(f"final {metric} ({'higher' if hib else 'lower'} is better)" + (", log scale" if log else ""))
    ax.set_xlabel("initialization policy (#rank)")
    ax.grid(True, axis="y", alpha=0.3)
    alpha = rows[0].get("alpha", 0.05) if rows else 0.05
    handles, labels = ax.get_legend_handles_labels()
    if any_inf:
        labels = [lab + " (inf: drawn at the edge)" if lab == "diverged seed" else lab for lab in labels]
    if any(r.get("significantly_worse") for r in rows):
        from matplotlib.lines import Line2D
        handles.append(Line2D([], [], marker=f"${SIG_MARK}$", markersize=10, color="crimson", linestyle="none"))
        labels.append(f"significantly worse than #1\n(Welch + Holm, α={alpha:g})")
    ax.legend(handles, labels, loc="best", fontsize=8, framealpha=0.85)
    ax.set_title(_plain(f"{title_of(result.config)}: final {metric} per seed (mean, 95% CI)\n"
                        f"{setup_of(result.config)}"),
                 fontsize=11)
    fig.savefig(path, dpi=DPI)
    return str(path)


__all__ = ["plot_curves", "plot_final", "curve_stats", "fmt"]
