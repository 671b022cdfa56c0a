"""Fuzz every built-in scheme with its default (torch) semantics.

Under torch's names each random call runs side by side with torch.nn.init (test_torch_compat's
`compare`): same outcome, bits, warnings and RNG states, and any exception an InitError that is
also torch's type (or, for a subclass torch raises such as numpy's UFuncTypeError, that very type).  Under initlab's own names nothing but an InitError may escape.  2,000
examples in the default suite, 20,000 under the `slow` marker (`make test-slow`); derandomized.
"""
from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initlab
from initlab import InitError

from ._cases import builtins
from .test_torch_compat import DTYPES, G, TORCH_NAMES, _maker, _slow_in_torch, compare

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, 3.0, 1e-8, 7e4, -7e4, 1e30, 3e38,
           1e39, 1e200, 1e308, 1e-300]
NUMBER = st.one_of(st.sampled_from(SPECIAL), st.floats(-10, 10, allow_nan=False), st.integers(-3, 5),
                   st.sampled_from([True, np.float32(0.25), np.float64(-1.5), np.int64(2)]))
ODD = st.sampled_from([None, "x", torch.tensor(0.5), 1j])
VALUE = {
    "mode": st.sampled_from(["fan_in", "fan_out", "FAN_IN", "Fan_Out", "fan_avg", "", None, 1]),
    "nonlinearity": st.sampled_from(["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
                                     "gelu", "ReLU", None]),
    "distribution": st.sampled_from(["truncated_normal", "normal", "uniform", "gaussian", None]),
}
SHAPE = st.lists(st.sampled_from([0, 1, 2, 3, 4]), min_size=0, max_size=5).map(tuple)

TORCH_FNS = [n for n in TORCH_NAMES if n != "calculate_gain"]
OWN = sorted(s.name for s in builtins() if not s.torch_name)


def _value(name):
    if name in VALUE:
        return VALUE[name]
    return st.one_of(NUMBER, NUMBER, NUMBER, ODD)


@st.composite
def torch_call(draw):
    name = draw(st.sampled_from(TORCH_FNS))
    params = [p for p in inspect.signature(getattr(torch.nn.init, name)).parameters.values()][1:]
    args, kwargs, positional = [], {}, draw(st.booleans())
    for p in params:
        required = p.default is inspect.Parameter.empty
        if p.name == "generator":
            value = G if draw(st.booleans()) else None
        elif required or draw(st.booleans()):
            value = draw(_value(p.name))
        else:
            positional = False            # a skipped parameter ends the positional run
            continue
        if positional:
            args.append(value)
        else:
            kwargs[p.name] = value
    return name, tuple(args), kwargs


def _check_torch(call, shape, dtype, seed):
    name, args, kwargs = call
    if _slow_in_torch(name, shape, dtype, args, kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k != "generator"}
        args = tuple(v for v in args if v is not G)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                getattr(initlab, name)(_maker(shape, dtype)(), *args, **kwargs)
            except InitError:
                pass
        return
    diff = compare(name, _maker(shape, dtype), args, kwargs, seed)
    assert diff == [] or diff[0].startswith("deviation:orthogonal"), f"{name}{args}{kwargs} {shape} {dtype}: {diff}"


def _check_own(name, kwargs, shape, dtype, seed):
    scheme = initlab.get_scheme(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            scheme(_maker(shape, dtype)(), **kwargs, generator=torch.Generator().manual_seed(seed))
        except InitError:
            pass


@st.composite
def own_call(draw):
    name = draw(st.sampled_from(OWN))
    kwargs = {p: draw(_value(p)) for p in initlab.get_scheme(name).params if draw(st.booleans())}
    return name, kwargs


def _fuzz(n):
    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(call=st.one_of(torch_call(), torch_call(), torch_call(), own_call()), shape=SHAPE,
           dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
    def check(call, shape, dtype, seed):
        if len(call) == 3:
            _check_torch(call, shape, dtype, seed)
        else:
            _check_own(*call, shape, dtype, seed)
    check()


def test_fuzz_schemes_default_suite():
    _fuzz(2000)


@pytest.mark.slow
def test_fuzz_schemes_slow():
    _fuzz(20000)
