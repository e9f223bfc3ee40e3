"""brainlz: spiking networks in Brian2 with learnable intrinsic parameters and LZ76 complexity readouts.

The front door::

    import brainlz as bz

    protocol = bz.Protocol(name="mine", task="burst", model="meta_neuron", seed=1)
    result = bz.run(protocol, out="results")            # a Protocol or a Sweep (or a file defining one)

    spec = bz.NetworkSpec.create(16, hidden=32, output=8, model="lif")
    data = bz.make_task("rate", n_samples=100, seed=0)
    rasters = bz.simulate(spec, data.spiketrains, backend="runtime").output
    features = bz.LZCFeatures().fit_transform(rasters)

Importing ``brainlz`` is cheap: each name below is imported from its module on first use, and Brian2 only by the
modules that need it (``brainlz.network``, ``brainlz.backends``, ``brainlz.models``, ``brainlz.learning`` and, for
its units, ``brainlz.data``); ``brainlz.lzc``, ``brainlz.readout`` and ``brainlz.metrics`` do not import it.
"""

from __future__ import annotations

import importlib

from .errors import (BrainlzError, DataError, ModelError, ParameterError, ProtocolError, SimulationError,
                     UnsupportedError)

__version__ = "0.1.0"

# name -> module that defines it (imported on first use)
_EXPORTS = {
    # experiments
    "Protocol": "protocol", "load_protocol": "protocol", "run_protocol": "protocol",
    "Sweep": "sweep", "run_sweep": "sweep", "load_experiment": "sweep", "run": "sweep",
    # data, models, networks, simulation
    "SpikeDataset": "data", "Split": "data", "make_task": "data", "independent_test_set": "data", "TASKS": "data",
    "outputs_to_neo": "interop", "neo_to_raster": "interop",  # Neo out and back (SpikeDataset.from_neo: in)
    "NeuronModel": "models", "Param": "models", "load_model": "models", "available_models": "models",
    "NetworkSpec": "network",
    "simulate": "backends", "BACKENDS": "backends",
    # complexity, readout, statistics
    "lz76": "lzc",
    "LZCFeatures": "readout", "LZCThresholdClassifier": "readout", "default_pipeline": "readout",
    "evaluate": "readout",
    "accuracy_ci": "metrics", "mean_ci": "metrics", "paired_difference_ci": "metrics",
    # learning rules: the contract and registry, then each rule's trainer
    "Rule": "learning.rules", "make_rule": "learning.rules", "register_rule": "learning.rules",
    "RULES": "learning.rules",
    "STDPRule": "learning.stdp", "train_stdp": "learning.stdp",
    "TempotronParams": "learning.tempotron", "train_tempotron": "learning.tempotron",
    "train_output_layer": "learning.tempotron",
    "train_surrogate": "learning.surrogate",
    "IntrinsicSpace": "learning.intrinsic", "OuterSearch": "learning.intrinsic",
    "train_with_intrinsic": "learning.intrinsic",
}

__all__ = ["BrainlzError", "DataError", "ModelError", "ParameterError", "ProtocolError", "SimulationError",
           "UnsupportedError", "__version__", *_EXPORTS]


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'brainlz' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
