"""Neuron models: loading by name, parameter specs, user model files."""

import textwrap

import numpy as np
import pytest
from brian2 import Hz, mV, ms, second, volt

from brainlz.errors import ModelError, ParameterError
from brainlz.models import NeuronModel, Param, available_models, load_model
from brainlz.network import NetworkSpec


@pytest.mark.parametrize("name,options", [("lif", {}), ("meta_neuron", {}), ("meta_neuron", {"stochastic": True})])
def test_builtin_models_are_complete(name, options):
    model = load_model(name, **options)
    assert isinstance(model, NeuronModel)
    for required in ("tau_m", "V_th", "V_reset", "R"):
        assert required in model.params and model.params[required].learnable
    for spec in model.params.values():
        low, high = float(spec.bounds[0]), float(spec.bounds[1])
        assert low <= float(spec.default) <= high
        # the biological range is reachable by learning: it lies inside the bounds
        assert low <= float(spec.bio_range[0]) <= float(spec.bio_range[1]) <= high
        assert spec.source and spec.description
    assert model.voltage in model.state_variables()


def test_meta_neuron_has_time_varying_tau_and_threshold():
    model = load_model("meta_neuron")
    assert {"I_half", "delta_theta", "tau_theta"} <= set(model.learnable_parameters)
    assert "theta" in model.threshold_expression and "tau_eff" in model.equations
    stochastic = load_model("meta_neuron", stochastic=True)
    assert "rand()" in stochastic.threshold and {"rho_0", "delta_u"} <= set(stochastic.params)
    assert "rand()" not in model.threshold


def test_unknown_model_names_known_ones():
    with pytest.raises(ParameterError, match="model = 'hodgkin'.*lif.*meta_neuron"):
        load_model("hodgkin")
    with pytest.raises(ParameterError, match="model"):
        load_model("../etc/passwd")
    assert {"lif", "meta_neuron"} <= set(available_models())


def test_user_model_file_without_touching_brainlz(tmp_path, monkeypatch, rng):
    """A third model defined only here loads by name and simulates."""
    (tmp_path / "quadratic_if.py").write_text(textwrap.dedent('''
        from brian2 import amp, mV, ms, second, volt, ohm, Mohm
        from brainlz.models import NeuronModel, Param
        MODEL = NeuronModel(
            name="quadratic_if",
            equations="""
            dv/dt = ((v - E_L) * (v - V_c) / delta_v + R * I_syn) / tau_m : volt (unless refractory)
            dI_syn/dt = -I_syn / tau_syn : amp
            tau_m : second
            tau_syn : second
            t_ref : second
            E_L : volt
            V_c : volt
            delta_v : volt
            V_th : volt
            V_reset : volt
            R : ohm
            """,
            threshold="v > V_th", reset="v = V_reset", method="euler",
            params={
                "tau_m": Param("tau_m", second, 10*ms, (1*ms, 50*ms), (5*ms, 30*ms), "test"),
                "tau_syn": Param("tau_syn", second, 5*ms, (1*ms, 20*ms), (2*ms, 10*ms), "test", learnable=False),
                "t_ref": Param("t_ref", second, 2*ms, (0*ms, 5*ms), (1*ms, 3*ms), "test", learnable=False),
                "E_L": Param("E_L", volt, -65*mV, (-80*mV, -50*mV), (-75*mV, -60*mV), "test", learnable=False),
                "V_c": Param("V_c", volt, -50*mV, (-60*mV, -40*mV), (-55*mV, -45*mV), "test"),
                "delta_v": Param("delta_v", volt, 15*mV, (1*mV, 50*mV), (5*mV, 30*mV), "test"),
                "V_th": Param("V_th", volt, -30*mV, (-40*mV, 0*mV), (-35*mV, -20*mV), "test"),
                "V_reset": Param("V_reset", volt, -70*mV, (-80*mV, -55*mV), (-75*mV, -60*mV), "test"),
                "R": Param("R", ohm, 100*Mohm, (10*Mohm, 500*Mohm), (50*Mohm, 300*Mohm), "test"),
            },
            initial={"v": "E_L"}, on_pre="I_syn_post += w", weight_unit=amp)
    '''))
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", str(tmp_path))
    model = load_model("quadratic_if")
    assert model.name == "quadratic_if" and "quadratic_if" in available_models()
    from brainlz.backends import runtime

    spec = NetworkSpec.create(8, hidden=0, output=3, model="quadratic_if", seed=0)
    spec = spec.with_weights([w * 3 for w in spec.weights])
    x = rng.random((2, 8, 300)) < 0.05
    out = runtime.simulate(spec, x, target="numpy").output
    assert out.shape == (2, 3, 300) and out.sum() > 0


def test_model_file_without_model(tmp_path):
    (tmp_path / "empty_model.py").write_text("x = 1\n")
    with pytest.raises(ModelError, match="neither MODEL nor make_model"):
        load_model("empty_model", path=tmp_path)


def test_bad_model_options():
    with pytest.raises(ParameterError, match="model options"):
        load_model("lif", stochastic=True)
    with pytest.raises(ParameterError, match="model options"):
        load_model("meta_neuron", colour="blue")


def test_param_check_names_field_and_bounds():
    spec = load_model("lif").params["tau_m"]
    np.testing.assert_allclose(spec.check(np.array([10.0, 20.0]) * ms), [0.01, 0.02])
    with pytest.raises(ParameterError, match=r"hidden.tau_m = .*outside the bounds"):
        spec.check(np.array([10.0, 200.0]) * ms, "hidden.tau_m")
    with pytest.raises(ParameterError, match="expected a quantity in s"):
        spec.check(20 * mV, "hidden.tau_m")
    with pytest.raises(ParameterError, match="expected a quantity"):
        spec.check(0.02, "hidden.tau_m")
    with pytest.raises(ParameterError, match="finite"):
        spec.check(np.array([np.nan]) * ms)


def test_param_rejects_inconsistent_spec():
    with pytest.raises(ModelError, match="outside bounds"):
        Param("x", second, 200 * ms, (1 * ms, 100 * ms), (1 * ms, 10 * ms), "src")
    with pytest.raises(ModelError, match="expected a quantity in"):
        Param("x", second, 20 * mV, (1 * ms, 100 * ms), (1 * ms, 10 * ms), "src")


def test_model_rejects_undeclared_parameter():
    with pytest.raises(ModelError, match="not declared"):
        NeuronModel(name="bad", equations="dv/dt = -v/tau : volt\ntau : second", threshold="v > 1*volt",
                    reset="v = 0*volt", params={"gain": Param("gain", Hz, 1 * Hz, (0 * Hz, 2 * Hz),
                                                              (0 * Hz, 2 * Hz), "src")},
                    weight_unit=volt)


@pytest.mark.parametrize("constraint,message", [
    ("V_reset < ", "expected 'name < name'"),
    ("V_reset != V_th", "expected 'name < name'"),
    ("V_reset < V_spike", "names 'V_spike', which is not a parameter"),
])
def test_model_constraints_are_checked_when_the_model_is_made(constraint, message):
    import dataclasses

    lif = load_model("lif")
    with pytest.raises(ModelError, match=f"model 'lif'.*{message}"):
        dataclasses.replace(lif, constraints=(constraint,))
    assert dataclasses.replace(lif, constraints=("V_reset <= V_th",)).constraints == ("V_reset <= V_th",)
