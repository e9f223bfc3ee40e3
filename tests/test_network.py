"""NetworkSpec validation and persistence, and the input spike table."""

import numpy as np
import pytest
from brian2 import Hz, mV, ms, nA

from brainlz.errors import DataError, ParameterError
from brainlz.network import NetworkSpec, rasters_from_monitor, spike_counts, spike_table


def test_create_shapes_units_and_seed():
    spec = NetworkSpec.create(10, hidden=7, output=3, seed=4)
    assert spec.sizes == (10, 7, 3)
    assert [w.shape for w in spec.weights] == [(10, 7), (7, 3)]
    assert spec.layer("hidden").params["tau_m"].shape == (7,)
    again = NetworkSpec.create(10, hidden=7, output=3, seed=4)
    other = NetworkSpec.create(10, hidden=7, output=3, seed=5)
    np.testing.assert_array_equal(np.asarray(spec.weights[0]), np.asarray(again.weights[0]))
    assert not np.array_equal(np.asarray(spec.weights[0]), np.asarray(other.weights[0]))
    assert NetworkSpec.create(4, hidden=(5, 6), output=2).layer_names == ("hidden0", "hidden1", "output")
    assert NetworkSpec.create(4, hidden=0, output=2).layer_names == ("output",)


def test_default_weight_puts_mean_drive_at_threshold():
    """n_pre inputs at 20 Hz with the mean weight drive E_L + R*I to V_th (closed form of the mean current)."""
    spec = NetworkSpec.create(50, hidden=0, output=400, input_rate=20 * Hz, seed=0)
    w = float(np.mean(np.asarray(spec.weights[0])))
    p = {k: float(np.asarray(v)[0]) for k, v in spec.output.params.items()}
    mean_current = 50 * 20.0 * w * p["tau_syn"]
    assert p["E_L"] + p["R"] * mean_current == pytest.approx(p["V_th"], abs=1.5e-3)
    # twice the assumed rate, half the weights (same seed, same normal draws)
    doubled = NetworkSpec.create(50, hidden=0, output=400, input_rate=40 * Hz, seed=0)
    np.testing.assert_allclose(np.asarray(doubled.weights[0]), np.asarray(spec.weights[0]) / 2, rtol=1e-12)
    for bad in (20.0, 20 * ms, -5 * Hz):
        with pytest.raises(ParameterError, match=r"^input_rate = "):
            NetworkSpec.create(50, hidden=0, output=4, input_rate=bad)


def test_validation_names_the_field():
    spec = NetworkSpec.create(4, hidden=3, output=2)
    with pytest.raises(ParameterError, match=r"hidden.tau_m .*outside the bounds"):
        spec.with_params("hidden", tau_m=500 * ms)
    with pytest.raises(ParameterError, match=r"output.V_reset .*violates V_reset < V_th"):
        spec.with_params("output", V_reset=-53 * mV, V_th=-55 * mV)
    with pytest.raises(ParameterError, match=r"hidden.tau_m .*expected a quantity in s"):
        spec.with_params("hidden", tau_m=20 * mV)
    with pytest.raises(ParameterError, match=r"hidden.colour"):
        spec.with_params("hidden", colour=1)
    with pytest.raises(ParameterError, match=r"weights\[1\].*shape"):
        spec.with_weights([spec.weights[0], np.zeros((2, 2)) * nA])
    with pytest.raises(ParameterError, match=r"weights\[0\].*expected a quantity in A"):
        spec.with_weights([np.zeros((4, 3)) * mV, spec.weights[1]])
    with pytest.raises(ParameterError, match=r"weights\[0\].*finite"):
        spec.with_weights([np.full((4, 3), np.nan) * nA, spec.weights[1]])
    with pytest.raises(ParameterError, match="layer = 'middle'"):
        spec.layer("middle")
    with pytest.raises(ParameterError, match="n_inputs"):
        NetworkSpec.create(0)
    with pytest.raises(ParameterError, match="weight_mean"):
        NetworkSpec.create(4, weight_mean=0.1)


def test_save_load_round_trip(tmp_path):
    spec = NetworkSpec.create(5, hidden=4, output=3, model="meta_neuron", seed=2)
    spec = spec.with_params("output", tau_m=np.array([10.0, 20.0, 30.0]) * ms)
    path = spec.save(tmp_path / "net.npz")
    loaded = NetworkSpec.load(path)
    assert loaded.structure_key() == spec.structure_key()
    for a, b in zip(loaded.weights, spec.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(loaded.output.params["tau_m"]), [0.01, 0.02, 0.03])
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="broken.npz"):
        NetworkSpec.load(tmp_path / "broken.npz")


@pytest.mark.parametrize("n_bins", [8, 16, 1024, 2040, 2048, 13, 1])
def test_spike_counts_match_a_plain_sum(rng, n_bins):
    # byte-lane path (n_bins a multiple of 8 up to 2040) and the plain fallback; full trains included, where a
    # lane holds its largest value n_bins / 8 and the row its largest count n_bins
    raster = rng.random((3, 5, n_bins)) < rng.choice([0.02, 0.5, 1.0], size=(3, 5, 1))
    raster[0, 0] = True
    counts = spike_counts(raster)
    assert counts.shape == (3, 5) and counts.dtype == np.int64
    np.testing.assert_array_equal(counts, raster.sum(axis=2))
    np.testing.assert_array_equal(spike_counts(raster[:, ::2]), raster[:, ::2].sum(axis=2))  # not contiguous


def test_spike_table_decodes_to_the_raster(rng):
    x = rng.random((3, 5, 80)) < 0.2
    table, capacity = spike_table(x)
    assert capacity == x.sum(axis=2).max() and table.shape == (capacity + 1, 15)
    assert np.all(table[-1] == -1)
    decoded = np.zeros((15, 80), dtype=bool)
    for column in range(15):
        bins = table[:, column]
        bins = bins[bins >= 0].astype(int)
        assert np.all(np.diff(bins) > 0)  # in time order, so the k-th row is the k-th spike
        decoded[column, bins] = True
    np.testing.assert_array_equal(decoded.reshape(3, 5, 80), x)
    with pytest.raises(ParameterError, match="capacity"):
        spike_table(x, capacity=1)


def test_rasters_from_monitor():
    raster = rasters_from_monitor(np.array([0, 3, 5]), np.array([0.0, 0.002, 0.0049999]), 2, 3, 10, 0.001)
    assert raster.shape == (2, 3, 10)
    assert raster[0, 0, 0] and raster[1, 0, 2] and raster[1, 2, 5] and raster.sum() == 3


def test_rasters_from_monitor_periods_into_out():
    """Periods and a shorter ``out``: the brute-force mapping (copy c, period p -> sample p * copies + c), and
    the spikes of samples beyond ``out`` (padding) and after the last period dropped."""
    rng = np.random.default_rng(4)
    n_samples, periods, n_neurons, n_bins = 6, 3, 4, 7
    copies = n_samples // periods
    indices = rng.integers(0, copies * n_neurons, 80)
    steps = rng.integers(0, periods * n_bins + 3, 80)
    expected = np.zeros((n_samples, n_neurons, n_bins), dtype=bool)
    for index, step in zip(indices, steps):
        if step < periods * n_bins:
            expected[(step // n_bins) * copies + index // n_neurons, index % n_neurons, step % n_bins] = True
    full = rasters_from_monitor(indices, steps * 0.001, n_samples, n_neurons, n_bins, 0.001, periods=periods)
    np.testing.assert_array_equal(full, expected)
    out = np.zeros((5, n_neurons, n_bins), dtype=bool)
    returned = rasters_from_monitor(indices, steps * 0.001, n_samples, n_neurons, n_bins, 0.001, periods=periods,
                                    out=out)
    assert returned is out
    np.testing.assert_array_equal(out, expected[:5])


@pytest.mark.parametrize("periods", [1, 2, 3, 6])
def test_spike_table_periods_match_brute_force(periods):
    """Copy c plays sample p * copies + c in period p: its table lists the spike steps of all its periods."""
    rng = np.random.default_rng(periods)
    x = rng.random((12, 4, 30)) < 0.15
    table, capacity = spike_table(x, periods=periods)
    copies = 12 // periods
    for c in range(copies):
        for channel in range(4):
            steps = [p * 30 + b for p in range(periods) for b in np.flatnonzero(x[p * copies + c, channel])]
            column = table[:, c * 4 + channel]
            np.testing.assert_array_equal(column[: len(steps)], steps)
            assert np.all(column[len(steps):] == -1)
    assert capacity == max(len([1 for p in range(periods) for b in np.flatnonzero(x[p * copies + c, ch])])
                           for c in range(copies) for ch in range(4))


# ----------------------------------------------------------------------------- interrupted simulations


def test_run_network_refuses_a_run_that_brian2_stopped_early():
    """Brian2 turns Ctrl+C into 'stop after this step' and returns normally; run_network raises instead."""
    import brian2

    from brainlz.network import run_network

    group = brian2.NeuronGroup(1, "dv/dt = 1/second : 1", method="euler")

    @brian2.network_operation(dt=1 * ms)
    def request_stop(t):
        if t >= 10 * ms:
            brian2.stop()  # what Brian2's SIGINT handler does during a run

    with pytest.raises(KeyboardInterrupt, match="stopped at 10.1 ms of 50 ms"):
        run_network([group, request_stop], 50 * ms)
    complete = run_network([brian2.NeuronGroup(1, "dv/dt = 1/second : 1", method="euler")], 50 * ms)
    assert float(complete.t) == pytest.approx(0.05)


@pytest.fixture
def half_runs(monkeypatch):
    """Every Brian2 runtime run simulates half its duration and returns normally (as after Ctrl+C)."""
    import brian2

    original = brian2.Network.run

    def half(self, duration, *args, **kwargs):
        return original(self, duration / 2, *args, **kwargs)

    monkeypatch.setattr(brian2.Network, "run", half)


def test_no_runtime_simulation_or_training_returns_a_truncated_run(half_runs):
    from brian2 import Hz, amp

    from brainlz.backends import runtime
    from brainlz.data import SpikeDataset, poisson_spikes
    from brainlz.experiments.tempotron_capacity import capacity_patterns
    from brainlz.learning import tempotron
    from brainlz.learning.stdp import STDPRule, train_stdp

    spec = NetworkSpec.create(8, hidden=4, output=3, seed=0)
    x = poisson_spikes(4, 8, 30 * Hz, n_bins=100, seed=1)
    with pytest.raises(KeyboardInterrupt, match="stopped at 50 ms of 100 ms"):
        runtime.simulate(spec, x, target="numpy")
    rule = STDPRule(w_max=3 * float(np.mean(np.asarray(spec.weights[0]))) * amp)
    with pytest.raises(KeyboardInterrupt, match="stopped at"):
        train_stdp(spec, SpikeDataset(x, np.array([0, 1, 0, 1])), rule, backend="runtime", target="numpy", seed=0)
    patterns, labels = capacity_patterns(6, 8, duration=50 * ms, seed=2)
    with pytest.raises(KeyboardInterrupt, match="stopped at"):
        tempotron.train_tempotron(patterns, labels, n_classes=2, epochs=1, seed=0, backend="runtime",
                                  target="numpy", evaluate_final=False)
