"""Every stack against the autograd one: float64, same init, same batches, same dropout masks -> 1e-9.

Covers dropout, plain SGD (fused into the kernel), momentum, weight decay, Adam, AdamW, divergence,
uneven seed groups and the kernel's width masks (models of different widths in one stack)."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from initlab.experiments.engine import Optimizer, TrainConfig, TrainData, derive_seed, train_stack


def _data(n=150, n_val=40, d_in=10, n_out=4, seed=0, task="classification"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_val, d_in, generator=g, dtype=torch.float64)
    if task == "classification":
        y = (x @ torch.randn(d_in, n_out, generator=g, dtype=torch.float64)).argmax(1)
        return TrainData(task, x[:n], y[:n], x[n:], y[n:], n_out)
    y = x[:, :1] - 2 * x[:, 1:2]
    return TrainData(task, x[:n], y[:n], x[n:], y[n:])


def _mlp(widths, act=nn.ReLU, p=0.3, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [act()] + ([nn.Dropout(p)] if p else [])
    return nn.Sequential(*layers).double()


def _assert_same(res_a, models_a, res_b, models_b, tol=1e-9):
    for ma, mb in zip(models_a, models_b):
        for pa, pb in zip(ma.parameters(), mb.parameters()):
            assert ((pa - pb).norm() / pb.norm().clamp_min(1e-12)).item() < tol
    for a, b in zip(res_a, res_b):
        assert a.status == b.status
        assert len(a.history) == len(b.history)
        for ha, hb in zip(a.history, b.history):
            assert ha.keys() == hb.keys()
            for k in ha:
                assert ha[k] == pytest.approx(hb[k], rel=tol, abs=1e-12), k


OPTS = [("sgd", 0.1, {}), ("sgd", 0.05, {"momentum": 0.9, "weight_decay": 1e-2}),
        ("adam", 1e-2, {"weight_decay": 1e-3}), ("adamw", 1e-2, {"weight_decay": 0.05})]


@pytest.mark.parametrize("engine", ["stacked-mlp", "vmap"])
@pytest.mark.parametrize("optimizer,lr,extra", OPTS)
def test_every_stack_matches_autograd_with_dropout(engine, optimizer, lr, extra):
    data = _data()
    models = [_mlp([10, 16, 12, 4], seed=i) for i in range(6)]
    seeds = [3, 3, 3, 8, 8, 8]
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=lr, batch_size=32, optimizer=optimizer, dtype=torch.float64, **extra)
    a = train_stack(engine, models, seeds, data, cfg)
    b = train_stack("sequential", ref, seeds, data, cfg)
    _assert_same(a, models, b, ref)


@pytest.mark.parametrize("engine", ["stacked-mlp", "vmap"])
def test_same_seed_same_masks_on_every_stack(engine):
    """Two identical models with one seed train identically (paired comparisons), on every stack; a
    different seed gets different batches and masks.  (The vmap engine used to give one seed two masks.)"""
    data = _data()
    base = _mlp([10, 24, 4], p=0.5)
    models = [copy.deepcopy(base) for _ in range(3)]
    res = train_stack(engine, models, [1, 1, 2], data, TrainConfig(epochs=2, lr=0.05, batch_size=50,
                                                                    dtype=torch.float64))
    assert res[0].history == res[1].history
    assert res[0].history != res[2].history


@pytest.mark.parametrize("engine", ["stacked-mlp", "vmap"])
def test_divergence_is_the_same_on_every_stack(engine):
    """lr=1 on these ReLU nets: seed 1's two models blow up (in epochs 1 and 2), seed 0's finish."""
    data = _data(task="regression")
    models = [_mlp([10, 32, 32, 1], p=0.0, seed=i) for i in range(4)]
    with torch.no_grad():
        for p in models[1].parameters():
            p.fill_(1.0)
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=4, lr=1.0, batch_size=32, loss="mse", dtype=torch.float64)
    a = train_stack(engine, models, [0, 0, 1, 1], data, cfg)
    b = train_stack("sequential", ref, [0, 0, 1, 1], data, cfg)
    assert [r.status for r in a] == ["finished", "finished", "diverged", "diverged"]
    assert [len(r.history) for r in a] == [4, 4, 1, 2]
    _assert_same(a, models, b, ref)
    assert all(math.isfinite(v) for r in a for h in r.history for v in h.values())
    assert all(torch.isfinite(p).all() and (p == 0).all() for m in models[2:] for p in m.parameters())


@pytest.mark.parametrize("act", [nn.ReLU, nn.Sigmoid])
@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-2), ("sgd", 0.1)])
def test_width_masks_train_each_narrow_model_exactly(act, optimizer, lr):
    """Models of different hidden widths in one kernel stack (padded + masked) train as the narrow
    models alone; sigmoid (act(0) != 0) exercises the unit masks, dropout the per-model masks."""
    data = _data()
    widths = [2, 5, 9, 2, 5, 9]
    models = [_mlp([10, w, w, 4], act=act, p=0.2, seed=i) for i, w in enumerate(widths)]
    seeds = [0, 0, 0, 1, 1, 1]
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=lr, batch_size=25, optimizer=optimizer, dtype=torch.float64)
    a = train_stack("stacked-mlp", models, seeds, data, cfg)
    b = train_stack("sequential", ref, seeds, data, cfg)
    _assert_same(a, models, b, ref)


@pytest.mark.parametrize("kind,kw", [("sgd", {"momentum": 0.9, "weight_decay": 1e-2}), ("adam", {"weight_decay": 1e-2}),
                                     ("adamw", {"weight_decay": 1e-2})])
def test_the_optimizer_is_torch_optim(kind, kw):
    """optim.Optimizer takes the same steps as torch.optim (the single-tensor formulas)."""
    torch.manual_seed(0)
    p1 = torch.randn(5, 3, dtype=torch.float64)
    p2 = p1.clone().requires_grad_(True)
    ours = Optimizer([p1], kind, 0.01, **kw)
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    theirs = cls([p2], lr=0.01, foreach=False, **kw)
    for _ in range(5):
        g = torch.randn(5, 3, dtype=torch.float64)
        ours.step([g.clone()])
        p2.grad = g.clone()
        theirs.step()
    torch.testing.assert_close(p1, p2.detach(), rtol=1e-12, atol=1e-14)


def test_derive_seed_streams():
    assert derive_seed("order", 7) == 7
    assert derive_seed("dropout", 7) != derive_seed("dropout", 8)
    assert derive_seed("dd-init", 0, 16) != derive_seed("dd-init", 0, 32)
    with pytest.raises(ValueError, match="unknown stream"):
        derive_seed("nope", 1)


@pytest.mark.parametrize("act", [nn.ReLU, nn.Sigmoid, nn.Tanh])
@pytest.mark.parametrize("optimizer,lr,extra", [OPTS[0], OPTS[1], OPTS[2]])
@pytest.mark.parametrize("seeds,widths,batch", [
    ([0, 1, 2, 3], [16, 16, 16, 16], 32),                 # one model per seed group (P = 1)
    ([0, 1, 2, 3, 4, 5], [5, 9, 16, 5, 9, 16], 32),       # ... with width masks
    ([0, 0, 0, 1, 1, 1], [5, 9, 16, 5, 9, 16], 12)])      # groups (P = 3) at a small batch: per-model inputs
def test_row_major_hidden_layers_match_autograd(monkeypatch, act, optimizer, lr, extra, seeds, widths, batch):
    """The kernel's row-major hidden layers (mlp_kernel._row_layout, used from 64 units on), forced here
    on small layers: the input gradient written row-major, row-major bias sums and unit masks (sigmoid
    with width masks), the fused SGD and the flat-gradient paths, against autograd in float64."""
    from initlab.experiments.engine import mlp_kernel
    from initlab.experiments.engine.mlp_plan import parse_stack

    monkeypatch.setattr(mlp_kernel, "ROW_MIN_WIDTH", 1)
    data = _data()
    models = [_mlp([10, w, w, 4], act=act, p=0.0, seed=i) for i, w in enumerate(widths)]
    plan, P = parse_stack(models)[0], len(seeds) // len(set(seeds))
    assert mlp_kernel._row_layout(plan, P, batch) == [True, True, False]    # the layouts this test is about
    assert mlp_kernel._row_layout(plan, 2, 16) == [False, False, False]     # grouped: column-major throughout
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=lr, batch_size=batch, optimizer=optimizer, dtype=torch.float64, **extra)
    a = train_stack("stacked-mlp", models, seeds, data, cfg)
    b = train_stack("sequential", ref, seeds, data, cfg)
    _assert_same(a, models, b, ref)


def test_row_major_layer_then_a_dropout_layer_match_autograd(monkeypatch):
    """A row-major first layer feeding a column-major hidden layer with dropout (the layouts meet in the
    forward, the input gradient and the weight update), dropout masks drawn per seed as on every stack."""
    from initlab.experiments.engine import mlp_kernel
    from initlab.experiments.engine.mlp_plan import parse_stack

    monkeypatch.setattr(mlp_kernel, "ROW_MIN_WIDTH", 1)
    data = _data()
    models = []
    for i in range(3):
        torch.manual_seed(i)
        models.append(nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.3),
                                    nn.Linear(12, 4)).double())
    assert mlp_kernel._row_layout(parse_stack(models)[0], 1, 32) == [True, False, False]
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=32, momentum=0.9, dtype=torch.float64)
    a = train_stack("stacked-mlp", models, [4, 5, 6], data, cfg)
    b = train_stack("sequential", ref, [4, 5, 6], data, cfg)
    _assert_same(a, models, b, ref)


def test_row_major_layers_with_a_regression_loss_and_divergence(monkeypatch):
    """Row-major hidden layers under the mean-squared error (its gradient is a fresh tensor, not the
    workspace's) and a diverging model (its gradient masked), against autograd."""
    from initlab.experiments.engine import mlp_kernel

    monkeypatch.setattr(mlp_kernel, "ROW_MIN_WIDTH", 1)
    data = _data(task="regression")
    models = [_mlp([10, 32, 32, 1], p=0.0, seed=i) for i in range(3)]
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=1.0, batch_size=32, loss="mse", dtype=torch.float64)
    a = train_stack("stacked-mlp", models, [0, 1, 2], data, cfg)
    b = train_stack("sequential", ref, [0, 1, 2], data, cfg)
    assert sorted({r.status for r in a}) == ["diverged", "finished"]
    _assert_same(a, models, b, ref)


# ---------------------------------------------------------------------------- learning-rate schedules
@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_lr_factor_is_torch_schedulers_per_step(schedule):
    """schedule.lr_factor(t, T) is the rate torch's CosineAnnealingLR(T_max=T) / LinearLR(1 -> 0 over T) gives
    step t when the scheduler is stepped after every optimizer step."""
    from initlab.experiments.engine.schedule import lr_factor
    T = 23
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T) if schedule == "cosine" else
             torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=T))
    theirs = []
    for _ in range(T):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [lr_factor(schedule, t, T) for t in range(T)] == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    assert lr_factor("constant", 5, T) == 1.0


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_a_scheduled_run_is_a_torch_loop_with_that_scheduler(schedule):
    """The oracle: fit with lr_schedule trains a model exactly as a hand-written torch loop (same batch order,
    torch.optim.SGD with momentum, the torch scheduler stepped after every batch) does."""
    from initlab.experiments.engine.seeds import order_generators
    data = _data()
    model = _mlp([10, 16, 4], p=0.0, seed=1)
    ref = copy.deepcopy(model)
    epochs, B = 3, 32
    cfg = TrainConfig(epochs=epochs, lr=0.1, batch_size=B, momentum=0.9, dtype=torch.float64,
                      lr_schedule=schedule)
    train_stack("sequential", [model], [5], data, cfg)
    n = data.n_train
    steps = math.ceil(n / B) * epochs
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, foreach=False)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if schedule == "cosine" else
             torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=steps))
    (g,) = order_generators([5])
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, B):
            idx = perm[i:i + B]
            opt.zero_grad()
            nn.functional.cross_entropy(ref(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
            sched.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    const = copy.deepcopy(ref)
    train_stack("sequential", [const], [5], data, TrainConfig(epochs=epochs, lr=0.1, batch_size=B, momentum=0.9,
                                                               dtype=torch.float64))
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(const.parameters(), ref.parameters()))


@pytest.mark.parametrize("engine", ["stacked-mlp", "vmap"])
@pytest.mark.parametrize("optimizer,lr,extra", [("sgd", 0.1, {}), ("adam", 1e-2, {"weight_decay": 1e-3})])
@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_every_stack_follows_the_schedule_as_autograd_does(engine, optimizer, lr, extra, schedule):
    """Plain SGD is fused into the kernel's backward: the schedule must reach that path too."""
    data = _data()
    models = [_mlp([10, 16, 12, 4], seed=i) for i in range(4)]
    seeds = [3, 3, 8, 8]
    ref = copy.deepcopy(models)
    cfg = TrainConfig(epochs=3, lr=lr, batch_size=32, optimizer=optimizer, dtype=torch.float64,
                      lr_schedule=schedule, **extra)
    a = train_stack(engine, models, seeds, data, cfg)
    b = train_stack("sequential", ref, seeds, data, cfg)
    _assert_same(a, models, b, ref)


def test_an_unknown_schedule_names_the_choices():
    from initlab.errors import InitError
    with pytest.raises(InitError, match=r"lr_schedule.*'constant', 'cosine', 'linear'.*cosin"):
        TrainConfig(epochs=1, lr=0.1, batch_size=8, lr_schedule="cosin").check()
