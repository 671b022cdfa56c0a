"""`backprop` (seed 003): the worked backpropagation example, by hand and by autograd.

Net: h1 = w1 x1 + w2 x2, h2 = w3 x1 + w4 x2, y' = w5 h1 + w6 h2 (no biases, no
activation), loss 1/2 (y - y')^2, one gradient-descent step with lr 0.1.
The from-scratch part uses plain Python floats and writes the chain rule out; the
same step is then taken by torch autograd (float64) and the two must agree.
"""
from __future__ import annotations

from ._common import CATALOG, Claim, Context, Figure, Reproduction

NAME = "backprop"                         # deterministic: the seed is not used

X1, X2, Y = 0.5, 1.0, 0.8
W0 = {"w1": 1.0, "w2": 0.5, "w3": 0.5, "w4": 0.7, "w5": 1.0, "w6": 2.0}
LR = 0.1
TOL = 1e-6

# what the source printed (the updated w2 = 0.895 there is a typo: see the notes it produces)
PUBLISHED = {"h1": 1.0, "h2": 0.95, "y_pred": 2.9, "loss_before": 2.205, "dloss_dypred": 2.1,
             "grad_w5": 2.1, "grad_w1": 1.05,
             "w1": 0.895, "w2": 0.895, "w3": 0.29, "w4": 0.28, "w5": 0.79, "w6": 1.8005,
             "y_pred_after": 1.3478, "loss_after": 0.15}


def forward(w: dict, x1: float = X1, x2: float = X2) -> dict:
    h1 = w["w1"] * x1 + w["w2"] * x2
    h2 = w["w3"] * x1 + w["w4"] * x2
    y_pred = w["w5"] * h1 + w["w6"] * h2
    return {"h1": h1, "h2": h2, "y_pred": y_pred}


def loss_of(y_pred: float, y: float = Y) -> float:
    return 0.5 * (y - y_pred) ** 2


def by_hand(w: dict, x1: float = X1, x2: float = X2, y: float = Y, lr: float = LR) -> dict:
    """One step with the chain rule written out, in plain floats."""
    f = forward(w, x1, x2)
    h1, h2, y_pred = f["h1"], f["h2"], f["y_pred"]
    loss = loss_of(y_pred, y)
    # d loss / d y' = 2 * 1/2 * (y - y') * (-1) = y' - y
    d_y = y_pred - y
    # output layer: d y'/d w5 = h1, d y'/d w6 = h2
    g5 = d_y * h1
    g6 = d_y * h2
    # hidden layer: d y'/d h1 = w5, d h1/d w1 = x1, d h1/d w2 = x2 (and w6, x1, x2 for h2)
    d_h1 = d_y * w["w5"]
    d_h2 = d_y * w["w6"]
    g1, g2 = d_h1 * x1, d_h1 * x2
    g3, g4 = d_h2 * x1, d_h2 * x2
    grads = {"w1": g1, "w2": g2, "w3": g3, "w4": g4, "w5": g5, "w6": g6}
    new_w = {k: w[k] - lr * grads[k] for k in w}
    f2 = forward(new_w, x1, x2)
    return {"forward": f, "loss_before": loss, "dloss_dypred": d_y, "gradients": grads,
            "updated_weights": new_w, "forward_after": f2, "loss_after": loss_of(f2["y_pred"], y)}


def by_autograd(w: dict, x1: float = X1, x2: float = X2, y: float = Y, lr: float = LR) -> dict:
    """The same step with torch autograd (float64)."""
    import torch
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    h1 = t["w1"] * x1 + t["w2"] * x2
    h2 = t["w3"] * x1 + t["w4"] * x2
    y_pred = t["w5"] * h1 + t["w6"] * h2
    loss = 0.5 * (y - y_pred) ** 2
    loss.backward()
    grads = {k: float(v.grad) for k, v in t.items()}
    with torch.no_grad():
        new_w = {k: float(v - lr * v.grad) for k, v in t.items()}
        nh1 = new_w["w1"] * x1 + new_w["w2"] * x2
        nh2 = new_w["w3"] * x1 + new_w["w4"] * x2
        ny = new_w["w5"] * nh1 + new_w["w6"] * nh2
    return {"loss_before": float(loss.detach()), "gradients": grads, "updated_weights": new_w,
            "loss_after": 0.5 * (y - ny) ** 2}


def experiment(ctx: Context) -> dict:
    """One gradient-descent step by hand and by autograd (bespoke: no training loop)."""
    hand = by_hand(W0)
    auto = by_autograd(W0)
    pairs = [("loss_before", hand["loss_before"], auto["loss_before"]),
             ("loss_after", hand["loss_after"], auto["loss_after"])]
    pairs += [(f"grad {k}", hand["gradients"][k], auto["gradients"][k]) for k in W0]
    pairs += [(f"updated {k}", hand["updated_weights"][k], auto["updated_weights"][k]) for k in W0]
    return {"hand": hand, "auto": auto, "worst": max(abs(a - b) for _, a, b in pairs)}


def figures(exp: dict) -> list[Figure]:
    """Every number of the worked example beside the source's."""
    hand = exp["hand"]
    figs = [Figure("forward", "h1", [hand["forward"]["h1"]], PUBLISHED["h1"]),
            Figure("forward", "h2", [hand["forward"]["h2"]], PUBLISHED["h2"]),
            Figure("forward", "y'", [hand["forward"]["y_pred"]], PUBLISHED["y_pred"]),
            Figure("loss before the step", "1/2 (y - y')^2", [hand["loss_before"]], PUBLISHED["loss_before"]),
            Figure("gradient", "dloss/dy'", [hand["dloss_dypred"]], PUBLISHED["dloss_dypred"])]
    for k in W0:
        figs.append(Figure("gradient", f"dloss/d{k}", [hand["gradients"][k]], PUBLISHED.get(f"grad_{k}")))
    for k in W0:
        figs.append(Figure("updated weight", k, [hand["updated_weights"][k]], PUBLISHED[k]))
    figs.append(Figure("forward after the step", "y'", [hand["forward_after"]["y_pred"]], PUBLISHED["y_pred_after"]))
    figs.append(Figure("loss after the step", "1/2 (y - y')^2", [hand["loss_after"]], PUBLISHED["loss_after"]))
    return figs


def claims(exp: dict) -> list[Claim]:
    """The statements checked on the numbers of experiment()."""
    hand, worst = exp["hand"], exp["worst"]
    return [Claim(f"hand-written chain rule equals torch autograd within {TOL:g}", worst <= TOL,
                  f"largest difference {worst:.2e} over loss, 6 gradients and 6 updated weights"),
            Claim("one step lowers the loss", hand["loss_after"] < hand["loss_before"],
                  f"{hand['loss_before']:.6f} -> {hand['loss_after']:.6f}")]


def notes(exp: dict) -> list[str]:
    hand, out = exp["hand"], []
    for k in W0:
        ours = hand["updated_weights"][k]
        if abs(ours - PUBLISHED[k]) > 5e-4:
            out.append(f"the source prints updated {k} = {PUBLISHED[k]}, but {W0[k]} - {LR} x {hand['gradients'][k]:.4f}"
                       f" = {ours:.4f}; its own next forward value y' = {PUBLISHED['y_pred_after']} only follows from"
                       f" {k} = {ours:.4f} (with {k} = {PUBLISHED[k]} y' would be "
                       f"{forward({**hand['updated_weights'], k: PUBLISHED[k]})['y_pred']:.4f}), so it is a typo")
    out.append("the source shows only dloss/dw5 and dloss/dw1; the other four gradients are ours alone")
    out.append(f"the source rounds the new loss to {PUBLISHED['loss_after']}; exact value {hand['loss_after']:.6f}")
    return out


def run(ctx: Context) -> Reproduction:
    """experiment() -> figures(), claims(), notes(); the record carries experiment() for reports.reproduce_plots,
    which draws the plot (experiments never import reports)."""
    exp = experiment(ctx)
    hand, auto = exp["hand"], exp["auto"]
    data = {"loss_before": hand["loss_before"], "loss_after": hand["loss_after"],
            "gradients": hand["gradients"], "updated_weights": hand["updated_weights"],
            "forward": hand["forward"], "forward_after": hand["forward_after"],
            "autograd": auto, "max_abs_difference": exp["worst"]}
    return Reproduction(NAME, CATALOG[NAME]["title"], "seed 003, worked backpropagation example", ctx.budget, ctx.seeds,
                        config={"inputs": f"x1={X1}, x2={X2}, y={Y}", "initial weights": W0, "lr": LR,
                                "net": "h1=w1x1+w2x2, h2=w3x1+w4x2, y'=w5h1+w6h2 (no bias, no activation)"},
                        figures=figures(exp), claims=claims(exp), notes=notes(exp), data=data, digits=8,
                        experiment=exp)
