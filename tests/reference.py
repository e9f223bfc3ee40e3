"""Independent numpy implementations of the network simulation, for parity tests.

Written from the model equations and Brian2's documented schedule (groups -> thresholds -> synapses ->
resets within one step; refractoriness ``timestep(t - lastspike) >= timestep(t_ref)``; exponential Euler),
without using any of brainlz's simulation code.
"""

import numpy as np


def _timestep(x, dt):
    return np.floor((x + 1e-3 * dt) / dt).astype(np.int64)


def simulate_reference(spec, spiketrains):
    """Simulate a deterministic LIF or meta-neuron network in plain numpy; return output rasters per layer."""
    n_samples, n_inputs, n_bins = spiketrains.shape
    dt = float(spec.dt)
    layers = []
    for layer, weight in zip(spec.layers, spec.weights):
        p = {name: np.asarray(value, dtype=float)[None, :] for name, value in layer.params.items()}
        n = layer.n_neurons
        state = {"v": np.broadcast_to(p["E_L"], (n_samples, n)).copy(), "I_syn": np.zeros((n_samples, n)),
                 "I_abs": np.zeros((n_samples, n)), "theta": np.zeros((n_samples, n)),
                 "lastspike": np.full((n_samples, n), -1e4)}
        layers.append((layer.model, p, np.asarray(weight, dtype=float), state))
    rasters = [np.zeros((n_samples, lay[1]["tau_m"].shape[1], n_bins), dtype=bool) for lay in layers]
    for step in range(n_bins):
        t = step * dt
        # groups: state update from old values
        for model, p, _, s in layers:
            not_ref = _timestep(t - s["lastspike"], dt) >= _timestep(p["t_ref"], dt)
            s["not_ref"] = not_ref
            drive = p["E_L"] + p["R"] * s["I_syn"]
            tau = p["tau_m"] if model == "lif" else p["tau_m"] / (1 + s["I_abs"] / p["I_half"])
            v_new = drive + (s["v"] - drive) * np.exp(-dt / tau)
            s["v"] = np.where(not_ref, v_new, s["v"])
            s["I_syn"] = s["I_syn"] * np.exp(-dt / p["tau_syn"])
            if model != "lif":
                s["I_abs"] = s["I_abs"] * np.exp(-dt / p["tau_syn"])
                s["theta"] = s["theta"] * np.exp(-dt / p["tau_theta"])
        # thresholds
        spikes = []
        for k, (model, p, _, s) in enumerate(layers):
            threshold = p["V_th"] if model == "lif" else p["V_th"] + s["theta"]
            spike = (s["v"] > threshold) & s["not_ref"]
            spikes.append(spike)
            rasters[k][:, :, step] = spike
        # synapses
        pre = spiketrains[:, :, step].astype(float)
        for k, (model, p, weight, s) in enumerate(layers):
            s["I_syn"] = s["I_syn"] + pre @ weight
            if model != "lif":
                s["I_abs"] = s["I_abs"] + pre @ np.abs(weight)
            pre = spikes[k].astype(float)
        # resets
        for k, (model, p, _, s) in enumerate(layers):
            spike = spikes[k]
            s["v"] = np.where(spike, p["V_reset"], s["v"])
            s["lastspike"] = np.where(spike, t, s["lastspike"])
            if model != "lif":
                s["theta"] = s["theta"] + spike * p["delta_theta"]
    return rasters
