"""Stacked-MLP kernel: M same-shaped MLPs trained at once with batched matmuls and a hand-written backward.

Layout.  Activations are kept "column-major" per model, shape (M, features, batch), so every layer
is one ``baddbmm`` (W (M, out, in) @ A (M, in, B) + b (M, out, 1)) with no permutes.  Models are
ordered seed-major in G groups of P models; the models of one group share their seed and therefore
their mini-batch, so the first layer of a whole group is a single wide matmul
(G, P*out, in) @ (G, in, B) on the shared input instead of P copies of it.

Backward is explicit (no autograd tape): for the loss  sum_m mean_b loss_m  the output gradient of
model m only depends on model m, so every model receives exactly the gradient it would get alone.
Plain SGD (no momentum, no weight decay) is fused into the backward matmuls (``W.baddbmm_(dZ, A^T,
alpha=-lr)`` after the input gradient has been taken from the old W); any other optimizer gets the
gradients in ``.grad`` of the stacked tensors and is a ``torch.optim`` optimizer over them, which is
exact because SGD/Adam/AdamW are elementwise (one shared step count; weight decay and Adam moments
are per element, hence per model).

Dropout masks are drawn per seed group from a generator seeded by the seed (common random numbers:
the P policies of one seed see the same masks, different seeds see different masks); each model of
the stack still gets its own mask slice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

_aten = torch.ops.aten

ACT_TYPES = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity",
             nn.LeakyReLU: "leaky_relu"}


@dataclass
class MLPPlan:
    """What the kernel needs to know about one model: its Linear shapes and the elementwise ops after each."""
    shapes: list = field(default_factory=list)      # (in, out, has_bias) per Linear
    ops: list = field(default_factory=list)         # per Linear: [("act", kind, slope) | ("dropout", p)]
    linears: list = field(default_factory=list)     # attribute paths of the Linear modules, in order

    @property
    def n_in(self) -> int:
        return self.shapes[0][0]

    @property
    def n_out(self) -> int:
        return self.shapes[-1][1]

    def params_per_model(self) -> int:
        return sum(i * o + (o if b else 0) for i, o, b in self.shapes)


def parse_mlp(model: nn.Module) -> tuple[MLPPlan | None, str]:
    """(plan, "") when `model` is a plain nn.Sequential MLP the kernel can run, else (None, why not)."""
    if not isinstance(model, nn.Sequential) or type(model).forward is not nn.Sequential.forward:
        return None, f"{type(model).__name__} is not a plain nn.Sequential"
    plan = MLPPlan()
    for name, m in model.named_children():
        if isinstance(m, nn.Linear):
            if plan.shapes and plan.shapes[-1][1] != m.in_features:
                return None, "Linear widths do not chain"
            plan.shapes.append((m.in_features, m.out_features, m.bias is not None))
            plan.ops.append([])
            plan.linears.append(name)
        elif isinstance(m, nn.Flatten) and not plan.shapes:
            continue
        elif not plan.shapes:
            return None, f"{type(m).__name__} before the first Linear"
        elif type(m) in ACT_TYPES:
            slope = float(m.negative_slope) if isinstance(m, nn.LeakyReLU) else 0.0
            if isinstance(m, nn.LeakyReLU) and slope <= 0:
                return None, "LeakyReLU with a non-positive slope"
            plan.ops[-1].append(("act", ACT_TYPES[type(m)], slope))
        elif type(m) is nn.Dropout:
            if m.p >= 1.0:
                return None, "Dropout with p=1"
            if m.p > 0:
                plan.ops[-1].append(("dropout", float(m.p)))
        else:
            return None, f"layer {type(m).__name__} is not supported by the stacked-MLP kernel"
    if not plan.shapes:
        return None, "no Linear layer"
    return plan, ""


class StackedMLP:
    """M MLPs as stacked tensors: weights[l] (M, out, in), biases[l] (M, out, 1) (None without bias)."""

    def __init__(self, models, plan: MLPPlan, *, groups: int, device, dtype):
        self.plan = plan
        self.M = len(models)
        self.G = groups
        self.P = self.M // groups
        self.weights, self.biases = [], []
        self._ones_cache = {}
        with torch.no_grad():
            for name, (i, o, has_b) in zip(plan.linears, plan.shapes):
                mods = [getattr(m, name) for m in models]
                self.weights.append(torch.stack([m.weight.detach() for m in mods]).to(device, dtype).contiguous())
                self.biases.append(torch.stack([m.bias.detach() for m in mods]).to(device, dtype).unsqueeze(-1)
                                   .contiguous() if has_b else None)
        # Views taken once: every update is in place, so they stay valid, and each step saves ~15 view calls
        # (a few microseconds each: ~5 % of a batch-16 step).  wT[l]: W^T for the input gradient; first:
        # layer 0 seen per seed group (G, P*out, in) and its bias (G, P*out, 1); bflat[l]: the bias as a vector.
        o0, i0 = self.weights[0].shape[1:]
        self._first_w = self.weights[0].view(groups, self.P * o0, i0)
        self._first_b = self.biases[0].view(groups, self.P * o0, 1) if self.biases[0] is not None else None
        self._wT = [W.transpose(1, 2) for W in self.weights]
        self._bflat = [b.view(-1) if b is not None else None for b in self.biases]
        self._eval_ws = {}         # rows -> per-layer eval output buffers (see forward_eval)

    def _ones(self, d: torch.Tensor) -> torch.Tensor:
        """(b,) ones (cached per batch size): d.view(-1, b) @ ones sums d over the batch."""
        key = (d.shape[2], d.dtype, d.device)
        t = self._ones_cache.get(key)
        if t is None:
            t = self._ones_cache[key] = torch.ones(d.shape[2], dtype=d.dtype, device=d.device)
        return t

    def parameters(self):
        return [t for pair in zip(self.weights, self.biases) for t in pair if t is not None]

    def write_back(self, models) -> None:
        with torch.no_grad():
            for l, name in enumerate(self.plan.linears):
                for k, m in enumerate(models):
                    lin = getattr(m, name)
                    lin.weight.copy_(self.weights[l][k].to(lin.weight))
                    if self.biases[l] is not None:
                        lin.bias.copy_(self.biases[l][k, :, 0].to(lin.bias))

    def zero_models(self, idx: torch.Tensor) -> None:
        """Zero the parameters of models `idx` (diverged) so their slices stay finite and inert."""
        with torch.no_grad():
            for t in self.parameters():
                t[idx] = 0

    # ------------------------------------------------------------------ forward
    def _first(self, x_t: torch.Tensor) -> torch.Tensor:
        """First Linear on the group-shared input x_t (G, in, B) -> (M, out, B)."""
        b = self._first_b
        z = torch.bmm(self._first_w, x_t) if b is None else torch.baddbmm(b, self._first_w, x_t)
        return z.view(self.M, self.weights[0].shape[1], -1)

    def forward_train(self, x_t: torch.Tensor, masks):
        """Training forward.  x_t: (G, in, B).  masks(l, shape) -> scaled dropout mask or None.

        Returns (output (M, out, B), tape) where tape holds what backward needs."""
        tape = []
        a = x_t
        L = len(self.weights)
        for l in range(L):
            if l == 0:
                z = self._first(x_t)
            else:
                b = self.biases[l]
                z = torch.bmm(self.weights[l], a) if b is None else torch.baddbmm(b, self.weights[l], a)
            ops_tape = []
            for op in self.plan.ops[l]:
                if op[0] == "act":
                    z = _act_(z, op[1], op[2])
                    ops_tape.append(("act", op[1], op[2], z))
                else:
                    m = masks(l, op[1], z.shape)
                    z = (z.view(self.G, self.P, *z.shape[1:]) * m).view(z.shape)
                    ops_tape.append(("dropout", m))
            tape.append((a, ops_tape))
            a = z
        return a, tape

    @torch.no_grad()
    def forward_eval(self, x: torch.Tensor) -> torch.Tensor:
        """Eval forward (no dropout) of every model on the same rows x (n, in) -> (M, out, n).

        The layer outputs live in a workspace kept per chunk size (the eval runs in equal chunks, every
        epoch): fresh tens-of-MB buffers per chunk cost more in page faults than the elementwise work
        (784-1024-1024-10: ~12 % of an epoch).  So the result is valid until the next call."""
        W, b = self.weights[0], self.biases[0]
        M, o, i = W.shape
        n = x.shape[0]
        ws = self._eval_ws.get(n)
        if ws is None:
            if len(self._eval_ws) >= 2:           # the full chunk and the last, shorter one
                self._eval_ws.clear()
            ws = self._eval_ws[n] = [torch.empty((M, w.shape[1], n), dtype=w.dtype, device=w.device)
                                     for w in self.weights]
        xt = x.t()
        out0 = ws[0].view(M * o, n)
        if b is None:
            torch.mm(W.view(M * o, i), xt, out=out0)
        else:
            torch.addmm(b.view(M * o, 1), W.view(M * o, i), xt, out=out0)
        z = ws[0]
        for l in range(len(self.weights)):
            if l > 0:
                bl = self.biases[l]
                if bl is None:
                    z = torch.bmm(self.weights[l], z, out=ws[l])
                else:
                    z = torch.baddbmm(bl, self.weights[l], z, out=ws[l])
            for op in self.plan.ops[l]:
                if op[0] == "act":
                    z = _act_(z, op[1], op[2])
        return z

    # ------------------------------------------------------------------ backward
    def backward(self, dout: torch.Tensor, tape, *, sgd_lr: float | None = None, scale: float = 1.0) -> None:
        """Backpropagate scale * dout (M, out, B).  With sgd_lr: apply W -= lr*dW in place (fused plain
        SGD); else store the gradients in .grad of the stacked tensors.

        `scale` (e.g. 1/batch for a mean loss) is folded into the update's alpha, which is exact because
        every gradient is linear in dout; it saves a pass over dout per step.  dout is consumed: the
        activation and dropout backward run in place on it (and on every later input gradient), so no
        temporaries are allocated per layer."""
        G, P = self.G, self.P
        d = dout if dout.is_contiguous() else dout.contiguous()
        for l in range(len(self.weights) - 1, -1, -1):
            a_in, ops_tape = tape[l]
            for rec in reversed(ops_tape):
                if rec[0] == "dropout":
                    d.view(G, P, *d.shape[1:]).mul_(rec[1])
                else:
                    _act_backward_(d, rec[1], rec[2], rec[3])
            W, b = self.weights[l], self.biases[l]
            d_in = torch.bmm(self._wT[l], d) if l > 0 else None
            if l == 0:
                Wv, dv = self._first_w, d.view(G, self._first_w.shape[1], -1)
            else:
                Wv, dv = W, d
            at = a_in.transpose(1, 2)
            # bias gradient = d summed over the batch: one matrix-vector product over all models at once
            d2 = d.view(-1, d.shape[2])
            if sgd_lr is not None:
                Wv.baddbmm_(dv, at, alpha=-sgd_lr * scale)
                if b is not None:                       # bias: b -= lr * d @ ones (one kernel)
                    self._bflat[l].addmv_(d2, self._ones(d), alpha=-sgd_lr * scale)
            else:
                # beta=0: scale * dv @ at in one kernel (the first argument only supplies the shape)
                W.grad = torch.baddbmm(Wv, dv, at, beta=0.0, alpha=scale).view(W.shape)
                if b is not None:
                    b.grad = torch.addmv(self._bflat[l], d2, self._ones(d), beta=0.0, alpha=scale).view(b.shape)
            d = d_in


def _act_(z: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
    if kind == "relu":
        return z.relu_()
    if kind == "tanh":
        return z.tanh_()
    if kind == "sigmoid":
        return z.sigmoid_()
    if kind == "leaky_relu":
        return torch.nn.functional.leaky_relu_(z, slope)
    return z


def _act_backward_(d: torch.Tensor, kind: str, slope: float, out: torch.Tensor) -> torch.Tensor:
    """d <- d * act'(.) in place, from the saved activation output `out`."""
    if kind == "relu":
        return _aten.threshold_backward.grad_input(d, out, 0, grad_input=d)
    if kind == "tanh":
        return _aten.tanh_backward.grad_input(d, out, grad_input=d)
    if kind == "sigmoid":
        return _aten.sigmoid_backward.grad_input(d, out, grad_input=d)
    if kind == "leaky_relu":
        return _aten.leaky_relu_backward.grad_input(d, out, slope, True, grad_input=d)
    return d
