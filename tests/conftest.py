"""Suite-wide settings.

One intra-op thread for every test: the tensors here are small, so one thread is the
fastest, and results and timings do not depend on other processes competing for the
machine's two cores.  Restored after each test.
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
