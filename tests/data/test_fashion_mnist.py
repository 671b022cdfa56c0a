"""Fashion-MNIST: folder layouts on tiny fake IDX sets, clear errors, and one real load."""
from pathlib import Path

import numpy as np
import pytest
import torch

from initlab.data import load, write_idx
from initlab.errors import InitError

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")


def test_torchvision_layout_is_found_from_its_root(tmp_path, fake_fashion):
    raw = fake_fashion(tmp_path / "FashionMNIST" / "raw", gz=False)   # torchvision keeps plain files there
    ds = load("fashion-mnist", data_dir=tmp_path, val_fraction=0.25)
    assert ds.x_train.shape == (90, 784) and ds.x_val.shape == (30, 784) and ds.x_test.shape == (40, 784)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.input_shape == (784,) and ds.n_classes == 10
    # the test set is the t10k files, in order, pixels / 255, flattened
    x, y = raw["t10k"]
    torch.testing.assert_close(ds.x_test, torch.from_numpy(x.reshape(40, -1).astype(np.float32) / 255))
    assert ds.y_test.tolist() == y.tolist()
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert "FashionMNIST/raw" in ds.info["source"]


def test_flat_folder_with_gz_files(tmp_path, fake_fashion):
    fake_fashion(tmp_path, gz=True)
    ds = load("fashion-mnist", data_dir=str(tmp_path))
    assert (ds.n_train, ds.n_val, ds.n_test) == (96, 24, 40)           # default val 20 %
    # stratified validation split: 12 images per class, 24 held out -> 2 or 3 of each class
    counts = torch.bincount(ds.y_val, minlength=10)
    assert counts.min() >= 2 and counts.max() <= 3


def test_training_pixels_and_val_are_split_not_copied(tmp_path, fake_fashion):
    raw = fake_fashion(tmp_path)
    ds = load("fashion-mnist", data_dir=tmp_path, test=False)
    assert ds.x_test is None and ds.y_test is None
    all_rows = torch.cat([ds.x_train, ds.x_val])
    expect = torch.from_numpy(raw["train"][0].reshape(120, -1).astype(np.float32) / 255)
    # same multiset of images: sort rows by their bytes
    key = lambda t: sorted(map(bytes, (t * 255).round().to(torch.uint8).numpy()))  # noqa: E731
    assert key(all_rows) == key(expect)


def test_normalize_fits_one_mean_std_on_train_only(tmp_path, fake_fashion):
    fake_fashion(tmp_path)
    ds = load("fashion-mnist", data_dir=tmp_path, normalize=True)
    assert abs(ds.x_train.mean().item()) < 1e-5 and abs(ds.x_train.std().item() - 1) < 1e-3
    assert ds.x_val.mean().item() != pytest.approx(0.0, abs=1e-5)
    assert ds.info["scaling"]["mode"] == "standardize-global"


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(InitError) as e:
        load("fashion-mnist", data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "data_dir" in msg
    assert "train-images-idx3-ubyte" in msg


def test_labels_not_matching_images_raise(tmp_path, fake_fashion):
    fake_fashion(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(InitError, match="labels for 120 images"):
        load("fashion-mnist", data_dir=tmp_path)


def test_truncated_real_layout_file_raises(tmp_path, fake_fashion):
    fake_fashion(tmp_path, gz=False)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(InitError, match="truncated"):
        load("fashion-mnist", data_dir=tmp_path)


@pytest.mark.skipif(not (DEBIAN_FMNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian's Fashion-MNIST is not installed at {DEBIAN_FMNIST} "
                           "(sudo apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_the_debian_path():
    # the one test that reads the real 60k + 10k images; subsample keeps the tensors small
    ds = load("fashion-mnist", subsample=2000, seed=0)
    assert ds.x_train.shape == (2000, 784) and ds.n_val == 12000 and ds.x_test.shape == (10000, 784)
    assert ds.info["sizes"] == {"train": 2000, "val": 12000, "test": 10000, "pool": 60000}
    assert torch.bincount(ds.y_train, minlength=10).tolist() == [200] * 10      # stratified
    assert torch.bincount(ds.y_val, minlength=10).tolist() == [1200] * 10
    assert torch.bincount(ds.y_test, minlength=10).tolist() == [1000] * 10      # official t10k
    assert 0.0 == ds.x_test.min().item() and ds.x_test.max().item() == 1.0
    # the well-known mean pixel of Fashion-MNIST is about 0.286
    assert ds.x_test.mean().item() == pytest.approx(0.286, abs=0.005)


def test_replaced_file_is_read_again_despite_the_cache(tmp_path, fake_fashion):
    fake_fashion(tmp_path, n_train=50, seed=0)
    a = load("fashion-mnist", data_dir=tmp_path, val_fraction=0)
    fake_fashion(tmp_path, n_train=60, seed=1)
    b = load("fashion-mnist", data_dir=tmp_path, val_fraction=0)
    assert a.n_train == 50 and b.n_train == 60


def test_env_data_home_is_searched_when_no_data_dir(tmp_path, fake_fashion, monkeypatch):
    from initlab.data import fashion_mnist
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-copy")
    with pytest.raises(InitError, match="no-debian-copy"):
        load("fashion-mnist")
    fake_fashion(tmp_path / "home" / "FashionMNIST" / "raw")
    monkeypatch.setenv("INITLAB_DATA_HOME", str(tmp_path / "home"))
    assert load("fashion-mnist").n_test == 40
