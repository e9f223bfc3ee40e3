"""What every backend returns, and the batching shared by all of them."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["SimulationResult", "batches", "validate_trace", "check_finite_states", "check_final_states",
           "check_finite_arrays", "saved_states", "likely_cause", "weight_excess",
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
    states = {layer.name: {variable: np.asarray(getattr(group, variable + "_")[:], dtype=float)
                           for variable in layer.neuron_model.state_variables()}
              for group, layer in zip(groups, spec.layers)}
    check_final_states(spec, states, start, stop, periods)


def check_final_states(spec, states: dict, start: int, stop: int, periods: int = 1) -> None:
    """:func:`check_finite_states` on plain arrays: the final states of a batch that a worker process returned
    (GeNN, CUDA).

    Parameters
    ----------
    spec : NetworkSpec
    states : dict
        ``{layer name: {state variable: array [n_copies * n_neurons] (SI)}}``, copy ``c`` of neuron ``k`` at index
        ``c * n_neurons + k``.
    start, stop, periods
        As in :func:`check_finite_states`.

    Raises
    ------
    SimulationError
    """
    n_real = stop - start

    def where(name, index):
        copy, neuron = divmod(index, spec.layer(name).n_neurons)
        return f"neuron {neuron}, " + (f"sample {start + copy}" if periods == 1 else f"a sample of {start}..{stop - 1}")

    if periods == 1:
        states = {name: {variable: np.ravel(values)[: n_real * spec.layer(name).n_neurons]
                         for variable, values in variables.items()} for name, variables in states.items()}
    check_finite_arrays(states, lambda name: _likely_cause(spec, spec.layer(name)), where=where)


def saved_states(data, layers) -> dict:
    """``{layer: {state variable: values after the run}}`` from a worker's ``spikes.npz`` (its ``final_<layer>_<state>``
    arrays, :func:`brainlz.builder.final_states`), for :func:`check_final_states`.

    Parameters
    ----------
    data : mapping
        The loaded ``spikes.npz``.
    layers : list of dict
        The layers' JSON descriptions (``name``, ``states``), as the worker got them.
    """
    return {layer["name"]: {state: np.asarray(data[f"final_{layer['name']}_{state}"]) for state in layer["states"]}
            for layer in layers}


def check_finite_arrays(arrays: dict, cause, *, what: str = "state variable", where=None) -> None:
    """Stop, in one line, where a value of ``arrays`` is NaN, infinite or larger than :data:`LARGEST_STATE`: the
    criterion and message of every non-finite check (backends and training loops).

    Parameters
    ----------
    arrays : dict
        ``{layer name: {variable: array (SI)}}``.
    cause : str or callable
        What most probably made the values diverge, or ``cause(layer name) -> str`` (called only on failure).
    what : str
        What the variables are, e.g. ``"state variable"``, ``"weight"``, ``"parameter"``.
    where : callable, optional
        ``where(layer name, flat index) -> str`` locating the first bad value (default ``"index <k>"``).

    Raises
    ------
    SimulationError
        ``layer '<name>': <what> <variable> became <value> (SI; <where>; <n> values NaN, infinite or beyond
        <LARGEST_STATE>); likely cause: <cause>``.
    """
    from ..errors import SimulationError

    for name, variables in arrays.items():
        for variable, values in variables.items():
            values = np.asarray(values, dtype=float).ravel()
            with np.errstate(invalid="ignore"):
                bad = ~(np.abs(values) <= LARGEST_STATE)  # NaN, infinite or absurd
            if not bad.any():
                continue
            first = int(np.flatnonzero(bad)[0])
            place = where(name, first) if where is not None else f"index {first}"
            text = cause(name) if callable(cause) else cause
            raise SimulationError(f"layer {name!r}: {what} {variable} became {values[first]:.3g} (SI; {place}; "
                                  f"{int(bad.sum())} values NaN, infinite or beyond {LARGEST_STATE:g}); likely "
                                  f"cause: {text}")


def _likely_cause(spec, layer) -> str:
    """What most probably made ``layer`` of ``spec`` diverge (:func:`likely_cause` with its incoming weights)."""
    index = spec.layer_names.index(layer.name)
    return likely_cause(layer, spec.sizes[index], spec.weights[index], spec.dt)


def likely_cause(layer, n_pre: int, weights, dt, lower: str = "weight_scale or the weights") -> str:
    """What most probably made ``layer`` diverge: weights far above the default scale, or else its parameters.

    Parameters
    ----------
    layer : LayerSpec
    n_pre : int
        Presynaptic neurons of its incoming projection.
    weights : array
        Its incoming weights (SI or Quantity).
    dt : float or Quantity
        The time step.
    lower : str
        What to lower when the weights are too large.
    """
    weights = np.abs(np.asarray(weights, dtype=float))
    largest = float(np.nanmax(weights)) if weights.size and not np.isnan(weights).all() else 0.0
    model = layer.neuron_model
    unit = model.weight_unit
    excess = weight_excess(layer, n_pre, weights)
    if excess > 1e3:
        return (f"the weights into {layer.name!r} are up to {excess:.3g} times the default scale (largest "
                f"|w| = {largest:.3g} {unit}); lower {lower}")
    return (f"the intrinsic parameters of {layer.name!r} or the time step dt = {float(dt):g} s make model "
            f"{model.name!r} diverge (largest incoming |w| = {largest:.3g} {unit})")


def weight_excess(layer, n_pre: int, weights) -> float:
    """The largest ``|w|`` of ``weights`` into ``layer`` (NaN ignored) in units of the default weight scale of
    :meth:`brainlz.network.NetworkSpec.create`; 0 without weights or a scale."""
    from ..network import default_weight

    weights = np.abs(np.asarray(weights, dtype=float))
    largest = float(np.nanmax(weights)) if weights.size and not np.isnan(weights).all() else 0.0
    scale = abs(default_weight(layer.neuron_model, n_pre, 20.0))
    return largest / scale if scale > 0 else 0.0


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
