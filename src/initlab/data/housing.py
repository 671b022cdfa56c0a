"""California housing (seed 003's regression set) from scikit-learn's offline cache file.

Only the cached `cal_housing_py3.pkz` is read (download_if_missing=False): initlab
never reaches the network.  The default reproduces seed 003: an 80/20 train/test
split with random_state=5 (16512 / 4128 rows), features standardized with statistics
of the training part, target left in units of $100,000 (mean about 2.07, std 1.15,
already O(1), so MSE values compare with the tutorial's).
"""
from __future__ import annotations

import os


from ..errors import InitError, bad_argument, unknown_choice
from . import scaling
from .paths import ENV_DATA_HOME, sklearn_data_home
from .registry import Raw, Spec, register

FEATURES = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude")
CACHE_FILE = "cal_housing_py3.pkz"


def _fetch(data_dir):
    try:
        from sklearn.datasets import fetch_california_housing
    except ImportError:  # pragma: no cover - scikit-learn is in the [data] extra
        raise InitError("load('california-housing'): scikit-learn is not installed; it reads the cached "
                        "data file. Fix: pip install 'initlab[data]' (or scikit-learn).") from None
    home, tried = sklearn_data_home(data_dir)   # never relative to the working directory (paths.py)
    # check first: scikit-learn would create missing folders as a side effect of failing
    if not os.path.isfile(os.path.join(home, CACHE_FILE)):
        raise InitError(
            f"load('california-housing'): data_dir={None if data_dir is None else str(data_dir)!r}: no "
            f"{CACHE_FILE} found; looked in: {', '.join(tried)}. Expected the scikit-learn cache file "
            f"{CACHE_FILE}. Fix: pass data_dir= (or set ${ENV_DATA_HOME}) to the folder holding it "
            "(this project keeps one in ../shared/data/scikit_learn_data), or, on a machine with network, "
            "run `python -c \"from sklearn.datasets import fetch_california_housing as f; "
            "f(data_home='DIR')\"` once and copy DIR here.")
    try:
        bunch = fetch_california_housing(data_home=home, download_if_missing=False)
    except Exception as e:  # present but unreadable (truncated, not a joblib pickle, ...)
        raise InitError(f"load('california-housing'): {os.path.join(home, CACHE_FILE)!r} could not be read ({e}); "
                        "expected scikit-learn's cache file. Fix: replace it with a good copy "
                        "(e.g. from ../shared/data/scikit_learn_data).") from None
    return bunch, home


def _load(*, seed, data_dir, want_test, features, random_state, test_fraction, standardize_target) -> Raw:
    from sklearn.model_selection import train_test_split

    where = "load('california-housing')"
    if features is None:
        features = list(FEATURES)
    if isinstance(features, str):
        features = [features]
    if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
        raise bad_argument(where, "features", features, "a list of column names",
                           "e.g. features=['AveRooms', 'AveOccup'] as in seed 003")
    features = list(features)
    if len(set(features)) != len(features):
        raise bad_argument(where, "features", features, "each column once", "remove the repeated names")
    if not features:
        raise bad_argument(where, "features", features, "a non-empty list of column names",
                           "e.g. features=['AveRooms', 'AveOccup'] as in seed 003")
    for f in features:
        if f not in FEATURES:
            raise unknown_choice(where, "features", f, FEATURES)
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise bad_argument(where, "test_fraction", test_fraction, "a float in (0, 1)", "e.g. test_fraction=0.2")

    bunch, home = _fetch(data_dir)
    names = list(bunch.feature_names)
    x = bunch.data[:, [names.index(f) for f in features]]
    y = bunch.target.reshape(-1, 1)
    # the same call as seed 003, so the default split is row-for-row the tutorial's
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=random_state)
    return Raw(
        x_pool=x_tr, y_pool=y_tr,
        x_test=x_te if want_test else None, y_test=y_te if want_test else None,
        n_classes=None, input_shape=(len(features),), scaling=scaling.FEATURE,
        standardize_target=bool(standardize_target),
        info={"source": f"scikit-learn fetch_california_housing cache ({CACHE_FILE}) in {home or 'scikit-learn default home'}",
              "features": features, "target": "median house value in $100,000",
              "test_split": f"sklearn train_test_split(test_size={test_fraction}, random_state={random_state}) "
                            "(fixed by random_state, not by seed)"},
    )


register(Spec(
    name="california-housing", task="regression", loader=_load,
    summary="California housing (1990 census), 20640 rows, 8 features, target in $100k; seed 003 uses AveRooms+AveOccup",
    val_fraction=0.0,
    options={"features": None, "random_state": 5, "test_fraction": 0.2, "standardize_target": False},
    option_help={"features": f"list of columns from {list(FEATURES)}; None = all 8",
                 "random_state": "train/test split seed (seed 003 uses 5)",
                 "test_fraction": "share of rows in the test set (0.2)",
                 "standardize_target": "also standardize y with the training mean/std"},
    files=f"{CACHE_FILE} in data_dir, ${ENV_DATA_HOME}, ../shared/data/scikit_learn_data or scikit-learn's home",
))
