"""What every backend returns, and the batching shared by all of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["SimulationResult", "batches", "validate_trace"]


@dataclass
class SimulationResult:
    """Spike rasters (and optionally one membrane trace) of a batched simulation.

    Attributes
    ----------
    output : bool ndarray [n_samples, n_output, n_bins]
        Output-layer spikes; bin ``b`` holds a spike emitted at ``t = b * dt``.
    hidden : dict of str to bool ndarray
        Hidden-layer rasters by layer name (only when recorded).
    dt : float
        Time step in seconds.
    backend : str
        Which backend (and target) produced the result.
    trace : dict or None
        ``{"layer", "sample", "neuron", "t" (s), <state variable>: array (SI)}`` for the traced neuron.
    wall_time : float
        Seconds spent in the simulation (build included).
    n_builds : int
        Number of code builds this call needed (standalone: 0 when a compiled network was reused).
    """

    output: np.ndarray
    hidden: dict = field(default_factory=dict)
    dt: float = 1e-3
    backend: str = ""
    trace: dict | None = None
    wall_time: float = 0.0
    n_builds: int = 0

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts ``int[n_samples, n_output]``."""
        return self.output.sum(axis=-1)

    @property
    def n_samples(self) -> int:
        return self.output.shape[0]


def batches(n_samples: int, batch_size: int | None):
    """Split ``range(n_samples)`` into consecutive ``(start, stop)`` chunks of at most ``batch_size``."""
    if batch_size is None:
        batch_size = n_samples
    checks.integer("batch_size", batch_size, low=1, reason="expected a positive integer")
    return [(start, min(start + batch_size, n_samples)) for start in range(0, n_samples, batch_size)]


def validate_trace(trace, spec, n_samples):
    """Check a ``(layer, sample, neuron)`` trace request against the spec and batch."""
    if trace is None:
        return None
    if not (isinstance(trace, (tuple, list)) and len(trace) == 3):
        raise ParameterError("trace", trace, "expected (layer name, sample index, neuron index)")
    layer, sample, neuron = trace
    size = spec.layer(layer).n_neurons
    if not isinstance(sample, (int, np.integer)) or not 0 <= sample < n_samples:
        raise ParameterError("trace.sample", sample, f"expected 0 <= sample < {n_samples}")
    if not isinstance(neuron, (int, np.integer)) or not 0 <= neuron < size:
        raise ParameterError("trace.neuron", neuron, f"expected 0 <= neuron < {size}")
    return (layer, int(sample), int(neuron))
