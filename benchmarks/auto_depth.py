"""Depth-50 signal propagation: activation std at the last hidden layer / at the first, after `auto`
and after torch's default init, for plain MLPs (width 256) with tanh, ReLU, SELU, GELU and SiLU.

A ratio near 1 means the signal neither vanishes nor explodes through 50 layers.
Standard-normal inputs (1024 x 256), fixed seeds; prints a table (median over seeds, min-max).
`auto` calibrates the gelu/silu layers at apply time (their second-moment map is unstable) on its own fixed
standard-normal batch of 256 rows, not on the measured batch; the column "auto, calibrate=False" shows the
fixed Gauss-Hermite gain alone.  "cal." counts the calibrated layers.

Run: .venv/bin/python benchmarks/auto_depth.py [--seeds 5] [--depth 50] [--width 256]
"""
from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn as nn

import initlab

ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU, "selu": nn.SELU, "gelu": nn.GELU, "silu": nn.SiLU}
POLICIES = {"auto": "auto", "auto, calibrate=False": initlab.policy.auto(calibrate=False),
            "torch default": None}


def mlp(act: str, depth: int, width: int) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), ACTS[act]()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


@torch.no_grad()
def hidden_stds(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    out = []
    for m in model:
        x = m(x)
        if not isinstance(m, nn.Linear):
            out.append(float(x.std()))
    return out


def ratio(act: str, policy, seed: int, depth: int, width: int, batch: int = 1024) -> tuple[float, int]:
    """(ratio, number of calibrated layers); policy None = torch's own reset_parameters."""
    torch.manual_seed(seed)
    model = mlp(act, depth, width)
    calibrated = 0
    if policy is not None:
        p = initlab.init_(model, policy, seed=seed)
        calibrated = sum(r.action == "calibrate" for r in p.rows)
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(10_000 + seed))
    s = hidden_stds(model, x)
    return s[-1] / s[0], calibrated


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--width", type=int, default=256)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # small matmuls: one thread is faster, and steady on a shared machine
    print(f"std(last hidden) / std(first hidden), depth {args.depth}, width {args.width}, "
          f"{args.seeds} seeds: median [min, max]")
    print(f"{'activation':<10}  {'cal.':>4}  " + "  ".join(f"{k:<28}" for k in POLICIES))
    for act in ACTS:
        cells, cal = [], 0
        for key, pol in POLICIES.items():
            got = [ratio(act, pol, s, args.depth, args.width) for s in range(args.seeds)]
            r = [g[0] for g in got]
            cal = max(cal, got[0][1]) if key == "auto" else cal
            cells.append(f"{statistics.median(r):.3g} [{min(r):.3g}, {max(r):.3g}]")
        print(f"{act:<10}  {cal:>4}  " + "  ".join(f"{c:<28}" for c in cells))


if __name__ == "__main__":
    main()
