"""Surrogate-gradient training of a LIF network, intrinsic parameters fixed vs learnable, on three tasks.

Every cell trains the 64-64-64 network by backpropagation through time in the differentiable twin
(brainlz.learning.surrogate: cross-entropy on population spike counts, Adam, early stopping on a validation split
of the training part), then simulates all samples with the trained network in Brian2 (cpp_standalone) and
classifies them by the LZC of the output spike trains.  "fixed": only the weights are learned; "learnable": the
weights and, per neuron, tau_m, V_th, V_reset and R (the model's learnable parameters, within their bounds).
Three seeds per cell (data, initial weights, split and training order all change with the seed); the summary
gives the mean test accuracy with its 95 % interval over seeds and the paired difference learnable - fixed, for
the LZC readout and for the decision the network was trained for (population spike counts, by the twin and on
the Brian2 outputs), and the training time.
Each cell's run directory keeps network_initial.npz, network.npz (learned parameters) and
figures/parameter_distributions.png.
"""

from brainlz.protocol import Protocol
from brainlz.sweep import Sweep

MODEL = "lif"

SWEEP = Sweep(
    name=f"bp_{MODEL}",
    description=__doc__.strip().splitlines()[0],
    base=Protocol(
        name=f"bp_{MODEL}",
        model=MODEL,
        n_samples=200,
        n_channels=64,
        hidden=64,
        output=64,
        backend="standalone",
        batch_size=100,
        learning={"rule": "surrogate", "epochs": 10, "batch_size": 32, "lr": 0.03, "patience": 4},
    ),
    axes={
        "task": {"rate": {"task": "rate", "difficulty": 0.9},
                 "burst": {"task": "burst", "difficulty": 0.0},
                 "digits": {"task": "digits", "difficulty": 0.5}},
        "intrinsic": {"fixed": {"learning.learn": ["weights"]},
                      "learnable": {"learning.learn": ["weights", "intrinsic"]}},
        "seed": [0, 1, 2],
    },
    paired=("intrinsic", "learnable", "fixed"),
    # the decision the network was trained for (population spike counts), by the twin and on the Brian2 outputs
    extra_metrics=("twin_vs_brian2.twin_accuracy_test", "twin_vs_brian2.brian2_accuracy_test", "learning.seconds"),
)
