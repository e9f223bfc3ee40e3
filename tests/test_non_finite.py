"""Issue 23, item 8: a run whose states, weights or loss become NaN, infinite or absurd stops with one line naming
the layer, the variable and the likely cause, on every backend (runtime and standalone: tests/test_bad_input.py;
GeNN, CUDA: here) and in every training loop (STDP, tempotron, surrogate gradients)."""

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from brian2 import amp, ms

from brainlz.backends import base, cuda, genn
from brainlz.cli import main
from brainlz.data import SpikeDataset
from brainlz.errors import SimulationError
from brainlz.network import NetworkSpec

#: What every message says after the variable: value, where, count, criterion; then the likely cause.
BECAME = r" became \S+ \(SI; .*values NaN, infinite or beyond 1e\+50\); likely cause: "


def _one_line(info) -> str:
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _spec(scale=1.0):
    spec = NetworkSpec.create(6, hidden=3, output=2, seed=0)
    return spec.with_weights([w * scale for w in spec.weights])


def _inputs(n_samples=3, n_bins=40, seed=0):
    return np.random.default_rng(seed).random((n_samples, 6, n_bins)) < 0.2


def _huge_stdp(spec):
    """An STDP rule whose w_max does not clip ``spec``'s (huge) weights."""
    from brainlz.learning.stdp import STDPRule

    return STDPRule(w_max=2 * float(np.max(np.asarray(spec.weights[0]))) * amp)


# --------------------------------------------------------------------------------------------- the shared check
def test_plain_arrays_are_checked_by_the_criterion_of_the_backends():
    fine = {"hidden": {"v": np.array([-0.07, 1e49]), "I_syn": np.zeros(2)}}
    base.check_finite_arrays(fine, "never used")
    for bad in (np.nan, np.inf, -np.inf, 2e50):
        arrays = {"hidden": {"v": np.array([-0.07, bad, np.nan])}}
        with pytest.raises(SimulationError, match=r"^layer 'hidden': parameter v" + BECAME + "a cause$") as info:
            base.check_finite_arrays(arrays, lambda name: "a cause", what="parameter",
                                     where=lambda name, k: f"slot {k}")
        assert "slot 1;" in _one_line(info) and "2 values" in str(info.value)


def test_final_states_of_a_worker_are_checked_like_brian2_groups():
    """The worker scripts save every layer's final states (builder.final_states); check_final_states names the
    layer, variable, neuron and sample, and ignores the padding copies of a short last batch."""
    from brainlz import builder

    spec = _spec(1e300)
    layers = [{"name": layer.name, "states": list(layer.neuron_model.state_variables())} for layer in spec.layers]
    groups = [SimpleNamespace(**{f"{s}_": np.zeros(4 * layer.n_neurons) for s in layer.neuron_model.state_variables()})
              for layer in spec.layers]
    groups[0].I_syn_[3 * 3 + 1] = np.nan  # copy 3 (padding of a batch of 3 samples), neuron 1
    saved = base.saved_states(builder.final_states(groups, layers), layers)
    base.check_final_states(spec, saved, 10, 13)  # the padding copy is not checked
    groups[0].v_[2 * 3 + 1] = np.inf  # copy 2 = sample 12
    saved = base.saved_states(builder.final_states(groups, layers), layers)
    with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable v" + BECAME
                       + "the weights into 'hidden' are up to .* times the default scale") as info:
        base.check_final_states(spec, saved, 10, 13)
    assert "neuron 1, sample 12;" in _one_line(info)


# ------------------------------------------------------------------------------------------------ training loops
def test_stdp_runtime_epoch_stops_on_non_finite_states():
    from brainlz.learning.stdp import train_stdp

    spec = _spec(1e300)
    with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable \w+" + BECAME + "the weights into "
                                              r"'hidden' are up to .* lower stdp\.w_max") as info:
        train_stdp(spec, _inputs(), _huge_stdp(spec), gap=5 * ms, backend="runtime", target="numpy")
    assert "STDP epoch 1;" in _one_line(info)


@pytest.mark.slow  # compiles a standalone program (~15-60 s)
def test_stdp_standalone_epoch_stops_on_non_finite_states(standalone_dir):
    from brainlz.learning.stdp import train_stdp

    spec = _spec(1e300)
    with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable \w+" + BECAME + "the weights into "
                                              r"'hidden'") as info:
        train_stdp(spec, _inputs(), _huge_stdp(spec), gap=5 * ms, backend="standalone", directory=standalone_dir)
    assert "STDP epoch 1;" in _one_line(info)


@pytest.mark.parametrize("huge,cause", [
    ("learning_rate", r"the learning rate 1e\+300 makes the weight updates diverge; lower learning_rate"),
    ("init_weights", r"the initial weights are up to 1e\+300 times the threshold"),
], ids=["learning_rate", "init_weights"])
def test_tempotron_epoch_stops_on_non_finite_weights_or_maxima(huge, cause):
    from brainlz.learning.tempotron import TempotronParams, train_tempotron

    x, labels = _inputs(), np.arange(3) % 2
    options = ({"params": TempotronParams(learning_rate=1e300)} if huge == "learning_rate"
               else {"init_weights": np.full((6, 1), 1e300)})
    with pytest.raises(SimulationError, match=r"^layer 'tempotron': (state variable Vmax|weight w)" + BECAME
                                              + cause) as info:
        train_tempotron(x, labels, epochs=2, backend="runtime", target="numpy", **options)
    assert "tempotron epoch 1;" in _one_line(info)


def test_tempotron_output_layer_training_names_the_output_layer():
    from brainlz.learning.tempotron import train_output_layer

    spec = NetworkSpec.create(6, hidden=0, output=2, seed=0)
    spec = spec.with_weights([w * 1e300 for w in spec.weights])
    data = SpikeDataset(_inputs(4), np.arange(4) % 2)
    with pytest.raises(SimulationError, match=r"^layer 'output': .*" + BECAME + "the initial weights") as info:
        train_output_layer(spec, data, epochs=1, init="spec", backend="runtime", target="numpy")
    _one_line(info)


def test_surrogate_training_stops_on_non_finite_states():
    from brainlz.learning.surrogate import train_surrogate

    with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable \w+" + BECAME + "the weights into "
                                              r"'hidden' are up to .* lower weight_scale") as info:
        train_surrogate(_spec(1e300), _inputs(), np.arange(3) % 2, epochs=2, batch_size=3, validation_fraction=0)
    assert "training sample" in _one_line(info) and "epoch 1, mini-batch 1;" in str(info.value)


def test_surrogate_training_stops_on_non_finite_weights():
    from brainlz.learning.surrogate import train_surrogate

    with pytest.raises(SimulationError, match=r"^layer 'hidden': weight w" + BECAME + "training moved the weights "
                                              r"into 'hidden' to up to .* lower lr = 1e\+300$") as info:
        train_surrogate(_spec(), _inputs(), np.arange(3) % 2, epochs=2, batch_size=3, validation_fraction=0,
                        lr=1e300)
    assert "after epoch 1, mini-batch 1;" in _one_line(info)


def test_run_with_training_and_a_huge_weight_scale_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "nan_stdp.py"
    path.write_text(textwrap.dedent("""
        from brainlz.protocol import Protocol
        PROTOCOL = Protocol(name="nan_stdp", n_samples=12, n_channels=8, n_bins=100, hidden=4, output=3,
                            weight_scale=1e300, backend_options={"target": "numpy"}, n_folds=2, test_size=0.25,
                            learning={"rule": "stdp", "epochs": 1})
        """))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("brainlz: error: layer 'hidden': state variable") and "STDP epoch 1;" in err
    assert "weight_scale" in err and not any((tmp_path / "out").rglob("metrics.json"))


# ---------------------------------------------------------------------------------------------------------- CUDA
def test_cuda_checks_the_final_states_its_worker_returns(tmp_path, monkeypatch):
    """No GPU needed: a fabricated worker writes what _cuda_worker.py writes (spikes, final states)."""
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").touch()
    poisoned = {}

    def fake_worker(python, run_dir, timeout, cuda_path):
        config = json.loads((run_dir / "config.json").read_text())
        arrays = {}
        for layer in config["layers"]:
            arrays[layer["name"] + "_i"], arrays[layer["name"] + "_t"] = np.zeros(0, int), np.zeros(0)
            for state in layer["states"]:
                values = np.zeros(config["n_samples"] * layer["n_neurons"])
                values[poisoned.get((layer["name"], state), [])] = np.nan
                arrays[f"final_{layer['name']}_{state}"] = values
        np.savez(run_dir / "spikes.npz", **arrays)

    monkeypatch.setattr(cuda, "_run_worker", fake_worker)
    assert cuda.simulate(_spec(), _inputs(4), env=env, batch_size=2).output.shape == (4, 2, 40)
    poisoned[("output", "v")] = [1 * 2 + 1]  # copy 1, neuron 1 of every batch: sample 1 in the first
    with pytest.raises(SimulationError, match=r"^layer 'output': state variable v became nan \(SI; neuron 1, "
                                              r"sample 1; 1 values .* likely cause: the intrinsic parameters") as info:
        cuda.simulate(_spec(), _inputs(4), env=env, batch_size=2)
    _one_line(info)


# ---------------------------------------------------------------------------------------------------------- GeNN
GENN_PATH = genn.find_genn()
needs_genn = pytest.mark.skipif(not GENN_PATH or not Path(GENN_PATH).is_dir() or not genn.env_python().exists(),
                                reason="no GeNN 4.x installation or brian2genn environment (GENN_PATH or `brainlz "
                                       "env genn --genn-source DIR`)")


@needs_genn
def test_genn_inference_stops_on_non_finite_states_when_built_and_when_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLZ_CACHE", str(tmp_path / "cache"))
    spec = _spec(1e300)
    pattern = r"^layer 'hidden': state variable \w+" + BECAME + "the weights into 'hidden' are up to"
    for builds in (1, 0):  # the first call builds the project (the worker's npz), the second reruns it (results/)
        with pytest.raises(SimulationError, match=pattern) as info:
            genn.simulate(spec, _inputs(), use_gpu=False, batch_size=2)
        assert "sample 0;" in _one_line(info)
    fine = genn.simulate(_spec(), _inputs(), use_gpu=False, batch_size=2)  # same shape: a rerun, no error
    assert fine.n_builds == 0


@needs_genn
def test_genn_stdp_epoch_stops_on_non_finite_states_when_built_and_when_rerun(tmp_path, monkeypatch):
    from brainlz.learning.stdp import train_stdp

    monkeypatch.setenv("BRAINLZ_CACHE", str(tmp_path / "cache"))
    spec = _spec(1e300)
    for _ in range(2):  # build, then rerun of the compiled design
        with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable \w+" + BECAME
                           + "the weights into 'hidden'") as info:
            train_stdp(spec, _inputs(), _huge_stdp(spec), gap=5 * ms, shuffle=False, backend="genn",
                       genn_options={"use_gpu": False})
        assert "STDP epoch 1;" in _one_line(info)


@needs_genn
def test_genn_tempotron_epoch_stops_on_non_finite_weights(tmp_path, monkeypatch):
    from brainlz.learning.tempotron import TempotronParams, train_tempotron

    monkeypatch.setenv("BRAINLZ_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SimulationError, match=r"^layer 'tempotron': .*" + BECAME + "the learning rate") as info:
        train_tempotron(_inputs(), np.arange(3) % 2, epochs=2, params=TempotronParams(learning_rate=1e300),
                        backend="genn", target="cpu", directory=tmp_path)
    assert "tempotron epoch 1;" in _one_line(info)
