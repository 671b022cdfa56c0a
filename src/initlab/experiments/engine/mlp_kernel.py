"""Stacked-MLP kernel: M MLPs trained at once with batched matmuls and a hand-written backward.

Layout.  Weights are (M, out, in), biases (M, out, 1), views into one flat buffer.  Each layer's
output (and the gradient at it) is kept per model either "column-major" (M, out, B) or "row-major"
(M, B, out), chosen per layer (_row_layout), so every layer is one ``baddbmm`` with no permutes:
column-major  W (M, out, in) @ A (M, in, B) + b (M, out, 1);  row-major  A^T (M, B, in) @ W^T + b^T,
where A^T is a transposed view of a column-major input or the row-major input itself.  Why both:
MKL's sgemm at batch 16 runs the input gradient W^T @ dZ into a column-major buffer ~20 % slower
than dZ^T @ W into a row-major one, so hidden layers of 64+ units are row-major; the output layer
stays column-major (10 outputs as the contiguous dimension of a matmul are 8x slower, and the losses
read (M, C, B)).  Models are ordered seed-major in G groups of P models; the models of one group
share their seed and therefore their mini-batch, so a column-major first layer of a whole group is a
single wide matmul (G, P*out, in) @ (G, in, B) on the shared input instead of P copies of it (with
P > 1 every layer stays column-major from batch 16 on: per-model row-major first layers measured
no faster there; below, see GROUPED_ROW_MAX_BATCH).

Width masks.  Models of one structure but different hidden widths (double descent) are stored at the
largest width of each layer; a model of width h < P is exactly the narrow model: its padded weights
and biases are 0, so a padded unit's pre-activation is 0 and, for activations with act(0) = 0, its
output and every gradient through it are exactly 0.  For other activations (sigmoid) the padded units
are multiplied by a 0/1 unit mask after the activation (and their gradient by it in the backward).
Zero gradients leave padded entries at 0 under SGD, momentum, weight decay and Adam alike.

Backward is explicit (no autograd tape): for the loss  sum_m mean_b loss_m  the output gradient of
model m only depends on model m, so every model receives exactly the gradient it would get alone.
Plain SGD is fused into the backward matmuls (``W.baddbmm_(dZ, A^T, alpha=-lr)`` after the input
gradient has been taken from the old W); every other optimizer gets the gradients in one flat buffer
laid out like the parameters' flat buffer, so optim.Optimizer updates all models in a few passes.
"""
from __future__ import annotations

import math

import torch

from .mlp_plan import ZERO_AT_ZERO, MLPPlan

_aten = torch.ops.aten


class StackedMLP:
    """M MLPs as views into one flat buffer: weights[l] (M, out, in), biases[l] (M, out, 1) or None."""

    def __init__(self, models, plan: MLPPlan, plans, *, groups: int, device, dtype):
        self.plan = plan
        self.M = len(models)
        self.G = groups
        self.P = self.M // groups
        shapes = []
        for i, o, has_b in plan.shapes:
            shapes.append((self.M, o, i))
            if has_b:
                shapes.append((self.M, o, 1))
        total = sum(math.prod(s) for s in shapes)
        self.padded = any(p.shapes != plan.shapes for p in plans)
        # Unpadded, every entry is copied from a model below; padded entries must be 0.  The gradient
        # buffer is written whole by every non-fused backward (beta=0) and never read by fused SGD, so it
        # is left unfilled (its pages are only touched when written: 784-1024-1024-10 x 4, 30 MB memset).
        self.flat = (torch.zeros if self.padded else torch.empty)(total, device=device, dtype=dtype)
        self.flat_grad = torch.empty(total, device=device, dtype=dtype)
        self.weights, self.biases, self.gweights, self.gbiases = [], [], [], []
        off = 0

        def take(buf, shp):
            return buf[off:off + math.prod(shp)].view(shp)
        for i, o, has_b in plan.shapes:
            self.weights.append(take(self.flat, (self.M, o, i)))
            self.gweights.append(take(self.flat_grad, (self.M, o, i)))
            off += self.M * o * i
            if has_b:
                self.biases.append(take(self.flat, (self.M, o, 1)))
                self.gbiases.append(take(self.flat_grad, (self.M, o, 1)))
                off += self.M * o
            else:
                self.biases.append(None)
                self.gbiases.append(None)
        self.widths = [[s[1] for s in p.shapes] for p in plans]        # per model: its out size per layer
        with torch.no_grad():
            for k, (m, p) in enumerate(zip(models, plans)):
                for l, name in enumerate(plan.linears):
                    lin = getattr(m, name)
                    i, o, _ = p.shapes[l]
                    self.weights[l][k, :o, :i] = lin.weight.detach()
                    if lin.bias is not None:
                        self.biases[l][k, :o, 0] = lin.bias.detach()
        # unit masks (G, P, out, 1) where padded units would not stay 0 by themselves
        self.unit = [None] * len(plan.shapes)
        if self.padded:
            for l, ops in enumerate(plan.ops[:-1]):
                if any(op[0] == "act" and op[1] not in ZERO_AT_ZERO for op in ops):
                    u = torch.zeros((self.M, plan.shapes[l][1], 1), device=device, dtype=dtype)
                    for k in range(self.M):
                        u[k, :self.widths[k][l]] = 1
                    self.unit[l] = u.view(self.G, self.P, -1, 1)
        # Views taken once: every update is in place, so they stay valid (each step saves ~15 view calls).
        o0, i0 = self.weights[0].shape[1:]
        self._first_w = self.weights[0].view(groups, self.P * o0, i0)
        self._first_gw = self.gweights[0].view(groups, self.P * o0, i0)
        self._first_b = self.biases[0].view(groups, self.P * o0, 1) if self.biases[0] is not None else None
        self._wT = [W.transpose(1, 2) for W in self.weights]
        self._bT = [b.transpose(1, 2) if b is not None else None for b in self.biases]   # (M, 1, out)
        self._gbT = [b.transpose(1, 2) if b is not None else None for b in self.gbiases]
        self._bflat = [b.view(-1) if b is not None else None for b in self.biases]
        self._gbflat = [b.view(-1) if b is not None else None for b in self.gbiases]
        self.unit_row = [u.view(self.G, self.P, 1, -1) if u is not None else None for u in self.unit]
        self._eval_ws = {}         # rows -> per-layer eval output buffers (see forward_eval)
        self._train_ws = {}        # batch size -> TrainWorkspace (see forward_train)

    def workspace(self, b: int) -> "TrainWorkspace":
        """The training step's buffers for batch size b (kept for the full batch and the last, shorter one)."""
        ws = self._train_ws.get(b)
        if ws is None:
            if len(self._train_ws) >= 2:
                self._train_ws.clear()
            ws = self._train_ws[b] = TrainWorkspace(self, b)
        return ws

    def per_layer(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """`flat` (laid out like the parameters, e.g. an optimizer state) as per-layer (M, ...) views."""
        out, off = [], 0
        for W, b in zip(self.weights, self.biases):
            for t in (W, b):
                if t is not None:
                    out.append(flat[off:off + t.numel()].view(t.shape))
                    off += t.numel()
        return out

    def write_back(self, models) -> None:
        with torch.no_grad():
            for l, name in enumerate(self.plan.linears):
                for k, m in enumerate(models):
                    lin = getattr(m, name)
                    o, i = lin.weight.shape
                    lin.weight.copy_(self.weights[l][k, :o, :i].to(lin.weight))
                    if self.biases[l] is not None:
                        lin.bias.copy_(self.biases[l][k, :o, 0].to(lin.bias))

    def zero_models(self, idx: torch.Tensor) -> None:
        """Zero the parameters of models `idx` (diverged) so their slices stay finite and inert."""
        with torch.no_grad():
            for t in self.per_layer(self.flat):
                t[idx] = 0

    # ------------------------------------------------------------------ forward
    def _first(self, x_t: torch.Tensor) -> torch.Tensor:
        """First Linear on the group-shared input x_t (G, in, B) -> (M, out, B)."""
        b = self._first_b
        z = torch.bmm(self._first_w, x_t) if b is None else torch.baddbmm(b, self._first_w, x_t)
        return z.view(self.M, self.weights[0].shape[1], -1)

    def forward_train(self, xb: torch.Tensor, masks):
        """Training forward.  xb: (G, b, in), the rows of each group's batch.  masks(l, p, b) -> a dropout
        mask broadcastable to (G, P, out, b).  Returns (output (M, out, b), tape) where tape holds what
        backward needs.  Layer outputs are written into the workspace of batch size b (valid until the
        next step): fresh outputs and ~30 views of them per step cost ~15 % of a batch-16 step."""
        b = xb.shape[1]
        ws = self.workspace(b)
        G, P = self.G, self.P
        tape = []
        a, aT = xb.transpose(1, 2), xb          # layer input (.., in, b) and its transpose (.., b, in)
        if ws.x_rows is not None:               # a row-major first layer of groups: every model's own copy
            ws.x_rows.view(G, P, b, -1).copy_(xb.unsqueeze(1))
            aT = ws.x_rows
        for l in range(len(self.weights)):
            bias, z, row = self.biases[l], ws.z[l], ws.row[l]
            if l == 0 and not row:              # grouped: one (P*out, in) matmul per seed group
                if bias is None:
                    torch.bmm(self._first_w, a, out=ws.z_first)
                else:
                    torch.baddbmm(self._first_b, self._first_w, a, out=ws.z_first)
            elif row:                           # z (M, b, out) = a^T W^T + b^T
                if bias is None:
                    torch.bmm(aT, self._wT[l], out=z)
                else:
                    torch.baddbmm(self._bT[l], aT, self._wT[l], out=z)
            elif bias is None:
                torch.bmm(self.weights[l], a, out=z)
            else:
                torch.baddbmm(bias, self.weights[l], a, out=z)
            ops_tape = []
            for op in self.plan.ops[l]:
                if op[0] == "act":
                    z = _act_(z, op[1], op[2])
                    ops_tape.append(("act", op[1], op[2], z))
                else:                           # column-major layers only (see _row_layout)
                    m = masks(l, op[1], b)
                    z = (z.view(G, P, *z.shape[1:]) * m).view(z.shape)
                    ops_tape.append(("dropout", m))
            if self.unit[l] is not None:
                u = self.unit_row[l] if row else self.unit[l]
                z = (z.view(G, P, *z.shape[1:]) * u).view(z.shape)
                ops_tape.append(("dropout", u))
            tape.append((aT, ops_tape))
            if z is ws.z[l]:
                a, aT = ws.zc[l], ws.zr[l]
            else:
                a, aT = (z.transpose(1, 2), z) if row else (z, z.transpose(1, 2))
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
            if self.unit[l] is not None:
                z.view(self.G, self.P, *z.shape[1:]).mul_(self.unit[l])
        return z

    # ------------------------------------------------------------------ backward
    def backward(self, dout: torch.Tensor, tape, *, sgd_lr: float | None = None, scale: float = 1.0) -> None:
        """Backpropagate scale * dout (M, out, b) after forward_train.  With sgd_lr: apply W -= lr*dW in
        place (fused plain SGD); else write the gradients into `flat_grad`.

        `scale` (e.g. 1/batch for a mean loss) is folded into the update's alpha, which is exact because
        every gradient is linear in dout; it saves a pass over dout per step.  dout is consumed: the
        activation and dropout backward run in place on it (and on every later input gradient, which
        lands in the workspace, in the layout of the layer below: see _row_layout), so no temporaries
        are allocated per layer."""
        G, P = self.G, self.P
        d = dout if dout.is_contiguous() else dout.contiguous()
        ws = self.workspace(d.shape[2])
        alpha = scale if sgd_lr is None else -sgd_lr * scale
        fused = sgd_lr is not None
        for l in range(len(self.weights) - 1, -1, -1):
            aT, ops_tape = tape[l]
            # own: d is a workspace buffer, whose views were taken once; else d is the loss gradient of the
            # (column-major) output layer
            own = d is ws.g[l]
            for rec in reversed(ops_tape):
                if rec[0] == "dropout":
                    (ws.gG[l] if own else d.view(G, P, *d.shape[1:])).mul_(rec[1])
                else:
                    _act_backward_(d, rec[1], rec[2], rec[3])
            row = ws.row[l]
            dc = ws.gc[l] if own else d                         # (M, out, b)
            if l > 0:                                           # input gradient, in layer l-1's layout
                if ws.row[l - 1]:
                    torch.bmm(ws.gr[l] if own else d.transpose(1, 2), self.weights[l], out=ws.g[l - 1])
                else:
                    torch.bmm(self._wT[l], dc, out=ws.g[l - 1])
            if l == 0 and not row:
                Wv, gWv = self._first_w, self._first_gw
                dc = ws.g_first if own else d.view(G, self._first_w.shape[1], -1)
            else:
                Wv, gWv = self.weights[l], self.gweights[l]
            if fused:
                Wv.baddbmm_(dc, aT, alpha=alpha)
            else:   # beta=0: alpha * dc @ aT in one kernel (the first argument only supplies the shape)
                torch.baddbmm(Wv, dc, aT, beta=0.0, alpha=alpha, out=gWv)
            if self.biases[l] is not None:      # bias gradient = d summed over the batch, one kernel
                if row:                         # (M, 1, b) @ (M, b, out) -> (M, 1, out)
                    if fused:
                        self._bT[l].baddbmm_(ws.ones_row, ws.gr[l], alpha=alpha)
                    else:
                        torch.baddbmm(self._gbT[l], ws.ones_row, ws.gr[l], beta=0.0, alpha=alpha, out=self._gbT[l])
                else:                           # (M*out, b) @ (b,): all models at once
                    d2 = ws.g2[l] if own else d.view(-1, d.shape[2])
                    if fused:
                        self._bflat[l].addmv_(d2, ws.ones, alpha=alpha)
                    else:
                        torch.addmv(self._gbflat[l], d2, ws.ones, beta=0.0, alpha=alpha, out=self._gbflat[l])
            d = ws.g[l - 1] if l > 0 else None


class TrainWorkspace:
    """The buffers of one training step at batch size b, made once.

    row[l]: layer l's layout (see _row_layout).  z[l]: layer l's output, (M, out_l, b) column-major or
    (M, b, out_l) row-major (its activation runs in place); z_first: z[0] as (G, P*out, b), the first
    layer's grouped matmul output (column-major first layer).  g[l]: the gradient at layer l's output,
    in z[l]'s layout: g[-1] (always column-major) is where the loss writes (losses.ce_grouped), g[l]
    for l < L-1 the input gradient of layer l+1; g_first the grouped view of g[0].  x_rows (M, b, in):
    a row-major first layer's input when groups share it (P > 1), every model's copy of its group's
    rows.  ones, ones_row: the bias gradients' batch sums."""

    def __init__(self, net: StackedMLP, b: int):
        M, G, P = net.M, net.G, net.P
        kw = dict(dtype=net.flat.dtype, device=net.flat.device)
        outs = [W.shape[1] for W in net.weights]
        self.b = b
        self.row = _row_layout(net.plan, P, b)
        self.x_rows = torch.empty((M, b, net.plan.n_in), **kw) if self.row[0] and P > 1 else None
        self.z = [torch.empty((M, b, o) if r else (M, o, b), **kw) for o, r in zip(outs, self.row)]
        self.z_first = None if self.row[0] else self.z[0].view(G, P * outs[0], b)
        self.g = [torch.empty_like(z) for z in self.z]
        self.g_first = None if self.row[0] else self.g[0].view(G, P * outs[0], b)
        # views taken once: zc/gc (M, out, b), zr/gr (M, b, out), gG (G, P, ...) for masks, g2 (M*out, b)
        self.zc = [z.transpose(1, 2) if r else z for z, r in zip(self.z, self.row)]
        self.zr = [z if r else z.transpose(1, 2) for z, r in zip(self.z, self.row)]
        self.gc = [g.transpose(1, 2) if r else g for g, r in zip(self.g, self.row)]
        self.gr = [g if r else g.transpose(1, 2) for g, r in zip(self.g, self.row)]
        self.gG = [g.view(G, P, *g.shape[1:]) for g in self.g]
        self.g2 = [None if r else g.view(-1, b) for g, r in zip(self.g, self.row)]
        self.ones = torch.ones(b, **kw)
        self.ones_row = torch.ones((M, 1, b), **kw)


# Row-major hidden layers from this width on: narrower layers are overhead-bound (measured no faster
# either way), and a short row is a poor matmul dimension (the 10-unit output layer: 8x slower).  A
# module variable so that tests can force the row-major path on small nets.
ROW_MIN_WIDTH = 64


# A grouped first layer (P > 1) goes row-major, on per-model copies of the group's rows, only below
# batch 16: there a column-major matmul (the batch as the output's contiguous dimension, shorter than
# one AVX-512 vector) is 1.5x (batch 12) to 3x (batch 4-8) slower; from batch 16 on the grouped matmul
# is as fast (batch 16) or faster (32: ~5 %) than P per-model ones.
GROUPED_ROW_MAX_BATCH = 15


def _row_layout(plan: MLPPlan, P: int, b: int) -> list[bool]:
    """Per layer: is its output kept row-major (M, b, out)?  Hidden layers of ROW_MIN_WIDTH+ units with
    no dropout (its masks are drawn column-major), in an unbroken run from the first layer, which must
    not be grouped (P = 1) unless the batch is small (GROUPED_ROW_MAX_BATCH): what pays is the input
    gradient of layer l+1 written row-major into layer l's layout, and after a column-major layer a
    row-major one measured no faster (P = 7, batch 16-64).

    Why (one thread, 18 models, 64-128-128-10, batch 16, 2026-12-03): MKL's sgemm is slow when the
    output's contiguous dimension is the batch and the left factor is a transposed view, which is the
    column-major input gradient W^T @ dZ (~150 us against ~128 us for dZ^T @ W written row-major);
    the row-major forward and weight update run as fast as the column-major ones.  Writing dZ^T @ W
    row-major and converting it back inside the next activation backward costs more than it saves
    (an elementwise op reading a transposed (18, 128, 16) view: ~42 us against ~5 us; a copy ~22 us)."""
    row = []
    for l, ((_, out, _), ops) in enumerate(zip(plan.shapes, plan.ops)):
        after = row[-1] if l else (P == 1 or b <= GROUPED_ROW_MAX_BATCH)
        row.append(after and l < len(plan.shapes) - 1 and out >= ROW_MIN_WIDTH
                   and not any(op[0] == "dropout" for op in ops))
    return row


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
