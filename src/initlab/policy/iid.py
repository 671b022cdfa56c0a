"""Drawing an i.i.d. law straight into a parameter stored transposed (HF Conv1D's (in, out) weight).

A plan row of a transposed parameter describes the (out, in) view, whose fans decide the law.  When the
law is i.i.d. per entry (normal, uniform: every fan-based variance-scaling scheme ends as one of these) the
layout does not matter for the distribution, so the entries are drawn in the stored, contiguous order: an
in-place draw on the non-contiguous transposed view is ~8x slower on CPU, and drawing into a buffer and
copying it across costs a full transposed copy.  Structured laws (orthogonal, identity, sparse, truncated)
return False and are drawn on the view as usual.
"""
from __future__ import annotations

import torch


def draw(param: torch.Tensor, row, gen) -> bool:
    """Draw row.law into `param` (the whole stored tensor) if it is i.i.d. normal/uniform; True when done."""
    law = row.law
    if (row.part is not None or law is None or param.dtype not in (torch.float32, torch.float64)
            or (param.device.type != "cpu" and gen is not None)):
        return False               # low precision and other devices: the scheme's own path (float32 draws, CPU gen)
    if law.get("dist") == "normal" and row.scheme in ("normal", "variance_scaling", "kaiming_normal",
                                                      "xavier_normal", "lecun_normal", "general_rule_normal"):
        param.normal_(law["mean"], law["std"], generator=gen)
        return True
    if law.get("dist") == "uniform" and row.scheme in ("uniform", "variance_scaling", "kaiming_uniform",
                                                       "xavier_uniform", "lecun_uniform", "general_rule_uniform",
                                                       "inverse_fan_uniform", "centered_uniform"):
        param.uniform_(law["low"], law["high"], generator=gen)
        return True
    return False


__all__ = ["draw"]
