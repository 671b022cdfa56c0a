"""`compare`: train every (policy, seed) model of one architecture on one data set and rank the policies.

    result = initlab.compare("seed004", "fashion-mnist", ["zeros", "general_rule_uniform", "auto"],
                             seeds=3, epochs=2, lr=0.05, batch_size=100)
    print(initlab.reports.terminal_table(result))

How a sweep runs
----------------
* Run (p, s) starts from ``initlab.init_(fresh_model, p, seed=s)``; its batch order and dropout masks
  come from generators seeded by s, so every policy of one seed sees the same batches (paired).
* Runs already in the store for the same config (hash of model, data, training settings, not of
  policies/seeds) are skipped and loaded from it (``result.skipped``).
* The others are trained in chunks (``chunk`` = models per chunk; default: as many as train in about a
  minute, estimated from the model's multiply-adds, the data size and the epochs, see
  compare_args.default_chunk), each chunk as ONE vectorized batch when the model allows it (else one
  model after another, see ``result.path`` and ``result.path_reason``).  Every run of a chunk is saved as
  soon as the chunk finishes, so an interruption (Ctrl-C, kill) loses at most the chunk in progress
  (about a minute); rerunning resumes.
* Processes running the same config on one store share it: each trains only the runs it leased in the
  store, then waits for and loads the others' (sink.py, store_leases.py), so no run is trained twice.
* Summary by ``stats.summarize``: val_acc (higher is better) for classification, val_mse (lower)
  for regression, at the final epoch; diverged runs count as the worst value.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import torch
from torch import nn

from .progress import Progress
from .records import CompareResult, RunRecord, config_hash
from .compare_args import _chunks, _dataset, _fingerprint, _model_factory, _model_ident, _prepare, _workers, default_chunk
from .sink import RunSink
from .sweep import DEFAULT_RETRIES, check_compare
from .engine import TrainConfig, pick_threads, resolve_device, train_runs

ENGINE_VERSION = 1
DTYPES = {"float32": torch.float32, "float64": torch.float64}
WHERE = "initlab.compare"


class CompareInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: the runs of finished chunks are in the store (`saved`, `store_path`)."""

    def __init__(self, saved: int, pending: int, store_path: str | None):
        super().__init__(f"interrupted; {saved} finished run(s) kept"
                         + (f" in {store_path}" if store_path else "") + f", {pending} not finished")
        self.saved, self.pending, self.store_path = saved, pending, store_path


def _apply_policy(model: nn.Module, policy: str, seed: int, example_inputs, plans: dict | None = None) -> None:
    """Initialize `model` with `policy`: exactly initlab.init_(model, policy, seed=seed, example_inputs=...).

    plans: a cache {(policy, model signature): plan}.  A plan is pure (rows from names, shapes and types;
    it draws nothing), so the plan of one model serves every model of the same signature: applying it with
    another seed draws exactly what init_ would (one generator seeded with `seed`, row order).  Planning
    costs ~1.5 ms a small model (a checking forward on example_inputs, the rows) against ~0.4 ms to apply;
    a sweep plans once per policy.  Plans whose apply measures the model itself (lsuv, auto's calibrate
    rows) are not cached, so those policies plan every model, as init_ does."""
    from ..policy import plan as make_plan
    key = (policy, _signature(model)) if plans is not None else None
    cached = plans.get(key) if key is not None else None
    if cached is not None:
        cached.with_seed(seed).apply(model)
        return
    p = make_plan(model, policy, seed=seed, example_inputs=example_inputs)
    p.apply(model)
    if key is not None and not any(r.action in ("lsuv", "calibrate") for r in p.rows):
        plans[key] = p


def _signature(model: nn.Module) -> tuple:
    """What a plan depends on besides the policy: module names and types, parameter names, shapes, dtypes and
    requires_grad (a frozen parameter is kept)."""
    return (tuple((n, type(m)) for n, m in model.named_modules()),
            tuple((n, tuple(t.shape), t.dtype, t.requires_grad) for n, t in model.named_parameters()))


def example_inputs(tdata):
    """What `auto` (and LSUV) calibrate on: the first 256 training samples, the same on every executor."""
    return tdata.x_train[:min(256, tdata.n_train)]


def build_models(factory, keys, example, ready=None, plans: dict | None = None) -> list:
    """One initialized model per (policy, seed) of `keys`; a model already built for a key in `ready` (compare's
    first-seed models) is taken from it instead.  The local chunk loop and the Ray task both build this way.
    plans: the plan cache of _apply_policy (None: one for this call)."""
    plans = {} if plans is None else plans
    models = []
    for p, s in keys:
        m = ready.pop((p, s), None) if ready is not None else None
        if m is None:
            m = factory()
            _apply_policy(m, p, s, example, plans)
        models.append(m)
    return models


# ---------------------------------------------------------------------------- compare
def compare(model, data, policies, *, seeds=5, epochs: int, optimizer: str = "sgd", lr: float,
            batch_size: int, loss: str | None = None, store=None, device: str = "auto", progress=True,
            data_options: dict | None = None, target: float | None = None,
            chunk: int | None = None, path: str = "auto", momentum: float = 0.0, weight_decay: float = 0.0,
            dtype: str = "float32", threads=None, workers=None, executor: str = "local",
            address: str | None = None, max_retries: int = DEFAULT_RETRIES,
            lr_schedule: str = "constant") -> CompareResult:
    """Train every (policy, seed) and summarize; see the module docstring.

    model         zoo spec ('seed004', 'mlp:64-128-10'), nn.Module (deep-copied per run) or factory
    data          data set name (loaded with ``data_options``, e.g. {"subsample": 500}) or a Dataset
    policies      list of policy names (or "a,b,c"), passed to ``initlab.init_``
    seeds         number of seeds (0..n-1) or a list of seeds
    optimizer     'sgd' (with momentum/weight_decay) | 'adam' | 'adamw'
    lr_schedule   'constant' (default) | 'cosine' | 'linear': the rate of each step, decayed to 0 over the run
                  (engine/schedule.py; the same rates as torch's CosineAnnealingLR / LinearLR stepped per batch)
    loss          None = from the task ('cross_entropy', 'bce' for one logit, 'mse'), or one of those
    store         None or False = no store (nothing saved or resumed), True = ./initlab-runs/runs.sqlite, a path,
                  or a RunStore (the same meaning in every experiment: see experiments/sink.py); the CLI
                  passes ./initlab-runs/runs.sqlite unless --no-store
    device        'auto' (CUDA when available) | 'cpu' | 'cuda'
    progress      progress bar / chunk lines on stderr
    target        metric value for "epochs to target" in the summary
    chunk         models per vectorized batch (None = about a minute of training each, estimated)
    path          'auto' | 'vectorized' | 'sequential'
    dtype         'float32' | 'float64'
    threads       torch CPU threads while training: an int, or None/'auto' (restored afterwards)
    workers       processes training disjoint slices of the models (stacked-MLP path on the CPU), one
                  thread each: an int, or None/'auto'.  auto: one per core when the stacked-MLP path runs,
                  no thread count was given, a chunk has 2+ models and the matmuls are small (largest
                  layer in*out*batch <= 2^24: there processes scale ~1.8x on 2 cores where threads give
                  ~1.5x; see experiments/engine/shards.py); otherwise one process whose thread count is a fixed rule
                  (all cores when a training step does >= 4M multiply-adds, else 1; never timed, so results
                  do not vary between processes)
    executor      'local' (this process and its worker processes) | 'ray': each chunk of (policy, seed) models
                  is one Ray task (chunk=None: one chunk per Ray CPU); results are saved here as they arrive,
                  a failing task is retried, then its runs are listed in config["failed"] (docs/ray.md)
    address       Ray cluster address (None: start a local Ray; 'auto': the cluster started on this machine)
    max_retries   how often a failed Ray task (it raised, or its worker died) is run again before its runs are
                  listed as failed: 0..100 (default 2); the local executor runs each chunk once
    """
    t_start = time.perf_counter()
    spec = check_compare(model, data, policies, seeds=seeds, optimizer=optimizer, path=path, dtype=dtype,
                         threads=threads, workers=workers, target=target, chunk=chunk, executor=executor,
                         address=address, data_options=data_options, max_retries=max_retries,
                         lr_schedule=lr_schedule, where=WHERE)
    policies, seeds = list(spec.policies), list(spec.seeds)
    dev = resolve_device(device)
    factory, model_name = _model_factory(model)
    ds, data_name, data_ident = _dataset(data, data_options)
    probe = factory()
    tdata, loss = _prepare(ds, probe, loss)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, loss=loss,
                      momentum=momentum, weight_decay=weight_decay, device=str(dev), dtype=DTYPES[dtype],
                      lr_schedule=lr_schedule).check()
    config = {"model": model_name, "model_ident": _model_ident(probe, values=isinstance(model, nn.Module)),
              "data": data_name, "data_options": data_ident, "task": ds.task,
              "eval_split": tdata.val_split, "epochs": epochs, "optimizer": optimizer, "lr": lr,
              "batch_size": batch_size, "loss": loss, "momentum": momentum, "weight_decay": weight_decay,
              "dtype": dtype, "engine_version": ENGINE_VERSION}
    if lr_schedule != "constant":                # only then: stores made before schedules existed still resume
        config["lr_schedule"] = lr_schedule
    h = config_hash(config)
    spec = replace(spec, model_name=model_name, train=cfg,
                   data_fingerprint=_fingerprint(ds) if spec.executor == "ray" else "")
    example = example_inputs(tdata)

    # unknown policies fail here, before anything is trained; the models this builds are the first seed's
    # runs, kept for training (building and initializing them twice cost ~10 % of a small sweep)
    first, plans = {}, {}
    for p in policies:
        m = factory()
        _apply_policy(m, p, seeds[0], example, plans)
        first[(p, seeds[0])] = m

    threads_before = torch.get_num_threads()
    if chunk is None:                            # about a minute of training per chunk: what a kill can lose
        chunk = default_chunk(probe, tdata, epochs, dev)
    _chunks([], chunk)                           # a bad chunk fails now, before anything is trained
    n_models = min(chunk, len(seeds) * len(policies))
    n_workers, threads_note = _workers(workers, threads, probe, path, dev, n_models, batch_size)
    if spec.executor == "ray":                   # the driver only stores; each Ray task sets its own threads
        n_workers, n_threads, threads_note = 1, threads_before, ""
    elif isinstance(threads, int):
        n_threads, threads_note = threads, threads_note or f"{threads} thread(s) (set)"
    elif n_workers > 1:
        n_threads = 1
    else:
        from .engine.mlp_plan import parse_mlp
        plan, _ = parse_mlp(probe)
        shapes = [(i, o) for i, o, _ in plan.shapes] if plan else [(128, 128)]
        n_threads, tnote = pick_threads(len(seeds) * len(policies), shapes, batch_size, dev, DTYPES[dtype])
        threads_note = "; ".join(x for x in (threads_note, tnote) if x)
    sink = RunSink(store, config, h, where=WHERE)
    sink.expect(policies)
    torch.set_num_threads(n_threads)
    try:
        done = sink.done()
        jobs = [(p, s) for s in seeds for p in policies]
        pending = [j for j in jobs if j not in done]
        skipped = len(jobs) - len(pending)
        old = sink.existing(jobs) if skipped else {}
        for j in done:
            first.pop(j, None)                   # already trained: free the model now
        chunks = _chunks(pending, chunk)
        bar = Progress(epochs * max(1, len(chunks)), enabled=bool(progress),
                       label=f"{len(pending)} runs")
        if skipped:
            bar.log(f"initlab compare: {skipped} run(s) already in the store, {len(pending)} to train")
        new, paths, reasons, failed = {}, [], [], []

        def save(key, r):
            rec = RunRecord(key[0], key[1], h, r.status, r.history, r.final, r.seconds)
            sink.save(rec)
            new[key] = rec
        try:   # sink.claimed: only runs this process leased; waits for those another process is training
            if spec.executor == "ray":
                from .executors.ray_executor import run_compare
                first.clear()
                chunks, paths, reasons, failed = run_compare(spec, pending, save, bar, sink)
            for ci, cj in enumerate(sink.claimed(chunks, log=bar.log) if spec.executor == "local" else [], start=1):
                models = build_models(factory, cj, example, ready=first, plans=plans)
                bar.note = f"chunk {ci}/{len(chunks)}"
                out = train_runs(models, [s for _, s in cj], tdata, cfg, path=path, progress=sink.ticking(bar),
                                 loss_kind=loss, workers=n_workers)
                paths.append(out.path)
                reasons.append(out.reason)
                for key, r in zip(cj, out.results):
                    save(key, r)
                bar.log(f"chunk {ci}/{len(chunks)}: {len(cj)} run(s) finished"
                        + (f" and saved to {sink.path}" if sink.store is not None else "")
                        + f" [{out.path}]")
        except KeyboardInterrupt:
            bar.close()
            raise CompareInterrupted(sink.saved, len(pending) - len(new), sink.path) from None
        bar.close()
        others = [j for j in jobs if j not in new and j not in old]        # trained by another process
        if others:
            old.update(sink.existing(others))
        skipped = len(jobs) - len(new) - len(failed)
        runs = [new.get(j) or old.get(j) for j in jobs]
        runs = [r for r in runs if r is not None]
    finally:
        torch.set_num_threads(threads_before)
        sink.close()

    if not paths:
        run_path, reason = "none", ("every task failed" if failed else "every run was already in the store")
    elif all(p == "vectorized" for p in paths):
        run_path, reason = "vectorized", reasons[0] + f"; {len(new)} model(s) in {len(paths)} chunk(s)"
    else:
        run_path = "sequential"
        reason = next(r for p, r in zip(paths, reasons) if p == "sequential")
    if spec.executor == "ray":
        reason += f"; Ray: {len(chunks)} task(s), {spec.threads or 1} thread(s) each"
    elif paths and dev.type == "cpu":
        reason += f"; {threads_note}"
    from .stats import summarize
    metric, hib = ("val_acc", True) if ds.task == "classification" else ("val_mse", False)
    bounds = (0.0, 1.0) if metric == "val_acc" else (0.0, math.inf)        # accuracy; MSE >= 0
    summary = summarize(runs, metric, higher_is_better=hib, target=target, bounds=bounds) if runs else []
    full_config = dict(config, config_hash=h, policies=policies, seeds=seeds, device=str(dev),
                       chunk=chunk, store=sink.path,
                       threads=n_threads if spec.executor == "local" else (spec.threads or 1),
                       workers=n_workers, executor=spec.executor, failed=failed,
                       seconds=round(time.perf_counter() - t_start, 3))
    result = CompareResult(config=full_config, runs=runs, summary=summary, path=run_path, path_reason=reason,
                           skipped=skipped)
    return result  # reports (a later layer) are written by the caller: initlab.reports.write_report
