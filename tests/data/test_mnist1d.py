"""MNIST-1D: generated offline, shapes, exact label-noise fraction, no side effects."""
import importlib.util
import random
import socket

import numpy as np
import pytest
import torch

from initlab.data import load
from initlab.data.mnist1d_gen import _generate
from initlab.errors import InitError

if importlib.util.find_spec("mnist1d") is None:   # find_spec: skip without importing matplotlib at collection
    pytest.skip("mnist1d is not installed (pip install mnist1d)", allow_module_level=True)
SMALL = dict(n_train=400, n_test=100)   # 500 samples generate in well under a second


def test_shapes_and_types():
    ds = load("mnist1d", **SMALL)
    assert ds.x_train.shape == (400, 40) and ds.x_test.shape == (100, 40) and ds.x_val is None
    assert ds.input_shape == (40,) and ds.n_classes == 10
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert set(ds.y_train.unique().tolist()) == set(range(10))
    # one scalar mean/std from train: train is exactly standardized, test is not forced
    assert abs(ds.x_train.mean().item()) < 1e-5 and abs(ds.x_train.std(unbiased=False).item() - 1) < 1e-4
    assert ds.x_test.mean().item() != pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_label_noise_changes_exactly_that_fraction_of_training_labels(p):
    clean = load("mnist1d", seed=3, **SMALL)
    noisy = load("mnist1d", seed=3, label_noise=p, **SMALL)
    wrong = noisy.y_train != clean.y_train
    assert wrong.sum().item() == round(p * 400)
    assert torch.equal(noisy.x_train, clean.x_train)          # same samples, only labels moved
    assert torch.equal(noisy.y_test, clean.y_test)            # test labels stay clean
    assert sorted(torch.nonzero(wrong).flatten().tolist()) == noisy.info["label_noise"]["flipped_index"]
    assert noisy.y_train.min() >= 0 and noisy.y_train.max() <= 9


def test_label_noise_is_fixed_by_seed():
    a = load("mnist1d", seed=1, label_noise=0.2, **SMALL)
    b = load("mnist1d", seed=1, label_noise=0.2, **SMALL)
    c = load("mnist1d", seed=2, label_noise=0.2, **SMALL)
    assert torch.equal(a.y_train, b.y_train) and not torch.equal(a.y_train, c.y_train)


def test_val_split_leaves_val_labels_clean():
    clean = load("mnist1d", seed=0, val_fraction=0.25, **SMALL)
    noisy = load("mnist1d", seed=0, val_fraction=0.25, label_noise=0.3, **SMALL)
    assert clean.n_train == 300 and clean.n_val == 100
    assert torch.equal(clean.y_val, noisy.y_val)
    assert (clean.y_train != noisy.y_train).sum().item() == 90


def test_generation_makes_no_network_call_and_keeps_global_rng(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    np.random.seed(123)
    random.seed(123)
    before_np, before_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    _generate.cache_clear()
    load("mnist1d", n_train=90, n_test=10, data_seed=7)
    assert np.random.random() == before_np and random.random() == before_py


def test_data_seed_changes_the_samples_seed_does_not():
    a = load("mnist1d", n_train=90, n_test=10, data_seed=1)
    b = load("mnist1d", n_train=90, n_test=10, data_seed=2)
    c = load("mnist1d", n_train=90, n_test=10, data_seed=1, seed=5)
    assert not torch.equal(a.x_train, b.x_train)
    assert torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("kw, arg", [({"n_train": 0}, "n_train"), ({"n_test": -1}, "n_test"),
                                     ({"label_noise": 1.0}, "label_noise"), ({"n_trian": 10}, "option")])
def test_bad_options(kw, arg):
    with pytest.raises(InitError, match=arg):
        load("mnist1d", **kw)


@pytest.mark.slow
def test_defaults_equal_the_packages_own_split():
    # generating the full 5000 samples twice takes ~10 s, hence `slow` (make test-slow)
    from mnist1d.data import get_dataset_args, make_dataset
    ref = make_dataset(get_dataset_args())
    x, y = _generate(5000, 42)
    assert np.array_equal(x[:4000], ref["x"]) and np.array_equal(x[4000:], ref["x_test"])
    assert np.array_equal(y[:4000], ref["y"]) and np.array_equal(y[4000:], ref["y_test"])
