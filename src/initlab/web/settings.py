"""What a click asks for (`Settings`), checked against the demo's bounds before any work starts.

The page's number fields are free-form: a value beyond a bound comes back as one readable message in
the page (initlab's error format: argument, value, allowed values, fix), never as a traceback.
Bounds (issue 14): depth <= 64, width <= 2048, epochs <= 500, samples <= 20 000.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InitError, bad_argument, unknown_choice

WHERE = "initlab demo"
MAX_DEPTH, MAX_WIDTH, MAX_EPOCHS, MAX_SAMPLES, MAX_BATCH = 64, 2048, 500, 20_000, 4096
TOY_2D = ("moons", "circles", "spirals", "points2d")
DATASETS = TOY_2D + ("digits", "fashion-mnist")
DATASET_LABELS = {"moons": "moons (2-D)", "circles": "circles (2-D)", "spirals": "spirals (2-D)",
                  "points2d": "seed-000 points (2-D)", "digits": "digits (8x8, 10 classes)",
                  "fashion-mnist": "Fashion-MNIST subset (28x28, 10 classes)"}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "gelu", "selu", "silu", "elu", "identity")
BUILT = "MLP (depth x width below)"      # the architecture choice when no --model was given


@dataclass(frozen=True)
class Settings:
    init_a: str
    init_b: str
    activation: str
    depth: int
    width: int
    dataset: str
    samples: int
    lr: float
    optimizer: str
    epochs: int
    batch_size: int
    seed: int
    model: str = BUILT             # BUILT, or the model spec given on the command line
    lr_schedule: str = "constant"  # the learning rate over the run's steps (engine/schedule.py)

    @property
    def two_d(self) -> bool:
        return self.dataset in TOY_2D

    @property
    def inits(self) -> tuple[str, str]:
        return self.init_a, self.init_b


def _int(arg: str, v, lo: int, hi: int, fix: str) -> int:
    if v is None or isinstance(v, bool) or isinstance(v, str) and not v.strip():
        raise bad_argument(WHERE, arg, v, f"an integer from {lo} to {hi}", fix)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise bad_argument(WHERE, arg, v, f"an integer from {lo} to {hi}", fix) from None
    if not math.isfinite(f) or f != int(f) or not lo <= f <= hi:
        raise bad_argument(WHERE, arg, v if not isinstance(v, float) or v != int(v) else int(v),
                           f"an integer from {lo} to {hi}", fix)
    return int(f)


def parse(init_a, init_b, activation, depth, width, dataset, samples, lr, optimizer, epochs, batch_size, seed,
          model=BUILT, lr_schedule="constant", *, policies=(), cli_model=None) -> Settings:
    """Settings from the page's raw values; InitError (one readable message) on anything out of bounds."""
    from ..experiments.engine import OPTIMIZERS
    from ..experiments.engine.schedule import LR_SCHEDULES
    for arg, v in (("init A", init_a), ("init B", init_b)):
        if v not in policies:
            raise unknown_choice(WHERE, arg, v, policies, "pick a registered scheme or policy from the list")
    if activation not in ACTIVATIONS:
        raise unknown_choice(WHERE, "activation", activation, ACTIVATIONS)
    if dataset not in DATASETS:
        raise unknown_choice(WHERE, "data set", dataset, DATASETS)
    if optimizer not in OPTIMIZERS:
        raise unknown_choice(WHERE, "optimizer", optimizer, OPTIMIZERS)
    if lr_schedule not in LR_SCHEDULES:
        raise unknown_choice(WHERE, "LR schedule", lr_schedule, LR_SCHEDULES)
    if model != BUILT and model != cli_model:
        # the page never takes code: a model other than the built MLP comes from the command line only
        raise bad_argument(WHERE, "model", model, f"{BUILT!r}" + (f" or {cli_model!r}" if cli_model else ""),
                           "start the demo with `initlab demo --model SPEC_OR_FILE` to offer your own model")
    d = _int("depth", depth, 1, MAX_DEPTH, f"the demo trains at most {MAX_DEPTH} hidden layers; for deeper nets "
             "use the Python API (initlab.diagnose) or `initlab diagnose deep-mlp:DEPTH:WIDTH`")
    w = _int("width", width, 1, MAX_WIDTH, f"use a width of at most {MAX_WIDTH} units")
    n = _int("samples", samples, 10, MAX_SAMPLES, f"use 10 to {MAX_SAMPLES} training samples")
    e = _int("epochs", epochs, 1, MAX_EPOCHS, f"use 1 to {MAX_EPOCHS} epochs")
    b = _int("batch size", batch_size, 1, MAX_BATCH, "e.g. 32")
    s = _int("seed", seed, 0, 2 ** 31 - 1, "e.g. 0")
    try:
        rate = float(lr)
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and 0 < rate <= 10):
        raise bad_argument(WHERE, "learning rate", lr, "a number in (0, 10]", "e.g. 0.05 for SGD, 0.003 for Adam")
    return Settings(init_a, init_b, activation, d, w, dataset, n, rate, optimizer, e, b, s, model, lr_schedule)


def message(exc: BaseException) -> str:
    """One line for the page: initlab's own errors as they are, anything else with its type (no traceback)."""
    if isinstance(exc, InitError):
        return str(exc)
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
