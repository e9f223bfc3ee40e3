"""Tests of brainlz.data: generators against theory, task families, SpikeDataset and parameter checking.

Statistical checks compare an estimate with its theoretical value within 5 standard errors.  The standard
error is either exact (binomial) or estimated from the spread over independent groups of samples, so each
check fails when the generator is off by a few percent.
"""

import json
import os

import numpy as np
import pytest
from brian2.units import Hz, ms, second

from brainlz.data import (
    TASKS,
    SpikeDataset,
    burst_parameters,
    gamma_renewal_spikes,
    make_task,
    markov_modulated_spikes,
    modulated_poisson_spikes,
    poisson_spikes,
)
from brainlz.errors import DataError, ParameterError

DT = 0.001  # seconds, the default bin width


# ---------------------------------------------------------------------------------------------------------------
# Helpers: statistics computed independently of the generators
# ---------------------------------------------------------------------------------------------------------------


def window_counts(raster, window):
    """Spike counts in consecutive windows of ``window`` bins: shape [n_samples, n_channels, n_windows]."""
    n_windows = raster.shape[-1] // window
    trimmed = raster[..., : n_windows * window]
    return trimmed.reshape(*raster.shape[:-1], n_windows, window).sum(axis=-1)


def fano(counts):
    counts = np.asarray(counts, dtype=float).ravel()
    return counts.var(ddof=1) / counts.mean()


def isi_cv(raster):
    """CV of all inter-spike intervals (in bins) within the trains of ``raster``."""
    gaps = [np.diff(np.flatnonzero(train)) for train in raster.reshape(-1, raster.shape[-1])]
    gaps = np.concatenate(gaps).astype(float)
    return gaps.std(ddof=1) / gaps.mean()


def estimate(statistic, raster, n_groups=20):
    """``statistic(raster)`` and its standard error from the spread over independent groups of samples."""
    groups = np.array_split(np.arange(raster.shape[0]), n_groups)
    values = np.array([statistic(raster[g]) for g in groups])
    return statistic(raster), values.std(ddof=1) / np.sqrt(n_groups)


def assert_close(value, expected, error, n_sigma=5.0, what=""):
    assert abs(value - expected) < n_sigma * error, f"{what}: {value:.5g} vs theory {expected:.5g} (SE {error:.3g})"


def assert_mean_count(raster, expected_per_sample, what):
    """Per-sample spike totals (independent across samples) have mean ``expected_per_sample``."""
    totals = raster.reshape(raster.shape[0], -1).sum(axis=1).astype(float)
    error = totals.std(ddof=1) / np.sqrt(totals.size)
    assert_close(totals.mean(), expected_per_sample, error, what=what)


def mmpp_count_variance(window, p_low, p_high, up, down):
    """Exact variance of the spike count in ``window`` bins of the binned two-state MMPP (per-bin probabilities)."""
    pi = up / (up + down)
    mean_p = (1 - pi) * p_low + pi * p_high
    rho = 1 - up - down
    lags = np.arange(1, window)
    covariance = (p_high - p_low) ** 2 * pi * (1 - pi) * np.sum((window - lags) * rho**lags)
    return window * mean_p * (1 - mean_p) + 2 * covariance, window * mean_p


def power_spectrum(raster):
    """Sample-averaged periodogram of the channel-summed, mean-subtracted trains; returns (frequencies, power)."""
    summed = raster.sum(axis=1).astype(float)
    summed -= summed.mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(summed, axis=1)) ** 2).mean(axis=0)
    return np.fft.rfftfreq(raster.shape[-1], DT), power


def spectral_peak(raster):
    frequencies, power = power_spectrum(raster)
    return frequencies[1 + np.argmax(power[1:])]


# ---------------------------------------------------------------------------------------------------------------
# Generators against theory
# ---------------------------------------------------------------------------------------------------------------


def test_poisson_count_is_binomial_per_channel():
    rates = np.array([5.0, 20.0, 80.0])
    raster = poisson_spikes(400, 3, rates * Hz, seed=11)
    assert raster.shape == (400, 3, 1024) and raster.dtype == bool
    n = 400 * 1024
    for channel, rate in enumerate(rates):
        p = rate * DT
        count = raster[:, channel].sum()
        assert_close(count, n * p, np.sqrt(n * p * (1 - p)), what=f"channel {channel}")


def test_poisson_per_sample_rates():
    rates = np.outer(np.arange(1, 51), np.ones(4)) * 2.0  # 2 .. 100 Hz, one rate per sample
    raster = poisson_spikes(50, 4, rates * Hz, seed=2)
    counts = raster.sum(axis=(1, 2))
    expected = rates.sum(axis=1) * DT * 1024
    assert np.corrcoef(counts, expected)[0, 1] > 0.98


@pytest.mark.parametrize(
    "name, make, mean_rate",
    [
        ("gamma k=4", lambda: gamma_renewal_spikes(300, 10, 20 * Hz, 4, seed=3), 20.0),
        ("gamma k=0.5", lambda: gamma_renewal_spikes(300, 10, 30 * Hz, 0.5, seed=3), 30.0),
        ("gamma k=4, 200 Hz", lambda: gamma_renewal_spikes(300, 10, 200 * Hz, 4, seed=3), 200.0),
        ("gamma k=1, 300 Hz", lambda: gamma_renewal_spikes(300, 10, 300 * Hz, 1, seed=3), 300.0),
        ("bursty", lambda: markov_modulated_spikes(300, 10, **burst_parameters(20 * Hz, 0.9), seed=3), 20.0),
        ("modulated", lambda: modulated_poisson_spikes(300, 10, 20 * Hz, 0.8, 7 * Hz, seed=3), 20.0),
    ],
)
def test_mean_rate_matches_set_rate(name, make, mean_rate):
    raster = make()
    assert raster.shape == (300, 10, 1024) and raster.dtype == bool
    assert_mean_count(raster, 10 * 1024 * mean_rate * DT, name)


@pytest.mark.parametrize(
    "name, make",
    [
        ("gamma k=4", lambda: gamma_renewal_spikes(1500, 10, 20 * Hz, 4, n_bins=64, seed=4)),
        ("gamma k=16", lambda: gamma_renewal_spikes(1500, 10, 20 * Hz, 16, n_bins=64, seed=4)),
        ("bursty", lambda: markov_modulated_spikes(1500, 10, **burst_parameters(20 * Hz, 0.9), n_bins=64, seed=4)),
    ],
)
def test_stationary_from_the_first_bin(name, make):
    """The spike probability is rate*dt already in the first bins (no transient from the start)."""
    raster = make()
    assert_mean_count(raster[:, :, :16], 10 * 16 * 20 * DT, f"{name}, bins 0-15")
    assert_mean_count(raster[:, :, 16:48], 10 * 32 * 20 * DT, f"{name}, bins 16-47")


def test_gamma_order_one_is_the_bernoulli_process():
    p = 0.05
    raster = gamma_renewal_spikes(200, 10, 50 * Hz, 1, seed=5)
    value, error = estimate(lambda r: fano(window_counts(r, 100)), raster)
    assert_close(value, 1 - p, error, what="Fano, k=1")
    value, error = estimate(isi_cv, raster)
    assert_close(value, np.sqrt(1 - p), error, what="ISI CV, k=1")


def test_fano_factor_poisson_is_one_minus_p():
    p = 20 * DT
    raster = poisson_spikes(200, 10, 20 * Hz, seed=6)
    value, error = estimate(lambda r: fano(window_counts(r, 100)), raster)
    assert_close(value, 1 - p, error, what="Fano, Poisson")
    assert abs(value - 1) < 0.05


def test_fano_factor_gamma_is_near_one_over_k():
    k, p, window = 4, 40 * DT, 200
    raster = gamma_renewal_spikes(200, 10, 40 * Hz, k, seed=7)
    value, error = estimate(lambda r: fano(window_counts(r, window)), raster)
    cv2 = (1 - p / 2) ** 2 / k + p**2 / 12  # interval CV^2 of the binned process
    theory = cv2 + (1 - 1 / k**2) / (6 * window * p)  # renewal theory for a finite window
    assert_close(value, theory, error, what="Fano, gamma k=4")
    assert abs(value - 1 / k) < 0.05
    assert value < 0.5


def test_fano_factor_bursty_matches_mmpp_theory():
    arguments = burst_parameters(20 * Hz, 0.9, high_fraction=0.2, burst_duration=50 * ms)
    raster = markov_modulated_spikes(300, 10, **arguments, seed=8)
    keys = ("rate_low", "rate_high", "switch_rate_up", "switch_rate_down")
    p_low, p_high, up, down = (float(arguments[key] / Hz) * DT for key in keys)
    variance, mean = mmpp_count_variance(100, p_low, p_high, up, down)
    value, error = estimate(lambda r: fano(window_counts(r, 100)), raster)
    assert_close(value, variance / mean, error, what="Fano, bursty")
    assert value > 2


def test_bursty_channels_are_independent():
    raster = markov_modulated_spikes(100, 2, **burst_parameters(20 * Hz, 0.9), seed=13)
    counts = window_counts(raster, 100)  # [sample, channel, window]
    r = np.corrcoef(counts[:, 0].ravel(), counts[:, 1].ravel())[0, 1]
    assert abs(r) < 5 / np.sqrt(counts[:, 0].size)


def test_burst_parameters_keep_the_mean_rate():
    for burstiness in (0.0, 0.3, 1.0):
        a = burst_parameters(20 * Hz, burstiness, high_fraction=0.25, burst_duration=40 * ms)
        pi = a["switch_rate_up"] / (a["switch_rate_up"] + a["switch_rate_down"])
        assert float(pi) == pytest.approx(0.25)
        assert float((1 - pi) * a["rate_low"] + pi * a["rate_high"]) == pytest.approx(20.0)
        assert float(a["switch_rate_down"] * 40 * ms) == pytest.approx(1.0)
    assert float(burst_parameters(20 * Hz, 0.0)["rate_high"]) == pytest.approx(20.0)
    assert float(burst_parameters(20 * Hz, 1.0)["rate_low"]) == 0.0


@pytest.mark.parametrize("k", [2.0, 4.0, 9.0])
def test_gamma_isi_cv_is_one_over_sqrt_k(k):
    p = 40 * DT
    raster = gamma_renewal_spikes(40, 5, 40 * Hz, k, n_bins=8192, seed=9)
    value, error = estimate(isi_cv, raster)
    assert_close(value, np.sqrt((1 - p / 2) ** 2 / k + p**2 / 12), error, what=f"ISI CV, k={k}")
    assert abs(value - 1 / np.sqrt(k)) < 0.03


def test_modulated_spectrum_peaks_at_modulation_frequency():
    mean_p, depth, frequency = 20 * DT, 0.8, 10.0
    raster = modulated_poisson_spikes(200, 10, 20 * Hz, depth, frequency * Hz, seed=10)
    frequencies, power = power_spectrum(raster)
    resolution = frequencies[1]
    assert abs(spectral_peak(raster) - frequency) <= resolution
    # Depth from the Fourier amplitude at the modulation frequency, noise power removed.
    summed = raster.sum(axis=1).astype(float)
    summed -= summed.mean(axis=1, keepdims=True)
    t = np.arange(raster.shape[-1])
    amplitude = np.abs(summed @ np.exp(-2j * np.pi * frequency * DT * t)) ** 2
    noise = 10 * raster.shape[-1] * mean_p * (1 - mean_p)
    depth_estimate = np.sqrt(amplitude.mean() - noise) / (10 * mean_p * raster.shape[-1] / 2)
    assert depth_estimate == pytest.approx(depth, abs=0.06)


def test_modulated_rate_profile_with_fixed_phase():
    mean_p, depth, frequency = 20 * DT, 0.6, 5.0
    raster = modulated_poisson_spikes(200, 10, 20 * Hz, depth, frequency * Hz, phase=0.0, seed=12)
    profile = raster.mean(axis=(0, 1))
    t = np.arange(profile.size) * DT
    design = np.column_stack([np.ones_like(t), np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t)])
    coefficients, *_ = np.linalg.lstsq(design, profile, rcond=None)
    error = np.sqrt(mean_p / 2000 * 2 / profile.size)
    assert_close(coefficients[0], mean_p, error, what="mean")
    assert_close(coefficients[1], mean_p * depth, error, what="sine amplitude")
    assert_close(coefficients[2], 0.0, error, what="cosine amplitude")


# ---------------------------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------------------------

GENERATORS = {
    "poisson": lambda seed: poisson_spikes(4, 3, 30 * Hz, n_bins=200, seed=seed),
    "bursty": lambda seed: markov_modulated_spikes(4, 3, **burst_parameters(30 * Hz, 0.8), n_bins=200, seed=seed),
    "gamma": lambda seed: gamma_renewal_spikes(4, 3, 30 * Hz, 3, n_bins=200, seed=seed),
    "modulated": lambda seed: modulated_poisson_spikes(4, 3, 30 * Hz, 0.5, 8 * Hz, n_bins=200, seed=seed),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_reproducible(name):
    make = GENERATORS[name]
    assert np.array_equal(make(1), make(1))
    assert not np.array_equal(make(1), make(2))
    assert np.array_equal(make(1), make(np.random.default_rng(1)))


@pytest.mark.parametrize("task", TASKS)
def test_tasks_are_reproducible(task):
    a = make_task(task, n_samples=20, n_bins=128, seed=5)
    b = make_task(task, n_samples=20, n_bins=128, seed=5)
    c = make_task(task, n_samples=20, n_bins=128, seed=6)
    assert np.array_equal(a.spiketrains, b.spiketrains) and np.array_equal(a.labels, b.labels)
    assert a.params == b.params
    assert not np.array_equal(a.spiketrains, c.spiketrains)
    assert make_task(task, n_samples=4, n_bins=16, seed=np.random.default_rng(5)).params["seed"] is None


# ---------------------------------------------------------------------------------------------------------------
# Task families
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_task_shapes_and_balanced_shuffled_labels(task):
    data = make_task(task, n_samples=61, n_classes=3, n_bins=256, seed=1)
    n_channels = 64 if task == "digits" else 16
    assert data.spiketrains.shape == (61, n_channels, 256) and data.spiketrains.dtype == bool
    assert data.labels.dtype == np.int64 and data.labels.shape == (61,)
    assert sorted(np.bincount(data.labels).tolist()) == [20, 20, 21]
    assert not np.all(np.diff(data.labels) >= 0), "labels are not shuffled"
    assert data.n_classes == 3 and data.n_bins == 256 and data.dt == 1 * ms
    assert data.params["task"] == task and data.params["seed"] == 1 and data.params["difficulty"] == 0.5
    assert len(data.params["classes"]) == 3
    json.dumps(data.params)
    even = make_task(task, n_samples=40, n_bins=64, seed=2)
    assert np.bincount(even.labels).tolist() == [20, 20]


def split(data):
    return [data.spiketrains[data.labels == c] for c in range(data.n_classes)]


def assert_equal_rates(blocks, rate_hz, n_bins):
    """Mean rate of every class equals ``rate_hz`` and the classes agree with each other."""
    totals = [b.reshape(b.shape[0], -1).sum(axis=1).astype(float) for b in blocks]
    for c, (block, t) in enumerate(zip(blocks, totals)):
        assert_mean_count(block, block.shape[1] * n_bins * rate_hz * DT, f"class {c} mean rate")
    (a, b) = totals[:2]
    z = (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(z) < 5, f"class mean counts differ: z = {z:.2f}"


def test_rate_task_classes_have_the_documented_rates():
    data = make_task("rate", n_samples=60, n_channels=8, difficulty=0.0, seed=3)
    low, high = split(data)
    assert_mean_count(low, 8 * 1024 * 10 * DT, "class 0 at 10 Hz")
    assert_mean_count(high, 8 * 1024 * 30 * DT, "class 1 at 30 Hz")
    half = make_task("rate", n_samples=60, n_channels=8, difficulty=0.5, seed=3)
    assert [c["rate_hz"] for c in half.params["classes"]] == pytest.approx([15.0, 25.0])


def test_burst_task_differs_in_fano_at_equal_rate():
    data = make_task("burst", n_samples=80, n_channels=8, difficulty=0.0, seed=4)
    poisson, bursty = split(data)
    assert_equal_rates([poisson, bursty], 20.0, 1024)
    f0, e0 = estimate(lambda r: fano(window_counts(r, 100)), poisson, n_groups=10)
    f1, _ = estimate(lambda r: fano(window_counts(r, 100)), bursty, n_groups=10)
    assert_close(f0, 1 - 20 * DT, e0, what="class 0 Fano")
    assert f1 > 2.0


def test_regular_task_differs_in_isi_cv_at_equal_rate():
    data = make_task("regular", n_samples=80, n_channels=8, difficulty=0.0, seed=5)
    poisson, regular = split(data)
    assert_equal_rates([poisson, regular], 20.0, 1024)
    assert isi_cv(poisson) == pytest.approx(1.0, abs=0.06)
    assert isi_cv(regular) == pytest.approx(1 / np.sqrt(8), abs=0.04)
    assert data.params["classes"] == [{"order": 1.0}, {"order": 8.0}]


def test_modulated_task_differs_in_frequency_at_equal_rate():
    data = make_task("modulated", n_samples=80, n_channels=8, difficulty=0.0, seed=6)
    slow, fast = split(data)
    assert_equal_rates([slow, fast], 20.0, 1024)
    assert abs(spectral_peak(slow) - 4.0) <= 1.0
    assert abs(spectral_peak(fast) - 12.0) <= 1.0


@pytest.mark.parametrize(
    "task, key",
    [("rate", "rate_hz"), ("burst", "burstiness"), ("regular", "order"), ("modulated", "frequency_hz")],
)
def test_difficulty_shrinks_the_class_difference_to_zero(task, key):
    spreads = []
    for difficulty in (0.0, 0.25, 0.5, 0.75, 1.0):
        data = make_task(task, n_samples=4, n_channels=2, n_classes=4, difficulty=difficulty, n_bins=32, seed=0)
        values = np.array([c[key] for c in data.params["classes"]])
        assert np.all(np.diff(values) >= 0)
        assert np.allclose(np.diff(values), np.diff(values)[0]), "class parameters are not evenly spaced"
        spreads.append(values[-1] - values[0])
    assert spreads[0] > 0 and spreads[-1] == 0
    assert np.allclose(spreads, spreads[0] * np.array([1, 0.75, 0.5, 0.25, 0]))


def test_hardest_burst_task_has_identical_classes():
    data = make_task("burst", n_samples=80, n_channels=8, difficulty=1.0, seed=7)
    a, b = split(data)
    fa, ea = estimate(lambda r: fano(window_counts(r, 100)), a, n_groups=10)
    fb, eb = estimate(lambda r: fano(window_counts(r, 100)), b, n_groups=10)
    assert abs(fa - fb) < 5 * np.hypot(ea, eb)


def test_digits_task_is_rate_coded_real_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = make_task("digits", n_samples=100, n_classes=10, difficulty=0.0, seed=8)
    assert data.n_channels == 64 and data.n_classes == 10
    indices = np.array(data.params["image_indices"])
    assert np.array_equal(data.labels, digits.target[indices])
    assert len(set(indices.tolist())) == 100  # without replacement while enough images exist
    counts = data.spiketrains.sum(axis=2).astype(float)
    pixels = digits.data[indices]
    assert np.corrcoef(counts.ravel(), pixels.ravel())[0, 1] > 0.9
    slope = (counts * pixels).sum() / (pixels**2).sum()  # expected 100 Hz * 1.024 s / 16 per pixel unit
    assert slope == pytest.approx(100 * 1.024 / 16, rel=0.03)
    assert counts[pixels == 0].sum() == 0


def test_digits_task_with_replacement_and_difficulty_one():
    data = make_task("digits", n_samples=400, n_bins=64, difficulty=1.0, seed=9)
    assert set(data.labels.tolist()) == {0, 1}
    assert all(c["with_replacement"] for c in data.params["classes"])
    mean_counts = [data.spiketrains[data.labels == c].sum(axis=2).mean(axis=0) for c in (0, 1)]
    easy = make_task("digits", n_samples=400, n_bins=64, difficulty=0.0, seed=9)
    easy_counts = [easy.spiketrains[easy.labels == c].sum(axis=2).mean(axis=0) for c in (0, 1)]
    assert np.abs(mean_counts[0] - mean_counts[1]).max() < 0.25 * np.abs(easy_counts[0] - easy_counts[1]).max()


# ---------------------------------------------------------------------------------------------------------------
# SpikeDataset
# ---------------------------------------------------------------------------------------------------------------


def small_dataset():
    rng = np.random.default_rng(0)
    spiketrains = rng.random((6, 3, 50)) < 0.1
    return SpikeDataset(spiketrains, np.array([0, 1, 2, 0, 1, 2]), 0.5 * ms, {"task": "x", "a": [1, 2]})


def test_dataset_properties_and_subset():
    data = small_dataset()
    assert (data.n_samples, data.n_channels, data.n_bins, data.n_classes) == (6, 3, 50, 3)
    assert data.duration == 25 * ms
    part = data.subset([1, 4, 5])
    assert np.array_equal(part.spiketrains, data.spiketrains[[1, 4, 5]])
    assert part.labels.tolist() == [1, 1, 2] and part.n_classes == 2 and part.dt == data.dt
    assert part.params["subset"] == [1, 4, 5] and part.params["task"] == "x"
    assert part.subset([0, 2]).params["subset"] == [1, 5]
    assert data.subset(data.labels == 0).labels.tolist() == [0, 0]
    with pytest.raises(ParameterError, match="indices"):
        data.subset([7])


def test_save_load_round_trip(tmp_path):
    data = make_task("regular", n_samples=12, n_channels=3, n_bins=100, dt=0.5 * ms, seed=4)
    path = data.save(tmp_path / "task.npz")
    assert os.listdir(tmp_path) == ["task.npz"]  # no temporary file left behind
    loaded = SpikeDataset.load(path)
    assert np.array_equal(loaded.spiketrains, data.spiketrains) and loaded.spiketrains.dtype == bool
    assert np.array_equal(loaded.labels, data.labels) and loaded.labels.dtype == np.int64
    assert loaded.dt == 0.5 * ms and loaded.params == data.params
    data.subset([0, 1]).save(path)  # overwrite in place
    assert SpikeDataset.load(path).n_samples == 2


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = small_dataset().save(tmp_path / "data.npz")
    before = path.read_bytes()

    def broken_writer(handle, **arrays):
        handle.write(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        make_task("rate", n_samples=4, n_bins=10).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["data.npz"]
    monkeypatch.undo()
    unserialisable = small_dataset()
    unserialisable.params["bad"] = {1, 2}
    with pytest.raises(DataError, match="params"):
        unserialisable.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["data.npz"]


def write_npz(path, **overrides):
    data = small_dataset()
    fields = {
        "format_version": np.int64(1),
        "spiketrains": data.spiketrains,
        "labels": data.labels,
        "dt_seconds": np.float64(0.001),
        "params_json": np.str_(json.dumps(data.params)),
    }
    fields.update(overrides)
    np.savez(path, **{k: v for k, v in fields.items() if v is not None})
    return path


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"labels": None}, "missing key.*labels"),
        ({"params_json": None, "dt_seconds": None}, "missing key.*dt_seconds, params_json"),
        ({"spiketrains": np.zeros((6, 3, 50), dtype=np.int8)}, "spiketrains: expected dtype bool"),
        ({"spiketrains": np.zeros((6, 50), dtype=bool)}, "spiketrains: expected 3 dimensions"),
        ({"labels": np.arange(5)}, "labels: expected shape"),
        ({"labels": np.linspace(0, 1, 6)}, "labels: expected integers"),
        ({"dt_seconds": np.float64(-1.0)}, "dt: expected one positive time"),
        ({"dt_seconds": np.ones(2)}, "dt_seconds"),
        ({"params_json": np.str_("{not json")}, "params_json: not valid JSON"),
        ({"format_version": np.int64(99)}, "format_version"),
    ],
)
def test_load_rejects_malformed_files(tmp_path, overrides, message):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=message) as info:
        SpikeDataset.load(path)
    assert "bad.npz" in str(info.value)


def test_load_rejects_corrupted_and_missing_files(tmp_path):
    good = small_dataset().save(tmp_path / "good.npz")
    raw = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"this is not an archive" * 10)
    np.save(tmp_path / "array.npy", np.zeros(3))
    for name in ("truncated.npz", "garbage.npz", "array.npy", "missing.npz"):
        with pytest.raises(DataError, match=name.replace(".", r"\.")):
            SpikeDataset.load(tmp_path / name)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(spiketrains=np.zeros((2, 3, 4), dtype=int)), "spiketrains: expected dtype bool"),
        (dict(spiketrains=[[[True]]], labels=[0]), "spiketrains: expected a numpy array"),
        (dict(spiketrains=np.zeros((2, 12), dtype=bool)), "spiketrains: expected 3 dimensions"),
        (dict(labels=np.array([0.0, 1.0])), "labels: expected integers"),
        (dict(labels=np.array([0, -1])), "labels: expected non-negative"),
        (dict(labels=np.array([0, 1, 1])), "labels: expected shape"),
        (dict(dt=0.001), "dt: expected one positive time"),
        (dict(dt=1 * Hz), "dt: expected one positive time"),
        (dict(params={"x": object()}), "params: not JSON-serialisable"),
        (dict(params=[1]), "params: expected a dict"),
    ],
)
def test_bad_construction_raises_data_error(arguments, message):
    fields = dict(spiketrains=np.zeros((2, 3, 4), dtype=bool), labels=np.array([0, 1]), dt=1 * ms, params={})
    fields.update(arguments)
    with pytest.raises(DataError, match=message):
        SpikeDataset(**fields)


def test_labels_are_converted_to_int64():
    data = SpikeDataset(np.zeros((2, 1, 3), dtype=bool), [1, 0])
    assert data.labels.dtype == np.int64 and data.dt == 1 * ms


# ---------------------------------------------------------------------------------------------------------------
# Parameter errors
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: poisson_spikes(2, 2, 20), r"^rate = 20: expected a quantity in Hz, e\.g\. 20\*Hz"),
        (lambda: poisson_spikes(2, 2, 20 * ms), r"^rate = .*expected a quantity in Hz"),
        (lambda: poisson_spikes(2, 2, 2000 * Hz), r"^rate = .*rate\*dt reaches 2; it must be < 1"),
        (lambda: poisson_spikes(2, 2, -1 * Hz), r"^rate = .*>= 0"),
        (lambda: poisson_spikes(2, 2, [1, 2, 3] * Hz), r"^rate = .*shape \(3,\)"),
        (lambda: poisson_spikes(2, 2, 20 * Hz, dt=0.001), r"^dt = 0\.001: expected a quantity in s"),
        (lambda: poisson_spikes(2, 2, 20 * Hz, dt=100 * ms), r"^rate = .*rate\*dt reaches 2"),
        (lambda: poisson_spikes(-1, 2, 20 * Hz), r"^n_samples = -1"),
        (lambda: poisson_spikes(2, 2.0, 20 * Hz), r"^n_channels = 2\.0"),
        (lambda: poisson_spikes(2, 2, 20 * Hz, n_bins=0), r"^n_bins = 0"),
        (lambda: poisson_spikes(2, 2, 20 * Hz, seed=-3), r"^seed = -3"),
        (lambda: poisson_spikes(2, 2, 20 * Hz, seed=None), r"^seed = None"),
        (lambda: gamma_renewal_spikes(2, 2, 20 * Hz, 0), r"^order = 0"),
        (lambda: gamma_renewal_spikes(2, 2, 20, 2), r"^rate = 20: expected a quantity in Hz"),
        (lambda: modulated_poisson_spikes(2, 2, 20 * Hz, 1.5, 5 * Hz), r"^modulation_depth = 1\.5"),
        (lambda: modulated_poisson_spikes(2, 2, 20 * Hz, 0.5, 5), r"^frequency = 5: expected a quantity in Hz"),
        (lambda: modulated_poisson_spikes(2, 2, 700 * Hz, 0.5, 5 * Hz), r"^mean_rate = .*must be < 1"),
        (lambda: markov_modulated_spikes(2, 2, 1 * Hz, 5 * Hz, 0 * Hz, 0 * Hz), r"^switch_rate_up = .*both 0"),
        (lambda: markov_modulated_spikes(2, 2, 1 * Hz, 5, 1 * Hz, 1 * Hz), r"^rate_high = 5: expected a quant"),
        (lambda: markov_modulated_spikes(2, 2, 1 * Hz, 5 * Hz, 1 * Hz, 2000 * Hz), r"^switch_rate_down = "),
        (lambda: burst_parameters(20 * Hz, 1.5), r"^burstiness = 1\.5"),
        (lambda: burst_parameters(20 * Hz, 0.5, high_fraction=1.0), r"^high_fraction = 1\.0"),
        (lambda: burst_parameters(20 * Hz, 0.5, burst_duration=50), r"^burst_duration = 50"),
        (lambda: make_task("nope"), r"^task = 'nope': unknown task; known tasks: rate, burst, regular"),
        (lambda: make_task("rate", n_classes=1), r"^n_classes = 1"),
        (lambda: make_task("rate", n_samples=3, n_classes=4), r"^n_samples = 3"),
        (lambda: make_task("rate", difficulty=1.5), r"^difficulty = 1\.5"),
        (lambda: make_task("rate", difficulty=-0.1), r"^difficulty = -0\.1"),
        (lambda: make_task("digits", n_classes=11), r"^n_classes = 11"),
        (lambda: make_task("digits", n_channels=10), r"^n_channels = 10"),
        (lambda: make_task("rate", colour=3), r"^colour = 3: unknown option .*mean_rate, max_contrast"),
        (lambda: make_task("rate", mean_rate=20), r"^mean_rate = 20: expected a quantity in Hz"),
        (lambda: make_task("modulated", min_frequency=9 * Hz, max_frequency=5 * Hz), r"^max_frequency = "),
        (lambda: make_task("rate", dt=1), r"^dt = 1: expected a quantity in s"),
        (lambda: make_task("rate", mean_rate=800 * Hz, difficulty=0), r"^mean_rate = .*class rate\*dt reaches 1\.2"),
        (lambda: make_task("burst", mean_rate=300 * Hz, difficulty=0), r"^mean_rate = .*rate_high\*dt reaches 1\.38"),
        (lambda: make_task("regular", mean_rate=1 * second), r"^mean_rate = .*expected a quantity in Hz"),
        (lambda: make_task("regular", mean_rate=1000 * Hz), r"^mean_rate = .*must be < 1"),
        (lambda: make_task("digits", max_rate=1000 * Hz), r"^max_rate = .*max_rate\*dt reaches 1"),
        (lambda: make_task("rate", max_contrast=2.0), r"^max_contrast = 2\.0"),
    ],
)
def test_bad_inputs_raise_parameter_error(call, message):
    with pytest.raises(ParameterError, match=message):
        call()


def test_quantity_lists_and_arrays_are_accepted():
    a = poisson_spikes(3, 2, [10 * Hz, 30 * Hz], n_bins=50, seed=1)
    b = poisson_spikes(3, 2, np.array([10.0, 30.0]) * Hz, n_bins=50, seed=1)
    assert np.array_equal(a, b)
    assert poisson_spikes(2, 2, 0 * Hz, n_bins=10).sum() == 0
    assert gamma_renewal_spikes(2, 2, 0 * Hz, 3, n_bins=10).sum() == 0
    assert poisson_spikes(0, 2, 5 * Hz).shape == (0, 2, 1024)
    assert make_task("rate", n_samples=4, n_bins=10, dt=1 * second / 1000).dt == 1 * ms


def test_a_dataset_owns_its_split():
    """SpikeDataset.split: two disjoint parts covering every sample, stratified, the same for the same seed."""
    data = make_task("rate", n_samples=50, n_channels=4, n_bins=20, n_classes=3, seed=4)
    split = data.split(0.2, seed=9)
    assert np.intersect1d(split.train_indices, split.test_indices).size == 0
    assert np.array_equal(np.union1d(split.train_indices, split.test_indices), np.arange(50))
    assert split.test.n_samples == 10 and split.train.n_samples == 40  # ceil(0.2 * 50)
    np.testing.assert_array_equal(split.test.spiketrains, data.spiketrains[split.test_indices])
    np.testing.assert_array_equal(split.train.labels, data.labels[split.train_indices])
    assert split.test.params["subset"] == split.test_indices.tolist()
    counts = np.bincount(split.test.labels, minlength=3)
    assert counts.max() - counts.min() <= 1  # each class in proportion
    again = data.split(0.2, seed=9)
    assert np.array_equal(again.test_indices, split.test_indices)
    assert not np.array_equal(data.split(0.2, seed=10).test_indices, split.test_indices)
    # a split of a part composes: its indices point into the original dataset
    inner = split.train.split(0.25, seed=1)
    assert set(inner.test.params["subset"]) <= set(split.train_indices.tolist())
