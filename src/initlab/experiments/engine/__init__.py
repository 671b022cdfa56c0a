"""The training engine: one epoch loop (`fit`) over one Stack interface, used by every experiment.

    from initlab.experiments.engine import TrainConfig, TrainData, train_runs
    out = train_runs(models, seeds, data, TrainConfig(epochs=2, lr=0.05, batch_size=100))

Pieces (one concept per file): seeds.py (derive_seed, the dropout rule), optim.py (SGD / momentum /
Adam / AdamW), losses.py, stack.py (the interface), autograd_stack.py, vmap_stack.py, mlp_stack.py +
mlp_kernel.py + mlp_plan.py (the stacked-MLP kernel with width masks), fit.py (the loop), train.py
(which stack, fallback), shards.py (worker processes; `run_job`, one job through `fit`: what
every worker and every Ray task runs), sink.py (store, progress, resume, JSON).
"""
from .fit import compare_row, fit
from .optim import OPTIMIZERS, Optimizer
from .seeds import derive_seed, draw_mask
from .shards import run_job
from .spec import RunResult, TrainConfig, TrainData
from .stack import Stack
from .train import (PATHS, STACKS, TrainOutcome, pick_threads, resolve_device, sharding_applies, train_runs,
                    train_sequential, train_stack, train_vectorized, vectorized_support)

__all__ = ["fit", "run_job", "compare_row", "Optimizer", "OPTIMIZERS", "derive_seed", "draw_mask", "RunResult",
           "TrainConfig", "TrainData", "Stack", "PATHS", "STACKS", "TrainOutcome", "pick_threads", "resolve_device",
           "sharding_applies", "train_runs", "train_sequential", "train_stack", "train_vectorized",
           "vectorized_support"]
