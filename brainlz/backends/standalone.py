"""Standalone backend: Brian2's ``cpp_standalone`` device, compiled once per network shape.

The first call for a network *shape* (models, layer sizes, dt, batch size, number of bins, input-table capacity,
what is recorded) generates and compiles C++ code (about 10 s).  Every later call with the same shape — new
inputs, weights or intrinsic parameters — reruns the compiled binary with ``device.run(run_args=...)``
(tens of milliseconds plus the simulation itself).  All parameters, initial states, weights and the input table
are passed as run_args on every run, and their lengths are checked here (Brian2 silently ignores a
wrong-length array for a synaptic variable).  Weights travel as one ``[n_pre * n_post]`` table per projection
shared by all samples (see :func:`brainlz.network.build`), not as per-synapse arrays.

Batches are padded to the compiled batch size with silent samples, so a data set of any size reuses one build.
The input-table capacity (spikes per input neuron) is rounded up to a multiple of 16; inputs that need more
trigger one rebuild.

Randomness: Brian2's ``seed()`` is compiled into the code, so for stochastic models the seed is part of the
shape (a new seed means a new build) and every batch of one call uses that seed.

Every program is built on its own private ``CPPStandaloneDevice`` (:func:`get_program`, also used by the STDP
trainer), and the most recently used programs of up to ``MAX_PROGRAMS`` shapes are kept, so alternating
shapes does not recompile.  The runtime device is restored after each build, so this backend can be mixed
with the runtime backend in one process.  Compiled
projects live in ``directory`` (default: ``$BRAINLZ_CACHE`` or ``~/.cache/brainlz/standalone``), one
subdirectory per shape.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
import os
import time
from pathlib import Path

import numpy as np
from brian2 import Quantity

from ..errors import BrainlzError, ParameterError
from ..network import NetworkSpec, build, check_copy_params, check_spiketrains, rasters_from_monitor, spike_table
from .base import SimulationResult, batches, validate_trace

__all__ = ["simulate", "capabilities", "StandaloneError", "build_count", "default_directory", "get_program",
           "Program"]

CAPACITY_STEP = 16


class StandaloneError(BrainlzError):
    """The compiled standalone program failed."""


def capabilities() -> dict:
    """What this backend supports."""
    return {"stochastic": True, "reruns_without_recompile": True, "targets": ("cpp_standalone",)}


def default_directory() -> Path:
    """Where compiled projects are kept."""
    root = os.environ.get("BRAINLZ_CACHE") or Path.home() / ".cache" / "brainlz"
    return Path(root) / "standalone"


class Program:
    """One compiled standalone project and the Python-side objects needed to rerun it.

    Attributes
    ----------
    key : tuple
        What the program was compiled for (its *shape*).
    net : object
        What ``create`` returned when it was built (holds the Brian2 objects whose values run_args set).
    device : CPPStandaloneDevice
        A private device instance: programs of several shapes can live side by side.
    directory : Path
        The project directory.
    """

    def __init__(self, key, net, device, directory: Path):
        self.key = key
        self.net = net
        self.device = device
        self.directory = directory

    def run(self, run_args: dict, what: str = "standalone", error=None):
        """Rerun the compiled binary with new values; a failing program is dropped from the cache.

        The value files Brian2 writes for ``run_args`` are deleted afterwards, so that reruns do not pile up files
        in the project directory.
        """
        try:
            self.device.run(directory=str(self.directory), with_output=False, run_args=run_args)
        except RuntimeError as exc:
            _STATE["programs"].pop(self.key, None)
            raise (error or StandaloneError)(f"the compiled {what} program failed: {exc}") from None
        finally:
            static = Path(self.directory) / "static_arrays"
            for name in list(self.device.run_args_arrays):
                for path in (static / name, static / (name + ".lock")):
                    if path.exists():
                        path.unlink()


MAX_PROGRAMS = 4
_STATE = {"programs": OrderedDict(), "builds": 0}


def build_count() -> int:
    """How many standalone builds this process has made (inference and STDP training; for tests and benchmarks)."""
    return _STATE["builds"]


def get_program(key, directory, create, *, duration=None, seed: int = 0, threads: int = 1, prefix: str = ""):
    """The compiled program for ``key``, compiling it on a private device if it is not cached.

    Parameters
    ----------
    key : tuple
        The shape; programs are cached by it (the ``MAX_PROGRAMS`` most recently used are kept).
    directory : path
        Root of the project directories (one subdirectory per key).
    create : callable
        ``create()`` makes the Brian2 objects and returns a holder with an ``objects`` list.
    duration : Quantity, optional
        Length of the one run (default: the holder's ``duration``).
    seed : int
        Brian2 seed compiled into the program.
    threads : int
        OpenMP threads.
    prefix : str
        Prefix of the project directory name.

    Returns
    -------
    program : Program
    built : bool
        Whether this call compiled it.
    """
    import brian2
    from brian2 import Network, prefs, set_device
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    programs = _STATE["programs"]
    if key in programs:
        programs.move_to_end(key)
        return programs[key], False
    project = Path(directory) / (prefix + hashlib.sha1(repr(key).encode()).hexdigest()[:16])
    project.mkdir(parents=True, exist_ok=True)
    device = CPPStandaloneDevice()  # private: never disturbs Brian2's global standalone device or other programs
    old_threads = prefs.devices.cpp_standalone.openmp_threads
    set_device(device, build_on_run=False, directory=str(project))
    try:
        prefs.devices.cpp_standalone.openmp_threads = 0 if threads == 1 else int(threads)
        net = create()
        # Every value is provided by run_args at run time; apply them after the code's own initialisation.
        device.apply_run_args()
        brian2.seed(int(seed))
        Network(net.objects).run(net.duration if duration is None else duration, namespace={})
        device.build(directory=str(project), compile=True, run=False, with_output=False)
    finally:
        prefs.devices.cpp_standalone.openmp_threads = old_threads
        set_device("runtime")
    _STATE["builds"] += 1
    program = Program(key, net, device, project)
    programs[key] = program
    while len(programs) > MAX_PROGRAMS:
        programs.popitem(last=False)
    return program, True


def _shape_key(spec, n_samples, n_bins, capacity, record_hidden, trace, seed, threads):
    stochastic = any(layer.neuron_model.stochastic for layer in spec.layers)
    return ("inference", spec.structure_key(), n_samples, n_bins, capacity, record_hidden, trace,
            seed if stochastic else None, threads)


def _run_args(compiled: Program, spec: NetworkSpec, table: np.ndarray, copy_params=None) -> dict:
    """Map every variable to its values, checking lengths (Brian2 ignores wrong-length synaptic arrays)."""
    net = compiled.net
    fresh = dataclasses.replace(net, spec=spec)
    run_args = {}
    for (owner, name), values in fresh.initial_values(copy_params).items():
        view = getattr(owner, name)
        expected = owner.N
        if values.shape != (expected,):
            raise StandaloneError(f"run_args for {owner.name}.{name}: {values.shape[0]} values, expected {expected}")
        run_args[view] = Quantity(values, dim=view.dim) if not view.dim.is_dimensionless else values
    if table.shape != net.table.values.shape:
        raise StandaloneError(f"input table has shape {table.shape}, compiled for {net.table.values.shape}")
    run_args[net.table] = table
    for index, (weight_table, weight) in enumerate(zip(net.weight_tables, spec.weights)):
        flat = np.asarray(weight, dtype=float).ravel()
        if flat.shape != weight_table.values.shape:
            raise StandaloneError(f"weights[{index}] has {flat.size} values, compiled for {weight_table.values.size}")
        run_args[weight_table] = Quantity(flat, dim=weight_table.dim)
    return run_args


def simulate(spec: NetworkSpec, spiketrains, *, batch_size: int | None = None, record_hidden: bool = False,
             trace=None, seed: int = 0, threads: int = 1, directory=None, progress=None,
             copy_params=None) -> SimulationResult:
    """Simulate ``spec`` on every sample of ``spiketrains`` with compiled C++ code.

    Parameters
    ----------
    spec : NetworkSpec
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
    batch_size : int, optional
        Samples per run of the compiled program (default: all).  The program is compiled for this size; the
        last, shorter batch is padded with silent samples.
    record_hidden : bool
        Return the hidden-layer rasters too.
    trace : (layer, sample, neuron), optional
        Record the state variables of this neuron.
    seed : int
        Seed of Brian2's random numbers (compiled into the code; matters only for stochastic models).
    threads : int
        OpenMP threads of the compiled program (part of the shape).
    directory : path, optional
        Where to keep compiled projects.
    progress : callable, optional
        Called as ``progress(n_done, n_samples)`` after each batch.
    copy_params : dict, optional
        Per-sample intrinsic parameters ``{layer: {parameter: float array [n_samples, n_neurons] (SI)}}``: sample
        ``s`` is simulated with row ``s`` instead of the spec's values (see
        :func:`brainlz.network.check_copy_params`).  They travel as run_args, so they never cause a rebuild;
        padding samples get the spec's values.

    Returns
    -------
    SimulationResult
        ``n_builds`` is 0 when the compiled program of a previous call was reused.
    """
    if not isinstance(seed, (int, np.integer)):
        raise ParameterError("seed", seed, "expected an integer")
    if not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ParameterError("threads", threads, "expected a positive integer")
    spiketrains = check_spiketrains(spiketrains, spec.n_inputs)
    n_samples, _, n_bins = spiketrains.shape
    trace = validate_trace(trace, spec, n_samples)
    copy_params = check_copy_params(spec, copy_params, n_samples)
    chunks = batches(n_samples, batch_size)
    size = n_samples if batch_size is None else int(batch_size)
    counts = spiketrains.sum(axis=2)
    capacity = int(np.ceil(max(int(counts.max()), 1) / CAPACITY_STEP) * CAPACITY_STEP)
    directory = Path(directory) if directory is not None else default_directory()
    start_time = time.perf_counter()
    builds_before = _STATE["builds"]
    outputs = {name: [] for name in spec.layer_names}
    trace_data = None
    for start, stop in chunks:
        local_trace = None
        if trace is not None:
            # The compiled program records one fixed neuron; put the traced sample at that position.
            local_trace = (trace[0], 0, trace[2])
        key = _shape_key(spec, size, n_bins, capacity, record_hidden, local_trace, seed, threads)
        compiled, _ = get_program(
            key, directory, lambda: build(spec, size, n_bins, capacity, record_hidden=record_hidden,
                                          trace=local_trace),
            duration=n_bins * spec.dt, seed=seed, threads=threads)
        batch = np.zeros((size,) + spiketrains.shape[1:], dtype=bool)
        batch[: stop - start] = spiketrains[start:stop]
        if trace is not None and start <= trace[1] < stop:
            batch[[0, trace[1] - start]] = batch[[trace[1] - start, 0]]
        table, _ = spike_table(batch, capacity)
        chunk_params = {}
        for layer_name, params in copy_params.items():
            chunk_params[layer_name] = {}
            for name, array in params.items():
                rows = np.tile(np.asarray(spec.layer(layer_name).params[name], dtype=float), (size, 1))
                rows[: stop - start] = array[start:stop]
                if trace is not None and start <= trace[1] < stop:
                    rows[[0, trace[1] - start]] = rows[[trace[1] - start, 0]]
                chunk_params[layer_name][name] = rows
        run_args = _run_args(compiled, spec, table, chunk_params)
        compiled.run(run_args)
        net = compiled.net
        rasters = {}
        for name, monitor in net.spike_monitors.items():
            rasters[name] = rasters_from_monitor(monitor.i[:], monitor.t_[:], size, spec.layer(name).n_neurons,
                                                 n_bins, float(spec.dt))
        if trace is not None and start <= trace[1] < stop:
            for name in rasters:
                rasters[name][[0, trace[1] - start]] = rasters[name][[trace[1] - start, 0]]
            trace_data = {"layer": trace[0], "sample": trace[1], "neuron": trace[2],
                          "t": np.asarray(net.trace_monitor.t_[:])}
            for variable in net.trace_monitor.record_variables:
                trace_data[variable] = np.asarray(getattr(net.trace_monitor, variable + "_")[0])
        for name, raster in rasters.items():
            outputs[name].append(raster[: stop - start])
        if progress is not None:
            progress(stop, n_samples)
    rasters = {name: np.concatenate(parts) for name, parts in outputs.items() if parts}
    output = rasters.pop(spec.output.name)
    return SimulationResult(output=output, hidden=rasters, dt=float(spec.dt), backend="standalone",
                            trace=trace_data, wall_time=time.perf_counter() - start_time,
                            n_builds=_STATE["builds"] - builds_before)
