"""The variance-scaling family: one implementation, the named schemes are one-liners.

    std = gain / sqrt(fan),  fan in {fan_in, fan_out, (fan_in + fan_out) / 2}

with gain = sqrt(scale).  Drawn as
    normal:            N(0, std^2)
    uniform:           U(-sqrt(3) std, sqrt(3) std)
    truncated_normal:  N(0, s^2) truncated to +-2 s, s = std / 0.87962566...
                       (the std of a unit normal cut at +-2), so the draw has std `std`
                       as in JAX/Keras variance_scaling.

Xavier/Glorot (Glorot & Bengio 2010)  : fan_avg, gain g
Kaiming/He    (He et al. 2015)        : fan_in or fan_out, gain calculate_gain(nonlinearity, a)
LeCun         (LeCun et al. 1998)     : fan_in, gain 1
General rule  (seed 004)              : U(+-1/sqrt(fan_in)) = fan_in, gain 1/sqrt(3)
                                         (bit-identical to torch's nn.Linear default, He with a=sqrt(5))
"""
from __future__ import annotations

import math
import warnings

import torch

from ..errors import bad_argument, check_finite, like_torch, unknown_choice
from .fans import (FAN_MODES, MAX_SIGMAS, calculate_fan_in_and_fan_out, calculate_gain, check_fits,
                   check_float_tensor, check_gain_args, correct_fan, is_empty, std_for, torch_gain)
from .truncated import trunc_normal_
from .dryrun import dispatches

_has_torch_function = dispatches   # torch.overrides.has_torch_function_variadic, less the dry run (dryrun.py)

DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def _truncated_unit_std(k: float = 2.0) -> float:
    """Std of N(0, 1) truncated to [-k, k]: sqrt(1 - 2k phi(k) / (2 Phi(k) - 1))."""
    phi = math.exp(-0.5 * k * k) / math.sqrt(2 * math.pi)
    mass = math.erf(k / math.sqrt(2.0))
    return math.sqrt(1.0 - 2.0 * k * phi / mass)


TRUNC_STD_2 = _truncated_unit_std(2.0)  # 0.8796256610342398


@torch.no_grad()
def scaled_(tensor: torch.Tensor, gain: float, mode: str, distribution: str, *,
            generator: torch.Generator | None = None, where: str = "variance_scaling_"):
    """Shared core: draw with std = std_for(gain, fans, mode) from `distribution`."""
    check_float_tensor(tensor, where)
    check_finite(where, gain=gain)
    if gain < 0:
        raise bad_argument(where, "gain", gain, "gain >= 0 (it multiplies a standard deviation)",
                           f"pass gain={-gain!r}: the law is symmetric, so the sign changes nothing")
    if mode not in FAN_MODES:
        raise unknown_choice(where, "mode", mode, FAN_MODES)
    if distribution not in DISTRIBUTIONS:
        raise unknown_choice(where, "distribution", distribution, DISTRIBUTIONS)
    if is_empty(tensor):  # torch warns and returns before computing fans
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, where=where)
    std = std_for(gain, fan_in, fan_out, mode)
    # widest draw: uniform's width 2 sqrt(3) std, a normal's 10 std, the truncated normal's 2 s
    extent = {"uniform": 2 * math.sqrt(3.0), "normal": MAX_SIGMAS}.get(distribution, 2 / TRUNC_STD_2) * std
    arg, value = ("scale", gain ** 2) if where == "variance_scaling_" else ("gain", gain)
    check_fits(where, tensor, arg, value, extent)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return tensor.uniform_(-bound, bound, generator=generator)
    if distribution == "normal":
        return tensor.normal_(0, std, generator=generator)
    s = abs(std) / TRUNC_STD_2
    if s == 0:
        return tensor.zero_()
    return trunc_normal_(tensor, 0.0, s, -2.0 * s, 2.0 * s, generator, strict=True)


def variance_scaling_(tensor: torch.Tensor, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal", *, generator: torch.Generator | None = None):
    """Variance scaling: Var(w) = scale / fan (JAX/Keras semantics, truncation corrected).

    Example:
        >>> w = torch.empty(256, 128)
        >>> initlab.variance_scaling_(w, 2.0, "fan_in", "normal")   # He normal
    """
    check_finite("variance_scaling_", scale=scale)
    if scale <= 0:
        raise bad_argument("variance_scaling_", "scale", scale, "scale > 0", "scale is the variance multiplier, e.g. 1.0 or 2.0")
    return scaled_(tensor, math.sqrt(scale), mode, distribution, generator=generator)


def _check_xavier(where, tensor, gain) -> None:
    """initlab's checks for Xavier (strict=True, and the message when torch refuses the call)."""
    check_float_tensor(tensor, where, complex_ok=True)
    check_finite(where, gain=gain)
    if gain < 0:
        raise bad_argument(where, "gain", gain, "gain >= 0 (it multiplies a standard deviation)",
                           f"pass gain={-gain!r}: the law is symmetric, so the sign changes nothing")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, where=where)
    if fan_in + fan_out == 0:
        raise bad_argument(where, "tensor.shape", tuple(tensor.shape), "a shape with fan_in + fan_out > 0",
                           "a weight with no inputs and no outputs has nothing to scale; skip it")
    std = std_for(gain, fan_in, fan_out, "fan_avg")
    check_fits(where, tensor, "gain", gain, (2 * math.sqrt(3.0) if "uniform" in where else MAX_SIGMAS) * std)


def xavier_uniform_(tensor, gain: float = 1.0, generator: torch.Generator | None = None, *, strict: bool = False):
    """Xavier/Glorot uniform: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).

    torch.nn.init.xavier_uniform_ exactly; strict=True: a float tensor, finite gain >= 0
    and bounds the dtype holds.

    Example:
        >>> initlab.xavier_uniform_(torch.empty(3, 5), gain=initlab.calculate_gain("tanh"))
    """
    where = "xavier_uniform_"
    check = lambda: _check_xavier(where, tensor, gain)  # noqa: E731
    if strict:
        check()
    with like_torch(where, check):
        fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, where=where)
        bound = math.sqrt(3.0) * std_for(gain, fan_in, fan_out, "fan_avg")
        with torch.no_grad():
            return tensor.uniform_(-bound, bound, generator=generator)


def xavier_normal_(tensor, gain: float = 1.0, generator: torch.Generator | None = None, *, strict: bool = False):
    """Xavier/Glorot normal: N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010).

    torch.nn.init.xavier_normal_ exactly; strict=True as xavier_uniform_.

    Example:
        >>> initlab.xavier_normal_(torch.empty(3, 5))
    """
    where = "xavier_normal_"
    check = lambda: _check_xavier(where, tensor, gain)  # noqa: E731
    if strict:
        check()
    with like_torch(where, check):
        fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, where=where)
        std = std_for(gain, fan_in, fan_out, "fan_avg")
        with torch.no_grad():
            return tensor.normal_(0.0, std, generator=generator)


def _check_kaiming(where, tensor, a, mode, nonlinearity) -> None:
    """initlab's checks for Kaiming (strict=True, and the message when torch refuses the call)."""
    check_float_tensor(tensor, where, complex_ok=True)
    if not isinstance(mode, str) or mode.lower() not in ("fan_in", "fan_out"):
        raise unknown_choice(where, "mode", mode, ("fan_in", "fan_out"),
                             "fan_avg belongs to variance_scaling_: initlab.variance_scaling_(w, mode='fan_avg')"
                             if str(mode).lower() == "fan_avg" else None)
    check_finite(where, a=a)
    check_gain_args(where, nonlinearity, a, "a")
    fan = correct_fan(tensor, mode, where)
    if fan == 0:   # a zero-element tensor: nothing is drawn
        return
    std = std_for(calculate_gain(nonlinearity, a), fan, fan, "fan_in")
    check_fits(where, tensor, "a", a, (2 * math.sqrt(3.0) if "uniform" in where else MAX_SIGMAS) * std)


def _kaiming_std(where, tensor, a, mode, nonlinearity) -> float | None:
    """torch's order: a zero-element tensor warns and is left as it is (None), then the mode, the fan, the gain."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = correct_fan(tensor, mode, where)
    return std_for(torch_gain(nonlinearity, a), fan, fan, "fan_in")


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: torch.Generator | None = None, *, strict: bool = False):
    """Kaiming/He uniform: U(-b, b), b = gain sqrt(3 / fan), gain = calculate_gain(nonlinearity, a) (He et al. 2015).

    `a` is the negative slope of the leaky ReLU that follows (0: plain ReLU).  As
    torch.nn.init.kaiming_uniform_: mode is 'fan_in' or 'fan_out' in any case (fan_avg is
    variance_scaling_'s), a zero-element tensor warns and stays as it is.  strict=True:
    a float tensor, a finite slope, a known nonlinearity, bounds the dtype holds.

    Example:
        >>> initlab.kaiming_uniform_(torch.empty(3, 5), mode="fan_in", nonlinearity="relu")
    """
    where = "kaiming_uniform_"
    if _has_torch_function(tensor):
        return torch.overrides.handle_torch_function(
            kaiming_uniform_, (tensor,), tensor=tensor, a=a, mode=mode, nonlinearity=nonlinearity,
            generator=generator, **({"strict": True} if strict else {}))
    check = lambda: _check_kaiming(where, tensor, a, mode, nonlinearity)  # noqa: E731
    if strict:
        check()
    with like_torch(where, check):
        std = _kaiming_std(where, tensor, a, mode, nonlinearity)
        if std is None:
            return tensor
        bound = math.sqrt(3.0) * std
        with torch.no_grad():
            return tensor.uniform_(-bound, bound, generator=generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: torch.Generator | None = None, *, strict: bool = False):
    """Kaiming/He normal: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a) (He et al. 2015).

    torch.nn.init.kaiming_normal_ exactly; strict=True as kaiming_uniform_.

    Example:
        >>> initlab.kaiming_normal_(torch.empty(3, 5), mode="fan_out", nonlinearity="relu")
    """
    where = "kaiming_normal_"
    check = lambda: _check_kaiming(where, tensor, a, mode, nonlinearity)  # noqa: E731
    if strict:
        check()
    with like_torch(where, check):
        std = _kaiming_std(where, tensor, a, mode, nonlinearity)
        if std is None:
            return tensor
        with torch.no_grad():
            return tensor.normal_(0, std, generator=generator)


def lecun_uniform_(tensor, *, generator=None):
    """LeCun uniform: U(-b, b), b = sqrt(3 / fan_in) (LeCun et al. 1998, "Efficient BackProp").

    Example:
        >>> initlab.lecun_uniform_(torch.empty(3, 5))
    """
    return scaled_(tensor, 1.0, "fan_in", "uniform", generator=generator, where="lecun_uniform_")


def lecun_normal_(tensor, *, generator=None):
    """LeCun normal: N(0, 1 / fan_in), the init SELU networks need (Klambauer et al. 2017).

    (JAX's lecun_normal truncates; use variance_scaling_(w, 1, "fan_in") for that.)

    Example:
        >>> initlab.lecun_normal_(torch.empty(3, 5))
    """
    return scaled_(tensor, 1.0, "fan_in", "normal", generator=generator, where="lecun_normal_")


def general_rule_uniform_(tensor, *, generator=None):
    """The "general rule" of seed 004: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    This is also exactly torch's default for nn.Linear / nn.ConvNd weights
    (kaiming_uniform_ with a = sqrt(5)), and computed the same way, bit for bit.

    Example:
        >>> initlab.general_rule_uniform_(torch.empty(256, 784))
    """
    return scaled_(tensor, calculate_gain("leaky_relu", math.sqrt(5)), "fan_in", "uniform",
                   generator=generator, where="general_rule_uniform_")


def general_rule_normal_(tensor, *, generator=None):
    """Seed 004's normal rule: N(0, std^2) with std = 1/sqrt(fan_in) (the same law as LeCun normal).

    Example:
        >>> initlab.general_rule_normal_(torch.empty(256, 784))
    """
    return scaled_(tensor, 1.0, "fan_in", "normal", generator=generator, where="general_rule_normal_")
