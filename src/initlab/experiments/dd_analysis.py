"""Double descent: the analysis of the measured curves (threshold, peak, epoch-wise, sample-wise, policy
comparison).  Pure functions of lists of numbers; see double_descent.py for the definitions."""
from __future__ import annotations

import math

import numpy as np

def find_threshold(widths, train_err, tol: float = 0.01):
    """The first width whose training error is below `tol` (None when no width gets there)."""
    for w, e in zip(widths, train_err):
        if e is not None and math.isfinite(e) and e < tol:
            return int(w)
    return None


def analyze_modelwise(widths, train_err, test_err, *, tol: float = 0.01, min_rise: float = 0.03) -> dict:
    """Threshold, peak, classical minimum, widest model and the verdict for one model-wise curve."""
    widths = [int(w) for w in widths]
    tr = [float(e) for e in train_err]
    te = [float(e) for e in test_err]
    finite = [i for i, e in enumerate(te) if math.isfinite(e)]
    out = {"tol": tol, "min_rise": min_rise, "threshold_width": None, "threshold_test_err": None,
           "threshold_train_err": None, "peak_width": None, "peak_test_err": None,
           "classical_min_test_err": None, "classical_min_width": None,
           "widest_width": widths[-1] if widths else None, "widest_test_err": te[-1] if te else None,
           "rise_over_classical": None, "rise_over_widest": None, "shows_peak": False,
           "regimes": None, "verdict": ""}
    if not finite:
        out["verdict"] = "NO PEAK: no finite test error (every run diverged)."
        return out
    ip = max(finite, key=lambda i: te[i])          # replaced below by the peak after the classical minimum
    out["peak_width"], out["peak_test_err"] = widths[ip], te[ip]
    thr = find_threshold(widths, tr, tol)
    if thr is None:
        i_min = min(range(len(tr)), key=lambda i: tr[i] if math.isfinite(tr[i]) else math.inf)
        out["verdict"] = (f"NO PEAK: no width interpolated the training set (training error < {tol:.0%}); the lowest "
                          f"training error is {tr[i_min]:.1%} at width {widths[i_min]}. Train longer or wider.")
        return out
    it = widths.index(thr)
    out.update(threshold_width=thr, threshold_test_err=te[it], threshold_train_err=tr[it],
               regimes={"classical": [widths[0], thr / 2], "critical": [thr / 2, 2 * thr],
                        "modern": [2 * thr, widths[-1]]})
    below = [i for i in range(it) if math.isfinite(te[i])]
    if not below:
        out["verdict"] = (f"NO PEAK: the narrowest width ({thr}) already interpolates, so there is no classical "
                          f"regime to compare with. Add narrower widths.")
        return out
    ic = min(below, key=lambda i: te[i])
    out["classical_min_width"], out["classical_min_test_err"] = widths[ic], te[ic]
    ip = max((i for i in finite if i >= ic), key=lambda i: te[i])
    out["peak_width"], out["peak_test_err"] = widths[ip], te[ip]
    rc = te[it] - te[ic]
    rw = te[it] - te[-1]
    out["rise_over_classical"], out["rise_over_widest"] = rc, rw
    out["shows_peak"] = bool(rc >= min_rise and rw >= min_rise)
    facts = (f"test error at the interpolation threshold (width {thr}, training error {tr[it]:.1%}) is {te[it]:.1%}: "
             f"{100 * rc:+.1f} points vs the classical-regime minimum ({te[ic]:.1%} at width {widths[ic]}) and "
             f"{100 * rw:+.1f} points vs the widest model ({te[-1]:.1%} at width {widths[-1]}); "
             f"the test-error curve peaks at width {widths[ip]} ({te[ip]:.1%})")
    if out["shows_peak"]:
        out["verdict"] = f"PEAK: {facts}."
    else:
        out["verdict"] = f"NO PEAK (needs >= {100 * min_rise:.0f} points on both sides): {facts}."
    return out


def analyze_epochwise(widths, epochs, test_mat, *, min_rise: float = 0.03) -> dict:
    """Per width: best test error and its epoch, the highest test error after it, the final one;
    `double_descent` when test error rises by >= min_rise after its minimum and falls again by >= min_rise."""
    rows = []
    for w, curve in zip(widths, test_mat):
        c = np.asarray(curve, dtype=float)
        if not np.isfinite(c).any():
            rows.append({"width": int(w), "double_descent": False})
            continue
        c = np.where(np.isfinite(c), c, np.nan)
        i_min = int(np.nanargmin(c))
        i_pk = i_min + int(np.nanargmax(c[i_min:]))
        after = c[i_pk:]
        i_low = i_pk + int(np.nanargmin(after))
        rows.append({"width": int(w), "min_test_err": float(c[i_min]), "min_epoch": int(epochs[i_min]),
                     "peak_test_err": float(c[i_pk]), "peak_epoch": int(epochs[i_pk]),
                     "after_peak_min_test_err": float(c[i_low]), "after_peak_min_epoch": int(epochs[i_low]),
                     "final_test_err": float(c[-1]),
                     "double_descent": bool(c[i_pk] - c[i_min] >= min_rise and c[i_pk] - c[i_low] >= min_rise)})
    return {"per_width": rows, "widths_with_epochwise_dd": [r["width"] for r in rows if r.get("double_descent")]}


def analyze_samplewise(samples, per_width: dict, *, min_rise: float = 0.03) -> dict:
    """Per width: the largest increase of test error when the training set grows (non-monotone when >= min_rise)."""
    rows = []
    for w, errs in per_width.items():
        worst, where = 0.0, None
        for i in range(len(samples)):
            for j in range(i + 1, len(samples)):
                d = errs[j] - errs[i]
                if math.isfinite(d) and d > worst:
                    worst, where = d, (int(samples[i]), int(samples[j]))
        rows.append({"width": int(w), "test_err": [float(e) for e in errs], "max_increase": worst,
                     "increase_between": where, "non_monotone": bool(worst >= min_rise)})
    return {"per_width": rows, "samples": [int(n) for n in samples],
            "widths_where_more_data_hurts": [r["width"] for r in rows if r["non_monotone"]]}



def _compare(p1, a1, p2, a2, curves2) -> dict:
    def where(a, key):
        return a.get(key)
    t1, t2 = where(a1, "threshold_width"), where(a2, "threshold_width")
    k1, k2 = where(a1, "peak_width"), where(a2, "peak_width")
    moved_t = t1 != t2
    moved_p = k1 != k2
    if moved_p or moved_t:
        statement = (f"INIT MOVES THE PEAK: {p1}: threshold width {t1}, peak width {k1} "
                     f"({_pct(a1.get('peak_test_err'))}); {p2}: threshold width {t2}, peak width {k2} "
                     f"({_pct(a2.get('peak_test_err'))}).")
    else:
        statement = (f"INIT DOES NOT MOVE THE PEAK: both {p1} and {p2} have threshold width {t1} and peak width {k1} "
                     f"(peak test error {_pct(a1.get('peak_test_err'))} vs {_pct(a2.get('peak_test_err'))}).")
    return {"policies": [p1, p2], "analysis": {p1: a1, p2: a2}, "curves": {p2: curves2},
            "threshold_moved": moved_t, "peak_moved": moved_p, "statement": statement}


def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.1%}"
