"""Tempotron on a meta-neuron network: the hidden -> output weights learned with the tempotron rule, then the LZC readout.

The output neurons are trained as tempotrons (kernel from each output neuron's tau_m and tau_syn), assigned
round-robin to the classes (population voting); the learned weights are converted to the LIF's synaptic
currents (brainlz.learning.tempotron.train_output_layer) and every sample is simulated and classified by the
LZC of its output spike trains.
"""

from brainlz.protocol import Protocol

PROTOCOL = Protocol(
    name="tempotron_meta",
    description=__doc__.strip().splitlines()[0],
    task="burst",
    difficulty=0.0,
    n_samples=300,
    n_channels=64,
    model="meta_neuron",
    hidden=64,
    output=64,
    backend="standalone",
    batch_size=100,
    learning={"rule": "tempotron", "epochs": 10, "learning_rate": 0.002},
    seed=0,
)
