"""One place where every random stream of a training run gets its seed, and the one dropout rule.

A run is identified by its seed s (compare: the run seed; double descent: ``derive_seed("dd-order", s)``).
From s the engine derives, the same way on every stack:

* the batch order: epoch e of run s is ``torch.randperm(n, generator=g)`` with ``g`` seeded by
  ``derive_seed("order", s)`` and drawn once per epoch (the last, smaller batch is kept);
* the dropout masks: a generator seeded by ``derive_seed("dropout", s)``; at every training step the
  dropout layers, in the order the forward pass calls them, draw their masks with `draw_mask`.

So every policy of one seed sees the same batches *and the same dropout masks* (paired comparisons),
whichever stack trains it, and a stack that trains several runs of one seed at once may draw one mask
for all of them.
"""
from __future__ import annotations

import hashlib

import torch

_STREAMS = ("order", "dropout", "dd-order", "dd-init")


def derive_seed(stream: str, seed: int, *parts) -> int:
    """The seed of random stream `stream` of run `seed` (and of `parts`, e.g. a width).

    "order" is the run seed itself (runs stored before this function existed keep their batches);
    "dropout" is an independent 56-bit stream; "dd-order" / "dd-init" are the double-descent sweep's
    batch-order seed of a run seed and init seed of a (seed, width) model (31-bit)."""
    if stream == "order":
        return int(seed)
    if stream == "dropout":
        return int.from_bytes(hashlib.sha256(f"initlab-dropout-{int(seed)}".encode()).digest()[:7], "little")
    if stream in ("dd-order", "dd-init"):
        blob = ":".join(map(str, (stream, int(seed), *parts))).encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF
    raise ValueError(f"derive_seed: unknown stream {stream!r} (one of {', '.join(_STREAMS)})")


def order_generators(seeds) -> list[torch.Generator]:
    """One CPU generator per run seed for the batch order."""
    return [torch.Generator().manual_seed(derive_seed("order", s)) for s in seeds]


def dropout_generator(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derive_seed("dropout", seed))


def draw_mask(gen: torch.Generator, p: float, feature_shape, batch: int, dtype, device) -> torch.Tensor:
    """The dropout rule: the scaled keep-mask of one dropout layer at one step, shape (*features, batch).

    Drawn as ``empty(*features, batch).bernoulli_(1 - p, generator=gen) / (1 - p)``: features first,
    the batch last (the stacked-MLP kernel's layout); a stack holding activations as (batch, *features)
    uses ``mask.movedim(-1, 0)``.  Same generator state, same p and shape -> the same mask everywhere."""
    m = torch.empty((*tuple(feature_shape), int(batch)), dtype=dtype, device=device)
    return m.bernoulli_(1.0 - p, generator=gen).mul_(1.0 / (1.0 - p))
