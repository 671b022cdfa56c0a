"""Depth-50 signal propagation: activation std at the last hidden layer / at the first, after `auto`
and after torch's default init, for plain MLPs (width 256) with tanh, ReLU, SELU and GELU.

A ratio near 1 means the signal neither vanishes nor explodes through 50 layers.
Standard-normal inputs (1024 x 256), fixed seeds; prints a table (median over seeds, min-max).

Run: .venv/bin/python benchmarks/auto_depth.py [--seeds 5] [--depth 50] [--width 256]
"""
from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn as nn

import initlab

ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU, "selu": nn.SELU, "gelu": nn.GELU}


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


def ratio(act: str, policy: str, seed: int, depth: int, width: int, batch: int = 1024) -> float:
    torch.manual_seed(seed)
    model = mlp(act, depth, width)
    if policy == "auto":
        initlab.init_(model, "auto", seed=seed)
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(10_000 + seed))
    s = hidden_stds(model, x)
    return s[-1] / s[0]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--width", type=int, default=256)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # small matmuls: one thread is faster, and steady on a shared machine
    print(f"std(last hidden) / std(first hidden), depth {args.depth}, width {args.width}, "
          f"{args.seeds} seeds: median [min, max]")
    print(f"{'activation':<10}  {'auto':<34}  {'torch default':<34}")
    for act in ACTS:
        cells = []
        for pol in ("auto", "torch-default"):
            r = [ratio(act, pol, s, args.depth, args.width) for s in range(args.seeds)]
            cells.append(f"{statistics.median(r):.3g} [{min(r):.3g}, {max(r):.3g}]")
        print(f"{act:<10}  {cells[0]:<34}  {cells[1]:<34}")


if __name__ == "__main__":
    main()
