"""Training engine of the double-descent sweeps: many MLPs ``in-h-h-out`` of different widths at once.

Masked width buckets
--------------------
Widths are grouped into *buckets* (contiguous runs of the sorted widths, chosen by
`plan_buckets` to balance per-step overhead against padding waste).  Every model of a
bucket is stored at the bucket's largest width P, stacked along a leading model axis
``m = seed_index * K + width_index`` (K widths, S seeds -> M = S*K models):

    W1 (M, in, P)   b1 (M, 1, P)   W2 (M, P, P)   b2 (M, 1, P)   W3 (M, P, out)   b3 (M, 1, out)

and each layer is one ``baddbmm``.  A model of width h < P is *exactly* the narrow model:

* init: the narrow ``nn.Sequential(Linear(in,h), ReLU, Linear(h,h), ReLU, Linear(h,out))`` is
  built and initialised on its own (its own fan_in / fan_out, its own seed, through the init
  policy) and copied into the top-left corner; every padded entry is 0.
* forward: padded hidden units have zero incoming weights and bias, so their pre-activation is
  exactly 0, ReLU gives 0, and their zero outgoing weights add exactly 0 to the next layer.
* backward: the gradient of a padded weight is (activation 0) x delta or delta x (ReLU'(0) = 0),
  i.e. exactly 0; the gradients are in addition multiplied by the 0/1 width masks, so nothing
  can leak even if a future activation had f(0) != 0.
* Adam: ``torch.optim.Adam`` over the stacked tensors is elementwise, so every model keeps its
  own first/second moments (per element) and the shared step count equals each model's own;
  a padded entry has grad 0, moments 0 and update 0/(0+eps) = 0: it stays 0.

The loss is ``sum_m mean_b CE(model_m(x_b), y_b)``, so model m receives exactly the gradient of
its own mean cross-entropy.  The backward pass is written out (no autograd tape); the tests
check it against autograd on the narrow ``nn.Sequential``.

Mini-batches: the order of epoch e for seed s is ``torch.randperm(n, generator=g_s)`` with g_s
seeded by `order_seed(s)` and drawn once per epoch, shared by all widths of that seed, and the
same in `train_reference` (the one-model-at-a-time recipe), so the two paths see identical data.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import InitError, bad_argument

EVAL_CHUNK = 4096
_aten = torch.ops.aten


# --------------------------------------------------------------------------- seeds and schedule
def _mix(*parts) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "little") & 0x7FFFFFFF


def init_seed(seed: int, width: int) -> int:
    """Seed of the init of the (seed, width) model: independent draws for every width."""
    return _mix("dd-init", seed, width)


def order_seed(seed: int) -> int:
    """Seed of the mini-batch order of run seed `seed` (shared by all widths of that seed)."""
    return _mix("dd-order", seed)


def eval_epochs(epochs: int, points: int = 120) -> list[int]:
    """Epochs at which train/test error are measured: every epoch up to 20, then about `points`
    log-spaced epochs up to `epochs` (always included).  Every epoch when epochs <= points."""
    epochs = int(epochs)
    if epochs <= points:
        return list(range(1, epochs + 1))
    out = set(range(1, min(epochs, 20) + 1))
    k = max(2, points - len(out))
    for i in range(k + 1):
        out.add(int(round(math.exp(math.log(20) + (math.log(epochs) - math.log(20)) * i / k))))
    out.add(epochs)
    return sorted(e for e in out if 1 <= e <= epochs)


# --------------------------------------------------------------------------- narrow models
def narrow_mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    """The reference model ``n_in-width-width-n_out`` with ReLU (torch's default init)."""
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, n_out))


def _policy_fn():
    try:
        from .. import init_  # the policy layer, once it exists
        return init_
    except ImportError:
        return None


def make_narrow(n_in: int, width: int, n_out: int, seed: int, policy: str = "torch-default",
                example_inputs=None) -> nn.Sequential:
    """Narrow model of one (width, seed), initialised by `policy` with its own fans and seed.

    Built under a forked, seeded RNG (the caller's RNG state is untouched).  "torch-default" is
    nn.Linear's own init; any other policy goes through ``initlab.init_(model, policy, seed=...)``
    (with `example_inputs`, a batch of training inputs, for data-dependent policies such as LSUV).
    """
    s = init_seed(seed, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s)
        model = narrow_mlp(n_in, width, n_out)
    if policy != "torch-default":
        fn = _policy_fn()
        if fn is None:
            raise bad_argument("double_descent", "policy", policy, "'torch-default' (the policy layer "
                               "initlab.init_ is not available in this install)",
                               "use policy='torch-default' or update initlab")
        if example_inputs is not None:
            fn(model, policy, seed=s, example_inputs=example_inputs)
        else:
            fn(model, policy, seed=s)
    return model


def linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------- bucket planning
@dataclass
class Bucket:
    widths: list[int]
    seeds: list[int]

    @property
    def P(self) -> int:
        return max(self.widths)


def step_cost(widths: list[int], n_in: int, n_out: int, batch: int, overhead_s: float = 4e-4,
              flops_per_s: float = 4e10) -> float:
    """Modelled seconds of one training step of a bucket padded to max(widths) (one seed)."""
    P = max(widths)
    flops = 6.0 * batch * len(widths) * (n_in * P + P * P + P * n_out)
    return overhead_s + flops / flops_per_s


def plan_buckets(widths, seeds, n_in: int, n_out: int, batch: int, max_models: int | None = None) -> list[Bucket]:
    """Split the sorted widths into contiguous buckets minimising the modelled step time (DP)."""
    ws = sorted(set(int(w) for w in widths))
    n = len(ws)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            group = ws[i:j]
            if max_models and len(group) * len(seeds) > max_models:
                continue
            c = best[i] + step_cost(group, n_in, n_out, batch * len(seeds))
            if c < best[j]:
                best[j], cut[j] = c, i
    out, j = [], n
    while j > 0:
        out.append(Bucket(ws[cut[j]:j], list(seeds)))
        j = cut[j]
    return out[::-1]


# --------------------------------------------------------------------------- the stacked trainer
@dataclass
class StackedMLP:
    """K widths x S seeds of ``n_in-h-h-n_out`` padded to P = max width (see module docstring)."""
    widths: list[int]
    seeds: list[int]
    n_in: int
    n_out: int
    params: list[torch.Tensor] = field(default_factory=list)   # W1 b1 W2 b2 W3 b3
    masks: list[torch.Tensor] = field(default_factory=list)

    @property
    def P(self) -> int:
        return max(self.widths)

    @property
    def M(self) -> int:
        return len(self.widths) * len(self.seeds)

    def index(self, width: int, seed: int) -> int:
        return self.seeds.index(seed) * len(self.widths) + self.widths.index(width)

    @classmethod
    def build(cls, widths, seeds, n_in, n_out, policy="torch-default", narrow=None,
              example_inputs=None) -> "StackedMLP":
        """Stack freshly initialised narrow models (or `narrow[(width, seed)]` when given).

        All six parameter tensors are views into one flat buffer (and so are the gradients
        and the masks), so Adam and the masking are a handful of ops on one flat tensor.
        """
        self = cls(list(widths), list(seeds), int(n_in), int(n_out))
        P, M = self.P, self.M
        shapes = [(M, n_in, P), (M, 1, P), (M, P, P), (M, 1, P), (M, P, n_out), (M, 1, n_out)]
        total = sum(math.prod(s) for s in shapes)
        self.flat = torch.zeros(total)
        self.flat_grad = torch.zeros(total)
        self.flat_mask = torch.zeros(total)
        self.params, self.grads, self.masks = [], [], []
        off = 0
        for shp in shapes:
            k = math.prod(shp)
            self.params.append(self.flat[off:off + k].view(shp))
            self.grads.append(self.flat_grad[off:off + k].view(shp))
            self.masks.append(self.flat_mask[off:off + k].view(shp))
            off += k
        for s in self.seeds:
            for h in self.widths:
                m = self.index(h, s)
                model = (narrow[(h, s)] if narrow is not None
                         else make_narrow(n_in, h, n_out, s, policy, example_inputs))
                l1, l2, l3 = linears(model)
                with torch.no_grad():
                    for t, (src, sl) in enumerate([
                            (l1.weight.t(), (slice(None), slice(0, h))), (l1.bias[None], (slice(None), slice(0, h))),
                            (l2.weight.t(), (slice(0, h), slice(0, h))), (l2.bias[None], (slice(None), slice(0, h))),
                            (l3.weight.t(), (slice(0, h), slice(None))), (l3.bias[None], (slice(None), slice(None)))]):
                        self.params[t][m][sl] = src
                        self.masks[t][m][sl] = 1.0
        return self

    def narrow_state(self, width: int, seed: int) -> nn.Sequential:
        """The (width, seed) model cut out of the stack as a plain nn.Sequential."""
        m, h = self.index(width, seed), width
        model = narrow_mlp(self.n_in, h, self.n_out)
        W1, b1, W2, b2, W3, b3 = self.params
        l1, l2, l3 = linears(model)
        with torch.no_grad():
            l1.weight.copy_(W1[m][:, :h].t()); l1.bias.copy_(b1[m][0, :h])
            l2.weight.copy_(W2[m][:h, :h].t()); l2.bias.copy_(b2[m][0, :h])
            l3.weight.copy_(W3[m][:h, :].t()); l3.bias.copy_(b3[m][0])
        return model

    # ---- forward / backward on a batch x of shape (M, B, n_in)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2, W3, b3 = self.params
        a1 = torch.relu(torch.baddbmm(b1, x, W1))
        a2 = torch.relu(torch.baddbmm(b2, a1, W2))
        return torch.baddbmm(b3, a2, W3)

    def loss_and_grads(self, x: torch.Tensor, y: torch.Tensor, want_loss: bool = True):
        """Per-model mean cross-entropy (M,) (None unless want_loss) and the gradients of its
        sum, written (masked) into `self.grads` (views of `self.flat_grad`)."""
        W1, b1, W2, b2, W3, b3 = self.params
        gW1, gb1, gW2, gb2, gW3, gb3 = self.grads
        B = x.shape[1]
        z1 = torch.baddbmm(b1, x, W1)
        a1 = torch.relu(z1)
        z2 = torch.baddbmm(b2, a1, W2)
        a2 = torch.relu(z2)
        z3 = torch.baddbmm(b3, a2, W3)
        yi = y.unsqueeze(-1)
        z3 = z3 - z3.amax(-1, keepdim=True)
        e = z3.exp()
        se = e.sum(-1, keepdim=True)
        loss = None
        if want_loss:
            loss = (se.log().squeeze(-1) - z3.gather(-1, yi).squeeze(-1)).mean(1)
        d3 = e.div_(se)                                    # softmax
        d3.scatter_add_(-1, yi, torch.full(yi.shape, -1.0))
        d3.div_(B)                                         # d(mean CE)/d logits
        torch.bmm(a2.transpose(1, 2), d3, out=gW3)
        torch.sum(d3, 1, keepdim=True, out=gb3)
        d2 = _aten.threshold_backward(torch.bmm(d3, W3.transpose(1, 2)), a2, 0)
        torch.bmm(a1.transpose(1, 2), d2, out=gW2)
        torch.sum(d2, 1, keepdim=True, out=gb2)
        d1 = _aten.threshold_backward(torch.bmm(d2, W2.transpose(1, 2)), a1, 0)
        torch.bmm(x.transpose(1, 2), d1, out=gW1)
        torch.sum(d1, 1, keepdim=True, out=gb1)
        if len(self.widths) > 1:               # one width per bucket: nothing is padded
            self.flat_grad.mul_(self.flat_mask)
        return loss, self.grads

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss (M,), error rate (M,)) of every model on the same data x (N, n_in).

        The first layer of all M models is one matmul x @ [W1_1 | ... | W1_M] (they share x)."""
        W1, b1, W2, b2, W3, b3 = self.params
        M, P = self.M, self.P
        w1cat = W1.permute(1, 0, 2).reshape(self.n_in, M * P)
        b1cat = b1.reshape(1, M * P)
        n = len(y)
        loss = torch.zeros(M, dtype=torch.float64)
        wrong = torch.zeros(M, dtype=torch.float64)
        for i in range(0, n, EVAL_CHUNK):
            xb, yb = x[i:i + EVAL_CHUNK], y[i:i + EVAL_CHUNK]
            c = len(yb)
            a1 = torch.addmm(b1cat, xb, w1cat).clamp_min_(0).view(c, M, P).transpose(0, 1)
            a2 = torch.baddbmm(b2, a1, W2).clamp_min_(0)
            # logits as (M, out, c): reductions over the few classes run along dim 1 with the
            # samples contiguous (a last-dim reduction over 10 values is slow on CPU)
            z = torch.baddbmm(b3.transpose(1, 2), W3.transpose(1, 2), a2.transpose(1, 2))
            mx, arg = z.max(1)                                              # (M, c)
            lse = (z - mx.unsqueeze(1)).exp_().sum(1).log_().add_(mx)
            zy = z.gather(1, yb.view(1, 1, -1).expand(M, 1, -1)).squeeze(1)
            loss += (lse - zy).sum(1, dtype=torch.float64)
            wrong += (arg != yb.view(1, -1)).sum(1, dtype=torch.float64)
        return loss / n, wrong / n


_FUSED = hasattr(torch, "_fused_adam_")


class FlatAdam:
    """torch.optim.Adam's update (single-tensor formula, no weight decay) on one flat tensor.

    Elementwise, hence per model and per weight.  Uses torch's fused CPU Adam kernel when
    present (one pass over the flat buffer), else the single-tensor formula written out;
    torch.optim.Adam over six stacked tensors spends most of a small model's step in Python."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.p, self.lr, self.b1, self.b2, self.eps = param, float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0
        self._denom = torch.empty_like(param)
        self._step = torch.zeros(())

    def step(self, grad: torch.Tensor) -> None:
        self.t += 1
        if _FUSED:
            # torch's fused CPU Adam kernel (what torch.optim.Adam(fused=True) calls): one pass
            self._step.fill_(self.t)
            torch._fused_adam_([self.p], [grad], [self.m], [self.v], [], [self._step], lr=self.lr, beta1=self.b1,
                               beta2=self.b2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        self.m.lerp_(grad, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        bc1 = 1 - self.b1 ** self.t
        bc2_sqrt = math.sqrt(1 - self.b2 ** self.t)
        torch.sqrt(self.v, out=self._denom).div_(bc2_sqrt).add_(self.eps)
        self.p.addcdiv_(self.m, self._denom, value=-(self.lr / bc1))


def _metrics(loss_tr, err_tr, loss_te, err_te, i) -> dict:
    return {"train_loss": float(loss_tr[i]), "train_err": float(err_tr[i]),
            "test_loss": float(loss_te[i]), "test_err": float(err_te[i])}


def train_stacked(stack: StackedMLP, data, *, epochs: int, batch_size: int, lr: float,
                  schedule: list[int], progress=None, should_stop=None) -> dict:
    """Train every model of `stack` with Adam; returns {(width, seed): [metrics per eval epoch]}.

    data = (x_train, y_train, x_test, y_test).  Non-finite losses mark a model diverged
    (its metrics become NaN; it keeps training harmlessly in the stack).
    """
    x_tr, y_tr, x_te, y_te = data
    n = len(y_tr)
    opt = FlatAdam(stack.flat, lr)
    S, K = len(stack.seeds), len(stack.widths)
    gens = [torch.Generator().manual_seed(order_seed(s)) for s in stack.seeds]
    hist = {(h, s): [] for s in stack.seeds for h in stack.widths}
    want = set(schedule)
    for epoch in range(1, epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens])     # (S, n)
        for i in range(0, n, batch_size):
            idx = perms[:, i:i + batch_size]                                    # (S, B)
            B = idx.shape[1]
            xb = x_tr[idx].unsqueeze(1).expand(S, K, B, -1).reshape(S * K, B, -1)
            yb = y_tr[idx].unsqueeze(1).expand(S, K, B).reshape(S * K, B)
            stack.loss_and_grads(xb, yb, want_loss=False)
            opt.step(stack.flat_grad)
        if epoch in want:
            ltr, etr = stack.evaluate(x_tr, y_tr)
            lte, ete = stack.evaluate(x_te, y_te)
            for s in stack.seeds:
                for h in stack.widths:
                    m = stack.index(h, s)
                    hist[(h, s)].append({"epoch": epoch, **_metrics(ltr, etr, lte, ete, m)})
        if progress is not None:
            progress(epoch)
        if should_stop is not None and should_stop():
            break
    return hist


def train_reference(width: int, seed: int, data, *, epochs: int, batch_size: int, lr: float,
                    schedule: list[int], n_out: int = 10, policy: str = "torch-default", return_model: bool = False):
    """The sequential reference recipe: one narrow nn.Sequential, autograd, torch.optim.Adam, a plain loop.

    Returns the metrics per measured epoch (and the trained model when return_model)."""
    x_tr, y_tr, x_te, y_te = data
    n = len(y_tr)
    model = make_narrow(x_tr.shape[1], width, n_out, seed, policy)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(order_seed(seed))
    want, hist = set(schedule), []
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = lossf(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
        if epoch in want:
            with torch.no_grad():
                row = {"epoch": epoch}
                for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
                    z = model(x)
                    row[f"{name}_loss"] = float(lossf(z, y))
                    row[f"{name}_err"] = float((z.argmax(1) != y).double().mean())
                hist.append(row)
    return (hist, model) if return_model else hist


def n_classes_of(y_tr: torch.Tensor, y_te: torch.Tensor) -> int:
    return int(max(int(y_tr.max()), int(y_te.max())) + 1)


def check_data(x_tr, y_tr, x_te, y_te) -> None:
    if x_tr.ndim != 2 or x_te.ndim != 2 or len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise InitError("double_descent: data must be x_train (N, D), y_train (N,), x_test (T, D), y_test (T,) "
                        f"(got {tuple(x_tr.shape)}, {tuple(y_tr.shape)}, {tuple(x_te.shape)}, {tuple(y_te.shape)}). "
                        "Fix: flatten the inputs.")


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t
