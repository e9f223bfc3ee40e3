"""Runtime backend: Brian2's runtime mode with the ``numpy`` or ``cython`` code-generation target.

The network of a whole batch is built once per batch (all samples as independent copies) and simulated in one
``Network.run``.  The ``cython`` target compiles each code object once (about 40 s the first time on 2 cores);
Brian2 caches the compiled modules on disk (``~/.cython/brian_extensions``), and since every parameter is a
per-neuron variable, later runs with other parameters, weights, inputs or batch sizes reuse them.
"""

from __future__ import annotations

import time

import numpy as np

from .. import checks
from ..network import (NetworkSpec, brian_array, build, check_copy_params, check_spiketrains, rasters_from_monitor,
                       run_network)
from .base import (SimulationResult, batches, brian_invalid_value_warnings_off, check_finite_states,
                   validate_trace)

__all__ = ["simulate", "TARGETS", "capabilities"]

TARGETS = ("numpy", "cython")


def capabilities() -> dict:
    """What this backend supports."""
    return {"stochastic": True, "reruns_without_recompile": True, "targets": TARGETS,
            "training": {"stdp": "runtime", "tempotron": "runtime"}, "objective": "runtime"}


def simulate(spec: NetworkSpec, spiketrains, *, target: str = "cython", batch_size: int | None = None,
             record_hidden: bool = False, trace=None, seed: int = 0, progress=None,
             copy_params=None) -> SimulationResult:
    """Simulate ``spec`` on every sample of ``spiketrains``.

    Parameters
    ----------
    spec : NetworkSpec
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
        Input rasters; bin ``b`` is a spike at ``t = b * spec.dt``.
    target : {"cython", "numpy"}
        Brian2 code-generation target.
    batch_size : int, optional
        Samples per Brian2 run (default: all in one run).  Memory grows linearly with it.
    record_hidden : bool
        Return the hidden-layer rasters too.
    trace : (layer, sample, neuron), optional
        Record the state variables of this neuron.
    seed : int
        Seed of Brian2's random numbers (stochastic models); batch ``k`` uses ``seed + k``.
    progress : callable, optional
        Called as ``progress(n_done, n_samples)`` after each batch.
    copy_params : dict, optional
        Per-sample intrinsic parameters ``{layer: {parameter: float array [n_samples, n_neurons] (SI)}}``: sample
        ``s`` is simulated with row ``s`` instead of the spec's values (see
        :func:`brainlz.network.check_copy_params`; used by :func:`brainlz.learning.intrinsic.simulate_parameter_sets`).

    Returns
    -------
    SimulationResult
    """
    import brian2
    from brian2 import get_device, prefs, set_device

    checks.one_of("target", target, TARGETS)
    checks.integer("seed", seed)
    spiketrains = check_spiketrains(spiketrains, spec.n_inputs)
    n_samples, _, n_bins = spiketrains.shape
    trace = validate_trace(trace, spec, n_samples)
    copy_params = check_copy_params(spec, copy_params, n_samples)
    if type(get_device()).__name__ != "RuntimeDevice":
        set_device("runtime")
    old_target = prefs.codegen.target
    prefs.codegen.target = target
    start_time = time.perf_counter()
    outputs = {name: [] for name in spec.layer_names}
    trace_data = None
    try:
        for chunk, (start, stop) in enumerate(batches(n_samples, batch_size)):
            local_trace = None
            if trace is not None and start <= trace[1] < stop:
                local_trace = (trace[0], trace[1] - start, trace[2])
            net = build(spec, stop - start, n_bins, 0, record_hidden=record_hidden, trace=local_trace,
                        spiketrains=spiketrains[start:stop])
            chunk_params = {layer: {name: array[start:stop] for name, array in params.items()}
                            for layer, params in copy_params.items()}
            for (owner, name), values in net.initial_values(chunk_params).items():
                setattr(owner, name + "_", values)
            brian2.seed(int(seed) + chunk)
            with brian_invalid_value_warnings_off():  # check_finite_states says it in one line
                run_network(net.objects, n_bins * spec.dt)
            check_finite_states(spec, net.groups, start, stop)
            for name, monitor in net.spike_monitors.items():
                outputs[name].append(rasters_from_monitor(monitor.i[:], monitor.t_[:], stop - start,
                                                          spec.layer(name).n_neurons, n_bins, float(spec.dt)))
            if net.trace_monitor is not None:
                trace_data = {"layer": trace[0], "sample": trace[1], "neuron": trace[2],
                              "t": brian_array(net.trace_monitor.t_[:])}
                for variable in net.trace_monitor.record_variables:
                    trace_data[variable] = brian_array(getattr(net.trace_monitor, variable + "_")[0])
            if progress is not None:
                progress(stop, n_samples)
    finally:
        prefs.codegen.target = old_target
    rasters = {name: np.concatenate(parts) for name, parts in outputs.items() if parts}
    output = rasters.pop(spec.output.name)
    return SimulationResult(output=output, hidden=rasters, dt=float(spec.dt), backend=f"runtime-{target}",
                            trace=trace_data, wall_time=time.perf_counter() - start_time,
                            n_builds=len(batches(n_samples, batch_size)))
