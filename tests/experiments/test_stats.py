"""summarize() and its building blocks against values computed by hand."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as st

from initlab.errors import InitError
from initlab.experiments.records import DIVERGED, RunRecord
from initlab.experiments.stats import (SINGLE_SEED_NOTE, epochs_to, holm, infer_metric, run_value, summarize,
                                       t_interval, welch_p)

T_975_3 = 3.182446305284263        # Student t quantile 0.975, 3 degrees of freedom (from tables)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def acc_runs(policy, finals, status=None, curve=None):
    """Classification runs with the given final val_acc per seed."""
    out = []
    for seed, v in enumerate(finals):
        hist = curve[seed] if curve else [{"epoch": 1, "val_acc": v / 2}, {"epoch": 2, "val_acc": v}]
        out.append(RunRecord(policy, seed, "h", status=(status or {}).get(seed, "finished"),
                             history=hist, final={"val_acc": hist[-1]["val_acc"]}))
    return out


def mse_runs(policy, finals, diverged=()):
    return [RunRecord(policy, s, "h", status=DIVERGED if s in diverged else "finished",
                      history=[{"epoch": 1, "val_mse": v}], final={"val_mse": v}) for s, v in enumerate(finals)]


def row(rows, policy):
    return next(r for r in rows if r["policy"] == policy)


# ---------------------------------------------------------------- building blocks
def test_t_interval_by_hand():
    lo, hi = t_interval([1, 2, 3, 4])
    half = T_975_3 * math.sqrt(5 / 3) / math.sqrt(4)          # s^2 = ((1.5^2 + .5^2) * 2) / 3 = 5/3
    assert lo == pytest.approx(2.5 - half, abs=1e-12) and hi == pytest.approx(2.5 + half, abs=1e-12)
    assert (lo, hi) == pytest.approx((0.44573974323947, 4.55426025676053), abs=1e-12)
    assert t_interval([7.0]) == (7.0, 7.0)
    assert t_interval([0.1, 0.1, 0.1]) == (0.1, 0.1)
    assert t_interval([1.0, math.inf]) == (math.inf, math.inf)


def test_holm_known_values():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.001, 0.2, 0.5, 0.01]) == pytest.approx([0.004, 0.4, 0.5, 0.03])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])                  # capped at 1, monotone
    assert holm([0.04]) == [0.04]
    assert holm([]) == []


def test_welch_by_hand():
    a, b = [1, 2, 3, 4], [2, 4, 6, 8, 10]
    va, vb = 5 / 3, 10.0
    se2 = va / 4 + vb / 5
    t = (2.5 - 6) / math.sqrt(se2)
    df = se2 ** 2 / ((va / 4) ** 2 / 3 + (vb / 5) ** 2 / 4)
    assert df == pytest.approx(5.520788, abs=1e-6)
    assert welch_p(a, b) == pytest.approx(2 * st.t.sf(abs(t), df), rel=1e-10)


def test_welch_special_cases():
    assert welch_p([0.1, 0.1, 0.1], [0.1, 0.1]) == 1.0                     # zero variance, equal
    assert welch_p([0.9, 0.9, 0.9], [0.1, 0.1, 0.1]) == 0.0                # zero variance, different
    assert welch_p([0.8, 0.9], [0.5]) is None                              # one seed: no variance
    assert welch_p([1.0, 2.0, 3.0], [math.inf] * 3) == 0.0                 # every seed diverged
    # k of n diverged: the limit of Welch's t as the diverged value -> inf is sqrt(k(n-1)/(n-k)), df n-1
    assert welch_p([1.0, 2.0, 3.0], [math.inf, 2.0, 3.0]) == pytest.approx(2 * st.t.sf(1.0, 2))
    assert welch_p([1.0, 2.0, 3.0, 4.0, 5.0], [math.inf] * 4 + [2.0]) == pytest.approx(2 * st.t.sf(4.0, 4))
    # ... which is what a huge finite stand-in gives
    big = st.ttest_ind([1.0, 2.0, 3.0], [1e12, 2.0, 3.0], equal_var=False).pvalue
    assert welch_p([1.0, 2.0, 3.0], [math.inf, 2.0, 3.0]) == pytest.approx(big, rel=1e-6)
    assert welch_p([math.inf, 1.0], [1.0, 2.0]) is None                    # reference itself diverged


def test_run_value_and_epochs_to():
    r = RunRecord("p", 0, "h", history=[{"epoch": 1, "val_acc": 0.3}, {"epoch": 2, "val_acc": 0.7},
                                        {"epoch": 3, "val_acc": 0.6}], final={})
    assert run_value(r, "val_acc") == 0.6
    assert epochs_to(r, "val_acc", 0.65, True) == 2
    assert epochs_to(r, "val_acc", 0.95, True) == math.inf
    assert epochs_to(r, "val_acc", 0.3, False) == 1
    assert infer_metric([r]) == ("val_acc", True)
    assert infer_metric(mse_runs("a", [1.0])) == ("val_mse", False)


# ---------------------------------------------------------------- summarize
def test_summary_rows_by_hand():
    runs = acc_runs("he", [0.90, 0.91, 0.92]) + acc_runs("lecun", [0.85, 0.86, 0.87]) + acc_runs("one", [0.5])
    rows = summarize(runs, "val_acc", higher_is_better=True)
    assert [r["policy"] for r in rows] == ["he", "lecun", "one"]
    he, lecun, one = rows
    assert (he["rank"], he["best"], he["p_vs_best"], he["significantly_worse"]) == (1, True, None, False)
    assert he["mean"] == pytest.approx(0.91) and he["std"] == pytest.approx(0.01)
    half = st.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert he["ci95"] == pytest.approx([0.91 - half, 0.91 + half])
    assert he["seeds"] == 3 and he["diverged"] == 0 and he["metric"] == "val_acc"
    # Welch with equal variances 1e-4 and n=3: t = 0.05 / sqrt(2e-4 / 3), df = 4; one comparison tested
    p = 2 * st.t.sf(0.05 / math.sqrt(2e-4 / 3), 4)
    assert lecun["p_raw"] == pytest.approx(p) and lecun["p_vs_best"] == pytest.approx(p)
    assert lecun["significantly_worse"] is True and lecun["rank"] == 2
    assert one["ci95"] == [0.5, 0.5] and one["ci_note"] == SINGLE_SEED_NOTE and one["std"] == 0.0
    assert one["p_vs_best"] is None and one["significantly_worse"] is False


def test_holm_is_applied_over_the_comparisons_to_the_best():
    runs = (acc_runs("a", [0.90, 0.92, 0.94]) + acc_runs("b", [0.86, 0.90, 0.91])
            + acc_runs("c", [0.80, 0.85, 0.93]) + acc_runs("d", [0.70, 0.72, 0.74]))
    rows = summarize(runs, "val_acc", higher_is_better=True, alpha=0.05)
    others = [r for r in rows if not r["best"]]
    raw = [r["p_raw"] for r in others]
    assert raw == pytest.approx([welch_p([0.90, 0.92, 0.94], r["values"]) for r in others])
    assert [r["p_vs_best"] for r in others] == pytest.approx(holm(raw))
    assert [r["significantly_worse"] for r in others] == [p < 0.05 for p in holm(raw)]
    assert row(rows, "d")["significantly_worse"] and not row(rows, "b")["significantly_worse"]


def test_zero_variance_no_nan_no_warning():
    runs = acc_runs("zeros", [0.1, 0.1, 0.1]) + acc_runs("const", [0.1, 0.1, 0.1]) + acc_runs("he", [0.8, 0.9, 0.85])
    rows = summarize(runs, "val_acc", higher_is_better=True)                # warnings are errors here
    z = row(rows, "zeros")
    assert z["mean"] == 0.1 and z["std"] == 0.0 and z["ci95"] == [0.1, 0.1]
    assert z["significantly_worse"] is True and z["rank"] == 3               # ties broken by name
    assert row(rows, "const")["rank"] == 2
    for r in rows:
        for k in ("mean", "std", "p_raw", "p_vs_best"):
            assert r[k] is None or not math.isnan(r[k])
    # every policy constant and equal: nothing is significant, p = 1
    rows = summarize(acc_runs("a", [0.1] * 3) + acc_runs("b", [0.1] * 3), "val_acc", higher_is_better=True)
    assert rows[1]["p_vs_best"] == 1.0 and not rows[1]["significantly_worse"]


def test_diverged_counts_as_zero_accuracy():
    runs = acc_runs("he", [0.9, 0.91, 0.92]) + acc_runs("big", [0.9, 0.92, 0.93], status={0: DIVERGED})
    rows = summarize(runs, "val_acc", higher_is_better=True)
    big = row(rows, "big")
    assert big["diverged"] == 1 and big["values"] == [0.0, 0.92, 0.93]
    assert big["mean"] == pytest.approx(1.85 / 3) and big["rank"] == 2
    chance = summarize(runs, "val_acc", higher_is_better=True, diverged_value=0.1)
    assert row(chance, "big")["values"] == [0.1, 0.92, 0.93]


def test_diverged_counts_as_inf_loss():
    runs = mse_runs("a", [1.0, 2.0, 3.0]) + mse_runs("b", [0.5, 2.0, 3.0], diverged={0}) \
        + mse_runs("c", [9.0, 9.0, 9.0], diverged={0, 1, 2})
    rows = summarize(runs, "val_mse", higher_is_better=False)
    assert [r["policy"] for r in rows] == ["a", "b", "c"]
    b, c = rows[1], rows[2]
    assert b["mean"] == math.inf and b["std"] is None and b["ci95"] == [math.inf, math.inf]
    assert b["p_raw"] == pytest.approx(2 * st.t.sf(1.0, 2))                # limit t = sqrt(1*2/2) = 1
    assert c["p_raw"] == 0.0 and c["diverged"] == 3
    assert [b["p_vs_best"], c["p_vs_best"]] == pytest.approx(holm([b["p_raw"], 0.0]))
    assert c["significantly_worse"] and not b["significantly_worse"]


def test_nonfinite_final_of_a_finished_run_is_worst():
    runs = mse_runs("a", [1.0, 2.0]) + mse_runs("b", [math.nan, 1.0])
    assert row(summarize(runs, "val_mse", higher_is_better=False), "b")["values"] == [math.inf, 1.0]


def test_epochs_to_target_median_over_all_seeds():
    curve = lambda reach: [{"epoch": e, "val_acc": 0.9 if e >= reach else 0.1} for e in range(1, 5)]  # noqa: E731
    runs = (acc_runs("fast", [0, 0, 0], curve=[curve(1), curve(2), curve(3)])
            + acc_runs("slow", [0, 0, 0], curve=[curve(4), curve(9), curve(9)])
            + acc_runs("mid", [0, 0, 0], curve=[curve(2), curve(3), curve(9)]))
    rows = summarize(runs, "val_acc", higher_is_better=True, target=0.8)
    assert row(rows, "fast")["epochs_to_target"] == 2.0 and row(rows, "fast")["reached_target"] == 3
    assert row(rows, "mid")["epochs_to_target"] == 3.0 and row(rows, "mid")["reached_target"] == 2
    assert row(rows, "slow")["epochs_to_target"] is None and row(rows, "slow")["reached_target"] == 1
    assert summarize(runs, "val_acc", higher_is_better=True)[0]["epochs_to_target"] is None


def test_bad_inputs():
    with pytest.raises(InitError, match="runs"):
        summarize([], "val_acc", higher_is_better=True)
    with pytest.raises(InitError, match="metric"):
        summarize(acc_runs("a", [0.5]), "val_mse", higher_is_better=False)
    with pytest.raises(InitError, match="alpha"):
        summarize(acc_runs("a", [0.5]), "val_acc", higher_is_better=True, alpha=1.5)


def test_deterministic_and_order_independent():
    runs = acc_runs("x", [0.3, 0.5, 0.4]) + acc_runs("y", [0.6, 0.2, 0.5])
    a = summarize(runs, "val_acc", higher_is_better=True)
    b = summarize(list(reversed(runs)), "val_acc", higher_is_better=True)
    assert a == b
    assert np.isfinite([r["mean"] for r in a]).all()


def test_runs_of_two_configs_are_refused():
    a = acc_runs("he", [0.9, 0.8])
    b = [RunRecord("he", 0, "other", final={"val_acc": 0.5})]
    with pytest.raises(InitError, match="one config at a time"):
        summarize(a + b, "val_acc", higher_is_better=True)


def test_bounds_clip_the_interval_and_keep_the_t_halfwidth():
    rows = summarize(acc_runs("a", [0.99, 0.2]), "val_acc", higher_is_better=True, bounds=(0.0, 1.0))
    a = rows[0]
    lo, hi = t_interval([0.99, 0.2])
    assert hi > 1.0 and lo < 0.0                              # the raw t interval crosses both bounds
    assert a["ci95"] == [0.0, 1.0] and a["ci_halfwidth"] == pytest.approx((hi - lo) / 2)
    inside = summarize(acc_runs("b", [0.5, 0.52, 0.51]), "val_acc", higher_is_better=True, bounds=(0.0, 1.0))[0]
    assert inside["ci95"] == pytest.approx(list(t_interval([0.5, 0.52, 0.51])))


def test_no_best_when_every_run_diverged():
    runs = mse_runs("a", [1.0, 2.0], diverged={0, 1}) + mse_runs("b", [1.0, 2.0], diverged={0, 1})
    rows = summarize(runs, "val_mse", higher_is_better=False)
    assert [r["rank"] for r in rows] == [1, 2]
    assert not any(r["best"] for r in rows) and all(r["p_vs_best"] is None for r in rows)
