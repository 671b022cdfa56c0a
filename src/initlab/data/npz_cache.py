"""A disk cache of plain arrays (.npz, never pickles) in paths.cache_dir(), for data that is slow to make.

    arrays = cached("digits-...", ["table"], check, make)

`check(arrays)` says whether what was read is well formed (else it is made again); a cache that cannot be
read or written is skipped silently.  Files are written atomically (a temp file, then a rename), so two
processes filling the same entry never leave a torn file.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import InitError


def cache_file(name: str):
    """The cache path for `name` (a file name without folder), or None when caching is off or unusable."""
    from .paths import cache_dir
    try:
        folder = cache_dir()
    except InitError:                    # a relative $INITLAB_CACHE_DIR: refused, so no cache (and no error)
        return None
    return None if folder is None else folder / name


def read(path, keys) -> dict | None:
    """{key: array} from an .npz (allow_pickle=False: a planted file cannot run code), or None."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def write(path, arrays: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def cached(name: str, keys, check, make) -> dict:
    """The arrays of cache entry `name`: read when present and check() accepts them, else make() and store."""
    path = cache_file(name)
    got = read(path, keys) if path is not None else None
    if got is not None and check(got):
        return got
    got = make()
    if path is not None:
        write(path, got)
    return got
