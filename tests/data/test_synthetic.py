"""points2d (seed 000) and logistic1d (seed 002): rules, sizes, disjoint splits."""
import torch

from initlab.data import load


def _rows(t):
    return {tuple(r) for r in t.tolist()}


def test_points2d_train_and_test_share_no_sample_and_follow_the_rule():
    for seed in range(5):
        ds = load("points2d", seed=seed)
        assert (ds.n_train, ds.n_test) == (100, 20) and ds.x_val is None
        assert len(_rows(ds.x_train)) == 100 and not (_rows(ds.x_train) & _rows(ds.x_test))
        for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
            assert torch.equal(y, (x[:, 0] + x[:, 1] > 1).long())
            assert x.min() >= 0 and x.max() < 1
        assert 0 < ds.y_train.sum() < 100                     # both classes present


def test_points2d_options_and_seed():
    a, b = load("points2d", seed=0, n=500, n_test=200), load("points2d", seed=1, n=500, n_test=200)
    assert a.n_train == 500 and a.n_test == 200
    assert not torch.equal(a.x_train, b.x_train)
    assert torch.equal(a.x_train, load("points2d", seed=0, n=500, n_test=200).x_train)
    v = load("points2d", seed=0, val_fraction=0.2)
    assert (v.n_train, v.n_val) == (80, 20) and not (_rows(v.x_val) & _rows(v.x_test))


def test_logistic1d_reproduces_the_tutorial_grid():
    ds = load("logistic1d")
    grid = torch.arange(-2, 2, 0.1).view(-1, 1)             # the tutorial's data
    torch.testing.assert_close(ds.x_train, grid, atol=1e-6, rtol=0)
    assert torch.equal(ds.y_train, (grid[:, 0] > 0.2).long())
    assert ds.y_train.sum().item() == 17                     # all-zero predictions score 23/40 = 57.5 %
    assert ds.input_shape == (1,) and ds.n_classes == 2


def test_logistic1d_test_points_are_new_and_follow_the_rule():
    ds = load("logistic1d", seed=4)
    assert ds.n_test == 40 and not (_rows(ds.x_test) & _rows(ds.x_train))
    assert torch.equal(ds.y_test, (ds.x_test[:, 0] > 0.2).long())
    assert ds.x_test.min() >= -2 and ds.x_test.max() < 2
    r = load("logistic1d", seed=4, n=200)
    assert r.n_train == 200 and torch.equal(r.y_train, (r.x_train[:, 0] > 0.2).long())
