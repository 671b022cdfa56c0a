"""Former home of the process shards; now experiments/engine/shards.py (re-exported here)."""
from .engine.shards import fit_sharded, fork_available, run_jobs, slices, usable_cores  # noqa: F401
