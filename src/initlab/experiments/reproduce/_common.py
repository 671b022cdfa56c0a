"""Shared pieces of the reproductions: result records, seed handling, statistics, text, training.

Nothing here holds a result: every figure a reproduction shows is computed by its
`run()` each time it is called.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

from ..jsonsafe import json_safe

BUDGETS = ("full", "quick")

# name -> module, title, source, default number of seeds per budget; `--list` reads this without importing torch
CATALOG = {
    "constant-and-uniform": dict(
        module="constant_and_uniform", source="seed 004",
        title="Fashion-MNIST MLP: zeros, ones, uniform[0,1], centered uniform, general rule, normal, default, auto",
        seeds={"full": 5, "quick": 2}),
    "bad-init-logistic": dict(
        module="bad_init_logistic", source="seed 002",
        title="1-D logistic regression with MSE: bad initial weights stall, default and Xavier converge",
        seeds={"full": 10, "quick": 1}),
    "he-binary": dict(
        module="he_binary", source="seed 000",
        title="2-D points labelled x1 + x2 > 1, 2-64-1 ReLU/sigmoid with He normal, on a disjoint test set",
        seeds={"full": 5, "quick": 2}),
    "housing": dict(
        module="housing", source="seed 003",
        title="California housing (AveRooms, AveOccup): 2-4-3-1 and 2-256-256-256-1, default vs Xavier vs auto",
        seeds={"full": 5, "quick": 1}),
    "backprop": dict(
        module="backprop", source="seed 003",
        title="worked backpropagation example: one gradient-descent step, by hand and by autograd",
        seeds={"full": 1, "quick": 1}),
    "perceptron": dict(
        module="perceptron", source="seed 003",
        title="perceptron learning rule: converges on a separable set, not on an XOR-like set",
        seeds={"full": 10, "quick": 3}),
    "symmetry": dict(
        module="symmetry", source="seeds 003 and 004",
        title="constant init keeps the hidden units of a layer identical; random init breaks the symmetry",
        seeds={"full": 5, "quick": 2}),
}


def mean_ci(values: Sequence[float]) -> tuple[float, list[float] | None]:
    """Mean and Student-t 95 % interval of the mean ([lo, hi]); None for one value or non-finite data."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        return math.nan, None
    m = sum(vals) / n
    if n == 1 or not all(math.isfinite(v) for v in vals):
        return m, None
    from ..stats import t_interval      # Student-t, the same interval compare() reports
    lo, hi = t_interval(vals)
    return m, [lo, hi]


@dataclass
class Figure:
    """One number of the reproduction beside the number the source published (None: it published none)."""
    label: str
    metric: str
    values: list[float]                 # one per seed (or a single exact value)
    published: float | str | None = None
    unit: str = ""
    note: str = ""
    mean: float = math.nan
    ci95: list[float] | None = None
    bounds: tuple | None = None         # the metric's range (e.g. 0..100 %): the interval is clipped to it

    def __post_init__(self):
        self.values = [float(v) for v in self.values]
        if self.bounds is None and self.unit == "%":
            self.bounds = (0.0, 100.0)
        self.mean, self.ci95 = mean_ci(self.values)
        if self.ci95 is not None and self.bounds is not None:
            lo, hi = self.bounds
            self.ci95 = [max(lo, self.ci95[0]), min(hi, self.ci95[1])]

    @property
    def seeds(self) -> int:
        return len(self.values)


@dataclass
class Claim:
    """A statement the reproduction checks on its own numbers (holds is computed, never asserted by hand)."""
    text: str
    holds: bool
    detail: str = ""


@dataclass
class Reproduction:
    name: str
    title: str
    source: str
    budget: str
    seeds: list[int]
    config: dict
    figures: list[Figure] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)          # extra structured output (e.g. the backprop numbers)
    stored: int = 0                                    # runs recorded in the store
    wall_s: float = 0.0
    digits: int = 4                                    # significant digits in the text report
    # what experiment() returned, for the figure code of reports/ (models, data sets): not serialized
    experiment: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return all(c.holds for c in self.claims)

    def figure(self, label: str, metric: str | None = None) -> Figure:
        for f in self.figures:
            if f.label == label and (metric is None or f.metric == metric):
                return f
        raise KeyError((label, metric))

    def to_dict(self) -> dict:
        d = asdict(replace(self, experiment=None))
        d.pop("experiment")
        d["ok"] = self.ok
        d.update(d.pop("data"))
        return json_safe(d)          # the one serializer: NaN and +-inf become null


@dataclass
class Context:
    """What every reproduction's run() receives."""
    name: str
    budget: str
    seeds: list[int]
    store: Any = None
    progress: bool = False            # progress bars on stderr (the CLI turns them on)
    executor: str = "local"           # where the sweeping reproductions' compare() runs ("ray": docs/ray.md)
    address: str | None = None        # the Ray cluster to join with executor="ray" (None: a local Ray)
    started: float = field(default_factory=time.perf_counter)

    @property
    def quick(self) -> bool:
        return self.budget == "quick"


def resolve_seeds(seeds, default: int) -> list[int]:
    """None -> range(default); an int N -> range(N); an iterable -> those seeds (see seeds_arg.parse_seeds)."""
    from ..seeds_arg import parse_seeds
    return parse_seeds(seeds, "reproduce", default=default)


def fmt_num(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if v == int(v) and a < 1e6:
        return str(int(v))
    if a != 0 and (a >= 1e6 or a < 1e-4):
        return f"{v:.3e}"
    if a >= 100:
        return f"{v:.2f}"
    return f"{v:.{digits}g}"


def fmt_figure(f: Figure, digits: int = 4) -> str:
    s = fmt_num(f.mean, digits) + (f" {f.unit}" if f.unit else "")
    if f.ci95 is not None:
        s += f" [{fmt_num(f.ci95[0], digits)}, {fmt_num(f.ci95[1], digits)}]"
    if f.seeds > 1:
        s += f" n={f.seeds}"
    return s


def format_text(r: Reproduction) -> str:
    """Human-readable report: our figures (mean [95 % CI] over seeds) beside the published ones."""
    lines = [f"reproduce {r.name}: {r.title}", f"source: {r.source}",
             f"budget: {r.budget}, seeds: {r.seeds if len(r.seeds) <= 8 else f'{len(r.seeds)} seeds'}"]
    for k, v in r.config.items():
        lines.append(f"  {k}: {v}")
    if r.figures:
        rows = [("what", "metric", "ours: mean [95% CI]", "published")]
        for f in r.figures:
            pub = "-" if f.published is None else (f.published if isinstance(f.published, str)
                                                   else fmt_num(f.published, r.digits) + (f" {f.unit}" if f.unit else ""))
            rows.append((f.label, f.metric, fmt_figure(f, r.digits), pub))
        w = [max(len(row[i]) for row in rows) for i in range(4)]
        lines.append("")
        for i, row in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w[j]) for j, c in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w[j] for j in range(4)))
        notes = [(f.label, f.metric, f.note) for f in r.figures if f.note]
        for label, metric, note in notes:
            lines.append(f"  * {label} / {metric}: {note}")
    if r.claims:
        lines.append("")
        lines.append("claims (checked on the numbers above):")
        for c in r.claims:
            lines.append(f"  [{'ok' if c.holds else 'FAILED'}] {c.text}" + (f" ({c.detail})" if c.detail else ""))
    if r.notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  - {n}" for n in r.notes)
    if r.plots:
        lines.append("")
        lines.append("plots: " + ", ".join(r.plots))
    if r.stored:
        lines.append(f"store: {r.stored} runs recorded")
    lines.append(f"wall time: {r.wall_s:.1f} s")
    return "\n".join(lines)


def record_runs(ctx: Context, config: dict, records: list) -> int:
    """Record finished RunRecords in ctx.store through the run sink (sink.py: the store writer of every
    experiment), one RunSink per config hash, in the order given; returns how many were written."""
    if ctx.store is None or not records:
        return 0
    from ..sink import RunSink
    config = {**config, "reproduction": ctx.name, "budget": ctx.budget}
    sinks: dict = {}
    try:
        for rec in records:
            if rec.config_hash not in sinks:
                sinks[rec.config_hash] = RunSink(ctx.store, config, rec.config_hash, where="reproduce")
            sinks[rec.config_hash].save(rec)
    finally:
        for sink in sinks.values():
            sink.close()
    return sum(sink.saved for sink in sinks.values())


def loss_record(policy: str, seed: int, config_hash: str, losses: list[float], **final):
    """The RunRecord of one train_minibatch run: a history row {epoch, train_loss} per epoch; final = the last
    epoch's train_loss, then `final`."""
    from ..records import RunRecord
    return RunRecord(policy=policy, seed=seed, config_hash=config_hash,
                     history=[{"epoch": e + 1, "train_loss": v} for e, v in enumerate(losses)],
                     final={"train_loss": losses[-1], **final})


def reproduction(ctx: Context, name: str, source: str, exp: dict, figures, claims, notes, *, data: dict,
                 config: dict | None = None, records: list | None = None, record_config: dict | None = None,
                 **fields) -> Reproduction:
    """The Reproduction of one experiment() result `exp`: figures(exp), claims(exp), notes(exp) beside the
    source's, `exp` attached for the plots of reports/ (experiments never import reports), and `records`
    (RunRecords) written to ctx.store (`record_config`, default the config, is the stored config).
    config defaults to exp["config"]; other Reproduction fields (stored=, digits=) pass through."""
    config = exp["config"] if config is None else config
    r = Reproduction(name, CATALOG[name]["title"], source, ctx.budget, ctx.seeds, config=config, figures=figures(exp),
                     claims=claims(exp), notes=notes(exp), data=data, experiment=exp, **fields)
    if records is not None:
        r.stored = record_runs(ctx, config if record_config is None else record_config, records)
    return r


class threads:
    """Run torch on n threads inside the block (tiny models are slower on more threads), then restore."""

    def __init__(self, n: int = 1):
        self.n = n

    def __enter__(self):
        import torch
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.before)


def train_minibatch(model, x, y, loss: str, optimizer: str, lr: float, *, epochs: int, batch_size: int,
                    seed: int) -> list[float]:
    """Train `model` in place through the engine (experiments/engine: AutogradStack + fit) with the source
    tutorials' protocol: shuffled mini-batches, `optimizer` ("sgd" | "adam") at `lr`, `loss` ("mse" on the
    model's output as it is, e.g. a sigmoid; "bce" on a logit; "cross_entropy").  Returns the mean batch
    loss of every epoch.  The batch order of run `seed` is the engine's rule for seed 10_000 + seed (the
    order these reproductions always used).  Used where a reproduction needs the trained weights
    themselves or a loss compare() does not offer; comparisons of many policies go through compare."""
    from ..engine import TrainConfig, TrainData, train_stack
    task = "regression" if loss == "mse" else "classification"
    data = TrainData(task, x, y, x[:1], y[:1])      # the engine evaluates every epoch: on one row, for free
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, loss=loss).check()
    res, = train_stack("sequential", [model], [10_000 + int(seed)], data, cfg)
    model.eval()
    return [h["train_loss"] for h in res.history]
