r"""The outer loop over intrinsic parameters: the parameter vector, population simulation, objectives.

Weight learning (:func:`~brainlz.learning.stdp.train_stdp`, :func:`~brainlz.learning.tempotron.train_output_layer`,
:func:`~brainlz.learning.surrogate.train_surrogate`) changes the synapses; this module changes the *intrinsic*
parameters of the neurons (``tau_m``, ``V_th``, ...) in an outer loop around it.

Population evaluation (:func:`simulate_parameter_sets`)
--------------------------------------------------------
Every sample of a batched Brian2 run is an independent copy of the network (:func:`brainlz.network.build`).
``P`` parameter sets and ``S`` samples therefore fit into *one* run of ``P * S`` copies: copy ``p * S + s`` is
sample ``s`` simulated with parameter set ``p`` (the way brian2modelfitting evaluates a population).  The
per-copy values are passed to the backends as ``copy_params`` and become plain per-neuron values of the run, so a
compiled standalone program is rerun through ``run_args`` for every new population of the same ``P`` and ``S``.

Parameter vector (:class:`IntrinsicSpace`)
------------------------------------------
The optimiser sees a vector :math:`u \in [0, 1]^d`.  Entry ``j`` belongs to one parameter of one layer (shared by
all neurons of the layer, the default) or of one neuron (``per_neuron=True``); its physical value is
:math:`p = lo + (hi - lo)\,u` with ``(lo, hi)`` the parameter's :attr:`~brainlz.models.Param.bounds` (or a
narrower box), or :math:`p = lo\,(hi/lo)^u` for a positive box spanning a factor of 10 or more (``scale="auto"``:
time constants, resistances, currents; a step in ``u`` is then one relative change wherever the value lies).  A point
that violates a model constraint (``V_reset < V_th``) is repaired as in
:meth:`~brainlz.learning.surrogate.SurrogateNetwork.project`: the side that is in the space is moved to the other
side's value minus (plus) 0.1 % of its bound width, so every point of the box is a valid network.

Optimisation
------------
The optimisers, gradient estimators and the descent check are generic (any objective of a vector in a box):
:mod:`brainlz.learning.optimize`.  This module gives them the parameter vector and the objectives.

Objectives for spiking networks
-------------------------------
:class:`ValidationObjective` (:func:`validation_objective`) simulates the candidates in one batched Brian2 run,
computes the LZ76 complexity of every output neuron (:class:`~brainlz.readout.LZCFeatures`), fits the readout
(:func:`~brainlz.readout.default_pipeline`) on the training samples and returns the *log-loss* on the validation
samples.  The log-loss (cross-entropy of the predicted class probabilities) is used instead of the error rate
because it changes continuously with the classifier's outputs, whereas the error rate only changes when a
validation sample flips class; note that spikes are discrete, so the objective is still piecewise constant in
the intrinsic parameters at the scale at which single spikes appear or move: use perturbations well above that
scale (a few % of the bound width).
:class:`TwinObjective` (:func:`twin_gradient`) evaluates the count loss of the surrogate twin
(:class:`~brainlz.learning.surrogate.SurrogateNetwork`) and its BPTT gradient with respect to :math:`u`; in
``mode="smooth"`` the twin is a smooth model and the gradient is exact.

Alternation (:func:`train_with_intrinsic`)
------------------------------------------
Inner weight learning with the existing trainers, then one outer step on the intrinsic parameters with the new
weights, repeated; the gains continue across outer steps.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import time
from dataclasses import dataclass

import numpy as np

from .. import checks
from ..errors import DataError, ParameterError
from ..files import jsonable
from .optimize import METHODS, IntrinsicOptimizer

__all__ = ["IntrinsicSpace", "simulate_parameter_sets", "ValidationObjective", "validation_objective",
           "TwinObjective", "twin_objective", "twin_gradient", "OuterSearch", "SPACE_OPTIONS", "train_with_intrinsic"]

_REPAIR = 1e-3  # constraint repair: fraction of the bound width


# ====================================================================== validation helpers
def _check_spec(spec):
    from ..network import NetworkSpec

    if not isinstance(spec, NetworkSpec):
        raise ParameterError("spec", type(spec).__name__, "expected a brainlz NetworkSpec")
    return spec


def _dataset(data, spec, field_name) -> tuple:
    """``(spiketrains bool [n, n_inputs, n_bins], labels int [n])`` from a SpikeDataset or a pair."""
    from ..data import SpikeDataset
    from ..network import check_spiketrains

    if isinstance(data, SpikeDataset):
        if abs(float(data.dt) - float(spec.dt)) > 1e-12 * float(spec.dt):
            raise ParameterError(f"{field_name}.dt", data.dt, f"must equal spec.dt = {spec.dt}")
        x, labels = data.spiketrains, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, labels = data
    else:
        raise ParameterError(field_name, type(data).__name__,
                             "expected a SpikeDataset or a pair (spiketrains, labels)")
    x = check_spiketrains(x, spec.n_inputs, field=f"{field_name}.spiketrains")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != x.shape[0] or labels.dtype.kind not in "iu" \
            or (labels.size and labels.min() < 0):
        raise DataError(f"{field_name}.labels: expected {x.shape[0]} non-negative integer labels, got shape "
                        f"{labels.shape} and dtype {labels.dtype}")
    return x, labels.astype(np.int64)


def _spike_dataset(data, spec, field_name):
    """``data`` as a :class:`~brainlz.data.SpikeDataset` with the spec's time step (checked as :func:`_dataset`)."""
    from ..data import SpikeDataset

    x, labels = _dataset(data, spec, field_name)
    return data if isinstance(data, SpikeDataset) else SpikeDataset(x, labels, spec.dt)


# ====================================================================== parameter vector
@dataclass(frozen=True)
class _Block:
    layer: str
    name: str
    low: float
    high: float
    size: int  # 1 (shared by the layer) or n_neurons
    log: bool = False  # u maps to p = low * (high / low) ** u instead of low + (high - low) * u

    def value(self, u):
        """Physical value(s) (SI) of normalised coordinate(s) ``u``."""
        if self.log:
            return self.low * (self.high / self.low) ** u
        return self.low + (self.high - self.low) * u

    def unit(self, value):
        """Normalised coordinate(s) of physical value(s) ``value`` (SI), not clipped."""
        if self.log:
            return np.log(value / self.low) / np.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)

    def derivative(self, value):
        """``dp/du`` at the physical value(s) ``value``."""
        return value * np.log(self.high / self.low) if self.log else np.full_like(value, self.high - self.low)


LOG_SCALE_RATIO = 10.0  # scale="auto": log coordinates for positive bounds with high / low >= this


def _user_box(field, box, param, low, high, start, per_neuron):
    """A user's ``(low, high)`` for one parameter, in SI floats, checked against the model's bounds and the start."""
    from brian2 import Quantity

    try:
        pair = list(box)
    except TypeError:
        pair = None
    if pair is None or len(pair) != 2:
        raise ParameterError(field, box, "expected (low, high)")
    values = []
    for value in pair:
        if isinstance(value, Quantity):
            if value.dim != param.unit.dim:
                raise ParameterError(field, box, f"expected values in {param.unit} (SI floats or Quantities)")
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value):
            raise ParameterError(field, box, "expected two finite numbers (SI units)")
        values.append(float(value))
    user_low, user_high = values
    if not user_high > user_low:
        raise ParameterError(field, box, "expected low < high")
    tolerance = 1e-12 * (high - low)
    if user_low < low - tolerance or user_high > high + tolerance:
        raise ParameterError(field, box, f"outside the model's bounds ({low:g}, {high:g}) (SI)")
    reference = start if per_neuron else np.array([start.mean()])
    if np.any(reference < user_low - tolerance) or np.any(reference > user_high + tolerance):
        raise ParameterError(field, box, f"the starting value(s) {np.unique(reference)[:3].tolist()} (SI) lie "
                                         "outside the box")
    return max(user_low, low), min(user_high, high)


class IntrinsicSpace:
    r"""The map between a normalised vector ``u`` in ``[0, 1]^d`` and the intrinsic parameters of a network.

    Parameters
    ----------
    spec : NetworkSpec
        The network (its structure; its values are the parameters that are not in the space).
    layers : str or sequence of str, optional
        Layers whose parameters are optimised (default: every layer).
    parameters : sequence of str or dict, optional
        Parameter names, optimised in every chosen layer whose model has them; or ``{layer: [names]}``.
        Default: the parameters each model marks learnable.
    per_neuron : bool
        One entry per neuron instead of one per layer (shared value, the default).
    bounds : dict, optional
        Narrower boxes than the models' :attr:`~brainlz.models.Param.bounds`: ``{name: (low, high)}`` for the
        parameter in every chosen layer, or ``{"layer.name": (low, high)}`` for one layer (that entry wins), in SI
        units (floats) or as Quantities of the parameter's dimension.  A box must lie inside the model's bounds and
        contain the network's starting values (otherwise the start would be moved silently).
    scale : {"auto", "linear"}
        ``"auto"`` (default): a parameter whose box is positive and spans a factor of at least 10 (``tau_m``
        2-100 ms, ``R`` 10 MOhm-1 GOhm, ``I_half``, ``tau_theta``) gets logarithmic coordinates,
        :math:`p = lo\,(hi/lo)^u`, so that a step in ``u`` is the same relative change anywhere in the box;
        the others (potentials, ``delta_theta`` from 0) linear ones.  ``"linear"``: linear for every parameter.
        In linear coordinates a step of 0.05 changes the default ``R`` (100 MOhm, near the low end of its box) by
        50 %, and measured on the paper grid such steps silenced the trained networks.

    Attributes
    ----------
    d : int
        Dimension of ``u``.
    names : list of str
        ``"layer.param"`` (shared) or ``"layer.param[j]"`` (per neuron), one per entry.
    bounds : ndarray [d, 2]
        ``(low, high)`` of every entry in SI units (from :attr:`brainlz.models.Param.bounds`, or ``bounds``).
    """

    def __init__(self, spec, layers=None, parameters=None, per_neuron: bool = False, bounds=None,
                 scale: str = "auto"):
        spec = _check_spec(spec)
        checks.one_of("scale", scale, ("auto", "linear"), reason="expected 'auto' or 'linear'")
        if bounds is not None and not isinstance(bounds, dict):
            raise ParameterError("bounds", bounds, "expected a dict {name or 'layer.name': (low, high)}")
        bounds = dict(bounds or {})
        used = set()
        checks.flag("per_neuron", per_neuron, reason="expected True or False")
        if layers is None:
            layers = spec.layer_names
        elif isinstance(layers, str):
            layers = (layers,)
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ParameterError("layers", layers, "expected a layer name or a non-empty sequence of them")
        for name in layers:
            if name not in spec.layer_names:
                raise ParameterError("layers", name, f"no such layer; layers: {', '.join(spec.layer_names)}")
        if len(set(layers)) != len(layers):
            raise ParameterError("layers", layers, "layer names must not repeat")
        if isinstance(parameters, str):
            parameters = (parameters,)
        blocks = []
        for layer_name in spec.layer_names:  # network order, whatever the order given
            if layer_name not in layers:
                continue
            layer = spec.layer(layer_name)
            model = layer.neuron_model
            if parameters is None:
                wanted = [n for n in model.learnable_parameters]
            elif isinstance(parameters, dict):
                wanted = list(parameters.get(layer_name, ()))
                for name in wanted:
                    if name not in model.params:
                        raise ParameterError(f"parameters.{layer_name}", name,
                                             f"no such parameter of model {model.name!r}; parameters: "
                                             f"{', '.join(model.params)}")
            elif isinstance(parameters, (list, tuple)):
                wanted = [n for n in parameters if n in model.params]
            else:
                raise ParameterError("parameters", parameters,
                                     "expected parameter names or a dict {layer: [names]}")
            for name in wanted:
                low, high = (float(b) for b in model.params[name].bounds)
                if not high > low:
                    raise ParameterError(f"{layer_name}.{name}", model.params[name].bounds,
                                         "cannot be optimised: its bounds are a single value")
                key = f"{layer_name}.{name}" if f"{layer_name}.{name}" in bounds else name
                if name in bounds:
                    used.add(name)  # a generic box counts as used even where a layer's own box overrides it
                if key in bounds:
                    used.add(key)
                    low, high = _user_box(f"bounds.{key}", bounds[key], model.params[name], low, high,
                                          np.asarray(layer.params[name], dtype=float), per_neuron)
                log = scale == "auto" and low > 0 and high / low >= LOG_SCALE_RATIO
                blocks.append(_Block(layer_name, name, low, high, layer.n_neurons if per_neuron else 1, log))
        if isinstance(parameters, (list, tuple)):
            found = {b.name for b in blocks}
            for name in parameters:
                if name not in found:
                    raise ParameterError("parameters", name, f"not a parameter of the layers {', '.join(layers)}")
        if isinstance(parameters, dict):
            for layer_name in parameters:
                if layer_name not in layers:
                    raise ParameterError("parameters", layer_name, f"not one of the chosen layers {list(layers)}")
        if not blocks:
            raise ParameterError("parameters", parameters, "no intrinsic parameter selected")
        unused = sorted(set(bounds) - used)
        if unused:
            optimised = sorted({f"{b.layer}.{b.name}" for b in blocks})
            raise ParameterError(f"bounds.{unused[0]}", bounds[unused[0]],
                                 f"not an optimised parameter; optimised: {', '.join(optimised)}")
        if len({(b.layer, b.name) for b in blocks}) != len(blocks):
            raise ParameterError("parameters", parameters, "parameter names must not repeat")
        self.spec = spec
        self.per_neuron = bool(per_neuron)
        self.blocks = tuple(blocks)
        self.d = int(sum(b.size for b in blocks))
        self.names = []
        for b in blocks:
            self.names += [f"{b.layer}.{b.name}"] if b.size == 1 else [f"{b.layer}.{b.name}[{j}]"
                                                                        for j in range(b.size)]
        self.bounds = np.concatenate([np.tile([[b.low, b.high]], (b.size, 1)) for b in blocks])

    # ---------------------------------------------------------------- conversions
    def check_vector(self, u, field_name="x") -> np.ndarray:
        """``u`` as a float array ``[P, d]`` (a ``[d]`` vector becomes ``[1, d]``), checked to lie in [0, 1]."""
        array = np.asarray(u, dtype=float)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.d:
            raise ParameterError(field_name, f"shape {np.shape(u)}", f"expected shape (d,) or (P, d) with d = {self.d}")
        if not np.all(np.isfinite(array)) or np.any(array < -1e-12) or np.any(array > 1 + 1e-12):
            raise ParameterError(field_name, u, "expected values in [0, 1] (normalised coordinates)")
        return np.clip(array, 0.0, 1.0)

    def to_unit(self, spec=None) -> np.ndarray:
        """The normalised vector ``[d]`` of ``spec`` (default the space's spec); shared entries take the layer mean."""
        spec = self.spec if spec is None else _check_spec(spec)
        if spec.structure_key() != self.spec.structure_key():
            raise ParameterError("spec", "a different network", "its layers do not match the space's network")
        out = []
        for b in self.blocks:
            values = np.asarray(spec.layer(b.layer).params[b.name], dtype=float)
            values = values if b.size > 1 else np.array([values.mean()])
            out.append(b.unit(values))
        return np.clip(np.concatenate(out), 0.0, 1.0)

    def values(self, u) -> list:
        """Per-candidate parameter values ``{layer: {name: float array [n_neurons] (SI)}}`` (constraints repaired)."""
        U = self.check_vector(u)
        out = []
        for row in U:
            sets, offset = {}, 0
            for b in self.blocks:
                layer = self.spec.layer(b.layer)
                value = b.value(row[offset:offset + b.size])
                sets.setdefault(b.layer, {})[b.name] = np.broadcast_to(value, (layer.n_neurons,)).copy()
                offset += b.size
            self._repair(sets)
            out.append(sets)
        return out

    def _repair(self, sets):
        """Move values that violate a model constraint just inside it, within their block's box."""
        from ..models import constraint_holds, parse_constraint

        boxes = {(b.layer, b.name): (b.low, b.high) for b in self.blocks}
        for layer_name, chosen in sets.items():
            layer = self.spec.layer(layer_name)
            model = layer.neuron_model
            for constraint in model.constraints:
                left, op, right = parse_constraint(constraint)
                if left not in chosen and right not in chosen:
                    continue
                lv = chosen[left] if left in chosen else np.asarray(layer.params[left], dtype=float)
                rv = chosen[right] if right in chosen else np.asarray(layer.params[right], dtype=float)
                bad = ~constraint_holds(op, lv, rv)
                if not bad.any():
                    continue
                sign = 1.0 if op in ("<", "<=") else -1.0
                if left in chosen:
                    low, high = (float(v) for v in model.params[left].bounds)
                    box_low, box_high = boxes.get((layer_name, left), (low, high))
                    chosen[left] = np.where(bad, np.clip(rv - sign * _REPAIR * (high - low), box_low, box_high), lv)
                else:
                    low, high = (float(v) for v in model.params[right].bounds)
                    box_low, box_high = boxes.get((layer_name, right), (low, high))
                    chosen[right] = np.where(bad, np.clip(lv + sign * _REPAIR * (high - low), box_low, box_high),
                                             rv)

    def parameter_sets(self, u) -> list:
        """The candidates ``u [P, d]`` as parameter sets ``{layer: {name: Quantity [n_neurons]}}``."""
        out = []
        for sets in self.values(u):
            out.append({layer: {name: value * self.spec.layer(layer).neuron_model.params[name].unit
                                for name, value in chosen.items()} for layer, chosen in sets.items()})
        return out

    def apply(self, spec, u):
        """``spec`` with the parameters of the point ``u [d]`` (validated)."""
        spec = _check_spec(spec)
        if spec.structure_key() != self.spec.structure_key():
            raise ParameterError("spec", "a different network", "its layers do not match the space's network")
        U = self.check_vector(u)
        if U.shape[0] != 1:
            raise ParameterError("x", f"shape {np.shape(u)}", "expected one point")
        for layer, params in self.parameter_sets(U)[0].items():
            spec = spec.with_params(layer, **params)
        return spec

    def with_spec(self, spec) -> "IntrinsicSpace":
        """The same space on another network of the same structure (e.g. with trained weights)."""
        spec = _check_spec(spec)
        if spec.structure_key() != self.spec.structure_key():
            raise ParameterError("spec", "a different network", "its layers do not match the space's network")
        new = object.__new__(IntrinsicSpace)
        new.__dict__.update(self.__dict__)
        new.spec = spec
        return new

    def describe(self) -> dict:
        """JSON-serialisable description: names, bounds (SI), per_neuron."""
        return {"names": list(self.names), "bounds": self.bounds.tolist(), "per_neuron": self.per_neuron,
                "blocks": [{"layer": b.layer, "parameter": b.name, "low": b.low, "high": b.high, "size": b.size,
                            "scale": "log" if b.log else "linear"}
                           for b in self.blocks]}


# ====================================================================== population simulation
def _check_parameter_sets(spec, parameter_sets) -> list:
    """Validate every set by applying it to the spec; return ``{layer: {name: float [n_neurons]}}`` per set."""
    if isinstance(parameter_sets, dict) or not isinstance(parameter_sets, (list, tuple)) or not parameter_sets:
        raise ParameterError("parameter_sets", type(parameter_sets).__name__,
                             "expected a non-empty list of dicts {layer: {parameter: values with units}}")
    checked = []
    for p, sets in enumerate(parameter_sets):
        label = f"parameter_sets[{p}]"
        if not isinstance(sets, dict):
            raise ParameterError(label, sets, "expected a dict {layer: {parameter: values with units}}")
        candidate = spec
        for layer_name, params in sets.items():
            if layer_name not in spec.layer_names:
                raise ParameterError(f"{label}.{layer_name}", params,
                                     f"no such layer; layers: {', '.join(spec.layer_names)}")
            if not isinstance(params, dict):
                raise ParameterError(f"{label}.{layer_name}", params, "expected a dict {parameter: values}")
            n = spec.layer(layer_name).n_neurons
            for name, value in params.items():
                if np.ndim(value) not in (0, 1) or (np.ndim(value) == 1 and np.shape(value)[0] != n):
                    raise ParameterError(f"{label}.{layer_name}.{name}", value,
                                         f"expected a scalar or an array of shape ({n},) with units")
            try:
                candidate = candidate.with_params(layer_name, **params)
            except ParameterError as exc:
                raise ParameterError(f"{label}.{exc.field}", exc.value, exc.reason) from None
        checked.append({layer_name: {name: np.asarray(candidate.layer(layer_name).params[name], dtype=float)
                                     for name in params} for layer_name, params in sets.items()})
    return checked


def simulate_parameter_sets(spec, parameter_sets, spiketrains, *, backend: str = "standalone",
                            return_hidden: bool = False, **backend_options):
    """Simulate ``P`` parameter sets on ``S`` samples in one batched Brian2 run of ``P * S`` network copies.

    Parameters
    ----------
    spec : NetworkSpec
        The network; its weights and the parameters a set does not name are used by every copy.
    parameter_sets : list of dict
        ``P`` dicts ``{layer name: {parameter name: Quantity}}``; a value is a per-neuron array of shape
        ``(n_neurons,)`` or a scalar (broadcast), in the parameter's unit (``tau_m`` in ``ms``, ``V_th`` in ``mV``).
        Partial dicts are allowed; every set is validated against the bounds and constraints of the model.
    spiketrains : bool ndarray [S, n_inputs, n_bins]
        The samples; every set sees all of them.
    backend : {"standalone", "runtime"}
        Simulation backend.  On ``"standalone"`` the program is compiled once per ``(P * S, n_bins, ...)`` shape
        and rerun through ``run_args`` for every later population of the same size.
    return_hidden : bool
        Also return the hidden-layer rasters.
    **backend_options
        Passed to the backend's ``simulate`` (``target``, ``directory``, ``batch_size``, ``seed``, ...; not
        ``copy_params``, ``trace`` or ``record_hidden``).

    Returns
    -------
    output : bool ndarray [P, S, n_out, n_bins]
        ``output[p, s]`` is the output raster of sample ``s`` under parameter set ``p``, identical to
        ``simulate(spec.with_params(...set p...), spiketrains).output[s]``.
    hidden : dict of str to bool ndarray [P, S, n_neurons, n_bins]
        Only with ``return_hidden=True``.

    Raises
    ------
    ParameterError
        Naming ``parameter_sets[p].<layer>.<parameter>`` for an unknown name, a wrong unit or shape, or a value
        outside the bounds or violating a constraint; or a bad backend option.
    """
    from ..backends import get_backend
    from ..network import check_spiketrains

    spec = _check_spec(spec)
    module = get_backend(backend)
    for key in ("copy_params", "trace", "record_hidden"):
        if key in backend_options:
            raise ParameterError(key, backend_options[key], "is set by simulate_parameter_sets, not a backend option")
    checks.flag("return_hidden", return_hidden, reason="expected True or False")
    checked = _check_parameter_sets(spec, parameter_sets)
    x = check_spiketrains(spiketrains, spec.n_inputs)
    S = x.shape[0]
    P = len(checked)
    copy_params = {}
    for layer in spec.layers:
        names = sorted({name for sets in checked for name in sets.get(layer.name, {})})
        for name in names:
            base = np.asarray(layer.params[name], dtype=float)
            rows = np.empty((P, S, layer.n_neurons))
            for p, sets in enumerate(checked):
                rows[p] = sets.get(layer.name, {}).get(name, base)
            copy_params.setdefault(layer.name, {})[name] = rows.reshape(P * S, layer.n_neurons)
    batch = np.broadcast_to(x, (P,) + x.shape).reshape((P * S,) + x.shape[1:])
    # Per-copy parameters need every sample of a batch on its own copy: standalone's consecutive periods
    # (backend option copies) do not apply to populations.
    options = {key: value for key, value in backend_options.items() if key != "copies"}
    result = module.simulate(spec, batch, copy_params=copy_params, record_hidden=bool(return_hidden), **options)
    output = result.output.reshape((P, S) + result.output.shape[1:])
    if not return_hidden:
        return output
    hidden = {name: raster.reshape((P, S) + raster.shape[1:]) for name, raster in result.hidden.items()}
    return output, hidden


# ====================================================================== objectives
class ValidationObjective:
    """Validation log-loss of the LZC readout, for a population of intrinsic-parameter candidates.

    ``objective(U [P, d]) -> [P]``: the candidates (normalised coordinates of :attr:`space`) are simulated in one
    batched run (:func:`simulate_parameter_sets`) on the training and validation samples together; the LZ76
    complexity of every output neuron (:class:`~brainlz.readout.LZCFeatures`) is the feature vector; for each
    candidate the readout is fitted on the training samples and its log-loss
    ``-mean log p(true class)`` (:func:`sklearn.metrics.log_loss`) on the validation samples is returned.

    Attributes
    ----------
    space : IntrinsicSpace
    last : dict
        Of the last call, per candidate: ``log_loss``, ``accuracy`` (validation), ``output_rate`` (mean output rate
        in Hz), ``silent_fraction`` (fraction of output trains without a spike, training and validation samples)
        and ``predicted_classes`` (distinct classes the readout predicts on the validation samples).
    n_calls, n_candidates : int

    Parameters
    ----------
    spec, train_set, validation_set, backend, backend_options, include_counts, classifier, C, seed
        See :func:`validation_objective`.
    space : IntrinsicSpace
        The parameter vector.
    pad_population : bool
        Standalone: pad smaller populations to the largest size seen (see :meth:`rasters`).
    """

    def __init__(self, spec, train_set, validation_set, *, space: IntrinsicSpace, backend: str = "standalone",
                 backend_options=None, include_counts: bool = False, classifier=None, C: float = 1.0, seed: int = 0,
                 pad_population: bool = True):
        from sklearn.base import clone

        from ..readout import LZCFeatures, default_pipeline

        spec = _check_spec(spec)
        if not isinstance(space, IntrinsicSpace):
            raise ParameterError("space", space, "expected an IntrinsicSpace")
        self.space = space.with_spec(spec)
        self.spec = spec
        self.x_train, self.y_train = _dataset(train_set, spec, "train_set")
        self.x_val, self.y_val = _dataset(validation_set, spec, "validation_set")
        if self.x_train.shape[2] != self.x_val.shape[2]:
            raise DataError(f"validation_set.spiketrains: {self.x_val.shape[2]} bins, the training set has "
                            f"{self.x_train.shape[2]}")
        if np.unique(self.y_train).size < 2:
            raise DataError("train_set.labels: the readout needs at least 2 classes in the training set")
        unknown = np.setdiff1d(self.y_val, self.y_train)
        if unknown.size:
            raise DataError(f"validation_set.labels: classes {unknown.tolist()} do not occur in the training set")
        from ..backends import BACKENDS

        checks.one_of("backend", backend, BACKENDS)
        if backend_options is not None and not isinstance(backend_options, dict):
            raise ParameterError("backend_options", backend_options, "expected a dict")
        self.backend = backend
        self.backend_options = dict(backend_options or {})
        self.features = LZCFeatures(include_counts=include_counts)
        self.features.fit(np.zeros((1, spec.output.n_neurons, self.x_train.shape[2]), dtype=bool))
        self.classifier = default_pipeline(checks.seed("seed", seed), C) if classifier is None else clone(classifier)
        self._clone = clone
        self.inputs = np.concatenate([self.x_train, self.x_val])
        self.pad_population = checks.flag("pad_population", pad_population, reason="expected True or False")
        self._population = 0
        self.last = {}
        self.n_calls = 0
        self.n_candidates = 0

    def with_spec(self, spec) -> "ValidationObjective":
        """The same objective on a network with other weights (same structure)."""
        new = object.__new__(ValidationObjective)
        new.__dict__.update(self.__dict__)
        new.spec = _check_spec(spec)
        new.space = self.space.with_spec(spec)
        new.last = {}
        return new

    @property
    def x0(self) -> np.ndarray:
        """The spec's current point (normalised)."""
        return self.space.to_unit(self.spec)

    def rasters(self, U) -> np.ndarray:
        """Output rasters ``[P, n_train + n_validation, n_out, n_bins]`` of the candidates.

        On the standalone backend a population smaller than the largest one simulated so far is padded (with
        copies of its last candidate) to that size, so that the compiled program is reused instead of compiling
        one for the new size (e.g. the single final point after steps of ``2d + 1`` candidates).
        """
        U = self.space.check_vector(U, "X")
        P = U.shape[0]
        if self.pad_population and self.backend == "standalone" and P < self._population:
            U = np.concatenate([U, np.repeat(U[-1:], self._population - P, axis=0)])
        self._population = max(self._population, U.shape[0])
        sets = self.space.parameter_sets(U)
        out = simulate_parameter_sets(self.spec, sets, self.inputs, backend=self.backend, **self.backend_options)
        return out[:P]

    def __call__(self, U) -> np.ndarray:
        from sklearn.metrics import log_loss

        U = self.space.check_vector(U, "X")
        rasters = self.rasters(U)
        P, S = rasters.shape[:2]
        n_train = self.x_train.shape[0]
        features = self.features.transform(rasters.reshape((P * S,) + rasters.shape[2:])).reshape(P, S, -1)
        losses, accuracies, classes = np.empty(P), np.empty(P), np.empty(P, dtype=np.int64)
        for p in range(P):
            model = self._clone(self.classifier)
            model.fit(features[p, :n_train], self.y_train)
            proba = model.predict_proba(features[p, n_train:])
            predicted = model.classes_[np.argmax(proba, axis=1)]
            losses[p] = log_loss(self.y_val, proba, labels=model.classes_)
            accuracies[p] = float(np.mean(predicted == self.y_val))
            classes[p] = np.unique(predicted).size
        duration = rasters.shape[-1] * float(self.spec.dt)
        self.last = {"log_loss": losses.tolist(), "accuracy": accuracies.tolist(),
                     "output_rate": (rasters.mean(axis=(1, 2, 3)) * rasters.shape[-1] / duration).tolist(),
                     "silent_fraction": (rasters.sum(axis=3) == 0).mean(axis=(1, 2)).tolist(),
                     "predicted_classes": classes.tolist()}
        self.n_calls += 1
        self.n_candidates += P
        return losses


def validation_objective(spec, train_set, validation_set, *, layers=None, parameters=None, per_neuron=False,
                         backend: str = "standalone", backend_options=None, include_counts: bool = False,
                         classifier=None, C: float = 1.0, seed: int = 0, pad_population: bool = True,
                         bounds=None, scale: str = "auto") -> ValidationObjective:
    """The validation log-loss of the LZC readout as an objective of the normalised intrinsic vector.

    Parameters
    ----------
    spec : NetworkSpec
    train_set, validation_set : SpikeDataset or (spiketrains, labels)
        The readout is fitted on ``train_set`` and scored on ``validation_set`` (``dt`` must equal ``spec.dt``).
    layers, parameters, per_neuron, bounds, scale
        The parameter vector (see :class:`IntrinsicSpace`).
    backend, backend_options
        Simulation backend and its options (see :func:`simulate_parameter_sets`).
    include_counts : bool
        Append the output spike counts to the complexity features.
    classifier : sklearn estimator, optional
        Readout with ``predict_proba`` (cloned per candidate); default :func:`brainlz.readout.default_pipeline`.
    C : float
        Inverse regularisation of the default readout.
    seed : int
        ``random_state`` of the default readout.
    pad_population : bool
        On the standalone backend, pad a population smaller than the largest seen so far to that size (reuses
        the compiled program; the extra copies are discarded).

    Returns
    -------
    ValidationObjective
        Callable ``objective(U [P, d]) -> log-loss [P]``; its ``space`` maps vectors to parameters and ``x0`` is
        the spec's point.
    """
    space = IntrinsicSpace(spec, layers, parameters, per_neuron, bounds, scale)
    return ValidationObjective(spec, train_set, validation_set, space=space, backend=backend,
                               backend_options=backend_options, include_counts=include_counts,
                               classifier=classifier, C=C, seed=seed, pad_population=pad_population)


class TwinObjective:
    """Count loss of the surrogate twin and its BPTT gradient with respect to the normalised intrinsic vector.

    ``objective(U [P, d]) -> loss [P]`` and ``objective.value_and_gradient(U) -> (loss [P], gradient [P, d])``
    (gradients in normalised coordinates: ``dL/du = dL/dp * dp/du``, with ``dp/du = high - low`` in linear and
    ``p * ln(high / low)`` in log coordinates (0 where a constraint repair moved the value), summed over the
    neurons of a layer for shared entries).  Each candidate is one forward (and backward) pass of the twin on all
    samples.

    Parameters
    ----------
    spec : NetworkSpec
    data : SpikeDataset or (spiketrains, labels)
        The samples of the loss.
    space : IntrinsicSpace
        The parameter vector (``t_ref`` is not differentiable and is refused).
    n_classes : int, optional
        Default ``labels.max() + 1``; the output layer needs at least one neuron per class.
    mode : {"hard", "smooth"}
        ``"hard"``: the spiking twin (equal to Brian2) with surrogate gradients; ``"smooth"``: spikes replaced by
        the smooth step, so the loss is smooth and the gradient exact (for checks of the optimiser).
    loss : str
        A loss of :meth:`~brainlz.learning.surrogate.SurrogateNetwork.loss` (default ``"count_ce"``).
    count_scale : float, optional
        Logit per output spike; default ``1 / (10 Hz * trial duration)`` as in ``train_surrogate``.
    surrogate, slope, surrogate_scale, detach_reset
        See :class:`~brainlz.learning.surrogate.SurrogateNetwork`.
    """

    def __init__(self, spec, data, *, space: IntrinsicSpace, n_classes=None, mode: str = "hard",
                 loss: str = "count_ce", count_scale=None, surrogate="fast_sigmoid", slope: float = 1.0,
                 surrogate_scale: float = 1e-3, detach_reset: bool = False):
        from .surrogate import LOSSES, SurrogateNetwork

        spec = _check_spec(spec)
        if not isinstance(space, IntrinsicSpace):
            raise ParameterError("space", space, "expected an IntrinsicSpace")
        self.space = space.with_spec(spec)
        self.x, self.labels = _dataset(data, spec, "data")
        checks.one_of("mode", mode, ("hard", "smooth"), reason="expected 'hard' or 'smooth'")
        checks.one_of("loss", loss, LOSSES)
        self.n_classes = (int(self.labels.max()) + 1 if n_classes is None
                          else checks.integer("n_classes", n_classes, low=2))
        if self.n_classes < 2 or self.labels.max() >= self.n_classes:
            raise ParameterError("n_classes", self.n_classes, "expected >= 2 classes covering the labels")
        if spec.output.n_neurons < self.n_classes:
            raise ParameterError(f"{spec.output.name}.n_neurons", spec.output.n_neurons,
                                 f"needs at least one output neuron per class ({self.n_classes})")
        if count_scale is None:
            count_scale = 1.0 / (10.0 * self.x.shape[2] * float(spec.dt))
        self.count_scale = checks.real("count_scale", checks.real("count_scale", count_scale, types=(numbers.Real,),
                                                                reason="expected a finite number"),
                                       0.0, low_open=True, reason="expected a number > 0.0")
        for b in self.space.blocks:
            model = spec.layer(b.layer).neuron_model
            if b.name == model.refractory:
                raise ParameterError("parameters", b.name, "the refractory period is a whole number of steps and "
                                                           "has no gradient; use the validation objective")
        names = tuple(sorted({b.name for b in self.space.blocks}))
        self.net = SurrogateNetwork(spec, names, surrogate=surrogate, slope=slope, surrogate_scale=surrogate_scale,
                                    detach_reset=detach_reset)
        self.spec = spec
        self.mode = mode
        self.loss_kind = loss
        self.n_calls = 0
        self.last = {}

    @property
    def x0(self) -> np.ndarray:
        return self.space.to_unit(self.spec)

    def _set(self, values):
        for k, layer in enumerate(self.spec.layers):
            self.net.params[k] = {name: np.array(value, dtype=float) for name, value in layer.params.items()}
            for name, value in values.get(layer.name, {}).items():
                self.net.params[k][name] = np.array(value, dtype=float)

    def value_and_gradient(self, U) -> tuple:
        """Loss ``[P]`` and its gradient ``[P, d]`` in normalised coordinates."""
        U = self.space.check_vector(U, "X")
        values = np.empty(U.shape[0])
        grads = np.empty(U.shape)
        accuracy = []
        for p, (row, sets) in enumerate(zip(U, self.space.values(U))):
            self._set(sets)
            result = self.net.forward(self.x, mode=self.mode, keep_tape=True)
            value, grad_inputs, predictions = self.net.loss(result, self.labels, self.n_classes, kind=self.loss_kind,
                                                            count_scale=self.count_scale)
            g = self.net.backward(result, **grad_inputs)
            del result
            values[p] = value
            accuracy.append(float(np.mean(predictions == self.labels)))
            out, offset = [], 0
            for b in self.space.blocks:
                k = self.spec.layer_names.index(b.layer)
                n_neurons = self.spec.layer(b.layer).n_neurons
                mapped = np.broadcast_to(b.value(row[offset:offset + b.size]), (n_neurons,))
                used = np.asarray(sets[b.layer][b.name], dtype=float)
                # dp/du of the map; 0 where a constraint repair replaced the mapped value (p no longer follows u)
                slope = np.where(np.isclose(used, mapped, rtol=1e-12, atol=0.0), b.derivative(mapped), 0.0)
                dp = np.asarray(g["params"][k][b.name], dtype=float) * slope
                out.append(dp if b.size > 1 else np.array([dp.sum()]))
                offset += b.size
            grads[p] = np.concatenate(out)
        self.n_calls += 1
        self.last = {"loss": values.tolist(), "accuracy": accuracy}
        return values, grads

    def __call__(self, U) -> np.ndarray:
        U = self.space.check_vector(U, "X")
        values = np.empty(U.shape[0])
        accuracy = []
        for p, sets in enumerate(self.space.values(U)):
            self._set(sets)
            result = self.net.forward(self.x, mode=self.mode)
            values[p], _, predictions = self.net.loss(result, self.labels, self.n_classes, kind=self.loss_kind,
                                                      count_scale=self.count_scale)
            accuracy.append(float(np.mean(predictions == self.labels)))
        self.n_calls += 1
        self.last = {"loss": values.tolist(), "accuracy": accuracy}
        return values

    def with_spec(self, spec) -> "TwinObjective":
        """The same objective on a network with other weights (same structure)."""
        spec = _check_spec(spec)
        new = object.__new__(TwinObjective)
        new.__dict__.update(self.__dict__)
        new.spec = spec
        new.space = self.space.with_spec(spec)
        new.net = copy.copy(self.net)
        new.net.params = list(self.net.params)
        new.net.weights = [np.array(w, dtype=float) for w in spec.weights]
        new.net.spec = spec
        new.last = {}
        return new


def twin_objective(spec, data, *, layers=None, parameters=None, per_neuron=False, bounds=None, scale: str = "auto",
                   **options) -> TwinObjective:
    """A :class:`TwinObjective` on ``IntrinsicSpace(spec, layers, parameters, per_neuron, bounds, scale)``."""
    return TwinObjective(spec, data, space=IntrinsicSpace(spec, layers, parameters, per_neuron, bounds, scale),
                         **options)


def twin_gradient(spec, data, x=None, *, layers=None, parameters=None, per_neuron=False, bounds=None,
                  scale: str = "auto", **options) -> tuple:
    """BPTT gradient of the twin's count loss with respect to the normalised intrinsic vector.

    Parameters
    ----------
    spec : NetworkSpec
    data : SpikeDataset or (spiketrains, labels)
    x : array [d], optional
        Normalised point (default the spec's own point).
    layers, parameters, per_neuron, bounds, scale
        The parameter vector (see :class:`IntrinsicSpace`).
    **options
        Of :class:`TwinObjective` (``mode``, ``loss``, ``count_scale``, ``n_classes``, surrogate options).

    Returns
    -------
    loss : float
    gradient : ndarray [d]
        ``dloss/du`` (normalised coordinates of the space: linear or logarithmic per parameter).
    space : IntrinsicSpace
        The map between the vector and the parameters.
    """
    objective = twin_objective(spec, data, layers=layers, parameters=parameters, per_neuron=per_neuron,
                               bounds=bounds, scale=scale, **options)
    u = objective.x0 if x is None else x
    values, grads = objective.value_and_gradient(u)
    return float(values[0]), grads[0], objective.space


# ====================================================================== alternation with weight learning
@dataclass(frozen=True)
class OuterSearch:
    """How :func:`train_with_intrinsic` searches: steps, gradient estimator, gains, restarts and selection.

    Parameters
    ----------
    outer_steps : int
        Outer steps (default 5).
    method : {"spsa", "central", "gradient"}
        Gradient estimator (``"gradient"`` needs ``objective="twin"``).
    step_size, perturbation, stability : float
        Gains in normalised units (see :func:`optimize_intrinsic`; SPSA's ``A`` defaults to ``0.1 * outer_steps``).
    max_step : float, "perturbation" or None
        Trust region of every outer step, per coordinate in normalised units (see :func:`optimize_intrinsic`).
        Default ``"perturbation"``: no step goes further than the first step's probes (``perturbation``), i.e.
        beyond the region where the objective was measured.  Without it (``None``), measured on the paper grid
        (regular task, 20 STDP and tempotron cells, ``step_size`` 0.1, ``perturbation`` 0.05): single SPSA steps
        moved a parameter by up to its whole box (the validation log-loss differences of the LZC readout are
        large and noisy), and 16 of the 20 loops stepped into a point where the trained layer was silent (STDP,
        9 of 10) or the readout gave every validation sample one class (tempotron, 7 of 10), where the objective
        is flat (log 2) and the loop stays.
    restart_inner : bool
        Every inner learning starts from the starting spec's weights (default), so that every visited point gets
        as much weight learning as a fixed-parameter run (STDP would otherwise accumulate ``outer_steps + 1``
        epochs).  ``False`` continues from the previous step's weights.
    final_inner : bool
        Retrain the weights once more after the last outer step (default).
    select : {"accuracy", "objective", "last"}
        Which visited point to return: the highest validation accuracy, ties broken by the objective (default;
        the objective alone where it reports no accuracy, e.g. ``"twin"``); the lowest objective; or the last
        point.  Selecting by the validation log-loss alone was measured to prefer a silent output layer (log-loss
        exactly log 2) over an accurate but overconfident readout (log-loss above log 2 on 45 validation
        samples): tempotron meta-neuron cells of the paper grid lost 26 pp that way.
    max_silent_fraction : float or None
        Activity constraint of the selection (default 0.5): a visited point whose output layer leaves more than
        this fraction of its output trains without a spike (training and validation samples), or whose readout
        predicts a single class on the validation samples, is never selected.  The starting point (the fixed
        parameters) is the fallback when no visited point satisfies it.  The history counts the rejected points
        (``constraint``).  Measured before the constraint (issue 21): 3 of 6 learnable STDP cells on task families
        with equal mean rates selected points with 96 %, 94 % and 28 % of output trains silent.  ``None`` turns
        it off; it applies to objectives that report activity (the validation objective), not to ``"twin"``.
    """

    outer_steps: int = 5
    method: str = "spsa"
    step_size: float = 0.1
    perturbation: float = 0.05
    stability: float | None = None
    max_step: float | str | None = "perturbation"
    restart_inner: bool = True
    final_inner: bool = True
    select: str = "accuracy"
    max_silent_fraction: float | None = 0.5

    def __post_init__(self):
        checks.one_of("method", self.method, METHODS)
        object.__setattr__(self, "outer_steps", checks.integer("outer_steps", self.outer_steps, low=1))
        for name in ("final_inner", "restart_inner"):
            checks.flag(name, getattr(self, name), reason="expected True or False")
        checks.one_of("select", self.select, ("accuracy", "objective", "last"),
                      reason="expected 'accuracy', 'objective' or 'last'")
        if self.max_silent_fraction is not None:
            checks.real("max_silent_fraction", self.max_silent_fraction, 0.0, 1.0)
        if isinstance(self.max_step, str) and self.max_step != "perturbation":
            raise ParameterError("max_step", self.max_step, "expected a positive number, 'perturbation' or None")

    @classmethod
    def of(cls, search) -> "OuterSearch":
        """``search`` itself, or the search of a dict of its fields (None: the defaults)."""
        if isinstance(search, cls):
            return search
        if search is None:
            return cls()
        if not isinstance(search, dict):
            raise ParameterError("search", search, "expected an OuterSearch, a dict of its fields or None")
        unknown = set(search) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ParameterError("search", sorted(unknown), "unknown fields of OuterSearch")
        return cls(**search)


#: Options of :class:`IntrinsicSpace` that ``space`` may give as a dict.
SPACE_OPTIONS = ("layers", "parameters", "per_neuron", "bounds", "scale")


def _space_of(space, spec) -> IntrinsicSpace:
    if isinstance(space, IntrinsicSpace):
        return space
    if space is None:
        return IntrinsicSpace(spec)
    if not isinstance(space, dict):
        raise ParameterError("space", space, "expected an IntrinsicSpace, a dict of its options or None")
    unknown = set(space) - set(SPACE_OPTIONS)
    if unknown:
        raise ParameterError("space", sorted(unknown), f"unknown options; accepted: {', '.join(SPACE_OPTIONS)}")
    return IntrinsicSpace(spec, **space)


def _activity(details) -> dict:
    """The activity of the evaluated point (first candidate) of an objective's ``last`` details ({} if none)."""
    details = details or {}
    return {key: float(details[key][0]) for key in ("silent_fraction", "predicted_classes")
            if details.get(key) is not None and len(details[key])}


def select_point(points, select: str = "accuracy", max_silent_fraction=0.5) -> tuple:
    """The visited point :func:`train_with_intrinsic` returns, under the activity constraint.

    Parameters
    ----------
    points : list of dict
        In visiting order (0 = the starting parameters): ``objective``, ``accuracy`` (validation, or None) and,
        where measured, ``silent_fraction`` and ``predicted_classes``.
    select : {"accuracy", "objective", "last"}
        See :class:`OuterSearch`.
    max_silent_fraction : float or None
        A point with more silent output trains than this, or with one predicted class, is not admissible
        (points without activity measurements are).  None: every point is admissible.

    Returns
    -------
    (index, selected_by, constraint)
        ``constraint``: the threshold, which points were admissible, how many were rejected and whether the
        starting point was returned because none was admissible.
    """
    def admissible(point):
        if max_silent_fraction is None or "silent_fraction" not in point or "predicted_classes" not in point:
            return True
        return point["silent_fraction"] <= max_silent_fraction and point["predicted_classes"] >= 2

    ok = [admissible(point) for point in points]
    allowed = [k for k, good in enumerate(ok) if good] or [0]  # the fixed start is the fallback
    by_accuracy = select == "accuracy" and all(point.get("accuracy") is not None for point in points)
    chosen = allowed[-1]
    if select != "last":  # the earliest of equal keys: ties keep the less-moved parameters
        chosen = min(((-points[k]["accuracy"] if by_accuracy else 0.0), points[k]["objective"], k)
                     for k in allowed)[2]
    selected_by = "accuracy" if by_accuracy else ("objective" if select != "last" else "last")
    constraint = {"max_silent_fraction": max_silent_fraction, "admissible": ok, "rejected": ok.count(False),
                  "fallback_to_start": not any(ok)}
    return chosen, selected_by, constraint


def train_with_intrinsic(spec, train_set, validation_set, inner, *, space=None, search=None,
                         objective: str = "validation", objective_options=None, backend: str = "standalone",
                         backend_options=None, seed: int = 0, callback=None, progress=None,
                         refit_set=None) -> tuple:
    """Alternate inner weight learning with outer steps on the intrinsic parameters.

    Outer step ``k``: (1) train the weights with ``inner`` on ``train_set`` (the current intrinsic parameters
    fixed), starting from the initial weights (``search.restart_inner``); (2) one step of
    :class:`IntrinsicOptimizer` on the objective built with the new weights; (3) write the new intrinsic
    parameters into the spec.  After the last step the weights are trained once more for the final parameters
    (``search.final_inner``) and the objective is evaluated at the result.  The result is the visited point
    (weights trained for its parameters) that is best on the validation set, the starting parameters included
    (model selection, ``search.select``), so that a noisy SPSA step into a worse region is not returned.

    Parameters
    ----------
    spec : NetworkSpec
        Starting network.
    train_set, validation_set : SpikeDataset or (spiketrains, labels)
        Inner learning and the readout fit use ``train_set``; the outer objective is scored on ``validation_set``.
    inner : callable
        The weight learning of a step, ``inner(spec, train_set: SpikeDataset, seed) -> (new spec, summary
        dict)``: any learning rule through its contract,
        ``brainlz.learning.rules.make_rule(learning).inner_trainer(spec, backend, backend_options)``.  Its seed is
        ``seed + k`` at step ``k``.
    space : IntrinsicSpace or dict, optional
        The intrinsic parameter vector, its box and its coordinates, or the keyword options of
        :class:`IntrinsicSpace` (:data:`SPACE_OPTIONS`); default every learnable parameter, shared per layer,
        within the models' bounds, logarithmic for the wide positive boxes.
    search : OuterSearch or dict, optional
        Steps, gradient estimator, gains, restarts and selection (default ``OuterSearch()``).
    objective : {"validation", "twin"}
        ``"validation"``: log-loss of the LZC readout on the validation set (:class:`ValidationObjective`,
        simulated with ``backend``); ``"twin"``: count loss of the surrogate twin on the validation set
        (:class:`TwinObjective`).
    objective_options : dict, optional
        Further keyword arguments of the objective class.
    backend, backend_options
        Simulation of the candidates for the validation objective.
    seed : int
        Seed of the SPSA perturbations and (offset by the step) of the inner learning.
    callback : callable, optional
        ``callback(record)`` after every outer step; returning True stops.
    progress : callable, optional
        ``progress(done, outer_steps)`` after every outer step.
    refit_set : SpikeDataset or (spiketrains, labels), optional
        After the selection, learn the weights once more, from the starting weights and with ``seed``, for the
        selected parameters on this set (typically the training and validation samples together: the treatment a
        tuned baseline gives its chosen settings).  Default: keep the selected point's weights (learned on
        ``train_set``).  Recorded as ``history["refit"]`` (inner summary, ``n_samples``).

    Returns
    -------
    spec : NetworkSpec
        Trained weights and intrinsic parameters.
    history : dict
        JSON-serialisable: ``space`` (names, bounds), ``outer`` (one record per step: the optimiser's record,
        ``inner`` summary, objective ``details`` and ``parameters``), ``final`` (objective, details, parameters),
        ``selected`` (index of the returned point: ``k`` = the starting point of outer step ``k``, ``len(outer)`` =
        the final point) and ``selected_objective``, ``stopped_early``, ``n_evaluations``, ``seconds`` and the
        settings.
    """
    spec = _check_spec(spec)
    if not callable(inner):
        raise ParameterError("inner", inner, "expected a callable inner(spec, train_set, seed) -> (spec, dict)")
    search = OuterSearch.of(search)
    checks.one_of("objective", objective, ("validation", "twin"), reason="expected 'validation' or 'twin'")
    if search.method == "gradient" and objective != "twin":
        raise ParameterError("method", search.method, "'gradient' needs objective='twin' (the validation objective "
                                                      "has no gradient)")
    seed = checks.seed("seed", seed)
    checks.callable_or_none("callback", callback)
    checks.callable_or_none("progress", progress)
    if objective_options is not None and not isinstance(objective_options, dict):
        raise ParameterError("objective_options", objective_options, "expected a dict")
    train_data = _spike_dataset(train_set, spec, "train_set")
    refit_data = None if refit_set is None else _spike_dataset(refit_set, spec, "refit_set")
    _dataset(validation_set, spec, "validation_set")
    space = _space_of(space, spec)
    if objective == "validation":
        target = ValidationObjective(spec, train_set, validation_set, space=space, backend=backend,
                                     backend_options=backend_options, seed=seed, **dict(objective_options or {}))
    else:
        target = TwinObjective(spec, validation_set, space=space, **dict(objective_options or {}))
    max_step = search.perturbation if search.max_step == "perturbation" else search.max_step
    optimizer = IntrinsicOptimizer(space.to_unit(spec), None, method=search.method, step_size=search.step_size,
                                   perturbation=search.perturbation, n_steps=search.outer_steps, seed=seed,
                                   stability=search.stability, max_step=max_step)
    outer_steps, restart_inner, select = search.outer_steps, search.restart_inner, search.select
    started = time.perf_counter()
    history = {"space": space.describe(), "rule": getattr(inner, "name", getattr(inner, "__name__", repr(inner))),
               "method": search.method, "objective": objective, "outer_steps": outer_steps,
               "step_size": search.step_size, "perturbation": search.perturbation, "seed": seed,
               "stability": optimizer.stability, "outer": [], "stopped_early": False,
               "restart_inner": bool(restart_inner), "select": select, "max_step": optimizer.max_step}
    start_weights = spec.weights
    visited = []  # (objective, validation accuracy or None, spec with weights trained for it), in visiting order

    def center_accuracy(details):
        accuracy = (details or {}).get("accuracy")
        return None if accuracy is None or not len(accuracy) else float(np.asarray(accuracy).ravel()[0])

    def parameters_of(current):
        return {b.layer + "." + b.name: np.asarray(current.layer(b.layer).params[b.name], dtype=float).tolist()
                for b in space.blocks}

    for k in range(outer_steps):
        if restart_inner:
            spec = spec.with_weights(start_weights)
        spec, summary = inner(spec, train_data, seed + k)
        target = target.with_spec(spec)
        gradient = target.value_and_gradient if search.method == "gradient" else None
        record = optimizer.step(target, gradient)
        visited.append((np.inf if record["objective"] is None else float(record["objective"]),
                        center_accuracy(target.last), spec, _activity(target.last)))
        spec = space.apply(spec, optimizer.u)
        record.update(inner=summary, details=dict(target.last), parameters=parameters_of(spec))
        history["outer"].append(jsonable(record))
        if progress is not None:
            progress(k + 1, outer_steps)
        if callback is not None and callback(record):
            history["stopped_early"] = True
            break
    final = {}
    if search.final_inner:
        if restart_inner:
            spec = spec.with_weights(start_weights)
        spec, final["inner"] = inner(spec, train_data, seed + len(history["outer"]))
    target = target.with_spec(spec)
    final["objective"] = float(target(optimizer.u[None, :])[0])
    final["details"] = dict(target.last)
    final["parameters"] = parameters_of(spec)
    final["x_unit"] = optimizer.u
    history["final"] = jsonable(final)
    visited.append((final["objective"], center_accuracy(final["details"]), spec, _activity(final["details"])))
    chosen, selected_by, history["constraint"] = select_point(
        [{"objective": value, "accuracy": accuracy, **activity} for value, accuracy, _, activity in visited],
        select, search.max_silent_fraction)
    spec = visited[chosen][2]
    if refit_data is not None:
        spec, refit_inner = inner(spec.with_weights(start_weights), refit_data, seed)
        history["refit"] = {"inner": refit_inner, "n_samples": int(refit_data.n_samples)}
    history["selected"] = chosen
    history["selected_by"] = selected_by
    history["selected_objective"] = float(visited[chosen][0])
    history["selected_accuracy"] = visited[chosen][1]
    history["n_evaluations"] = optimizer.n_evaluations + 1
    history["seconds"] = time.perf_counter() - started
    return spec, jsonable(history)
