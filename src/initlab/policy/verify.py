"""Checking that a tensor now holds what its plan row says.

Random laws: mean and std within 6 standard errors, bounds respected, and a
one-sample Kolmogorov-Smirnov test at alpha = 1e-6 when the tensor has at least
50 entries (critical value sqrt(-ln(alpha/2) / 2) / sqrt(n), the asymptotic
Kolmogorov bound; Massey 1951).  Deterministic laws: exact equality with a
fresh evaluation.  Orthogonal: W W^T = gain^2 I.  Kept rows: a fingerprint
(SHA-256 of the bytes, first 128 bits) equal to the one taken at planning time.
"""
from __future__ import annotations

import hashlib
import math

import torch

from ..schemes import get_scheme

ALPHA = 1e-6
Z = 6.0           # standard errors allowed for mean and std
KS_MIN = 50
KS_MAX = 16384    # larger tensors are tested on an evenly strided subset of this size (deterministic)


SAMPLE = 1 << 16      # entries hashed by a sampled fingerprint


def fingerprint(t: torch.Tensor, sample: bool = False) -> str | None:
    """128 bits of SHA-256 of the tensor's bytes; None on the meta device (no values: deferred init).

    sample=True hashes an evenly strided subset of at most SAMPLE entries (for rows about to be re-drawn:
    a new draw changes every entry, so the subset tells "unchanged since planning" apart at a fraction of the
    cost; kept rows always hash every byte, since one changed entry must show)."""
    if t.is_meta:
        return None
    t = t.detach()
    if sample and t.numel() > SAMPLE:
        # strided entries of the storage order (a transposed view is read through its contiguous transpose:
        # no copy of the whole tensor; planning and verify pass the same view, so they hash the same entries)
        if not t.is_contiguous() and t.dim() == 2 and t.t().is_contiguous():
            t = t.t()
        t = t.reshape(-1)[:: t.numel() // SAMPLE][:SAMPLE]
    data = t.contiguous().cpu().reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
    # SHA-256 runs on the CPU's SHA instructions where present (~2x blake2b: a plan hashes every parameter);
    # the buffer protocol avoids a copy
    return hashlib.sha256(data.numpy()).hexdigest()[:32]


def _cdf(law: dict):
    d = law["dist"]
    if d == "normal":
        m, s = law["mean"], law["std"]
        return lambda x: 0.5 * (1 + torch.erf((x - m) / (s * math.sqrt(2))))
    if d == "uniform":
        lo, hi = law["low"], law["high"]
        return lambda x: ((x - lo) / (hi - lo)).clamp(0, 1)
    if d == "truncnorm":
        mu = law.get("mean_param", 0.0)
        s, a, b = law["sigma"], law["a"], law["b"]
        phi = lambda v: 0.5 * (1 + math.erf((v - mu) / (s * math.sqrt(2))))  # noqa: E731
        pa, pb = phi(a), phi(b)
        return lambda x: ((0.5 * (1 + torch.erf((x - mu) / (s * math.sqrt(2)))) - pa) / (pb - pa)).clamp(0, 1)
    return None


def ks_statistic(x: torch.Tensor, cdf) -> float:
    x = x.reshape(-1)
    if x.numel() > KS_MAX:
        x = x[:: x.numel() // KS_MAX][:KS_MAX]
    x = x.double().sort().values
    n = x.numel()
    f = cdf(x)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - f, f - (i - 1) / n).max())


def ks_critical(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(n)


def check(row, tensor: torch.Tensor, written: bool = False) -> list[str]:
    """Problems with `tensor` (the row's slice, as it is now) against `row`; [] when it matches.

    written: this plan was applied to this model, so a random row equal to its planning-time values is a
    re-draw that happened to match (the same seed twice, or torch's own default init), not a missed write."""
    where = row.name
    x = tensor.detach()
    if x.is_meta:     # deferred init: a meta tensor holds no values, so there is nothing to compare
        return []
    if row.action == "keep" or row.scheme is None:
        if row.fingerprint is not None and fingerprint(x) != row.fingerprint:
            return [f"{where}: planned to be kept, but its values changed since planning"]
        return []
    if x.numel() == 0:   # a zero-size layer: every law holds for no values (and min/reshape would fail)
        return []
    if not torch.isfinite(x.float()).all():
        return [f"{where}: contains NaN or inf"]
    law = row.law
    if law is None:
        return []
    d = law["dist"]
    if d == "constant":
        v = law["value"]
        if not bool((x == v).all()):
            return [f"{where}: expected every value = {v:g} ({row.scheme}), found mean {float(x.float().mean()):.4g}"]
        return []
    if d == "exact":
        ref = torch.empty_like(x)
        get_scheme(row.scheme).fn(ref, **row.kwargs)
        return [] if torch.equal(ref, x) else [f"{where}: differs from {row.scheme} (deterministic, exact match expected)"]
    if d == "orthogonal":
        return _orthogonal(where, x, law["gain"])
    out = []
    n = x.numel()
    xf = x.double().reshape(-1)
    std = law.get("std", 0.0)
    if not written and row.fingerprint is not None and n > 1 and std > 0 and fingerprint(x, sample=True) == \
            row.fingerprint:
        return [f"{where}: unchanged since planning, but {row.scheme} should have drawn new values"]
    if d in ("uniform", "truncnorm"):
        lo, hi = (law["low"], law["high"]) if d == "uniform" else (law["a"], law["b"])
        eps = 1e-6 * max(abs(lo), abs(hi), 1e-12) + (1e-2 * (hi - lo) if x.dtype in (torch.float16, torch.bfloat16) else 0)
        if float(xf.min()) < lo - eps or float(xf.max()) > hi + eps:
            out.append(f"{where}: values outside [{lo:.4g}, {hi:.4g}] (min {float(xf.min()):.4g}, max {float(xf.max()):.4g})")
    if d == "sparse":
        zeros = (x == 0).sum(0)
        if int(zeros.min()) < law["zeros_per_column"]:
            out.append(f"{where}: fewer than {law['zeros_per_column']} zeros in some column")
        return out
    if n >= 8 and std > 0:
        m, s = float(xf.mean()), float(xf.std())
        if abs(m - law["mean"]) > Z * std / math.sqrt(n) + 1e-7:
            out.append(f"{where}: mean {m:.4g}, expected {law['mean']:.4g} +- {Z * std / math.sqrt(n):.2g}")
        tol = Z * math.sqrt(1.0 / (2 * (n - 1))) + (0.01 if x.dtype in (torch.float16, torch.bfloat16) else 0)
        if abs(s / std - 1) > tol:
            out.append(f"{where}: std {s:.4g}, expected {std:.4g} (+-{100 * tol:.0f}%)")
    elif n >= 2 and std == 0 and float(xf.std()) != 0:
        out.append(f"{where}: expected a constant tensor")
    cdf = _cdf(law)
    if cdf is not None and n >= KS_MIN and std > 0:
        D, crit = ks_statistic(xf, cdf), ks_critical(min(n, KS_MAX))
        if D > crit:
            out.append(f"{where}: Kolmogorov-Smirnov D = {D:.3g} > {crit:.3g} (alpha {ALPHA:g}): not {d} as planned")
    return out


def _orthogonal(where: str, x: torch.Tensor, gain: float) -> list[str]:
    rows = x.shape[0]
    w = x.double().reshape(rows, -1)
    if abs(gain) == 0:
        return [] if bool((w == 0).all()) else [f"{where}: expected zeros (orthogonal with gain 0)"]
    g = w @ w.T if rows <= w.shape[1] else w.T @ w
    eye = torch.eye(g.shape[0], dtype=torch.float64) * gain * gain
    tol = (1e-3 if x.dtype in (torch.float32, torch.float64) else 5e-2) * gain * gain * math.sqrt(g.shape[0])
    err = float((g - eye).norm())
    if err > tol:
        return [f"{where}: not orthogonal with gain {gain:.4g} (||W W^T - gain^2 I|| = {err:.3g})"]
    return []
