"""Reports of a comparison: terminal table, PNG plots, one self-contained HTML file.

    print(terminal_table(result))
    paths = write_report(result, "initlab-report/")   # report.html, curves.png, final.png, summary.json

All take a ``CompareResult``; when ``result.summary`` is empty the summary is computed
from ``result.runs`` (val_acc when recorded, else val_mse / val_loss).  Titles use
``config["data"]``, ``config["model"]``, ``config["epochs"]``, ``config["optimizer"]``,
``config["lr"]`` and ``config["batch_size"]``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..experiments.records import CompareResult
from ..experiments.store import json_safe
from .html import render_html, write_html
from .plots import plot_curves, plot_final
from .table import summary_rows, terminal_table

__all__ = ["terminal_table", "plot_curves", "plot_final", "write_html", "render_html", "write_report"]


def write_report(result: CompareResult, out_dir: str | os.PathLike) -> dict:
    """Write report.html, curves.png, final.png and summary.json into `out_dir`.

    Fills ``result.summary`` when it is empty, sets ``result.report`` and returns it:
    {"dir", "html", "curves", "final", "summary", "png": [curves, final]} (paths as strings).
    summary.json holds the config, trainer path and summary rows (non-finite numbers as null).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not result.summary and result.runs:
        result.summary = summary_rows(result)
    curves = plot_curves(result, out / "curves.png")
    final = plot_final(result, out / "final.png")
    html_path = write_html(result, out / "report.html", curves_png=curves, final_png=final)
    summary = out / "summary.json"
    payload = {"config": result.config, "path": result.path, "path_reason": result.path_reason,
               "skipped": result.skipped, "runs": len(result.runs), "summary": result.summary}
    summary.write_text(json.dumps(json_safe(payload), indent=2, default=str, allow_nan=False) + "\n")
    result.report = {"dir": str(out), "html": html_path, "curves": curves, "final": final,
                     "summary": str(summary), "png": [curves, final]}
    return dict(result.report)
