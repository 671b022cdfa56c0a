"""RunStore.export's writers: CSV (one row per run and epoch) or JSON (runs with history).

Non-finite numbers become an empty CSV cell / JSON null so that other tools can read the file; the
file is written to ``NAME.tmp`` and renamed, so a reader never sees half of it.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable

from .jsonsafe import json_safe
from .records import RunRecord

_PREFERRED = ("train_loss", "val_loss", "val_acc", "val_mse")


def _metric_names(runs: Iterable[RunRecord]) -> list[str]:
    """Metric names in the histories: the usual ones first, then the rest sorted."""
    names = {k for r in runs for h in r.history for k in h if k != "epoch"}
    return [m for m in _PREFERRED if m in names] + sorted(names - set(_PREFERRED))


def write_runs(runs: list[RunRecord], path: Path, fmt: str) -> Path:
    """Write `runs` to `path` as `fmt` ('csv' or 'json', already checked); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "json":
        tmp.write_text(json.dumps([json_safe(r.to_dict()) for r in runs], indent=2, allow_nan=False) + "\n")
    else:
        metrics = _metric_names(runs)
        head = ["config_hash", "policy", "seed", "status", "epoch", *metrics]
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(head)
            for r in runs:
                for h in (r.history or [{}]):
                    w.writerow([r.config_hash, r.policy, r.seed, r.status, h.get("epoch", "")]
                               + ["" if json_safe(h.get(m)) is None else h[m] for m in metrics])
    os.replace(tmp, path)
    return path
