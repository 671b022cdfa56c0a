"""The scipy-free Student t (experiments/student_t.py) against scipy.stats, the oracle, to 1e-10."""
import math

import numpy as np
import pytest
from scipy import stats as st

from initlab.experiments.student_t import t_ppf, t_sf, welch_t_sf2

DFS = [1, 1.5, 2, 3, 4.7, 9, 29, 100, 1e4]


@pytest.mark.parametrize("df", DFS)
def test_survival_function_matches_scipy(df):
    for t in [-40.0, -3.0, -0.5, 0.0, 1e-6, 0.3, 1.0, 2.0, 4.5, 12.0, 80.0]:
        ours, ref = t_sf(t, df), float(st.t.sf(t, df))
        assert abs(ours - ref) <= 1e-10 * max(1.0, abs(ref)) or math.isclose(ours, ref, rel_tol=1e-9), (t, df)
    assert t_sf(math.inf, df) == 0.0 and t_sf(-math.inf, df) == 1.0


@pytest.mark.parametrize("df", DFS)
def test_quantile_matches_scipy(df):
    for q in [0.001, 0.025, 0.1, 0.5, 0.8, 0.975, 0.995, 0.9999]:
        assert math.isclose(t_ppf(q, df), float(st.t.ppf(q, df)), rel_tol=1e-9, abs_tol=1e-12), (q, df)


def test_welch_p_matches_scipy_ttest_ind():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.normal(rng.normal(), rng.uniform(0.1, 3), size=rng.integers(2, 12))
        b = rng.normal(rng.normal(), rng.uniform(0.1, 3), size=rng.integers(2, 12))
        ref = float(st.ttest_ind(a, b, equal_var=False).pvalue)
        assert math.isclose(welch_t_sf2(a, b), ref, rel_tol=1e-8, abs_tol=1e-12)
