import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MPLBACKEND", "Agg")

# The suite runs on several processes (pytest-xdist, ``-n auto`` in pyproject.toml).  Compiled standalone projects
# and tempotron programs are cached in $BRAINLZ_CACHE (default ~/.cache/brainlz) without locks, so each test process
# gets its own cache below it, as the Dask workers of a sweep do (brainlz.cluster: <cache>/sweep-workers/<k>).
# Brian2's own Cython cache is shared: it locks each extension while compiling it.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    _CACHE = os.environ.get("BRAINLZ_CACHE") or str(Path.home() / ".cache" / "brainlz")
    os.environ["BRAINLZ_CACHE"] = str(Path(_CACHE) / "test-workers" / _WORKER)


@pytest.fixture(scope="session")
def standalone_dir(tmp_path_factory):
    """One directory for compiled standalone projects, shared by all tests of a session."""
    return tmp_path_factory.mktemp("standalone")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
