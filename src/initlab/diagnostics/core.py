"""`diagnose(model, inputs)`: one forward and one backward pass, recorded layer by layer.

The backward pass is ``torch.autograd.grad`` (never ``.backward()``), so the
parameters' ``.grad`` are not touched.  Without a loss, the gradient is a unit
gradient on the output: the gradient of ``output.sum()``, i.e. ``grad_outputs``
of ones.  With ``loss_fn`` (and ``targets``) it is the gradient of that loss.

The model is left exactly as it was: the forward hooks live in a context
manager that removes them also on an exception; train/eval flags, buffers
(BatchNorm running statistics), the RNG state (dropout draws from it) and the
parameters' ``.grad`` are restored or never touched.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ..errors import _AS_INIT, InitError, bad_argument
from ..policy.trace import FORWARD_ERRORS as _FORWARD_ERRORS   # what a model raises when it refuses inputs
from ..schemes.fans import fans_from_shape
from ._record import Recorder, first_tensor, forward_stats, summarize, unit_dim_for
from ._record import B_RMS, B_STD, F_DEAD, F_MAX, F_MEAN, F_MIN, F_SAT, F_SIGNAL, F_STD
from .diagnosis import Diagnosis, LayerStat, ParamStat
from .inputs import normalize
from .output_scale import head_info
from .output_scale import measure as measure_output
from .thresholds import DEFAULT_THRESHOLDS, Thresholds
from .verdicts import judge

_WHERE = "diagnose"


def _shape_or_name(targets, loss_fn):
    if loss_fn is not None:
        return getattr(loss_fn, "__name__", type(loss_fn).__name__)
    return f"a tensor of shape {tuple(targets.shape)}" if isinstance(targets, torch.Tensor) else targets


@contextlib.contextmanager
def preserved_state(model: nn.Module, train: bool | None):
    """Set train/eval for the pass; restore every module's flag, every buffer and the RNG state afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    buffers = []
    for m in model.modules():
        for name, b in m._buffers.items():
            if b is not None:
                buffers.append((m, name, b, b.detach().clone()))
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        if train is not None:
            model.train(train)
            if train:   # measure the initialization, not dropout noise (and keep the pass deterministic)
                for m in model.modules():
                    if isinstance(m, nn.modules.dropout._DropoutNd):
                        m.eval()
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for m, name, b, saved in buffers:
                if m._buffers.get(name) is not b:
                    m._buffers[name] = b
                if b.shape == saved.shape:
                    b.copy_(saved)
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def _check_args(model, inputs, targets, loss_fn, train, thresholds):
    if not isinstance(model, nn.Module):
        raise bad_argument(_WHERE, "model", type(model).__name__, "a torch.nn.Module",
                           "pass the model itself, e.g. initlab.models.build_model('deep-mlp:20:256:relu')")
    from ..policy.api import check_materialized
    check_materialized(_WHERE, model)
    if any(p.is_meta for p in model.parameters()):
        raise bad_argument(_WHERE, "model", "a model on the meta device", "a model with real values",
                           "diagnose measures values; materialize it first: model.to_empty(device='cpu'), then "
                           "initlab.init_(model, ...) (planning and applying work on meta; measuring does not)")
    inputs = normalize(inputs)
    if targets is not None and not isinstance(targets, torch.Tensor):
        raise bad_argument(_WHERE, "targets", type(targets).__name__, "a tensor or None",
                           "pass the labels as a tensor, e.g. torch.tensor(y)")
    if loss_fn is not None and not callable(loss_fn):
        raise bad_argument(_WHERE, "loss_fn", loss_fn, "a callable loss_fn(output, targets) -> scalar, or None",
                           "e.g. loss_fn=torch.nn.functional.cross_entropy")
    if train is not None and not isinstance(train, bool):
        raise bad_argument(_WHERE, "train", train, "True, False or None", "train=True diagnoses the first training "
                           "step (BatchNorm batch statistics, dropout on); None keeps the model's mode")
    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS
    if not isinstance(thresholds, Thresholds):
        raise bad_argument(_WHERE, "thresholds", thresholds, "an initlab.diagnostics.Thresholds or None",
                           "e.g. thresholds=Thresholds(dead=0.8)")
    return inputs, thresholds


def _loss(y, targets, loss_fn):
    import torch.nn.functional as F
    if loss_fn is None:
        if not targets.is_floating_point() and y.dim() >= 3 and tuple(targets.shape) == tuple(y.shape[:-1]):
            # (batch, positions, classes) logits, e.g. a language model: classes on the last dim
            loss_fn, name = (lambda o, t: F.cross_entropy(o.reshape(-1, o.shape[-1]), t.reshape(-1))), "cross_entropy"
        elif not targets.is_floating_point() and y.dim() >= 2:
            loss_fn, name = F.cross_entropy, "cross_entropy"
        else:
            loss_fn, name = (lambda o, t: F.mse_loss(o.reshape(t.shape) if o.numel() == t.numel() else o, t.to(o.dtype))), "mse"
    else:
        name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    loss = loss_fn(y) if targets is None else loss_fn(y, targets)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise bad_argument(_WHERE, "loss_fn", name, "a loss returning one number (a scalar tensor)",
                           "use reduction='mean' (the default of torch losses)")
    return loss.reshape(()), name


def diagnose(model: nn.Module, inputs, targets=None, loss_fn=None, *, train: bool | None = True,
             thresholds: Thresholds | None = None) -> Diagnosis:
    """Diagnose an initialization before training: per-layer signal propagation, verdicts and fixes.

    One forward pass on ``inputs`` and one backward pass: of ``loss_fn(output, targets)`` when given
    (``loss_fn(output)`` when only ``loss_fn``; cross-entropy for integer ``targets`` and MSE for float
    ``targets`` when only ``targets``), else a unit gradient on the output (the gradient of
    ``output.sum()``).  Gradients come from ``torch.autograd.grad``, so ``.grad`` is never written.

    ``train=True`` (default) runs the pass in training mode, as the first training step sees the net
    (BatchNorm uses the batch statistics), except that dropout is off: the pass is deterministic and
    measures the initialization, not the dropout noise (which would also hide symmetric units);
    ``False`` runs in eval mode; ``None`` keeps the model's modes as they are.
    The mode, buffers and the RNG state are restored afterwards.

    Returns a `Diagnosis`: ``.healthy``, ``.verdicts`` (each with evidence and a fix), ``.table()``,
    ``.to_dict()``, ``.plot(path)``.  Thresholds: `initlab.diagnostics.Thresholds`.

    Example:
        >>> model = initlab.models.build_model("deep-mlp:50:256:tanh")
        >>> d = initlab.diagnose(model, torch.randn(256, 256))
        >>> d.healthy, [v.kind for v in d.verdicts]
        (False, ['vanishing', 'vanishing'])
        >>> print(d.table())
    """
    inputs, th = _check_args(model, inputs, targets, loss_fn, train, thresholds)
    x = inputs.first
    in_dim = -1 if x.dim() == 2 else (1 if x.dim() > 2 else None)
    with torch.no_grad():
        in_st = forward_stats(x if x.is_floating_point() else x.float(), in_dim, None, th)
    named_params = [(n, p) for n, p in model.named_parameters()]
    grad_params = [(n, p) for n, p in named_params if p.requires_grad]
    backward_desc = "unit gradient on the output (gradient of output.sum())"
    with preserved_state(model, train):
        mode = "train" if model.training else "eval"
        with torch.enable_grad():
            with Recorder(model, th) as rec:
                try:
                    out = inputs.call(model)
                except _FORWARD_ERRORS as e:     # the model refuses these inputs: say so, as plan() does
                    if isinstance(e, InitError):
                        raise
                    from ..policy.trace import input_error
                    raise input_error(model, inputs.raw, e, _WHERE, "inputs") from None
            calls = rec.calls
            empty = first_tensor(out)
            if not calls and empty is not None and empty.numel() == 0:
                raise bad_argument(_WHERE, "model output", f"a tensor of shape {tuple(empty.shape)}",
                                   "an output with at least one value per sample",
                                   "a zero-size layer (e.g. nn.Linear(n, 0)) leaves nothing to measure; give it "
                                   "at least one unit")
            if not calls:
                raise bad_argument(_WHERE, "model", type(model).__name__,
                                   "a model with Linear/Conv/norm layers or activation modules",
                                   "diagnose records modules that own parameters and activation modules; "
                                   "use nn.ReLU() etc. rather than only torch.relu")
            y = out.get("logits") if isinstance(out, dict) and isinstance(out.get("logits"), torch.Tensor) else None
            y = y if y is not None else first_tensor(out)   # HF outputs put `loss` first when labels are given
            if y is None:
                raise bad_argument(_WHERE, "model output", type(out).__name__, "a floating-point tensor "
                                   "(or a tuple/dict whose first tensor is the prediction)", "return the logits")
            grads = None
            if targets is not None or loss_fn is not None:
                try:
                    root, name = _loss(y, targets, loss_fn)
                except _FORWARD_ERRORS as e:
                    if isinstance(e, InitError):
                        raise
                    raise bad_argument(_WHERE, "targets" if loss_fn is None else "loss_fn",
                                       _shape_or_name(targets, loss_fn), "a loss the model's output "
                                       f"{tuple(y.shape)} and the targets fit ({type(e).__name__}: "
                                       f"{str(e).splitlines()[0] if str(e) else ''})",
                                       "pass targets of the batch's length (class indices for classification, "
                                       "floats shaped like the output for regression), or a matching loss_fn",
                                       cls=_AS_INIT.get(type(e), InitError)) from None
                grad_out = None
                backward_desc = f"gradient of the loss ({name})"
            else:
                root, grad_out = y.sum(), None   # = grad_outputs ones, without torch importing sympy (~1 s)
            seen, outs = set(), []
            for c in calls:
                if c.output.requires_grad and id(c.output) not in seen:
                    seen.add(id(c.output))
                    outs.append(c.output)
            wrt = [p for _, p in grad_params] + outs
            if root.requires_grad and wrt:
                grads = torch.autograd.grad(root, wrt, grad_outputs=grad_out, allow_unused=True)
            else:
                backward_desc = "none (nothing requires grad)"
        pgrads = dict(zip([n for n, _ in grad_params], grads[:len(grad_params)])) if grads else {}
        ograds = dict(zip([id(o) for o in outs], grads[len(grad_params):])) if grads else {}

        # per-layer numbers, gradient statistics and identical units: batched over same-shape layers
        def nonfinite(t):
            return int((~torch.isfinite(t.detach())).sum()) if t is not None else 0
        with torch.no_grad():
            items = [(c.fwd, ograds.get(id(c.output)), c.unit_dim) for c in calls]
            F_, B_, I_ = summarize(items, th, rec.scratch)
            P_ = _param_rows([p for _, p in named_params], [pgrads.get(n) for n, _ in named_params])
            in_row = summarize([(in_st, None, in_dim)], th)[0][0]
            out_depth = calls[_output_index(calls, y)].depth
            first_out = _first_at_depth(calls, out_depth)
            layers = []
            for c, fr, br, (ident, kd) in zip(calls, F_, B_, I_):
                g = ograds.get(id(c.output))
                # rare paths: count NaN/inf; redo statistics that overflowed float32 (|x| > 1.8e19) in float64
                nf = 0 if all(map(math.isfinite, (fr[F_MIN], fr[F_MAX]))) else nonfinite(c.output)
                gnf = nonfinite(g) if g is not None and not math.isfinite(br[B_RMS]) else 0
                if (nf == 0 and not math.isfinite(fr[F_STD])) or (g is not None and gnf == 0
                                                                   and not math.isfinite(br[B_RMS])):
                    st64 = forward_stats(c.output.detach().double(), c.unit_dim, c.family, th)
                    f64, b64, _ = summarize([(st64, None if g is None else g.double(), c.unit_dim)], th)
                    fr, br = (f64[0] if nf == 0 else fr), (b64[0] if g is not None and gnf == 0 else br)
                layers.append(LayerStat(
                    index=c.index, depth=c.depth, name=c.name, type=c.type, family=c.family, shape=c.shape,
                    units=int(c.fwd["units"]), values_per_unit=int(c.fwd["n_per_unit"]), weight_layer=c.weight_layer,
                    is_output=c.depth == out_depth and c.index >= first_out,
                    mean=fr[F_MEAN], std=fr[F_STD], min=fr[F_MIN], max=fr[F_MAX], signal_std=fr[F_SIGNAL],
                    ratio=math.nan, dead=fr[F_DEAD] if c.family == "relu" else math.nan, saturated=fr[F_SAT],
                    identical=ident, distinct_units=int(kd), grad_rms=br[B_RMS], grad_std=br[B_STD],
                    grad_ratio=math.nan, nonfinite=nf, grad_nonfinite=gnf,
                    sample=c.fwd["sub"].detach().float().flatten().cpu()))
        params = []
        transposed = _transposed_weights(model)
        for (n, p), r in zip(named_params, P_):
            fi = fo = None
            if p.dim() >= 2:
                fi, fo = fans_from_shape(tuple(p.shape))
                if n in transposed:          # stored (in, out), e.g. HF Conv1D: fans from its layout
                    fi, fo = fo, fi
            pnf = nonfinite(p) if not (math.isfinite(r[0]) and math.isfinite(r[1])) else 0
            g = pgrads.get(n)
            gnf = nonfinite(g) if g is not None and not math.isfinite(r[4]) else 0
            params.append(ParamStat(name=n, shape=tuple(p.shape), mean=r[0], std=r[1], norm=r[2], grad_std=r[4],
                                    grad_norm=r[5], grad_to_weight=_div(r[5], r[2]), fan_in=fi, fan_out=fo,
                                    requires_grad=p.requires_grad, nonfinite=pnf, grad_nonfinite=gnf))

    in_nf = 0 if all(map(math.isfinite, in_row)) else nonfinite(x)
    sig_in = in_row[F_SIGNAL]
    reference = "the input"
    if not x.is_floating_point():   # token ids: the first layer's output (the embedding) is the reference
        sig_in, reference = layers[0].signal_std, f"layer {layers[0].name}'s output (the inputs are not floats)"
    if in_nf == 0 and not sig_in > 0:
        raise bad_argument(_WHERE, "inputs", f"a batch of {x.shape[0]} identical samples",
                           "samples that differ (the signal is measured across the batch)",
                           "pass real or random inputs, e.g. torch.randn(256, n_features)")
    for l in layers:
        l.ratio = _div(l.signal_std, sig_in)
    end_ratio, head_identical = _arriving_ratio(calls, layers, th, sig_in)
    hidden = [l for l in layers if not l.is_output and l.grad_rms == l.grad_rms]
    if hidden:
        ref = hidden[-1].grad_rms
        if not ref > 0:
            ref = max((l.grad_rms for l in hidden if math.isfinite(l.grad_rms)), default=0.0)
        for l in layers:
            if l.grad_rms == l.grad_rms:
                l.grad_ratio = _div(l.grad_rms, ref) if ref > 0 else (0.0 if l.grad_rms == 0 else math.inf)
    settings = {"batch": int(x.shape[0]), "input_shape": list(x.shape), "mode": mode, "backward": backward_desc,
                "parameters": len(named_params), "ratios_relative_to": reference}
    inp = {"mean": in_row[F_MEAN], "std": in_row[F_STD], "min": in_row[F_MIN], "max": in_row[F_MAX],
           "signal_std": sig_in, "nonfinite": in_nf, "shape": list(x.shape), "arriving_ratio": end_ratio,
           "head_input_identical": head_identical}
    diag = Diagnosis(layers=layers, params=params, input=inp, thresholds=th, settings=settings,
                     backward_ok=grads is not None, _modules=dict(model.named_modules()))
    diag.output = measure_output(y, targets)
    if diag.output:
        diag.output.update(head_info(model, layers, params))
    try:
        diag.verdicts = judge(diag)
    finally:
        diag._modules = None
    return diag


def _transposed_weights(model) -> set:
    """Names of weights stored (in, out) (policy/families.py layout "in_out")."""
    from ..policy.families import classify
    return {f"{n}.weight" if n else "weight" for n, m in model.named_modules() if classify(m) == ("linear", "in_out")}


def _param_rows(params, grads):
    """[mean, std, norm, grad mean, grad std, grad norm] per parameter (nan where absent).

    Batched: one sum per tensor and one torch._foreach_norm for all of them;
    var = mean square - mean^2 in float64, and a std below float32's resolution
    of the norm (a constant tensor) is reported as exactly 0.
    """
    rows = [[math.nan] * 6 for _ in params]
    for off, ts in ((0, params), (3, grads)):
        idx = [i for i, t in enumerate(ts) if t is not None and t.numel() > 0]
        if not idx:
            continue
        xs = [ts[i].detach() for i in idx]
        # half precision and integer / bool parameters (an index table, a mask) are measured in float32,
        # complex ones by their magnitude (torch's norms refuse integer tensors)
        xs = [x.abs() if x.is_complex() else x.float() if x.dtype in (torch.float16, torch.bfloat16) or
              not x.is_floating_point() else x for x in xs]
        n = torch.tensor([float(x.numel()) for x in xs], dtype=torch.float64)
        means = torch.stack([x.sum() for x in xs]).double().cpu() / n
        norms = torch.stack(torch._foreach_norm(xs)).double().cpu()
        ms = norms.square() / n
        var = ms - means.square()
        var = torch.where(var <= 1e-6 * ms, torch.zeros_like(var), var)
        for j, (m, sd, nm) in enumerate(zip(means.tolist(), var.sqrt().tolist(), norms.tolist())):
            rows[idx[j]][off:off + 3] = [m, sd, nm]
    return rows


def _div(a: float, b: float) -> float:
    if a != a or b != b:
        return math.nan
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return a / b


def _arriving_ratio(calls, layers, th, sig_in) -> tuple[float, float]:
    """Signal std of what the output layer reads, relative to the input's, and the fraction of its input
    units that copy another (nan, nan when unknown).

    In a residual net the last recorded hidden layer is a branch's last layer, not what reaches the
    head (x + branch); the head's own input is.
    """
    head = next((c for c, l in zip(calls, layers) if l.is_output and c.weight_layer), None)
    if head is None or "input" not in head.extra:
        return math.nan, math.nan
    inp = head.extra["input"]
    if inp._version != head.extra["input_version"] or inp.dim() < 2:
        return math.nan, math.nan
    if inp.numel() == 0:     # a zero-width layer before the head: no signal arrives (the output is its bias)
        return 0.0, math.nan
    with torch.no_grad():
        st = forward_stats(inp, unit_dim_for(head.module, inp, None), None, th)
        F, _, I = summarize([(st, None, None)], th)
    return _div(F[0][F_SIGNAL], sig_in), float(I[0][0])


def _output_index(calls, y) -> int:
    for i in range(len(calls) - 1, -1, -1):
        if calls[i].output is y:
            return i
    for i in range(len(calls) - 1, -1, -1):
        o = calls[i].output
        if o.numel() == y.numel() and o.data_ptr() == y.data_ptr():
            return i
    return len(calls) - 1


def _first_at_depth(calls, depth: int) -> int:
    return next(c.index for c in calls if c.depth == depth)


__all__ = ["diagnose", "preserved_state"]
