"""The losses of the engine, in its two layouts, and the evaluation sums.

Column-major (M, C, B) is the stacked-MLP kernel's layout (hand-written gradients); row-major
(M, B, C) or (B, C) is the module layout of the autograd and vmap stacks (autograd gradients).
Kinds: "cross_entropy" (class logits), "bce" (one logit, binary), "mse" (regression; the loss of a
sample is its mean over the output dimensions).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("cross_entropy", "mse", "bce")


def metric_name(task: str) -> str:
    return "val_acc" if task == "classification" else "val_mse"


# ---------------------------------------------------------------------------- column-major (kernel)
def loss_and_grad_cm(out: torch.Tensor, y_m: torch.Tensor, kind: str):
    """Per-model mean losses (M,) and d(sum of them)/d out for out (M, C, B), targets y_m (M, 1|D, B)."""
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


def ce_grouped(out, pos, logp_acc, neg, G, P, buf=None):
    """Cross-entropy of out (M, C, b) against the group targets, given as their flat positions `pos`
    (G*P*b,) in a contiguous (G, P, C, b) tensor (target_positions), so no per-model copy of them.

    Adds each sample's log-probability of its target, weighted B/b, to logp_acc (G, P, 1, B), so that at
    the end of the epoch -logp_acc.sum / B is the sum of the steps' mean losses (summing once per epoch
    instead of once per step).  Returns (g, 1/b) with d(sum of means)/d out = g / b; the caller folds
    1/b into the update instead of paying a pass over g.  neg: (G*P*B,) of -1.  buf: an (M, C, b)
    tensor g is written into (the kernel's workspace, TrainWorkspace.g[-1]); None = a new one.
    Flat positions: index_select / index_add_ take ~5 us a step less than gather / scatter_add_ on
    expanded (G, P, 1, b) indices (18 models, 10 classes, batch 16)."""
    M, C, b = out.shape
    B = logp_acc.shape[-1]
    o4 = out.view(G, P, C, b)
    lsm = torch.log_softmax(o4, 2) if buf is None else torch.log_softmax(o4, 2, out=buf.view(G, P, C, b))
    flat = lsm.view(-1)
    if b == B:
        logp_acc.add_(flat.index_select(0, pos).view(G, P, 1, b))
    else:
        logp_acc[..., :b].add_(flat.index_select(0, pos).view(G, P, 1, b), alpha=B / b)
    lsm.exp_()
    flat.index_add_(0, pos, neg[:pos.shape[0]])
    return (lsm.view(M, C, b) if buf is None else buf), 1.0 / b


def target_positions(y_perm: torch.Tensor, B: int, P: int, C: int) -> list[torch.Tensor]:
    """Per step of an epoch (batches of B, the last one shorter), ce_grouped's `pos`: the flat position
    ((g*P + p)*C + y)*b + j of target y of sample j of group g in a (G, P, C, b) tensor, every model p of
    the group sharing the group's targets.  y_perm: (G, n) the groups' targets in batch order."""
    G, n = y_perm.shape
    nf = n // B
    out = []
    for b, y in ((B, y_perm[:, :nf * B].reshape(G, nf, B).transpose(0, 1)), (n - nf * B, y_perm[:, nf * B:][None])):
        if b == 0 or y.shape[0] == 0:
            continue
        base = torch.arange(G * P, device=y.device).view(1, G, P, 1) * (C * b)
        pos = base + y.unsqueeze(2) * b + torch.arange(b, device=y.device)
        out.extend(pos.reshape(y.shape[0], -1).unbind(0))
    return out


def eval_sums_cm(out: torch.Tensor, yb: torch.Tensor, kind: str, task: str, lsum, msum) -> None:
    """Add the loss sums and metric sums (correct predictions | squared errors) of out (M, C, n) to
    lsum, msum (M,) float64.  yb: (n,) classes or (n, D) targets."""
    M = out.shape[0]
    if kind == "cross_entropy":
        lsm = torch.log_softmax(out, 1)
        lsum -= lsm.gather(1, yb.view(1, 1, -1).expand(M, 1, -1)).sum((1, 2))
    elif kind == "bce":
        yt = yb.reshape(1, 1, -1).expand(M, 1, -1).to(out.dtype)
        lsum += F.binary_cross_entropy_with_logits(out, yt, reduction="none").sum((1, 2))
    else:
        lsum += (out - yb.t().unsqueeze(0)).square().mean(1).sum(1)
    if task == "classification":
        # max(1).indices, not argmax(1): the same first maximal index, ~14x faster on this (M, C, n) layout
        pred = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.max(1).indices     # (M, n)
        msum += (pred == yb.reshape(1, -1)).sum(1)
    else:
        msum += (out - yb.t().unsqueeze(0)).square().mean(1).sum(1)


# ---------------------------------------------------------------------------- row-major (modules)
def loss_rm(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-model mean loss for out (M, b, ...) and targets y (M, b, ...) -> (M,)."""
    M, b = out.shape[0], out.shape[1]
    if kind == "cross_entropy":
        return F.cross_entropy(out.reshape(M * b, -1), y.reshape(-1), reduction="none").view(M, b).mean(1)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(out.reshape(M, -1), y.to(out.dtype).reshape(M, -1),
                                                  reduction="none").mean(1)
    return (out - y.to(out.dtype).reshape(out.shape)).square().reshape(M, -1).mean(1)


def eval_sums_rm(out: torch.Tensor, y: torch.Tensor, kind: str, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of losses, sum of the metric) of one model's out (n, ...) on targets y."""
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
