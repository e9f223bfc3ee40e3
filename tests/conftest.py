import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def standalone_dir(tmp_path_factory):
    """One directory for compiled standalone projects, shared by all tests of a session."""
    return tmp_path_factory.mktemp("standalone")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
