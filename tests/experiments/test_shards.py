"""Process shards of the engine: same results as one process, failures and weights come back."""
from __future__ import annotations

import copy

import pytest
import torch

from initlab.experiments.engine import shards
from initlab.experiments.trainers import TrainConfig, TrainData, train_runs
from initlab.models import build_model

pytestmark = pytest.mark.skipif(not shards.fork_available(), reason="process shards need fork")


def _data(task="classification", n=240, n_val=50, d_in=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_val, d_in, generator=g)
    if task == "classification":
        y = (x @ torch.randn(d_in, 4, generator=g)).argmax(1)
        return TrainData(task, x[:n], y[:n], x[n:], y[n:], 4)
    y = x[:, :1] - 2 * x[:, 1:2]
    return TrainData(task, x[:n], y[:n], x[n:], y[n:])


def _models(spec, k, dtype=torch.float64):
    torch.manual_seed(0)
    return [build_model(spec).to(dtype) for _ in range(k)]


@pytest.mark.parametrize("n,workers", [(7, 2), (7, 3), (5, 2), (2, 2), (3, 8)])
def test_slices_cover_every_model_once_and_balance(n, workers):
    parts = shards.slices(n, workers)
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    sizes = [hi - lo for lo, hi in parts]
    assert len(parts) == min(n, workers) and max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


@pytest.mark.parametrize("optimizer,extra,spec", [
    ("sgd", {}, "mlp:12-20-20-4:relu"),
    ("adam", {}, "mlp:12-16-4:tanh"),
    ("sgd", {"momentum": 0.9}, "mlp:12-16-16-4:relu:dropout=0.2"),
])
def test_workers_reach_the_same_weights_and_histories_as_one_process(optimizer, extra, spec):
    data = _data()
    models = _models(spec, 7)
    seeds = [0, 0, 0, 1, 1, 1, 2]                 # slices cut through a seed group: 4 | 3
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=0.05 if optimizer == "sgd" else 1e-2, batch_size=16, optimizer=optimizer,
                      dtype=torch.float64, **extra)
    one = train_runs(models, seeds, data, cfg)
    two = train_runs(twins, seeds, data, cfg, workers=2)
    assert one.engine == two.engine == "stacked-mlp"
    for a, b in zip(models, twins):                # the parent's modules hold every slice's final weights
        for pa, pb in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(pa, pb, rtol=1e-9, atol=1e-12)
    for ra, rb in zip(one.results, two.results):
        assert ra.status == rb.status and len(ra.history) == len(rb.history) == 3
        for ha, hb in zip(ra.history, rb.history):
            assert ha.keys() == hb.keys()
            for k in ha:
                assert ha[k] == pytest.approx(hb[k], rel=1e-9, abs=1e-12), k


def test_weights_really_move_in_every_slice():
    """Guards the shared-buffer copy: a child's trained weights must differ from the initial ones."""
    data = _data()
    models = _models("mlp:12-16-4:relu", 5, torch.float32)
    before = copy.deepcopy(models)
    train_runs(models, [0] * 5, data, TrainConfig(epochs=2, lr=0.1, batch_size=16), workers=3)
    for a, b in zip(models, before):
        assert not torch.equal(a[0].weight, b[0].weight)


def test_divergence_inside_a_child_slice_is_recorded():
    data = _data(task="regression")
    models = _models("mlp:12-32-32-1:tanh", 4, torch.float32)
    with torch.no_grad():
        for p in models[3].parameters():              # the last model: trained by the child
            p.fill_(1.0)
    out = train_runs(models, [0, 0, 1, 1], data, TrainConfig(epochs=4, lr=0.1, batch_size=32, loss="mse"),
                     workers=2)
    assert [r.status for r in out.results] == ["finished", "finished", "finished", "diverged"]
    assert all(torch.isfinite(p).all() for p in models[3].parameters())


def test_a_failing_child_raises_in_the_parent(monkeypatch):
    """A worker's exception is re-raised by the parent (and `auto` then falls back to sequential)."""
    real = shards.run_job

    def flaky(job, progress):
        if job[2][0] == 9:                             # only the child's slice starts with seed 9
            raise ValueError("boom in the worker")
        return real(job, progress)
    monkeypatch.setattr(shards, "run_job", flaky)
    data = _data()
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=16)
    with pytest.raises(RuntimeError, match="boom in the worker"):
        shards.fit_sharded("stacked-mlp", _models("mlp:12-8-4:relu", 4, torch.float32), [0, 0, 9, 9], data, cfg,
                                     None, "cross_entropy", 2)
    out = train_runs(_models("mlp:12-8-4:relu", 4, torch.float32), [0, 0, 9, 9], data, cfg, workers=2)
    assert out.path == "sequential" and "boom in the worker" in out.reason
    assert all(r.status == "finished" for r in out.results)


def test_no_worker_outlives_the_call():
    import multiprocessing as mp
    data = _data()
    train_runs(_models("mlp:12-8-4:relu", 4, torch.float32), [0, 1, 2, 3], data,
               TrainConfig(epochs=1, lr=0.05, batch_size=16), workers=4)
    assert not [p for p in mp.active_children() if p.name.startswith("initlab-shard")]


@pytest.mark.parametrize("text,cap", [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1),
                                      ("garbage", None)])
def test_usable_cores_honours_a_cgroup_quota(tmp_path, text, cap):
    import os
    f = tmp_path / "cpu.max"
    f.write_text(text + "\n")
    n = len(os.sched_getaffinity(0))
    assert shards.usable_cores(str(f)) == (n if cap is None else min(n, cap))
    assert shards.usable_cores(str(tmp_path / "missing")) == n


def _in_a_pool_worker(_):
    return shards.fork_available()


def test_no_workers_from_a_daemonic_process():
    """A multiprocessing.Pool worker may not have children: sharding is off there (not a silent fallback)."""
    import multiprocessing as mp
    with mp.get_context("fork").Pool(1) as pool:
        assert pool.map(_in_a_pool_worker, [0]) == [False]
    assert shards.fork_available()


def test_a_failed_fork_trains_in_this_process(monkeypatch):
    import multiprocessing as mp

    def no_fork(self):
        raise OSError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(mp.get_context("fork").Process, "start", no_fork)
    models = _models("mlp:12-8-4:relu", 4, torch.float32)
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=16)
    with pytest.warns(RuntimeWarning, match="could not start training workers"):
        out = train_runs(models, [0, 0, 1, 1], _data(), cfg, workers=2)
    ref = train_runs(twins, [0, 0, 1, 1], _data(), cfg)
    assert out.path == "vectorized" and [r.final for r in out.results] == [r.final for r in ref.results]


def test_unpicklable_results_are_reported_not_lost(monkeypatch):
    real = shards.run_job

    def odd(job, progress):
        res = real(job, progress)
        if job[2][0] == 7:
            res[0].final["bad"] = lambda: None          # a lambda cannot be pickled
        return res
    monkeypatch.setattr(shards, "run_job", odd)
    with pytest.raises(RuntimeError, match="could not send the results back"):
        shards.fit_sharded("stacked-mlp", _models("mlp:12-8-4:relu", 4, torch.float32), [0, 0, 7, 7], _data(),
                                     TrainConfig(epochs=1, lr=0.05, batch_size=16), None, "cross_entropy", 2)


def test_heartbeats_are_skipped_and_results_unchanged(monkeypatch):
    monkeypatch.setattr(shards, "BEAT_S", 0.0)                   # a heartbeat at every step
    data = _data()
    models = _models("mlp:12-16-4:relu", 4)
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=16, dtype=torch.float64)
    a = train_runs(models, [0, 0, 1, 1], data, cfg, workers=2)
    b = train_runs(twins, [0, 0, 1, 1], data, cfg)
    assert a.path == "vectorized"
    for ra, rb in zip(a.results, b.results):
        assert len(ra.history) == len(rb.history) == 3
        for ha, hb in zip(ra.history, rb.history):
            assert all(ha[k] == pytest.approx(hb[k], rel=1e-9) for k in ha)


def test_a_hung_child_is_stopped_and_the_sweep_goes_on(monkeypatch):
    """A worker that stops sending heartbeats is killed; `auto` then retrains everything sequentially."""
    import multiprocessing as mp
    import time as _time
    real = shards.run_job

    def stuck(job, progress):
        if job[2][0] == 9:
            _time.sleep(600)                                      # the child hangs (a lock inherited at fork)
        return real(job, progress)
    monkeypatch.setattr(shards, "run_job", stuck)
    monkeypatch.setattr(shards, "HUNG_MIN_S", 1.0)
    data = _data()
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=16)
    out = train_runs(_models("mlp:12-8-4:relu", 4, torch.float32), [0, 0, 9, 9], data, cfg, workers=2)
    assert out.path == "sequential" and "sent no sign of life" in out.reason
    assert all(r.status == "finished" for r in out.results)
    assert not [p for p in mp.active_children() if p.name.startswith("initlab-shard")]


def test_run_job_is_the_engine_entry_point_the_shards_and_ray_tasks_share():
    """engine.run_job trains one job exactly as a shard worker does (one process here, two workers there)."""
    from initlab.experiments.engine import run_job
    data = _data()
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=16, dtype=torch.float64)
    models = _models("mlp:12-16-4:relu", 4)
    twins = copy.deepcopy(models)
    one = run_job(("stacked-mlp", models, [0, 0, 1, 1], data, cfg, "cross_entropy"))
    two = shards.fit_sharded("stacked-mlp", twins, [0, 0, 1, 1], data, cfg, None, "cross_entropy", 2)
    assert len(one) == 4 and all(r.status == "finished" for r in one)
    for a, b in zip(one, two):
        assert a.final == pytest.approx(b.final, rel=1e-9)
    for m, t in zip(models, twins):                   # trained in place, as the workers' weights come back
        assert all(torch.allclose(p, q, rtol=1e-9) for p, q in zip(m.parameters(), t.parameters()))


@pytest.mark.parametrize("path", ["sequential", "auto"])
def test_train_runs_shards_the_sequential_path_too(monkeypatch, path):
    """workers reaches the autograd stack as well (path='sequential', and a BatchNorm model under 'auto'), with
    the results of one process."""
    calls = []
    real = shards.fit_sharded

    def spy(engine, *args):
        calls.append((engine, args[-1]))
        return real(engine, *args)
    monkeypatch.setattr(shards, "fit_sharded", spy)
    data = _data()
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=16, dtype=torch.float64)
    torch.manual_seed(0)
    make = (lambda: torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))) \
        if path == "sequential" else \
        (lambda: torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                     torch.nn.Linear(8, 4)))
    models = [make().double() for _ in range(3)]
    twins = copy.deepcopy(models)
    one = train_runs(models, [0, 1, 2], data, cfg, path=path)
    two = train_runs(twins, [0, 1, 2], data, cfg, path=path, workers=2)
    assert calls == [("sequential", 2)] and one.path == two.path == "sequential"
    for a, b in zip(one.results, two.results):
        assert a.final == pytest.approx(b.final, rel=1e-9)
    for m, t in zip(models, twins):
        assert all(torch.allclose(p, q, rtol=1e-9) for p, q in zip(m.parameters(), t.parameters()))
