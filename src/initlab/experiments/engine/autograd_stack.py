"""AutogradStack: any nn.Module, each model its own forward/backward by autograd (the reference stack).

Models take each step in turn (step-major, not model-major: the result is the same, every model's
arithmetic is its own).  nn.Dropout follows the engine's dropout rule (dropout_hooks.py); anything
else random draws from torch's global generator, whose state is kept per model (seeded by the run's
dropout seed), so a model's randomness does not depend on which models share its stack.
"""
from __future__ import annotations

import torch

from .dropout_hooks import DropoutHooks
from .losses import eval_sums_rm, loss_rm
from .seeds import derive_seed, dropout_generator, draw_mask
from .stack import Stack


class AutogradStack(Stack):
    name = "autograd"

    def __init__(self, models, seeds, data, cfg, kind):
        super().__init__(models, seeds, data, cfg, kind)
        for m in self.models:
            m.to(self.dev, self.dt)
        self.params = [[p for p in m.parameters() if p.requires_grad] for m in self.models]
        self.opts = [self.optimizer(ps) for ps in self.params]
        self.gens = [dropout_generator(s, self.dev) for s in self.seeds]
        self._k = 0
        self.hooks = [DropoutHooks(m, self._mask_source(k)) for k, m in enumerate(self.models)]
        self.rng = []
        with torch.random.fork_rng(devices=self._cuda()):
            for s in self.seeds:
                torch.manual_seed(derive_seed("dropout", s))
                self.rng.append(self._get_rng())
        self.x_tr = data.x_train.to(self.dev, self.dt)
        self.y_tr = data.y_train.to(self.dev)
        self.B = cfg.batch_size
        self.alive = [True] * self.M

    def _cuda(self):
        return [self.dev.index or 0] if self.dev.type == "cuda" else []

    def _get_rng(self):
        return (torch.get_rng_state(), torch.cuda.get_rng_state(self.dev) if self.dev.type == "cuda" else None)

    def _set_rng(self, st):
        torch.set_rng_state(st[0])
        if st[1] is not None:
            torch.cuda.set_rng_state(st[1], self.dev)

    def _mask_source(self, k):
        def source(j, module, x):
            return draw_mask(self.gens[k], module.p, x.shape[1:], x.shape[0], x.dtype, x.device).movedim(-1, 0)
        return source

    def start_epoch(self, perm):
        self.perm = perm
        self.loss_sum = torch.zeros(self.M, dtype=self.dt, device=self.dev)
        for m in self.models:
            m.train()

    def train_step(self, i):
        with torch.random.fork_rng(devices=self._cuda()):
            for k, model in enumerate(self.models):
                if not self.alive[k]:
                    continue
                idx = self.perm[self.uindex[k], i * self.B:(i + 1) * self.B]
                self._set_rng(self.rng[k])
                self.hooks[k].reset()
                out = model(self.x_tr[idx])
                loss = loss_rm(out.unsqueeze(0), self.y_tr[idx].unsqueeze(0), self.kind)[0]
                for p in self.params[k]:
                    p.grad = None
                loss.backward()
                self.opts[k].step([p.grad for p in self.params[k]])
                self.loss_sum[k] += loss.detach()
                self.rng[k] = self._get_rng()

    @torch.no_grad()
    def evaluate(self, x, y):
        lsum = torch.zeros(self.M, dtype=torch.float64)
        msum = torch.zeros(self.M, dtype=torch.float64)
        rows = max(self.B, 1024)
        for k, model in enumerate(self.models):
            model.eval()
            for s in range(0, x.shape[0], rows):
                a, b = eval_sums_rm(model(x[s:s + rows]), y[s:s + rows], self.kind, self.data.task)
                lsum[k] += float(a)
                msum[k] += float(b)
        return lsum, msum

    def kill(self, idx):
        with torch.no_grad():
            for k in idx:
                for p in self.params[k]:
                    p.zero_()
                self.opts[k].reset()
                self.alive[k] = False

    def write_back(self):
        for h in self.hooks:
            h.remove()
