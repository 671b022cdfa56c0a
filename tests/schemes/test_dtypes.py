"""Half, bfloat16 and double precision: every scheme works and keeps its properties."""
import math

import pytest
import torch
from scipy import stats

import initlab

from ._cases import DEFAULT_ARGS, builtins, fits, takes_generator

DTYPES = [torch.float16, torch.bfloat16, torch.float64]
LOW = [torch.float16, torch.bfloat16]
SHAPE_FOR_DIMS = [(256, 128), (32, 16, 3, 3), (1000,)]


def _shape(scheme):
    return next(s for s in SHAPE_FOR_DIMS if fits(scheme, s))


def _fill(scheme, t, seed=0, **kw):
    kwargs = dict(DEFAULT_ARGS[scheme.name], **kw)
    if takes_generator(scheme):
        kwargs["generator"] = torch.Generator().manual_seed(seed)
    return scheme(t, **kwargs)


def test_every_builtin_has_default_arguments():
    assert {s.name for s in builtins()} <= set(DEFAULT_ARGS)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("scheme", builtins(), ids=lambda s: s.name)
def test_every_scheme_works_in_dtype(scheme, dtype):
    shape = _shape(scheme)
    t = torch.full(shape, float("nan"), dtype=dtype)
    out = _fill(scheme, t)
    assert out is t and t.dtype == dtype and t.shape == shape
    assert torch.isfinite(t).all()
    law = scheme.describe(shape, **DEFAULT_ARGS[scheme.name])
    if scheme.kind == "random" and law is not None and law.get("std", 0) > 0:
        # the spread is the documented one in every precision (5 %; n >= 18k samples)
        x = t.double()
        assert math.isclose(float(x.std()), law["std"], rel_tol=0.05), (float(x.std()), law["std"])
    if scheme.kind == "deterministic":
        ref = _fill(scheme, torch.empty(shape, dtype=torch.float64))
        assert torch.equal(t.double(), ref.to(dtype).double())


# --- truncated normal in low precision: no mass piled on the bounds -------------------------

N = 200_000
TRUNC_CASES = {
    "std1_pm2": (0.0, 1.0, -2.0, 2.0),
    "narrow": (0.0, 0.02, -0.04, 0.04),
    "half_sigma": (0.0, 1.0, -0.5, 0.5),
    "skewed": (0.3, 0.5, -0.2, 1.1),
    "small_mass_branch": (0.0, 1.0, 2.0, 3.0),
}


def _neighbour_inside(v, dtype, towards):
    return float(torch.nextafter(torch.tensor(v, dtype=dtype), torch.tensor(towards, dtype=dtype)))


def _check_no_pile(w, a, b, dtype):
    """Values exactly on a bound occur only as often as on the next representable value inside.

    Clamping (or an inverse-CDF draw clamped to [a, b]) would put the whole tail mass
    on the bound (thousands of values out of 200k); rounding alone gives the bound about
    as many values as its neighbour (at most ~1.5x: half an ulp outside rounds onto it).
    """
    lo, hi = float(torch.tensor(a, dtype=dtype)), float(torch.tensor(b, dtype=dtype))
    assert float(w.min()) >= lo and float(w.max()) <= hi
    for bound, inward in ((lo, hi), (hi, lo)):
        at = int((w == bound).sum())
        nb = int((w == _neighbour_inside(bound, dtype, inward)).sum())
        assert at <= 2 * nb + 10, f"{at} values on bound {bound} vs {nb} on its neighbour: piled up"


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("case", list(TRUNC_CASES))
def test_trunc_normal_low_precision_has_no_pile_on_bounds(case, dtype):
    mean, std, a, b = TRUNC_CASES[case]
    w = initlab.trunc_normal_(torch.empty(N, dtype=dtype), mean, std, a, b, generator=torch.Generator().manual_seed(1))
    assert w.dtype == dtype and torch.isfinite(w).all()
    law = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    _check_no_pile(w, a, b, dtype)
    # and the bulk is the truncated normal: mean and std as the formula says (up to rounding)
    x = w.double()
    ulp = torch.finfo(dtype).eps * max(abs(a), abs(b))
    assert abs(float(x.mean()) - law.mean()) < 5 * law.std() / math.sqrt(N) + ulp
    assert abs(float(x.std()) - law.std()) < 0.01 * law.std() + ulp


@pytest.mark.parametrize("dtype", LOW, ids=str)
def test_variance_scaling_truncated_low_precision_has_no_pile(dtype):
    shape = (400, 500)
    w = initlab.variance_scaling_(torch.empty(shape, dtype=dtype), 1.0, "fan_in", "truncated_normal",
                                  generator=torch.Generator().manual_seed(2)).flatten()
    sigma = math.sqrt(1.0 / 500) / stats.truncnorm(-2, 2).std()
    _check_no_pile(w, -2 * sigma, 2 * sigma, dtype)


# --- orthogonal in half precision -----------------------------------------------------------

@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("shape", [(64, 64), (256, 128), (32, 200), (64, 16, 3, 3)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_low_precision_is_orthogonal(shape, dtype, gain):
    w = initlab.orthogonal_(torch.empty(shape, dtype=dtype), gain=gain, generator=torch.Generator().manual_seed(3))
    assert w.dtype == dtype
    m = w.reshape(shape[0], -1).double()
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    # Rounding each entry to the dtype changes each product x_i y_i by at most eps |x_i y_i|,
    # and sum |x_i y_i| <= gain^2 (Cauchy-Schwarz): |gram - gain^2 I| <= eps gain^2 (+ float32 QR error).
    eps = torch.finfo(dtype).eps
    err = float((gram - gain ** 2 * torch.eye(gram.shape[0], dtype=torch.float64)).abs().max())
    assert err <= eps * gain ** 2 + 1e-5, err
