"""`auto`'s rule for embeddings: what scale a lookup table starts at.

    untied embedding              -> N(0, 1): torch's default, unit second moment for the next layer
    embedding tied to an output   -> N(0, 1/d), d = embedding_dim.  The head computes logits = h . E^T where h
    head (GPT-2 lm_head = wte,       is the final hidden state; after the final LayerNorm every unit of h has
    BERT MLM decoder)                second moment 1, so each logit has variance d * Var(E) = 1: logits O(1)
                                     and a starting loss near ln V (Press & Wolf 2017 tie the two; the 1/sqrt(d)
                                     is the fan_in rule for the head: LeCun et al. 1998)
    an embedding added to a tied  -> the same N(0, 1/d) (position / token-type tables of the same width): they
    one (same width)                 are summed into one stream, so none of them should drown the others

N(0, 1) on a tied head gives logits of std sqrt(d) (11.3 at d = 128) and a starting loss many times ln V.
"""
from __future__ import annotations

import math

from .base import Context, weight_decisions
from .ties import tied_head


def embedding_std(ctx: Context, t) -> tuple[float, str]:
    """(std, why) for the embedding weight target `t`."""
    d = int(t.param.shape[-1])
    head = tied_head(ctx.model, t)
    if head is not None:
        return 1.0 / math.sqrt(d), (f"embedding tied to the output head {head!r} -> N(0, 1/d), d={d}: the head's "
                                    "logits h . E^T then have variance 1 for a unit-scale final hidden state "
                                    "(logits O(1), starting loss near ln V)")
    tied = _tied_embeddings(ctx)
    same = [n for n, w in tied if w == d]
    if same:
        return 1.0 / math.sqrt(d), (f"embedding summed into the same stream as {same[0]!r} (tied to the output "
                                    f"head) -> the same N(0, 1/d), d={d}, so neither drowns the other")
    return 1.0, "embedding -> N(0, 1): unit second moment for the next layer (torch's default)"


def _tied_embeddings(ctx: Context) -> list:
    cached = getattr(ctx, "_tied_embeddings", None)
    if cached is None:
        cached = [(t.param_name, int(t.param.shape[-1])) for t in ctx.targets
                  if t.family == "embedding" and t.param.dim() == 2 and tied_head(ctx.model, t) is not None]
        ctx._tied_embeddings = cached
    return cached


def embedding_decisions(ctx: Context, t, rule: str = "auto") -> list:
    std, why = embedding_std(ctx, t)
    return weight_decisions(t, "normal", {"mean": 0.0, "std": std}, rule, why)


__all__ = ["embedding_std", "embedding_decisions"]
