r"""Optimisation of a vector in a box without (or with) a gradient: SPSA, central differences, a descent check.

Generic: the objective is any function of a batch of points ``u`` (rows of ``[n, d]``, in the box ``[0, 1]^d`` or
given bounds) returning one value per row; :mod:`brainlz.learning.intrinsic` builds such objectives from spiking
networks (a row is a vector of intrinsic parameters) and evaluates a batch in one Brian2 run.

Optimisation (:func:`optimize_intrinsic`)
------------------------------------------
Projected gradient descent :math:`u_{k+1} = \Pi_{[0,1]^d}(u_k - a_k \hat g_k)` with the gradient estimated

* ``"central"``: by central differences along every axis, :math:`\hat g_i = (f(u + c e_i) - f(u - c e_i)) / 2c`,
  ``2d + 1`` candidates per step (the current point included), constant :math:`a_k = a`, :math:`c_k = c`;
* ``"spsa"``: by simultaneous perturbation (Spall 1992): a Rademacher vector :math:`\Delta \in \{-1, 1\}^d`,
  :math:`\hat g_i = (f(u + c_k\Delta) - f(u - c_k\Delta)) / (2 c_k \Delta_i)`, 2 candidates (+1 for the current
  point), with Spall's gain sequences :math:`a_k = a / (k + 1 + A)^\alpha`, :math:`c_k = c / (k + 1)^\gamma`,
  :math:`\alpha = 0.602`, :math:`\gamma = 0.101` and the stability constant :math:`A` = 10 % of the number of
  steps (Spall 1998, "Implementation of the simultaneous perturbation algorithm", Johns Hopkins APL Tech.
  Digest 19:482);
* ``"gradient"``: by a gradient function (e.g. the BPTT gradient of the surrogate twin, :class:`TwinObjective`).

Perturbed points are clipped into the box; the difference quotient then divides by the actual distance of the
two points (:math:`u^+_i - u^-_i`), which equals :math:`2 c \Delta_i` in the interior.  For a quadratic objective
and interior points both estimators are exact directional derivatives (central differences give the gradient
itself, one SPSA estimate gives :math:`\Delta^\top\nabla f / \Delta_i`, unbiased over :math:`\Delta`).

Descent guarantee (:func:`estimate_lipschitz`, :func:`descent_check`)
---------------------------------------------------------------------
If :math:`\nabla f` is :math:`L`-Lipschitz, a projected gradient step with :math:`a \le 1/L` never increases
:math:`f` (descent lemma: :math:`f(u^+) \le f(u) - \frac{1}{2a}\lVert u^+ - u\rVert^2`).  :func:`estimate_lipschitz`
estimates :math:`L` *by finite differences of the gradient*: Hessian-vector products
:math:`Hv \approx (g(u + r v) - g(u - r v)) / 2r` (``g`` the central-difference gradient of the objective with
step ``h``, or the given gradient function), iterated as a power iteration :math:`v \leftarrow Hv / \lVert Hv
\rVert`; the largest :math:`\lVert Hv\rVert` seen estimates :math:`\lVert\nabla^2 f(u)\rVert_2`, the local
Lipschitz constant of the gradient (exact for a quadratic; a local estimate, from below, otherwise).
:func:`descent_check` runs the optimiser with ``step_size = fraction / L`` and reports whether the objective
decreased at every step.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..errors import ParameterError
from ..files import jsonable

__all__ = ["METHODS", "spsa_gains", "estimate_gradient", "IntrinsicOptimizer", "OptimizeResult",
           "optimize_intrinsic", "estimate_lipschitz", "descent_check"]

#: Gradient estimators of :func:`optimize_intrinsic`.
METHODS = ("central", "spsa", "gradient")

SPSA_ALPHA = 0.602  # Spall 1998: the smallest exponents that satisfy the convergence conditions, good in practice
SPSA_GAMMA = 0.101


# ====================================================================== validation
def _real(field_name, value, low=None, high=None, low_open=True, high_open=True) -> float:
    """:func:`brainlz.checks.real` in this module's wording: ``"expected a finite number"`` for anything but a finite
    real number, then ``"expected a number > {low}"`` (``< {high}``, ``>=``, ``<=``) naming the float value."""
    number = checks.real(field_name, value, types=(numbers.Real,), reason="expected a finite number")
    if low is not None:
        checks.real(field_name, number, low, low_open=low_open,
                    reason=f"expected a number {'>' if low_open else '>='} {low}")
    if high is not None:
        checks.real(field_name, number, high=high, high_open=high_open,
                    reason=f"expected a number {'<' if high_open else '<='} {high}")
    return number


# ====================================================================== optimiser
def spsa_gains(k: int, step_size: float, perturbation: float, stability: float = 0.0, alpha: float = SPSA_ALPHA,
               gamma: float = SPSA_GAMMA) -> tuple:
    """Spall's gains at step ``k`` (0-based): ``a_k = a / (k + 1 + A)**alpha``, ``c_k = c / (k + 1)**gamma``."""
    return step_size / (k + 1 + stability) ** alpha, perturbation / (k + 1) ** gamma


def _check_bounds(bounds, d) -> np.ndarray:
    if bounds is None:
        return np.tile([[0.0, 1.0]], (d, 1))
    try:
        array = np.asarray(bounds, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError("bounds", bounds, "expected an array [d, 2] of (low, high)") from None
    if array.shape != (d, 2):
        raise ParameterError("bounds", f"shape {array.shape}", f"expected shape ({d}, 2): (low, high) per entry")
    if not np.all(np.isfinite(array)) or np.any(array[:, 1] <= array[:, 0]):
        raise ParameterError("bounds", bounds, "expected finite bounds with low < high")
    return array


def _evaluate(objective, X, field_name="objective") -> np.ndarray:
    values = objective(X)
    values = np.asarray(values, dtype=float)
    if values.shape != (X.shape[0],):
        raise ParameterError(field_name, f"returned shape {values.shape}",
                             f"expected one value per candidate, shape ({X.shape[0]},)")
    if not np.all(np.isfinite(values)):
        raise ParameterError(field_name, values, "returned non-finite values")
    return values


def _evaluate_gradient(gradient, X, d) -> tuple:
    out = gradient(X)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ParameterError("gradient", type(out).__name__, "expected (values [P], gradients [P, d])")
    values = np.asarray(out[0], dtype=float).reshape(-1)
    grads = np.asarray(out[1], dtype=float)
    if values.shape != (X.shape[0],) or grads.shape != (X.shape[0], d):
        raise ParameterError("gradient", f"shapes {values.shape}, {grads.shape}",
                             f"expected ({X.shape[0]},) and ({X.shape[0]}, {d})")
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(grads))):
        raise ParameterError("gradient", "non-finite values", "the gradient function returned NaN or inf")
    return values, grads


def estimate_gradient(objective, u, *, method: str = "central", perturbation: float = 1e-3, bounds=None,
                      rng=None, gradient=None, include_current: bool = True) -> dict:
    """One gradient estimate at the normalised point ``u`` (one batched call of ``objective``).

    Parameters
    ----------
    objective : callable
        ``objective(X [P, d]) -> values [P]`` in the objective's coordinates ``X = low + (high - low) * U``.
    u : array [d]
        Normalised point in ``[0, 1]^d``.
    method : {"central", "spsa", "gradient"}
        See the module docstring.
    perturbation : float
        ``c`` in normalised units (0 < c <= 0.5).
    bounds : array [d, 2], optional
        ``(low, high)`` of the objective's coordinates (default the unit box).
    rng : numpy Generator, optional
        Source of the SPSA perturbation (required for ``"spsa"``).
    gradient : callable, optional
        ``gradient(X [P, d]) -> (values [P], gradients [P, d])`` with gradients in the objective's coordinates
        (for ``"gradient"``).
    include_current : bool
        Also evaluate the current point (always for ``"central"`` and ``"gradient"``).

    Returns
    -------
    dict
        ``gradient`` (normalised coordinates), ``objective`` (value at ``u``, or None), ``candidates`` (U),
        ``values`` and, for SPSA, ``delta``.
    """
    u = np.asarray(u, dtype=float)
    d = u.size
    box = _check_bounds(bounds, d)
    width = box[:, 1] - box[:, 0]
    info = {}
    if method == "gradient":
        if gradient is None:
            raise ParameterError("gradient", None, "method 'gradient' needs a gradient function")
        U = u[None, :]
        values, grads = _evaluate_gradient(gradient, box[:, 0] + width * U, d)
        info.update(gradient=grads[0] * width, objective=float(values[0]), candidates=U, values=values)
        return info
    if method == "central":
        up = np.minimum(u + perturbation, 1.0)
        down = np.maximum(u - perturbation, 0.0)
        U = np.tile(u, (2 * d + 1, 1))
        U[1 + np.arange(d), np.arange(d)] = up
        U[1 + d + np.arange(d), np.arange(d)] = down
        values = _evaluate(objective, box[:, 0] + width * U)
        g = (values[1:d + 1] - values[d + 1:]) / (up - down)
        info.update(gradient=g, objective=float(values[0]), candidates=U, values=values)
        return info
    if method == "spsa":
        if rng is None:
            raise ParameterError("rng", None, "SPSA needs a random generator")
        delta = rng.choice(np.array([-1.0, 1.0]), size=d)
        plus = np.clip(u + perturbation * delta, 0.0, 1.0)
        minus = np.clip(u - perturbation * delta, 0.0, 1.0)
        U = np.vstack(([u] if include_current else []) + [plus, minus])
        values = _evaluate(objective, box[:, 0] + width * U)
        f_plus, f_minus = values[-2], values[-1]
        g = (f_plus - f_minus) / (plus - minus)
        info.update(gradient=g, objective=float(values[0]) if include_current else None, candidates=U,
                    values=values, delta=delta)
        return info
    raise ParameterError("method", method, f"expected one of {METHODS}")


class IntrinsicOptimizer:
    """Projected gradient descent in normalised coordinates, one step at a time (see :func:`optimize_intrinsic`).

    The state (point, step counter, random generator) lives here, so that the objective may change between
    steps (:func:`train_with_intrinsic` rebuilds it after every inner weight update) while the gain sequences
    continue.
    """

    def __init__(self, x0, bounds=None, *, method: str = "spsa", step_size: float = 0.1,
                 perturbation: float = 0.05, n_steps: int | None = None, seed: int = 0, stability=None,
                 alpha: float = SPSA_ALPHA, gamma: float = SPSA_GAMMA, include_current: bool = True,
                 max_step=None):
        checks.one_of("method", method, METHODS)
        self.method = method
        self.max_step = None if max_step is None else _real("max_step", max_step, low=0.0)
        self.step_size = _real("step_size", step_size, low=0.0)
        self.perturbation = _real("perturbation", perturbation, low=0.0, high=0.5, high_open=False)
        self.seed = checks.seed("seed", seed)
        x0 = np.asarray(x0, dtype=float)
        if x0.ndim != 1 or x0.size < 1 or not np.all(np.isfinite(x0)):
            raise ParameterError("x0", x0, "expected a non-empty finite vector [d]")
        self.bounds = _check_bounds(bounds, x0.size)
        width = self.bounds[:, 1] - self.bounds[:, 0]
        u0 = (x0 - self.bounds[:, 0]) / width
        if np.any(u0 < -1e-9) or np.any(u0 > 1 + 1e-9):
            raise ParameterError("x0", x0, "outside the bounds")
        self.u = np.clip(u0, 0.0, 1.0)
        if n_steps is not None:
            n_steps = checks.integer("n_steps", n_steps, low=1)
        if stability is None:
            stability = 0.1 * n_steps if (method == "spsa" and n_steps is not None) else 0.0
        self.stability = _real("stability", stability, low=0.0, low_open=False)
        self.alpha = _real("alpha", alpha, low=0.0, low_open=False)
        self.gamma = _real("gamma", gamma, low=0.0, low_open=False)
        self.include_current = checks.flag("include_current", include_current, reason="expected True or False")
        self.k = 0
        self.n_evaluations = 0
        self.rng = np.random.default_rng(self.seed)

    @property
    def d(self) -> int:
        return self.u.size

    @property
    def x(self) -> np.ndarray:
        """The current point in the objective's coordinates."""
        return self.bounds[:, 0] + (self.bounds[:, 1] - self.bounds[:, 0]) * self.u

    def gains(self, k=None) -> tuple:
        """``(a_k, c_k)``: constant for central differences and gradients, Spall's sequences for SPSA."""
        k = self.k if k is None else k
        if self.method == "spsa":
            return spsa_gains(k, self.step_size, self.perturbation, self.stability, self.alpha, self.gamma)
        return self.step_size, self.perturbation

    def step(self, objective, gradient=None) -> dict:
        """Estimate the gradient (one batched objective call), step and project; return the step's record."""
        started = time.perf_counter()
        a_k, c_k = self.gains()
        estimate = estimate_gradient(objective, self.u, method=self.method, perturbation=c_k, bounds=self.bounds,
                                     rng=self.rng, gradient=gradient, include_current=self.include_current)
        g = estimate["gradient"]
        x_before, u_before = self.x.copy(), self.u.copy()
        move = -a_k * g
        capped = False
        if self.max_step is not None and np.any(np.abs(move) > self.max_step):
            move = np.clip(move, -self.max_step, self.max_step)  # trust region: at most max_step per coordinate
            capped = True
        self.u = np.clip(self.u + move, 0.0, 1.0)
        self.n_evaluations += len(estimate["values"])
        record = {"step": self.k, "x": x_before, "x_unit": u_before, "objective": estimate["objective"],
                  "gradient": g, "gradient_norm": float(np.linalg.norm(g)), "step_size": a_k, "perturbation": c_k,
                  "n_candidates": len(estimate["values"]), "values": estimate["values"],
                  "x_next": self.x.copy(), "x_unit_next": self.u.copy(), "step_capped": capped,
                  "seconds": time.perf_counter() - started}
        if "delta" in estimate:
            record["delta"] = estimate["delta"]
        self.k += 1
        return record


@dataclass
class OptimizeResult:
    """What :func:`optimize_intrinsic` did.

    Attributes
    ----------
    x : ndarray [d]
        Final point in the objective's coordinates.
    x_unit : ndarray [d]
        Final point in normalised coordinates.
    fun : float or None
        Objective at the final point (None if not evaluated).
    history : list of dict
        One record per step: ``step``, ``x``/``x_unit`` (before the step), ``objective`` (at that point; None
        for SPSA without the current point), ``gradient`` (normalised coordinates), ``gradient_norm``,
        ``step_size`` (a_k), ``perturbation`` (c_k), ``n_candidates``, ``values`` (all candidates),
        ``x_next``/``x_unit_next``, ``seconds`` and, for SPSA, ``delta``.
    stopped_early : bool
        The callback returned True.
    n_evaluations : int
        Objective evaluations (candidates) in total.
    method : str
    """

    x: np.ndarray
    x_unit: np.ndarray
    fun: float | None
    history: list = field(default_factory=list)
    stopped_early: bool = False
    n_evaluations: int = 0
    method: str = ""

    @property
    def objective_trace(self) -> np.ndarray:
        """The objective at every visited point: each step's starting point, then the final point."""
        values = [r["objective"] for r in self.history] + ([self.fun] if self.fun is not None else [])
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return jsonable({"x": self.x, "x_unit": self.x_unit, "fun": self.fun, "history": self.history,
                         "stopped_early": self.stopped_early, "n_evaluations": self.n_evaluations,
                         "method": self.method})


def optimize_intrinsic(objective, x0, bounds=None, *, method: str = "spsa", step_size: float = 0.1,
                       perturbation: float = 0.05, n_steps: int = 20, seed: int = 0, callback=None, progress=None,
                       gradient=None, stability=None, alpha: float = SPSA_ALPHA, gamma: float = SPSA_GAMMA,
                       include_current: bool = True, final_evaluation: bool = True,
                       max_step=None) -> OptimizeResult:
    r"""Minimise ``objective`` over a box by projected gradient descent in normalised coordinates.

    The optimiser works on ``u = (x - low) / (high - low)`` in ``[0, 1]^d`` (``bounds``; for intrinsic parameters
    the objective usually takes ``u`` itself and :class:`IntrinsicSpace` maps it to the parameters, linearly or
    logarithmically); ``step_size`` and ``perturbation`` are in these units, and ``u`` is projected onto
    ``[0, 1]^d`` after each step.

    Parameters
    ----------
    objective : callable
        ``objective(X) -> values``: ``X`` a float array ``[P, d]`` of candidate points in the objective's own
        coordinates (``low + (high - low) * u``), ``values`` ``P`` finite numbers.  All candidates of one step come
        in one call (one batched simulation).
    x0 : array [d]
        Starting point (objective coordinates, inside ``bounds``).
    bounds : array [d, 2], optional
        ``(low, high)`` per entry; default the unit box (``objective`` takes normalised vectors).
    method : {"central", "spsa", "gradient"}
        ``"central"``: central differences, ``2d + 1`` candidates per step, constant gains.  ``"spsa"``:
        simultaneous perturbation with Rademacher directions, 2 candidates (+1 with ``include_current``),
        gains :math:`a_k = a/(k+1+A)^\alpha`, :math:`c_k = c/(k+1)^\gamma`.  ``"gradient"``: ``gradient(X)``
        supplies values and gradients (one candidate per step).
    step_size : float
        ``a`` (> 0), normalised units per unit gradient.  For a descent guarantee use ``a <= 1/L``
        (:func:`estimate_lipschitz`).
    perturbation : float
        ``c`` in ``(0, 0.5]``, normalised units.
    max_step : float, optional
        Trust region: no coordinate moves by more than ``max_step`` (normalised units) in one step; the update
        ``-a_k g`` is clipped per coordinate (records say ``step_capped``).  Default: no cap.
    n_steps : int
        Number of steps.
    seed : int
        Seed of the SPSA perturbations.
    callback : callable, optional
        ``callback(record)`` after every step (the record of :attr:`OptimizeResult.history`); returning True stops.
    progress : callable, optional
        ``progress(done, n_steps)`` after every step.
    gradient : callable, optional
        ``gradient(X [P, d]) -> (values [P], gradients [P, d])`` in objective coordinates, for ``"gradient"``;
        default ``objective.value_and_gradient`` if the objective has it.
    stability : float, optional
        SPSA's ``A`` (default ``0.1 * n_steps``; 0 for the other methods).
    alpha, gamma : float
        SPSA gain exponents (Spall 1998: 0.602 and 0.101; 0 and 0 give constant gains).
    include_current : bool
        SPSA: also evaluate the current point every step (for the history).
    final_evaluation : bool
        Evaluate the objective at the final point (``fun``; one more call with one candidate).

    Returns
    -------
    OptimizeResult
    """
    if not callable(objective):
        raise ParameterError("objective", objective, "expected a callable objective(X [P, d]) -> values [P]")
    n_steps = checks.integer("n_steps", n_steps, low=1)
    checks.callable_or_none("callback", callback)
    checks.callable_or_none("progress", progress)
    checks.callable_or_none("gradient", gradient)
    if method == "gradient" and gradient is None:
        gradient = getattr(objective, "value_and_gradient", None)
        if gradient is None:
            raise ParameterError("gradient", None, "method 'gradient' needs gradient= or an objective with "
                                                   "value_and_gradient()")
    optimizer = IntrinsicOptimizer(x0, bounds, method=method, step_size=step_size, perturbation=perturbation,
                                   n_steps=n_steps, seed=seed, stability=stability, alpha=alpha, gamma=gamma,
                                   include_current=include_current, max_step=max_step)
    history, stopped = [], False
    for k in range(n_steps):
        record = optimizer.step(objective, gradient)
        history.append(record)
        if progress is not None:
            progress(k + 1, n_steps)
        if callback is not None and callback(record):
            stopped = True
            break
    fun = None
    if final_evaluation:
        X = optimizer.x[None, :]
        if method == "gradient":
            fun = float(_evaluate_gradient(gradient, X, optimizer.d)[0][0])
        else:
            fun = float(_evaluate(objective, X)[0])
        optimizer.n_evaluations += 1
    return OptimizeResult(optimizer.x, optimizer.u.copy(), fun, history, stopped, optimizer.n_evaluations, method)


# ====================================================================== Lipschitz constant and descent
def estimate_lipschitz(objective=None, x=None, bounds=None, *, gradient=None, radius: float = 1e-2,
                       perturbation: float = 1e-3, hessian: str = "auto", n_iter: int = 20, seed: int = 0,
                       details: bool = False):
    r"""Estimate the Lipschitz constant ``L`` of the gradient at ``x``, in normalised coordinates.

    ``L`` is estimated as the spectral norm of the Hessian, :math:`\lVert\nabla^2 f(u)\rVert_2` (the largest
    absolute eigenvalue), from *finite differences of the gradient*: Hessian-vector products
    :math:`\nabla^2 f(u)\,v \approx (g(u + r v) - g(u - r v)) / 2r`.

    * ``hessian="full"``: the ``d`` columns :math:`H e_i` (one batched call), symmetrised
      :math:`(H + H^\top)/2`, and :math:`L = \max |\operatorname{eig}|`;
    * ``hessian="power"``: power iteration from a random unit ``v``: :math:`w = Hv`, :math:`\lambda = \lVert w\rVert`,
      :math:`v \leftarrow w/\lambda`, ``n_iter`` times, ``L`` the largest :math:`\lambda` (tends to the norm from
      below; slow when eigenvalues of opposite sign have similar magnitude);
    * ``"auto"``: ``"full"`` for ``d <= 32``, else ``"power"``.

    The gradient ``g`` is the central-difference gradient of ``objective`` with step ``h = perturbation`` (``2d``
    candidates per point) or, if given, ``gradient``.  For a quadratic both differences are exact (up to rounding)
    and so is the estimate; otherwise it is the curvature at ``x``, a local estimate: use a margin
    (:func:`descent_check` steps with a fraction of ``1/L``).

    Parameters
    ----------
    objective : callable, optional
        As in :func:`optimize_intrinsic` (needed unless ``gradient`` is given).
    x : array [d]
        Point (objective coordinates).  It is moved at most ``radius + perturbation`` away from the box faces so
        that every evaluation lies inside.
    bounds : array [d, 2], optional
        As in :func:`optimize_intrinsic`.
    gradient : callable, optional
        ``gradient(X) -> (values, gradients)`` in objective coordinates.
    radius : float
        ``r``, normalised units (``radius + perturbation < 0.5``).
    perturbation : float
        ``h`` of the central-difference gradient, normalised units.
    hessian : {"auto", "full", "power"}
        How the norm of the finite-difference Hessian is found (see above).
    n_iter : int
        Power iterations.
    seed : int
        Seed of the start vector of the power iteration.
    details : bool
        Return a dict (``lipschitz``, ``iterations`` (power) or ``eigenvalues`` (full), ``point``) instead of the
        number.

    Returns
    -------
    float or dict
    """
    if objective is None and gradient is None:
        raise ParameterError("objective", None, "give an objective or a gradient function")
    checks.callable_or_none("objective", objective)
    checks.callable_or_none("gradient", gradient)
    if x is None:
        raise ParameterError("x", None, "expected the point [d]")
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ParameterError("x", x, "expected a finite vector [d]")
    d = x.size
    box = _check_bounds(bounds, d)
    width = box[:, 1] - box[:, 0]
    radius = _real("radius", radius, low=0.0)
    perturbation = _real("perturbation", perturbation, low=0.0)
    if radius + perturbation >= 0.5:
        raise ParameterError("radius", radius, "radius + perturbation must be < 0.5")
    n_iter = checks.integer("n_iter", n_iter, low=1)
    margin = radius + perturbation
    u = np.clip((x - box[:, 0]) / width, margin, 1.0 - margin)
    rng = np.random.default_rng(checks.seed("seed", seed))
    v = rng.normal(size=d)
    v /= np.linalg.norm(v)

    def gradients(points):  # normalised gradients at the rows of points
        if gradient is not None:
            return _evaluate_gradient(gradient, box[:, 0] + width * points, d)[1] * width
        eye = np.eye(d) * perturbation
        U = np.concatenate([np.concatenate([p + eye, p - eye]) for p in points])
        values = _evaluate(objective, box[:, 0] + width * U).reshape(len(points), 2, d)
        return (values[:, 0] - values[:, 1]) / (2 * perturbation)

    checks.one_of("hessian", hessian, ("auto", "full", "power"), reason="expected 'auto', 'full' or 'power'")
    if hessian == "full" or (hessian == "auto" and d <= 32):
        eye = np.eye(d) * radius
        g = gradients(np.concatenate([u + eye, u - eye]))
        H = (g[:d] - g[d:]) / (2 * radius)  # row i: H e_i
        eigenvalues = np.linalg.eigvalsh(0.5 * (H + H.T))
        L = float(np.abs(eigenvalues).max())
        if details:
            return {"lipschitz": L, "eigenvalues": eigenvalues, "point": box[:, 0] + width * u}
        return L
    lambdas = []
    for _ in range(n_iter):
        g_plus, g_minus = gradients(np.stack([u + radius * v, u - radius * v]))
        w = (g_plus - g_minus) / (2 * radius)
        lam = float(np.linalg.norm(w))
        lambdas.append(lam)
        if lam == 0.0:
            break
        v = w / lam
    L = max(lambdas)
    if details:
        return {"lipschitz": L, "iterations": lambdas, "point": box[:, 0] + width * u, "direction": v}
    return L


def descent_check(objective, x0, bounds=None, *, lipschitz=None, step_fraction: float = 0.5, n_steps: int = 10,
                  method: str = "central", perturbation: float = 1e-4, gradient=None, tolerance: float = 0.0,
                  seed: int = 0, lipschitz_options=None) -> dict:
    """Run projected gradient descent with ``step_size = step_fraction / L`` and check monotone descent.

    With an exact gradient of an ``L``-smooth objective and a step ``<= 1/L`` every step decreases the objective
    (or leaves it unchanged at a stationary point); central differences are exact for quadratics and accurate
    to ``O(perturbation**2)`` otherwise.

    Parameters
    ----------
    objective, x0, bounds, method, perturbation, gradient, seed
        As in :func:`optimize_intrinsic` (``method`` ``"central"`` or ``"gradient"``).
    lipschitz : float, optional
        ``L`` in normalised coordinates; default :func:`estimate_lipschitz` at ``x0``.
    step_fraction : float
        In ``(0, 1)``: the step as a fraction of ``1/L``.
    n_steps : int
        Steps.
    tolerance : float
        A step "decreases" the objective when ``f_next - f < tolerance`` (0: strictly).
    lipschitz_options : dict, optional
        Keyword arguments of :func:`estimate_lipschitz`.

    Returns
    -------
    dict
        ``lipschitz``, ``step_size``, ``objective`` (the values at the visited points), ``decrease`` (successive
        differences), ``monotone`` (every difference below ``tolerance``) and ``result`` (the
        :class:`OptimizeResult` as a dict).
    """
    checks.one_of("method", method, ("central", "gradient"), reason="the descent check needs 'central' or 'gradient'")
    step_fraction = _real("step_fraction", step_fraction, low=0.0, high=1.0)
    tolerance = _real("tolerance", tolerance, low=0.0, low_open=False)
    if method == "gradient" and gradient is None:
        gradient = getattr(objective, "value_and_gradient", None)
    if lipschitz is None:
        lipschitz = estimate_lipschitz(objective, x0, bounds, gradient=gradient if method == "gradient" else None,
                                       **dict(lipschitz_options or {}))
    lipschitz = _real("lipschitz", lipschitz, low=0.0)
    step = step_fraction / lipschitz
    result = optimize_intrinsic(objective, x0, bounds, method=method, step_size=step, perturbation=perturbation,
                                n_steps=n_steps, seed=seed, gradient=gradient)
    trace = result.objective_trace
    decrease = np.diff(trace)
    return {"lipschitz": lipschitz, "step_size": step, "objective": trace.tolist(), "decrease": decrease.tolist(),
            "monotone": bool(np.all(decrease < tolerance)) if tolerance > 0 else bool(np.all(decrease < 0)),
            "result": result.to_dict()}
