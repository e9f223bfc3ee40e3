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

Model search path (:func:`find_model_file`): a name ending in ``.py`` is the path of a model file and is loaded as
it is; any other name is looked up in the directories of an explicit ``path`` argument, then in those of the
environment variable ``BRAINLZ_MODEL_PATH`` (``os.pathsep``-separated), then among the built-in models
(:func:`builtin_dir`), then in ``./models`` of the current working directory.  The first two are the user's
explicit choice and may replace a built-in model; ``./models`` only adds models: a ``./models/lif.py`` that differs
from the built-in ``lif`` is an error (it is never run), not a silent replacement.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import Equations, Quantity, Unit, get_dimensions, have_same_dimensions

from .errors import ModelError, ParameterError

__all__ = ["Param", "NeuronModel", "load_model", "available_models", "model_search_path", "find_model_file",
           "builtin_dir", "parse_constraint", "constraint_holds"]


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


# ---------------------------------------------------------------------- checking a model's code when it is made
#: Signatures of the models whose code passed :func:`_check_code` (a model file may be made many times).
_CHECKED: set = set()
_BRIAN_ERRORS = (KeyError, SyntaxError, ValueError, TypeError, NotImplementedError)  # + DimensionMismatchError


def _unit_text(dim) -> str:
    """``volt``, ``amp``, ``1 (dimensionless)``: a dimension as a user writes its unit."""
    from brian2.units.fundamentalunits import get_unit

    return "1 (dimensionless)" if dim.is_dimensionless else repr(get_unit(dim))


def _problem(exc) -> str:
    """One line describing what a Brian2 parser or unit check found (an unknown name, a unit mismatch, ...)."""
    if isinstance(exc, KeyError) and str(exc.args[0] if exc.args else "").startswith("Unknown identifier "):
        return f"unknown name {str(exc.args[0])[len('Unknown identifier '):]!r}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def _model_variables(eqs, weight_dim=None) -> dict:
    """What the model's code may name: Brian2's units, functions and constants, ``t``, ``dt``, ``i``, ... and the
    model's own variables (with ``weight_dim``: the synapse's view, ``w`` and every model variable ``<name>_post`` and ``<name>_pre``).
    """
    from brian2.core.functions import DEFAULT_CONSTANTS, DEFAULT_FUNCTIONS
    from brian2.core.namespace import DEFAULT_UNITS
    from brian2.core.variables import Variable
    from brian2.units import second
    from brian2.units.fundamentalunits import DIMENSIONLESS

    class TimeStep(Variable):  # the exact integrator reads a value of dt (Brian2's default, 0.1 ms, stands in)
        def get_value(self):
            return np.array([1e-4])

    names = {**DEFAULT_UNITS, **DEFAULT_FUNCTIONS, **DEFAULT_CONSTANTS}
    second_dim = second.dim
    for name in ("t", "lastspike") + (("lastupdate",) if weight_dim is not None else ()):
        names[name] = Variable(name, dimensions=second_dim)
    names["dt"] = TimeStep("dt", dimensions=second_dim)
    for name in ("i", "j", "N", "N_pre", "N_post", "N_incoming", "N_outgoing", "t_in_timesteps"):
        names[name] = Variable(name, dimensions=DIMENSIONLESS, dtype=np.int32)
    names["not_refractory"] = Variable("not_refractory", dimensions=DIMENSIONLESS, dtype=bool)
    for xi in eqs.stochastic_variables:
        names[xi] = Variable(xi, dimensions=second_dim ** -0.5)
    for name in eqs.names:
        boolean = eqs[name].var_type == "boolean"
        variable = Variable(name, dimensions=eqs.dimensions[name], dtype=bool if boolean else None)
        names[name] = variable
        if weight_dim is not None:
            for side in ("post", "pre"):  # _pre: read only, where the presynaptic layer has the same model
                names[f"{name}_{side}"] = Variable(f"{name}_{side}", dimensions=eqs.dimensions[name],
                                                   dtype=bool if boolean else None)
    if weight_dim is not None:
        names["w"] = Variable("w", dimensions=weight_dim)
        names["delay"] = Variable("delay", dimensions=second_dim)  # Brian2's synaptic delay
    return names


def _check_statements(where: str, code: str, names: dict, writable: set) -> None:
    """Check every statement of Brian2 code: its target is in ``writable`` (or a new temporary name), every name
    it reads is known and both sides have the same unit.  Raises ModelError naming ``where`` and the statement."""
    from brian2.core.variables import Variable
    from brian2.parsing.expressions import parse_expression_dimensions
    from brian2.parsing.statements import parse_statement
    from brian2.units.fundamentalunits import DimensionMismatchError, have_same_dimensions

    names = dict(names)
    statements = [line.strip() for line in re.split(r"[;\n]", code) if line.strip() and not line.strip()
                  .startswith("#")]
    for line in statements:
        try:
            target, op, expression, _ = parse_statement(line)
        except _BRIAN_ERRORS as exc:
            raise ModelError(f"{where} statement {line!r}: not a Brian2 statement 'name = expression' "
                             f"({_problem(exc)})") from None
        if target not in writable and (target in names or op != "="):
            reason = "unknown name" if target not in names else "not a state variable or parameter of the model"
            raise ModelError(f"{where} statement {line!r}: cannot assign to {target!r} ({reason}); assignable: "
                             f"{', '.join(sorted(writable))}")
        try:
            dim = parse_expression_dimensions(expression if op in ("=", "+=", "-=") else f"{target} {op[0]} "
                                              f"({expression})", names)
        except (DimensionMismatchError, *_BRIAN_ERRORS) as exc:
            raise ModelError(f"{where} statement {line!r}: {_problem(exc)}") from None
        if target in names:
            expected = get_dimensions(names[target])
            if not have_same_dimensions(dim, expected):
                raise ModelError(f"{where} statement {line!r}: the right-hand side is in {_unit_text(dim)}, "
                                 f"{target} is in {_unit_text(expected)}")
        else:  # a temporary name, known to the statements after it
            names[target] = Variable(target, dimensions=get_dimensions(dim))


def _check_code(model: "NeuronModel", eqs) -> None:
    """Check the names and units of every equation and code statement of ``model`` (Brian2's own parser and unit
    checks, on no device) and that its declarations agree with its parameters; raise ModelError in one line."""
    from brian2.equations.equations import DIFFERENTIAL_EQUATION, SUBEXPRESSION
    from brian2.parsing.expressions import is_boolean_expression, parse_expression_dimensions
    from brian2.stateupdaters.base import StateUpdateMethod, UnsupportedEquationsException
    from brian2.units.fundamentalunits import DimensionMismatchError, have_same_dimensions

    label = f"model {model.name!r}"
    for attribute in ("threshold", "reset", "refractory", "method", "voltage", "threshold_expression"):
        value = getattr(model, attribute)
        if not isinstance(value, str):
            raise ModelError(f"{label}: {attribute} = {value!r}: expected Brian2 code as a string")
    if not model.threshold.strip():
        raise ModelError(f"{label}: threshold is empty; expected a condition such as 'v > V_th'")
    on_pre = model.on_pre if isinstance(model.on_pre, dict) else {None: model.on_pre}
    if not on_pre or not all(isinstance(code, str) and code.strip() for code in on_pre.values()):
        raise ModelError(f"{label}: on_pre = {model.on_pre!r}: expected synapse code such as 'I_syn_post += w'")
    if not isinstance(model.initial, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in model.initial.items()):
        raise ModelError(f"{label}: initial = {model.initial!r}: expected a dict state -> expression (strings)")
    if not isinstance(model.weight_unit, (Unit, Quantity)):
        raise ModelError(f"{label}: weight_unit = {model.weight_unit!r}: expected a Brian2 unit, e.g. amp")
    # declarations: every declared parameter has a Param spec in the declared unit
    for pname, spec in model.params.items():
        if pname in eqs.diff_eq_names or pname in eqs.subexpr_names:
            raise ModelError(f"{label}: parameter {pname!r} is declared as an equation, expected '{pname} : unit'")
        if not have_same_dimensions(spec.unit, eqs.dimensions[pname]):
            raise ModelError(f"{label}: parameter {pname!r} is declared in {_unit_text(eqs.dimensions[pname])} in "
                             f"the equations but its Param is in {spec.unit}")
    unspecified = [name for name in eqs.parameter_names if name not in model.params
                   and "linked" not in eqs[name].flags]  # a linked variable takes its value from another group
    if unspecified:
        raise ModelError(f"{label}: the equations declare {unspecified[0]!r} without a Param in params (its value "
                         f"would never be set)")
    key = (model.equations, model.threshold, model.reset, model.refractory, model.method,
           tuple(sorted(on_pre.items(), key=str)), str(get_dimensions(model.weight_unit)), model.voltage,
           model.threshold_expression, tuple(sorted(model.initial.items())))
    if key in _CHECKED:
        return
    names = _model_variables(eqs)
    second_dim = get_dimensions(names["t"])
    state = set(eqs.diff_eq_names) | set(eqs.parameter_names)
    for name, eq in eqs.items():
        if eq.type not in (DIFFERENTIAL_EQUATION, SUBEXPRESSION):
            continue
        statement = f"d{name}/dt = {eq.expr}" if eq.type == DIFFERENTIAL_EQUATION else f"{name} = {eq.expr}"
        expected = eqs.dimensions[name] / second_dim if eq.type == DIFFERENTIAL_EQUATION else eqs.dimensions[name]
        try:
            dim = parse_expression_dimensions(str(eq.expr), names)
        except (DimensionMismatchError, *_BRIAN_ERRORS) as exc:
            raise ModelError(f"{label}: equation {statement!r}: {_problem(exc)}") from None
        if not have_same_dimensions(dim, expected):
            declared = eqs.dimensions[name]
            wanted = _unit_text(expected) if eq.type == SUBEXPRESSION else (
                "1/second" if declared.is_dimensionless else f"{_unit_text(declared)}/second")
            raise ModelError(f"{label}: equation {statement!r}: the right-hand side is in {_unit_text(dim)}, "
                             f"expected {wanted}")
    try:
        parse_expression_dimensions(model.threshold, names)
        boolean = is_boolean_expression(model.threshold, names)
    except (DimensionMismatchError, *_BRIAN_ERRORS) as exc:
        raise ModelError(f"{label}: threshold {model.threshold!r}: {_problem(exc)}") from None
    if not boolean:
        raise ModelError(f"{label}: threshold {model.threshold!r} is not a condition; expected e.g. 'v > V_th'")
    _check_statements(f"{label}: reset", model.reset, names, state)
    if model.refractory.strip():
        try:
            dim = parse_expression_dimensions(model.refractory, names)
            boolean = is_boolean_expression(model.refractory, names)
        except (DimensionMismatchError, *_BRIAN_ERRORS) as exc:
            raise ModelError(f"{label}: refractory {model.refractory!r}: {_problem(exc)}") from None
        if not boolean and not have_same_dimensions(dim, second_dim):
            raise ModelError(f"{label}: refractory {model.refractory!r} is in {_unit_text(dim)}; expected a time "
                             f"(e.g. 't_ref') or a condition")
    synapse_names = _model_variables(eqs, get_dimensions(model.weight_unit))
    writable = {"w"} | state | {f"{name}_post" for name in state}
    for target, code in on_pre.items():
        _check_statements(f"{label}: on_pre" + (f"[{target!r}]" if target is not None else ""), code,
                          synapse_names, writable)
    for name, expression in model.initial.items():
        if name not in eqs.diff_eq_names:
            raise ModelError(f"{label}: initial[{name!r}]: not a state variable; state variables: "
                             f"{', '.join(eqs.diff_eq_names)}")
        value = expression.strip()
        if value in model.params:
            if not have_same_dimensions(eqs.dimensions[value], eqs.dimensions[name]):
                raise ModelError(f"{label}: initial[{name!r}] = {expression!r}: {value} is in "
                                 f"{_unit_text(eqs.dimensions[value])}, {name} is in "
                                 f"{_unit_text(eqs.dimensions[name])}")
            continue
        try:
            float(value)
        except ValueError:
            raise ModelError(f"{label}: initial[{name!r}] = {expression!r}: expected the name of a parameter or a "
                             f"number (SI units)") from None
    if model.threshold_expression.strip():
        try:
            dim = parse_expression_dimensions(model.threshold_expression, names)
        except (DimensionMismatchError, *_BRIAN_ERRORS) as exc:
            raise ModelError(f"{label}: threshold_expression {model.threshold_expression!r}: {_problem(exc)}") \
                from None
        if model.voltage in eqs.names and not have_same_dimensions(dim, eqs.dimensions[model.voltage]):
            raise ModelError(f"{label}: threshold_expression {model.threshold_expression!r} is in {_unit_text(dim)}, "
                             f"the voltage {model.voltage} is in {_unit_text(eqs.dimensions[model.voltage])}")
    if model.method not in StateUpdateMethod.stateupdaters:
        raise ModelError(f"{label}: method {model.method!r}: unknown integration method; known: "
                         f"{', '.join(sorted(StateUpdateMethod.stateupdaters))}")
    try:
        StateUpdateMethod.apply_stateupdater(eqs, names, model.method, group_name=model.name)
    except (DimensionMismatchError, UnsupportedEquationsException, *_BRIAN_ERRORS) as exc:
        raise ModelError(f"{label}: method {model.method!r} cannot integrate the equations: {_problem(exc)}") \
            from None
    _CHECKED.add(key)


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
        for label in ("bounds", "bio_range"):
            pair = getattr(self, label)
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ModelError(f"parameter {self.name}.{label} = {pair!r}: expected (low, high)")
        for label, value in (("default", self.default), ("bounds[0]", self.bounds[0]),
                             ("bounds[1]", self.bounds[1]), ("bio_range[0]", self.bio_range[0]),
                             ("bio_range[1]", self.bio_range[1])):
            if not have_same_dimensions(value, self.unit):
                raise ModelError(f"parameter {self.name}.{label} = {value!r}: expected a quantity in {self.unit}")
            if np.ndim(value) != 0 or not np.isfinite(float(value)):
                raise ModelError(f"parameter {self.name}.{label} = {value!r}: expected one finite value")
        for label in ("bounds", "bio_range"):
            low, high = getattr(self, label)
            if float(low) > float(high):
                raise ModelError(f"parameter {self.name}.{label} = ({low}, {high}): low > high (reversed range)")
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
        _check_code(self, eqs)

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

    def fingerprint(self) -> str:
        """Hash (16 hex digits) of what defines the model's dynamics.

        It covers the equations, threshold, reset, refractoriness, integration method, initial values, synaptic
        code, weight unit, voltage, stochasticity, constraints and every parameter's name, unit and bounds; not the
        name, the documentation or the defaults (a saved network holds its own values).  Whitespace in the code is
        ignored.  :meth:`brainlz.network.NetworkSpec.save` stores it; ``load`` refuses a model that changed since.
        """
        import hashlib
        import json

        def code(text):
            if isinstance(text, dict):  # code per target (on_pre of several pathways)
                return {str(key): code(value) for key, value in sorted(text.items(), key=str)}
            return [" ".join(line.split()) for line in str(text).splitlines() if line.strip()]

        def quantity(value):
            return [repr(float(value)), str(get_dimensions(value))]

        content = {
            "equations": code(self.equations), "threshold": code(self.threshold), "reset": code(self.reset),
            "refractory": code(self.refractory), "method": str(self.method),
            "initial": {key: code(value) for key, value in sorted(self.initial.items())},
            "on_pre": code(self.on_pre), "weight_unit": str(get_dimensions(self.weight_unit)),
            "voltage": self.voltage, "stochastic": bool(self.stochastic),
            "constraints": [code(c) for c in self.constraints],
            "params": [[name, str(get_dimensions(spec.unit)), quantity(spec.bounds[0]), quantity(spec.bounds[1])]
                       for name, spec in self.params.items()],
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


_BUILTIN_KINDS = ("models", "protocols")


def builtin_dir(kind: str = "models") -> Path:
    """The folder of brainlz's built-in neuron models (``"models"``) or protocols (``"protocols"``).

    A built package (wheel) carries them in ``brainlz/_builtin/<kind>/``, copied there from the repository's
    top-level ``models/`` and ``protocols/`` when it is built (see setup.py); a checkout of the repository (an
    editable install) has no such copy, and its top-level folders are returned.

    Raises
    ------
    ParameterError
        If ``kind`` is neither ``"models"`` nor ``"protocols"``.
    """
    if kind not in _BUILTIN_KINDS:
        raise ParameterError("kind", kind, f"expected one of {_BUILTIN_KINDS}")
    return _builtin_dir(kind)


@functools.lru_cache(maxsize=None)
def _builtin_dir(kind: str) -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "_builtin" / kind
    checkout = package.parent / kind
    if not installed.is_dir() and (package.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return installed


def _explicit_dirs(extra=None) -> list:
    """The user's own model directories: ``extra``, then ``$BRAINLZ_MODEL_PATH``."""
    paths = []
    if extra is not None:
        paths.extend([extra] if isinstance(extra, (str, os.PathLike)) else list(extra))
    env = os.environ.get("BRAINLZ_MODEL_PATH")
    if env:
        paths.extend(p for p in env.split(os.pathsep) if p)
    return [Path(p).expanduser().resolve() for p in paths]


def model_search_path(extra=None) -> list:
    """Directories searched for model files by name, in order.

    Parameters
    ----------
    extra : str or Path or list, optional
        Directories searched first.

    Returns
    -------
    list of Path
        ``extra``, the directories of ``$BRAINLZ_MODEL_PATH``, the built-in models (:func:`builtin_dir`) and
        ``./models``, without repetitions.  The last only adds models (see :func:`find_model_file`).
    """
    unique = []
    for directory in [*_explicit_dirs(extra), builtin_dir("models"), (Path.cwd() / "models").resolve()]:
        if directory not in unique:
            unique.append(directory)
    return unique


def find_model_file(name, path=None) -> Path:
    """The file :func:`load_model` loads for ``name``.

    Parameters
    ----------
    name : str or Path
        A model name (``"lif"``) or the path of a model file (ending in ``.py``; relative to the current folder).
    path : str or Path or list, optional
        Directories searched first.

    Returns
    -------
    Path
        The first ``<name>.py`` in ``path``, ``$BRAINLZ_MODEL_PATH`` and the built-in models, else in
        ``./models``.  A ``./models/<name>.py`` never replaces a built-in model of that name: if its content
        differs, it is an error (the file is not run); putting ``./models`` on ``BRAINLZ_MODEL_PATH`` or giving the
        file's path as the model uses it.

    Raises
    ------
    ParameterError
        If there is no such model (the message lists the known models) or ``./models`` clashes with a built-in.
    """
    if isinstance(name, os.PathLike) or (isinstance(name, str) and name.endswith(".py")):
        file = Path(name).expanduser()
        if not file.is_file():
            raise ParameterError("model", str(name), "no such model file")
        return file.resolve()
    if not isinstance(name, str) or not name.isidentifier():
        raise ParameterError("model", name, "expected the name of a model file, e.g. 'lif', or its path (*.py)")
    for directory in _explicit_dirs(path):
        if (directory / f"{name}.py").is_file():
            return directory / f"{name}.py"
    builtin = builtin_dir("models") / f"{name}.py"
    local = Path.cwd() / "models" / f"{name}.py"
    if builtin.is_file():
        if local.is_file() and not local.samefile(builtin) and local.read_bytes() != builtin.read_bytes():
            local = local.resolve()
            raise ParameterError("model", name, f"{local} differs from the built-in model {name!r} and does not "
                                                f"replace it; to use it, set BRAINLZ_MODEL_PATH={local.parent} or "
                                                f"give the file's path as the model, or rename it")
        return builtin
    if local.is_file():
        return local.resolve()
    raise ParameterError("model", name, f"unknown model; known models: {', '.join(available_models(path))}")


def available_models(path=None) -> list:
    """Names of all model files found on the search path (:func:`model_search_path`)."""
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
    name : str or Path or NeuronModel
        Name of a model file (without ``.py``) on the search path, or the path of a model file (ending in ``.py``);
        see :func:`find_model_file`.  A ``NeuronModel`` is returned unchanged.
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
        If no model of that name exists (the message lists the known models), ``./models`` holds a file that
        differs from the built-in model of that name, or options are not accepted.
    ModelError
        If the file does not define a model.
    """
    if isinstance(name, NeuronModel):
        return name
    file = find_model_file(name, path)
    key = (str(file), file.stat().st_mtime_ns)
    module = _CACHE.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(f"brainlz_models.{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ModelError as exc:  # a malformed model (NeuronModel's checks): one line naming the file
            raise ModelError(f"model file {file}: {exc}") from None
        except Exception as exc:
            raise ModelError(f"model file {file} failed to load: {type(exc).__name__}: {exc}") from None
        _CACHE[key] = module
        sys.modules.setdefault(f"brainlz_models.{file.stem}", module)
    if hasattr(module, "make_model"):
        try:
            model = module.make_model(**options)
        except ModelError as exc:
            raise ModelError(f"model file {file}: {exc}") from None
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
