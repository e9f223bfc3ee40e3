"""Optimisers in a box: gradient estimators against the analytic gradient, the descent guarantee, the box."""

import json

import numpy as np
import pytest

from brainlz.errors import ParameterError
from brainlz.learning.optimize import (descent_check, estimate_gradient, estimate_lipschitz, optimize_intrinsic,
                                       spsa_gains)

A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
LOW, HIGH = np.array([-2.0, 0.0, 1.0]), np.array([2.0, 10.0, 3.0])
BOUNDS = np.c_[LOW, HIGH]
WIDTH = HIGH - LOW
X_STAR = np.array([0.3, 4.0, 2.2])
L_EXACT = float(np.abs(np.linalg.eigvalsh(WIDTH[:, None] * A * WIDTH[None, :])).max())  # Hessian in u


def _quadratic(X, x_star=X_STAR):
    X = np.asarray(X)
    assert np.all(X >= LOW - 1e-12) and np.all(X <= HIGH + 1e-12), "a candidate left the bounds"
    return 0.5 * np.einsum("pi,ij,pj->p", X - x_star, A, X - x_star)


def _gradient_u(x):
    return WIDTH * (A @ (x - X_STAR))  # d f / d u


def test_central_and_spsa_estimates_agree_with_the_analytic_gradient():
    x = np.array([1.0, 6.0, 1.5])
    u = (x - LOW) / WIDTH
    exact = _gradient_u(x)
    central = estimate_gradient(_quadratic, u, method="central", perturbation=0.05, bounds=BOUNDS)
    assert central["candidates"].shape == (7, 3)  # 2d + 1
    np.testing.assert_allclose(central["gradient"], exact, rtol=1e-9)
    assert central["objective"] == pytest.approx(_quadratic(x[None])[0])
    rng = np.random.default_rng(7)
    estimates = []
    for _ in range(3000):
        spsa = estimate_gradient(_quadratic, u, method="spsa", perturbation=0.05, bounds=BOUNDS, rng=rng,
                                 include_current=False)
        assert spsa["candidates"].shape == (2, 3)
        # one SPSA estimate of a quadratic is exactly the directional derivative divided by delta_i
        np.testing.assert_allclose(spsa["gradient"] * spsa["delta"], spsa["delta"] @ exact, rtol=1e-9)
        estimates.append(spsa["gradient"])
    mean = np.mean(estimates, axis=0)
    # unbiased: the mean over Rademacher directions converges to the gradient (std ~ |g| / sqrt(3000))
    assert np.linalg.norm(mean - exact) < 0.05 * np.linalg.norm(exact)


def test_lipschitz_estimate_and_monotone_descent_on_a_quadratic():
    x0 = np.array([1.5, 8.0, 1.2])
    assert estimate_lipschitz(_quadratic, x0, BOUNDS) == pytest.approx(L_EXACT, rel=1e-6)  # full FD Hessian
    power = estimate_lipschitz(_quadratic, x0, BOUNDS, hessian="power", n_iter=30, details=True)
    assert power["lipschitz"] == pytest.approx(L_EXACT, rel=1e-6)
    assert power["iterations"][0] < power["lipschitz"] <= L_EXACT * (1 + 1e-9)  # converges from below
    check = descent_check(_quadratic, x0, BOUNDS, step_fraction=0.9, n_steps=12)
    assert check["lipschitz"] == pytest.approx(L_EXACT, rel=1e-6)
    assert check["monotone"] and len(check["objective"]) == 13
    assert all(d < 0 for d in check["decrease"])
    assert check["objective"][-1] < 0.05 * check["objective"][0]
    # the same run with a step beyond 2/L is not a descent method: the check can fail
    too_far = optimize_intrinsic(_quadratic, x0, BOUNDS, method="central", step_size=2.5 / L_EXACT,
                                 perturbation=1e-3, n_steps=6)
    assert np.any(np.diff(too_far.objective_trace) > 0)


def test_iterates_stay_in_the_box_and_reach_the_projected_minimum():
    diagonal = np.diag([2.0, 1.0, 4.0])
    x_star = np.array([3.0, -1.0, 2.0])  # outside the box in the first two coordinates

    def objective(X):
        X = np.asarray(X)
        assert np.all(X >= LOW) and np.all(X <= HIGH)
        return 0.5 * np.einsum("pi,ij,pj->p", X - x_star, diagonal, X - x_star)

    L = float((WIDTH ** 2 * np.diag(diagonal)).max())
    for method in ("central", "spsa"):
        # SPSA keeps some noise at a constrained minimum: the gradient components pinned at the bounds leak into
        # the estimate of the free one (g_i = sum_j delta_i delta_j g_j)
        result = optimize_intrinsic(objective, np.array([0.0, 5.0, 1.5]), BOUNDS, method=method,
                                    step_size=0.9 / L if method == "central" else 1.0 / L, perturbation=0.02,
                                    n_steps=300 if method == "spsa" else 60, seed=0)
        assert np.all((result.x_unit >= 0) & (result.x_unit <= 1))
        np.testing.assert_allclose(result.x, np.clip(x_star, LOW, HIGH), atol=1e-3 if method == "central" else 5e-2)
        for record in result.history:
            assert np.all((record["x_unit_next"] >= 0) & (record["x_unit_next"] <= 1))
        json.dumps(result.to_dict())


def test_max_step_caps_every_coordinate_of_every_step():
    diagonal = np.diag([2.0, 1.0, 4.0])
    x_star = np.array([3.0, -1.0, 2.0])

    def objective(X):
        X = np.asarray(X)
        return 0.5 * np.einsum("pi,ij,pj->p", X - x_star, diagonal, X - x_star)

    x0 = np.array([0.0, 5.0, 1.5])
    free = optimize_intrinsic(objective, x0, BOUNDS, method="central", step_size=0.5, perturbation=0.02, n_steps=3)
    capped = optimize_intrinsic(objective, x0, BOUNDS, method="central", step_size=0.5, perturbation=0.02,
                                n_steps=3, max_step=0.03)
    free_moves = [np.abs(r["x_unit_next"] - r["x_unit"]).max() for r in free.history]
    moves = [np.abs(r["x_unit_next"] - r["x_unit"]) for r in capped.history]
    assert max(free_moves) > 0.1  # the uncapped steps are long
    for record, move in zip(capped.history, moves):
        assert move.max() <= 0.03 + 1e-12 and record["step_capped"]
        # the cap clips per coordinate: coordinates whose step was short already keep it
        expected = np.clip(-record["step_size"] * record["gradient"], -0.03, 0.03)
        np.testing.assert_allclose(record["x_unit_next"], np.clip(record["x_unit"] + expected, 0, 1), atol=1e-12)
    assert capped.objective_trace[-1] < capped.objective_trace[0]  # still descends
    with pytest.raises(ParameterError, match="max_step"):
        optimize_intrinsic(objective, x0, BOUNDS, max_step=-0.1)


def test_callback_stops_early_and_spsa_gains_follow_spall():
    seen = []

    def callback(record):
        seen.append(record["step"])
        return record["step"] == 2

    result = optimize_intrinsic(_quadratic, np.array([1.5, 8.0, 1.2]), BOUNDS, method="spsa", step_size=0.01,
                                perturbation=0.1, n_steps=20, seed=1, callback=callback)
    assert seen == [0, 1, 2] and result.stopped_early and len(result.history) == 3
    assert result.n_evaluations == 3 * 3 + 1  # 2 perturbed + current per step, then the final point
    for record in result.history:
        k = record["step"]
        assert record["n_candidates"] == 3
        assert record["step_size"] == pytest.approx(0.01 / (k + 1 + 2.0) ** 0.602)   # A = 10 % of 20 steps
        assert record["perturbation"] == pytest.approx(0.1 / (k + 1) ** 0.101)
    assert spsa_gains(0, 1.0, 1.0) == (1.0, 1.0)
    # the same seed gives the same run
    again = optimize_intrinsic(_quadratic, np.array([1.5, 8.0, 1.2]), BOUNDS, method="spsa", step_size=0.01,
                               perturbation=0.1, n_steps=3, seed=1, stability=2.0)
    np.testing.assert_array_equal(again.x_unit, result.x_unit)


def test_optimiser_arguments_are_validated():
    x0 = np.array([1.5, 8.0, 1.2])
    for kwargs, field in (({"method": "adam"}, "method"), ({"step_size": -1.0}, "step_size"),
                          ({"perturbation": 0.0}, "perturbation"), ({"n_steps": 0}, "n_steps"),
                          ({"seed": -1}, "seed"), ({"callback": 3}, "callback"),
                          ({"method": "gradient"}, "gradient")):
        with pytest.raises(ParameterError) as info:
            optimize_intrinsic(_quadratic, x0, BOUNDS, **kwargs)
        assert info.value.field == field
    with pytest.raises(ParameterError) as info:
        optimize_intrinsic(_quadratic, x0, BOUNDS[:2])
    assert info.value.field == "bounds"
    with pytest.raises(ParameterError) as info:
        optimize_intrinsic(_quadratic, np.array([5.0, 8.0, 1.2]), BOUNDS)
    assert info.value.field == "x0"
    with pytest.raises(ParameterError) as info:
        optimize_intrinsic(lambda X: np.zeros(1), x0, BOUNDS, method="central")
    assert info.value.field == "objective"
