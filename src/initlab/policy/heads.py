"""The scale of the logits at initialization: what a classifier head (or a tied embedding) starts at.

For logits z with std s across C classes (Gaussian, independent of the label), the expected starting
cross-entropy is about ln C + s^2 / 2.  `logit_std(C)` picks s so that the excess is at most 5 % of ln C:

    s = min(1, sqrt(0.1 ln C))       C = 10: 0.48   C = 1000: 0.83   C >= 22027 (e^10): 1

so the first steps are not spent undoing a confident random guess, while the logits stay O(1) (at
GPT-2's 50257 tokens s = 1, i.e. the plain fan_in rule).  Used by `auto` for

  * an embedding tied to an output head: N(0, (s / sqrt(d))^2) (embeddings.py), and
  * the logits layer of a transformer (a model with known blocks, blocks.py), whose input is the output
    of a final LayerNorm and so has unit second moment per feature: fan_in normal with gain s.

Plain MLP heads keep auto's LeCun rule (gain 1): their input scale is not pinned by a norm.
"""
from __future__ import annotations

import math

EXCESS = 0.05        # allowed starting-loss excess, as a fraction of ln C


def logit_std(classes: int) -> float:
    """Target std of the logits at init for `classes` outputs (see the module docstring)."""
    if classes < 2:
        return 1.0
    return min(1.0, math.sqrt(2 * EXCESS * math.log(classes)))


def transformer_head(ctx, t, scheme: str, kwargs: dict, reason: str) -> tuple[str, dict, str]:
    """auto's choice for the logits layer of a model with known transformer blocks (else unchanged)."""
    follow = ctx.topology.follow.get(t.module_name)
    if follow is None or follow.kind != "output" or t.is_bias or t.param.dim() != 2:
        return scheme, kwargs, reason
    from .blocks import structure
    if not _has_blocks(ctx, structure):
        return scheme, kwargs, reason
    classes = int(t.shape[0])
    s = logit_std(classes)
    if s >= 1.0:
        return scheme, kwargs, reason
    return ("variance_scaling", {"scale": s * s, "mode": "fan_in", "distribution": "normal"},
            f"{reason}; transformer head over {classes} classes reading a normalized stream: gain "
            f"{s:.3f} = sqrt(0.1 ln {classes}) so the starting loss is within 5 % of ln {classes} "
            "(ln C + s^2/2 for logits of std s)")


def _has_blocks(ctx, structure) -> bool:
    got = getattr(ctx, "_known_blocks", None)
    if got is None:
        got = ctx._known_blocks = bool(structure(ctx.model))
    return got


__all__ = ["logit_std", "transformer_head", "EXCESS"]
