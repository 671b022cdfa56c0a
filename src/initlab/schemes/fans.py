"""Fans and gains: the only place initlab computes them.

Fan rule (the same as torch.nn.init, so results agree with PyTorch layers):
a weight of shape (out, in, *kernel) has
    fan_in  = in  * prod(kernel)      (for ConvTranspose the stored layout is
    fan_out = out * prod(kernel)       (in, out/groups, *k): torch uses the same rule)
Gains follow torch.nn.init.calculate_gain (He et al. 2015 for ReLU / leaky ReLU,
5/3 for tanh, 3/4 for SELU as chosen in pytorch#50664).
"""
from __future__ import annotations

import math
import warnings

import torch

from ..errors import InitError, InitOverflowError, bad_argument, check_finite, like_torch, unknown_choice

FAN_MODES = ("fan_in", "fan_out", "fan_avg")

_LINEAR_FNS = (
    "linear", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)
NONLINEARITIES = _LINEAR_FNS + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")

# Schemes that work on 1-D tensors such as biases: named in fan errors.
ONE_D_SCHEMES = ("zeros", "ones", "constant", "uniform", "normal", "trunc_normal", "centered_uniform")


def calculate_fan_in_and_fan_out(tensor: torch.Tensor, *, where: str = "calculate_fan_in_and_fan_out") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight tensor, by torch's rule (see module docstring)."""
    return fans_from_shape(tuple(tensor.shape), where=where)


def fans_from_shape(shape: tuple[int, ...], *, where: str = "fans_from_shape") -> tuple[int, int]:
    """(fan_in, fan_out) for a weight of this shape (what the plan uses, without a tensor)."""
    if len(shape) < 2:
        raise bad_argument(
            where, "tensor.shape", tuple(shape),
            "a tensor with at least 2 dims (out, in, *kernel) for a fan-based scheme",
            "for a 1-D tensor such as a bias use one of: " + ", ".join(ONE_D_SCHEMES)
            + " (e.g. initlab.zeros_(bias)).",
        )
    receptive = 1
    for s in shape[2:]:
        receptive *= int(s)
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def fan(tensor: torch.Tensor, mode: str, *, where: str = "fan") -> float:
    """The fan selected by `mode` (fan_in, fan_out or fan_avg = (fan_in + fan_out) / 2)."""
    if mode not in FAN_MODES:
        raise unknown_choice(where, "mode", mode, FAN_MODES)
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, where=where)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]


def calculate_gain(nonlinearity: str, param: float | None = None, *, strict: bool = False) -> float:
    """Recommended gain for a nonlinearity (same values, types and errors as torch.nn.init.calculate_gain).

    ======================  ==========================
    nonlinearity            gain
    ======================  ==========================
    linear / conv / sigmoid 1
    tanh                    5/3
    relu                    sqrt(2)
    leaky_relu              sqrt(2 / (1 + slope^2))  (slope = param, default 0.01)
    selu                    3/4
    ======================  ==========================

    As torch, any int or float slope is taken (NaN gives a NaN gain); strict=True also
    requires it finite.  A slope whose square overflows raises InitOverflowError.

    Example:
        >>> calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    check = lambda: check_gain_args("calculate_gain", nonlinearity, param, "param")  # noqa: E731
    if strict:
        check()
    with like_torch("calculate_gain", check):
        return torch_gain(nonlinearity, param)


def torch_gain(nonlinearity, param):
    """torch's calculate_gain rule, raising what torch raises (ValueError, OverflowError)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param   # torch's test, precedence included: a bool is an int, so it is refused
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4   # found empirically in pytorch#50664
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def check_gain_args(where: str, nonlinearity, param, param_name: str) -> None:
    """initlab's checks for a (nonlinearity, slope) pair: a known name and a finite slope."""
    if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:
        raise unknown_choice(where, "nonlinearity", nonlinearity, NONLINEARITIES,
                             "for other activations (gelu, silu, ...) use initlab's numerical gain in the `auto` policy.")
    if nonlinearity != "leaky_relu" or param is None:
        return
    if isinstance(param, bool) or not isinstance(param, (int, float)) or not math.isfinite(param):
        raise bad_argument(where, param_name, param, "a finite number (the negative slope) or None",
                           f"pass the slope of the leaky ReLU, e.g. {param_name}=0.2")
    if abs(param) > 1e150:   # slope ** 2 overflows a float
        raise bad_argument(where, param_name, param, "a negative slope with |slope| <= 1e150 (its square must "
                           "fit a float)", "pass the leaky ReLU's slope, usually between 0 and 1",
                           cls=InitOverflowError)


def correct_fan(tensor: torch.Tensor, mode, where: str) -> int:
    """torch's kaiming fan: `mode` lower-cased, then 'fan_in' or 'fan_out' (InitError otherwise;
    AttributeError, as in torch, when it has no .lower())."""
    lower = mode.lower()
    if lower not in ("fan_in", "fan_out"):
        raise unknown_choice(where, "mode", mode, ("fan_in", "fan_out"),
                             "fan_avg belongs to variance_scaling_: initlab.variance_scaling_(w, mode='fan_avg')"
                             if lower == "fan_avg" else None)
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, where=where)
    return fan_in if lower == "fan_in" else fan_out


def std_for(gain: float, fan_in: int, fan_out: int, mode: str) -> float:
    """std = gain / sqrt(fan): the variance-scaling rule, in torch's float order.

    fan_avg is written as gain * sqrt(2 / (fan_in + fan_out)) exactly as
    torch's Xavier does, so initlab's Xavier is bit-identical to torch's.
    """
    if mode == "fan_avg":
        return gain * math.sqrt(2.0 / float(fan_in + fan_out))
    f = fan_in if mode == "fan_in" else fan_out
    return gain / math.sqrt(f)


def check_float_tensor(tensor, where: str, *, complex_ok: bool = False) -> None:
    """Reject what cannot hold random real values (ints, bools, non-tensors; complex unless complex_ok)."""
    if not isinstance(tensor, torch.Tensor):
        raise bad_argument(where, "tensor", type(tensor).__name__, "a torch.Tensor",
                           "pass a tensor, e.g. layer.weight")
    if not (tensor.dtype.is_floating_point or (complex_ok and tensor.dtype.is_complex)):
        raise bad_argument(where, "tensor.dtype", tensor.dtype,
                           "a floating dtype (float16, bfloat16, float32, float64)",
                           "create the tensor with a float dtype or call .float() first")


# A normal draw beyond 10 std has probability 1.5e-23: the range a tensor must hold for N(mean, std^2).
MAX_SIGMAS = 10.0


def check_fits(where: str, tensor: torch.Tensor, arg: str, value, extent: float) -> None:
    """Reject arguments whose draws (|w| up to `extent`) overflow the tensor's dtype to inf."""
    big = torch.finfo(tensor.dtype).max
    if not extent <= big:
        raise bad_argument(where, arg, value, f"a value whose draws fit in {tensor.dtype} "
                           f"(they would reach {extent:.3g} > {big:.3g})", "use a smaller value or a wider dtype")


def check_range(where: str, a, b, names=("a", "b")) -> None:
    check_finite(where, **{names[0]: a, names[1]: b})
    if a > b:
        raise bad_argument(where, f"({names[0]}, {names[1]})", (a, b), f"{names[0]} <= {names[1]}",
                           f"swap them: {names[0]}={b!r}, {names[1]}={a!r}")


def check_in_dtype(where: str, tensor: torch.Tensor, a, b) -> None:
    """U(a, b) must be drawable in the tensor's dtype: a, b and the width b - a finite there."""
    big = torch.finfo(tensor.dtype).max
    if max(abs(a), abs(b), b - a) > big:
        raise bad_argument(where, "(a, b)", (a, b), f"bounds with |a|, |b| and b - a at most {big:g} "
                           f"(the largest finite {tensor.dtype})", "use a wider dtype, e.g. tensor.float()")


def check_std(where: str, std, *, positive: bool = False) -> None:
    check_finite(where, std=std)
    if std < 0 or (positive and std == 0):
        raise bad_argument(where, "std", std, "std > 0" if positive else "std >= 0",
                           "pass the standard deviation (not the variance) as a positive number" if positive else
                           "pass the standard deviation (not the variance) as a non-negative number")


def is_empty(tensor: torch.Tensor) -> bool:
    """Warn (as torch does) and report True for a zero-element tensor, which stays as it is."""
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


__all__ = ["calculate_fan_in_and_fan_out", "fans_from_shape", "calculate_gain", "fan", "std_for", "FAN_MODES",
           "NONLINEARITIES", "InitError"]
