"""Odd models for the model-level fuzz (test_fuzz_models.py): each entry builds a fresh model and its inputs.

Cheap to build (a few ms; the Hugging Face ones are built once from tiny configs and deep-copied), and
chosen for what has broken model-level code before: raw nn.Parameters, tied and frozen parameters,
zero-size layers, recurrent and attention weights that stack several matrices, buffers, nested
containers, meta tensors (transformed in the test), half precision.
"""
from __future__ import annotations

import copy
import functools

import torch
from torch import nn

V = 32          # vocabulary of the token models


class Raw(nn.Module):
    """Parameters that belong to no known layer: a matrix, a vector, a 0-d scalar, a 3-d tensor, a buffer."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3))
        self.b = nn.Parameter(torch.zeros(4))
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.cube = nn.Parameter(torch.randn(2, 4, 2))
        self.register_buffer("shift", torch.ones(3))

    def forward(self, x):
        h = (x + self.shift) @ self.w.t() + self.b
        return h * self.scale + self.cube.sum()


class OddParams(nn.Module):
    """An integer parameter (an index table), a complex one, and a parameter and a buffer registered as None."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.table = nn.Parameter(torch.arange(12).reshape(4, 3), requires_grad=False)
        self.phase = nn.Parameter(torch.randn(4, 3, dtype=torch.cfloat))
        self.register_parameter("unused", None)
        self.register_buffer("missing", None)

    def forward(self, x):
        return self.lin(x) + self.phase.real.sum() + self.table.sum()


class Shared(nn.Module):
    """One module registered under two names and called twice; a layer reused in a loop; a transposed
    (non-contiguous) parameter; a dict output."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = self.a
        self.loop = nn.Linear(3, 3)
        self.wt = nn.Parameter(torch.randn(2, 3).t())        # (3, 2), not contiguous

    def forward(self, x):
        h = self.b(torch.relu(self.a(x)))
        for _ in range(3):
            h = torch.tanh(self.loop(h))
        return {"logits": h @ self.wt, "aux": [h]}


class Tied(nn.Module):
    """An embedding whose weight is also the output layer's (a language model's tied decoder)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 6)
        self.mid = nn.Linear(6, 6)
        self.head = nn.Linear(6, V, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(torch.tanh(self.mid(self.emb(ids))))


class Nested(nn.Module):
    """ModuleDict / ModuleList / ParameterList / ParameterDict inside each other."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleDict({"a": nn.Sequential(nn.Linear(3, 5), nn.ModuleList([nn.Linear(5, 5), nn.GELU()]))})
        self.extra = nn.ParameterList([nn.Parameter(torch.randn(5, 5)), nn.Parameter(torch.zeros(5))])
        self.named = nn.ParameterDict({"gate": nn.Parameter(torch.ones(5))})

    def forward(self, x):
        seq = self.blocks["a"]
        h = seq[1][1](seq[1][0](seq[0](x)))
        return (h @ self.extra[0] + self.extra[1]) * self.named["gate"]


class Attention(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kdim = kw.get("kdim", 8)
        self.vdim = kw.get("vdim", 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, **kw)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        k = x[..., :1].expand(*x.shape[:-1], self.kdim)
        v = x[..., :1].expand(*x.shape[:-1], self.vdim)
        return self.head(self.attn(x, k if self.kdim != 8 else x, v if self.vdim != 8 else x)[0])


class Recurrent(nn.Module):
    def __init__(self, cls, **kw):
        super().__init__()
        self.rnn = cls(3, 4, batch_first=True, **kw)
        out = 4 * (2 if kw.get("bidirectional") else 1) if not kw.get("proj_size") else kw["proj_size"] * (
            2 if kw.get("bidirectional") else 1)
        self.head = nn.Linear(out, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


class Residual(nn.Module):
    """x + f(x) twice, then a head: fixup and zero_init_residual have branches to find."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 6)
        self.f1 = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6))
        self.f2 = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6))
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        h = self.inp(x)
        h = h + self.f1(h)
        h = h + self.f2(h)
        return self.out(h)


def _vec(n=3):
    return lambda b: torch.randn(b, n)


def _seq(n=3, t=4):
    return lambda b: torch.randn(b, t, n)


def _ids(t=4):
    return lambda b: torch.randint(0, V, (b, t))


def _hf(kind):
    from tests import _hf_tiny as hf_tiny          # the tiny configs, shared with tests/models
    if kind == "vit":
        return hf_tiny.vit(layers=1, d=8, image=8, labels=3)
    if kind == "t5":
        return hf_tiny.t5(layers=1, d=8, vocab=V)
    return getattr(hf_tiny, kind)(layers=1, d=8, vocab=V, positions=16)


@functools.lru_cache(maxsize=None)
def _hf_cached(kind):
    return _hf(kind)


def hf(kind):
    return lambda: copy.deepcopy(_hf_cached(kind))


def _hf_inputs(kind):
    if kind == "vit":
        return lambda b: {"pixel_values": torch.randn(b, 3, 8, 8)}
    if kind == "t5":
        return lambda b: {"input_ids": torch.randint(0, V, (b, 4)), "decoder_input_ids": torch.randint(0, V, (b, 3))}
    return lambda b: {"input_ids": torch.randint(0, V, (b, 4))}


# name -> (factory, inputs(batch) or None when no forward pass makes sense)
ZOO = {
    "linear": (lambda: nn.Linear(3, 4), _vec()),
    "mlp-tanh": (lambda: nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2)),
                 _vec()),
    "mlp-dropout-bn": (lambda: nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                                             nn.Linear(8, 2)), _vec()),
    "zero-out": (lambda: nn.Linear(3, 0), _vec()),
    "zero-in": (lambda: nn.Linear(0, 4), _vec(0)),
    "zero-middle": (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 0), nn.Linear(0, 2)), _vec()),
    "zero-conv": (lambda: nn.Sequential(nn.Conv1d(2, 0, 1), nn.Conv1d(0, 3, 1)), lambda b: torch.randn(b, 2, 5)),
    "zero-embedding": (lambda: nn.Sequential(nn.Embedding(V, 0), nn.Flatten(), nn.Linear(0, 2)), _ids()),
    "empty": (lambda: nn.Sequential(), _vec()),
    "parameter-free": (lambda: nn.Sequential(nn.ReLU(), nn.Tanh()), _vec()),
    "raw": (Raw, _vec()),
    "odd-params": (OddParams, _vec()),
    "shared": (Shared, _vec()),
    "scalar-output": (lambda: nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)), _vec()),
    "channels-last": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1)).to(
        memory_format=torch.channels_last), lambda b: torch.randn(b, 2, 5, 5).to(memory_format=torch.channels_last)),
    "tied": (Tied, _ids()),
    "nested": (Nested, _vec()),
    "residual": (Residual, _vec()),
    "mha": (lambda: Attention(), _seq(8)),
    "mha-kv": (lambda: Attention(add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=5), _seq(8)),
    "mha-nobias": (lambda: Attention(bias=False), _seq(8)),
    "lstm": (lambda: Recurrent(nn.LSTM, num_layers=2, bidirectional=True), _seq()),
    "lstm-proj": (lambda: Recurrent(nn.LSTM, proj_size=2), _seq()),
    "gru": (lambda: Recurrent(nn.GRU, bias=False), _seq()),
    "rnn-tanh": (lambda: Recurrent(nn.RNN), _seq()),
    "cells": (lambda: nn.ModuleList([nn.LSTMCell(3, 4), nn.GRUCell(3, 4)]), None),
    "embedding-pad": (lambda: nn.Sequential(nn.Embedding(V, 6, padding_idx=0), nn.Flatten(), nn.Linear(24, 2)), _ids()),
    "embedding-bag": (lambda: nn.Sequential(nn.EmbeddingBag(V, 6), nn.Linear(6, 2)), _ids()),
    "conv-lazy": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                   nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Flatten(), nn.LazyLinear(3)),
                  lambda b: torch.randn(b, 2, 4, 4)),
    "conv-groups": (lambda: nn.Sequential(nn.Conv1d(4, 4, 3, groups=4), nn.SiLU(), nn.Conv1d(4, 2, 1)),
                    lambda b: torch.randn(b, 4, 6)),
    "conv3d": (lambda: nn.Sequential(nn.Conv3d(1, 2, 2), nn.ReLU()), lambda b: torch.randn(b, 1, 3, 3, 3)),
    "norms": (lambda: nn.Sequential(nn.Linear(3, 6), nn.LayerNorm(6, bias=False), nn.Linear(6, 6),
                                    nn.GroupNorm(2, 6), nn.PReLU(), nn.Linear(6, 2)), _vec()),
    "transformer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0), _seq(8)),
    "gpt2": (hf("gpt2"), _hf_inputs("gpt2")),
    "bert": (hf("bert"), _hf_inputs("bert")),
    "vit": (hf("vit"), _hf_inputs("vit")),
    "llama": (hf("llama"), _hf_inputs("llama")),
    "t5": (hf("t5"), _hf_inputs("t5")),
}
