"""Memory estimates: refuse a data set or a run that cannot fit in memory before anything is allocated.

A size such as ``n_samples=10**12`` or ``n_bins=10**9`` would otherwise end, minutes later, in a ``MemoryError``
(or the kernel's out-of-memory killer) from deep inside numpy or Brian2.  :func:`check_memory` compares an
estimate of the bytes needed with :func:`available_memory` and raises :class:`~brainlz.errors.ParameterError` in
one line with both numbers.  The estimates are lower bounds of the peak (the arrays brainlz itself allocates;
Brian2's and Python's own overhead and the spike monitors are not counted), so a refused size can never fit,
while an accepted one may still be too large.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ParameterError

__all__ = ["available_memory", "check_memory", "format_bytes", "raster_bytes", "task_bytes", "run_bytes",
           "check_run_memory"]

#: Bytes one synapse of a batched Brian2 network holds at least (``w`` float64; pre, post and queue indices int32).
SYNAPSE_BYTES = 24
#: Bytes one neuron of a batched Brian2 network holds at least (about ten float64 states and parameters).
NEURON_BYTES = 80
#: Working memory of the data generators besides the raster (chunks of float64 uniforms and probabilities).
GENERATOR_BYTES = 64 << 20


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What the memory limit of this process's cgroup (v2, e.g. a container or a batch job) leaves, if any.

    The page cache (``file`` of ``memory.stat``) counts as free, as in ``MemAvailable``: the kernel reclaims it.
    """
    try:
        root = Path("/sys/fs/cgroup")
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((root / "memory.current").read_text().strip())
        for line in (root / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "file":
                used -= int(value)
                break
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory a new allocation can use now, or None where the system does not say.

    Linux: ``MemAvailable`` of ``/proc/meminfo``, capped by the cgroup (v2) limit of the process when it has
    one.  Elsewhere: ``os.sysconf("SC_AVPHYS_PAGES")`` (free pages) times the page size where it exists.
    """
    found = [value for value in (_meminfo_available(), _cgroup_available()) if value is not None]
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            pass
    return min(found) if found else None


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``12 MiB``, ``3.2e+04 TiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def raster_bytes(n_samples: int, n_neurons: int, n_bins: int) -> int:
    """Bytes of a bool raster ``[n_samples, n_neurons, n_bins]``."""
    return int(n_samples) * int(n_neurons) * int(n_bins)


def task_bytes(n_samples: int, n_channels: int, n_bins: int) -> int:
    """Peak bytes of :func:`brainlz.data.make_task`: the class blocks, their concatenation and the shuffled copy
    (three rasters) plus the generators' working memory."""
    return 3 * raster_bytes(n_samples, n_channels, n_bins) + GENERATOR_BYTES


def run_bytes(n_samples: int, n_channels: int, n_bins: int, layers, batch_size: int) -> dict:
    """Lower bounds of the memory a protocol run needs, by part (bytes).

    Parameters
    ----------
    n_samples : int
        Every sample of the run (training and test).
    n_channels, n_bins : int
        Input channels and bins per sample.
    layers : sequence of int
        Sizes of the hidden layers and the output layer.
    batch_size : int
        Samples simulated in one Brian2 network.

    Returns
    -------
    dict
        ``inputs`` (the data set and its train/test parts), ``recorded`` (output and hidden rasters of every
        sample), ``batch`` (neurons, synapses and rasters of one batched network), ``generation`` (the peak while
        the data are made) and ``total`` (the larger of ``generation`` and the sum of the other three).
    """
    layers = [int(size) for size in layers]
    batch = max(min(int(batch_size), int(n_samples)), 1)
    synapses = sum(pre * post for pre, post in zip([int(n_channels)] + layers[:-1], layers))
    parts = {
        "inputs": 2 * raster_bytes(n_samples, n_channels, n_bins),
        "recorded": raster_bytes(n_samples, sum(layers), n_bins),
        "batch": batch * (SYNAPSE_BYTES * synapses + NEURON_BYTES * (sum(layers) + int(n_channels)))
                 + raster_bytes(batch, sum(layers) + int(n_channels), n_bins),
        "generation": task_bytes(n_samples, n_channels, n_bins),
    }
    parts["total"] = max(parts["generation"], parts["inputs"] + parts["recorded"] + parts["batch"])
    return parts


def _culprit(sizes: dict, typical: dict) -> str:
    """The size that stands out most against its typical value (what to lower first)."""
    return max(sizes, key=lambda name: sizes[name] / max(typical.get(name, 1), 1))


def check_memory(needed: int, what: str, sizes: dict, typical: dict, prefix: str = "",
                 available: int | None = None) -> None:
    """Raise ParameterError unless ``needed`` bytes fit in the available memory.

    Parameters
    ----------
    needed : int
        Estimated bytes.
    what : str
        What needs them, for the message (``"the data set"``, ``"the run (inputs 2 GiB, ...)"``).
    sizes : dict of str to int
        The sizes the estimate grows with; the error names the one furthest above its ``typical`` value.
    typical : dict of str to int
        Typical (default) values of ``sizes``.
    prefix : str
        Prefix of the field name in the error (``"protocol."``).
    available : int, optional
        Bytes available (default :func:`available_memory`; nothing is checked where it is unknown).
    """
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return
    name = _culprit(sizes, typical)
    shape = " x ".join(f"{key} {value}" for key, value in sizes.items())
    raise ParameterError(f"{prefix}{name}", sizes[name],
                         f"{what} needs at least {format_bytes(needed)} of memory ({shape}), but only "
                         f"{format_bytes(available)} are available; lower {name}")


def check_run_memory(n_samples: int, n_channels: int, n_bins: int, hidden: int, output: int, batch_size: int,
                     available: int | None = None) -> dict:
    """Refuse a protocol run whose estimated memory (:func:`run_bytes`) exceeds what is available.

    The arguments are the protocol's sizes (``hidden = 0``: no hidden layer); ``n_samples`` counts every sample
    of the run (an independent test set included).

    Returns
    -------
    dict
        The estimate by part (bytes), as :func:`run_bytes`.

    Raises
    ------
    ParameterError
        Naming the ``protocol.`` size furthest above its default, the estimate and the memory available.
    """
    layers = ([int(hidden)] if hidden else []) + [int(output)]
    parts = run_bytes(n_samples, n_channels, n_bins, layers, batch_size)
    what = (f"the run (inputs {format_bytes(parts['inputs'])}, recorded rasters {format_bytes(parts['recorded'])}, "
            f"one batch {format_bytes(parts['batch'])})")
    sizes = {"n_samples": int(n_samples), "n_channels": int(n_channels), "n_bins": int(n_bins),
             "hidden": int(hidden), "output": int(output), "batch_size": int(batch_size)}
    typical = {"n_samples": 400, "n_channels": 64, "n_bins": 1024, "hidden": 64, "output": 64, "batch_size": 100}
    check_memory(parts["total"], what, sizes, typical, prefix="protocol.", available=available)
    return parts
