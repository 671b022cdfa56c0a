"""`auto`'s rule for embeddings: what scale a lookup table starts at.

    untied embedding              -> N(0, 1): torch's default, unit second moment for the next layer
    embedding tied to an output   -> N(0, s^2/d), d = embedding_dim, s = heads.logit_std(V) (1 for V >= e^10,
    head (GPT-2 lm_head = wte,       0.83 at V = 1000).  The head computes logits = h . E^T where h is the final
    BERT MLM decoder)                hidden state; after the final LayerNorm every unit of h has second moment 1,
                                     so each logit has variance d * Var(E) = s^2: logits O(1) and a starting loss
                                     within 5 % of ln V (Press & Wolf 2017 tie the two; s/sqrt(d) is the fan_in
                                     rule for the head, LeCun et al. 1998, at gain s)
    an embedding added to a tied  -> the same N(0, s^2/d) (position / token-type tables of the same width):
    one (same width)                 they are summed into one stream, so none should drown the others

N(0, 1) on a tied head gives logits of std sqrt(d) (11.3 at d = 128) and a starting loss many times ln V.
"""
from __future__ import annotations

import math

from .base import Context, weight_decisions
from .heads import logit_std
from .ties import tied_head


def embedding_std(ctx: Context, t) -> tuple[float, str]:
    """(std, why) for the embedding weight target `t`."""
    d = int(t.param.shape[-1])
    head = tied_head(ctx.model, t)
    if head is not None:
        v = int(t.param.shape[0])
        s = logit_std(v)
        return s / math.sqrt(d), (f"embedding tied to the output head {head!r} -> N(0, s^2/d), d={d}, s={s:.3g} "
                                  f"(heads.logit_std({v})): the head's logits h . E^T then have std s for a "
                                  f"unit-scale final hidden state (logits O(1), starting loss within 5 % of ln {v})")
    tied = _tied_embeddings(ctx)
    same = [(n, std) for n, w, std in tied if w == d]
    if same:
        return same[0][1], (f"embedding summed into the same stream as {same[0][0]!r} (tied to the output head) "
                            f"-> the same std {same[0][1]:.4g}, so neither drowns the other")
    return 1.0, "embedding -> N(0, 1): unit second moment for the next layer (torch's default)"


def _tied_embeddings(ctx: Context) -> list:
    cached = getattr(ctx, "_tied_embeddings", None)
    if cached is None:
        cached = [(t.param_name, int(t.param.shape[-1]), embedding_std(ctx, t)[0]) for t in ctx.targets
                  if t.family == "embedding" and t.param.dim() == 2 and tied_head(ctx.model, t) is not None]
        ctx._tied_embeddings = cached
    return cached


def embedding_decisions(ctx: Context, t, rule: str = "auto") -> list:
    std, why = embedding_std(ctx, t)
    return weight_decisions(t, "normal", {"mean": 0.0, "std": std}, rule, why)


__all__ = ["embedding_std", "embedding_decisions"]
