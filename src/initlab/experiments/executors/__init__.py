"""Where a sweep's chunks train: `executor="local"` or `executor="ray"` (see experiments/sweep.py, docs/ray.md).

local   this process, with worker processes forked on the CPU (engine/shards.py: run_jobs): compare's chunk
        loop and double descent's bucket assignment, unchanged.
ray     ray_executor.py (driver: connect, submit, stream results back, retries, failures) and tasks.py (what a
        Ray task runs on its worker: one chunk through the same engine `fit` and stacks as the local path).

Either way the driver alone writes the store, through the same RunSink/RunStore, as each chunk finishes.
Ray is imported only when executor="ray" is asked for.
"""
from ..sweep import EXECUTORS

__all__ = ["EXECUTORS"]
