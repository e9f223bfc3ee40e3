"""Network specification (pure data) and its Brian2 builder.

A :class:`NetworkSpec` holds everything that defines a feed-forward spiking network: the number of input
channels, the layers (model name, size, per-neuron intrinsic parameters with units), the weight matrices of the
projections between consecutive layers (dense, ``[n_pre, n_post]``, in the postsynaptic model's weight unit) and
the time step.  It holds no Brian2 objects and can be saved to / loaded from ``.npz``.

:func:`build` turns a spec into Brian2 objects for a *batch* of samples: every sample is an independent copy of
the network (block-diagonal connectivity), so that ``n_samples`` inputs are simulated in one Brian2 run.  Input
spikes come from a table (see :func:`spike_table`) read through a 2-D ``TimedArray``, which — unlike a
``SpikeGeneratorGroup`` — can be replaced through ``run_args`` in standalone mode without recompiling.
Only this module and ``brainlz.backends`` create Brian2 objects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import brian2
import numpy as np
from brian2 import (Hz, NeuronGroup, Quantity, SpikeGeneratorGroup, StateMonitor, TimedArray, amp, get_dimensions,
                    have_same_dimensions, ms, second)
from brian2.units.fundamentalunits import get_unit

from . import builder, checks, invariants
from .errors import DataError, ParameterError
from .files import atomic_write
from .models import NeuronModel, constraint_holds, find_model_file, load_model, parse_constraint

__all__ = ["LayerSpec", "NetworkSpec", "spike_table", "build", "BuiltNetwork", "rasters_from_monitor", "brian_array",
           "reset_code", "check_spiketrains", "check_copy_params", "run_network", "evaluate_initial", "unit_name",
           "default_weight"]


@dataclass(frozen=True)
class LayerSpec:
    """One layer of spiking neurons.

    Parameters
    ----------
    name : str
        Layer name (``"hidden"``, ``"output"``); also the Brian2 group name.
    model : str
        Name of the neuron model (see :func:`brainlz.models.load_model`).
    n_neurons : int
        Number of neurons per sample.
    params : dict of str to Quantity
        Per-neuron intrinsic parameters, arrays of shape ``(n_neurons,)`` with units.
    model_options : dict
        Options passed to the model file (e.g. ``{"stochastic": True}``).
    """

    name: str
    model: str
    n_neurons: int
    params: dict
    model_options: dict = field(default_factory=dict)

    @property
    def neuron_model(self) -> NeuronModel:
        """The loaded :class:`~brainlz.models.NeuronModel`."""
        return load_model(self.model, **self.model_options)


@dataclass(frozen=True)
class NetworkSpec:
    """A feed-forward spiking network as pure data.

    Parameters
    ----------
    n_inputs : int
        Number of input channels.
    layers : tuple of LayerSpec
        Hidden layers then the output layer (the last).
    weights : tuple of Quantity
        ``weights[k]`` connects layer ``k-1`` (the input for ``k = 0``) to layer ``k``; shape ``[n_pre, n_post]``,
        unit = the postsynaptic model's ``weight_unit``.
    dt : Quantity
        Simulation time step (default 1 ms; one bin of the spike rasters).
    """

    n_inputs: int
    layers: tuple
    weights: tuple
    dt: Quantity = field(default_factory=lambda: 1 * ms)

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "weights", tuple(self.weights))
        self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, n_inputs: int, hidden=64, output: int = 64, model="lif", output_model=None,
               model_options=None, weight_mean=None, weight_std=None, input_rate=20 * Hz, dt=1 * ms,
               seed=0) -> "NetworkSpec":
        """A network with default intrinsic parameters and random (Gaussian) weights.

        Parameters
        ----------
        n_inputs : int
            Number of input channels.
        hidden : int or sequence of int
            Sizes of the hidden layers (``0`` or ``()`` for none).  Default one layer of 64.
        output : int
            Size of the output layer.  Default 64.
        model, output_model : str
            Neuron model of the hidden layers and of the output layer (default: the same as ``model``).
        model_options : dict, optional
            Options for the model files.
        weight_mean, weight_std : Quantity, optional
            Mean and standard deviation of the weights of every projection.  Default: chosen per projection so
            that ``n_pre`` presynaptic neurons firing at ``input_rate`` drive the mean membrane potential to
            the default threshold (mean), with a standard deviation equal to the mean.
        input_rate : Quantity
            Presynaptic rate assumed by the default weight scale (default ``20*Hz``).
        dt : Quantity
            Time step.
        seed : int
            Seed of the weight generator.
        """
        rate_hz = _as_float(input_rate, Hz, "input_rate")
        if not (np.isfinite(rate_hz) and rate_hz > 0):
            raise ParameterError("input_rate", input_rate, "expected a positive rate, e.g. 20*Hz")
        rng = np.random.default_rng(seed)
        if isinstance(hidden, (int, np.integer)):
            hidden = (int(hidden),) if hidden else ()
        sizes = list(hidden) + [output]
        layer_names = [f"hidden{k}" if len(hidden) > 1 else "hidden" for k in range(len(hidden))] + ["output"]
        models = [model] * len(hidden) + [output_model or model]
        options = dict(model_options or {})
        for name, size in zip(layer_names, sizes):
            checks.integer(f"{name}.n_neurons", size, low=1, reason="expected a positive integer")
        checks.integer("n_inputs", n_inputs, low=1, reason="expected a positive integer")
        layers, weights = [], []
        n_pre = int(n_inputs)
        for name, size, model_name in zip(layer_names, sizes, models):
            neuron_model = load_model(model_name, **options)
            params = neuron_model.default_values(int(size))
            layers.append(LayerSpec(name, model_name, int(size), params, options))
            unit = neuron_model.weight_unit
            if weight_mean is None:
                mean = default_weight(neuron_model, n_pre, rate_hz)
            else:
                mean = _as_float(weight_mean, unit, f"{name}.weight_mean")
            std = abs(mean) if weight_std is None else _as_float(weight_std, unit, f"{name}.weight_std")
            weights.append(rng.normal(mean, std, size=(n_pre, int(size))) * unit)
            n_pre = int(size)
        return cls(int(n_inputs), tuple(layers), tuple(weights), dt)

    # ------------------------------------------------------------------ access
    @property
    def output(self) -> LayerSpec:
        """The output layer."""
        return self.layers[-1]

    @property
    def layer_names(self) -> tuple:
        return tuple(layer.name for layer in self.layers)

    @property
    def sizes(self) -> tuple:
        """``(n_inputs, n_layer0, ..., n_output)``."""
        return (self.n_inputs,) + tuple(layer.n_neurons for layer in self.layers)

    def layer(self, name: str) -> LayerSpec:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ParameterError("layer", name, f"no such layer; layers: {', '.join(self.layer_names)}")

    def with_params(self, layer: str, **values) -> "NetworkSpec":
        """A copy with some intrinsic parameters of one layer replaced.

        Scalars are broadcast to every neuron of the layer.
        """
        target = self.layer(layer)
        params = dict(target.params)
        for name, value in values.items():
            if name not in params:
                raise ParameterError(f"{layer}.{name}", value, f"no such parameter; parameters: {', '.join(params)}")
            unit = target.neuron_model.params[name].unit
            params[name] = np.broadcast_to(np.asarray(value, dtype=float), (target.n_neurons,)).copy() * unit \
                if have_same_dimensions(value, unit) else value  # wrong units are reported by validate()
        layers = tuple(replace(lay, params=params) if lay.name == layer else lay for lay in self.layers)
        return replace(self, layers=layers)

    def with_weights(self, weights) -> "NetworkSpec":
        """A copy with new weight matrices."""
        return replace(self, weights=tuple(weights))

    def structure_key(self) -> tuple:
        """What determines the generated code: models, sizes and dt (not parameter or weight values)."""
        return (self.n_inputs, float(self.dt),
                tuple((lay.name, lay.model, tuple(sorted(lay.model_options.items())), lay.n_neurons)
                      for lay in self.layers))

    # ------------------------------------------------------------------ validation
    def validate(self):
        """Check sizes, units, bounds and constraints; raise :class:`ParameterError` naming the field."""
        checks.integer("n_inputs", self.n_inputs, low=1, reason="expected a positive integer")
        checks.seconds("dt", self.dt, reason="expected a positive time, e.g. 1*ms")
        if not self.layers:
            raise ParameterError("layers", self.layers, "at least one (output) layer is needed")
        if len(self.weights) != len(self.layers):
            raise ParameterError("weights", f"{len(self.weights)} matrices",
                                 f"expected one per layer ({len(self.layers)})")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names) or not all(re.fullmatch(r"[A-Za-z]\w*", n) for n in names):
            raise ParameterError("layers.name", names, "layer names must be unique identifiers")
        n_pre = self.n_inputs
        for layer, weight in zip(self.layers, self.weights):
            model = layer.neuron_model
            checks.integer(f"{layer.name}.n_neurons", layer.n_neurons, low=1, reason="expected a positive integer")
            missing = set(model.params) - set(layer.params)
            extra = set(layer.params) - set(model.params)
            if missing or extra:
                raise ParameterError(f"{layer.name}.params", sorted(layer.params),
                                     f"must hold exactly the parameters of model {model.name!r}: "
                                     f"missing {sorted(missing)}, unknown {sorted(extra)}")
            arrays = {}
            for name, spec in model.params.items():
                values = layer.params[name]
                arrays[name] = spec.check(values, f"{layer.name}.{name}")
                if arrays[name].shape != (layer.n_neurons,):
                    raise ParameterError(f"{layer.name}.{name}", f"shape {arrays[name].shape}",
                                         f"expected shape ({layer.n_neurons},)")
            for constraint in model.constraints:
                left, op, right = parse_constraint(constraint)
                ok = constraint_holds(op, arrays[left], arrays[right])
                if not np.all(ok):
                    k = int(np.flatnonzero(~ok)[0])
                    raise ParameterError(f"{layer.name}.{left}", layer.params[left][k],
                                         f"violates {constraint} at neuron {k} ({right} = {layer.params[right][k]})")
            label = f"weights[{self.layers.index(layer)}] ({'input' if n_pre == self.n_inputs and layer is self.layers[0] else 'previous layer'} -> {layer.name})"
            if not have_same_dimensions(weight, model.weight_unit):
                raise ParameterError(label, weight, f"expected a quantity in {model.weight_unit}")
            shape = np.shape(weight)
            if shape != (n_pre, layer.n_neurons):
                raise ParameterError(label, f"shape {shape}", f"expected shape ({n_pre}, {layer.n_neurons})")
            if not np.all(np.isfinite(np.asarray(weight))):
                raise ParameterError(label, "non-finite values", "weights must be finite")
            n_pre = layer.n_neurons

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> dict:
        """Flatten into a dict of numpy arrays (SI units) plus a JSON header, for ``np.savez``.

        The header records each layer's model by name and by :meth:`~brainlz.models.NeuronModel.fingerprint`
        (``model_hash``), which :meth:`from_arrays` checks.
        """
        header = {"n_inputs": int(self.n_inputs), "dt": float(self.dt),
                  "layers": [{"name": lay.name, "model": lay.model, "n_neurons": int(lay.n_neurons),
                              "model_options": lay.model_options, "params": list(lay.params),
                              "model_hash": lay.neuron_model.fingerprint()}
                             for lay in self.layers]}
        arrays = {"header": np.array(json.dumps(header))}
        for k, (layer, weight) in enumerate(zip(self.layers, self.weights)):
            arrays[f"weights_{k}"] = np.asarray(weight, dtype=float)
            for name, value in layer.params.items():
                arrays[f"param_{layer.name}_{name}"] = np.asarray(value, dtype=float)
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> "NetworkSpec":
        """Inverse of :meth:`to_arrays`.

        Raises
        ------
        DataError
            If an entry is missing, or a layer's model is not the one the arrays were made with (its fingerprint
            differs from the recorded ``model_hash``; arrays without one, from older versions, are not checked).
        """
        try:
            header = json.loads(str(arrays["header"]))
            layers, weights = [], []
            for k, entry in enumerate(header["layers"]):
                model = load_model(entry["model"], **entry["model_options"])
                saved = entry.get("model_hash")
                if saved is not None and saved != model.fingerprint():
                    raise DataError(f"layer {entry['name']!r}: model {entry['model']!r} "
                                    f"({find_model_file(entry['model'])}) has changed since the network was saved "
                                    f"(model hash {saved}, now {model.fingerprint()}); load it with the model "
                                    f"it was saved with")
                params = {name: np.asarray(arrays[f"param_{entry['name']}_{name}"]) * model.params[name].unit
                          for name in entry["params"]}
                layers.append(LayerSpec(entry["name"], entry["model"], int(entry["n_neurons"]), params,
                                        dict(entry["model_options"])))
                weights.append(np.asarray(arrays[f"weights_{k}"]) * model.weight_unit)
        except KeyError as exc:
            raise DataError(f"network spec: missing entry {exc}") from None
        return cls(int(header["n_inputs"]), tuple(layers), tuple(weights), header["dt"] * second)

    def save(self, path) -> Path:
        """Write the spec to ``path`` (``.npz``) atomically."""
        path = Path(path)
        with atomic_write(path, make_parents=True) as handle:
            np.savez(handle, **self.to_arrays())
        return path

    @classmethod
    def load(cls, path) -> "NetworkSpec":
        """Read a spec written by :meth:`save`.

        Raises
        ------
        DataError
            If the file cannot be read, or a layer's model has changed since it was saved (see :meth:`from_arrays`).
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls.from_arrays({key: data[key] for key in data.files})
        except (OSError, ValueError) as exc:
            raise DataError(f"network spec file {path}: {exc}") from None


def _as_float(value, unit, label):
    if not have_same_dimensions(value, unit):
        raise ParameterError(label, value, f"expected a quantity in {unit}")
    return float(value)


def default_weight(model: NeuronModel, n_pre: int, rate_hz: float) -> float:
    """Weight (SI) for which ``n_pre`` inputs at ``rate_hz`` put the mean potential at the default threshold.

    Uses the mean synaptic current ``n_pre * rate * w * tau_syn`` and the stationary potential
    ``E_L + R * I``; models without these parameters get 1/n_pre in their weight unit.
    """
    p = model.params
    if {"R", "tau_syn", "V_th", "E_L"} <= set(p) and have_same_dimensions(model.weight_unit, amp):
        gap = float(p["V_th"].default) - float(p["E_L"].default)
        return gap / (float(p["R"].default) * n_pre * rate_hz * float(p["tau_syn"].default))
    return 1.0 / n_pre


# ---------------------------------------------------------------------- inputs
def check_spiketrains(spiketrains, n_inputs: int | None = None, field: str = "spiketrains") -> np.ndarray:
    """Validate a raster ``bool[n_samples, n_channels, n_bins]`` and return it as a bool array."""
    array = np.asarray(spiketrains)
    if array.ndim != 3:
        raise DataError(f"{field}: expected a 3-D raster [n_samples, n_channels, n_bins], got shape {array.shape}")
    if array.dtype != bool:
        if array.dtype.kind not in "biu" or (array.size and (array.min() < 0 or array.max() > 1)):
            raise DataError(f"{field}: expected a binary raster (bool or 0/1), got dtype {array.dtype}")
        array = array.astype(bool)
    if n_inputs is not None and array.shape[1] != n_inputs:
        raise DataError(f"{field}: has {array.shape[1]} channels, the network has n_inputs = {n_inputs}")
    if array.shape[0] < 1 or array.shape[2] < 1:
        raise DataError(f"{field}: empty raster of shape {array.shape}")
    return array


def spike_counts(spiketrains: np.ndarray) -> np.ndarray:
    """Spikes per train of a bool raster ``[..., n_bins]``: an int64 array of the leading shape.

    For ``n_bins`` a multiple of 8 up to 2040 the bins are summed eight at a time as the byte lanes of 64-bit
    words (each lane holds at most ``n_bins / 8 <= 255``, so no lane overflows) and the eight lanes added at the
    end: about 4x faster than summing the bools, which matters for the 65 MB raster of a 1000-sample batch.
    """
    array = np.ascontiguousarray(spiketrains)
    n_bins = array.shape[-1]
    lead = array.shape[:-1]
    if array.dtype != np.bool_ or n_bins % 8 or n_bins > 8 * 255 or array.size == 0:
        return array.sum(axis=-1, dtype=np.int64)
    lanes = array.reshape(-1, n_bins).view(np.uint64).sum(axis=1, dtype=np.uint64)
    return lanes.view(np.uint8).reshape(-1, 8).sum(axis=1, dtype=np.int64).reshape(lead)


def spike_table(spiketrains: np.ndarray, capacity: int | None = None, periods: int = 1) -> tuple:
    """Encode rasters as a table of spike bins per input neuron.

    Parameters
    ----------
    spiketrains : bool ndarray [n_samples, n_channels, n_bins]
    capacity : int, optional
        Number of rows (spikes per neuron) to allocate; default the largest spike count.
    periods : int
        Samples one after another in time (see :func:`build`): sample ``p * n_copies + c`` is played by copy ``c``
        during period ``p``, its bin ``b`` at step ``p * n_bins + b``.  ``n_samples`` must be a multiple of it.

    Returns
    -------
    table : float64 ndarray [capacity + 1, n_copies * n_channels]
        ``table[k, j]`` is the step of the ``k``-th spike of flattened input neuron ``j``, ``-1`` past its last
        spike; the final row is all ``-1`` so that reading beyond the table (TimedArray clipping) never fires.
    capacity : int
    """
    n_samples, n_channels, n_bins = spiketrains.shape
    copies = n_samples // periods
    # Spikes in (sample, channel, bin) order; sample s = p * copies + c is played by input neuron (c, channel) in
    # period p, so a neuron's spikes are those of its samples in period order: the rank of a spike is the
    # number of the neuron's spikes in earlier periods plus its rank within its own sample.
    flat = np.ascontiguousarray(spiketrains).reshape(-1)
    rows, bins = np.divmod(np.flatnonzero(flat), n_bins)   # rows = s * n_channels + channel, sorted
    counts = np.bincount(rows, minlength=n_samples * n_channels).reshape(periods, copies * n_channels)
    earlier = np.cumsum(counts, axis=0) - counts            # spikes of the same neuron in earlier periods
    per_neuron = counts.sum(axis=0)
    needed = int(per_neuron.max()) if per_neuron.size else 0
    if capacity is None:
        capacity = needed
    if needed > capacity:
        raise ParameterError("capacity", capacity, f"an input neuron has {needed} spikes")
    table = np.full((capacity + 1, copies * n_channels), -1.0)
    row_counts = counts.ravel()
    starts = np.cumsum(row_counts) - row_counts
    rank = np.arange(rows.size) - starts[rows] + earlier.ravel()[rows]
    neuron = rows % (copies * n_channels)                   # (c, channel) of sample s = p * copies + c
    table[rank, neuron] = bins + (rows // (copies * n_channels)) * n_bins
    return table, capacity


# ---------------------------------------------------------------------- Brian2 builder
@dataclass
class BuiltNetwork:
    """The Brian2 objects of one batched network (internal to the backends)."""

    spec: NetworkSpec
    n_samples: int
    n_bins: int
    capacity: int
    inputs: object
    table: TimedArray | None
    groups: list
    synapses: list
    spike_monitors: dict
    trace_monitor: StateMonitor | None
    trace: tuple | None
    objects: list
    periods: int = 1

    def duration(self):
        return self.periods * self.n_bins * self.spec.dt

    def initial_values(self, copy_params=None) -> dict:
        """Per-variable arrays (SI floats) of parameters, initial states and weights, tiled over samples.

        Keys are the Brian2 ``VariableView`` objects, as used by ``device.run(run_args=...)``.

        Parameters
        ----------
        copy_params : dict, optional
            Per-copy intrinsic parameters ``{layer name: {parameter name: float array [n_samples, n_neurons]}}``
            in SI units (see :func:`check_copy_params`): copy ``s`` of the layer gets row ``s`` instead of the
            spec's values.  Parameters not named keep the spec's values in every copy.  Initial states that
            name a parameter (``v = E_L``) follow the per-copy value.
        """
        copy_params = check_copy_params(self.spec, copy_params, self.n_samples)
        values = {}
        for group, layer in zip(self.groups, self.spec.layers):
            model = layer.neuron_model
            tiled = {name: np.tile(np.asarray(value, dtype=float), self.n_samples)
                     for name, value in layer.params.items()}
            for name, array in copy_params.get(layer.name, {}).items():
                tiled[name] = array.ravel().copy()
            for name, array in tiled.items():
                values[(group, name)] = array
            for state in model.state_variables():
                if state in model.initial:
                    values[(group, state)] = evaluate_initial(model.initial[state], tiled)
                else:
                    values[(group, state)] = np.zeros(group.N)
        for syn, weight in zip(self.synapses, self.spec.weights):
            values[(syn, "w")] = np.tile(np.asarray(weight, dtype=float).ravel(), self.n_samples)
        if self.table is not None:
            values[(self.inputs, "k")] = np.zeros(self.inputs.N, dtype=np.int32)
            values[(self.inputs, "next_bin")] = self.table.values[0].astype(np.int32)
        return values

    def expected_length(self, owner) -> int:
        """Number of values of a per-neuron or per-synapse variable of ``owner`` (one of this network's objects).

        Computed from the spec, because a standalone ``Synapses`` object knows its size only after a run.
        """
        for syn, n_pre, layer in zip(self.synapses, self.spec.sizes[:-1], self.spec.layers):
            if owner is syn:
                return self.n_samples * n_pre * layer.n_neurons
        return int(owner.N)


def check_copy_params(spec: NetworkSpec, copy_params, n_samples: int) -> dict:
    """Validate per-copy intrinsic parameters and return them as ``{layer: {name: float64 [n_samples, n]}}``.

    Parameters
    ----------
    spec : NetworkSpec
    copy_params : dict or None
        ``{layer name: {parameter name: array [n_samples, n_neurons]}}`` in SI units (plain floats, or
        quantities in the parameter's unit).  ``None`` means none (every copy has the spec's values).
    n_samples : int
        Number of copies (samples) of the batch.

    Raises
    ------
    ParameterError
        Naming ``copy_params.<layer>.<parameter>`` for an unknown layer or parameter, a wrong shape or unit, or
        non-finite values.  Bounds and constraints are *not* checked here (the caller validates the parameter
        sets, e.g. through :meth:`NetworkSpec.with_params`).
    """
    if copy_params is None:
        return {}
    if not isinstance(copy_params, dict):
        raise ParameterError("copy_params", copy_params, "expected a dict {layer: {parameter: array}}")
    checked = {}
    for layer_name, params in copy_params.items():
        if layer_name not in spec.layer_names:
            raise ParameterError(f"copy_params.{layer_name}", params,
                                 f"no such layer; layers: {', '.join(spec.layer_names)}")
        layer = spec.layer(layer_name)
        model = layer.neuron_model
        if not isinstance(params, dict):
            raise ParameterError(f"copy_params.{layer_name}", params, "expected a dict {parameter: array}")
        checked[layer_name] = {}
        for name, values in params.items():
            label = f"copy_params.{layer_name}.{name}"
            if name not in model.params:
                raise ParameterError(label, values, f"no such parameter; parameters: {', '.join(model.params)}")
            if isinstance(values, Quantity) and not have_same_dimensions(values, model.params[name].unit):
                raise ParameterError(label, values, f"expected values in {model.params[name].unit}")
            array = np.asarray(values, dtype=float)
            if array.shape != (n_samples, layer.n_neurons):
                raise ParameterError(label, f"shape {array.shape}",
                                     f"expected shape ({n_samples}, {layer.n_neurons}) [n_samples, n_neurons]")
            if not np.all(np.isfinite(array)):
                raise ParameterError(label, "non-finite values", "values must be finite")
            checked[layer_name][name] = array
    return checked


def evaluate_initial(expression: str, params: dict) -> np.ndarray:
    name = expression.strip()
    if name in params:
        return params[name].copy()
    try:
        return np.broadcast_to(float(name), next(iter(params.values())).shape).copy()
    except ValueError:
        raise ParameterError("initial", expression, "initial values must name a parameter or be a number") from None


def reset_code(model: NeuronModel) -> str:
    """Brian2 code that puts every state variable of ``model`` back to its initial value and ends refractoriness."""
    from brian2 import Equations

    equations = Equations(model.equations)
    lines = []
    for state in model.state_variables():
        value = model.initial.get(state, f"0*{unit_name(equations[state].dim)}")
        lines.append(f"{state} = {value}")
    lines.append("lastspike = -1e4*second")
    lines.append("not_refractory = True")
    return "\n".join(lines)


def build(spec: NetworkSpec, n_samples: int, n_bins: int, capacity: int, record_hidden: bool = False,
          trace=None, table_values=None, spiketrains=None, periods: int = 1, hoist: bool = False) -> BuiltNetwork:
    """Create the Brian2 objects of ``spec`` for a batch of ``n_samples`` independent copies.

    Values (parameters, weights, inputs) are *not* set here: see :meth:`BuiltNetwork.initial_values` and the
    backends, which set them directly (runtime) or through ``run_args`` (standalone).

    Parameters
    ----------
    spec : NetworkSpec
    n_samples, n_bins : int
        Batch size and number of time bins.
    capacity : int
        Spikes per input neuron the input table can hold.
    record_hidden : bool
        Also record the spikes of the hidden layers.
    trace : tuple (layer name, sample, neuron), optional
        Record the state variables of one neuron at every step.
    table_values : ndarray, optional
        The input table (see :func:`spike_table`); default all ``-1`` (no input), to be replaced by ``run_args``.
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins], optional
        If given, the input is a ``SpikeGeneratorGroup`` with these spikes instead of the table.  Brian2's
        runtime targets bake the table's shape into the generated code (a recompile per batch shape), the
        generator does not; standalone reruns need the table, because run_args cannot resize a generator.
    periods : int
        Samples played one after another (table input only): ``n_samples`` copies are simulated for
        ``periods * n_bins`` steps, and at the start of every period a ``run_regularly`` operation puts every
        neuron back to its initial state (:func:`reset_code`).  With zero synaptic delays nothing crosses a
        period boundary, so period ``p`` of copy ``c`` is exactly an independent sample; the compiled program and
        its synapses are shared by ``periods`` times more samples.  Models whose equations read the time ``t``
        must use ``periods = 1`` (their ``t`` would not restart).
    hoist : bool
        Compute the run-invariant factors of the state updates (``exp(-dt/tau_m)`` for a per-neuron ``tau_m``)
        once per period instead of at every step (:mod:`brainlz.invariants`).  Only for networks that every run
        starts from ``t = 0`` with its parameters set before the run (the standalone backend).
    """
    dt = spec.dt
    if periods > 1 and spiketrains is not None:
        raise ParameterError("periods", periods, "periods > 1 needs the table input (standalone backend)")
    if spiketrains is not None:
        table = None
        flat = spiketrains.reshape(n_samples * spec.n_inputs, n_bins)
        bins, index = np.nonzero(flat.T)
        inputs = SpikeGeneratorGroup(n_samples * spec.n_inputs, index, bins * dt, dt=dt, sorted=True, name="inputs")
    else:
        if table_values is None:
            table_values = np.full((capacity + 1, n_samples * spec.n_inputs), -1.0)
        table = TimedArray(table_values, dt=1 * second, name="input_table")
        # next_bin caches the table entry of the next spike: one integer comparison per input and step (the
        # table is read only when the input fires).
        inputs = NeuronGroup(n_samples * spec.n_inputs, "k : integer\nnext_bin : integer",
                             threshold="timestep(t, dt) == next_bin",
                             reset="k += 1\nnext_bin = int(input_table(k * second, i))", dt=dt, name="inputs",
                             namespace={"input_table": table})
    descriptions, factors = [], []
    for layer in spec.layers:
        model = layer.neuron_model
        hoisted = invariants.factors(model) if hoist else ()
        description = {"name": layer.name, "n_neurons": layer.n_neurons, "equations": model.equations,
                       "threshold": model.threshold, "reset": model.reset, "refractory": model.refractory,
                       "method": model.method, "on_pre": model.on_pre, "weight_unit": unit_name(model.weight_unit)}
        if hoisted:
            description.update(equations=model.equations + invariants.declarations(hoisted),
                               method=invariants.HoistedMethod(model.method, hoisted),
                               namespace={invariants.DT_NAME: dt})
        descriptions.append(description)
        factors.append(hoisted)

    # One weight per synapse (the samples' copies hold the same values, set by initial_values), so the weights of
    # a batch are the weight matrix raveled and tiled n_samples times (builder.copy_connections).  (A weight table
    # shared by the copies would pass fewer values to a rerun but costs a table lookup per synaptic event: Brian2's
    # profiler gave 53 vs 28 ms per 100 samples x 1024 steps for the input projection's propagation.)  The delay
    # is given as a scalar: stored once, not as a per-synapse array that every run would write back.
    record = spec.layer_names if record_hidden else spec.layer_names[-1:]
    groups, projections, monitors = builder.build_layers(
        brian2, inputs, spec.n_inputs, descriptions, n_samples, record=record, group_options={"dt": dt},
        synapse_options={"delay": 0 * second, "dt": dt})
    for group, layer, hoisted in zip(groups, spec.layers, factors):
        if hoisted:  # after run_args (applied before the first step), before the first state update
            group.run_regularly(invariants.initialisation_code(hoisted), dt=n_bins * dt, when="start", order=-1,
                                name=f"{layer.name}_invariant_factors")
        if periods > 1:
            group.run_regularly(reset_code(layer.neuron_model), dt=n_bins * dt, when="start",
                                name=f"{layer.name}_period_reset")
    synapses = [syn for projection in projections for syn in projection]
    trace_monitor = None
    if trace is not None:
        layer_name, sample_index, neuron = trace
        layer = spec.layer(layer_name)
        if not 0 <= sample_index < n_samples:
            raise ParameterError("trace.sample", sample_index, f"expected 0 <= sample < {n_samples}")
        if not 0 <= neuron < layer.n_neurons:
            raise ParameterError("trace.neuron", neuron, f"expected 0 <= neuron < {layer.n_neurons}")
        group = groups[spec.layer_names.index(layer_name)]
        trace_monitor = builder.trace_monitor(brian2, group, layer.neuron_model.state_variables(), sample_index,
                                              neuron, layer.n_neurons)
    objects = [inputs, *groups, *synapses, *monitors.values()] + ([trace_monitor] if trace_monitor is not None else [])
    return BuiltNetwork(spec, n_samples, n_bins, capacity, inputs, table, groups, synapses, monitors,
                        trace_monitor, trace, objects, periods)


def run_network(objects, duration):
    """Run Brian2 objects (or a ``Network``) for ``duration`` on the runtime device: to the end, or not at all.

    Brian2 turns a Ctrl+C during ``Network.run`` into a request to stop after the current time step
    (``prefs.core.stop_on_keyboard_interrupt``, on by default): ``run`` then returns normally, with only part of the
    duration simulated.  Every brainlz simulation must cover its whole duration (a truncated spike train would be
    analysed, trained on and written as if complete), so a run that ended early raises :class:`KeyboardInterrupt`
    here, as the interrupt asked.

    Parameters
    ----------
    objects : brian2.Network or list of Brian2 objects
    duration : Quantity
        In units of time.

    Returns
    -------
    brian2.Network
        The network, run.
    """
    from brian2 import Network

    network = objects if isinstance(objects, Network) else Network(objects)
    start = float(network.t)
    network.run(duration, namespace={})
    simulated, asked = float(network.t) - start, float(duration)
    steps = [float(obj.clock.dt) for obj in network.objects if getattr(obj, "clock", None) is not None]
    if simulated < asked - 0.5 * min(steps, default=asked * 1e-9):  # stopped at least one step early
        raise KeyboardInterrupt(f"the simulation stopped at {1e3 * simulated:g} ms of {1e3 * asked:g} ms "
                                f"(interrupted); no result is kept")
    return network


def unit_name(unit) -> str:
    """Brian2 unit name for a model declaration (``amp``, ``volt``, ``1``)."""
    dims = get_dimensions(unit)
    if dims.is_dimensionless:
        return "1"
    return repr(get_unit(dims))


def brian_array(values, dtype=None) -> np.ndarray:
    """A numpy copy of an array read from a Brian2 object (a monitor's ``t_[:]``, a group's ``v_[:]``).

    Brian2 >= 2.10 keeps dynamic arrays (monitors, synapses) in C++ and returns zero-copy views of that memory
    that do not keep their owner alive: a view kept after its ``Network`` or monitor is garbage collected reads
    freed memory (garbage in the first elements; brainlz's membrane trace on Brian2 2.10/2.11 had it).  Every
    value that outlives the Brian2 object it came from goes through here.
    """
    return np.array(values, dtype=dtype, copy=True)


def rasters_from_monitor(indices: np.ndarray, times: np.ndarray, n_samples: int, n_neurons: int, n_bins: int,
                         dt: float, periods: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Convert spike monitor output into ``bool[n_samples, n_neurons, n_bins]``.

    With ``periods > 1`` (see :func:`build`), ``n_samples`` counts the samples of all periods: the monitor's
    neuron ``c * n_neurons + k`` at step ``p * n_bins + b`` is neuron ``k`` of sample ``p * (n_samples // periods)
    + c`` at bin ``b``.  With ``out`` (a zeroed bool array ``[m, n_neurons, n_bins]``, ``m <= n_samples``), the
    spikes of the first ``m`` samples are written into it (the others, e.g. padding, are dropped) and ``out`` is
    returned: no intermediate raster.
    """
    copies = n_samples // periods
    if out is None:
        out = np.zeros((n_samples, n_neurons, n_bins), dtype=bool)
    elif not out.flags.c_contiguous or out.shape[1:] != (n_neurons, n_bins):
        raise ValueError(f"out must be a C-contiguous bool array [m, {n_neurons}, {n_bins}]")
    steps = np.rint(np.asarray(times) / dt).astype(np.int64)
    period = steps // n_bins
    # sample p * copies + c, neuron k, bin b; the monitor's index is c * n_neurons + k
    flat = (period * (copies * n_neurons) + np.asarray(indices, dtype=np.int64)) * n_bins + (steps - period * n_bins)
    out.reshape(-1)[flat[(period < periods) & (flat < out.size)]] = True
    return out
