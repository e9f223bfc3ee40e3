"""A compiled brian2genn project, run again with new values and no rebuild.

brian2genn generates a C++ project whose ``main`` reads every value the network was given in Python (parameters,
initial states, weights, the ``SpikeGeneratorGroup``'s spikes) at start from raw binary files in
``static_arrays/`` (``_static_array_<array name>``, one C array each, of the length compiled in), runs for the time
given on its command line (``main <basename> <seconds>``) and writes every recorded array to ``results/``
(``<array name>_<hash>``, raw binary).  A second batch of the same shape therefore needs no code generation and no
compilation: write its values over the static arrays and run ``main`` again (about a second on the CPU, where a
build takes 20-35 s).  The lengths are compiled in, so the input spikes are padded to a fixed capacity with spikes
after the end of the run (:func:`padded_spikes`), which the ``SpikeGeneratorGroup`` never reaches.

Projects are kept in ``<cache>/genn-projects/<key>/`` (``<cache>`` is ``$BRAINLZ_CACHE`` or ``~/.cache/brainlz``),
``key`` a hash of everything that is compiled in (:func:`project_key`); a project is used by one process at a time
(an exclusive ``flock`` on ``<key>/lock``), so concurrent processes wait for each other instead of overwriting its
files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["CAPACITY_MIN", "capacity_for", "padded_spikes", "project_key", "project_root", "locked", "GennProject"]

#: The smallest input-spike capacity of a project; larger ones are powers of two.
CAPACITY_MIN = 64


def capacity_for(n_spikes: int) -> int:
    """The input-spike capacity a project is built for: the smallest power of two >= ``n_spikes`` (at least
    :data:`CAPACITY_MIN`), so that batches of similar activity share one project."""
    capacity = CAPACITY_MIN
    while capacity < n_spikes:
        capacity *= 2
    return capacity


def padded_spikes(indices, steps, capacity: int, n_steps: int) -> tuple:
    """``(indices, steps)`` padded to ``capacity`` spikes with spikes of input 0 at steps ``n_steps + 1, ...``,
    after the end of a run of ``n_steps`` steps (never emitted).  The real spikes come first, in time order."""
    indices = np.asarray(indices, dtype=np.int64)
    steps = np.asarray(steps, dtype=np.int64)
    if indices.size > capacity:
        raise ValueError(f"{indices.size} input spikes exceed the project's capacity {capacity}")
    pad = capacity - indices.size
    return (np.concatenate([indices, np.zeros(pad, dtype=np.int64)]),
            np.concatenate([steps, n_steps + 1 + np.arange(pad, dtype=np.int64)]))


def project_key(description: dict) -> str:
    """A short hash of a JSON description of everything compiled into a project."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def project_root(key: str) -> Path:
    """``<cache>/genn-projects/<key>``."""
    cache = os.environ.get("BRAINLZ_CACHE") or str(Path.home() / ".cache" / "brainlz")
    return Path(cache) / "genn-projects" / key


@contextlib.contextmanager
def locked(root: Path):
    """Hold an exclusive lock on the project folder ``root`` (created if needed) while in the block."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class GennProject:
    """A built brian2genn project (the ``project`` folder of a worker run) that can be run again.

    Parameters
    ----------
    directory : path
        The generated and compiled project (holds ``main``, ``static_arrays/``, ``results/``).
    """

    def __init__(self, directory):
        self.directory = Path(directory)

    @property
    def built(self) -> bool:
        """Whether the project has been compiled and run once (its ``main`` and ``results/`` exist)."""
        return (self.directory / "main").is_file() and (self.directory / "results").is_dir()

    def static_path(self, name: str) -> Path:
        """The file of the Brian2 array ``name``: ``static_arrays/_static_array_<name>``, or for the values of a
        ``TimedArray`` (``<timed array>_values``) ``static_arrays/<name>``."""
        return self.directory / "static_arrays" / (name if name.endswith("_values") else f"_static_array_{name}")

    def remember(self, values: dict) -> None:
        """Keep the values the project was just built with (``<root>/built_values.npz``): Brian2 compiles a value
        given for a single neuron or synapse as a constant instead of a static array."""
        np.savez(self.directory.parent / "built_values.npz", **values)

    def can_take(self, values: dict) -> bool:
        """Whether a rerun can take ``values`` (Brian2 array name -> values): every one has its static array, or
        equals the value the project was built with (compiled in)."""
        path = self.directory.parent / "built_values.npz"
        if not path.is_file():
            return False
        with np.load(path) as built:
            for name, array in values.items():
                if not self.static_path(name).exists() and (
                        name not in built.files or not np.array_equal(np.ravel(array), built[name].ravel())):
                    return False
        return True

    def write_values(self, values: dict) -> None:
        """Write every value that has a static array over it (:meth:`write_static`); the others are compiled in
        and, per :meth:`can_take`, unchanged."""
        for name, array in values.items():
            if self.static_path(name).exists():
                self.write_static(name, array)

    def write_static(self, name: str, values) -> None:
        """Write ``values`` over the static array of the Brian2 array ``name`` (e.g. ``_array_output_tau_m``),
        in the C type the project was generated with (read from the existing file's length)."""
        path = self.static_path(name)
        values = np.asarray(values).ravel()
        size = path.stat().st_size
        if values.size == 0 or size % values.size:
            raise ValueError(f"{path.name}: {values.size} values do not fit its {size} bytes")
        width = size // values.size
        kind = "f" if values.dtype.kind == "f" else "i"
        dtype = np.dtype(f"{kind}{width}")
        converted = values.astype(dtype)
        if kind == "i" and not np.array_equal(converted, values):
            raise ValueError(f"{path.name}: values do not fit {dtype}")
        temporary = path.with_name(path.name + ".tmp")
        converted.tofile(temporary)
        os.replace(temporary, path)

    def run(self, seconds: float, *, env=None, timeout=None, log=None) -> None:
        """Run the compiled ``main`` for ``seconds`` of simulated time (its results replace ``results/``)."""
        command = ["./main", "test", repr(float(seconds))]
        with open(log or os.devnull, "w") as handle:
            done = subprocess.run(command, cwd=self.directory, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                  timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the compiled GeNN project {self.directory} failed (exit status {done.returncode})")

    def result(self, name: str, dtype) -> np.ndarray:
        """The recorded array ``name`` (e.g. ``_dynamic_array_spikes_output_i``) of the last run."""
        matches = sorted((self.directory / "results").glob(f"{name}_[0-9]*"))
        matches = [path for path in matches if path.name[len(name) + 1:].isdigit()]
        if len(matches) != 1:
            raise FileNotFoundError(f"{self.directory / 'results'}: expected one file for {name}, found "
                                    f"{[path.name for path in matches]}")
        return np.fromfile(matches[0], dtype=dtype)
