"""`fit(stack, data, cfg, sink)`: the one epoch loop every experiment trains through.

Rules (the same for every stack):

* epoch e: every distinct run seed draws its batch order (seeds.py), the stack takes every step, each at
  the learning rate cfg.lr_schedule gives that step (schedule.py; one rate for every model);
* train_loss = mean over the epoch's steps of the model's mean batch loss;
* at evaluated epochs (cfg.eval_epochs, always the last) the models are evaluated in eval mode (no
  dropout) on the validation rows (and with cfg.eval_train on the whole training set);
* a model whose train loss or evaluated loss is non-finite at the end of an epoch is "diverged": its
  history stops at the last finished epoch, the stack zeroes it and stops updating it, the others go on;
* history rows: cfg.row(epoch, metrics) (default: the compare row), only at evaluated epochs.

sink: None, or an object with update(fraction of the whole fit) (a progress bar; shards.py's heartbeat).
"""
from __future__ import annotations

import math
import time

import torch

from ..records import DIVERGED, FINISHED
from .losses import metric_name
from .schedule import lr_factor
from .seeds import order_generators
from .spec import RunResult, TrainConfig, TrainData


def compare_row(epoch: int, m: dict) -> dict:
    """The default history row: {"epoch", "train_loss", "val_loss", "val_acc" | "val_mse"}."""
    return {"epoch": epoch, "train_loss": m["train_loss"], "val_loss": m["val_loss"],
            m["metric_name"]: m["val_metric"]}


def fit(stack, data: TrainData, cfg: TrainConfig, sink=None) -> list[RunResult]:
    """Train every model of `stack` for cfg.epochs epochs; returns one RunResult per model (stack order)."""
    M, n, B = stack.M, data.n_train, cfg.batch_size
    n_steps = math.ceil(n / B)
    gens = order_generators(stack.useeds)
    dev = stack.dev
    row = cfg.row or compare_row
    mname = metric_name(data.task)
    alive = torch.ones(M, dtype=torch.bool)
    hist = [[] for _ in range(M)]
    status = [FINISHED] * M
    x_va, y_va = stack.prepare_eval(data.x_val, data.y_val)
    x_tr, y_tr = stack.prepare_eval(data.x_train, data.y_train) if cfg.eval_train else (None, None)
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
        stack.start_epoch(perm)
        for i in range(n_steps):
            if cfg.lr_schedule != "constant":
                stack.set_lr(cfg.lr * lr_factor(cfg.lr_schedule, (epoch - 1) * n_steps + i, cfg.epochs * n_steps))
            stack.train_step(i)
            if sink is not None:
                sink.update(1.0 / n_steps)
        train_loss = (stack.end_epoch() / n_steps).to("cpu", torch.float64)
        ok = alive & torch.isfinite(train_loss)
        evaluated = cfg.evaluates(epoch)
        if evaluated:
            lsum, msum = stack.evaluate(x_va, y_va)
            nv = x_va.shape[0]
            val_loss, val_m = (lsum / nv).cpu(), (msum / nv).cpu()
            ok &= torch.isfinite(val_loss)
            if cfg.eval_train:
                tl_sum, tm_sum = stack.evaluate(x_tr, y_tr)
                tl, tm = (tl_sum / n).cpu(), tm_sum.cpu()
                ok &= torch.isfinite(tl)
        newly = (alive & ~ok).nonzero().flatten().tolist()
        if newly:
            stack.kill(newly)
            for k in newly:
                status[k] = DIVERGED
        alive = ok
        if evaluated:
            trl, vl, vm, al = train_loss.tolist(), val_loss.tolist(), val_m.tolist(), alive.tolist()
            extra = (tl.tolist(), tm.tolist()) if cfg.eval_train else None
            nvm = msum.cpu().tolist()
            for k in range(M):
                if al[k]:
                    m = {"train_loss": trl[k], "val_loss": vl[k], "val_metric": vm[k], "metric_name": mname,
                         "val_wrong": (nv - nvm[k]) / nv}
                    if extra is not None:
                        m.update(train_eval_loss=extra[0][k], train_eval_metric=extra[1][k] / n,
                                 train_eval_wrong=(n - extra[1][k]) / n)
                    hist[k].append(row(epoch, m))
    stack.write_back()
    sec = (time.perf_counter() - t0) / max(1, M)
    return [RunResult(status[k], hist[k], dict(hist[k][-1]) if hist[k] else {}, sec) for k in range(M)]
