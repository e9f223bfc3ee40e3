"""Protocols: loading, validation, the end-to-end runner and its results directory."""

import json
import textwrap

import numpy as np
import pytest

from brainlz.data import make_task
from brainlz.errors import ParameterError, ProtocolError
from brainlz.network import NetworkSpec
from brainlz.protocol import Protocol, derived_seeds, load_protocol, run_protocol

SMALL = dict(task="rate", difficulty=0.2, n_samples=60, n_channels=16, n_bins=300, hidden=12, output=10,
             backend="runtime", backend_options={"target": "numpy"}, batch_size=30, n_folds=3, test_size=0.2)


def test_protocol_validation_names_fields():
    with pytest.raises(ParameterError, match="protocol.task = 'colour'.*rate"):
        Protocol(name="x", task="colour")
    with pytest.raises(ParameterError, match="protocol.difficulty = 1.5"):
        Protocol(name="x", difficulty=1.5)
    with pytest.raises(ParameterError, match="protocol.n_samples = -3"):
        Protocol(name="x", n_samples=-3)
    with pytest.raises(ParameterError, match="protocol.backend = 'gpu'"):
        Protocol(name="x", backend="gpu")
    with pytest.raises(ParameterError, match="protocol.readout"):
        Protocol(name="x", readout="svm")
    with pytest.raises(ParameterError, match="protocol.name"):
        Protocol(name="a/b")
    with pytest.raises(ParameterError, match="protocol.hidden = 2.5"):
        Protocol(name="x", hidden=2.5)


def test_derived_seeds_are_distinct_and_reproducible():
    a, b = derived_seeds(1), derived_seeds(2)
    assert a == derived_seeds(1) and a != b
    assert len(set(a.values())) == len(a) == 6


def test_run_writes_complete_results_directory(tmp_path):
    protocol = Protocol(name="small", **SMALL)
    result = run_protocol(protocol, tmp_path, progress=False)
    files = {p.name for p in result.directory.iterdir()}
    assert {"config.json", "metrics.json", "results.md", "network.npz", "outputs.npz", "figures"} <= files
    figures = sorted(p.name for p in (result.directory / "figures").iterdir())
    assert figures == ["lzc_by_class.png", "membrane_trace.png", "rasters.png"]
    metrics = json.loads((result.directory / "metrics.json").read_text())
    net = metrics["network_readout"]
    assert metrics["accuracy"] == net["test_accuracy"]
    assert net["test_accuracy"] == pytest.approx(net["n_test_correct"] / net["n_test"])
    lo, hi = metrics["accuracy_ci95"]
    assert 0 <= lo <= metrics["accuracy"] <= hi <= 1
    # difficulty 0.2 on rates: far above chance
    assert net["cv_accuracy_mean"] > 0.8
    config = json.loads((result.directory / "config.json").read_text())
    assert config["protocol"]["n_samples"] == 60 and config["seeds"] == derived_seeds(0)
    assert config["provenance"]["brian2"]
    # the saved rasters decode to what the metrics were computed from
    saved = np.load(result.directory / "outputs.npz")
    output = np.unpackbits(saved["output_packed"], axis=-1, count=int(saved["n_bins"])).astype(bool)
    from brainlz.readout import LZCFeatures

    np.testing.assert_allclose(LZCFeatures().fit_transform(output), saved["lzc"])
    assert "| test accuracy, LZC readout |" in result.table
    assert not [p for p in (tmp_path / "small").iterdir() if p.name.startswith(".")]


def test_same_seed_same_metrics(tmp_path):
    protocol = Protocol(name="repro", **SMALL)
    a = run_protocol(protocol, tmp_path, progress=False, figures=False).metrics
    b = run_protocol(protocol, tmp_path, progress=False, figures=False).metrics
    c = run_protocol(protocol.replace(seed=1), tmp_path, progress=False, figures=False).metrics
    for m in (a, b, c):
        m.pop("simulation")  # wall times
        m.pop("latency")
    assert a == b
    assert a != c
    assert len(list((tmp_path / "repro").iterdir())) == 3  # distinct run directories


def test_failed_run_leaves_no_partial_directory(tmp_path, monkeypatch):
    import brainlz.figures

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(brainlz.figures, "plot_lzc_distribution", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_protocol(Protocol(name="broken", **SMALL), tmp_path, progress=False)
    assert list((tmp_path / "broken").iterdir()) == []


def test_load_protocol_errors(tmp_path):
    with pytest.raises(ProtocolError, match="does not exist"):
        load_protocol(tmp_path / "missing.py")
    (tmp_path / "syntax.py").write_text("PROTOCOL = Protocol(\n")
    with pytest.raises(ProtocolError, match=r"syntax.py:\d+: syntax error"):
        load_protocol(tmp_path / "syntax.py")
    (tmp_path / "none.py").write_text("x = 1\n")
    with pytest.raises(ProtocolError, match="defines no PROTOCOL"):
        load_protocol(tmp_path / "none.py")
    (tmp_path / "wrong.py").write_text("PROTOCOL = {'name': 'x'}\n")
    with pytest.raises(ProtocolError, match="PROTOCOL is a dict"):
        load_protocol(tmp_path / "wrong.py")
    (tmp_path / "raises.py").write_text("import math\nvalue = 1 / 0\n")
    with pytest.raises(ProtocolError, match=r"raises.py:2: ZeroDivisionError"):
        load_protocol(tmp_path / "raises.py")
    (tmp_path / "bad.py").write_text(textwrap.dedent("""
        from brainlz.protocol import Protocol
        PROTOCOL = Protocol(name="bad", n_samples=0)
    """))
    with pytest.raises(ParameterError, match="protocol.n_samples = 0"):
        load_protocol(tmp_path / "bad.py")


def test_learning_sees_only_training_samples(tmp_path, monkeypatch):
    import brainlz.protocol as protocol_module
    from brainlz.data import stratified_split

    seen = {}
    real = protocol_module.train_network

    def spy(spec, train_set, learning, **kwargs):
        seen["subset"] = list(train_set.params["subset"])
        return real(spec, train_set, learning, **kwargs)

    monkeypatch.setattr(protocol_module, "train_network", spy)
    protocol = Protocol(name="stdp_small", learning={"rule": "stdp", "epochs": 1, "A_plus": 0.02, "A_minus": 0.021},
                        **SMALL)
    result = run_protocol(protocol, tmp_path, progress=False, figures=False)
    labels = make_task("rate", n_samples=60, n_channels=16, difficulty=0.2, n_bins=300,
                       seed=derived_seeds(0)["data"]).labels
    _, test = stratified_split(labels, 0.2, derived_seeds(0)["readout"])
    assert seen["subset"] and set(seen["subset"]).isdisjoint(test.tolist())
    assert len(seen["subset"]) == 60 - len(test)
    learning = result.metrics["learning"]
    assert learning["rule"] == "stdp" and len(learning["per_epoch"]) == 1
    saved = NetworkSpec.load(result.directory / "network.npz")
    w = np.asarray(saved.weights[0])
    assert w.min() >= 0 and w.max() <= learning["w_max"] * (1 + 1e-9)


def test_unknown_learning_rule():
    with pytest.raises(ParameterError, match="protocol.learning.rule = 'hebb'"):
        Protocol(name="x", learning={"rule": "hebb"})


def test_tempotron_protocol_learns_output_weights(tmp_path):
    """The tempotron changes only the last projection and the readout still runs on the trained network."""
    protocol = Protocol(name="tempo_small", learning={"rule": "tempotron", "epochs": 3, "learning_rate": 0.01},
                        **SMALL)
    result = run_protocol(protocol, tmp_path, progress=False, figures=False)
    assert result.metrics["learning"]["rule"] == "tempotron"
    from brainlz.network import NetworkSpec as Spec
    from brainlz.protocol import derived_seeds as seeds_of

    trained = Spec.load(result.directory / "network.npz")
    initial = Spec.create(16, hidden=12, output=10, seed=seeds_of(0)["weights"])
    np.testing.assert_array_equal(np.asarray(trained.weights[0]), np.asarray(initial.weights[0]))
    assert not np.array_equal(np.asarray(trained.weights[1]), np.asarray(initial.weights[1]))
    with pytest.raises(ParameterError, match="protocol.learning"):
        run_protocol(protocol.replace(learning={"rule": "tempotron", "colour": 1}), tmp_path, progress=False)
