"""Double descent: its defaults, the int-list check, and the data (named sets loaded with label noise, or
pre-loaded tensors).  The arguments themselves are checked once in sweep.check_double_descent."""
from __future__ import annotations

import hashlib

import torch

from ..errors import bad_argument, unknown_choice
from . import dd_sweep as eng

WHERE = "initlab.double_descent"
DATA_SETS = ("mnist1d", "fashion-mnist")
AXES = ("width", "epochs", "samples")
DEFAULT_WIDTHS = (2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512)
DEFAULT_EPOCHS = 1000
DEFAULT_SAMPLES = (500, 1000, 2000, 3000, 4000)
DEFAULT_SAMPLE_WIDTHS = (16, 45, 128)
DEFAULT_N_TRAIN = 4000
DEFAULT_N_TEST = 10000


def _check_int_list(arg, values, lo, example, where=WHERE):
    """A non-empty list of integers >= lo (integral floats accepted, bools not) -> sorted, duplicates removed."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise bad_argument(where, arg, values, f"a list of integers >= {lo}", f"e.g. {arg}={example}")
    values = list(values)
    try:
        out = [int(v) for v in values]
    except (TypeError, ValueError):
        raise bad_argument(where, arg, values, f"a list of integers >= {lo}", f"e.g. {arg}={example}") from None
    if (not out or any(isinstance(v, bool) for v in values) or any(v < lo for v in out)
            or any(float(a) != b for a, b in zip(values, out) if isinstance(a, float))):
        raise bad_argument(where, arg, values, f"a non-empty list of integers >= {lo}", f"e.g. {arg}={example}")
    return sorted(set(out))


def _tensor_digest(*ts) -> str:
    h = hashlib.sha256()
    for t in ts:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def resolve_data(data, where=WHERE) -> tuple[str, object]:
    """-> (name, data): a named set's canonical key twice, or for pre-loaded data ('custom:<digest>', the
    tensors (x_train, y_train, x_test, y_test) flattened to (N, D) / (N,) and shape-checked).  InitError
    for an unknown name or another type."""
    if isinstance(data, str):
        key = data.strip().lower().replace("_", "-")
        key = {"mnist-1d": "mnist1d", "fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}.get(key, key)
        if key not in DATA_SETS:
            raise unknown_choice(where, "data", data, DATA_SETS, "or pass a Dataset / (x_train, y_train, x_test, y_test)")
        return key, key
    # pre-loaded: a Dataset or a tuple; the label noise is whatever the labels already carry
    if hasattr(data, "x_train"):
        parts = (data.x_train, data.y_train, data.x_test, data.y_test)
    elif isinstance(data, (tuple, list)) and len(data) == 4:
        parts = tuple(data)
    else:
        raise bad_argument(where, "data", type(data).__name__, "'mnist1d', 'fashion-mnist', an initlab Dataset or "
                           "a tuple (x_train, y_train, x_test, y_test)", "e.g. data='mnist1d'")
    x_tr, y_tr, x_te, y_te = (torch.as_tensor(p) for p in parts)
    x_tr, x_te = x_tr.float().reshape(len(x_tr), -1), x_te.float().reshape(len(x_te), -1)
    y_tr, y_te = y_tr.long().reshape(-1), y_te.long().reshape(-1)
    eng.check_data(x_tr, y_tr, x_te, y_te)
    return f"custom:{_tensor_digest(x_tr, y_tr, x_te, y_te)}", (x_tr, y_tr, x_te, y_te)


def data_loader(name, data, *, noise, n_train, n_test, data_seed, data_dir):
    """get(n) -> (x_tr, y_tr, x_te, y_te, n_classes, info) for a training set of n samples (None: the whole
    pool), from what `resolve_data` returned."""
    if isinstance(data, str):
        from ..data import load
        return lambda n: _load_named(data, load, noise=noise, n_train=n_train, n=n, n_test=n_test,
                                     data_seed=data_seed, data_dir=data_dir)
    x_tr, y_tr, x_te, y_te = data

    def get(n):
        n = len(y_tr) if n is None else n
        if n > len(y_tr):
            raise bad_argument(WHERE, "samples", n, f"at most {len(y_tr)} (the training samples given)",
                               "pass smaller training-set sizes")
        return x_tr[:n], y_tr[:n], x_te, y_te, eng.n_classes_of(y_tr, y_te), {"source": name}
    return get


def _resolve_data(data, *, noise, n_train, n_test, data_seed, data_dir):
    """-> (name, get(n)) in one step (a Ray worker, from the spec's data and data_options)."""
    name, data = resolve_data(data)
    return name, data_loader(name, data, noise=noise, n_train=n_train, n_test=n_test, data_seed=data_seed,
                             data_dir=data_dir)


def _load_named(key, load, *, noise, n_train, n, n_test, data_seed, data_dir):
    sub = None if n >= n_train else int(n)
    if key == "mnist1d":
        ds = load("mnist1d", seed=data_seed, subsample=sub, n_train=n_train, n_test=n_test, label_noise=noise)
    else:
        ds = load("fashion-mnist", seed=data_seed, subsample=int(n), val_fraction=0.0, label_noise=noise,
                  data_dir=data_dir)
    x_tr = ds.x_train.reshape(ds.n_train, -1)
    x_te = ds.x_test.reshape(ds.n_test, -1)
    info = {k: ds.info.get(k) for k in ("source", "sizes", "subsample") if k in ds.info}
    if "label_noise" in ds.info:
        info["label_noise"] = {k: v for k, v in ds.info["label_noise"].items() if k != "flipped_index"}
    return x_tr, ds.y_train, x_te, ds.y_test, int(ds.n_classes), info
