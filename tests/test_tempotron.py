"""Tempotron learning: kernel constants, an exact event-driven oracle, problems side by side, voting, NetworkSpec
integration, standalone reruns and input errors (the capacity experiment: ``test_tempotron_capacity.py``)."""

import json
from pathlib import Path

import numpy as np
import pytest
from brian2 import mV, ms

import tempotron_oracle as oracle
from brainlz.backends import runtime, standalone
from brainlz.data import SpikeDataset
from brainlz.errors import DataError, ParameterError
from brainlz.experiments.tempotron_capacity import capacity_patterns
from brainlz.learning import tempotron as T
from brainlz.learning.tempotron import TempotronParams
from brainlz.network import NetworkSpec

REFERENCE = json.loads((Path(__file__).parent / "data" / "tempotron.json").read_text())
TAU, TAU_S = REFERENCE["tau_ms"] * 1e-3, REFERENCE["tau_s_ms"] * 1e-3


def _templates(rng, templates, n_per_class, n_bins=100, jitter=2):
    """Class templates (each afferent fires once at its template bin) with +-jitter bins of noise per sample."""
    n_classes, n_afferents = templates.shape
    x = np.zeros((n_classes * n_per_class, n_afferents, n_bins), dtype=bool)
    y = np.repeat(np.arange(n_classes), n_per_class)
    for s, c in enumerate(y):
        bins = np.clip(templates[c] + rng.integers(-jitter, jitter + 1, n_afferents), 0, n_bins - 1)
        x[s, np.arange(n_afferents), bins] = True
    return x, y


# ---------------------------------------------------------------------------------------------------------------
def test_kernel_constants_match_reference():
    params = TempotronParams()
    assert float(params.tau) == pytest.approx(TAU, rel=1e-15)
    assert float(params.tau_s) == pytest.approx(TAU_S, rel=1e-15)
    assert params.V0 == pytest.approx(REFERENCE["V0"], rel=1e-12)
    assert float(params.t_peak) == pytest.approx(REFERENCE["t_peak_ms"] * 1e-3, rel=1e-12)
    # the independent oracle agrees too
    v0, t_peak = oracle.kernel_constants(TAU, TAU_S)
    assert v0 == pytest.approx(REFERENCE["V0"], rel=1e-12) and t_peak == pytest.approx(t_peak, rel=1e-12)
    t = np.linspace(-5e-3, 100e-3, 1_050_001)        # 0.1 us grid
    k = T.psp_kernel(t, params.tau, params.tau_s)
    assert k.max() == pytest.approx(1.0, abs=1e-9)
    assert t[np.argmax(k)] == pytest.approx(REFERENCE["t_peak_ms"] * 1e-3, abs=2e-7)
    assert np.all(k[t <= 0] == 0) and np.all(k[t > 0] > 0)


def test_brian2_matches_exact_oracle():
    """50 trials of two tempotrons (numpy target, dt = 0.1 ms, momentum 0.3) against the exact event-driven oracle.

    For every trial the oracle gets the weights Brian2 had in force in that trial (recorded at the trial
    boundaries) and must reproduce the decision, t_max and the weight change.  Tolerances: Brian2 evaluates V on
    the time grid and input spikes lie on the grid, so (a) a threshold crossing is detected at the first grid point
    after it, 0 <= t_brian - t_exact < dt, and an unfired maximum is found within dt; (b) each afferent's kernel
    sum is then evaluated at a time at most dt away, so |dw_i| differs by at most
    lambda * max|K'| * dt * n_i (n_i = spikes of afferent i before t_max, max|K'| = K'(0+) = V0 (1/tau_s - 1/tau));
    (c) an unfired grid maximum lies below the exact one by at most max|V''| dt^2 / 8.
    """
    rng = np.random.default_rng(3)
    n_trials, n_afferents, n_bins, dt = 50, 30, 600, 0.1e-3
    x = rng.random((n_trials, n_afferents, n_bins)) < 30 * dt      # ~30 Hz: ~2 spikes per afferent and trial
    y = rng.integers(0, 2, n_trials)
    init = rng.normal(0.08, 0.1, (n_afferents, 2))
    lam, mu = 0.05, 0.3
    _, history = T.train_tempotron(x, y, n_classes=2, params=TempotronParams(learning_rate=lam, momentum=mu),
                                   epochs=1, init_weights=init, dt=0.1 * ms, record_trials=True,
                                   evaluate_final=False)
    trials = history["trials"][0]
    slope, curvature = oracle.kernel_slope_bound(TAU, TAU_S), oracle.kernel_curvature_bound(TAU, TAU_S)
    duration = (n_bins - 1) * dt            # the last grid point Brian2 evaluates in a trial
    n_fired = n_plus = n_minus = 0
    worst_dw = worst_t = 0.0
    previous = np.zeros((n_afferents, 2))      # each synapse's previous applied change (Brian2's), for momentum
    for k, sample in enumerate(trials["order"]):
        times, afferents = oracle.raster_to_events(x[sample], dt)
        for j in range(2):
            w = trials["weights"][k][:, j]
            ref = oracle.run_trial(times, afferents, w, duration, TAU, TAU_S, 1.0)
            target = trials["targets"][k, j] > 0
            assert bool(trials["fired"][k, j]) == ref["fired"], (k, j, ref["v_max"], trials["v_max"][k, j])
            t_brian = trials["t_max"][k, j]
            if ref["fired"]:
                assert -1e-12 <= t_brian - ref["t_max"] < dt + 1e-12
                assert trials["v_max"][k, j] > 1.0
            else:
                assert abs(t_brian - ref["t_max"]) <= dt + 1e-12
                spikes_before = times < ref["t_max"]
                v_bound = curvature * dt ** 2 / 8 * np.sum(np.abs(w[afferents[spikes_before]]))
                assert -1e-12 <= ref["v_max"] - trials["v_max"][k, j] <= v_bound + 1e-12
            expected = oracle.update(ref, w, target, lam, mu, previous[:, j])
            actual = trials["weights"][k + 1][:, j] - w
            n_before = np.bincount(afferents[times < ref["t_max"] + dt], minlength=n_afferents)
            tolerance = lam * slope * dt * np.maximum(n_before, 1) + 1e-12
            assert np.all(np.abs(actual - expected) <= tolerance), (k, j)
            worst_dw = max(worst_dw, float(np.max(np.abs(actual - expected) / tolerance)))
            worst_t = max(worst_t, abs(t_brian - ref["t_max"]))
            if target != ref["fired"]:
                previous[:, j] = actual
            n_fired += ref["fired"]
            n_plus += bool(np.any(expected > 0))
            n_minus += bool(np.any(expected < 0))
    # both kinds of trials, and both kinds of update, were exercised
    assert 15 <= n_fired <= 85
    assert n_plus >= 5 and n_minus >= 5
    assert worst_dw < 1 and worst_t <= dt + 1e-12


def test_standalone_reruns_without_rebuilding_and_matches_runtime(standalone_dir):
    x, y = capacity_patterns(30, 16, duration=100 * ms, seed=2)
    kwargs = dict(n_classes=2, epochs=2, seed=4, params=TempotronParams(learning_rate=0.05),
                  stop_when_perfect=False, evaluate_final=False)
    w_runtime, h_runtime = T.train_tempotron(x, y, backend="runtime", target="numpy", **kwargs)
    before = T.build_count()
    w_standalone, h_standalone = T.train_tempotron(x, y, backend="standalone", directory=standalone_dir, **kwargs)
    assert h_standalone["epochs"] == 2
    assert h_standalone["builds"] <= 1                 # epoch 2 reran the program compiled for epoch 1
    assert T.build_count() - before == h_standalone["builds"]
    assert sum(h_runtime["errors"]) > 0                # learning happened
    assert h_standalone["errors"] == h_runtime["errors"]
    np.testing.assert_allclose(w_standalone, w_runtime, rtol=0, atol=1e-12)
    # new weights, seed and learning rate: still no rebuild; prediction (learning rate 0) reuses it too
    after = T.build_count()
    _, h_again = T.train_tempotron(x, y, backend="standalone", directory=standalone_dir,
                                   **{**kwargs, "seed": 5, "params": TempotronParams(learning_rate=0.02)})
    p_standalone = T.predict_tempotron(x, w_runtime, n_classes=2, backend="standalone", directory=standalone_dir)
    assert h_again["builds"] == 0 and T.build_count() == after
    p_runtime = T.predict_tempotron(x, w_runtime, n_classes=2)
    np.testing.assert_array_equal(p_standalone["fired"], p_runtime["fired"])
    np.testing.assert_allclose(p_standalone["t_max"], p_runtime["t_max"], atol=1e-12)


def test_blocks_train_each_problem_as_train_tempotron_does():
    """Problems side by side (runtime numpy): each gives what train_tempotron gives for it alone with the same
    seed (presentation orders from child k of SeedSequence(seed)), whether or not the other one converged."""
    x, y = capacity_patterns(12, 10, duration=60 * ms, seed=5)
    rng = np.random.default_rng(0)
    inits = [rng.normal(0.0, 0.05, size=(12, 1)) for _ in range(2)]
    params = TempotronParams(learning_rate=0.05, momentum=0.2)
    both = T.train_tempotron_blocks([x, x[:4]], [y, y[:4]], inits, params=params, epochs=5, seed=7,
                                    backend="runtime", target="numpy")
    alone_w, alone = T.train_tempotron(x, y, params=params, epochs=5, init_weights=inits[0], seed=7)
    (w0, h0), (w1, h1) = both
    assert h0["errors"] == alone["errors"] and h0["final_accuracy"] == alone["final_accuracy"]
    np.testing.assert_array_equal(w0, alone_w)
    assert w1.shape == (12, 1) and h1["epochs"] >= 1 and h0["builds"] == h1["builds"]


def test_table_capacity_is_the_smallest_power_of_two_rung():
    """Brute force: the smallest of 16, 32, 64, ... that holds the busiest input's spikes (at least one row)."""
    rungs = [T.CAPACITY_STEP * 2 ** j for j in range(12)]
    for max_count in range(0, 3000, 7):
        assert T.table_capacity(max_count) == min(r for r in rungs if r >= max(max_count, 1)), max_count


def test_standalone_reuses_its_program_when_input_activity_changes(standalone_dir):
    """Thinned inputs (another busiest-input count on the same rung of the capacity ladder) rerun the program
    compiled for the full ones, and still match the runtime device."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 24, 100)) < 0.05          # Poisson-like, ~200 spikes per input over the 40 trials
    y = rng.integers(0, 2, size=40)
    thinned = x & (rng.random(x.shape) < 0.8)
    busiest = [int(a.sum(axis=(0, 2)).max()) for a in (x, thinned)]  # spikes per input over the epoch's trials
    assert busiest[0] != busiest[1] and T.table_capacity(busiest[0]) == T.table_capacity(busiest[1])
    kwargs = dict(n_classes=2, epochs=1, seed=4, params=TempotronParams(learning_rate=0.05),
                  stop_when_perfect=False, evaluate_final=False)
    T.train_tempotron(x, y, backend="standalone", directory=standalone_dir, **kwargs)
    before = T.build_count()
    w_standalone, h_standalone = T.train_tempotron(thinned, y, backend="standalone", directory=standalone_dir,
                                                   **kwargs)
    assert h_standalone["builds"] == 0 and T.build_count() == before
    w_runtime, h_runtime = T.train_tempotron(thinned, y, backend="runtime", target="numpy", **kwargs)
    assert h_standalone["errors"] == h_runtime["errors"]
    np.testing.assert_allclose(w_standalone, w_runtime, rtol=0, atol=1e-12)


@pytest.mark.parametrize("gap, momentum", [(0 * ms, 0.0), (4 * ms, 0.6)])
def test_genn_design_learns_what_the_cpu_design_learns(gap, momentum):
    """The GeNN design (one summed input, the running maximum and the crossing as Euler steps, the update in on_pre
    driven by marker spikes at two silent steps per trial; see tempotron.genn_design), run by plain Brian2 on the CPU
    in brian2genn's schedule, makes the CPU design's decisions, maxima and weight updates, trial by trial, in two
    blocks; trials that end on a volley put the maximum on their last step."""
    rng = np.random.default_rng(3)
    n_in, n_out, n_trials, n_bins = 24, 3, 14, 120
    setup = T._setup_for(n_in, n_out, n_bins, 1 * ms, gap, 15e-3, 3.75e-3, 1.0, momentum, n_blocks=2)
    trials = [rng.random((n_trials, n_in, n_bins)) < 0.03 for _ in range(2)]
    for block in trials:
        block[::4, :8, -2:] = True  # a late volley: V still rising at the trial's end
    labels = rng.choice([-1.0, 1.0], size=(n_trials, 2 * n_out))
    weights = rng.normal(0.02, 0.12, size=(2, n_in, n_out))
    args = (setup, trials, labels, weights, np.zeros_like(weights), np.full(2 * n_out, 0.04))
    cpu = T._run_runtime(*args, "numpy", True)
    design = T._run_genn_design_on_cpu(*args, "numpy", True)
    assert cpu.fired.any() and not cpu.fired.all()
    if float(gap) == 0:  # some maxima on the trial's last step: what the boundary catch-up is for
        assert np.any(np.isclose(cpu.t_max, (n_bins - 1) * 1e-3, rtol=0, atol=1e-9) & ~cpu.fired)
    np.testing.assert_array_equal(design.fired, cpu.fired)
    np.testing.assert_allclose(design.t_max, cpu.t_max, rtol=0, atol=1e-12)
    np.testing.assert_allclose(design.v_max, cpu.v_max, rtol=1e-10, atol=1e-12)
    assert np.abs(cpu.weights - weights).max() > 0.05  # learning happened
    np.testing.assert_allclose(design.weight_trace, cpu.weight_trace, rtol=0, atol=1e-12)
    np.testing.assert_allclose(design.dw_prev, cpu.dw_prev, rtol=0, atol=1e-12)


def test_multiclass_population_voting():
    rng = np.random.default_rng(1)
    templates = rng.integers(0, 100, (3, 30))
    x, y = _templates(rng, templates, 8)
    x_test, y_test = _templates(rng, templates, 10)
    weights, history = T.train_tempotron(x, y, population=2, epochs=30, seed=1,
                                         params=TempotronParams(learning_rate=0.05))
    assert weights.shape == (30, 6)
    np.testing.assert_array_equal(history["output_classes"], [0, 1, 2, 0, 1, 2])
    assert history["converged"] and history["final_accuracy"] == 1.0
    assert history["accuracy"][0] < 1.0                # it had to learn
    prediction = T.predict_tempotron(x_test, weights, n_classes=3)
    assert np.mean(prediction["prediction"] == y_test) >= 0.9
    # no output fires: the class whose outputs reach the largest Vmax wins
    quiet = np.zeros((30, 6))
    quiet[:, [2, 5]] = 0.02
    silent = T.predict_tempotron(x_test[:3], quiet, n_classes=3)
    assert not silent["fired"].any()
    np.testing.assert_array_equal(silent["prediction"], [2, 2, 2])


def test_train_output_layer_spec_runs_identically_on_runtime_and_standalone(standalone_dir):
    rng = np.random.default_rng(1)
    templates = rng.integers(0, 100, (2, 20))
    x, y = _templates(rng, templates, 10)
    dataset = SpikeDataset(x, y)
    spec = NetworkSpec.create(20, hidden=0, output=4, seed=0)
    trained, history = T.train_output_layer(spec, dataset, params=TempotronParams(learning_rate=0.05), epochs=40)
    assert history["converged"] and history["final_accuracy"] == 1.0
    assert trained.weights[-1].shape == spec.weights[-1].shape
    before, after = np.asarray(spec.weights[-1]), np.asarray(trained.weights[-1])
    assert np.max(np.abs(after - before)) > 0.1 * np.max(np.abs(before))
    # the trained weights are data: they survive a round trip through the spec's arrays
    trained = NetworkSpec.from_arrays(trained.to_arrays())
    on_runtime = runtime.simulate(trained, x, target="numpy")
    on_standalone = standalone.simulate(trained, x, directory=standalone_dir)
    np.testing.assert_array_equal(on_runtime.output, on_standalone.output)
    # the LIF output neurons decide like the tempotrons they were trained as
    lif_fired = on_runtime.output.any(axis=2)
    kernel = TempotronParams(tau=20 * ms, tau_s=5 * ms)          # tau_m and tau_syn of the default LIF
    tempotron = T.predict_tempotron(x, history["weights"], kernel, n_classes=2)
    assert np.mean(lif_fired == tempotron["fired"]) >= 0.95
    votes = np.stack([lif_fired[:, 0::2].sum(axis=1), lif_fired[:, 1::2].sum(axis=1)], axis=1)
    assert np.mean(np.argmax(votes, axis=1) == y) >= 0.9


@pytest.mark.parametrize("make, field", [
    (lambda: TempotronParams(learning_rate=0.0), "tempotron.learning_rate"),
    (lambda: TempotronParams(learning_rate=-0.1), "tempotron.learning_rate"),
    (lambda: TempotronParams(tau_s=20 * ms), "tempotron.tau_s"),
    (lambda: TempotronParams(tau_s=15 * ms), "tempotron.tau_s"),
    (lambda: TempotronParams(tau=15), "tempotron.tau"),
    (lambda: TempotronParams(tau_s=3.75e-3), "tempotron.tau_s"),
    (lambda: TempotronParams(threshold=1 * mV), "tempotron.threshold"),
    (lambda: TempotronParams(momentum=1.0), "tempotron.momentum"),
])
def test_bad_params_name_the_field(make, field):
    with pytest.raises(ParameterError) as info:
        make()
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_tau_s_error_message():
    with pytest.raises(ParameterError, match=r"tempotron\.tau_s = 20\. \* msecond: must be smaller than tau = 15\. ms"):
        TempotronParams(tau_s=20 * ms)


def _small():
    x, y = capacity_patterns(5, 4, duration=20 * ms, seed=0)
    return x, y


@pytest.mark.parametrize("call, field", [
    (lambda x, y: T.train_tempotron(x, y[:3]), "labels"),
    (lambda x, y: T.train_tempotron(x, np.array([0, 1, -1, 0])), "labels"),
    (lambda x, y: T.train_tempotron(x, y, dt=1e-3), "dt"),
    (lambda x, y: T.train_tempotron(x, y, gap=5), "gap"),
    (lambda x, y: T.train_tempotron(x, y, backend="gpu"), "backend"),
    (lambda x, y: T.train_tempotron(x, y, target="cuda"), "target"),
    (lambda x, y: T.train_tempotron(x, y, epochs=0), "epochs"),
    (lambda x, y: T.train_tempotron(x, y, init_weights=np.zeros((4, 1))), "init_weights"),
    (lambda x, y: T.train_tempotron(x, y, params={"tau": 15 * ms}), "params"),
    (lambda x, y: T.predict_tempotron(x, np.zeros((5, 1)) * mV), "weights"),
    (lambda x, y: T.train_tempotron_blocks([x, x[:, :4]], [y, y], [np.zeros((5, 1))] * 2), "spiketrains[1]"),
    (lambda x, y: T.train_tempotron_blocks([x], [np.full(4, 2)], [np.zeros((5, 1))]), "labels[0]"),
    (lambda x, y: T.train_tempotron_blocks([x], [y], [np.zeros((4, 1))]), "init_weights[0]"),
    (lambda x, y: T.check_backend("runtime", "gpu"), "target"),
])
def test_bad_inputs_name_the_field(call, field):
    x, y = _small()
    with pytest.raises((ParameterError, DataError)) as info:
        call(x, y)
    message = str(info.value)
    assert message.startswith(field), message
    if isinstance(info.value, ParameterError):
        assert info.value.field == field


def test_train_output_layer_errors_name_the_field():
    x, y = _small()
    spec = NetworkSpec.create(5, hidden=0, output=2, seed=0)
    with pytest.raises(ParameterError) as info:
        T.train_output_layer(spec, SpikeDataset(x, y, dt=0.5 * ms))
    assert info.value.field == "dataset.dt"
    alpha = spec.with_params("output", tau_syn=20 * ms)           # tau_m = 20 ms: an alpha-function PSP
    with pytest.raises(ParameterError, match="alpha function") as info:
        T.train_output_layer(alpha, SpikeDataset(x, y))
    assert info.value.field == "output.tau_syn"
    with pytest.raises(ParameterError) as info:
        T.train_output_layer(NetworkSpec.create(5, hidden=0, output=1, seed=0), SpikeDataset(x, y))
    assert info.value.field == "output.n_neurons"


@pytest.mark.parametrize("tau_m", [20.0, 2.0], ids=["tau_m > tau_syn", "tau_m < tau_syn"])
def test_lif_weight_scale_gives_the_requested_psp_peak(tau_m):
    """One unit of tempotron weight is a PSP peaking at (V_th - E_L) / threshold in the Brian2-simulated LIF
    neuron, also when an intrinsic-parameter search puts tau_m below tau_syn (the PSP shape is symmetric)."""
    spec = NetworkSpec.create(1, hidden=0, output=1, model="lif", seed=0).with_params("output", tau_m=tau_m * ms)
    scale = T.lif_weight_scale(spec.output, threshold=2.0, dt=1 * ms)
    assert np.all(scale > 0)
    x = np.zeros((1, 1, 120), dtype=bool)
    x[0, 0, 5] = True
    from brian2 import amp

    probe = spec.with_weights([np.array([[scale[0]]]) * amp])
    trace = runtime.simulate(probe, x, target="numpy", trace=("output", 0, 0)).trace
    E_L, V_th = float(spec.output.params["E_L"][0]), float(spec.output.params["V_th"][0])
    np.testing.assert_allclose(np.max(trace["v"]) - E_L, (V_th - E_L) / 2.0, rtol=1e-9)
    # the continuous scale, against a fine-grained simulation
    fine = T.lif_weight_scale(spec.output, threshold=2.0)
    ratio = fine[0] / scale[0]
    assert 0.8 < ratio < 1.3


def test_train_output_layer_with_tau_m_below_tau_syn():
    """What an intrinsic-parameter search can reach (tau_m at its 2 ms bound, tau_syn 5 ms) trains."""
    x, y = _small()
    spec = NetworkSpec.create(5, hidden=0, output=2, seed=0).with_params("output", tau_m=2 * ms)
    new, history = T.train_output_layer(spec, SpikeDataset(x, y), epochs=2, backend="runtime", target="numpy")
    assert history["epochs"] >= 1 and np.all(np.isfinite(np.asarray(new.weights[-1])))
    assert not np.array_equal(np.asarray(new.weights[-1]), np.asarray(spec.weights[-1]))


@pytest.mark.parametrize("n_blocks, n_inputs, n_trials, n_bins", [(1, 64, 12, 200), (3, 7, 5, 40), (2, 3, 1, 1)])
def test_input_table_lists_every_spike_of_every_input_in_time_order(n_blocks, n_inputs, n_trials, n_bins):
    # The standalone epoch's input table, built from the rasters without sorting by time, against a brute-force
    # list per input; and the same table from the time-sorted spikes of the runtime design.
    rng = np.random.default_rng(n_inputs)
    period = n_bins + 3
    setup = type("Setup", (), {"n_inputs": n_inputs, "period_steps": period})()
    trials = [rng.random((n_trials, n_inputs, n_bins)) < 0.2 for _ in range(n_blocks)]
    expected = [[trial * period + step for trial in range(n_trials) for step in np.flatnonzero(x[trial, neuron])]
                for x in trials for neuron in range(n_inputs)]
    capacity = max(len(steps) for steps in expected) + 2
    for neurons, steps in (T._epoch_inputs(trials, setup), T._epoch_spikes(trials, setup)):
        table = T._spike_table(neurons, steps, n_blocks * n_inputs, capacity)
        assert table.shape == (capacity + 1, n_blocks * n_inputs)
        for j, spikes in enumerate(expected):
            np.testing.assert_array_equal(table[: len(spikes), j], spikes)
            assert (table[len(spikes):, j] == -1).all()
