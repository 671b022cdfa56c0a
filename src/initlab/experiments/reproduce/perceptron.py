"""`perceptron` (seed 003): the perceptron learning rule, w <- w + lr (y - sign(w.x)) x.

Two data sets of 100 points in the plane, a bias input appended (x = [x1, x2, 1]):
  separable   uniform on [0, 1]^2, y = +1 where x1 + x2 > 1 else -1 (seed 000's labelling);
  XOR-like    uniform on [-1, 1]^2, y = +1 where x1 x2 > 0 else -1 (not linearly separable).
Each seed draws its own points, visiting order and small random initial weights; we count
the mistakes (updates) in every epoch until an epoch has none or the epoch cap is hit.
Whether a set is linearly separable is checked independently by a linear program.
"""
from __future__ import annotations

import numpy as np

from ...experiments.records import RunRecord, config_hash
from ._common import Claim, Context, Figure, Reproduction, reproduction

NAME = "perceptron"
N_POINTS = 100
LR = 1.0
EPOCH_CAP = {"full": 1000, "quick": 200}


def make_set(kind: str, seed: int, n: int = N_POINTS):
    rng = np.random.default_rng(seed)
    if kind == "separable":
        x = rng.random((n, 2))
        y = np.where(x[:, 0] + x[:, 1] > 1, 1.0, -1.0)
    elif kind == "xor":
        x = rng.uniform(-1, 1, (n, 2))
        y = np.where(x[:, 0] * x[:, 1] > 0, 1.0, -1.0)
    else:  # pragma: no cover
        raise ValueError(kind)
    return np.hstack([x, np.ones((n, 1))]), y


def sign(z: float) -> float:
    return 1.0 if z > 0 else -1.0


def train(x, y, seed: int, epoch_cap: int, lr: float = LR):
    """Perceptron rule in plain numpy; returns (mistakes per epoch, final w, converged)."""
    rng = np.random.default_rng(10_000 + seed)
    w = rng.normal(0.0, 0.01, x.shape[1])
    mistakes = []
    for _ in range(epoch_cap):
        m = 0
        for i in rng.permutation(len(y)):
            pred = sign(float(w @ x[i]))
            if pred != y[i]:
                w = w + lr * (y[i] - pred) * x[i]
                m += 1
        mistakes.append(m)
        if m == 0:
            return mistakes, w, True
    return mistakes, w, False


def linearly_separable(x, y) -> bool | None:
    """Is there w with y_i (w . x_i) >= 1 for all i?  (LP feasibility; None without scipy)."""
    try:
        from scipy.optimize import linprog
    except ImportError:  # pragma: no cover
        return None
    res = linprog(np.zeros(x.shape[1]), A_ub=-(y[:, None] * x), b_ub=-np.ones(len(y)),
                  bounds=[(None, None)] * x.shape[1], method="highs")
    return bool(res.status == 0)


def experiment(ctx: Context) -> dict:
    """The perceptron rule on separable and XOR-like sets (bespoke: the rule, not gradient descent)."""
    cap = EPOCH_CAP[ctx.budget]
    config = {"points": N_POINTS, "lr": LR, "epoch cap": cap, "initial w": "N(0, 0.01^2) per seed",
              "rule": "w <- w + lr (y - sign(w.x)) x, sign(0) = -1, bias as a constant input 1"}
    out = {}
    records = []
    for kind in ("separable", "xor"):
        rows = []
        for s in ctx.seeds:
            x, y = make_set(kind, s)
            mistakes, w, conv = train(x, y, s, cap)
            rows.append({"seed": s, "mistakes": mistakes, "converged": conv, "lp_separable": linearly_separable(x, y),
                         "train_acc": float(np.mean([sign(float(w @ xi)) == yi for xi, yi in zip(x, y)]))})
            records.append(RunRecord(policy=f"perceptron/{kind}", seed=s, config_hash=config_hash({**config, "set": kind}),
                                     history=[{"epoch": e + 1, "mistakes": m} for e, m in enumerate(mistakes)],
                                     final={"mistakes": mistakes[-1], "epochs": len(mistakes), "converged": conv,
                                            "train_acc": rows[-1]["train_acc"]}))
        out[kind] = rows
    return {"config": config, "cap": cap, "out": out, "records": records}


def figures(exp: dict) -> list[Figure]:
    """Epochs, mistakes and accuracy of the rule on both sets."""
    cap = exp["cap"]
    sep, xor = exp["out"]["separable"], exp["out"]["xor"]
    figs = [
        Figure("separable set", "epochs until an epoch with no mistake", [len(r["mistakes"]) for r in sep]),
        Figure("separable set", "total mistakes (updates)", [sum(r["mistakes"]) for r in sep]),
        Figure("separable set", "mistakes in epoch 1", [r["mistakes"][0] for r in sep]),
        Figure("separable set", "final training accuracy", [100 * r["train_acc"] for r in sep], unit="%"),
        Figure("XOR-like set", "runs converged within the cap", [100.0 * r["converged"] for r in xor], unit="%"),
        Figure("XOR-like set", f"mistakes in epoch {cap}", [r["mistakes"][-1] for r in xor]),
        Figure("XOR-like set", "fewest mistakes in any epoch", [min(r["mistakes"]) for r in xor]),
        Figure("XOR-like set", "final training accuracy", [100 * r["train_acc"] for r in xor], unit="%"),
    ]
    return figs


def claims(exp: dict) -> list[Claim]:
    """The statements checked on the numbers of experiment()."""
    cap = exp["cap"]
    sep, xor = exp["out"]["separable"], exp["out"]["xor"]
    return [
        Claim("the LP finds every separable set linearly separable and no XOR-like set",
              all(r["lp_separable"] is not False for r in sep) and all(r["lp_separable"] is not True for r in xor)),
        Claim(f"on the separable set the rule reaches an epoch with no mistake within {cap} epochs (every seed)",
              all(r["converged"] for r in sep),
              "epochs: " + ", ".join(str(len(r["mistakes"])) for r in sep)),
        Claim(f"on the XOR-like set it does not converge within {cap} epochs (every seed)",
              not any(r["converged"] for r in xor),
              "fewest mistakes in an epoch: " + ", ".join(str(min(r["mistakes"])) for r in xor)),
    ]


def notes(exp: dict) -> list[str]:
    cap = exp["cap"]
    return ["the source gives the rule as pseudocode with no data and no figure; every number here is ours",
             f"the XOR-like runs stop at the epoch cap ({cap}), not because they converged: a perceptron cannot reach"
             " zero mistakes on a set that is not linearly separable (the LP confirms it is not)"]


def run(ctx: Context) -> Reproduction:
    """experiment() -> figures(), claims(), notes() (_common.reproduction; reports.reproduce_plots draws the plot)."""
    exp = experiment(ctx)
    mistakes = {k: {str(r["seed"]): r["mistakes"] for r in v} for k, v in exp["out"].items()}
    return reproduction(ctx, NAME, "seed 003, 'The Perceptron' pseudocode", exp, figures, claims, notes,
                        data={"mistakes_per_epoch": mistakes}, records=exp["records"],
                        record_config={**exp["config"], "reproduction": NAME})
