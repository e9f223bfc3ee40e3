"""STDP on a meta-neuron network: protocols/stdp_lif.py with the meta-neuron in every layer."""

from pathlib import Path

from brainlz.protocol import load_protocol

PROTOCOL = load_protocol(Path(__file__).with_name("stdp_lif.py")).replace(
    name="stdp_meta",
    description=__doc__.strip().splitlines()[0],
    model="meta_neuron",
)
