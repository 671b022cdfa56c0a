"""Truncated normal: exact law in every regime, including far in one tail.

Under torch's name initlab draws torch 2.13's numbers (see test_torch_compat), except far in
one tail, where torch's uniform proposals are accepted less than once in 1000 tries (its loop
takes minutes to hours, e.g. std=0.01 on [3, 4]): initlab switches to exponential proposals
there (see trunc_normal_'s docstring).  These tests run each case under a timeout and check
the law with scipy.
"""
import math
import warnings

import pytest
import torch
from scipy import stats

import initlab

N = 20_000

# (mean, std, a, b): far right tail, far left tail, one-sided wide window, extreme,
# and the regimes torch handles (kept bit-identical there: see test_parity).
CASES = {
    "far_right_300sd": (0.0, 0.01, 3.0, 4.0),
    "far_left_300sd": (0.0, 0.01, -4.0, -3.0),
    "far_500sd_narrow": (0.0, 1e-3, 0.5, 0.6),
    "one_sided_wide": (0.0, 1.0, 1.0, 100.0),
    "near_mean_wide": (0.0, 1.0, 0.6, 40.0),
    "mean_below_far": (-10.0, 0.1, 9.0, 10.0),
    "moderate_tail": (0.0, 1.0, 2.0, 3.0),
    "bulk": (0.3, 0.5, -0.2, 1.1),
}


def _law(mean, std, a, b):
    return stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)


def _draw(case, dtype, seed=0, strict=False):
    mean, std, a, b = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # "mean is more than 2 std from [a, b]" (torch's warning)
        return initlab.trunc_normal_(torch.empty(N, dtype=dtype), mean, std, a, b,
                                     generator=torch.Generator().manual_seed(seed), strict=strict)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(CASES))
def test_follows_the_law_in_float64(case):
    mean, std, a, b = CASES[case]
    w = _draw(case, torch.float64)
    law = _law(mean, std, a, b)
    assert float(w.min()) >= a and float(w.max()) <= b
    p = stats.kstest(w.numpy(), law.cdf).pvalue
    assert p > 1e-4, f"KS p={p:.2e}"
    assert abs(float(w.mean()) - law.mean()) < 5 * law.std() / math.sqrt(N)


# torch's uniform-proposal branch in float16/bfloat16 (acceptance ~1 % and ~2 %): a uniform coin that rounds to
# 0 accepts any proposal, so a few % of the values are U(a, b) -- torch's bias, reproduced under its name.
TORCH_BIASED_IN_HALF = {"one_sided_wide", "near_mean_wide"}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", sorted(TORCH_BIASED_IN_HALF))
def test_half_precision_reproduces_torch_bit_for_bit(case, dtype):
    mean, std, a, b = CASES[case]
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ours = initlab.trunc_normal_(torch.empty(2000, dtype=dtype), mean, std, a, b, g1)
    theirs = torch.nn.init.trunc_normal_(torch.empty(2000, dtype=dtype), mean, std, a, b, g2)
    assert torch.equal(ours, theirs) and torch.equal(g1.get_state(), g2.get_state())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("strict", [False, True], ids=["torch", "strict"])
def test_terminates_and_is_right_in_float32_and_half(case, dtype, strict):
    """Under torch's semantics half precision reproduces torch's biased acceptance test where
    little mass is inside [a, b] (tested apart below); strict=True is exact in every dtype."""
    mean, std, a, b = CASES[case]
    w = _draw(case, dtype, strict=strict)
    assert w.dtype == dtype and torch.isfinite(w).all()
    lo, hi = float(torch.tensor(a, dtype=dtype)), float(torch.tensor(b, dtype=dtype))
    assert float(w.min()) >= lo and float(w.max()) <= hi
    law = _law(mean, std, a, b)
    if dtype != torch.float32 and not strict and case in TORCH_BIASED_IN_HALF:
        return
    # mean right up to the dtype's spacing near the values (rounding) and sampling noise
    spacing = torch.finfo(dtype).eps * max(abs(a), abs(b))
    assert abs(float(w.double().mean()) - law.mean()) < 5 * law.std() / math.sqrt(N) + spacing


def test_far_tail_is_reproducible_and_seeded():
    assert torch.equal(_draw("far_right_300sd", torch.float64), _draw("far_right_300sd", torch.float64))
    assert not torch.equal(_draw("far_right_300sd", torch.float64), _draw("far_right_300sd", torch.float64, seed=1))


def test_far_tail_non_contiguous_tensor():
    t = torch.empty(30, 40).t()
    initlab.trunc_normal_(t, 0.0, 0.01, 3.0, 4.0, generator=torch.Generator().manual_seed(0))
    assert float(t.min()) >= 3.0 and float(t.max()) <= 4.0


def test_far_tail_warns_like_torch():
    """torch warns whenever the mean is more than 2 std from [a, b]; so does initlab (same text),
    even where its tail sampler makes the values exact."""
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        initlab.trunc_normal_(torch.empty(100), 0.0, 0.01, 3.0, 4.0, generator=torch.Generator().manual_seed(0))


def test_moderately_far_mean_still_warns_like_torch():
    with pytest.warns(UserWarning, match="more than 2 std"):
        initlab.trunc_normal_(torch.empty(100), 0.0, 1.0, 2.5, 3.0, generator=torch.Generator().manual_seed(0))


@pytest.mark.timeout(30)
def test_tiny_std_and_a_bound_just_past_the_mean():
    """alpha = 1e-100 std: an exponential proposal at rate alpha would never be accepted;
    Robert's optimal rate makes this the half-normal it is."""
    w = initlab.trunc_normal_(torch.empty(N, dtype=torch.float64), 0.0, 1e-200, 1e-300, 4.0,
                              generator=torch.Generator().manual_seed(0))
    assert float(w.min()) >= 1e-300
    assert stats.kstest((w / 1e-200).numpy(), stats.halfnorm.cdf).pvalue > 1e-4


@pytest.mark.timeout(30)
def test_tail_narrower_than_any_float_sits_on_the_bound():
    w = initlab.trunc_normal_(torch.empty(10, dtype=torch.float64), 0.0, 1e-320, 1e-300, 4.0)
    assert torch.equal(w, torch.full((10,), 1e-300, dtype=torch.float64))


# --- the documented law (scheme.describe) in the regimes where the closed form cancels -----

@pytest.mark.parametrize("mean,std,a,b", [
    (0.0, 1.0, -1.192092896e-07, 0.0),      # window of 1 ulp: closed form gave a negative variance
    (0.0, 1.0, -3.0, -2.9999999),
    (0.0, 1.0, 300.0, 300.0001),
])
def test_describe_narrow_window_is_uniform_like(mean, std, a, b):
    law = initlab.get_scheme("trunc_normal").describe((3,), mean=mean, std=std, a=a, b=b)
    # over a window much narrower than std the density is ~linear: std ~ width / sqrt(12)
    assert math.isclose(law["std"], (b - a) / math.sqrt(12), rel_tol=1e-3)
    assert a <= law["mean"] <= b


@pytest.mark.parametrize("case", ["far_right_300sd", "far_left_300sd", "far_500sd_narrow", "mean_below_far"])
def test_describe_far_tail_matches_asymptotics_and_samples(case):
    mean, std, a, b = CASES[case]
    law = initlab.get_scheme("trunc_normal").describe((N,), mean=mean, std=std, a=a, b=b)
    near = a if a > mean else b
    z = abs(near - mean) / std
    # far in the tail |x - near| is ~ Exp with mean std / z (1 - 2 / z^2 + ...), std ~ std / z
    assert math.isclose(abs(law["mean"] - near), std / z, rel_tol=5 / z ** 2)
    assert math.isclose(law["std"], std / z, rel_tol=5 / z ** 2)
    w = _draw(case, torch.float64)
    assert abs(float(w.mean()) - law["mean"]) < 5 * law["std"] / math.sqrt(N)
    assert math.isclose(float(w.std()), law["std"], rel_tol=5 * math.sqrt(2 / N))


def test_describe_agrees_with_scipy_in_the_bulk():
    for mean, std, a, b in [(0.0, 1.0, -2.0, 2.0), (0.0, 1.0, 2.0, 3.0), (5.0, 2.0, -1.0, 0.0), (0.0, 1.0, 1.0, 100.0)]:
        law = initlab.get_scheme("trunc_normal").describe((3,), mean=mean, std=std, a=a, b=b)
        ref = _law(mean, std, a, b)
        assert math.isclose(law["mean"], ref.mean(), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(law["std"], ref.std(), rel_tol=1e-9)
