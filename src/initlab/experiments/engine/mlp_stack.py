"""MLPStack: the Stack of the stacked-MLP kernel (mlp_kernel.py), with optional width masks.

Models are ordered seed-major in G equal groups when the seeds allow (the first layer of a group is one
wide matmul on the group's shared batch); otherwise G = M.  Dropout masks follow seeds.draw_mask: one
generator per group when every model of the group has the same widths (they would all draw the same
mask), else one per model.
"""
from __future__ import annotations

import torch

from .losses import ce_grouped, eval_sums_cm, loss_and_grad_cm, target_positions
from .mlp_kernel import StackedMLP
from .mlp_plan import parse_stack
from .seeds import dropout_generator, draw_mask
from .stack import Stack, groups_of

_STACKED_EVAL_ELEMS = 1 << 22  # activations per eval chunk: 16 MiB float32 chunks stay cache-friendly
_EPOCH_GATHER_ELEMS = 1 << 24  # gather an epoch's inputs in batch order at once up to this size


class MLPStack(Stack):
    name = "stacked-mlp"

    def __init__(self, models, seeds, data, cfg, kind):
        super().__init__(models, seeds, data, cfg, kind)
        plan, plans, why = parse_stack(self.models)
        if plan is None:
            raise ValueError(f"the stacked-MLP kernel cannot train these models: {why}")
        G = groups_of(self.seeds)
        self.G, self.P = G, self.M // G
        dev, dt = self.dev, self.dt
        self.net = StackedMLP(self.models, plan, plans, groups=G, device=dev, dtype=dt)
        self.opt = self.optimizer([self.net.flat])
        self.fused = self.opt.plain
        gseeds = [self.seeds[g * self.P] for g in range(G)]
        # several groups may share a seed (G = M): their inputs are gathered once per seed and picked per
        # group at each step (`src`) instead of once per group per epoch
        self.src = None if len(self.useeds) == G else torch.tensor([self.useeds.index(s) for s in gseeds],
                                                                  device=dev)
        uniform = all(self.net.widths[g * self.P:(g + 1) * self.P].count(self.net.widths[g * self.P]) == self.P
                      for g in range(G))
        self.per_model_masks = not uniform
        self.drop_gens = ([dropout_generator(s, dev) for s in self.seeds] if self.per_model_masks
                          else [dropout_generator(s, dev) for s in gseeds])
        n = data.n_train
        self.x_tr = data.x_train.reshape(n, -1).to(dev, dt)
        self.y_tr = data.y_train.to(dev)
        if kind != "cross_entropy":
            self.y_tr = self.y_tr.to(dt).reshape(n, -1)
        self.B = cfg.batch_size
        self.alive = torch.ones(self.M, dtype=torch.bool, device=dev)
        self.any_dead = False
        self.neg = torch.full((self.M * self.B,), -1.0, dtype=dt, device=dev)
        self.logp_acc = torch.zeros((G, self.P, 1, self.B), dtype=dt, device=dev)
        self.x_epoch_ok = len(self.useeds) * self.x_tr.numel() <= _EPOCH_GATHER_ELEMS

    def _masks(self, l, p, b):
        out = self.net.weights[l].shape[1]
        if not self.per_model_masks:
            m = torch.empty((self.G, 1, out, b), device=self.dev, dtype=self.dt)
            for g in range(self.G):
                m[g, 0] = draw_mask(self.drop_gens[g], p, (out,), b, self.dt, self.dev)
            return m
        m = torch.zeros((self.M, out, b), device=self.dev, dtype=self.dt)
        for k in range(self.M):
            w = self.net.widths[k][l]
            m[k, :w] = draw_mask(self.drop_gens[k], p, (w,), b, self.dt, self.dev)
        return m.view(self.G, self.P, out, b)

    def _per_model(self, yb):  # (G, b) long or (G, b, D) float -> (M, 1|D, b), model k = group k // P
        G, P, M = self.G, self.P, self.M
        yb = yb.view(G, 1, 1, -1) if self.kind == "cross_entropy" else yb.transpose(1, 2).unsqueeze(1)
        return yb.expand(G, P, yb.shape[2], yb.shape[3]).reshape(M, yb.shape[2], yb.shape[3])

    def start_epoch(self, perm):
        y_perm = self.y_tr[perm]                      # (U, n[, D]): this epoch's targets in batch order
        if self.src is not None:
            y_perm = y_perm.index_select(0, self.src)     # (G, n[, D])
            self.perm_g = perm.index_select(0, self.src)
        else:
            self.perm_g = perm
        # inputs in batch order too: one gather per epoch (each step's batch is then a view) when that
        # copy is small, else one index_select per step.  Per seed, not per group: when groups share a
        # seed (G = M) each step picks its groups' rows (`src`) from the seed's batch (a per-group epoch
        # gather copies G/U times more and measured slower than the per-step picks)
        n = perm.shape[1]
        x_perm = (torch.index_select(self.x_tr, 0, perm.view(-1)).view(len(self.useeds), n, -1)
                  if self.x_epoch_ok else None)
        self.x_steps = x_perm.split(self.B, 1) if x_perm is not None else None
        self.y_steps = y_perm.split(self.B, 1)
        if self.kind == "cross_entropy":
            self.pos_steps = target_positions(y_perm, self.B, self.P, self.net.plan.n_out)
        self.loss_sum = torch.zeros(self.M, dtype=self.dt, device=self.dev)
        self.logp_acc.zero_()

    def train_step(self, i):
        B, G = self.B, self.G
        if self.x_steps is not None:
            xb = self.x_steps[i] if self.src is None else self.x_steps[i].index_select(0, self.src)
        else:
            idx = self.perm_g[:, i * B:(i + 1) * B]
            xb = torch.index_select(self.x_tr, 0, idx.reshape(-1)).view(G, idx.shape[1], -1)
        out, tape = self.net.forward_train(xb, self._masks)
        if self.kind == "cross_entropy":
            d, scale = ce_grouped(out, self.pos_steps[i], self.logp_acc, self.neg, G, self.P,
                                  buf=self.net.workspace(xb.shape[1]).g[-1])
        else:
            loss, d = loss_and_grad_cm(out, self._per_model(self.y_steps[i]), self.kind)
            self.loss_sum += loss
            scale = 1.0
        # A model whose loss turns non-finite keeps its NaN/inf inside its own slice (every op is per
        # model) until the end of the epoch, where fit marks it diverged and the stack zeroes it.
        if self.any_dead:
            d = torch.where(self.alive.view(self.M, 1, 1), d, 0.0)
        if self.fused:
            self.net.backward(d, tape, sgd_lr=self.opt.lr, scale=scale)
        else:
            self.net.backward(d, tape, scale=scale)
            self.opt.step([self.net.flat_grad])

    def end_epoch(self):
        if self.kind == "cross_entropy":
            return self.logp_acc.sum((2, 3)).view(self.M).mul_(-1.0 / self.B)
        return self.loss_sum

    def prepare_eval(self, x, y):
        x = x.reshape(x.shape[0], -1).to(self.dev, self.dt)
        y = y.to(self.dev)
        if self.kind != "cross_entropy":
            y = y.to(self.dt).reshape(x.shape[0], -1)
        return x, y

    @torch.no_grad()
    def evaluate(self, x, y):
        M = self.M
        width = max(max(o for _, o, _ in self.net.plan.shapes), 1)
        rows = max(64, _STACKED_EVAL_ELEMS // (M * width))
        lsum = torch.zeros(M, dtype=torch.float64, device=x.device)
        msum = torch.zeros(M, dtype=torch.float64, device=x.device)
        for s in range(0, x.shape[0], rows):
            eval_sums_cm(self.net.forward_eval(x[s:s + rows]), y[s:s + rows], self.kind, self.data.task, lsum, msum)
        return lsum, msum

    def kill(self, idx):
        t = torch.tensor(idx, device=self.dev)
        self.net.zero_models(t)
        with torch.no_grad():
            for st in self.opt.state():
                for v in self.net.per_layer(st):
                    v[t] = 0
        self.alive[t] = False
        self.any_dead = True

    def write_back(self):
        self.net.write_back(self.models)
