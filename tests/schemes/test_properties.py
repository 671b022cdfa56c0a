"""Property-based: throw random shapes, dtypes and arguments at every built-in scheme, with
initlab's checks (strict=True under torch's names; initlab's own names are always strict).

Each call either fills the tensor correctly (same object, shape and dtype; finite
values; inside the law's bounds when it has some; the exact value for constants)
or raises InitError and leaves the tensor untouched -- never any other exception.
(torch's semantics, without strict, are fuzzed against torch itself in test_fuzz.py.)
A UserWarning (empty tensor, far-off mean) is fine.  Derandomized: the same examples
on every run.
"""
import inspect
import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from initlab import InitError

from ._cases import builtins, strict, takes_generator

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, 1e-3, 1e-8, 10.0,
           7e4, -7e4, 1e30, -1e30, 3e38, 1e-300]   # beyond float16 / float32 / tiny
FLOATS = st.one_of(st.sampled_from(SPECIAL), st.floats(-10, 10, allow_nan=False), st.integers(-3, 3))
# Valid choices listed twice: most examples get past the name checks to the numbers.
CHOICES = {
    "mode": ["fan_in", "fan_out", "fan_avg"] * 2 + ["FAN_IN", "fan", "", None, 1],
    "nonlinearity": ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"] * 2 + ["gelu", "ReLU", None],
    "distribution": ["truncated_normal", "normal", "uniform"] * 2 + ["gaussian", None],
}
VALUES = {
    "groups": st.one_of(st.integers(-1, 4), st.sampled_from([1.0, math.nan, True, None])),
    "sparsity": st.one_of(st.floats(-0.5, 1.5, allow_nan=False), st.sampled_from([0.0, 0.999, 1.0, math.nan, math.inf])),
    "val": st.one_of(FLOATS, st.sampled_from([300, -300, 1e6])),
}
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16] * 2 + [torch.int64, torch.int32, torch.uint8,
                                                                           torch.bool]
SIZES = st.sampled_from([1, 2, 3, 4, 5, 1, 2, 3, 0])     # a zero now and then: empty tensors


def _shapes(scheme):
    """Half the shapes have a rank the scheme accepts, half any rank 0-5."""
    lo, hi = scheme.dims
    fitting = st.integers(lo, min(hi if hi is not None else 5, 5)).flatmap(
        lambda n: st.lists(SIZES, min_size=n, max_size=n).map(tuple))
    return st.one_of(fitting, st.lists(SIZES, min_size=0, max_size=5).map(tuple))


SENTINEL = 7


def _value_strategy(name):
    if name in CHOICES:
        return st.sampled_from(CHOICES[name])
    return VALUES.get(name, FLOATS)


@st.composite
def _arguments(draw, scheme):
    sig = inspect.signature(scheme.fn)
    kwargs = {}
    for name in scheme.params:
        required = sig.parameters[name].default is inspect.Parameter.empty
        if required or draw(st.booleans()):
            kwargs[name] = draw(_value_strategy(name))
    return kwargs


def _in_dtype(x, dtype):
    return float(torch.tensor(x, dtype=torch.float64).to(dtype))


def _check_filled(scheme, t, shape, dtype, kwargs):
    assert t.shape == shape and t.dtype == dtype
    if t.numel() == 0:
        return
    if dtype.is_floating_point:
        assert torch.isfinite(t).all(), f"non-finite values from {scheme.name}{kwargs}"
    law = scheme.describe(shape, **kwargs)
    if law is None:
        return
    x = t.double()
    if law["dist"] in ("uniform", "truncnorm"):
        lo, hi = (law["low"], law["high"]) if law["dist"] == "uniform" else (law["a"], law["b"])
        assert float(x.min()) >= _in_dtype(lo, dtype) and float(x.max()) <= _in_dtype(hi, dtype), \
            f"{scheme.name}{kwargs}: values outside [{lo}, {hi}]"
    elif law["dist"] == "constant":
        assert torch.equal(t, torch.full_like(t, law["value"]))
    elif law["dist"] == "sparse":
        assert ((x == 0).sum(0) >= law["zeros_per_column"]).all()
    elif law["dist"] == "orthogonal":
        assert float(x.abs().max()) <= abs(law["gain"]) * (1 + 1e-2)   # entries of a gain * unit vector


@pytest.mark.parametrize("scheme", builtins(), ids=lambda s: s.name)
def test_fills_correctly_or_raises_initerror(scheme):
    @settings(max_examples=60, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(shape=_shapes(scheme), dtype=st.sampled_from(DTYPES), kwargs=_arguments(scheme), seed=st.integers(0, 2 ** 16))
    def check(shape, dtype, kwargs, seed):
        t = torch.full(shape, SENTINEL, dtype=dtype) if dtype != torch.bool else torch.ones(shape, dtype=dtype)
        before = t.clone()
        call = dict(kwargs, **strict(scheme))
        if takes_generator(scheme):
            call["generator"] = torch.Generator().manual_seed(seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = scheme(t, **call)
            except InitError:
                assert torch.equal(t, before), f"{scheme.name}{kwargs} raised but changed the tensor"
                event("InitError")
                return
        event("filled" if t.numel() else "empty")
        assert all(issubclass(w.category, UserWarning) for w in caught), [str(w.message) for w in caught]
        assert out is t
        _check_filled(scheme, t, shape, dtype, kwargs)

    check()
