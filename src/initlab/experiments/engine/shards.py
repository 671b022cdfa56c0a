"""Process shards for any stack: W worker processes train disjoint sets of models at once.

Why processes.  A batch-16 step is about 25 small kernels.  With 2 OpenMP threads every kernel is split and
joined, and the elementwise ones below torch's grain size run on one thread, so 2 threads train only ~1.5x
faster than 1; two Python threads sharing the GIL do no better.  Two processes with one thread each share
nothing per step: measured 1.8x on 2 cores (benchmarks/compare_speed.py).  They are also robust on a busy
machine: no thread waits at a barrier for a sibling that the scheduler has put aside.

How.  fork: the data and the models are inherited copy-on-write, nothing is pickled on the way in.  Each
child trains its slice with one thread, writes the final weights into an anonymous shared mapping the parent
made before forking (no /dev/shm file), and sends its RunResults (histories, small) through a pipe.  The
parent trains the first slice itself and drives the progress bar.  A child dies with its parent
(PR_SET_PDEATHSIG), and the parent kills its children when it stops early (Ctrl-C, an error).

Work comes as *jobs* (the models of one stack: engine, models, seeds, data, config, loss); each worker
trains its list of jobs one after another through `run_job` (the engine's one-job entry point, which a Ray
task calls too).  Every model's arithmetic is its own (see
stack.py), so sharding changes which models share a batched matmul, not what any model computes:
results agree with one process to float rounding.  compare cuts one chunk into equal slices
(`fit_sharded`); double descent hands each worker whole width buckets balanced by cost (`run_jobs`).
"""
from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
import traceback
import warnings

import torch


def fork_available() -> bool:
    """Linux only: macOS offers fork, but forking a process that loaded Accelerate/Objective-C frameworks
    can crash the child (Python defaults to spawn there for that reason); Windows has no fork.  Not from a
    daemonic process either (a multiprocessing.Pool worker may not have children)."""
    return (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
            and not mp.current_process().daemon)


def usable_cores(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may use: its affinity set, capped by a cgroup v2 CPU quota (containers)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open(cpu_max) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(-(-int(quota) // int(period)))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def slices(n: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) slices of n models, sizes as equal as possible (the first ones one larger)."""
    workers = max(1, min(workers, n))
    q, r = divmod(n, workers)
    out, lo = [], 0
    for i in range(workers):
        hi = lo + q + (1 if i < r else 0)
        out.append((lo, hi))
        lo = hi
    return out


def _params(models) -> list[torch.Tensor]:
    return [p for m in models for p in m.parameters()]


def _layout(params) -> tuple[list[int], int]:
    """Byte offsets of each parameter in the shared buffer (64-byte aligned) and the total size."""
    offs, size = [], 0
    for p in params:
        offs.append(size)
        size += -(-p.numel() * p.element_size() // 64) * 64
    return offs, max(size, 64)


def _views(buf: mmap.mmap, params, offs) -> list[torch.Tensor]:
    return [torch.frombuffer(buf, dtype=p.dtype, count=p.numel(), offset=o).view(p.shape) if p.numel() else
            torch.empty(p.shape, dtype=p.dtype) for p, o in zip(params, offs)]


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a SIGKILLed sweep leaves no orphans)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)      # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:                                          # the parent died before prctl
        os._exit(1)


def run_job(job, progress=None) -> list:
    """Train one job through the engine: the one entry point for a unit of work, used by this module's shard
    loop (this process and every worker) and by a Ray task (executors/tasks.py).

    job = (stack, models, seeds, data, cfg, loss_kind): `stack` a name of train.STACKS ("stacked-mlp",
    "vmap", "sequential"), `models` the nn.Modules (trained in place: their final weights stay in them),
    `seeds` one engine seed per model (mini-batch order, dropout masks), `data` a TrainData, `cfg` a
    TrainConfig, `loss_kind` the loss ("cross_entropy", "mse").  progress: None or anything with
    update(n) (fit ticks it per step).  Returns one RunResult per model, in model order.

        >>> run_job(("sequential", [model], [0], data, TrainConfig(epochs=2, lr=0.1), "cross_entropy"))
    """
    from .fit import fit
    from .train import STACKS
    engine, models, seeds, data, cfg, kind = job
    return fit(STACKS[engine](models, seeds, data, cfg, kind), data, cfg, progress)


def _child(conn, buf, offs, jobs, parent) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # Ctrl-C is the parent's to handle: it stops us
    try:
        torch.set_num_threads(1)
        beat = _Beat(conn)
        results = [run_job(job, beat) for job in jobs]
        params = _params([m for job in jobs for m in job[1]])
        with torch.no_grad():
            for v, p in zip(_views(buf, params, offs), params):
                v.copy_(p)
        msg = ("ok", results)
    except BaseException as e:  # noqa: BLE001 - every failure is reported to the parent, which raises it
        msg = ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
    try:
        try:
            payload = pickle.dumps(msg)
        except Exception as e:  # noqa: BLE001 - say why instead of dying silently
            payload = pickle.dumps(("error", f"could not send the results back: {type(e).__name__}: {e}", ""))
        conn.send_bytes(payload)
    finally:
        conn.close()


BEAT_S = 5.0          # a child sends a heartbeat at most this often (one byte: the pipe never fills)
HUNG_MIN_S = 300.0    # a child silent this long, and 20x the parent's longest pause between steps, is hung


class _Beat:
    """The child's stand-in for a progress bar: training steps call update(); it tells the parent, at
    most every BEAT_S seconds, that the child is alive (a hung child must not hang the sweep)."""

    def __init__(self, conn):
        self.conn, self.last = conn, 0.0

    def update(self, n: float = 1) -> None:
        now = time.monotonic()
        if now - self.last >= BEAT_S:
            self.last = now
            self.conn.send_bytes(b".")


class _Pacer:
    """Wraps the parent's progress bar and measures the longest pause between its training steps."""

    def __init__(self, inner):
        self.inner, self.t, self.longest = inner, time.monotonic(), 0.0

    def update(self, n: float = 1) -> None:
        now = time.monotonic()
        self.longest, self.t = max(self.longest, now - self.t), now
        if self.inner is not None:
            self.inner.update(n)


def _receive(proc, recv, what, patience: float):
    """The child's final message, skipping heartbeats; RuntimeError when it died or went silent."""
    while True:
        if not recv.poll(patience):
            raise RuntimeError(f"training worker for {what} sent no sign of life for "
                               f"{patience:.0f} s (hung); stopped it")
        try:
            data = recv.recv_bytes()
        except EOFError:
            proc.join(5)
            raise RuntimeError(f"training worker for {what} died (exit code {proc.exitcode})") \
                from None
        if data != b".":
            return pickle.loads(data)


def fit_sharded(engine, models, seeds, data, cfg, progress, kind, workers: int) -> list:
    """fit() `models` on stack `engine` in `workers` processes of one thread each, one contiguous slice
    each (results in model order, final weights in `models`)."""
    jobs = [[(engine, models[lo:hi], seeds[lo:hi], data, cfg, kind)] for lo, hi in slices(len(models), workers)]
    return [r for per_job in run_jobs(jobs, progress) for r in per_job]


def _local(jobs, progress, on_done) -> list:
    out = []
    for job in jobs:
        out.append(run_job(job, progress))
        if on_done is not None:
            on_done(job, out[-1])
    return out


def run_jobs(assignment, progress=None, on_done=None) -> list:
    """Train assignment[w] (a list of jobs (engine, models, seeds, data, cfg, kind)) in worker w; worker 0
    is this process.  Returns each job's results, in the order of the assignment flattened; the final
    weights end up in the jobs' models.  on_done(job, results) is called in this process as each job's
    results arrive (this process's jobs as they finish, a worker's when the worker is done).  The caller
    checks fork_available()."""
    assignment = [a for a in assignment if a]
    if len(assignment) <= 1:
        return _local([job for a in assignment for job in a], progress, on_done)
    ctx = mp.get_context("fork")
    children = []
    threads_before = torch.get_num_threads()
    try:
        try:
            for w, jobs in enumerate(assignment[1:], start=1):
                params = _params([m for job in jobs for m in job[1]])
                offs, size = _layout(params)
                buf = mmap.mmap(-1, size)             # anonymous and MAP_SHARED: the child's writes reach us
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, daemon=True, name=f"initlab-shard-{w}",
                                   args=(send, buf, offs, jobs, os.getpid()))
                children.append((proc, recv, buf, offs, jobs, _what(jobs)))   # before start: Ctrl-C still kills it
                proc.start()
                send.close()
        except OSError as e:                          # no memory or process slots for a fork: one process
            _stop(children)
            children = []
            warnings.warn(f"initlab: could not start training workers ({e}); training in this process",
                          RuntimeWarning, stacklevel=2)
            return _local([job for a in assignment for job in a], progress, on_done)
        torch.set_num_threads(1)
        pacer = _Pacer(progress)
        results = _local(assignment[0], pacer, on_done)
        patience = max(HUNG_MIN_S, 20 * pacer.longest)
        for proc, recv, buf, offs, jobs, what in children:
            msg = _receive(proc, recv, what, patience)
            if msg[0] != "ok":
                raise RuntimeError(f"training worker for {what} failed: {msg[1]}\n{msg[2]}")
            params = _params([m for job in jobs for m in job[1]])
            with torch.no_grad():
                for p, v in zip(params, _views(buf, params, offs)):
                    p.copy_(v)
            results.extend(msg[1])
            if on_done is not None:
                for job, res in zip(jobs, msg[1]):
                    on_done(job, res)
            proc.join()
        return results
    finally:
        torch.set_num_threads(threads_before)
        _stop(children)


def _what(jobs) -> str:
    return f"{sum(len(j[1]) for j in jobs)} model(s) in {len(jobs)} job(s)"


def _stop(children) -> None:
    """Kill the children still running and close the pipes.  The shared maps are not closed by hand: a
    tensor view of one may still be alive (an exception's traceback), and reading it after close()
    would crash; reference counting unmaps each when its last view is gone."""
    for proc, recv, *_ in children:
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()
