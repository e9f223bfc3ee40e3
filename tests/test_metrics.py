"""Tests of brainlz.metrics against closed forms and scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from brainlz.errors import ParameterError
from brainlz.metrics import (ENERGY_PER_OPERATION, accuracy_ci, dense_macs, energy_per_inference, mean_ci,
                             paired_difference_ci, stratified_mean_ci, synaptic_operations)


def wilson_closed_form(k, n, confidence):
    """Wilson score interval written out independently: the roots in p of (p_hat - p)^2 = z^2 p (1-p) / n."""
    z = stats.norm.isf((1 - confidence) / 2)
    p_hat = k / n
    # quadratic a p^2 + b p + c = 0
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    disc = math.sqrt(max(b * b - 4 * a * c, 0.0))
    return p_hat, (-b - disc) / (2 * a), (-b + disc) / (2 * a)


CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (8, 10), (3, 7), (50, 100), (97, 100), (1, 200), (999, 1000)]


@pytest.mark.parametrize("k,n", CASES)
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_accuracy_ci_matches_closed_form_and_scipy(k, n, confidence):
    acc, low, high = accuracy_ci(k, n, confidence)
    ref_acc, ref_low, ref_high = wilson_closed_form(k, n, confidence)
    assert acc == pytest.approx(ref_acc, abs=1e-15)
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)

    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)
    assert 0.0 <= low <= acc <= high <= 1.0


def test_accuracy_ci_literal_values():
    # 8/10 at 95 %: the textbook Wilson interval (0.4902, 0.9433).
    acc, low, high = accuracy_ci(8, 10)
    assert acc == 0.8
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94332, abs=1e-4)
    # all correct: [n / (n + z^2), 1]
    z = 1.959963984540054
    assert accuracy_ci(20, 20) == pytest.approx((1.0, 20 / (20 + z * z), 1.0), abs=1e-12)
    assert accuracy_ci(0, 20) == pytest.approx((0.0, 0.0, z * z / (20 + z * z)), abs=1e-12)


def test_accuracy_ci_accepts_numpy_integers_and_returns_floats():
    out = accuracy_ci(np.int64(3), np.int32(7))
    assert all(type(v) is float for v in out)
    assert out == accuracy_ci(3, 7)


def test_accuracy_ci_narrower_with_more_samples_and_lower_confidence():
    w = lambda t: t[2] - t[1]  # noqa: E731
    assert w(accuracy_ci(80, 100)) < w(accuracy_ci(8, 10))
    assert w(accuracy_ci(8, 10, 0.9)) < w(accuracy_ci(8, 10, 0.95)) < w(accuracy_ci(8, 10, 0.99))


@pytest.mark.parametrize(
    "args,field",
    [
        ((0, 0), "n_total"),
        ((1, -5), "n_total"),
        ((6, 5), "n_correct"),
        ((-1, 5), "n_correct"),
        ((2.5, 5), "n_correct"),
        ((2, 5.0), "n_total"),
        ((True, 5), "n_correct"),
        ((2, 5, 0.0), "confidence"),
        ((2, 5, 1.0), "confidence"),
        ((2, 5, 95), "confidence"),
        ((2, 5, float("nan")), "confidence"),
        ((2, 5, "high"), "confidence"),
    ],
)
def test_accuracy_ci_bad_inputs(args, field):
    with pytest.raises(ParameterError) as info:
        accuracy_ci(*args)
    assert info.value.field == field
    assert str(info.value).startswith(field)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("n", [2, 3, 10, 50])
def test_mean_ci_matches_scipy_t(n, confidence):
    values = np.random.default_rng(n).normal(0.7, 0.05, size=n)
    mean, low, high = mean_ci(values, confidence)
    ref_low, ref_high = stats.t.interval(confidence, df=n - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean(), abs=1e-15)
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


def test_mean_ci_literal_and_constant():
    # values 1, 2, 3: mean 2, s = 1; for 2 degrees of freedom the t quantile has the closed form
    # t_p = (2p - 1) * sqrt(2 / (4 p (1 - p))), here p = 0.975 (about 4.3027).
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    t = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
    half = t / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half), abs=1e-12)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)


def test_paired_difference_ci_matches_ttest_rel():
    rng = np.random.default_rng(1)
    a = rng.normal(0.8, 0.03, size=8)
    b = a - 0.02 + rng.normal(0, 0.01, size=8)
    diff, low, high = paired_difference_ci(a, b, 0.9)
    ci = stats.ttest_rel(a, b).confidence_interval(confidence_level=0.9)
    assert diff == pytest.approx(np.mean(a - b), abs=1e-15)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)
    # sign convention: a - b
    assert paired_difference_ci(b, a, 0.9) == pytest.approx((-diff, -high, -low), abs=1e-12)


def test_stratified_mean_ci_against_welch_and_mean_ci():
    """Two strata x, -y: half of Welch's two-sample interval for mean(x) - mean(y) (scipy, equal_var=False);
    one stratum: mean_ci."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(1.0, 0.5, size=5), rng.normal(0.2, 2.0, size=7)
    mean, low, high, dof = stratified_mean_ci([x, -y], 0.9)
    welch = stats.ttest_ind(x, y, equal_var=False)
    ci = welch.confidence_interval(confidence_level=0.9)
    assert mean == pytest.approx((x.mean() - y.mean()) / 2, abs=1e-12)
    assert (low, high) == pytest.approx((ci.low / 2, ci.high / 2), abs=1e-12)
    assert dof == pytest.approx(welch.df, rel=1e-12)
    assert stratified_mean_ci([x])[:3] == pytest.approx(mean_ci(x), abs=1e-12)
    assert stratified_mean_ci([x])[3] == pytest.approx(4.0)
    assert stratified_mean_ci([[1.0, 1.0], [3.0, 3.0, 3.0]]) == (2.0, 2.0, 2.0, float("inf"))


def test_stratified_mean_ci_coverage():
    """Monte Carlo: four strata of 5 normal values with different means and spreads; the 95 % interval
    holds the true average of the stratum means in about 95 % of 4000 repetitions."""
    rng = np.random.default_rng(11)
    means, spreads = np.array([0.0, 5.0, -2.0, 1.0]), np.array([0.5, 3.0, 1.0, 8.0])
    truth = means.mean()
    hits = 0
    for _ in range(4000):
        groups = [rng.normal(m, s, size=5) for m, s in zip(means, spreads)]
        _, low, high, _ = stratified_mean_ci(groups)
        hits += low <= truth <= high
    assert 0.935 <= hits / 4000 <= 0.965


def test_stratified_mean_ci_errors():
    with pytest.raises(ParameterError, match="groups"):
        stratified_mean_ci([])
    with pytest.raises(ParameterError, match=r"groups\[1\]"):
        stratified_mean_ci([[1.0, 2.0], [3.0]])
    with pytest.raises(ParameterError, match="confidence"):
        stratified_mean_ci([[1.0, 2.0]], 1.5)


def test_paired_is_narrower_than_unpaired_for_correlated_seeds():
    rng = np.random.default_rng(2)
    seed_effect = rng.normal(0, 0.1, size=10)
    a = 0.8 + seed_effect + rng.normal(0, 0.005, size=10)
    b = 0.75 + seed_effect + rng.normal(0, 0.005, size=10)
    _, low, high = paired_difference_ci(a, b)
    assert low > 0  # the 0.05 advantage is detected despite the large seed-to-seed spread
    _, la, ha = mean_ci(a)
    _, lb, hb = mean_ci(b)
    assert la < hb and lb < ha  # the unpaired intervals overlap


@pytest.mark.parametrize(
    "call,field",
    [
        (lambda: mean_ci([1.0]), "values"),
        (lambda: mean_ci([]), "values"),
        (lambda: mean_ci([[1.0, 2.0], [3.0, 4.0]]), "values"),
        (lambda: mean_ci([1.0, float("nan")]), "values"),
        (lambda: mean_ci(["a", "b"]), "values"),
        (lambda: mean_ci([1.0, 2.0], confidence=1.5), "confidence"),
        (lambda: paired_difference_ci([1.0], [2.0]), "a"),
        (lambda: paired_difference_ci([1.0, 2.0], [2.0]), "b"),
        (lambda: paired_difference_ci([1.0, 2.0], [2.0, 3.0, 4.0]), "b"),
        (lambda: paired_difference_ci([1.0, 2.0], [2.0, 3.0], confidence=0), "confidence"),
    ],
)
def test_mean_ci_bad_inputs(call, field):
    with pytest.raises(ParameterError) as info:
        call()
    assert info.value.field == field



# ---------------------------------------------------------------------------------------------------------------
# synaptic operations, dense MACs, energy per inference
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse_net():
    """A 5 -> 4 -> 3 -> 3 network with about a third of its weights set to exactly 0, and random rasters."""
    from brainlz.network import NetworkSpec

    rng = np.random.default_rng(7)
    spec = NetworkSpec.create(5, hidden=(4, 3), output=3, seed=3)
    weights = [w * (rng.random(np.shape(w)) > 0.35) for w in spec.weights]
    weights[0][2, :] = 0 * weights[0][2, :]  # an input channel with no targets at all
    spec = spec.with_weights(weights)
    n_samples, n_bins = 4, 30
    inputs = rng.random((n_samples, spec.n_inputs, n_bins)) < 0.3
    rasters = [rng.random((n_samples, layer.n_neurons, n_bins)) < 0.2 for layer in spec.layers]
    return spec, inputs, rasters


def brute_force_synops(spec, inputs, rasters):
    """Count accumulates spike by spike and synapse by synapse."""
    n_samples = inputs.shape[0]
    presynaptic = [inputs] + list(rasters[:-1])
    out = np.zeros((len(spec.weights), n_samples), dtype=np.int64)
    for k, (pre, weight) in enumerate(zip(presynaptic, spec.weights)):
        w = np.asarray(weight)
        for s in range(n_samples):
            for i in range(pre.shape[1]):
                for t in range(pre.shape[2]):
                    if pre[s, i, t]:
                        for j in range(w.shape[1]):
                            if w[i, j] != 0:
                                out[k, s] += 1
    return out


def test_synaptic_operations_match_brute_force(sparse_net):
    spec, inputs, rasters = sparse_net
    assert any(np.count_nonzero(np.asarray(w) == 0) for w in spec.weights)  # the zeros survived
    ref = brute_force_synops(spec, inputs, rasters)
    out = synaptic_operations(spec, inputs, rasters)
    assert out["per_projection"].dtype == np.int64
    np.testing.assert_array_equal(out["per_projection"], ref)
    np.testing.assert_array_equal(out["total"], ref.sum(axis=0))
    assert out["mean"] == pytest.approx(ref.sum(axis=0).mean(), abs=0)
    np.testing.assert_allclose(out["mean_per_projection"], ref.mean(axis=1))
    assert out["projections"] == ["input -> hidden0", "hidden0 -> hidden1", "hidden1 -> output"]
    assert out["fan_out"][0][2] == 0
    # the output layer's spikes drive nothing: changing them changes no count
    silent_output = rasters[:-1] + [np.zeros_like(rasters[-1])]
    np.testing.assert_array_equal(synaptic_operations(spec, inputs, silent_output)["per_projection"], ref)
    # 0/1 integer rasters are accepted and give the same counts
    ints = synaptic_operations(spec, inputs.astype(np.uint8), [r.astype(int) for r in rasters])
    np.testing.assert_array_equal(ints["per_projection"], ref)


def test_synaptic_operations_dense_is_spikes_times_n_post():
    from brainlz.network import NetworkSpec

    spec = NetworkSpec.create(3, hidden=2, output=4, seed=0)
    assert all(np.all(np.asarray(w) != 0) for w in spec.weights)
    inputs = np.zeros((2, 3, 5), dtype=bool)
    inputs[0, 0, [0, 3]] = True  # 2 input spikes in sample 0, none in sample 1
    inputs[0, 2, 4] = True  # 3 in all
    hidden = np.zeros((2, 2, 5), dtype=bool)
    hidden[1, 1, :] = True  # 5 hidden spikes in sample 1
    output = np.ones((2, 4, 5), dtype=bool)
    out = synaptic_operations(spec, inputs, [hidden, output])
    np.testing.assert_array_equal(out["per_projection"], [[3 * 2, 0], [0, 5 * 4]])
    np.testing.assert_array_equal(out["total"], [6, 20])
    assert out["mean"] == 13.0


def test_dense_macs_hand_count(sparse_net):
    spec, _, _ = sparse_net  # sizes 5, 4, 3, 3; zero weights are still counted by a dense ANN
    assert dense_macs(spec) == 5 * 4 + 4 * 3 + 3 * 3 == 41
    assert dense_macs(spec, n_steps=7) == 7 * 41
    assert type(dense_macs(spec, np.int64(2))) is int


def test_energy_constants_cite_horowitz():
    assert ENERGY_PER_OPERATION["ac"]["value"] == 0.9e-12
    assert ENERGY_PER_OPERATION["mac"]["value"] == 4.6e-12
    assert ENERGY_PER_OPERATION["mac"]["value"] == pytest.approx(
        ENERGY_PER_OPERATION["add_fp32"]["value"] + ENERGY_PER_OPERATION["mult_fp32"]["value"], rel=1e-12)
    for entry in ENERGY_PER_OPERATION.values():
        assert entry["unit"] == "J"
        assert "Horowitz" in entry["source"] and "2014" in entry["source"] and "45 nm" in entry["source"]


def test_energy_per_inference_hand_arithmetic():
    out = energy_per_inference(1000, 500)
    assert out["snn_synaptic_J"] == pytest.approx(1000 * 0.9e-12, rel=1e-12)
    assert out["snn_update_J"] == 0.0
    assert out["snn_J"] == pytest.approx(900e-12, rel=1e-12)
    assert out["ann_J"] == pytest.approx(500 * 4.6e-12, rel=1e-12)  # 2300 pJ
    assert out["snn_over_ann"] == pytest.approx(900 / 2300, rel=1e-12)
    assert out["ann_over_snn"] == pytest.approx(2300 / 900, rel=1e-12)
    assert (out["e_ac"], out["e_mac"], out["e_update"]) == (0.9e-12, 4.6e-12, 0.0)
    assert all(type(out[key]) is float for key in ("snn_J", "ann_J", "snn_over_ann", "ann_over_snn"))

    # with neuron updates: 1000 * 0.9 + 200 * 0.5 = 1000 pJ against 2300 pJ
    out = energy_per_inference(1000, 500, neuron_updates=200, e_update=0.5e-12)
    assert out["snn_update_J"] == pytest.approx(100e-12, rel=1e-12)
    assert out["snn_J"] == pytest.approx(1000e-12, rel=1e-12)
    assert out["ann_over_snn"] == pytest.approx(2.3, rel=1e-12)

    # custom energies, per-sample arrays, a silent SNN
    out = energy_per_inference(np.array([0, 10, 40]), 20, e_ac=1.0, e_mac=2.0)
    np.testing.assert_allclose(out["snn_J"], [0.0, 10.0, 40.0])
    assert out["ann_J"] == 40.0
    np.testing.assert_allclose(out["snn_over_ann"], [0.0, 0.25, 1.0])
    np.testing.assert_array_equal(out["ann_over_snn"], [np.inf, 4.0, 1.0])


def test_energy_from_counts_end_to_end(sparse_net):
    spec, inputs, rasters = sparse_net
    synops = synaptic_operations(spec, inputs, rasters)
    out = energy_per_inference(synops["mean"], dense_macs(spec))
    assert out["snn_J"] == pytest.approx(synops["mean"] * 0.9e-12, rel=1e-12)
    assert out["ann_J"] == pytest.approx(41 * 4.6e-12, rel=1e-12)


@pytest.mark.parametrize(
    "make,field",
    [
        (lambda i, r: (i[:, :4], r), "input_spiketrains"),  # 4 channels, network has 5
        (lambda i, r: (i[0], r), "input_spiketrains"),  # 2-D
        (lambda i, r: (i * 2, r), "input_spiketrains"),  # not binary
        (lambda i, r: (i.astype(float) * 0.5, r), "input_spiketrains"),  # float dtype
        (lambda i, r: (i, r[:2]), "layer_rasters"),  # two rasters for three layers
        (lambda i, r: (i, r[0]), "layer_rasters"),  # one raster instead of a list
        (lambda i, r: (i, 5), "layer_rasters"),  # not a sequence
        (lambda i, r: (i, [r[0], r[1][:, :2], r[2]]), "layer_rasters[1]"),  # wrong n_neurons
        (lambda i, r: (i, [r[0][:, :, :10], r[1], r[2]]), "layer_rasters[0]"),  # wrong n_bins
        (lambda i, r: (i, [r[0], r[1], r[2][:3]]), "layer_rasters[2]"),  # wrong n_samples
    ],
)
def test_synaptic_operations_bad_shapes_name_the_field(sparse_net, make, field):
    spec, inputs, rasters = sparse_net
    bad_inputs, bad_rasters = make(inputs, rasters)
    with pytest.raises(ParameterError) as info:
        synaptic_operations(spec, bad_inputs, bad_rasters)
    assert info.value.field == field
    assert str(info.value).startswith(field)


@pytest.mark.parametrize(
    "call,field",
    [
        (lambda spec: dense_macs(spec, 0), "n_steps"),
        (lambda spec: dense_macs(spec, 2.5), "n_steps"),
        (lambda spec: energy_per_inference(-1, 10), "synops"),
        (lambda spec: energy_per_inference(float("nan"), 10), "synops"),
        (lambda spec: energy_per_inference(10, 0), "macs"),
        (lambda spec: energy_per_inference(10, "many"), "macs"),
        (lambda spec: energy_per_inference(10, 10, e_ac=[1e-12, 2e-12]), "e_ac"),
        (lambda spec: energy_per_inference(10, 10, e_mac=0.0), "e_mac"),
        (lambda spec: energy_per_inference(10, 10, neuron_updates=-3), "neuron_updates"),
        (lambda spec: energy_per_inference(10, 10, e_update=-1e-12), "e_update"),
        (lambda spec: energy_per_inference([1, 2, 3], [1, 2]), "macs"),
    ],
)
def test_dense_macs_and_energy_bad_inputs(sparse_net, call, field):
    with pytest.raises(ParameterError) as info:
        call(sparse_net[0])
    assert info.value.field == field
