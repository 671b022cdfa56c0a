"""Shared settings for the scheme tests: one thread, so timings and results do not
depend on the machine, restored afterwards so other test folders are unaffected."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
