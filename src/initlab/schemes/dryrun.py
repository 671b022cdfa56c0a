"""Run a scheme's argument checks without drawing anything: what a plan needs to refuse bad arguments.

A plan describes each parameter analytically (the registry's `law`: std and bounds from the
formula), but bad arguments (a negative std, an unknown nonlinearity, a gain that overflows)
must raise the same InitError as the scheme itself would.  Restating every check here would
let the two drift apart, so the scheme runs for real on a storage-less (meta) tensor of the
planned shape, inside a torch-function mode that stops it at its first in-place write: every
check has run by then (schemes check, then write), and nothing is drawn.

Why not let the draw happen on the meta tensor: torch's meta `normal_` goes through a Python
decomposition that imports torch._dynamo on first use, 1-2 s of a first `init_` (issue 16).
"""
from __future__ import annotations

import warnings

import torch
from torch.overrides import TorchFunctionMode


class _Stop(Exception):
    """Raised at the scheme's first write: its checks have all passed."""


_WRITING_DUNDERS = frozenset({"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__",
                              "__imod__", "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__",
                              "__imatmul__"})


class _StopAtFirstWrite(TorchFunctionMode):
    """Lets reading calls through (shape, dim, empty_like ...), stops at an in-place, out= or item-setting call."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if ((name.endswith("_") and not name.endswith("__")) or name in _WRITING_DUNDERS
                or kwargs.get("out") is not None):
            raise _Stop
        return func(*args, **kwargs)


def check_arguments(fn, shape, bound: dict) -> None:
    """Call `fn(tensor_of_shape, **bound)` up to its first write; its InitError (if any) propagates.

    float64: the widest dtype, so range checks that depend on the dtype are left to the real call.
    """
    tensor = torch.empty(tuple(shape), device="meta", dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with _StopAtFirstWrite():
                fn(tensor, **bound)
        except _Stop:
            pass


def dispatches(*tensors) -> bool:
    """torch's `has_torch_function_variadic`, except under this module's own dry-run mode alone.

    A torch-named scheme hands itself to `__torch_function__` when a tensor subclass or a mode asks, as
    torch.nn.init does; the dry run is a mode too, and would stop the scheme at that hand-over, before
    its checks.  With plain tensors and no mode but the dry run's, the scheme runs its checks and stops
    at its first write instead.
    """
    if not torch.overrides.has_torch_function_variadic(*tensors):
        return False
    if any(type(t) not in (torch.Tensor, torch.nn.Parameter) for t in tensors if isinstance(t, torch.Tensor)):
        return True
    modes = torch.overrides._get_current_function_mode_stack()
    return not modes or not all(isinstance(m, _StopAtFirstWrite) for m in modes)
