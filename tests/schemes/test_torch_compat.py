"""Drop-in fidelity: every public torch.nn.init function against initlab's same-named one.

Each call runs twice, once with torch's function and once with initlab's, from the same
global and generator RNG state, on fresh copies of the same tensor, over a generated grid
(shapes incl. 0-element, 0-D, 1-D and 5-D; every dtype incl. complex, bool and integers;
positional and keyword arguments, a positional generator; odd values: NaN, inf, huge,
negative, a > b, NumPy scalars, 0-dim tensors, strings, None).  It asserts:
  - the same outcome: both return the tensor, or both raise, ours an InitError that is
    also an instance of torch's exception type;
  - bit-identical tensors afterwards (also after an exception: torch may have written);
  - the same warnings (category and text), in the same order;
  - the same global RNG state and the same generator state.
The only cases allowed to differ are the documented deviations (docs/torch-compat.md),
each listed in DEVIATIONS with its predicate and checked to be exercised.
"""
from __future__ import annotations

import inspect
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.init as tinit

import initlab
from initlab import InitError
from initlab.schemes.truncated import acceptance

TORCH_NAMES = [n for n in tinit.__all__ if n.endswith("_") or n == "calculate_gain"]
DEPRECATED = [n for n in tinit.__all__ if n not in TORCH_NAMES]   # uniform, normal, ... (FutureWarning aliases)

G = object()   # placeholder: a fresh generator with the same state on each side

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64, torch.complex128,
          torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool]
SHAPES = [(), (0,), (5,), (3, 4), (4, 3), (0, 3), (3, 0), (2, 2, 0), (4, 2, 3), (4, 4, 3, 3), (2, 3, 1, 2, 2)]
NAN, INF = math.nan, math.inf

# (args, kwargs) per function.  The tensor is the first positional argument.
ARGS = {
    "uniform_": [((), {}), ((-1.0, 1.0), {}), ((0.0, 1.0, G), {}), ((), {"a": -2, "b": 3, "generator": G}),
                 ((1.0, 0.0), {}), ((0.0, INF), {}), ((NAN, 1.0), {}), ((-1e5, 1e5), {}), ((2.0, 2.0), {}),
                 ((np.float64(-0.5), np.float32(0.5)), {}), (("a",), {})],
    "normal_": [((), {}), ((0.5, 0.02), {}), ((0.0, 1.0, G), {}), ((), {"mean": 1, "std": 2, "generator": G}),
                ((0.0, -1.0), {}), ((0.0, NAN), {}), ((NAN, 1.0), {}), ((0.0, 0.0), {}), ((7e4, 1.0), {}),
                ((0.0, INF), {}), ((torch.tensor(0.5), 1.0), {})],
    "trunc_normal_": [((), {}), ((0.0, 1.0, 2.0, 3.0), {}), ((0.0, 1.0, 0.5, 1.5), {}), ((0.0, 1.0, -3.0, -2.0, G), {}),
                      ((), {"mean": 0.1, "std": 0.5, "a": -0.4, "b": 0.9, "generator": G}),
                      ((0.0, 0.02, -0.005, 0.004), {}), ((0.0, 1.0, 1.0, 1.0), {}), ((0.0, 1.0, 1.0, 0.0), {}),
                      ((0.0, 0.0), {}), ((0.0, -1.0), {}), ((NAN,), {}), ((5.0, 1.0, -2.0, 2.0), {}),
                      ((0.0, 1.0, -INF, INF), {}), ((0.0, 1.0, 4.0, 5.0), {}), ((), {"mean": True, "a": 2})],
    "constant_": [((0.25,), {}), ((-3,), {}), ((2.7,), {}), ((INF,), {}), ((NAN,), {}), ((True,), {}),
                  ((torch.tensor(0.5),), {}), ((np.float32(1.5),), {}), ((np.int64(3),), {}), ((300,), {}),
                  ((-1,), {}), ((1e39,), {}), ((), {"val": 1j}), (("x",), {}), ((None,), {})],
    "ones_": [((), {})],
    "zeros_": [((), {})],
    "eye_": [((), {})],
    "dirac_": [((), {}), ((2,), {}), ((), {"groups": np.int64(2)}), ((0,), {}), ((-1,), {}), ((2.0,), {}),
               ((3,), {}), ((True,), {})],
    "xavier_uniform_": [((), {}), ((5 / 3,), {}), ((1.0, G), {}), ((), {"gain": 2, "generator": G}), ((-1.0,), {}),
                        ((NAN,), {}), ((INF,), {}), ((3e38,), {}), ((torch.tensor(2.0),), {})],
    "xavier_normal_": [((), {}), ((0.5,), {}), ((1.0, G), {}), ((-1.0,), {}), ((NAN,), {}), ((1e300,), {})],
    "kaiming_uniform_": [((), {}), ((0.2, "fan_out", "leaky_relu"), {}), ((math.sqrt(5),), {}),
                         ((0, "fan_in", "relu", G), {}), ((), {"mode": "FAN_IN", "nonlinearity": "tanh"}),
                         ((), {"mode": "fan_avg"}), ((), {"mode": None}), ((), {"nonlinearity": "gelu"}),
                         ((1e308,), {}), ((NAN,), {}), ((INF,), {}), ((True,), {}), ((np.float64(0.1),), {})],
    "kaiming_normal_": [((), {}), ((0.2, "Fan_Out"), {}), ((0, "fan_in", "relu", G), {}),
                        ((), {"a": 0.1, "mode": "fan_out", "nonlinearity": "selu", "generator": G}),
                        ((), {"mode": "fan_avg"}), ((), {"mode": 3}), ((), {"nonlinearity": None}),
                        ((1e308,), {}), ((NAN,), {}), ((-0.5,), {}), ((np.int64(1),), {})],
    "orthogonal_": [((), {}), ((math.sqrt(2),), {}), ((1, G), {}), ((), {"gain": -0.5, "generator": G}),
                    ((1e30,), {}), ((NAN,), {}), ((0,), {}), ((1j,), {}), ((torch.tensor(2.0),), {})],
    "sparse_": [((0.1,), {}), ((0.5, 0.3), {}), ((0.5, 0.3, G), {}), ((), {"sparsity": 0.0, "generator": G}),
                ((1.0,), {}), ((1.5,), {}), ((-0.5,), {}), ((NAN,), {}), ((INF,), {}), ((0.5, -1.0), {})],
}

GAIN_CASES = [(nl, p) for nl in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                 "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
              for p in [None, 0, 0.2, -0.5, 3, True, NAN, INF, -INF, 1e200, "0.2", np.float64(0.3), np.int64(2)]] \
    + [(nl, None) for nl in ["gelu", "ReLU", None, 3, "leaky", ""]]


# --- documented deviations (docs/torch-compat.md): ours may succeed where torch raises ---------

def _low_precision_orthogonal(name, t, args, kwargs, exc):
    """torch has no half-precision QR (NotImplementedError); initlab builds Q in float32."""
    return name == "orthogonal_" and t.dtype in (torch.float16, torch.bfloat16) and t.dim() >= 2 and t.numel() > 0


def _non_contiguous_orthogonal(name, t, args, kwargs, exc):
    """torch's tensor.view_as(q) fails on a kernel that cannot be viewed as a matrix."""
    return name == "orthogonal_" and isinstance(exc, RuntimeError) and "view" in str(exc)


DEVIATIONS = {"orthogonal-half-precision": _low_precision_orthogonal,
              "orthogonal-non-contiguous": _non_contiguous_orthogonal}


# --- running a call on both sides --------------------------------------------------------------

def _bits(t: torch.Tensor) -> torch.Tensor:
    flat = t.detach().reshape(-1).contiguous()
    return flat.view(torch.uint8) if flat.dtype != torch.bool else flat


def _resolve(values, gen):
    return [gen if v is G else v for v in values]


def _call(fn, make, args, kwargs, seed=0):
    """(tensor after, returned-the-tensor?, exception, warnings, global RNG state, generator state)."""
    t = make()
    gen = torch.Generator().manual_seed(1000 + seed)
    torch.default_generator.manual_seed(seed)   # (torch.manual_seed also seeds accelerators: 100x slower)
    a = _resolve(args, gen)
    kw = {k: (gen if v is G else v) for k, v in kwargs.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, exc = fn(t, *a, **kw), None
        except Exception as e:   # noqa: BLE001 - the exception is what is compared
            out, exc = None, e
    return (t, out is t, exc, [(w.category, str(w.message)) for w in caught], torch.get_rng_state(),
            gen.get_state())


def compare(name, make, args, kwargs, seed=0):
    """Run torch's and initlab's `name`; return a list of differences ([] = drop-in), or 'deviation:NAME'."""
    theirs = _call(getattr(tinit, name), make, args, kwargs, seed)
    ours = _call(getattr(initlab, name), make, args, kwargs, seed)
    # (the exception types initlab translates are the exact ones in initlab.errors; see docs/torch-compat.md)
    t_t, ret_t, exc_t, warn_t, rng_t, gen_t = theirs
    t_o, ret_o, exc_o, warn_o, rng_o, gen_o = ours
    if exc_t is not None and exc_o is None:
        for label, applies in DEVIATIONS.items():
            if applies(name, make(), args, kwargs, exc_t):
                return [f"deviation:{label}"]
    out = []
    if (exc_t is None) != (exc_o is None):
        out.append(f"outcome: torch {exc_t!r}, initlab {exc_o!r}")
    elif exc_t is not None:
        if not isinstance(exc_o, type(exc_t)):
            out.append(f"exception type: torch {type(exc_t).__name__}, initlab {type(exc_o).__mro__}")
        if not isinstance(exc_o, InitError) and type(exc_o) is not type(exc_t):
            # only a subclass torch raises (numpy's UFuncTypeError, OutOfMemoryError) passes through as it is
            out.append(f"initlab raised {exc_o!r}, neither an InitError nor torch's own type")
    elif ret_t != ret_o:
        out.append("return value: one returns the tensor, the other not")
    if t_t.dtype != t_o.dtype or t_t.shape != t_o.shape or not torch.equal(_bits(t_t), _bits(t_o)):
        out.append(f"tensor: torch {t_t!r} initlab {t_o!r}")
    if warn_t != warn_o:
        out.append(f"warnings: torch {warn_t} initlab {warn_o}")
    if not torch.equal(rng_t, rng_o):
        out.append("global RNG state differs")
    if not torch.equal(gen_t, gen_o):
        out.append("generator state differs")
    return out


def _maker(shape, dtype, layout="contiguous"):
    def make():
        if layout == "transposed" and len(shape) >= 2:
            base = torch.full(tuple(reversed(shape)), 7, dtype=dtype) if dtype != torch.bool \
                else torch.ones(tuple(reversed(shape)), dtype=dtype)
            return base.permute(*reversed(range(len(shape))))
        return torch.full(shape, 7, dtype=dtype) if dtype != torch.bool else torch.ones(shape, dtype=dtype)
    return make


def _slow_in_torch(name, shape, dtype, args, kwargs):
    """trunc_normal_ cases where torch's loop needs > 1000 rounds (initlab's tail sampler's domain)."""
    if name != "trunc_normal_" or not dtype.is_floating_point:
        return False
    p = dict(zip(["mean", "std", "a", "b"], [v for v in args if v is not G]))
    p.update({k: v for k, v in kwargs.items() if k != "generator"})
    acc = acceptance(torch.empty(shape, dtype=dtype), p.get("mean", 0.0), p.get("std", 1.0), p.get("a", -2.0),
                     p.get("b", 2.0))
    return acc is not None and acc < 0.05


ODD_SHAPES = [(), (0,), (5,), (3, 4), (3, 0), (2, 3, 1, 2, 2)]
ODD_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.complex64, torch.int64, torch.bool]


def _grid(name):
    """Every shape x dtype for the first two argument sets (ordinary calls), a smaller product for the odd ones."""
    sets = ARGS[name]
    yield from itertools.product(SHAPES, DTYPES, sets[:2])
    yield from itertools.product(ODD_SHAPES, ODD_DTYPES, sets[2:])


# --- the tests ----------------------------------------------------------------------------------

def test_every_public_torch_function_is_in_initlab_with_torch_signature():
    for name in TORCH_NAMES:
        ours, theirs = inspect.signature(getattr(initlab, name)), inspect.signature(getattr(tinit, name))
        ours_params = [p for p in ours.parameters.values() if p.name != "strict"]
        theirs_params = list(theirs.parameters.values())
        assert [(p.name, p.kind, p.default) for p in ours_params] == \
               [(p.name, p.kind, p.default) for p in theirs_params], name
        extra = ours.parameters.get("strict")
        assert extra is None or (extra.kind is extra.KEYWORD_ONLY and extra.default is False), name


def test_grid_covers_every_torch_function():
    assert set(ARGS) | {"calculate_gain"} == set(TORCH_NAMES)
    assert DEPRECATED and not any(hasattr(initlab, n) for n in DEPRECATED)   # a documented deviation


@pytest.mark.parametrize("name", sorted(ARGS))
def test_side_by_side_grid(name):
    failures, deviations, raised, filled = [], set(), 0, 0
    for shape, dtype, (args, kwargs) in _grid(name):
        if _slow_in_torch(name, shape, dtype, args, kwargs):
            continue
        diff = compare(name, _maker(shape, dtype), args, kwargs)
        if diff and diff[0].startswith("deviation:"):
            deviations.add(diff[0])
            continue
        if diff:
            failures.append(f"{name}{args}{kwargs} on {shape} {dtype}: " + "; ".join(diff))
    # non-contiguous layouts (a transposed weight), float32 only
    for shape, (args, kwargs) in itertools.product([s for s in SHAPES if len(s) >= 2], ARGS[name]):
        diff = compare(name, _maker(shape, torch.float32, "transposed"), args, kwargs, seed=1)
        if diff and diff[0].startswith("deviation:"):
            deviations.add(diff[0])
        elif diff:
            failures.append(f"{name}{args}{kwargs} on transposed {shape}: " + "; ".join(diff))
    assert not failures, f"{len(failures)} differences from torch.nn.init.{name}:\n" + "\n".join(failures[:20])
    if name == "orthogonal_":   # the documented deviations are real and exercised
        assert deviations == {"deviation:orthogonal-half-precision", "deviation:orthogonal-non-contiguous"}
    else:
        assert not deviations


def test_grid_exercises_both_outcomes():
    """A grid where everything raises (or nothing does) would prove little."""
    outcomes = {}
    for name in ARGS:
        for shape, dtype, (args, kwargs) in itertools.product([(3, 4), (4, 2, 3)], [torch.float32, torch.int64],
                                                              ARGS[name]):
            exc = _call(getattr(initlab, name), _maker(shape, dtype), args, kwargs)[2]
            outcomes.setdefault(name, set()).add(exc is None)
    assert all(v == {True, False} for k, v in outcomes.items() if k not in ("ones_", "zeros_", "eye_")), outcomes


@pytest.mark.parametrize("nonlinearity,param", GAIN_CASES, ids=str)
def test_calculate_gain_side_by_side(nonlinearity, param):
    def run(fn):
        try:
            return fn(nonlinearity, param), None
        except Exception as e:   # noqa: BLE001
            return None, e
    (v_t, e_t), (v_o, e_o) = run(tinit.calculate_gain), run(initlab.calculate_gain)
    if e_t is not None:
        assert isinstance(e_o, type(e_t)) and isinstance(e_o, InitError), (e_t, e_o)
        return
    assert e_o is None, e_o
    assert type(v_o) is type(v_t) and (v_o == v_t or (math.isnan(v_o) and math.isnan(v_t)))


def test_positional_generator_is_the_generator():
    """uniform_(w, 0., 1., g): the 4th positional argument is the generator, as in torch."""
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = initlab.uniform_(torch.empty(6), 0.0, 1.0, g1)
    b = tinit.uniform_(torch.empty(6), 0.0, 1.0, g2)
    assert torch.equal(a, b) and torch.equal(g1.get_state(), g2.get_state())
    assert not torch.equal(g1.get_state(), torch.Generator().manual_seed(3).get_state())


class _Logged(torch.Tensor):
    """A tensor subclass that records the functions routed through __torch_function__."""
    seen: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.seen.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("name,args", [("uniform_", ()), ("normal_", ()), ("constant_", (0.5,)),
                                       ("kaiming_uniform_", ())])
def test_torch_function_protocol_like_torch(name, args):
    """Where torch hands the call to a tensor subclass's __torch_function__, so does initlab."""
    for fn in (getattr(tinit, name), getattr(initlab, name)):
        _Logged.seen = []
        t = torch.empty(4, 3).as_subclass(_Logged)
        out = fn(t, *args)
        assert out is t or isinstance(out, _Logged)
        assert _Logged.seen and _Logged.seen[0] == name, (fn, _Logged.seen)


def test_strict_keeps_initlabs_checks():
    """What torch accepts quietly, strict=True refuses with an InitError naming the argument."""
    cases = [
        (initlab.normal_, (torch.empty(3), NAN, 1.0)),
        (initlab.uniform_, (torch.empty(3, dtype=torch.int64), 0.0, 1.0)),
        (initlab.trunc_normal_, (torch.empty(3), 0.0, 1.0, 1.0, 1.0)),
        (initlab.constant_, (torch.empty(3, dtype=torch.int64), 2.7)),
        (initlab.constant_, (torch.empty(3, dtype=torch.uint8), -3)),
        (initlab.sparse_, (torch.empty(4, 4), 1.0)),
        (initlab.kaiming_normal_, (torch.empty(4, 4), NAN)),
        (initlab.xavier_uniform_, (torch.empty(4, 4), -1.0)),
        (initlab.orthogonal_, (torch.empty(4, 4, dtype=torch.bfloat16), 1e39)),
        (initlab.dirac_, (torch.empty(4, 2, 3), np.int64(2))),
    ]
    for fn, args in cases:
        with pytest.raises(InitError, match="Fix:"):
            fn(*args, strict=True)
    with pytest.raises(InitError, match="param"):
        initlab.calculate_gain("leaky_relu", NAN, strict=True)


def test_strict_sparse_draws_zero_positions_from_the_generator():
    a = initlab.sparse_(torch.empty(40, 30), 0.5, 0.01, torch.Generator().manual_seed(7), strict=True)
    torch.manual_seed(0)  # the global RNG state must not matter
    b = initlab.sparse_(torch.empty(40, 30), 0.5, 0.01, torch.Generator().manual_seed(7), strict=True)
    assert torch.equal(a, b)


def test_issue_overflow_cases_match_torch_or_raise_initerror():
    """kaiming_normal_(empty(0, 3), a=1e308) is torch's warning no-op; orthogonal_ of bf16 with gain=1e30
    works (finite) or raises an InitError, never a bare OverflowError."""
    assert compare("kaiming_normal_", lambda: torch.empty(0, 3), (1e308,), {}) == []
    with pytest.raises(InitError):   # torch: OverflowError from a**2; initlab: InitOverflowError (both)
        initlab.kaiming_normal_(torch.empty(2, 3), a=1e308)
    with pytest.raises(OverflowError):
        initlab.kaiming_normal_(torch.empty(2, 3), a=1e308)
    w = initlab.orthogonal_(torch.empty(3, 4, dtype=torch.bfloat16), gain=1e30)
    assert torch.isfinite(w).all()
    with pytest.raises(NotImplementedError):   # beyond float16's range: InitError and torch's type
        initlab.orthogonal_(torch.empty(3, 4, dtype=torch.float16), gain=1e30)


def test_warnings_point_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        initlab.kaiming_normal_(torch.empty(0, 3))
        initlab.kaiming_uniform_(torch.empty(3, 0))
        initlab.trunc_normal_(torch.empty(3), 0.0, 1.0, 5.0, 6.0)
    assert len(caught) == 3 and all(w.filename == __file__ for w in caught), [(w.filename, w.lineno) for w in caught]
