"""`bert`: the reference initialization of BERT-style models (Devlin et al. 2019; Hugging Face's
BertPreTrainedModel._init_weights and the PreTrainedModel._init_weights it extends):

    dense weights (nn.Linear, Conv1D, conv)  N(0, std^2), std = config.initializer_range = 0.02
    embeddings                               N(0, std^2), the padding_idx row 0
    biases (incl. the MLM head's bias)       0
    LayerNorm                                weight 1, bias 0
    tokens / position tables                 trunc_normal(std 0.02) (HF ViT's rule; shared by every policy)
    nn.MultiheadAttention                    torch's own _reset_parameters: xavier_uniform on the stacked in_proj
    nn.LSTM                                  xavier_uniform on every weight, biases 0

No residual scaling (that is GPT-2's addition: the `gpt2` preset).  A tied decoder is the word embedding,
so it is written once, with the embedding's law.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import bad_argument, check_finite
from .base import Context, Decision, per_target, use, weight_decisions


@dataclass(frozen=True)
class BERT:
    """The `bert` preset: every weight N(0, std^2), biases 0, norms 1/0 (HF BERT's _init_weights)."""

    std: float = 0.02
    name: str = "bert"
    needs_data = False

    def __post_init__(self):
        check_finite("bert", std=self.std)
        if not self.std > 0:
            raise bad_argument("bert", "std", self.std, "std > 0", "e.g. std=0.02 (BERT's initializer_range)")

    def decide(self, ctx: Context) -> list[Decision]:
        def weight(t):
            if t.family == "mha":
                return use(t, "xavier_uniform", {"gain": 1.0}, "bert", "nn.MultiheadAttention: torch's "
                           "_reset_parameters (xavier_uniform on the stacked in_proj), as HF calls it")
            if t.family == "rnn":
                return use(t, "xavier_uniform", {"gain": 1.0}, "bert", "LSTM weight -> xavier_uniform (HF)")
            return weight_decisions(t, "normal", {"mean": 0.0, "std": self.std}, "bert",
                                    f"N(0, {self.std:g}^2) (BERT: config.initializer_range)")
        return per_target(ctx, weight, list(ctx.targets))   # torch's MHA init is on the stacked weight: no split


__all__ = ["BERT"]
