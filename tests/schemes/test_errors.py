"""Bad input: one InitError (a ValueError) whose message names the argument, the value,
the allowed values and the fix; zero-element tensors warn where torch warns and stay as they
are; the registry protects built-in names.

Under torch's names initlab refuses exactly what torch refuses (as an InitError that is also
torch's exception type; see test_torch_compat); initlab's stricter checks of what torch accepts
(NaN, a == b, sparsity >= 1, ...) run with strict=True, and always under initlab's own names."""
import inspect
import math
import re
import warnings

import pytest
import torch

import initlab
from initlab import InitError
from initlab.schemes import registry

from ._cases import DEFAULT_ARGS, builtins, fits, strict, takes_generator


def _raises(fn, *args, arg, value=None, allowed=None, **kwargs) -> str:
    """Call fn, expect an InitError naming `arg` (and `value`, `allowed`) with a Fix; return the message."""
    with pytest.raises(InitError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert f"{arg}=" in msg, f"argument {arg!r} not named in: {msg}"
    if value is not None:
        assert repr(value) in msg or str(value) in msg, f"value {value!r} not in: {msg}"
    assert "expected" in msg, f"allowed values not stated in: {msg}"
    if allowed is not None:
        for a in ([allowed] if isinstance(allowed, str) else allowed):
            assert a in msg, f"{a!r} not in: {msg}"
    assert "Fix:" in msg, f"no fix in: {msg}"
    return msg


def test_initerror_is_a_valueerror():
    assert issubclass(InitError, ValueError)


# --- names ---------------------------------------------------------------------------------

def test_unknown_scheme_did_you_mean():
    msg = _raises(initlab.get_scheme, "xavier_unifrom", arg="name", value="xavier_unifrom", allowed="'xavier_uniform'")
    assert "Did you mean" in msg


def test_unknown_scheme_not_a_string():
    _raises(initlab.get_scheme, 3, arg="name", value=3)


@pytest.mark.parametrize("name", ["Xavier-Uniform", "xavier_uniform_", "he", "glorot_normal", "KAIMING"])
def test_scheme_names_and_aliases_resolve(name):
    assert initlab.get_scheme(name).builtin


@pytest.mark.parametrize("fn", [initlab.kaiming_normal_, initlab.kaiming_uniform_])
def test_unknown_mode(fn):
    msg = _raises(fn, torch.empty(3, 4), mode="fan_inn", arg="mode", value="fan_inn",
                  allowed=["'fan_in'", "'fan_out'"])
    assert "Did you mean 'fan_in'" in msg


def test_unknown_mode_and_distribution_in_variance_scaling():
    _raises(initlab.variance_scaling_, torch.empty(3, 4), mode="avg", arg="mode", value="avg", allowed="'fan_avg'")
    _raises(initlab.variance_scaling_, torch.empty(3, 4), distribution="gaussian", arg="distribution",
            value="gaussian", allowed=["'normal'", "'truncated_normal'", "'uniform'"])


@pytest.mark.parametrize("call", [
    lambda nl: initlab.calculate_gain(nl),
    lambda nl: initlab.kaiming_normal_(torch.empty(3, 4), nonlinearity=nl),
    lambda nl: initlab.kaiming_uniform_(torch.empty(3, 4), nonlinearity=nl),
])
@pytest.mark.parametrize("nonlinearity", ["gelu", "ReLU", "leaky", None])
def test_unknown_nonlinearity(call, nonlinearity):
    msg = _raises(call, nonlinearity, arg="nonlinearity", value=nonlinearity, allowed=["'relu'", "'leaky_relu'"])
    if nonlinearity == "leaky":
        assert "Did you mean 'leaky_relu'" in msg


def test_bad_leaky_relu_param():
    _raises(initlab.calculate_gain, "leaky_relu", "0.2", arg="param", value="0.2")
    assert math.isnan(initlab.calculate_gain("leaky_relu", float("nan")))   # as torch
    _raises(initlab.calculate_gain, "leaky_relu", float("nan"), strict=True, arg="param")
    _raises(initlab.calculate_gain, "leaky_relu", 1e200, arg="param", value=1e200)
    with pytest.raises(OverflowError):   # torch's type too: slope ** 2 overflows
        initlab.calculate_gain("leaky_relu", 1e200)


# --- shapes --------------------------------------------------------------------------------

FAN_BASED = [s for s in builtins() if s.dims[0] == 2 and s.name not in ("eye", "dirac", "sparse")]


@pytest.mark.parametrize("scheme", FAN_BASED, ids=lambda s: s.name)
def test_fan_based_scheme_on_a_1d_tensor(scheme):
    kw = dict(DEFAULT_ARGS[scheme.name])
    msg = _raises(scheme, torch.empty(10), **kw, arg="tensor.shape", value=(10,))
    assert "zeros" in msg, f"message should point 1-D biases to zeros & co: {msg}"


def test_fan_error_lists_the_1d_schemes():
    msg = _raises(initlab.xavier_uniform_, torch.empty(5), arg="tensor.shape")
    for name in ("zeros", "ones", "constant", "uniform", "normal"):
        assert name in msg


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (2, 2, 2, 2)])
def test_eye_needs_2d(shape):
    _raises(initlab.eye_, torch.empty(shape), arg="tensor.shape", value=shape, allowed="2-D")


@pytest.mark.parametrize("shape", [(4,), (4, 4), (2, 2, 2, 2, 2, 2)])
def test_dirac_needs_3_to_5_dims(shape):
    _raises(initlab.dirac_, torch.empty(shape), arg="tensor.shape", value=shape, allowed="3-, 4- or 5-D")


@pytest.mark.parametrize("groups", [0, -1, 3, 2.0, True])
def test_dirac_bad_groups(groups):
    _raises(initlab.dirac_, torch.empty(4, 2, 3), groups=groups, strict=True, arg="groups", value=groups)
    if groups in (0, 3, 2.0):   # torch refuses these too (ZeroDivisionError, ValueError, TypeError)
        _raises(initlab.dirac_, torch.empty(4, 2, 3), groups=groups, arg="groups", value=groups)


@pytest.mark.parametrize("shape", [(4,), (4, 4, 3)])
def test_sparse_needs_2d(shape):
    _raises(initlab.sparse_, torch.empty(shape), 0.5, arg="tensor.shape", value=shape, allowed="2-D")


# --- dtypes --------------------------------------------------------------------------------

RANDOM = [s for s in builtins() if s.kind == "random"]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool], ids=str)
@pytest.mark.parametrize("scheme", RANDOM, ids=lambda s: s.name)
def test_random_scheme_refuses_integer_and_bool(scheme, dtype):
    shape = (8, 6) if fits(scheme, (8, 6)) else (8, 6, 3)
    t = torch.zeros(shape, dtype=dtype)
    _raises(scheme, t, **DEFAULT_ARGS[scheme.name], arg="tensor.dtype", value=dtype, allowed="float")
    assert not t.any()   # untouched


def test_not_a_tensor():
    _raises(initlab.normal_, [1.0, 2.0], arg="tensor", value="list")
    _raises(initlab.constant_, 3.0, 1.0, arg="tensor", value="float")


# --- values --------------------------------------------------------------------------------

def test_a_greater_than_b():
    msg = _raises(initlab.uniform_, torch.empty(3), 1.0, 0.0, arg="(a, b)", value=(1.0, 0.0), allowed="a <= b")
    assert "swap" in msg
    _raises(initlab.trunc_normal_, torch.empty(3), a=1.0, b=-1.0, arg="(a, b)", value=(1.0, -1.0))
    _raises(initlab.trunc_normal_, torch.empty(3), a=1.0, b=1.0, strict=True, arg="(a, b)", value=(1.0, 1.0),
            allowed="a < b")
    assert torch.equal(initlab.trunc_normal_(torch.empty(3), a=1.0, b=1.0), torch.ones(3))   # torch fills with a


@pytest.mark.parametrize("call", [
    lambda std: initlab.normal_(torch.empty(3), 0.0, std),
    lambda std: initlab.trunc_normal_(torch.empty(3), 0.0, std, strict=True),   # torch: |std|
    lambda std: initlab.sparse_(torch.empty(3, 3), 0.5, std),
])
def test_negative_std(call):
    _raises(call, -0.1, arg="std", value=-0.1, allowed="std >")   # strict: see `call`


def test_trunc_normal_needs_positive_std():
    _raises(initlab.trunc_normal_, torch.empty(3), 0.0, 0.0, arg="std", value=0.0, allowed="std > 0")


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_sparsity_outside_unit_interval(sparsity):
    _raises(initlab.sparse_, torch.empty(4, 4), sparsity, strict=True, arg="sparsity", value=sparsity, allowed="[0, 1)")


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_variance_scaling_scale_positive(scale):
    _raises(initlab.variance_scaling_, torch.empty(4, 4), scale, arg="scale", value=scale, allowed="scale > 0")


@pytest.mark.parametrize("fn", [initlab.xavier_uniform_, initlab.xavier_normal_])
def test_xavier_negative_gain(fn):
    t = torch.zeros(4, 5)
    _raises(fn, t, gain=-1.0, arg="gain", value=-1.0, allowed="gain >= 0")
    assert not t.any()


def _numeric_params(scheme):
    """(name, default) of every numeric parameter of a built-in scheme."""
    sig = inspect.signature(scheme.fn)
    for name in scheme.params:
        v = DEFAULT_ARGS[scheme.name].get(name, sig.parameters[name].default)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            yield name


NON_FINITE_CASES = [pytest.param(s, p, v, id=f"{s.name}-{p}-{v}")
                    for s in builtins() for p in _numeric_params(s) for v in (math.nan, math.inf, -math.inf)]


def test_non_finite_cases_cover_the_numeric_arguments():
    covered = {(c.values[0].name, c.values[1]) for c in NON_FINITE_CASES}
    assert {("uniform", "a"), ("normal", "std"), ("trunc_normal", "b"), ("xavier_uniform", "gain"),
            ("kaiming_normal", "a"), ("variance_scaling", "scale"), ("orthogonal", "gain"),
            ("sparse", "sparsity"), ("constant", "val"), ("dirac", "groups")} <= covered


@pytest.mark.parametrize("scheme,param,value", NON_FINITE_CASES)
def test_non_finite_argument(scheme, param, value):
    shape = next(s for s in [(6, 4), (6, 4, 3)] if fits(scheme, s))
    t = torch.zeros(shape)
    kw = dict(DEFAULT_ARGS[scheme.name], **{param: value}, **strict(scheme))
    _raises(scheme, t, **kw, arg=param, value=value)
    assert not t.any()


def test_bind_unknown_keyword():
    msg = _raises(initlab.get_scheme("kaiming_normal").bind, nonlinarity="relu", arg="argument",
                  value="nonlinarity", allowed=["'a'", "'mode'", "'nonlinearity'"])
    assert "Did you mean 'nonlinearity'" in msg


def test_bind_missing_required_argument():
    _raises(initlab.get_scheme("sparse").bind, arg="sparsity")


def test_bind_fills_defaults():
    assert initlab.get_scheme("kaiming_uniform").bind(a=0.2) == {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}


@pytest.mark.parametrize("dtype,val", [(torch.uint8, -3), (torch.int8, 1000), (torch.float16, 1e6),
                                       (torch.int64, 0.5), (torch.bool, 1)], ids=str)
def test_constant_that_the_dtype_cannot_hold(dtype, val):
    t = torch.zeros(4, dtype=dtype)
    _raises(initlab.constant_, t, val, strict=True, arg="val", value=val)
    assert not t.any()


@pytest.mark.parametrize("dtype,a,b", [(torch.float16, -1e5, 1e5), (torch.float32, -1e39, 0.0)], ids=str)
def test_uniform_bounds_outside_the_dtype(dtype, a, b):
    _raises(initlab.uniform_, torch.zeros(4, dtype=dtype), a, b, arg="(a, b)")


# --- zero-element tensors ------------------------------------------------------------------

def _empty_shapes(scheme):
    for shape in [(0,), (0, 5), (5, 0), (0, 4, 3), (3, 0, 3, 3), (2, 2, 0)]:
        if fits(scheme, shape):
            yield shape


EMPTY_CASES = [pytest.param(s, shape, id=f"{s.name}-{shape}") for s in builtins() for shape in _empty_shapes(s)]
# torch warns for an empty tensor only in kaiming_*; initlab's own names warn too
WARNS = {s.name for s in builtins() if not s.torch_name or s.torch_name.startswith("kaiming")}


def test_every_builtin_has_an_empty_case():
    assert {c.values[0].name for c in EMPTY_CASES} == {s.name for s in builtins()}


@pytest.mark.parametrize("scheme,shape", EMPTY_CASES)
def test_zero_element_tensor_is_left_as_is_and_warns_where_torch_does(scheme, shape):
    t = torch.empty(shape)
    kw = dict(DEFAULT_ARGS[scheme.name])
    if takes_generator(scheme):
        kw["generator"] = torch.Generator().manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = scheme(t, **kw)
        except InitError as e:   # torch's own refusals of some empty shapes: xavier with fan_in + fan_out = 0,
            # dirac_ with a zero-size kernel dim (no centre tap)
            assert scheme.torch_name and isinstance(e, (ZeroDivisionError, IndexError)), e
            return
    assert out is t and t.shape == shape
    messages = [str(w.message) for w in caught]
    if scheme.name in WARNS:
        assert messages == ["Initializing zero-element tensors is a no-op"]
    else:
        assert messages == []


def test_zero_element_warning_is_torch_warning():
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        torch.nn.init.kaiming_normal_(torch.empty(0, 3))
    with pytest.warns(UserWarning) as ours:
        initlab.kaiming_normal_(torch.empty(0, 3))
    assert str(ours[0].message) == str(theirs[0].message)


# --- registry ------------------------------------------------------------------------------

@pytest.fixture
def clean_registry():
    """Remove every user scheme a test registers (the registry is process-global)."""
    before = dict(registry._REGISTRY), dict(registry._ALIASES)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before[0])
    registry._ALIASES.clear()
    registry._ALIASES.update(before[1])


@pytest.mark.parametrize("name", ["xavier_uniform", "Kaiming-Normal", "he", "glorot_uniform", "zeros"])
def test_registering_over_a_builtin_is_refused(clean_registry, name):
    before = initlab.get_scheme(name)
    _raises(initlab.register_scheme, name, lambda t, generator=None: t, overwrite=True, arg="name", value=name)
    assert initlab.get_scheme(name) is before


@pytest.mark.parametrize("alias", ["kaiming_normal", "he", "xavier"])
def test_an_alias_cannot_hijack_a_builtin(clean_registry, alias):
    before = initlab.get_scheme(alias)
    _raises(initlab.register_scheme, "my_init", lambda t: t, aliases=(alias,), arg="aliases", value=alias)
    assert initlab.get_scheme(alias) is before
    assert "my_init" not in initlab.list_schemes()


def test_register_user_scheme(clean_registry):
    def half_(tensor, scale=1.0, *, generator=None):
        return tensor.fill_(0.5 * scale)
    spec = initlab.register_scheme("half", half_, formula="w = 0.5 scale", aliases=("one_half",))
    assert not spec.builtin and spec.params == ("scale",)
    assert "half" in initlab.list_schemes() and spec in initlab.registered_schemes()
    assert initlab.get_scheme("one_half") is spec
    t = initlab.get_scheme("half")(torch.empty(2, 2), scale=2.0, generator=torch.Generator())
    assert torch.equal(t, torch.ones(2, 2))
    assert spec.bind() == {"scale": 1.0}
    # a second registration needs overwrite=True
    _raises(initlab.register_scheme, "half", half_, arg="name", value="half")
    initlab.register_scheme("half", half_, overwrite=True)


def test_register_wraps_a_function_without_generator(clean_registry):
    def twos(w):
        return w.fill_(2.0)
    spec = initlab.register_scheme("twos", twos)
    assert "generator" in inspect.signature(spec.fn).parameters
    out = initlab.get_scheme("twos")(torch.empty(3), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.full((3,), 2.0))
    # the first parameter is the tensor whatever it is called: not a scheme argument
    assert spec.params == () and spec.bind() == {}


@pytest.mark.parametrize("name", ["", "3d", "my scheme!", "a.b"])
def test_register_bad_name(clean_registry, name):
    _raises(initlab.register_scheme, name, lambda t: t, arg="name")


def test_register_not_callable(clean_registry):
    _raises(initlab.register_scheme, "x", 3, arg="fn")


def test_builtin_names_are_identifiers():
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", n) for n in initlab.list_schemes())


@pytest.mark.parametrize("dtype,call,arg", [
    (torch.float32, lambda t: initlab.normal_(t, 0.0, 3e38, strict=True), "(mean, std)"),
    (torch.float16, lambda t: initlab.normal_(t, 6.5e4, 100.0, strict=True), "(mean, std)"),
    (torch.float16, lambda t: initlab.orthogonal_(t, gain=1e30), "gain"),
    (torch.float32, lambda t: initlab.xavier_normal_(t, gain=3e38, strict=True), "gain"),
    (torch.float32, lambda t: initlab.xavier_uniform_(t, gain=3e38, strict=True), "gain"),
    (torch.bfloat16, lambda t: initlab.variance_scaling_(t, 1e78), "scale"),
    (torch.float16, lambda t: initlab.sparse_(t, 0.5, std=1e4, strict=True), "std"),
    (torch.float16, lambda t: initlab.trunc_normal_(t, -1e30, 1.0, -1e30, 2.0, strict=True), "(a, b)"),
], ids=["normal-f32", "normal-mean-f16", "orthogonal-f16", "xavier_normal", "xavier_uniform", "vs-bf16", "sparse-f16",
        "trunc_normal-f16"])
def test_arguments_whose_draws_overflow_the_dtype(dtype, call, arg):
    t = torch.zeros(4, 4, dtype=dtype)
    _raises(call, t, arg=arg, allowed=str(dtype))   # strict=True for torch's names (torch fills inf or raises)
    assert not t.any()


@pytest.mark.parametrize("name,shape,kwargs,arg", [
    ("xavier_uniform", (4, 5), {"gain": -1.0}, "gain"),
    ("normal", (4,), {"std": -1.0}, "std"),
    ("sparse", (4, 4), {"sparsity": 1.5}, "sparsity"),
    ("kaiming_normal", (4,), {}, "tensor.shape"),
    ("kaiming_uniform", (4, 5), {"mode": "fan_sideways"}, "mode"),
    ("trunc_normal", (4,), {"a": 1.0, "b": 0.0}, "(a, b)"),
    ("eye", (3, 4, 5), {}, "tensor.shape"),
])
def test_describe_rejects_what_the_scheme_rejects(name, shape, kwargs, arg):
    """A plan printed from describe() must not show a law for arguments the scheme refuses."""
    torch.manual_seed(0)
    state = torch.get_rng_state()
    _raises(initlab.get_scheme(name).describe, shape, **kwargs, arg=arg)
    assert torch.equal(torch.get_rng_state(), state)


def test_describe_leaves_dtype_range_checks_to_the_call():
    """describe() has no dtype: a gain that overflows float32 but not float64 gives a law,
    and the call on a float32 tensor is what refuses it."""
    law = initlab.get_scheme("xavier_normal").describe((1, 1), gain=3e38)
    assert law["std"] == pytest.approx(3e38)
    assert torch.isfinite(initlab.xavier_normal_(torch.empty(1, 1, dtype=torch.float64), gain=3e38)).all()
    _raises(initlab.xavier_normal_, torch.empty(1, 1), gain=3e38, strict=True, arg="gain")


def test_a_remembered_argument_check_does_not_pass_a_value_of_another_type():
    """describe() remembers argument checks that passed; True == 1 == 1.0 must still be checked apart."""
    c, d = initlab.get_scheme("constant"), initlab.get_scheme("dirac")
    c.describe((4, 4), val=1)
    _raises(c.describe, (4, 4), val=True, arg="val", value=True)
    d.describe((4, 4, 3), groups=2)
    with pytest.raises(InitError):
        d.describe((4, 4, 3), groups=2.0)


def test_register_an_unhashable_callable(clean_registry):
    from dataclasses import dataclass

    @dataclass
    class Half:                      # dataclass instances are unhashable (eq without frozen)
        v: float = 0.5

        def __call__(self, t, generator=None):
            return t.fill_(self.v)
    spec = initlab.register_scheme("half_dc", Half())
    assert spec.bind() == {}
    assert torch.equal(spec(torch.empty(2)), torch.full((2,), 0.5))
