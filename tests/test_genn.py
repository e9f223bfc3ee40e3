"""GeNN backend: capability checks (no environment needed), code generation in the pinned brian2genn
environment (built from the package registry, skipped only when the registry is unreachable) and end-to-end runs
(only where ``GENN_PATH`` points to a GeNN 4.x installation)."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from brainlz.backends import genn, get_backend
from brainlz.cli import main
from brainlz.errors import BrainlzError, ParameterError
from brainlz.network import NetworkSpec


def _spec(model="lif", **options):
    spec = NetworkSpec.create(5, hidden=3, output=2, model=model, model_options=options or None, seed=2)
    return spec.with_weights([w * 3 for w in spec.weights])


def _with_output_model(spec, **changes):
    model = dataclasses.replace(spec.output.neuron_model, **changes)
    layer = dataclasses.replace(spec.output, model=model)
    return NetworkSpec(spec.n_inputs, spec.layers[:-1] + (layer,), spec.weights, spec.dt)


def _inputs(n_samples=3, n_bins=60, seed=0):
    return np.random.default_rng(seed).random((n_samples, 5, n_bins)) < 0.15


def _features(exc):
    return [feature for feature, _, _ in exc.value.blockers]


# ------------------------------------------------------------------------------------------- capability checks
def test_deterministic_models_are_supported():
    genn.check_genn_support(_spec("lif"))
    genn.check_genn_support(_spec("meta_neuron"))
    assert get_backend("genn") is genn
    # the meta-neuron's on_pre adds to two postsynaptic variables: one Synapses object each
    assert genn.split_on_pre("I_syn_post += w\nI_abs_post += abs(w)") == {"I_syn": "I_syn_post += w",
                                                                         "I_abs": "I_abs_post += abs(w)"}
    assert genn.split_on_pre("I_syn_post += w\nI_syn_post += 2*w") == {"I_syn": "I_syn_post += (w) + (2*w)"}


def test_stochastic_model_is_refused_before_any_code(tmp_path):
    spec = _spec("meta_neuron", stochastic=True)
    with pytest.raises(genn.GennSupportError) as exc:
        genn.check_genn_support(spec)
    assert _features(exc) == ["seed", "seed"]  # hidden and output layer
    message = str(exc.value)
    assert "random numbers in the threshold" in message and "deterministic model" in message
    assert len(message.splitlines()) == 1 and isinstance(exc.value, BrainlzError)
    with pytest.raises(genn.GennSupportError):
        genn.simulate(spec, _inputs(), directory=tmp_path / "run", env=tmp_path / "no-env")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("changes,feature,words", [
    ({"on_pre": "I_syn_post += w * (v_pre > 0*mV)"}, "on_pre reading presynaptic variables", "v_pre"),
    ({"on_pre": "I_syn_post = w"}, "several postsynaptic writes in on_pre", "X_post += expr"),
    ({"on_pre": "I_syn_post += w\nv_post += I_syn_post * ohm"}, "several postsynaptic writes in on_pre",
     "reads I_syn_post"),
    ({"on_pre": "I_syn_post += w * delay / ms"}, "heterogeneous delays", "delay"),
    ({"threshold": "v > V_th + rand() * mV"}, "seed", "random numbers in the threshold"),
    ({"equations": "dv/dt = (E_L - v + R*I_syn) / tau_m + xi * mV / sqrt(ms) : volt (unless refractory)\n"
                   "dI_syn/dt = -I_syn / tau_syn : amp\ntau_m : second\ntau_syn : second\nt_ref : second\n"
                   "E_L : volt\nV_th : volt\nV_reset : volt\nR : ohm", "method": "euler"}, "seed",
     "random numbers in the equations"),
    ({"equations": "dv/dt = (E_L - v + R*I_syn) / tau_m : volt (unless refractory)\n"
                   "dI_syn/dt = -I_syn / tau_syn : amp\ntau_m : second\ntau_syn : second\nt_ref : second\n"
                   "E_L : volt\nV_th : volt\nV_reset : volt\nR : ohm\nI_ext : amp (linked)"},
     "linked variables", "equations"),
])
def test_untranslatable_model_code_names_the_feature(changes, feature, words):
    spec = _with_output_model(_spec("lif"), **changes)
    with pytest.raises(genn.GennSupportError) as exc:
        genn.check_genn_support(spec)
    assert _features(exc) == [feature]
    assert words in str(exc.value) and "layer 'output'" in str(exc.value)
    assert len(str(exc.value).splitlines()) == 1


@pytest.mark.parametrize("feature", ["seed", "several runs", "linked variables", "heterogeneous delays",
                                     "more than one summed variable", "on_pre reading presynaptic variables",
                                     "multiple clocks", "timed arrays outside run_regularly"])
def test_requested_features_are_refused(feature):
    with pytest.raises(genn.GennSupportError) as exc:
        genn.check_genn_support(_spec(), features=[feature])
    assert _features(exc) == [feature]
    assert genn.GENN_EXCLUSIONS[feature][1] in str(exc.value)


def test_unknown_names_raise_parameter_errors():
    with pytest.raises(ParameterError, match="features = 'teleportation'"):
        genn.check_genn_support(_spec(), features=["teleportation"])
    with pytest.raises(ParameterError, match="training = 'hebb'"):
        genn.check_genn_support(_spec(), training="hebb")


def test_stdp_design_passes_for_deterministic_single_target_models():
    """The GeNN variant of the STDP epoch (genn.stdp_epoch) uses nothing brian2genn cannot translate."""
    genn.check_genn_support(_spec("lif"), training="stdp")  # no blocker
    assert all(feature is None for _, _, feature, _ in genn.TRAINING_DESIGNS["stdp"])
    parts = " ".join(part for part, _, _, _ in genn.TRAINING_DESIGNS["stdp"])
    assert "SpikeGeneratorGroup" in parts and "defaultclock" in parts and "lastpre/lastpost" in parts
    # the meta-neuron's plastic synapse would write two postsynaptic variables: refused, naming them
    with pytest.raises(genn.GennSupportError) as exc:
        genn.check_genn_support(_spec("meta_neuron"), training="stdp")
    assert _features(exc) == ["several postsynaptic writes in on_pre"] and "I_abs_post" in str(exc.value)
    # stochastic models: refused by the model check (random numbers, no seed())
    with pytest.raises(genn.GennSupportError):
        genn.check_genn_support(_spec("meta_neuron", stochastic=True), training="stdp")


def test_tempotron_design_passes_the_checks_and_refusals_stay_for_synaptic_run_regularly(tmp_path):
    """The tempotron's GeNN design makes its trial-boundary update in on_pre code driven by marker spikes
    (postsynaptic reads there compile) instead of a Synapses.run_regularly reading postsynaptic variables, which
    brian2genn 1.7 declares as synapse variables that do not exist (compilation fails; seen with GeNN 4.9.0): the
    design passes check_genn_support and design_blockers, and a design with such a run_regularly is still refused
    in one line."""
    from brian2 import ms

    from brainlz.learning import tempotron as T

    genn.check_genn_support(_spec("lif"), training="tempotron")
    parts = " ".join(part for part, _, _, _ in genn.TRAINING_DESIGNS["tempotron"])
    assert "a_post only" in parts and "Euler step" in parts and "marker spike" in parts and "SpikeGeneratorGroup" in parts
    setup = T._setup_for(6, 2, 40, 1 * ms, 5 * ms, 15e-3, 3.75e-3, 1.0, 0.0)
    rng = np.random.default_rng(1)
    weights = rng.normal(0, 0.2, size=(1, 6, 2))
    config, _ = T.genn_design(setup, [rng.random((5, 6, 40)) < 0.1], rng.choice([-1.0, 1.0], size=(5, 2)), weights,
                              np.zeros_like(weights), np.full(2, 0.01))
    assert genn.design_blockers(config) == [] and "boundary" not in config["synapses"]
    old_design = {"mode": "tempotron", "synapses": {"boundary": T._BOUNDARY}}
    [(feature, where, alternative)] = genn.design_blockers(old_design)
    assert feature == "pre/post variables in synaptic run_regularly"
    assert "tmax_post" in where and "label_post" in where and "marker spikes" in alternative
    assert genn.design_blockers({"mode": "stdp", "synapses": {"boundary": "w = clip(w, 0, w_max)"}}) == []


def test_missing_environment_is_one_clear_error(tmp_path):
    with pytest.raises(genn.GennEnvError, match="brainlz env genn --path"):
        genn.simulate(_spec(), _inputs(), env=tmp_path / "nowhere", codegen_only=True)


def test_default_env_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINLZ_GENN_ENV", str(tmp_path / "e"))
    assert genn.default_env_path() == tmp_path / "e"
    monkeypatch.delenv("BRAINLZ_GENN_ENV")
    assert genn.default_env_path() == Path.home() / ".cache" / "brainlz" / "envs" / "genn"


# ------------------------------------------------------------------------------- code generation (pinned env)
@pytest.fixture(scope="session")
def genn_env():
    """The pinned environment, built from the registry like ``brainlz env genn`` (reused when it exists)."""
    try:
        return genn.create_env(log=lambda line: None)
    except genn.GennEnvError as exc:
        if exc.registry_unreachable:
            pytest.skip(f"the package registry is unreachable, cannot build the brian2genn environment: {exc}")
        raise


def test_env_command_is_idempotent(genn_env, capsys):
    assert main(["env", "genn", "--path", str(genn_env)]) == 0
    out = capsys.readouterr().out
    assert "reusing it" in out and "brian2 2.5.4" in out and "brian2genn 1.7.0" in out
    marker = (genn_env / genn.MARKER).read_text()
    assert all(pin in marker for pin in genn.PINS)


def _model_code(directory):
    return (Path(directory) / "batch_000" / "project" / "magicnetwork_model.cpp").read_text()


def _static(directory, name):
    return np.fromfile(Path(directory) / "batch_000" / "project" / "static_arrays" / name, dtype=np.float64)


def test_codegen_lif_network(genn_env, tmp_path):
    spec = _spec("lif")
    tau = np.linspace(10, 30, 3 * 3).reshape(3, 3) * 1e-3  # per-copy tau_m of the hidden layer [samples, n]
    result = genn.simulate(spec, _inputs(), env=genn_env, directory=tmp_path, codegen_only=True, use_gpu=False,
                           record_hidden=True, trace=("output", 1, 0), copy_params={"hidden": {"tau_m": tau}})
    assert result.backend == "genn-cpu" and result.output.shape == (3, 2, 60) and not result.output.any()
    code = _model_code(tmp_path)
    for layer in ("hidden", "output"):
        assert f"class {layer}NEURON : public NeuronModels::Base" in code
        for variable in ("v", "I_syn", "tau_m", "tau_syn", "V_th", "V_reset", "E_L", "R", "t_ref"):
            assert f'{{"{variable}", "double"}}' in code  # per-neuron variables, not constants
        assert f"class syn_{spec.layer_names.index(layer)}_{layer}_I_synWEIGHTUPDATE" in code
    assert "($(v) > $(V_th))" in code  # the threshold
    assert "$(v) = $(V_reset);" in code  # the reset
    assert "exp(1.0f*(- DT)/$(tau_syn))" in code  # exponential Euler of I_syn
    assert "$(addToInSyn,$(w));" in code and "$(I_syn) += $(inSyn)" in code  # on_pre: I_syn_post += w
    assert "_array_defaultclock_dt[0] = 0.001;" in code
    # values travel as static arrays: per-copy tau_m, the weights tiled over the 3 copies
    assert np.allclose(_static(tmp_path, "_static_array__array_hidden_tau_m"), tau.ravel())
    assert np.allclose(_static(tmp_path, "_static_array__array_output_V_th"),
                       np.tile(np.asarray(spec.output.params["V_th"]), 3))
    weights = [f for f in (tmp_path / "batch_000" / "project" / "static_arrays").iterdir()
               if "syn_1_output_I_syn_w" in f.name]
    assert weights and np.allclose(np.fromfile(weights[0]), np.tile(np.asarray(spec.weights[1]).ravel(), 3))
    assert "trace" in (tmp_path / "batch_000" / "project" / "main.cpp").read_text()


def test_codegen_meta_neuron_splits_synapses(genn_env, tmp_path):
    result = genn.simulate(_spec("meta_neuron"), _inputs(2, 40), env=genn_env, directory=tmp_path,
                           codegen_only=True, batch_size=1)
    assert result.n_builds == 2 and result.backend == "genn-gpu"
    code = _model_code(tmp_path)
    assert "class syn_1_output_I_absWEIGHTUPDATE" in code and "class syn_1_output_I_synWEIGHTUPDATE" in code
    assert "$(I_abs) += $(inSyn)" in code and "$(I_syn) += $(inSyn)" in code
    assert '{"theta", "double"}' in code and '{"delta_theta", "double"}' in code
    assert (tmp_path / "batch_001" / "project" / "magicnetwork_model.cpp").exists()


def _stdp_rule(spec):
    from brian2 import amp

    from brainlz.learning.stdp import STDPRule

    return STDPRule(w_max=2 * float(np.max(np.asarray(spec.weights[0]))) * amp, A_plus=0.01, A_minus=0.012)


def test_codegen_stdp_training_epoch(genn_env, tmp_path):
    """One STDP epoch as GeNN code: neuron, plastic synapse (both pathways, same-step exclusion), per-neuron
    parameters, the epoch's input spikes and the sample-boundary resets."""
    from brian2 import ms

    spec = _spec("lif").with_params("hidden", tau_m=np.array([12.0, 20.0, 31.0]) * ms)
    x = _inputs(4, 50)
    rule = _stdp_rule(spec)
    from brainlz.learning.stdp import genn_design

    config, arrays = genn_design(spec, x, rule, order=[2, 0, 3, 1], gap_bins=10, between="reset")
    result = genn.stdp_epoch(config, arrays, env=genn_env, directory=tmp_path, codegen_only=True, use_gpu=False)
    assert result["weights"] is None
    project = Path(result["project"])
    code = (project / "magicnetwork_model.cpp").read_text()
    assert "class stdp_layerNEURON : public NeuronModels::Base" in code
    assert "class stdp_synapsesWEIGHTUPDATE : public WeightUpdateModels::Base" in code
    for variable in ("Apre", "Apost", "lastpre", "lastpost", "w", "A_plus", "A_minus", "tau_plus", "w_max"):
        assert f'{{"{variable}", "double"}}' in code
    sim = code[code.index("SET_SIM_CODE", code.index("stdp_synapsesWEIGHTUPDATE")):]
    learn = code[code.index("SET_LEARN_POST_CODE"):]
    assert "$(addToInSyn,$(w));" in sim and "$(lastpre) = t;" in sim  # on_pre: I_syn_post += w, then STDP
    assert "($(Apost) - int_($(lastpost) == t))" in sim.split("SET_LEARN_POST_CODE")[0]
    assert "$(lastpost) = t;" in learn and "($(Apre) - int_($(lastpre) == t))" in learn
    for variable in ("tau_m", "V_th", "V_reset", "R", "v", "I_syn"):
        assert f'{{"{variable}", "double"}}' in code
    static = project / "static_arrays"
    np.testing.assert_allclose(np.fromfile(static / "_static_array__array_stdp_layer_tau_m"), [12e-3, 20e-3, 31e-3])
    initial = np.clip(np.asarray(spec.weights[0]), 0, float(rule.w_max)).ravel()
    np.testing.assert_allclose(np.fromfile(static / "_static_array__dynamic_array_stdp_synapses_w"), initial)
    # the input: the 4 samples in the given order, 60 steps apart
    times = np.fromfile(static / "_static_array__dynamic_array_stdp_inputs_spike_time")
    raw = (static / "_static_array__dynamic_array_stdp_inputs_neuron_index").read_bytes()
    channel = np.frombuffer(raw, dtype=np.int64 if len(raw) == 8 * times.size else np.int32)
    expected = sorted((position * 60 + b, c) for position, k in enumerate([2, 0, 3, 1])
                      for c, b in zip(*np.nonzero(x[k])))
    assert sorted(zip(np.rint(times / 1e-3).astype(int), channel)) == expected
    engine = (project / "engine.cpp").read_text()
    assert "_run_stdp_layer_run_regularly_reset_codeobject();" in engine
    assert "_run_stdp_synapses_run_regularly_reset_codeobject();" in engine
    assert "_array_stdp_layer_run_regularly_reset_clock_dt[0] = 0.06;" in (project / "main.cpp").read_text()


def test_tempotron_design_runs_with_brian2_on_the_cpu():
    """run_tempotron_design: the worker's objects of the tempotron's GeNN design, run by plain Brian2 (no GeNN,
    no side environment); it returns what the worker saves and leaves Brian2's target and dt as they were."""
    from brian2 import defaultclock, ms, prefs

    from brainlz.learning import tempotron as T

    rng = np.random.default_rng(1)
    setup = T._setup_for(6, 2, 40, 1 * ms, 5 * ms, 15e-3, 3.75e-3, 1.0, 0.0)
    weights = rng.normal(0, 0.2, size=(1, 6, 2))
    config, arrays = T.genn_design(setup, [rng.random((5, 6, 40)) < 0.1], rng.choice([-1.0, 1.0], size=(5, 2)),
                                   weights, np.zeros_like(weights), np.full(2, 0.01), record_weights=True)
    target, dt = prefs.codegen.target, defaultclock.dt
    recorded = genn.run_tempotron_design(config, arrays, target="numpy")
    assert prefs.codegen.target == target and defaultclock.dt == dt
    assert sorted(recorded) == ["Vmax", "dw_prev", "fired", "tmax", "w", "w_trace"]
    assert recorded["fired"].shape == (2, 6) and recorded["w"].shape == (12,)  # a column per boundary, t = 0 ... 5 P
    epoch = T.collect_arrays(setup, 5, recorded, 1, 0.0)
    np.testing.assert_array_equal(epoch.weight_trace[0], weights)
    with pytest.raises(ParameterError, match="^config"):
        genn.run_tempotron_design({"mode": "stdp"}, arrays)


def test_codegen_tempotron_training_epoch(genn_env, tmp_path):
    """One tempotron epoch as GeNN code: one summed input, the Euler running maximum and crossing, the weight
    update in on_pre, the new trial's operation (recognised by brian2genn by its name) and the trial monitor."""
    from brian2 import ms

    from brainlz.learning import tempotron as T

    rng = np.random.default_rng(1)
    setup = T._setup_for(6, 2, 40, 1 * ms, 5 * ms, 15e-3, 3.75e-3, 1.0, 0.0)
    trials = [rng.random((5, 6, 40)) < 0.1]
    labels = rng.choice([-1.0, 1.0], size=(5, 2))
    weights = rng.normal(0, 0.2, size=(1, 6, 2))
    config, arrays = T.genn_design(setup, trials, labels, weights, np.zeros_like(weights), np.full(2, 0.01))
    result = genn.tempotron_epoch(config, arrays, env=genn_env, directory=tmp_path, codegen_only=True,
                                  use_gpu=False)
    project = Path(result["project"])
    code = (project / "magicnetwork_model.cpp").read_text()
    neuron = code[code.index("NeuronModels::Base"):code.index("WeightUpdateModels::Base")]
    for variable in ("a", "d", "Vmax", "tmax", "fired", "label", "tau", "tau_s", "V0", "theta", "lam", "mu"):
        assert f'{{"{variable}", "double"}}' in neuron
    assert "$(a) += $(inSyn)" in code and "$(b)" not in code  # one summed input
    assert "double _tmax = $(tmax) + (((((((- $(step)) + t) - $(tmax)) * int_($(phase) > 0.5))" in neuron  # Euler max
    assert "double _fired = $(fired) + (((int_($(phase) > 0.5)" in neuron  # the crossing, an Euler step too
    assert "int_($(tmax_post) >= $(tl))" in code
    assert "$(addToInSyn,(((1 - bnd) * $(w)) * (1 - $(fired_post))));" in code  # a marker transmits nothing
    assert "$(lam_post)" in code and "$(label_post)" in code and "$(phase_post)" in code  # the update in on_pre
    engine = (project / "engine.cpp").read_text()
    assert "Execute run_regularly operation: tempotrons_run_regularly_new_trial" in engine
    assert "tempotron_synapses_run_regularly" not in engine
    static = project / "static_arrays"
    np.testing.assert_allclose(np.fromfile(static / "_static_array__dynamic_array_tempotron_synapses_w"),
                               weights.ravel())
    np.testing.assert_array_equal(np.fromfile(static / "trial_labels_values").reshape(6, 2),
                                  np.vstack([labels, np.zeros((1, 2))]))


def test_stdp_training_on_genn_refuses_bad_options(genn_env, monkeypatch, tmp_path):
    from brainlz.learning.stdp import train_stdp
    from brainlz.learning.tempotron import train_tempotron

    spec = _spec("lif")
    # no GeNN installation: one clear error before anything is generated
    monkeypatch.setenv("GENN_PATH", str(tmp_path / "no-genn"))
    with pytest.raises(genn.GennError, match="GeNN not found.*GENN_PATH.*codegen_only"):
        train_stdp(spec, _inputs(), _stdp_rule(spec), backend="genn", genn_options={"env": genn_env})
    with pytest.raises(genn.GennError, match="GeNN not found"):
        train_tempotron(_inputs(), np.arange(3) % 2, epochs=1, backend="genn", target="cpu")
    with pytest.raises(ParameterError, match="^target"):
        train_tempotron(_inputs(), np.arange(3) % 2, epochs=1, backend="genn", target="numpy")
    assert not (tmp_path / "no-genn").exists()
    with pytest.raises(ParameterError, match="genn_options"):
        train_stdp(spec, _inputs(), _stdp_rule(spec), backend="genn", genn_options={"codegen_only": True})
    with pytest.raises(genn.GennSupportError, match="several postsynaptic writes"):
        train_stdp(_spec("meta_neuron"), _inputs(), _stdp_rule(_spec("lif")), backend="genn",
                   genn_options={"env": genn_env})


# ---------------------------------------------------------------------------------- end to end (needs GeNN)
def _fake_genn_source(root, version="4.9.0", fail=False):
    """A folder shaped like a GeNN source tree whose Makefile 'builds' the CPU backend library (or fails)."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "genn-buildmodel.sh").write_text("#!/bin/sh\n")
    (root / "version.txt").write_text(version + "\n")
    recipe = "\t@echo 'error: no compiler today' && false" if fail else \
        "\tmkdir -p lib && touch lib/libgenn_single_threaded_cpu_backend.a && echo built CUDA_PATH=$$CUDA_PATH"
    (root / "Makefile").write_text(f"all:\n{recipe}\n")
    return root


def test_env_genn_source_builds_records_and_is_found_without_genn_path(genn_env, tmp_path, monkeypatch, capsys):
    """``brainlz env genn --genn-source DIR`` runs make in DIR, records it in the environment's marker, and the
    backend then finds GeNN there without GENN_PATH (and refuses a removed one in one line)."""
    from brainlz.cli import main

    env = tmp_path / "env"
    shutil.copytree(genn_env, env, symlinks=True)
    marker = json.loads((env / genn.MARKER).read_text())
    marker.pop("genn", None)  # an environment that has recorded no GeNN yet
    (env / genn.MARKER).write_text(json.dumps(marker))
    source = _fake_genn_source(tmp_path / "genn")
    monkeypatch.delenv("GENN_PATH", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvcc: CPU-only
    assert genn.find_genn(env=env) is None
    assert main(["env", "genn", "--path", str(env), "--genn-source", str(source)]) == 0
    out = capsys.readouterr().out
    assert "CPU-only" in out and "recorded in" in out
    marker = json.loads((env / genn.MARKER).read_text())
    assert marker["genn"]["genn_path"] == str(source.resolve()) and marker["genn"]["version"] == "4.9.0"
    assert marker["genn"]["backends"] == ["libgenn_single_threaded_cpu_backend.a"]
    assert marker["pins"] == list(genn.PINS)  # the environment's own record is kept
    assert "CUDA_PATH=\n" in (source / "brainlz-build.log").read_text() or \
        (source / "brainlz-build.log").read_text().strip().endswith("CUDA_PATH=")
    assert genn.find_genn(env=env) == str(source.resolve())
    assert genn.require_genn(env=env) == str(source.resolve())
    assert genn.find_genn("/explicit", env=env) == "/explicit"
    monkeypatch.setenv("GENN_PATH", "/from/environment")
    assert genn.find_genn(env=env) == "/from/environment"
    monkeypatch.delenv("GENN_PATH")
    shutil.rmtree(source)
    with pytest.raises(genn.GennError, match="GeNN not found.*--genn-source DIR"):
        genn.require_genn(env=env)


@pytest.mark.parametrize("version,fail,message", [("5.1.0", False, "GeNN 5.1.0; brian2genn 1.7 needs GeNN 4.x"),
                                                  ("4.9.0", True, "genn build failed: error: no compiler today")])
def test_genn_source_that_is_not_4x_or_does_not_build_is_refused(tmp_path, version, fail, message):
    source = _fake_genn_source(tmp_path / "genn", version=version, fail=fail)
    with pytest.raises(genn.GennEnvError, match=message):
        genn.build_genn(source, cuda=False, log=lambda line: None)
    with pytest.raises(genn.GennEnvError, match="not a GeNN source tree"):
        genn.build_genn(tmp_path, log=lambda line: None)



def test_cuda_is_found_behind_a_wrapper_nvcc(tmp_path, monkeypatch):
    """An ``nvcc`` wrapper script outside its CUDA installation (as in /usr/local/bin on some images): the CUDA
    root comes from $CUDA_PATH, $CUDA_HOME or /usr/local/cuda instead; a tree without the headers is no root."""
    def toolkit(root, headers=True):
        (root / "bin").mkdir(parents=True)
        (root / "bin" / "nvcc").write_text("#!/bin/sh\n")
        (root / "bin" / "nvcc").chmod(0o755)
        if headers:
            (root / "include").mkdir()
            for header in ("cuda_runtime.h", "cuda.h"):
                (root / "include" / header).write_text("")
        return root

    wrapper = tmp_path / "wrapper" / "bin"
    wrapper.mkdir(parents=True)
    (wrapper / "nvcc").write_text("#!/bin/sh\nexec /elsewhere/nvcc \"$@\"\n")
    (wrapper / "nvcc").chmod(0o755)
    monkeypatch.setenv("PATH", str(wrapper))
    for name in ("CUDA_PATH", "CUDA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(genn, "CUDA_ROOTS", (str(tmp_path / "usr-local-cuda"),))
    assert genn._cuda_root() is None  # nothing has the headers
    default = toolkit(tmp_path / "usr-local-cuda")
    assert genn._cuda_root() == default.resolve()
    monkeypatch.setenv("CUDA_HOME", str(toolkit(tmp_path / "home-cuda", headers=False)))
    assert genn._cuda_root() == default.resolve()  # no headers there: passed over
    monkeypatch.setenv("CUDA_PATH", str(toolkit(tmp_path / "cuda-13")))
    assert genn._cuda_root() == (tmp_path / "cuda-13").resolve()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert genn._cuda_root() is None  # no nvcc on PATH: CPU-only


def _fake_cuda(root, version):
    """A CUDA installation shaped like CUDA ``version`` (13000: ``cuCtxCreate`` takes a CUctxCreateParams)."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "nvcc").write_text("#!/bin/sh\n")
    (root / "bin" / "nvcc").chmod(0o755)
    (root / "include").mkdir()
    (root / "include" / "cuda_runtime.h").write_text("")
    params = "CUctxCreateParams *params, " if version >= 13000 else ""
    (root / "include" / "cuda.h").write_text(
        "#ifndef FAKE_CUDA_H\n#define FAKE_CUDA_H\n"
        f"#define CUDA_VERSION {version}\n"
        "typedef struct CUctx_st *CUcontext; typedef int CUdevice; typedef int CUresult;\n"
        "typedef struct CUctxCreateParams_st CUctxCreateParams;\n"
        f"#define cuCtxCreate cuCtxCreate_v{4 if version >= 13000 else 2}\n"
        f"CUresult cuCtxCreate(CUcontext *pctx, {params}unsigned int flags, CUdevice dev);\n#endif\n")
    return root


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("g++")), reason="needs make and g++")
def test_genn_4_builds_against_cuda_13_through_the_shim(tmp_path, monkeypatch):
    """CUDA 13's cuCtxCreate takes four arguments and GeNN 4.9.0's CUDA backend calls it with three: build_genn
    compiles GeNN with CUDA13_SHIM, kept in the tree for brian2genn's model builds.  Compiled and run: a file
    making GeNN's three-argument call builds against a CUDA 13 cuda.h and passes NULL parameters."""
    source = _fake_genn_source(tmp_path / "genn")
    (source / "probe.cc").write_text(
        "#include <cuda.h>\n#include <cstdio>\n"
        "CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev) {\n"
        "    std::printf(\"params %s, flags %u, device %d\\n\", params ? \"set\" : \"NULL\", flags, dev);\n"
        "    *pctx = 0; return 0;\n}\n"
        "int main() { CUcontext context; return cuCtxCreate(&context, 5, 7); }  // optimiser.cc's call\n")
    (source / "Makefile").write_text(  # GeNN's makefiles add to CXXFLAGS, as this one does
        "CXXFLAGS += -I$(CUDA_PATH)/include\nall:\n\tmkdir -p lib\n\t$(CXX) $(CXXFLAGS) probe.cc -o lib/probe\n"
        "\t./lib/probe > lib/probe.txt\n\ttouch lib/libgenn_single_threaded_cpu_backend.a lib/libgenn_cuda_backend.a\n")
    cuda = _fake_cuda(tmp_path / "cuda-13.0", 13000)
    monkeypatch.setenv("PATH", f"{cuda / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("CUDA_PATH", str(cuda))
    monkeypatch.delenv("CXXFLAGS", raising=False)
    built = genn.build_genn(source, cuda="auto", jobs=1, log=lambda line: None)
    assert built["backends"] == ["libgenn_cuda_backend.a", "libgenn_single_threaded_cpu_backend.a"]
    assert (source / "lib" / "probe.txt").read_text() == "params NULL, flags 5, device 7\n"
    shim = source / genn.CUDA13_SHIM_FILE
    assert shim.read_text() == genn.CUDA13_SHIM
    assert genn._genn_compile_environment(source) == {"CXXFLAGS": f"-include {shim}"}
    # CUDA 12: GeNN's call compiles as it is; no shim, and a stale one is removed
    monkeypatch.setenv("CUDA_PATH", str(_fake_cuda(tmp_path / "cuda-12.8", 12080)))
    (source / "probe.cc").write_text("#include <cuda.h>\nint main() { return 0; }\n")
    genn.build_genn(source, cuda="auto", jobs=1, log=lambda line: None)
    assert not shim.exists() and genn._genn_compile_environment(source) == {}


def test_the_worker_gets_the_cuda_and_the_shim_build_genn_used(tmp_path, monkeypatch):
    """brian2genn needs CUDA_PATH for use_gpu=True, and its model builds recompile GeNN's backend: the worker gets
    the CUDA that build_genn finds (not an invalid $CUDA_PATH) and the shim's CXXFLAGS of the GeNN it runs."""
    seen = []
    monkeypatch.setattr(genn, "run_worker", lambda *args, environment, **kw: seen.append(environment))
    cuda = _fake_cuda(tmp_path / "cuda-13.0", 13000)
    source = _fake_genn_source(tmp_path / "genn")
    (source / genn.CUDA13_SHIM_FILE).write_text(genn.CUDA13_SHIM)
    monkeypatch.setenv("PATH", f"{cuda / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("CUDA_PATH", str(tmp_path / "not-cuda"))
    monkeypatch.setenv("CXXFLAGS", "-O2")
    monkeypatch.setattr(genn, "CUDA_ROOTS", (str(cuda),))
    genn._run_worker(Path("python"), tmp_path, None, str(source))
    assert seen[-1] == {"GENN_PATH": str(source), "CUDA_PATH": cuda.resolve(),
                        "CXXFLAGS": f"-O2 -include {(source / genn.CUDA13_SHIM_FILE).resolve()}"}
    (source / genn.CUDA13_SHIM_FILE).unlink()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvcc: $CUDA_PATH as it is, no shim
    genn._run_worker(Path("python"), tmp_path, None, str(source))
    assert seen[-1] == {"GENN_PATH": str(source), "CUDA_PATH": str(tmp_path / "not-cuda")}

GENN_PATH = genn.find_genn()  # GENN_PATH, or the GeNN that `brainlz env genn --genn-source` recorded
needs_genn = pytest.mark.skipif(not GENN_PATH or not Path(GENN_PATH).is_dir(),
                                reason="no GeNN 4.x installation (GENN_PATH, or `brainlz env genn --genn-source "
                                       "DIR`; GeNN is on no package registry)")


def test_project_capacity_padding_and_static_arrays(tmp_path):
    """A compiled project's inputs: capacities on a power-of-two ladder, padding after the run's end, static
    arrays rewritten in the C type and length the project was generated with, results read by name."""
    from brainlz.backends import genn_project

    assert [genn_project.capacity_for(n) for n in (0, 64, 65, 1000)] == [64, 64, 128, 1024]
    indices, steps = genn_project.padded_spikes([3, 1], [0, 7], 6, n_steps=100)
    assert indices.tolist() == [3, 1, 0, 0, 0, 0] and steps.tolist() == [0, 7, 101, 102, 103, 104]
    assert np.all(np.diff(steps) > 0) and steps[2:].min() > 100  # time order kept; padding never emitted
    with pytest.raises(ValueError, match="capacity"):
        genn_project.padded_spikes(np.zeros(7), np.arange(7), 6, n_steps=100)
    project = genn_project.GennProject(tmp_path / "project")
    (project.directory / "static_arrays").mkdir(parents=True)
    (project.directory / "results").mkdir()
    np.zeros(6, dtype=np.int32).tofile(project.directory / "static_arrays" / "_static_array__dynamic_array_in_t")
    np.zeros(6, dtype=np.int64).tofile(project.directory / "static_arrays" / "_static_array__dynamic_array_in_i")
    project.write_static("_dynamic_array_in_t", steps)
    project.write_static("_dynamic_array_in_i", indices)
    path = project.directory / "static_arrays"
    assert np.fromfile(path / "_static_array__dynamic_array_in_t", dtype=np.int32).tolist() == steps.tolist()
    assert np.fromfile(path / "_static_array__dynamic_array_in_i", dtype=np.int64).tolist() == indices.tolist()
    with pytest.raises(ValueError, match="do not fit"):
        project.write_static("_dynamic_array_in_t", np.arange(5))  # the length is compiled in
    with pytest.raises(ValueError, match="do not fit"):
        project.write_static("_dynamic_array_in_t", np.array([2 ** 40, 0, 0, 0, 0, 0]))  # not an int32
    # a stand-in for the compiled main: writes one result named like brian2genn's (array name, hash)
    main = project.directory / "main"
    main.write_text("#!/bin/sh\npython3 -c \"import numpy as np, sys; np.arange(4, dtype=np.int32).tofile("
                    "'results/_dynamic_array_spikes_out_i_123'); open('seconds', 'w').write(sys.argv[1])\" $2\n")
    main.chmod(0o755)
    assert project.built
    project.run(0.25)
    assert (project.directory / "seconds").read_text() == "0.25"
    assert project.result("_dynamic_array_spikes_out_i", np.int32).tolist() == [0, 1, 2, 3]
    with pytest.raises(FileNotFoundError):
        project.result("_dynamic_array_spikes_out_t", np.float64)
    # a value Brian2 compiled in (one neuron: no static array) can be taken only where it is unchanged
    project.remember({"_array_out_theta": np.array([0.5]), "_dynamic_array_in_t": steps})
    assert project.can_take({"_array_out_theta": np.array([0.5]), "_dynamic_array_in_t": steps + 1})
    assert not project.can_take({"_array_out_theta": np.array([0.7]), "_dynamic_array_in_t": steps})
    project.write_values({"_array_out_theta": np.array([0.5]), "_dynamic_array_in_t": steps[::-1]})
    assert np.fromfile(path / "_static_array__dynamic_array_in_t", dtype=np.int32).tolist() == steps[::-1].tolist()
    key = genn_project.project_key({"n_samples": 2, "layers": [1, 2]})
    assert key == genn_project.project_key({"layers": [1, 2], "n_samples": 2})  # order of keys does not matter
    assert key != genn_project.project_key({"n_samples": 3, "layers": [1, 2]})


@needs_genn
def test_genn_reruns_its_compiled_project_for_later_batches_and_calls(genn_env, tmp_path, monkeypatch,
                                                                      standalone_dir):
    """One build for every batch of a shape, in this call and later ones; the reruns take each batch's inputs and
    the spec's current weights and parameters (strong enough inputs that stale values would change the spikes)."""
    from brian2 import mV

    monkeypatch.setenv("BRAINLZ_CACHE", str(tmp_path / "cache"))
    standalone = get_backend("standalone")
    spec = _spec("lif")
    x = _inputs(5, 120, seed=7)
    first = genn.simulate(spec, x, env=genn_env, use_gpu=False, record_hidden=True, batch_size=2)
    assert first.n_builds == 1  # three batches (2, 2 and a padded 1), one build
    reference = standalone.simulate(spec, x, record_hidden=True, directory=standalone_dir)
    np.testing.assert_array_equal(first.output, reference.output)
    np.testing.assert_array_equal(first.hidden["hidden"], reference.hidden["hidden"])
    stronger = spec.with_weights([w * 1.7 for w in spec.weights])
    stronger = stronger.with_params("output", V_th=-52 * mV)
    y = _inputs(5, 120, seed=8)
    again = genn.simulate(stronger, y, env=genn_env, use_gpu=False, record_hidden=True, batch_size=2)
    expected = standalone.simulate(stronger, y, record_hidden=True, directory=standalone_dir)
    assert again.n_builds == 0
    assert not np.array_equal(expected.output, reference.output)
    np.testing.assert_array_equal(again.output, expected.output)
    np.testing.assert_array_equal(again.hidden["hidden"], expected.hidden["hidden"])


@needs_genn
@pytest.mark.parametrize("use_gpu", [False, True])
def test_genn_matches_standalone(genn_env, tmp_path, standalone_dir, use_gpu):
    if use_gpu and shutil.which("nvidia-smi") is None:
        pytest.skip("no NVIDIA GPU (nvidia-smi not found) for GeNN's CUDA backend")
    spec = _spec("lif")
    x = _inputs(4, 200, seed=5)
    reference = get_backend("standalone").simulate(spec, x, record_hidden=True, directory=standalone_dir)
    result = genn.simulate(spec, x, env=genn_env, directory=tmp_path, use_gpu=use_gpu, record_hidden=True,
                           batch_size=2)
    assert reference.output.any() and reference.hidden["hidden"].any()
    np.testing.assert_array_equal(result.output, reference.output)
    np.testing.assert_array_equal(result.hidden["hidden"], reference.hidden["hidden"])


@needs_genn
@pytest.mark.parametrize("strength", [1.0, 4.0], ids=["weak", "strong"])
def test_genn_stdp_epoch_matches_runtime(genn_env, tmp_path, strength):
    """The GeNN design of an STDP epoch learns the weights the CPU design learns (GeNN's clip() works in single
    precision, hence the tolerance), also with weights and learning rates strong enough that a same-step pair's
    transmitted weight moves spikes (both run on_pre first)."""
    from brian2 import amp, ms

    from brainlz.learning.stdp import STDPRule, train_stdp

    spec = _spec("lif")
    spec = spec.with_weights([w * strength for w in spec.weights])
    x = _inputs(4, 200, seed=6)
    rule = _stdp_rule(spec)
    if strength > 1:
        rule = STDPRule(w_max=float(rule.w_max) * amp, A_plus=0.05, A_minus=0.06)
    reference, history = train_stdp(spec, x, rule, gap=20 * ms, shuffle=False, backend="runtime", target="numpy")
    trained, genn_history = train_stdp(spec, x, rule, gap=20 * ms, shuffle=False, backend="genn",
                                       genn_options={"env": genn_env, "directory": tmp_path, "use_gpu": False})
    assert history.epochs[0]["output_rate"] > 0
    np.testing.assert_allclose(np.asarray(trained.weights[0]), np.asarray(reference.weights[0]), rtol=1e-5,
                               atol=1e-6 * float(rule.w_max))
    np.testing.assert_array_equal(genn_history.epochs[0]["output_counts"], history.epochs[0]["output_counts"])


@needs_genn
def test_genn_stdp_epochs_after_the_first_rerun_the_compiled_project(genn_env, tmp_path, monkeypatch):
    """Three shuffled epochs on GeNN: one build, then reruns with each epoch's order and the weights learned so
    far; the weights and spike counts follow the CPU design's epoch by epoch."""
    from brian2 import amp, ms

    from brainlz.learning.stdp import STDPRule, train_stdp

    monkeypatch.setenv("BRAINLZ_CACHE", str(tmp_path / "cache"))
    spec = _spec("lif")
    spec = spec.with_weights([w * 3.0 for w in spec.weights])
    x = _inputs(4, 200, seed=9)
    rule = STDPRule(w_max=float(_stdp_rule(spec).w_max) * amp, A_plus=0.05, A_minus=0.06)
    options = dict(epochs=3, gap=20 * ms, shuffle=True, seed=4)
    reference, history = train_stdp(spec, x, rule, backend="runtime", target="numpy", **options)
    trained, genn_history = train_stdp(spec, x, rule, backend="genn", **options,
                                       genn_options={"env": genn_env, "use_gpu": False})
    assert [epoch["n_builds"] for epoch in genn_history.epochs] == [1, 0, 0]
    assert not np.allclose(np.asarray(reference.weights[0]), np.asarray(spec.weights[0]))
    np.testing.assert_allclose(np.asarray(trained.weights[0]), np.asarray(reference.weights[0]), rtol=1e-5,
                               atol=1e-6 * float(rule.w_max))
    for got, want in zip(genn_history.epochs, history.epochs):
        np.testing.assert_array_equal(got["output_counts"], want["output_counts"])
        assert got["order"].tolist() == want["order"].tolist()


@needs_genn
def test_genn_tempotron_epochs_match_the_cpu_design_and_rerun_the_compiled_project(genn_env, tmp_path, monkeypatch):
    """Three tempotron epochs on GeNN (momentum, late volleys that put the maximum on a trial's last step), each
    with new trials and the weights the CPU design learned so far: the first builds, the others rerun the compiled
    project; decisions and t_max equal the CPU design's and every weight of the trace agrees to 1e-5 relative."""
    from brian2 import ms

    from brainlz.learning import tempotron as T

    monkeypatch.setenv("BRAINLZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BRAINLZ_GENN_ENV", str(genn_env))
    rng = np.random.default_rng(3)
    n_in, n_out, n_trials, n_bins = 16, 2, 8, 60
    setup = T._setup_for(n_in, n_out, n_bins, 1 * ms, 0 * ms, 15e-3, 3.75e-3, 1.0, 0.3, n_blocks=2)
    labels = rng.choice([-1.0, 1.0], size=(n_trials, 2 * n_out))
    weights = rng.normal(0.02, 0.12, size=(2, n_in, n_out))
    dw_prev = np.zeros_like(weights)
    builds = []
    for _ in range(3):
        trials = [rng.random((n_trials, n_in, n_bins)) < 0.05 for _ in range(2)]
        for block in trials:
            block[::3, :6, -2:] = True  # V still rising at the trial's end
        args = (setup, trials, labels, weights, dw_prev, np.full(2 * n_out, 0.04))
        cpu = T._run_runtime(*args, "numpy", True)
        design = T._run_epoch(*args, backend="genn", target="cpu", record_weights=True, directory=None)
        builds.append(design.builds)
        assert cpu.fired.any() and not cpu.fired.all()
        np.testing.assert_array_equal(design.fired, cpu.fired)
        np.testing.assert_allclose(design.t_max, cpu.t_max, rtol=0, atol=1e-9)
        np.testing.assert_allclose(design.weight_trace, cpu.weight_trace, rtol=1e-5, atol=1e-9)
        weights, dw_prev = cpu.weights, cpu.dw_prev
    assert builds == [1, 0, 0]


@needs_genn
def test_genn_tempotron_matches_runtime(genn_env, tmp_path, monkeypatch):
    """Tempotron training with backend='genn' (CPU-only GeNN) learns the runtime backend's weights."""
    from brainlz.learning.tempotron import train_tempotron

    monkeypatch.setenv("BRAINLZ_GENN_ENV", str(genn_env))
    rng = np.random.default_rng(2)
    x = rng.random((8, 10, 80)) < 0.08
    labels = np.arange(8) % 2
    reference, history = train_tempotron(x, labels, epochs=3, seed=1, backend="runtime", target="numpy")
    trained, genn_history = train_tempotron(x, labels, epochs=3, seed=1, backend="genn", target="cpu",
                                            directory=tmp_path)
    assert genn_history["errors"] == history["errors"]
    np.testing.assert_allclose(trained, reference, rtol=1e-9, atol=1e-12)
