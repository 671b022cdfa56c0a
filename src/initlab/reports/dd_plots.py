"""PNG figures of a DoubleDescentResult (matplotlib, Agg backend; imported only when plots are asked for)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _pct_axis(ax):
    from matplotlib.ticker import PercentFormatter
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def _log_ticks(ax, axis: str, values, base: float = 10, fontsize=None) -> None:
    """A log axis ('x' or 'y') ticked and labelled at exactly `values` (widths or sample sizes)."""
    getattr(ax, f"set_{axis}scale")("log", base=base)
    getattr(ax, f"set_{axis}ticks")(list(values))
    getattr(ax, f"set_{axis}ticklabels")([str(v) for v in values], fontsize=fontsize)
    ax.minorticks_off()


def _shade(ax, analysis, widths):
    reg = (analysis or {}).get("regimes")
    if not reg:
        return
    lo, hi = min(widths), max(widths)
    spans = [("classical", lo * 0.9, reg["critical"][0], "#4c9be8"),
             ("critical", reg["critical"][0], reg["critical"][1], "#f0a030"),
             ("modern", reg["critical"][1], hi * 1.1, "#5cb85c")]
    for name, a, b, col in spans:
        a, b = max(a, lo * 0.9), min(b, hi * 1.1)
        if b > a:
            ax.axvspan(a, b, color=col, alpha=0.10, lw=0)
            ax.text(math.sqrt(a * b), 0.99, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=8, color=col)


def plot_modelwise(widths, curves: dict, analysis: dict, path, title: str = "", others: dict | None = None,
                   name: str | None = None) -> str:
    """Test and training error against width (log x), threshold marked, regimes shaded."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    _shade(ax, analysis, widths)
    te, tr = np.asarray(curves["test_err"], float), np.asarray(curves["train_err"], float)
    sd = np.asarray(curves.get("test_err_std") or [0] * len(widths), float)
    tag = f", {name}" if name else ""
    ax.plot(widths, te, "o-", color="C3", label=f"test error{tag}", lw=2)
    if np.nanmax(sd) > 0:
        ax.fill_between(widths, te - sd, te + sd, color="C3", alpha=0.15, lw=0)
    ax.plot(widths, tr, "s--", color="C0", label=f"train error (noisy labels){tag}", lw=1.5, ms=4)
    for name, (c, a) in (others or {}).items():
        ax.plot(widths, c["test_err"], "o-", lw=1.5, ms=3, alpha=0.8, label=f"test error, {name}")
        ax.plot(widths, c["train_err"], ":", lw=1, alpha=0.8, label=f"train error, {name}")
    thr = (analysis or {}).get("threshold_width")
    if thr:
        ax.axvline(thr, color="k", ls="--", lw=1)
        right = math.log(thr) > (math.log(min(widths)) + math.log(max(widths))) / 2
        ax.annotate(f"interpolation threshold\nwidth {thr}: test {analysis['threshold_test_err']:.1%}",
                    xy=(thr, analysis["threshold_test_err"]), xytext=(-10 if right else 10, 10),
                    textcoords="offset points", fontsize=8, ha="right" if right else "left")
    _log_ticks(ax, "x", widths, base=2, fontsize=7)
    ax.set_xlabel("hidden width h (MLP in-h-h-out)")
    ax.set_ylabel("error")
    _pct_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    verdict = (analysis or {}).get("verdict", "")
    if verdict:
        fig.text(0.01, 0.01, verdict.split(":")[0], fontsize=8, color="C2" if analysis.get("shows_peak") else "C3")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_epochwise(ep: dict, path, title: str = "", show_widths=None) -> str:
    """Heat map of test error (width x epoch, log epochs) and test/train curves for a few widths."""
    plt = _plt()
    widths, epochs = ep["widths"], ep["epochs"]
    te = np.asarray(ep["test_err"], float)
    tr = np.asarray(ep["train_err"], float)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    # cell edges on log scales
    e = np.asarray(epochs, float)
    ee = np.concatenate([[e[0] / 1.2], np.sqrt(e[:-1] * e[1:]), [e[-1] * 1.2]])
    w = np.asarray(widths, float)
    we = np.concatenate([[w[0] / 1.2], np.sqrt(w[:-1] * w[1:]), [w[-1] * 1.2]]) if len(w) > 1 else np.array([w[0] / 1.4, w[0] * 1.4])
    m = a1.pcolormesh(ee, we, te, cmap="viridis", shading="flat")
    a1.set_xscale("log")
    _log_ticks(a1, "y", widths, base=2, fontsize=7)
    a1.set_xlabel("epoch")
    a1.set_ylabel("hidden width h")
    a1.set_title("test error (seed mean)", fontsize=9)
    cb = fig.colorbar(m, ax=a1)
    _pct_axis(cb.ax)
    # where each width first interpolates
    for i in range(len(widths)):
        hit = np.where(tr[i] < 0.01)[0]
        if len(hit):
            a1.plot(e[hit[0]], w[i], "w.", ms=5)
    if show_widths is None:
        idx = sorted(set(np.linspace(0, len(widths) - 1, min(5, len(widths))).round().astype(int)))
    else:
        idx = [widths.index(x) for x in show_widths if x in widths]
    for k, i in enumerate(idx):
        a2.plot(e, te[i], "-", color=f"C{k}", lw=1.8, label=f"h={widths[i]} test")
        a2.plot(e, tr[i], ":", color=f"C{k}", lw=1.2, label=f"h={widths[i]} train")
    a2.set_xscale("log")
    a2.set_xlabel("epoch")
    a2.set_ylabel("error")
    _pct_axis(a2)
    a2.set_ylim(bottom=0)
    a2.legend(fontsize=7, ncol=2)
    a2.set_title("epoch-wise curves (white dots in the heat map: first epoch with train error < 1 %)", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_samplewise(sw: dict, path, title: str = "") -> str:
    """Test error against training-set size, one curve per width."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for k, (w, errs) in enumerate(sw["test_err"].items()):
        ax.plot(sw["samples"], errs, "o-", color=f"C{k}", label=f"h={w}")
    _log_ticks(ax, "x", sw["samples"])
    ax.set_xlabel("training samples")
    ax.set_ylabel("test error")
    _pct_axis(ax)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def write_all(res, folder) -> dict:
    """Every figure that fits the result's axis; returns {name: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    c = res.config
    n = c.get("n_train") or (f"{min(c['samples'])}..{max(c['samples'])}" if c.get("samples") else "?")
    title = (f"{c['data']}, n={n}, noise {'given' if c['noise'] is None else format(c['noise'], '.0%')}, "
             f"{res.epochs} epochs Adam, seeds {len(res.seeds)}, init {res.policy}")
    out = {}
    if res.axis in ("width", "epochs") and res.curves:
        others = None
        if res.comparison:
            p2 = res.comparison["policies"][1]
            others = {p2: (res.comparison["curves"][p2], res.comparison["analysis"][p2])}
        out["modelwise"] = plot_modelwise(res.widths, res.curves, res.analysis, folder / "dd_modelwise.png",
                                          title, others, res.policy if others else None)
    if res.axis == "epochs" and res.epochwise:
        thr = res.analysis.get("threshold_width")
        show = None
        if thr:
            i = res.widths.index(thr)
            show = sorted({res.widths[j] for j in (0, max(0, i - 2), i, min(len(res.widths) - 1, i + 3),
                                                    len(res.widths) - 1)})
        out["epochwise"] = plot_epochwise(res.epochwise, folder / "dd_epochwise.png", title, show)
    if res.axis == "samples" and res.samplewise:
        out["samplewise"] = plot_samplewise(res.samplewise, folder / "dd_samplewise.png", title)
    return out


def double_descent(axis: str = "width", *, plots=None, **kwargs):
    """``initlab.double_descent``: experiments.double_descent.double_descent(axis, **kwargs), then, with
    plots=folder, every figure that fits into that folder (``result.figures``: name -> PNG path).

    The sweep returns data; the figures are composed here, one layer up (experiments never import reports)."""
    from ..experiments.double_descent import double_descent as sweep
    res = sweep(axis, **kwargs)
    if plots is not None:
        res.figures = write_all(res, plots)
    return res
