"""Issue 13, item 8: results never depend on a timing probe.

With --workers 1 and automatic threads the thread count decides how torch splits its reductions, so it
must be a function of the problem and the cores only (engine/train.py pick_threads); the same command
run twice, in two processes, stores bit-identical metrics."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from initlab.experiments.engine import train
from initlab.experiments.store import RunStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_auto_threads_take_no_timing(monkeypatch):
    # the automatic choice may not run (or time) anything: the probe's matmuls and clock now raise
    def boom(*a, **k):
        raise AssertionError("pick_threads timed something without timed=True")
    monkeypatch.setattr(train.time, "perf_counter", boom)
    monkeypatch.setattr(train, "_timed_threads", boom)
    monkeypatch.setattr(train.torch, "bmm", boom)
    monkeypatch.setattr("initlab.experiments.engine.shards.usable_cores", lambda *a: 4)
    big = train.pick_threads(35, [(64, 128), (128, 128), (128, 10)], 16, "cpu")
    small = train.pick_threads(1, [(4, 8), (8, 2)], 4, "cpu")
    assert big[0] == 4 and small[0] == 1, (big, small)
    assert train.pick_threads(35, [(64, 128), (128, 128), (128, 10)], 16, "cpu") == big   # a pure function


def test_timed_probe_only_when_asked(monkeypatch):
    monkeypatch.setattr("initlab.experiments.engine.shards.usable_cores", lambda *a: 2)
    n, note = train.pick_threads(4, [(32, 32)], 8, "cpu", timed=True)
    assert n in (1, 2) and "timed" in note
    assert torch.get_num_threads() >= 1


def _compare_json(tmp: Path, tag: str) -> dict:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "initlab.cli.main", "compare", "--model", "mlp:64-128-128-10:relu", "--data",
           "digits", "--policies", "torch-default,general_rule_normal", "--seeds", "2", "--epochs", "3",
           "--batch-size", "16", "--lr", "0.05", "--workers", "1", "--store", str(tmp / f"{tag}.sqlite"),
           "--no-report", "--quiet", "--json"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def test_same_command_twice_gives_bit_identical_metrics(tmp_path):
    a, b = _compare_json(tmp_path, "a"), _compare_json(tmp_path, "b")
    assert a["config"]["workers"] == 1 and a["config"]["threads"] == b["config"]["threads"]
    stored = []
    for tag in ("a", "b"):
        with RunStore(tmp_path / f"{tag}.sqlite", create=False) as st:
            stored.append({(r.policy, r.seed): (r.status, r.history, r.final) for r in st.runs()})
    assert len(stored[0]) == 4 and stored[0] == stored[1]     # every stored float compared exactly
