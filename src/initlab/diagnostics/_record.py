"""Forward hooks and the per-layer statistics they compute.

Everything here is vectorized: a layer's output is viewed as (P, C, Q) with the
C units in the middle (P x Q values per unit: batch x positions).  The forward
hook takes per-unit sums, centred sums of squares, amin and amax (plus one
count for tanh/sigmoid saturation) and keeps each unit's values at up to 64
fixed positions.  Everything else (the per-layer numbers, the gradient
statistics and identical-unit detection) is computed after the backward pass in
one batch per group of layers with equal output shapes (`summarize`), and read
back with one ``tolist()`` per group.

Units identical to another unit are found without comparing units pairwise:
each unit gets a signature (its values at 8 fixed positions, its mean and its
std, for the outputs and for the gradients, each part scaled by the layer's
largest value); the units are sorted by a fixed random projection of their
signatures, which puts copies next to each other, and neighbours whose
signatures agree to within ``identical_tol`` are copies.  (No rounding to a grid:
two copies that differ in the last float bit could fall on both sides of a grid
line.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

_ACT_EXCLUDED = {"Softmax", "Softmin", "LogSoftmax", "Softmax2d", "MultiheadAttention",
                 "NonDynamicallyQuantizableLinear"}
ACTIVATION_TYPES = tuple(
    cls for name, cls in vars(torch.nn.modules.activation).items()
    if isinstance(cls, type) and issubclass(cls, nn.Module) and cls is not nn.Module and name not in _ACT_EXCLUDED
    and cls.__module__ == "torch.nn.modules.activation")
NORM_TYPES = tuple(t for t in (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
                               getattr(nn, "RMSNorm", None)) if t is not None)
_CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LocalResponseNorm)
_UNITS_LAST = tuple(t for t in (nn.Linear, nn.Bilinear, nn.LayerNorm, nn.Embedding, nn.EmbeddingBag,
                                nn.MultiheadAttention, nn.RNNBase, getattr(nn, "RMSNorm", None)) if t is not None)

#: activation family -> how the verdicts treat it
_FAMILY = {nn.ReLU: "relu", nn.ReLU6: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
           nn.LeakyReLU: "leaky_relu", nn.PReLU: "leaky_relu", nn.RReLU: "leaky_relu", nn.SELU: "selu",
           nn.GELU: "relu_like", nn.SiLU: "relu_like", nn.Mish: "relu_like", nn.ELU: "relu_like",
           nn.CELU: "relu_like", nn.Softplus: "relu_like", nn.Hardswish: "relu_like"}

N_POSITIONS = 64      # positions per unit kept for the histograms
N_SIGNATURE = 8       # of those, how many go into a unit's signature (with its mean and std)

# forward stats row: F_MEAN .. F_SAT; backward stats row: B_RMS, B_STD
F_MEAN, F_STD, F_MIN, F_MAX, F_SIGNAL, F_DEAD, F_SAT = range(7)
B_RMS, B_STD = range(2)


_FAMILY_CACHE: dict = {}


def family(module: nn.Module) -> str | None:
    """'relu', 'tanh', 'sigmoid', 'leaky_relu', 'selu', 'relu_like', 'other' for activations, else None."""
    t = type(module)
    if t not in _FAMILY_CACHE:
        fam = next((_FAMILY[c] for c in t.__mro__ if c in _FAMILY), None)
        _FAMILY_CACHE[t] = fam or ("other" if issubclass(t, ACTIVATION_TYPES) else None)
    return _FAMILY_CACHE[t]


def is_weight_layer(module: nn.Module) -> bool:
    """A layer that adds depth: it owns a parameter with 2+ dims (Linear, Conv, Embedding, ...)."""
    if isinstance(module, NORM_TYPES):
        return False
    return any(p.dim() >= 2 for p in module.parameters(recurse=False))


def watched(module: nn.Module) -> bool:
    """Modules diagnose records: those owning parameters, every activation and every norm layer."""
    return (any(True for _ in module.parameters(recurse=False)) or isinstance(module, ACTIVATION_TYPES)
            or isinstance(module, NORM_TYPES))


def first_tensor(out):
    """The first floating tensor in a module's output (tensor, tuple/list or dict), or None."""
    if isinstance(out, torch.Tensor):
        return out if out.is_floating_point() else None
    if isinstance(out, (tuple, list)):
        for o in out:
            t = first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        for o in out.values():
            t = first_tensor(o)
            if t is not None:
                return t
    return None


def as3d(t: torch.Tensor, unit_dim: int | None) -> torch.Tensor:
    """View t as (P, C, Q): C units, P x Q values per unit."""
    if t.dim() <= 1 or unit_dim is None:
        return t.reshape(-1, 1, 1)
    d = unit_dim % t.dim()
    lead = math.prod(t.shape[:d])
    return t.reshape(lead, t.shape[d], -1)


_POS: dict = {}


def _positions(p: int, q: int, device):
    """Up to N_POSITIONS evenly spread (row, position) indices into a (P, C, Q) view (cached)."""
    key = (p, q, device)
    got = _POS.get(key)
    if got is None:
        n = p * q
        k = torch.linspace(0, n - 1, min(n, N_POSITIONS)).round().long()
        got = _POS[key] = (k // q).to(device), (k % q).to(device)
    return got


def _subset(x3: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Values of every unit at the fixed positions (the first k of them): (m, C)."""
    pi, qi = _positions(x3.shape[0], x3.shape[2], x3.device)
    if k is not None:
        pi, qi = pi[:k], qi[:k]
    if x3.shape[2] == 1:
        return x3[:, :, 0].index_select(0, pi)
    return x3[pi, :, qi]


def _float(x3: torch.Tensor) -> torch.Tensor:
    return x3.float() if x3.dtype in (torch.float16, torch.bfloat16) else x3


class Scratch:
    """Reusable work buffers, one per (shape, dtype, device), for the elementwise steps of the statistics.

    A fresh multi-megabyte temporary per layer costs more on CPU than the reductions themselves (the
    allocator returns big blocks to the OS and page-faults them back); writing into a warm buffer does not.
    One Scratch lives for one diagnose call.
    """

    def __init__(self):
        self._bufs: dict = {}

    def like(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, x.device)
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._bufs[key] = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        return buf


def _per_unit(op, x: torch.Tensor) -> torch.Tensor:
    """Reduce (P, C) over dim 0, or (P, C, Q) over dims 2 then 0 (contiguous first: several x faster on CPU)."""
    return op(op(x, 2), 0) if x.dim() == 3 else op(x, 0)


def _mean(x, d):
    return x.mean(d)


def _amin(x, d):
    return x.amin(d)


def _amax(x, d):
    return x.amax(d)


def forward_stats(t: torch.Tensor, unit_dim: int | None, fam: str | None, th, scratch: Scratch | None = None) -> dict:
    """Per-unit statistics of a layer output, taken in the forward hook (before any in-place op can change it).

    Reductions only, no Python loop over units: a sum, a centred sum of squares
    (two passes, exact for a tiny signal on top of a large mean, which one-pass
    formulas and float32 are not), amin, amax, and for tanh/sigmoid one count.
    The elementwise steps write into a reused scratch buffer.  Call under torch.no_grad().
    """
    x3 = _float(as3d(t.detach(), unit_dim))
    p, c, q = x3.shape
    n = p * q
    x = x3[:, :, 0] if q == 1 else x3
    buf = (scratch or Scratch()).like(x)
    mean_u = _per_unit(_mean, x)          # equal-sized groups: the mean of the means is the mean
    torch.sub(x, mean_u if q == 1 else mean_u[None, :, None], out=buf)
    var_u = _per_unit(_mean, buf.square_())
    sat = None
    # count of |y| > limit as sum(sign(relu(|y| - limit))): float ops, about 2x faster on CPU than a bool mask
    if fam == "tanh":
        sat = torch.abs(x, out=buf).sub_(th.tanh_saturation).clamp_(min=0).sign_().sum()
    elif fam == "sigmoid":
        sat = torch.sub(x, 0.5, out=buf).abs_().sub_(0.5 - th.sigmoid_saturation).clamp_(min=0).sign_().sum()
    return {"shape3": (p, c, q), "mean_u": mean_u, "var_u": var_u, "min_u": _per_unit(_amin, x),
            "max_u": _per_unit(_amax, x), "sat": sat, "sub": _subset(x3), "n_per_unit": n, "units": c}


_PROJ: dict = {}


def _projection(n: int, device) -> torch.Tensor:
    key = (n, device)
    got = _PROJ.get(key)
    if got is None:
        g = torch.Generator().manual_seed(12345)
        got = _PROJ[key] = torch.randn(n, generator=g, dtype=torch.float64).to(device)
    return got


def _signature(sub, mean_u, var_u):
    """(L, C, k + 2): each unit's values at k fixed positions, mean and std; scaled per layer to max |.| = 1."""
    sig = torch.cat([sub[:, :N_SIGNATURE].transpose(1, 2), mean_u[..., None], var_u.clamp_min(0).sqrt()[..., None]],
                    dim=2)
    return sig / sig.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-30)


def _grad_moments(g: torch.Tensor, unit_dim: int | None, scratch: Scratch):
    """(mean per unit, mean square per unit, values at the fixed positions) of a gradient: two reductions."""
    g3 = _float(as3d(g.detach(), unit_dim))
    p, c, q = g3.shape
    x = g3[:, :, 0] if q == 1 else g3
    sq = torch.mul(x, x, out=scratch.like(x))
    return _per_unit(_mean, x), _per_unit(_mean, sq), _subset(g3, N_SIGNATURE)


def summarize(items, th, scratch: Scratch | None = None):
    """Stats rows for many layers at once, batched over layers whose outputs have the same shape.

    items: list of (forward_stats dict, gradient tensor or None, unit_dim).
    Returns (F, B, I): per item [mean, std, min, max, signal_std, dead, saturated],
    [grad_rms, grad_std] (nan without gradient) and [identical fraction, distinct units], as lists.

    Identical units: see the module docstring (sort by a projection, compare neighbours).
    """
    groups: dict = {}
    for i, (st, g, _) in enumerate(items):
        key = (st["shape3"], st["mean_u"].dtype, st["mean_u"].device, g is not None)
        groups.setdefault(key, []).append(i)
    F, B, I = [None] * len(items), [None] * len(items), [None] * len(items)
    nan = math.nan
    for (shape3, _, dev, has_grad), idx in groups.items():
        p, c, q = shape3
        n = p * q
        sts = [items[i][0] for i in idx]
        MU = torch.stack([s["mean_u"] for s in sts])
        VU = torch.stack([s["var_u"] for s in sts])
        MX = torch.stack([s["max_u"] for s in sts])
        mean = MU.mean(1)
        var_sig = VU.mean(1)
        var_tot = var_sig + (MU - mean[:, None]).square().mean(1)
        cols = [mean, var_tot.sqrt(), torch.stack([s["min_u"] for s in sts]).amin(1), MX.amax(1), var_sig.sqrt(),
                (MX <= 0).to(MU.dtype).mean(1)]
        sig = _signature(torch.stack([s["sub"][:N_SIGNATURE] for s in sts]), MU, VU)
        if has_grad:
            scratch = scratch or Scratch()
            gm = [_grad_moments(items[i][1], items[i][2], scratch) for i in idx]
            GMU = torch.stack([m[0] for m in gm])
            GMS = torch.stack([m[1] for m in gm])
            GVU = (GMS - GMU.square()).clamp_min(0)
            gmean = GMU.mean(1)
            grows = torch.stack([GMS.mean(1).sqrt(),
                                 (GVU.mean(1) + (GMU - gmean[:, None]).square().mean(1)).sqrt()], 1).tolist()
            sig = torch.cat([sig, _signature(torch.stack([m[2][:N_SIGNATURE] for m in gm]), GMU, GVU)], dim=2)
        else:
            grows = [[nan, nan]] * len(idx)
        # sort the units of each layer along a fixed random direction: copies land next to each other;
        # neighbours whose signatures agree to within identical_tol (max abs difference) are copies
        r = _projection(sig.shape[2], sig.device)
        ps, order = (sig.double() @ r).sort(dim=1)
        # copies' projections differ by at most tol * sum|r|: only such neighbours need the full comparison,
        # and in a healthy layer there are none
        eq = (ps[:, 1:] - ps[:, :-1]) <= th.identical_tol * float(r.abs().sum())
        if bool(eq.any()):
            ss = sig.gather(1, order[:, :, None].expand(-1, -1, sig.shape[2]))
            eq &= (ss[:, 1:] - ss[:, :-1]).abs().amax(dim=2) <= th.identical_tol
        hs = ps
        dup = torch.zeros_like(hs, dtype=torch.bool)
        dup[:, 1:] |= eq
        dup[:, :-1] |= eq
        ident = torch.stack([dup.double().mean(1), c - eq.double().sum(1)], 1).tolist() if c > 1 else \
            [[0.0, 1.0]] * len(idx)
        frows = torch.stack(cols, 1).double().tolist()
        for j, i in enumerate(idx):
            st = sts[j]
            row = frows[j] + [float(st["sat"]) / (n * c) if st["sat"] is not None else nan]
            F[i], B[i], I[i] = row, grows[j], ident[j]
    return F, B, I


@dataclass
class Call:
    """One recorded call of a watched module."""

    index: int
    name: str
    module: nn.Module
    type: str
    family: str | None
    depth: int
    weight_layer: bool
    unit_dim: int | None
    shape: tuple
    output: torch.Tensor
    fwd: dict
    bwd: dict | None = None
    extra: dict = field(default_factory=dict)


def _dense(module: nn.Module) -> bool:
    from ..policy.families import family as policy_family
    return policy_family(module) == "linear"


def unit_dim_for(module: nn.Module, out: torch.Tensor, prev: "Call | None") -> int | None:
    if out.dim() <= 1:
        return None
    if isinstance(module, _CHANNEL_FIRST):
        return 1
    if isinstance(module, _UNITS_LAST):
        return -1
    if _dense(module):           # registered / foreign dense layers (HF Conv1D): features last, like nn.Linear
        return -1
    if out.dim() == 2:
        return 1
    if prev is not None and len(prev.shape) == out.dim():
        return prev.unit_dim
    return 1 if out.dim() >= 4 else -1     # images are channels-first; sequences (B, T, features)


class RecorderError(Exception):
    """A failure inside diagnose's own forward hook (kept apart from what the model raises on bad inputs)."""


class Recorder:
    """Context manager that hooks every watched module and always removes its hooks.

    Inside the ``with`` block each call of a watched module appends a `Call`
    with the statistics of its output; on exit (also on an exception) every hook
    is removed.
    """

    def __init__(self, model: nn.Module, thresholds):
        self.model = model
        self.th = thresholds
        self.calls: list[Call] = []
        self._handles = []
        self._depth = 0
        self._info = {}
        self.scratch = Scratch()
        self._counts: dict[str, int] = {}

    def __enter__(self):
        try:
            for name, m in self.model.named_modules():
                if watched(m):
                    self._info[m] = (name or type(m).__name__, is_weight_layer(m), family(m), type(m).__name__)
                    self._handles.append(m.register_forward_hook(self._hook))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc):
        self._remove()
        return False

    def _remove(self):
        for h in self._handles:
            h.remove()
        self._handles.clear()

    @property
    def active_hooks(self) -> int:
        return len(self._handles)

    def _hook(self, module, args, out):
        try:
            return self._record(module, args, out)
        except Exception as e:  # noqa: BLE001 - a failure of the recorder itself is no fault of the inputs
            raise RecorderError(f"diagnose: recording {type(module).__name__} failed ({type(e).__name__}: {e})") from e

    def _record(self, module, args, out):
        t = first_tensor(out)
        if t is None or t.numel() == 0:
            return
        replaced = None
        if isinstance(out, torch.Tensor) and not t.requires_grad and torch.is_grad_enabled():
            # Nothing before this layer requires grad (a frozen prefix): without this, no gradient would be
            # measured here, and units told apart only by their gradients (e.g. ReLU units dead on a small
            # batch) would look like copies.  A fresh graph root carries the gradient the rest of the net
            # sends back; clone() so a later in-place op (ReLU(inplace=True)) does not touch a leaf.
            t = replaced = t.detach().requires_grad_().clone()
        name, wl, fam, tname = self._info[module]
        if wl:
            self._depth += 1
        n = self._counts.get(name, 0) + 1
        self._counts[name] = n
        if n > 1:
            name = f"{name}#{n}"
        prev = self.calls[-1] if self.calls else None
        ud = unit_dim_for(module, t, prev)
        with torch.no_grad():
            st = forward_stats(t, ud, fam, self.th, self.scratch)
        call = Call(index=len(self.calls) + 1, name=name, module=module, type=tname, family=fam,
                    depth=self._depth, weight_layer=wl, unit_dim=ud, shape=tuple(t.shape), output=t, fwd=st)
        if wl:   # keep (a reference to) what a weight layer reads: the head's input is the signal that arrives
            inp = first_tensor(args)
            if inp is not None:
                call.extra["input"], call.extra["input_version"] = inp, inp._version
        self.calls.append(call)
        return replaced


__all__ = ["Recorder", "Call", "Scratch", "forward_stats", "summarize", "family", "watched",
           "first_tensor", "ACTIVATION_TYPES", "NORM_TYPES"]
