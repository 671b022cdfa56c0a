"""Truncated normal: torch.nn.init.trunc_normal_'s algorithm, draw for draw, and an exact
tail sampler for the intervals where torch's loop would not finish.

torch 2.13 draws (a) normal values, redrawn outside [a, b], when the mass inside is
> 0.3, otherwise (b) uniform proposals on [a, b] accepted with the normal's density
relative to its mode.  initlab runs the same code, so values and generator state are
bit-identical in every dtype -- with one exception.  When [a, b] lies so far in one
tail that a uniform proposal is accepted with probability below 1e-3 (torch then
needs thousands of rounds over the whole tensor: minutes to hours, e.g. std=0.01 on
[3, 4]), or where the tensor's dtype cannot hold the squared distance to the near
bound (fp16 beyond 256 std: torch rejects every proposal and never finishes),
initlab draws from the exact tail sampler instead (Robert 1995).  As a safeguard,
proposals still pending after far more rounds than torch would need in exact
arithmetic (dtype rounding can starve the acceptance test) are drawn the same way.
"""
from __future__ import annotations

import math
import warnings

import torch

from ..errors import bad_argument, check_finite, like_torch
from .fans import check_fits, check_float_tensor, check_in_dtype, check_range, check_std

_LOW_PRECISION = (torch.float16, torch.bfloat16)
MIN_ACCEPTANCE = 1e-3   # below this torch's expected rounds per element exceed 1000: take the tail sampler
_ROUND_MARGIN = 40.0    # rounds cap = (ln n + margin) / acceptance: P(torch needs more) < n * e^-(ln n + 40)


def _check(tensor, mean, std, a, b, where="trunc_normal_") -> None:
    check_float_tensor(tensor, where)
    check_finite(where, mean=mean)
    check_std(where, std, positive=True)
    check_range(where, a, b)
    if a == b:
        raise bad_argument(where, "(a, b)", (a, b), "a < b", "give the truncation interval a width")
    check_fits(where, tensor, "(a, b)", (a, b), max(abs(a), abs(b)))   # else a bound casts to +-inf
    check_in_dtype(where, tensor, a, b)


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: torch.Generator | None = None, *, strict: bool = False):
    """Fill with N(mean, std^2) truncated to the absolute bounds [a, b] (torch.nn.init.trunc_normal_).

    Bounds are absolute values (torch's convention), not multiples of std: for
    a std-relative truncation use ``a=-2*std, b=2*std`` or ``variance_scaling_``.
    The std of the result is smaller than `std` (for +-2 std, by 0.8796);
    variance_scaling_(distribution="truncated_normal") corrects for that.

    The draws are torch 2.13's, bit for bit (values and generator state), except far
    in one tail where torch's loop cannot finish (see this module's docstring): there
    initlab samples exactly by exponential proposals (Robert 1995, "Simulation of
    truncated normal variables").  As torch: a == b fills with a, std=0 raises
    ZeroDivisionError (InitZeroDivisionError).  Like torch, in float16/bfloat16 the
    uniform-proposal branch (little mass inside [a, b]) is biased: a uniform draw that
    rounds to 0 accepts any proposal (torch's bfloat16 mean on [1, 100] is ~10, not 1.5).
    strict=True draws those dtypes in float32 and rounds once (the exact law), and
    requires a real float tensor, finite mean, std > 0, finite a < b that the dtype holds.

    Example:
        >>> w = torch.empty(3, 5)
        >>> initlab.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
    """
    check = lambda: _check(tensor, mean, std, a, b)  # noqa: E731
    if strict:
        check()
    with like_torch("trunc_normal_", check):
        if strict and tensor.dtype in _LOW_PRECISION and not tensor.is_meta:
            # torch's acceptance test in float16/bfloat16 is biased (a uniform draw that rounds to 0 has
            # log 0 = -inf and accepts any proposal): strict draws in float32 and rounds once.
            work = torch.empty(tensor.shape, dtype=torch.float32, device=tensor.device)
            _draw(work, mean, std, a, b, generator)
            with torch.no_grad():
                return tensor.copy_(work)
        return _draw(tensor, mean, std, a, b, generator)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _draw(tensor, mean, std, a, b, generator):
    if tensor.is_meta:   # no storage: nothing to draw (as torch)
        return tensor
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=3)
    with torch.no_grad():
        mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
        if mass > 0.3:
            # Bounds cast to the tensor's dtype so the rejection test matches what it can hold.
            lo = tensor.new_tensor(a, device="cpu").item()
            hi = tensor.new_tensor(b, device="cpu").item()
            out = tensor.normal_(mean, std, generator=generator)
            while True:
                outside = (out < lo) | (out > hi)
                if not outside.any():
                    break
                out = torch.where(outside, torch.empty_like(out).normal_(mean, std, generator=generator), out)
            if out is not tensor:
                tensor.copy_(out)
            return tensor
        accept = acceptance(tensor, mean, std, a, b)
        if accept is not None and accept < MIN_ACCEPTANCE:
            flat = _tail_draws(tensor.numel(), float(mean), abs(float(std)), float(a), float(b), generator, tensor.device)
            return tensor.copy_(flat.view(tensor.shape))
        cap = None if accept is None else math.ceil((math.log(max(tensor.numel(), 1)) + _ROUND_MARGIN) / accept)
        return _uniform_proposals(tensor, mean, std, a, b, generator, cap)


def _uniform_proposals(tensor, mean, std, a, b, generator, cap):
    """torch's small-mass branch: U(a, b) proposals accepted with prob pdf(x) / pdf(mode)."""
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    proposal = torch.empty_like(tensor)
    coin = torch.empty_like(tensor)

    def log_ratio(x):  # log pdf(x) - log pdf(mode), computed in place in `proposal`
        return x.sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak)

    # (each log ratio is computed before its coin is drawn, as in torch: the order matters when it raises)
    tensor.uniform_(a, b, generator=generator)
    proposal.copy_(tensor)
    ratio = log_ratio(proposal)
    pending = coin.uniform_(generator=generator).log_().gt(ratio)
    if not pending.any():
        return tensor
    out, rounds = tensor, 1
    while True:
        proposal.uniform_(a, b, generator=generator)
        out = torch.where(pending, proposal, out)
        ratio = log_ratio(proposal)
        pending = torch.where(pending, coin.uniform_(generator=generator).log_().gt(ratio), pending)
        if not pending.any():
            break
        rounds += 1
        if cap is not None and rounds >= cap:   # the dtype starves the test: torch would not finish
            k = int(pending.sum())
            out = out.clone()
            out[pending] = _tail_draws(k, float(mean), abs(float(std)), float(a), float(b), generator,
                                       tensor.device).to(out.dtype)
            break
    return tensor.copy_(out)


def acceptance(tensor, mean, std, a, b) -> float | None:
    """P(a uniform proposal is accepted) in exact arithmetic when [a, b] is on one side of the
    mean (0.0 when the dtype cannot hold the squared distance to the near bound); None when
    that does not apply (an interval around the mean, non-real arguments, a non-float dtype)."""
    if not tensor.dtype.is_floating_point or tensor.numel() == 0:
        return None
    try:
        mean, std, a, b = float(mean), abs(float(std)), float(a), float(b)
    except (TypeError, ValueError, RuntimeError):
        return None
    if not all(math.isfinite(v) for v in (mean, std, a, b)) or std == 0 or not a < b:
        return None
    if a > mean:
        alpha = (a - mean) / std
    elif b < mean:
        alpha = (mean - b) / std
    else:
        return None
    w = (b - a) / std
    if not (math.isfinite(alpha) and math.isfinite(w)) or alpha * alpha >= torch.finfo(tensor.dtype).max:
        return 0.0
    worst = alpha * w + w * w / 2            # -log of the smallest acceptance probability
    if worst < 1e-6:
        return math.exp(-worst)
    if alpha > 30.0:                          # e^(alpha^2/2) overflows; u^2/2 is negligible next to alpha u
        return -math.expm1(-alpha * w) / (alpha * w)
    # (1/w) int_alpha^(alpha+w) exp(-(z^2 - alpha^2)/2) dz
    tail = math.erfc(alpha / math.sqrt(2.0)) - math.erfc((alpha + w) / math.sqrt(2.0))
    return math.sqrt(math.pi / 2) * math.exp(alpha * alpha / 2) * tail / w


def _tail_draws(k, mean, std, a, b, generator, device):
    """k draws of N(mean, std^2) on [a, b], one side of the mean, by exponential proposals (Robert 1995).

    In std units the target is N(0, 1) on [alpha, beta], 0 < alpha (the near bound).
    Draw z = alpha + t, t ~ Exp(lam) truncated to [0, beta - alpha] (inverse CDF),
    lam = (alpha + sqrt(alpha^2 + 4)) / 2, and accept with prob exp(-(z - lam)^2 / 2);
    since lam - alpha = 1 / lam that is exp(-(t - 1/lam)^2 / 2).  Acceptance >= 0.76
    for every alpha, so a few rounds suffice however far the tail.  Returns float64
    (float32 on MPS), flat.
    """
    work = torch.float32 if torch.device(device).type == "mps" else torch.float64
    above = a > mean
    lo, hi = (a - mean, b - mean) if above else (mean - b, mean - a)
    alpha, beta = lo / std, hi / std
    if math.isinf(alpha):                               # the tail is narrower than any float: all at the bound
        return torch.full((k,), a if above else b, dtype=work, device=device)
    lam = alpha / 2 + math.hypot(alpha / 2, 1.0)       # no overflow for huge alpha
    cdf_hi = math.expm1(-lam * (beta - alpha))         # in [-1, 0): -P(t <= beta - alpha) of Exp(lam)
    out = torch.empty(k, dtype=work, device=device)
    pending = torch.arange(k, device=device)           # flat indices still to draw
    while pending.numel():
        u = torch.rand(pending.numel(), dtype=work, device=device, generator=generator)
        t = torch.log1p(u * cdf_hi).div_(-lam)
        coin = torch.rand(pending.numel(), dtype=work, device=device, generator=generator)
        accepted = coin.log_() <= (t - 1.0 / lam).pow_(2).mul_(-0.5)
        out[pending[accepted]] = t[accepted]
        pending = pending[~accepted]
    offset = out.mul_(std).add_(lo)                     # |x - mean| = lo + std * t, in [lo, hi]
    x = offset.add_(mean) if above else offset.neg_().add_(mean)
    # The clamp only undoes float rounding of the sum (an ulp, not a pile of mass).
    return x.clamp_(a, b)


__all__ = ["trunc_normal_", "acceptance", "MIN_ACCEPTANCE"]
