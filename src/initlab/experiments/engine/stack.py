"""The one interface `fit` trains through, and what every stack shares.

A Stack holds M models (already initialized) and their run seeds, and trains them together:

    start_epoch(perm)   perm (U, n): this epoch's batch order of each distinct seed (`useeds` order)
    train_step(i)       forward/backward of step i on every live model, then the optimizer step
    set_lr(lr)          the learning rate of the following steps (fit's schedule; base: every optimizer made here)
    end_epoch()         (M,) sum over the epoch's steps of each model's mean batch loss
    evaluate(x, y)      (M,) float64 sums of the loss and of the metric (correct | squared error) on x, y
    kill(idx)           models idx diverged: zero their parameters and optimizer state, stop updating them
    write_back()        the trained weights into the given modules

Implementations: AutogradStack (any module, one at a time), VmapStack (torch.func over stacked
weights), MLPStack (the stacked-MLP kernel, with width masks).  All draw batches and dropout masks by
the rules of seeds.py and step with optim.Optimizer, so they agree to float rounding.
"""
from __future__ import annotations

import torch

from .optim import Optimizer


class Stack:
    """Base class: seeds bookkeeping and the optimizer construction shared by every stack."""
    name = "stack"

    def __init__(self, models, seeds, data, cfg, kind: str):
        self.models = list(models)
        self.seeds = [int(s) for s in seeds]
        self.M = len(self.models)
        self.data, self.cfg, self.kind = data, cfg, kind
        self.dev, self.dt = torch.device(cfg.device), cfg.dtype
        self.useeds = list(dict.fromkeys(self.seeds))             # distinct seeds, first-appearance order
        self.uindex = [self.useeds.index(s) for s in self.seeds]  # model -> row of perm
        self._optimizers: list[Optimizer] = []                    # what set_lr moves

    def optimizer(self, params) -> Optimizer:
        c = self.cfg
        opt = Optimizer(params, c.optimizer, c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        self._optimizers.append(opt)
        return opt

    def set_lr(self, lr: float) -> None:
        for opt in self._optimizers:
            opt.lr = float(lr)

    # the interface (see the module docstring)
    def start_epoch(self, perm: torch.Tensor) -> None:
        raise NotImplementedError

    def train_step(self, i: int) -> None:
        raise NotImplementedError

    def end_epoch(self) -> torch.Tensor:
        """The epoch's summed train loss per model (stacks that accumulate `loss_sum` need not override)."""
        return self.loss_sum

    def prepare_eval(self, x: torch.Tensor, y: torch.Tensor):
        """Evaluation inputs on this stack's device and dtype (the MLP kernel also flattens them)."""
        return x.to(self.dev, self.dt), y.to(self.dev)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor):
        raise NotImplementedError

    def kill(self, idx: list[int]) -> None:
        raise NotImplementedError

    def write_back(self) -> None:
        raise NotImplementedError


def groups_of(seeds) -> int:
    """Number of seed groups G when `seeds` is seed-major with equal group sizes, else len(seeds)."""
    seeds = list(seeds)
    blocks = []
    for s in seeds:
        if blocks and blocks[-1][0] == s:
            blocks[-1][1] += 1
        else:
            blocks.append([s, 1])
    sizes = {n for _, n in blocks}
    distinct = len({s for s, _ in blocks}) == len(blocks)
    return len(blocks) if len(sizes) == 1 and distinct else len(seeds)
