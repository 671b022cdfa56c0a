"""Data sets as in-memory tensors, split and scaled reproducibly, for comparing initializations.

    >>> from initlab.data import load, list_datasets
    >>> ds = load("fashion-mnist", seed=0, subsample=1000)
    >>> ds.x_train.shape, ds.y_train.dtype, ds.input_shape
    (torch.Size([1000, 784]), torch.int64, (784,))

Rules every set follows (see api.py): splits fixed by `seed`; scaling fitted on the
training part only; `subsample=N` keeps N training samples (stratified for
classification); nothing is downloaded.  Sets: fashion-mnist, california-housing,
mnist1d, digits, breast-cancer, diabetes, points2d, logistic1d.
"""
from .api import COMMON_OPTIONS, list_datasets, load
from .dataset import CLASSIFICATION, REGRESSION, TASKS, Dataset
from .idx import read_idx, write_idx

__all__ = ["load", "list_datasets", "Dataset", "read_idx", "write_idx",
           "CLASSIFICATION", "REGRESSION", "TASKS", "COMMON_OPTIONS"]
