"""Protocol-level learning options: intrinsic parameters for every rule, and the tuned baseline."""

import json

import numpy as np
import pytest

import brainlz.protocol as protocol_module
from brainlz.errors import ParameterError
from brainlz.network import NetworkSpec
from brainlz.protocol import Protocol, run_protocol

TINY = dict(task="burst", difficulty=0.0, n_samples=40, n_channels=8, n_bins=100, hidden=4, output=4,
            backend="runtime", backend_options={"target": "numpy"}, batch_size=40, n_folds=2, test_size=0.25)


def _run(tmp_path, learning, **changes):
    protocol = Protocol(name="learn", learning=learning, **{**TINY, **changes})
    result = run_protocol(protocol, tmp_path, progress=False, figures=False)
    return result, NetworkSpec.load(result.directory / "network_initial.npz"), \
        NetworkSpec.load(result.directory / "network.npz")


def _layer_values(spec, name):
    return [np.asarray(layer.params[name]) for layer in spec.layers]


@pytest.mark.parametrize("rule, options", [
    ("stdp", {"epochs": 1}),
    ("tempotron", {"epochs": 2, "learning_rate": 0.01}),
])
def test_intrinsic_outer_loop_runs_inside_a_protocol(tmp_path, rule, options):
    learning = {"rule": rule, **options,
                "intrinsic": {"parameters": ["tau_m", "V_th"], "outer_steps": 2, "method": "spsa",
                              "step_size": 0.2, "perturbation": 0.1,
                              "max_silent_fraction": None}}
    result, initial, trained = _run(tmp_path, learning)
    history = result.metrics["learning"]
    assert history["rule"] == rule and len(history["intrinsic"]["outer"]) == 2
    moved = [not np.allclose(a, b) for a, b in zip(_layer_values(initial, "tau_m"), _layer_values(trained, "tau_m"))]
    assert any(moved)
    for values in _layer_values(trained, "tau_m"):
        assert np.all(values == values[0]) and 0.002 <= values[0] <= 0.1  # shared per layer, inside the bounds
    for values in _layer_values(trained, "V_reset"):  # not in the vector: unchanged
        np.testing.assert_array_equal(values, -0.065)
    # The refit: the final weights are what fixed-parameter learning gives, from the initial weights, for the
    # selected intrinsic parameters on the whole training part (30 samples), like the tuned baseline's.
    assert history["refit"] is True and history["refit_samples"] == 30
    from brainlz.data import make_task
    from brainlz.protocol import derived_seeds, train_network

    protocol = Protocol(name="learn", learning=learning, **TINY)
    seeds = derived_seeds(protocol.seed)
    dataset = make_task(protocol.task, n_samples=protocol.n_samples, n_channels=protocol.n_channels,
                        difficulty=protocol.difficulty, n_classes=protocol.n_classes, n_bins=protocol.n_bins,
                        dt=protocol.dt, seed=seeds["data"])
    plain = {k: v for k, v in learning.items() if k != "intrinsic"}
    train_set = dataset.split(protocol.test_size, seeds["readout"]).train
    expected, _ = train_network(trained.with_weights(initial.weights), train_set, plain,
                                backend=protocol.backend, backend_options=protocol.backend_options,
                                seed=seeds["learning"])
    for got, want in zip(trained.weights, expected.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ParameterError, match="refit"):
        _run(tmp_path, {**learning, "intrinsic": {**learning["intrinsic"], "refit": "yes"}})


def test_outer_loop_reports_every_step_and_respects_the_bounds(tmp_path, capsys):
    learning = {"rule": "tempotron", "epochs": 2, "learning_rate": 0.01,
                "intrinsic": {"parameters": ["tau_m"], "outer_steps": 3, "method": "spsa", "step_size": 0.5,
                              "perturbation": 0.2, "bounds": {"tau_m": [0.015, 0.03], "output.tau_m": [0.02, 0.022]}}}
    protocol = Protocol(name="learn", learning=learning, **TINY)
    result = run_protocol(protocol, tmp_path, progress=True, figures=False)
    history = result.metrics["learning"]["intrinsic"]
    assert history["space"]["bounds"] == [[0.015, 0.03], [0.02, 0.022]]
    for record in history["outer"]:
        assert 0.015 <= record["parameters"]["hidden.tau_m"][0] <= 0.03
        assert 0.02 <= record["parameters"]["output.tau_m"][0] <= 0.022
    for before, after in zip(history["outer"], history["outer"][1:]):  # u in [0, 1] spans the narrowed boxes
        u_hidden, u_output = after["x_unit"]
        assert before["parameters"]["hidden.tau_m"][0] == pytest.approx(0.015 + 0.015 * u_hidden, rel=1e-12)
        assert before["parameters"]["output.tau_m"][0] == pytest.approx(0.02 + 0.002 * u_output, rel=1e-12)
    lines = [line for line in capsys.readouterr().err.splitlines() if "intrinsic outer step" in line]
    assert len(lines) == 3
    for k, (line, record) in enumerate(zip(lines, history["outer"])):
        accuracy = 100.0 * record["details"]["accuracy"][0]
        assert line == (f"learn: intrinsic outer step {k + 1}/3: objective {record['objective']:.4f}, "
                        f"validation accuracy {accuracy:.1f} %")
    with pytest.raises(ParameterError, match="bounds.tau_m"):
        _run(tmp_path, {**learning, "intrinsic": {"parameters": ["tau_m"], "bounds": {"tau_m": [0.03, 0.04]}}})


def test_surrogate_intrinsic_means_joint_gradient_learning(tmp_path):
    learning = {"rule": "surrogate", "epochs": 2, "lr": 0.03,
                "intrinsic": {"parameters": ["V_th"], "shared": True, "outer_steps": 3, "method": "spsa"}}
    result, initial, trained = _run(tmp_path, learning)
    assert result.metrics["learning"]["learn"] == ["weights", "V_th"]
    assert result.metrics["learning"]["intrinsic_options_not_used"] == ["method", "outer_steps"]
    out = np.asarray(trained.output.params["V_th"])
    assert np.all(out == out[0]) and out[0] != -0.05
    np.testing.assert_array_equal(np.asarray(trained.output.params["tau_m"]), 0.02)
    with pytest.raises(ParameterError, match="intrinsic"):
        _run(tmp_path, {"rule": "surrogate", "intrinsic": {"outer_stepz": 2}})


def test_tuning_picks_the_best_validation_candidate_and_never_sees_the_test(tmp_path, monkeypatch):
    seen = []
    original = protocol_module.train_network

    def recording(spec, train_set, learning, **kwargs):
        seen.append((spec.layers[0].n_neurons, learning.get("learning_rate"), train_set.n_samples))
        return original(spec, train_set, learning, **kwargs)

    monkeypatch.setattr(protocol_module, "train_network", recording)
    learning = {"rule": "tempotron", "epochs": 2, "tune": {"hidden": [2, 4], "learning_rate": [0.001, 0.01]}}
    result, initial, trained = _run(tmp_path, learning)
    tuning = result.metrics["tuning"]
    assert [c["choice"] for c in tuning["candidates"]] == [
        {"hidden": 2, "learning_rate": 0.001}, {"hidden": 2, "learning_rate": 0.01},
        {"hidden": 4, "learning_rate": 0.001}, {"hidden": 4, "learning_rate": 0.01}]
    scores = [c["validation_accuracy"] for c in tuning["candidates"]]
    assert tuning["best"] == tuning["candidates"][int(np.argmax(scores))]["choice"]
    assert trained.layers[0].n_neurons == tuning["best"]["hidden"]
    n_train = 30  # 40 samples, test_size 0.25
    assert [s[2] for s in seen[:4]] == [n_train - tuning["n_validation"]] * 4  # candidates: inner part only
    assert seen[4][2] == n_train and seen[4][:2] == (tuning["best"]["hidden"], tuning["best"]["learning_rate"])
    config = json.loads((result.directory / "config.json").read_text())
    assert config["protocol"]["learning"]["tune"]  # the requested protocol is what is recorded
    with pytest.raises(ParameterError, match="tune"):
        _run(tmp_path, {"rule": "tempotron", "tune": {"hidden": []}})


def test_learning_rate_scale_multiplies_each_rules_own_rate():
    from brainlz.learning.stdp import STDPRule
    from brainlz.protocol import _scale_learning_rate

    assert _scale_learning_rate({"rule": "surrogate", "lr": 0.02}, 3.0)["lr"] == pytest.approx(0.06)
    assert _scale_learning_rate({"rule": "tempotron"}, 0.5)["learning_rate"] == pytest.approx(0.005)
    stdp = _scale_learning_rate({"rule": "stdp"}, 2.0)
    assert stdp["A_plus"] == pytest.approx(2 * STDPRule.A_plus) and stdp["A_minus"] == pytest.approx(2 * STDPRule.A_minus)
    with pytest.raises(ParameterError, match="learning_rate_scale"):
        _scale_learning_rate({"rule": "stdp"}, -1)


def test_energy_and_latency_columns(tmp_path):
    from brainlz.backends import get_backend
    from brainlz.data import make_task

    result, _, spec = _run(tmp_path, {"rule": "tempotron", "epochs": 1})
    energy = result.metrics["energy"]
    protocol = Protocol(name="learn", **TINY)
    seeds = protocol_module.derived_seeds(protocol.seed)
    from brian2 import ms

    data = make_task(protocol.task, n_samples=protocol.n_samples, n_channels=protocol.n_channels,
                     difficulty=protocol.difficulty, n_bins=protocol.n_bins, dt=1 * ms, seed=seeds["data"])
    sim = get_backend("runtime").simulate(spec, data.spiketrains, target="numpy", record_hidden=True)
    # every spike of a presynaptic neuron drives all its (nonzero-weight) targets
    expected = (data.spiketrains.sum(axis=(1, 2)) * spec.layers[0].n_neurons
                + sim.hidden["hidden"].sum(axis=(1, 2)) * spec.layers[1].n_neurons).mean()
    assert energy["synops_per_inference"] == pytest.approx(expected)
    assert energy["ann_macs_per_inference"] == 8 * 4 + 4 * 4
    assert energy["snn_joules"] == pytest.approx(0.9e-12 * expected)
    assert energy["ann_joules"] == pytest.approx(4.6e-12 * 48)
    assert result.metrics["latency"]["seconds_per_sample"] > 0 and result.metrics["latency"]["inference_seconds_per_sample"] > 0
    assert "synaptic operations per inference" in result.table
