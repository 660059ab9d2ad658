"""conftest.py - shared fixtures for the integration suites: the cct binary under test."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cct_bin():
    path = os.environ.get("CCT_BIN", str(ROOT / "build" / "cct"))
    assert os.access(path, os.X_OK), f"cct binary not found at {path}: run make first"
    return path
