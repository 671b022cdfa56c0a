"""MNIST-1D's disk cache (issue 16: generating the double-descent set cost ~5 s in every process)."""
import importlib.util

import numpy as np
import pytest

from initlab.data import mnist1d_gen
from initlab.data.paths import cache_dir

if importlib.util.find_spec("mnist1d") is None:
    pytest.skip("mnist1d is not installed (pip install mnist1d)", allow_module_level=True)
N = 200


def _fresh(n=N, seed=42):
    mnist1d_gen._generate.cache_clear()          # the in-memory cache would hide the disk
    return mnist1d_gen._generate(n, seed)


def test_cached_equals_generated_and_skips_generation(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_CACHE_DIR", str(tmp_path))
    x0, y0 = _fresh()
    files = list(tmp_path.glob("mnist1d-*.npz"))
    assert len(files) == 1 and f"-n{N}-seed42" in files[0].name
    monkeypatch.setattr(mnist1d_gen, "_make", lambda *a: pytest.fail("generated again despite the cache"))
    x1, y1 = _fresh()
    assert np.array_equal(x0, x1) and np.array_equal(y0, y1) and x0.dtype == x1.dtype
    assert not x1.flags.writeable


def test_a_bad_cache_file_is_regenerated_and_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_CACHE_DIR", str(tmp_path))
    x0, y0 = _fresh()
    path = next(tmp_path.glob("mnist1d-*.npz"))
    np.savez(path, x=np.array([object()], dtype=object), y=y0)        # a pickled payload: refused
    x1, _ = _fresh()
    assert np.array_equal(x0, x1)
    path.write_bytes(b"not an npz")
    x2, _ = _fresh()
    assert np.array_equal(x0, x2)
    np.savez(path, x=x0[:, :10], y=y0)                                  # wrong shape: regenerated
    assert np.array_equal(_fresh()[0], x0)


def test_cache_can_be_turned_off_and_relative_dirs_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_CACHE_DIR", "off")
    assert cache_dir() is None
    monkeypatch.chdir(tmp_path)
    _fresh(100)
    assert not list(tmp_path.rglob("*.npz"))
    monkeypatch.setenv("INITLAB_CACHE_DIR", "relative/dir")
    assert mnist1d_gen._cache_path(100, 42) is None                    # refused, so no cache (and no error)
