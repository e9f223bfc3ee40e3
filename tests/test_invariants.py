"""Run-invariant factors of the state updates (brainlz.invariants): which are found, and that hoisting them
changes nothing but the speed."""

import dataclasses

import numpy as np
from brian2 import ms

from brainlz import invariants
from brainlz.backends import runtime, standalone
from brainlz.models import load_model
from brainlz.network import NetworkSpec


def _by_value(model):
    return {factor.expression: factor for factor in invariants.factors(model)}


def test_lif_factors_are_the_two_decays():
    found = _by_value(load_model("lif"))
    assert set(found) == {"exp(-dt/tau_syn)", "exp(-dt/tau_m)"}
    # v is frozen while refractory: its decay is gated by int(not_refractory) and restored as factor**gate
    assert found["exp(-dt/tau_m)"].occurrence == "exp(-dt*int(not_refractory)/tau_m)"
    assert found["exp(-dt/tau_syn)"].occurrence == "exp(-dt/tau_syn)"
    code = invariants.initialisation_code(tuple(found.values()))
    assert f"exp(-{invariants.DT_NAME}/tau_m)" in code and "exp(-dt" not in code


def test_meta_neuron_state_dependent_decay_is_not_hoisted():
    found = invariants.factors(load_model("meta_neuron"))
    values = {factor.expression for factor in found}
    assert values == {"exp(-dt/tau_syn)", "exp(-dt/tau_theta)"}  # tau_eff(t) depends on I_abs: stays per step
    # both currents decay with tau_syn: one variable holds the factor
    assert len({factor.name for factor in found}) == 2
    assert invariants.declarations(found).count(" : 1") == 2


def test_parameters_written_by_the_model_are_not_invariant():
    lif = load_model("lif")
    adapting = dataclasses.replace(lif, reset="v = V_reset\ntau_m = tau_m * 1.1")
    assert "tau_m" not in invariants.invariant_parameters(adapting)
    assert {f.expression for f in invariants.factors(adapting)} == {"exp(-dt/tau_syn)"}
    synaptic = dataclasses.replace(lif, on_pre="I_syn_post += w\ntau_syn_post = 2*ms")
    assert {f.expression for f in invariants.factors(synaptic)} == {"exp(-dt/tau_m)"}


def test_hoisted_method_removes_the_exponentials():
    from brian2 import NeuronGroup

    lif = load_model("lif")
    found = invariants.factors(lif)
    group = NeuronGroup(3, lif.equations + invariants.declarations(found), threshold=lif.threshold,
                        reset=lif.reset, refractory=lif.refractory,
                        method=invariants.HoistedMethod(lif.method, found), namespace={invariants.DT_NAME: 0.1 * ms})
    group.state_updater.update_abstract_code(run_namespace={})
    code = group.state_updater.abstract_code
    assert "exp(" not in code
    assert "invariant_factor_1" in code and "invariant_factor_2**int(not_refractory)" in code


def test_hoisting_keeps_spikes_and_traces(rng, standalone_dir, monkeypatch):
    """Standalone with and without hoisting, and the numpy target: same rasters, same membrane trace; the
    factors follow new parameter values on a rerun of the same program."""
    spec = NetworkSpec.create(10, hidden=6, output=5, model="meta_neuron", seed=5)
    spec = spec.with_weights([w * 2.0 for w in spec.weights])
    spec = spec.with_params("hidden", tau_syn=np.linspace(2, 9, 6) * ms, tau_theta=np.linspace(20, 90, 6) * ms)
    x = rng.random((4, 10, 250)) < 0.04
    trace = ("hidden", 1, 3)
    reference = runtime.simulate(spec, x, target="numpy", record_hidden=True, trace=trace)
    hoisted = standalone.simulate(spec, x, record_hidden=True, trace=trace, directory=standalone_dir)
    assert reference.output.sum() > 10 and reference.hidden["hidden"].sum() > 10
    project = next(reversed(standalone._STATE["programs"].values())).directory
    code = "".join(path.read_text() for path in (project / "code_objects").glob("hidden_stateupdater_*.cpp"))
    assert "invariant_factor_1" in code and "exp(" in code  # the v decay of the meta-neuron stays per step
    monkeypatch.setenv("BRAINLZ_HOIST", "0")
    plain = standalone.simulate(spec, x, record_hidden=True, trace=trace, directory=standalone_dir)
    monkeypatch.delenv("BRAINLZ_HOIST")
    for other in (hoisted, plain):
        np.testing.assert_array_equal(other.output, reference.output)
        np.testing.assert_array_equal(other.hidden["hidden"], reference.hidden["hidden"])
        for name in ("v", "I_syn", "theta"):
            np.testing.assert_allclose(other.trace[name], reference.trace[name], rtol=1e-12, atol=0)
    # new time constants, same compiled program: the factors are recomputed from them
    builds = standalone.build_count()
    changed = spec.with_params("hidden", tau_syn=np.linspace(9, 2, 6) * ms, tau_theta=np.linspace(90, 20, 6) * ms)
    rerun = standalone.simulate(changed, x, record_hidden=True, trace=trace, directory=standalone_dir)
    assert standalone.build_count() == builds
    expected = runtime.simulate(changed, x, target="numpy", record_hidden=True)
    assert not np.array_equal(expected.hidden["hidden"], reference.hidden["hidden"])
    np.testing.assert_array_equal(rerun.hidden["hidden"], expected.hidden["hidden"])
    np.testing.assert_array_equal(rerun.output, expected.output)
