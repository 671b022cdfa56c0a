"""One optimizer per kind, shared by every stack: SGD (momentum, weight decay), Adam, AdamW.

The update formulas are torch.optim's single-tensor ones (torch/optim/sgd.py, adam.py, adamw.py:
dampening 0, no Nesterov, no AMSGrad), written out on plain tensors so that every stack steps the
same way: the autograd stack over a model's own parameters, the stacked ones over tensors whose
leading axis is the model (or one flat buffer holding them all).  Every update is elementwise, so a
stack of M models updated at once gives each model exactly the update it would get alone (the step
count is shared, which is right because every model of a stack takes every step).
"""
from __future__ import annotations

import math

import torch

OPTIMIZERS = ("sgd", "adam", "adamw")
BETAS = (0.9, 0.999)
EPS = 1e-8


class Optimizer:
    """Updates `params` in place from the gradients passed to `step` (no `.grad`, no autograd)."""

    def __init__(self, params, kind: str, lr: float, *, momentum: float = 0.0, weight_decay: float = 0.0,
                 betas=BETAS, eps: float = EPS):
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer {kind!r} (one of {', '.join(OPTIMIZERS)})")
        self.params = list(params)
        self.kind, self.lr, self.momentum, self.wd = kind, float(lr), float(momentum), float(weight_decay)
        self.b1, self.b2, self.eps = float(betas[0]), float(betas[1]), float(eps)
        self.t = 0
        self.bufs = None                   # SGD momentum buffers (created at the first step, as torch does)
        if kind != "sgd":
            self.m = [torch.zeros_like(p) for p in self.params]
            self.v = [torch.zeros_like(p) for p in self.params]
            self._denom = [torch.empty_like(p) for p in self.params]

    @property
    def plain(self) -> bool:
        """Plain SGD (no momentum, no weight decay): p -= lr * g, which a stack may fuse into its backward."""
        return self.kind == "sgd" and not self.momentum and not self.wd

    @torch.no_grad()
    def step(self, grads) -> None:
        self.t += 1
        if self.kind == "sgd":
            self._sgd(list(grads))
        else:
            self._adam(list(grads))

    def _sgd(self, grads) -> None:
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:                  # a parameter the loss does not reach: torch.optim skips it too
                continue
            if self.wd:
                g = g.add(p, alpha=self.wd)
            if self.momentum:
                if self.bufs is None:
                    self.bufs = [None] * len(self.params)
                if self.bufs[i] is None:
                    self.bufs[i] = g.clone()
                else:
                    self.bufs[i].mul_(self.momentum).add_(g)
                g = self.bufs[i]
            p.add_(g, alpha=-self.lr)

    def _adam(self, grads) -> None:
        bc1 = 1 - self.b1 ** self.t
        bc2_sqrt = math.sqrt(1 - self.b2 ** self.t)
        for p, g, m, v, den in zip(self.params, grads, self.m, self.v, self._denom):
            if g is None:
                continue
            if self.kind == "adamw":
                p.mul_(1 - self.lr * self.wd)
            elif self.wd:
                g = g.add(p, alpha=self.wd)
            m.lerp_(g, 1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            torch.sqrt(v, out=den).div_(bc2_sqrt).add_(self.eps)
            p.addcdiv_(m, den, value=-self.lr / bc1)

    def state(self) -> list[torch.Tensor]:
        """The state tensors shaped like the parameters (to zero a diverged model's rows)."""
        out = []
        if self.bufs is not None:
            out += [b for b in self.bufs if b is not None]
        if self.kind != "sgd":
            out += self.m + self.v
        return out

    @torch.no_grad()
    def reset(self) -> None:
        """Zero every state tensor (a diverged model trained alone)."""
        for t in self.state():
            t.zero_()
