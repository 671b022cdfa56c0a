"""Conformance table: every random built-in scheme x every layer layout.

For each case: shape and dtype kept, filled in place, same seed -> same values,
different seed -> different values, and the samples follow the distribution the
scheme documents.  The expected law is derived *here*, by hand, from the formula
in the scheme's docstring (fans from the shape, gains from He et al. / Glorot &
Bengio), then checked (a) against the samples with a KS test and the sample std,
and (b) against `scheme.describe(...)`, so the registry's law cannot drift from
what the scheme draws.
"""
import math

import pytest
import torch
from scipy import stats

import initlab

from ._cases import RANDOM_ARGS, SHAPES, fan_in, fan_out, fits, random_builtins, strict

KS_P_MIN = 1e-4
SEED = 20211


def _gain(nonlinearity, a):
    return {"relu": math.sqrt(2.0), "tanh": 5.0 / 3, "linear": 1.0, "sigmoid": 1.0, "selu": 0.75,
            "leaky_relu": math.sqrt(2.0 / (1.0 + a * a))}[nonlinearity]


def _fan(shape, mode):
    mode = mode.lower()   # torch lower-cases kaiming's mode
    return {"fan_in": fan_in(shape), "fan_out": fan_out(shape),
            "fan_avg": (fan_in(shape) + fan_out(shape)) / 2}[mode]


def _u(bound):
    return stats.uniform(loc=-bound, scale=2 * bound)


# std of N(0, 1) truncated to [-2, 2], from scipy (not from initlab's constant)
UNIT_TRUNC2_STD = stats.truncnorm(-2, 2).std()


def expected_law(name, shape, kw):
    """(frozen scipy distribution of one entry, transform of the samples fed to KS) by hand."""
    fi, fo = fan_in(shape), fan_out(shape)
    if name == "uniform":
        a, b = kw.get("a", 0.0), kw.get("b", 1.0)
        return stats.uniform(loc=a, scale=b - a)
    if name == "normal":
        return stats.norm(kw.get("mean", 0.0), kw.get("std", 1.0))
    if name == "trunc_normal":
        m, s, a, b = kw.get("mean", 0.0), kw.get("std", 1.0), kw.get("a", -2.0), kw.get("b", 2.0)
        return stats.truncnorm((a - m) / s, (b - m) / s, loc=m, scale=s)
    if name == "centered_uniform":
        return stats.uniform(loc=-0.5, scale=1.0)
    if name == "inverse_fan_uniform":
        return _u(1.0 / fi)
    if name == "variance_scaling":
        std = math.sqrt(kw.get("scale", 1.0) / _fan(shape, kw.get("mode", "fan_in")))
        dist = kw.get("distribution", "truncated_normal")
        if dist == "normal":
            return stats.norm(0, std)
        if dist == "uniform":
            return _u(math.sqrt(3) * std)
        # JAX semantics: sigma chosen so that the *truncated* draw has std `std`.
        return stats.truncnorm(-2, 2, scale=std / UNIT_TRUNC2_STD)
    if name == "xavier_uniform":
        return _u(kw.get("gain", 1.0) * math.sqrt(6.0 / (fi + fo)))
    if name == "xavier_normal":
        return stats.norm(0, kw.get("gain", 1.0) * math.sqrt(2.0 / (fi + fo)))
    if name in ("kaiming_uniform", "kaiming_normal"):
        std = _gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0.0)) / math.sqrt(_fan(shape, kw.get("mode", "fan_in")))
        return _u(math.sqrt(3) * std) if name == "kaiming_uniform" else stats.norm(0, std)
    if name == "lecun_uniform":
        return _u(math.sqrt(3.0 / fi))
    if name in ("lecun_normal", "general_rule_normal"):
        return stats.norm(0, 1.0 / math.sqrt(fi))
    if name == "general_rule_uniform":
        return _u(1.0 / math.sqrt(fi))
    if name == "orthogonal":
        # Rows (rows <= cols) or columns (rows > cols) of a Haar (semi-)orthogonal matrix are
        # uniform on the unit sphere of R^n, n = max(rows, cols): each entry x has
        # x^2 ~ Beta(1/2, (n-1)/2), symmetric sign.  Entries scale with |gain|.
        n = max(shape[0], math.prod(shape[1:]))
        return stats.beta(0.5, (n - 1) / 2.0, scale=kw.get("gain", 1.0) ** 2)
    if name == "sparse":
        return stats.norm(0, kw.get("std", 0.01))  # law of the non-zero entries
    raise KeyError(name)


def _cases():
    for s in random_builtins():
        for shape_name, shape in SHAPES.items():
            if not fits(s, shape):
                continue
            for i, kw in enumerate(RANDOM_ARGS.get(s.name, [None])):
                yield pytest.param(s, shape, kw, id=f"{s.name}-{shape_name}-{i}")


CASES = list(_cases())


def _draw(scheme, shape, kw, seed=SEED, dtype=torch.float32):
    t = torch.empty(shape, dtype=dtype)
    # strict: a seeded generator reproduces sparse_'s zero positions too (torch takes them from the global RNG)
    out = scheme(t, **kw, **strict(scheme), generator=torch.Generator().manual_seed(seed))
    return t, out


def test_table_covers_every_random_builtin():
    names = {s.name for s in random_builtins()}
    missing = names - set(RANDOM_ARGS)
    assert not missing, f"random built-in schemes without an entry in RANDOM_ARGS: {sorted(missing)}"
    assert not set(RANDOM_ARGS) - names, "RANDOM_ARGS names a scheme that is not a random built-in"
    # and the table really runs on layer weights of every layout
    assert {c.values[1] for c in CASES} == set(SHAPES.values())


@pytest.mark.parametrize("scheme,shape,kw", CASES)
def test_in_place_shape_dtype_and_seeds(scheme, shape, kw):
    if kw is None:
        pytest.fail(f"random built-in {scheme.name!r} has no argument sets in RANDOM_ARGS")
    t, out = _draw(scheme, shape, kw)
    assert out is t, "the scheme must return the tensor it was given"
    assert t.shape == shape and t.dtype == torch.float32
    assert torch.isfinite(t).all()
    ptr = t.data_ptr()
    scheme(t, **kw, **strict(scheme), generator=torch.Generator().manual_seed(SEED + 1))
    assert t.data_ptr() == ptr, "filled in place: same storage"
    again, _ = _draw(scheme, shape, kw)
    other, _ = _draw(scheme, shape, kw, seed=SEED + 1)
    assert torch.equal(again, _draw(scheme, shape, kw)[0]), "same seed must give the same values"
    assert not torch.equal(again, other), "a different seed must give different values"
    assert torch.equal(other, t)


def _moments_tolerance(dist, n):
    """5 standard errors of the sample std: se(s) ~= sigma * sqrt((kurtosis - 1) / (4 n))."""
    kurt = float(dist.stats(moments="k")) + 3.0
    return 5.0 * dist.std() * math.sqrt((kurt - 1.0) / (4.0 * n))


@pytest.mark.parametrize("scheme,shape,kw", CASES)
def test_samples_follow_the_documented_law(scheme, shape, kw):
    if kw is None:
        pytest.fail(f"random built-in {scheme.name!r} has no argument sets in RANDOM_ARGS")
    t, _ = _draw(scheme, shape, kw)
    x = t.double().flatten()
    dist = expected_law(scheme.name, shape, kw)
    if scheme.name == "sparse":
        x = x[x != 0]
    if scheme.name == "orthogonal":
        gain = kw.get("gain", 1.0)
        n = max(shape[0], math.prod(shape[1:]))
        sq = (x ** 2).numpy()
        p = stats.kstest(sq, dist.cdf).pvalue
        assert p > KS_P_MIN, f"KS p={p:.2e}: squared entries are not Beta(1/2, (n-1)/2) * gain^2"
        # sign symmetric, std gain / sqrt(n) (exact up to the sample mean, as rows have unit norm)
        assert abs(float((x > 0).double().mean()) - 0.5) < 5 * 0.5 / math.sqrt(x.numel())
        assert math.isclose(float(x.std()), abs(gain) / math.sqrt(n), rel_tol=0.01)
        return
    p = stats.kstest(x.numpy(), dist.cdf).pvalue
    assert p > KS_P_MIN, f"KS p={p:.2e}: {scheme.name}{kw} on {shape} does not follow {dist.dist.name}{dist.args}{dist.kwds}"
    lo, hi = dist.support()
    assert float(x.min()) >= lo and float(x.max()) <= hi, "values outside the law's support"
    n = x.numel()
    assert abs(float(x.std()) - dist.std()) < _moments_tolerance(dist, n), \
        f"std {float(x.std()):.5g} vs formula {dist.std():.5g} (n={n})"
    assert abs(float(x.mean()) - dist.mean()) < 5 * dist.std() / math.sqrt(n)


@pytest.mark.parametrize("scheme,shape,kw", CASES)
def test_describe_agrees_with_the_formula(scheme, shape, kw):
    if kw is None:
        pytest.fail(f"random built-in {scheme.name!r} has no argument sets in RANDOM_ARGS")
    law = scheme.describe(shape, **kw)
    assert law is not None, f"{scheme.name} declares no law"
    dist = expected_law(scheme.name, shape, kw)
    close = lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)  # noqa: E731
    if scheme.name == "orthogonal":
        n = max(shape[0], math.prod(shape[1:]))
        assert close(law["std"], abs(kw.get("gain", 1.0)) / math.sqrt(n)) and law["mean"] == 0
        return
    if scheme.name == "sparse":
        zeros = math.ceil(kw["sparsity"] * shape[0])
        assert law["zeros_per_column"] == zeros and close(law["sigma"], dist.std())
        # overall std: a fraction zeros/rows of exact zeros, the rest N(0, std^2)
        assert close(law["std"], dist.std() * math.sqrt(1 - zeros / shape[0])) and law["mean"] == 0
        return
    assert close(law["std"], dist.std()), f"describe std {law['std']} vs formula {dist.std()}"
    assert close(law["mean"], dist.mean())
    lo, hi = dist.support()
    if law["dist"] == "uniform":
        assert dist.dist.name == "uniform" and close(law["low"], lo) and close(law["high"], hi)
    elif law["dist"] == "normal":
        assert dist.dist.name == "norm"
    elif law["dist"] == "truncnorm":
        assert dist.dist.name == "truncnorm" and close(law["a"], lo) and close(law["b"], hi)
        assert close(law["sigma"], dist.kwds.get("scale", dist.args[3] if len(dist.args) > 3 else 1.0))
    else:
        pytest.fail(f"unexpected law {law['dist']!r} for {scheme.name}")


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("scale,mode", [(1.0, "fan_in"), (2.0, "fan_out"), (0.3, "fan_avg")])
def test_variance_scaling_truncated_normal_is_std_corrected(shape, scale, mode):
    """JAX semantics: the draw itself has std sqrt(scale / fan), and |w| <= 2 sigma."""
    w = initlab.variance_scaling_(torch.empty(shape), scale, mode, "truncated_normal",
                                  generator=torch.Generator().manual_seed(3))
    target = math.sqrt(scale / _fan(shape, mode))
    sigma = target / UNIT_TRUNC2_STD
    assert math.isclose(stats.truncnorm(-2, 2, scale=sigma).std(), target, rel_tol=1e-12)
    assert float(w.abs().max()) <= 2 * sigma
    n = w.numel()
    assert abs(float(w.double().std()) - target) < _moments_tolerance(stats.truncnorm(-2, 2, scale=sigma), n)
    # and not the uncorrected std (which would be 0.88 of the target)
    assert float(w.double().std()) > 0.95 * target
