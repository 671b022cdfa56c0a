"""Elementwise schemes: constants, uniform, normal, truncated normal and the
seed tutorials' fixed-range rules.

Each is an in-place `name_(tensor, ..., *, generator=None) -> tensor` under
torch.no_grad(), drawing exactly the random numbers torch.nn.init draws, so the
same generator state gives the same tensor as PyTorch.
"""
from __future__ import annotations

import math
import warnings

import torch

from ..errors import bad_argument, check_finite
from .fans import MAX_SIGMAS, calculate_fan_in_and_fan_out, check_fits, check_float_tensor, is_empty


def _check_any_dtype(tensor, where: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise bad_argument(where, "tensor", type(tensor).__name__, "a torch.Tensor", "pass a tensor, e.g. layer.weight")


def _check_range(where: str, a: float, b: float, names=("a", "b")) -> None:
    check_finite(where, **{names[0]: a, names[1]: b})
    if a > b:
        raise bad_argument(where, f"({names[0]}, {names[1]})", (a, b), f"{names[0]} <= {names[1]}",
                           f"swap them: {names[0]}={b!r}, {names[1]}={a!r}")


def _check_in_dtype(where: str, tensor: torch.Tensor, a: float, b: float) -> None:
    """U(a, b) must be drawable in the tensor's dtype: a, b and the width b - a finite there."""
    big = torch.finfo(tensor.dtype).max
    if max(abs(a), abs(b), b - a) > big:
        raise bad_argument(where, "(a, b)", (a, b), f"bounds with |a|, |b| and b - a at most {big:g} "
                           f"(the largest finite {tensor.dtype})", "use a wider dtype, e.g. tensor.float()")


def _check_std(where: str, std: float, *, positive: bool = False) -> None:
    check_finite(where, std=std)
    if std < 0 or (positive and std == 0):
        raise bad_argument(where, "std", std, "std > 0" if positive else "std >= 0",
                           "pass the standard deviation (not the variance) as a positive number" if positive else
                           "pass the standard deviation (not the variance) as a non-negative number")


@torch.no_grad()
def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, *, generator: torch.Generator | None = None):
    """Fill with U(a, b): every value in [a, b) equally likely.

    Mean (a + b) / 2, std (b - a) / sqrt(12).

    Example:
        >>> w = torch.empty(3, 5)
        >>> initlab.uniform_(w, -0.5, 0.5)
    """
    where = "uniform_"
    check_float_tensor(tensor, where)
    _check_range(where, a, b)
    _check_in_dtype(where, tensor, a, b)
    if is_empty(tensor):
        return tensor
    return tensor.uniform_(a, b, generator=generator)


@torch.no_grad()
def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, *, generator: torch.Generator | None = None):
    """Fill with N(mean, std^2) (std is the standard deviation, not the variance).

    Example:
        >>> w = torch.empty(3, 5)
        >>> initlab.normal_(w, 0.0, 0.02)
    """
    where = "normal_"
    check_float_tensor(tensor, where)
    check_finite(where, mean=mean)
    _check_std(where, std)
    check_fits(where, tensor, "(mean, std)", (mean, std), abs(mean) + MAX_SIGMAS * std)
    if is_empty(tensor):
        return tensor
    return tensor.normal_(mean, std, generator=generator)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


@torch.no_grad()
def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  *, generator: torch.Generator | None = None):
    """Fill with N(mean, std^2) truncated to the absolute bounds [a, b].

    Bounds are absolute values (torch's convention), not multiples of std: for
    a std-relative truncation use ``a=-2*std, b=2*std`` or ``variance_scaling_``.
    The std of the result is smaller than `std` (for +-2 std, by 0.8796);
    variance_scaling_(distribution="truncated_normal") corrects for that.

    Sampling is exact rejection (the same algorithm and draws as torch 2.13):
    plain normal draws, redrawn outside [a, b], when the mass inside is > 0.3,
    otherwise uniform proposals on [a, b] accepted with the normal's density.
    Nothing is clamped, so no value piles up on a bound, in any precision.

    One deliberate deviation: when [a, b] lies far in one tail (the uniform
    proposals would be accepted < 10 % of the time, or the log-density ratio
    cancels in the tensor's dtype, where torch 2.13 loops for ever, e.g.
    std=0.01, a=3, b=4), initlab draws exponential proposals from the near
    bound instead (Robert 1995, "Simulation of truncated normal variables"),
    in float64, which is exact and fast however far the tail.

    Example:
        >>> w = torch.empty(3, 5)
        >>> initlab.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
    """
    where = "trunc_normal_"
    check_float_tensor(tensor, where)
    check_finite(where, mean=mean)
    _check_std(where, std, positive=True)
    _check_range(where, a, b)
    if a == b:
        raise bad_argument(where, "(a, b)", (a, b), "a < b", "give the truncation interval a width")
    check_fits(where, tensor, "(a, b)", (a, b), max(abs(a), abs(b)))   # else a bound casts to +-inf
    if is_empty(tensor) or tensor.is_meta:   # meta: no storage, nothing to draw (as torch)
        return tensor
    if _far_tail(tensor.dtype, mean, std, a, b):   # exact there: no "may be incorrect" warning
        return _trunc_normal_tail_(tensor, mean, std, a, b, generator)
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
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
    # Little mass inside: uniform proposals, accepted with prob pdf(x) / pdf(mode).
    _check_in_dtype(where, tensor, a, b)
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    proposal = torch.empty_like(tensor)
    coin = torch.empty_like(tensor)

    def log_ratio(x):  # log pdf(x) - log pdf(mode), computed in place in `proposal`
        return x.sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak)

    tensor.uniform_(a, b, generator=generator)
    proposal.copy_(tensor)
    pending = coin.uniform_(generator=generator).log_().gt(log_ratio(proposal))
    if pending.any():
        out = tensor
        while True:
            proposal.uniform_(a, b, generator=generator)
            out = torch.where(pending, proposal, out)
            pending = torch.where(pending, coin.uniform_(generator=generator).log_().gt(log_ratio(proposal)), pending)
            if not pending.any():
                break
        tensor.copy_(out)
    return tensor


def _far_tail(dtype: torch.dtype, mean: float, std: float, a: float, b: float) -> bool:
    """True when [a, b] is on one side of the mean and torch's uniform proposals fail there:
    acceptance ~ 1 / (z_near * width / std) below 10 %, or the log-density ratio, computed in
    `dtype` from z^2 ~ z_far^2, off by more than 1 % (eps * z_far^2 > 0.01: it can loop for ever)."""
    if a <= mean <= b:
        return False
    z_near, z_far = sorted((abs(a - mean) / std, abs(b - mean) / std))
    return z_near * (b - a) / std > 10.0 or torch.finfo(dtype).eps * z_far ** 2 > 0.01


def _trunc_normal_tail_(tensor, mean, std, a, b, generator):
    """N(mean, std^2) on [a, b] on one side of the mean, by exponential proposals (Robert 1995).

    In std units the target is N(0, 1) on [alpha, beta], 0 < alpha (the near bound).
    Draw z = alpha + t, t ~ Exp(lam) truncated to [0, beta - alpha] (inverse CDF),
    lam = (alpha + sqrt(alpha^2 + 4)) / 2, and accept with prob exp(-(z - lam)^2 / 2);
    since lam - alpha = 1 / lam that is exp(-(t - 1/lam)^2 / 2).  Acceptance >= 0.76
    for every alpha, so a few rounds suffice however far the tail.
    """
    work = torch.float32 if tensor.device.type == "mps" else torch.float64
    above = a > mean
    lo, hi = (a - mean, b - mean) if above else (mean - b, mean - a)
    alpha, beta = lo / std, hi / std
    if math.isinf(alpha):                               # the tail is narrower than any float: all at the bound
        return tensor.fill_(a if above else b)
    lam = alpha / 2 + math.hypot(alpha / 2, 1.0)       # no overflow for huge alpha
    cdf_hi = math.expm1(-lam * (beta - alpha))         # in [-1, 0): -P(t <= beta - alpha) of Exp(lam)
    out = torch.empty(tensor.numel(), dtype=work, device=tensor.device)
    pending = torch.arange(tensor.numel(), device=tensor.device)   # flat indices still to draw
    while pending.numel():
        u = torch.rand(pending.numel(), dtype=work, device=tensor.device, generator=generator)
        t = torch.log1p(u * cdf_hi).div_(-lam)
        coin = torch.rand(pending.numel(), dtype=work, device=tensor.device, generator=generator)
        accept = coin.log_() <= (t - 1.0 / lam).pow_(2).mul_(-0.5)
        out[pending[accept]] = t[accept]
        pending = pending[~accept]
    offset = out.mul_(std).add_(lo)                     # |x - mean| = lo + std * t, in [lo, hi]
    x = offset.add_(mean) if above else offset.neg_().add_(mean)
    # The clamp only undoes float rounding of the sum (an ulp, not a pile of mass).
    return tensor.copy_(x.clamp_(a, b).view(tensor.shape))


@torch.no_grad()
def constant_(tensor: torch.Tensor, val: float):
    """Fill with the constant `val` (deterministic; every unit gets the same weights).

    Example:
        >>> initlab.constant_(torch.empty(3), 0.1)
    """
    _check_any_dtype(tensor, "constant_")
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise bad_argument("constant_", "val", val, "a finite real number", "pass e.g. val=0.0")
    if tensor.dtype == torch.bool or (not tensor.dtype.is_floating_point and not float(val).is_integer()):
        raise bad_argument("constant_", "val", val, f"a value that {tensor.dtype} can hold exactly",
                           "use a float tensor or an integer value")
    floating = tensor.dtype.is_floating_point or tensor.is_complex()
    info = torch.finfo(tensor.dtype) if floating else torch.iinfo(tensor.dtype)
    if not info.min <= val <= info.max:   # else fill_ wraps (uint8: -3 -> 253) or raises a RuntimeError
        raise bad_argument("constant_", "val", val, f"a value in [{info.min:g}, {info.max:g}] ({tensor.dtype})",
                           "use a wider dtype (e.g. float32 or int64) or a smaller value")
    if is_empty(tensor):
        return tensor
    return tensor.fill_(val)


@torch.no_grad()
def ones_(tensor: torch.Tensor):
    """Fill with 1 (the seed tutorials' "all ones": symmetric, every unit the same).

    Example:
        >>> initlab.ones_(torch.empty(3, 5))
    """
    return constant_(tensor, 1.0 if tensor.dtype.is_floating_point else 1)


@torch.no_grad()
def zeros_(tensor: torch.Tensor):
    """Fill with 0 (the usual bias init; for weights it keeps every unit identical).

    Example:
        >>> initlab.zeros_(torch.empty(5))
    """
    return constant_(tensor, 0.0 if tensor.dtype.is_floating_point else 0)


@torch.no_grad()
def centered_uniform_(tensor: torch.Tensor, *, generator: torch.Generator | None = None):
    """Fill with U[-0.5, 0.5): uniform[0, 1) shifted to zero mean (seed 004's "centered weights").

    Example:
        >>> initlab.centered_uniform_(torch.empty(256, 784))
    """
    return uniform_(tensor, -0.5, 0.5, generator=generator)


@torch.no_grad()
def inverse_fan_uniform_(tensor: torch.Tensor, *, generator: torch.Generator | None = None):
    """Fill with U(-1/fan_in, 1/fan_in): the rule of thumb of seed 001 (note 1/n, not 1/sqrt(n)).

    Std 1/(fan_in sqrt(3)): it shrinks the signal by about sqrt(fan_in/3) per
    layer, so it vanishes in deep nets; kept because the tutorials name it.

    Example:
        >>> initlab.inverse_fan_uniform_(torch.empty(128, 784))
    """
    check_float_tensor(tensor, "inverse_fan_uniform_")
    fan_in, _ = calculate_fan_in_and_fan_out(tensor, where="inverse_fan_uniform_")
    if is_empty(tensor):
        return tensor
    bound = 1.0 / fan_in
    return tensor.uniform_(-bound, bound, generator=generator)
