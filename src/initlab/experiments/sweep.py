"""One validated description of a sweep: WHAT to train (model, data, policies, seeds, training settings)
and WHERE (the executor).  compare() and double_descent() validate their keyword arguments here once
(`check_compare`, `check_double_descent`) and build one `SweepSpec`; the local path reads it in this
process, the Ray executor ships it to the workers.

    spec = check_compare(model, data, policies, seeds=3, epochs=2, lr=0.05, batch_size=100)   # InitError when bad
    spec = dataclasses.replace(spec, train=cfg)          # once the data has fixed the loss
    spec = check_double_descent("width", widths=[8, 16], ...)   # double descent's recipe fixes the loss: complete

What travels to a worker (experiments/executors/):
* the model as given: a zoo spec string ('mlp:64-128-10', 'seed004', 'file.py:factory', 'pkg.mod:factory'),
  rebuilt from its text on the worker, or an nn.Module / factory, pickled (by value when not importable);
* the data set by name and options: each worker loads it itself; a pre-loaded Dataset or tensor tuple
  travels inside the spec, which the Ray executor puts in the object store once;
* the TrainConfig, the seeds and the policies.

The executor is NOT part of a run's identity: the config hash of the store never sees it, so a local
rerun reuses runs trained on Ray and vice versa.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import bad_argument, unknown_choice

EXECUTORS = ("local", "ray")
DEFAULT_RETRIES = 2          # a failed Ray task runs at most 1 + 2 times before its runs are reported failed
MAX_RETRIES = 100            # beyond this a task that always fails only burns the cluster's time
DTYPE_NAMES = ("float32", "float64")


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains and where (see the module docstring).  Built by `check_compare` /
    `check_double_descent`."""
    study: str                               # "compare" | "double-descent"
    model: object                            # zoo spec / importable "file.py:factory" / nn.Module / factory
    model_name: str                          # the model as the store's config names it
    data: object                             # data set name, or the pre-loaded data (Dataset, tensor tuple)
    data_options: dict = field(default_factory=dict)
    policies: tuple = ()
    seeds: tuple = ()
    widths: tuple = ()                       # double descent only
    train: object = None                     # engine TrainConfig (set once the data fixed the loss)
    path: str = "auto"
    chunk: int | None = None                 # models per chunk (None: all, or one chunk per Ray CPU)
    threads: int | None = None               # torch threads per process / per Ray task
    workers: int | None = None               # local worker processes (None = auto)
    executor: str = "local"
    address: str | None = None               # Ray cluster address (None: start a local Ray)
    max_retries: int = DEFAULT_RETRIES
    data_fingerprint: str = ""               # the driver's data digest; a worker that loads other data refuses
    options: dict = field(default_factory=dict)   # the study's own settings (double descent: axis, samples, ...)

    @property
    def named_data(self) -> bool:
        return isinstance(self.data, str)


def ray_installed() -> bool:
    """Whether `import ray` can work, without importing it (Ray takes ~1 s to import)."""
    import importlib.util
    import sys
    if "ray" in sys.modules:
        return sys.modules["ray"] is not None
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def check_executor(where: str, executor, address, *, workers=None, max_retries=DEFAULT_RETRIES) -> None:
    """executor in EXECUTORS; address only with executor='ray'; local worker processes not with Ray."""
    if executor not in EXECUTORS:
        raise unknown_choice(where, "executor", executor, EXECUTORS,
                             "executor='local' trains in this process (and its worker processes), 'ray' on Ray")
    if address is not None:
        if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address):
            raise bad_argument(where, "address", address, "None or a Ray address such as 'auto', "
                               "'192.168.0.10:6379' or 'ray://head:10001'", "e.g. --address auto")
        if executor != "ray":
            raise bad_argument(where, "address", address, "None with executor='local' (an address is where Ray "
                               "runs)", "add executor='ray' (CLI --executor ray), or drop the address")
    if executor == "ray" and isinstance(workers, int) and workers > 1:
        raise bad_argument(where, "workers", workers, "None or 1 with executor='ray' (each Ray task is one "
                           "process; Ray spreads the chunks over its workers)",
                           "drop workers (CLI --workers), or use executor='local'")
    if executor == "ray" and not ray_installed():
        raise bad_argument(where, "executor", executor, "an installed Ray for executor='ray' (the optional extra "
                           "initlab[ray])", "pip install 'initlab[ray]' (or 'ray>=2.40,<3'), or use executor='local'")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= MAX_RETRIES:
        raise bad_argument(where, "max_retries", max_retries, f"an int from 0 to {MAX_RETRIES} (how often a failed "
                           "Ray task is run again before its runs are reported failed)",
                           f"e.g. max_retries={DEFAULT_RETRIES} (CLI --max-retries {DEFAULT_RETRIES})")


def check_compare(model, data, policies, *, seeds, optimizer, path, dtype, threads, workers, target, chunk,
                  executor="local", address=None, data_options=None, max_retries=DEFAULT_RETRIES,
                  lr_schedule="constant", where="initlab.compare") -> SweepSpec:
    """compare()'s arguments checked in one place (the messages compare always gave); returns the spec
    without its TrainConfig, which needs the data (the loss follows the task)."""
    from .compare_args import _chunks, _policies
    from .engine import OPTIMIZERS, PATHS
    from .engine.schedule import LR_SCHEDULES
    from .seeds_arg import parse_seeds
    if optimizer not in OPTIMIZERS:
        raise unknown_choice(where, "optimizer", optimizer, OPTIMIZERS, "e.g. --optimizer sgd or --optimizer adam")
    if lr_schedule not in LR_SCHEDULES:
        raise unknown_choice(where, "lr_schedule", lr_schedule, LR_SCHEDULES, "e.g. --lr-schedule cosine")
    if path not in PATHS:
        raise unknown_choice(where, "path", path, PATHS)
    if dtype not in DTYPE_NAMES:
        raise unknown_choice(where, "dtype", dtype, list(DTYPE_NAMES))
    if threads not in (None, "auto") and not (isinstance(threads, int) and threads >= 1):
        raise bad_argument(where, "threads", threads, "a positive int, 'auto' or None", "e.g. threads=2")
    if workers not in (None, "auto") and not (isinstance(workers, int) and not isinstance(workers, bool)
                                              and workers >= 1):
        raise bad_argument(where, "workers", workers, "a positive int, 'auto' or None", "e.g. workers=2")
    if isinstance(workers, int) and workers > 1 and isinstance(threads, int) and threads > 1:
        raise bad_argument(where, "threads", threads, "1 (or 'auto') when workers > 1",
                           f"each of the {workers} worker processes runs one thread: pass threads=1, or workers=1 "
                           f"to train in one process with {threads} threads")
    if target is not None and not (isinstance(target, (int, float)) and math.isfinite(target)):
        raise bad_argument(where, "target", target, "a finite number or None", "e.g. target=0.8")
    check_executor(where, executor, address, workers=workers, max_retries=max_retries)
    _chunks([], chunk)                           # validates chunk (a positive int or None)
    if data_options is not None and not isinstance(data_options, dict):
        raise bad_argument(where, "data_options", data_options, "None or a dict of loader options",
                           "e.g. data_options={'subsample': 500}")
    return SweepSpec(study="compare", model=model, model_name="", data=data, data_options=dict(data_options or {}),
                     policies=tuple(_policies(policies)), seeds=tuple(parse_seeds(seeds, where)), path=path,
                     chunk=chunk, threads=threads if isinstance(threads, int) else None,
                     workers=workers if isinstance(workers, int) else None, executor=executor, address=address,
                     max_retries=max_retries)


def check_double_descent(axis, *, data, noise, widths, epochs, seeds, policy, compare, samples, n_train, n_test,
                         batch_size, lr, data_seed, data_dir, threads, tol, min_rise, eval_points, final_only,
                         workers, executor, address, max_retries=DEFAULT_RETRIES,
                         where="initlab.double_descent") -> SweepSpec:
    """double_descent()'s arguments checked in one place, before any data is loaded -> the spec of its sweeps.

    Defaults are filled in (widths, samples, epochs; workers=1 when threads is given), policies hold the policy
    and the `compare` policy (torch's own init under either spelling is 'torch-default', the label its stores
    have always used), `train` is the recipe's TrainConfig, `data` a named set's key or the pre-loaded tensors,
    `data_fingerprint` the data's name in the store's config, `options` {axis, samples, final_only,
    eval_points, tol, min_rise}."""
    import numpy as np
    import torch

    from ..errors import check_finite
    from ..policy.api import canonical_name
    from . import dd_sweep as eng
    from .dd_data import (AXES, DEFAULT_EPOCHS, DEFAULT_SAMPLE_WIDTHS, DEFAULT_SAMPLES, DEFAULT_WIDTHS,
                          _check_int_list, resolve_data)
    from .seeds_arg import parse_seeds

    def positive_int(arg, v, example):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise bad_argument(where, arg, v, "a positive integer", f"e.g. {arg}={example}")
        return int(v)

    if axis not in AXES:
        raise unknown_choice(where, "axis", axis, AXES, "e.g. axis='width'")
    check_finite(where, noise=noise, lr=lr, tol=tol, min_rise=min_rise)
    if not 0.0 <= noise < 1.0:
        raise bad_argument(where, "noise", noise, "a fraction in [0, 1)", "e.g. noise=0.15")
    if lr <= 0:
        raise bad_argument(where, "lr", lr, "a positive learning rate", "e.g. lr=1e-3")
    epochs = positive_int("epochs", DEFAULT_EPOCHS if epochs is None else epochs, 1000)
    batch_size, n_train, n_test, eval_points = (positive_int(arg, v, 128) for arg, v in (
        ("batch_size", batch_size), ("n_train", n_train), ("n_test", n_test), ("eval_points", eval_points)))
    if isinstance(data_seed, bool) or not isinstance(data_seed, (int, np.integer)):
        raise bad_argument(where, "data_seed", data_seed, "an integer (the seed of the data and its label noise)",
                           "e.g. data_seed=0")
    if not isinstance(policy, str) or not policy:
        raise bad_argument(where, "policy", policy, "an init policy name", "e.g. policy='torch-default'")
    legacy = lambda p: "torch-default" if isinstance(p, str) and canonical_name(p) == "torch_default" else p  # noqa: E731
    policy, compare = legacy(policy), legacy(compare)
    if compare is not None and (not isinstance(compare, str) or compare == policy):
        raise bad_argument(where, "compare", compare, f"a second policy name, different from policy={policy!r}",
                           "e.g. compare='xavier_uniform'")
    policies = [policy] + ([compare] if compare else [])
    for p in policies:
        if p != "torch-default":        # fail now, not after loading data: unknown names, bad presets
            eng.make_narrow(3, 2, 2, 0, p, example_inputs=torch.randn(16, 3))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise bad_argument(where, "threads", threads, "None or a positive integer", "e.g. threads=2")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise bad_argument(where, "workers", workers, "None (auto) or a positive integer", "e.g. workers=2")
    if final_only and axis == "epochs":
        raise bad_argument(where, "final_only", final_only, "False with axis='epochs' (the epoch-wise map needs "
                           "the errors at every measured epoch)", "drop final_only (CLI --final-only)")
    if workers is None and threads is not None:
        workers = 1
    if widths is None:
        widths = DEFAULT_SAMPLE_WIDTHS if axis == "samples" else DEFAULT_WIDTHS
    widths = _check_int_list("widths", widths, 1, "[8, 16, 32, 64]", where)
    seeds = parse_seeds(seeds, where, sort=True, nonneg=True)
    if axis == "samples":
        samples = _check_int_list("samples", DEFAULT_SAMPLES if samples is None else samples, 10,
                                  "[500, 1000, 2000, 4000]", where)
        if isinstance(data, str) and max(samples) > n_train:
            raise bad_argument(where, "samples", samples, f"sizes <= n_train={n_train}",
                               f"raise n_train or drop sizes above {n_train}")
    elif samples is not None:
        raise bad_argument(where, "samples", samples, "None unless axis='samples'", "use axis='samples'")
    data_name, data = resolve_data(data, where)
    if axis == "samples" and not isinstance(data, str) and max(samples) > len(data[1]):
        raise bad_argument(where, "samples", samples, f"sizes <= {len(data[1])} (the training samples given)",
                           f"drop sizes above {len(data[1])}, or pass more training samples")
    schedule = [epochs] if final_only else eng.eval_epochs(epochs, eval_points)
    check_executor(where, executor, address, workers=workers, max_retries=max_retries)
    return SweepSpec(study="double-descent", model="mlp in-h-h-out relu", model_name="mlp in-h-h-out relu",
                     data=data, data_options=dict(noise=noise, n_train=n_train, n_test=n_test, data_seed=data_seed,
                                                  data_dir=data_dir),
                     policies=tuple(policies), seeds=tuple(seeds), widths=tuple(widths),
                     train=eng.dd_config(epochs, batch_size, lr, schedule), threads=threads, workers=workers,
                     executor=executor, address=address, max_retries=max_retries, data_fingerprint=data_name,
                     options=dict(axis=axis, samples=samples, final_only=bool(final_only),
                                  eval_points=int(eval_points), tol=float(tol), min_rise=float(min_rise)))


__all__ = ["SweepSpec", "EXECUTORS", "DEFAULT_RETRIES", "MAX_RETRIES", "ray_installed", "check_executor", "check_compare",
           "check_double_descent"]
