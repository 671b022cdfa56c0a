"""Data homes come from explicit settings, never from the working directory (issue 13, hostile use 3).

The California-housing cache is a joblib pickle: a folder resolved against the current directory
would let a file planted there run code.  Each test plants a pickle that creates a marker file when
unpickled, in every place a cwd-relative lookup could reach, and checks it never runs.
"""
import builtins
import pickle

import numpy as np
import pytest

from initlab import InitError
from initlab.data import load
from initlab.data.bundled import _breast_cancer_arrays, _diabetes_arrays, _digits_arrays
from initlab.data.paths import sklearn_data_home


class _Planted:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):   # unpickling calls open(marker, "w"): the file appears iff the pickle was loaded
        return (builtins.open, (self.marker, "w"))


def _plant(cwd, marker):
    payload = pickle.dumps(_Planted(marker))
    for folder in (cwd, cwd / "scikit_learn_data", cwd / ".." / "shared" / "data" / "scikit_learn_data"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cal_housing_py3.pkz").write_bytes(payload)


@pytest.fixture
def hostile_cwd(tmp_path, monkeypatch):
    cwd = tmp_path / "work"
    marker = tmp_path / "PWNED"
    _plant(cwd, marker)
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("INITLAB_DATA_HOME", raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "empty-sklearn-home"))   # absolute, holds nothing
    return cwd, marker


def test_a_pickle_planted_in_the_working_directory_is_never_loaded(hostile_cwd):
    cwd, marker = hostile_cwd
    try:
        ds = load("california-housing")     # from ../shared beside the checkout when present, else an InitError
        assert str(cwd) not in ds.info["source"]
    except InitError as e:
        assert "cal_housing_py3.pkz" in str(e)
    assert not marker.exists(), "a pickle from the working directory was unpickled"
    home, tried = sklearn_data_home()
    assert not any(t.startswith(str(cwd.resolve())) or t.startswith(str(cwd)) for t in [home, *tried]), tried


@pytest.mark.parametrize("var", ["INITLAB_DATA_HOME", "SCIKIT_LEARN_DATA"])
def test_a_relative_data_home_is_refused_not_resolved_against_the_cwd(hostile_cwd, monkeypatch, var):
    cwd, marker = hostile_cwd
    monkeypatch.setenv(var, "scikit_learn_data")           # would name the planted folder, relative to the cwd
    if var == "SCIKIT_LEARN_DATA":                          # only reached when ../shared beside the checkout is absent
        monkeypatch.setattr("initlab.data.paths.repo_root", lambda: None)
    with pytest.raises(InitError, match=f"{var}.*absolute"):
        load("california-housing")
    assert not marker.exists()


def test_an_absolute_data_home_is_used(hostile_cwd, monkeypatch, tmp_path):
    cwd, marker = hostile_cwd
    monkeypatch.setenv("INITLAB_DATA_HOME", str(tmp_path / "nothing-here"))
    with pytest.raises(InitError, match="nothing-here"):
        load("california-housing")
    assert not marker.exists()


def test_digits_are_read_from_scikit_learns_file_and_equal_its_loader():
    sk = pytest.importorskip("sklearn.datasets")
    x, y = _digits_arrays()
    d = sk.load_digits()
    assert x.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(x, d.data)
    np.testing.assert_array_equal(y, d.target)


def test_breast_cancer_and_diabetes_equal_scikit_learns_loaders():
    sk = pytest.importorskip("sklearn.datasets")
    x, y, names = _breast_cancer_arrays()
    d = sk.load_breast_cancer()
    np.testing.assert_array_equal(x, d.data)
    np.testing.assert_array_equal(y, d.target)
    assert names == list(d.target_names)
    x, y = _diabetes_arrays()
    d = sk.load_diabetes(scaled=False)
    np.testing.assert_array_equal(x, d.data)
    np.testing.assert_array_equal(y, d.target)
