"""Plain records shared by trainers, the store, statistics and reports (no logic, no torch).

One RunRecord per (config hash, policy, seed); a CompareResult bundles a sweep.
Per-epoch metric names: train_loss, val_loss and val_acc (classification, 0..1)
or val_mse (regression).  A run whose loss becomes non-finite has status "diverged".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

FINISHED = "finished"
DIVERGED = "diverged"


def config_hash(config: dict) -> str:
    """Stable 16-hex-digit hash of a JSON-able config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class RunRecord:
    policy: str
    seed: int
    config_hash: str
    status: str = FINISHED                                  # finished | diverged
    history: list[dict] = field(default_factory=list)       # one dict per epoch: {"epoch": 1, "train_loss": ..., ...}
    final: dict = field(default_factory=dict)               # metrics of the last epoch
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CompareResult:
    config: dict
    runs: list[RunRecord]
    summary: list[dict] = field(default_factory=list)       # rows: policy, metric, mean, ci95 [lo, hi], seeds, rank, ...
    path: str = ""                                          # "vectorized" | "sequential"
    path_reason: str = ""
    skipped: int = 0                                        # runs found finished in the store and not retrained
    report: dict = field(default_factory=dict)              # {"html": path, "png": [...]} once written

    def to_dict(self) -> dict:
        d = asdict(self)
        return d
