"""What a Ray task runs on its worker: one chunk of a sweep, through the same engine as the local path.

compare_chunk    (policy, seed) models built from the spec's model (zoo text, importable factory or pickled
                 module), initialized by initlab.init_, trained by engine.train_runs as ONE vectorized stack
dd_bucket        one width bucket of double descent: engine job from dd_sweep.bucket_job, trained by
                 engine.run_job (what the local shard loop runs for each job)

The worker loads the data set itself from its name and options (nothing large is pickled through the
driver) and keeps the last one loaded, so later chunks on the same worker process reuse it.  Only the
results (histories, small) go back; the driver stores them.

Fault injection (tests, drills): INITLAB_RAY_FAULT in the driver's environment travels with each task:
"raise:POLICY:SEED:FILE" makes every attempt of the chunk holding (POLICY, SEED) raise (one line appended to
FILE per attempt); "exit:POLICY:SEED:FILE" kills the worker process (os._exit) on the first attempt only
(FILE marks it).  POLICY is the run's store label (double descent: "policy@w=WIDTH").
"""
from __future__ import annotations

import os

import torch

FAULT_ENV = "INITLAB_RAY_FAULT"
_CACHE: dict = {}          # the last data set this worker process loaded: {key: TrainData}


def _fault(hook: str | None, labels) -> None:
    if not hook:
        return
    mode, policy, seed, path = hook.split(":", 3)
    if (policy, int(seed)) not in {(str(p), int(s)) for p, s in labels}:
        return
    if mode == "raise":
        with open(path, "a") as f:
            f.write("attempt\n")
        raise RuntimeError(f"injected failure ({FAULT_ENV}) for {policy} seed {seed}")
    if mode == "exit" and not os.path.exists(path):
        with open(path, "w") as f:
            f.write("killed\n")
        os._exit(1)


def _cached(key, load):
    if key not in _CACHE:
        _CACHE.clear()                 # one data set per worker: memory stays bounded
        _CACHE[key] = load()
    return _CACHE[key]


def _threads(spec) -> int:
    before = torch.get_num_threads()
    torch.set_num_threads(spec.threads or 1)
    return before


def _compare_data(spec, factory):
    from ...errors import InitError
    from ..compare_args import _dataset, _fingerprint, _prepare

    def load():
        ds, _, _ = _dataset(spec.data, spec.data_options)
        if spec.named_data and spec.data_fingerprint and _fingerprint(ds) != spec.data_fingerprint:
            raise InitError(f"initlab.compare: data={spec.data!r} with options {spec.data_options} loads other "
                            f"data on the Ray worker {os.uname().nodename} than on the driver. Fix: give every "
                            "machine the same data files and versions, or pass the Dataset itself")
        tdata, _ = _prepare(ds, factory(), spec.train.loss)
        return tdata
    key = ("compare", spec.data if spec.named_data else "", repr(sorted(spec.data_options.items())),
           spec.data_fingerprint, spec.train.loss, spec.model_name)
    return _cached(key, load)


def compare_chunk(spec, keys, hook=None):
    """Train the (policy, seed) `keys` of a compare sweep -> (RunResults in key order, path, path reason)."""
    _fault(hook, keys)
    from ..compare import build_models, example_inputs
    from ..compare_args import _model_factory
    from ..engine import train_runs
    before = _threads(spec)
    try:
        factory, _ = _model_factory(spec.model)
        tdata = _compare_data(spec, factory)
        models = build_models(factory, keys, example_inputs(tdata))
        out = train_runs(models, [s for _, s in keys], tdata, spec.train, path=spec.path, loss_kind=spec.train.loss,
                         workers=1)
        return out.results, out.path, out.reason
    finally:
        torch.set_num_threads(before)


def dd_bucket(spec, n, widths, seeds, policy, hook=None):
    """Train one double-descent bucket -> ({(width, seed): RunResult}, seconds)."""
    from .. import dd_sweep as eng
    from ..dd_data import _resolve_data
    from ..dd_runs import run_label
    _fault(hook, [(run_label(policy, w), s) for s in seeds for w in widths])
    from ..engine import run_job
    before = _threads(spec)
    try:
        def load():
            _, get = _resolve_data(spec.data, **spec.data_options)
            return eng.dd_train_data(get(n)[:4])
        key = ("dd", spec.data_fingerprint, repr(sorted(spec.data_options.items())), n)
        tdata = _cached(key, load)
        job, pairs = eng.bucket_job(eng.Bucket(list(widths), list(seeds)), tdata, spec.train, policy)
        res = run_job(job)
        return dict(zip(pairs, res)), (res[0].seconds * len(res) if res else 0.0)   # as dd_sweep.train_buckets
    finally:
        torch.set_num_threads(before)
