"""Sweeps on Ray (experiments/executors/): the same numbers as the local executor, resume across executors,
retries and failures, a killed worker.  One local Ray on loopback for the whole module (2 CPUs)."""
import sqlite3

import pytest

ray = pytest.importorskip("ray")

import initlab  # noqa: E402
from initlab.experiments.executors.tasks import FAULT_ENV  # noqa: E402

KW = dict(seeds=3, epochs=3, lr=0.05, batch_size=32, data_options={"subsample": 300}, progress=False)
MODEL, DATA, POLICIES = "mlp:64-32-10", "digits", ["zeros", "torch-default", "xavier_uniform"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False)
    yield
    ray.shutdown()


def _stored(path) -> set:
    with sqlite3.connect(path) as c:
        return {(p, s) for p, s in c.execute("SELECT policy, seed FROM runs")}


def _same_runs(a, b):
    assert [(r.policy, r.seed, r.status) for r in a.runs] == [(r.policy, r.seed, r.status) for r in b.runs]
    for ra, rb in zip(a.runs, b.runs):
        assert len(ra.history) == len(rb.history)
        for k, v in ra.final.items():
            assert rb.final[k] == pytest.approx(v, rel=1e-5, abs=1e-6), (ra.policy, ra.seed, k)


def test_ray_gives_the_local_summary_and_each_executor_resumes_the_other(tmp_path):
    local_db, ray_db = str(tmp_path / "local.sqlite"), str(tmp_path / "ray.sqlite")
    a = initlab.compare(MODEL, DATA, POLICIES, store=local_db, **KW)
    b = initlab.compare(MODEL, DATA, POLICIES, store=ray_db, executor="ray", **KW)
    assert b.config["executor"] == "ray" and b.config["failed"] == [] and b.skipped == 0
    assert b.config["config_hash"] == a.config["config_hash"]            # the executor is not in the hash
    assert "Ray: 2 task(s)" in b.path_reason                              # one chunk per Ray CPU
    _same_runs(a, b)
    for sa, sb in zip(a.summary, b.summary):
        assert sa["policy"] == sb["policy"] and sa["rank"] == sb["rank"]
        assert sb["mean"] == pytest.approx(sa["mean"], rel=1e-6)
    # resumed: a Ray rerun of the local store and a local rerun of the Ray store train nothing
    c = initlab.compare(MODEL, DATA, POLICIES, store=local_db, executor="ray", **KW)
    d = initlab.compare(MODEL, DATA, POLICIES, store=ray_db, **KW)
    for r in (c, d):
        assert r.skipped == 9 and r.path == "none"
        _same_runs(a, r)


def test_a_failing_task_is_retried_then_reported_and_the_rest_finishes(tmp_path, monkeypatch):
    attempts = tmp_path / "attempts.txt"
    monkeypatch.setenv(FAULT_ENV, f"raise:xavier_uniform:1:{attempts}")
    db = str(tmp_path / "runs.sqlite")
    r = initlab.compare(MODEL, DATA, POLICIES, store=db, chunk=2, **KW)  # local: the hook is Ray's only
    assert r.config["failed"] == [] and len(r.runs) == 9 and not attempts.exists()
    db = str(tmp_path / "ray.sqlite")
    r = initlab.compare(MODEL, DATA, ["torch-default", "xavier_uniform"], store=db, executor="ray", chunk=1,
                        **dict(KW, seeds=2))
    assert attempts.read_text().count("attempt") == 3                    # 1 + max_retries (2)
    (f,) = r.config["failed"]
    assert (f["policy"], f["seed"], f["attempts"]) == ("xavier_uniform", 1, 3) and "injected failure" in f["error"]
    assert {(x.policy, x.seed) for x in r.runs} == {("torch-default", 0), ("torch-default", 1), ("xavier_uniform", 0)}
    assert _stored(db) == {("torch-default", 0), ("torch-default", 1), ("xavier_uniform", 0)}
    assert {row["policy"]: row["seeds"] for row in r.summary} == {"torch-default": 2, "xavier_uniform": 1}
    monkeypatch.delenv(FAULT_ENV)                                        # the fault is gone: a rerun trains it
    r2 = initlab.compare(MODEL, DATA, ["torch-default", "xavier_uniform"], store=db, executor="ray",
                         **dict(KW, seeds=2))
    assert r2.skipped == 3 and r2.config["failed"] == [] and len(r2.runs) == 4


def test_a_killed_worker_loses_no_finished_run(tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv(FAULT_ENV, f"exit:torch-default:1:{marker}")
    db = str(tmp_path / "runs.sqlite")
    r = initlab.compare(MODEL, DATA, ["zeros", "torch-default"], store=db, executor="ray", chunk=1,
                        **dict(KW, seeds=2))
    assert marker.exists()                                               # the worker did die once
    assert r.config["failed"] == [] and len(r.runs) == 4
    assert _stored(db) == {(p, s) for p in ("zeros", "torch-default") for s in (0, 1)}
    ref = initlab.compare(MODEL, DATA, ["zeros", "torch-default"], store=None, **dict(KW, seeds=2))
    _same_runs(ref, r)                                                   # the retried chunk gives the same numbers


def test_double_descent_on_ray_matches_local_and_resumes(tmp_path):
    from initlab.data import load
    ds = load(DATA, subsample=300)                 # pre-loaded data: it travels once through Ray's object store
    data = (ds.x_train, ds.y_train, ds.x_val, ds.y_val)
    kw = dict(data=data, widths=[2, 4, 8], epochs=3, seeds=2, final_only=True)
    a = initlab.double_descent("width", store=str(tmp_path / "a.sqlite"), **kw)
    b = initlab.double_descent("width", store=str(tmp_path / "b.sqlite"), executor="ray", **kw)
    assert b.config["failed"] == [] and b.trained == 6 and b.config_hashes == a.config_hashes
    assert [(x["width"], x["seed"]) for x in a.runs] == [(x["width"], x["seed"]) for x in b.runs]
    for ra, rb in zip(a.runs, b.runs):
        assert rb["test_err"] == pytest.approx(ra["test_err"]) and rb["train_loss"] == pytest.approx(ra["train_loss"])
    c = initlab.double_descent("width", store=str(tmp_path / "b.sqlite"), **kw)
    assert c.trained == 0 and c.skipped == 6


def test_cli_reports_failed_runs_and_exits_1(tmp_path, monkeypatch, capsys):
    from initlab.cli.main import main
    monkeypatch.setenv(FAULT_ENV, f"raise:zeros:0:{tmp_path / 'n'}")
    rc = main(["compare", "--model", MODEL, "--data", DATA, "--policies", "zeros,torch-default", "--seeds", "1",
               "--epochs", "1", "--subsample", "200", "--chunk", "1", "--executor", "ray", "--no-report", "--quiet",
               "--store", str(tmp_path / "runs.sqlite")])
    out, err = capsys.readouterr()
    assert rc == 1 and "torch-default" in out                           # the summary of the runs that finished
    assert "run zeros seed 0 FAILED after 3 attempt(s): RuntimeError: injected failure" in err
    assert _stored(str(tmp_path / "runs.sqlite")) == {("torch-default", 0)}


def test_more_threads_per_task_than_a_node_has_is_refused_not_a_hang():
    with pytest.raises(initlab.InitError, match=r"threads=4 is not allowed; expected at most 2"):
        initlab.compare(MODEL, DATA, ["zeros"], executor="ray", threads=4, store=None, **dict(KW, seeds=1))


def test_an_interrupted_driver_keeps_the_chunks_that_came_back(tmp_path, monkeypatch):
    from initlab.experiments.compare import CompareInterrupted
    from initlab.experiments.sink import RunSink
    save = RunSink.save

    def save_then_ctrl_c(self, record):                  # Ctrl-C arrives right after the first run is stored
        save(self, record)
        raise KeyboardInterrupt
    monkeypatch.setattr(RunSink, "save", save_then_ctrl_c)
    db = str(tmp_path / "runs.sqlite")
    kw = dict(KW, seeds=2)
    with pytest.raises(CompareInterrupted) as e:
        initlab.compare(MODEL, DATA, ["zeros", "torch-default"], store=db, executor="ray", chunk=1, **kw)
    assert e.value.saved == 1 and len(_stored(db)) == 1                  # the chunk that came back is kept
    monkeypatch.setattr(RunSink, "save", save)
    r = initlab.compare(MODEL, DATA, ["zeros", "torch-default"], store=db, executor="ray", chunk=1, **kw)
    assert r.skipped == 1 and len(r.runs) == 4 and len(_stored(db)) == 4


def test_the_ray_driver_trains_only_the_runs_it_leased(tmp_path):
    """A local and a Ray compare of one config on one store share it: here "another process" (a lease owner
    this test plays) holds seed 1 of every policy; the Ray driver trains the other runs, waits, and loads
    the held ones once the other process has saved them: nothing is trained twice."""
    import dataclasses
    import threading
    import time
    from initlab.experiments.store import RunStore
    from initlab.experiments.store_leases import new_owner
    kw = dict(KW, seeds=2)
    probe = initlab.compare(MODEL, DATA, ["zeros"], store=None, **dict(KW, seeds=1))
    h, db = probe.config["config_hash"], str(tmp_path / "runs.sqlite")
    other, held = new_owner(), [(p, 1) for p in POLICIES]
    with RunStore(db) as st:
        assert st.claim(h, held, other) == held
    seen = {}

    def the_other_process():                        # saves its runs once the Ray driver has leased its own
        with RunStore(db) as st:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                # the driver's runs are leased, or (tiny models on a warm Ray train in well under this loop's
                # period, and a lease ends with its run's save) already saved: one claim took them all at once
                def taken():
                    return {k for k, v in st.holders(h).items() if v["owner"] != other} | set(st.done(h))
                if taken():                         # read again: a run moves from leased to saved atomically
                    seen["driver"] = sorted(taken())
                    break
                time.sleep(0.05)
            for p, s in held:
                st.save(dataclasses.replace(probe.runs[0], policy=p, seed=s, seconds=1234.5), probe.config)
    t = threading.Thread(target=the_other_process)
    t.start()
    r = initlab.compare(MODEL, DATA, POLICIES, store=db, executor="ray", **kw)
    t.join(30)
    assert seen["driver"] == sorted((p, 0) for p in POLICIES)          # the driver took exactly its runs
    assert r.skipped == 3 and r.config["failed"] == [] and len(r.runs) == 6
    loaded = {(x.policy, x.seed): x.seconds for x in r.runs}
    assert all(loaded[k] == 1234.5 for k in held)                       # the other's runs, loaded, not retrained
    assert all(loaded[(p, 0)] != 1234.5 for p in POLICIES)
    with RunStore(db) as st:
        assert st.holders(h) == {} and st.check() == []                 # every lease ended with its run


def test_max_retries_0_runs_a_failing_task_once(tmp_path, monkeypatch):
    attempts = tmp_path / "attempts.txt"
    monkeypatch.setenv(FAULT_ENV, f"raise:zeros:0:{attempts}")
    r = initlab.compare(MODEL, DATA, ["zeros"], store=None, executor="ray", max_retries=0, **dict(KW, seeds=1))
    assert attempts.read_text().count("attempt") == 1
    (f,) = r.config["failed"]
    assert f["attempts"] == 1 and r.runs == [] and r.path == "none"


@pytest.mark.slow          # ~30 s: the killed driver starts its own Ray (a fresh ray.init) before training
def test_a_killed_driver_loses_no_finished_run(tmp_path, capsys):
    """SIGKILL of `initlab compare --executor ray` while its tasks run: the runs saved before the kill stay (whole,
    the store intact), the dead driver's leases are taken over at once, and a rerun trains only the rest."""
    import contextlib
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from initlab.cli.main import main
    from initlab.experiments.store import RunStore
    db = tmp_path / "runs.sqlite"
    args = ["compare", "--model", MODEL, "--data", DATA, "--policies", ",".join(POLICIES), "--seeds", "2",
            "--epochs", "6", "--subsample", "300", "--batch-size", "16", "--chunk", "1", "--executor", "ray",
            "--no-report", "--quiet", "--store", str(db)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    driver = subprocess.Popen([sys.executable, "-m", "initlab.cli.main", *args], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, n = time.monotonic() + 240, 0
        while time.monotonic() < deadline and driver.poll() is None and n == 0:
            time.sleep(0.05)
            if db.exists():
                with sqlite3.connect(db, timeout=5) as c:
                    try:
                        n = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                    except sqlite3.OperationalError:     # the schema is not written yet
                        n = 0
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]   # still training: kill it now
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)             # the local Ray that driver started (its session)
    kept = _stored(str(db))
    assert 1 <= len(kept) < 6                                              # killed mid-sweep, first chunk saved
    with RunStore(str(db)) as st:
        assert st.check() == []                                            # integrity_check ok, whole runs only
    assert main([*args, "--json"]) == 0                                    # the rerun (this process's Ray)
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] == len(kept)                                     # the saved runs are not redone
    trained = {(r["policy"], r["seed"]) for r in out["runs"]} - kept
    assert len(out["runs"]) == 6 and len(trained) == 6 - len(kept)
    with RunStore(str(db)) as st:
        assert st.check() == [] and st.holders(out["config_hash"]) == {}


def test_double_descent_on_ray_leaves_the_runs_another_process_holds(tmp_path):
    """dd_runs.sweep leases the bucket runs through the RunSink before they go to Ray: a run another process holds is not
    submitted; it is loaded once that process has saved it."""
    import threading
    import time
    from initlab.data import load
    from initlab.experiments.double_descent import run_label
    from initlab.experiments.records import RunRecord
    from initlab.experiments.store import RunStore
    from initlab.experiments.store_leases import new_owner
    ds = load(DATA, subsample=200)
    kw = dict(data=(ds.x_train, ds.y_train, ds.x_val, ds.y_val), widths=[2, 4], epochs=2, seeds=1, final_only=True)
    probe = initlab.double_descent("width", store=None, **kw)
    (h,) = probe.config_hashes.values()
    db, other, key = str(tmp_path / "dd.sqlite"), new_owner(), (run_label("torch-default", 4), 0)
    with RunStore(db) as st:
        assert st.claim(h, [key], other) == [key]
    fake = RunRecord(key[0], 0, h, history=[{"epoch": 2, "train_err": 0.5, "test_err": 0.625}],
                     final={"epoch": 2, "train_err": 0.5, "test_err": 0.625}, seconds=1234.5)

    def the_other_process():
        with RunStore(db) as st:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not ({v["owner"] for v in st.holders(h).values()} - {other}
                                                       or len(st.done(h)) > 0):
                time.sleep(0.05)
            st.save(fake, dict(probe.config, n_train=probe.config["n_train"]))
    t = threading.Thread(target=the_other_process)
    t.start()
    r = initlab.double_descent("width", store=db, executor="ray", **kw)
    t.join(30)
    assert r.trained == 1 and r.skipped == 1 and r.config["failed"] == []
    (held,) = [x for x in r.runs if x["width"] == 4]
    assert held["test_err"] == 0.625                                      # the other's run, loaded, not retrained
