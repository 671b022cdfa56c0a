"""initlab.compare and `initlab compare`: end to end on digits, resume, interruption (SIGINT/SIGKILL), JSON, errors."""
from __future__ import annotations

import json
import re
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import initlab
from initlab.cli.main import main
from initlab.errors import InitError
from initlab.experiments.store import RunStore

SMALL = dict(seeds=2, epochs=3, lr=0.05, batch_size=16, data_options={"subsample": 400}, progress=False)



def test_end_to_end_digits(tmp_path):
    res = initlab.compare("digits-mlp", "digits", ["zeros", "torch-default"], store=tmp_path / "runs.sqlite", **SMALL)
    initlab.reports.write_report(res, tmp_path / "report")
    assert res.path == "vectorized" and "stacked-MLP" in res.path_reason
    assert res.skipped == 0 and len(res.runs) == 4
    assert {(r.policy, r.seed) for r in res.runs} == {(p, s) for p in ("zeros", "torch-default") for s in (0, 1)}
    for r in res.runs:
        assert r.status == "finished" and [h["epoch"] for h in r.history] == [1, 2, 3]
        assert set(r.history[0]) >= {"train_loss", "val_loss", "val_acc"}
    rows = {row["policy"]: row for row in res.summary}
    assert rows["torch-default"]["rank"] == 1 and rows["torch-default"]["mean"] > 0.5
    assert rows["zeros"]["mean"] < 0.3                        # symmetric zero weights cannot learn
    assert rows["zeros"]["metric"] == "val_acc" and rows["zeros"]["seeds"] == 2
    assert Path(res.report["html"]).exists() and all(Path(p).exists() for p in res.report["png"])
    assert res.config["policies"] == ["zeros", "torch-default"] and res.config["data"] == "digits"


def test_resume_skips_finished_runs_and_loads_them(tmp_path):
    store = tmp_path / "runs.sqlite"
    first = initlab.compare("digits-mlp", "digits", ["zeros", "torch-default"], store=store, **SMALL)
    again = initlab.compare("digits-mlp", "digits", ["zeros", "torch-default"], store=store, **SMALL)
    assert again.skipped == 4 and again.path == "none"
    key = lambda r: (r.policy, r.seed)                       # noqa: E731
    a, b = sorted(first.runs, key=key), sorted(again.runs, key=key)
    assert [r.history for r in a] == [r.history for r in b]
    assert again.summary[0]["policy"] == first.summary[0]["policy"]
    more = initlab.compare("digits-mlp", "digits", ["zeros", "torch-default"], store=store,
                           **dict(SMALL, seeds=3))
    assert more.skipped == 4 and len(more.runs) == 6
    assert more.config["config_hash"] == first.config["config_hash"]
    other = initlab.compare("digits-mlp", "digits", ["zeros"], store=store, **dict(SMALL, lr=0.1))
    assert other.skipped == 0 and other.config["config_hash"] != first.config["config_hash"]


def test_same_results_vectorized_and_sequential_through_compare():
    kw = dict(SMALL, store=False, dtype="float64", epochs=2)
    v = initlab.compare("mlp:64-16-10:relu", "digits", ["torch-default", "general_rule_normal"], **kw)
    s = initlab.compare("mlp:64-16-10:relu", "digits", ["torch-default", "general_rule_normal"], path="sequential", **kw)
    assert v.path == "vectorized" and s.path == "sequential"
    for a, b in zip(v.runs, s.runs):
        assert (a.policy, a.seed) == (b.policy, b.seed)
        assert a.final["val_acc"] == pytest.approx(b.final["val_acc"], abs=1e-12)
        assert a.final["train_loss"] == pytest.approx(b.final["train_loss"], rel=1e-9)


def test_batchnorm_model_runs_sequentially_and_says_why():
    res = initlab.compare("mlp:64-16-10:relu:bn", "digits", ["torch-default"], **dict(SMALL, store=False, epochs=1))
    assert res.path == "sequential" and "BatchNorm" in res.path_reason
    assert all(r.status == "finished" for r in res.runs)


def test_divergence_in_a_sweep_is_recorded_and_the_sweep_goes_on():
    res = initlab.compare("mlp:10-32-32-1:tanh", "diabetes", ["ones", "torch-default"], seeds=2, epochs=4, lr=0.1,
                          batch_size=16, store=False, progress=False)
    by = {(r.policy, r.seed): r for r in res.runs}
    assert all(by[("ones", s)].status == "diverged" for s in (0, 1))
    assert all(by[("torch-default", s)].status == "finished" and len(by[("torch-default", s)].history) == 4
               for s in (0, 1))
    rows = {r["policy"]: r for r in res.summary}
    assert rows["ones"]["diverged"] == 2 and rows["torch-default"]["rank"] == 1
    assert rows["torch-default"]["metric"] == "val_mse" and math.isfinite(rows["torch-default"]["mean"])


@pytest.mark.parametrize("kwargs,needle", [
    (dict(policies=["zeros", "not-a-policy"]), "not-a-policy"),
    (dict(model="mlp:64-x-10"), "mlp:64-x-10"),
    (dict(model="mlp:32-16-10"), "input"),
    (dict(data="no-such-data"), "no-such-data"),
    (dict(optimizer="rmsprop"), "rmsprop"),
    (dict(device="tpu"), "tpu"),
    (dict(lr_schedule="cosin"), "lr_schedule='cosin'"),
])
def test_bad_input_is_one_init_error(kwargs, needle):
    args = dict(model="digits-mlp", data="digits", policies=["zeros"])
    args.update({k: kwargs[k] for k in ("model", "data", "policies") if k in kwargs})
    rest = {k: v for k, v in kwargs.items() if k not in ("model", "data", "policies")}
    with pytest.raises(InitError, match=None) as e:
        initlab.compare(args["model"], args["data"], args["policies"], **dict(SMALL, store=False, **rest))
    assert needle in str(e.value) and ("Fix" in str(e.value) or "expected" in str(e.value))


@pytest.mark.parametrize("argv,needle", [
    (["--optimizer", "rmsprop"], "rmsprop"),
    (["--policies", "zeros,nope"], "nope"),
    (["--model", "mlp:64-x"], "mlp:64-x"),
    (["--data", "nope-data"], "nope-data"),
    (["--workers", "two"], "--workers='two'"),
    (["--policies", "auto,,zeros"], "auto,,zeros"),
    (["--workers", "2", "--threads", "2"], "workers=1"),
    (["--lr-schedule", "step"], "'constant', 'cosine', 'linear'"),
])
def test_cli_bad_input_exit_2_one_line(tmp_path, capsys, argv, needle):
    base = ["compare", "--model", "digits-mlp", "--data", "digits", "--policies", "zeros", "--seeds", "1",
            "--epochs", "1", "--subsample", "100", "--store", str(tmp_path / "r.sqlite"), "--no-report", "--quiet"]
    code = main(base + argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("initlab: error:") and needle in err


def test_cli_json_shape(tmp_path, capsys):
    code = main(["compare", "--model", "digits-mlp", "--data", "digits", "--policies", "zeros,torch-default",
                 "--seeds", "2", "--epochs", "2", "--batch-size", "32", "--subsample", "300",
                 "--store", str(tmp_path / "runs.sqlite"), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)                                    # stdout is pure JSON (progress goes to stderr)
    assert {"summary", "config", "path", "path_reason", "runs", "skipped", "report"} <= set(doc)
    assert doc["path"] == "vectorized"
    for row in doc["summary"]:
        assert {"policy", "metric", "mean", "ci95", "seeds"} <= set(row)
        assert len(row["ci95"]) == 2 and row["seeds"] == 2 and row["metric"] == "val_acc"
    assert len(doc["runs"]) == 4 and all("val_acc" in r["final"] for r in doc["runs"])
    assert Path(doc["report"]["html"]).exists()              # report/ next to the store
    assert doc["config"]["lr"] == 0.05 and doc["config"]["optimizer"] == "sgd"


def test_cli_defaults_are_the_seed_004_comparison():
    from initlab.cli.main import build_parser
    a = build_parser().parse_args(["compare"])
    assert (a.model, a.data, a.seeds, a.epochs, a.batch_size, a.optimizer) == \
        ("seed004", "fashion-mnist", 3, 2, 100, "sgd")
    assert a.policies.split(",") == ["zeros", "ones", "uniform", "centered_uniform", "general_rule_uniform",
                                     "general_rule_normal", "torch_default", "auto"]


# ---------------------------------------------------------------------------- interruption
EPOCHS = 100     # long enough that chunk 2 is still training when the signal comes (a faster engine made 40 flaky)


def _cmd(store, parallel=("--threads", "1")):
    return [sys.executable, "-m", "initlab.cli.main", "compare", "--model", "mlp:64-32-10:relu", "--data", "digits",
            "--subsample", "300", "--policies", "zeros,torch-default", "--seeds", "2", "--epochs", str(EPOCHS),
            "--batch-size", "8", "--chunk", "2", *parallel, "--store", str(store), "--no-report"]


def _processes_mentioning(text):
    """PIDs whose command line contains `text` (forked workers keep their parent's command line)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _kill_after_first_chunk(store, sig, parallel=("--threads", "1")):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(_cmd(store, parallel), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    lines = []
    t0 = time.time()
    while time.time() - t0 < 240:             # a bound for a loaded machine, not a wait
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("chunk 1/2"):
            if "--workers" in parallel:         # hit the sweep while chunk 2's worker process is alive
                t1 = time.time()
                while len(_processes_mentioning(str(store))) < 2 and time.time() - t1 < 30:
                    time.sleep(0.002)
                assert len(_processes_mentioning(str(store))) >= 2, "no worker process seen"
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, "".join(lines) + err


@pytest.mark.parametrize("parallel", [("--threads", "1"), ("--workers", "2")], ids=["one-process", "2-workers"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_sweep_keeps_finished_runs_and_resumes(tmp_path, sig, parallel):
    store = tmp_path / "runs.sqlite"
    code, err = _kill_after_first_chunk(store, sig, parallel)
    assert "chunk 1/2" in err, err
    if sig == signal.SIGINT:
        assert code == 130 and "finished results are kept" in err, (code, err)
    else:
        assert code == -signal.SIGKILL
    deadline = time.time() + 30                  # a worker dies with its parent (PR_SET_PDEATHSIG / kill)
    while _processes_mentioning(str(store)) and time.time() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(store)) == []
    with RunStore(store) as st:
        runs = st.runs()
        assert st.check() == []
    assert {(r.policy, r.seed) for r in runs} == {("zeros", 0), ("torch-default", 0)}   # chunk 1 = seed 0
    assert all(r.status == "finished" and len(r.history) == EPOCHS for r in runs)
    done = subprocess.run(_cmd(store) + ["--json", "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["skipped"] == 2 and len(doc["runs"]) == 4
    assert all(r["status"] == "finished" and r["epochs"] == EPOCHS for r in doc["runs"])


def test_cli_table_says_which_path_ran(tmp_path, capsys):
    code = main(["compare", "--model", "digits-mlp", "--data", "digits", "--policies", "zeros", "--seeds", "1",
                 "--epochs", "1", "--subsample", "100", "--store", str(tmp_path / "r.sqlite"), "--no-report",
                 "--quiet", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "trainer path: vectorized (stacked-MLP kernel" in out and "1 thread(s) (set)" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when no GPU is visible")
def test_cuda_without_gpu_is_one_clear_error():
    with pytest.raises(InitError, match="no CUDA device"):
        initlab.compare("digits-mlp", "digits", ["zeros"], device="cuda", **dict(SMALL, store=False))


def test_a_dataset_object_resumes_by_content(tmp_path):
    """Two loads of the same data are the same config (their info differs in load_seconds)."""
    from initlab.data import load
    kw = dict(seeds=2, epochs=1, optimizer="sgd", lr=0.05, batch_size=16,
              store=str(tmp_path / "r.sqlite"), progress=False)
    first = initlab.compare("digits-mlp", load("digits", subsample=200), ["zeros", "auto"], **kw)
    again = initlab.compare("digits-mlp", load("digits", subsample=200), ["zeros", "auto"], **kw)
    other = initlab.compare("digits-mlp", load("digits", subsample=201), ["zeros", "auto"], **kw)
    assert first.skipped == 0 and again.skipped == 4 and other.skipped == 0


def test_a_dataset_changed_in_place_is_a_new_config(tmp_path):
    """Edits through torch or through a numpy array sharing the memory both change the config: no false resume."""
    from initlab.data import load
    kw = dict(seeds=1, epochs=1, lr=0.05, batch_size=16, store=str(tmp_path / "r.sqlite"), progress=False)
    ds = load("digits", subsample=200)
    first = initlab.compare("digits-mlp", ds, ["zeros"], **kw)
    same = initlab.compare("digits-mlp", ds, ["zeros"], **kw)
    ds.x_val[0, 0] += 1.0                                     # one value of the validation split changes
    edited = initlab.compare("digits-mlp", ds, ["zeros"], **kw)
    ds.x_train.numpy()[0, 0] += 1.0                           # behind torch's back (no version bump)
    edited_np = initlab.compare("digits-mlp", ds, ["zeros"], **kw)
    assert same.skipped == 1 and same.config["config_hash"] == first.config["config_hash"]
    assert edited.skipped == 0 and edited.config["config_hash"] != first.config["config_hash"]
    assert edited_np.skipped == 0 and edited_np.config["config_hash"] not in (first.config["config_hash"],
                                                                             edited.config["config_hash"])


def test_a_dataset_made_in_inference_mode_is_accepted():
    from initlab.data import load
    with torch.inference_mode():
        ds = load("digits", subsample=120)
        ds.x_train, ds.x_val = ds.x_train * 1.0, ds.x_val * 1.0     # inference tensors
    res = initlab.compare("digits-mlp", ds, ["zeros"], seeds=1, epochs=1, lr=0.05, batch_size=16, store=False,
                          progress=False)
    assert res.runs[0].status == "finished"


def test_a_factory_returning_one_shared_module_is_refused():
    from initlab.models import build_model
    shared = build_model("digits-mlp")
    with pytest.raises(InitError, match="new module at each call"):
        initlab.compare(lambda: shared, "digits", ["zeros", "torch-default"], store=False, **SMALL)


def test_each_run_builds_its_model_once():
    """Checking the policies up front builds the first seed's models, which are then trained (not rebuilt)."""
    from initlab.models import build_model
    calls = []

    def factory():
        calls.append(1)
        return build_model("digits-mlp")
    res = initlab.compare(factory, "digits", ["zeros", "torch-default", "auto"], store=False,
                          **dict(SMALL, seeds=3, epochs=1))
    assert len(res.runs) == 9
    assert len(calls) == 1 + 9                                # one probe + one model per (policy, seed)


def test_workers_auto_explicit_and_bad(monkeypatch):
    """auto: worker processes for small stacked-MLP steps when there are 2+ cores; an explicit thread count
    keeps one process; the results do not depend on the choice."""
    import os
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    kw = dict(SMALL, store=False, dtype="float64", epochs=2)
    auto = initlab.compare("digits-mlp", "digits", ["zeros", "torch-default"], **kw)
    one = initlab.compare("digits-mlp", "digits", ["zeros", "torch-default"], threads=1, **kw)
    assert auto.config["workers"] == 2 and "2 worker processes" in auto.path_reason
    assert one.config["workers"] == 1 and one.config["threads"] == 1
    for a, b in zip(auto.runs, one.runs):
        assert (a.policy, a.seed) == (b.policy, b.seed)
        assert a.history[-1]["val_loss"] == pytest.approx(b.history[-1]["val_loss"], rel=1e-9)
    big = initlab.compare("mlp:64-2048-10", "digits", ["zeros"], **dict(kw, seeds=2, epochs=1, batch_size=256))
    assert big.config["workers"] == 1                      # 64*2048*256 multiply-adds per step: threads split it
    seq = initlab.compare("digits-mlp", "digits", ["zeros"], workers=2, path="sequential", **kw)
    assert seq.config["workers"] == 1 and "workers=2 ignored" in seq.path_reason
    with pytest.raises(InitError, match="workers=0"):
        initlab.compare("digits-mlp", "digits", ["zeros"], workers=0, **kw)
    with pytest.raises(InitError, match="threads=2.*workers=1"):
        initlab.compare("digits-mlp", "digits", ["zeros"], workers=2, threads=2, **kw)


def test_the_config_follows_the_architecture_of_modules_and_factories(tmp_path):
    """A class name alone would resume another model's runs: the config hashes the model's structure."""
    from torch import nn
    kw = dict(SMALL, seeds=1, epochs=1, store=str(tmp_path / "r.sqlite"))

    def wide():
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def narrow():
        return nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 10))
    a = initlab.compare(wide(), "digits", ["zeros"], **kw)
    b = initlab.compare(narrow(), "digits", ["zeros"], **kw)
    assert a.config["model"] == b.config["model"] and b.skipped == 0
    assert a.config["config_hash"] != b.config["config_hash"]
    m = wide()
    first = initlab.compare(m, "digits", ["zeros"], **kw)
    again = initlab.compare(m, "digits", ["zeros"], **kw)         # same instance, same weights: resumes
    assert again.skipped == 1
    with torch.no_grad():
        m[0].weight.add_(1.0)                                     # an instance's weights are its starting point
    changed = initlab.compare(m, "digits", ["zeros"], **kw)
    assert changed.skipped == 0 and changed.config["config_hash"] != first.config["config_hash"]
    f1 = initlab.compare(wide, "digits", ["zeros"], **kw)
    f2 = initlab.compare(wide, "digits", ["zeros"], **kw)         # a factory: structure only (fresh weights)
    assert f2.skipped == 1 and f1.config["config_hash"] == f2.config["config_hash"]


@pytest.mark.parametrize("kwargs,needle", [
    (dict(loss="mse"), "loss='mse'"),
    (dict(loss="bce"), "loss='bce'"),
    (dict(momentum=-1.0), "momentum=-1.0"),
    (dict(momentum=0.9, optimizer="adam"), "momentum=0.9"),
    (dict(weight_decay=math.nan), "weight_decay=nan"),
])
def test_loss_and_optimizer_arguments_are_checked_before_training(kwargs, needle):
    with pytest.raises(InitError, match=re.escape(needle)):
        initlab.compare("digits-mlp", "digits", ["zeros"], store=False, **dict(SMALL, **kwargs))


def test_unusable_store_or_report_paths_fail_before_training(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    base = ["compare", "--model", "digits-mlp", "--data", "digits", "--policies", "zeros", "--seeds", "1",
            "--epochs", "1", "--subsample", "100", "--quiet"]
    assert main(base + ["--store", str(blocker / "runs.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--store=" in err and "Fix:" in err
    assert main(base + ["--no-store", "--report", str(blocker / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--report=" in err
    with pytest.raises(InitError, match="path="):
        RunStore(blocker / "runs.sqlite")


def test_cli_features_run_the_seed_003_models_on_housing(tmp_path, capsys, housing_data):
    base = ["compare", "--model", "housing-small", "--data", "california-housing", "--policies", "auto",
            "--seeds", "1", "--epochs", "1", "--subsample", "300", "--no-store", "--no-report", "--quiet"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "--features AveRooms,AveOccup" in err and len(err.strip().splitlines()) == 1
    assert main(base + ["--features", "AveRooms,AveOccup", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["data_options"]["features"] == ["AveRooms", "AveOccup"]
    assert doc["runs"][0]["status"] == "finished"
    assert main(base + ["--features", "AveRooms,Nope"]) == 2
    assert "Nope" in capsys.readouterr().err


def test_a_store_written_under_the_old_hyphen_spelling_is_resumed(tmp_path):
    # stores written before presets were spelled with underscores hold 'torch-default' runs: asking for
    # 'torch_default' must find them (same policy, same seed, same draws), not train them again
    store = tmp_path / "runs.sqlite"
    old = initlab.compare("digits-mlp", "digits", ["torch-default"], store=store, **SMALL)
    assert old.skipped == 0
    new = initlab.compare("digits-mlp", "digits", ["torch_default"], store=store, **SMALL)
    assert new.skipped == len(new.runs) == len(old.runs)
    assert {r.policy for r in new.runs} == {"torch_default"}
    assert [r.final for r in new.runs] == [r.final for r in old.runs]
    with pytest.raises(initlab.InitError, match="each policy once"):
        initlab.compare("digits-mlp", "digits", ["torch_default", "torch-default"], store=False, **SMALL)


def test_a_learning_rate_schedule_is_its_own_config_and_trains_differently(tmp_path, capsys):
    """cosine / linear: a new config hash (never resumed from constant-rate runs), different results; runs
    of the constant rate keep the hash they had before schedules existed (no "lr_schedule" key)."""
    kw = dict(SMALL, seeds=1, store=str(tmp_path / "r.sqlite"))
    const = initlab.compare("digits-mlp", "digits", ["torch-default"], **kw)
    cos = initlab.compare("digits-mlp", "digits", ["torch-default"], lr_schedule="cosine", **kw)
    lin = initlab.compare("digits-mlp", "digits", ["torch-default"], lr_schedule="linear", **kw)
    assert "lr_schedule" not in const.config and cos.config["lr_schedule"] == "cosine"
    assert cos.skipped == 0 and lin.skipped == 0
    assert len({r.config["config_hash"] for r in (const, cos, lin)}) == 3
    finals = [r.runs[0].history[-1]["val_loss"] for r in (const, cos, lin)]
    assert len(set(finals)) == 3
    again = initlab.compare("digits-mlp", "digits", ["torch-default"], lr_schedule="cosine", **kw)
    assert again.skipped == 1 and again.runs[0].history == cos.runs[0].history
    code = main(["compare", "--model", "digits-mlp", "--data", "digits", "--policies", "torch-default", "--seeds",
                 "1", "--epochs", "3", "--lr", "0.05", "--batch-size", "16", "--subsample", "400", "--lr-schedule", "cosine", "--store", kw["store"], "--no-report", "--quiet", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["skipped"] == 1 and doc["config"]["lr_schedule"] == "cosine"
