"""Run-invariant factors of a neuron model's state update, computed once per run instead of at every step.

Brian2 integrates ``dI_syn/dt = -I_syn / tau_syn`` with ``exponential_euler`` as
``I_syn = I_syn * exp(-dt / tau_syn)``.  Its code generator hoists out of the neuron loop what is the same for
every neuron (``-dt``), but ``tau_syn`` is a per-neuron parameter, so every neuron evaluates the exponential at
every time step although its value never changes during a run.  On the default 64-64-64 LIF network the state
updaters spend most of their time in these ``exp`` calls (and the divisions inside them).

This module finds such factors and moves them into per-neuron variables computed once per period
(:func:`factors`, :class:`HoistedMethod`): a *factor* is an elementary function application (``exp``, ``log``,
trigonometric, hyperbolic) in the integrator's abstract code whose arguments depend only on ``dt``, constants and
*run-invariant* parameters — parameters of the equations that no code of the model writes (``reset``,
``on_pre``).  The expressions are evaluated exactly as the integrator would evaluate them, only at another
time, so the rasters are those of the plain model (tested spike for spike against the runtime numpy target).

Used by the standalone backend (:func:`brainlz.network.build` with ``hoist=True``), where every run starts from
``t = 0`` and parameters change only between runs (through ``run_args``); the factors are recomputed by a
``run_regularly`` operation at the start of every period, after ``run_args`` are applied.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Factor", "factors", "invariant_parameters", "declarations", "initialisation_code", "HoistedMethod",
           "DT_NAME"]

#: The name under which the integration time step enters the factors' initialisation code (a ``run_regularly``
#: operation has its own, longer ``dt``).
DT_NAME = "invariant_dt"

# Elementary functions with a dimensionless value (their arguments must be dimensionless too).
_FUNCTIONS = ("exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan")


@dataclass(frozen=True)
class Factor:
    """One run-invariant factor.

    Parameters
    ----------
    name : str
        Name of the per-neuron (dimensionless) variable that holds it.
    expression : str
        Its value (Brian2 syntax, reading ``dt``).
    occurrence : str
        The subexpression of the integrator's abstract code it replaces: ``expression`` itself, or, in an
        equation marked ``(unless refractory)``, the same with ``dt`` multiplied by ``int(not_refractory)``
        (which is 1 outside the refractory period); the replacement is then ``name**int(not_refractory)``.
    """

    name: str
    expression: str
    occurrence: str

    def replacement(self):
        """The sympy expression that replaces :attr:`occurrence`."""
        import sympy
        from brian2.parsing.sympytools import str_to_sympy

        symbol = sympy.Symbol(self.name, real=True)
        gate = _gate(str_to_sympy(self.occurrence))
        return symbol if gate is None else sympy.Pow(symbol, gate)


def _written(code: str) -> set:
    """Variables (without ``_pre``/``_post``) that a Brian2 code string assigns to."""
    from brian2.parsing.statements import parse_statement

    names = set()
    for line in (code or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        var = parse_statement(line)[0]
        for suffix in ("_post", "_pre"):
            if var.endswith(suffix):
                var = var[: -len(suffix)]
        names.add(var)
    return names


def invariant_parameters(model) -> set:
    """The parameters of ``model`` that stay constant during a run: declared parameters that neither the reset
    nor the synaptic ``on_pre`` code writes (shared parameters excluded: Brian2 already hoists those)."""
    from brian2 import Equations

    equations = Equations(model.equations)
    written = _written(model.reset) | _written(model.on_pre)
    return {name for name in equations.parameter_names
            if name not in written and "shared" not in equations[name].flags}


def _abstract_code(model) -> str:
    """The integrator's abstract code for ``model``, with the refractoriness a NeuronGroup adds."""
    from brian2 import Equations
    from brian2.equations.refractory import add_refractoriness
    from brian2.stateupdaters.base import StateUpdateMethod

    equations = Equations(model.equations)
    if model.refractory:
        equations = add_refractoriness(equations)
    return StateUpdateMethod.apply_stateupdater(equations, {}, model.method)


def _statements(code: str):
    for line in code.splitlines():
        if line.strip():
            lhs, rhs = line.split("=", 1)
            yield lhs.strip(), rhs.strip()


_REFRACTORY = "not_refractory"


def _gate(node):
    """The ``int(not_refractory)`` inside ``node``, or None."""
    import sympy

    for sub in node.atoms(sympy.Function):
        if type(sub).__name__ == "int_" and {str(s) for s in sub.free_symbols} == {_REFRACTORY}:
            return sub
    return None


def _value(node, invariant):
    """The run-invariant value of a candidate node (outside the refractory period), or None.

    A node is a candidate if it is an elementary function whose arguments read only ``dt``, constants and
    invariant parameters (at least one), and possibly ``int(not_refractory)`` where setting it to 0 gives 1
    (a decay factor that stops during the refractory period).
    """
    import sympy

    if not (isinstance(node, sympy.Function) and type(node).__name__ in _FUNCTIONS):
        return None
    gate = _gate(node)
    if gate is not None:
        if node.xreplace({gate: sympy.Integer(0)}) != 1:
            return None
        node = node.xreplace({gate: sympy.Integer(1)})
    names = {str(s) for s in node.free_symbols}
    if names and names <= invariant | {"dt"} and names & invariant:
        return node
    return None


def _candidates(expression, invariant):
    """Maximal candidate nodes of a sympy expression, with their values: [(node, value)]."""
    found = []

    def visit(node):
        value = _value(node, invariant)
        if value is not None:
            found.append((node, value))
            return
        for arg in node.args:
            visit(arg)

    visit(expression)
    return found


def factors(model) -> tuple:
    """The run-invariant factors of ``model``'s state update (empty if there are none).

    Returns
    -------
    tuple of Factor
        In order of first appearance in the integrator's code; a factor that appears several times (the
        meta-neuron's ``exp(-dt/tau_syn)`` decays two currents) is held by one variable.
    """
    from brian2 import Equations
    from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

    invariant = invariant_parameters(model)
    taken = set(Equations(model.equations).names)
    found, names, seen = [], {}, set()
    for _, rhs in _statements(_abstract_code(model)):
        for node, value in _candidates(str_to_sympy(rhs), invariant):
            if node in seen:
                continue
            seen.add(node)
            if value not in names:
                index = len(names) + 1
                while f"invariant_factor_{index}" in taken:
                    index += 1
                names[value] = f"invariant_factor_{index}"
                taken.add(names[value])
            found.append(Factor(names[value], sympy_to_str(value), sympy_to_str(node)))
    return tuple(found)


def declarations(found) -> str:
    """Equation lines declaring the factors' variables (dimensionless, per neuron)."""
    return "".join(f"\n{name} : 1" for name in dict.fromkeys(factor.name for factor in found))


def initialisation_code(found) -> str:
    """Brian2 code computing every factor from the current parameter values, with ``dt`` read as
    :data:`DT_NAME` (to be provided in the group's namespace)."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

    lines = []
    for factor in {factor.name: factor for factor in found}.values():
        expression = str_to_sympy(factor.expression)
        expression = expression.xreplace({symbol: sympy.Symbol(DT_NAME, **symbol.assumptions0)
                                          for symbol in expression.free_symbols if str(symbol) == "dt"})
        lines.append(f"{factor.name} = {sympy_to_str(expression)}")
    return "\n".join(lines)


class HoistedMethod:
    """A Brian2 state-update method: ``base`` with every factor replaced by the variable that holds it.

    Parameters
    ----------
    base : str
        Name of the Brian2 integration method (``"exponential_euler"``, ...).
    found : tuple of Factor
        The factors (:func:`factors` of the same model).
    """

    def __init__(self, base: str, found):
        self.base = base
        self.factors = tuple(found)
        self.__name__ = f"{base} (run-invariant factors hoisted)"

    def can_integrate(self, equations, variables, method_options=None):
        from brian2.stateupdaters.base import StateUpdateMethod

        return StateUpdateMethod.stateupdaters[self.base].can_integrate(equations, variables, method_options)

    def __call__(self, equations, variables=None, method_options=None):
        from brian2.parsing.sympytools import str_to_sympy, sympy_to_str
        from brian2.stateupdaters.base import StateUpdateMethod

        code = StateUpdateMethod.apply_stateupdater(equations, variables, self.base, method_options=method_options)
        replacements = {str_to_sympy(f.occurrence): f.replacement() for f in self.factors}
        names = {f.name for f in self.factors}
        lines, used = [], set()
        for lhs, rhs in _statements(code):
            expression = str_to_sympy(rhs)
            replaced = expression.xreplace(replacements)
            used |= {str(symbol) for symbol in replaced.free_symbols} & names
            lines.append(f"{lhs} = {sympy_to_str(replaced) if replaced != expression else rhs}")
        missing = [f.name for f in self.factors if f.name not in used]
        if missing:  # the equations are not those the factors were found in
            raise RuntimeError(f"factors {missing} not found in the state update of method {self.base!r}")
        return "\n".join(lines)
