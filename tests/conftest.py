"""Suite-wide settings.

One intra-op thread for every test: the tensors here are small, so one thread is the
fastest, and results and timings do not depend on other processes competing for the
machine's two cores.  Restored after each test.
"""
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# the project's offline data sits beside the checkout (../shared), also in a CI clone
SHARED_SKLEARN = (REPO / ".." / "shared" / "data" / "scikit_learn_data").resolve()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def sklearn_home():
    """The California-housing cache in ../shared beside the checkout.  Missing: a skip on a developer's
    clone elsewhere (e.g. under mktemp -d), but a failure in CI, where ../shared is always there."""
    if not (SHARED_SKLEARN / "cal_housing_py3.pkz").is_file():
        msg = (f"California housing cache not found at {SHARED_SKLEARN}/cal_housing_py3.pkz "
               "(the project's ../shared/data beside the checkout)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return SHARED_SKLEARN


@pytest.fixture
def housing_data(sklearn_home, monkeypatch):
    """Let load('california-housing') find the cache from any working directory."""
    monkeypatch.setenv("INITLAB_DATA_HOME", str(sklearn_home))
    return sklearn_home
