"""Double descent on a shared store: two sweeps of one config never train the same (width, seed) run.

`shared_sweep(_sweep, policy, widths, seeds, n, store=..., **kw)` runs double_descent's `_sweep` with a
store view that, when asked which runs are done, first leases every missing (width, seed) run it can
(store_leases.py) and reports the runs another live process holds as done too: this sweep trains only
its own.  Afterwards it waits until the other process has saved them (or died, or let its lease lapse:
then the next pass claims and trains them) and runs `_sweep` once more, which loads them from the store.
A width bucket can run for many minutes without a save, so these leases last DD_LEASE_TTL_S (a killed
owner on this host is detected at once by its pid; the TTL only matters across hosts).
"""
from __future__ import annotations

import time

from .store_leases import new_owner, owner_alive

DD_LEASE_TTL_S = 3600.0
POLL_S = 1.0


class _LeasedStore:
    """The RunStore of a sweep, seen through this process's leases (done = stored + held by others)."""

    def __init__(self, store, keys, ttl: float):
        self.store, self.keys, self.ttl = store, list(keys), ttl
        self.owner, self.hash, self.others = new_owner(), None, set()

    def __getattr__(self, name):                 # runs(), path, ... are the store's
        return getattr(self.store, name)

    def done(self, h) -> set:
        self.hash = h
        real = self.store.done(h)
        mine = set(self.store.claim(h, [k for k in self.keys if k not in real], self.owner, self.ttl))
        self.others = {k for k in self.keys if k not in real and k not in mine}
        return real | self.others

    def save(self, record, config) -> None:
        self.store.save(record, config)          # also ends this run's lease
        self.store.renew(self.hash, self.owner, self.ttl)

    def takeable(self) -> bool:
        """True when no run of `others` is still held by a live owner (each is stored or can be claimed)."""
        done, now = self.store.done(self.hash), time.time()
        held = self.store.holders(self.hash)
        return not any(k not in done and k in held and held[k]["expires"] > now
                       and owner_alive(held[k]["host"], held[k]["pid"]) for k in self.others)

    def release(self) -> None:
        if self.hash is not None:
            self.store.release(self.hash, self.owner)


def shared_sweep(sweep, policy, widths, seeds, n, *, store, log, **kw) -> dict:
    """`sweep(policy, widths, seeds, n, store=store, log=log, **kw)`, sharing the store's runs with other
    processes (see the module docstring); "trained" counts this process's trainings over every pass."""
    if store is None or getattr(store, "readonly", False):
        return sweep(policy, widths, seeds, n, store=store, log=log, **kw)
    from .double_descent import run_label
    view = _LeasedStore(store, [(run_label(policy, w), int(s)) for w in widths for s in seeds], DD_LEASE_TTL_S)
    trained, buckets, told = 0, [], False
    try:
        while True:
            sw = sweep(policy, widths, seeds, n, store=view, log=log, **kw)
            trained += sw["trained"]
            buckets += sw["buckets"]
            if not view.others:
                break
            if not told:
                log(f"waiting for {len(view.others)} run(s) of this sweep that another process is training; "
                    "they are loaded from the store when saved")
                told = True
            while not view.takeable():
                time.sleep(POLL_S)
    finally:
        view.release()
    sw["trained"], sw["skipped"], sw["buckets"] = trained, len(widths) * len(seeds) - trained, buckets
    return sw
