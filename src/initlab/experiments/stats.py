"""Which init is best, and is the difference real?  ``summarize`` answers per policy.

    rows = summarize(runs, "val_acc", higher_is_better=True, target=0.8)

Exactly what is computed
------------------------
* **The value of a run** is its metric at the final epoch: ``run.final[metric]``,
  or the last epoch of ``run.history`` holding it.
* **Diverged runs** (status ``"diverged"``) count as the *worst value*:
  ``diverged_value``, by default 0.0 for a higher-is-better metric (accuracies are
  fractions in [0, 1]; pass e.g. ``1 / n_classes`` to use chance accuracy instead)
  and +inf for a lower-is-better metric (a loss / MSE that blew up).  A finished
  run whose final value is NaN/inf is also treated as that worst value.
* ``mean``, ``std`` (sample std, ddof=1; 0.0 for one seed) and ``ci95``, the
  two-sided 95 % Student-t interval ``mean ± t_{0.975, n-1} · std / sqrt(n)``
  over the seeds.  With one seed the interval is ``[mean, mean]`` and
  ``ci_note`` says "single seed: no interval".  With a +inf value, mean and both
  ends of the interval are +inf and ``std`` is None.  The interval is always 95 %;
  ``alpha`` only sets the significance level.
* ``rank`` (1 = best): policies are ordered by the fraction of seeds with an
  infinite value (fewest first), then by mean (best first), then by fewer diverged
  runs, then by name, so ties get distinct ranks deterministically.  ``best`` is
  True for rank 1 only.
* ``p_vs_best``: every other policy is compared with the best by Welch's unequal
  variance t-test (Welch; ``student_t.py``, equal to scipy's ``ttest_ind(equal_var=False)``, two-sided) on the
  per-seed final values; the p-values of these m comparisons are Holm–Bonferroni
  adjusted (``p_raw`` keeps the unadjusted one).  ``significantly_worse`` is
  ``p_vs_best < alpha`` (family-wise error rate ``alpha`` over the m comparisons).
  Special cases, none of which emits a NumPy/SciPy warning:

  - both samples have zero variance: p = 1.0 if the means are equal, else 0.0
    (e.g. an all-zeros init that always gives exactly the same accuracy);
  - a sample with a single seed: no variance estimate, p = None, never
    significant (and it takes no part in the Holm correction);
  - +inf values (diverged under a lower-is-better metric): Welch's statistic is
    taken in its limit as the diverged value grows without bound.  With k of n
    seeds infinite in the other policy and the best finite, t -> sqrt(k(n-1)/(n-k))
    with n-1 degrees of freedom (k = n: t = inf, p = 0).  A single divergence
    among many seeds is therefore *not* by itself significant; a policy that
    diverges on most seeds is.  If the best itself has infinite values (every
    policy diverged somewhere), p = None.

* ``epochs_to_target``: for each seed, the first epoch whose metric reaches
  ``target`` (>= when higher is better, <= otherwise); a seed that never reaches
  it, and every diverged seed (even one that reached it before blowing up), counts
  as never (+inf), and the median over all seeds is
  reported, or None when that median is never (or no target was given).
  ``reached_target`` counts the seeds that reached it.

Rows come back sorted by rank.  Each row: policy, metric, higher_is_better, mean,
std, ci95 [low, high], ci_note, seeds, diverged, values (per-seed values used),
rank, best, alpha, p_raw, p_vs_best, significantly_worse, epochs_to_target,
reached_target.
"""
from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from typing import Iterable, Sequence

import numpy as np

from ..errors import InitError, bad_argument
from .records import DIVERGED, RunRecord
from .student_t import t_ppf, t_sf, welch_t_sf2   # scipy.stats costs ~1.8 s of a whole run (issue 16)

SINGLE_SEED_NOTE = "single seed: no interval"


# ---------------------------------------------------------------- building blocks
def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Student-t confidence interval of the mean; [m, m] for one value or zero spread."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if n == 0:
        raise bad_argument("t_interval", "values", list(values), "at least one value")
    if not np.all(np.isfinite(x)):
        m = -math.inf if np.any(np.isneginf(x)) and not np.any(np.isposinf(x)) else math.inf
        return (m, m)
    if n == 1 or np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    m = float(x.mean())
    s = float(x.std(ddof=1))
    if s == 0.0:
        return (m, m)
    h = t_ppf(0.5 + confidence / 2, n - 1) * s / math.sqrt(n)
    return (m - h, m + h)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given; capped at 1).

    Sorted ascending p_(1) <= ... <= p_(m): adj_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    Rejecting where adj < alpha controls the family-wise error rate at alpha.
    """
    p = [float(v) for v in pvalues]
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        out[i] = running
    return out


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch t-test p-value of mean(a) != mean(b), with the documented special cases.

    None when a sample has fewer than two values or when `a` (the reference) holds +inf.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    if not np.all(np.isfinite(a)):
        return None
    inf_b = ~np.isfinite(b)
    if inf_b.any():
        k, n = int(inf_b.sum()), int(b.size)
        if k == n:
            return 0.0
        t = math.sqrt(k * (n - 1) / (n - k))
        return 2 * t_sf(t, n - 1)
    if np.all(a == a[0]) and np.all(b == b[0]):
        return 1.0 if a[0] == b[0] else 0.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        p = welch_t_sf2(a, b)
    return p if math.isfinite(p) else None


def run_value(run: RunRecord, metric: str) -> float:
    """The metric at the final epoch of `run` (``final`` first, else the last epoch holding it)."""
    if metric in run.final and run.final[metric] is not None:
        return float(run.final[metric])
    for h in reversed(run.history):
        if metric in h and h[metric] is not None:
            return float(h[metric])
    return math.nan


def epochs_to(run: RunRecord, metric: str, target: float, higher_is_better: bool) -> float:
    """First epoch whose `metric` reaches `target`, or +inf when it never does."""
    for i, h in enumerate(run.history, start=1):
        v = h.get(metric)
        if v is None or not math.isfinite(float(v)):
            continue
        if (v >= target) if higher_is_better else (v <= target):
            return float(h.get("epoch", i))
    return math.inf


def infer_metric(runs: Iterable[RunRecord]) -> tuple[str, bool]:
    """(metric, higher_is_better): val_acc (higher) when the runs record it, else val_mse, else val_loss."""
    names = {k for r in runs for h in ([r.final] + list(r.history)) for k in h}
    for m, hib in (("val_acc", True), ("val_mse", False), ("val_loss", False)):
        if m in names:
            return m, hib
    raise InitError("infer_metric: the runs record none of val_acc, val_mse, val_loss. "
                    "Fix: pass metric= explicitly.")


# ---------------------------------------------------------------- summary
def summarize(runs: Iterable[RunRecord], metric: str, *, higher_is_better: bool,
              target: float | None = None, alpha: float = 0.05,
              diverged_value: float | None = None, bounds: tuple[float, float] | None = None) -> list[dict]:
    """One row per policy (sorted by rank); see the module docstring for every definition.

    bounds: the metric's range, e.g. (0, 1) for an accuracy; the interval ``ci95`` is clipped to it
    (a t interval of a bounded metric can cross its bound), ``ci_halfwidth`` keeps the t half-width."""
    runs = list(runs)
    if not runs:
        raise bad_argument("summarize", "runs", [], "at least one RunRecord", "train some runs first")
    if not (0.0 < alpha < 1.0):
        raise bad_argument("summarize", "alpha", alpha, "a number in (0, 1)", "use alpha=0.05")
    worst = (0.0 if higher_is_better else math.inf) if diverged_value is None else float(diverged_value)

    keys = [(r.policy, r.seed) for r in runs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        hashes = sorted({r.config_hash for r in runs})
        raise bad_argument("summarize", "runs", f"{len(keys)} runs with (policy, seed) {dup} twice",
                           "one run per (policy, seed)",
                           f"summarize one config at a time (these runs come from {', '.join(hashes)}), "
                           "e.g. store.runs(config_hash)")
    groups: "OrderedDict[str, list[RunRecord]]" = OrderedDict()
    for r in sorted(runs, key=lambda r: (r.policy, r.seed)):
        groups.setdefault(r.policy, []).append(r)

    rows = []
    for policy, rs in groups.items():
        values, diverged = [], 0
        for r in rs:
            if r.status == DIVERGED:
                diverged += 1
                values.append(worst)
                continue
            v = run_value(r, metric)
            if math.isnan(v) and metric not in r.final and not any(metric in h for h in r.history):
                raise bad_argument("summarize", "metric", metric,
                                   f"a metric recorded by the runs (run {policy}/seed {r.seed} has "
                                   f"{sorted(k for k in r.final)})", "pass one of those names")
            values.append(v if math.isfinite(v) else worst)
        x = np.asarray(values, dtype=float)
        n = int(x.size)
        finite = bool(np.all(np.isfinite(x)))
        constant = bool(np.all(x == x[0]))
        if not finite:
            mean = math.inf if not np.any(np.isneginf(x)) else -math.inf
            std = None
        elif constant:          # exact: no rounding noise such as mean([0.1]*3) = 0.10000000000000002
            mean, std = float(x[0]), 0.0
        else:
            mean, std = float(x.mean()), float(x.std(ddof=1))
        lo, hi = t_interval(x) if finite else (mean, mean)
        halfwidth = (hi - lo) / 2 if finite else None
        if bounds is not None and finite:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        e2t, reached = None, 0
        if target is not None:
            ep = [epochs_to(r, metric, float(target), higher_is_better) if r.status != DIVERGED else math.inf
                  for r in rs]
            reached = sum(math.isfinite(e) for e in ep)
            med = float(np.median(ep)) if reached else math.inf
            e2t = med if math.isfinite(med) else None
        rows.append({
            "policy": policy, "metric": metric, "higher_is_better": bool(higher_is_better),
            "mean": mean, "std": std, "ci95": [lo, hi], "ci_halfwidth": halfwidth,
            "ci_note": SINGLE_SEED_NOTE if n == 1 else "",
            "seeds": n, "diverged": diverged, "values": [float(v) for v in values],
            "rank": 0, "best": False, "alpha": float(alpha), "p_raw": None, "p_vs_best": None, "significantly_worse": False,
            "epochs_to_target": e2t, "reached_target": reached if target is not None else None,
            "_inf_frac": float(np.mean(~np.isfinite(x))),
        })

    sign = -1.0 if higher_is_better else 1.0
    rows.sort(key=lambda r: (r["_inf_frac"], sign * r["mean"] if math.isfinite(r["mean"]) else 0.0,
                             r["diverged"], r["policy"]))
    # no best when even the first policy has no finite value (every run of every policy diverged)
    any_finite = rows[0]["_inf_frac"] < 1.0
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
        r["best"] = i == 1 and any_finite
        del r["_inf_frac"]
    if not any_finite:
        return rows

    best = rows[0]
    tested = []
    for r in rows[1:]:
        p = welch_p(best["values"], r["values"])
        r["p_raw"] = p
        if p is not None:
            tested.append(r)
    for r, adj in zip(tested, holm([r["p_raw"] for r in tested])):
        r["p_vs_best"] = adj
        r["significantly_worse"] = bool(adj < alpha)
    return rows
