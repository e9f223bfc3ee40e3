"""Independent test sets (``Protocol(n_test=...)``, :func:`brainlz.data.independent_test_set`): same task
distribution, own seed stream, disjoint from the training part, reproducible."""

import json

import numpy as np
import pytest
from brian2 import Hz

from brainlz.data import independent_test_set, make_task
from brainlz.errors import ParameterError
from brainlz.protocol import Protocol, derived_seeds, run_protocol


def _rows(x):
    return {row.tobytes() for row in np.packbits(x, axis=-1).reshape(len(x), -1)}


@pytest.mark.parametrize("task", ["rate", "burst", "regular", "digits"])
def test_test_set_is_disjoint_and_reproducible(task):
    train = make_task(task, n_samples=60, n_channels=64 if task == "digits" else 8, difficulty=0.3, n_bins=200,
                      seed=1)
    test = independent_test_set(train, 80, seed=2)
    again = independent_test_set(train, 80, seed=2)
    other = independent_test_set(train, 80, seed=3)
    assert np.array_equal(test.spiketrains, again.spiketrains) and np.array_equal(test.labels, again.labels)
    assert not np.array_equal(test.spiketrains, other.spiketrains)
    assert test.n_samples == 80 and np.bincount(test.labels).tolist() == [40, 40]
    assert not _rows(train.spiketrains) & _rows(test.spiketrains)
    if task == "digits":  # no image shown in training is shown in the test
        assert [c["available_images"] for c in test.params["classes"]] == \
            [c["available_images"] - 30 for c in train.params["classes"]]
        assert not set(train.params["image_indices"]) & set(test.params["image_indices"])


def test_test_set_has_the_task_distribution():
    """Rates of the independent test set match the training part's class rates (options carried over)."""
    train = make_task("rate", n_samples=200, n_channels=16, difficulty=0.0, seed=0, mean_rate=40 * Hz)
    test = independent_test_set(train, 400, seed=9)
    for c, expected in enumerate((20.0, 60.0)):
        rate = test.spiketrains[test.labels == c].mean() / 1e-3
        assert abs(rate - expected) < 1.0
    assert test.params["options"]["mean_rate_hz"] == 40.0


def test_test_set_needs_a_generated_dataset():
    from brainlz.data import SpikeDataset

    data = SpikeDataset(np.zeros((4, 2, 10), bool), np.array([0, 1, 0, 1]))
    with pytest.raises(ParameterError, match="train.params"):
        independent_test_set(data, 10, seed=0)


def test_digits_exclusion_is_checked():
    with pytest.raises(ParameterError, match="exclude_images"):
        make_task("digits", n_samples=4, exclude_images=[5000])


def test_seed_streams_are_kept():
    """Adding the test-data stream left the earlier streams unchanged (old records stay reproducible)."""
    seeds = derived_seeds(3)
    streams = np.random.SeedSequence(3).spawn(5)
    old = [int(s.generate_state(1)[0] % (2**31 - 1)) for s in streams]
    assert [seeds[k] for k in ("data", "weights", "simulation", "readout", "learning")] == old
    assert seeds["test_data"] not in old


def test_protocol_with_n_test(tmp_path):
    protocol = Protocol(name="n_test", task="rate", difficulty=0.6, n_samples=40, n_test=30, n_channels=8,
                        hidden=0, output=8, n_bins=200, backend="runtime", backend_options={"target": "numpy"},
                        batch_size=70, seed=4, n_folds=3)
    first = run_protocol(protocol, tmp_path / "a", progress=False, figures=False)
    second = run_protocol(protocol, tmp_path / "b", progress=False, figures=False)
    readout = first.metrics["network_readout"]
    assert (readout["n_train"], readout["n_test"]) == (40, 30)
    assert first.metrics["n_samples"] == 70
    assert json.dumps(first.metrics["network_readout"]) == json.dumps(second.metrics["network_readout"])
    config = json.loads((first.directory / "config.json").read_text())
    assert config["dataset"]["n_train"] == 40 and config["dataset"]["test"]["seed"] == derived_seeds(4)["test_data"]
    with pytest.raises(ParameterError, match="protocol.n_test"):
        protocol.replace(n_test=1)
