"""Trained quality of `auto` against torch's default, each fixed scheme and the peers (anyinit, LSUV).

Every column of a task starts from the same freshly built model (same constructor, same seed) and all
columns and seeds of a task are trained together by ONE call of initlab's engine
(``initlab.experiments.engine.train_runs``: the stacked-MLP kernel for plain MLPs, torch.func vmap for the
other models, sequential autograd only if those fail), which trains already-initialized modules in place
with the same batches for the same seed whatever initialized them: initlab columns are initialized with
``initlab.init_(model, policy, seed=s, example_inputs=x)`` (x = the first 256 training samples, what
``initlab.compare`` passes too); the peers with their own public calls on the same model and the same x:
``anyinit.initialize(model, "analytic" | "empirical", x, seed=s)`` and ``lsuv.lsuv_with_singlebatch(model,
x)``.  The peers are not initlab policies, but the engine takes modules as they are, so every column is
trained identically by construction.  Batch order of seed s: the engine's run seed 1000 + s.

Metric: final validation accuracy in % (classification) or validation MSE (regression), mean over seeds;
a run the engine marks diverged (a non-finite epoch loss or validation loss) counts as chance (10 %) or as
the MSE of predicting the training mean.  Per task it prints
every column and the best fixed scheme; then the mean over tasks (regression as 100 * (1 - MSE/Var(y)),
the R^2 in %, so it averages with accuracies), the tasks where `auto` is within 1 point (2 % relative MSE
for regression) of the best fixed scheme, and the tasks where `auto` is below torch's default.

Run (full suite: ~70 s a seed with --jobs 2 on 2 shared cores, half the own loop's ~130 s; the recorded
table in docs/auto_quality.md uses --seeds 20):
    nice -n 5 .venv/bin/python benchmarks/auto_quality.py
    nice -n 5 .venv/bin/python benchmarks/auto_quality.py --save runs.json  # resumable
    nice -n 5 .venv/bin/python benchmarks/auto_quality.py --quick          # 4 tasks, 2 seeds
    .venv/bin/python benchmarks/auto_quality.py --tasks relu-d20,cnn-tanh --columns auto,kaiming_normal
    nice -n 5 .venv/bin/python benchmarks/auto_quality.py --seeds 20 --lr-schedule cosine --save cos.json
                   # the rate decayed to 0 over each run (cosine) instead of constant, every task and column
Peers: pip install -e .[bench]  (anyinit, lsuv); a missing peer's columns are skipped with a note.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn as nn

import initlab
from initlab.experiments.engine import TrainConfig, TrainData, train_runs
from initlab.experiments.stats import t_interval
from initlab.models import MLP, ResMLP, SmallCNN, activation

# general_rule_normal is the same law as lecun_normal (N(0, 1/fan_in)) and torch's default is the general rule's
# uniform form, so "general rule" is covered by those two columns; orthogonal: pass --columns ...,orthogonal
FIXED = ["xavier_normal", "kaiming_normal", "lecun_normal", "general_rule_normal", "orthogonal"]
DEFAULT_FIXED = ["xavier_normal", "kaiming_normal", "lecun_normal"]
PEERS = ["anyinit-analytic", "anyinit-empirical", "lsuv-pkg"]
COLUMNS = ["torch-default"] + DEFAULT_FIXED + ["auto"] + PEERS
ALL_COLUMNS = ["torch-default"] + FIXED + ["auto"] + PEERS
CAL_ROWS = 256


# ---------------------------------------------------------------------------- models the zoo lacks
class PreNormResMLP(nn.Module):
    """inp -> [x + fc2(act(fc1(LayerNorm(x))))] * depth -> LayerNorm -> head (pre-norm residual MLP)."""

    def __init__(self, depth, width, act, n_in, n_out=10):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": nn.LayerNorm(width), "fc1": nn.Linear(width, width),
                                                   "act": activation(act), "fc2": nn.Linear(width, width)})
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_out)
        self.initlab_input_shape = (n_in,)

    def forward(self, x):
        x = self.inp(x)
        for b in self.blocks:
            x = x + b["fc2"](b["act"](b["fc1"](b["norm"](x))))
        return self.head(self.norm(x))


class TinyTransformer(nn.Module):
    """A 40-sample MNIST-1D signal as 10 tokens of 4 values -> embed 32 (+ learned positions) -> 2 pre-norm
    encoder layers (4 heads, ff 64, gelu) -> mean over tokens -> LayerNorm -> 10 logits."""

    def __init__(self, n_in=40, tok=4, d=32, layers=2, n_out=10):
        super().__init__()
        self.tok = tok
        self.embed = nn.Linear(tok, d)
        self.pos = nn.Embedding(n_in // tok, d)
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_out)
        self.initlab_input_shape = (n_in,)

    def forward(self, x):
        t = x.view(x.shape[0], -1, self.tok)
        h = self.embed(t) + self.pos.weight[None, : t.shape[1]]
        return self.head(self.norm(self.encoder(h).mean(1)))


def plain(n_in, depth, width, act, n_out=10):
    """n_in -> depth hidden layers of `width` with `act` -> n_out: depth + 1 Linear layers."""
    return lambda: MLP([n_in] + [width] * depth + [n_out], act)


@dataclass(frozen=True)
class Task:
    name: str
    data: str
    build: object          # () -> nn.Module (called after torch.manual_seed(seed))
    optimizer: str         # "sgd" (momentum 0.9) | "adam"
    lr: float
    epochs: int
    batch: int = 64


TASKS = [
    Task("relu-d20", "digits", plain(64, 20, 64, "relu"), "sgd", 0.01, 12),
    Task("lrelu0.1-d20", "digits", plain(64, 20, 64, "leaky_relu=0.1"), "sgd", 0.01, 12),
    Task("tanh-d20", "digits", plain(64, 20, 64, "tanh"), "sgd", 0.01, 12),
    Task("sigmoid-d6", "digits", plain(64, 6, 64, "sigmoid"), "sgd", 0.05, 12),
    Task("selu-d20", "mnist1d", plain(40, 20, 64, "selu"), "sgd", 0.01, 8),
    Task("gelu-d12", "mnist1d", plain(40, 12, 64, "gelu"), "adam", 1e-3, 8),
    Task("silu-d12", "digits", plain(64, 12, 64, "silu"), "adam", 1e-3, 12),
    Task("relu-d40", "mnist1d", plain(40, 40, 64, "relu"), "sgd", 0.005, 8),
    Task("tanh-d40-adam", "mnist1d", plain(40, 40, 64, "tanh"), "adam", 1e-3, 8),
    Task("sigmoid-d10-adam", "mnist1d", plain(40, 10, 64, "sigmoid"), "adam", 1e-3, 8),
    Task("resmlp-relu", "fashion", lambda: ResMLP(8, 64, "relu", n_in=784), "sgd", 0.01, 8),
    Task("resmlp-ln-gelu", "fashion", lambda: PreNormResMLP(8, 64, "gelu", 784), "adam", 1e-3, 8),
    Task("cnn-relu", "fashion", lambda: SmallCNN("relu"), "sgd", 0.01, 3),
    Task("cnn-tanh", "fashion", lambda: SmallCNN("tanh"), "adam", 1e-3, 3),
    Task("transformer", "mnist1d", TinyTransformer, "adam", 2e-3, 8),
    Task("housing-relu-d6", "housing", plain(8, 6, 64, "relu", 1), "adam", 1e-3, 12),
]
BY_NAME = {t.name: t for t in TASKS}
QUICK = ["relu-d20", "tanh-d20", "sigmoid-d6", "housing-relu-d6"]


@lru_cache(maxsize=None)
def dataset(name: str):
    """(x_train, y_train, x_val, y_val, task) as float32 tensors (labels int64 for classification).
    "NAME:N" keeps the first N training samples of NAME (the tests' small version)."""
    if ":" in name:
        base, n = name.split(":")
        xt, yt, xv, yv, kind = dataset(base)
        return xt[:int(n)], yt[:int(n)], xv, yv, kind
    if name == "digits":
        ds = initlab.data.load("digits", seed=0)
    elif name == "mnist1d":
        ds = initlab.data.load("mnist1d", seed=0, val_fraction=0.2, subsample=2000, test=False)
    elif name == "fashion":
        ds = initlab.data.load("fashion-mnist", seed=0, subsample=1000, test=False)
        ds.x_val, ds.y_val = ds.x_val[:1000], ds.y_val[:1000]
    elif name == "housing":
        ds = initlab.data.load("california-housing", seed=0, val_fraction=0.2, subsample=2000, test=False,
                               standardize_target=True)
        # a few blocks with huge AveOccup/Population (up to 30+ std) would dominate the validation MSE
        ds.x_train, ds.x_val = ds.x_train.clamp(-5, 5), ds.x_val.clamp(-5, 5)
    else:
        raise ValueError(name)
    y = (lambda t: t.long()) if ds.task == "classification" else (lambda t: t.float().reshape(len(t), -1))
    return ds.x_train.float(), y(ds.y_train), ds.x_val.float(), y(ds.y_val), ds.task


# ---------------------------------------------------------------------------- initialization
def initialize(column: str, model: nn.Module, seed: int, x: torch.Tensor) -> None:
    if column == "torch-default-ctor":
        return
    if column.startswith("anyinit-"):
        import anyinit
        anyinit.initialize(model, column.split("-", 1)[1], x, seed=seed)
    elif column == "lsuv-pkg":
        import lsuv
        torch.manual_seed(seed)
        lsuv.lsuv_with_singlebatch(model, x, verbose=False)
    elif column == "auto-fan":              # auto without the declared-std rule for weights only norms read
        initlab.init_(model, initlab.policy.auto(scale_free="fan"), seed=seed, example_inputs=x)
    else:
        initlab.init_(model, column, seed=seed, example_inputs=x)


def available(columns):
    """The columns whose package imports, and a note for each one that does not."""
    out, notes = [], []
    for c in columns:
        pkg = {"anyinit-analytic": "anyinit", "anyinit-empirical": "anyinit", "lsuv-pkg": "lsuv"}.get(c)
        if pkg:
            try:
                __import__(pkg)
            except ImportError:
                notes.append(f"{c}: skipped ({pkg} is not installed; pip install -e .[bench])")
                continue
        out.append(c)
    return out, notes


# ---------------------------------------------------------------------------- training (the engine, for all)
# The engine's run seed drives the batch order (derive_seed("order", s) == s): 1000 + seed is the order the
# benchmark's own loop drew before it trained through the engine, so old and new runs see the same batches.
ORDER_SEED = 1000


def build(task: Task, column: str, seed: int) -> nn.Module:
    """A fresh model of `task` for `seed` (same constructor draws for every column), initialized by `column`."""
    xt = dataset(task.data)[0]
    torch.manual_seed(seed)
    model = task.build()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")          # the peers warn about layers they skip; the table says enough
        initialize(column, model, seed, xt[:CAL_ROWS])
    return model


def train_config(task: Task, schedule: str = "constant") -> TrainConfig:
    """The task's training: SGD with momentum 0.9 or Adam, cross-entropy or MSE, evaluated after the last epoch;
    schedule: the learning rate over the run's steps (constant, or cosine / linear decay to 0)."""
    kind = dataset(task.data)[4]
    return TrainConfig(epochs=task.epochs, lr=task.lr, batch_size=task.batch, optimizer=task.optimizer,
                       momentum=0.9 if task.optimizer == "sgd" else 0.0, lr_schedule=schedule,
                       loss="cross_entropy" if kind == "classification" else "mse", eval_epochs=[task.epochs])


def train_chunk(task: Task, keys, jobs: int = 1, schedule: str = "constant"):
    """Train the (column, seed) models `keys` of `task` in ONE engine call (train_runs: stacked-MLP kernel,
    vmap or sequential, `jobs` worker processes); returns ({key: final validation metric}, TrainOutcome)."""
    xt, yt, xv, yv, kind = dataset(task.data)
    data = TrainData(kind, xt, yt, xv, yv, n_classes=10 if kind == "classification" else None)
    models = [build(task, c, s) for c, s in keys]
    out = train_runs(models, [ORDER_SEED + s for _, s in keys], data, train_config(task, schedule), workers=jobs)
    return {k: metric(kind, yt, r) for k, r in zip(keys, out.results)}, out


def metric(kind: str, yt, r) -> float:
    """Final validation accuracy in % or MSE; a diverged run counts as chance or the MSE of the training mean."""
    if r.status != "finished" or not r.final:
        return worst(kind, yt)
    return 100.0 * r.final["val_acc"] if kind == "classification" else float(r.final["val_mse"])


def worst(kind, yt) -> float:
    return 10.0 if kind == "classification" else float(yt.var())


# ---------------------------------------------------------------------------- summary
def score(task: Task, v: float) -> float:
    """Higher is better, in points: accuracy %, or R^2 % for regression (so the mean mixes them fairly)."""
    xt, yt, xv, yv, kind = dataset(task.data)
    return v if kind == "classification" else 100.0 * (1.0 - v / float(yv.var()))


def close(task: Task, a: float, best: float) -> bool:
    """auto within 1 point of the best fixed scheme (2 % relative MSE for regression)."""
    kind = dataset(task.data)[4]
    return a >= best - 1.0 if kind == "classification" else a <= best * 1.02


def better(task, a, b) -> bool:
    return a > b if dataset(task.data)[4] == "classification" else a < b


def summarize(results: dict, tasks, columns) -> dict:
    """results[(task name, column)] = [metric per seed] -> per task means, best fixed, and the three targets."""
    rows, hits, below = [], [], []
    # the default a user gets: torch's reset, or, where only that column ran (Hugging Face models, whose
    # constructor applies their own init), the model as constructed
    default = next((c for c in ("torch-default", "torch-default-ctor") if c in columns), None)
    for t in tasks:
        means = {c: statistics.fmean(results[(t.name, c)]) for c in columns}
        fixed = [c for c in columns if c in FIXED]
        best = (max if dataset(t.data)[4] == "classification" else min)(fixed, key=means.get) if fixed else None
        rows.append((t, means, best))
        if best and "auto" in means:
            if close(t, means["auto"], means[best]):
                hits.append(t.name)
            if default and better(t, means[default], means["auto"]):
                below.append(t.name)
    mean = {c: statistics.fmean(score(t, m[c]) for t, m, _ in rows) for c in columns}
    paired = {}                 # auto - default per seed (same batches), where auto is below or within a point
    if "auto" in columns and default:
        for t, m, _ in rows:
            diff = [a - d for a, d in zip(results[(t.name, "auto")], results[(t.name, default)])]
            reg = dataset(t.data)[4] != "classification"
            if t.name in below or (not reg and abs(m["auto"] - m[default]) < 1.0):
                paired[t.name] = (statistics.fmean(diff), *t_interval(diff), reg)
    return {"rows": rows, "mean": mean, "within": hits, "below_default": below, "paired": paired, "default": default}


def table(summary: dict, columns, seeds) -> str:
    short = {"torch-default": "default", "xavier_normal": "xavier", "kaiming_normal": "kaiming",
             "lecun_normal": "lecun", "general_rule_normal": "general", "orthogonal": "orthog",
             "anyinit-analytic": "anyinit-a", "anyinit-empirical": "anyinit-e", "lsuv-pkg": "lsuv"}
    head = f"| task | data | opt | " + " | ".join(short.get(c, c) for c in columns) + " | best fixed |"
    lines = [head, "|" + "---|" * (len(columns) + 4)]
    for t, m, best in summary["rows"]:
        reg = dataset(t.data)[4] != "classification"
        fmt = (lambda v: f"{v:.3f}") if reg else (lambda v: f"{v:.1f}")
        cells = [(f"**{fmt(m[c])}**" if c == best else fmt(m[c])) for c in columns]
        lines.append(f"| {t.name} | {t.data} | {t.optimizer} | " + " | ".join(cells) + f" | {short.get(best, best)} |")
    lines.append("| **mean (acc %, R^2 %)** | | | " + " | ".join(f"{summary['mean'][c]:.1f}" for c in columns) + " | |")
    n = len(summary["rows"])
    lines.append("")
    lines.append(f"{seeds} seeds; regression rows are validation MSE (lower is better); bold = best fixed scheme.")
    lines.append(f"auto within 1 point (2 % rel. MSE) of the best fixed scheme: {len(summary['within'])}/{n}"
                 + (f" (missed: {', '.join(t.name for t, _, _ in summary['rows'] if t.name not in summary['within'])})"
                    if len(summary["within"]) < n else ""))
    lines.append(f"auto below {summary.get('default') or 'torch-default (not run)'}: {len(summary['below_default'])}/{n}"
                 + (f" ({', '.join(summary['below_default'])})" if summary["below_default"] else ""))
    for name, (d, lo, hi, reg) in summary.get("paired", {}).items():
        worse = hi < 0 if not reg else lo > 0        # the whole 95 % interval on the wrong side of 0
        unit = "MSE" if reg else "points"
        lines.append(f"  {name}: auto - {summary['default']}, paired by seed: {d:+.3g} {unit} (95 % t-interval "
                     f"[{lo:+.3g}, {hi:+.3g}]): " + ("auto significantly worse" if worse else
                                                        "not significantly different" if lo <= 0 <= hi
                                                        else "auto significantly better"))
    if "auto" in summary["mean"]:
        peers = [c for c in columns if c != "auto"]
        lead = {c: summary["mean"]["auto"] - summary["mean"][c] for c in peers}
        lines.append("auto's mean minus each column's: " + ", ".join(f"{short.get(c, c)} {v:+.1f}"
                                                                      for c, v in lead.items()))
    return "\n".join(lines)


def load(path: str, schedule: str | None = None) -> dict:
    """{(task, column, seed): metric} of a saved file; with `schedule`, refuse a file of another schedule (files
    written before schedules existed hold constant-rate runs and have no "_lr_schedule" key)."""
    with open(path) as fh:
        raw = json.load(fh)
    have = raw.pop("_lr_schedule", "constant")
    if schedule is not None and have != schedule:
        sys.exit(f"auto_quality: {path} holds runs trained with --lr-schedule {have}, not {schedule}; pass "
                 f"--lr-schedule {have} or another --save file")
    return {(n, c, int(s)): v for n, c, s, v in ((*k.split("|"), v) for k, v in raw.items())}


def run(tasks, columns, seeds, jobs: int = 1, log=print, save: str = "", block: int = 5,
        schedule: str = "constant") -> dict:
    """results[(task, column)] = [metric for seed 0..seeds-1], every column of a task trained by one engine call
    per chunk.  A chunk is (task, `block` seeds; 0 = all), chunks seed-block-major: every task gets seeds
    0..block-1, then the next block, so an interrupted run holds complete tables for its first blocks.
    save: a JSON file written after every chunk and read first, so an interrupted run resumes (it records the
    learning-rate schedule, and a file of another schedule is refused)."""
    for t in tasks:
        dataset(t.data)                          # load once, before the engine forks its workers
    done = {}
    if save and os.path.exists(save):
        done = load(save, schedule)
    block = block or seeds
    chunks = [(t, [(c, s) for s in range(lo, min(seeds, lo + block)) for c in columns     # seed-major models:
                   if (t.name, c, s) not in done])                                        # the kernel groups
              for lo in range(0, seeds, block) for t in tasks]                            # one seed's batch
    chunks = [(t, keys) for t, keys in chunks if keys]
    if done:
        log(f"# {len(done)} run(s) loaded from {save}, {sum(len(k) for _, k in chunks)} to train")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                     # one thread (per worker): deterministic, as compare's workers
    shown = set()
    try:
        for t, keys in chunks:
            t0 = time.perf_counter()
            got, out = train_chunk(t, keys, jobs, schedule)
            if t.name not in shown:              # the engine path, once per task
                shown.add(t.name)
                log(f"# {t.name}: engine path {out.path} / {out.engine}: {out.reason}")
            done.update({(t.name, c, s): v for (c, s), v in got.items()})
            if save:
                tmp = save + ".tmp"
                with open(tmp, "w") as fh:
                    json.dump({"_lr_schedule": schedule, **{"|".join(map(str, k)): x for k, x in done.items()}}, fh)
                os.replace(tmp, save)
            log(f"# {t.name}: {len(keys)} run(s) in {time.perf_counter() - t0:.1f}s")
    finally:
        torch.set_num_threads(threads)
    results: dict = {}
    for t in tasks:
        for c in columns:
            results[(t.name, c)] = [done[(t.name, c, s)] for s in range(seeds)]
        log(f"# {t.name}: " + ", ".join(f"{c} {statistics.fmean(results[(t.name, c)]):.3g}" for c in columns))
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)} with 2 seeds")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    ap.add_argument("--columns", default="", help="comma-separated columns (default: all)")
    ap.add_argument("--save", default="", help="JSON file of per-seed results, written after every run and "
                    "read first: a rerun with the same file resumes (skips what is there)")
    ap.add_argument("--merge", nargs="+", default=[], help="print the table of saved JSON files (columns from "
                    "several runs of the same tasks and seeds; training is deterministic) instead of training")
    ap.add_argument("--jobs", type=int, default=2, help="the engine's worker processes, one torch thread each "
                    "(default 2)")
    ap.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "linear"],
                    help="the learning rate over each run's steps: constant (default; the recorded table) or "
                    "decayed to 0 (cosine, linear), for every task and column alike")
    ap.add_argument("--block", type=int, default=5, help="seeds per engine call and per saved chunk (default 5: "
                    "40 models a call; 0 = all seeds of a task in one call)")
    a = ap.parse_args(argv)
    names = a.tasks.split(",") if a.tasks else (QUICK if a.quick else [t.name for t in TASKS])
    unknown = [n for n in names if n not in {t.name for t in TASKS}]
    if unknown:
        sys.exit(f"auto_quality: unknown task(s) {unknown}; expected some of {[t.name for t in TASKS]}")
    tasks = [t for t in TASKS if t.name in names]
    seeds = 2 if a.quick and a.seeds == 3 else a.seeds
    if a.merge:
        runs = {}
        for f in a.merge:
            runs.update(load(f, a.lr_schedule))
        columns = [c for c in ALL_COLUMNS if all((t.name, c, s) in runs for t in tasks for s in range(seeds))]
        res = {(t.name, c): [runs[(t.name, c, s)] for s in range(seeds)] for t in tasks for c in columns}
        print(table(summarize(res, tasks, columns), columns, seeds))
        print(f"(learning rate: {a.lr_schedule})")
        return
    columns, notes = available(a.columns.split(",") if a.columns else COLUMNS)
    for n in notes:
        print("note:", n)
    t0 = time.perf_counter()
    res = run(tasks, columns, seeds, a.jobs, save=a.save, block=a.block, schedule=a.lr_schedule)
    print()
    print(table(summarize(res, tasks, columns), columns, seeds))
    print(f"\n({len(tasks)} tasks x {len(columns)} columns x {seeds} seeds in {time.perf_counter() - t0:.0f}s, "
          f"learning rate {a.lr_schedule}, {a.jobs} process(es) x 1 thread; initlab {initlab.__version__}, torch {torch.__version__}, pid {os.getpid()})")


if __name__ == "__main__":
    main()
