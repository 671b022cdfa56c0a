"""Trainers: train many initialized models of one architecture on one data set, vectorized or one by one.

    outcome = train_runs(models, seeds, data, TrainConfig(epochs=2, lr=0.05, batch_size=100))
    outcome.results[k]   # RunResult(status, history, final, seconds) of models[k]
    outcome.path         # "vectorized" | "sequential";  outcome.reason says why / which engine

Both paths train *in place* (the final weights end up in the given modules) and follow the same rules:

* batches are drawn by index from tensors held in memory (no DataLoader); model k uses the batch
  order of a generator seeded by seeds[k] (a fresh permutation per epoch; the last, smaller batch is
  kept), so every policy of one seed sees the same batches: comparisons are paired;
* dropout masks come from a second generator derived from the seed (see `dropout_seed`);
* each model minimizes its own mean batch loss (the vectorized path minimizes the sum over models
  of those means, so every model gets exactly its own gradient);
* a model whose training or validation loss becomes non-finite is "diverged": its history stops at
  the last finished epoch, its slice is masked out of the loss and zeroed, and the others go on;
* per epoch: train_loss (mean of the epoch's batch losses), val_loss and val_acc (classification)
  or val_mse (regression) on the validation rows, in eval mode (dropout off).

Engines of the vectorized path: "stacked-mlp" (hand-written batched-matmul kernels, see
`stacked.py`) for plain nn.Sequential MLPs, "vmap" (torch.func stack_module_state + functional_call
+ vmap) for other models.  Models with BatchNorm (train-mode running statistics) go sequentially,
as does everything when the vectorized path raises.
"""
from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import bad_argument, unknown_choice
from .records import DIVERGED, FINISHED
from .stacked import StackedMLP, parse_mlp

OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("cross_entropy", "mse", "bce")
PATHS = ("auto", "vectorized", "sequential")
_EVAL_ELEMS = 1 << 24          # activations per eval chunk (bounds memory of the vectorized eval)
_STACKED_EVAL_ELEMS = 1 << 22  # the same for the stacked-MLP kernel: 16 MiB float32 chunks stay cache-friendly
_EPOCH_GATHER_ELEMS = 1 << 24  # stacked-MLP: gather an epoch's inputs in batch order at once up to this size
_PROBE_FLOPS = 1e8             # pick_threads: FLOPs per timed matmul (about a millisecond)


@dataclass
class TrainConfig:
    epochs: int
    lr: float
    batch_size: int
    optimizer: str = "sgd"
    loss: str = "cross_entropy"
    momentum: float = 0.0
    weight_decay: float = 0.0
    device: str = "cpu"
    dtype: torch.dtype = torch.float32

    def check(self) -> "TrainConfig":
        where = "train"
        if self.optimizer not in OPTIMIZERS:
            raise unknown_choice(where, "optimizer", self.optimizer, OPTIMIZERS, "e.g. --optimizer sgd")
        if self.loss not in LOSSES:
            raise unknown_choice(where, "loss", self.loss, LOSSES, "or leave loss=None to pick it from the task")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise bad_argument(where, "epochs", self.epochs, "a positive integer", "e.g. --epochs 2")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_argument(where, "batch_size", self.batch_size, "a positive integer", "e.g. --batch-size 100")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise bad_argument(where, "lr", self.lr, "a positive finite learning rate", "e.g. --lr 0.05")
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise bad_argument(where, "momentum", self.momentum, "a number in [0, 1)", "e.g. --momentum 0.9")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise bad_argument(where, "weight_decay", self.weight_decay, "a finite number >= 0",
                               "e.g. --weight-decay 1e-4")
        if self.momentum and self.optimizer != "sgd":
            raise bad_argument(where, "momentum", self.momentum, f"0 with optimizer {self.optimizer!r} (Adam has "
                               "its own moment estimates)", "drop --momentum, or use --optimizer sgd")
        return self


@dataclass
class TrainData:
    """Tensors the trainers index: x_* of shape (N, *input_shape), y_* int64 (N,) or float (N, D)."""
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int | None = None
    val_split: str = "val"      # which split x_val really is: "val", "test" or "train"

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])


@dataclass
class RunResult:
    status: str
    history: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class TrainOutcome:
    results: list
    path: str
    reason: str
    engine: str = ""


# ---------------------------------------------------------------------------- helpers
def dropout_seed(seed: int) -> int:
    """Seed of the dropout generator of `seed` (independent of the batch-order generator)."""
    return int.from_bytes(hashlib.sha256(f"initlab-dropout-{int(seed)}".encode()).digest()[:7], "little")


def resolve_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise bad_argument("compare", "device", str(device), "'auto', 'cpu' or an available CUDA device",
                           "no CUDA device is visible here; use --device cpu (or auto)")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise unknown_choice("compare", "device", device, ["auto", "cpu", "cuda"]) from None


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def loss_fn(out: torch.Tensor, y: torch.Tensor, kind: str, reduction: str = "mean") -> torch.Tensor:
    """The loss of one model on one batch (standard layout: out (B, C))."""
    if kind == "cross_entropy":
        return F.cross_entropy(out, y, reduction=reduction)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype).reshape(-1), reduction=reduction)
    y = y.to(out.dtype).reshape(out.shape)
    return F.mse_loss(out, y, reduction=reduction)


def _metric_name(task: str) -> str:
    return "val_acc" if task == "classification" else "val_mse"


def _batch_metrics(out: torch.Tensor, y: torch.Tensor, kind: str, task: str):
    """(sum of losses, sum of the second metric) over a batch in standard layout."""
    if kind == "cross_entropy":
        lsum = F.cross_entropy(out, y, reduction="sum")
    elif kind == "bce":
        lsum = F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype).reshape(-1), reduction="sum")
    else:
        lsum = F.mse_loss(out, y.to(out.dtype).reshape(out.shape), reduction="sum") / max(1, out[0].numel())
    if task == "classification":
        pred = (out.reshape(-1) > 0).long() if out.shape[-1] == 1 else out.argmax(-1)
        m = (pred == y.reshape(-1)).sum()
    else:
        m = ((out - y.to(out.dtype).reshape(out.shape)) ** 2).mean(dim=tuple(range(1, out.dim()))).sum()
    return lsum, m


def _epoch_record(epoch, train_loss, val_loss, metric, task) -> dict:
    return {"epoch": epoch, "train_loss": float(train_loss), "val_loss": float(val_loss),
            _metric_name(task): float(metric)}


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def vectorized_support(model: nn.Module) -> tuple[str | None, str]:
    """(engine, explanation): engine "stacked-mlp" | "vmap", or None with the reason it must go sequentially."""
    if _has_batchnorm(model):
        return None, ("the model has BatchNorm: in train mode it updates running statistics per model, "
                      "which the vectorized path does not batch")
    plan, why = parse_mlp(model)
    if plan is not None:
        return "stacked-mlp", "stacked-MLP kernel (batched matmuls, hand-written backward)"
    return "vmap", f"torch.func vmap over stacked weights (stacked-MLP kernel not applicable: {why})"


def pick_threads(M: int, shapes, batch: int, device, dtype=torch.float32, candidates=None) -> tuple[int, str]:
    """Thread count for training M stacked MLPs with these Linear shapes [(in, out), ...] on the CPU.

    Times a forward/backward-sized set of batched matmuls at 1 thread and at every core, keeps the faster.
    On a busy machine (other processes on the cores) more threads can be many times slower, so measure."""
    if torch.device(device).type != "cpu":
        return torch.get_num_threads(), "GPU: threads not tuned"
    from .shards import usable_cores
    cores = usable_cores()
    cands = sorted(set(candidates or [1, max(1, cores)]))
    if len(cands) == 1:
        return cands[0], f"{cands[0]} thread(s): one core"
    before = torch.get_num_threads()
    i, o = max(shapes, key=lambda s: s[0] * s[1])
    # the probe is capped at ~1e8 FLOPs per matmul (about a millisecond): timing full-size layers of a
    # big model (8 x 1024x1024 @ 1024x128) cost 0.3 s, a sixth of a one-epoch sweep
    m = max(1, min(M, 8, int(_PROBE_FLOPS // (2 * o * i * batch))))
    cols = max(1, min(batch, int(_PROBE_FLOPS // (2 * o * i * m))))
    Wt = torch.randn(m, o, i, dtype=dtype)
    A = torch.randn(m, i, cols, dtype=dtype)
    times = {}
    try:
        for rep in range(2):
            for n in cands:
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                for _ in range(2):
                    z = torch.bmm(Wt, A)
                    torch.bmm(z, A.transpose(1, 2))
                times[n] = min(times.get(n, float("inf")), time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    best = min(cands, key=lambda n: times[n])
    note = ", ".join(f"{n}: {1e3 * times[n]:.1f} ms" for n in cands)
    return best, f"{best} thread(s) (timed a layer at {note})"


def _groups(seeds) -> int:
    """Number of seed groups G when `seeds` is seed-major with equal group sizes, else len(seeds)."""
    seeds = list(seeds)
    blocks = []
    for s in seeds:
        if blocks and blocks[-1][0] == s:
            blocks[-1][1] += 1
        else:
            blocks.append([s, 1])
    sizes = {n for _, n in blocks}
    distinct = len({s for s, _ in blocks}) == len(blocks)
    return len(blocks) if len(sizes) == 1 and distinct else len(seeds)


def _perms(group_seeds, gens, n, device) -> torch.Tensor:
    return torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)


# ---------------------------------------------------------------------------- stacked-MLP engine
def _loss_stacked(out, y_m, kind):
    """Per-model mean losses (M,) and d(sum of them)/d out for out (M, C, B)."""
    B = out.shape[2]
    if kind == "cross_entropy":
        lsm = torch.log_softmax(out, 1)
        loss = lsm.gather(1, y_m).sum((1, 2)).mul_(-1.0 / B)
        d = lsm.exp_()
        d.scatter_add_(1, y_m, torch.full(y_m.shape, -1.0, dtype=d.dtype, device=d.device))
        return loss, d.mul_(1.0 / B)
    if kind == "bce":
        loss = F.binary_cross_entropy_with_logits(out, y_m, reduction="none").mean((1, 2))
        return loss, (torch.sigmoid(out) - y_m).mul_(1.0 / B)
    diff = out - y_m
    loss = diff.square().mean((1, 2))
    return loss, diff.mul_(2.0 / diff[0].numel())


def _ce_grouped(out, yb, logp_acc, neg, G, P):
    """Cross-entropy of out (M, C, b) against the group targets yb (G, b) without copying them per model.

    Adds each sample's log-probability of its target, weighted B/b, to logp_acc (G, P, 1, B), so that at
    the end of the epoch -logp_acc.sum / B is the sum of the steps' mean losses (summing once per epoch
    instead of once per step).  Returns (g, 1/b) with d(sum of means)/d out = g / b; the caller folds
    1/b into the update instead of paying a pass over g."""
    M, C, b = out.shape
    B = logp_acc.shape[-1]
    o4 = out.view(G, P, C, b)
    idx = yb.view(G, 1, 1, b).expand(G, P, 1, b)
    lsm = torch.log_softmax(o4, 2)
    if b == B:
        logp_acc.add_(lsm.gather(2, idx))
    else:
        logp_acc[..., :b].add_(lsm.gather(2, idx), alpha=B / b)
    d = lsm.exp_()
    d.scatter_add_(2, idx, neg[..., :b])
    return d.view(M, C, b), 1.0 / b


def _train_stacked(models, seeds, data: TrainData, cfg: TrainConfig, progress, kind) -> list:
    plan, _ = parse_mlp(models[0])
    dev, dt = torch.device(cfg.device), cfg.dtype
    M = len(models)
    G = _groups(seeds)
    P = M // G
    gseeds = [seeds[g * P] for g in range(G)]
    net = StackedMLP(models, plan, groups=G, device=dev, dtype=dt)
    fused = cfg.optimizer == "sgd" and cfg.momentum == 0 and cfg.weight_decay == 0
    opt = None if fused else make_optimizer(net.parameters(), cfg)
    # Batch order: one generator per distinct seed.  When the groups are not equal-sized (G = M, e.g. a
    # process shard cutting through a seed group, or a resumed sweep) several groups share a seed: their
    # inputs are gathered once per seed per epoch and picked per group at each step (`src`), instead of
    # once per group per epoch (G full copies of the training set).
    useeds = list(dict.fromkeys(gseeds))
    src = None if len(useeds) == G else torch.tensor([useeds.index(s) for s in gseeds], device=dev)
    order_gens = [torch.Generator().manual_seed(int(s)) for s in useeds]
    drop_gens = [torch.Generator(device=dev).manual_seed(dropout_seed(s)) for s in gseeds]

    x_tr = data.x_train.reshape(data.n_train, -1).to(dev, dt)
    y_tr = data.y_train.to(dev)
    x_va = data.x_val.reshape(data.x_val.shape[0], -1).to(dev, dt)
    y_va = data.y_val.to(dev)
    if kind != "cross_entropy":
        y_tr = y_tr.to(dt).reshape(data.n_train, -1)
        y_va = y_va.to(dt).reshape(x_va.shape[0], -1)
    n, B = data.n_train, cfg.batch_size

    def masks(l, p, shape):
        m = torch.empty((G, 1, shape[1], shape[2]), device=dev, dtype=dt)
        for g in range(G):
            m[g].bernoulli_(1.0 - p, generator=drop_gens[g])
        return m.mul_(1.0 / (1.0 - p))

    def per_model(yb):  # (G, b) long or (G, b, D) float -> (M, 1|D, b), model k = group k // P
        yb = yb.view(G, 1, 1, -1) if kind == "cross_entropy" else yb.transpose(1, 2).unsqueeze(1)
        return yb.expand(G, P, yb.shape[2], yb.shape[3]).reshape(M, yb.shape[2], yb.shape[3])

    alive = torch.ones(M, dtype=torch.bool, device=dev)
    any_dead = False
    hist = [[] for _ in range(M)]
    status = [FINISHED] * M
    n_steps = math.ceil(n / B)
    neg = torch.full((G, P, 1, B), -1.0, dtype=dt, device=dev)
    logp_acc = torch.zeros((G, P, 1, B), dtype=dt, device=dev)
    x_epoch_ok = len(useeds) * x_tr.numel() <= _EPOCH_GATHER_ELEMS
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        perm = _perms(useeds, order_gens, n, dev)   # (S, n): one order per distinct seed
        y_perm = y_tr[perm]                      # (S, n[, D]): this epoch's targets in batch order
        if src is not None:
            y_perm = y_perm.index_select(0, src)     # (G, n[, D])
            perm_g = perm.index_select(0, src)
        else:
            perm_g = perm
        # inputs in batch order too: one gather per epoch (each step's batch is then a view) when that
        # copy is small, else one index_select per step
        x_perm = torch.index_select(x_tr, 0, perm.view(-1)).view(len(useeds), n, -1) if x_epoch_ok else None
        x_steps = x_perm.split(B, 1) if x_perm is not None else None        # views (S, b, in), one call
        y_steps = y_perm.split(B, 1)
        loss_sum = torch.zeros(M, dtype=dt, device=dev)
        logp_acc.zero_()
        for i in range(n_steps):
            if x_steps is not None:
                xb = x_steps[i] if src is None else x_steps[i].index_select(0, src)   # (G, b, in)
            else:
                idx = perm_g[:, i * B:(i + 1) * B]
                xb = torch.index_select(x_tr, 0, idx.reshape(-1)).view(G, idx.shape[1], -1)
            out, tape = net.forward_train(xb.transpose(1, 2), masks)
            yb = y_steps[i]
            if kind == "cross_entropy":
                d, scale = _ce_grouped(out, yb, logp_acc, neg, G, P)
            else:
                loss, d = _loss_stacked(out, per_model(yb), kind)
                loss_sum += loss
                scale = 1.0
            # A model whose loss turns non-finite keeps its NaN/inf inside its own slice (every op is per
            # model) until the end of the epoch, where it is marked diverged, zeroed and masked out.
            if any_dead:
                d = torch.where(alive.view(M, 1, 1), d, 0.0)
            if fused:
                net.backward(d, tape, sgd_lr=cfg.lr, scale=scale)
            else:
                net.backward(d, tape, scale=scale)
                opt.step()
            if progress is not None:
                progress.update(1.0 / n_steps)
        if kind == "cross_entropy":
            loss_sum = logp_acc.sum((2, 3)).view(M).mul_(-1.0 / B)
        ok = alive & torch.isfinite(loss_sum)
        train_loss = loss_sum / n_steps
        val_loss, val_m = _eval_stacked(net, x_va, y_va, kind, data.task)
        ok &= torch.isfinite(val_loss) & torch.isfinite(train_loss)
        newly = (alive & ~ok).nonzero().flatten()
        if newly.numel():
            net.zero_models(newly)
            if opt is not None:
                _zero_state(opt, newly)
            for k in newly.tolist():
                status[k] = DIVERGED
        alive = ok
        tl, vl, vm, al = train_loss.tolist(), val_loss.tolist(), val_m.tolist(), alive.tolist()
        any_dead = not all(al)
        for k in range(M):
            if al[k]:
                hist[k].append(_epoch_record(epoch, tl[k], vl[k], vm[k], data.task))
    net.write_back(models)
    sec = (time.perf_counter() - t0) / M
    return [RunResult(status[k], hist[k], dict(hist[k][-1]) if hist[k] else {}, sec) for k in range(M)]


def _zero_state(opt, idx):
    with torch.no_grad():
        for p, st in opt.state.items():
            for v in st.values():
                if torch.is_tensor(v) and v.shape == p.shape:
                    v[idx] = 0


@torch.no_grad()
def _eval_stacked(net: StackedMLP, x, y, kind, task):
    M = net.M
    width = max(max(o for _, o, _ in net.plan.shapes), 1)
    rows = max(64, _STACKED_EVAL_ELEMS // (M * width))
    lsum = torch.zeros(M, dtype=torch.float64, device=x.device)
    msum = torch.zeros(M, dtype=torch.float64, device=x.device)
    N = x.shape[0]
    for s in range(0, N, rows):
        out = net.forward_eval(x[s:s + rows])           # (M, C, n)
        yb = y[s:s + rows]
        if kind == "cross_entropy":
            lsm = torch.log_softmax(out, 1)
            lsum -= lsm.gather(1, yb.view(1, 1, -1).expand(M, 1, -1)).sum((1, 2))
        elif kind == "bce":
            yt = yb.reshape(1, 1, -1).expand(M, 1, -1).to(out.dtype)
            lsum += F.binary_cross_entropy_with_logits(out, yt, reduction="none").sum((1, 2))
        else:
            yt = yb.t().unsqueeze(0)
            lsum += (out - yt).square().mean(1).sum(1)
        if task == "classification":
            pred = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(1)     # (M, n)
            msum += (pred == yb.reshape(1, -1)).sum(1)
        else:
            msum += (out - yb.t().unsqueeze(0)).square().mean(1).sum(1)
    return lsum / N, msum / N


# ---------------------------------------------------------------------------- vmap engine
def _train_vmap(models, seeds, data: TrainData, cfg: TrainConfig, progress, kind) -> list:
    from torch.func import functional_call, stack_module_state, vmap

    dev, dt = torch.device(cfg.device), cfg.dtype
    M = len(models)
    for m in models:
        m.to(dev, dt)
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def f(p, b, x):
        return functional_call(base, (p, b), (x,))

    fwd_train = vmap(f, in_dims=(0, 0, 0), randomness="different")
    fwd_eval = vmap(f, in_dims=(0, 0, None), randomness="different")
    opt = make_optimizer(params.values(), cfg)
    order_gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    x_tr, y_tr = data.x_train.to(dev, dt), data.y_train.to(dev)
    x_va, y_va = data.x_val.to(dev, dt), data.y_val.to(dev)
    n, B = data.n_train, cfg.batch_size
    n_steps = math.ceil(n / B)
    alive = torch.ones(M, dtype=torch.bool, device=dev)
    hist = [[] for _ in range(M)]
    status = [FINISHED] * M
    t0 = time.perf_counter()
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(dropout_seed(sum(int(s) * 1_000_003 ** i for i, s in enumerate(seeds)) % (2 ** 62)))
        for epoch in range(1, cfg.epochs + 1):
            perm = _perms(seeds, order_gens, n, dev)         # (M, n): one order per model's seed
            loss_sum = torch.zeros(M, dtype=dt, device=dev)
            ok = alive.clone()
            base.train()
            for i in range(n_steps):
                idx = perm[:, i * B:(i + 1) * B]
                out = fwd_train(params, buffers, x_tr[idx])    # (M, b, C)
                yb = y_tr[idx]
                loss = _vm_loss(out, yb, kind)
                ok &= torch.isfinite(loss)
                loss_sum += loss.detach()
                opt.zero_grad(set_to_none=True)
                torch.where(ok, loss, 0.0).sum().backward()
                for p in params.values():
                    if p.grad is not None:
                        p.grad = torch.where(ok.view(-1, *([1] * (p.dim() - 1))), p.grad, 0.0)
                opt.step()
                if progress is not None:
                    progress.update(1.0 / n_steps)
            base.eval()
            lsum = torch.zeros(M, dtype=torch.float64, device=dev)
            msum = torch.zeros(M, dtype=torch.float64, device=dev)
            with torch.no_grad():
                rows = max(64, _EVAL_ELEMS // max(1, M * 1024))
                for s in range(0, x_va.shape[0], rows):
                    out = fwd_eval(params, buffers, x_va[s:s + rows])
                    for k in range(M):
                        a, b = _batch_metrics(out[k], y_va[s:s + rows], kind, data.task)
                        lsum[k] += a
                        msum[k] += b
            nv = x_va.shape[0]
            train_loss, val_loss, val_m = loss_sum / n_steps, lsum / nv, msum / nv
            ok &= torch.isfinite(val_loss) & torch.isfinite(train_loss)
            newly = (alive & ~ok).nonzero().flatten()
            if newly.numel():
                with torch.no_grad():
                    for p in params.values():
                        p[newly] = 0
                _zero_state(opt, newly)
                for k in newly.tolist():
                    status[k] = DIVERGED
            alive = ok
            tl, vl, vm, al = train_loss.tolist(), val_loss.tolist(), val_m.tolist(), alive.tolist()
            for k in range(M):
                if al[k]:
                    hist[k].append(_epoch_record(epoch, tl[k], vl[k], vm[k], data.task))
    with torch.no_grad():
        for k, m in enumerate(models):
            for name, t in params.items():
                m.get_parameter(name).copy_(t[k])
    sec = (time.perf_counter() - t0) / M
    return [RunResult(status[k], hist[k], dict(hist[k][-1]) if hist[k] else {}, sec) for k in range(M)]


def _vm_loss(out, yb, kind):
    """Per-model mean loss for out (M, b, ...) and targets yb (M, b, ...)."""
    M, b = out.shape[0], out.shape[1]
    if kind == "cross_entropy":
        return F.cross_entropy(out.reshape(M * b, -1), yb.reshape(-1), reduction="none").view(M, b).mean(1)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(out.reshape(M, -1), yb.to(out.dtype).reshape(M, -1),
                                                  reduction="none").mean(1)
    return (out - yb.to(out.dtype).reshape(out.shape)).square().reshape(M, -1).mean(1)


# ---------------------------------------------------------------------------- sequential
def train_sequential(models, seeds, data: TrainData, cfg: TrainConfig, progress=None, *, loss_kind=None) -> list:
    """Train each model alone (standard nn.Module + torch.optim), same batch order rules as the vectorized path."""
    kind = loss_kind or cfg.loss
    dev, dt = torch.device(cfg.device), cfg.dtype
    x_tr, y_tr = data.x_train.to(dev, dt), data.y_train.to(dev)
    x_va, y_va = data.x_val.to(dev, dt), data.y_val.to(dev)
    n, B = data.n_train, cfg.batch_size
    devices = [dev.index or 0] if dev.type == "cuda" else []
    results = []
    for model, seed in zip(models, seeds):
        t0 = time.perf_counter()
        model.to(dev, dt)
        opt = make_optimizer(model.parameters(), cfg)
        gen = torch.Generator().manual_seed(int(seed))
        hist, status = [], FINISHED
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(dropout_seed(seed))
            for epoch in range(1, cfg.epochs + 1):
                perm = torch.randperm(n, generator=gen).to(dev)
                model.train()
                total, steps, bad = 0.0, 0, False
                for i in range(0, n, B):
                    idx = perm[i:i + B]
                    loss = loss_fn(model(x_tr[idx]), y_tr[idx], kind)
                    lv = float(loss.detach())
                    if not math.isfinite(lv):
                        bad = True
                        break
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += lv
                    steps += 1
                if not bad:
                    vl, vm = _eval_one(model, x_va, y_va, kind, data.task, B)
                    bad = not (math.isfinite(vl) and math.isfinite(total))
                if progress is not None:
                    progress.update(1.0 / len(models))
                if bad:
                    status = DIVERGED
                    if progress is not None:
                        progress.update((cfg.epochs - epoch) / len(models))
                    break
                hist.append(_epoch_record(epoch, total / steps, vl, vm, data.task))
        results.append(RunResult(status, hist, dict(hist[-1]) if hist else {}, time.perf_counter() - t0))
    return results


@torch.no_grad()
def _eval_one(model, x, y, kind, task, batch):
    model.eval()
    rows = max(batch, 1024)
    lsum = msum = 0.0
    for s in range(0, x.shape[0], rows):
        a, b = _batch_metrics(model(x[s:s + rows]), y[s:s + rows], kind, task)
        lsum += float(a)
        msum += float(b)
    return lsum / x.shape[0], msum / x.shape[0]


def train_vectorized(models, seeds, data: TrainData, cfg: TrainConfig, progress=None, *, loss_kind=None,
                     engine=None, workers: int = 1) -> tuple[list, str]:
    """Train all models at once; returns (results, engine).  Raises when the models cannot be vectorized.

    workers > 1 (stacked-MLP engine on the CPU, where fork exists): that many processes of one thread
    each train disjoint slices of the models (see shards.py); else one process."""
    kind = loss_kind or cfg.loss
    eng, why = vectorized_support(models[0])
    if eng is None:
        raise bad_argument("train_vectorized", "models", type(models[0]).__name__,
                           "a model without BatchNorm", why + "; use path='sequential' (or 'auto')")
    eng = engine or eng
    if eng == "stacked-mlp":
        if workers > 1 and len(models) > 1 and sharding_applies(cfg.device):
            from .shards import train_stacked_sharded
            return train_stacked_sharded(models, list(seeds), data, cfg, progress, kind, workers), eng
        return _train_stacked(models, list(seeds), data, cfg, progress, kind), eng
    return _train_vmap(models, list(seeds), data, cfg, progress, kind), eng


def sharding_applies(device) -> bool:
    """Whether worker processes can train slices of a stacked-MLP sweep here: CPU, and fork available."""
    from .shards import fork_available
    return torch.device(device).type == "cpu" and fork_available()


def train_runs(models, seeds, data: TrainData, cfg: TrainConfig, *, path: str = "auto", progress=None,
               loss_kind=None, workers: int = 1) -> TrainOutcome:
    """Train `models` (already initialized) in place; seeds[k] drives model k's batch order and dropout.

    workers: processes for the stacked-MLP engine on the CPU (see train_vectorized)."""
    cfg.check()
    if path not in PATHS:
        raise unknown_choice("train_runs", "path", path, PATHS)
    models, seeds = list(models), [int(s) for s in seeds]
    if len(models) != len(seeds):
        raise bad_argument("train_runs", "seeds", seeds, f"one seed per model ({len(models)})")
    eng, why = vectorized_support(models[0])
    if path == "sequential":
        return TrainOutcome(train_sequential(models, seeds, data, cfg, progress, loss_kind=loss_kind),
                            "sequential", "sequential path requested", "sequential")
    if eng is None:
        if path == "vectorized":
            raise bad_argument("train_runs", "path", path, "'auto' or 'sequential' for this model",
                               why + "; use path='auto'")
        return TrainOutcome(train_sequential(models, seeds, data, cfg, progress, loss_kind=loss_kind),
                            "sequential", why, "sequential")
    backup = [copy.deepcopy(m.state_dict()) for m in models]
    done_before = progress.done if progress is not None else 0
    try:
        results, eng = train_vectorized(models, seeds, data, cfg, progress, loss_kind=loss_kind, workers=workers)
        return TrainOutcome(results, "vectorized", why, eng)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - any failure of the vectorized path falls back
        if path == "vectorized":
            raise
        for m, sd in zip(models, backup):
            m.load_state_dict(sd)
        if progress is not None:
            progress.done = done_before
        reason = f"the vectorized path failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); ran sequentially"
        return TrainOutcome(train_sequential(models, seeds, data, cfg, progress, loss_kind=loss_kind),
                            "sequential", reason, "sequential")
