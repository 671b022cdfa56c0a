"""`initlab runs` through initlab.cli.main.main: listing, filters, JSON, export, errors."""
from __future__ import annotations

import csv
import json
import math

import pytest

from initlab.cli.main import main
from initlab.experiments.records import DIVERGED, RunRecord, config_hash
from initlab.experiments.store import RunStore

CFG_A = {"model": "mlp:784-64-10", "data": "fashion-mnist", "epochs": 2, "optimizer": "sgd", "lr": 0.1,
         "batch_size": 64}
CFG_B = dict(CFG_A, lr=0.01)
HA, HB = config_hash(CFG_A), config_hash(CFG_B)


def _run(policy, seed, h, status="finished"):
    hist = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_acc": 0.6},
            {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "val_acc": 0.8 + 0.01 * seed}]
    if status == DIVERGED:
        hist[-1].update(train_loss=math.inf, val_loss=math.nan)
    return RunRecord(policy, seed, h, status=status, history=hist,
                     final=dict(hist[-1]), seconds=2.0)                 # the trainer keeps "epoch" in final


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as s:
        for seed in range(2):
            s.save(_run("he", seed, HA), CFG_A)
            s.save(_run("zeros", seed, HA, status=DIVERGED if seed else "finished"), CFG_A)
        s.save(_run("he", 0, HB), CFG_B)
    return path


def test_list(db, capsys):
    assert main(["runs", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"config {HA}: fashion-mnist · mlp:784-64-10, 4 run(s)" in out
    assert "policy" in out and "val_acc" in out and "5 run(s) in" in out
    assert out.splitlines()[2].split()[-1] == "seconds" and "epochs" in out and " epoch " not in out
    div = next(l for l in out.splitlines() if "diverged" in l)
    assert "zeros" in div and " inf " in div and " nan " in div


def test_json_and_filters(db, capsys):
    assert main(["runs", "--store", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and {"config_hash", "policy", "seed", "status", "epochs", "final"} <= set(rows[0])
    assert main(["runs", "--store", str(db), "--config", HA[:6], "--policy", "zeros", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["policy"], r["seed"], r["status"]) for r in rows] == [("zeros", 0, "finished"), ("zeros", 1, DIVERGED)]
    assert rows[1]["final"]["train_loss"] is None and rows[1]["epochs"] == 2


def test_export(db, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["runs", "--store", str(db), "--config", HB, "--export", str(out)]) == 0
    assert "wrote 1 run(s)" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == 2 and rows[0]["config_hash"] == HB
    out = tmp_path / "x.json"
    assert main(["runs", "--store", str(db), "--export", str(out)]) == 0
    assert len(json.loads(out.read_text())) == 5


def test_errors_are_one_line_exit_2(db, tmp_path, capsys):
    missing = tmp_path / "nope" / "runs.sqlite"
    assert main(["runs", "--store", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--store" in err and "initlab compare" in err and "Fix:" in err
    assert not missing.parent.exists()                        # nothing created
    assert main(["runs", "--store", str(db), "--config", "zzzz"]) == 2
    assert "--config" in capsys.readouterr().err
    assert main(["runs", "--store", str(db), "--policy", "hee"]) == 2
    assert "Did you mean 'he'" in capsys.readouterr().err
    assert main(["runs", "--store", str(db), "--export", str(tmp_path / "x.txt")]) == 2
    assert main(["runs", "--store", str(db), "--json", "--export", "a.csv"]) == 2


def test_default_store_and_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 2
    assert "initlab-runs/runs.sqlite" in capsys.readouterr().err
    RunStore().close()
    assert main(["runs"]) == 0
    assert "no runs" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_help_has_examples(capsys):
    assert main(["runs", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and "initlab runs --export runs.csv" in out
