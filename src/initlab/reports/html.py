"""One self-contained HTML report: inline CSS, PNGs as base64 data URIs, no links, no scripts.

Every piece of text that comes from the config, the policies or the runs is HTML-escaped.
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path

from ..experiments.records import DIVERGED, CompareResult
from .table import (SIG_MARK, ci_cell, failed_runs, fmt, fmt_p, mean_ci, metric_of, path_line, setup_of, split_note,
                    summary_rows, title_of)

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
     color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#eaf6ea} tr.worse td.sig{color:#b00;font-weight:bold}
tr.diverged td{color:#b00}
img{max-width:100%;height:auto;border:1px solid #eee}
code,pre{font-family:Menlo,Consolas,monospace;font-size:.9em}
.note{color:#555;font-size:.9em}
"""


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _img(png_path) -> str:
    data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    return f'<img alt="{_e(Path(png_path).stem)} plot" src="data:image/png;base64,{data}">'


def _value(v) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def _config_table(config: dict) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(_value(v))}</code></td></tr>" for k, v in config.items())
    return f"<table>{rows}</table>"


def _summary_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(no runs)</p>"
    metric = rows[0]["metric"]
    has_target = any(r.get("epochs_to_target") is not None or r.get("reached_target") is not None for r in rows)
    head = ["rank", "policy", f"{metric} mean ± 95% CI", "95% CI", "std", "seeds", "diverged", "p vs best (Holm)",
            "significantly worse"] + (["epochs to target (median)"] if has_target else [])
    out = ["<table class=summary><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cls = "best" if r.get("best") else ("worse" if r.get("significantly_worse") else "")
        cells = [(r["rank"], "num"), (r["policy"], ""), (mean_ci(r), "num"), (ci_cell(r), "num"),
                 (fmt(r.get("std")) if r.get("seeds", 0) > 1 else "-", "num"), (r["seeds"], "num"), (r["diverged"], "num"),
                 ("best" if r.get("best") else fmt_p(r.get("p_vs_best")), "num"),
                 (f"{SIG_MARK} yes" if r.get("significantly_worse") else "no", "sig")]
        if has_target:
            cells.append((fmt(r.get("epochs_to_target"), 1), "num"))
        out.append(f'<tr class="{cls}">' + "".join(f'<td class="{c}">{_e(v)}</td>' for v, c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _runs_table(result: CompareResult) -> str:
    if not result.runs:
        return "<p>(no runs)</p>"
    keys = []
    for r in result.runs:
        for k in r.final:
            if k not in keys and k != "epoch":
                keys.append(k)
    head = ["policy", "seed", "status", "epochs", *(f"final {k}" for k in keys), "seconds"]
    out = ["<table class=runs><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for r in sorted(result.runs, key=lambda r: (r.policy, r.seed)):
        cells = [(r.policy, ""), (r.seed, "num"), (r.status, ""), (len(r.history), "num")]
        cells += [(fmt(r.final.get(k)) if isinstance(r.final.get(k), (int, float)) else (r.final.get(k) or "-"), "num")
                  for k in keys]
        cells.append((f"{r.seconds:.3g}", "num"))
        cls = "diverged" if r.status == DIVERGED else ""
        out.append(f'<tr class="{cls}">' + "".join(f'<td class="{c}">{_e(v)}</td>' for v, c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _failed_section(config: dict) -> list[str]:
    """A "Failed runs" section (policy, seed[, width], attempts, error) when some task failed; else nothing."""
    failed = failed_runs(config)
    if not failed:
        return []
    dd = any(f.get("width") is not None for f in failed)
    head = ["policy", "seed"] + (["width"] if dd else []) + ["attempts", "error"]
    out = ["<table class=failed><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for f in failed:
        cells = [f.get("policy", "?"), f.get("seed", "?")] + ([f.get("width", "-")] if dd else []) + [
            f.get("attempts", "-"), f.get("error") or "failed"]
        out.append('<tr class="diverged">' + "".join(f"<td>{_e(v)}</td>" for v in cells) + "</tr>")
    out.append("</table>")
    return ["<h2>Failed runs</h2>",
            f"<p class=note>{_e(len(failed))} run(s) failed after their retries: they are not in the summary or the "
            "store; rerunning the same command trains them.</p>", "".join(out)]


def render_html(result: CompareResult, curves_png, final_png) -> str:
    """The report as a string, with the two PNG files embedded."""
    rows = summary_rows(result)
    title = title_of(result.config)
    if rows or result.runs:
        metric, hib = metric_of(rows, result)
        metric_line = (f"metric: {metric} at the final epoch ({'higher' if hib else 'lower'} is better)"
                       + split_note(result.config))
    else:
        metric_line = ""
    alpha = rows[0].get("alpha", 0.05) if rows else 0.05
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e('initlab report: ' + title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e('Which initialization? ' + title)}</h1>",
        f'<p class="sub">{_e(setup_of(result.config))}</p>',
        f"<p>{_e(path_line(result))}"
        + (f"<br>{_e(result.skipped)} run(s) were found finished in the store and not retrained" if result.skipped else "")
        + "</p>",
        "<h2>Summary</h2>",
        f"<p class=note>{_e(metric_line)}. Mean ± half-width of the 95% Student-t interval over seeds. "
        f"{_e(SIG_MARK)} = significantly worse than the best policy: Welch's t-test on the final values, "
        f"Holm–Bonferroni corrected over the comparisons to the best, alpha = {_e(f'{alpha:g}')}. "
        "Diverged runs count as the worst value of the metric (by default 0 for an accuracy, "
        "+inf for a loss or MSE).</p>",
        _summary_table(rows),
        *_failed_section(result.config),
        "<h2>Learning curves</h2>",
        _img(curves_png),
        "<h2>Final metric per seed</h2>",
        _img(final_png),
        "<h2>Runs</h2>",
        _runs_table(result),
        "<h2>Configuration</h2>",
        _config_table(result.config),
        '<p class=note>Written by initlab.</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(result: CompareResult, path: str | os.PathLike, *, curves_png=None, final_png=None) -> str:
    """Write the self-contained report to `path`; draws the plots unless their PNGs are given."""
    from .plots import plot_curves, plot_final
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if curves_png is None:
            curves_png = plot_curves(result, Path(tmp) / "curves.png")
        if final_png is None:
            final_png = plot_final(result, Path(tmp) / "final.png")
        text = render_html(result, curves_png, final_png)
    path.write_text(text, encoding="utf-8")
    return str(path)
