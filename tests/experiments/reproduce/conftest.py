"""Reproduction tests: each runs on the quick budget in a temporary folder (plots land there)."""
import pytest


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
