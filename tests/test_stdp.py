"""Pair-based STDP (brainlz.learning.stdp): closed forms, an independent numpy reference, the trainer on the
runtime and standalone backends, the Song, Miller & Abbott (2000) result, and errors."""

import numpy as np
import pytest
from brian2 import Hz, amp, mV, ms, nA, pA, second

from brainlz.backends import runtime, standalone
from brainlz.data import SpikeDataset, poisson_spikes
from brainlz.errors import DataError, ParameterError
from brainlz.figures import make_weight_histogram, plot_weight_histogram
from brainlz.learning import stdp
from brainlz.experiments.song2000 import SONG_SCALED, song_abbott_experiment
from brainlz.learning.stdp import STDPRule, stdp_synapse_code, train_stdp, weight_statistics
from brainlz.models import load_model
from brainlz.network import NetworkSpec

LIF = load_model("lif")


# ---------------------------------------------------------------------------------------------------------------
# independent references, written from the rule's definition (not from brainlz code)
# ---------------------------------------------------------------------------------------------------------------

def pair_closed_form(delta_t, w0, A_plus, A_minus, tau_plus, tau_minus, w_min, w_max, mode):
    """Weight after one pre/post pair, ``delta_t = t_post - t_pre`` (s); SI units."""
    if delta_t > 0:
        step = A_plus * (w_max if mode == "additive" else w_max - w0) * np.exp(-delta_t / tau_plus)
    elif delta_t < 0:
        step = -A_minus * (w_max if mode == "additive" else w0 - w_min) * np.exp(delta_t / tau_minus)
    else:
        step = 0.0
    return min(max(w0 + step, w_min), w_max)


def reference_stdp(pre_steps, post_steps, w0, dt, A_plus, A_minus, tau_plus, tau_minus, w_min, w_max, mode):
    """All-to-all pair STDP applied to given spike trains, event by event, with explicit sums over all earlier
    partner spikes (no recursive traces).  Same-step pairs are not paired; in a step, the presynaptic update
    (depression) comes before the postsynaptic one (potentiation), as on every backend; the weight is clipped
    after every update."""
    w = np.array(w0, dtype=float)
    for i, pre in enumerate(pre_steps):
        for j, post in enumerate(post_steps):
            events = sorted([(s, 1) for s in post] + [(s, 0) for s in pre])
            value = w[i, j]
            for s, kind in events:
                if kind == 1:
                    earlier = np.array([p for p in pre if p < s], dtype=float)
                    trace = np.exp(-(s - earlier) * dt / tau_plus).sum()
                    scale = w_max if mode == "additive" else w_max - value
                    value = min(max(value + A_plus * scale * trace, w_min), w_max)
                else:
                    earlier = np.array([q for q in post if q < s], dtype=float)
                    trace = np.exp(-(s - earlier) * dt / tau_minus).sum()
                    scale = w_max if mode == "additive" else value - w_min
                    value = min(max(value - A_minus * scale * trace, w_min), w_max)
            w[i, j] = value
    return w


def run_pairs(rule, delta_ms, w0, dt=0.1 * ms, t_pre=100 * ms, post_first=True):
    """One synapse per Delta t: a presynaptic generator spike at t_pre, a forced postsynaptic spike at
    t_pre + Delta t.  Returns the weights after the run (SI)."""
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, prefs

    n = len(delta_ms)
    old = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        pre = SpikeGeneratorGroup(n, np.arange(n), np.full(n, float(t_pre)) * second, dt=dt)
        post = NeuronGroup(n, "I_syn : amp\nspike_step : integer", threshold="timestep(t, dt) == spike_step",
                           dt=dt)
        post.spike_step = np.rint((float(t_pre) + np.asarray(delta_ms) * 1e-3) / float(dt)).astype(int)
        syn = stdp.stdp_synapses(pre, post, LIF, rule, np.arange(n), np.arange(n), name="pairs",
                                 post_first=post_first)
        syn.w = w0
        Network(pre, post, syn).run(float(t_pre) * second + 4 * max(rule.tau_plus, rule.tau_minus), namespace={})
        return np.array(syn.w_[:], dtype=float)  # a copy: Brian2 >= 2.10 frees the view with syn
    finally:
        prefs.codegen.target = old


DELTAS = [-60.0, -25.3, -10.0, -3.2, -0.1, 0.0, 0.1, 1.0, 4.7, 10.0, 20.0, 45.5]


@pytest.mark.parametrize("post_first", [True, False], ids=["post-first", "pre-first (GeNN's order)"])
@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_pair_rule_matches_closed_form(mode, post_first):
    """The same pairs in either pathway order: Brian2's (on_post first, here) and GeNN's (on_pre first)."""
    rule = STDPRule(w_max=1 * nA, w_min=0.1 * nA, A_plus=0.3, A_minus=0.4, tau_plus=16.8 * ms,
                    tau_minus=33.7 * ms, mode=mode)
    w0 = 0.45e-9
    got = run_pairs(rule, DELTAS, w0 * amp, post_first=post_first)
    expected = [pair_closed_form(d * 1e-3, w0, 0.3, 0.4, 16.8e-3, 33.7e-3, 0.1e-9, 1e-9, mode) for d in DELTAS]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * 1e-9)
    assert got[DELTAS.index(10.0)] > w0 > got[DELTAS.index(-10.0)]  # the sweep is not trivially flat
    assert got[DELTAS.index(0.0)] == w0  # same-step pairs are left out
    np.testing.assert_allclose(rule.pair_update(np.array(DELTAS) * 1e-3, w0), expected, rtol=0, atol=1e-21)


def test_a_spike_transmits_the_weight_of_the_start_of_its_step():
    """The semantics shared by every backend (GeNN's order): in a step with a presynaptic and a postsynaptic
    spike, transmission uses the weight before that step's potentiation.  Closed form: the postsynaptic current
    (no decay) sums the weights transmitted at 10 ms and at 30 ms, both w0 (at 10 ms there is nothing to depress).
    The old on_post-first order transmitted w0 + A+ w_max exp(-20 ms / tau+) at 30 ms, enough to move spikes."""
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, prefs

    rule = STDPRule(w_max=1 * nA, A_plus=0.3, A_minus=0.3, tau_plus=20 * ms, tau_minus=20 * ms)
    w0 = 0.4e-9
    old = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        pre = SpikeGeneratorGroup(1, [0, 0], [10, 30] * ms, dt=1 * ms)
        post = NeuronGroup(1, "I_syn : amp", threshold="timestep(t, dt) == 30", dt=1 * ms)
        syn = stdp.stdp_synapses(pre, post, LIF, rule, [0], [0], name="same_step")  # the training designs' order
        syn.w = w0 * amp
        Network(pre, post, syn).run(40 * ms, namespace={})
        transmitted, final = float(post.I_syn_[0]), float(syn.w_[0])
    finally:
        prefs.codegen.target = old
    potentiation = 0.3 * 1e-9 * np.exp(-20 / 20)
    assert transmitted == pytest.approx(2 * w0, rel=1e-12)
    assert abs(transmitted - (2 * w0 + potentiation)) > 1e-10  # what on_post-first gave
    assert final == pytest.approx(w0 + potentiation, rel=1e-12)  # the potentiation itself happened


def test_pathway_order_does_not_change_additive_learning():
    """Many spikes, same-step coincidences included: on_pre-first (GeNN) and on_post-first (Brian2 here) give the
    same weights for the additive rule away from its bounds (the two updates of a step commute)."""
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, prefs

    rng = np.random.default_rng(4)
    x = rng.random((20, 600)) < 0.05
    channel, step = np.nonzero(x)
    rule = STDPRule(w_max=50 * nA, A_plus=0.002, A_minus=0.0021)
    results = {}
    old = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        for post_first in (True, False):
            pre = SpikeGeneratorGroup(20, channel, step * ms, dt=1 * ms)
            post = NeuronGroup(3, LIF.equations, threshold=LIF.threshold, reset=LIF.reset,
                               refractory=LIF.refractory, method=LIF.method, dt=1 * ms, namespace={})
            for name, param in LIF.params.items():
                setattr(post, name, param.default)
            post.v = post.E_L
            syn = stdp.stdp_synapses(pre, post, LIF, rule, np.repeat(np.arange(20), 3), np.tile(np.arange(3), 20),
                                     post_first=post_first)
            syn.w = 10 * nA
            monitor = SpikeMonitor(post)
            Network(pre, post, syn, monitor).run(600 * ms, namespace={})
            results[post_first] = (np.array(syn.w_[:]), np.array(monitor.t_[:]))  # copies (Brian2 >= 2.10)
    finally:
        prefs.codegen.target = old
    post_steps = np.rint(results[True][1] / 1e-3).astype(int)
    coincident = np.isin(post_steps, step).sum()
    assert post_steps.size > 30 and coincident > 5  # pre and post spikes share steps
    np.testing.assert_array_equal(results[True][1], results[False][1])
    assert np.abs(results[True][0] - 10e-9).max() > 1e-10  # learning happened, within the bounds
    assert results[True][0].max() < 50e-9 and results[True][0].min() > 0
    np.testing.assert_allclose(results[False][0], results[True][0], rtol=1e-12, atol=0)


def test_hard_bounds_clip():
    rule = STDPRule(w_max=1 * nA, A_plus=0.5, A_minus=0.5)
    up = run_pairs(rule, [1.0, 2.0], 0.8 * nA)  # +0.5 nA would overshoot
    down = run_pairs(rule, [-1.0, -2.0], 0.2 * nA)
    np.testing.assert_array_equal(up, [1e-9, 1e-9])
    np.testing.assert_array_equal(down, [0.0, 0.0])


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_trained_weights_match_independent_numpy_reference(mode):
    """20 inputs x 2 neurons, 2 shuffled samples with a gap: the trainer's weights equal the numpy reference
    applied to the same presynaptic spikes and the postsynaptic spikes the run produced."""
    rng = np.random.default_rng(7)
    n_inputs, n_bins, gap_bins = 20, 400, 30
    x = rng.random((2, n_inputs, n_bins)) < 0.04
    spec = NetworkSpec.create(n_inputs, hidden=0, output=2, weight_mean=120 * pA, weight_std=60 * pA, seed=2)
    rule = STDPRule(w_max=250 * pA, A_plus=0.08, A_minus=0.1, tau_plus=15 * ms, tau_minus=25 * ms, mode=mode)
    trained, history = train_stdp(spec, x, rule, gap=gap_bins * ms, backend="runtime", target="numpy", seed=3,
                                  record_spikes=True)
    record = history.epochs[0]
    post_steps = [np.rint(record["spike_times"][record["spike_indices"] == j] / 1e-3).astype(int)
                  for j in range(2)]
    assert min(len(p) for p in post_steps) > 10  # the neurons fire
    pre_steps = [[] for _ in range(n_inputs)]
    for position, k in enumerate(record["order"]):
        channel, step = np.nonzero(x[k])
        for c, s in zip(channel, step):
            pre_steps[c].append(position * (n_bins + gap_bins) + s)
    w0 = np.clip(np.asarray(spec.weights[0]), 0, 250e-12)
    expected = reference_stdp(pre_steps, post_steps, w0, 1e-3, 0.08, 0.1, 15e-3, 25e-3, 0.0, 250e-12, mode)
    got = np.asarray(trained.weights[0])
    assert np.abs(got - w0).max() > 20e-12  # learning happened
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * 250e-12)


# ---------------------------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------------------------

def _spec_and_data(seed=0, n_samples=4, n_bins=300, model="lif"):
    spec = NetworkSpec.create(12, hidden=5, output=3, model=model, seed=seed)
    spec = spec.with_weights([w * 2.0 for w in spec.weights])
    x = poisson_spikes(n_samples, 12, 30 * Hz, n_bins=n_bins, seed=seed + 1)
    w_max = 3 * float(np.mean(np.asarray(spec.weights[0]))) * amp
    return spec, x, STDPRule(w_max=w_max, A_plus=0.05, A_minus=0.06)


def test_trainer_learns_first_projection_only_and_is_seeded():
    spec, x, rule = _spec_and_data()
    data = SpikeDataset(x, np.array([0, 1, 0, 1]))
    trained, history = train_stdp(spec, data, rule, epochs=2, backend="runtime", target="numpy", seed=5)
    before, after = np.asarray(spec.weights[0]), np.asarray(trained.weights[0])
    clipped = np.clip(before, 0, float(rule.w_max))
    assert np.abs(after - clipped).max() > 0.05 * float(rule.w_max)
    assert after.min() >= 0 and after.max() <= float(rule.w_max)
    assert history.n_clipped == int(np.sum(before != clipped))
    np.testing.assert_array_equal(np.asarray(trained.weights[1]), np.asarray(spec.weights[1]))
    for name, value in spec.layers[0].params.items():
        np.testing.assert_array_equal(np.asarray(trained.layers[0].params[name]), np.asarray(value))
    assert [r["epoch"] for r in history.epochs] == [1, 2]
    assert history.column("n_builds").tolist() == [1, 1] and history.backend == "runtime-numpy"
    assert history.column("output_rate").min() > 1  # Hz; the layer is active
    np.testing.assert_allclose(history.epochs[-1]["mean"], after.mean())
    assert sorted(history.epochs[0]["order"]) == [0, 1, 2, 3]
    again, history_again = train_stdp(spec, x, rule, epochs=2, backend="runtime", target="numpy", seed=5)
    np.testing.assert_array_equal(np.asarray(again.weights[0]), after)
    other, history_other = train_stdp(spec, x, rule, epochs=2, backend="runtime", target="numpy", seed=6)
    assert not all(np.array_equal(a["order"], b["order"]) for a, b in zip(history_again.epochs, history_other.epochs))
    assert not np.array_equal(np.asarray(other.weights[0]), after)


@pytest.mark.parametrize("model", ["lif", "meta_neuron"])
def test_reset_between_samples_equals_separate_runs(model):
    """With between="reset" each sample starts from rest with empty traces: training on [A, B] equals training
    on A and then on B in a new run; with "decay" and no gap the samples interact."""
    spec, x, rule = _spec_and_data(seed=3, n_samples=2, n_bins=250, model=model)
    options = dict(gap=0 * ms, shuffle=False, backend="runtime", target="numpy")
    together, _ = train_stdp(spec, x, rule, between="reset", **options)
    first, _ = train_stdp(spec, x[:1], rule, **options)
    second, _ = train_stdp(first, x[1:], rule, **options)
    np.testing.assert_allclose(np.asarray(together.weights[0]), np.asarray(second.weights[0]), rtol=0,
                               atol=1e-12 * float(rule.w_max))
    decayed, _ = train_stdp(spec, x, rule, between="decay", **options)
    assert not np.allclose(np.asarray(decayed.weights[0]), np.asarray(second.weights[0]), rtol=0,
                           atol=1e-6 * float(rule.w_max))


def test_standalone_training_reruns_without_recompiling_and_matches_runtime(standalone_dir):
    spec, x, rule = _spec_and_data(seed=1, n_samples=3, n_bins=280)
    builds = standalone.build_count()
    trained, history = train_stdp(spec, x, rule, epochs=2, gap=40 * ms, between="reset", backend="standalone",
                                  seed=2, directory=standalone_dir, capacity=64)
    assert history.column("n_builds").tolist() == [1, 0]
    assert standalone.build_count() == builds + 1
    reference, _ = train_stdp(spec, x, rule, epochs=2, gap=40 * ms, between="reset", backend="runtime",
                              target="numpy", seed=2)
    tolerance = 1e-12 * float(rule.w_max)
    np.testing.assert_allclose(np.asarray(trained.weights[0]), np.asarray(reference.weights[0]), rtol=0,
                               atol=tolerance)
    # new intrinsic parameters, weights, rule constants and data reach the compiled program through run_args
    spec2 = spec.with_params("hidden", tau_m=np.linspace(8, 30, 5) * ms, V_th=-52 * mV)
    rule2 = rule.replace(A_plus=0.08, A_minus=0.07, tau_minus=30 * ms, w_max=rule.w_max * 1.2)
    x2 = poisson_spikes(3, 12, 35 * Hz, n_bins=280, seed=9)
    trained2, history2 = train_stdp(spec2, x2, rule2, epochs=1, gap=40 * ms, between="reset",
                                    backend="standalone", seed=2, directory=standalone_dir, capacity=64)
    assert history2.n_builds == 0
    reference2, _ = train_stdp(spec2, x2, rule2, epochs=1, gap=40 * ms, between="reset", backend="runtime",
                               target="numpy", seed=2)
    np.testing.assert_allclose(np.asarray(trained2.weights[0]), np.asarray(reference2.weights[0]), rtol=0,
                               atol=tolerance)
    assert np.abs(np.asarray(trained2.weights[0]) - np.asarray(trained.weights[0])).max() > 0.05 * float(rule.w_max)
    # the trained spec is plain data: identical inference on both backends
    test_x = poisson_spikes(4, 12, 30 * Hz, n_bins=200, seed=11)
    a = runtime.simulate(trained, test_x, target="numpy", record_hidden=True)
    b = standalone.simulate(trained, test_x, record_hidden=True, directory=standalone_dir)
    assert a.output.sum() > 5
    np.testing.assert_array_equal(b.output, a.output)
    np.testing.assert_array_equal(b.hidden["hidden"], a.hidden["hidden"])
    c = runtime.simulate(spec, test_x, target="numpy", record_hidden=True)
    assert not np.array_equal(c.hidden["hidden"], a.hidden["hidden"])  # training changed the network


# ---------------------------------------------------------------------------------------------------------------
# Song, Miller & Abbott (2000)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow  # a long Poisson drive (~15 s); the pair rule's closed forms are tested in the default run
def test_song_abbott_weights_become_bimodal(standalone_dir):
    result = song_abbott_experiment(**SONG_SCALED, directory=standalone_dir)
    assert result.rule.ratio == pytest.approx(1.05)
    start_low, start_high = np.mean(result.initial <= 0.1), np.mean(result.initial >= 0.9)
    assert start_low + start_high < 0.35  # uniform at the start
    assert result.fraction_near_zero + result.fraction_near_max > 0.7
    assert result.fraction_near_zero > 0.1 and result.fraction_near_max > 0.1
    middle = np.mean((result.weights > 0.3) & (result.weights < 0.7))
    assert middle < 0.1
    assert result.output_rate_final > 1
    # control: potentiation stronger than depression drives (almost) every weight to w_max
    control = song_abbott_experiment(**SONG_SCALED, ratio=0.9, directory=standalone_dir)
    assert control.n_builds == 0  # same program, new rule constants through run_args
    assert control.fraction_near_max > 0.7 and control.fraction_near_zero < 0.1


# ---------------------------------------------------------------------------------------------------------------
# code, statistics, figure, errors
# ---------------------------------------------------------------------------------------------------------------

def test_synapse_code_reads_only_synaptic_and_postsynaptic_variables():
    meta = load_model("meta_neuron")
    for mode in ("additive", "multiplicative"):
        code = stdp_synapse_code(meta, STDPRule(w_max=1 * nA, mode=mode))
        assert code["on_pre"].splitlines()[:2] == ["I_syn_post += w", "I_abs_post += abs(w)"]
        for name in ("A_plus", "A_minus", "tau_plus", "tau_minus", "w_min", "w_max"):
            assert any(line.startswith(f"{name} :") and line.endswith("(shared)")
                       for line in code["model"].splitlines())
        assert "(event-driven)" in code["model"] and "w : amp" in code["model"]
        assert "_pre" not in code["on_pre"] + code["on_post"] + code["model"]
        assert ("(w_max - w)" in code["on_post"]) == (mode == "multiplicative")


def test_weight_statistics_and_histogram_figure(tmp_path):
    rule = STDPRule(w_max=2 * nA, w_min=0 * nA)
    w = np.array([0.0, 0.1, 0.19, 0.5, 1.0, 1.81, 1.9, 2.0]) * 1e-9
    stats = weight_statistics(w, rule)
    assert stats["fraction_near_min"] == 3 / 8 and stats["fraction_near_max"] == 3 / 8
    fig = make_weight_histogram(w, w_max=2e-9, initial=np.full(8, 1e-9), compare={"control": w[::-1]},
                                snapshots=np.stack([np.full(8, 1e-9), w]), snapshot_times=[0, 10])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("38% within\n10% of w_min") == 2 and "38% within\n10% of w_max" in texts
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    path = plot_weight_histogram(w, tmp_path / "w.png", w_max=2e-9)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="w_max"):
        make_weight_histogram(w, w_max=0.0)


def test_bad_input_names_the_field():
    with pytest.raises(ParameterError, match=r"^stdp\.tau_plus = 20: expected a time, e\.g\. 20\*ms"):
        STDPRule(w_max=1 * nA, tau_plus=20)
    with pytest.raises(ParameterError, match=r"stdp\.tau_minus"):
        STDPRule(w_max=1 * nA, tau_minus=20 * mV)
    with pytest.raises(ParameterError, match=r"stdp\.A_minus"):
        STDPRule(w_max=1 * nA, A_minus=-0.01)
    with pytest.raises(ParameterError, match=r"stdp\.A_plus"):
        STDPRule(w_max=1 * nA, A_plus=0.01 * ms)
    with pytest.raises(ParameterError, match=r"stdp\.w_max"):
        STDPRule(w_max=1.0)
    with pytest.raises(ParameterError, match=r"stdp\.w_max"):
        STDPRule(w_max=1 * nA, w_min=1 * nA)
    with pytest.raises(ParameterError, match=r"stdp\.w_min"):
        STDPRule(w_max=1 * nA, w_min=0 * mV)
    with pytest.raises(ParameterError, match=r"stdp\.mode"):
        STDPRule(w_max=1 * nA, mode="hebbian")
    spec, x, rule = _spec_and_data(n_samples=2, n_bins=50)
    with pytest.raises(ParameterError, match=r"stdp\.w_max"):
        train_stdp(spec, x, STDPRule(w_max=1 * mV), target="numpy")
    with pytest.raises(DataError, match="spiketrains.*10 channels"):
        train_stdp(spec, x[:, :10], rule, target="numpy")
    data = SpikeDataset(x, np.array([0, 1]))
    data.labels = np.array([0, 1, 1])
    with pytest.raises(DataError, match="labels"):
        train_stdp(spec, data, rule, target="numpy")
    with pytest.raises(DataError, match="dataset.dt"):
        train_stdp(spec, SpikeDataset(x, np.array([0, 1]), dt=0.5 * ms), rule, target="numpy")
    with pytest.raises(ParameterError, match="^gap"):
        train_stdp(spec, x, rule, gap=50, target="numpy")
    with pytest.raises(ParameterError, match="^gap"):
        train_stdp(spec, x, rule, gap=0.5 * ms, target="numpy")
    with pytest.raises(ParameterError, match="^epochs"):
        train_stdp(spec, x, rule, epochs=0, target="numpy")
    with pytest.raises(ParameterError, match="^between"):
        train_stdp(spec, x, rule, between="clear", target="numpy")
    with pytest.raises(ParameterError, match="^backend"):
        train_stdp(spec, x, rule, backend="gpu")
    with pytest.raises(ParameterError, match="^rule"):
        train_stdp(spec, x, {"A_plus": 0.01}, target="numpy")
    with pytest.raises(ParameterError, match="^capacity"):
        train_stdp(spec, x, rule, backend="standalone", capacity=1)
    with pytest.raises(ParameterError, match="^rate"):
        song_abbott_experiment(n_inputs=10, rate=15, duration=1 * second)
