"""Tempotron on a meta-neuron network: protocols/tempotron_lif.py with the meta-neuron in every layer."""

from pathlib import Path

from brainlz.protocol import load_protocol

PROTOCOL = load_protocol(Path(__file__).with_name("tempotron_lif.py")).replace(
    name="tempotron_meta",
    description=__doc__.strip().splitlines()[0],
    model="meta_neuron",
)
