"""The output-scale verdict: logits far from O(1) at initialization ("overconfident at init").

A classifier (or language model) whose logits z have std s across classes starts with a cross-entropy of
about ln C + s^2 / 2 on labels it knows nothing about (for Gaussian logits: E[logsumexp z] ~ ln C + s^2/2),
so s >> 1 means a confident, random prediction: the first steps are spent shrinking the logits, and with a
head tied to the embedding the input side shrinks with them.  Measured on the model's output:

    logit std    per-row std across the C classes (RMS over rows)
    loss         cross-entropy on the given integer targets, else on uniformly random labels
                 (= mean over rows of logsumexp(z) - mean(z)), compared with ln C

Judged when the output has C >= 2 classes on its last dim and the targets (if any) are class indices.
Thresholds: `Thresholds.overconfident_loss` (x ln C, and `overconfident_excess` nats above it) and
`overconfident_std`.
"""
from __future__ import annotations

import math

import torch

from .fixes import AUTO_HINT


def measure(y: torch.Tensor, targets) -> dict:
    """Statistics of the output as logits ({} when it is not a classifier's output)."""
    if y is None or y.dim() < 2 or y.shape[-1] < 2 or not y.is_floating_point():
        return {}
    if targets is not None and (targets.is_floating_point() or tuple(targets.shape) != tuple(y.shape[:-1])):
        return {}          # regression targets, or labels this output does not line up with
    with torch.no_grad():
        z = y.detach().reshape(-1, y.shape[-1]).double()
        c = z.shape[-1]
        if not bool(torch.isfinite(z).all()):
            return {}
        std = float(z.std(dim=-1).square().mean().sqrt())
        lse = torch.logsumexp(z, dim=-1)
        if targets is not None:
            t = targets.reshape(-1).long()
            loss, on = float((lse - z.gather(1, t[:, None])[:, 0]).mean()), "the targets"
        else:
            loss, on = float((lse - z.mean(-1)).mean()), "uniformly random labels"
    return {"classes": c, "logit_std": std, "loss": loss, "loss_on": on, "ln_classes": math.log(c),
            "loss_ratio": loss / math.log(c)}


def head_info(model, diag_layers, params) -> dict:
    """The output layer's weight, and the embedding it is tied to (if any), for the fix."""
    from ..policy.ties import alias_groups
    head = next((l for l in reversed(diag_layers) if l.is_output and l.weight_layer), None)
    if head is None:
        return {}
    mods = dict(model.named_modules())
    w = getattr(mods.get(head.base_name), "weight", None)
    name = f"{head.base_name}.weight"
    out = {"head": head.base_name}
    if isinstance(w, torch.Tensor) and w.dim() == 2:
        out.update(head_weight_std=float(w.detach().float().std()), fan_in=int(w.shape[1]))
        for names in alias_groups(model).values():
            if name in names and len(names) > 1:
                tied = next((n for n in names if n != name and isinstance(mods.get(n.rpartition(".")[0]),
                                                                            (torch.nn.Embedding,))), None)
                if tied is not None:
                    out["tied_to"] = tied
    return out


def verdicts(diag) -> list:
    from .verdicts import Verdict, num
    o = diag.output
    th = diag.thresholds
    if not o or "loss" not in o:
        return []
    loss_high = (o["loss_ratio"] > th.overconfident_loss
                 and o["loss"] - o["ln_classes"] > th.overconfident_excess)
    if not (loss_high or o["logit_std"] > th.overconfident_std):
        return []
    msg = (f"output: overconfident at init (logit std {num(o['logit_std'])} across {o['classes']} classes; starting "
           f"loss {num(o['loss'])} on {o['loss_on']} = {num(o['loss_ratio'])}x ln({o['classes']}) = "
           f"{num(o['ln_classes'])})")
    d = o.get("fan_in")
    if o.get("tied_to"):
        std = 1.0 / math.sqrt(d)
        fix = (f"the output head {o['head']!r} shares its weight with the embedding {o['tied_to']!r} (std "
               f"{num(o.get('head_weight_std', math.nan))}), so logits = h . E^T have std ~ sqrt({d}) x that; give the "
               f"tied embedding N(0, 1/d) = std {num(std)} (logit std ~1, loss ~ ln C), as {AUTO_HINT} does for tied "
               "heads")
    elif d:
        target = 1.0 / math.sqrt(d)
        fix = (f"the output layer {o['head']!r} has weight std {num(o.get('head_weight_std', math.nan))}; scale it "
               f"down by ~{num(o['logit_std'])} or re-draw it with lecun_normal (std {num(target)} for fan_in {d}, "
               f"auto's rule for a logits layer), e.g. initlab.init_(model.{o['head']}, 'lecun_normal'), or zero it; "
               f"or {AUTO_HINT}")
    else:
        fix = f"scale the last layer down so the logits are O(1) at init, or {AUTO_HINT}"
    ev = {k: o[k] for k in ("logit_std", "loss", "loss_ratio", "classes") if k in o}
    ev["thresholds"] = {"loss_ratio": th.overconfident_loss, "loss_excess": th.overconfident_excess,
                         "logit_std": th.overconfident_std}
    return [Verdict("overconfident", msg, fix, layers=[o["head"]] if o.get("head") else [], evidence=ev)]


__all__ = ["measure", "head_info", "verdicts"]
