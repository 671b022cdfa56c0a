"""One double-descent sweep (one policy, one training-set size) through the run sink, as compare's chunks go.

`sweep(policy, widths, seeds, n, store=..., ...)` keys each (width, seed) run ``("<policy>@w=<width>", seed)``
under the config hash of everything else, and hands the runs not yet stored to `RunSink.claimed` (sink.py) as
one chunk: this process leases all it can, trains those as width buckets (dd_sweep.py, locally or on Ray),
saves each run as its bucket finishes, then waits for the runs another process holds (loaded from the store
once saved; taken over and trained here when their owner died or let its lease lapse).  So two sweeps of one
config started together train each run once, a rerun resumes, and a SIGKILL loses no saved run.

A width bucket can train for many minutes between two saves, so double descent leases for DD_LEASE_TTL_S
(compare: store_leases.LEASE_TTL_S); a killed owner on this host is found at once by its pid, the TTL only
matters across hosts.
"""
from __future__ import annotations

import math
import time

from . import dd_sweep as eng
from .records import DIVERGED, RunRecord, config_hash
from .sink import RunSink

DD_LEASE_TTL_S = 3600.0
WHERE = "initlab.double_descent"


def run_label(policy: str, width: int) -> str:
    """Store label of one width: ``"torch-default@w=64"``."""
    return f"{policy}@w={int(width)}"


def parse_label(label: str) -> tuple[str, int]:
    """Inverse of `run_label`."""
    policy, _, w = label.rpartition("@w=")
    return policy, int(w)


def sweep(policy, widths, seeds, n, *, get_data, base_config, epochs, batch_size, lr, schedule, store, log,
          max_models, workers, spec=None, failed=None) -> dict:
    """Train (or load) every (width, seed) run of `policy` on the training set of size `n` (None: all).

    store: an open RunStore or None (double_descent opens it once for all its sweeps).  Returns {"config",
    "hash", "records": {(width, seed): RunRecord}, "trained" (by this process), "skipped", "buckets",
    "data_info"}; runs whose Ray task failed for good are appended to `failed`."""
    x_tr, y_tr, x_te, y_te, n_out, info = get_data(n)
    cfg = dict(base_config, n_train=int(len(y_tr)), n_in=int(x_tr.shape[1]), n_out=int(n_out))
    h = config_hash(cfg)
    pairs = {(run_label(policy, w), int(s)): (int(w), int(s)) for w in widths for s in seeds}
    sink = RunSink(store, cfg, h, ttl=DD_LEASE_TTL_S, where=WHERE)
    records, buckets, trained = {}, [], 0
    try:
        done = sink.done()
        pending = [k for k in pairs if k not in done]
        records = {pairs[k]: r for k, r in sink.existing([k for k in pairs if k in done]).items()}
        for mine in sink.claimed([pending] if pending else [], log=log):
            got, bs = _train(mine, pairs, (x_tr, y_tr, x_te, y_te), cfg, h, policy, sink, log, epochs=epochs,
                             batch_size=batch_size, lr=lr, schedule=schedule, max_models=max_models,
                             workers=workers, spec=spec, failed=failed, n=n, n_out=n_out)
            records.update(got)
            trained += len(got)
            buckets += bs
        missing = [k for k in pending if pairs[k] not in records]      # trained and saved by another process
        if missing:
            records.update({pairs[k]: r for k, r in sink.existing(missing).items()})
    finally:
        sink.close()
    # as before the sink: every run of this sweep not trained here counts as skipped (with a store)
    skipped = len(pairs) - trained if sink.store is not None else 0
    return {"config": cfg, "hash": h, "records": records, "trained": trained, "skipped": skipped,
            "buckets": buckets, "data_info": info}


def _train(mine, pairs, data, cfg, h, policy, sink, log, *, epochs, batch_size, lr, schedule, max_models, workers,
           spec, failed, n, n_out) -> tuple[dict, list]:
    """Train the leased runs `mine` as width buckets and save each as its bucket ends -> ({(w, s): record},
    bucket rows).  A bucket is a widths x seeds block, so it may hold a run another process owns: that
    one is trained along (it shares the batched matmuls) but neither saved nor reported here."""
    mine = set(mine)
    widths = sorted({pairs[k][0] for k in mine})
    seeds = sorted({pairs[k][1] for k in mine})
    records, rows = {}, []

    def finished(b, results, dt):
        rows.append({"n_train": cfg["n_train"], "widths": b.widths, "seeds": b.seeds, "padded_to": b.P,
                     "seconds": round(dt, 2)})
        for (w, s), r in results.items():
            if (run_label(policy, w), s) not in mine:
                continue
            final = dict(r.final)
            if r.status == DIVERGED:          # a diverged run counts as NaN in the curves, as it always did
                final = {k: (v if k == "epoch" else math.nan) for k, v in (final or {"epoch": 0}).items()}
            rec = RunRecord(policy=run_label(policy, w), seed=int(s), config_hash=h, status=r.status,
                            history=r.history, final=final, seconds=r.seconds)
            records[(w, s)] = rec
            sink.save(rec)
        log(f"n={cfg['n_train']} widths {b.widths} x seeds {b.seeds} (padded to {b.P}): {epochs} epochs in {dt:.1f} s"
            + (" (saved)" if sink.store is not None else ""))

    def lost(b, error):
        keys = [(run_label(policy, w), s) for s in b.seeds for w in b.widths if (run_label(policy, w), s) in mine]
        sink.release(keys)                    # another process may train them
        failed.extend({"policy": policy, "width": parse_label(p)[1], "seed": s, "n_train": cfg["n_train"],
                       "error": error, "attempts": 1 + spec.max_retries} for p, s in keys)
        log(f"n={cfg['n_train']} widths {b.widths} x seeds {b.seeds}: FAILED after {1 + spec.max_retries} "
            f"attempt(s): {error}")

    plan = eng.plan_buckets(widths, seeds, cfg["n_in"], n_out, batch_size, max_models=max_models)
    if spec is not None and spec.executor == "ray":
        from .executors.ray_executor import run_buckets
        # one task per (bucket, seed): Ray spreads them over its workers (each model's numbers are its own)
        run_buckets(spec, [eng.Bucket(b.widths, [s]) for b in plan for s in b.seeds], n, policy, finished, lost,
                    tick=sink.keep_alive)
    else:
        n_workers = eng.default_workers(None, len(plan)) if workers is None else workers
        eng.train_buckets(plan, data, policy=policy, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule,
                          workers=n_workers, progress=sink.ticking(_Ticker(epochs, log)), on_done=finished)
    return records, rows


class _Ticker:
    """fit's progress sink for the log: a line every tenth of a bucket's epochs (this process's buckets).

    Not compare's Progress bar: a bar needs the whole call's work up front and steady ticks, but double
    descent learns what is left only sweep by sweep (each resumes and leases on its own), its buckets differ
    in cost by orders of magnitude (width 512 vs 2), and with worker processes only this process's buckets
    tick (a child sends heartbeats, not steps: engine/shards.py), so a bar would stall or lie."""

    def __init__(self, epochs, log):
        self.epochs, self.log, self.done, self.t0 = epochs, log, 0.0, time.perf_counter()
        self.every = max(1, epochs // 10)
        self.last = 0

    def update(self, n: float = 1) -> None:
        self.done += n
        e = int(self.done + 1e-9) % self.epochs
        if e and e % self.every == 0 and e != self.last:
            self.last = e
            el = time.perf_counter() - self.t0
            self.log(f"  epoch {e}/{self.epochs} of a bucket, {el:.0f} s so far")


__all__ = ["DD_LEASE_TTL_S", "run_label", "parse_label", "sweep"]
