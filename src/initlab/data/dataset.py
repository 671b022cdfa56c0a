"""The one record every loader returns: tensors in memory plus a note of how they were made.

Trainers (including the vectorized one) index these tensors directly, so there is no
DataLoader: the largest set, Fashion-MNIST, is 70k x 784 float32 = 220 MB, which fits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)


@dataclass(eq=False)  # comparing tensors with == is ambiguous; compare fields yourself
class Dataset:
    """A loaded data set.

    x_* are float32 of shape (N, *input_shape).  y_* are int64 of shape (N,) for
    classification and float32 of shape (N, 1) for regression (the shape an nn.Linear
    head with one output produces, so MSELoss needs no reshaping).  x_val/y_val and
    x_test/y_test are None when the set has no such split.  `info` records where the
    data came from, the sizes, and how it was split and scaled, so a run can be traced.
    """

    name: str
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    n_classes: int | None
    input_shape: tuple
    info: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_val(self) -> int:
        return 0 if self.x_val is None else int(self.x_val.shape[0])

    @property
    def n_test(self) -> int:
        return 0 if self.x_test is None else int(self.x_test.shape[0])

    @property
    def n_features(self) -> int:
        """Number of input values per sample (784 for flattened Fashion-MNIST)."""
        n = 1
        for d in self.input_shape:
            n *= int(d)
        return n

    @property
    def n_outputs(self) -> int:
        """Width of the output layer a model needs: n_classes, or 1 for regression."""
        return int(self.n_classes) if self.task == CLASSIFICATION else 1

    def splits(self) -> dict:
        """{"train": (x, y), "val": (x, y), "test": (x, y)} for the splits that exist."""
        out = {"train": (self.x_train, self.y_train)}
        if self.x_val is not None:
            out["val"] = (self.x_val, self.y_val)
        if self.x_test is not None:
            out["test"] = (self.x_test, self.y_test)
        return out

    def to(self, device) -> "Dataset":
        """A copy with every tensor moved to `device` (info is shared, not copied)."""
        def mv(t):
            return None if t is None else t.to(device)
        return Dataset(self.name, self.task, mv(self.x_train), mv(self.y_train), mv(self.x_val),
                       mv(self.y_val), mv(self.x_test), mv(self.y_test), self.n_classes,
                       self.input_shape, self.info)

    def __repr__(self) -> str:  # the default repr would print whole tensors
        return (f"Dataset({self.name!r}, task={self.task!r}, train={self.n_train}, val={self.n_val}, "
                f"test={self.n_test}, input_shape={self.input_shape}, n_classes={self.n_classes})")
