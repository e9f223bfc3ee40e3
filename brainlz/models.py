"""Neuron models: Brian2 equation strings with specified intrinsic parameters.

A neuron model is written once, as Brian2 equations, in a file under ``models/``.  The file defines either a
module-level ``MODEL`` (a :class:`NeuronModel`) or a function ``make_model(**options)`` returning one (for models
with variants, e.g. the meta-neuron's stochastic firing).  ``load_model("lif")`` finds ``models/lif.py`` and
returns its model; users add a model by adding a file, without touching ``brainlz/``.

Conventions every model follows (the network builder relies on them):

* every intrinsic parameter is a per-neuron variable declared in the equations (``tau_m : second``) and has
  a :class:`Param` spec with unit, default, bounds, learnability and a biological reference range with its source;
* the membrane potential is the state variable named by ``NeuronModel.voltage`` (``v``);
* synaptic input arrives through ``NeuronModel.on_pre``, Brian2 code executed in the synapse with the
  synaptic weight ``w`` (unit ``NeuronModel.weight_unit``) and postsynaptic variables suffixed ``_post``;
* refractoriness is a per-neuron parameter (``t_ref``) used as ``refractory='t_ref'``.

Model search path: explicit ``path`` arguments, then the directories in the environment variable
``BRAINLZ_MODEL_PATH`` (``os.pathsep``-separated), then ``./models`` of the current working directory, then the
``models/`` directory that ships beside the ``brainlz`` package.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import Equations, Quantity, Unit, get_dimensions, have_same_dimensions

from .errors import ModelError, ParameterError

__all__ = ["Param", "NeuronModel", "load_model", "available_models", "model_search_path", "parse_constraint",
           "constraint_holds"]


_CONSTRAINT = re.compile(r"^\s*(\w+)\s*(<=|<|>=|>)\s*(\w+)\s*$")
_OPERATORS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def parse_constraint(constraint: str) -> tuple[str, str, str]:
    """``(left, operator, right)`` of a model constraint such as ``"V_reset < V_th"``.

    Raises
    ------
    ModelError
        If ``constraint`` is not ``name op name`` with ``op`` one of ``<``, ``<=``, ``>``, ``>=``.
    """
    match = _CONSTRAINT.match(constraint) if isinstance(constraint, str) else None
    if match is None:
        raise ModelError(f"constraint {constraint!r}: expected 'name < name' (or <=, >, >=)")
    return match.groups()


def constraint_holds(operator: str, left, right) -> np.ndarray:
    """Element-wise truth of ``left <operator> right`` (bool array)."""
    return _OPERATORS[operator](left, right)


@dataclass(frozen=True)
class Param:
    """Specification of one intrinsic (per-neuron) parameter.

    Parameters
    ----------
    name : str
        Variable name in the equations, e.g. ``"tau_m"``.
    unit : brian2.Unit
        Unit of the variable, e.g. ``ms``.  Values are stored as Brian2 quantities.
    default : Quantity
        Default value.
    bounds : tuple of Quantity
        ``(low, high)``: the values a learning rule may use (inclusive).
    bio_range : tuple of Quantity
        ``(low, high)``: the range measured in real neurons.
    source : str
        Citation for ``bio_range``.
    learnable : bool
        Whether learning rules may change the parameter by default.
    description : str
        One line on what the parameter is.
    """

    name: str
    unit: Unit
    default: Quantity
    bounds: tuple
    bio_range: tuple
    source: str
    learnable: bool = True
    description: str = ""

    def __post_init__(self):
        for label, value in (("default", self.default), ("bounds[0]", self.bounds[0]),
                             ("bounds[1]", self.bounds[1]), ("bio_range[0]", self.bio_range[0]),
                             ("bio_range[1]", self.bio_range[1])):
            if not have_same_dimensions(value, self.unit):
                raise ModelError(f"parameter {self.name}.{label} = {value!r}: expected a quantity in {self.unit}")
        if not float(self.bounds[0]) <= float(self.default) <= float(self.bounds[1]):
            raise ModelError(f"parameter {self.name}: default {self.default} outside bounds {self.bounds}")

    def check(self, values, field_name: str | None = None):
        """Validate ``values`` (scalar or array) against unit and bounds; return a float64 array in SI units.

        Raises
        ------
        ParameterError
            If the unit is wrong, a value is not finite or lies outside ``bounds``.
        """
        label = field_name or self.name
        if not isinstance(values, Quantity) and not self.unit == Unit(1):
            raise ParameterError(label, values, f"expected a quantity in {self.unit}, e.g. {self.default!r}")
        if not have_same_dimensions(values, self.unit):
            raise ParameterError(label, values, f"expected a quantity in {self.unit} (got dimensions "
                                                f"{get_dimensions(values)})")
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ParameterError(label, values, "values must be finite")
        low, high = float(self.bounds[0]), float(self.bounds[1])
        bad = (array < low - 1e-12 * abs(low)) | (array > high + 1e-12 * abs(high))
        if np.any(bad):
            first = array.flat[int(np.flatnonzero(bad)[0])]
            raise ParameterError(label, Quantity(first, dim=get_dimensions(self.unit)),
                                 f"outside the bounds [{self.bounds[0]}, {self.bounds[1]}]")
        return array


@dataclass(frozen=True)
class NeuronModel:
    """A spiking neuron model written as Brian2 equations.

    Parameters
    ----------
    name : str
        Name under which the model is loaded.
    equations : str
        Brian2 equations, including a declaration ``name : unit`` for every parameter in ``params``.
    threshold, reset : str
        Brian2 threshold condition and reset code.
    refractory : str
        Refractoriness as a Brian2 expression (``"t_ref"``).
    method : str
        Brian2 integration method.
    params : dict of str to Param
        The intrinsic parameters.
    initial : dict of str to str
        Initial values of state variables as Brian2 expressions (``{"v": "E_L"}``); states not listed start at 0.
    on_pre : str
        Code run in the synapse on a presynaptic spike; ``w`` is the weight.
    weight_unit : brian2.Unit
        Unit of the synaptic weight ``w``.
    voltage : str
        Name of the membrane potential.
    threshold_expression : str
        Expression of the (possibly time-varying) firing threshold, for annotation of figures.
    stochastic : bool
        Whether firing is random (uses ``rand()`` in the threshold).
    constraints : tuple of str
        Inequalities between parameters that must hold per neuron, e.g. ``"V_reset < V_th"``.
    doc : str
        Description with the equations in mathematical notation and citations.
    """

    name: str
    equations: str
    threshold: str
    reset: str
    params: dict
    refractory: str = "t_ref"
    method: str = "exponential_euler"
    initial: dict = field(default_factory=dict)
    on_pre: str = "I_syn_post += w"
    weight_unit: Unit = None
    voltage: str = "v"
    threshold_expression: str = "V_th"
    stochastic: bool = False
    constraints: tuple = ()
    doc: str = ""

    def __post_init__(self):
        try:
            eqs = Equations(self.equations)
        except Exception as exc:  # Brian2 raises several types for bad equations
            raise ModelError(f"model {self.name!r}: equations do not parse: {exc}") from None
        declared = set(eqs.names)
        for pname, spec in self.params.items():
            if pname != spec.name:
                raise ModelError(f"model {self.name!r}: params key {pname!r} != Param.name {spec.name!r}")
            if pname not in declared:
                raise ModelError(f"model {self.name!r}: parameter {pname!r} is not declared in the equations")
        if self.voltage not in eqs.diff_eq_names:
            raise ModelError(f"model {self.name!r}: voltage {self.voltage!r} is not a differential equation")
        if self.weight_unit is None:
            raise ModelError(f"model {self.name!r}: weight_unit is required")
        for constraint in self.constraints:
            try:
                sides = parse_constraint(constraint)
            except ModelError as exc:
                raise ModelError(f"model {self.name!r}: {exc}") from None
            unknown = [side for side in sides[::2] if side not in self.params]
            if unknown:
                raise ModelError(f"model {self.name!r}: constraint {constraint!r} names {unknown[0]!r}, which is "
                                 f"not a parameter; parameters: {', '.join(self.params)}")

    @property
    def parameter_names(self) -> tuple:
        """Names of the intrinsic parameters, in declaration order."""
        return tuple(self.params)

    @property
    def learnable_parameters(self) -> tuple:
        """Names of the parameters marked learnable."""
        return tuple(name for name, spec in self.params.items() if spec.learnable)

    def default_values(self, n_neurons: int) -> dict:
        """Per-neuron parameter arrays at their defaults.

        Parameters
        ----------
        n_neurons : int
            Number of neurons.

        Returns
        -------
        dict of str to Quantity
            One array of shape ``(n_neurons,)`` per parameter, with units.
        """
        return {name: np.full(n_neurons, float(spec.default)) * spec.unit for name, spec in self.params.items()}

    def state_variables(self) -> tuple:
        """Names of the differential-equation state variables."""
        return tuple(Equations(self.equations).diff_eq_names)


def model_search_path(extra=None) -> list:
    """Directories searched for model files, in order.

    Parameters
    ----------
    extra : str or Path or list, optional
        Directories searched first.
    """
    paths = []
    if extra is not None:
        paths.extend([extra] if isinstance(extra, (str, Path)) else list(extra))
    env = os.environ.get("BRAINLZ_MODEL_PATH")
    if env:
        paths.extend(p for p in env.split(os.pathsep) if p)
    paths.append(Path.cwd() / "models")
    paths.append(Path(__file__).resolve().parent.parent / "models")
    unique = []
    for p in paths:
        p = Path(p).resolve()
        if p not in unique:
            unique.append(p)
    return unique


def available_models(path=None) -> list:
    """Names of all model files found on the search path."""
    names = set()
    for directory in model_search_path(path):
        if directory.is_dir():
            names.update(f.stem for f in directory.glob("*.py") if not f.stem.startswith("_"))
    return sorted(names)


_CACHE: dict = {}


def load_model(name, path=None, **options) -> NeuronModel:
    """Load a neuron model by name.

    Parameters
    ----------
    name : str or NeuronModel
        File name (without ``.py``) of the model on the search path; a ``NeuronModel`` is returned unchanged.
    path : str or Path or list, optional
        Extra directories to search first.
    **options
        Passed to the model file's ``make_model`` (e.g. ``stochastic=True`` for the meta-neuron).

    Returns
    -------
    NeuronModel

    Raises
    ------
    ParameterError
        If no model of that name exists (the message lists the known models) or options are not accepted.
    ModelError
        If the file does not define a model.
    """
    if isinstance(name, NeuronModel):
        return name
    if not isinstance(name, str) or not name.isidentifier():
        raise ParameterError("model", name, "expected the name of a model file, e.g. 'lif'")
    for directory in model_search_path(path):
        file = directory / f"{name}.py"
        if file.is_file():
            break
    else:
        raise ParameterError("model", name, f"unknown model; known models: {', '.join(available_models(path))}")
    key = (str(file), file.stat().st_mtime_ns)
    module = _CACHE.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(f"brainlz_models.{name}", file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ModelError(f"model file {file} failed to load: {type(exc).__name__}: {exc}") from None
        _CACHE[key] = module
        sys.modules.setdefault(f"brainlz_models.{name}", module)
    if hasattr(module, "make_model"):
        try:
            model = module.make_model(**options)
        except TypeError as exc:
            raise ParameterError("model options", options, f"not accepted by model {name!r}: {exc}") from None
    elif hasattr(module, "MODEL"):
        if options:
            raise ParameterError("model options", options, f"model {name!r} takes no options")
        model = module.MODEL
    else:
        raise ModelError(f"model file {file} defines neither MODEL nor make_model()")
    if not isinstance(model, NeuronModel):
        raise ModelError(f"model file {file}: MODEL is a {type(model).__name__}, not a NeuronModel")
    return model
