"""The run sink shared by compare, double descent and the reproductions: where finished runs go.

`store` means the same thing in every experiment API:

    None / False     no store: nothing is saved and nothing is resumed (results live in the returned object)
    True             the default store ./initlab-runs/runs.sqlite (folder created)
    a path           a RunStore at that path (opened and closed by the experiment)
    a RunStore       used as is (the caller closes it)

(The CLI `initlab compare` passes the default store path unless --no-store.)  A RunSink saves each
run as soon as it is finished, tells which runs are already done (resume), and drives a progress bar.
"""
from __future__ import annotations

import os
from pathlib import Path


def open_store(store, where: str = "store"):
    """(RunStore or None, opened_here) for the `store` argument of an experiment (see the module docstring)."""
    from ..errors import bad_argument
    from .store import DEFAULT_DIR, DEFAULT_NAME, RunStore
    if store is None or store is False:
        return None, False
    if store is True:
        return RunStore(Path(DEFAULT_DIR) / DEFAULT_NAME), True
    if isinstance(store, RunStore):
        return store, False
    if isinstance(store, (str, os.PathLike)):
        return RunStore(store), True
    raise bad_argument(where, "store", store, "None (no store), True (./initlab-runs/runs.sqlite), a path or a "
                       "RunStore", "e.g. store='runs.sqlite'")


class RunSink:
    """Finished runs -> the store (one transaction each, at once), with resume and a progress bar.

    sink = RunSink(store, config, config_hash); sink.done() -> {(policy, seed)}; sink.save(record);
    sink.update(fraction) advances the bar (fit calls it per step); close() closes what it opened."""

    def __init__(self, store, config: dict, config_hash: str, *, progress=None, where: str = "store"):
        self.store, self._owned = open_store(store, where)
        self.config, self.hash, self.progress = config, config_hash, progress
        self.saved = 0

    @property
    def path(self):
        return str(self.store.path) if self.store is not None else None

    def done(self) -> set:
        return self.store.done(self.hash) if self.store is not None else set()

    def existing(self, keys) -> dict:
        """{(policy, seed): RunRecord} of the given keys already in the store."""
        if self.store is None:
            return {}
        keys = set(keys)
        return {(r.policy, r.seed): r for r in self.store.runs(config_hash=self.hash) if (r.policy, r.seed) in keys}

    def save(self, record) -> None:
        if self.store is not None:
            self.store.save(record, self.config)
            self.saved += 1

    def update(self, n: float = 1) -> None:
        if self.progress is not None:
            self.progress.update(n)

    def close(self) -> None:
        if self._owned and self.store is not None:
            self.store.close()
