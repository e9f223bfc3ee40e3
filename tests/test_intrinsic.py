"""Outer loop over intrinsic parameters: population runs, the parameter vector, objectives, alternation."""

import json

import numpy as np
import pytest
from brian2 import Mohm, mV, ms

from brainlz.backends import runtime, standalone
from brainlz.data import SpikeDataset, make_task
from brainlz.errors import ParameterError
from brainlz.learning.intrinsic import (IntrinsicSpace, OuterSearch, TwinObjective, simulate_parameter_sets,
                                        train_with_intrinsic, twin_gradient, twin_objective, validation_objective)
from brainlz.learning.optimize import descent_check, estimate_gradient, estimate_lipschitz
from brainlz.learning.rules import make_rule
from brainlz.network import NetworkSpec, check_copy_params
from brainlz.readout import LZCFeatures, default_pipeline


def _spec(output=3, seed=2, scale=1.5):
    spec = NetworkSpec.create(6, hidden=4, output=output, seed=seed)
    return spec.with_weights([w * scale for w in spec.weights])


def _apply(spec, sets):
    for layer, values in sets.items():
        spec = spec.with_params(layer, **values)
    return spec


PARAMETER_SETS = [
    {"hidden": {"tau_m": np.array([8.0, 15.0, 30.0, 60.0]) * ms}},                 # per-neuron, one layer
    {"output": {"V_th": -56 * mV, "tau_m": 12 * ms}, "hidden": {"R": 150 * Mohm}},  # scalars, two layers
    {},                                                                              # the spec itself
]


# ---------------------------------------------------------------------------------------------- population runs
def test_population_equals_independent_runtime_simulations(rng):
    spec = _spec()
    x = rng.random((3, 6, 60)) < 0.08
    out = simulate_parameter_sets(spec, PARAMETER_SETS, x, backend="runtime", target="numpy")
    assert out.shape == (3, 3, 3, 60) and out.dtype == bool
    for p, sets in enumerate(PARAMETER_SETS):
        alone = runtime.simulate(_apply(spec, sets), x, target="numpy").output
        np.testing.assert_array_equal(out[p], alone)
    # several Brian2 runs (the per-copy parameters are sliced with the batch)
    np.testing.assert_array_equal(
        simulate_parameter_sets(spec, PARAMETER_SETS, x, backend="runtime", target="numpy", batch_size=4), out)
    # the sets really differ, so the equality is not that of identical copies
    assert not np.array_equal(out[0], out[2]) and not np.array_equal(out[1], out[2])


def test_population_on_standalone_is_exact_and_reuses_the_compiled_program(rng, standalone_dir):
    spec = _spec()
    x = rng.random((3, 6, 60)) < 0.08
    sets = PARAMETER_SETS[:2]
    first = simulate_parameter_sets(spec, sets, x, backend="standalone", directory=standalone_dir)
    builds = standalone.build_count()
    other = [{"hidden": {"tau_m": 25 * ms}}, {"output": {"V_th": -45 * mV}}]
    second = simulate_parameter_sets(spec, other, x, backend="standalone", directory=standalone_dir)
    assert standalone.build_count() == builds  # same P and S: rerun through run_args, no recompile
    for out, population in ((first, sets), (second, other)):
        for p, values in enumerate(population):
            # the spec alone, on the same compiled program (padded to its size), without per-copy parameters
            alone = standalone.simulate(_apply(spec, values), x, batch_size=6, directory=standalone_dir)
            assert alone.n_builds == 0
            np.testing.assert_array_equal(out[p], alone.output)
            np.testing.assert_array_equal(out[p], runtime.simulate(_apply(spec, values), x, target="numpy").output)
    assert standalone.build_count() == builds
    assert not np.array_equal(first, second)
    # the validation objective on the same P * S copies; a smaller population is padded onto the same program
    objective = validation_objective(spec, (x[:2], np.array([0, 1])), (x[2:], np.array([1])), parameters=("tau_m",),
                                     backend="standalone", backend_options={"directory": standalone_dir})
    U = np.array([[0.5, 0.6], [0.8, 0.95]])  # tau_m in log coordinates: 14-21 ms and 45-83 ms
    pair = objective(U)
    single = objective(U[1:])
    assert single[0] == pair[1] and pair[0] != pair[1]
    assert standalone.build_count() == builds


def test_parameter_sets_are_validated():
    spec = _spec()
    x = np.zeros((2, 6, 20), dtype=bool)
    cases = [
        ([{"nope": {"tau_m": 10 * ms}}], "parameter_sets[0].nope"),
        ([{}, {"hidden": {"tau_x": 10 * ms}}], "parameter_sets[1].hidden.tau_x"),
        ([{"hidden": {"tau_m": 500 * ms}}], "parameter_sets[0].hidden.tau_m"),           # outside the bounds
        ([{"hidden": {"tau_m": 10 * mV}}], "parameter_sets[0].hidden.tau_m"),            # wrong unit
        ([{"hidden": {"tau_m": np.ones(3) * 10 * ms}}], "parameter_sets[0].hidden.tau_m"),  # wrong shape
        ([{"output": {"V_reset": -50 * mV, "V_th": -55 * mV}}], "parameter_sets[0].output.V_reset"),  # constraint
        ([], "parameter_sets"),
    ]
    for sets, field in cases:
        with pytest.raises(ParameterError) as info:
            simulate_parameter_sets(spec, sets, x, backend="runtime", target="numpy")
        assert info.value.field == field, (field, info.value)
    with pytest.raises(ParameterError, match="copy_params"):
        simulate_parameter_sets(spec, [{}], x, backend="runtime", copy_params={})


def test_space_bounds_narrow_the_box_per_parameter_or_layer_and_are_validated():
    spec = _spec()  # LIF defaults: tau_m 20 ms in (2, 100) ms, V_th -50 mV
    space = IntrinsicSpace(spec, parameters=("tau_m", "V_th"),
                           bounds={"tau_m": (10 * ms, 40 * ms), "output.tau_m": (0.015, 0.025),
                                   "hidden.V_th": (-0.055, -0.045)})
    model_v_th = [float(b) for b in spec.layer("output").neuron_model.params["V_th"].bounds]
    np.testing.assert_allclose(space.bounds, [[0.01, 0.04], [-0.055, -0.045], [0.015, 0.025], model_v_th])
    low, high = space.values(np.zeros(4))[0], space.values(np.ones(4))[0]
    assert low["hidden"]["tau_m"][0] == pytest.approx(0.01) and high["output"]["tau_m"][0] == pytest.approx(0.025)
    np.testing.assert_allclose(space.to_unit()[:3], [1 / 3, 0.5, 0.5])
    # a generic box overridden in every layer is not "unused"
    both = IntrinsicSpace(spec, parameters=("tau_m",), bounds={"tau_m": (0.01, 0.04), "hidden.tau_m": (0.015, 0.025),
                                                               "output.tau_m": (0.005, 0.03)})
    np.testing.assert_allclose(both.bounds, [[0.015, 0.025], [0.005, 0.03]])
    for bounds, field in (({"tau_x": (0.01, 0.03)}, "bounds.tau_x"),            # not optimised
                          ({"R": (1e8, 2e8)}, "bounds.R"),                      # a parameter, but not chosen
                          ({"tau_m": (0.04, 0.01)}, "bounds.tau_m"),            # low >= high
                          ({"tau_m": (0.001, 0.04)}, "bounds.tau_m"),           # beyond the model's bounds
                          ({"output.tau_m": (0.025, 0.04)}, "bounds.output.tau_m"),  # excludes the start
                          ({"tau_m": (10 * mV, 20 * mV)}, "bounds.tau_m"),      # wrong dimension
                          ({"tau_m": 0.02}, "bounds.tau_m"), ({"tau_m": ("a", 1)}, "bounds.tau_m"),
                          ([0.01, 0.04], "bounds")):
        with pytest.raises(ParameterError) as info:
            IntrinsicSpace(spec, parameters=("tau_m", "V_th"), bounds=bounds)
        assert info.value.field == field, (bounds, info.value)


def test_wide_positive_boxes_get_log_coordinates():
    spec = _spec()  # LIF: tau_m 2-100 ms, R 10 MOhm-1 GOhm (log); V_th -62..-30 mV (linear)
    space = IntrinsicSpace(spec, layers="hidden", parameters=("tau_m", "R", "V_th"))
    assert [b["scale"] for b in space.describe()["blocks"]] == ["log", "log", "linear"]
    middle = space.values([0.5, 0.5, 0.5])[0]["hidden"]
    np.testing.assert_allclose([middle["tau_m"][0], middle["R"][0], middle["V_th"][0]],
                               [np.sqrt(0.002 * 0.1), 1e8, -0.046])  # geometric means; arithmetic for V_th
    # the default R (100 MOhm) sits in the middle of its box; a step of 0.05 is a factor 100 ** 0.05 anywhere
    np.testing.assert_allclose(space.to_unit()[:2], [np.log(10) / np.log(50), 0.5])
    r = [space.values([0.5, u, 0.5])[0]["hidden"]["R"][0] for u in (0.2, 0.25, 0.7, 0.75)]
    np.testing.assert_allclose([r[1] / r[0], r[3] / r[2]], [100 ** 0.05] * 2)
    linear = IntrinsicSpace(spec, layers="hidden", parameters=("tau_m", "R", "V_th"), scale="linear")
    assert linear.values([0.5, 0.5, 0.5])[0]["hidden"]["R"][0] == pytest.approx(505e6)
    with pytest.raises(ParameterError, match="scale"):
        IntrinsicSpace(spec, parameters=("tau_m",), scale="logarithmic")


def test_copy_params_hook_checks_names_and_shapes():
    spec = _spec()
    ok = check_copy_params(spec, {"hidden": {"tau_m": np.full((5, 4), 0.02)}}, 5)
    assert ok["hidden"]["tau_m"].shape == (5, 4)
    for bad, field in (({"x": {}}, "copy_params.x"), ({"hidden": {"foo": np.zeros((5, 4))}}, "copy_params.hidden.foo"),
                       ({"hidden": {"tau_m": np.zeros((4, 4))}}, "copy_params.hidden.tau_m"),
                       ({"hidden": {"tau_m": np.full((5, 4), np.nan)}}, "copy_params.hidden.tau_m")):
        with pytest.raises(ParameterError) as info:
            check_copy_params(spec, bad, 5)
        assert info.value.field == field


# ---------------------------------------------------------------------------------------------- spiking objectives
def _smooth_twin_setup():
    spec = NetworkSpec.create(6, hidden=4, output=2, seed=2)
    for layer in spec.layer_names:  # the refractory mask is not smooth
        spec = spec.with_params(layer, t_ref=0 * ms)
    data = make_task("rate", n_samples=4, n_channels=6, n_bins=40, difficulty=0.3, seed=1)
    return spec, data


def test_twin_gradient_is_the_gradient_and_descends_on_the_smoothed_objective():
    spec, data = _smooth_twin_setup()
    objective = TwinObjective(spec, data, space=IntrinsicSpace(spec, parameters=("tau_m", "V_th")), mode="smooth",
                              count_scale=1.0, slope=0.5)
    assert objective.space.d == 4 and objective.space.names[0] == "hidden.tau_m"
    u0 = objective.x0
    loss, grad, space = twin_gradient(spec, data, u0, parameters=("tau_m", "V_th"), mode="smooth",
                                      count_scale=1.0, slope=0.5)
    assert space.d == 4
    numeric = estimate_gradient(objective, u0, method="central", perturbation=1e-5)["gradient"]
    assert np.linalg.norm(numeric) > 1e-3
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())
    # L from finite differences of the BPTT gradient = L from second differences of the loss itself
    L = estimate_lipschitz(None, u0, gradient=objective.value_and_gradient, radius=1e-3)
    L_values = estimate_lipschitz(objective, u0, radius=1e-3, perturbation=1e-5)
    assert L == pytest.approx(L_values, rel=1e-3) and L > 1.0
    # descent with a step below 1/L, at every step
    check = descent_check(objective, u0, method="gradient", step_fraction=0.5, n_steps=6,
                          lipschitz_options={"radius": 1e-3})
    assert check["lipschitz"] == L
    assert check["monotone"], check["objective"]
    assert check["objective"][-1] < check["objective"][0]


@pytest.mark.parametrize("scale", ["auto", "linear"])
def test_twin_gradient_per_neuron_in_log_and_linear_coordinates(scale):
    """Per-neuron entries: tau_m and R (log under "auto") and V_th, each neuron its own coordinate."""
    spec, data = _smooth_twin_setup()
    kwargs = dict(layers="output", parameters=("tau_m", "R", "V_th"), per_neuron=True, scale=scale, mode="smooth",
                  count_scale=1.0, slope=0.5)
    loss, grad, space = twin_gradient(spec, data, **kwargs)
    assert [b["scale"] for b in space.describe()["blocks"]] == (["log", "log", "linear"] if scale == "auto"
                                                                 else ["linear"] * 3)
    objective = twin_objective(spec, data, **kwargs)
    # a point away from the start, so the neurons differ
    u = np.clip(objective.x0 + np.linspace(-0.1, 0.1, space.d), 0.0, 1.0)
    values, gradients = objective.value_and_gradient(u)
    numeric = estimate_gradient(objective, u, method="central", perturbation=1e-5)["gradient"]
    assert np.linalg.norm(numeric) > 1e-4
    np.testing.assert_allclose(gradients[0], numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())


def test_validation_objective_is_the_validation_log_loss_of_the_lzc_readout():
    from sklearn.metrics import log_loss

    spec = _spec(output=4)
    data = make_task("rate", n_samples=16, n_channels=6, n_bins=60, difficulty=0.2, seed=1)
    train = SpikeDataset(data.spiketrains[:10], data.labels[:10], data.dt)
    val = (data.spiketrains[10:], data.labels[10:])
    objective = validation_objective(spec, train, val, parameters=("tau_m",), backend="runtime",
                                     backend_options={"target": "numpy"})
    assert objective.space.names == ["hidden.tau_m", "output.tau_m"]
    U = np.array([objective.x0, [0.4, 0.9]])
    values = objective(U)
    assert values.shape == (2,) and values[0] != values[1]
    # candidate 1 computed independently (tau_m's box, 2-100 ms, spans a factor 50: log coordinates)
    np.testing.assert_allclose(objective.x0, np.log(20 / 2) / np.log(50))
    candidate = spec.with_params("hidden", tau_m=2 * 50 ** 0.4 * ms).with_params("output", tau_m=2 * 50 ** 0.9 * ms)
    features = LZCFeatures().fit_transform(runtime.simulate(candidate, data.spiketrains, target="numpy").output)
    model = default_pipeline(0).fit(features[:10], data.labels[:10])
    expected = log_loss(data.labels[10:], model.predict_proba(features[10:]), labels=model.classes_)
    assert values[1] == pytest.approx(expected, rel=1e-12)
    assert len(objective.last["accuracy"]) == 2


def inner_rule(spec, rule, **options):
    """The inner weight learning of ``rule`` through the rule contract, on the runtime backend (numpy)."""
    return make_rule({"rule": rule, **options}).inner_trainer(spec, "runtime", {"target": "numpy"})


@pytest.mark.parametrize("rule, options, objective, method", [
    ("surrogate", {"epochs": 1, "batch_size": 8, "validation_fraction": 0}, "validation", "spsa"),
    ("tempotron", {"epochs": 2}, "twin", "gradient"),
    ("surrogate", {"epochs": 1, "batch_size": 8, "validation_fraction": 0}, "twin", "gradient"),
    ("stdp", {"epochs": 1, "gap": 10 * ms}, "validation", "central"),
])
def test_train_with_intrinsic_alternates_and_reports(rule, options, objective, method):
    spec = NetworkSpec.create(6, hidden=4, output=2, seed=2)
    data = make_task("rate", n_samples=14, n_channels=6, n_bins=60, difficulty=0.2, seed=1)
    train = SpikeDataset(data.spiketrains[:8], data.labels[:8], data.dt)
    val = SpikeDataset(data.spiketrains[8:], data.labels[8:], data.dt)
    calls = []
    new, history = train_with_intrinsic(spec, train, val, inner_rule(spec, rule, **options),
                                        space={"parameters": ("tau_m", "V_th")},
                                        search={"outer_steps": 2, "method": method, "step_size": 0.05,
                                                "perturbation": 0.05, "select": "last",
                                                "max_silent_fraction": None},
                                        objective=objective, backend="runtime", backend_options={"target": "numpy"},
                                        seed=0, callback=calls.append)
    assert json.loads(json.dumps(history)) == history
    assert history["rule"] == rule and all(record["inner"]["rule"] == rule for record in history["outer"])
    assert len(history["outer"]) == 2 and len(calls) == 2
    assert history["max_step"] == 0.05  # the default trust region: the perturbation
    for record in history["outer"]:
        assert np.abs(np.subtract(record["x_unit_next"], record["x_unit"])).max() <= 0.05 + 1e-12
    assert history["outer"][0]["n_candidates"] == {"spsa": 3, "central": 9, "gradient": 1}[method]
    assert history["space"]["names"] == ["hidden.tau_m", "hidden.V_th", "output.tau_m", "output.V_th"]
    changed = False
    for layer in ("hidden", "output"):
        model = new.layer(layer).neuron_model
        for name in ("tau_m", "V_th"):
            values = np.asarray(new.layer(layer).params[name])
            low, high = (float(b) for b in model.params[name].bounds)
            assert np.all((values >= low) & (values <= high)) and np.ptp(values) == 0  # shared per layer
            changed |= not np.allclose(values, np.asarray(spec.layer(layer).params[name]))
            assert history["final"]["parameters"][f"{layer}.{name}"] == values.tolist()
    assert changed
    assert not np.array_equal(np.asarray(new.weights[-1 if rule == "tempotron" else 0]),
                              np.asarray(spec.weights[-1 if rule == "tempotron" else 0]))
    assert np.isfinite(history["final"]["objective"])


def test_outer_loop_on_standalone_compiles_its_objective_once(standalone_dir):
    """Every outer step has new weights and new candidates; they all run on one compiled program (run_args)."""
    spec = NetworkSpec.create(6, hidden=4, output=2, seed=2)
    data = make_task("rate", n_samples=14, n_channels=6, n_bins=60, difficulty=0.2, seed=1)
    train = SpikeDataset(data.spiketrains[:8], data.labels[:8], data.dt)
    val = SpikeDataset(data.spiketrains[8:], data.labels[8:], data.dt)
    before = standalone.build_count()
    new, history = train_with_intrinsic(
        spec, train, val, inner_rule(spec, "stdp", epochs=1, gap=10 * ms), space={"parameters": ("tau_m", "V_th")},
        search=OuterSearch(outer_steps=3, method="spsa", step_size=0.2, perturbation=0.1, restart_inner=False),
        backend="standalone", backend_options={"directory": standalone_dir}, seed=0)
    assert standalone.build_count() - before <= 1  # 3 steps x 3 candidates + the final point: one program
    assert len(history["outer"]) == 3 and all(record["n_candidates"] == 3 for record in history["outer"])
    # the inner STDP changed the weights (restart_inner=False: they keep changing over the steps), yet no rebuild
    assert not np.array_equal(np.asarray(new.weights[0]), np.asarray(spec.weights[0]))


@pytest.mark.parametrize("restart", [True, False])
def test_train_with_intrinsic_restarts_inner_and_selects_best(restart):
    """Every inner learning starts from the initial weights; the result is the best visited point."""
    spec = NetworkSpec.create(6, hidden=4, output=2, seed=2)
    data = make_task("rate", n_samples=14, n_channels=6, n_bins=60, difficulty=0.2, seed=1)
    train = SpikeDataset(data.spiketrains[:8], data.labels[:8], data.dt)
    val = SpikeDataset(data.spiketrains[8:], data.labels[8:], data.dt)
    seen = []

    def inner(current, train_set, seed):  # a stand-in weight learner: scales the weights
        seen.append(np.asarray(current.weights[0], dtype=float).copy())
        return current.with_weights([w * 1.5 for w in current.weights]), {"rule": "scale"}

    results = {}
    for select in ("accuracy", "objective", "last"):
        seen.clear()
        results[select] = train_with_intrinsic(
            spec, train, val, inner, space={"layers": "output", "parameters": ("V_th",)},
            search={"outer_steps": 3, "method": "spsa", "step_size": 0.5, "perturbation": 0.2,
                    "restart_inner": restart, "select": select, "max_silent_fraction": None},
            seed=3, backend="runtime", backend_options={"target": "numpy"})
        assert len(seen) == 4
        start = np.asarray(spec.weights[0], dtype=float)
        for k, weights in enumerate(seen):
            np.testing.assert_allclose(weights, start * (1.0 if restart else 1.5 ** k))
    best, history = results["objective"]
    values = [record["objective"] for record in history["outer"]] + [history["final"]["objective"]]
    assert history["selected"] == int(np.argmin(values)) and history["selected_objective"] == min(values)
    before = [{"output.V_th": np.asarray(spec.layer("output").params["V_th"], dtype=float).tolist()}]
    before += [record["parameters"] for record in history["outer"]]  # parameters at the start of each step
    before.append(history["final"]["parameters"])
    chosen = before[history["selected"]]
    np.testing.assert_allclose(np.asarray(best.layer("output").params["V_th"]), chosen["output.V_th"])
    # by validation accuracy (the centre candidate's), ties broken by the objective
    by_accuracy, accuracy_history = results["accuracy"]
    accuracies = [record["details"]["accuracy"][0] for record in accuracy_history["outer"]]
    accuracies.append(accuracy_history["final"]["details"]["accuracy"][0])
    values = [record["objective"] for record in accuracy_history["outer"]] + [accuracy_history["final"]["objective"]]
    expected = min(range(4), key=lambda k: (-accuracies[k], values[k], k))
    assert accuracy_history["selected_by"] == "accuracy" and accuracy_history["selected"] == expected
    visited = before[:1] + [record["parameters"] for record in accuracy_history["outer"]]
    visited.append(accuracy_history["final"]["parameters"])
    np.testing.assert_allclose(np.asarray(by_accuracy.layer("output").params["V_th"]),
                               visited[expected]["output.V_th"])
    last, last_history = results["last"]
    assert last_history["selected"] == 3
    np.testing.assert_allclose(np.asarray(last.layer("output").params["V_th"]),
                               last_history["final"]["parameters"]["output.V_th"])
    # the selected point's objective is not above the starting point's (model selection on validation)
    assert history["selected_objective"] <= values[0]
    with pytest.raises(ParameterError, match="select"):
        train_with_intrinsic(spec, train, val, inner, search={"select": "best"})


def test_train_with_intrinsic_stops_on_callback_and_validates():
    spec = NetworkSpec.create(6, hidden=4, output=2, seed=2)
    data = make_task("rate", n_samples=12, n_channels=6, n_bins=40, difficulty=0.2, seed=1)
    train = SpikeDataset(data.spiketrains[:8], data.labels[:8], data.dt)
    val = SpikeDataset(data.spiketrains[8:], data.labels[8:], data.dt)
    inner = inner_rule(spec, "surrogate", epochs=1, validation_fraction=0)
    new, history = train_with_intrinsic(spec, train, val, inner,
                                        space={"layers": "output", "parameters": ("V_th",), "per_neuron": True},
                                        search={"outer_steps": 5, "method": "spsa", "final_inner": False},
                                        objective="twin", callback=lambda record: True)
    assert history["stopped_early"] and len(history["outer"]) == 1
    assert history["space"]["names"] == ["output.V_th[0]", "output.V_th[1]"]
    for kwargs, field in (({"inner": "hebb"}, "inner"), ({"search": {"method": "gradient"}}, "method"),
                          ({"search": {"outer_steps": 0}}, "outer_steps"),
                          ({"space": {"parameters": ("tau_x",)}}, "parameters"),
                          ({"space": {"layers": "nope"}}, "layers"), ({"space": {"tau": 1}}, "space"),
                          ({"objective": "accuracy"}, "objective"), ({"seed": 1.5}, "seed"),
                          ({"search": 3}, "search"), ({"search": {"steps": 3}}, "search"),
                          ({"search": {"max_step": "large"}}, "max_step"), ({"search": {"max_step": 0}}, "max_step")):
        with pytest.raises(ParameterError) as info:
            train_with_intrinsic(spec, train, val, **{"inner": inner, **kwargs})
        assert info.value.field == field, (kwargs, info.value)


def test_selection_never_returns_a_silent_or_one_class_point():
    """The activity constraint: the best-scoring visited point is skipped when its output layer is mostly
    silent or its readout predicts one class; with no admissible point the fixed start is returned."""
    from brainlz.learning.intrinsic import select_point

    def point(accuracy, objective, silent, classes):
        return {"accuracy": accuracy, "objective": objective, "silent_fraction": silent,
                "predicted_classes": classes}

    points = [point(0.70, 0.60, 0.10, 2), point(0.95, 0.20, 0.96, 2), point(0.90, 0.30, 0.20, 1),
              point(0.80, 0.50, 0.40, 2)]
    for select, unconstrained in (("accuracy", 1), ("objective", 1), ("last", 3)):
        chosen, _, constraint = select_point(points, select, 0.5)
        assert chosen == 3 and constraint["rejected"] == 2 and constraint["admissible"] == [True, False, False, True]
        assert select_point(points, select, None)[0] == unconstrained
    assert select_point(points, "accuracy", 0.97)[0] == 1  # the threshold is the stated one
    silent = [point(0.5, 0.69, 1.0, 1)] * 3
    chosen, _, constraint = select_point(silent, "accuracy", 0.5)
    assert chosen == 0 and constraint["fallback_to_start"]
    twin = [{"accuracy": None, "objective": 2.0}, {"accuracy": None, "objective": 1.0}]  # no activity measured
    assert select_point(twin, "accuracy", 0.5)[:2] == (1, "objective")
