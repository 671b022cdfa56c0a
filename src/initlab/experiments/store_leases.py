"""Run leases: processes sharing a store claim runs before training them, so none is trained twice.

A lease row says "process `owner` (host, pid) trains (config hash, policy, seed) until `expires`".
`claim` hands out, in one ``BEGIN IMMEDIATE`` transaction (so two processes cannot both win a run),
the asked runs that are neither stored nor leased by a live owner.  A lease can be taken over when

* it has expired (the owner renews it while it trains: `renew`, called from the progress ticks), or
* its owner ran on this host and its pid is gone (killed: SIGKILL leaves its rows, which are taken
  over at once instead of after the expiry).

Saving a run deletes its lease in the save's own transaction, and `release` drops what a process
still holds when it stops (Ctrl-C, an error).  A lease never blocks reading, and losing one (an owner
paused longer than the TTL) costs at worst a run trained twice, never a wrong or corrupt row: a save
replaces the same key atomically.

The table is additive (``CREATE TABLE IF NOT EXISTS`` when a store is opened for writing), so stores
written before it open unchanged and older initlab versions, which ignore it, still read newer stores.
"""
from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import time

LEASE_TTL_S = 300.0      # generous: an owner renews every LEASE_TTL_S / 10 while its steps tick
LEASES_SQL = """
CREATE TABLE IF NOT EXISTS leases (
    config_hash TEXT NOT NULL,
    policy      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    owner       TEXT NOT NULL,        -- host:pid:token of the process training the run
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    expires     REAL NOT NULL,        -- Unix time
    PRIMARY KEY (config_hash, policy, seed)
)
"""
HOST = socket.gethostname()


def new_owner() -> str:
    """A lease owner id: host, pid and a random token (a pid can be reused)."""
    return f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_alive(host: str, pid: int) -> bool:
    """False only when the owner ran on this host and its process is gone; elsewhere, wait for the expiry."""
    if host != HOST:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:          # PermissionError: it exists, under another user
        return True
    return True


class LeaseMixin:
    """claim / renew / release / holders for RunStore (uses its _tx, _lock and _conn)."""

    def claim(self, config_hash: str, keys, owner: str, ttl: float = LEASE_TTL_S) -> list[tuple[str, int]]:
        """Lease the runs of `keys` ((policy, seed) pairs) that are not stored and not leased by a live
        other owner; returns them in the order asked.  One transaction: two claimers never share a run."""
        keys = [(str(p), int(s)) for p, s in keys]
        now = time.time()
        with self._tx() as c:
            done = {(p, int(s)) for p, s in c.execute("SELECT policy, seed FROM runs WHERE config_hash = ?",
                                                      (config_hash,))}
            held = {(p, int(s)): (o, host, pid, exp) for p, s, o, host, pid, exp in c.execute(
                "SELECT policy, seed, owner, host, pid, expires FROM leases WHERE config_hash = ?", (config_hash,))}
            got = []
            for k in dict.fromkeys(keys):
                lease = held.get(k)
                if k in done or (lease is not None and lease[0] != owner and lease[3] > now
                                 and owner_alive(lease[1], lease[2])):
                    continue
                got.append(k)
            c.executemany("INSERT OR REPLACE INTO leases(config_hash, policy, seed, owner, host, pid, expires) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(config_hash, p, s, owner, HOST, os.getpid(), now + ttl) for p, s in got])
        return got

    def renew(self, config_hash: str, owner: str, ttl: float = LEASE_TTL_S) -> int:
        """Push back the expiry of every lease `owner` holds on `config_hash`; returns how many."""
        with self._tx() as c:
            return c.execute("UPDATE leases SET expires = ? WHERE config_hash = ? AND owner = ?",
                             (time.time() + ttl, config_hash, owner)).rowcount

    def release(self, config_hash: str, owner: str, keys=None) -> int:
        """Drop `owner`'s leases on `config_hash` (all, or those of `keys`); returns how many."""
        with self._tx() as c:
            if keys is None:
                return c.execute("DELETE FROM leases WHERE config_hash = ? AND owner = ?",
                                 (config_hash, owner)).rowcount
            return sum(c.execute("DELETE FROM leases WHERE config_hash = ? AND owner = ? AND policy = ? "
                                 "AND seed = ?", (config_hash, owner, p, int(s))).rowcount for p, s in keys)

    def holders(self, config_hash: str) -> dict[tuple[str, int], dict]:
        """Current leases of `config_hash`: {(policy, seed): {"owner", "host", "pid", "expires"}}."""
        with self._lock:
            try:
                rows = self._conn.execute("SELECT policy, seed, owner, host, pid, expires FROM leases "
                                          "WHERE config_hash = ?", (config_hash,)).fetchall()
            except sqlite3.OperationalError:      # a store from before leases, opened read-only: none
                return {}
        return {(p, int(s)): {"owner": o, "host": h, "pid": int(pid), "expires": float(e)}
                for p, s, o, h, pid, e in rows}
