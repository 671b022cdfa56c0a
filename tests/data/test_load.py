"""The shared pipeline: seeded splits, subsampling, train-only scaling, types and errors."""
import pytest
import torch

from initlab.data import Dataset, list_datasets, load
from initlab.data.splits import choose, rng
from initlab.errors import InitError

BUNDLED = ["digits", "breast-cancer", "diabetes"]
FAST = BUNDLED + ["points2d", "logistic1d"]


def test_list_datasets():
    names = list_datasets()
    assert names == sorted(names)
    assert set(names) == {"fashion-mnist", "california-housing", "mnist1d", "digits", "breast-cancer",
                          "diabetes", "points2d", "logistic1d"}
    rows = list_datasets(details=True)
    assert [r["name"] for r in rows] == names
    for r in rows:
        assert r["task"] in ("classification", "regression") and r["summary"]
        assert ("label_noise" in r["options"]) == (r["task"] == "classification")


@pytest.mark.parametrize("name", FAST)
def test_types_and_shapes(name):
    ds = load(name)
    assert isinstance(ds, Dataset) and ds.name == name
    for x, y in ds.splits().values():
        assert x.dtype == torch.float32 and x.shape[1:] == ds.input_shape and len(x) == len(y)
        if ds.task == "classification":
            assert y.dtype == torch.int64 and y.dim() == 1 and 0 <= y.min() and y.max() < ds.n_classes
        else:
            assert y.dtype == torch.float32 and y.shape == (len(x), 1) and ds.n_classes is None
    assert ds.info["sizes"]["train"] == ds.n_train and "source" in ds.info and "scaling" in ds.info


def test_bundled_sizes():
    got = {n: (load(n).n_train, load(n).n_val, load(n).n_test, load(n).input_shape) for n in BUNDLED}
    assert got == {"digits": (1150, 288, 359, (64,)), "breast-cancer": (364, 91, 114, (30,)),
                   "diabetes": (283, 71, 88, (10,))}


@pytest.mark.parametrize("name", BUNDLED)
def test_same_seed_same_split_other_seed_other_split(name):
    kw = {"standardize_target": False} if name == "diabetes" else {}   # y_test then keeps raw units
    a, b, c = load(name, seed=0, **kw), load(name, seed=0, **kw), load(name, seed=1, **kw)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val) and torch.equal(a.x_val, b.x_val)
    assert not torch.equal(a.x_val, c.x_val)
    # the test rows are fixed across seeds (test_seed), so seeds of a comparison score the same rows;
    # x_test differs only through the train-fitted scaling, y_test not at all
    assert torch.equal(a.y_test, c.y_test)
    assert not torch.equal(a.y_test, load(name, seed=0, test_seed=1, **kw).y_test)


def test_subsample_is_stratified_seeded_and_independent_of_the_val_split():
    full = load("digits", seed=2)
    sub = load("digits", seed=2, subsample=100)
    assert sub.n_train == 100 and torch.equal(sub.y_val, full.y_val)
    assert torch.bincount(sub.y_train, minlength=10).tolist() == [10] * 10
    assert torch.equal(sub.x_train, load("digits", seed=2, subsample=100).x_train)
    assert not torch.equal(sub.x_train, load("digits", seed=3, subsample=100).x_train)
    # digits pixels are a fixed /16 scale: every subsampled row is one of the full training rows
    rows = {tuple(r) for r in full.x_train.tolist()}
    assert all(tuple(r) in rows for r in sub.x_train.tolist())


def test_subsample_regression_is_random():
    ds = load("diabetes", subsample=50)
    assert ds.n_train == 50 and ds.y_train.shape == (50, 1)


@pytest.mark.parametrize("name", ["breast-cancer", "diabetes"])
def test_scaling_is_fitted_on_train_only(name):
    ds = load(name)
    m, s = ds.x_train.double().mean(0), ds.x_train.double().std(0, unbiased=False)
    assert m.abs().max() < 1e-5 and (s - 1).abs().max() < 1e-4
    # val and test use the training statistics: their means are close to, but NOT forced to, zero
    assert ds.x_val.double().mean(0).abs().max() > 1e-3
    assert ds.x_test.double().mean(0).abs().max() > 1e-3
    assert ds.info["scaling"] == {**ds.info["scaling"], "mode": "standardize", "fitted_on": "train"}


def test_subsample_changes_the_fitted_statistics():
    # scaling follows the training samples actually used, so a subsample is itself standardized
    ds = load("breast-cancer", subsample=60)
    assert ds.x_train.double().mean(0).abs().max() < 1e-5


def test_diabetes_target_standardized_on_train():
    ds = load("diabetes")
    assert abs(ds.y_train.mean().item()) < 1e-5 and abs(ds.y_test.mean().item()) > 1e-4
    raw = load("diabetes", standardize_target=False)
    assert 100 < raw.y_train.mean().item() < 200


def test_digits_pixels_in_unit_interval():
    ds = load("digits")
    assert ds.x_train.min() == 0 and ds.x_train.max() == 1
    assert load("digits", pixel_scaling="standardize").info["scaling"]["mode"] == "standardize"


def test_test_false_and_val_zero():
    ds = load("digits", test=False, val_fraction=0)
    assert ds.x_test is None and ds.y_test is None and ds.x_val is None and ds.n_train == 1438
    assert set(ds.splits()) == {"train"}


def test_label_noise_on_any_classification_set():
    a, b = load("digits", seed=0), load("digits", seed=0, label_noise=0.1)
    assert (a.y_train != b.y_train).sum().item() == round(0.1 * a.n_train)
    with pytest.raises(InitError, match="option"):
        load("diabetes", label_noise=0.1)                      # regression has no labels to flip


def test_names_are_forgiving_about_case_and_underscores():
    assert load("Breast_Cancer").name == "breast-cancer"


@pytest.mark.parametrize("call, pattern", [
    (lambda: load("fashion-mnst"), r"name='fashion-mnst'.*Did you mean 'fashion-mnist'"),
    (lambda: load("cifar10"), r"name='cifar10'.*one of 'breast-cancer'"),
    (lambda: load(3), "name=3"),
    (lambda: load("digits", seed=-1), "seed=-1"),
    (lambda: load("digits", seed=1.5), "seed=1.5"),
    (lambda: load("digits", subsample=0), "subsample=0"),
    (lambda: load("digits", subsample=10**6), r"subsample=1000000.*at most 1150"),
    (lambda: load("digits", val_fraction=1.0), r"val_fraction=1.0.*\[0, 1\)"),
    (lambda: load("digits", test="no"), "test='no'"),
    (lambda: load("digits", pixel_scaling="zscore"), "pixel_scaling='zscore'"),
    (lambda: load("digits", test_fraction=2), "test_fraction=2"),
    (lambda: load("points2d", nn=5), r"option='nn'.*Did you mean 'n'"),
    (lambda: load("points2d", n=0), "n=0"),
])
def test_bad_inputs_raise_initerror_naming_argument_and_value(call, pattern):
    with pytest.raises(InitError, match=pattern) as e:
        call()
    assert "expected" in str(e.value)


def test_choose_stratified_keeps_proportions_exactly_when_possible():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10).numpy()
    picked, rest = choose(100, 20, rng(0, "t"), labels)
    assert sorted(list(picked) + list(rest)) == list(range(100))
    assert torch.bincount(torch.from_numpy(labels[picked])).tolist() == [12, 6, 2]


@pytest.mark.parametrize("name", FAST)
def test_info_is_json_ready_and_tensors_are_writable(name):
    import json
    ds = load(name, label_noise=0.1) if name != "diabetes" else load(name)
    json.dumps(ds.info)                                        # records and reports store it
    for x, y in ds.splits().values():
        x.add_(0)                                              # no read-only numpy memory underneath
        y.add_(0)
