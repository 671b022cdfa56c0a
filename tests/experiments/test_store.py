"""RunStore: round trip, idempotent atomic save, done(), exports, and durability under kills."""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import initlab
from initlab.errors import InitError
from initlab.experiments.records import DIVERGED, RunRecord, config_hash
from initlab.experiments.store import SCHEMA_VERSION, RunStore

CONFIG = {"model": "mlp:784-64-10", "data": "fashion-mnist", "epochs": 3, "optimizer": "sgd", "lr": 0.1,
          "batch_size": 128}
H = config_hash(CONFIG)


def make_run(policy="he", seed=0, epochs=3, status="finished", h=H, base=1.0) -> RunRecord:
    hist = [{"epoch": e, "train_loss": base / e, "val_loss": base / e + 0.1, "val_acc": 0.5 + 0.1 * e}
            for e in range(1, epochs + 1)]
    if status == DIVERGED:
        hist[-1]["train_loss"] = math.inf
        hist[-1]["val_loss"] = math.nan
    return RunRecord(policy=policy, seed=seed, config_hash=h, status=status, history=hist,
                     final={k: v for k, v in hist[-1].items() if k != "epoch"}, seconds=1.5)


def same(a: RunRecord, b: RunRecord) -> bool:
    """Equality that treats NaN == NaN."""
    return json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


def test_default_path_creates_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with RunStore() as s:
        assert s.path == tmp_path / "initlab-runs" / "runs.sqlite"
    assert s.path.is_file()


def test_pragmas_and_schema_version(store):
    c = store._conn
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2           # FULL
    assert c.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version == SCHEMA_VERSION


def test_round_trip_with_diverged_and_non_finite(store):
    runs = [make_run("he", 0), make_run("he", 1, base=2.0), make_run("zeros", 0, status=DIVERGED, epochs=2)]
    for r in runs:
        store.save(r, CONFIG)
    back = store.runs(H)
    assert len(back) == 3
    for r, b in zip(sorted(runs, key=lambda r: (r.policy, r.seed)), back):
        assert same(r, b)
    div = store.runs(H, policy="zeros")[0]
    assert div.status == DIVERGED and math.isinf(div.history[-1]["train_loss"])
    assert math.isnan(div.history[-1]["val_loss"])
    assert [h["epoch"] for h in back[0].history] == [1, 2, 3]
    assert store.config(H) == CONFIG
    assert store.check() == []


def test_history_is_restored_in_epoch_order(store):
    r = make_run(epochs=4)
    r.history = list(reversed(r.history))
    store.save(r, CONFIG)
    assert [h["epoch"] for h in store.runs()[0].history] == [1, 2, 3, 4]


def test_save_is_idempotent_and_replaces(store):
    store.save(make_run(epochs=3), CONFIG)
    store.save(make_run(epochs=3), CONFIG)
    assert len(store.runs()) == 1
    store.save(make_run(epochs=5, base=7.0), CONFIG)                 # same key, new content
    (r,) = store.runs()
    assert len(r.history) == 5 and r.history[0]["train_loss"] == 7.0
    n_epochs = store._conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    assert n_epochs == 5                                              # the old epochs are gone
    assert store.configs()[0]["runs"] == 1


class _FailingConn:
    """Proxy of a sqlite3 connection whose executemany raises (like Ctrl-C mid-write)."""

    def __init__(self, conn, exc):
        self._conn, self._exc = conn, exc

    def executemany(self, *a, **k):
        raise self._exc

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), sqlite3.OperationalError("disk I/O error")])
def test_interrupted_save_leaves_old_run_intact(store, exc):
    old = make_run(epochs=3)
    store.save(old, CONFIG)
    real = store._conn
    store._conn = _FailingConn(real, exc)
    with pytest.raises(type(exc)):
        store.save(make_run(epochs=6, base=9.0), CONFIG)
    with pytest.raises(type(exc)):
        store.save(make_run("new", 0), CONFIG)
    store._conn = real
    (r,) = store.runs()
    assert same(r, old)
    assert store.check() == []
    store.save(make_run("new", 0), CONFIG)                           # the store still works afterwards
    assert store.done(H) == {("he", 0), ("new", 0)}


def test_done_and_configs(store):
    other = dict(CONFIG, lr=0.01)
    h2 = config_hash(other)
    store.save(make_run("he", 0), CONFIG)
    store.save(make_run("he", 1), CONFIG)
    store.save(make_run("zeros", 0, status=DIVERGED), CONFIG)
    store.save(make_run("he", 0, h=h2), other)
    assert store.done(H) == {("he", 0), ("he", 1), ("zeros", 0)}
    assert store.done(h2) == {("he", 0)}
    assert store.done("nope") == set()
    cfgs = {c["hash"]: c for c in store.configs()}
    assert cfgs[H]["runs"] == 3 and cfgs[h2]["runs"] == 1 and cfgs[h2]["config"] == other
    assert cfgs[H]["created"].endswith("Z")
    assert [r.policy for r in store.runs(policy="zeros")] == ["zeros"]
    assert len(store.runs(config_hash=h2)) == 1


def test_config_is_written_once(store):
    store.save(make_run("he", 0), CONFIG)
    store.save(make_run("he", 1), dict(CONFIG, note="ignored: the first config under a hash is kept"))
    assert store.config(H) == CONFIG


def test_bad_inputs(store, tmp_path):
    with pytest.raises(InitError, match="status"):
        store.save(make_run(status="running"), CONFIG)
    with pytest.raises(InitError, match="config"):
        store.save(make_run(), "not a dict")
    with pytest.raises(InitError, match="existing run store"):
        RunStore(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(InitError, match="folder"):
        RunStore(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InitError, match="not a SQLite database"):
        RunStore(junk)


def test_export_csv(store, tmp_path):
    store.save(make_run("he", 0), CONFIG)
    store.save(make_run("zeros", 1, status=DIVERGED, epochs=2), CONFIG)
    path = store.export(tmp_path / "out" / "runs.csv")
    rows = list(csv.DictReader(open(path, newline="")))
    assert len(rows) == 3 + 2
    assert list(rows[0]) == ["config_hash", "policy", "seed", "status", "epoch", "train_loss", "val_loss", "val_acc"]
    assert rows[0]["config_hash"] == H and rows[0]["policy"] == "he" and rows[0]["epoch"] == "1"
    assert float(rows[2]["val_acc"]) == pytest.approx(0.8)
    last = rows[-1]
    assert last["status"] == "diverged" and last["train_loss"] == "" and last["val_loss"] == ""
    assert not (tmp_path / "out" / "runs.csv.tmp").exists()


def test_export_json_is_strict(store, tmp_path):
    store.save(make_run("he", 0), CONFIG)
    store.save(make_run("zeros", 1, status=DIVERGED), CONFIG)
    path = store.export(tmp_path / "runs.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert [d["policy"] for d in data] == ["he", "zeros"]
    assert len(data[0]["history"]) == 3 and data[1]["history"][-1]["train_loss"] is None
    assert store.export(tmp_path / "x.dat", fmt="csv").read_text().startswith("config_hash,")
    with pytest.raises(InitError, match="csv"):
        store.export(tmp_path / "runs.txt")


# ------------------------------------------------------------------ durability under kills
# The child loads the store module without running initlab/__init__ (which imports torch),
# so that each kill test takes well under a second of interpreter start-up.
CHILD = textwrap.dedent("""
    import math, signal, sys, types
    pkg = types.ModuleType("initlab"); pkg.__path__ = [sys.argv[1]]; sys.modules["initlab"] = pkg
    from initlab.experiments.store import RunStore
    from initlab.experiments.records import RunRecord
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started with SIGINT ignored
    store = RunStore(sys.argv[2])
    h, n_runs, n_epochs = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    cfg = {"model": "m", "data": "d"}
    for seed in range(n_runs):
        hist = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 2.0 / e, "val_acc": e / n_epochs}
                for e in range(1, n_epochs + 1)]
        store.save(RunRecord("he", seed, h, history=hist, final=dict(hist[-1]), seconds=float(seed)), cfg)
        print(seed, flush=True)
""")
N_RUNS, N_EPOCHS = 100_000, 300


def _kill_mid_sweep(tmp_path, sig) -> tuple[Path, int]:
    db = tmp_path / "runs.sqlite"
    pkg_dir = str(Path(initlab.__file__).parent)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, pkg_dir, str(db), "kill", str(N_RUNS), str(N_EPOCHS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reported = -1
    deadline = time.monotonic() + 30
    while reported < 5 and time.monotonic() < deadline:     # let it finish a few runs, then kill it mid-way
        line = proc.stdout.readline()
        if not line:
            break
        reported = int(line)
    assert reported >= 5, proc.stderr.read()
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode != 0                                # it really was interrupted, not finished
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    return db, reported


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_kill_loses_no_finished_run_and_leaves_no_partial_run(tmp_path, sig):
    db, reported = _kill_mid_sweep(tmp_path, sig)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with RunStore(db) as store:
        assert store.check() == []
        runs = store.runs("kill")
        seeds = sorted(r.seed for r in runs)
        assert seeds == list(range(len(seeds)))               # no hole: saves are sequential
        assert len(seeds) >= reported + 1                      # every run reported as saved is there
        for r in runs:                                         # ... with all of its epochs
            assert [h["epoch"] for h in r.history] == list(range(1, N_EPOCHS + 1))
            assert r.final["val_acc"] == 1.0
        # a continuation skips the finished runs and completes the sweep
        todo = [s for s in range(len(seeds) + 3) if ("he", s) not in store.done("kill")]
        assert todo == [len(seeds), len(seeds) + 1, len(seeds) + 2]
        before = {r.seed: r.seconds for r in runs}
        for s in todo:
            store.save(RunRecord("he", s, "kill", history=[{"epoch": 1, "val_acc": 0.5}],
                                 final={"val_acc": 0.5}, seconds=-1.0), {"model": "m", "data": "d"})
        after = store.runs("kill")
        assert len(after) == len(seeds) + 3
        assert {r.seed: r.seconds for r in after if r.seed in before} == before   # untouched
        assert store.check() == []


def test_concurrent_writers(tmp_path):
    """Two processes saving into one store at the same time (WAL + busy timeout): nothing lost."""
    db = tmp_path / "runs.sqlite"
    RunStore(db).close()
    pkg_dir = str(Path(initlab.__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, pkg_dir, str(db), h, "25", "50"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for h in ("w1", "w2")]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with RunStore(db) as store:
        assert store.done("w1") == store.done("w2") == {("he", s) for s in range(25)}
        assert all(len(r.history) == 50 for r in store.runs())
        assert store.check() == []


def test_numpy_and_tensor_metrics_are_stored_as_numbers(store):
    import numpy as np
    import torch
    r = make_run(epochs=2)
    r.seed = np.int64(3)
    r.history[0]["val_acc"] = np.float32(0.25)
    r.history[1]["val_acc"] = torch.tensor(0.75)
    r.final = {"val_acc": np.float64(0.75), "train_loss": torch.tensor(float("inf"))}
    store.save(r, dict(CONFIG, lr=np.float32(0.5)))
    (b,) = store.runs()
    assert b.seed == 3 and [h["val_acc"] for h in b.history] == [0.25, 0.75]
    assert b.final["val_acc"] == 0.75 and b.final["train_loss"] == math.inf
    assert store.config(H)["lr"] == 0.5


def test_delete_cascades_and_check_finds_missing_epochs(store):
    store.save(make_run("he", 0), CONFIG)
    store.save(make_run("he", 1), CONFIG)
    store.save(make_run("zeros", 0), CONFIG)
    assert store.delete(H, policy="zeros") == 1
    assert store.done(H) == {("he", 0), ("he", 1)}
    assert store._conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 6       # cascade
    store._conn.execute("DELETE FROM epochs WHERE epoch = 2 AND run_id = (SELECT MIN(id) FROM runs)")
    (problem,) = store.check()
    assert problem == f"run {H}/he/seed 0: 3 epochs recorded, 2 stored"
    assert store.delete(H) == 2 and store.runs() == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(InitError, match="schema version 99"):
        RunStore(path)
