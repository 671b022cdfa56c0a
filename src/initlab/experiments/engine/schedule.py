"""Learning-rate schedules, stepped once per optimizer step (what torch.optim.lr_scheduler does when a
scheduler's `step()` is called after every batch).

With T = epochs * steps_per_epoch steps and t = 0 .. T-1 the step about to be taken:

* constant: lr
* cosine:   lr * (1 + cos(pi * t / T)) / 2   (torch's CosineAnnealingLR(T_max=T, eta_min=0); Loshchilov &
            Hutter 2017, "SGDR", without restarts)
* linear:   lr * (1 - t / T)                 (torch's LinearLR(start_factor=1, end_factor=0, total_iters=T))

Why a schedule at all: at a constant rate the weights keep moving by about lr per step to the end, so the
accuracy after the last epoch jumps by a point or two from one epoch to the next (docs/auto_quality.md,
round 4) and a comparison of initializations by the final epoch measures that noise.  A decayed rate lets
every run settle, the protocol most training recipes use.
"""
from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "cosine", "linear")


def lr_factor(schedule: str, t: int, total: int) -> float:
    """The multiplier of the base learning rate for step t (0-based) of `total` steps."""
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t / total))
    if schedule == "linear":
        return 1.0 - t / total
    raise ValueError(f"lr_schedule {schedule!r} (one of {', '.join(LR_SCHEDULES)})")
