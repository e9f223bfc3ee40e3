"""brian2genn worker: rebuild a batched brainlz network with plain Brian2 and make one GeNN run.

Run by :mod:`brainlz.backends.genn` as ``python -I _genn_worker.py RUN_DIR`` inside the pinned side environment
(brian2 2.5.4, numpy < 2, brian2genn 1.7.0).  It must not import brainlz.  ``RUN_DIR`` holds

* ``config.json``: ``n_inputs``, ``dt`` (s), ``n_samples``, ``n_bins``, ``layers`` (name, n_neurons, Brian2
  equations, threshold, reset, refractory, method, ``on_pre`` as ``{postsynaptic variable: code}``, weight unit,
  parameter and state names), ``record`` (layer names), ``trace`` (``[layer, sample, neuron]`` or null),
  ``use_gpu``, ``codegen_only``, ``project``;
* ``network.npz``: ``weights_<k>`` ``[n_pre, n_post]``, ``param_<layer>_<name>`` and ``state_<layer>_<name>``
  ``[n_samples * n_neurons]`` (SI units), ``input_indices`` and ``input_steps`` (the input spikes of all copies).

Every sample is an independent copy of the network (block-diagonal synapses), built by ``brainlz/builder.py``
(loaded by its path) as ``brainlz.network.build`` builds it.
With ``"mode": "stdp"`` or ``"tempotron"`` in ``config.json`` it runs one training epoch instead (see
:func:`stdp`, :func:`tempotron`).
Output: ``spikes.npz`` with ``<layer>_i`` (neuron index over all copies) and ``<layer>_t`` (s) per recorded layer,
``final_<layer>_<state>`` (every layer's state variables after the run, for the non-finite check) and ``trace_t``,
``trace_<state>`` for a traced neuron.
"""

import json
import runpy
import sys
import types
from pathlib import Path

import numpy as np


def stdp(run_dir, config, data):
    """One STDP epoch (``config["mode"] == "stdp"``): inputs -> one copy of a layer through plastic synapses.

    ``config``: ``n_inputs``, ``dt``, ``n_steps``, ``period``, ``layer`` (as for inference, one copy),
    ``synapses`` (``model``, ``on_pre``, ``on_post`` strings), ``rule`` (shared variables, SI), ``reset`` (code
    run at every sample start, or null).  ``network.npz``: ``weights`` ``[n_inputs * n_neurons]`` (synapse
    ``i * n + j``), the layer's ``param_*``/``state_*``, ``input_indices``/``input_steps``.  Output ``stdp.npz``:
    ``i``, ``j``, ``w`` per synapse, the layer's spikes ``spike_i``, ``spike_t`` and its state variables after the
    run, ``final_<state>``.
    """
    import brian2 as b2

    dt = config["dt"] * b2.second
    b2.defaultclock.dt = dt
    layer, n_inputs = config["layer"], config["n_inputs"]
    n = layer["n_neurons"]
    inputs = b2.SpikeGeneratorGroup(n_inputs, data["input_indices"], data["input_steps"] * dt, name="stdp_inputs")
    group = b2.NeuronGroup(n, layer["equations"], threshold=layer["threshold"], reset=layer["reset"],
                           refractory=layer["refractory"], method=layer["method"], name="stdp_layer", namespace={})
    for variable in layer["params"]:
        setattr(group, variable + "_", data["param_%s_%s" % (layer["name"], variable)])
    for variable in layer["states"]:
        setattr(group, variable + "_", data["state_%s_%s" % (layer["name"], variable)])
    code = config["synapses"]
    syn = b2.Synapses(inputs, group, model=code["model"], on_pre=code["on_pre"], on_post=code["on_post"],
                      name="stdp_synapses", namespace={})
    syn.connect(i=np.repeat(np.arange(n_inputs), n), j=np.tile(np.arange(n), n_inputs))
    syn.w_ = data["weights"]
    syn.lastpre_ = -1e4
    syn.lastpost_ = -1e4
    for name, value in config["rule"].items():
        setattr(syn, name + "_", value)
    objects = [inputs, group, syn]
    if config["reset"] is not None:
        # brian2genn recognises run_regularly operations by '_run_regularly' in their names (others are dropped)
        group.run_regularly(config["reset"], dt=config["period"] * dt, name="stdp_layer_run_regularly_reset")
        syn.run_regularly("Apre = 0\nApost = 0", dt=config["period"] * dt, name="stdp_synapses_run_regularly_reset")
    monitor = b2.SpikeMonitor(group, name="stdp_spikes")
    objects.append(monitor)
    b2.Network(*objects).run(config["n_steps"] * dt, namespace={})
    if not config["codegen_only"]:
        final = {"final_" + name: np.asarray(getattr(group, name + "_")[:], dtype=float) for name in layer["states"]}
        np.savez(run_dir / "stdp.npz", i=np.asarray(syn.i[:]), j=np.asarray(syn.j[:]),
                 w=np.asarray(syn.w_[:], dtype=float), spike_i=np.asarray(monitor.i[:], dtype=np.int64),
                 spike_t=np.asarray(monitor.t_[:], dtype=float), **final)


def build_tempotron(b2, config, data):
    """The GeNN design of one tempotron epoch (``config["mode"] == "tempotron"``) as Brian2 objects.

    ``config`` and ``data`` come from ``brainlz.learning.tempotron.genn_design`` (code strings, shapes, the
    epoch's input spikes, the label table, initial values).  Every group and the synapses run on
    ``defaultclock``; the trial clock drives only the new trial's ``run_regularly`` (named ``*_run_regularly_*``:
    brian2genn recognises them by name) and the ``StateMonitor``s; the weight update is ``on_pre`` code, driven by
    the inputs' marker spikes at the trial boundary.  Also run on the CPU with brian2genn's schedule
    (``brainlz.backends.genn.run_tempotron_design``), to check the design against the CPU one.  Returns a dict of
    the objects and the run's duration.
    """
    dt = config["dt"] * b2.second
    b2.defaultclock.dt = dt
    period = config["period_steps"] * dt
    n_blocks, n_in, n_out = config["n_blocks"], config["n_inputs"], config["n_out"]
    trial_clock = b2.Clock(dt=period, name="tempotron_trial_clock*")
    labels = b2.TimedArray(data["labels"], dt=period, name="trial_labels*")
    inputs = b2.SpikeGeneratorGroup(n_blocks * n_in, data["input_indices"], data["input_steps"] * dt,
                                    name="tempotron_inputs*")
    code = config["neurons"]
    neurons = b2.NeuronGroup(n_blocks * n_out, code["equations"], method="euler", name="tempotrons*",
                             namespace={"trial_labels": labels})
    neurons.run_regularly(code["new_trial"], clock=trial_clock, when="start", order=2,
                          name="tempotrons_run_regularly_new_trial*")
    code = config["synapses"]
    synapses = b2.Synapses(inputs, neurons, model=code["model"], on_pre=code["on_pre"], name="tempotron_synapses*",
                           namespace={})
    block = np.repeat(np.arange(n_blocks), n_in * n_out)
    pre = np.tile(np.repeat(np.arange(n_in), n_out), n_blocks)
    post = np.tile(np.tile(np.arange(n_out), n_in), n_blocks)
    synapses.connect(i=block * n_in + pre, j=block * n_out + post)
    for key in data.keys():
        group, _, name = key.partition("_")
        if group in ("neurons", "synapses"):
            setattr(neurons if group == "neurons" else synapses, name + "_", data[key])
    trial_monitor = b2.StateMonitor(neurons, ["Vmax", "tmax", "fired"], record=True, clock=trial_clock,
                                    when="start", order=-1, name="tempotron_trials*")
    objects = {"inputs": inputs, "neurons": neurons, "synapses": synapses, "trial_monitor": trial_monitor,
               "weight_monitor": None}
    if config["record_weights"]:
        objects["weight_monitor"] = b2.StateMonitor(synapses, "w", record=True, clock=trial_clock, when="start",
                                                    order=1, name="tempotron_weights*")
    objects["duration"] = config["n_trials"] * period + dt  # the last boundary is executed
    return objects


def tempotron(run_dir, config, data):
    """One tempotron epoch on GeNN; output ``tempotron.npz`` with the trial monitor's ``fired``, ``Vmax``,
    ``tmax`` (rows: variables at every trial boundary), the final ``w`` and ``dw_prev`` and, when recorded,
    ``w_trace``."""
    import brian2 as b2

    objects = build_tempotron(b2, config, data)
    parts = [value for key, value in objects.items() if key != "duration" and value is not None]
    b2.Network(*parts).run(objects["duration"], namespace={})
    if not config["codegen_only"]:
        monitor, synapses = objects["trial_monitor"], objects["synapses"]
        arrays = {"fired": monitor.fired_[:], "Vmax": monitor.Vmax_[:], "tmax": monitor.tmax_[:],
                  "w": synapses.w_[:], "dw_prev": synapses.dw_prev_[:]}
        if objects["weight_monitor"] is not None:
            arrays["w_trace"] = objects["weight_monitor"].w_[:]
        np.savez(run_dir / "tempotron.npz", **{key: np.asarray(value, dtype=float) for key, value in arrays.items()})


def load_builder():
    """brainlz's Brian2 builder (``brainlz/builder.py``, numpy only), run from its path: this script runs with
    ``python -I`` in an environment without brainlz."""
    return types.SimpleNamespace(**runpy.run_path(str(Path(__file__).resolve().parents[1] / "builder.py")))


def main(run_dir):
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    data = np.load(run_dir / "network.npz")
    import brian2 as b2
    import brian2genn  # noqa: F401  (registers the 'genn' device)

    if config.get("mode") in ("stdp", "tempotron"):
        codegen_only = bool(config["codegen_only"])
        b2.set_device("genn", directory=config["project"], use_GPU=bool(config["use_gpu"]),
                      compile=not codegen_only, run=not codegen_only)
        (stdp if config["mode"] == "stdp" else tempotron)(run_dir, config, data)
        print("brainlz genn worker: done")
        return

    codegen_only = bool(config["codegen_only"])
    b2.set_device("genn", directory=config["project"], use_GPU=bool(config["use_gpu"]), compile=not codegen_only,
                  run=not codegen_only)
    dt = config["dt"] * b2.second
    b2.defaultclock.dt = dt  # one clock for everything: brian2genn supports no other
    n_samples, n_inputs = config["n_samples"], config["n_inputs"]
    inputs = b2.SpikeGeneratorGroup(n_samples * n_inputs, data["input_indices"], data["input_steps"] * dt,
                                    name="inputs")
    builder = load_builder()
    # GeNN accumulates a synapse population's input into one postsynaptic variable: ``on_pre`` comes as
    # {target: code}, one Synapses per target.
    groups, synapses, monitors = builder.build_layers(
        b2, inputs, n_inputs, config["layers"], n_samples, record=config["record"],
        group_options={"namespace": {}}, synapse_options={"namespace": {}})
    builder.set_values(groups, synapses, config["layers"], data, n_samples)
    trace = builder.traced(b2, groups, config["layers"], config["trace"])
    objects = [inputs, *groups] + [syn for projection in synapses for syn in projection]
    objects += list(monitors.values()) + ([trace] if trace is not None else [])
    b2.Network(*objects).run(config["n_bins"] * dt, namespace={})  # one network, one run
    if not codegen_only:
        np.savez(run_dir / "spikes.npz", **builder.recorded_arrays(monitors, trace),
                 **builder.final_states(groups, config["layers"]))
    print("brainlz genn worker: done")


if __name__ == "__main__":
    main(sys.argv[1])
