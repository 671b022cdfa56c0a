"""initlab.compare (vectorized) vs the tutorial loop, side by side in one run; prints ratios, asserts nothing.

Same work both ways: 35 models (7 policies x 5 seeds), MLP 64-128-128-10 on digits (train split of
load("digits"): 1150 samples, validation 288), 20 epochs, batch 16, SGD lr 0.05, validation after each
epoch.  Baseline = the tutorial loop: one model after another, a torch DataLoader(shuffle=True) each,
a standard nn.Module, nn.CrossEntropyLoss and torch.optim.SGD.  Both start from initlab.init_.

Also measured in the same process: this machine's float32 matmul peak (a large square matmul at the
same thread count), the useful FLOPs of training (exact per layer: forward 2*in*out per sample,
backward 4*in*out except the first layer's input gradient, which is not needed: 2*in*out; plus the
validation forwards) as a fraction of that peak, and the same fraction for 784-1024-1024-10 at batch 128.

    python benchmarks/compare_speed.py [--threads N] [--baseline-models K] [--epochs E] [--repeat R]
                                       [--tutorial-threads N] [--skip-large]

--baseline-models K times only K of the 35 tutorial runs and scales (default: all 35).
--repeat R times each initlab workload R times and keeps the fastest (default 3): on these shared cores
a single 2-4 s run wanders by +-20 %, and the peak it is divided by is also the fastest of several.

initlab runs as a user gets it (workers and threads auto: on these shapes 2 worker processes x 1 thread)
and, beside it, in one process with --threads threads.  With --threads N below the core count the script
pins itself (and so initlab's workers) to N cores, so every figure, the peak included, uses the same cores.

Measured 2026-11-22 on the 2-core AMD EPYC (Zen 4, AVX-512) dev box (a shared VM), torch 2.13 CPU,
load average 1-2, the peak the best of 2-3 measurements (it wandered between 166 and 198 GFLOP/s):

  2 cores, 5 runs:  digits 1.15-1.25 s (2 workers) vs tutorial 21.6-29.1 s: 18-25x; 51-56 % of peak
                    (one process with 2 threads: 39-56 %); 784-1024-1024-10: 149-163 GFLOP/s = 81-85 % in
                    four runs, 78 % in the fifth, whose peak measured 202 GFLOP/s (81 % per CPU second)
  1 core:           digits 2.05 s vs 21.4 s: 10.4x; 60 % of peak; 784-1024-1024-10: 90 %
Before this round (same box, load ~1): 2 threads 43-48 % and 76-78 %; 1 thread 59 % and 81 %.

2026-12-03, branch perf, load 3.9-6.7 (other helpers' tests and benchmarks on both cores), --skip-large
--baseline-models 14 --tutorial-threads 1 --repeat 2: the two peak measurements read 41 and 86 GFLOP/s
(quiet: 166-198), so the per-wall-second figures are meaningless; per CPU second initlab ran at 39 % of
the peak per CPU second, 9.6x the tutorial's CPU time (8.3x wall).  Where a step's time goes (one
worker, 18 models, 1 thread, CPU time; torch profiler and cProfile): the 8 batched matmuls ~76 %, at
53-68 GFLOP/s each against a 1-thread 2048^2 peak of 60-73 measured in the same minutes; the ~15 small
kernels (ReLU and its backward, the grouped cross-entropy, bias sums) ~10-20 % (each 5-30 us); Python
~3 %.  Alternatives measured and rejected (no gain beyond noise): output buffers reused with out=,
the last layer in row-major layout for a contiguous log_softmax (3x slower at C=10), per-model mm
loops (39 GFLOP/s), smaller stacks for cache locality (bigger stacks are cheaper per model).

2026-12-03 14:41 UTC, branch speed, load 0.8-1.4, --baseline-models 14 --repeat 3: peak 132-168 GFLOP/s;
digits 1.72 s wall (runs 1.96, 1.72, 1.83) / 3.29 CPU s vs tutorial 38.3 s / 76.1 CPU s (2 threads): 22.3x
wall, 23.1x CPU; 42 % of peak per wall second, 43 % per CPU second (target 50 %: not met; in-process the
sweep has ~0.12 s of fixed costs, 35 builds and inits, the fork, the statistics: 1 epoch 0.21 s, 2 epochs
0.28 s, and the two workers run ~25 % slower per CPU second together than one alone); 784-1024-1024-10:
83 % per wall second, 84 % per CPU second (target 80 %: met).
2026-12-03 afternoon, branch speed, load 6.5-7.3 (another helper's two-process benchmark on both cores the
whole time), --baseline-models 7 --tutorial-threads 1 --repeat 3: peak 50 GFLOP/s per wall second (quiet
166-198), 153 per CPU second x threads; digits 5.39 s wall / 3.49 CPU s vs tutorial 54.7 s / 35.9 CPU s
(1 thread): 10.1x wall, 10.3x CPU; 45 % of peak per wall second, 46 % per CPU second; 784-1024-1024-10
55 % (one process, 2 threads: at this load each thread waits at every barrier for its sibling).  These
are load figures, not the engine's.  In-process A/B of this branch against the tree before it (one
process, the two alternating, 1 thread, CPU seconds; results bit-identical): one worker's fit (18 models,
3 epochs) 0.215 -> 0.195 s (1.10x, min of 10; medians 0.339 -> 0.325), the same with 8-wide hidden
layers, where the step is all overhead, 0.036 -> 0.031 (1.16x); the whole in-process compare (35 x 5
epochs) moved within the noise at load 5-7 (0.94x-1.12x between runs).  What changed:
  * the step's buffers and their views are made once per batch size (mlp_kernel.TrainWorkspace; the
    cross-entropy writes its gradient there): ~15 small allocations and ~30 view/transpose calls fewer a
    step;
  * eval predictions by max(1).indices: argmax(1) on the (M, C, n) layout took 0.7-0.8 ms per eval,
    ~14x more than max (2.5 % of a digits epoch);
  * compare plans once per (policy, architecture) and applies the plan with each seed (35 plans -> 7;
    each plan ran a checking forward at the default 2 threads, 2-7 ms each on a loaded box);
  * the kernel's gradient buffer is never filled (fused SGD does not read it) and its parameter buffer
    only zero-filled when padded (784-1024-1024-10 x 4: two 30 MB memsets);
  * the fallback's snapshot of the models clones their tensors instead of deep-copying the state_dicts;
  * tried and dropped: the bias folded into the weights as an extra input column (one addmv_ fewer per
    layer, but K = 65/129 misaligns the matmuls: 12-19 % slower), and one per-epoch gather of every
    group's inputs when groups share a seed (G/U times the copy: slower than the per-step pick).

2026-12-03 evening, branch kern (stacked-MLP kernel, engine/mlp_kernel.py): hidden layers of 64+ units
keep their outputs and gradients row-major (M, b, out), the output layer stays column-major (M, C, b).
Why: at batch 16 MKL's sgemm writes the column-major input gradient W^T @ dZ (the batch as the output's
contiguous dimension, the left factor a transposed view) at ~70 % of a one-thread peak, dZ^T @ W into a
row-major buffer at ~85 %; the row-major forward and weight update are as fast as the column-major ones.
Rows run from the first layer on, which must be ungrouped (P = 1: compare's two workers, whose seed
groups are uneven) unless the batch is below 16.  Also: the cross-entropy finds the targets through
flat positions computed once per epoch (index_select / index_add_ instead of gather / scatter_add_,
22 -> 17 us a step; bit-identical).  Results differ from the previous kernel by float rounding only
(digits, 18 models, 3 epochs: train loss 0.11442335 vs 0.11442334); the float64 engine-equivalence
tests pass at 1e-9, with new tests forcing the row-major path (P = 1, width masks, unit masks, small
batches with groups, a row-major layer feeding a dropout layer).  A/B in one process, old (e5e1e70) and
new alternating, one thread, CPU time, min / median:
  * one worker's step (18 models, 64-128-128-10, batch 16, load 0.5-1.6, three runs of 15 x 100 steps):
    710/748 -> 683/706 us, 723/743 -> 671/704, 691/696 -> 658/661: 1.04-1.08x;
  * per op (torch profiler, same step): input gradient 128x128 171 -> 136 us, forward 128x128 170 ->
    139, 64x128 88 -> 83, weight updates 114/69/20 -> 117/64/17, bias sums 16 -> 15;
  * one worker's fit (18 models, 3 epochs with the validations, 10 runs): 0.173/0.178 -> 0.164/0.168 s
    (1.06x, load 1.1), 1.05x at load 1.6 and 1.9, 1.03x at load 2.6;
  * whole in-process compare A/B (35 models, 20 epochs, auto: 2 workers): CPU 1.07/1.02x (load 1.8-2.4),
    within the +-10 % noise of these shared cores;
  * unchanged: one process of 35 models (P = 7, batch >= 16 keeps the old layout), double descent's
    width-masked Adam stacks (batch 100, widths 8-300: 0.96-1.06x between runs), 784-1024-1024-10
    (0.94-1.14x between runs); faster: batch 8, 2.4-3x (the column-major matmuls there are pathological).
  * tried and dropped: the input gradient written row-major and turned back column-major inside the
    next activation backward (an elementwise op reading a transposed (18, 128, 16) view: 42 us against
    5 us; a copy 22 us; the matmul saves ~25 us), and bias views expanded once per workspace (no gain).
compare_speed itself (--baseline-models 7 --repeat 3 --skip-large) ran only while other helpers'
benchmarks held both cores: at load 2.1-2.8 peak 69/139 GFLOP/s, initlab 4.90 s wall, 37 % per CPU
second; at load 1.1 rising to 2.8 during the run, peak 183 (start) / 102 (end), initlab 1.75 s wall
(runs 1.75, 1.82, 1.77) / 3.01 CPU s: 38 % of peak per wall second, 45 % per CPU second; the tutorial
(2 threads) 184 s wall; at load 1.2 rising to 2.3 (a CLI compare of another helper on one core), peak
74/142 per wall second, 149 per CPU second, initlab 3.01 s wall (runs 3.03, 3.01, 3.07: one worker
waited for a core) / 3.08 CPU s: 29 % per wall second, 53 % per CPU second, 25.9x the tutorial's CPU
time (13.4x wall).  Two runs back to back at load 0.5-1.1 (17:35 UTC): peak 134/124 then 156/174
GFLOP/s; initlab 1.36 s wall (runs 1.86, 1.36, 1.61) / 2.61 CPU s, then 1.83 s (1.86, 2.10, 1.83) / 3.31
CPU s; 27.0x then 21.1x the tutorial (wall); 67 % / 65 % of the first run's low peak (49 % of a quiet
183), then 38 % / 43 %.  The CPU seconds of the same work moved 27 % between those two runs, five times
this round's gain: none of these is a figure of the engine; they await a quiet re-run.

2026-12-03 18:24-18:37 UTC, the same code (787abca), the machine quiet (load 0.4-1.8, no other job of
ours; no steal in /proc/stat), ten runs back to back (--baseline-models 14 --skip-large; --repeat 3
or 5): peak 134-190 GFLOP/s (best of before and after); initlab 1.09-1.62 s wall (fastest of each run);
21.2-31.2x the tutorial (wall), 22-32x (CPU); of the peak per wall second 49 59 53 62 61 53 48 52 61 52 %
(median 53 %, 8 of 10 runs >= 50 %), per CPU second 54 60 55 63 63 51 51 53 61 56 % (all >= 50 %).
One full default run (all 35 tutorial runs, the large case): 21.2x, 48 % / 51 %; 784-1024-1024-10
76 % per wall second, 79 % per CPU second (one process: 83 %).  The runs below 50 % are the ones
whose fastest compare took 1.55-1.62 s against 1.09-1.28 s in the others: the same work moved by 1.5x
within minutes, as the peak did (134-190); the engine's figure is the median.

What moved the figures:
  * worker processes (experiments/engine/shards.py): the two cores train disjoint halves of the stack with one
    thread each; intra-op threads only reach ~1.5x of one thread on batch-16 kernels (every small
    kernel is split and joined), two single-thread processes ~1.8x;
  * fixed costs of a sweep: the first seed's models are no longer built twice, dataset hashes are cached,
    plan rows skip repeated argument checks (init_ of a small MLP 1.6 -> 0.4 ms), pick_threads' probe
    is capped (it timed full-size 1024x1024 layers: 0.3 s);
  * the eval reuses its chunk buffers (fresh 16 MB buffers per chunk: ~12 % of a large epoch in page
    faults); per step: cached weight views, the 1/batch of the loss folded into the update.
What limits it: at batch 16 every matmul is small (128x128 by 16 columns); in isolation the step's
batched matmuls run at ~65 % (2 threads) to 75 % (1 thread) of peak, and the ~20 other small kernels
per step plus Python dispatch cost ~200 us a step.  At 784-1024-1024-10 one core reaches 90 %; two
cores lose ~10 % to contention (each of two concurrent single-thread workers runs ~9 % slower than alone).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from torch import nn

import initlab
from initlab.data import Dataset, load
from initlab.models import build_model

POLICIES = ["zeros", "ones", "uniform", "centered_uniform", "general_rule_uniform", "general_rule_normal",
            "torch-default"]


def matmul_peak(threads: int, n: int = 2048, reps: int = 5) -> tuple[float, float]:
    """Best GFLOP/s of an n x n float32 matmul per wall second and per CPU second of this process."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = best_cpu = 0.0
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
        best_cpu = max(best_cpu, 2 * n ** 3 / max(1e-9, time.process_time() - c) / 1e9 * threads)
    return best, best_cpu


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (compare's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Clock:
    """Wall and CPU time of a block; with one thread CPU time excludes waiting for a busy core."""

    def __enter__(self):
        self.t, self.c = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.t, _cpu() - self.c


def time_compare(reps, *args, **kw):
    """Fastest wall and CPU time of `reps` initlab.compare calls, all wall times, and the last result."""
    walls, cpus = [], []
    for _ in range(reps):
        with Clock() as ck:
            res = initlab.compare(*args, store=False, progress=False, device="cpu", **kw)
        walls.append(ck.wall)
        cpus.append(ck.cpu)
    return min(walls), min(cpus), walls, res


def how(res) -> str:
    c = res.config
    return f"{c['workers']} process(es) x {c['threads']} thread(s)"


def train_flops(widths, n_train, n_val, epochs, models) -> float:
    """Useful FLOPs of `epochs` epochs of training + validation for `models` MLPs with these widths."""
    per_sample_train = 0
    per_sample_eval = 0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        per_sample_eval += 2 * a * b
        per_sample_train += 2 * a * b + 2 * a * b + (2 * a * b if i > 0 else 0)
    return float(models * epochs * (per_sample_train * n_train + per_sample_eval * n_val))


def tutorial(ds: Dataset, spec, policies, seeds, epochs, lr, batch_size) -> float:
    """The textbook loop; returns seconds."""
    from torch.utils.data import DataLoader, TensorDataset
    t0 = time.perf_counter()
    for s in seeds:
        for p in policies:
            model = build_model(spec)
            initlab.init_(model, p, seed=s)
            opt = torch.optim.SGD(model.parameters(), lr=lr)
            crit = nn.CrossEntropyLoss()
            g = torch.Generator().manual_seed(s)
            loader = DataLoader(TensorDataset(ds.x_train, ds.y_train), batch_size=batch_size, shuffle=True,
                                generator=g)
            for _ in range(epochs):
                model.train()
                for xb, yb in loader:
                    opt.zero_grad()
                    loss = crit(model(xb), yb)
                    loss.backward()
                    opt.step()
                model.eval()
                with torch.no_grad():
                    out = model(ds.x_val)
                    crit(out, ds.y_val).item()
                    (out.argmax(1) == ds.y_val).float().mean().item()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    ap.add_argument("--baseline-models", type=int, default=35, help="tutorial runs to time (scaled to 35)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--skip-large", action="store_true", help="skip the 784-1024-1024-10 measurement")
    ap.add_argument("--tutorial-threads", type=int, default=None,
                    help="torch threads of the tutorial loop (default: --threads).  On a loaded machine its OpenMP "
                         "threads wait at every kernel for a sibling the scheduler put aside; 1 avoids that")
    ap.add_argument("--repeat", type=int, default=3,
                    help="time each initlab workload this many times and keep the fastest, as the matmul peak "
                         "keeps its fastest of 5 (default 3; 1 = a single run)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores and args.threads < len(cores):
        # initlab's auto mode (worker processes, thread count) sizes itself to the cores it may use:
        # give this process (and so its workers) exactly --threads cores, so that every figure here,
        # the peak included, is measured on the same cores
        os.sched_setaffinity(0, cores[:args.threads])
        print(f"CPU affinity set to cores {cores[:args.threads]} (--threads {args.threads})")
    print(f"torch {torch.__version__}, threads = {torch.get_num_threads()} (set with --threads), "
          f"cores = {os.cpu_count()}, load average = {os.getloadavg()[0]:.1f}")
    ds = load("digits")
    import initlab.experiments.stats  # noqa: F401  (scipy import: one-time cost, not throughput)
    w = nn.Linear(2, 2)                # first torch.optim step imports torch._dynamo: one-time cost too
    o = torch.optim.SGD(w.parameters(), lr=0.1)
    w(torch.ones(1, 2)).sum().backward()
    o.step()
    seeds = list(range(5))
    spec, widths = "digits-mlp", [64, 128, 128, 10]
    epochs, lr, bs = args.epochs, 0.05, 16
    peak0, peak0_cpu = matmul_peak(args.threads)
    print(f"matmul peak (2048^2 float32): {peak0:.1f} GFLOP/s per wall second, "
          f"{peak0_cpu:.1f} per CPU second x threads")
    print(f"workload: 35 models = {len(POLICIES)} policies x {len(seeds)} seeds, MLP 64-128-128-10, digits "
          f"train {ds.n_train} / val {ds.n_val}, {epochs} epochs, batch {bs}, SGD lr {lr}")

    reps = max(1, args.repeat)
    kw = dict(seeds=seeds, epochs=epochs, lr=lr, batch_size=bs)
    # initlab as a user gets it (workers and threads auto), and in one process with --threads threads
    t_vec, c_vec, walls, res = time_compare(reps, spec, ds, POLICIES, **kw)
    t_one, c_one, walls1, res1 = time_compare(reps, spec, ds, POLICIES, workers=1, threads=args.threads, **kw)
    runs = "" if reps == 1 else f" (fastest of {reps}: " + ", ".join(f"{w:.2f}" for w in walls) + " s wall)"
    print(f"initlab.compare: {t_vec:.2f} s wall, {c_vec:.2f} s CPU{runs}  [{how(res)}]  (path: {res.path}; "
          f"{res.path_reason})")
    print(f"  one process:   {t_one:.2f} s wall, {c_one:.2f} s CPU  [{how(res1)}]")

    k = max(1, min(35, args.baseline_models))
    pol = (POLICIES * 5)[:k]
    done = 0
    tt = args.tutorial_threads or args.threads
    torch.set_num_threads(tt)
    with Clock() as ck:
        for s in seeds:
            sub = pol[done:done + len(POLICIES)]
            if not sub:
                break
            tutorial(ds, spec, sub, [s], epochs, lr, bs)
            done += len(sub)
    torch.set_num_threads(args.threads)
    t_base_35, c_base_35 = ck.wall * 35 / k, ck.cpu * 35 / k
    note = "" if k == 35 else f" (timed {k} runs, scaled to 35)"
    print(f"tutorial loop:   {t_base_35:.2f} s wall, {c_base_35:.2f} s CPU{note} [{tt} thread(s)]")

    peak1, peak1_cpu = matmul_peak(args.threads)
    peak, peak_cpu = max(peak0, peak1), max(peak0_cpu, peak1_cpu)
    fl = train_flops(widths, ds.n_train, ds.n_val, epochs, 35)
    th = args.threads
    print(f"matmul peak again: {peak1:.1f} GFLOP/s -> using {peak:.1f} (wall), {peak_cpu:.1f} (CPU)")
    print(f"\nspeed-up initlab vs tutorial: {t_base_35 / t_vec:.1f}x wall, {c_base_35 / c_vec:.1f}x CPU time"
          f"   (target >= 18x)")
    print(f"useful FLOPs {fl / 1e9:.1f} GFLOP: initlab {fl / t_vec / 1e9:.1f} GFLOP/s = "
          f"{100 * fl / t_vec / 1e9 / peak:.0f}% of peak per wall second, "
          f"{100 * fl / (c_vec / th) / 1e9 / peak_cpu:.0f}% per CPU second (target >= 50%) [{how(res)}]; "
          f"one process {100 * fl / t_one / 1e9 / peak:.0f}% [{how(res1)}]; tutorial "
          f"{100 * fl / t_base_35 / 1e9 / peak:.1f}% / {100 * fl / (c_base_35 / tt) / 1e9 / peak_cpu:.1f}%")

    if not args.skip_large:
        big = load("fashion-mnist", subsample=2560, test=False)
        pols = ["torch-default", "general_rule_uniform"]
        wl = [784, 1024, 1024, 10]
        kb = dict(seeds=2, epochs=1, lr=0.05, batch_size=128)
        bw, bc, _, r = time_compare(reps, "mlp:784-1024-1024-10:relu", big, pols, **kb)
        bw1, _, _, r1 = time_compare(reps, "mlp:784-1024-1024-10:relu", big, pols, workers=1, threads=args.threads,
                                     **kb)
        flb = train_flops(wl, big.n_train, big.n_val, 1, 4)
        p2, p2c = matmul_peak(args.threads)
        peak2, peak2_cpu = max(peak, p2), max(peak_cpu, p2c)
        best = "" if reps == 1 else f" (fastest of {reps})"
        print(f"784-1024-1024-10, batch 128, 4 models, {big.n_train} train / {big.n_val} val samples, 1 epoch: "
              f"{bw:.2f} s wall{best}, {flb / bw / 1e9:.1f} GFLOP/s = {100 * flb / bw / 1e9 / peak2:.0f}% "
              f"of peak per wall second, {100 * flb / (bc / th) / 1e9 / peak2_cpu:.0f}% per CPU second "
              f"(target >= 80%; path {r.path}) [{how(r)}]; one process {100 * flb / bw1 / 1e9 / peak2:.0f}% "
              f"[{how(r1)}]")
    print(f"load average at the end = {os.getloadavg()[0]:.1f} (other processes share these cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
