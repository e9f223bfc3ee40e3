"""Standalone backend: Brian2's ``cpp_standalone`` device, compiled once per network shape.

The first call for a network *shape* (models, layer sizes, dt, batch size, number of bins, input-table capacity,
what is recorded) generates and compiles C++ code (about 10 s).  Every later call with the same shape — new
inputs, weights or intrinsic parameters — reruns the compiled binary with ``device.run(run_args=...)``
(tens of milliseconds plus the simulation itself).  All parameters, initial states, weights and the input table
are passed as run_args on every run, and their lengths are checked here (Brian2 silently ignores a
wrong-length array for a synaptic variable).  Weights travel as per-synapse arrays (the weight matrix tiled
over the samples of a batch, see :func:`brainlz.network.build`).

Batches are padded to the compiled batch size with silent samples, so a data set of any size reuses one build.
With ``copies`` smaller than the batch, the program holds ``copies`` parallel copies that play the batch as
consecutive periods (neurons reset between periods; identical rasters): faster for large batches.  State
updates are compiled vectorised where :func:`vectorizing_flags` allows it, and their run-invariant factors
(``exp(-dt/tau_m)`` for a per-neuron ``tau_m``) are computed once per period instead of at every step
(:mod:`brainlz.invariants`; ``BRAINLZ_HOIST=0`` turns it off).  With ``processes`` > 1, instances of the
compiled program run the parts of a batch at the same time (:meth:`Program.run_many`).
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

Processes share the cache safely: a project is built and run under an exclusive lock on its folder
(``<project>/lock``, ``flock``), so two processes that need the same shape take turns instead of overwriting each
other's code and binary, and each process reads its results from folders of its own
(``results-<host>-<pid>-<token>``, removed when the program is dropped; those of processes that died are removed
at the next build).  A program whose binary another process has rebuilt since (``main`` changed, e.g. compiled
from Brian2 objects named differently) is rebuilt from its own objects before it runs.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import dataclasses
import functools
import hashlib
import os
import platform
import re
import secrets
import shutil
import socket
import sys
import time
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np
from brian2 import Quantity

from .. import checks
from ..errors import BrainlzError, ParameterError
from ..network import (NetworkSpec, brian_array, build, check_copy_params, check_spiketrains, rasters_from_monitor,
                       spike_counts, spike_table)
from .base import (SimulationResult, batches, brian_invalid_value_warnings_off, check_finite_states,
                   validate_trace)
from .genn_project import locked

__all__ = ["simulate", "capabilities", "StandaloneError", "build_count", "default_directory", "get_program",
           "vectorizing_flags", "Program"]

CAPACITY_STEP = 16


class StandaloneError(BrainlzError):
    """The compiled standalone program failed."""


def capabilities() -> dict:
    """What this backend supports."""
    return {"stochastic": True, "reruns_without_recompile": True, "targets": ("cpp_standalone",),
            "training": {"stdp": "standalone", "tempotron": "standalone"}, "objective": "standalone"}


def default_directory() -> Path:
    """Where compiled projects are kept."""
    root = os.environ.get("BRAINLZ_CACHE") or Path.home() / ".cache" / "brainlz"
    return Path(root) / "standalone"


class Program:
    """One compiled standalone project and the Python-side objects needed to rerun it.

    Attributes
    ----------
    key : str
        What the program was compiled for: its *shape* and the compiler flags (see :func:`get_program`).
    net : object
        What ``create`` returned when it was built (holds the Brian2 objects whose values run_args set).
    device : CPPStandaloneDevice
        A private device instance: programs of several shapes can live side by side.
    directory : Path
        The project directory.
    results : str
        The name of this program's results folder in the project (its own: other processes may run the project).
    """

    def __init__(self, key, net, device, directory: Path, build_options=(1, None)):
        self.key = key
        self.net = net
        self.device = device
        self.directory = directory
        self.results = f"results-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
        self.build_options = build_options  # (threads, flags) of the build, for a rebuild
        self.stamp = _stamp(directory)
        weakref.finalize(self, _remove_results, Path(directory), self.results)

    def _current(self):
        """Build this program into its folder again if another process rebuilt the binary since (call it holding
        the project's lock): the binary must be the one that these Brian2 objects describe."""
        if _stamp(self.directory) != self.stamp:
            _build(self.device, self.directory, *self.build_options, again=True)
            self.stamp = _stamp(self.directory)

    def run(self, run_args: dict, what: str = "standalone", error=None):
        """Rerun the compiled binary with new values; a failing program is dropped from the cache.

        The value files Brian2 writes for ``run_args`` are deleted afterwards, so that reruns do not pile up files
        in the project directory.  The run holds the project's lock; its results go to :attr:`results`.
        """
        with _project_lock(self.directory):
            self._current()
            try:
                self.device.run(directory=str(self.directory), results_directory=self.results, with_output=False,
                                run_args=run_args)
            except RuntimeError as exc:
                _STATE["programs"].pop(self.key, None)
                raise (error or StandaloneError)(f"the compiled {what} program failed: {exc}") from None
            finally:
                self._delete_value_files(self.device.run_args_arrays)

    def _delete_value_files(self, names):
        static = Path(self.directory) / "static_arrays"
        for name in list(names):
            for path in (static / name, static / (name + ".lock")):
                if path.exists():
                    path.unlink()

    def run_many(self, runs, read, what: str = "standalone", error=None) -> list:
        """Run the binary once per entry of ``runs``, all at the same time (one process each), and return
        ``[read(k) for each run k]``.

        An entry is a ``run_args`` mapping or a function returning one: each process starts as soon as its
        arguments exist, so preparing the next run's arguments overlaps with the running ones; likewise run
        ``k`` is read as soon as it has finished.  Each process writes its results to its own directory
        (``<results>_<k>`` in the project); ``read(k)`` is called with the device pointed at that directory, so it
        reads the monitors of run ``k``.  One run is :meth:`run` followed by ``read(0)``.  The argument files
        are written and the command lines built as Brian2's ``device.run`` does.  The runs hold the project's lock.
        """
        runs = list(runs)
        if len(runs) == 1:
            self.run(runs[0]() if callable(runs[0]) else runs[0], what, error)
            return [read(0)]
        with _project_lock(self.directory):
            self._current()
            return self._run_many(runs, read, what, error)

    def _run_many(self, runs, read, what, error) -> list:
        import subprocess

        from brian2 import TimedArray, prefs

        device, project = self.device, Path(self.directory)
        value_files, result_dirs, changed = [], [], set()
        run_cmd = prefs.devices.cpp_standalone.run_cmd_unix
        run_cmd = [run_cmd] if isinstance(run_cmd, str) else list(run_cmd)
        environment = {**os.environ, **prefs["devices.cpp_standalone.run_environment_variables"],
                       **device.run_environment_variables}
        processes, codes, results = [], [], []
        try:
            for k, run in enumerate(runs):
                arguments = []
                for key, value in (run() if callable(run) else run).items():
                    prepare = (device._prepare_timed_array_run_arg if isinstance(key, TimedArray)
                               else device._prepare_variableview_run_arg)
                    name, string_value, value_name, value_array = prepare(key, value)
                    if value_name:
                        path = project / "static_arrays" / value_name
                        if not path.exists():
                            value_array.tofile(path)
                        value_files.append(value_name)
                    arguments.append(f"{name}={string_value}")
                    changed.add(name)
                result_dir = project / f"{self.results}_{k}"
                result_dir.mkdir(exist_ok=True)
                result_dirs.append(os.path.join(str(result_dir), ""))
                with open(result_dir / "stdout.txt", "w") as stdout:
                    processes.append(subprocess.Popen(run_cmd + ["--results_dir", result_dirs[-1]] + arguments,
                                                      cwd=project, stdout=stdout, env=environment))
            device.has_been_run = True
            for k, process in enumerate(processes):
                codes.append(process.wait())
                if codes[-1]:
                    _STATE["programs"].pop(self.key, None)
                    text = (Path(result_dirs[k]) / "stdout.txt").read_text()[-2000:]
                    raise (error or StandaloneError)(f"the compiled {what} program failed (run {k} of "
                                                     f"{len(runs)}, project {project}): {text}")
                device.results_dir = result_dirs[k]
                for var in device.array_cache:  # values set on the command line and the clocks: read from disk
                    owner = getattr(var.owner, "name", None)
                    if f"{owner}.{var.name}" in changed or var.name in ("t", "timestep"):
                        device.array_cache[var] = None
                results.append(read(k))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            self._delete_value_files(value_files)
        return results


MAX_PROGRAMS = 4
_STATE = {"programs": OrderedDict(), "builds": 0, "fallbacks": 0}
_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"
_HELD = {}  # project folder -> how many times this process holds its lock


@contextlib.contextmanager
def _project_lock(project):
    """Hold the exclusive lock of a project folder (:func:`brainlz.backends.genn_project.locked`); re-entrant in
    this process."""
    key = str(project)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    with locked(Path(project)):
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]


def _stamp(project) -> tuple | None:
    """What identifies the project's compiled binary (``main``): inode, size and modification time."""
    try:
        info = os.stat(Path(project) / "main")
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _remove_results(project: Path, name: str):
    """Remove a program's results folders (``name`` and ``name_<k>``)."""
    for path in project.glob(f"{name}*"):
        shutil.rmtree(path, ignore_errors=True)


def _remove_dead_results(project: Path):
    """Remove the results folders that processes of this host which have died left in ``project``."""
    for path in project.glob(f"results-{_HOST}-*-*"):
        try:
            os.kill(int(path.name[len(f"results-{_HOST}-"):].split("-")[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, OSError):
            pass


def _build(device, project, threads: int, flags, again: bool = False):
    """Generate and compile ``device``'s project in ``project`` with the program's preferences (``again``: once
    more, after another process rebuilt it; Brian2 otherwise refuses to build a project it has run)."""
    from brian2 import prefs

    saved = (prefs.devices.cpp_standalone.openmp_threads, prefs.codegen.cpp.extra_compile_args_gcc,
             prefs.codegen.cpp.libraries)
    try:
        prefs.devices.cpp_standalone.openmp_threads = 0 if threads == 1 else int(threads)
        if flags is not None:
            prefs.codegen.cpp.extra_compile_args_gcc = flags["extra_compile_args_gcc"]
            prefs.codegen.cpp.libraries = flags["libraries"]
        if again:
            device.has_been_run = False
        device.build(directory=str(project), compile=True, run=False, with_output=False)
    finally:
        (prefs.devices.cpp_standalone.openmp_threads, prefs.codegen.cpp.extra_compile_args_gcc,
         prefs.codegen.cpp.libraries) = saved

#: Tokens that make a model rely on IEEE infinities or NaNs, which ``-ffinite-math-only`` may break.
_NON_FINITE = re.compile(r"\b(inf|nan|isinf|isnan|isfinite)\b")
#: The flag dropped from Brian2's default gcc flags, and the ones added, to vectorise the state updaters.
_DROPPED_FLAG = "-fno-finite-math-only"
_ADDED_FLAGS = ("--param=vect-max-version-for-alias-checks=100",)
_VECTOR_LIBRARY = "mvec"  # glibc's vector math library (exp, log, ... on 2, 4 or 8 doubles)


@functools.lru_cache(maxsize=1)
def _have_vector_math() -> bool:
    """Whether this is x86-64 Linux with glibc's vector math library (``libmvec``)."""
    return (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
            and ctypes.util.find_library("mvec") is not None)


def vectorizing_flags(models) -> dict | None:
    """Compiler preferences under which gcc vectorises the neurons' state updates, or ``None`` where unsafe.

    Brian2 compiles with ``-ffast-math -fno-finite-math-only``; its state-update loops then stay scalar, one
    ``exp`` call per neuron, state variable and step (about 15 ns per LIF neuron-step here).  Without
    ``-fno-finite-math-only``, with a larger budget of run-time alias checks (Brian2's clock pointers are not
    ``restrict``) and linked to glibc's vector math library, gcc turns them into AVX loops calling vector ``exp``
    (Brian2's profiler: 3x faster state updates; the whole inference 1.2-1.9x faster in
    ``benchmarks/bench_inference.py``, variant ``standalone-scalar`` side by side).  Values differ from Brian2's
    scalar code by a few units in the last place (libmvec's ``exp`` is accurate to 4 ulp), which never moved a
    spike in the backend-agreement tests.

    Used only where it is safe: x86-64 Linux with ``libmvec``, models whose Brian2 strings never mention
    ``inf``/``nan`` (``-ffinite-math-only`` assumes they do not occur; the stochastic meta-neuron clips at
    ``-inf`` and is compiled with Brian2's flags), and ``BRAINLZ_VECTORIZE`` not set to ``0``.  A compiler that
    fails to build with them (Brian2 already drops compiler flags the compiler does not know; a missing library
    fails at link time) makes :func:`get_program` fall back to Brian2's own.

    Parameters
    ----------
    models : iterable of NeuronModel
        The models compiled into the program.

    Returns
    -------
    dict or None
        ``{"extra_compile_args_gcc": [...], "libraries": [...]}`` for Brian2's ``prefs.codegen.cpp``.
    """
    from brian2 import prefs

    if os.environ.get("BRAINLZ_VECTORIZE", "1") == "0" or not _have_vector_math():
        return None
    for model in models:
        text = " ".join(str(part) for part in (model.equations, model.threshold, model.reset, model.on_pre,
                                               model.refractory) if part is not None)
        if _NON_FINITE.search(text):
            return None
    flags = [flag for flag in prefs.codegen.cpp.extra_compile_args_gcc if flag != _DROPPED_FLAG]
    flags += [flag for flag in _ADDED_FLAGS if flag not in flags]
    libraries = list(prefs.codegen.cpp.libraries)
    if _VECTOR_LIBRARY not in libraries:
        libraries.append(_VECTOR_LIBRARY)
    return {"extra_compile_args_gcc": flags, "libraries": libraries}


def build_count() -> int:
    """How many standalone builds this process has made (inference and STDP training; for tests and benchmarks)."""
    return _STATE["builds"]


def get_program(key, directory, create, *, duration=None, seed: int = 0, threads: int = 1, prefix: str = "",
                models=()):
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
    models : tuple of NeuronModel
        The neuron models in the program: where :func:`vectorizing_flags` allows it, the program is compiled
        with vectorised state updates (falling back to Brian2's flags if that compilation fails).

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
    flags = vectorizing_flags(models) if models else None
    tag = repr(key) + ("" if flags is None else repr(sorted(flags.items())))
    if tag in programs:
        programs.move_to_end(tag)
        return programs[tag], False
    project = Path(directory) / (prefix + hashlib.sha1(tag.encode()).hexdigest()[:16])
    project.mkdir(parents=True, exist_ok=True)
    device = CPPStandaloneDevice()  # private: never disturbs Brian2's global standalone device or other programs
    saved = (prefs.devices.cpp_standalone.openmp_threads, prefs.codegen.cpp.extra_compile_args_gcc,
             prefs.codegen.cpp.libraries)
    set_device(device, build_on_run=False, directory=str(project))
    try:
        prefs.devices.cpp_standalone.openmp_threads = 0 if threads == 1 else int(threads)
        if flags is not None:
            prefs.codegen.cpp.extra_compile_args_gcc = flags["extra_compile_args_gcc"]
            prefs.codegen.cpp.libraries = flags["libraries"]
        net = create()
        # Every value is provided by run_args at run time; apply them after the code's own initialisation.
        device.apply_run_args()
        brian2.seed(int(seed))
        Network(net.objects).run(net.duration if duration is None else duration, namespace={})
        with _project_lock(project):  # another process may be building or running this project
            _remove_dead_results(project)
            _build(device, project, threads, flags)
            program = Program(tag, net, device, project, build_options=(threads, flags))
    except Exception:
        if flags is None:
            raise
        failed = True
    else:
        failed = False
    finally:
        (prefs.devices.cpp_standalone.openmp_threads, prefs.codegen.cpp.extra_compile_args_gcc,
         prefs.codegen.cpp.libraries) = saved
        set_device("runtime")
    if failed:  # the compiler refused the vectorising flags: build again with Brian2's own
        _STATE["fallbacks"] += 1
        return get_program(key, directory, create, duration=duration, seed=seed, threads=threads, prefix=prefix)
    _STATE["builds"] += 1
    programs[tag] = program
    while len(programs) > MAX_PROGRAMS:
        programs.popitem(last=False)
    return program, True


def hoisting() -> bool:
    """Whether inference programs compute the run-invariant factors of the state updates once per period
    (:mod:`brainlz.invariants`; default on, ``BRAINLZ_HOIST=0`` turns it off)."""
    return os.environ.get("BRAINLZ_HOIST", "1") != "0"


def _shape_key(spec, n_samples, n_bins, capacity, record_hidden, trace, seed, threads, periods=1, hoist=False):
    stochastic = any(layer.neuron_model.stochastic for layer in spec.layers)
    return ("inference", spec.structure_key(), n_samples, n_bins, capacity, record_hidden, trace,
            seed if stochastic else None, threads, periods, hoist)


_READS_TIME = re.compile(r"\bt\b")


def _reads_time(spec: NetworkSpec) -> bool:
    """Whether a model's equations, threshold or reset read the simulation time ``t``."""
    from brian2 import Equations

    for layer in spec.layers:
        model = layer.neuron_model
        if "t" in Equations(model.equations).identifiers or any(
                _READS_TIME.search(str(part)) for part in (model.threshold, model.reset) if part):
            return True
    return False


def _run_args(compiled: Program, spec: NetworkSpec, table: np.ndarray, copy_params=None) -> dict:
    """Map every variable to its values, checking lengths (Brian2 ignores wrong-length synaptic arrays)."""
    net = compiled.net
    fresh = dataclasses.replace(net, spec=spec)
    run_args = {}
    for (owner, name), values in fresh.initial_values(copy_params).items():
        if owner is net.inputs and name == "next_bin":  # the first spike of every input, from this run's table
            values = table[0].astype(np.int32)
        view = getattr(owner, name)
        expected = fresh.expected_length(owner)
        if values.shape != (expected,):
            raise StandaloneError(f"run_args for {owner.name}.{name}: {values.shape[0]} values, expected {expected}")
        run_args[view] = Quantity(values, dim=view.dim) if not view.dim.is_dimensionless else values
    if table.shape != net.table.values.shape:
        raise StandaloneError(f"input table has shape {table.shape}, compiled for {net.table.values.shape}")
    run_args[net.table] = table
    return run_args


def simulate(spec: NetworkSpec, spiketrains, *, batch_size: int | None = None, record_hidden: bool = False,
             trace=None, seed: int = 0, threads: int = 1, directory=None, progress=None,
             copy_params=None, copies: int | None = None, processes: int = 1) -> SimulationResult:
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
    copies : int, optional
        Parallel copies of the network in the compiled program (default: the batch size, i.e. every sample of a
        batch in parallel).  With fewer copies than samples per batch, the batch is played as ``ceil(batch /
        copies)`` consecutive periods of ``n_bins`` steps, the neurons reset to their initial state between
        periods (:func:`brainlz.network.build`), which gives identical rasters.  The synapses and the program's
        start-up are then shared by more samples, and the state stays cache-sized: the fastest setting for large
        batches (``benchmarks/bench_inference.py``).  Not combinable with ``copy_params``, nor with models that
        read the time ``t``.
    processes : int
        Instances of the compiled program that run at the same time, each on its own part of a batch
        (:meth:`Program.run_many`): the program is compiled for ``ceil(batch_size / processes)`` samples.
        Unlike ``threads`` (OpenMP, a barrier per operation and time step), the instances share nothing, so on
        idle cores they scale almost linearly (``benchmarks/bench_inference.py``).

    Returns
    -------
    SimulationResult
        ``n_builds`` is 0 when the compiled program of a previous call was reused.
    """
    checks.integer("seed", seed)
    checks.integer("threads", threads, low=1, reason="expected a positive integer")
    checks.integer("processes", processes, low=1, reason="expected a positive integer")
    spiketrains = check_spiketrains(spiketrains, spec.n_inputs)
    n_samples, _, n_bins = spiketrains.shape
    trace = validate_trace(trace, spec, n_samples)
    copy_params = check_copy_params(spec, copy_params, n_samples)
    chunks = batches(n_samples, batch_size)
    size = n_samples if batch_size is None else int(batch_size)
    if processes > 1:  # each process runs its own part of every batch
        size = -(-min(size, n_samples) // int(processes))
        chunks = batches(n_samples, size)
    periods = 1
    if copies is not None:
        checks.integer("copies", copies, low=1, reason="expected a positive integer")
        if copies < size:
            if copy_params:
                raise ParameterError("copies", copies, "cannot be combined with copy_params (per-copy parameters)")
            if _reads_time(spec):
                raise ParameterError("copies", copies, "a model reads the time t, which would not restart between "
                                     "periods; leave copies unset")
            periods = -(-size // int(copies))
            size = int(copies) * periods
    copies_compiled = size // periods
    counts = spike_counts(spiketrains)
    if periods > 1:  # one input neuron plays the spikes of all its periods: count per copy over each batch
        per_copy = []
        for start, stop in chunks:
            padded = np.zeros((size, counts.shape[1]), dtype=counts.dtype)
            padded[: stop - start] = counts[start:stop]
            per_copy.append(padded.reshape(periods, copies_compiled, -1).sum(axis=0))
        counts = np.concatenate(per_copy)
    capacity = int(np.ceil(max(int(counts.max()), 1) / CAPACITY_STEP) * CAPACITY_STEP)
    directory = Path(directory) if directory is not None else default_directory()
    start_time = time.perf_counter()
    builds_before = _STATE["builds"]
    outputs = {name: np.zeros((n_samples, spec.layer(name).n_neurons, n_bins), dtype=bool)  # filled by read()
               for name in spec.layer_names if name == spec.output.name or record_hidden}
    trace_data = None
    local_trace = None if trace is None else (trace[0], 0, trace[2])  # the program traces copy 0
    hoist = hoisting()
    key = _shape_key(spec, copies_compiled, n_bins, capacity, record_hidden, local_trace, seed, threads, periods,
                     hoist)
    compiled, _ = get_program(
        key, directory, lambda: build(spec, copies_compiled, n_bins, capacity, record_hidden=record_hidden,
                                      trace=local_trace, periods=periods, hoist=hoist),
        duration=periods * n_bins * spec.dt, seed=seed, threads=threads,
        models=tuple(layer.neuron_model for layer in spec.layers))

    def arguments(start, stop):
        """The run_args of the chunk [start, stop); the traced sample is moved to position 0."""
        batch = np.zeros((size,) + spiketrains.shape[1:], dtype=bool)
        batch[: stop - start] = spiketrains[start:stop]
        if trace is not None and start <= trace[1] < stop:
            batch[[0, trace[1] - start]] = batch[[trace[1] - start, 0]]
        table, _ = spike_table(batch, capacity, periods=periods)
        chunk_params = {}
        for layer_name, params in copy_params.items():
            chunk_params[layer_name] = {}
            for name, array in params.items():
                rows = np.tile(np.asarray(spec.layer(layer_name).params[name], dtype=float), (size, 1))
                rows[: stop - start] = array[start:stop]
                if trace is not None and start <= trace[1] < stop:
                    rows[[0, trace[1] - start]] = rows[[trace[1] - start, 0]]
                chunk_params[layer_name][name] = rows
        return _run_args(compiled, spec, table, chunk_params)

    def read(start, stop):
        """The rasters (and the trace) of the chunk just run."""
        nonlocal trace_data
        net = compiled.net
        check_finite_states(spec, net.groups, start, stop, periods)
        rasters = {}
        for name, monitor in net.spike_monitors.items():
            rasters[name] = rasters_from_monitor(monitor.i[:], monitor.t_[:], size, spec.layer(name).n_neurons,
                                                 n_bins, float(spec.dt), periods=periods,
                                                 out=outputs[name][start:stop])
        if trace is not None and start <= trace[1] < stop:
            for name in rasters:
                rasters[name][[0, trace[1] - start]] = rasters[name][[trace[1] - start, 0]]
            # the traced sample is sample 0: copy 0 during the first period
            trace_data = {"layer": trace[0], "sample": trace[1], "neuron": trace[2],
                          "t": brian_array(net.trace_monitor.t_[:n_bins])}
            for variable in net.trace_monitor.record_variables:
                trace_data[variable] = brian_array(getattr(net.trace_monitor, variable + "_")[0][:n_bins])

    for first in range(0, len(chunks), processes):
        group = chunks[first:first + processes]
        with brian_invalid_value_warnings_off():  # read() checks the states (check_finite_states)
            compiled.run_many([functools.partial(arguments, start, stop) for start, stop in group],
                              lambda k: read(*group[k]))
        if progress is not None:
            progress(group[-1][1], n_samples)
    rasters = dict(outputs)
    output = rasters.pop(spec.output.name)
    return SimulationResult(output=output, hidden=rasters, dt=float(spec.dt), backend="standalone",
                            trace=trace_data, wall_time=time.perf_counter() - start_time,
                            n_builds=_STATE["builds"] - builds_before)
