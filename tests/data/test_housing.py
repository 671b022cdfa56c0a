"""California housing from the project's offline scikit-learn cache (../shared beside the repo)."""
import pytest
import torch

from initlab.data import load
from initlab.errors import InitError


def test_default_split_reproduces_seed_003(sklearn_home, no_env_home):
    ds = load("california-housing", data_dir=sklearn_home, features=["AveRooms", "AveOccup"])
    assert ds.task == "regression" and ds.n_classes is None
    assert (ds.n_train, ds.n_val, ds.n_test) == (16512, 0, 4128)     # 80/20, random_state=5
    assert ds.x_val is None and ds.input_shape == (2,)
    assert ds.y_train.shape == (16512, 1) and ds.y_train.dtype == torch.float32
    # seed 003 prints its first training sample after scaling: features [-0.7866, -0.0164], target 2.846
    torch.testing.assert_close(ds.x_train[0], torch.tensor([-0.7866, -0.0164]), atol=1e-4, rtol=0)
    assert ds.y_train[0, 0].item() == pytest.approx(2.846, abs=1e-3)


def test_standardized_on_train_only(sklearn_home, no_env_home):
    ds = load("california-housing", data_dir=sklearn_home)
    assert ds.input_shape == (8,)
    m, s = ds.x_train.double().mean(0), ds.x_train.double().std(0, unbiased=False)
    assert m.abs().max() < 1e-5 and (s - 1).abs().max() < 1e-4
    # test rows use the training statistics, so their means are NOT forced to zero
    assert ds.x_test.double().mean(0).abs().max() > 1e-3
    assert ds.info["scaling"]["fitted_on"] == "train"
    # target stays in $100,000 by default (as in seed 003)
    assert 1.9 < ds.y_train.mean().item() < 2.2


def test_found_relative_to_the_repository_from_any_directory(sklearn_home, no_env_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)            # ../shared is not beside tmp_path: the repo-root fallback must find it
    ds = load("california-housing", test=False, subsample=100)
    assert ds.n_train == 100 and ds.x_test is None
    assert str(sklearn_home) in ds.info["source"]


def test_env_variable_is_honoured(sklearn_home, monkeypatch):
    monkeypatch.setenv("INITLAB_DATA_HOME", str(sklearn_home))
    assert load("california-housing", subsample=10).n_train == 10


def test_missing_file_says_where_it_looked_and_how_to_get_it(tmp_path, no_env_home):
    with pytest.raises(InitError) as e:
        load("california-housing", data_dir=tmp_path)
    msg = str(e.value)
    assert "cal_housing_py3.pkz" in msg and str(tmp_path) in msg
    assert "INITLAB_DATA_HOME" in msg and "fetch_california_housing" in msg


def test_missing_env_home_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_DATA_HOME", str(tmp_path / "absent"))
    with pytest.raises(InitError, match="absent"):
        load("california-housing")


def test_unknown_feature_has_did_you_mean(sklearn_home, no_env_home):
    with pytest.raises(InitError, match=r"features='AveRoom'.*Did you mean 'AveRooms'"):
        load("california-housing", data_dir=sklearn_home, features=["AveRoom"])


def test_standardize_target_option(sklearn_home, no_env_home):
    ds = load("california-housing", data_dir=sklearn_home, standardize_target=True)
    assert abs(ds.y_train.mean().item()) < 1e-5
    assert "target_scaling" in ds.info


def test_failed_load_creates_no_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_DATA_HOME", str(tmp_path / "absent"))
    with pytest.raises(InitError):
        load("california-housing")
    assert not (tmp_path / "absent").exists()


def test_corrupt_cache_file_raises_initerror(tmp_path, no_env_home):
    (tmp_path / "cal_housing_py3.pkz").write_bytes(b"not a pickle")
    with pytest.raises(InitError, match="could not be read"):
        load("california-housing", data_dir=tmp_path)


@pytest.mark.parametrize("bad", [["AveRooms", "AveRooms"], [], 3])
def test_bad_feature_lists(sklearn_home, no_env_home, bad):
    with pytest.raises(InitError, match="features="):
        load("california-housing", data_dir=sklearn_home, features=bad)
