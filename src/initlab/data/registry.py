"""The table of data sets: name -> loader, task, options and defaults.

A loader only fetches or generates raw arrays (`Raw`); the shared pipeline in
`api.load` does the parts every set must do the same way (validation split, subsample,
label noise, scaling fitted on train, tensors), so those rules live in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Raw:
    """What a loader hands to the pipeline: unscaled numpy arrays and provenance."""

    x_pool: np.ndarray                 # training pool; the validation split is cut from it
    y_pool: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    n_classes: int | None
    input_shape: tuple
    scaling: str                       # a mode from scaling.py
    info: dict = field(default_factory=dict)   # source, test_split, notes, ...
    standardize_target: bool = False   # regression: scale y with train mean/std as well
    divide_by: float | None = None     # fixed, data-independent scale (255 for pixels), applied after
                                       # the rows are chosen so a subsample never converts all 60k images


@dataclass(frozen=True)
class Spec:
    """A registered data set: its name, task, loader (-> Raw), defaults and the options load() accepts."""

    name: str
    task: str
    loader: Callable[..., Raw]
    summary: str
    val_fraction: float                # default share of the training pool held out
    options: dict                      # option -> default value (what load(name, **options) accepts)
    option_help: dict                  # option -> one-line description
    files: str = ""                    # "" when nothing has to be on disk


_SPECS: dict[str, Spec] = {}


def register(spec: Spec) -> Spec:
    _SPECS[spec.name] = spec
    return spec


def get(name: str) -> Spec | None:
    return _SPECS.get(name)


def names() -> list[str]:
    return sorted(_SPECS)
