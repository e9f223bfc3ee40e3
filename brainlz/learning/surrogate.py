r"""Surrogate-gradient training through a differentiable twin derived from the model's Brian2 equations.

Brian2 has no gradients.  brainlz gets them from a *twin*: a discrete-time numpy model generated from the same
:class:`~brainlz.models.NeuronModel` that Brian2 simulates.  A model is written once (a file in ``models/``),
trained here by backpropagation through time (BPTT), and the trained weights and intrinsic parameters go back
into a :class:`~brainlz.network.NetworkSpec` that any Brian2 backend simulates.

How the twin is derived (:func:`derive_twin`)
---------------------------------------------
1. Brian2 itself produces the state update: a throw-away ``NeuronGroup`` of the model is created and its state
   updater's abstract code is taken (the integration method of the model file: ``exact``, ``euler``,
   ``exponential_euler``, ...; subexpressions substituted, ``(unless refractory)`` handled as Brian2 does, i.e. the
   update with ``not_refractory = 1`` and the old value kept while refractory).
2. Every statement is parsed by Brian2's ``str_to_sympy``; temporaries are substituted, giving one sympy
   expression per state variable, :math:`s' = F(s, p, dt)`.  The threshold condition ``lhs > rhs`` gives the
   threshold distance :math:`h = lhs - rhs`, the reset code gives :math:`R(s, p)`, the ``on_pre`` code
   (``X_post += g(w)``) the synaptic increments.
3. Derivatives with respect to the state and to each learnable intrinsic parameter are taken symbolically
   (``sympy.diff``), formed into vector-Jacobian products, the parts that depend only on parameters and ``dt``
   are hoisted out of the time loop, and everything is compiled to numpy by ``sympy.lambdify`` with common
   subexpression elimination.  Nothing is written per model: LIF, the meta-neuron and any user model file go
   through this one path.

Schedule (identical to Brian2's within one time step ``n``)
-----------------------------------------------------------
state update of every layer → thresholds (``spike = lhs > rhs and not_refractory``) → synaptic increments of this
step's presynaptic spikes (input spikes of bin ``n`` reach layer 0, layer ``k`` spikes reach layer ``k+1`` in the same
step) → resets.  ``not_refractory = timestep(t - lastspike) >= timestep(t_ref)``.  Because the network is
feed-forward and a spike only changes the next layer's *synaptic* state, the twin simulates one layer over all
time steps, then the next (one matrix product per projection instead of one per step).

Gradients
---------
The forward pass is the exact spiking model (``mode="hard"``); in the backward pass the derivative of the
Heaviside step at the threshold is replaced by a surrogate :math:`\sigma'(h/h_0)/h_0` (``h_0 = surrogate_scale``,
default 1 mV of threshold distance), fast sigmoid by default (Zenke & Ganguli 2018), or ``sigmoid``, ``arctan``,
``triangle``; ``slope`` sets its steepness.  With ``mode="smooth"`` the forward pass uses the smooth step
:math:`\sigma(h/h_0)` itself, so that the BPTT gradient is the exact gradient of a smooth model — this is what the
finite-difference check tests.  The reset :math:`s \leftarrow s + z (R(s) - s)` is differentiable in the spike
``z``; ``detach_reset=True`` stops the gradient through ``z`` there (Zenke & Vogels 2021).  Refractoriness is a
mask without gradient (``t_ref`` is a whole number of steps and cannot be learned by gradient).

Memory: the backward pass needs the state at the start of every step, ``8 * n_states * batch * neurons * steps``
bytes per layer (LIF, batch 32, 64 neurons, 1024 steps: 34 MB; the meta-neuron 67 MB) plus the spikes and the
synaptic increments (the same size per variable).  ``checkpoint_every=K`` keeps only every K-th state and
recomputes the segments during the backward pass (memory divided by about ``steps / K``, one extra forward pass).

Speed
-----
Per time step and layer the forward pass makes three calls of generated numpy code (update, threshold, reset);
the backward pass two (recompute the step, then one fused function holding every vector-Jacobian product, so
that common subexpressions are shared).  Input currents of a whole layer come from one matrix product over all
steps, as do the weight gradients.  BLAS runs single-threaded inside the twin (its products are long and thin,
and OpenBLAS's threaded version of them collapsed on a loaded machine).  ``benchmarks/bench_surrogate.py``
compares an epoch with snnTorch.

Learning (:func:`train_surrogate`)
----------------------------------
Weights of every projection and any subset of the intrinsic parameters, per neuron or shared per layer.  Adam
(Kingma & Ba 2015) runs in normalised coordinates: a parameter with bounds ``[lo, hi]`` is optimised as
``(p - lo) / (hi - lo)``, a weight matrix in units of its initial standard deviation, so one learning rate fits
quantities as different as 20 ms and 100 MOhm.  After each step parameters are projected into their bounds and
onto the model's constraints (``V_reset < V_th``: the learnable side is moved to the other side's value minus or
plus 0.1 % of its bound width).  Losses: ``"count_ce"`` (default; cross-entropy of the class logits
``count_scale * mean spike count`` of each class's population of output neurons, neurons assigned to classes
round-robin, ``j % n_classes``), ``"rate_mse"`` (squared error of the output rates against ``rate_on`` for the
label's population and ``rate_off`` otherwise, in units of ``rate_on``) and ``"max_membrane"`` (cross-entropy of
the population mean of the maximum threshold distance over the trial, in units of ``surrogate_scale``).
An activity regulariser keeps neurons from falling silent (a silent network is a saddle of the count loss).
Mini-batches; early stopping on a stratified validation split (the parameters of the best validation loss are
returned).
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..errors import ModelError, ParameterError

__all__ = ["SURROGATES", "LOSSES", "Surrogate", "ModelTwin", "derive_twin", "SurrogateNetwork", "ForwardResult",
           "train_surrogate", "SurrogateHistory", "population_of", "twin_check"]

SURROGATES = ("fast_sigmoid", "sigmoid", "arctan", "triangle")
LOSSES = ("count_ce", "rate_mse", "max_membrane")


# ====================================================================== surrogate step functions
@dataclass(frozen=True)
class Surrogate:
    r"""A smooth step :math:`\sigma(x)` (0 far below threshold, 1 far above) and its derivative.

    ``x`` is the threshold distance in units of the surrogate scale; ``slope`` is :math:`k` below.

    * ``fast_sigmoid``: :math:`\sigma = \tfrac12 (1 + kx/(1+k|x|))`, :math:`\sigma' = \tfrac k2 (1+k|x|)^{-2}`
      (Zenke & Ganguli 2018, SuperSpike);
    * ``sigmoid``: :math:`\sigma = 1/(1+e^{-kx})`, :math:`\sigma' = k\sigma(1-\sigma)`;
    * ``arctan``: :math:`\sigma = \tfrac12 + \arctan(\pi k x/2)/\pi`, :math:`\sigma' = \tfrac k2 / (1 + (\pi k x/2)^2)`
      (Fang et al. 2021);
    * ``triangle``: :math:`\sigma' = k \max(0, 1 - k|x|)` (Esser et al. 2016), :math:`\sigma` its integral.
    """

    name: str = "fast_sigmoid"
    slope: float = 1.0

    def __post_init__(self):
        checks.one_of("surrogate", self.name, SURROGATES)
        checks.real("slope", self.slope, low=0, low_open=True, types=(int, float), reason="expected a positive number")

    def function(self, x):
        k = self.slope
        if self.name == "fast_sigmoid":
            return 0.5 * (1.0 + k * x / (1.0 + k * np.abs(x)))
        if self.name == "sigmoid":
            return 0.5 * (1.0 + np.tanh(0.5 * k * x))
        if self.name == "arctan":
            return 0.5 + np.arctan(0.5 * np.pi * k * x) / np.pi
        u = np.clip(k * x, -1.0, 1.0)
        return 0.5 + u - 0.5 * u * np.abs(u)

    def derivative(self, x):
        k = self.slope
        if self.name == "fast_sigmoid":
            return 0.5 * k / (1.0 + k * np.abs(x)) ** 2
        if self.name == "sigmoid":
            s = 0.5 * (1.0 + np.tanh(0.5 * k * x))
            return k * s * (1.0 - s)
        if self.name == "arctan":
            return 0.5 * k / (1.0 + (0.5 * np.pi * k * x) ** 2)
        return k * np.maximum(0.0, 1.0 - k * np.abs(x))


# ====================================================================== the twin of one model
_ASSIGN = re.compile(r"^\s*([A-Za-z_]\w*)\s*([+\-*/]?=)\s*(.+?)\s*$")
_PROBE = itertools.count()


def _numeric_functions():
    def int_(x):
        return np.asarray(x).astype(np.int64)

    return {"clip": np.clip, "int_": int_, "DiracDelta": lambda x, *a: np.zeros_like(x, dtype=float),
            "Heaviside": lambda x, *a: np.heaviside(x, 0.5)}


def _statements(code: str) -> list:
    lines = []
    for raw in code.replace(";", "\n").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            match = _ASSIGN.match(line)
            if match is None:
                raise ModelError(f"cannot parse the statement {line!r}")
            lines.append(match.groups())
    return lines


class _Hoister:
    """Replace sub-expressions that depend only on parameters and dt by symbols computed once per pass."""

    def __init__(self, static_symbols):
        import sympy

        self.sympy = sympy
        self.static = set(static_symbols)
        self.table = {}     # expression -> symbol
        self.order = []     # (symbol, expression)

    def _is_static(self, expr):
        return not expr.is_Atom and expr.free_symbols and expr.free_symbols <= self.static

    def _symbol(self, expr):
        symbol = self.table.get(expr)
        if symbol is None:
            symbol = self.sympy.Symbol(f"_c{len(self.order)}", real=True)
            self.table[expr] = symbol
            self.order.append((symbol, expr))
        return symbol

    def __call__(self, expr):
        sympy = self.sympy
        if expr.is_Atom:
            return expr
        if self._is_static(expr):
            return self._symbol(expr)
        if isinstance(expr, (sympy.Add, sympy.Mul)):
            static = [a for a in expr.args if a.free_symbols and a.free_symbols <= self.static]
            dynamic = [self(a) for a in expr.args if not (a.free_symbols and a.free_symbols <= self.static)]
            if len(static) > 1 or (static and not static[0].is_Atom):
                static = [self._symbol(expr.func(*static))]
            return expr.func(*(static + dynamic))
        return expr.func(*[self(a) for a in expr.args])


@dataclass
class ModelTwin:
    """The differentiable discrete-time twin of one neuron model at one time step (see the module docstring).

    Attributes
    ----------
    model : NeuronModel
    dt : float
        Time step in seconds.
    states : tuple of str
        State variables (differential equations), in Brian2's order.
    parameters : tuple of str
        All per-neuron parameters of the model.
    learnable : tuple of str
        Parameters with respect to which derivatives were generated.
    frozen_when_refractory : tuple of str
        States declared ``(unless refractory)``.
    reset_targets : tuple of str
        States written by the reset.
    synaptic_targets : tuple of str
        States incremented by presynaptic spikes (``X_post += g(w)``).
    update, threshold, reset, increments : dict
        The sympy expressions (for inspection and tests): ``update[x]`` the new value of ``x`` after one step (not
        refractory), ``threshold`` ``{"lhs": ..., "rhs": ...}``, ``reset[x]``, ``increments[x] = g(w)``.
    refractory : str or float
        The parameter holding the refractory period, or a constant in seconds.
    """

    model: object
    dt: float
    states: tuple
    parameters: tuple
    learnable: tuple
    frozen_when_refractory: tuple
    reset_targets: tuple
    synaptic_targets: tuple
    update: dict
    threshold: dict
    reset: dict
    increments: dict
    refractory: object
    _functions: dict = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- compiled pieces
    def statics(self, params: dict) -> list:
        """Values of the hoisted parameter-only sub-expressions for parameter arrays ``params`` (SI)."""
        return self._functions["static"](*[params[p] for p in self.parameters], self.dt)

    def step_update(self, state, params, statics):
        return self._functions["update"](*state, *[params[p] for p in self.parameters], self.dt, *statics)

    def step_threshold(self, state, params, statics):
        return self._functions["threshold"](*state, *[params[p] for p in self.parameters], self.dt, *statics)

    def step_reset(self, state, params, statics):
        return self._functions["reset"](*state, *[params[p] for p in self.parameters], self.dt, *statics)

    def increment_values(self, weights) -> list:
        """``g(w)`` for every synaptic target, elementwise on a weight matrix (SI)."""
        return [np.broadcast_to(f(weights), np.shape(weights)) for f in self._functions["increments"]]

    def increment_derivatives(self, weights) -> list:
        """``dg/dw`` for every synaptic target."""
        return [np.broadcast_to(f(weights), np.shape(weights)) for f in self._functions["increment_grads"]]

    def refractory_steps(self, params: dict) -> np.ndarray | float:
        """Refractory period in whole steps, as Brian2's ``timestep(t_ref, dt)``."""
        value = params[self.refractory] if isinstance(self.refractory, str) else self.refractory
        return np.floor((np.asarray(value, dtype=float) + 1e-3 * self.dt) / self.dt).astype(np.int64)


_TWINS: dict = {}


def derive_twin(model, dt, learnable=()) -> ModelTwin:
    """Derive the differentiable twin of ``model`` at time step ``dt`` (cached).

    Parameters
    ----------
    model : NeuronModel or str
        The model (or its name, loaded with :func:`brainlz.models.load_model`).
    dt : Quantity or float
        Time step (float: seconds).
    learnable : sequence of str
        Parameters for which derivative code is generated.

    Raises
    ------
    ModelError
        If the model uses something the twin cannot differentiate (a random threshold, a reset or ``on_pre`` of
        an unsupported form, an unknown identifier); the message names it.
    ParameterError
        If a name in ``learnable`` is not a differentiable parameter of the model.
    """
    from ..models import load_model

    model = load_model(model)
    dt = float(dt)
    learnable = tuple(learnable)
    key = (model.name, model.equations, model.threshold, model.reset, model.on_pre, model.method,
           model.refractory, model.stochastic, tuple(model.params), dt, learnable)
    twin = _TWINS.get(key)
    if twin is None:
        twin = _derive(model, dt, learnable)
        _TWINS[key] = twin
    return twin


def _brian_state_update(model):
    """Brian2's abstract state-update code of ``model`` and its equations (a throw-away NeuronGroup)."""
    from brian2 import NeuronGroup

    group = NeuronGroup(1, model.equations, threshold=model.threshold, reset=model.reset,
                        refractory=model.refractory, method=model.method, namespace={},
                        name=f"brainlz_twin_probe_{next(_PROBE)}")
    try:
        group.state_updater.update_abstract_code(run_namespace={})
        return group.state_updater.abstract_code, group.equations
    finally:
        group._network = "brainlz twin probe"  # never meant to run; silences Brian2's unused-object warning


def _derive(model, dt, learnable) -> ModelTwin:
    import sympy
    from brian2.core.namespace import DEFAULT_CONSTANTS, DEFAULT_UNITS
    from brian2.parsing.sympytools import str_to_sympy

    if model.stochastic:
        raise ModelError(f"model {model.name!r}: the surrogate twin needs a deterministic threshold; "
                         "train the deterministic variant (stochastic=False) and simulate the stochastic one")
    try:
        code, equations = _brian_state_update(model)
    except Exception as exc:  # noqa: BLE001 - Brian2 raises many types; report one line
        raise ModelError(f"model {model.name!r}: Brian2 cannot build its state update: {exc}") from None
    # declaration order of the model file (Brian2's diff_eq_names is a set)
    states = tuple(sorted(equations.diff_eq_names,
                          key=lambda name: re.search(rf"\bd{name}\s*/\s*dt\b", model.equations).start()))
    parameters = tuple(model.params)
    frozen = tuple(name for name in states if "unless refractory" in equations[name].flags)
    subexpressions = {name: equations[name].expr.code for name in equations.subexpr_names}
    for name in learnable:
        if name not in parameters:
            raise ParameterError("learn", name, f"not a parameter of model {model.name!r}; "
                                                f"parameters: {', '.join(parameters)}")

    sym = {name: sympy.Symbol(name, real=True) for name in states + parameters + ("dt",)}
    known = set(sym)

    def constants(expr, where, extra=()):
        replacements = {}
        for s in expr.free_symbols:
            if s.name in known or s.name in extra:
                continue
            if s.name in DEFAULT_UNITS:
                replacements[s] = sympy.Float(float(DEFAULT_UNITS[s.name]), 17)
            elif s.name in DEFAULT_CONSTANTS:
                replacements[s] = sympy.Float(float(DEFAULT_CONSTANTS[s.name].value), 17)
            else:
                raise ModelError(f"model {model.name!r}: {where} uses {s.name!r}, which the surrogate twin cannot "
                                 "resolve (only states, parameters, dt, units and constants are supported)")
        return expr.xreplace(replacements) if replacements else expr

    def parse(text, env, where):
        expr = str_to_sympy(text)
        # one symbol per name (Brian2 declares dt positive, other names only real)
        expr = expr.xreplace({s: sym[s.name] for s in expr.free_symbols if s.name in sym})
        int_nr = [f for f in expr.atoms(sympy.Function)
                  if f.func.__name__ == "int_" and f.args[0].free_symbols == {sympy.Symbol("not_refractory", real=True)}]
        if int_nr:
            expr = expr.xreplace({f: sympy.Integer(1) for f in int_nr})
        for s in expr.free_symbols:
            if s.name in ("t", "rand", "randn", "not_refractory", "lastspike", "i", "N"):
                raise ModelError(f"model {model.name!r}: {where} uses {s.name!r}; the surrogate twin supports "
                                 "autonomous, deterministic equations only")
        expr = expr.xreplace({s: env[s.name] for s in expr.free_symbols if s.name in env})
        for f in expr.atoms(sympy.Function):
            if f.func.__name__ in ("rand", "randn", "poisson"):
                raise ModelError(f"model {model.name!r}: {where} draws random numbers; the surrogate twin needs a "
                                 "deterministic model")
        return constants(expr, where)

    # subexpressions, in terms of states and parameters
    sub_env: dict = {}
    for _ in range(len(subexpressions) + 1):
        for name, text in subexpressions.items():
            sub_env[name] = parse(text, sub_env, f"subexpression {name}")

    # 1. state update (Brian2's abstract code)
    env: dict = {}
    for target, op, text in _statements(code):
        if target == "not_refractory":
            continue
        if op != "=":
            raise ModelError(f"model {model.name!r}: unexpected state-update statement {target} {op} {text}")
        env[target] = parse(text, env, "the state update")
    update = {}
    for name in states:
        update[name] = env.get(name, sym[name])

    # 2. threshold distance
    condition = parse(model.threshold, sub_env, "the threshold")
    if isinstance(condition, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        lhs, rhs = condition.lhs, condition.rhs
    elif isinstance(condition, (sympy.StrictLessThan, sympy.LessThan)):
        lhs, rhs = condition.rhs, condition.lhs
    else:
        raise ModelError(f"model {model.name!r}: the threshold {model.threshold!r} must be one comparison "
                         "'a > b' (or a < b) for the surrogate twin")
    if not (lhs - rhs).free_symbols & {sym[s] for s in states}:
        raise ModelError(f"model {model.name!r}: the threshold {model.threshold!r} does not depend on a state")

    # 3. reset: new values in terms of the pre-reset state
    reset_env = dict(sub_env)
    reset = {}
    for target, op, text in _statements(model.reset):
        if target not in states:
            raise ModelError(f"model {model.name!r}: the reset writes {target!r}, which is not a state variable")
        value = parse(text, {**reset_env, **{k: v for k, v in reset.items()}}, "the reset")
        old = reset.get(target, sym[target])
        value = {"=": value, "+=": old + value, "-=": old - value, "*=": old * value, "/=": old / value}[op]
        reset[target] = value
    # 4. synaptic increments X_post += g(w)
    w = sympy.Symbol("w", real=True)
    increments = {}
    for target, op, text in _statements(model.on_pre):
        name = target[:-5] if target.endswith("_post") else None
        expr = str_to_sympy(text)
        expr = expr.xreplace({s: w for s in expr.free_symbols if s.name == "w"})
        if name not in states or op not in ("+=", "-=") or not expr.free_symbols <= {w}:
            raise ModelError(f"model {model.name!r}: on_pre statement '{target} {op} {text}' is not of the form "
                             "'<state>_post += g(w)' that the surrogate twin supports")
        expr = constants(expr, "on_pre", extra=("w",))
        increments[name] = increments.get(name, sympy.Integer(0)) + (expr if op == "+=" else -expr)

    refractory = model.refractory
    if isinstance(refractory, str) and refractory.strip() in parameters:
        refractory = refractory.strip()
    else:
        try:
            from brian2 import Quantity

            value = eval(str(refractory), dict(DEFAULT_UNITS))  # noqa: S307 - unit arithmetic only
            refractory = float(value) if isinstance(value, (Quantity, float, int)) else None
        except Exception:  # noqa: BLE001
            refractory = None
        if refractory is None:
            raise ModelError(f"model {model.name!r}: refractory={model.refractory!r} must name a parameter or be a "
                             "constant time for the surrogate twin")
    differentiable = set().union(*[e.free_symbols for e in list(update.values()) + [lhs, rhs]
                                   + list(reset.values())])
    for name in learnable:
        if sym[name] not in differentiable:
            raise ParameterError("learn", name, f"the dynamics of model {model.name!r} do not depend on it "
                                                "differentiably (e.g. a refractory period, counted in whole steps)")

    twin = ModelTwin(model, dt, states, parameters, learnable, frozen, tuple(reset), tuple(increments), update,
                     {"lhs": lhs, "rhs": rhs}, reset, increments, refractory)
    twin._functions = _compile(twin, sym, w)
    return twin


def _compile(twin: ModelTwin, sym: dict, w) -> dict:
    import sympy

    S = [sym[s] for s in twin.states]
    P = [sym[p] for p in twin.parameters]
    L = [sym[p] for p in twin.learnable]
    dt = sym["dt"]
    hoist = _Hoister(P + [dt])
    modules = [_numeric_functions(), "numpy"]
    h = twin.threshold["lhs"] - twin.threshold["rhs"]
    F = [twin.update[s] for s in twin.states]
    R = [twin.reset[s] for s in twin.reset_targets]
    groups = {"update": F, "threshold": [twin.threshold["lhs"], twin.threshold["rhs"], h], "reset": R}
    hoisted = {name: [hoist(e) for e in exprs] for name, exprs in groups.items()}
    fused_args, fused = _fused_backward(twin, sym, hoist, S, L, h, F, R)
    C = [symbol for symbol, _ in hoist.order]  # every hoisted constant; all step functions take all of them
    args = S + P + [dt]
    functions = {"static": _lambdify(P + [dt], [expr for _, expr in hoist.order], modules, sympy)}
    for name, exprs in hoisted.items():
        functions[name] = _lambdify(args + C, exprs, modules, sympy)
    functions["recompute"] = _lambdify(fused_args["recompute"] + P + [dt] + C, fused["recompute"], modules, sympy)
    functions["fused_step"] = {detach: _lambdify(fused_args["step"] + P + [dt] + C, fused[detach], modules, sympy)
                               for detach in (False, True)}
    functions["increments"] = [sympy.lambdify([w], twin.increments[s], modules=modules) for s in twin.synaptic_targets]
    functions["increment_grads"] = [sympy.lambdify([w], sympy.diff(twin.increments[s], w), modules=modules)
                                    for s in twin.synaptic_targets]
    return functions


def _fused_backward(twin, sym, hoist, S, L, h, F, R):
    """Expressions of one backward step: all vector-Jacobian products in one function (one CSE pass).

    ``recompute(s_prev, inc, nr; params, dt, statics) -> u..., u2..., h`` recomputes the step from its start
    state, the refractory freeze written ``nr * F + (1 - nr) * s`` (its derivative is the masked Jacobian);
    ``fused_step[detach](u, u2, s_prev, z, nr, sg, lam, dz_ext, gh_extra; params, dt, statics) -> lam_prev...,
    delta_inc..., grad_param...`` with ``sg = sigma'(h / h0) / h0``, the surrogate derivative evaluated by the
    caller, and ``lam = dLoss/ds_new``.
    """
    import sympy

    n = len(S)
    names = twin.states
    U = [sympy.Symbol(f"_u_{x}", real=True) for x in names]
    U2 = [sympy.Symbol(f"_u2_{x}", real=True) for x in names]
    inc = {x: sympy.Symbol(f"_inc_{x}", real=True) for x in twin.synaptic_targets}
    lam = [sympy.Symbol(f"_lam_{x}", real=True) for x in names]
    z, nr, sg, dz_ext, gh_extra = (sympy.Symbol(name, real=True) for name in ("_z", "_nr", "_sg", "_dz", "_ghx"))
    frozen = set(twin.frozen_when_refractory)

    u_exprs = [nr * f + (1 - nr) * sym[x] if x in frozen else f for x, f in zip(names, F)]
    u2_exprs = [u + inc[x] if x in inc else u for u, x in zip(u_exprs, names)]
    h_exprs = h.xreplace({sym[x]: u for x, u in zip(names, u_exprs)})
    recompute = [hoist(e) for e in u_exprs + u2_exprs + [h_exprs]]

    to_u = {sym[x]: U[j] for j, x in enumerate(names)}
    to_u2 = {sym[x]: U2[j] for j, x in enumerate(names)}
    h_u = h.xreplace(to_u)
    R_u2 = {x: r.xreplace(to_u2) for x, r in zip(twin.reset_targets, R)}
    lam_of = {x: lam[j] for j, x in enumerate(names)}
    d_u2 = []
    for j, x in enumerate(names):
        value = lam[j] * (1 - z) if x in R_u2 else lam[j]
        value += z * sum((lam_of[r] * sympy.diff(R_u2[r], U2[j]) for r in R_u2), sympy.Integer(0))
        d_u2.append(value)
    jump = sum((lam_of[r] * (R_u2[r] - U2[names.index(r)]) for r in R_u2), sympy.Integer(0))
    out = {"recompute": recompute}
    for detach in (False, True):
        gh = (dz_ext if detach else dz_ext + jump) * nr * sg + gh_extra
        d_u = [d_u2[j] + gh * sympy.diff(h_u, U[j]) for j in range(n)]
        lam_prev = []
        for y in range(n):
            total = sympy.Integer(0)
            for j, x in enumerate(names):
                dfdy = sympy.diff(F[j], S[y])
                if x in frozen:
                    dfdy = nr * dfdy + ((1 - nr) if j == y else 0)
                total += d_u[j] * dfdy
            lam_prev.append(total)
        deltas = [d_u2[names.index(x)] for x in twin.synaptic_targets]
        grads = []
        for p in L:
            total = z * sum((lam_of[r] * sympy.diff(R_u2[r], p) for r in R_u2), sympy.Integer(0))
            total += gh * sympy.diff(h_u, p)
            for j, x in enumerate(names):
                total += d_u[j] * (nr if x in frozen else 1) * sympy.diff(F[j], p)
            grads.append(total)
        out[detach] = [hoist(e) for e in lam_prev + deltas + grads]
    args = {"recompute": S + [inc[x] for x in twin.synaptic_targets] + [nr],
            "step": U + U2 + S + [z, nr, sg] + lam + [dz_ext, gh_extra]}
    return args, out


def _lambdify(args, exprs, modules, sympy):
    """Compile ``exprs`` to one numpy function returning a list (identically zero entries as the scalar 0)."""
    if not exprs:
        return lambda *a: []
    return sympy.lambdify(args, list(exprs), modules=modules, cse=True)


# ====================================================================== networks
def _single_threaded_blas():
    """Run BLAS on one thread: the twin's products are long and thin ([64, 32768] @ [32768, 64]); OpenBLAS's
    threaded version of them slowed down ~50-90x on the loaded 2-core development machine
    (benchmarks/bench_surrogate.py), its single-threaded one takes ~8 ms."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")



def population_of(n_out: int, n_classes: int) -> np.ndarray:
    """Class of each output neuron: round-robin, neuron ``j`` votes for class ``j % n_classes``."""
    return np.arange(n_out) % n_classes


@dataclass
class ForwardResult:
    """Output of :meth:`SurrogateNetwork.forward`.

    Attributes
    ----------
    spikes : list of ndarray
        Per layer, float ``[n_bins, n_samples, n_neurons]`` (0/1 in ``"hard"`` mode; smooth in ``"smooth"``).
    max_distance : ndarray
        Maximum threshold distance of each output neuron over the trial, ``[n_samples, n_out]`` (SI).
    states : list of dict
        Per layer, its state variables at the end of the trial, ``{name: [n_samples, n_neurons]}`` (SI).
    """

    spikes: list
    max_distance: np.ndarray
    states: list = field(default_factory=list)
    _tape: list = field(default_factory=list, repr=False)
    _inputs: np.ndarray | None = field(default=None, repr=False)

    def rasters(self, layer: int = -1) -> np.ndarray:
        """Spike raster ``bool[n_samples, n_neurons, n_bins]`` of one layer (default the output)."""
        return np.ascontiguousarray(self.spikes[layer].transpose(1, 2, 0) > 0.5)

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts ``[n_samples, n_out]``."""
        return self.spikes[-1].sum(axis=0)


class SurrogateNetwork:
    """A :class:`~brainlz.network.NetworkSpec` as a differentiable twin.

    Parameters
    ----------
    spec : NetworkSpec
        Models, sizes, weights, intrinsic parameters and dt.
    learn : sequence of str
        ``"weights"`` and/or names of intrinsic parameters (learned in every layer whose model has them), or
        ``"intrinsic"`` for every parameter its model marks learnable.
    shared : bool
        Learn one value per layer for each intrinsic parameter (the layer mean as start) instead of one per neuron.
    surrogate : str or Surrogate
        Name of the surrogate (:data:`SURROGATES`) or a :class:`Surrogate`.
    slope : float
        Steepness ``k`` of the surrogate (ignored if ``surrogate`` is a :class:`Surrogate`).
    surrogate_scale : float
        Unit ``h_0`` of the threshold distance in the surrogate, in the threshold's SI unit (default 1 mV).
    detach_reset : bool
        Stop the gradient through the spike in the reset.
    checkpoint_every : int or None
        Keep the state only every this many steps and recompute in the backward pass.
    """

    def __init__(self, spec, learn=("weights",), *, shared: bool = False, surrogate="fast_sigmoid",
                 slope: float = 1.0, surrogate_scale: float = 1e-3, detach_reset: bool = False,
                 checkpoint_every=None):
        from ..network import NetworkSpec

        if not isinstance(spec, NetworkSpec):
            raise ParameterError("spec", type(spec).__name__, "expected a brainlz NetworkSpec")
        self.surrogate = surrogate if isinstance(surrogate, Surrogate) else Surrogate(surrogate, slope)
        self.surrogate_scale = checks.real("surrogate_scale", surrogate_scale, low=0, low_open=True,
                                           types=(int, float), reason="expected a positive number (SI units)")
        if checkpoint_every is not None:
            checks.integer("checkpoint_every", checkpoint_every, low=1, reason="expected a positive integer or None")
        self.detach_reset = bool(detach_reset)
        self.checkpoint_every = checkpoint_every
        self.shared = bool(shared)
        self.spec = spec
        self.dt = float(spec.dt)
        learn = (learn,) if isinstance(learn, str) else tuple(learn)
        self.learn_weights = "weights" in learn
        self.learn_intrinsic = []
        names = [name for name in learn if name not in ("weights", "intrinsic")]
        for layer in spec.layers:
            model = layer.neuron_model
            wanted = [n for n in names if n in model.params]
            if "intrinsic" in learn:
                wanted += [n for n in model.learnable_parameters if n not in wanted and n != model.refractory]
            self.learn_intrinsic.append(tuple(wanted))
        all_params = set().union(*[set(lay.neuron_model.params) for lay in spec.layers])
        for name in names:
            if name not in all_params:
                raise ParameterError("learn", name, f"no layer's model has this parameter; parameters: "
                                                    f"{', '.join(sorted(all_params))}; or 'weights', 'intrinsic'")
        self.twins = [derive_twin(layer.neuron_model, self.dt, wanted)
                      for layer, wanted in zip(spec.layers, self.learn_intrinsic)]
        self.weights = [np.array(w, dtype=float) for w in spec.weights]
        self.params = [{name: np.array(value, dtype=float) for name, value in layer.params.items()}
                       for layer in spec.layers]
        if self.shared:
            for k, names_k in enumerate(self.learn_intrinsic):
                for name in names_k:
                    self.params[k][name][:] = self.params[k][name].mean()

    # ---------------------------------------------------------------- export
    def to_spec(self):
        """The current weights and parameters as a :class:`~brainlz.network.NetworkSpec` (validated)."""
        from dataclasses import replace

        layers = []
        for layer, params in zip(self.spec.layers, self.params):
            model = layer.neuron_model
            layers.append(replace(layer, params={name: params[name].copy() * model.params[name].unit
                                                 for name in layer.params}))
        weights = [w.copy() * layer.neuron_model.weight_unit for w, layer in zip(self.weights, self.spec.layers)]
        return replace(self.spec, layers=tuple(layers), weights=tuple(weights))

    # ---------------------------------------------------------------- forward
    def _inputs(self, spiketrains) -> np.ndarray:
        from ..network import check_spiketrains

        x = check_spiketrains(spiketrains, self.spec.n_inputs)
        return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float64)  # [T, B, n_in]

    def _increments(self, k: int, presynaptic: np.ndarray) -> list:
        """Synaptic increments of layer k for every step: list over targets of [T, B, N]."""
        T, B, n_pre = presynaptic.shape
        flat = presynaptic.reshape(T * B, n_pre)
        return [(flat @ g).reshape(T, B, -1) for g in self.twins[k].increment_values(self.weights[k])]

    def _initial_state(self, k: int, B: int) -> list:
        layer = self.spec.layers[k]
        model = layer.neuron_model
        params = self.params[k]
        state = []
        for name in self.twins[k].states:
            text = model.initial.get(name)
            if text is None:
                value = np.zeros(layer.n_neurons)
            elif text.strip() in params:
                value = params[text.strip()]
            else:
                value = np.full(layer.n_neurons, float(text))
            state.append(np.broadcast_to(value, (B, layer.n_neurons)).copy())
        return state

    def _run_layer(self, k, increments, state, last, t0, t1, smooth, spikes, store=None, track_max=None):
        """Advance layer k from step t0 to t1 (exclusive); write spikes[t]; optionally store states."""
        twin = self.twins[k]
        params = self.params[k]
        statics = twin.statics(params)
        ref_steps = twin.refractory_steps(params)
        refractory = np.any(ref_steps > 0)
        frozen = [twin.states.index(s) for s in twin.frozen_when_refractory]
        targets = [twin.states.index(s) for s in twin.synaptic_targets]
        resets = [twin.states.index(s) for s in twin.reset_targets]
        scale = self.surrogate_scale
        for t in range(t0, t1):
            if store is not None:
                for x, value in enumerate(state):
                    store["state"][x][t - store["t0"]] = value
            nr = (t - last) >= ref_steps if refractory else None
            new = twin.step_update(state, params, statics)
            if nr is not None:
                for x in frozen:
                    new[x] = np.where(nr, new[x], state[x])
            lhs, rhs, h = twin.step_threshold(new, params, statics)
            spike = lhs > rhs
            if nr is not None:
                spike &= nr
                if store is not None:
                    store["nr"][t - store["t0"]] = nr
            if track_max is not None:
                better = h > track_max[0]
                track_max[0] = np.where(better, h, track_max[0])
                track_max[1] = np.where(better, t, track_max[1])
            if smooth:
                z = self.surrogate.function(h / scale)
                if nr is not None:
                    z = z * nr
            else:
                z = spike.astype(np.float64)
            spikes[t] = z
            for x, inc in zip(targets, increments):
                new[x] = new[x] + inc[t]
            if resets:
                values = twin.step_reset(new, params, statics)
                if smooth:
                    for x, value in zip(resets, values):
                        new[x] = new[x] + z * (value - new[x])
                elif spike.any():
                    for x, value in zip(resets, values):
                        new[x] = np.where(spike, value, new[x])
            if refractory:
                last = np.where(spike, t, last)
            state = [np.asarray(s, dtype=np.float64) if np.ndim(s) == 2 else np.broadcast_to(s, spike.shape).copy()
                     for s in new]
        return state, last

    def forward(self, spiketrains, mode: str = "hard", keep_tape: bool = False) -> ForwardResult:
        """Simulate a batch.

        Parameters
        ----------
        spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
        mode : {"hard", "smooth"}
            ``"hard"``: the spiking model (spikes are 0/1, equal to Brian2's); ``"smooth"``: spikes replaced by the
            smooth surrogate step (for gradient checks).
        keep_tape : bool
            Keep what :meth:`backward` needs.
        """
        with _single_threaded_blas():
            return self._forward(spiketrains, mode, keep_tape)

    def _forward(self, spiketrains, mode, keep_tape) -> ForwardResult:
        if mode not in ("hard", "smooth"):
            raise ParameterError("mode", mode, "expected 'hard' or 'smooth'")
        x = self._inputs(spiketrains)
        T, B, _ = x.shape
        smooth = mode == "smooth"
        presynaptic = x
        spikes_all, tape, finals = [], [], []
        track = None
        for k, layer in enumerate(self.spec.layers):
            N = layer.n_neurons
            increments = self._increments(k, presynaptic)
            spikes = np.empty((T, B, N))
            state = self._initial_state(k, B)
            last = np.full((B, N), -(10 ** 9), dtype=np.int64)
            is_output = k == len(self.spec.layers) - 1
            if is_output:
                track = [np.full((B, N), -np.inf), np.zeros((B, N), dtype=np.int64)]
            K = self.checkpoint_every or T
            checkpoints = []
            store = None
            if keep_tape and K >= T:
                store = self._new_store(k, 0, T, B)
            for t0 in range(0, T, K):
                t1 = min(T, t0 + K)
                if keep_tape and K < T:
                    checkpoints.append((t0, [s.copy() for s in state], last.copy()))
                state, last = self._run_layer(k, increments, state, last, t0, t1, smooth, spikes, store,
                                              track if is_output else None)
            if keep_tape:
                tape.append({"increments": increments, "store": store, "checkpoints": checkpoints,
                             "presynaptic": presynaptic})
            spikes_all.append(spikes)
            finals.append(dict(zip(self.twins[k].states, state)))
            presynaptic = spikes
        result = ForwardResult(spikes_all, track[0], finals, tape if keep_tape else [], x if keep_tape else None)
        result._mode = mode
        result._argmax = track[1]
        return result

    def _new_store(self, k, t0, t1, B):
        N = self.spec.layers[k].n_neurons
        twin = self.twins[k]
        return {"t0": t0, "state": [np.empty((t1 - t0, B, N)) for _ in twin.states],
                "nr": np.ones((t1 - t0, B, N), dtype=bool)}

    # ---------------------------------------------------------------- backward
    def backward(self, result: ForwardResult, d_spikes_out=None, d_max_distance=None, d_spikes_layers=None) -> dict:
        """Backpropagation through time.

        Parameters
        ----------
        result : ForwardResult
            From ``forward(..., keep_tape=True)``.
        d_spikes_out : ndarray, optional
            dLoss/d(output spike) per step, broadcastable to ``[n_bins, n_samples, n_out]`` (a ``[n_samples,
            n_out]`` array means the gradient with respect to the spike counts).
        d_max_distance : ndarray, optional
            dLoss/d(max threshold distance) ``[n_samples, n_out]``.
        d_spikes_layers : dict, optional
            Extra dLoss/d(spike) per layer index, each broadcastable to ``[n_bins, n_samples, n_neurons]`` (from
            the activity regulariser).

        Returns
        -------
        dict
            ``"weights"``: list of dLoss/dW (SI); ``"params"``: list (per layer) of dicts name -> dLoss/dp per neuron.
        """
        with _single_threaded_blas():
            return self._backward(result, d_spikes_out, d_max_distance, d_spikes_layers)

    def _backward(self, result, d_spikes_out, d_max_distance, d_spikes_layers) -> dict:
        if not result._tape:
            raise ParameterError("result", "no tape", "call forward(..., keep_tape=True) before backward()")
        smooth = result._mode == "smooth"
        T, B, _ = result.spikes[-1].shape
        n_layers = len(self.spec.layers)
        grads_w = [None] * n_layers
        grads_p = [None] * n_layers
        d_spikes = None
        if d_spikes_out is not None:
            d_spikes = np.broadcast_to(np.asarray(d_spikes_out, dtype=float), result.spikes[-1].shape)
        for k in range(n_layers - 1, -1, -1):
            tape = result._tape[k]
            gh_extra = None
            if k == n_layers - 1 and d_max_distance is not None:
                gh_extra = (result._argmax, np.asarray(d_max_distance, dtype=float))
            if d_spikes_layers and k in d_spikes_layers:
                extra = np.broadcast_to(np.asarray(d_spikes_layers[k], dtype=float), result.spikes[k].shape)
                d_spikes = extra if d_spikes is None else d_spikes + extra
            deltas, grads_p[k] = self._backward_layer(k, tape, result.spikes[k], d_spikes, gh_extra, smooth)
            pre = tape["presynaptic"]
            n_pre = pre.shape[2]
            flat_pre = pre.reshape(T * B, n_pre)
            twin = self.twins[k]
            g_values = twin.increment_values(self.weights[k])
            g_grads = twin.increment_derivatives(self.weights[k])
            grad_w = np.zeros_like(self.weights[k])
            d_pre = None
            for delta, g, dg in zip(deltas, g_values, g_grads):
                flat_delta = delta.reshape(T * B, -1)
                grad_w += (flat_pre.T @ flat_delta) * dg
                if k > 0:
                    contribution = (flat_delta @ g.T).reshape(T, B, n_pre)
                    d_pre = contribution if d_pre is None else d_pre + contribution
            grads_w[k] = grad_w
            d_spikes = d_pre
        return {"weights": grads_w, "params": grads_p}

    def _backward_layer(self, k, tape, spikes, d_spikes, gh_extra, smooth):
        twin = self.twins[k]
        params = self.params[k]
        statics = twin.statics(params)
        fn = twin._functions
        recompute = fn["recompute"]
        fused = fn["fused_step"][self.detach_reset]
        n_states = len(twin.states)
        n_targets = len(twin.synaptic_targets)
        n_learn = len(twin.learnable)
        refractory = np.any(twin.refractory_steps(params) > 0)
        T, B, N = spikes.shape
        scale = self.surrogate_scale
        increments = tape["increments"]
        deltas = [np.empty((T, B, N)) for _ in range(n_targets)]
        grad_acc = [np.zeros((B, N)) for _ in range(n_learn)]
        lam = [np.zeros((B, N)) for _ in range(n_states)]
        tail = [params[p] for p in twin.parameters] + [self.dt] + list(statics)
        if tape["store"] is not None:
            segments = [(0, T, tape["store"])]
        else:  # checkpointing: recompute each segment from its stored start state
            segments = [(t0, min(T, t0 + self.checkpoint_every), (state0, last0))
                        for t0, state0, last0 in tape["checkpoints"]]
        for t0, t1, stored in reversed(segments):
            if isinstance(stored, tuple):
                store = self._new_store(k, t0, t1, B)
                self._run_layer(k, increments, [s.copy() for s in stored[0]], stored[1].copy(), t0, t1, smooth,
                                np.empty((T, B, N)), store)
            else:
                store = stored
            for t in range(t1 - 1, t0 - 1, -1):
                i = t - store["t0"]
                s_prev = [store["state"][x][i] for x in range(n_states)]
                nr = store["nr"][i].astype(np.float64) if refractory else 1.0
                step = recompute(*s_prev, *[inc[t] for inc in increments], nr, *tail)
                h = step[2 * n_states]
                sg = self.surrogate.derivative(h / scale) / scale
                dz = d_spikes[t] if d_spikes is not None else 0.0
                ghx = np.where(gh_extra[0] == t, gh_extra[1], 0.0) if gh_extra is not None else 0.0
                out = fused(*step[:2 * n_states], *s_prev, spikes[t], nr, sg, *lam, dz, ghx, *tail)
                lam = out[:n_states]
                for d, value in zip(deltas, out[n_states:n_states + n_targets]):
                    d[t] = value
                for j in range(n_learn):
                    grad_acc[j] += out[n_states + n_targets + j]
        grads = {name: np.broadcast_to(g, (B, N)).sum(axis=0) for name, g in zip(twin.learnable, grad_acc)}
        return deltas, grads

    # ---------------------------------------------------------------- losses
    def loss(self, result: ForwardResult, labels, n_classes: int, kind: str = "count_ce", count_scale: float = 0.1,
             rate_on: float = 50.0, rate_off: float = 5.0):
        """Loss, its gradient inputs for :meth:`backward`, and the predicted classes.

        Returns
        -------
        loss : float
        grad : dict
            Keyword arguments for :meth:`backward` (``d_spikes_out`` and/or ``d_max_distance``).
        predictions : ndarray of int
        """
        labels = np.asarray(labels)
        n_out = result.spikes[-1].shape[2]
        B = labels.shape[0]
        groups = population_of(n_out, n_classes)
        member = np.zeros((n_out, n_classes))
        member[np.arange(n_out), groups] = 1.0
        member /= member.sum(axis=0, keepdims=True)
        if kind in ("count_ce", "max_membrane"):
            if kind == "count_ce":
                values = result.counts * count_scale
            else:
                values = result.max_distance / self.surrogate_scale
            logits = values @ member
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = float(-log_p[np.arange(B), labels].mean())
            d_logits = np.exp(log_p)
            d_logits[np.arange(B), labels] -= 1.0
            d_logits /= B
            d_values = d_logits @ member.T
            predictions = np.argmax(logits, axis=1)
            if kind == "count_ce":
                return loss, {"d_spikes_out": d_values * count_scale}, predictions
            return loss, {"d_max_distance": d_values / self.surrogate_scale}, predictions
        if kind == "rate_mse":
            duration = result.spikes[-1].shape[0] * self.dt
            rates = result.counts / duration
            target = np.where(groups[None, :] == labels[:, None], rate_on, rate_off)
            error = (rates - target) / rate_on
            loss = float((error ** 2).mean())
            d_rates = 2.0 * error / rate_on / error.size
            predictions = np.argmax((rates - rate_off) @ member, axis=1)
            return loss, {"d_spikes_out": d_rates / duration}, predictions
        raise ParameterError("loss", kind, f"expected one of {LOSSES}")

    def activity_penalty(self, result: ForwardResult, rate_floor: float, weight: float):
        """Penalty that keeps neurons from falling silent, and its gradient inputs.

        For every neuron of every layer whose rate averaged over the batch, ``r`` (Hz), is below ``rate_floor``:
        ``weight * (1 - r / rate_floor)**2``, averaged over the neurons of the layer and summed over layers.  A
        silent network is a saddle of the count loss (both classes' logits equal, the gradients of the two classes
        cancel); this term pushes activity back up (cf. the activity regularisers of Zenke & Vogels 2021).

        Returns
        -------
        penalty : float
        d_spikes_layers : dict
            For :meth:`backward`.
        """
        if weight == 0 or rate_floor == 0:
            return 0.0, {}
        penalty, grads = 0.0, {}
        for k, spikes in enumerate(result.spikes):
            T, B, N = spikes.shape
            duration = T * self.dt
            rates = spikes.sum(axis=(0, 1)) / (B * duration)
            gap = np.maximum(0.0, 1.0 - rates / rate_floor)
            penalty += float(weight * np.mean(gap ** 2))
            # d/dz[t, b, j] of weight * mean_j gap_j^2, with d rate_j / d z = 1 / (B * duration)
            grads[k] = (-2.0 * weight * gap / (N * rate_floor * B * duration))[None, None, :]
        return penalty, grads

    # ---------------------------------------------------------------- parameter vector (normalised coordinates)
    def _blocks(self):
        """(kind, layer, name, scale, offset) of every learnable block; value = offset + scale * x."""
        blocks = []
        for k in range(len(self.spec.layers)):
            model = self.spec.layers[k].neuron_model
            if self.learn_weights:
                with np.errstate(over="ignore"):  # absurd weights: train_surrogate's first check stops them
                    std = float(np.std(self.weights[k])) or float(np.abs(self.weights[k]).mean()) or 1.0
                blocks.append(("weights", k, None, std, 0.0))
            for name in self.learn_intrinsic[k]:
                low, high = (float(b) for b in model.params[name].bounds)
                blocks.append(("param", k, name, high - low, low))
        return blocks

    def get_vector(self, blocks) -> list:
        values = []
        for kind, k, name, scale, offset in blocks:
            if kind == "weights":
                values.append(self.weights[k] / scale)
            else:
                array = self.params[k][name]
                values.append(((array[:1] if self.shared else array) - offset) / scale)
        return values

    def set_vector(self, blocks, values):
        for (kind, k, name, scale, offset), x in zip(blocks, values):
            if kind == "weights":
                self.weights[k] = x * scale
            else:
                self.params[k][name] = np.broadcast_to(offset + scale * x, self.params[k][name].shape).copy()

    def gradient_vector(self, blocks, grads) -> list:
        out = []
        for kind, k, name, scale, offset in blocks:
            if kind == "weights":
                out.append(grads["weights"][k] * scale)
            else:
                g = grads["params"][k][name] * scale
                out.append(np.array([g.sum()]) if self.shared else g)
        return out

    def project(self, blocks):
        """Clip learnable parameters into their bounds and enforce the models' constraints."""
        from ..models import constraint_holds, parse_constraint

        for k, layer in enumerate(self.spec.layers):
            model = layer.neuron_model
            learnable = self.learn_intrinsic[k]
            params = self.params[k]
            for name in learnable:
                low, high = (float(b) for b in model.params[name].bounds)
                np.clip(params[name], low, high, out=params[name])
            for constraint in model.constraints:
                left, op, right = parse_constraint(constraint)
                if left not in learnable and right not in learnable:
                    continue
                bad = ~constraint_holds(op, params[left], params[right])
                if not bad.any():
                    continue
                # left < right violated: move the learnable side(s) apart by 0.1 % of the bound width
                sign = 1.0 if op in ("<", "<=") else -1.0
                if left in learnable:
                    low, high = (float(b) for b in model.params[left].bounds)
                    params[left][bad] = params[right][bad] - sign * 1e-3 * (high - low)
                else:
                    low, high = (float(b) for b in model.params[right].bounds)
                    params[right][bad] = params[left][bad] + sign * 1e-3 * (high - low)


# ====================================================================== training
@dataclass
class SurrogateHistory:
    """What :func:`train_surrogate` did, per epoch, plus the final parameter summary."""

    epochs: list = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    seconds: float = 0.0
    learn: tuple = ()
    n_train: int = 0
    n_validation: int = 0

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
                "seconds": self.seconds, "learn": list(self.learn), "n_train": self.n_train,
                "n_validation": self.n_validation}


class _Adam:
    def __init__(self, shapes, rates, beta1=0.9, beta2=0.999, eps=1e-8):
        self.m = [np.zeros(s) for s in shapes]
        self.v = [np.zeros(s) for s in shapes]
        self.rates = rates
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def step(self, values, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        out = []
        for j, (x, g) in enumerate(zip(values, grads)):
            self.m[j] = b1 * self.m[j] + (1 - b1) * g
            self.v[j] = b2 * self.v[j] + (1 - b2) * g * g
            m_hat = self.m[j] / (1 - b1 ** self.t)
            v_hat = self.v[j] / (1 - b2 ** self.t)
            out.append(x - self.rates[j] * m_hat / (np.sqrt(v_hat) + self.eps))
        return out


def train_surrogate(spec, spiketrains, labels, *, learn=("weights",), shared: bool = False, epochs: int = 30,
                    batch_size: int = 32, lr: float = 0.01, lr_intrinsic: float | None = None,
                    loss: str = "count_ce", count_scale: float | None = None, rate_on: float = 50.0, rate_off: float = 5.0,
                    surrogate="fast_sigmoid", slope: float = 1.0, surrogate_scale: float = 1e-3,
                    detach_reset: bool = True, rate_floor: float = 2.0, activity_weight: float = 1.0,
                    validation_fraction: float = 0.2, patience: int = 5, min_delta: float = 0.0,
                    checkpoint_every=None, n_classes: int | None = None, seed: int = 0, callback=None,
                    progress=None):
    """Train weights and intrinsic parameters of ``spec`` by surrogate-gradient BPTT.

    Parameters
    ----------
    spec : NetworkSpec
        Starting network (its output layer must have at least ``n_classes`` neurons; classes are read from
        populations, see :func:`population_of`).
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
    labels : int ndarray [n_samples]
    learn : sequence of str
        ``"weights"``, intrinsic parameter names, or ``"intrinsic"`` (see :class:`SurrogateNetwork`).
    shared : bool
        One value per layer for each learned intrinsic parameter.
    epochs, batch_size : int
    lr, lr_intrinsic : float
        Adam step sizes in normalised coordinates (weights in units of their initial standard deviation,
        parameters in units of their bound width); ``lr_intrinsic`` defaults to ``lr / 5`` (0.2 % of a
        parameter's bound width per step at the default ``lr``, e.g. 0.06 mV for the LIF's V_th).
    loss : str
        One of :data:`LOSSES`.
    count_scale : float, optional
        Logit per output spike (``count_ce``); default ``1 / (10 Hz * trial duration)``, i.e. a population rate
        difference of 10 Hz is one nat.
    rate_on, rate_off : float
        Target rates in Hz (``rate_mse``).
    surrogate, slope, surrogate_scale, detach_reset, checkpoint_every
        See :class:`SurrogateNetwork`.  The reset is detached by default here (as in snnTorch; Zenke & Vogels
        2021 found it trains better); the gradient check uses the undetached reset.
    rate_floor, activity_weight : float
        Activity regulariser (Hz, dimensionless), see :meth:`SurrogateNetwork.activity_penalty`; 0 disables it.
    validation_fraction : float
        Stratified fraction of the samples held out for early stopping (0: none, train for ``epochs``).
    patience : int
        Epochs without a better validation loss before stopping.
    min_delta : float
        Smallest decrease of the validation loss (nats) that counts as better for ``patience`` (as Keras'
        ``EarlyStopping``; scikit-learn's ``tol``): a loss creeping down by less per epoch stops the training.
        The network returned is still the one of the lowest validation loss.  0: any decrease counts.
    n_classes : int, optional
        Default: ``labels.max() + 1``.
    seed : int
        Seed of the validation split and of the mini-batch order.
    callback : callable, optional
        ``callback(epoch_record) -> bool``; returning True stops training.
    progress : callable, optional
        ``progress(done, total)`` after every mini-batch.

    Returns
    -------
    spec : NetworkSpec
        The trained network (best validation loss when early stopping is on).
    history : SurrogateHistory

    Raises
    ------
    SimulationError
        After a mini-batch whose final states, loss, weights or learned parameters became NaN, infinite or absurd
        (one line naming the layer, the variable and the likely cause: the weights' scale or the learning rate).
    """
    from ..network import check_spiketrains

    x = check_spiketrains(spiketrains, spec.n_inputs)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != x.shape[0] or labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ParameterError("labels", f"shape {labels.shape}, dtype {labels.dtype}",
                             f"expected {x.shape[0]} non-negative integer class labels")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    checks.integer("n_classes", n_classes, low=1, reason="expected a positive integer")
    if spec.output.n_neurons < n_classes:
        raise ParameterError("output.n_neurons", spec.output.n_neurons,
                             f"needs at least one output neuron per class ({n_classes})")
    checks.integer("epochs", epochs, low=1, reason="expected a positive integer")
    checks.integer("batch_size", batch_size, low=1, reason="expected a positive integer")
    checks.real("lr", lr, low=0, low_open=True, reason="expected a positive number")
    if lr_intrinsic is None:
        lr_intrinsic = lr / 5
    else:
        checks.real("lr_intrinsic", lr_intrinsic, low=0, low_open=True, reason="expected a positive number")
    checks.real("rate_floor", rate_floor, low=0, reason="expected a non-negative number")
    checks.real("activity_weight", activity_weight, low=0, reason="expected a non-negative number")
    if count_scale is None:
        count_scale = 1.0 / (10.0 * x.shape[2] * float(spec.dt))
    checks.real("count_scale", count_scale, low=0, low_open=True, reason="expected a positive number")
    checks.integer("patience", patience, low=1, reason="expected a positive integer")
    checks.real("min_delta", min_delta, low=0, reason="expected a non-negative number (nats)")
    checks.one_of("loss", loss, LOSSES)
    checks.real("validation_fraction", validation_fraction, 0, 1, high_open=True, types=(int, float))
    checks.callable_or_none("callback", callback, reason="expected a callable")

    net = SurrogateNetwork(spec, learn, shared=shared, surrogate=surrogate, slope=slope,
                           surrogate_scale=surrogate_scale, detach_reset=detach_reset,
                           checkpoint_every=checkpoint_every)
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    if validation_fraction > 0:
        from ..data import stratified_split

        train_idx, val_idx = stratified_split(labels, validation_fraction, seed)
    else:
        train_idx, val_idx = np.arange(n), np.arange(0)
    blocks = net._blocks()
    values = net.get_vector(blocks)
    rates = [lr if kind == "weights" else lr_intrinsic for kind, *_ in blocks]
    adam = _Adam([v.shape for v in values], rates)
    history = SurrogateHistory(learn=tuple(learn) if not isinstance(learn, str) else (learn,),
                               n_train=len(train_idx), n_validation=len(val_idx))
    options = dict(kind=loss, count_scale=count_scale, rate_on=rate_on, rate_off=rate_off)
    best = (np.inf, [v.copy() for v in values], -1)
    n_batches = int(np.ceil(len(train_idx) / batch_size))
    started = time.perf_counter()
    stale, reference = 0, np.inf  # reference: the loss of the last improvement by more than min_delta
    for epoch in range(epochs):
        t_epoch = time.perf_counter()
        order = rng.permutation(train_idx)
        losses, correct = [], 0
        for b in range(n_batches):
            batch = order[b * batch_size:(b + 1) * batch_size]
            step = f"epoch {epoch + 1}, mini-batch {b + 1}"
            with np.errstate(over="ignore", invalid="ignore"):  # _check_forward says it in one line
                result = net.forward(x[batch], keep_tape=True)
                value, grad_inputs, predictions = net.loss(result, labels[batch], n_classes, **options)
            _check_forward(net, result, value, loss, batch, step, lr)
            penalty, d_layers = net.activity_penalty(result, rate_floor, activity_weight)
            grads = net.backward(result, **grad_inputs, d_spikes_layers=d_layers)
            del result
            with np.errstate(over="ignore", invalid="ignore"):  # _check_learned says it in one line
                values = adam.step(values, net.gradient_vector(blocks, grads))
                net.set_vector(blocks, values)
                net.project(blocks)
            _check_learned(net, step, lr, lr_intrinsic)
            values = net.get_vector(blocks)
            losses.append(value * len(batch))
            correct += int((predictions == labels[batch]).sum())
            if progress is not None:
                progress(epoch * n_batches + b + 1, epochs * n_batches)
        record = {"epoch": epoch, "train_loss": float(np.sum(losses) / len(train_idx)),
                  "train_accuracy": correct / len(train_idx), "seconds": time.perf_counter() - t_epoch}
        if len(val_idx):
            val_loss, val_acc = _evaluate(net, x[val_idx], labels[val_idx], n_classes, batch_size, options)
            record.update(validation_loss=val_loss, validation_accuracy=val_acc)
            if val_loss < best[0]:
                best = (val_loss, [v.copy() for v in values], epoch)
            if val_loss < reference - min_delta:
                reference, stale = val_loss, 0
            else:
                stale += 1
        history.epochs.append(record)
        if callback is not None and callback(record):
            break
        if len(val_idx) and stale >= patience:
            history.stopped_early = True
            break
    if len(val_idx) and best[2] >= 0:
        net.set_vector(blocks, best[1])
        history.best_epoch = best[2]
    else:
        history.best_epoch = len(history.epochs) - 1
    history.seconds = time.perf_counter() - started
    return net.to_spec(), history


def _divergence_cause(net, k: int, lr: float) -> str:
    """What most probably made layer ``k`` of a trained twin diverge: initial weights far above the default scale,
    weights that training multiplied (the learning rate), or else the layer's parameters or ``dt``."""
    from ..backends.base import likely_cause, weight_excess

    layer, n_pre = net.spec.layers[k], net.spec.sizes[k]
    initial = np.asarray(net.spec.weights[k], dtype=float)
    if weight_excess(layer, n_pre, initial) > 1e3:
        return likely_cause(layer, n_pre, initial, net.dt)
    start = float(np.max(np.abs(initial), initial=0.0))
    with np.errstate(invalid="ignore"):
        now = float(np.max(np.abs(net.weights[k]), initial=0.0))
    if net.learn_weights and not now <= 1e3 * start:
        return (f"training moved the weights into {layer.name!r} to up to {now / start if start else now:.3g} "
                f"times their initial size; lower lr = {lr:g}")
    cause = likely_cause(layer, n_pre, net.weights[k], net.dt)
    return cause + (" (learned with lr_intrinsic)" if net.learn_intrinsic[k] else "")


def _check_forward(net, result, value: float, kind: str, batch, step: str, lr: float) -> None:
    """Stop training, in one line, after a mini-batch whose final states (layer, variable, neuron, sample) or loss
    became NaN, infinite or absurd (:func:`brainlz.backends.base.check_finite_arrays`)."""
    from ..backends.base import check_finite_arrays
    from ..errors import SimulationError

    for k, (layer, states) in enumerate(zip(net.spec.layers, result.states)):
        n = layer.n_neurons
        check_finite_arrays({layer.name: states}, lambda name: _divergence_cause(net, k, lr),
                            where=lambda name, i: f"neuron {i % n}, training sample {int(batch[i // n])}, {step}")
    if not np.isfinite(value):
        raise SimulationError(f"surrogate training: the loss {kind!r} became {value:.3g} ({step}); likely cause: "
                              f"{_divergence_cause(net, len(net.spec.layers) - 1, lr)}")


def _check_learned(net, step: str, lr: float, lr_intrinsic: float) -> None:
    """Stop training, in one line, after an Adam step that made a weight or a learned parameter NaN, infinite or
    absurd (layer, variable, neuron)."""
    from ..backends.base import check_finite_arrays

    for k, layer in enumerate(net.spec.layers):
        n = layer.n_neurons
        if net.learn_weights:
            check_finite_arrays({layer.name: {"w": net.weights[k]}}, lambda name: _divergence_cause(net, k, lr),
                                what="weight", where=lambda name, i: f"input {i // n}, neuron {i % n}, after {step}")
        learned = {name: net.params[k][name] for name in net.learn_intrinsic[k]}
        check_finite_arrays({layer.name: learned}, f"lr_intrinsic = {lr_intrinsic:g} makes the parameter steps "
                                                   "diverge; lower it", what="parameter",
                            where=lambda name, i: f"neuron {i}, after {step}")


def _evaluate(net, x, labels, n_classes, batch_size, options):
    total, correct = 0.0, 0
    for start in range(0, x.shape[0], batch_size):
        result = net.forward(x[start:start + batch_size])
        value, _, predictions = net.loss(result, labels[start:start + batch_size], n_classes, **options)
        total += value * len(predictions)
        correct += int((predictions == labels[start:start + batch_size]).sum())
    return total / x.shape[0], correct / x.shape[0]


def predict(spec, spiketrains, n_classes: int, *, loss: str = "count_ce", batch_size: int = 64) -> np.ndarray:
    """Classes predicted by the twin for ``spiketrains`` (the population decision of ``loss``)."""
    net = SurrogateNetwork(spec, ())
    x = net._inputs(spiketrains).transpose(1, 2, 0).astype(bool)
    out = []
    for start in range(0, x.shape[0], batch_size):
        result = net.forward(x[start:start + batch_size])
        out.append(net.loss(result, np.zeros(result.spikes[-1].shape[1], dtype=int), n_classes, kind=loss)[2])
    return np.concatenate(out)


def twin_check(spec, dataset, output, test_indices, *, loss: str = "count_ce") -> dict:
    """Test accuracy of the trained twin's own decision and of the same decision on the Brian2 outputs: the
    ``twin_vs_brian2`` entry of a surrogate run's ``metrics.json``.

    The decision is the one the network was trained for (population spike counts, or the population maximum of
    the threshold distance for ``loss="max_membrane"``, where the Brian2 column compares spike counts instead).

    Parameters
    ----------
    spec : NetworkSpec
        The trained network.
    dataset : SpikeDataset
        Every sample.
    output : bool ndarray [n_samples, n_output, n_bins]
        The output spikes Brian2 simulated for ``dataset``.
    test_indices : sequence of int
        The test samples.
    loss : str
        The loss the network was trained with (:func:`train_surrogate`).
    """
    n_classes = int(dataset.labels.max()) + 1
    test = np.asarray(test_indices)
    labels = dataset.labels[test]
    twin = predict(spec, dataset.spiketrains[test], n_classes, loss=loss)
    groups = population_of(output.shape[1], n_classes)
    counts = output[test].sum(axis=2)
    population = np.stack([counts[:, groups == c].mean(axis=1) for c in range(n_classes)], axis=1)
    brian = np.argmax(population, axis=1)
    twin_accuracy = float(np.mean(twin == labels))
    brian_accuracy = float(np.mean(brian == labels))
    return {"twin_accuracy_test": twin_accuracy, "brian2_accuracy_test": brian_accuracy,
            "difference_pp": 100.0 * (twin_accuracy - brian_accuracy),
            "decision_agreement": float(np.mean(twin == brian)), "n_test": int(test.size),
            "decision": "population spike count" if loss != "max_membrane" else "population maximum distance"}
