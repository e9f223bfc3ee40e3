"""What every backend returns, and the batching shared by all of them."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["SimulationResult", "batches", "validate_trace", "check_finite_states",
           "brian_invalid_value_warnings_off"]


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


#: Largest magnitude (SI units) a state variable may reach; beyond it a run has diverged (Brian2 warns there too).
LARGEST_STATE = 1e50


def check_finite_states(spec, groups, start: int, stop: int, periods: int = 1) -> None:
    """Stop a run whose state variables became NaN, infinite or larger than :data:`LARGEST_STATE`, in one line
    naming the layer, the variable, the sample and the likely cause (a diverged state stops spiking or spikes at
    every step, and the rasters would be analysed as if they were plausible).

    Parameters
    ----------
    spec : NetworkSpec
    groups : list of brian2.NeuronGroup
        The layers' groups of the batch just run, in ``spec.layers`` order (copy ``c`` of layer neuron ``k`` at
        index ``c * n_neurons + k``).
    start, stop : int
        The samples of the batch (copies beyond ``stop - start`` are padding and not checked).
    periods : int
        Samples played one after another by each copy (then the sample of a copy is not known exactly).

    Raises
    ------
    SimulationError
    """
    from ..errors import SimulationError

    n_real = stop - start
    for group, layer in zip(groups, spec.layers):
        model = layer.neuron_model
        for variable in model.state_variables():
            values = np.asarray(getattr(group, variable + "_")[:], dtype=float)
            values = values[: n_real * layer.n_neurons] if periods == 1 else values
            with np.errstate(invalid="ignore"):
                bad = ~(np.abs(values) <= LARGEST_STATE)  # NaN, infinite or absurd
            if not bad.any():
                continue
            first = int(np.flatnonzero(bad)[0])
            copy, neuron = divmod(first, layer.n_neurons)
            where = (f"sample {start + copy}" if periods == 1 else f"a sample of {start}..{stop - 1}")
            raise SimulationError(f"layer {layer.name!r}: state variable {variable} became {values[first]:.3g} "
                                  f"(SI; neuron {neuron}, {where}; {int(bad.sum())} values NaN, infinite or beyond "
                                  f"{LARGEST_STATE:g}); likely cause: {_likely_cause(spec, layer)}")


def _likely_cause(spec, layer) -> str:
    """What most probably made ``layer`` diverge: weights far above the default scale, or else its parameters."""
    from ..network import _default_weight

    index = spec.layer_names.index(layer.name)
    n_pre = spec.sizes[index]
    weights = np.abs(np.asarray(spec.weights[index], dtype=float))
    largest = float(weights.max()) if weights.size else 0.0
    model = layer.neuron_model
    scale = abs(_default_weight(model, n_pre, 20.0))
    unit = model.weight_unit
    if scale > 0 and largest > 1e3 * scale:
        return (f"the weights into {layer.name!r} are up to {largest / scale:.3g} times the default scale (largest "
                f"|w| = {largest:.3g} {unit}); lower weight_scale or the weights")
    return (f"the intrinsic parameters of {layer.name!r} or the time step dt = {float(spec.dt):g} s make model "
            f"{model.name!r} diverge (largest incoming |w| = {largest:.3g} {unit})")


@contextlib.contextmanager
def brian_invalid_value_warnings_off():
    """Silence Brian2's warning about NaN or very large state values (``invalid_values``) inside the block.

    :func:`check_finite_states` tests the same variables by the same criterion after every batch and stops the run
    in one line, so Brian2's multi-line warnings would only repeat it.
    """
    logger = logging.getLogger("brian2.groups.group.invalid_values")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled
