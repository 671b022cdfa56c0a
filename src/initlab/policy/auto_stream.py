"""auto's rules for the two ends of a model: the untied embedding tables that feed a transformer's residual
stream, and a single-output readout.

    untied embedding in a model with known transformer blocks -> N(0, 1/d), d = embedding_dim
      ... or a bare learned token / position table there (ViT cls_token, position_embeddings) -> N(0, 1/d)
      ... of an embeddings block that normalizes its sum (post-norm, HF BERT-style) -> N(0, 0.02^2)
    single-output readout (regression, score, binary logit)   -> zeros (READOUT_GAIN)

Embeddings.  torch's N(0, 1) gives every row a norm of ~sqrt(d).  In a transformer the embedding tables are
summed into one residual stream with the other inputs (an input projection of real-valued tokens, a token
table, a position table) and with every block's output.  A position table at N(0, 1) then drowns the content
(in benchmarks/auto_quality.py's transformer the input projection's output has per-unit second moment ~0.2,
the position table 1: the model first sees mostly where a token is, not what it is), and a stream that large
makes the blocks' outputs negligible next to it.  N(0, 1/d) gives rows of norm ~1, the size of a
unit-variance input spread over d units, so no input dominates the stream by its initial scale.  The
practice agrees: GPT-2 and BERT draw all their embedding tables from N(0, 0.02^2) (0.02 = 0.55/sqrt(768));
"small init" scales embeddings by ~d^-1/2 (Nguyen & Salazar 2019).  Measured (benchmarks/auto_quality.py,
transformer, 3 seeds): position table at N(0, 1) 48.5 %, at N(0, 1/d) 58.9 %, xavier_normal 58.3 %.
Tied tables keep embeddings.py's rule (s/sqrt(d): they are also the head); models without known transformer
blocks (an LSTM language model, a bag of embeddings) keep N(0, 1): there the table is the only input of the
next layer, and unit second moment is what that layer's own rule assumes.

Post-norm embeddings.  In BERT-style models (HF `BertEmbeddings`, RoBERTa, ELECTRA, DistilBERT ...) the tables
live in a module that holds only embeddings, a norm and dropout: the sum goes through that norm before it is
the stream, so the norm removes the tables' common scale from the forward pass.  What the scale still sets is
how fast the tables learn: an Adam step moves each entry by ~lr (a relative change lr/std), and an SGD
gradient through a norm scales as 1/std.  There auto draws them at the model's declared init std (a Hugging Face
config's initializer_range, as auto_scale_free.py does for Linear/conv weights only norms read), else at BERT's
own N(0, 0.02^2) (Devlin et al. 2019): the scale the transformer recipes' learning rates were tuned with.  Measured (benchmarks/auto_models.py,
bert-digits-adam, d = 64, 8 seeds): N(0, 1/d) 78.3 %, N(0, 0.02^2) 87.1 %, +8.8 +- 1.1 paired (LSUV-pkg, which
keeps Hugging Face's 0.02 tables: 87.1 %; on 4 seeds LSUV-pkg with N(0, 1/d) tables fell to 81.1 %).
Pre-norm models (GPT-2) are not affected: their sum is the residual stream, whose scale the blocks see.

A single-output readout (one unit or channel, nothing after it).  An output of std s at init adds s^2 to the
starting MSE of a standardized target, and there is no class count to spread it over: the uninformative
start is the constant prediction (the bias, 0: a standardized target's mean, or p = 0.5 for a binary logit).
So the readout starts at zero: the first steps fit it to the features as they are instead of first undoing
a random function (Fixup starts its classifier at 0 for the same reason, Zhang et al. 2019); the stack gets
gradients from the second step on.  Classifier heads (C >= 2) keep their rules: a small or zero classifier
head measured worse on the residual and very deep tasks of benchmarks/auto_quality.py (-2 to -5 points) and
better on others (relu-d20 +10); no single rule held up across the suite.
"""
from __future__ import annotations

import math

from torch import nn

from .base import Context, weight_decisions

READOUT_GAIN = 0.0   # housing-relu-d6 (auto_quality.py, 5 seeds, MSE): lecun gain 1 0.322, gain 0.1 X, zeros Y


def has_blocks(ctx: Context) -> bool:
    """Whether the model has transformer blocks initlab knows (blocks.py), cached on the context."""
    got = getattr(ctx, "_known_blocks", None)
    if got is None:
        from .blocks import structure
        got = ctx._known_blocks = bool(structure(ctx.model))
    return got


POST_NORM_STD = 0.02   # BERT's embedding std (Devlin et al. 2019; Hugging Face's initializer_range)


def embeddings_norm(ctx: Context, t) -> str | None:
    """The norm of the embeddings block holding `t`'s table (a non-root module whose children are only
    embeddings, norms and dropout, at least one of each of the first two), or None."""
    from .families import family, is_norm
    parent = t.module_name.rpartition(".")[0]
    mod = ctx.modules.get(parent) if parent else None
    if mod is None:
        return None
    kids = list(mod.named_children())
    norms = [n for n, c in kids if is_norm(c)]
    if norms and all(family(c) == "embedding" or is_norm(c) or isinstance(c, nn.Dropout) for _, c in kids):
        return f"{parent}.{norms[0]}"
    return None


def _unit_rows(t, reason: str) -> list:
    """N(0, 1/d) on the last dimension d: rows of norm ~1 (untied tables and bare tables in a transformer)."""
    std = 1.0 / math.sqrt(int(t.param.shape[-1]))
    return weight_decisions(t, "normal", {"mean": 0.0, "std": std}, "auto", reason)


def embedding_decisions(ctx: Context, t) -> list:
    """auto's rows for the embedding weight target `t` (see the module docstring)."""
    from .embeddings import embedding_decisions as base, embedding_std
    std, _ = embedding_std(ctx, t)
    if std != 1.0 or t.param.dim() != 2 or not has_blocks(ctx):
        return base(ctx, t)
    d = int(t.param.shape[-1])
    norm = embeddings_norm(ctx, t)
    if norm is not None:    # the scale-free case of auto_scale_free.py, for tables: the model's declared std
        from .auto_scale_free import declared_std
        std, where = declared_std(ctx, t) or (POST_NORM_STD, "BERT's, Devlin et al. 2019")
        return weight_decisions(t, "normal", {"mean": 0.0, "std": std}, "auto",
                                f"untied embedding of an embeddings block whose sum goes through {norm} before it is "
                                "the residual stream (post-norm, BERT-style): the norm removes the tables' scale "
                                "from the forward pass, which then only sets how fast they learn (an Adam step moves "
                                f"an entry by ~lr) -> N(0, {std:g}^2) ({where})")
    return _unit_rows(t, f"untied embedding summed into a transformer's residual stream -> N(0, 1/d), d={d}: "
                         "rows of norm ~1, so no table (e.g. a position table) drowns the other inputs of the "
                         "stream and the blocks' outputs are not negligible next to it (torch's N(0, 1) gives "
                         "rows of norm sqrt(d); GPT-2/BERT use 0.02 = 0.55/sqrt(768); Nguyen & Salazar 2019)")


def table_decisions(ctx: Context, t) -> list | None:
    """auto's rows for a bare learned token or position table (ViT `cls_token`, `position_embeddings`) in a model
    with known transformer blocks: N(0, 1/d), as untied embedding tables; None elsewhere (the shared 0.02 rule)."""
    if t.family not in ("token", "position") or t.kept is not None or not has_blocks(ctx) or t.param.dim() < 1:
        return None
    d = int(t.param.shape[-1])
    return _unit_rows(t, f"learned {'position table' if t.family == 'position' else 'token'} {t.local!r} summed "
                         f"into (or placed in) a transformer's residual stream -> N(0, 1/d), d={d}, as untied "
                         "embedding tables: rows of norm ~1, so the patch projection's rows do not drown it "
                         "(timm/HF's 0.02 gives rows of norm 0.02 sqrt(d): 0.16 at d = 64; measured on a small ViT "
                         "in benchmarks/auto_models.py)")


def readout(ctx: Context, t, scheme: str, kwargs: dict, reason: str) -> tuple[str, dict, str]:
    """auto's choice for a single-output readout (else unchanged; see the module docstring)."""
    follow = ctx.topology.follow.get(t.module_name)
    if (follow is None or follow.kind != "output" or t.is_bias or t.aliases or t.part is not None
            or scheme != "lecun_normal" or int(t.shape[0]) != 1):
        return scheme, kwargs, reason
    why = (f"{reason}; but a single output (regression, score or binary logit) -> %s: the prediction starts at "
           "its bias (0: a standardized target's mean, p = 0.5) instead of a random function whose variance "
           "adds to the starting error (Fixup starts its classifier at 0, Zhang et al. 2019)")
    g = READOUT_GAIN
    if g == 0:
        return "zeros", {}, why % "zeros"
    return ("variance_scaling", {"scale": g * g, "mode": "fan_in", "distribution": "normal"},
            why % f"gain {g:g} on fan_in")


__all__ = ["embedding_decisions", "embeddings_norm", "has_blocks", "readout", "table_decisions", "POST_NORM_STD",
           "READOUT_GAIN"]
