"""Cost of `initlab.diagnose` on one batch relative to a plain forward + backward on the same batch.

Both are timed side by side in one process, alternating (plain, diagnose, plain, diagnose, ...), and the
ratio of the medians is printed per model.  Target: at most 3x.

plain     model.zero_grad(set_to_none=True); model(x).sum().backward()
diagnose  initlab.diagnose(model, x): the same forward with a hook per layer (per-unit sums, centred sums of
          squares, min, max, tanh/sigmoid saturation count, 64 sampled positions), the same backward through
          torch.autograd.grad (also w.r.t. every layer's output), then batched statistics, identical-unit
          hashing, parameter norms and the verdicts.

torch.set_num_threads is set deliberately (default 1: the small ops of a diagnosis do not scale, and the
dev/CI machines have 2 busy cores where a second thread mostly adds noise) and printed.

    .venv/bin/python benchmarks/diagnose_overhead.py [--threads N] [--repeats R] [--batch B] [--models a,b]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

import initlab
from initlab.models import build_model, example_inputs

MODELS = "deep-mlp:20:256:relu,deep-mlp:50:256:tanh,resmlp:8:128,cnn,seed004"


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(spec: str, batch: int, repeats: int, policy: str) -> dict:
    torch.manual_seed(0)
    model = build_model(spec)
    x = example_inputs(model, batch, seed=0)
    if policy != "as-built":
        initlab.init_(model, policy, seed=0)

    def plain():
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    def diag():
        initlab.diagnose(model, x)

    for _ in range(2):          # warm-up: allocator, kernels, caches
        plain()
        diag()
    tp, td = [], []
    for _ in range(repeats):
        tp.append(_time(plain))
        td.append(_time(diag))
    mp, md = statistics.median(tp), statistics.median(td)
    return {"model": spec, "plain_ms": 1e3 * mp, "diagnose_ms": 1e3 * md, "ratio": md / mp,
            "layers": len(initlab.diagnose(model, x).layers)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats per model (default 15)")
    ap.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    ap.add_argument("--models", default=MODELS, help=f"comma-separated zoo specs (default {MODELS})")
    ap.add_argument("--policy", default="auto", help="init policy before timing, or as-built (default auto)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}, torch.set_num_threads({args.threads}) "
          f"-> {torch.get_num_threads()} threads; batch {args.batch}, median of {args.repeats} alternating repeats")
    print(f"{'model':<24} {'layers':>6} {'plain ms':>10} {'diagnose ms':>12} {'ratio':>7}")
    worst = 0.0
    for spec in args.models.split(","):
        r = measure(spec, args.batch, args.repeats, args.policy)
        worst = max(worst, r["ratio"])
        print(f"{r['model']:<24} {r['layers']:>6} {r['plain_ms']:>10.1f} {r['diagnose_ms']:>12.1f} {r['ratio']:>6.2f}x")
    print(f"worst ratio {worst:.2f}x (target <= 3x: {'met' if worst <= 3 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
