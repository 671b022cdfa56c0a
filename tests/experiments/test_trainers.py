"""Trainers: vectorized == sequential (same init, same batches), dropout, divergence, path choice."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from initlab.errors import InitError
from initlab.experiments.trainers import (TrainConfig, TrainData, train_runs, train_sequential, train_vectorized,
                                          vectorized_support)
from initlab.models import build_model



def _data(task="classification", n=300, n_val=60, d_in=16, n_out=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_val, d_in, generator=g)
    if task == "classification":
        w = torch.randn(d_in, n_out, generator=g)
        y = (x @ w).argmax(1)
    else:
        y = (x[:, :1] * 2 - x[:, 1:2]) + 0.1 * torch.randn(n + n_val, 1, generator=g)
    return TrainData(task, x[:n], y[:n], x[n:], y[n:], n_out if task == "classification" else None)


def _models(spec, k, seed=0):
    torch.manual_seed(seed)
    return [build_model(spec) for _ in range(k)]


def _max_rel_diff(ma, mb):
    """Largest relative difference ||a - b|| / ||b|| over every parameter tensor of every model."""
    worst = 0.0
    for a, b in zip(ma, mb):
        for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
            assert na == nb
            worst = max(worst, ((pa - pb).norm() / pb.norm().clamp_min(1e-12)).item())
    return worst


@pytest.mark.parametrize("optimizer,lr,extra", [
    ("sgd", 0.1, {}),
    ("sgd", 0.05, {"momentum": 0.9, "weight_decay": 1e-3}),
    ("adam", 1e-2, {}),
    ("adamw", 1e-2, {"weight_decay": 0.05}),
])
def test_vectorized_equals_sequential_float64(optimizer, lr, extra):
    data = _data()
    models = _models("mlp:16-24-24-5:relu", 6)
    for m in models:
        m.double()
    seeds = [0, 0, 0, 1, 1, 1]                       # 2 seed groups of 3 "policies"
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=lr, batch_size=32, optimizer=optimizer, dtype=torch.float64, **extra)
    vec = train_runs(models, seeds, data, cfg)
    seq = train_runs(twins, seeds, data, cfg, path="sequential")
    assert vec.path == "vectorized" and vec.engine == "stacked-mlp"
    assert seq.path == "sequential"
    assert _max_rel_diff(models, twins) < 1e-9
    for a, b in zip(vec.results, seq.results):
        assert a.status == b.status == "finished"
        assert len(a.history) == len(b.history) == 3
        for ha, hb in zip(a.history, b.history):
            assert ha["val_acc"] == pytest.approx(hb["val_acc"], abs=1e-12)
            assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-9)
            assert ha["val_loss"] == pytest.approx(hb["val_loss"], rel=1e-9)


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1e-3)])
def test_vectorized_equals_sequential_float32(optimizer, lr):
    """float32, a dropout layer with p=0 (kept in the model, disabled), the seed-004 shape family."""
    data = _data(d_in=32, n_out=10, n=256)
    models = _models("mlp:32-48-24-10:relu:dropout=0.0", 4, seed=3)
    twins = copy.deepcopy(models)
    seeds = [5, 5, 7, 7]
    cfg = TrainConfig(epochs=2, lr=lr, batch_size=20, optimizer=optimizer)
    vec = train_runs(models, seeds, data, cfg)
    seq = train_runs(twins, seeds, data, cfg, path="sequential")
    assert vec.path == "vectorized"
    assert _max_rel_diff(models, twins) < 1e-5
    for a, b in zip(vec.results, seq.results):
        assert a.final["val_acc"] == pytest.approx(b.final["val_acc"], abs=1e-9)
        assert a.final["train_loss"] == pytest.approx(b.final["train_loss"], rel=1e-5)


@pytest.mark.parametrize("spec,task,loss", [
    ("mlp:16-12-1:tanh", "regression", "mse"),
    ("mlp:16-12-1:sigmoid", "classification", "bce"),
    ("mlp:16-12-12-5:leaky_relu=0.1", "classification", "cross_entropy"),
])
def test_equivalence_other_heads_and_activations(spec, task, loss):
    data = _data(task=task, n_out=5)
    if loss == "bce":
        data = TrainData(task, data.x_train, data.y_train % 2, data.x_val, data.y_val % 2, 2)
    models = [m.double() for m in _models(spec, 4)]
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=2, lr=0.01, batch_size=32, optimizer="adam", loss=loss, dtype=torch.float64)
    vec = train_runs(models, [0, 1, 2, 3], data, cfg)          # one model per seed: G = M groups
    seq = train_runs(twins, [0, 1, 2, 3], data, cfg, path="sequential")
    assert vec.path == "vectorized"
    assert _max_rel_diff(models, twins) < 1e-9
    key = "val_mse" if task == "regression" else "val_acc"
    for a, b in zip(vec.results, seq.results):
        assert key in a.final and a.final[key] == pytest.approx(b.final[key], rel=1e-9, abs=1e-12)


def test_vmap_engine_equivalence_for_non_sequential_model():
    data = _data(d_in=16, n_out=10)

    class Net(nn.Module):     # not an nn.Sequential: goes to the torch.func vmap engine
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(16, 20), nn.Linear(20, 10)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)) + 0.5)

    torch.manual_seed(0)
    models = [Net().double() for _ in range(4)]
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=2, lr=0.01, batch_size=25, optimizer="adam", dtype=torch.float64)
    vec = train_runs(models, [0, 0, 1, 1], data, cfg)
    seq = train_runs(twins, [0, 0, 1, 1], data, cfg, path="sequential")
    assert vec.path == "vectorized" and vec.engine == "vmap"
    assert seq.path == "sequential"
    assert "vmap" in vec.reason
    assert _max_rel_diff(models, twins) < 1e-9


def test_same_seed_same_batches_and_dropout_masks_differ_between_seeds():
    data = _data(d_in=16, n_out=5)
    base = _models("mlp:16-32-32-5:relu:dropout=0.3", 1)[0]
    models = [copy.deepcopy(base) for _ in range(4)]   # identical initial weights
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=16)
    out = train_runs(models, [0, 0, 1, 1], data, cfg)
    assert out.path == "vectorized" and out.engine == "stacked-mlp"
    r = out.results
    # same seed: same batch order and dropout masks -> identical training
    assert r[0].history == r[1].history and r[2].history == r[3].history
    # different seeds: different batches / masks
    assert r[0].history != r[2].history
    # reproducible
    again = [copy.deepcopy(base) for _ in range(2)]
    r2 = train_runs(again, [0, 1], data, cfg).results
    assert r2[0].history == r[0].history and r2[1].history == r[2].history


def test_dropout_masks_differ_per_model_vectorized():
    """Each model of a stack gets its own mask slice: with identical weights, seeds 0..3 all diverge apart."""
    data = _data(d_in=16, n_out=5)
    base = _models("mlp:16-32-5:relu:dropout=0.5", 1)[0]
    models = [copy.deepcopy(base) for _ in range(4)]
    out = train_runs(models, [0, 1, 2, 3], data, TrainConfig(epochs=1, lr=0.05, batch_size=300))
    losses = {r.final["train_loss"] for r in out.results}    # one full batch: only the masks differ
    assert len(losses) == 4


def test_divergence_is_recorded_and_others_finish():
    """A policy like "ones" with a big learning rate blows up; its run is "diverged", the others finish."""
    data = _data(task="regression", d_in=16)
    models = _models("mlp:16-32-32-1:tanh", 4)
    with torch.no_grad():
        for p in models[1].parameters():
            p.fill_(1.0)
    cfg = TrainConfig(epochs=4, lr=0.1, batch_size=32, loss="mse")
    for path in ("auto", "sequential"):
        ms = copy.deepcopy(models)
        out = train_runs(ms, [0, 0, 1, 1], data, cfg, path=path)
        st = [r.status for r in out.results]
        assert st == ["finished", "diverged", "finished", "finished"], (path, st)
        bad = out.results[1]
        assert len(bad.history) < 4 and bad.final == (bad.history[-1] if bad.history else {})
        for h in bad.history:
            assert all(math.isfinite(v) for v in h.values())
        for i in (0, 2, 3):
            r = out.results[i]
            assert len(r.history) == 4 and r.final["val_mse"] < 1.0
        if path == "auto":
            assert out.path == "vectorized"
            # the diverged slice was zeroed; every weight stays finite
            assert all(torch.isfinite(p).all() for m in ms for p in m.parameters())


def test_batchnorm_goes_sequential_with_reason():
    data = _data(d_in=16, n_out=5)
    models = _models("mlp:16-12-5:relu:bn", 2)
    eng, why = vectorized_support(models[0])
    assert eng is None and "BatchNorm" in why
    out = train_runs(models, [0, 1], data, TrainConfig(epochs=1, lr=0.05, batch_size=32))
    assert out.path == "sequential" and "BatchNorm" in out.reason
    with pytest.raises(InitError, match="BatchNorm"):
        train_runs(models, [0, 1], data, TrainConfig(epochs=1, lr=0.05, batch_size=32), path="vectorized")


class _RowsLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.LSTM(4, 8, batch_first=True), nn.Linear(8, 5)

    def forward(self, x):
        return self.head(self.rnn(x.view(x.shape[0], 4, 4))[0][:, -1])


def test_recurrent_models_go_sequential_up_front_and_shard_with_the_same_results():
    """No vmap rule exists for aten::lstm: the engine says so before trying (no failed attempt) and trains the
    models one after another, in worker processes when asked, with the results of one process."""
    data = _data(d_in=16, n_out=5)
    torch.manual_seed(0)
    models = [_RowsLSTM() for _ in range(2)]
    twins = copy.deepcopy(models)
    eng, why = vectorized_support(models[0])
    assert eng is None and "LSTM" in why and "no vmap batching rule" in why
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=32)
    out = train_runs(models, [0, 1], data, cfg, workers=2)
    assert out.path == "sequential" and "LSTM" in out.reason and "failed" not in out.reason
    ref = train_sequential(twins, [0, 1], data, cfg)
    assert [r.history for r in out.results] == [r.history for r in ref]


def test_failure_of_vectorized_path_falls_back(monkeypatch):
    from initlab.experiments.engine.mlp_stack import MLPStack
    data = _data(d_in=16, n_out=5)
    models = _models("mlp:16-12-5:relu", 2)
    twins = copy.deepcopy(models)

    def boom(*a, **k):
        raise RuntimeError("simulated kernel failure")
    monkeypatch.setattr(MLPStack, "train_step", boom)
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=32)
    out = train_runs(models, [0, 1], data, cfg)
    assert out.path == "sequential" and "simulated kernel failure" in out.reason
    ref = train_sequential(twins, [0, 1], data, cfg)
    assert [r.history for r in out.results] == [r.history for r in ref]


def test_uneven_seed_groups_and_partial_last_batch():
    data = _data(n=101, d_in=16, n_out=5)
    models = [m.double() for m in _models("mlp:16-8-5:relu", 5)]
    twins = copy.deepcopy(models)
    seeds = [0, 0, 0, 1, 1]                    # uneven groups: one group per model
    cfg = TrainConfig(epochs=2, lr=0.1, batch_size=10, dtype=torch.float64)
    train_vectorized(models, seeds, data, cfg)
    train_sequential(twins, seeds, data, cfg)
    assert _max_rel_diff(models, twins) < 1e-9


def test_bad_config_is_init_error():
    data = _data()
    models = _models("mlp:16-8-5:relu", 1)
    with pytest.raises(InitError, match="optimizer"):
        train_runs(models, [0], data, TrainConfig(epochs=1, lr=0.1, batch_size=8, optimizer="rmsprop"))
    with pytest.raises(InitError, match="lr"):
        train_runs(models, [0], data, TrainConfig(epochs=1, lr=float("nan"), batch_size=8))
    with pytest.raises(InitError, match="path"):
        train_runs(models, [0], data, TrainConfig(epochs=1, lr=0.1, batch_size=8), path="gpu")


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1e-3)])
def test_equivalence_with_an_explicit_dropout_layer_at_p0(optimizer, lr):
    """The seed-004 layout (Linear, ReLU, Dropout) with the dropout disabled: both paths agree."""
    data = _data(d_in=20, n_out=10)
    torch.manual_seed(1)
    make = lambda: nn.Sequential(nn.Linear(20, 24), nn.ReLU(), nn.Dropout(0.0), nn.Linear(24, 16), nn.ReLU(),  # noqa: E731
                                 nn.Dropout(0.0), nn.Linear(16, 10))
    models = [make().double() for _ in range(4)]
    twins = copy.deepcopy(models)
    cfg = TrainConfig(epochs=2, lr=lr, batch_size=16, optimizer=optimizer, dtype=torch.float64)
    vec = train_runs(models, [0, 0, 1, 1], data, cfg)
    seq = train_runs(twins, [0, 0, 1, 1], data, cfg, path="sequential")
    assert vec.engine == "stacked-mlp"
    assert _max_rel_diff(models, twins) < 1e-9
    assert [r.final["val_acc"] for r in vec.results] == pytest.approx([r.final["val_acc"] for r in seq.results])
