"""Double-descent sweeps on the engine: the narrow models, the width buckets, their training.

Every (width, seed) model is the narrow ``nn.Sequential(Linear(in,h), ReLU, Linear(h,h), ReLU,
Linear(h,out))``, built and initialised on its own (its own fans, its own init seed
``derive_seed("dd-init", seed, width)``).  Widths are grouped into *buckets* (contiguous runs of the
sorted widths, chosen by `plan_buckets` to balance per-step overhead against padding waste); a bucket
is one MLPStack of the engine, whose width masks keep each padded model exactly the narrow one (see
engine/mlp_kernel.py).  Within a bucket the models are seed-major, so all widths of one seed share
their mini-batch and the first layer is one matmul per seed.  Buckets are spread over worker
processes (engine/shards.py) balanced by their modelled cost.

Mini-batches: run seed s trains with engine seed ``derive_seed("dd-order", s)``: the order of epoch e
is ``torch.randperm(n, generator=g)`` with g seeded by it, shared by all widths of that seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InitError
from .engine import TrainConfig, TrainData, derive_seed
from .engine.shards import fork_available, usable_cores


def init_seed(seed: int, width: int) -> int:
    """Seed of the init of the (seed, width) model: independent draws for every width."""
    return derive_seed("dd-init", seed, width)


def order_seed(seed: int) -> int:
    """Seed of the mini-batch order of run seed `seed` (shared by all widths of that seed)."""
    return derive_seed("dd-order", seed)


def eval_epochs(epochs: int, points: int = 120) -> list[int]:
    """Epochs at which train/test error are measured: every epoch up to 20, then about `points`
    log-spaced epochs up to `epochs` (always included).  Every epoch when epochs <= points."""
    epochs = int(epochs)
    if epochs <= points:
        return list(range(1, epochs + 1))
    out = set(range(1, min(epochs, 20) + 1))
    k = max(2, points - len(out))
    for i in range(k + 1):
        out.add(int(round(math.exp(math.log(20) + (math.log(epochs) - math.log(20)) * i / k))))
    out.add(epochs)
    return sorted(e for e in out if 1 <= e <= epochs)


def narrow_mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    """The reference model ``n_in-width-width-n_out`` with ReLU (torch's default init)."""
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, n_out))


def make_narrow(n_in: int, width: int, n_out: int, seed: int, policy: str = "torch-default",
                example_inputs=None) -> nn.Sequential:
    """Narrow model of one (width, seed), initialised by `policy` with its own fans and seed.

    Built under a forked, seeded RNG (the caller's RNG state is untouched).  "torch-default" is
    nn.Linear's own init; any other policy goes through ``initlab.policy.init_(model, policy, seed=...)``
    (with `example_inputs`, a batch of training inputs, for data-dependent policies such as LSUV)."""
    s = init_seed(seed, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s)
        model = narrow_mlp(n_in, width, n_out)
    if policy != "torch-default":
        from ..policy import init_
        init_(model, policy, seed=s, example_inputs=example_inputs)
    return model


def linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


@dataclass
class Bucket:
    widths: list[int]
    seeds: list[int]

    @property
    def P(self) -> int:
        return max(self.widths)


def step_cost(widths: list[int], n_in: int, n_out: int, batch: int, overhead_s: float = 4e-4,
              flops_per_s: float = 4e10) -> float:
    """Modelled seconds of one training step of a bucket padded to max(widths) (one seed)."""
    P = max(widths)
    flops = 6.0 * batch * len(widths) * (n_in * P + P * P + P * n_out)
    return overhead_s + flops / flops_per_s


def plan_buckets(widths, seeds, n_in: int, n_out: int, batch: int, max_models: int | None = None) -> list[Bucket]:
    """Split the sorted widths into contiguous buckets minimising the modelled step time (DP)."""
    ws = sorted(set(int(w) for w in widths))
    n = len(ws)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            group = ws[i:j]
            if max_models and len(group) * len(seeds) > max_models:
                continue
            c = best[i] + step_cost(group, n_in, n_out, batch * len(seeds))
            if c < best[j]:
                best[j], cut[j] = c, i
    out, j = [], n
    while j > 0:
        out.append(Bucket(ws[cut[j]:j], list(seeds)))
        j = cut[j]
    return out[::-1]


def assign(costs: list[float], workers: int) -> list[list[int]]:
    """Indices of `costs` per worker, longest first onto the least loaded worker (LPT); worker 0 first."""
    loads = [[0.0, []] for _ in range(max(1, workers))]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        tgt = min(loads, key=lambda w: w[0])
        tgt[0] += costs[i]
        tgt[1].append(i)
    return [w[1] for w in loads if w[1]]


def dd_row(epoch: int, m: dict) -> dict:
    """History row of a double-descent run: losses and error rates on the (noisy) train and test sets."""
    return {"epoch": epoch, "train_loss": m["train_eval_loss"], "train_err": m["train_eval_wrong"],
            "test_loss": m["val_loss"], "test_err": m["val_wrong"]}


def train_buckets(buckets, data, *, policy: str, epochs: int, batch_size: int, lr: float, schedule,
                  workers: int = 1, progress=None, on_done=None) -> list[tuple]:
    """Train every bucket through the engine (Adam, cross-entropy); with workers > 1 the buckets are
    spread over that many processes of one thread each.

    data = (x_train, y_train, x_test, y_test).  Returns per bucket (bucket, {(width, seed): RunResult},
    seconds); on_done(bucket, {(width, seed): RunResult}, seconds) is called as each bucket's results arrive
    (so the caller can store them at once)."""
    tdata = dd_train_data(data)
    cfg = dd_config(epochs, batch_size, lr, schedule)
    n_in, n_out = int(tdata.x_train.shape[1]), tdata.n_classes
    jobs, keys = zip(*[bucket_job(b, tdata, cfg, policy) for b in buckets]) if buckets else ((), ())
    costs = [step_cost(b.widths, n_in, n_out, batch_size * len(b.seeds)) for b in buckets]
    workers = max(1, min(workers, len(buckets)))
    index = {id(job): i for i, job in enumerate(jobs)}
    out = {}

    def done(job, res):
        i = index[id(job)]
        sec = res[0].seconds * len(res) if res else 0.0
        out[i] = (buckets[i], dict(zip(keys[i], res)), sec)
        if on_done is not None:
            on_done(*out[i])
    from .engine.shards import run_jobs
    # widest (costliest) first: the ETA of the rest is then an upper bound
    order = assign(costs, workers if workers > 1 and fork_available() else 1)
    run_jobs([[jobs[i] for i in idx] for idx in order], progress, done)
    return [out[i] for i in range(len(buckets))]


def dd_train_data(data) -> TrainData:
    """TrainData of (x_train, y_train, x_test, y_test): classification, validated on the test split."""
    x_tr, y_tr, x_te, y_te = data
    return TrainData("classification", x_tr, y_tr, x_te, y_te, n_classes_of(y_tr, y_te), "test")


def dd_config(epochs: int, batch_size: int, lr: float, schedule) -> TrainConfig:
    """The double-descent recipe's TrainConfig: Adam, cross-entropy, train and test errors at `schedule`."""
    return TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, optimizer="adam", loss="cross_entropy",
                       eval_epochs=list(schedule), eval_train=True, row=dd_row).check()


def bucket_job(b: Bucket, tdata: TrainData, cfg: TrainConfig, policy: str) -> tuple[tuple, list]:
    """The engine job (engine/shards.py) of one bucket, and its (width, seed) keys in model order; the same
    on the local path and on a Ray worker."""
    n_in, n_out = int(tdata.x_train.shape[1]), int(tdata.n_classes)
    example = tdata.x_train[:256] if policy != "torch-default" else None
    pairs = [(w, s) for s in b.seeds for w in b.widths]
    models = [make_narrow(n_in, w, n_out, s, policy, example) for w, s in pairs]
    return ("stacked-mlp", models, [order_seed(s) for _, s in pairs], tdata, cfg, "cross_entropy"), pairs


def default_workers(threads, n_buckets: int) -> int:
    """auto (threads None): one single-thread worker process per usable core, at most one per bucket."""
    if threads is not None or n_buckets < 2 or not fork_available():
        return 1
    return max(1, min(usable_cores(), n_buckets))


def n_classes_of(y_tr: torch.Tensor, y_te: torch.Tensor) -> int:
    return int(max(int(y_tr.max()), int(y_te.max())) + 1)


def check_data(x_tr, y_tr, x_te, y_te) -> None:
    if x_tr.ndim != 2 or x_te.ndim != 2 or len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise InitError("double_descent: data must be x_train (N, D), y_train (N,), x_test (T, D), y_test (T,) "
                        f"(got {tuple(x_tr.shape)}, {tuple(y_tr.shape)}, {tuple(x_te.shape)}, {tuple(y_te.shape)}). "
                        "Fix: flatten the inputs.")


__all__ = ["init_seed", "order_seed", "eval_epochs", "narrow_mlp", "make_narrow", "linears", "Bucket", "step_cost",
           "plan_buckets", "assign", "dd_row", "train_buckets", "dd_train_data", "dd_config", "bucket_job", "default_workers", "n_classes_of", "check_data"]
