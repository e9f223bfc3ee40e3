"""Talking to a side environment's worker: the run folder the ``genn`` and ``cuda`` backends share.

The worker scripts (``_genn_worker.py``, ``_cuda_worker.py``) run in their own virtual environments
(:mod:`brainlz.backends.side_env`) and import only brian2, their backend and numpy.  The main process hands them
one run folder at a time:

* in: ``config.json`` (the layers' Brian2 code, sizes, what to record) and ``network.npz`` (input spikes as
  ``input_indices``/``input_steps``, ``weights_<k>``, and per layer ``param_<layer>_<name>`` and
  ``state_<layer>_<state>`` for every copy of the network, SI floats; :func:`write_inputs`);
* run: ``<python> -I <worker> <folder>``, its output in ``<folder>/worker.log`` (:func:`run_worker`);
* out: ``spikes.npz`` (``<layer>_i``/``<layer>_t`` of every recorded layer, ``final_<layer>_<state>``, and
  ``trace_*`` when a neuron is traced), or the training design's own ``.npz``.

:func:`run_batches` is the loop both backends use when every batch is a build of its own (brian2cuda always;
brian2genn for ``codegen_only`` and traced runs): one folder ``batch_<k>`` per batch of samples, the outputs
concatenated into one :class:`~brainlz.backends.base.SimulationResult` and every batch's final states checked
(:func:`~brainlz.backends.base.check_final_states`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..network import evaluate_initial, rasters_from_monitor
from .base import SimulationResult, check_final_states, saved_states
from .side_env import last_line

__all__ = ["run_worker", "fresh_dir", "write_inputs", "input_events", "layer_arrays", "batch_arrays",
           "run_batches"]


def run_worker(python: Path, worker: Path, run_dir: Path, *, timeout, environment: dict, error, name: str) -> None:
    """Run ``worker`` on ``run_dir`` with the side environment's ``python`` (output: ``run_dir/worker.log``).

    Parameters
    ----------
    environment : dict
        Variables set for the worker on top of this process's environment (``None`` values are left out).
    error : type
        The exception raised, with one line naming the log, when the worker fails or runs past ``timeout`` (s).
    name : str
        The worker's name in that line (``"brian2genn"``).
    """
    variables = dict(os.environ, **{key: str(value) for key, value in environment.items() if value is not None})
    log = run_dir / "worker.log"
    with open(log, "w") as handle:
        try:
            done = subprocess.run([str(python), "-I", str(worker), str(run_dir)], stdout=handle,
                                  stderr=subprocess.STDOUT, env=variables, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise error(f"the {name} worker timed out after {timeout} s (log: {log})") from None
    if done.returncode != 0:
        raise error(f"the {name} worker failed: {last_line(log.read_text())} (log: {log})")


def fresh_dir(run_dir: Path) -> Path:
    """``run_dir``, emptied of an earlier run's files."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return run_dir


def write_inputs(run_dir: Path, config: dict, arrays: dict) -> None:
    """The worker's inputs: ``config.json`` and ``network.npz``."""
    (run_dir / "config.json").write_text(json.dumps(config, indent=1))
    np.savez(run_dir / "network.npz", **arrays)


def input_events(spiketrains: np.ndarray, start: int, stop: int) -> tuple:
    """Input spikes of samples ``start:stop`` as events of the copies' input neurons.

    Returns
    -------
    indices, steps : int64 ndarray
        Input neuron ``(sample - start) * n_inputs + channel`` and time bin of every spike, sorted by time bin,
        then index (the order a ``SpikeGeneratorGroup`` wants).
    """
    samples, n_inputs, n_bins = spiketrains[start:stop].shape
    steps, indices = np.nonzero(spiketrains[start:stop].reshape(samples * n_inputs, n_bins).T)
    return indices.astype(np.int64), steps.astype(np.int64)


def layer_arrays(layer, n_copies: int, copy_params: dict) -> dict:
    """Parameters and initial states of ``n_copies`` copies of ``layer`` (SI floats, ``[n_copies * n]``)."""
    model = layer.neuron_model
    params = {name: np.tile(np.asarray(value, dtype=float), n_copies) for name, value in layer.params.items()}
    for name, array in copy_params.items():
        params[name] = np.asarray(array, dtype=float).ravel().copy()
    arrays = {f"param_{layer.name}_{name}": array for name, array in params.items()}
    for state in model.state_variables():
        arrays[f"state_{layer.name}_{state}"] = (evaluate_initial(model.initial[state], params)
                                                 if state in model.initial else np.zeros(n_copies * layer.n_neurons))
    return arrays


def _pad_rows(array, rows: int) -> np.ndarray:
    """``array`` with its last row repeated up to ``rows`` rows (values for silent padding samples)."""
    array = np.asarray(array)
    return array if array.shape[0] == rows else np.concatenate([array, np.repeat(array[-1:], rows - len(array), 0)])


def batch_arrays(spec, weights: dict, copy_params: dict, start: int, stop: int, n_copies: int | None = None) -> dict:
    """Weights, parameters and initial states of the network copies of samples ``start:stop``.

    Parameters
    ----------
    weights : dict
        ``weights_<k>`` of every projection (float, SI).
    copy_params : dict
        Per-sample parameters ``{layer: {name: [n_samples, n_neurons]}}`` (checked by
        :func:`brainlz.network.check_copy_params`).
    n_copies : int, optional
        Copies to describe (default ``stop - start``); more copies repeat the last sample's per-sample parameters
        (silent padding samples of a compiled project of a larger batch).
    """
    n_copies = stop - start if n_copies is None else n_copies
    if n_copies < stop - start:
        raise ValueError(f"n_copies = {n_copies}: fewer copies than the {stop - start} samples {start}:{stop}")
    arrays = dict(weights)
    for layer in spec.layers:
        chunk = {name: _pad_rows(array[start:stop], n_copies)
                 for name, array in copy_params.get(layer.name, {}).items()}
        arrays.update(layer_arrays(layer, n_copies, chunk))
    return arrays


def run_batches(spec, spiketrains: np.ndarray, chunks, *, layers: list, weights: dict, record: list,
                copy_params: dict, trace, settings: dict, run, directory, prefix: str, codegen_only: bool, backend: str,
                progress=None) -> SimulationResult:
    """Every batch of samples built and run by the worker in a folder of its own (``<root>/batch_<k>``).

    Parameters
    ----------
    chunks : list of (start, stop)
        The batches (:func:`brainlz.backends.base.batches`).
    layers : list of dict
        The layers' descriptions for the worker (``name``, ``n_neurons``, ``states``, the model's code).
    record : list of str
        The layers whose spikes come back (the output layer, and the hidden ones if asked for).
    trace : (layer, sample, neuron) or None
        Checked by :func:`brainlz.backends.base.validate_trace`; only the batch holding the sample traces it.
    settings : dict
        The backend's own entries of every batch's ``config.json`` (``use_gpu``; ``seed``, ``cuda``).
    run : callable
        ``run(run_dir)`` runs the worker on a folder (its errors pass through).
    directory : path or None
        The root folder; None: a new temporary one (``prefix``), deleted after a successful run unless
        ``codegen_only`` (kept on failure: the error names its log).
    codegen_only : bool
        The worker generates the project and stops; the rasters returned are empty.
    backend : str
        ``SimulationResult.backend``.
    progress : callable, optional
        ``progress(n_done, n_samples)`` after every batch.
    """
    n_samples, _, n_bins = spiketrains.shape
    dt = float(spec.dt)
    core = {"n_inputs", "dt", "n_samples", "n_bins", "layers", "record", "codegen_only", "project", "trace"}
    if core & set(settings):
        raise ValueError(f"settings: {sorted(core & set(settings))} are run_batches' own entries of config.json")
    temporary = directory is None
    root = Path(tempfile.mkdtemp(prefix=prefix)) if temporary else Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    start_time = time.perf_counter()
    outputs = {name: [] for name in record}
    trace_data, finished = None, False
    try:
        for k, (start, stop) in enumerate(chunks):
            run_dir = fresh_dir(root / f"batch_{k:03d}")
            indices, steps = input_events(spiketrains, start, stop)
            local_trace = [trace[0], trace[1] - start, trace[2]] if trace is not None and start <= trace[1] < stop \
                else None
            config = {"n_inputs": int(spec.n_inputs), "dt": dt, "n_samples": stop - start, "n_bins": int(n_bins),
                      "layers": layers, "record": record, "codegen_only": bool(codegen_only),
                      "project": str(run_dir / "project"), "trace": local_trace, **settings}
            write_inputs(run_dir, config, {"input_indices": indices, "input_steps": steps,
                                           **batch_arrays(spec, weights, copy_params, start, stop)})
            run(run_dir)
            if codegen_only:
                for name in record:
                    outputs[name].append(np.zeros((stop - start, spec.layer(name).n_neurons, n_bins), dtype=bool))
            else:
                with np.load(run_dir / "spikes.npz") as data:
                    for name in record:
                        outputs[name].append(rasters_from_monitor(data[f"{name}_i"], data[f"{name}_t"], stop - start,
                                                                  spec.layer(name).n_neurons, n_bins, dt))
                    if local_trace is not None:
                        trace_data = {"layer": trace[0], "sample": trace[1], "neuron": trace[2],
                                      "t": np.asarray(data["trace_t"])}
                        for state in spec.layer(trace[0]).neuron_model.state_variables():
                            trace_data[state] = np.asarray(data[f"trace_{state}"])
                    check_final_states(spec, saved_states(data, layers), start, stop)
            if progress is not None:
                progress(stop, n_samples)
        finished = True
    finally:
        if temporary and finished and not codegen_only:
            shutil.rmtree(root, ignore_errors=True)
    rasters = {name: np.concatenate(parts) for name, parts in outputs.items()}
    output = rasters.pop(spec.output.name)
    return SimulationResult(output=output, hidden=rasters, dt=dt, backend=backend, trace=trace_data,
                            wall_time=time.perf_counter() - start_time, n_builds=len(chunks))
