"""Small data sets that ship inside scikit-learn (no files, no network): digits, breast-cancer, diabetes.

Read from the files scikit-learn ships, found without importing scikit-learn (its import costs
1-2.5 s, far more than the read), the same arrays its load_* functions return (tested).

They have no official test set, so we cut one (default 20 %, stratified for
classification) with the `test_seed` option, which defaults to 0 and is independent of
`seed`: every seed of a comparison is scored on the same test rows, as with an official
split, while `seed` moves the validation split and subsamples.
"""
from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np

from ..errors import InitError, bad_argument, unknown_choice
from . import npz_cache, scaling
from .registry import Raw, Spec, register
from .splits import choose, rng


def _sk():
    try:
        import sklearn.datasets as skd
    except ImportError:  # pragma: no cover
        raise InitError("load(...): scikit-learn is not installed; it ships the digits, breast-cancer and "
                        "diabetes data. Fix: pip install 'initlab[data]' (or scikit-learn).") from None
    return skd


def _shipped_file(name: str):
    """Path of a data file scikit-learn ships (sklearn/datasets/data/NAME), found without importing
    scikit-learn (its import costs 1-2.5 s, more than reading the file), or None when it is not there."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(folder, "datasets", "data", name)
        if os.path.isfile(path):
            return path
    return None


def _digits_arrays():
    """(images 1797 x 64 float64, labels int64): the same arrays as sklearn.datasets.load_digits(), read
    from the digits.csv.gz it ships (64 pixel columns, then the label), as load_digits reads it."""
    path = _shipped_file("digits.csv.gz")
    if path is None:                       # an unusual scikit-learn layout: let it read its own file
        d = _sk().load_digits()
        return d.data.astype(np.float64), d.target.astype(np.int64)
    table = _shipped_table(path, 65)
    return table[:, :-1].astype(np.float64), table[:, -1].astype(np.int64)


def _shipped_table(path: str, columns: int) -> np.ndarray:
    """The float64 table of a shipped .csv.gz, cached as .npz (npz_cache.py) under the file's name, size and
    modification time: parsing the text costs ~20-40 ms per process, reading the cached array ~1 ms."""
    st = os.stat(path)
    name = f"sklearn-{os.path.basename(path).split('.')[0]}-{st.st_size}-{st.st_mtime_ns}.npz"

    def make():
        with gzip.open(path, "rt") as f:
            return {"table": np.loadtxt(f, delimiter=",")}

    def check(a):
        t = a["table"]
        return t.dtype == np.float64 and t.ndim == 2 and t.shape[1] == columns and bool(np.isfinite(t).all())
    return npz_cache.cached(name, ["table"], check, make)["table"]


def _breast_cancer_arrays():
    """(features 569 x 30 float64, labels int64, class names) as load_breast_cancer() gives them, from the
    breast_cancer.csv it ships: a header "569,30,malignant,benign", then 30 features and the label per row."""
    path = _shipped_file("breast_cancer.csv")
    if path is None:
        d = _sk().load_breast_cancer()
        return d.data, d.target.astype(np.int64), list(d.target_names)
    with open(path, encoding="utf-8") as f:
        names = f.readline().strip().split(",")[2:]
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64), names


def _diabetes_arrays():
    """(features 442 x 10, target 442) as load_diabetes(scaled=False) gives them, from the two files it ships."""
    data, target = _shipped_file("diabetes_data_raw.csv.gz"), _shipped_file("diabetes_target.csv.gz")
    if data is None or target is None:
        d = _sk().load_diabetes(scaled=False)
        return d.data, d.target
    return np.loadtxt(data), np.loadtxt(target)


def _split_test(name, x, y, stratify, test_fraction, test_seed, want_test, info):
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise bad_argument(f"load({name!r})", "test_fraction", test_fraction, "a float in (0, 1)", "e.g. test_fraction=0.2")
    k = int(round(test_fraction * len(y)))
    test_idx, pool_idx = choose(len(y), k, rng(test_seed, "test"), y if stratify else None)
    info["test_split"] = (f"{k} of {len(y)} rows ({test_fraction:.0%}, {'stratified, ' if stratify else ''}"
                          f"test_seed={test_seed}; fixed across seeds)")
    return (x[pool_idx], y[pool_idx],
            x[test_idx] if want_test else None, y[test_idx] if want_test else None)


def _digits(*, seed, data_dir, want_test, test_fraction, test_seed, pixel_scaling) -> Raw:
    x, target = _digits_arrays()
    if pixel_scaling == "unit":
        x = x / 16.0  # pixel values are 0..16 by construction: a fixed scale, nothing to fit
    elif pixel_scaling != "standardize":
        raise unknown_choice("load('digits')", "pixel_scaling", pixel_scaling, ("unit", "standardize"))
    info = {"source": "sklearn.datasets.load_digits (bundled; UCI optdigits test part, 1797 images 8x8)",
            "pixels": "0..16 / 16 -> [0, 1]" if pixel_scaling == "unit" else "standardized per pixel on train"}
    xp, yp, xt, yt = _split_test("digits", x, target, True, test_fraction, test_seed, want_test, info)
    return Raw(xp, yp, xt, yt, n_classes=10, input_shape=(64,),
               scaling=scaling.NONE if pixel_scaling == "unit" else scaling.FEATURE, info=info)


def _breast_cancer(*, seed, data_dir, want_test, test_fraction, test_seed) -> Raw:
    x, target, names = _breast_cancer_arrays()
    info = {"source": "sklearn.datasets.load_breast_cancer (bundled; Wisconsin diagnostic, 569 rows, 30 features)",
            "classes": names}
    xp, yp, xt, yt = _split_test("breast-cancer", x, target, True, test_fraction,
                                 test_seed, want_test, info)
    # features span 1e-3 .. 1e3, so per-feature standardization is needed
    return Raw(xp, yp, xt, yt, n_classes=2, input_shape=(30,), scaling=scaling.FEATURE, info=info)


def _diabetes(*, seed, data_dir, want_test, test_fraction, test_seed, standardize_target) -> Raw:
    # scaled=False: the raw features; sklearn's default pre-scaling uses all 442 rows (test included)
    x, target = _diabetes_arrays()
    info = {"source": "sklearn.datasets.load_diabetes(scaled=False) (bundled; Efron et al. 2004, 442 rows, 10 features)",
            "target": "disease progression after one year (25..346)"}
    xp, yp, xt, yt = _split_test("diabetes", x, target.reshape(-1, 1), False, test_fraction,
                                 test_seed, want_test, info)
    return Raw(xp, yp, xt, yt, n_classes=None, input_shape=(10,), scaling=scaling.FEATURE,
               standardize_target=bool(standardize_target), info=info)


_TEST = {"test_fraction": 0.2, "test_seed": 0}
_TEST_HELP = {"test_fraction": "share of rows held out as the test set (0.2)",
              "test_seed": "seed of the test split (fixed across `seed`s; default 0)"}

register(Spec("digits", "classification", _digits,
              "scikit-learn digits: 1797 8x8 images -> 64 features in [0, 1], 10 classes",
              0.2, {**_TEST, "pixel_scaling": "unit"},
              {**_TEST_HELP, "pixel_scaling": "'unit': /16 -> [0, 1]; 'standardize': per pixel with train statistics"}))
register(Spec("breast-cancer", "classification", _breast_cancer,
              "scikit-learn breast cancer (Wisconsin): 569 rows, 30 features standardized on train, 2 classes",
              0.2, dict(_TEST), dict(_TEST_HELP)))
register(Spec("diabetes", "regression", _diabetes,
              "scikit-learn diabetes: 442 rows, 10 features standardized on train; target standardized by default",
              0.2, {**_TEST, "standardize_target": True},
              {**_TEST_HELP, "standardize_target": "standardize y with train mean/std (raw y is 25..346, which "
                                                   "would make MSE values of order 1e4)"}))
