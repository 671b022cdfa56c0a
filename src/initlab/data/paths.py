"""Where data files are looked for.  Nothing here downloads: initlab runs offline.

The project keeps shared offline data in `../shared/data` beside the checkout (and a CI
clone gets the same layout), so besides the current directory we also resolve that
path against the repository root found from this file.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_HOME = "INITLAB_DATA_HOME"
SHARED_SKLEARN = Path("..") / "shared" / "data" / "scikit_learn_data"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def repo_root() -> Path | None:
    """The source checkout holding this package (an editable install), or None when installed."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "initlab").is_dir():
            return parent
    return None


def sklearn_home_candidates() -> list[tuple[Path, str]]:
    """(folder, why) in the order california-housing tries them when no data_dir is given."""
    out: list[tuple[Path, str]] = []
    env = os.environ.get(ENV_DATA_HOME)
    if env:
        return [(Path(env), f"${ENV_DATA_HOME}")]
    out.append((Path.cwd() / SHARED_SKLEARN, "../shared/data/scikit_learn_data from the current directory"))
    root = repo_root()
    if root is not None:
        out.append((root / SHARED_SKLEARN, "../shared/data/scikit_learn_data from the repository root"))
    return out


def sklearn_data_home(data_dir=None) -> tuple[str | None, list[str]]:
    """(data_home to pass to scikit-learn, folders considered) for cached scikit-learn data.

    data_dir wins; then $INITLAB_DATA_HOME; then the first existing ../shared folder;
    else None, which means scikit-learn's own default (~/scikit_learn_data or
    $SCIKIT_LEARN_DATA).
    """
    if data_dir is not None:
        return os.fspath(data_dir), [os.fspath(data_dir)]
    tried = []
    cands = sklearn_home_candidates()
    for folder, _why in cands:
        tried.append(os.fspath(folder.resolve() if folder.exists() else folder))
        if folder.is_dir():
            return os.fspath(folder.resolve()), tried
    if os.environ.get(ENV_DATA_HOME):  # an explicit setting is honoured even if absent (clear error later)
        return os.environ[ENV_DATA_HOME], tried
    return None, tried
