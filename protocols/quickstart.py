"""Quickstart: a LIF network with fixed random weights classifies Poisson rates through output LZC.

Two classes of 64-channel Poisson spike trains (1024 bins of 1 ms) differ in rate (15 vs 25 Hz at difficulty
0.5).  A 64-64-64 LIF network with random Gaussian weights (default scale) transforms them; the LZ76
complexity of each of the 64 output spike trains is the feature vector of a logistic-regression readout,
evaluated on a stratified 10 % test split with 5-fold cross-validation on the training part.
"""

from brainlz.protocol import Protocol

PROTOCOL = Protocol(
    name="quickstart",
    description=__doc__.strip().splitlines()[0],
    task="rate",
    difficulty=0.9,
    n_samples=300,
    n_channels=64,
    model="lif",
    hidden=64,
    output=64,
    backend="runtime",
    backend_options={"target": "numpy"},
    batch_size=100,
    readout="logistic",
    seed=0,
)
