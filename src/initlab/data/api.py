"""`load` and `list_datasets`: one pipeline applied the same way to every data set.

Order matters and is fixed: loader (raw pool + test) -> validation split -> subsample
-> label noise -> scaling fitted on the final training part -> float32/int64 tensors.
Validation and test labels are never noised (they measure the clean task), and
every random step has its own stream (see splits.py).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..errors import InitError, bad_argument, unknown_choice
from . import registry, scaling
from .dataset import CLASSIFICATION, REGRESSION, Dataset
from .splits import add_label_noise, choose, rng

# importing the loader modules registers them in the registry (each calls registry.register)
from . import fashion_mnist, housing, mnist1d_gen, bundled, synthetic  # noqa: E402,F401

ALIASES = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "housing": "california-housing",
           "california": "california-housing", "mnist-1d": "mnist1d"}
COMMON_OPTIONS = {"label_noise": 0.0}   # accepted by every classification set
WHERE = "initlab.data.load"


def list_datasets(*, details: bool = False):
    """Names of the data sets (sorted); details=True gives one dict per set (task, summary, defaults, options)."""
    if not details:
        return registry.names()
    rows = []
    for name in registry.names():
        s = registry.get(name)
        opts = dict(s.options)
        helps = dict(s.option_help)
        if s.task == CLASSIFICATION:
            opts.update(COMMON_OPTIONS)
            helps["label_noise"] = "fraction of training labels replaced by a random wrong label (seeded)"
        rows.append({"name": name, "task": s.task, "summary": s.summary, "val_fraction": s.val_fraction,
                     "options": opts, "option_help": helps, "files": s.files})
    return rows


def _resolve(name) -> registry.Spec:
    if not isinstance(name, str):
        raise bad_argument(WHERE, "name", name, "a data set name (str)", "see initlab.data.list_datasets()")
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    spec = registry.get(key)
    if spec is None:
        raise unknown_choice(WHERE, "name", name, registry.names(), "see initlab.data.list_datasets().")
    return spec


def _check_args(spec, seed, subsample, val_fraction, test, options) -> tuple[float, dict]:
    where = f"{WHERE}({spec.name!r})"
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise bad_argument(where, "seed", seed, "a non-negative integer", "e.g. seed=0")
    if subsample is not None and (isinstance(subsample, bool) or not isinstance(subsample, (int, np.integer))
                                  or subsample < 1):
        raise bad_argument(where, "subsample", subsample, "None or a positive integer (training samples to keep)",
                           "e.g. subsample=1000")
    if val_fraction is None:
        val_fraction = spec.val_fraction
    if (isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float))
            or not math.isfinite(val_fraction) or not 0.0 <= val_fraction < 1.0):
        raise bad_argument(where, "val_fraction", val_fraction, "None (the data set's default) or a number in [0, 1)",
                           "e.g. val_fraction=0.2, or 0 for no validation split")
    if not isinstance(test, bool):
        raise bad_argument(where, "test", test, "True or False", "test=False skips loading the test set")
    allowed = dict(spec.options)
    if spec.task == CLASSIFICATION:
        allowed.update(COMMON_OPTIONS)
    for k in options:
        if k not in allowed:
            raise unknown_choice(where, "option", k, sorted(allowed) or ["(none)"],
                                 f"options of {spec.name!r} are listed by initlab.data.list_datasets(details=True).")
    opts = {**allowed, **options}
    if spec.task == CLASSIFICATION:
        ln = opts["label_noise"]
        if isinstance(ln, bool) or not isinstance(ln, (int, float)) or not math.isfinite(ln) or not 0.0 <= ln < 1.0:
            raise bad_argument(where, "label_noise", ln, "a fraction in [0, 1)", "e.g. label_noise=0.2 (20 % wrong labels)")
    return float(val_fraction), opts


def load(name: str, *, seed: int = 0, subsample: int | None = None, data_dir=None,
         val_fraction: float | None = None, test: bool = True, **options) -> Dataset:
    """Load a data set as in-memory tensors, split and scaled reproducibly.

    name          one of list_datasets() (case and '_' vs '-' do not matter)
    seed          drives the validation split, subsampling and label noise (same seed, same data)
    subsample     keep this many training samples (stratified for classification) for quick runs
    data_dir      where the files are (fashion-mnist: IDX folder or torchvision root;
                  california-housing: scikit-learn data home); None = the documented defaults
    val_fraction  share of the training pool held out for validation; None = the set's default
                  (0.2 for fashion-mnist, digits, breast-cancer, diabetes; 0 where a tutorial's
                  sizes are reproduced: california-housing, mnist1d, points2d, logistic1d)
    test          False skips the test set (x_test/y_test are None)
    **options     per-set options, e.g. features=[...] (housing), n_train=/label_noise= (mnist1d);
                  see list_datasets(details=True)
    """
    t0 = time.perf_counter()
    spec = _resolve(name)
    seed = int(seed) if isinstance(seed, np.integer) else seed
    val_fraction, opts = _check_args(spec, seed, subsample, val_fraction, test, options)
    where = f"{WHERE}({spec.name!r})"
    label_noise = float(opts.pop("label_noise", 0.0))
    raw = spec.loader(seed=seed, data_dir=data_dir, want_test=test, **opts)
    classify = spec.task == CLASSIFICATION
    strat = raw.y_pool if classify else None

    # 1. validation split from the training pool
    n_pool = len(raw.y_pool)
    x_tr, y_tr, x_va, y_va = raw.x_pool, raw.y_pool, None, None
    split_note = "none"
    if val_fraction > 0:
        k = int(round(val_fraction * n_pool))
        if k < 1 or k >= n_pool:
            raise bad_argument(where, "val_fraction", val_fraction,
                               f"a fraction leaving at least one sample on each side of {n_pool} training samples",
                               "use a larger data set or val_fraction=0")
        va_idx, tr_idx = choose(n_pool, k, rng(seed, "val"), strat)
        x_tr, y_tr, x_va, y_va = raw.x_pool[tr_idx], raw.y_pool[tr_idx], raw.x_pool[va_idx], raw.y_pool[va_idx]
        split_note = f"{k} of {n_pool} ({val_fraction:.0%}) {'stratified' if classify else 'random'}, seed={seed}"

    # 2. subsample the training part (after the split, so val does not depend on subsample)
    sub_note = "none"
    if subsample is not None:
        if subsample > len(y_tr):
            raise bad_argument(where, "subsample", subsample, f"at most {len(y_tr)} (the training samples available)",
                               f"use subsample<={len(y_tr)} or None for all")
        if subsample < len(y_tr):
            keep, _ = choose(len(y_tr), subsample, rng(seed, "subsample"), y_tr if classify else None)
            x_tr, y_tr = x_tr[keep], y_tr[keep]
            sub_note = f"{subsample} of {n_pool - (0 if x_va is None else len(y_va))} " \
                       f"({'stratified' if classify else 'random'}, seed={seed})"

    # 3. label noise: training labels only, a random *wrong* class for exactly round(p*N) samples
    noise_info = None
    if classify and label_noise > 0:
        y_tr, flipped = add_label_noise(y_tr, label_noise, raw.n_classes, rng(seed, "label_noise"))
        noise_info = {"fraction": label_noise, "n_flipped": int(len(flipped)),
                      "flipped_index": [int(i) for i in flipped],
                      "how": "uniformly random wrong label, training set only, drawn once (seeded)"}

    # 4. a fixed scale first (pixels / 255), then scaling fitted on the final training inputs
    x_te = raw.x_test
    if raw.divide_by is not None:
        d = np.float32(raw.divide_by)
        x_tr, x_va, x_te = (None if a is None else a.astype(np.float32) / d for a in (x_tr, x_va, x_te))
    stats = scaling.fit(x_tr, raw.scaling)
    x_tr, x_va, x_te = scaling.apply(x_tr, stats), scaling.apply(x_va, stats), scaling.apply(x_te, stats)
    y_te = raw.y_test
    target_info = None
    if not classify and raw.standardize_target:
        ystats = scaling.fit(y_tr, scaling.FEATURE)
        y_tr, y_va, y_te = scaling.apply(y_tr, ystats), scaling.apply(y_va, ystats), scaling.apply(y_te, ystats)
        target_info = scaling.describe(ystats, "train")
        target_info["undo"] = "y_original = y * std + mean"

    # 5. tensors
    shape = tuple(raw.input_shape)

    def own(a, dtype):  # a tensor that owns writable memory (cached loader arrays are read-only)
        a = np.ascontiguousarray(a, dtype=dtype)
        return torch.from_numpy(a if a.flags.writeable else a.copy())

    def tx(a):
        return None if a is None else own(a, np.float32).reshape((len(a),) + shape)

    def ty(a):
        if a is None:
            return None
        return own(a, np.int64).reshape(-1) if classify else own(a, np.float32).reshape(-1, 1)

    ds = Dataset(name=spec.name, task=spec.task, x_train=tx(x_tr), y_train=ty(y_tr), x_val=tx(x_va), y_val=ty(y_va),
                 x_test=tx(x_te), y_test=ty(y_te), n_classes=raw.n_classes if classify else None,
                 input_shape=shape, info={})
    info = dict(raw.info)
    info.update({
        "name": spec.name, "task": spec.task, "seed": seed,
        "sizes": {"train": ds.n_train, "val": ds.n_val, "test": ds.n_test, "pool": n_pool},
        "val_split": split_note, "subsample": sub_note,
        "scaling": scaling.describe(stats, "train"),
        "options": {k: v for k, v in {**opts, **({"label_noise": label_noise} if classify else {})}.items()},
        "load_seconds": round(time.perf_counter() - t0, 3),
    })
    if not test:
        info["test_split"] = "not loaded (test=False)"
    if noise_info:
        info["label_noise"] = noise_info
    if target_info:
        info["target_scaling"] = target_info
    ds.info = info
    return ds


__all__ = ["load", "list_datasets", "Dataset", "InitError", "CLASSIFICATION", "REGRESSION"]
