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
import shutil
import tempfile
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
    # drawn in a private folder, then each file renamed into place: a reader, or a second process writing
    # the same report (two compares of one config finish together), never sees a half-written file
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        curves = plot_curves(result, tmp / "curves.png")
        final = plot_final(result, tmp / "final.png")
        write_html(result, tmp / "report.html", curves_png=curves, final_png=final)
        payload = {"config": result.config, "path": result.path, "path_reason": result.path_reason,
                   "skipped": result.skipped, "runs": len(result.runs), "summary": result.summary}
        (tmp / "summary.json").write_text(json.dumps(json_safe(payload), indent=2, default=str, allow_nan=False)
                                          + "\n")
        for name in ("curves.png", "final.png", "report.html", "summary.json"):
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p = {k: str(out / f) for k, f in (("html", "report.html"), ("curves", "curves.png"), ("final", "final.png"),
                                      ("summary", "summary.json"))}
    result.report = {"dir": str(out), **p, "png": [p["curves"], p["final"]]}
    return dict(result.report)
