"""Shared fixtures for the data tests: paths of the real offline data and tiny fake IDX sets."""
from pathlib import Path

import numpy as np
import pytest

from initlab.data import write_idx

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_env_home(monkeypatch):
    monkeypatch.delenv("INITLAB_DATA_HOME", raising=False)


def make_fake_fashion(folder: Path, n_train=120, n_test=40, gz=True, seed=0):
    """Write four small Fashion-MNIST-like IDX files (uint8 images 28x28, labels 0..9)."""
    folder.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    data = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        x = g.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{part}-labels-idx1-ubyte{ext}", y)
        data[part] = (x, y)
    return data


@pytest.fixture
def fake_fashion():
    return make_fake_fashion
