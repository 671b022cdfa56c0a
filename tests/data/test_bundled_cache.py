"""digits' parsed table is cached as .npz (issue 16: parsing the shipped csv cost ~20-40 ms per process)."""
import gzip

import numpy as np
import pytest

from initlab.data import bundled, load, npz_cache

if bundled._shipped_file("digits.csv.gz") is None:
    pytest.skip("scikit-learn's digits file is not installed", allow_module_level=True)


def _parsed():
    with gzip.open(bundled._shipped_file("digits.csv.gz"), "rt") as f:
        return np.loadtxt(f, delimiter=",")


def test_cached_table_equals_the_parsed_file_and_skips_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_CACHE_DIR", str(tmp_path))
    x0, y0 = bundled._digits_arrays()
    files = list(tmp_path.glob("sklearn-digits-*.npz"))
    assert len(files) == 1
    ref = _parsed()
    assert np.array_equal(x0, ref[:, :-1]) and np.array_equal(y0, ref[:, -1].astype(np.int64))
    monkeypatch.setattr(bundled.np, "loadtxt", lambda *a, **k: pytest.fail("parsed again despite the cache"))
    x1, y1 = bundled._digits_arrays()
    assert np.array_equal(x0, x1) and np.array_equal(y0, y1) and x1.dtype == np.float64 and y1.dtype == np.int64


def test_a_bad_cache_file_is_remade_and_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_CACHE_DIR", str(tmp_path))
    a = load("digits")
    path = next(tmp_path.glob("sklearn-digits-*.npz"))
    np.savez(path, table=np.array([object()], dtype=object))           # a pickled payload: refused
    assert np.array_equal(bundled._digits_arrays()[0], _parsed()[:, :-1])
    path.write_bytes(b"not an npz")
    assert np.array_equal(bundled._digits_arrays()[0], _parsed()[:, :-1])
    np.savez(path, table=_parsed()[:, :10])                              # wrong shape: remade
    b = load("digits")
    assert (a.x_train == b.x_train).all() and (a.y_val == b.y_val).all()
    assert npz_cache.read(path, ["table"])["table"].shape == (1797, 65)


def test_cache_off_and_relative_dirs_write_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in ("off", "relative/dir"):
        monkeypatch.setenv("INITLAB_CACHE_DIR", value)
        assert npz_cache.cache_file("x.npz") is None
        assert bundled._digits_arrays()[0].shape == (1797, 64)
    assert not list(tmp_path.rglob("*.npz"))
