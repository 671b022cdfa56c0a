"""`he-binary` (seed 000): a 2-64-1 ReLU/sigmoid classifier with He-normal weights on 2-D points.

Data: initlab.data.load("points2d", n_test=1000): 100 training points uniform in the unit
square labelled 1 where x1 + x2 > 1, and test points from the same seeded stream drawn
without replacement, so no test point is a training point (checked here, row by row).
The first 20 test points are a test set of the source's size; all 1000 give a tighter estimate.
Model: the zoo's "he-binary" (Linear(2, 64), ReLU, Linear(64, 1)) with kaiming_normal_ on
both weights (torch's defaults: fan_in, gain sqrt(2)), biases left at torch's default;
sigmoid + binary cross-entropy (as BCE-with-logits); SGD lr 0.01, batch 16, 1000 epochs.
torch's default init is trained beside it for reference.

The source's own test set: it calls its generator again with the same fixed numpy seed
(np.random.seed(0) then np.random.rand(20, 2)), which yields exactly the first 20 of its
100 training points.  We rebuild both arrays that way and count the shared rows.
"""
from __future__ import annotations

import numpy as np

from ...experiments.records import config_hash
from ._common import Claim, Context, Figure, Reproduction, loss_record, reproduction, threads, train_minibatch

NAME = "he-binary"
LR, BATCH = 0.01, 16
EPOCHS = {"full": 1000, "quick": 150}
N_TEST = 1000
POLICIES = ("he_normal", "default")
PUBLISHED = {"acc": 100.0, "loss_at": {100: 0.4184, 200: 0.2807, 300: 0.2209, 400: 0.1875, 500: 0.1531,
                                        600: 0.1704, 700: 0.1382, 800: 0.1160, 900: 0.1246, 1000: 0.1028}}


def source_test_set_overlap() -> dict:
    """Rebuild the source's train (100) and test (20) arrays its way and count the shared rows."""
    train = np.random.RandomState(0).rand(100, 2)     # what np.random.seed(0); np.random.rand(100, 2) gives
    test = np.random.RandomState(0).rand(20, 2)       # its test call re-seeds with 0
    rows = {r.tobytes(): i for i, r in enumerate(train)}
    shared = [rows[r.tobytes()] for r in test if r.tobytes() in rows]
    return {"train": 100, "test": 20, "shared": len(shared), "shared_rows": shared}


def _shared_rows(a, b) -> int:
    seen = {r.tobytes() for r in a.numpy()}
    return sum(r.tobytes() in seen for r in b.numpy())


def _model(policy: str, seed: int):
    import torch
    from ...models import build_model
    from ...schemes import kaiming_normal_
    torch.manual_seed(seed)                         # torch's default init uses the global generator
    m = build_model("he-binary")
    if policy == "he_normal":
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in m:
                if isinstance(layer, torch.nn.Linear):
                    kaiming_normal_(layer.weight, generator=g)
    return m


def _acc(model, x, y) -> float:
    import torch
    with torch.no_grad():
        return 100.0 * float(((model(x) > 0).long().view(-1) == y.view(-1)).float().mean())


def experiment(ctx: Context) -> dict:
    """Data, training (through the engine) and records: every number figures() and claims() read."""
    with threads(1):                                  # a 2-64-1 net: one thread is fastest
        return _experiment(ctx)


def _experiment(ctx: Context) -> dict:
    from ...data import load
    epochs = EPOCHS[ctx.budget]
    config = {"data": f"initlab.data.load('points2d', seed=s, n_test={N_TEST}): 100 train, {N_TEST} disjoint test",
              "model": "he-binary (2-64-1, ReLU, one logit; sigmoid in the loss)",
              "init": "kaiming_normal_ on both weights (fan_in, gain sqrt 2), torch default biases; "
                      "torch default for reference",
              "loss": "binary cross-entropy (BCEWithLogitsLoss)", "optimizer": "SGD", "lr": LR,
              "batch_size": BATCH, "epochs": epochs}
    h = config_hash({**config, "reproduction": NAME})
    res = {p: [] for p in POLICIES}
    records, overlaps, first = [], [], None
    for s in ctx.seeds:
        ds = load("points2d", seed=s, n_test=N_TEST)
        overlaps.append(_shared_rows(ds.x_train, ds.x_test))
        yf = ds.y_train.float().view(-1, 1)
        for p in POLICIES:
            model = _model(p, s)
            losses = train_minibatch(model, ds.x_train, yf, "bce", "sgd", LR, epochs=epochs, batch_size=BATCH, seed=s)
            row = {"seed": s, "losses": losses, "train_acc": _acc(model, ds.x_train, ds.y_train),
                   "test20": _acc(model, ds.x_test[:20], ds.y_test[:20]),
                   "test": _acc(model, ds.x_test, ds.y_test),
                   "source_style": _acc(model, ds.x_train[:20], ds.y_train[:20])}
            res[p].append(row)
            if p == "he_normal" and first is None:
                first = (model, ds)                   # drawn in the plot
            records.append(loss_record(p, s, h, losses, train_acc=row["train_acc"] / 100, test_acc=row["test"] / 100))
    return {"config": config, "epochs": epochs, "results": res, "records": records, "overlaps": overlaps,
            "source": source_test_set_overlap(), "first": first, "seed": ctx.seeds[0], "published": PUBLISHED}


def figures(exp: dict) -> list[Figure]:
    """Our numbers beside the source's, per policy."""
    figs, epochs = [], exp["epochs"]
    for p in POLICIES:
        rows = exp["results"][p]
        pub = (lambda v: v) if p == "he_normal" else (lambda v: None)
        for e in sorted(PUBLISHED["loss_at"]):
            if e <= epochs and (e in (100, epochs) or e % 500 == 0):
                figs.append(Figure(p, f"train loss, epoch {e}", [r["losses"][e - 1] for r in rows],
                                   published=pub(PUBLISHED["loss_at"][e])))
        figs += [
            Figure(p, "training accuracy", [r["train_acc"] for r in rows], unit="%"),
            Figure(p, "accuracy on the source's kind of test set (= training points 0-19)",
                   [r["source_style"] for r in rows], published=pub(PUBLISHED["acc"]), unit="%",
                   note="the source's 20 test points are its first 20 training points" if p == "he_normal" else ""),
            Figure(p, "test accuracy, 20 disjoint points", [r["test20"] for r in rows], unit="%"),
            Figure(p, f"test accuracy, {N_TEST} disjoint points", [r["test"] for r in rows], unit="%"),
        ]
    return figs


def claims(exp: dict) -> list[Claim]:
    """The statements checked on the numbers of experiment()."""
    he, src, overlaps = exp["results"]["he_normal"], exp["source"], exp["overlaps"]
    return [
        Claim("our test points share no sample with the training points (every seed)", max(overlaps) == 0,
              f"shared rows per seed: {overlaps}"),
        Claim("the source's test set is a subset of its training set (rebuilt the source's way)",
              src["shared"] == src["test"], f"{src['shared']} of {src['test']} test points are training rows "
                                            f"{src['shared_rows'][:3]}...{src['shared_rows'][-1:]}"),
        Claim(f"He init learns the rule: >= 90 % accuracy on the {N_TEST} disjoint test points (every seed)",
              all(r["test"] >= 90 for r in he), ", ".join(f"{r['test']:.1f}" for r in he)),
        Claim("the training loss falls (last epoch below the first, every seed)",
              all(r["losses"][-1] < r["losses"][0] for r in he)),
    ]


def notes(exp: dict) -> list[str]:
    src = exp["source"]
    return [f"what we found about the source's test set: generate_dataset() calls np.random.seed(0) every time, so "
            f"generate_dataset(num_samples=20) returns the first 20 of the 100 training points; {src['shared']} of "
            f"{src['test']} 'test' points were trained on, and its 100 % is a training accuracy",
            "our test points come from the same distribution and labelling but are drawn after the training points "
            "from one seeded stream without replacement (initlab.data 'points2d'), and we check no row is shared",
            "20 test points give accuracy in steps of 5 %; the 1000-point figure is the one to trust",
            "the source's losses come from one unseeded run (its shuffling and init are not seeded); ours are "
            "means over seeds"]


def run(ctx: Context) -> Reproduction:
    """experiment() -> figures(), claims(), notes() (_common.reproduction; reports.reproduce_plots draws the plot)."""
    exp = experiment(ctx)
    return reproduction(ctx, NAME, "seed 000, 'Train the model' and 'Evaluation'", exp, figures, claims, notes,
                        data={"source_test_set": exp["source"], "shared_rows_per_seed": exp["overlaps"]},
                        records=exp["records"])
