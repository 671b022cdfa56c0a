"""Terminal summary table and the small formatting helpers shared by every report."""
from __future__ import annotations

import math

from ..experiments.records import CompareResult
from ..experiments.stats import SINGLE_SEED_NOTE, infer_metric, summarize

SIG_MARK = "*"


def fmt(v, digits: int = 4) -> str:
    """A number for humans: fixed decimals in the usual range, else 3 significant digits."""
    if v is None:
        return "-"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}f}"
    return f"{v:.3g}"


def fmt_p(p) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def summary_rows(result: CompareResult) -> list[dict]:
    """``result.summary``, or a summary computed from the runs (val_acc, else val_mse / val_loss)."""
    if result.summary:
        return list(result.summary)
    if not result.runs:
        return []
    metric, hib = infer_metric(result.runs)
    return summarize(result.runs, metric, higher_is_better=hib)


def metric_of(rows: list[dict], result: CompareResult) -> tuple[str, bool]:
    if rows:
        return rows[0]["metric"], bool(rows[0].get("higher_is_better", rows[0]["metric"].endswith("acc")))
    return infer_metric(result.runs)


def title_of(config: dict) -> str:
    """'<data> · <model>' from the config (the keys every sweep config carries)."""
    data = config.get("data", "?")
    model = config.get("model", "?")
    return f"{data} · {model}"


def setup_of(config: dict) -> str:
    """'3 epochs · sgd lr=0.1 · batch 128' from the config."""
    parts = []
    if "epochs" in config:
        parts.append(f"{config['epochs']} epoch" + ("" if config["epochs"] == 1 else "s"))
    opt = str(config.get("optimizer", ""))
    if "lr" in config:
        opt = f"{opt} lr={config['lr']}".strip()
    if opt:
        parts.append(opt)
    if "batch_size" in config:
        parts.append(f"batch {config['batch_size']}")
    return " · ".join(parts)


def mean_ci(r: dict) -> str:
    """'0.9100 ± 0.0248' (symmetric t-interval), '0.5000 (1 seed)' or 'inf'."""
    m = r.get("mean")
    lo, hi = (r.get("ci95") or [m, m])
    if m is None or not math.isfinite(m):
        return fmt(m)
    if r.get("ci_note") == SINGLE_SEED_NOTE or r.get("seeds") == 1:
        return f"{fmt(m)} (1 seed)"
    hw = (hi - lo) / 2 if r.get("ci_halfwidth") is None else r["ci_halfwidth"]
    if (m == 0 or 1e-3 <= abs(m) < 1e5) and 0 < hw < 1e-3:     # the mean's 4 decimals, not 3 digits of hw
        return f"{fmt(m)} ± " + (f"{hw:.4f}" if hw >= 5e-5 else "<0.0001")
    return f"{fmt(m)} ± {fmt(hw)}"


def ci_cell(r: dict) -> str:
    """'[lo, hi]' (clipped to the metric's range), or '-' with one seed (no interval)."""
    lo, hi = r.get("ci95") or [None, None]
    if r.get("ci_note") == SINGLE_SEED_NOTE or r.get("seeds") == 1:
        return "-"
    return f"[{fmt(lo)}, {fmt(hi)}]"


def split_note(config: dict) -> str:
    """Where the 'val_' metrics were measured when it was not a validation split."""
    split = config.get("eval_split", "val")
    if split == "test":
        return "; measured on the test split (this data set has no validation split; add one with --val-fraction or val_fraction=)"
    if split == "train":
        return "; measured on the training data (no validation or test split)"
    return ""


def path_line(result: CompareResult) -> str:
    if not result.path:
        return "trainer path: (not recorded)"
    return f"trainer path: {result.path}" + (f" ({result.path_reason})" if result.path_reason else "")


def failed_runs(config: dict) -> list[dict]:
    """config["failed"] (runs whose task failed after its retries, e.g. on Ray), or []."""
    return [f for f in (config.get("failed") or []) if isinstance(f, dict)]


def failed_line(f: dict) -> str:
    """'policy zeros seed 0 (width 8): RuntimeError: ... (3 attempts)' for one failed run."""
    where = f"policy {f.get('policy', '?')} seed {f.get('seed', '?')}"
    if f.get("width") is not None:
        where += f" width {f['width']}"
    if f.get("n_train") is not None:
        where += f" n_train {f['n_train']}"
    tries = f" ({f['attempts']} attempt{'' if f['attempts'] == 1 else 's'})" if f.get("attempts") else ""
    return f"{where}: {f.get('error') or 'failed'}{tries}"


def failed_block(config: dict) -> list[str]:
    """Lines naming the failed runs (none when every run finished): they are not in the summary or the store."""
    failed = failed_runs(config)
    if not failed:
        return []
    return [f"FAILED: {len(failed)} run(s) did not finish (not stored; rerunning the same command trains them):"] + [
        f"  {failed_line(f)}" for f in failed]


def terminal_table(result: CompareResult) -> str:
    """The summary as an aligned plain-text table, with the trainer path and a legend."""
    rows = summary_rows(result)
    lines = [f"{title_of(result.config)}" + (f" · {setup_of(result.config)}" if setup_of(result.config) else "")]
    if not rows:
        lines += ["(no runs)", *failed_block(result.config), path_line(result)]
        return "\n".join(lines)
    metric, hib = metric_of(rows, result)
    alpha = rows[0].get("alpha", 0.05)
    has_target = any(r.get("epochs_to_target") is not None or r.get("reached_target") is not None for r in rows)
    head = ["rank", "policy", f"{metric} mean ± 95% CI", "95% CI", "seeds", "diverged", "p vs best", "sig"]
    if has_target:
        head.append("epochs→target")
    table = []
    for r in rows:
        cells = [str(r["rank"]), str(r["policy"]), mean_ci(r), ci_cell(r), str(r["seeds"]),
                 f"{r['diverged']}/{r['seeds']}" if r["diverged"] else "0",
                 "best" if r.get("best") else fmt_p(r.get("p_vs_best")),
                 SIG_MARK if r.get("significantly_worse") else ""]
        if has_target:
            cells.append(fmt(r.get("epochs_to_target"), 1))
        table.append(cells)
    right = {0, 4, 5, 6}
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines.append(f"metric: {metric} at the final epoch ({'higher' if hib else 'lower'} is better)"
                 + split_note(result.config))
    lines.append(line(head))
    lines.append(line(["-" * w for w in widths]))
    lines += [line(c) for c in table]
    lines.append(f"{SIG_MARK} significantly worse than the best (Welch t-test, Holm-corrected over "
                 f"{sum(r.get('p_vs_best') is not None for r in rows)} comparison(s), alpha={alpha:g}); diverged runs count as the worst value")
    if result.skipped:
        lines.append(f"{result.skipped} run(s) were already in the store and not retrained")
    lines += failed_block(result.config)
    lines.append(path_line(result))
    return "\n".join(lines)
