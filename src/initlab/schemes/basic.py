"""Elementwise schemes: constants, uniform, normal (truncated normal: truncated.py) and the
seed tutorials' fixed-range rules.

Where the name is torch.nn.init's, the function is a drop-in: torch's signature
(`generator` may be passed positionally), torch's accepted inputs (complex, bool and
integer tensors where torch takes them), torch's warnings, the same random numbers and
generator state, and torch's exception types (as InitError subclasses, see errors.py).
`strict=True` adds initlab's checks: a clear InitError for NaN/inf arguments, a
negative std, a range outside the dtype, a value the dtype cannot hold.
"""
from __future__ import annotations

import math

import torch

from ..errors import bad_argument, check_finite, like_torch
from .fans import (MAX_SIGMAS, calculate_fan_in_and_fan_out, check_fits, check_float_tensor, check_in_dtype,
                   check_range, check_std, is_empty)
from .truncated import trunc_normal_
from .dryrun import dispatches

_has_torch_function = dispatches   # torch.overrides.has_torch_function_variadic, less the dry run (dryrun.py)


def _dispatch(fn, tensor, strict, **kwargs):
    """torch's __torch_function__ protocol (a tensor subclass may override the call), as torch does it."""
    if strict:
        kwargs["strict"] = True
    return torch.overrides.handle_torch_function(fn, (tensor,), tensor=tensor, **kwargs)


def _check_uniform(tensor, a, b, where="uniform_") -> None:
    check_float_tensor(tensor, where, complex_ok=True)
    check_range(where, a, b)
    check_in_dtype(where, tensor, a, b)


def _check_normal(tensor, mean, std, where="normal_") -> None:
    check_float_tensor(tensor, where, complex_ok=True)
    check_finite(where, mean=mean)
    check_std(where, std)
    check_fits(where, tensor, "(mean, std)", (mean, std), abs(mean) + MAX_SIGMAS * std)


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None,
             *, strict: bool = False):
    """Fill with U(a, b): every value in [a, b) equally likely (torch.nn.init.uniform_).

    Mean (a + b) / 2, std (b - a) / sqrt(12).  strict=True: a real or complex float
    tensor and finite a <= b that the dtype holds, or an InitError saying which.

    Example:
        >>> w = torch.empty(3, 5)
        >>> initlab.uniform_(w, -0.5, 0.5)
    """
    if _has_torch_function(tensor):
        return _dispatch(uniform_, tensor, strict, a=a, b=b, generator=generator)
    check = lambda: _check_uniform(tensor, a, b)  # noqa: E731
    if strict:
        check()
    with like_torch("uniform_", check), torch.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None,
            *, strict: bool = False):
    """Fill with N(mean, std^2) (std is the standard deviation, not the variance; torch.nn.init.normal_).

    strict=True: finite mean, finite std >= 0, draws that fit the dtype.

    Example:
        >>> w = torch.empty(3, 5)
        >>> initlab.normal_(w, 0.0, 0.02)
    """
    if _has_torch_function(tensor):
        return _dispatch(normal_, tensor, strict, mean=mean, std=std, generator=generator)
    check = lambda: _check_normal(tensor, mean, std)  # noqa: E731
    if strict:
        check()
    with like_torch("normal_", check), torch.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def _check_constant(tensor, val, where="constant_") -> None:
    if not isinstance(tensor, torch.Tensor):
        raise bad_argument(where, "tensor", type(tensor).__name__, "a torch.Tensor", "pass a tensor, e.g. layer.weight")
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise bad_argument(where, "val", val, "a finite real number", "pass e.g. val=0.0")
    if tensor.dtype == torch.bool or (not tensor.dtype.is_floating_point and not tensor.dtype.is_complex
                                      and not float(val).is_integer()):
        raise bad_argument(where, "val", val, f"a value that {tensor.dtype} can hold exactly",
                           "use a float tensor or an integer value")
    floating = tensor.dtype.is_floating_point or tensor.is_complex()
    info = torch.finfo(tensor.dtype) if floating else torch.iinfo(tensor.dtype)
    if not info.min <= val <= info.max:   # else fill_ wraps (uint8: -3 -> 253) or raises a RuntimeError
        raise bad_argument(where, "val", val, f"a value in [{info.min:g}, {info.max:g}] ({tensor.dtype})",
                           "use a wider dtype (e.g. float32 or int64) or a smaller value")


def constant_(tensor: torch.Tensor, val: float, *, strict: bool = False):
    """Fill with the constant `val` (deterministic; every unit gets the same weights).

    As torch.nn.init.constant_, `val` is anything Tensor.fill_ takes (a number, a
    0-dim tensor, a NumPy scalar, inf) and is converted as fill_ converts it (2.7 into
    int64 is 2).  strict=True: a finite real number the dtype holds exactly.

    Example:
        >>> initlab.constant_(torch.empty(3), 0.1)
    """
    if _has_torch_function(tensor):
        return _dispatch(constant_, tensor, strict, val=val)
    check = lambda: _check_constant(tensor, val)  # noqa: E731
    if strict:
        check()
    with like_torch("constant_", check), torch.no_grad():
        return tensor.fill_(val)


def ones_(tensor: torch.Tensor, *, strict: bool = False):
    """Fill with 1 (the seed tutorials' "all ones": symmetric, every unit the same).

    Example:
        >>> initlab.ones_(torch.empty(3, 5))
    """
    if strict:
        _check_constant(tensor, 1, "ones_")
    with like_torch("ones_", lambda: _check_constant(tensor, 1, "ones_")), torch.no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor: torch.Tensor, *, strict: bool = False):
    """Fill with 0 (the usual bias init; for weights it keeps every unit identical).

    Example:
        >>> initlab.zeros_(torch.empty(5))
    """
    if strict:
        _check_constant(tensor, 0, "zeros_")
    with like_torch("zeros_", lambda: _check_constant(tensor, 0, "zeros_")), torch.no_grad():
        return tensor.zero_()


@torch.no_grad()
def centered_uniform_(tensor: torch.Tensor, *, generator: torch.Generator | None = None):
    """Fill with U[-0.5, 0.5): uniform[0, 1) shifted to zero mean (seed 004's "centered weights").

    Example:
        >>> initlab.centered_uniform_(torch.empty(256, 784))
    """
    check_float_tensor(tensor, "centered_uniform_")
    if is_empty(tensor):
        return tensor
    return uniform_(tensor, -0.5, 0.5, generator, strict=True)


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


__all__ = ["uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "centered_uniform_",
           "inverse_fan_uniform_"]
