"""SQLite store of finished runs: one row per (config hash, policy, seed) plus its epochs.

    store = RunStore()                       # ./initlab-runs/runs.sqlite (folder created)
    todo = [(p, s) for p in policies for s in seeds if (p, s) not in store.done(h)]
    store.save(record, config)               # config once by hash, run + epochs in ONE transaction
    store.runs(h)                            # -> list[RunRecord], history ordered by epoch
    store.export("runs.csv")                 # or .json

Durability
----------
* ``journal_mode=WAL`` and ``synchronous=FULL``: every ``save`` is one transaction
  (``BEGIN IMMEDIATE`` ... ``COMMIT``) and the WAL is fsync'ed at each commit, so a
  finished run survives a process kill (SIGINT, SIGKILL) *and* an OS crash or power
  loss.  ``synchronous=NORMAL`` would also be safe against process kills and
  corruption in WAL mode, but could lose the last commits on power loss; one fsync
  per trained model is negligible next to the training itself, so FULL is used.
* A kill in the middle of ``save`` leaves nothing of that run: the transaction is
  rolled back (explicitly on KeyboardInterrupt/exceptions, by SQLite's recovery
  of the uncommitted WAL frames after SIGKILL).  A second ``save`` of the same key
  deletes the old run and its epochs and writes the new ones in the same
  transaction, so a reader sees either the old run or the new one.
* ``busy_timeout`` (30 s) lets several processes (parallel workers) write to one
  store; ``foreign_keys=ON``; a ``schema_version`` table records the layout
  (``SCHEMA_VERSION``) and a store written by a newer initlab is refused.
* Processes running the same config share the work through lease rows (``claim`` /
  ``renew`` / ``release``, see store_leases.py): no run is trained twice.

Files that are not a store
--------------------------
Nothing is written before the file is known to be a store (or empty): see store_files.py.
A foreign SQLite file or any other file is refused and left byte for byte as it was; a
0-byte file is initialised only by a writer (as SQLite itself would), never by a reader.
``RunStore(path, readonly=True)`` reads a store it cannot write (file mode 0444, a
read-only folder); a writer on such a store fails with one line naming the path and the fix.

Metrics are stored as JSON text per epoch (non-finite losses of diverged runs
round-trip as NaN/Infinity).  Exports replace non-finite numbers by an empty CSV
cell / JSON ``null`` so that other tools can read them.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..errors import InitError, bad_argument
from .jsonsafe import json_safe  # noqa: F401  (re-exported: the one serializer)
from .records import DIVERGED, FINISHED, RunRecord
from .store_files import DESCRIBE, connect_readonly, is_readonly_error, readonly_reason, sniff
from .store_leases import LEASES_SQL, LeaseMixin

SCHEMA_VERSION = 1
DEFAULT_DIR = "initlab-runs"
DEFAULT_NAME = "runs.sqlite"
BUSY_TIMEOUT_S = 30.0
EXPORT_FORMATS = ("csv", "json")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS configs (
    hash     TEXT PRIMARY KEY,
    config   TEXT NOT NULL,           -- JSON
    created  TEXT NOT NULL            -- UTC, ISO 8601
);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    config_hash TEXT NOT NULL REFERENCES configs(hash),
    policy      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('finished', 'diverged')),
    n_epochs    INTEGER NOT NULL,     -- number of rows this run has in `epochs`
    final       TEXT NOT NULL,        -- JSON: metrics of the last epoch
    seconds     REAL NOT NULL,
    created     TEXT NOT NULL,
    UNIQUE (config_hash, policy, seed)
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch    INTEGER NOT NULL,
    metrics  TEXT NOT NULL,           -- JSON: {"train_loss": .., "val_loss": .., ...}
    PRIMARY KEY (run_id, epoch)
);
CREATE INDEX IF NOT EXISTS runs_by_hash ON runs(config_hash, policy);
""" + LEASES_SQL


def default_path() -> Path:
    """``./initlab-runs/runs.sqlite`` relative to the current directory."""
    return Path.cwd() / DEFAULT_DIR / DEFAULT_NAME


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _jsonable(v):
    """json.dumps default: NumPy scalars / 0-d tensors via .item(), arrays via .tolist(), else str."""
    if hasattr(v, "item"):
        try:
            return v.item()
        except (TypeError, ValueError):
            pass
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _dumps(v) -> str:
    return json.dumps(v, default=_jsonable)


class RunStore(LeaseMixin):
    """Finished and diverged runs in one SQLite file (see the module docstring).

    Safe to share between threads (one connection, serialized by a lock); several
    processes may write to one file (WAL + busy timeout), each with its own RunStore
    (do not carry an open store across fork).  Use as a context manager or ``close()``.
    Metric values may be Python or NumPy numbers or 0-d tensors (anything with ``.item()``).

    create=False: the store must exist (a 0-byte file is not one).  readonly=True: open an existing
    store for reading only (no write access needed; every writing method raises InitError).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True, readonly: bool = False):
        self.path = Path(path) if path is not None else default_path()
        self.readonly = bool(readonly)
        if self.path.is_dir():
            raise bad_argument("RunStore", "path", str(self.path), "a file path, not a folder",
                               f"pass {str(self.path / DEFAULT_NAME)!r}")
        kind = sniff(self.path)                 # reads only: nothing is written to a file that is not a store
        writer = create and not self.readonly
        if kind == "missing":
            if not writer:
                raise bad_argument("RunStore", "path", str(self.path), "an existing run store",
                                   "run `initlab compare ...` first, or pass --store PATH to the store it wrote")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise bad_argument("RunStore", "path", str(self.path), "a path whose folder can be created",
                                   f"{e.strerror or e}: {e.filename or self.path.parent}; pass another --store PATH"
                                   ) from None
        elif kind != "store" and not (writer and kind in ("empty", "sqlite-empty")):
            raise bad_argument("RunStore", "path", str(self.path), "an initlab SQLite run store",
                               f"this file is {DESCRIBE[kind]} and was left as it is; pass another --store PATH")
        self._lock = threading.RLock()
        if self.readonly:
            try:
                self._conn = connect_readonly(self.path, BUSY_TIMEOUT_S)
            except sqlite3.DatabaseError as e:
                raise bad_argument("RunStore", "path", str(self.path), "a readable initlab SQLite run store",
                                   f"SQLite cannot read it ({e}); check its permissions or pass another --store PATH"
                                   ) from None
            self._check_version()
            return
        why = readonly_reason(self.path)
        if why:
            raise self._readonly_error(why)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S,
                                         isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as e:
            raise bad_argument("RunStore", "path", str(self.path), "a writable file path",
                               f"SQLite cannot open it ({e}); pass another --store PATH") from None
        try:
            self._setup()
        except sqlite3.DatabaseError as e:
            self._conn.close()
            if is_readonly_error(e):
                raise self._readonly_error(f"SQLite: {e}") from None
            raise bad_argument("RunStore", "path", str(self.path), "an initlab SQLite run store",
                               f"this file is not one ({e}); pass another --store PATH") from None
        except BaseException:
            self._conn.close()
            raise

    def _readonly_error(self, why: str) -> InitError:
        return InitError(f"RunStore: the run store {str(self.path)!r} cannot be written ({why}). Fix: make the "
                         f"file and its folder writable (chmod u+w), or copy the store to a writable folder and "
                         f"pass --store COPY (or --no-store); reading it works as it is (initlab runs --store PATH, "
                         f"RunStore(PATH, readonly=True)).")

    # ------------------------------------------------------------------ setup
    def _check_version(self) -> None:
        row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if row[0] is not None and row[0] > SCHEMA_VERSION:
            self._conn.close()
            raise InitError(f"RunStore: {self.path} has schema version {row[0]}, newer than this "
                            f"initlab understands ({SCHEMA_VERSION}). Fix: upgrade initlab or use another store.")

    def _setup(self) -> None:
        c = self._conn
        c.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # pragma: no cover - e.g. a read-only or network file system
            raise InitError(f"RunStore: could not switch {self.path} to WAL mode (got {mode!r}). "
                            "Fix: put the store on a local, writable disk.")
        c.execute("PRAGMA synchronous = FULL")
        c.execute("PRAGMA foreign_keys = ON")
        with self._tx() as c:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            row = c.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is None:
                c.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
        self._check_version()

    class _Tx:
        def __init__(self, store: "RunStore"):
            self.store = store

        def __enter__(self):
            if self.store.readonly:
                raise InitError(f"RunStore: {str(self.store.path)!r} was opened read-only (readonly=True). "
                                "Fix: open it with RunStore(path) to write.")
            self.store._lock.acquire()
            try:
                self.store._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._conn

        def __exit__(self, exc_type, exc, tb):
            try:
                if exc_type is None:
                    self.store._conn.execute("COMMIT")
                else:
                    try:
                        self.store._conn.execute("ROLLBACK")
                    except sqlite3.Error:  # pragma: no cover - already rolled back
                        pass
            finally:
                self.store._lock.release()
            return False

    def _tx(self) -> "_Tx":
        return RunStore._Tx(self)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # ------------------------------------------------------------------ writing
    def save(self, record: RunRecord, config: dict) -> None:
        """Store `config` (once, under ``record.config_hash``) and the run with all its epochs.

        One transaction: after a kill, either the whole run is there or none of it.
        Saving the same (config hash, policy, seed) again replaces the run atomically.
        """
        if record.status not in (FINISHED, DIVERGED):
            raise bad_argument("RunStore.save", "record.status", record.status,
                               f"{FINISHED!r} or {DIVERGED!r}", "only finished or diverged runs are stored")
        if not isinstance(config, dict):
            raise bad_argument("RunStore.save", "config", type(config).__name__, "a dict",
                               "pass the JSON-able config the run was trained with")
        history = sorted((dict(h) for h in record.history), key=lambda h: int(h.get("epoch", 0)))
        epochs = []
        for i, h in enumerate(history, start=1):
            ep = int(h.pop("epoch", i))
            epochs.append((ep, _dumps(h)))
        if len({e for e, _ in epochs}) != len(epochs):
            raise bad_argument("RunStore.save", "record.history", [e for e, _ in epochs],
                               "distinct epoch numbers", "record one dict per epoch")
        config_json = json.dumps(config, sort_keys=True, default=_jsonable)
        final_json = _dumps(record.final)
        key = (record.config_hash, record.policy, int(record.seed))
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO configs(hash, config, created) VALUES (?, ?, ?)",
                      (record.config_hash, config_json, _now()))
            c.execute("DELETE FROM runs WHERE config_hash = ? AND policy = ? AND seed = ?", key)
            c.execute("DELETE FROM leases WHERE config_hash = ? AND policy = ? AND seed = ?", key)  # done now
            cur = c.execute("INSERT INTO runs(config_hash, policy, seed, status, n_epochs, final, seconds, created)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            key + (record.status, len(epochs), final_json, float(record.seconds), _now()))
            run_id = cur.lastrowid
            c.executemany("INSERT INTO epochs(run_id, epoch, metrics) VALUES (?, ?, ?)",
                          [(run_id, e, m) for e, m in epochs])

    def delete(self, config_hash: str, policy: str | None = None) -> int:
        """Delete the runs of a config (optionally one policy); returns how many were deleted."""
        q, args = "DELETE FROM runs WHERE config_hash = ?", [config_hash]
        if policy is not None:
            q += " AND policy = ?"
            args.append(policy)
        with self._tx() as c:
            return c.execute(q, args).rowcount

    # ------------------------------------------------------------------ reading
    def done(self, config_hash: str) -> set[tuple[str, int]]:
        """(policy, seed) pairs of `config_hash` already finished or diverged (a rerun skips them)."""
        with self._lock:
            rows = self._conn.execute("SELECT policy, seed FROM runs WHERE config_hash = ? "
                                      "AND status IN (?, ?)", (config_hash, FINISHED, DIVERGED)).fetchall()
        return {(p, int(s)) for p, s in rows}

    def runs(self, config_hash: str | None = None, policy: str | None = None) -> list[RunRecord]:
        """Stored runs (all, or of one config / policy) ordered by config hash, policy, seed."""
        where, args = [], []
        if config_hash is not None:
            where.append("config_hash = ?")
            args.append(config_hash)
        if policy is not None:
            where.append("policy = ?")
            args.append(policy)
        q = "SELECT id, config_hash, policy, seed, status, final, seconds FROM runs"
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY config_hash, policy, seed"
        eq = ("SELECT e.run_id, e.epoch, e.metrics FROM epochs e JOIN runs ON runs.id = e.run_id"
              + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.run_id, e.epoch")
        with self._lock:                       # one read transaction: runs and epochs are consistent
            self._conn.execute("BEGIN")
            try:
                rows = self._conn.execute(q, args).fetchall()
                eps = self._conn.execute(eq, args).fetchall()
            finally:
                self._conn.execute("COMMIT")
        hist: dict[int, list[dict]] = {}
        for rid, e, m in eps:
            hist.setdefault(rid, []).append({"epoch": e, **json.loads(m)})
        return [RunRecord(policy=p, seed=int(s), config_hash=h, status=status, history=hist.get(rid, []),
                          final=json.loads(final), seconds=float(seconds))
                for rid, h, p, s, status, final, seconds in rows]

    def config(self, config_hash: str) -> dict | None:
        """The config stored under `config_hash`, or None."""
        with self._lock:
            row = self._conn.execute("SELECT config FROM configs WHERE hash = ?", (config_hash,)).fetchone()
        return json.loads(row[0]) if row else None

    def configs(self) -> list[dict]:
        """Every stored config: {"hash", "config", "created", "runs"} (oldest first)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.hash, c.config, c.created, COUNT(r.id) FROM configs c "
                "LEFT JOIN runs r ON r.config_hash = c.hash GROUP BY c.hash ORDER BY c.created, c.hash").fetchall()
        return [{"hash": h, "config": json.loads(cfg), "created": created, "runs": int(n)}
                for h, cfg, created, n in rows]

    def check(self) -> list[str]:
        """Problems found: SQLite's integrity_check and runs whose epoch count is wrong ([] = fine)."""
        with self._lock:
            problems = [r[0] for r in self._conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
            problems += [f"run {h}/{p}/seed {s}: {n} epochs recorded, {k} stored" for h, p, s, n, k in
                         self._conn.execute(
                             "SELECT r.config_hash, r.policy, r.seed, r.n_epochs, COUNT(e.epoch) FROM runs r "
                             "LEFT JOIN epochs e ON e.run_id = r.id GROUP BY r.id "
                             "HAVING COUNT(e.epoch) != r.n_epochs").fetchall()]
        return problems

    # ------------------------------------------------------------------ export
    def export(self, path: str | os.PathLike, fmt: str | None = None, *,
               config_hash: str | None = None, policy: str | None = None) -> Path:
        """Write the runs to CSV (one row per run-epoch) or JSON (runs with history).

        The format is `fmt` or the file suffix (.csv / .json).  Non-finite numbers become
        an empty CSV cell / JSON null.  Returns the path written.
        """
        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).lower()
        if fmt not in EXPORT_FORMATS:
            raise bad_argument("RunStore.export", "fmt", fmt or path.name, "'csv' or 'json' (or a .csv/.json file)",
                               "name the file e.g. runs.csv or runs.json")
        from .store_export import write_runs
        return write_runs(self.runs(config_hash=config_hash, policy=policy), path, fmt)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

