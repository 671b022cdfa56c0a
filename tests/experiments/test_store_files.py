"""RunStore on files that are not stores, read-only opening, leases, the sink's claimed chunks, the default
chunk size and the per-config report folders (issue 13, hostile use 4, 5 and 7)."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from initlab.errors import InitError
from initlab.experiments.records import RunRecord
from initlab.experiments.sink import RunSink
from initlab.experiments.store import RunStore
from initlab.experiments.store_files import sniff
from initlab.experiments.store_leases import new_owner

H = "cfg"


def _rec(policy="he", seed=0, h=H):
    return RunRecord(policy, seed, h, history=[{"epoch": 1, "val_acc": 0.5}], final={"val_acc": 0.5}, seconds=1.0)


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _foreign(path: Path, wal: bool) -> Path:
    c = sqlite3.connect(path)
    if wal:
        c.execute("PRAGMA journal_mode = WAL")
    c.execute("CREATE TABLE notes (body TEXT)")
    c.execute("INSERT INTO notes VALUES ('mine')")
    c.commit()
    c.close()
    return path


@pytest.mark.parametrize("kind", ["foreign-rollback", "foreign-wal", "text", "png", "short"])
def test_files_that_are_not_stores_are_refused_and_left_byte_for_byte(tmp_path, kind):
    d = tmp_path / "d"
    d.mkdir()
    f = d / "x.sqlite"
    if kind.startswith("foreign"):
        _foreign(f, wal=kind == "foreign-wal")
    else:
        f.write_bytes({"text": b"my notes\n" * 50, "png": b"\x89PNG\r\n\x1a\n" + bytes(200), "short": b"SQLite"}[kind])
    before = _digest(d)
    expect = "another program" if kind.startswith("foreign") else "not a SQLite database"
    for kw in ({}, {"create": False}, {"readonly": True}):
        with pytest.raises(InitError, match=expect) as e:
            RunStore(f, **kw)
        assert "left as it is" in str(e.value) and str(f) in str(e.value)
        assert _digest(d) == before                       # same bytes, and no -wal/-shm file beside it


def test_an_empty_file_is_initialised_by_a_writer_only(tmp_path):
    f = tmp_path / "empty.sqlite"
    f.touch()
    for kw in ({"create": False}, {"readonly": True}):
        with pytest.raises(InitError, match="empty"):
            RunStore(f, **kw)
        assert f.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite"]
    with RunStore(f) as s:                                # what sqlite3.connect itself does with a 0-byte file
        s.save(_rec(), {"m": 1})
    assert sniff(f) == "store"
    blank = tmp_path / "blank.sqlite"                     # a SQLite database with no table: also initialised
    sqlite3.connect(blank).execute("PRAGMA user_version = 1").connection.close()
    assert sniff(blank) == "sqlite-empty"
    RunStore(blank).close()
    assert sniff(blank) == "store"


def test_readonly_store_reads_and_refuses_writes(tmp_path):
    f = tmp_path / "runs.sqlite"
    with RunStore(f) as s:
        s.save(_rec(seed=0), {"m": 1})
    with RunStore(f, readonly=True) as r:
        assert r.done(H) == {("he", 0)} and r.check() == [] and r.holders(H) == {}
        with pytest.raises(InitError, match="read-only"):
            r.save(_rec(seed=1), {"m": 1})
        with pytest.raises(InitError, match="read-only"):
            r.claim(H, [("he", 1)], "me")
        assert r._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"   # it was not switched back either


def test_a_store_from_before_leases_opens_for_reading_and_gets_the_table_when_written(tmp_path):
    f = tmp_path / "old.sqlite"
    with RunStore(f) as s:
        s.save(_rec(), {"m": 1})
        s._conn.execute("DROP TABLE leases")              # the layout of stores written before leases existed
    with RunStore(f, readonly=True) as r:
        assert r.done(H) == {("he", 0)} and r.holders(H) == {}
    with RunStore(f) as s:
        assert s.claim(H, [("he", 0), ("he", 1)], "me") == [("he", 1)]


def test_leases_are_exclusive_and_taken_over_when_expired_or_the_owner_is_dead(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as s:
        keys = [("he", i) for i in range(4)]
        a, b = new_owner(), new_owner()
        assert s.claim(H, keys[:3], a) == keys[:3]
        assert s.claim(H, keys, b) == [keys[3]]           # a's live leases are not shared
        assert s.claim(H, keys[:1], a) == keys[:1]        # an owner may re-claim its own
        s.save(_rec(seed=0), {"m": 1})                    # saving deletes the run's lease
        assert ("he", 0) not in s.holders(H)
        assert s.claim(H, keys, b) == [("he", 3)]         # 0 is stored, 1 and 2 held by a, 3 is b's own
        s.claim(H, [("he", 1)], a, ttl=-1.0)              # expired
        assert s.claim(H, keys, b) == [("he", 1), ("he", 3)]
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()                                       # reaped: its pid is gone
        s._conn.execute("UPDATE leases SET pid = ? WHERE owner = ?", (dead.pid, a))
        assert s.claim(H, keys, b) == [("he", 1), ("he", 2), ("he", 3)]   # a "died" holding ('he', 2)
        assert s.release(H, b) == 3 and s.holders(H) == {}


def test_sink_trains_only_what_it_leased_and_waits_for_the_rest(tmp_path):
    path = tmp_path / "runs.sqlite"
    other = RunStore(path)
    keys = [("he", i) for i in range(6)]
    other_owner = new_owner()
    assert other.claim(H, keys[2:4], other_owner) == keys[2:4]    # another process trains seeds 2 and 3

    logs, waiting = [], threading.Event()

    def finish_them():          # once the sink says it waits (no fixed sleep: a slow machine saves late too)
        waiting.wait(60)        # (no such line within a minute: save anyway, and the assertions below fail)
        for k in keys[2:4]:
            other.save(_rec(*k), {"m": 1})
    t = threading.Thread(target=finish_them, daemon=True)
    sink = RunSink(path, {"m": 1}, H)
    try:
        t.start()
        got = []
        for chunk in sink.claimed([keys[0:2], keys[2:4], keys[4:6]], log=lambda m: (logs.append(m), waiting.set()),
                                  poll_s=0.05):
            got.append(chunk)
            for k in chunk:
                sink.save(_rec(*k))
        t.join(60)
        assert got == [keys[0:2], keys[4:6]]              # never the other's runs
        assert len(logs) == 1 and "waiting for 2 run(s)" in logs[0]
        assert sink.done() == set(keys) and sink.saved == 4
    finally:
        sink.close()
        other.close()


def test_sink_takes_over_the_runs_of_an_owner_that_died(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as s:
        s.claim(H, [("he", 0), ("he", 1)], "ghost")
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        s._conn.execute("UPDATE leases SET pid = ?", (dead.pid,))
    sink = RunSink(path, {"m": 1}, H)
    try:
        assert list(sink.claimed([[("he", 0), ("he", 1)], [("he", 2)]])) == [[("he", 0), ("he", 1)], [("he", 2)]]
    finally:
        sink.close()                                      # releases the leases it did not save
    with RunStore(path, readonly=True) as r:
        assert r.holders(H) == {}


def test_default_chunk_is_about_a_minute_of_estimated_work(monkeypatch):
    import torch
    from torch import nn

    from initlab.experiments import compare_args as ca
    from initlab.experiments.engine import TrainData
    monkeypatch.setattr("initlab.experiments.engine.shards.usable_cores", lambda: 2)
    mlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    assert ca._macs_per_sample(mlp, torch.zeros(2, 784)) == 784 * 256 + 256 * 128 + 128 * 10

    def data(n_train, n_val, dim=784):
        return TrainData("classification", torch.zeros(n_train, dim), torch.zeros(n_train, dtype=torch.long),
                         torch.zeros(n_val, dim), torch.zeros(n_val, dtype=torch.long), 10, "val")
    fashion = data(48_000, 12_000)                         # the default `initlab compare` (seed004, 2 epochs)
    assert ca.default_chunk(mlp, fashion, 2, torch.device("cpu")) == 8
    assert ca.default_chunk(mlp, fashion, 20, torch.device("cpu")) == 1     # never 0
    assert ca.default_chunk(mlp, fashion, 2, torch.device("cuda")) > 100
    conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 28 * 28, 10))
    macs = ca._macs_per_sample(conv, torch.zeros(2, 1, 28, 28))
    assert macs == 8 * 28 * 28 * 9 + 8 * 28 * 28 * 10     # a conv counts once per output position


def test_report_folder_per_config_and_index(tmp_path):
    import json

    from initlab.reports.index import config_folder, write_index
    a = {"data": "fashion-mnist", "model": "mlp:784-64-10", "config_hash": "3f2a1b9c77", "epochs": 2}
    b = dict(a, model="../../etc/x.py:net", config_hash="0123456789")
    fa, fb = config_folder(a), config_folder(b)
    assert fa.startswith("fashion-mnist-mlp-784-64-10-3f2a1b9c-") and "-01234567-" in fb and "/" not in fb
    assert config_folder(dict(a, policies=["he"])) != fa != config_folder(dict(a, seeds=[0, 1]))  # another selection
    assert config_folder(dict(a)) == fa                   # the same comparison: the same folder
    for name, cfg in ((fa, a), (fb, b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"config": cfg, "runs": 3, "summary": [
            {"policy": "he", "rank": 1}]}))
    page = Path(write_index(tmp_path)).read_text()
    assert f'href="{fa}/report.html"' in page and f'href="{fb}/report.html"' in page and "etc/x.py" in page


def test_double_descent_trains_only_its_leased_runs_and_loads_the_others(tmp_path, monkeypatch):
    import torch

    from initlab.experiments import sink
    from initlab.experiments.double_descent import double_descent
    monkeypatch.setattr(sink, "POLL_S", 0.05)
    g = torch.Generator().manual_seed(0)
    x, xt = torch.randn(120, 6, generator=g), torch.randn(60, 6, generator=g)
    data = (x, (x[:, 0] > 0).long(), xt, (xt[:, 0] > 0).long())
    path = tmp_path / "dd.sqlite"
    other, real_claim, planted = RunStore(path), RunStore.claim, {}

    def claim(self, h, keys, owner, ttl=300.0):
        if not planted:                                   # "another process" leased width 4 just before us
            planted["h"] = h
            other.claim(h, [("torch-default@w=4", 0)], new_owner())

            def finish():       # saves once double descent says it waits for this run (not after a fixed sleep)
                waiting.wait(60)    # (never said: save anyway, the assertions below fail rather than hang)
                other.save(RunRecord("torch-default@w=4", 0, h, history=[{"epoch": 1, "test_err": 0.125}],
                                     final={"epoch": 1, "test_err": 0.125, "train_err": 0.0}, seconds=1.0), {"m": 1})
            planted["thread"] = threading.Thread(target=finish, daemon=True)
            planted["thread"].start()
        return real_claim(self, h, keys, owner, ttl)
    monkeypatch.setattr(RunStore, "claim", claim)
    logs, waiting = [], threading.Event()

    def log(m):
        logs.append(m)
        if "waiting for" in m:
            waiting.set()
    try:
        r = double_descent("width", data=data, widths=[2, 4], epochs=2, seeds=1, store=path, batch_size=32,
                           workers=1, log=log)
    finally:
        waiting.set()                                     # (a failure above: let the thread end)
        if "thread" in planted:
            planted["thread"].join(60)
        other.close()
    assert (r.trained, r.skipped) == (1, 1)
    assert r.curves["test_err"][1] == 0.125                # width 4 came from the other process's save
    assert any("waiting for 1 run(s)" in m for m in logs)
    with RunStore(path, readonly=True) as s:
        assert s.holders(planted["h"]) == {} and len(s.done(planted["h"])) == 2


def test_a_store_whose_tables_are_still_in_a_live_writers_wal_is_a_store(tmp_path):
    from initlab.experiments.store_files import _tables
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as writer:                        # open: its schema sits in the -wal, not the main file
        assert _tables(path, immutable=True) == set()
        assert sniff(path) == "store"                     # so the sniff reads the WAL before calling it empty
        writer.save(_rec(), {"m": 1})
        with RunStore(path, readonly=True) as reader, RunStore(path) as second_writer:
            assert reader.done(H) == second_writer.done(H) == {("he", 0)}


def test_runs_lists_the_runs_being_trained(tmp_path, capsys):
    from initlab.cli.main import main
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as s:
        s.save(_rec(seed=0), {"m": 1})
        s.claim(H, [("he", 1), ("he", 2)], new_owner())
    assert main(["runs", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"config {H}: 2 run(s) being trained by pid {os.getpid()}" in out
