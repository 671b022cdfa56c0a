"""`symmetry` (seeds 003 and 004): a constant init never breaks the symmetry between hidden units.

With every weight of a layer equal (and equal biases), all hidden units of that layer compute
the same function, receive the same gradient and stay equal after any number of steps of SGD
or Adam (both elementwise).  Random init breaks the tie.  Dropout is the exception to watch:
its random masks hit units differently, so even a constant init drifts apart under it.

Measured after training, for every hidden Linear layer (rows of [W | b] = one unit each):
  distinct units          rows that differ from every earlier row by more than 1e-6 x max|w|
  max pairwise difference max over unit pairs of max |w_i - w_j| (0 = all identical)

Nets and data (real data, trained with initlab.init_ policies):
  fmnist   Fashion-MNIST, 784-256-128-10 ReLU (seed 004's net without its dropout), Adam 1e-3, batch 100
  fmnist+dropout   the same with seed 004's dropout 0.2
  housing  California housing (AveRooms, AveOccup), 2-4-3-1 ReLU (seed 003), Adam 0.01, batch 128
Policies: constant weights (0.01 for Fashion-MNIST, 0.5 for housing; biases 0) vs torch default;
on housing also all zeros, the degenerate constant (no hidden unit ever gets a gradient).
"""
from __future__ import annotations

from ...experiments.records import config_hash
from ._common import Claim, Context, Figure, Reproduction, loss_record, reproduction, threads, train_minibatch

NAME = "symmetry"
BUDGET = {"full": {"fm_subsample": 12000, "fm_epochs": 2, "h_epochs": 10},
          "quick": {"fm_subsample": 1000, "fm_epochs": 1, "h_epochs": 1}}
SETUPS = {
    "fmnist": dict(model="mlp:784-256-128-10:relu", data="fashion-mnist", const=0.01, lr=1e-3, batch=100),
    "fmnist+dropout": dict(model="seed004", data="fashion-mnist", const=0.01, lr=1e-3, batch=100),
    "housing": dict(model="housing-small", data="california-housing", const=0.5, lr=0.01, batch=128),
}
POLICIES = {"fmnist": ("constant", "torch-default"), "fmnist+dropout": ("constant", "torch-default"),
            "housing": ("constant", "zeros", "torch-default")}
REL_TOL = 1e-6


def unit_stats(layer, *, matrix: bool = False):
    """(distinct units, max pairwise difference) over the rows of [W | b] of one Linear layer
    (plus the units x units matrix of max |w_i - w_j| when matrix=True)."""
    import torch
    with torch.no_grad():
        w = layer.weight.detach()
        rows = torch.cat([w, layer.bias.detach().view(-1, 1)], 1) if layer.bias is not None else w
        rows = rows.double()
        diff = (rows[:, None, :] - rows[None, :, :]).abs().amax(-1)       # (units, units)
        tol = REL_TOL * max(1.0, float(rows.abs().max()))
        distinct = 0
        for i in range(len(rows)):
            if i == 0 or float(diff[i, :i].min()) > tol:
                distinct += 1
        return (distinct, float(diff.max()), diff.float().numpy()) if matrix else (distinct, float(diff.max()))


def hidden_layers(model):
    import torch
    lins = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return lins[:-1]

def experiment(ctx: Context) -> dict:
    """Data, training (through the engine) and records: every number figures() and claims() read."""
    with threads(1):
        return _experiment(ctx)


def _data(setup: str, seed: int, b: dict):
    from ...data import load
    if SETUPS[setup]["data"] == "fashion-mnist":
        ds = load("fashion-mnist", seed=seed, subsample=b["fm_subsample"], test=False)
        return ds.x_train, ds.y_train, b["fm_epochs"]
    ds = load("california-housing", seed=seed, features=["AveRooms", "AveOccup"], random_state=5, test=False)
    return ds.x_train, ds.y_train, b["h_epochs"]

def _experiment(ctx: Context) -> dict:
    import torch
    from ...models import build_model
    from ...policy import init_
    b = BUDGET[ctx.budget]
    config = {"setups": {k: {kk: vv for kk, vv in v.items()} for k, v in SETUPS.items()},
              "fashion-mnist training samples": b["fm_subsample"], "fashion-mnist epochs": b["fm_epochs"],
              "housing epochs": b["h_epochs"], "optimizer": "Adam",
              "policies": "('constant', val) with zero biases vs 'torch-default'; all zeros on housing",
              "distinct-unit tolerance": f"{REL_TOL:g} x max|w|"}
    h = config_hash({**config, "reproduction": NAME})
    results = {}          # (setup, policy) -> list of per-seed {layer: (distinct, maxdiff)}
    first_layer_diff = {}  # (setup, policy) -> units x units difference matrix of hidden layer 1, first seed
    records = []
    for setup, spec in SETUPS.items():
        for s in ctx.seeds:
            x, y, epochs = _data(setup, s, b)
            loss_fn, target = ("mse" if y.dtype == torch.float32 else "cross_entropy"), y
            for pol in POLICIES[setup]:
                torch.manual_seed(s)
                model = build_model(spec["model"])
                policy = ("constant", {"val": spec["const"]}) if pol == "constant" else pol
                init_(model, policy, seed=s)
                losses = train_minibatch(model, x, target, loss_fn, "adam", spec["lr"], epochs=epochs,
                                         batch_size=spec["batch"], seed=s)
                stats = [unit_stats(layer) for layer in hidden_layers(model)]
                if s == ctx.seeds[0] and setup.startswith("fmnist"):
                    first_layer_diff[(setup, pol)] = unit_stats(hidden_layers(model)[0], matrix=True)[2]
                widths = [layer.out_features for layer in hidden_layers(model)]
                max_w = max(float(m.weight.detach().abs().max()) for m in model.modules()
                            if isinstance(m, torch.nn.Linear))
                results.setdefault((setup, pol), []).append({"seed": s, "stats": stats, "widths": widths,
                                                             "loss": losses[-1], "max_w": max_w})
                records.append(loss_record(
                    f"{setup}/{pol}", s, h, losses,
                    **{f"distinct_units_layer{i + 1}": d for i, (d, _) in enumerate(stats)},
                    **{f"max_unit_diff_layer{i + 1}": m for i, (_, m) in enumerate(stats)}))
    return {"config": config, "results": results, "records": records, "first_layer_diff": first_layer_diff}


def figures(exp: dict) -> list[Figure]:
    """Distinct units and largest pairwise differences per setup, policy and hidden layer."""
    results = exp["results"]
    figs = []
    for (setup, pol), rows in results.items():
        for i, width in enumerate(rows[0]["widths"]):
            figs.append(Figure(f"{setup} / {pol}", f"hidden layer {i + 1}: distinct units of {width}",
                               [r["stats"][i][0] for r in rows]))
            figs.append(Figure(f"{setup} / {pol}", f"hidden layer {i + 1}: max pairwise difference",
                               [r["stats"][i][1] for r in rows], bounds=(0.0, float("inf"))))
        if pol == "zeros":
            figs.append(Figure(f"{setup} / {pol}", "largest |weight| after training", [r["max_w"] for r in rows],
                               bounds=(0.0, float("inf"))))
    return figs


def claims(exp: dict) -> list[Claim]:
    """The statements checked on the numbers of experiment()."""
    results = exp["results"]

    def all_identical(key):
        return all(d == 1 for r in results[key] for d, _ in r["stats"])

    def all_distinct(key):
        return all(d == w for r in results[key] for (d, _), w in zip(r["stats"], r["widths"]))

    def worst(key):
        return max(m for r in results[key] for _, m in r["stats"])

    return [
        Claim("constant init, Fashion-MNIST (no dropout): every hidden layer still has ONE distinct unit after training",
              all_identical(("fmnist", "constant")), f"largest pairwise difference {worst(('fmnist', 'constant')):.2e}"),
        Claim("constant init, California housing 2-4-3-1: every hidden layer still has ONE distinct unit",
              all_identical(("housing", "constant")), f"largest pairwise difference {worst(('housing', 'constant')):.2e}"),
        Claim("random (torch default) init: every hidden unit is distinct, on both data sets",
              all_distinct(("fmnist", "torch-default")) and all_distinct(("housing", "torch-default"))),
        Claim("dropout breaks the tie even from a constant init (more than one distinct unit per layer)",
              all(d > 1 for r in results[("fmnist+dropout", "constant")] for d, _ in r["stats"]),
              f"largest pairwise difference {worst(('fmnist+dropout', 'constant')):.2e}"),
        Claim("all zeros (housing): every weight is still exactly 0 after training",
              all(r["max_w"] == 0.0 for r in results[("housing", "zeros")])),
    ]


def _worst(results, key):
    return max(m for r in results[key] for _, m in r["stats"])


def notes(exp: dict) -> list[str]:
    results = exp["results"]
    drift = _worst(results, ("fmnist+dropout", "constant"))
    spread = _worst(results, ("fmnist+dropout", "torch-default"))
    return ["the sources state the symmetry argument (seed 003: 'Why not simply initialize with zeros?'; seed 004: "
             "identical outputs make it hard to decide which weights to adjust) but publish no number for it; "
             "every figure here is ours",
             "the dropout row matters for seed 004: its net has dropout 0.2, so its constant-init units are not "
             f"exactly identical after training; they drift apart by at most {drift:.2e} here, against {spread:.2e} "
             "between the units of a randomly initialized net",
             "all zeros is the degenerate constant: hidden outputs are 0, ReLU'(0) = 0 in torch, so no weight "
             "gets a gradient"]


def run(ctx: Context) -> Reproduction:
    """experiment() -> figures(), claims(), notes() (_common.reproduction; reports.reproduce_plots draws the plot)."""
    exp = experiment(ctx)
    units = {f"{k[0]} / {k[1]}": [{"seed": r["seed"], "layers": r["stats"]} for r in v]
             for k, v in exp["results"].items()}
    return reproduction(ctx, NAME, "seeds 003 and 004 (the symmetry argument)", exp, figures, claims, notes,
                        data={"units": units}, records=exp["records"])
