"""auto's rule for a weight whose output only a norm reads, in a model that declares its initialization scale.

    linear/conv weight, every value path from its output ends in a norm (graph.Topology.norm_only)
      ... and the model declares an init std (a Hugging Face config's `initializer_range`) -> N(0, std^2)
      ... otherwise: the fan rules as before (LeCun: "the norm rescales its output")

Why.  A norm divides out its input's scale (BatchNorm per channel over the batch, LayerNorm/RMSNorm per
position), so when nothing but a norm reads a layer's output (a ConvNeXt patch embedding or depthwise conv before
its LayerNorm, a conv before its BatchNorm), the forward pass is the same for every scale of that weight: no
signal-propagation rule can fix it.  What the scale still sets is how fast the weight turns during training: an
Adam step moves each entry by about lr, a relative change of lr / std; an SGD gradient through a norm scales as
1 / std, a relative change of lr / std^2.  So the scale belongs to the training recipe, not to the graph, and the
recipe's learning rates were tuned with the model's own init.  Where the model declares that init, auto keeps
its scale for these weights (the BERT embeddings rule in auto_stream.py is the same reasoning for tables).
Where nothing is declared (a torch model, HF ResNet), the fan rule stays: it does not guess a recipe.

Measured (benchmarks/auto_models.py, CNN group, Fashion-MNIST subset, 8 seeds):
* HF ConvNeXt, Adam 1e-3: LeCun on the patch embedding (fan_in 4: std 0.5, 25x the declared 0.02) and the
  depthwise convs trained to 66.2 %, the model's own init 70.7 %; these weights at 0.02 on top of auto +3.4 +- 0.6
  (seeds 8-15), +2.5 +- 0.4 on held-out seeds 16-31; with this rule auto trains it to 69.9 % (xavier 70.0).
* The scale is a learning-rate choice, so the optimizer matters: HF MobileNetV2 (BatchNorm after every conv,
  declares 0.02) gains with Adam and loses with SGD (numbers in docs/auto_quality.md).  Hugging Face models are
  mostly trained with Adam(W), the recipe the declaration was tuned for; `auto(scale_free="fan")` keeps the fan
  rule (for SGD-trained BatchNorm nets).
* Why a declaration and not a constant: 0.02 on an SGD ResNet's BatchNorm-read convs (HF ResNet declares
  nothing) measured -1.3 +- 1.1.
The 16 tasks of auto_quality.py and the recurrent, GPT-2, BERT, ViT and ResNet tasks are bit-identical with and
without this rule.
"""
from __future__ import annotations

import math

from .base import Context, Decision, use


def declared_std(ctx: Context, t) -> tuple[float, str] | None:
    """(std, where) from the nearest module holding `t` (itself, then its parents, then the root) whose `config`
    declares a positive float `initializer_range` (Hugging Face models), or None."""
    modules = ctx.modules
    name = t.module_name
    while True:
        cfg = getattr(modules.get(name), "config", None)
        std = getattr(cfg, "initializer_range", None)
        if isinstance(std, (int, float)) and not isinstance(std, bool) and math.isfinite(std) and std > 0:
            return float(std), f"{type(modules[name]).__name__}'s config.initializer_range"
        if not name:
            return None
        name = name.rpartition(".")[0]


def decision(ctx: Context, t) -> Decision | None:
    """auto's row for weight target `t` when only norms read its output and the model declares its init std."""
    if (t.family not in ("linear", "conv") or t.part is not None or t.aliases or t.kept is not None
            or t.module_name not in ctx.topology.norm_only):
        return None
    got = declared_std(ctx, t)
    if got is None:
        return None
    std, where = got
    return use(t, "normal", {"mean": 0.0, "std": std}, "auto",
               f"only norms read its output ({ctx.topology.follow[t.module_name].label}): its scale is invisible "
               "to the forward pass and only sets how fast it learns (an Adam step moves an entry by ~lr, a "
               f"relative change lr/std), which the model's recipe was tuned for -> N(0, {std:g}^2), the model's "
               f"declared init ({where})")


__all__ = ["decision", "declared_std"]
