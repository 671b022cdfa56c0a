"""Where data files are looked for.  Nothing here downloads: initlab runs offline.

Data homes come from explicit settings only, never from the working directory: a
cached scikit-learn file is a pickle, so a folder resolved against the current
directory would let a file planted there run code.  In order:

1. `data_dir=` passed by the caller;
2. `$INITLAB_DATA_HOME` (an absolute path);
3. `../shared/data/scikit_learn_data` beside the source checkout holding this package
   (an editable install; found from this file, not from the current directory);
4. scikit-learn's own home: `$SCIKIT_LEARN_DATA` (absolute) or `~/scikit_learn_data`.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import bad_argument

ENV_DATA_HOME = "INITLAB_DATA_HOME"
ENV_CACHE_DIR = "INITLAB_CACHE_DIR"
ENV_SKLEARN_HOME = "SCIKIT_LEARN_DATA"
SHARED_SKLEARN = Path("..") / "shared" / "data" / "scikit_learn_data"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def repo_root() -> Path | None:
    """The source checkout holding this package (an editable install), or None when installed."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "initlab").is_dir():
            return parent
    return None


def env_folder(var: str) -> Path | None:
    """The folder named by environment variable `var`, or None when unset; a relative path is refused
    (it would be resolved against whatever directory the command runs in)."""
    value = os.environ.get(var, "")
    if not value:
        return None
    folder = Path(os.path.expanduser(value))
    if not folder.is_absolute():
        raise bad_argument(f"${var}", var, value, "an absolute folder path (a relative one would be read from "
                           "wherever the command runs)", f"export {var}=\"$(realpath {value})\"")
    return folder


def sklearn_home_candidates() -> list[tuple[Path, str]]:
    """(folder, why) in the order california-housing tries them when no data_dir is given."""
    env = env_folder(ENV_DATA_HOME)
    if env is not None:
        return [(env, f"${ENV_DATA_HOME}")]
    out: list[tuple[Path, str]] = []
    root = repo_root()
    if root is not None:
        out.append(((root / SHARED_SKLEARN).resolve(), "../shared/data/scikit_learn_data beside the checkout"))
    sk = env_folder(ENV_SKLEARN_HOME)
    out.append((sk, f"${ENV_SKLEARN_HOME}") if sk is not None
               else (Path(os.path.expanduser(os.path.join("~", "scikit_learn_data"))), "scikit-learn's default home"))
    return out


def sklearn_data_home(data_dir=None) -> tuple[str, list[str]]:
    """(data_home to pass to scikit-learn, folders considered) for cached scikit-learn data.

    data_dir wins; then $INITLAB_DATA_HOME (honoured even if absent: a clear error later); then the
    ../shared folder beside the checkout when it exists; else scikit-learn's home.
    """
    if data_dir is not None:
        return os.fspath(data_dir), [os.fspath(data_dir)]
    cands = sklearn_home_candidates()
    tried = [f"{os.fspath(folder)} ({why})" for folder, why in cands]
    for folder, _why in cands[:-1]:
        if folder.is_dir():
            return os.fspath(folder), tried
    return os.fspath(cands[-1][0]), tried


def cache_dir() -> Path | None:
    """Where generated data sets (MNIST-1D) and parsed tables (digits) are cached (plain .npz arrays, never
    pickles): $INITLAB_CACHE_DIR (absolute; "off" disables caching), else $XDG_CACHE_HOME/initlab, else
    ~/.cache/initlab.  None when disabled."""
    if os.environ.get(ENV_CACHE_DIR, "").strip().lower() in ("off", "none", "0"):
        return None
    env = env_folder(ENV_CACHE_DIR)
    if env is not None:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(os.path.expanduser(os.path.join("~", ".cache")))
    return base / "initlab"
