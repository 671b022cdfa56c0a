"""Opening a run store without touching files that are not one (issue 13, hostile use 4).

Before a single write, RunStore asks `sniff` what the path holds, using only reads: the first 100
bytes of the file (SQLite's header), then the table names through a read-only, *immutable* SQLite
connection (``mode=ro&immutable=1``: no lock, no journal, no ``-wal``/``-shm`` file is created).

    missing        nothing there                    writing: created        reading: refused
    empty          a 0-byte file                    writing: initialised    reading: refused
    sqlite-empty   a SQLite database with no table  writing: initialised    reading: refused
    store          an initlab store                 opened
    foreign        a SQLite file with other tables  refused, left byte for byte as it was
    not-sqlite     anything else (text, PNG, ...)   refused, left byte for byte as it was
    unreadable     a file that cannot be opened     refused

A 0-byte file is initialised by a writing command because that is what SQLite itself does with one
(``sqlite3.connect`` treats an empty file exactly like a new path: an empty database); it holds no data
that could be lost.  A reading command (``initlab runs``, ``RunStore(readonly=True)``) never creates or
initialises anything.

Reading needs no write access: `connect_readonly` opens ``mode=ro``; where SQLite cannot set up the
WAL index for that (a store in a read-only folder without its ``-shm`` file: "attempt to write a
readonly database"), it reopens with ``immutable=1``, which is safe there because nobody can be writing
to a folder that cannot be written.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

SQLITE_HEADER = b"SQLite format 3\x00"
STORE_TABLES = frozenset({"schema_version", "configs", "runs", "epochs"})
KINDS = ("missing", "empty", "sqlite-empty", "store", "foreign", "not-sqlite", "unreadable")
DESCRIBE = {"empty": "an empty (0-byte) file", "sqlite-empty": "an empty SQLite database",
            "foreign": "a SQLite database of another program (its tables are not a run store's)",
            "not-sqlite": "not a SQLite database", "unreadable": "a file that cannot be read (permissions?)"}


def uri(path, **params) -> str:
    """A ``file:`` URI for `path` (absolute, percent-quoted: '?' or '#' in a name stay part of it)."""
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(Path(path).absolute()), safe='/')}" + (f"?{q}" if q else "")


def _tables(path, immutable: bool) -> set[str] | None:
    params = {"mode": "ro", "immutable": 1} if immutable else {"mode": "ro"}
    try:
        c = sqlite3.connect(uri(path, **params), uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return None
    finally:
        c.close()


def sniff(path) -> str:
    """What `path` holds (one of KINDS), found without writing anything (see the module docstring)."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError:                  # no read permission, a device, ...
        return "unreadable"
    if not head:
        return "empty"
    if len(head) < 100 or not head.startswith(SQLITE_HEADER):
        return "not-sqlite"
    tables = _tables(path, immutable=True)
    if (tables is None or not STORE_TABLES <= tables) and os.path.exists(f"{path}-wal"):
        # a live writer's WAL may hold what the main file does not have yet (a store being created);
        # only then is a normal read-only connection used (it may add the -shm index beside the -wal)
        tables = _tables(path, immutable=False) or tables
    if tables is None:
        return "not-sqlite"
    if not tables:
        return "sqlite-empty"
    return "store" if STORE_TABLES <= tables else "foreign"


def readonly_reason(path) -> str | None:
    """Why a writer cannot use the store at `path` (file or folder not writable), or None.

    SQLite in WAL mode writes ``PATH-wal`` and ``PATH-shm`` beside the file, so the folder counts too.
    (As root, os.access says yes to everything; SQLite's own "readonly database" error is caught later.)"""
    p = Path(path)
    if p.exists() and not os.access(p, os.W_OK):
        return "the file is read-only"
    folder = p.parent if str(p.parent) else Path(".")
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return "its folder is read-only (SQLite writes PATH-wal and PATH-shm beside the store)"
    return None


def is_readonly_error(e: BaseException) -> bool:
    s = str(e).lower()
    return isinstance(e, sqlite3.OperationalError) and ("readonly" in s or "read-only" in s
                                                        or "unable to open" in s)


def connect_readonly(path, timeout: float) -> sqlite3.Connection:
    """A read-only connection to the store at `path`: ``mode=ro``, else ``mode=ro&immutable=1``."""
    last = None
    for params in ({"mode": "ro"}, {"mode": "ro", "immutable": 1}):
        try:
            c = sqlite3.connect(uri(path, **params), uri=True, timeout=timeout, isolation_level=None,
                                check_same_thread=False)
        except sqlite3.OperationalError as e:
            last = e
            continue
        try:
            c.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            c.execute("SELECT MAX(version) FROM schema_version").fetchone()
            c.execute("PRAGMA query_only = ON")
            return c
        except sqlite3.OperationalError as e:
            c.close()
            if not is_readonly_error(e):
                raise
            last = e
    raise last  # type: ignore[misc]
