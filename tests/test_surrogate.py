"""The surrogate-gradient twin: parity with Brian2, exact gradients, training, errors."""

import textwrap

import numpy as np
import pytest
from brian2 import mV, ms

from brainlz.backends import get_backend
from brainlz.data import make_task
from brainlz.errors import ModelError, ParameterError
from brainlz.learning.surrogate import (SURROGATES, Surrogate, SurrogateNetwork, derive_twin, population_of, predict,
                                        train_surrogate)
from brainlz.network import NetworkSpec
from reference import simulate_reference

# A quadratic integrate-and-fire model (nonlinear, forward Euler) and a voltage-jump LIF (exact integration, the
# weight is a voltage): neither exists in models/, so the twin must be derived without model-specific code.
THIRD_MODELS = {
    "qif_test": '''
        from brian2 import Mohm, mV, ms, ohm, second, volt, amp
        from brainlz.models import NeuronModel, Param
        EQUATIONS = """
        dv/dt = ((v - E_L) * (v - V_c) / V_s + R * I_syn) / tau_m : volt (unless refractory)
        dI_syn/dt = -I_syn / tau_syn : amp
        tau_m : second
        tau_syn : second
        E_L : volt
        V_c : volt
        V_s : volt
        R : ohm
        V_th : volt
        V_reset : volt
        t_ref : second
        """
        REF = "test model"
        PARAMS = {
            "tau_m": Param("tau_m", second, 10 * ms, (2 * ms, 50 * ms), (5 * ms, 30 * ms), REF),
            "tau_syn": Param("tau_syn", second, 5 * ms, (1 * ms, 20 * ms), (2 * ms, 10 * ms), REF),
            "E_L": Param("E_L", volt, -65 * mV, (-80 * mV, -55 * mV), (-70 * mV, -60 * mV), REF, learnable=False),
            "V_c": Param("V_c", volt, -50 * mV, (-60 * mV, -40 * mV), (-55 * mV, -45 * mV), REF),
            "V_s": Param("V_s", volt, 15 * mV, (5 * mV, 40 * mV), (10 * mV, 20 * mV), REF),
            "R": Param("R", ohm, 100 * Mohm, (10 * Mohm, 500 * Mohm), (50 * Mohm, 200 * Mohm), REF),
            "V_th": Param("V_th", volt, -35 * mV, (-45 * mV, -20 * mV), (-40 * mV, -30 * mV), REF),
            "V_reset": Param("V_reset", volt, -60 * mV, (-80 * mV, -50 * mV), (-70 * mV, -55 * mV), REF),
            "t_ref": Param("t_ref", second, 2 * ms, (0 * ms, 10 * ms), (1 * ms, 5 * ms), REF, learnable=False),
        }
        MODEL = NeuronModel(name="qif_test", equations=EQUATIONS, threshold="v > V_th", reset="v = V_reset",
                            refractory="t_ref", method="euler", params=PARAMS, initial={"v": "E_L"},
                            on_pre="I_syn_post += w", weight_unit=amp, constraints=("V_reset < V_th",))
        ''',
    "vjump_test": '''
        from brian2 import mV, ms, second, volt
        from brainlz.models import NeuronModel, Param
        REF = "test model"
        PARAMS = {
            "tau_m": Param("tau_m", second, 15 * ms, (2 * ms, 50 * ms), (5 * ms, 30 * ms), REF),
            "E_L": Param("E_L", volt, -70 * mV, (-80 * mV, -55 * mV), (-75 * mV, -65 * mV), REF, learnable=False),
            "V_th": Param("V_th", volt, -55 * mV, (-65 * mV, -40 * mV), (-60 * mV, -45 * mV), REF),
            "V_reset": Param("V_reset", volt, -72 * mV, (-85 * mV, -60 * mV), (-80 * mV, -65 * mV), REF),
            "t_ref": Param("t_ref", second, 1 * ms, (0 * ms, 10 * ms), (1 * ms, 5 * ms), REF, learnable=False),
        }
        MODEL = NeuronModel(name="vjump_test", method="exact", params=PARAMS, threshold="V_th < v",
                            reset="v = V_reset", refractory="t_ref", initial={"v": "E_L"},
                            equations="""
                            dv/dt = (E_L - v) / tau_m : volt (unless refractory)
                            tau_m : second
                            E_L : volt
                            V_th : volt
                            V_reset : volt
                            t_ref : second
                            """,
                            on_pre="v_post += 0.5 * w + 0.5 * abs(w)", weight_unit=volt)
        ''',
}


@pytest.fixture
def third_models(tmp_path, monkeypatch):
    directory = tmp_path / "user_models"
    directory.mkdir()
    for name, source in THIRD_MODELS.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", str(directory))
    return directory


def _spec(model, n_inputs=20, hidden=16, output=8, seed=1):
    spec = NetworkSpec.create(n_inputs, hidden=hidden, output=output, model=model, seed=seed)
    if model == "vjump_test":  # weights are voltages: about 4 mV per input spike
        rng = np.random.default_rng(seed)
        spec = spec.with_weights([rng.normal(4.0, 3.0, np.shape(w)) * mV for w in spec.weights])
    if model == "qif_test":
        spec = spec.with_weights([w * 1.5 for w in spec.weights])
    return spec


def _brian2_rasters(spec, spiketrains):
    result = get_backend("runtime").simulate(spec, spiketrains, target="numpy", record_hidden=True)
    return [result.hidden[name] for name in spec.layer_names[:-1]] + [result.output]


# ---------------------------------------------------------------------------------------------- derivation
def test_lif_twin_is_brian2s_exponential_euler():
    import sympy

    twin = derive_twin("lif", 1e-3)
    s = {name: sympy.Symbol(name, real=True) for name in ("v", "I_syn", "E_L", "R", "tau_m", "tau_syn", "dt")}
    v_inf = s["E_L"] + s["R"] * s["I_syn"]
    expected_v = v_inf + (s["v"] - v_inf) * sympy.exp(-s["dt"] / s["tau_m"])
    assert sympy.simplify(twin.update["v"] - expected_v) == 0
    assert sympy.simplify(twin.update["I_syn"] - s["I_syn"] * sympy.exp(-s["dt"] / s["tau_syn"])) == 0
    assert twin.states == ("v", "I_syn")
    assert twin.frozen_when_refractory == ("v",)
    assert twin.reset_targets == ("v",) and twin.synaptic_targets == ("I_syn",)


def test_meta_neuron_twin_structure():
    twin = derive_twin("meta_neuron", 1e-3, ("tau_m", "I_half", "delta_theta"))
    assert twin.states == ("v", "I_syn", "I_abs", "theta")
    assert set(twin.reset_targets) == {"v", "theta"}
    assert set(twin.synaptic_targets) == {"I_syn", "I_abs"}
    assert str(twin.threshold["rhs"]) == "V_th + theta"
    weights = np.array([[-2.0, 3.0]])
    values = dict(zip(twin.synaptic_targets, twin.increment_values(weights)))
    np.testing.assert_array_equal(values["I_abs"], np.abs(weights))
    grads = dict(zip(twin.synaptic_targets, twin.increment_derivatives(weights)))
    np.testing.assert_array_equal(grads["I_abs"], np.sign(weights))


# ---------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("model", ["lif", "meta_neuron"])
def test_forward_equals_brian2_spike_for_spike(model):
    spec = _spec(model)
    data = make_task("rate", n_samples=100, n_channels=20, n_bins=300, difficulty=0.5, seed=3)
    twin = SurrogateNetwork(spec).forward(data.spiketrains)
    brian = _brian2_rasters(spec, data.spiketrains)
    reference = simulate_reference(spec, data.spiketrains)
    for k in range(len(spec.layers)):
        assert brian[k].sum() > 2000  # the comparison is not vacuous: thousands of spikes per layer
        np.testing.assert_array_equal(twin.rasters(k), brian[k])
        np.testing.assert_array_equal(twin.rasters(k), reference[k])
    # refractoriness (t_ref = 2 ms) shaped the output: no two spikes of a neuron in consecutive bins
    out = twin.rasters(-1)
    assert not np.any(out[:, :, 1:] & out[:, :, :-1])


@pytest.mark.parametrize("model", ["qif_test", "vjump_test"])
def test_third_model_forward_equals_brian2(third_models, model):
    spec = _spec(model, n_inputs=12, hidden=6, output=4)
    data = make_task("rate", n_samples=20, n_channels=12, n_bins=200, difficulty=0.5, seed=4)
    twin = SurrogateNetwork(spec, ("weights", "intrinsic")).forward(data.spiketrains)
    brian = _brian2_rasters(spec, data.spiketrains)
    for k in range(len(spec.layers)):
        assert brian[k].sum() > 100
        np.testing.assert_array_equal(twin.rasters(k), brian[k])


def test_exported_spec_round_trip():
    spec = _spec("meta_neuron", hidden=4, output=3)
    net = SurrogateNetwork(spec, ("weights", "intrinsic"))
    back = net.to_spec()
    for a, b in zip(spec.weights, back.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for la, lb in zip(spec.layers, back.layers):
        for name in la.params:
            np.testing.assert_array_equal(np.asarray(la.params[name]), np.asarray(lb.params[name]))


# ---------------------------------------------------------------------------------------------- gradients
def _finite_difference(net, blocks, values, j, loss_of, eps=1e-6):
    """Central differences with one Richardson step (error O(eps^4))."""
    def central(step):
        out = np.zeros_like(values[j])
        for index in np.ndindex(values[j].shape):
            for sign in (1.0, -1.0):
                trial = [v.copy() for v in values]
                trial[j][index] += sign * step
                net.set_vector(blocks, trial)
                out[index] += sign * loss_of() / (2 * step)
        net.set_vector(blocks, values)
        return out

    return (4.0 * central(eps / 2) - central(eps)) / 3.0


def _gradient_check(spec, data, loss="count_ce", detach=False, t_ref_zero=True, **loss_options):
    if t_ref_zero:  # refractoriness is a mask without gradient; remove it so the loss is smooth everywhere
        for layer in spec.layer_names:
            spec = spec.with_params(layer, t_ref=0 * ms)
    net = SurrogateNetwork(spec, ("weights", "intrinsic"), slope=0.5, detach_reset=detach)

    def loss_of(keep=False):
        result = net.forward(data.spiketrains, mode="smooth", keep_tape=keep)
        value, grad_inputs, _ = net.loss(result, data.labels, 2, kind=loss, **loss_options)
        return (value, result, grad_inputs) if keep else value

    _, result, grad_inputs = loss_of(True)
    grads = net.backward(result, **grad_inputs)
    blocks = net._blocks()
    values = net.get_vector(blocks)
    analytic = net.gradient_vector(blocks, grads)
    errors = {}
    for j, (kind, k, name, _, _) in enumerate(blocks):
        numeric = _finite_difference(net, blocks, values, j, loss_of)
        assert np.linalg.norm(numeric) > 1e-3, (kind, k, name)  # a real gradient, not zero against zero
        errors[(kind, k, name)] = np.linalg.norm(analytic[j] - numeric) / np.linalg.norm(numeric)
    return errors


@pytest.mark.parametrize("model", ["lif", "meta_neuron"])
def test_bptt_gradients_match_finite_differences(model):
    spec = _spec(model, n_inputs=6, hidden=4, output=4, seed=2)
    data = make_task("rate", n_samples=3, n_channels=6, n_bins=40, difficulty=0.3, seed=1)
    errors = _gradient_check(spec, data, count_scale=1.0)
    assert len(errors) == 2 * (1 + len(spec.layers[0].neuron_model.learnable_parameters))
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-4, (worst, errors[worst])


@pytest.mark.parametrize("loss", ["rate_mse", "max_membrane"])
def test_gradients_of_other_losses(loss):
    spec = _spec("lif", n_inputs=6, hidden=3, output=2, seed=5)
    data = make_task("rate", n_samples=3, n_channels=6, n_bins=40, difficulty=0.3, seed=2)
    errors = _gradient_check(spec, data, loss=loss)
    assert max(errors.values()) < 1e-4, errors


def test_third_model_gradients(third_models):
    spec = _spec("qif_test", n_inputs=6, hidden=3, output=2, seed=3)
    data = make_task("rate", n_samples=3, n_channels=6, n_bins=40, difficulty=0.3, seed=2)
    errors = _gradient_check(spec, data, count_scale=1.0)
    assert max(errors.values()) < 1e-4, errors


def test_gradients_with_refractoriness_where_no_spike_moves():
    """With t_ref > 0 the refractory mask is piecewise constant; away from its jumps the gradient is still exact."""
    spec = _spec("lif", n_inputs=6, hidden=3, output=2, seed=2)
    data = make_task("rate", n_samples=2, n_channels=6, n_bins=40, difficulty=0.3, seed=1)
    errors = _gradient_check(spec, data, t_ref_zero=False, count_scale=1.0)
    assert max(errors.values()) < 1e-4, errors


def test_detached_reset_changes_only_the_gradient():
    spec = _spec("lif", n_inputs=6, hidden=3, output=2, seed=2)
    data = make_task("rate", n_samples=4, n_channels=6, n_bins=60, difficulty=0.3, seed=1)
    grads, counts = [], []
    for detach in (False, True):
        net = SurrogateNetwork(spec, ("weights", "V_reset"), detach_reset=detach)
        result = net.forward(data.spiketrains, keep_tape=True)
        _, grad_inputs, _ = net.loss(result, data.labels, 2)
        grads.append(net.backward(result, **grad_inputs))
        counts.append(result.counts)
    np.testing.assert_array_equal(counts[0], counts[1])
    assert not np.allclose(grads[0]["weights"][0], grads[1]["weights"][0])


def test_checkpointing_gives_the_same_gradients():
    spec = _spec("meta_neuron", n_inputs=8, hidden=5, output=4, seed=4)
    data = make_task("burst", n_samples=4, n_channels=8, n_bins=100, difficulty=0.2, seed=6)
    out = []
    for every in (None, 7):
        net = SurrogateNetwork(spec, ("weights", "intrinsic"), checkpoint_every=every)
        result = net.forward(data.spiketrains, keep_tape=True)
        _, grad_inputs, _ = net.loss(result, data.labels, 2)
        out.append(net.backward(result, **grad_inputs))
    for a, b in zip(out[0]["weights"], out[1]["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    for a, b in zip(out[0]["params"], out[1]["params"]):
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", SURROGATES)
def test_surrogate_derivative_is_the_derivative_of_its_step(name):
    surrogate = Surrogate(name, slope=2.0)
    x = np.linspace(-3, 3, 601) + 1e-3  # avoid the triangle's kinks at exactly +-1/k
    h = 1e-6
    numeric = (surrogate.function(x + h) - surrogate.function(x - h)) / (2 * h)
    np.testing.assert_allclose(surrogate.derivative(x), numeric, rtol=1e-6, atol=1e-8)
    assert surrogate.function(np.array(-50.0)) < 0.02 and surrogate.function(np.array(50.0)) > 0.98
    assert abs(surrogate.function(np.array(0.0)) - 0.5) < 1e-12


# ---------------------------------------------------------------------------------------------- training
def test_training_learns_and_brian2_agrees_with_the_twin():
    data = make_task("rate", n_samples=80, n_channels=16, n_bins=150, difficulty=0.4, seed=7)
    spec = NetworkSpec.create(16, hidden=8, output=4, model="lif", seed=3)
    initial = predict(spec, data.spiketrains, 2)
    trained, history = train_surrogate(spec, data.spiketrains, data.labels, learn=("weights", "intrinsic"),
                                       epochs=8, batch_size=16, lr=0.03, validation_fraction=0.25, patience=8,
                                       seed=1)
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    twin_predictions = predict(trained, data.spiketrains, 2)
    accuracy = np.mean(twin_predictions == data.labels)
    assert accuracy > max(0.8, np.mean(initial == data.labels))
    # intrinsic parameters moved, inside their bounds and constraints
    moved = 0
    for layer in trained.layers:
        model = layer.neuron_model
        for name in model.learnable_parameters:
            values = np.asarray(layer.params[name])
            low, high = (float(b) for b in model.params[name].bounds)
            assert np.all((values >= low) & (values <= high))
            moved += not np.allclose(values, float(model.params[name].default))
        assert np.all(np.asarray(layer.params["V_reset"]) < np.asarray(layer.params["V_th"]))
    assert moved >= 4
    # the exported network simulated by Brian2 gives the twin's decisions (within 1 pp: here identical)
    brian = get_backend("runtime").simulate(trained, data.spiketrains, target="numpy")
    groups = population_of(trained.output.n_neurons, 2)
    counts = brian.output.sum(axis=2)
    brian_predictions = np.argmax(np.stack([counts[:, groups == c].mean(axis=1) for c in range(2)], axis=1), axis=1)
    assert abs(np.mean(brian_predictions == data.labels) - accuracy) <= 0.01


def test_training_is_reproducible_and_shared_parameters_stay_shared():
    data = make_task("rate", n_samples=24, n_channels=8, n_bins=80, difficulty=0.5, seed=2)
    spec = NetworkSpec.create(8, hidden=4, output=2, model="meta_neuron", seed=1)
    runs = [train_surrogate(spec, data.spiketrains, data.labels, learn=("weights", "tau_m", "delta_theta"),
                            shared=True, epochs=2, batch_size=8, lr=0.05, seed=5)[0] for _ in range(2)]
    for a, b in zip(runs[0].weights, runs[1].weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for layer in runs[0].layers:
        tau = np.asarray(layer.params["tau_m"])
        assert np.all(tau == tau[0]) and tau[0] != 0.02


def test_projection_keeps_bounds_and_constraints():
    spec = NetworkSpec.create(4, hidden=0, output=3, model="lif", seed=0)
    net = SurrogateNetwork(spec, ("V_th", "V_reset", "tau_m"))
    params = net.params[0]
    params["tau_m"][:] = [0.5, -1.0, 0.01]
    params["V_th"][:] = [-0.060, -0.040, -0.061]
    params["V_reset"][:] = [-0.055, -0.070, -0.060]
    net.project(net._blocks())
    assert np.all(params["tau_m"] <= 0.1) and np.all(params["tau_m"] >= 0.002)
    assert np.all(params["V_reset"] < params["V_th"])
    assert params["V_th"][1] == -0.040 and params["V_reset"][1] == -0.070  # untouched where valid


# ---------------------------------------------------------------------------------------------- errors
def test_errors_name_the_offending_field():
    spec = NetworkSpec.create(4, hidden=0, output=2, model="lif", seed=0)
    with pytest.raises(ParameterError, match="t_ref"):
        SurrogateNetwork(spec, ("weights", "t_ref"))
    with pytest.raises(ParameterError, match="learn.*tau_x"):
        SurrogateNetwork(spec, ("tau_x",))
    with pytest.raises(ParameterError, match="surrogate"):
        SurrogateNetwork(spec, surrogate="relu")
    with pytest.raises(ModelError, match="deterministic"):
        SurrogateNetwork(NetworkSpec.create(4, hidden=0, output=2, model="meta_neuron",
                                            model_options={"stochastic": True}))
    data = make_task("rate", n_samples=6, n_channels=4, n_bins=20, seed=0)
    with pytest.raises(ParameterError, match="labels"):
        train_surrogate(spec, data.spiketrains, data.labels[:-1])
    with pytest.raises(ParameterError, match="loss"):
        train_surrogate(spec, data.spiketrains, data.labels, loss="hinge")
    with pytest.raises(ParameterError, match="output.n_neurons"):
        train_surrogate(NetworkSpec.create(4, hidden=0, output=2, seed=0), data.spiketrains,
                        np.arange(6) % 3)


def test_unsupported_on_pre_is_a_model_error(third_models):
    (third_models / "bad_onpre.py").write_text(textwrap.dedent(THIRD_MODELS["vjump_test"]).replace(
        'on_pre="v_post += 0.5 * w + 0.5 * abs(w)"', 'on_pre="v_post += w * v_pre"').replace(
        'name="vjump_test"', 'name="bad_onpre"'))
    with pytest.raises(ModelError, match="on_pre"):
        derive_twin("bad_onpre", 1e-3)


# ---------------------------------------------------------------------------------------------- protocols
@pytest.mark.parametrize("file", ["bp_lif.py", "bp_meta.py"])
def test_bp_protocols_reduced_cell_runs_and_brian2_matches_the_twin(file, tmp_path):
    """One cell of each shipped protocol, shrunk: trained, exported, simulated in Brian2, decisions identical."""
    from pathlib import Path

    from brainlz.sweep import load_experiment, run_sweep

    sweep = load_experiment(Path(__file__).resolve().parent.parent / "protocols" / file)
    assert len(sweep.cells) == 3 * 2 * 3 and sweep.paired == ("intrinsic", "learnable", "fixed")
    small = sweep.with_base(n_samples=40, n_bins=120, hidden=8, output=4, backend="runtime",
                            backend_options={"target": "numpy"})
    result = run_sweep(small, tmp_path, progress=False, figures=True,
                       only={"task": "burst", "intrinsic": "learnable", "seed": 0})
    assert result.ran == ["task=burst,intrinsic=learnable,seed=0"]
    cell = tmp_path / small.name / "cells" / result.ran[0]
    metrics = __import__("json").loads((cell / "metrics.json").read_text())
    check = metrics["twin_vs_brian2"]
    assert abs(check["difference_pp"]) <= 1.0 and check["decision_agreement"] == 1.0
    assert metrics["learning"]["rule"] == "surrogate" and metrics["learning"]["epochs"]
    initial = NetworkSpec.load(cell / "network_initial.npz")
    trained = NetworkSpec.load(cell / "network.npz")
    assert not np.allclose(np.asarray(initial.output.params["V_th"]), np.asarray(trained.output.params["V_th"]))
    assert (cell / "figures" / "parameter_distributions.png").stat().st_size > 10_000


def test_min_delta_stops_a_creeping_loss_and_keeps_the_lowest_loss_network():
    """Early stopping: with ``min_delta`` a decrease smaller than it does not reset the patience; the network
    returned is the one of the lowest validation loss either way; ``min_delta=0`` is the plain rule."""
    data = make_task("rate", n_samples=40, n_channels=8, n_bins=80, difficulty=0.4, seed=4)
    spec = NetworkSpec.create(8, hidden=6, output=4, model="lif", seed=2)
    options = dict(epochs=12, batch_size=8, lr=0.03, validation_fraction=0.25, patience=2, seed=3)
    plain, plain_history = train_surrogate(spec, data.spiketrains, data.labels, **options)
    zero, zero_history = train_surrogate(spec, data.spiketrains, data.labels, min_delta=0.0, **options)
    assert [e["validation_loss"] for e in zero_history.epochs] == [e["validation_loss"] for e in plain_history.epochs]
    assert zero_history.best_epoch == plain_history.best_epoch
    losses = [e["validation_loss"] for e in plain_history.epochs]
    assert len(losses) > 3 and losses[1] < losses[0]  # the plain rule trains on past epoch 2 here
    _, strict_history = train_surrogate(spec, data.spiketrains, data.labels, min_delta=10.0, **options)
    strict = [e["validation_loss"] for e in strict_history.epochs]
    assert len(strict) == 1 + options["patience"] and strict_history.stopped_early  # no 10-nat improvement
    assert strict == losses[:len(strict)]  # the same epochs, stopped earlier
    assert strict_history.best_epoch == int(np.argmin(strict))
    with pytest.raises(ParameterError, match="min_delta"):
        train_surrogate(spec, data.spiketrains, data.labels, min_delta=-1.0, **options)
