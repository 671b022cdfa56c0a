"""VmapStack: models of one architecture as stacked weights, run with torch.func (vmap + functional_call).

One forward/backward for all models per step (autograd through vmap); the optimizer steps the stacked
tensors (leading axis = model).  Dropout: the masks of every nn.Dropout call are drawn per distinct seed
by the engine's rule and passed into vmap as inputs, so two models of one seed get the same masks.
"""
from __future__ import annotations

import copy

import torch

from .dropout_hooks import DropoutHooks
from .losses import eval_sums_rm, loss_rm
from .seeds import dropout_generator, draw_mask
from .stack import Stack

_EVAL_ELEMS = 1 << 24          # activations per eval chunk (bounds memory of the vectorized eval)


class VmapStack(Stack):
    name = "vmap"

    def __init__(self, models, seeds, data, cfg, kind):
        from torch.func import functional_call, stack_module_state, vmap
        super().__init__(models, seeds, data, cfg, kind)
        for m in self.models:
            m.to(self.dev, self.dt)
        self.params, self.buffers = stack_module_state(self.models)
        self.base = copy.deepcopy(self.models[0]).to("meta")
        self._masks = None
        self.hooks = DropoutHooks(self.base, lambda j, module, x: self._masks[j])
        # feature shapes of the dropout calls, in call order (one probe forward of a real model)
        shapes = []
        probe = DropoutHooks(self.models[0], lambda j, module, x: shapes.append((module.p, x.shape[1:])) or 1.0)
        self.models[0].train()
        with torch.no_grad():
            self.models[0](data.x_train[:2].to(self.dev, self.dt))
        probe.remove()
        self.drop_shapes = shapes

        def f(p, b, x, masks):
            self._masks = masks
            self.hooks.reset()
            return functional_call(self.base, (p, b), (x,))
        self.fwd_train = vmap(f, in_dims=(0, 0, 0, 0), randomness="different")
        self.fwd_eval = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)), in_dims=(0, 0, None),
                             randomness="different")
        self.plist = list(self.params.values())
        self.opt = self.optimizer(self.plist)
        self.gens = [dropout_generator(s, self.dev) for s in self.useeds]
        self.x_tr, self.y_tr = data.x_train.to(self.dev, self.dt), data.y_train.to(self.dev)
        self.B = cfg.batch_size
        self.alive = torch.ones(self.M, dtype=torch.bool, device=self.dev)
        self.uidx = torch.tensor(self.uindex, device=self.dev)

    def start_epoch(self, perm):
        self.perm = perm.index_select(0, self.uidx)           # (M, n): each model's seed's order
        self.loss_sum = torch.zeros(self.M, dtype=self.dt, device=self.dev)
        self.base.train()

    def train_step(self, i):
        idx = self.perm[:, i * self.B:(i + 1) * self.B]
        b = idx.shape[1]
        masks = tuple(torch.stack([draw_mask(g, p, shp, b, self.dt, self.dev).movedim(-1, 0) for g in self.gens])
                      .index_select(0, self.uidx) for p, shp in self.drop_shapes)
        out = self.fwd_train(self.params, self.buffers, self.x_tr[idx], masks)
        loss = loss_rm(out, self.y_tr[idx], self.kind)
        self.loss_sum += loss.detach()
        for p in self.plist:
            p.grad = None
        torch.where(self.alive, loss, 0.0).sum().backward()
        self.opt.step([p.grad for p in self.plist])

    @torch.no_grad()
    def evaluate(self, x, y):
        self.base.eval()
        lsum = torch.zeros(self.M, dtype=torch.float64)
        msum = torch.zeros(self.M, dtype=torch.float64)
        rows = max(64, _EVAL_ELEMS // max(1, self.M * 1024))
        for s in range(0, x.shape[0], rows):
            out = self.fwd_eval(self.params, self.buffers, x[s:s + rows])
            for k in range(self.M):
                a, b = eval_sums_rm(out[k], y[s:s + rows], self.kind, self.data.task)
                lsum[k] += float(a)
                msum[k] += float(b)
        return lsum, msum

    def kill(self, idx):
        t = torch.tensor(idx, device=self.dev)
        with torch.no_grad():
            for p in self.plist + self.opt.state():
                p[t] = 0
        self.alive[t] = False

    def write_back(self):
        with torch.no_grad():
            for k, m in enumerate(self.models):
                for name, t in self.params.items():
                    m.get_parameter(name).copy_(t[k])
