"""The Brian2 builder: the batched network in plain Brian2: ``n_samples`` independent copies of a layered network, built once.

Every sample of a batch is its own copy of the network; copy ``k`` of a projection connects only copy ``k`` of
its source to copy ``k`` of its target (block-diagonal synapses), so one Brian2 run simulates the whole batch.
This module is the one place that builds those objects: :func:`brainlz.network.build` uses it for the runtime and
standalone backends, and the GeNN and CUDA worker scripts load it by its path in their side environments
(other Brian2 versions, no brainlz).  It therefore imports only numpy; the caller passes its Brian2 module as
``b2``.

A layer is described by a dict (the JSON the backends write for their workers, or built in-process):
``name``, ``n_neurons``, ``equations``, ``threshold``, ``reset``, ``refractory``, ``method``, ``on_pre`` (one code
string, or ``{postsynaptic variable: code}`` for one ``Synapses`` per target, as GeNN needs) and ``weight_unit``
(a Brian2 unit name); optionally ``namespace`` (of the ``NeuronGroup``).
"""

import numpy as np


def copy_connections(n_samples, n_pre, n_post) -> tuple:
    """``(i, j)`` of the all-to-all projection of every copy: synapse ``k * n_pre * n_post + a * n_post + b``
    connects source ``a`` of copy ``k`` to target ``b`` of copy ``k``."""
    sample = np.repeat(np.arange(n_samples), n_pre * n_post)
    local_pre = np.tile(np.repeat(np.arange(n_pre), n_post), n_samples)
    local_post = np.tile(np.tile(np.arange(n_post), n_pre), n_samples)
    return sample * n_pre + local_pre, sample * n_post + local_post


def build_layers(b2, inputs, n_inputs, layers, n_samples, *, record=(), constant_weights=False, group_options=None,
                 synapse_options=None) -> tuple:
    """The layers of ``n_samples`` copies, each driven by the one before (the first by ``inputs``).

    Parameters
    ----------
    b2 : module
        The caller's Brian2.
    inputs : Brian2 group
        The input of all copies (``n_samples * n_inputs`` neurons, copy-major).
    n_inputs : int
        Inputs per copy.
    layers : list of dict
        Layer descriptions (module docstring).
    n_samples : int
        Copies.
    record : collection of str
        Layers whose spikes are recorded (``SpikeMonitor`` named ``spikes_<layer>``).
    constant_weights : bool
        Declare ``w`` ``(constant)`` (brian2cuda).
    group_options, synapse_options : dict, optional
        Further keyword arguments of every ``NeuronGroup`` / ``Synapses`` (e.g. ``dt``, ``namespace``).

    Returns
    -------
    groups, synapses : list
        Per layer; ``synapses`` holds one list per layer (one ``Synapses`` per target when ``on_pre`` is a dict).
    monitors : dict
        Layer name -> ``SpikeMonitor``.
    """
    groups, synapses, monitors = [], [], {}
    pre, n_pre = inputs, n_inputs
    for index, layer in enumerate(layers):
        name, n_post = layer["name"], layer["n_neurons"]
        options = dict(group_options or {})
        if "namespace" in layer:
            options["namespace"] = layer["namespace"]
        group = b2.NeuronGroup(n_samples * n_post, layer["equations"], threshold=layer["threshold"],
                               reset=layer["reset"], refractory=layer["refractory"], method=layer["method"],
                               name=name, **options)
        model = "w : %s%s" % (layer["weight_unit"], " (constant)" if constant_weights else "")
        i, j = copy_connections(n_samples, n_pre, n_post)
        on_pre = layer["on_pre"]
        parts = [(None, on_pre)] if isinstance(on_pre, str) else sorted(on_pre.items())
        projection = []
        for target, code in parts:
            suffix = "" if target is None else "_" + target
            syn = b2.Synapses(pre, group, model=model, on_pre=code, name="syn_%d_%s%s" % (index, name, suffix),
                              **dict(synapse_options or {}))
            syn.connect(i=i, j=j)
            projection.append(syn)
        groups.append(group)
        synapses.append(projection)
        if name in record:
            monitors[name] = b2.SpikeMonitor(group, name="spikes_%s" % name)
        pre, n_pre = group, n_post
    return groups, synapses, monitors


def set_values(groups, synapses, layers, arrays, n_samples):
    """Set every copy's parameters, initial states and weights from a worker's arrays (SI units):
    ``param_<layer>_<name>`` and ``state_<layer>_<name>`` ``[n_samples * n_neurons]``, ``weights_<k>``
    ``[n_pre, n_post]`` (the same for every copy; synapse order of :func:`copy_connections`)."""
    for index, (group, projection, layer) in enumerate(zip(groups, synapses, layers)):
        for variable in layer["params"]:
            setattr(group, variable + "_", arrays["param_%s_%s" % (layer["name"], variable)])
        for variable in layer["states"]:
            setattr(group, variable + "_", arrays["state_%s_%s" % (layer["name"], variable)])
        for syn in projection:
            syn.w_ = np.tile(np.asarray(arrays["weights_%d" % index], dtype=float).ravel(), n_samples)


def traced(b2, groups, layers, trace):
    """The ``StateMonitor`` of ``trace`` (``[layer name, sample, neuron]`` or None) over the built ``groups``."""
    if trace is None:
        return None
    name, sample, neuron = trace
    index = [layer["name"] for layer in layers].index(name)
    return trace_monitor(b2, groups[index], layers[index]["states"], sample, neuron, layers[index]["n_neurons"])


def trace_monitor(b2, group, states, sample, neuron, n_neurons):
    """A ``StateMonitor`` named ``trace`` of ``states`` of one neuron of one copy."""
    return b2.StateMonitor(group, list(states), record=[sample * n_neurons + neuron], name="trace")


def final_states(groups, layers) -> dict:
    """Every layer's state variables after a run (SI floats, ``final_<layer>_<state>``): what the worker scripts
    add to ``spikes.npz``, for the backend to check that they stayed finite."""
    return {"final_%s_%s" % (layer["name"], variable): np.asarray(getattr(group, variable + "_")[:], dtype=float)
            for group, layer in zip(groups, layers) for variable in layer["states"]}


def recorded_arrays(monitors, trace=None) -> dict:
    """The recorded spikes (``<layer>_i`` over all copies, ``<layer>_t`` in s) and trace (``trace_t``,
    ``trace_<state>``) as plain arrays: what the worker scripts save as ``spikes.npz``."""
    arrays = {}
    for name, monitor in monitors.items():
        arrays[name + "_i"] = np.asarray(monitor.i[:], dtype=np.int64)
        arrays[name + "_t"] = np.asarray(monitor.t_[:], dtype=float)
    if trace is not None:
        arrays["trace_t"] = np.asarray(trace.t_[:], dtype=float)
        for variable in trace.record_variables:
            arrays["trace_" + variable] = np.asarray(getattr(trace, variable + "_")[0], dtype=float)
    return arrays

