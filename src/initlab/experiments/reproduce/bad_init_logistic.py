"""`bad-init-logistic` (seed 002): logistic regression trained with MSE from deliberately bad weights.

Data: initlab.data.load("logistic1d"): the 40-point grid -2.0, -1.9, ..., 1.9, label 1
where x > 0.2, plus 40 disjoint random test points.  Model: p = sigmoid(w x + b).
Loss: MSE between p and the 0/1 label.  SGD, lr 2, batch 2, 50 epochs (the source's protocol).

Initial weights compared:
  bad      w = -5, b = -10: z = -5x - 10 lies in (-20, 0] on the data, so p ~ 0 for every
           positive point (x > 0.2 gives z < -11) and sigmoid' ~ 1e-5 there: MSE gradients
           vanish and the model stays at "always 0".
  default  torch's nn.Linear default (w, b ~ U(-1, 1) for one input).
  xavier   Xavier/Glorot uniform on w (U(-sqrt(3), sqrt(3)) for fan_in = fan_out = 1), b = 0.
"""
from __future__ import annotations


from ...experiments.records import config_hash
from ._common import Claim, Context, Figure, Reproduction, loss_record, reproduction, threads, train_minibatch

NAME = "bad-init-logistic"
BAD_W, BAD_B = -5.0, -10.0
LR, BATCH, EPOCHS = 2.0, 2, 50
POLICIES = ("bad", "default", "xavier")
PUBLISHED_BAD_ACC = "~57 (\"around 57 percent\")"


def _model(policy: str, seed: int):
    import torch
    from ...schemes import xavier_uniform_, zeros_
    torch.manual_seed(seed)                       # torch's default init draws from the global generator
    lin = torch.nn.Linear(1, 1)
    with torch.no_grad():
        if policy == "bad":
            lin.weight.fill_(BAD_W)
            lin.bias.fill_(BAD_B)
        elif policy == "xavier":
            xavier_uniform_(lin.weight, generator=torch.Generator().manual_seed(seed))
            zeros_(lin.bias)
    return torch.nn.Sequential(lin, torch.nn.Sigmoid())


def _acc(model, x, y) -> float:
    import torch
    with torch.no_grad():
        return 100.0 * float(((model(x) > 0.5).long().view(-1) == y).float().mean())

def experiment(ctx: Context) -> dict:
    """Data, training (through the engine) and records: every number figures() and claims() read."""
    with threads(1):                                  # a 1-weight model: one thread is fastest
        return _experiment(ctx)


def _experiment(ctx: Context) -> dict:
    import torch
    from ...data import load
    epochs = EPOCHS
    config = {"data": "initlab.data.load('logistic1d', seed=s): 40-point grid, label 1[x > 0.2]; 40 test points",
              "model": "sigmoid(w x + b)", "loss": "MSE on the probability", "optimizer": "SGD",
              "lr": LR, "batch_size": BATCH, "epochs": epochs,
              "bad init": f"w = {BAD_W}, b = {BAD_B}", "xavier": "xavier_uniform_ on w, b = 0",
              "default": "torch nn.Linear default"}
    h = config_hash({**config, "reproduction": NAME})
    res = {p: [] for p in POLICIES}
    records = []
    for s in ctx.seeds:
        ds = load("logistic1d", seed=s)
        x, y = ds.x_train, ds.y_train
        yf = y.float().view(-1, 1)
        for p in POLICIES:
            model = _model(p, s)
            acc0 = _acc(model, x, y)
            with torch.no_grad():
                loss0 = float(torch.nn.functional.mse_loss(model(x), yf))
            losses = train_minibatch(model, x, yf, "mse", "sgd", LR, epochs=epochs, batch_size=BATCH, seed=s)
            row = {"seed": s, "loss0": loss0, "losses": losses, "acc0": acc0,
                   "train_acc": _acc(model, x, y), "test_acc": _acc(model, ds.x_test, ds.y_test),
                   "w": float(model[0].weight.detach()), "b": float(model[0].bias.detach()),
                   "max_p": float(model(x).detach().max())}
            res[p].append(row)
            records.append(loss_record(p, s, h, losses, train_acc=row["train_acc"] / 100,
                                       test_acc=row["test_acc"] / 100))
    always_zero = 100.0 * float((ds.y_train == 0).float().mean())
    return {"config": config, "epochs": epochs, "results": res, "records": records, "always_zero": always_zero}


def figures(exp: dict) -> list[Figure]:
    """Our numbers beside the source's, per policy."""
    res, epochs = exp["results"], exp["epochs"]
    figs = []
    for p in POLICIES:
        rows = res[p]
        figs += [
            Figure(p, "train loss, epoch 1", [r["losses"][0] for r in rows]),
            Figure(p, f"train loss, epoch {epochs}", [r["losses"][-1] for r in rows]),
            Figure(p, "accuracy on the training grid", [r["train_acc"] for r in rows],
                   published=PUBLISHED_BAD_ACC if p == "bad" else None, unit="%",
                   note="the source measures accuracy on its training grid" if p == "bad" else ""),
            Figure(p, "accuracy on 40 disjoint test points", [r["test_acc"] for r in rows], unit="%"),
        ]
    return figs


def claims(exp: dict) -> list[Claim]:
    """The statements checked on the numbers of experiment()."""
    res, always_zero = exp["results"], exp["always_zero"]
    bad = res["bad"]
    level = 1.0 - always_zero / 100.0          # MSE of a model that predicts p = 0 everywhere = share of ones
    flat = max(abs(v - level) / level for r in bad for v in r["losses"])
    out = [
        Claim(f"with the bad init the loss stays flat: every epoch within 2 % of the 'always 0' MSE {level:.3f}",
              flat < 0.02, f"largest deviation {100 * flat:.2f} %"),
        Claim(f"with the bad init the model stays at 'always 0': training accuracy = share of zeros "
              f"({always_zero:.1f} %)", all(abs(r["train_acc"] - always_zero) < 1e-9 for r in bad)),
    ]
    for p in ("default", "xavier"):
        rows = res[p]
        out.append(Claim(f"{p} init converges: final loss below half the bad init's, and >= 90 % training "
                            "accuracy, on every seed",
                            all(r["losses"][-1] < 0.5 * b["losses"][-1] and r["train_acc"] >= 90
                                for r, b in zip(rows, bad)),
                            "final losses " + ", ".join(f"{r['losses'][-1]:.3f}" for r in rows)))
    return out


def notes(exp: dict) -> list[str]:
    bad, always_zero = exp["results"]["bad"], exp["always_zero"]
    out = [f"bad initial weights: w = {BAD_W}, b = {BAD_B} (z = w x + b is in (-20, 0] on the data; the source "
             "shows neither the values nor its plot in the text we have, so these are ours)",
             f"a model stuck at 'always 0' scores {always_zero:.1f} % on this grid (23 zeros of 40): the source's "
             "'around 57 percent'",
             "the source's loss plot (flat line) is reproduced in loss.png, with the default and Xavier curves beside it",
             "final bad-init weights: " + "; ".join(f"seed {r['seed']}: w = {r['w']:.3f}, b = {r['b']:.3f}, "
                                                     f"largest p = {r['max_p']:.3f}" for r in bad[:3])
             + (" ..." if len(bad) > 3 else "")]
    return out


def run(ctx: Context) -> Reproduction:
    """experiment() -> figures(), claims(), notes() (_common.reproduction; reports.reproduce_plots draws the plot)."""
    exp = experiment(ctx)
    curves = {p: {str(r["seed"]): r["losses"] for r in exp["results"][p]} for p in POLICIES}
    return reproduction(ctx, NAME, "seed 002, 'The Effect of Initial Values of Model Weights'", exp, figures, claims,
                        notes, data={"loss_curves": curves}, records=exp["records"])
