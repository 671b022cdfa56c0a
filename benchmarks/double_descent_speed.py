"""Masked width buckets vs the sequential reference recipe on the same widths, epochs and data.

    .venv/bin/python benchmarks/double_descent_speed.py                      # 12 widths 2..128, 500 epochs
    .venv/bin/python benchmarks/double_descent_speed.py --widths 2 4 8 512 --epochs 50 --threads 2

Reference recipe (dd_engine.train_reference): one narrow nn.Sequential(in-h-h-10) at a time,
autograd, torch.optim.Adam (default implementation), a plain Python loop over mini-batches,
evaluation on the full train and test sets at the same epochs.  Fast path (dd_engine.train_stacked):
all widths as masked width buckets (batched matmuls, hand-written backward, fused flat Adam).
The two paths run interleaved (a bucket, then its widths on the reference path), so background
load on a shared machine hits both alike.  Both use the same init per (width, seed), the same
mini-batch order and the same evaluation schedule, so the curves must agree up to float rounding (summation order differs in the padded
matmuls, which over hundreds of epochs can flip a few test predictions).

Prints the torch thread count (set with --threads), both wall times and CPU times (process time:
steadier than wall time when other jobs share the cores), the ratios, the max difference
between the two final test-error curves and over every measured epoch, and the per-width table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=None,
                    help="hidden widths (default: 12 geometric from 2 to 128)")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for both paths (default 1)")
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-points", type=int, default=120)
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON")
    a = ap.parse_args(argv)

    import torch
    torch.set_num_threads(a.threads)
    from initlab.data import load
    from initlab.experiments import dd_engine as eng
    from initlab.experiments.double_descent import geometric_widths

    widths = sorted(set(a.widths)) if a.widths else geometric_widths(2, 128, 12)
    print(f"torch threads: {torch.get_num_threads()} (torch {torch.__version__})")
    ds = load("mnist1d", seed=0, n_train=a.n_train, n_test=a.n_test, label_noise=a.noise)
    data = (ds.x_train.reshape(ds.n_train, -1), ds.y_train, ds.x_test.reshape(ds.n_test, -1), ds.y_test)
    n_in, n_out = data[0].shape[1], int(ds.n_classes)
    sched = eng.eval_epochs(a.epochs, a.eval_points)
    print(f"MNIST-1D n_train={ds.n_train} n_test={ds.n_test} noise={a.noise}; widths {widths}; {a.epochs} epochs, "
          f"Adam lr={a.lr}, batch {a.batch_size}, seed {a.seed}, {len(sched)} measured epochs")

    # warm-up (first-call costs of autograd / MKL / the allocator) on both paths, untimed
    small = tuple(t[:256] for t in data)
    eng.train_reference(widths[0], a.seed, small, epochs=2, batch_size=a.batch_size, lr=a.lr, schedule=[2], n_out=n_out)
    eng.train_stacked(eng.StackedMLP.build(widths[:2], [a.seed], n_in, n_out), small, epochs=2,
                      batch_size=a.batch_size, lr=a.lr, schedule=[2])

    # interleaved: each bucket on the fast path, then the same widths one at a time on the reference
    # path, so both see the same background load (the machine may be shared)
    fast, ref, per = {}, {}, {}
    t_fast = c_fast = t_ref = c_ref = 0.0
    plan = eng.plan_buckets(widths, [a.seed], n_in, n_out, a.batch_size)
    for b in plan[::-1]:
        c0, t0 = time.process_time(), time.perf_counter()
        st = eng.StackedMLP.build(b.widths, b.seeds, n_in, n_out)
        h = eng.train_stacked(st, data, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, schedule=sched)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        t_fast, c_fast = t_fast + dt, c_fast + dc
        fast.update({w: rows for (w, _), rows in h.items()})
        print(f"  bucket {b.widths} padded to {b.P}: {dt:.1f} s wall, {dc:.1f} s CPU", flush=True)
        for w in b.widths:
            c0, t0 = time.process_time(), time.perf_counter()
            ref[w] = eng.train_reference(w, a.seed, data, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                                         schedule=sched, n_out=n_out)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            t_ref, c_ref = t_ref + dt, c_ref + dc
            per[w] = dt
            print(f"    reference width {w}: {dt:.1f} s wall, {dc:.1f} s CPU", flush=True)
    print(f"masked width buckets: {t_fast:.1f} s wall, {c_fast:.1f} s CPU", flush=True)
    print(f"sequential reference: {t_ref:.1f} s wall, {c_ref:.1f} s CPU", flush=True)

    d_final = max(abs(fast[w][-1]["test_err"] - ref[w][-1]["test_err"]) for w in widths)
    d_all = max(abs(x["test_err"] - y["test_err"]) for w in widths for x, y in zip(fast[w], ref[w]))
    d_train = max(abs(fast[w][-1]["train_err"] - ref[w][-1]["train_err"]) for w in widths)
    print("\nwidth  test_err(fast)  test_err(ref)  train_err(fast)  train_err(ref)")
    for w in widths:
        print(f"{w:>5}  {fast[w][-1]['test_err']:14.2%}  {ref[w][-1]['test_err']:13.2%}  "
              f"{fast[w][-1]['train_err']:15.2%}  {ref[w][-1]['train_err']:14.2%}")
    ratio = t_ref / t_fast
    cratio = c_ref / c_fast
    print(f"\nthreads={torch.get_num_threads()}  reference {t_ref:.1f} s  masked {t_fast:.1f} s  "
          f"speed-up x{ratio:.2f} wall-clock ({'>= 4x: OK' if ratio >= 4 else 'below the 4x target'}); "
          f"CPU time {c_ref:.1f} s vs {c_fast:.1f} s = x{cratio:.2f} (steadier on a shared machine)")
    print(f"max |test_err difference|: final epoch {100 * d_final:.2f} points, over all measured epochs "
          f"{100 * d_all:.2f} points; final train_err {100 * d_train:.2f} points")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "widths": widths, "epochs": a.epochs, "t_ref": t_ref,
                       "t_fast": t_fast, "ratio": ratio, "cpu_ref": c_ref, "cpu_fast": c_fast, "cpu_ratio": cratio, "max_diff_final": d_final, "max_diff_all": d_all,
                       "ref_seconds_per_width": per,
                       "fast": {w: fast[w][-1] for w in widths}, "ref": {w: ref[w][-1] for w in widths}}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
