"""auto with example_inputs: which weight layers are calibrated on the batch, and why (calibrate.py does it).

The rule.  When the plan has example_inputs (and calibrate=True), every Linear/Conv weight layer is drawn
from its analytic rule (auto.choose) and then calibrated on that batch, in forward order: its output's unit
means are moved into its bias when they carry more than half of the output's mean of squares (calibrate.
MEAN_SHARE) and the layer reads the model's input or a mean-dominated activation such as sigmoid (mean_fed),
and weight and bias are scaled so the output's mean of squares (after that centring) is 1.  In a plain stack
(no residual branches) these layers are drawn orthogonal (draw), and the layer reading the input, before a
relu-like activation, starts at torch's default bias instead of 0 (input_bias).
Why: every gain rule assumes standardized, zero-mean inputs and an idealized activation; on real data
(pixels in [0, 1], sigmoid's outputs around 0.5, depth that compounds small errors) the assumption fails
and the signal that reaches the logits drifts.  Measuring it on the batch is what LSUV does (Mishkin &
Matas 2015) and what closes the gap in benchmarks/auto_quality.py.

Recurrent layers (RNN/LSTM/GRU): the first layer's input weights (weight_ih_l0, and _reverse) keep their gate
rule's draw and are then scaled by 1/sqrt(mean of squares of the RNN's input on the batch), measured in the same
forward pass (rnn_input): the fan rules assume unit inputs, and on [0, 1] pixels (digits: 0.23) the gates start
2x too quiet.  Measured (benchmarks/auto_models.py, docs/auto_quality.md "Recurrent layers"): a 2-layer LSTM on
digits rows, 8 seeds, +3.6 points (SGD) and +1.8 (Adam); a GRU on standardized MNIST-1D is unchanged (scale
~1).  Deeper layers read h = o * tanh(c), bounded, and keep the analytic rule; recurrent weights stay orthogonal.

Not calibrated, each for its own reason (the row says which):
  * the output layer: it keeps its own rule (lecun_normal on what the calibrated layers feed it, so logits
    of second moment ~1; zeros for a single output, auto_stream.py); scaling it on the batch made training
    worse in the benchmark;
  * the last layer of a residual branch: its scale (1/sqrt(L) or 0) is the residual rule's choice;
  * the other layers of a residual branch: the skip path carries the signal (nothing compounds with depth),
    and calibrating them changes the branch's size next to the skip, which the residual rule set
    (measured on benchmarks/auto_quality.py, 3 seeds: not calibrating them gained 1.0 point on the pre-norm
    GELU residual MLP, lost 0.4 on the plain ReLU one and changed nothing on the transformer);
  * a layer followed by a norm: the norm sets mean and variance itself;
  * MultiheadAttention's out_proj (applied functionally, never called as a module), kept parameters,
    layers the forward pass does not reach.

One branch end is calibrated after all: the output projection of attention (attention_end), to the mean of
squares its own draw gives a unit input, not to 1, so the residual rule's size of the branch is kept and only the
input's shortfall is corrected.
"""
from __future__ import annotations

import math

from .auto_choose import fan_in_gain2
from .targets import MHA

DATA_TOL = 0.01       # |mean of squares - 1| < tol (and |unit mean| < tol when centred)
DATA_ROUNDS = 3       # one round is exact for an affine layer; more only if a layer recomputes differently


RNN_INPUT_REASON = ("; then at apply time scaled by 1/sqrt(mean of squares of this RNN's input on example_inputs),"
                    " since the fan rule assumes inputs of mean of squares 1 (row.applied: the measured value and "
                    "the factor)")


def rnn_input(ctx, t, d) -> bool:
    """Is `t` (with decision `d`) a first-layer RNN input weight that is scaled to the measured input?"""
    return (ctx.example_inputs is not None and t.kept is None and d.action == "init" and d.scheme is not None
            and t.local in ("weight_ih_l0", "weight_ih_l0_reverse"))


def skip_reason(ctx, t) -> str | None:
    """Why the weight layer `t` is not calibrated on example_inputs; None when it is."""
    if t.kept is not None:
        return "kept"
    topo = ctx.topology
    hit = topo.branch_of(t.module_name)
    if hit is not None and hit[0].last == t.module_name:
        return "last layer of a residual branch: its scale is the residual rule's"
    if hit is not None:
        return ("inside a residual branch: the skip path carries the signal, so no error compounds with depth, "
                "and the branch's size next to the skip is the residual rule's choice")
    parent = t.module_name.rpartition(".")[0]
    if t.module_name.endswith("out_proj") and isinstance(ctx.modules.get(parent), MHA):
        return "MultiheadAttention applies out_proj functionally (no module call to measure)"
    f = topo.follow.get(t.module_name)
    if f is None or f.kind == "unused":
        return "not reached by the forward pass"
    if f.kind == "output":
        return "output layer: keeps its own rule (analytic scale, zeros for a single output)"
    if f.kind == "norm":
        return "a norm follows and sets mean and variance itself"
    return None


def attention_end(ctx, t) -> bool:
    """Is `t` the output projection of an attention block (the last layer of a branch the block table says reads
    attention, `Branch.reads_attention`), calibrated on example_inputs?

    Why.  The fan-in rule for that projection assumes inputs of mean of squares 1, but its input is softmax(QK^T)V:
    each token's output is a weighted average of value vectors (the weights sum to 1), and an average of
    partly independent vectors is smaller than each of them.  On the benchmark's Hugging Face models the
    projection's input has mean of squares 0.23-0.57, so the attention branch starts 2-4x quieter than the
    residual rule meant it to be.  Scaling the projection so its output has the mean of squares its draw gives
    a unit input (its scale, e.g. 1/(2 L) of the stream per branch) corrects only that shortfall.  Measured
    (benchmarks/auto_models.py, docs/auto_quality.md, paired against auto without it) on the recorded seeds, which
    did not choose the rule: ModernBERT +2.7 +- 1.9 (+3.0 on each of two other blocks of 8 seeds), GPT-NeoX
    +2.2 +- 0.8, Llama +1.4 +- 1.5, GPT-2, ViT, Mixtral, Phi-3 within +-0.4, BERT -0.6 +- 1.1, T5 -0.9 +- 0.8;
    +0.6 on average over the nine.  LSUV scales the same layer to 1 (the branch at the stream's full size),
    which on ModernBERT gained more (+7.1 +- 2.5, probe seeds) but drops the residual rule's share, so auto
    keeps the rule's size."""
    if (ctx.example_inputs is None or t.is_bias or t.kept is not None or t.part is not None or t.param.dim() != 2
            or t.family != "linear"):
        return False
    hit = ctx.topology.branch_of(t.module_name)
    if hit is None or hit[0].last != t.module_name or not hit[0].reads_attention:
        return False
    parent = t.module_name.rpartition(".")[0]          # MultiheadAttention applies out_proj functionally: no call
    return not (t.module_name.endswith("out_proj") and isinstance(ctx.modules.get(parent), MHA))


def attention_target(t, scheme: str, kwargs: dict) -> tuple[float, str]:
    """(target mean of squares, words for the reason) of an attention output projection: what the drawn law
    gives a unit-variance input, std^2 * fan_in."""
    q = fan_in_gain2(scheme, kwargs, t.shape) or 0.0
    return q, (f"; then its output calibrated to mean of squares {q:.4g} (what this draw gives an input of mean of "
               "squares 1): it reads softmax(Q K^T) V, an average of value vectors, whose mean of squares is below 1, "
               "so without it the branch starts quieter than its rule (auto_data.attention_end)")


def calibrated_modules(ctx, targets) -> set:
    """Module names whose weight is calibrated on example_inputs (empty without example_inputs)."""
    if ctx.example_inputs is None:
        return set()
    return {t.module_name for t in targets if not t.is_bias and t.family in ("linear", "conv", "conv_transpose")
            and t.param.dim() >= 2 and t.part is None and skip_reason(ctx, t) is None}


def centres(ctx, t=None) -> bool:
    """Whether the calibrated layer `t` may be centred (t None: whether any layer of the model may be).

    Only in a model without residual branches (below), and only a layer whose input can carry a dominant
    mean (`mean_fed`): the model's input (pixels in [0, 1]) or an activation whose output's mean is most of its
    second moment (sigmoid), not relu/gelu/tanh outputs.

    Why.  Centring resets the unit means that drift through a plain stack: each relu/sigmoid layer passes a
    non-zero mean on, and in a plain stack it compounds layer by layer (the share of the mean in a deep relu
    stack's output grows past 1/2 every few layers), so without it relu-d20 of benchmarks/auto_quality.py
    trains to 64 % instead of 79 %.  With residual branches only the stem is calibrated (auto does not
    calibrate inside branches), there is no stack for a mean to compound through, and moving the data's mean
    into the stem's bias (a large bias that the blocks then see on every input) measured worse: 76.0 vs 78.8 %
    on the residual ReLU MLP (5 seeds); the scale is still calibrated."""
    if ctx.topology.branches:
        return False
    return t is None or mean_fed(ctx, t) is None


MEAN_FED = 0.5   # an activation whose output mean carries more than this share of its second moment feeds a mean


def mean_share(fn) -> float:
    """E[f(z)]^2 / E[f(z)^2] for z ~ N(0, 1): the share of f's output second moment that its mean carries
    (sigmoid 0.86, relu 1/pi = 0.32, gelu 0.19, silu 0.12, tanh/selu ~0), by Gauss-Hermite quadrature."""
    import torch
    from .gains import _rule
    z, w = _rule()
    with torch.no_grad():
        y = torch.as_tensor(fn(z.clone()), dtype=torch.float64)
    m2 = float((w * y * y).sum())
    return float((w * y).sum()) ** 2 / m2 if m2 > 0 else 0.0


def mean_fed(ctx, t) -> str | None:
    """Why the calibrated layer `t` is not centred although its plain stack is; None when it may be.

    The layer reads the activation that follows the layer before it in forward order.  When that activation's
    output mean is a minority of its second moment (relu 0.32, leaky relu, gelu, silu, tanh, selu), the unit
    means seen at `t` are sums of small per-unit offsets, not a common shift: calibrating the scale is enough,
    and centring them moves them into large biases (in relu-d20 of benchmarks/auto_quality.py every third
    layer crossed the 50 % share and was shifted and scaled x2.2, a sawtooth through the stack).  The model's
    input and sigmoid-like outputs (mean share > MEAN_FED) carry a real common shift that no gain removes:
    those layers are centred when the share measured on the batch is > 50 %."""
    order = ctx.topology.order
    if t.module_name not in order or order.index(t.module_name) == 0:
        return None
    prev = ctx.topology.follow.get(order[order.index(t.module_name) - 1])
    if prev is None or prev.kind != "activation" or prev.act is None or prev.act.fn is None:
        return None
    share = mean_share(prev.act.fn)
    if share > MEAN_FED:
        return None
    return (f"not centred: it reads {prev.act.name}, whose output's mean carries only {share:.2f} of its second "
            f"moment (<= {MEAN_FED:g}), so there is no common shift to remove; its scale is calibrated")


def weight_reason(reason: str, ctx=None, t=None) -> str:
    if ctx is not None and ctx.topology.branches:
        return (f"{reason}; then calibrated on example_inputs at apply time (forward order): weight scaled so "
                "the output's mean of squares is 1 (the q every gain assumes, measured instead of assumed; "
                "LSUV-style, Mishkin & Matas 2015); not centred: the model has residual branches (auto_data."
                "centres)")
    fed = mean_fed(ctx, t) if ctx is not None and t is not None else None
    if fed is not None:
        return (f"{reason}; then calibrated on example_inputs at apply time (forward order): weight scaled so "
                f"the output's mean of squares is 1 (LSUV-style, Mishkin & Matas 2015); {fed} (auto_data.mean_fed)")
    return (f"{reason}; then calibrated on example_inputs at apply time (forward order): unit means moved into "
            "the bias when they carry > 50 % of the output's mean of squares, then weight and bias scaled so "
            "that mean of squares is 1 (the q every gain assumes, measured instead of assumed; LSUV-style, "
            "Mishkin & Matas 2015)")


ORTHOGONAL = True   # calibrated layers of a plain stack are drawn orthogonal (draw)


def draw(ctx, t, scheme: str, kwargs: dict, reason: str) -> tuple[str, dict, str]:
    """The draw of a calibrated layer: in a model without residual branches, orthogonal with the rule's gain.

    Why.  In a deep plain stack the gradient passes through every layer's Jacobian; a product of L Gaussian
    matrices has singular values that spread with L (most directions shrink, a few grow), while orthogonal
    matrices keep them at 1 up to the activation's slope (dynamical isometry: Saxe et al. 2014; Pennington et
    al. 2017); LSUV draws orthogonal for the same reason.  The calibration then sets the scale on the batch,
    so only the directions change.  Measured (benchmarks/auto_quality.py, 5 seeds, calibrated Gaussian ->
    orthogonal): tanh-d20 94.4 -> 96.9, tanh-d40 18.8 -> 28.8, selu-d20 40.8 -> 43.0, relu-d20 66.6 -> 85.0.
    With residual branches only the stem is calibrated (one layer: no product to keep isometric), so it keeps
    its Gaussian draw."""
    if not ORTHOGONAL or ctx.topology.branches or t.param.dim() < 2 or scheme in ("zeros", "orthogonal"):
        return scheme, kwargs, reason
    gain2 = fan_in_gain2(scheme, kwargs, t.shape)
    if not gain2:
        return scheme, kwargs, reason
    g = math.sqrt(gain2)
    return ("orthogonal", {"gain": g}, f"{reason}, drawn orthogonal with that gain (gain {g:.4f}; a plain "
            "stack: dynamical isometry, Saxe et al. 2014, auto_data.draw)")


PIECEWISE_LINEAR = ("relu", "leaky_relu")


def input_bias(ctx, t) -> tuple[str, dict]:
    """The draw of a calibrated layer's bias: zeros, except for the layer that reads the model's input in a plain
    stack when a piecewise-linear activation (relu, leaky relu) follows it: torch's default bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then scaled with the weight by the calibration (or replaced by the
    centring when the input's mean dominates).

    Why.  With zero biases every unit's kink w.x = 0 passes through the input's origin (a standardized input's
    mean): the first layer's units cut the input space into cones around one point, and the function starts
    with no kink anywhere else.  Random biases spread the kinks over the data, the basis a piecewise-linear
    fit needs (the effect shrinks as 1/sqrt(fan_in): it matters for low-dimensional inputs such as tabular
    regression).  The size is torch's own default for that layer.  Measured (benchmarks/auto_quality.py, 5
    seeds): housing-relu-d6 MSE 0.292 -> 0.281 (xavier_normal 0.283, torch default 0.288)."""
    if ctx.topology.branches:
        return "zeros", {}
    order = ctx.topology.order
    f = ctx.topology.follow.get(t.module_name)
    if (not order or order[0] != t.module_name or f is None or f.kind != "activation" or f.act is None
            or f.act.name not in PIECEWISE_LINEAR):
        return "zeros", {}
    fan = int(t.module.weight[0].numel())
    k = 1.0 / math.sqrt(fan)
    return "uniform", {"a": -k, "b": k}


def bias_reason(ctx, t) -> str:
    """The reason of a centrable calibrated layer's bias row (zeros or input_bias's draw)."""
    scheme, kw = input_bias(ctx, t)
    if scheme == "zeros":
        return BIAS_REASON
    return (f"U(-{kw['b']:.4g}, {kw['b']:.4g}) (torch's default bias, 1/sqrt(fan_in)), not 0: the layer reading the "
            "input of a plain stack, before a piecewise-linear activation; with zero biases every unit's kink "
            "passes through the input's origin, random biases spread the kinks over the data (auto_data."
            "input_bias); then at apply time replaced by minus each unit's mean on example_inputs when the unit "
            "means carry > 50 % of the output's mean of squares, else scaled with the weight")


BIAS_REASON = ("0, then at apply time minus each unit's mean on example_inputs when the unit means carry > 50 % "
               "of the layer's output mean of squares (a non-zero-mean input such as sigmoid outputs or [0, 1] "
               "pixels shifts every unit; no gain removes that), else stays 0")


def note(ctx, decisions) -> str:
    """The plan's note: what is calibrated on which batch, and which weight layers are not, and why."""
    c = ctx.calibration
    n_layers = sum(d.action == "calibrate" and not d.target.is_bias and d.target.family != "rnn" for d in decisions)
    rnns = sorted({d.target.module_name for d in decisions if d.action == "calibrate" and d.target.family == "rnn"})
    skipped: dict = {}
    for d in decisions:
        t = d.target
        if (d.action != "calibrate" and not t.is_bias and t.family in ("linear", "conv", "conv_transpose")
                and t.param.dim() >= 2):
            why = skip_reason(ctx, t) or "split parameter"
            skipped.setdefault(why, []).append(t.module_name)
    how = ("centred when they read the input or a mean-dominated activation (auto_data.mean_fed) and their unit "
           "means carry > 50 % of their output's mean of squares, then scaled" if centres(ctx)
           else "not centred (the model has residual branches), scaled")
    out = (f"auto calibration: {n_layers} layer(s) are calibrated at apply time, in forward order, on "
           f"{c.text()}: {how} to mean of squares 1 (tol {c.tol:g}, at most {c.max_iter} rounds)")
    if rnns:
        rnn = (f"the input weights (weight_ih_l0) of {len(rnns)} recurrent layer(s) ({', '.join(rnns[:3])}"
               f"{' ...' if len(rnns) > 3 else ''}) are scaled by 1/sqrt(mean of squares of their input")
        out = (out + f"; {rnn} on the batch)" if n_layers else
               f"auto calibration: {rnn} on {c.text()}), at apply time, in forward order")
    out += "; row.applied says by how much after apply"
    if skipped:
        out += "; not calibrated: " + "; ".join(f"{', '.join(v[:3])}{' ...' if len(v) > 3 else ''} ({k})"
                                                for k, v in skipped.items())
    return out



# ---------------------------------------------------------------------------- depth-aware target
GROWTH = 2.0                                   # at most this growth of the gradient's second moment per stack
Q_GRID = tuple(0.8 ** k for k in range(22))    # candidate targets 1 ... 0.0092, largest first
_CHI: dict = {}


def chi(fn, q: float) -> float:
    """Mean-field gradient factor of one layer calibrated to pre-activation second moment q:
    chi(q) = q E[f'(sqrt(q) z)^2] / E[f(sqrt(q) z)^2] (Poole et al. 2016; Schoenholz et al. 2017): what one
    layer multiplies the gradient's second moment by.  1 for relu at every q; tanh 1.18 at q = 1 -> 1 as q -> 0."""
    from .gains import second_moment
    s, e = math.sqrt(q), 1e-4
    m2 = second_moment(lambda z: fn(s * z))
    d2 = second_moment(lambda z: (fn(s * z + e) - fn(s * z - e)) / (2 * e))
    return q * d2 / m2 if m2 > 0 else 1.0


def depth_target(act, depth: int) -> tuple[float, float]:
    """(q, chi(q)): the largest q of Q_GRID with chi(q)^depth <= GROWTH, for `depth` layers before `act` in
    a plain stack (no skip path for the gradient); (1, chi(1)) when q = 1 already satisfies it."""
    key = (act.key, depth)
    if key not in _CHI:
        best = (Q_GRID[-1], chi(act.fn, Q_GRID[-1]))
        for q in Q_GRID:
            c = chi(act.fn, q)
            if c ** depth <= GROWTH:
                best = (q, c)
                break
        _CHI[key] = best
    return _CHI[key]


def plain_depth(ctx, act) -> int:
    """Weight layers followed by `act` outside residual branches (the gradient has no skip path there)."""
    topo = ctx.topology
    return sum(1 for n, f in topo.follow.items() if f.kind == "activation" and f.act is not None
               and f.act.key == act.key and topo.branch_of(n) is None)


def target_for(ctx, t) -> tuple[float, str]:
    """(target mean of squares, words for the reason) for the calibrated layer `t`."""
    f = ctx.topology.follow.get(t.module_name)
    if (f is None or f.kind != "activation" or f.act is None or f.act.fn is None
            or ctx.topology.branch_of(t.module_name) is not None):
        return 1.0, ""
    L = plain_depth(ctx, f.act)
    c1 = chi(f.act.fn, 1.0)
    if c1 ** L <= GROWTH:
        return 1.0, ""
    q, c = depth_target(f.act, L)
    return q, (f"; target mean of squares {q:.3g}, not 1: at 1 {f.act.name}'s gradient factor chi = {c1:.3f} per "
               f"layer would grow the gradient's second moment {c1 ** L:.3g}x through these {L} plain layers; at "
               f"{q:.3g} chi = {c:.3f} (chi^{L} <= {GROWTH:g}; depth-aware, Schoenholz et al. 2017)")
