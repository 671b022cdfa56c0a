"""One validated description of a sweep: WHAT to train (model, data, policies, seeds, training settings)
and WHERE (the executor).  compare() and double_descent() validate their keyword arguments here once and
build one `SweepSpec`; the local path reads it in this process, the Ray executor ships it to the workers.

    spec = check_compare(model, data, policies, seeds=3, epochs=2, lr=0.05, batch_size=100)   # InitError when bad
    spec = dataclasses.replace(spec, train=cfg)          # once the data has fixed the loss

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
    """What a sweep trains and where (see the module docstring).  Built by `check_compare` / `dd_spec`."""
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
                  where="initlab.compare") -> SweepSpec:
    """compare()'s arguments checked in one place (the messages compare always gave); returns the spec
    without its TrainConfig, which needs the data (the loss follows the task)."""
    from .compare_args import _chunks, _policies
    from .engine import OPTIMIZERS, PATHS
    from .seeds_arg import parse_seeds
    if optimizer not in OPTIMIZERS:
        raise unknown_choice(where, "optimizer", optimizer, OPTIMIZERS, "e.g. --optimizer sgd or --optimizer adam")
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


def dd_spec(*, data, data_options: dict, policies, seeds, widths, train, threads, workers, executor, address,
            max_retries=DEFAULT_RETRIES, where="initlab.double_descent") -> SweepSpec:
    """double_descent()'s sweep (its arguments were checked by double_descent; this adds the executor's)."""
    check_executor(where, executor, address, workers=workers, max_retries=max_retries)
    return SweepSpec(study="double-descent", model="mlp in-h-h-out relu", model_name="mlp in-h-h-out relu",
                     data=data, data_options=dict(data_options), policies=tuple(policies), seeds=tuple(seeds),
                     widths=tuple(widths), train=train, threads=threads, workers=workers, executor=executor,
                     address=address, max_retries=max_retries)


__all__ = ["SweepSpec", "EXECUTORS", "DEFAULT_RETRIES", "MAX_RETRIES", "ray_installed", "check_executor", "check_compare", "dd_spec"]
