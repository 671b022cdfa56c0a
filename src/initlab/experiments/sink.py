"""The run sink shared by compare, double descent and the reproductions: where finished runs go.

`store` means the same thing in every experiment API:

    None / False     no store: nothing is saved and nothing is resumed (results live in the returned object)
    True             the default store ./initlab-runs/runs.sqlite (folder created)
    a path           a RunStore at that path (opened and closed by the experiment)
    a RunStore       used as is (the caller closes it)

(The CLI `initlab compare` passes the default store path unless --no-store.)  A RunSink saves each
run as soon as it is finished, tells which runs are already done (resume), and drives a progress bar.

Several processes on one store (two `initlab compare` of the same config started together) share the
work: `RunSink.claimed` hands out only runs this process has leased (store_leases.py), and once its own
chunks are done waits for the runs other processes hold, takes over those whose owner died or stopped
renewing, and lets the caller load the rest from the store.  So no run is trained twice.
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

POLL_S = 0.5            # how often a process waiting for another one's runs looks at the store


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
    """Finished runs -> the store (one transaction each, at once), with resume, leases and a progress bar.

    sink = RunSink(store, config, config_hash); sink.done() -> {(policy, seed)}; sink.save(record);
    for chunk in sink.claimed(chunks): train chunk, sink.save each run (this process trains only what it
    leased); sink.update(fraction) advances the bar (fit calls it per step) and renews the leases;
    close() releases what is still leased and closes what it opened."""

    def __init__(self, store, config: dict, config_hash: str, *, progress=None, where: str = "store",
                 ttl: float | None = None):
        from .store_leases import LEASE_TTL_S, new_owner
        self.store, self._owned = open_store(store, where)
        self.config, self.hash, self.progress = config, config_hash, progress
        self.saved = 0
        # ttl: how long a lease lasts without renewal (compare: LEASE_TTL_S; double descent, whose width buckets
        # train for minutes between saves: dd_runs.DD_LEASE_TTL_S)
        self.owner, self.ttl = new_owner(), LEASE_TTL_S if ttl is None else float(ttl)
        self._held: set = set()
        self._renewed = time.monotonic()
        self._as: dict = {}                      # canonical policy name -> the spelling this sweep asked for

    def expect(self, labels) -> None:
        """The policy labels this sweep uses: runs stored under another spelling of the same policy (a store
        written when presets were spelled 'torch-default') are found, and read back under these labels."""
        from ..policy.api import canonical_name
        self._as = {canonical_name(label): label for label in labels}
        self._seen: dict = {}

    def _label(self, stored: str) -> str:
        if not self._as:
            return stored
        if stored not in self._seen:             # done() is polled while waiting: resolve each label once
            from ..policy.api import canonical_name
            self._seen[stored] = self._as.get(canonical_name(stored), stored)
        return self._seen[stored]

    @property
    def path(self):
        return str(self.store.path) if self.store is not None else None

    def done(self) -> set:
        if self.store is None:
            return set()
        return {(self._label(p), s) for p, s in self.store.done(self.hash)}

    def existing(self, keys) -> dict:
        """{(policy, seed): RunRecord} of the given keys already in the store."""
        if self.store is None:
            return {}
        keys, out = set(keys), {}
        for r in self.store.runs(config_hash=self.hash):
            p = self._label(r.policy)
            if (p, r.seed) in keys:
                if p != r.policy:
                    r = replace(r, policy=p)
                out[(p, r.seed)] = r
        return out

    # ------------------------------------------------------------------ leases
    def claim(self, keys) -> list:
        """Lease the runs of `keys` nobody else is training and that are not stored; returns them."""
        if self.store is None:
            return list(keys)
        got = self.store.claim(self.hash, keys, self.owner, self.ttl)
        self._held.update(got)
        self._renewed = time.monotonic()
        return got

    def claimed(self, chunks, *, log=None, poll_s: float | None = None):
        """Yield the runs of `chunks` (lists of (policy, seed)) that this process trains, chunk by chunk.

        Each chunk is claimed just before it is yielded; runs another process holds are put aside, and once
        this process's chunks are done it waits for them: those that appear in the store are left to the
        caller to load (sink.existing), those whose owner died or let its lease expire are claimed and
        yielded (in chunks no larger than the largest given).  Without a store every chunk is yielded.
        poll_s: how often the store is looked at while waiting (default POLL_S)."""
        poll_s = POLL_S if poll_s is None else poll_s
        if self.store is None:
            yield from (list(c) for c in chunks if c)
            return
        size = max((len(c) for c in chunks), default=1)
        later = []
        for cj in chunks:
            got = self.claim(cj)
            mine = set(got)
            later += [k for k in cj if k not in mine]
            if got:
                yield got
        told = False
        while later:
            done = self.done()
            later = [k for k in later if k not in done]
            got = self.claim(later) if later else []
            for i in range(0, len(got), size):
                yield got[i:i + size]
            mine = set(got)
            later = [k for k in later if k not in mine]
            if later and not got:
                if log is not None and not told:
                    who = sorted({f"pid {v['pid']} on {v['host']}" for k, v in self.store.holders(self.hash).items()
                                  if k in set(later)})
                    log(f"initlab: waiting for {len(later)} run(s) of this config that another process is "
                        f"training ({', '.join(who) or 'finishing'}); they are loaded from the store when saved")
                    told = True
                time.sleep(poll_s)

    def _renew(self, force: bool = False) -> None:
        if self.store is None or not self._held:
            return
        if force or time.monotonic() - self._renewed > self.ttl / 10:
            self._renewed = time.monotonic()
            try:
                self.store.renew(self.hash, self.owner, self.ttl)
            except sqlite3.Error:   # a busy store: the lease still runs for most of its TTL; retry at the next tick
                pass

    def keep_alive(self) -> None:
        """Renew this sink's leases if due (every TTL / 10): for a caller that waits without progress ticks
        (the Ray driver while its tasks run)."""
        self._renew()

    def release(self, keys=None) -> None:
        """Drop the leases this sink still holds: all (runs not saved: Ctrl-C, an error), or those of `keys`
        (runs that failed: another process may train them)."""
        if self.store is not None and self._held and not self.store.readonly:
            keys = None if keys is None else [(str(p), int(s)) for p, s in keys]
            try:
                self.store.release(self.hash, self.owner, keys)
            except sqlite3.Error:   # pragma: no cover - the owner is gone soon anyway: its leases lapse
                pass
            if keys is None:
                self._held.clear()
            else:
                self._held.difference_update(keys)

    # ------------------------------------------------------------------ saving and progress
    def save(self, record) -> None:
        if self.store is not None:
            self.store.save(record, self.config)       # deletes the run's lease in the same transaction
            self._held.discard((record.policy, int(record.seed)))
            self.saved += 1
            self._renew()                              # (if due) for callers whose steps tick elsewhere

    def update(self, n: float = 1) -> None:
        if self.progress is not None:
            self.progress.update(n)
        self._renew()

    def ticking(self, bar):
        """`bar` (a progress bar, or None) as the trainer's progress sink that also renews this sink's leases."""
        return _Ticking(self, bar)

    def close(self) -> None:
        try:
            self.release()
        finally:
            if self._owned and self.store is not None:
                self.store.close()


class _Ticking:
    """A progress bar whose update() also renews the leases (the trainer calls it per step); every other
    attribute (``done``, ``note``, ``log``) is the bar's."""

    def __init__(self, sink: RunSink, bar):
        object.__setattr__(self, "_sink", sink)
        object.__setattr__(self, "_bar", bar)

    def update(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)
        self._sink._renew()

    def __getattr__(self, name):
        return getattr(self._bar, name)

    def __setattr__(self, name, value):
        setattr(self._bar, name, value)
