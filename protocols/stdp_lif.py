"""STDP on a LIF network: unsupervised input -> hidden learning, then the LZC readout.

The `burst` task (Poisson vs bursty trains at equal mean rate) is at chance for fixed random weights at
difficulty 0.5 (see protocols/quickstart.py for the rate task).  Here the input -> hidden weights are first
learned with additive pair-based STDP (Song et al. 2000 constants, A-/A+ = 1.05) on the training samples,
presented back to back in one Brian2 run per epoch; then every sample is simulated and classified.
"""

from brian2 import ms

from brainlz.protocol import Protocol

PROTOCOL = Protocol(
    name="stdp_lif",
    description=__doc__.strip().splitlines()[0],
    task="burst",
    difficulty=0.0,
    n_samples=300,
    n_channels=64,
    model="lif",
    hidden=64,
    output=64,
    backend="standalone",
    batch_size=100,
    learning={"rule": "stdp", "epochs": 1, "A_plus": 0.01, "A_minus": 0.0105, "gap": 50 * ms, "between": "reset"},
    seed=0,
)
