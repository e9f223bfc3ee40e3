"""brian2cuda worker: rebuild a batched brainlz network with plain Brian2 and make one CUDA standalone run.

Run by :mod:`brainlz.backends.cuda` as ``python -I _cuda_worker.py RUN_DIR`` inside the pinned side environment
(Python >= 3.12, brian2 2.10.1, brian2cuda 1.0b1).  It must not import brainlz.  ``RUN_DIR`` holds

* ``config.json``: ``n_inputs``, ``dt`` (s), ``n_samples``, ``n_bins``, ``layers`` (name, n_neurons, Brian2
  equations, threshold, reset, refractory, method, ``on_pre``, weight unit, parameter and state names),
  ``record`` (layer names), ``trace`` (``[layer, sample, neuron]`` or null), ``seed`` (int or null),
  ``codegen_only``, ``project`` and ``cuda`` (``detect_gpus``, ``gpu_id``, ``compute_capability``,
  ``cuda_runtime_version``, ``cuda_path``: brian2cuda preferences; ``null`` leaves brian2cuda's default);
* ``network.npz``: ``weights_<k>`` ``[n_pre, n_post]``, ``param_<layer>_<name>`` and ``state_<layer>_<name>``
  ``[n_samples * n_neurons]`` (SI units), ``input_indices`` and ``input_steps`` (the input spikes of all copies).

Every sample is an independent copy of the network (block-diagonal synapses), as in ``brainlz.network.build``.
Output: ``spikes.npz`` with ``<layer>_i`` (neuron index over all copies) and ``<layer>_t`` (s) per recorded layer,
and ``trace_t``, ``trace_<state>`` for a traced neuron.  With ``codegen_only`` the CUDA project is generated
(``set_device('cuda_standalone', compile=False, run=False)``) and nothing is compiled or run.
"""

import json
import sys
from pathlib import Path

import numpy as np


def _set_preferences(b2, cuda):
    backend = b2.prefs.devices.cuda_standalone.cuda_backend
    if cuda.get("detect_gpus") is False:
        # cross-compilation without a GPU (brian2cuda docs, "Cross-compiling on systems without GPU access")
        backend.detect_gpus = False
        backend.gpu_id = int(cuda.get("gpu_id") or 0)
    elif cuda.get("gpu_id") is not None:
        backend.gpu_id = int(cuda["gpu_id"])
    if cuda.get("compute_capability") is not None:
        backend.compute_capability = float(cuda["compute_capability"])
    if cuda.get("cuda_runtime_version") is not None:
        backend.cuda_runtime_version = float(cuda["cuda_runtime_version"])
    if cuda.get("detect_cuda") is False:
        backend.detect_cuda = False  # a missing nvcc is a warning, not an error
    if cuda.get("cuda_path") is not None:
        backend.cuda_path = str(cuda["cuda_path"])


def main(run_dir):
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    data = np.load(run_dir / "network.npz")
    import brian2 as b2
    import brian2cuda  # noqa: F401  (registers the 'cuda_standalone' device)

    codegen_only = bool(config["codegen_only"])
    _set_preferences(b2, config.get("cuda") or {})
    b2.set_device("cuda_standalone", directory=config["project"], compile=not codegen_only, run=not codegen_only,
                  build_on_run=True)
    if config.get("seed") is not None:
        b2.seed(int(config["seed"]))
    dt = config["dt"] * b2.second
    b2.defaultclock.dt = dt  # one clock for everything (brian2cuda issue #222: Synapses with another dt)
    n_samples, n_pre = config["n_samples"], config["n_inputs"]
    steps = data["input_steps"]
    pre = b2.SpikeGeneratorGroup(n_samples * n_pre, data["input_indices"], steps * dt, sorted=True, name="inputs")
    monitors, objects, trace = {}, [pre], None
    for index, layer in enumerate(config["layers"]):
        name, n_post = layer["name"], layer["n_neurons"]
        group = b2.NeuronGroup(n_samples * n_post, layer["equations"], threshold=layer["threshold"],
                               reset=layer["reset"], refractory=layer["refractory"], method=layer["method"],
                               name=name, namespace={})
        for variable in layer["params"]:
            setattr(group, variable + "_", data["param_%s_%s" % (name, variable)])
        for variable in layer["states"]:
            setattr(group, variable + "_", data["state_%s_%s" % (name, variable)])
        sample = np.repeat(np.arange(n_samples), n_pre * n_post)
        local_pre = np.tile(np.repeat(np.arange(n_pre), n_post), n_samples)
        local_post = np.tile(np.tile(np.arange(n_post), n_pre), n_samples)
        weights = np.tile(np.asarray(data["weights_%d" % index], dtype=float).ravel(), n_samples)
        syn = b2.Synapses(pre, group, model="w : %s (constant)" % layer["weight_unit"], on_pre=layer["on_pre"],
                          name="syn_%d_%s" % (index, name), namespace={})
        syn.connect(i=sample * n_pre + local_pre, j=sample * n_post + local_post)
        syn.w_ = weights
        objects.append(syn)
        if name in config["record"]:
            monitors[name] = b2.SpikeMonitor(group, name="spikes_%s" % name)
            objects.append(monitors[name])
        if config["trace"] is not None and config["trace"][0] == name:
            _, sample_index, neuron = config["trace"]
            trace = b2.StateMonitor(group, layer["states"], record=[sample_index * n_post + neuron], name="trace")
            objects.append(trace)
        objects.append(group)
        pre, n_pre = group, n_post
    b2.Network(*objects).run(config["n_bins"] * dt, namespace={})  # build_on_run: generate (compile, run)
    if not codegen_only:
        arrays = {}
        for name, monitor in monitors.items():
            # brian2cuda sorts monitor data by time only (docs, known issues: issue #46); rasters do not care
            arrays[name + "_i"] = np.asarray(monitor.i[:], dtype=np.int64)
            arrays[name + "_t"] = np.asarray(monitor.t_[:], dtype=float)
        if trace is not None:
            arrays["trace_t"] = np.asarray(trace.t_[:], dtype=float)
            for variable in trace.record_variables:
                arrays["trace_" + variable] = np.asarray(getattr(trace, variable + "_")[0], dtype=float)
        np.savez(run_dir / "spikes.npz", **arrays)
    print("brainlz cuda worker: done")


if __name__ == "__main__":
    main(sys.argv[1])
