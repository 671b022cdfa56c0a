"""MNIST-1D, generated locally with `mnist1d.data.make_dataset` (never downloaded).

The package's `get_dataset` may fetch a pickle from GitHub (requests.get); we call only
`make_dataset`, the pure generator, so no network call can happen.  Generation is
seeded by the `data_seed` option (42 = the package default, the data set of the paper),
while `seed` drives the validation split, subsampling and label noise, so a sweep over
seeds trains on the same samples with different noise/splits unless asked otherwise.

With the defaults (n_train=4000, n_test=1000, data_seed=42) the split is exactly the
package's own 4000/1000.  make_dataset already centres and scales all samples with one
scalar mean/std; we then standardize once more with the training part's scalar mean/std
(one pair, not per position, so the 1-D signal keeps its shape).
"""
from __future__ import annotations

import random
from functools import lru_cache

import numpy as np

from ..errors import InitError, bad_argument
from . import npz_cache, scaling
from .registry import Raw, Spec, register


@lru_cache(maxsize=4)
def _generate(n_total: int, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of n_total samples; cached in memory and on disk (paths.cache_dir()) because generating them
    costs seconds: importing mnist1d (~1 s, it imports matplotlib and scipy) plus ~4 s for 5000 samples,
    ~5 s for the 14 000 of the double-descent default, in every process (issue 16: fixed costs)."""
    path = _cache_path(n_total, data_seed)
    got = _read_cache(path, n_total) if path is not None else None
    if got is None:
        got = _make(n_total, data_seed)
        if path is not None:
            _write_cache(path, *got)
    x, y = got
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _cache_path(n_total: int, data_seed: int):
    """The cache file of (n_total, data_seed) for the installed mnist1d version, or None (no cache)."""
    from importlib import metadata
    from .paths import cache_dir
    try:
        folder, version = cache_dir(), metadata.version("mnist1d")
    except (metadata.PackageNotFoundError, InitError):
        return None
    if folder is None:
        return None
    return folder / f"mnist1d-v{version}-n{int(n_total)}-seed{int(data_seed)}.npz"


def _read_cache(path, n_total: int):
    """(x, y) from the cache file when it is there and well formed (plain arrays, read by npz_cache: a planted
    file cannot run code), else None (regenerate)."""
    got = npz_cache.read(path, ("x", "y"))
    if got is None:
        return None
    x, y = got["x"], got["y"]
    ok = (x.dtype.kind == "f" and x.ndim == 2 and x.shape == (n_total, 40) and y.shape == (n_total,)
          and y.dtype.kind in "iu" and np.isfinite(x).all() and y.min(initial=0) >= 0 and y.max(initial=0) <= 9)
    return (x, y) if ok else None


def _write_cache(path, x: np.ndarray, y: np.ndarray) -> None:
    """Written atomically by npz_cache (temp file, then rename); a cache that cannot be written is skipped."""
    npz_cache.write(path, {"x": x, "y": y})


def _make(n_total: int, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate with mnist1d's make_dataset (seeded; the caller's global RNGs are left as they were)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise InitError("load('mnist1d'): the mnist1d package is not installed; it generates the data. "
                        "Fix: pip install 'initlab[data]' (or mnist1d).") from None
    args = get_dataset_args()           # an ObjectView with the paper's transform settings
    per_class = -(-n_total // 10)       # make_dataset makes num_samples // 10 per class
    args.num_samples = per_class * 10
    args.train_split = 1.0              # we split ourselves below
    args.seed = int(data_seed)
    # make_dataset reseeds the *global* numpy and random generators; restore them so
    # loading data does not change the randomness of the caller's experiment.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.concatenate([d["x"], d["x_test"]])[:n_total]   # already shuffled by make_dataset
    y = np.concatenate([d["y"], d["y_test"]])[:n_total]
    return x, y


def _load(*, seed, data_dir, want_test, n_train, n_test, data_seed) -> Raw:
    where = "load('mnist1d')"
    for arg, v, lo in (("n_train", n_train, 10), ("n_test", n_test, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise bad_argument(where, arg, v, f"an integer >= {lo}", f"e.g. {arg}={4000 if arg == 'n_train' else 1000}")
    x, y = _generate(n_train + n_test, int(data_seed))
    return Raw(
        x_pool=x[:n_train], y_pool=y[:n_train].astype(np.int64),
        x_test=x[n_train:] if want_test and n_test else None,
        y_test=y[n_train:].astype(np.int64) if want_test and n_test else None,
        n_classes=10, input_shape=(40,), scaling=scaling.GLOBAL,
        info={"source": f"mnist1d.data.make_dataset (generated locally, data_seed={data_seed}, package transform defaults)",
              "test_split": f"last {n_test} of {n_train + n_test} generated samples (clean labels)"},
    )


register(Spec(
    name="mnist1d", task="classification", loader=_load,
    summary="MNIST-1D (Greydanus 2020): 40-point 1-D signals of 10 digit templates, generated offline; 4000 train + 1000 test",
    val_fraction=0.0,
    options={"n_train": 4000, "n_test": 1000, "data_seed": 42},
    option_help={"n_train": "generated training samples (before any val split / subsample)",
                 "n_test": "generated test samples",
                 "data_seed": "generator seed (42 = the package default data set)"},
))
