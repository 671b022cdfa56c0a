"""Former home of the trainers; everything now lives in the engine (experiments/engine/).  Kept so that
``from initlab.experiments.trainers import train_runs, TrainConfig, TrainData`` keeps working."""
from .engine import (OPTIMIZERS, PATHS, RunResult, TrainConfig, TrainData, TrainOutcome, pick_threads,  # noqa: F401
                     resolve_device, sharding_applies, train_runs, train_sequential, train_vectorized,
                     vectorized_support)
from .engine.losses import LOSSES  # noqa: F401
from .engine.seeds import derive_seed


def dropout_seed(seed: int) -> int:
    """Seed of the dropout generator of `seed` (derive_seed("dropout", seed))."""
    return derive_seed("dropout", seed)
