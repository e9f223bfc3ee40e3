"""Surrogate-gradient training of a meta-neuron network: protocols/bp_lif.py with the meta-neuron in every layer.

"learnable" adds the meta-neuron's own learnable parameters (I_half, delta_theta, tau_theta) to the LIF core's.
"""

import dataclasses
from pathlib import Path

from brainlz.sweep import load_experiment

_LIF = load_experiment(Path(__file__).with_name("bp_lif.py"))

SWEEP = dataclasses.replace(_LIF.with_base(name="bp_meta", model="meta_neuron"), name="bp_meta",
                            description=__doc__.strip().splitlines()[0])
