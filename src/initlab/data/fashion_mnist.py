"""Fashion-MNIST from local IDX files (Debian's dataset-fashion-mnist, or any folder you name).

Pixels become float32 in [0, 1] by dividing by 255 and are flattened to 784 values.
Dividing by 255 is a fixed, data-independent scale, so there is nothing to leak and
inputs stay non-negative and sparse as in most Fashion-MNIST baselines; the option
`normalize=True` additionally standardizes with ONE mean/std fitted on the training
part (about 0.29 / 0.35), which gives inputs of unit variance, the assumption behind
the Xavier/He derivations.  The test set is the official 10k (t10k) files.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InitError
from . import scaling
from .idx import read_idx
from .paths import DEBIAN_FASHION_MNIST, ENV_DATA_HOME
from .registry import Raw, Spec, register

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
HOW_TO_GET = ("Fix: install Debian's package (`sudo apt-get install dataset-fashion-mnist`, files land in "
              f"{DEBIAN_FASHION_MNIST}) or pass data_dir= (CLI: --data-dir) a folder holding the four "
              "*-ubyte[.gz] files, or a torchvision root containing FashionMNIST/raw/.")


def candidate_dirs(data_dir=None) -> list[Path]:
    """Folders to search: data_dir, else Debian's folder then $INITLAB_DATA_HOME; a torchvision
    root (<dir>/FashionMNIST/raw) and a <dir>/fashion-mnist subfolder are recognised too."""
    if data_dir is None:
        bases = [DEBIAN_FASHION_MNIST]
        if os.environ.get(ENV_DATA_HOME):   # the project-wide data folder, if one is set
            bases.append(Path(os.environ[ENV_DATA_HOME]))
    else:
        bases = [Path(data_dir)]
    out: list[Path] = []
    for b in bases:
        out += [b, b / "FashionMNIST" / "raw", b / "raw", b / "fashion-mnist"]
    return out


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def locate(data_dir=None, need_test: bool = True) -> dict[str, Path]:
    """Paths of the IDX files, from the first folder that holds all the needed ones."""
    wanted = [k for k in FILES if need_test or k.startswith("train")]
    tried = []
    for folder in candidate_dirs(data_dir):
        tried.append(os.fspath(folder))
        found = {k: _find(folder, FILES[k]) for k in wanted}
        if all(found.values()):
            return found
    names = ", ".join(FILES[k] + "[.gz]" for k in wanted)
    raise InitError(f"load('fashion-mnist'): data_dir={None if data_dir is None else os.fspath(data_dir)!r} "
                    f"holds no Fashion-MNIST files; expected {names} in one of: {', '.join(tried)}. {HOW_TO_GET}")


def _check_pair(images: np.ndarray, labels: np.ndarray, part: str, paths) -> None:
    where = f"load('fashion-mnist') [{part}: {paths[0]}, {paths[1]}]"
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise InitError(f"{where}: images have shape {images.shape} and dtype {images.dtype}; expected "
                        "uint8 of shape (N, 28, 28). Fix: point data_dir at the Fashion-MNIST IDX files.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise InitError(f"{where}: {labels.shape} labels for {images.shape[0]} images; expected one label "
                        "per image. Fix: the image and label files do not belong together; re-download both.")
    if labels.size and labels.max() > 9:
        raise InitError(f"{where}: label {int(labels.max())} found; expected 0..9. Fix: re-download the labels.")


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """Decoded IDX file, kept for the process: a sweep loads the same 55 MB many times.
    The key includes mtime and size, so a replaced file is read again."""
    arr = read_idx(path)
    arr.setflags(write=False)   # shared between loads: nobody may modify it in place
    return arr


def _read(path: Path) -> np.ndarray:
    st = os.stat(path)
    return _read_cached(os.fspath(path), st.st_mtime_ns, st.st_size)


def _load(*, seed, data_dir, want_test, normalize) -> Raw:
    paths = locate(data_dir, need_test=want_test)
    xtr = _read(paths["train_images"])
    ytr = _read(paths["train_labels"])
    _check_pair(xtr, ytr, "train", (paths["train_images"], paths["train_labels"]))
    xte = yte = None
    if want_test:
        xte = _read(paths["test_images"])
        yte = _read(paths["test_labels"])
        _check_pair(xte, yte, "test", (paths["test_images"], paths["test_labels"]))

    def flat(x):  # keep uint8 here; the pipeline divides by 255 after choosing rows
        return None if x is None else x.reshape(len(x), -1)

    return Raw(
        x_pool=flat(xtr), y_pool=ytr.astype(np.int64),
        x_test=flat(xte), y_test=None if yte is None else yte.astype(np.int64),
        n_classes=10, input_shape=(784,),
        scaling=scaling.GLOBAL if normalize else scaling.NONE, divide_by=255.0,
        info={"source": f"IDX files in {paths['train_images'].parent}",
              "files": {k: os.fspath(v) for k, v in paths.items()},
              "classes": list(CLASSES),
              "pixels": "uint8 / 255 -> [0, 1], flattened to 784"
                        + ("; then one mean/std from the training part" if normalize else ""),
              "test_split": "official t10k files"},
    )


register(Spec(
    name="fashion-mnist", task="classification", loader=_load,
    summary="Zalando Fashion-MNIST: 28x28 grey images flattened to 784, 10 classes; 60k train (val cut from it) + official 10k test",
    val_fraction=0.2,
    options={"normalize": False},
    option_help={"normalize": "False: pixels in [0, 1]; True: also standardize with the training mean/std (one scalar pair)"},
    files=f"{DEBIAN_FASHION_MNIST} (apt-get install dataset-fashion-mnist) or data_dir",
))
