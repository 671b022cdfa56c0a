"""The Ray executor's overhead: the same 35-model comparison with executor="local" and executor="ray" (2 Ray
workers), side by side in one run; prints the ratio, asserts nothing.

Work: 5 policies x 7 seeds, MLP 64-128-128-10 on digits, 20 epochs, batch 16, SGD lr 0.05, no store.
local = what a user gets by default here (auto: 2 worker processes x 1 thread, forked).  ray = a local Ray with
2 CPUs, the 35 models in 2 chunks, each one task of one thread.  Ray's start-up (ray.init) and the first start
of its worker processes (importing torch and initlab there, a warm-up task) are timed apart and printed
separately: a cluster pays them once, not per sweep.  Each executor runs --repeat times, alternated, and the
fastest of each is compared (these shared cores wander by +-20 % between runs).

    python benchmarks/ray_overhead.py [--repeat 3] [--epochs 20]
"""
from __future__ import annotations

import argparse
import os
import time

import initlab

POLICIES = ["zeros", "torch-default", "xavier_uniform", "general_rule_uniform", "auto"]
MODEL, DATA = "mlp:64-128-128-10", "digits"


def _warm(_):
    import initlab  # noqa: F401 - the worker imports torch and initlab once
    from initlab.experiments.compare_args import _dataset
    _dataset(DATA, {})
    return os.getpid()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    a = ap.parse_args()
    kw = dict(seeds=7, epochs=a.epochs, lr=0.05, batch_size=16, store=None, progress=False)

    import ray
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    pids = set(ray.get([ray.remote(num_cpus=1)(_warm).remote(i) for i in range(4)]))
    t_warm = time.perf_counter() - t0

    times = {"local": [], "ray": []}
    out = {}
    try:
        for _ in range(a.repeat):
            for ex in ("local", "ray"):
                t0 = time.perf_counter()
                out[ex] = initlab.compare(MODEL, DATA, POLICIES, executor=ex, **kw)
                times[ex].append(time.perf_counter() - t0)
    finally:
        ray.shutdown()
    loc, ry = min(times["local"]), min(times["ray"])
    same = all(abs(x.final["val_acc"] - y.final["val_acc"]) < 1e-6 for x, y in zip(out["local"].runs, out["ray"].runs))
    print(f"35 models (5 policies x 7 seeds), {MODEL} on {DATA}, {a.epochs} epochs, batch 16, SGD; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"  Ray start-up (excluded below): ray.init {t_init:.1f} s, first start of {len(pids)} worker "
          f"process(es) {t_warm:.1f} s")
    print(f"  local executor ({out['local'].config['workers']} worker process(es)): best {loc:.2f} s of "
          + ", ".join(f"{t:.2f}" for t in times["local"]))
    print(f"  ray executor (2 Ray CPUs, {out['ray'].path_reason.rsplit('Ray: ', 1)[-1]}): best {ry:.2f} s of "
          + ", ".join(f"{t:.2f}" for t in times["ray"]))
    print(f"  ray / local = {ry / loc:.2f}x (target <= 1.3x); same val_acc on every run: {same}")


if __name__ == "__main__":
    main()
