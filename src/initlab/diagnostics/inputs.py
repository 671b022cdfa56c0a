"""What `diagnose` accepts as inputs: whatever the model takes.

    a tensor                    model(x)
    a tuple / list              model(*inputs); entries may be None or other non-tensors (masks left out)
    a dict of keyword inputs    model(**inputs), e.g. {"input_ids": ids, "attention_mask": mask}

The batch is read from the first tensor (in order, dict values in insertion order): its first dim is the
batch, and its statistics are the input's (token ids are not floats: then the first layer's output is the
reference, see core.py).
"""
from __future__ import annotations

import torch

from ..errors import bad_argument

_WHERE = "diagnose"
_EXPECTED = ("a tensor, a tuple of positional inputs (None allowed) or a dict of keyword inputs, holding at "
             "least one tensor with a batch dimension")
_FIX = ("e.g. inputs=torch.randn(256, 784), inputs=(x, None, mask) or inputs={'input_ids': ids}; "
        "initlab.models.example_inputs(model, 256) builds one for the zoo")


class Inputs:
    """Normalized inputs: positional args, keyword args and the first tensor (the batch)."""

    def __init__(self, args: tuple, kwargs: dict, first: torch.Tensor, raw=None):
        self.args, self.kwargs, self.first, self.raw = args, kwargs, first, raw

    def call(self, model):
        return model(*self.args, **self.kwargs)


def _first(values) -> torch.Tensor | None:
    for v in values:
        if isinstance(v, torch.Tensor):
            return v
    return None


def normalize(inputs) -> Inputs:
    if isinstance(inputs, torch.Tensor):
        args, kwargs = (inputs,), {}
    elif isinstance(inputs, dict):
        if not inputs or not all(isinstance(k, str) for k in inputs):
            raise bad_argument(_WHERE, "inputs", f"a dict with keys {list(inputs)[:4]}",
                               "a dict of keyword arguments (string keys) of the model's forward", _FIX)
        args, kwargs = (), dict(inputs)
    elif isinstance(inputs, (tuple, list)) and inputs:
        args, kwargs = tuple(inputs), {}
    else:
        raise bad_argument(_WHERE, "inputs", type(inputs).__name__, _EXPECTED, _FIX)
    x = _first(list(args) + list(kwargs.values()))
    if x is None:
        raise bad_argument(_WHERE, "inputs", type(inputs).__name__ + " without a tensor", _EXPECTED, _FIX)
    if x.dim() == 0 or x.shape[0] < 2:
        raise bad_argument(_WHERE, "inputs.shape", tuple(x.shape), "a batch of at least 2 samples (256 is a good size)",
                           "pass a batch, e.g. torch.randn(256, n_features)")
    if x.numel() == 0:     # e.g. (256, 0): no value to measure a signal on (as3d cannot even shape it)
        raise bad_argument(_WHERE, "inputs.shape", tuple(x.shape), "at least one value per sample",
                           "pass inputs with features, e.g. torch.randn(256, n_features)")
    return Inputs(args, kwargs, x, inputs)


__all__ = ["Inputs", "normalize"]
