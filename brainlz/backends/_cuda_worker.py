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

Every sample is an independent copy of the network (block-diagonal synapses), built by ``brainlz/builder.py``
(loaded by its path) as ``brainlz.network.build`` builds it.
Output: ``spikes.npz`` with ``<layer>_i`` (neuron index over all copies) and ``<layer>_t`` (s) per recorded layer,
``final_<layer>_<state>`` (every layer's state variables after the run, for the non-finite check) and ``trace_t``,
``trace_<state>`` for a traced neuron.  With ``codegen_only`` the CUDA project is generated
(``set_device('cuda_standalone', compile=False, run=False)``) and nothing is compiled or run.
"""

import json
import runpy
import sys
import types
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


def load_builder():
    """brainlz's Brian2 builder (``brainlz/builder.py``, numpy only), run from its path: this script runs with
    ``python -I`` in an environment without brainlz."""
    return types.SimpleNamespace(**runpy.run_path(str(Path(__file__).resolve().parents[1] / "builder.py")))


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
    n_samples, n_inputs = config["n_samples"], config["n_inputs"]
    inputs = b2.SpikeGeneratorGroup(n_samples * n_inputs, data["input_indices"], data["input_steps"] * dt,
                                    sorted=True, name="inputs")
    builder = load_builder()
    groups, synapses, monitors = builder.build_layers(
        b2, inputs, n_inputs, config["layers"], n_samples, record=config["record"], constant_weights=True,
        group_options={"namespace": {}}, synapse_options={"namespace": {}})
    builder.set_values(groups, synapses, config["layers"], data, n_samples)
    trace = builder.traced(b2, groups, config["layers"], config["trace"])
    objects = [inputs, *groups] + [syn for projection in synapses for syn in projection]
    objects += list(monitors.values()) + ([trace] if trace is not None else [])
    b2.Network(*objects).run(config["n_bins"] * dt, namespace={})  # build_on_run: generate (compile, run)
    if not codegen_only:
        # brian2cuda sorts monitor data by time only (docs, known issues: issue #46); rasters do not care
        np.savez(run_dir / "spikes.npz", **builder.recorded_arrays(monitors, trace),
                 **builder.final_states(groups, config["layers"]))
    print("brainlz cuda worker: done")


if __name__ == "__main__":
    main(sys.argv[1])
