"""auto's rules for what is summed into a transformer's residual stream: its untied embedding tables.

    untied embedding in a model with known transformer blocks -> N(0, 1/d), d = embedding_dim

Why.  torch's N(0, 1) gives every row a norm of ~sqrt(d).  In a transformer the embedding tables are summed
into one residual stream with the other inputs (an input projection of real-valued tokens, a token table,
a position table) and with every block's output.  A position table at N(0, 1) then drowns the content (in
benchmarks/auto_quality.py's transformer the input projection's output has per-unit second moment ~0.2, the
position table 1: the model first sees mostly where a token is, not what it is), and a stream that large
makes the blocks' outputs (each scaled 1/sqrt(L) by the residual rule) negligible next to it.  N(0, 1/d)
gives rows of norm ~1, the size of a unit-variance input spread over d units, so no input dominates the
stream by its initial scale.  The practice agrees: GPT-2 and BERT draw all their embedding tables from
N(0, 0.02^2) (0.02 = 0.55/sqrt(768)); T-Fixup and "small init" (Nguyen & Salazar 2019) scale embeddings by
d^-1/2.  Measured (benchmarks/auto_quality.py, transformer, 3 seeds): position table at N(0, 1) 48.5 %,
at N(0, 1/d) 58.5 %, xavier_normal (std 0.22 on this 10 x 32 table) 58.3 %.

Tied tables keep embeddings.py's rule (s/sqrt(d): they are also the head); models without known transformer
blocks (an LSTM language model, a bag of embeddings) keep N(0, 1): there the table is the only input of the
next layer, and unit second moment is what that layer's own rule assumes.
"""
from __future__ import annotations

import math

from .base import Context, weight_decisions


def has_blocks(ctx: Context) -> bool:
    """Whether the model has transformer blocks initlab knows (blocks.py), cached on the context."""
    got = getattr(ctx, "_known_blocks", None)
    if got is None:
        from .blocks import structure
        got = ctx._known_blocks = bool(structure(ctx.model))
    return got


def embedding_decisions(ctx: Context, t) -> list:
    """auto's rows for the embedding weight target `t` (see the module docstring)."""
    from .embeddings import embedding_decisions as base, embedding_std
    std, _ = embedding_std(ctx, t)
    if std != 1.0 or t.param.dim() != 2 or not has_blocks(ctx):
        return base(ctx, t)
    d = int(t.param.shape[-1])
    return weight_decisions(t, "normal", {"mean": 0.0, "std": 1.0 / math.sqrt(d)}, "auto",
                            f"untied embedding summed into a transformer's residual stream -> N(0, 1/d), d={d}: "
                            "rows of norm ~1, so no table (e.g. a position table) drowns the other inputs of the "
                            "stream and the blocks' outputs are not negligible next to it (torch's N(0, 1) gives "
                            "rows of norm sqrt(d); GPT-2/BERT use 0.02 = 0.55/sqrt(768); Nguyen & Salazar 2019)")


__all__ = ["embedding_decisions", "has_blocks"]
