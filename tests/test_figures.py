"""Tests of brainlz.figures: what the figures show (data, labels with units, colours), the safe threshold
evaluator, spike detection against known spike times (and against Brian2's own SpikeMonitor), and the atomic
PNG writes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread

from brainlz import figures as F
from brainlz.errors import DataError, ParameterError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

LIF = {"tau_m": 20e-3, "V_th": -50e-3, "V_reset": -65e-3, "E_L": -65e-3, "R": 100e6, "tau_syn": 5e-3,
       "t_ref": 2e-3}
META = {**LIF, "delta_theta": 2e-3, "tau_theta": 50e-3}


# ------------------------------------------------------------------------------------------------------
# synthetic data


def poisson_data(seed=0, n_per_class=6, n_bins=400, dt=1e-3):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], n_per_class)
    rng.shuffle(labels)
    rates = np.array([5.0, 20.0, 50.0])[labels]
    inputs = rng.random((labels.size, 12, n_bins)) < rates[:, None, None] * dt
    outputs = rng.random((labels.size, 5, n_bins)) < 0.5 * rates[:, None, None] * dt
    return inputs, outputs, labels


def integrate_lif(params, n_steps=3000, dt=1e-4, seed=3, adaptive=False, post_update=False):
    """Euler-integrated LIF (optionally with threshold adaptation theta), driven by Poisson current kicks.

    ``post_update=False`` records like Brian2's StateMonitor (state at the start of each step, so the spike at
    step k appears as v[k+1] = V_reset); ``post_update=True`` records v after integration, before the reset (so
    the spike step shows v above threshold).  Returns the trace dict and the true spike times in seconds.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps) * dt
    v = np.empty(n_steps)
    current = np.empty(n_steps)
    theta = np.empty(n_steps)
    vv, ii, th, refractory_until = params["E_L"], 0.0, 0.0, -1.0
    kicks = rng.random(n_steps) < 400 * dt
    spikes = []
    for k in range(n_steps):
        if not post_update:
            v[k], current[k], theta[k] = vv, ii, th
        if kicks[k]:
            ii += 0.12e-9
        if t[k] >= refractory_until:
            vv = vv + dt * (params["E_L"] - vv + params["R"] * ii) / params["tau_m"]
        ii *= np.exp(-dt / params["tau_syn"])
        th *= np.exp(-dt / params["tau_theta"]) if adaptive else 0.0
        if post_update:
            v[k], current[k], theta[k] = vv, ii, th
        if vv > params["V_th"] + th:
            spikes.append(t[k])
            vv = params["V_reset"]
            th += params["delta_theta"] if adaptive else 0.0
            refractory_until = t[k] + params["t_ref"]
    trace = {"layer": "output", "sample": 2, "neuron": 1, "t": t, "v": v, "I_syn": current}
    if adaptive:
        trace["theta"] = theta
    return trace, np.array(spikes)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_png(path: Path, min_width=1000, min_height=500):
    width, height = png_size(path)
    assert width >= min_width and height >= min_height, (width, height)
    assert width <= 4000 and height <= 8000
    assert 20_000 < path.stat().st_size < 5_000_000
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # not a blank canvas
    assert np.allclose(pixels[0, 0, :3], 1.0)  # white background


# ------------------------------------------------------------------------------------------------------
# files


def test_plot_functions_write_valid_pngs_and_leave_no_temporaries(tmp_path):
    inputs, outputs, labels = poisson_data()
    trace, _ = integrate_lif(META, adaptive=True)
    lzc = np.random.default_rng(1).random((labels.size, 5))
    target = tmp_path / "new" / "dir"
    written = [
        F.plot_rasters(inputs, outputs, labels, 1e-3, target / "rasters.png", class_names=["a", "b", "c"]),
        F.plot_lzc_distribution(lzc, labels, target / "lzc.png"),
        F.plot_membrane_trace(trace, target / "membrane.png", META, threshold_expression="V_th + theta"),
    ]
    assert written == [target / "rasters.png", target / "lzc.png", target / "membrane.png"]
    assert all(isinstance(path, Path) for path in written)
    for path in written:
        check_png(path)
    assert sorted(p.name for p in target.iterdir()) == ["lzc.png", "membrane.png", "rasters.png"]
    # the raster figure grows with the number of shown rows (3 classes x 2 samples)
    assert png_size(written[0])[1] > png_size(written[2])[1]


def test_failed_save_keeps_old_file_and_leaves_no_temporary(tmp_path):
    inputs, outputs, labels = poisson_data()
    path = tmp_path / "rasters.png"
    path.write_bytes(b"old contents")
    figure = F.make_rasters(inputs, outputs, labels, 1e-3)

    def broken_savefig(handle, **kwargs):
        handle.write(b"\x89PNG half a file")
        raise RuntimeError("disk full")

    figure.savefig = broken_savefig
    with pytest.raises(RuntimeError, match="disk full"):
        F.save_figure(figure, path)
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["rasters.png"]


def test_save_rejects_non_png_name(tmp_path):
    figure = F.make_lzc_distribution(np.ones((4, 2)) * [[0.1], [0.2], [0.3], [0.4]], [0, 0, 1, 1])
    with pytest.raises(ParameterError, match="path"):
        F.save_figure(figure, tmp_path / "figure.pdf")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------------
# threshold expressions


def test_threshold_expression_values():
    t = np.arange(5) * 1e-3
    theta = np.array([0.0, 1e-3, 2e-3, 1.5e-3, 1e-3])
    trace = {"t": t, "v": np.full(5, -0.06), "theta": theta, "layer": "output", "sample": 0, "neuron": 4}
    np.testing.assert_allclose(F.threshold_trace("V_th + theta", trace, META), -50e-3 + theta)
    np.testing.assert_allclose(F.threshold_trace("V_th", trace, META), np.full(5, -50e-3))
    np.testing.assert_allclose(F.threshold_trace("(V_th - 2*theta) / 2", trace, META), (-50e-3 - 2 * theta) / 2)
    np.testing.assert_allclose(F.threshold_trace("-E_L + V_th * 2 - theta", trace, META),
                               65e-3 - 100e-3 - theta)
    assert F.evaluate_expression("1 + 2 * 3 - 4 / 8", {}) == pytest.approx(6.5)


@pytest.mark.parametrize("expression", [
    "__import__('os')",
    "__import__('os').system('true')",
    "V_th.__class__",
    "V_th ** 2",
    "abs(V_th)",
    "[V_th]",
    "V_th if theta else 0",
    "lambda: 0",
    "V_th > theta",
    "True + V_th",
    "'a' + 'b'",
    "V_th; theta",
    "",
    "unknown_name + V_th",
    "+" * 600 + "1",
])
def test_threshold_expression_rejects_unsafe_or_unknown(expression):
    with pytest.raises(ParameterError) as info:
        F.evaluate_expression(expression, {"V_th": -0.05, "theta": np.zeros(3)})
    assert info.value.field == "threshold_expression"


def test_threshold_expression_rejects_non_strings():
    with pytest.raises(ParameterError):
        F.evaluate_expression(None, {})
    with pytest.raises(ParameterError):
        F.evaluate_expression(42, {})


# ------------------------------------------------------------------------------------------------------
# spike detection


@pytest.mark.parametrize("post_update", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
def test_detect_spikes_finds_exactly_the_true_spike_times(post_update, adaptive):
    trace, true_spikes = integrate_lif(META, adaptive=adaptive, post_update=post_update)
    assert true_spikes.size >= 5
    found = F.detect_spikes(trace["t"], trace["v"], META["V_reset"])
    np.testing.assert_array_equal(found, true_spikes)


def test_detect_spikes_ignores_relaxation_onto_rest_equal_to_reset():
    # v decays exactly onto E_L = V_reset (as float64 does after a few hundred steps) without any spike
    t = np.arange(6000) * 1e-4
    v = -65e-3 + 5e-3 * np.exp(-t / 20e-3)
    v[v - (-65e-3) < 1e-12] = -65e-3
    assert np.any(v == -65e-3)
    assert F.detect_spikes(t, v, -65e-3).size == 0


def test_detect_spikes_float32_trace():
    trace, true_spikes = integrate_lif(LIF)
    found = F.detect_spikes(trace["t"], trace["v"].astype(np.float32), LIF["V_reset"])
    np.testing.assert_array_equal(found, true_spikes)


def test_detect_spikes_matches_brian2_spike_monitor():
    pytest.importorskip("brian2")
    from brian2 import NeuronGroup, Network, SpikeMonitor, StateMonitor, ms, nA, prefs

    from brainlz.models import load_model

    model = load_model("lif")
    old_target = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        group = NeuronGroup(1, model.equations, threshold=model.threshold, reset=model.reset,
                            refractory=model.refractory, method=model.method)
        for name, spec in model.params.items():
            setattr(group, name, spec.default)
        group.v = model.params["E_L"].default
        group.run_regularly("I_syn = 0.2*nA + 0.05*nA*sin(2*pi*t/(37*ms))")
        states = StateMonitor(group, ["v", "I_syn"], record=[0])
        spikes = SpikeMonitor(group)
        Network(group, states, spikes).run(150 * ms, namespace={"nA": nA, "ms": ms})
    finally:
        prefs.codegen.target = old_target
    assert len(spikes.t) >= 3
    found = F.detect_spikes(states.t_[:], states.v_[0], float(model.params["V_reset"].default))
    np.testing.assert_allclose(found, spikes.t_[:], atol=1e-12)


# ------------------------------------------------------------------------------------------------------
# membrane figure


def _by_label(artists, prefix):
    return [a for a in artists if str(a.get_label()).startswith(prefix)]


def test_membrane_figure_contents():
    trace, true_spikes = integrate_lif(META, adaptive=True)
    figure = F.make_membrane_trace(trace, META, threshold_expression="V_th + theta")
    ax_v, ax_i = figure.axes[:2]
    assert ax_v.get_ylabel().endswith("(mV)")
    assert ax_i.get_ylabel() == "I_syn (nA)"
    assert ax_i.get_xlabel() == "time (ms)"
    # threshold line: V_th + theta in mV, time in ms
    (threshold_line,) = _by_label(ax_v.lines, "threshold V_th + theta")
    np.testing.assert_allclose(threshold_line.get_xdata(), trace["t"] * 1e3)
    np.testing.assert_allclose(threshold_line.get_ydata(), (META["V_th"] + trace["theta"]) * 1e3)
    (membrane,) = _by_label(ax_v.lines, "v")
    np.testing.assert_allclose(membrane.get_ydata(), trace["v"] * 1e3)
    np.testing.assert_allclose(ax_i.lines[0].get_ydata(), trace["I_syn"] * 1e9)
    # spikes at the true times (ms), refractory shading present
    (ticks,) = _by_label(ax_v.collections, "spikes")
    np.testing.assert_allclose(sorted(seg[0, 0] for seg in ticks.get_segments()), true_spikes * 1e3)
    assert len(_by_label(ax_v.collections, "refractory")) == 1
    legend = [text.get_text() for text in ax_v.get_legend().get_texts()]
    assert "reset V_reset = −65.0 mV" in legend
    assert "rest E_L = −65.0 mV" in legend
    assert "refractory, t_ref = 2 ms" in legend
    assert f"spikes: {true_spikes.size} (" in " ".join(legend)
    assert any(text.startswith("threshold V_th + theta: −50.0 mV to ") for text in legend)
    assert "τ_m = 20 ms" in figure.get_suptitle()
    assert "sample 2" in figure.get_suptitle() and "neuron 1" in figure.get_suptitle()


def test_membrane_refractory_shading_covers_t_ref_after_each_spike():
    trace, true_spikes = integrate_lif(LIF)
    figure = F.make_membrane_trace(trace, LIF)
    (shading,) = _by_label(figure.axes[0].collections, "refractory")
    shaded_ms = np.concatenate([path.vertices[:, 0] for path in shading.get_paths()])
    t_ms = trace["t"] * 1e3
    for spike in true_spikes * 1e3:
        inside = shaded_ms[(shaded_ms >= spike - 1e-6) & (shaded_ms <= spike + LIF["t_ref"] * 1e3 + 1e-6)]
        assert inside.min() == pytest.approx(spike) and inside.max() == pytest.approx(spike + 2.0)
    # nothing shaded far from any spike
    far = t_ms[np.min(np.abs(t_ms[:, None] - true_spikes[None, :] * 1e3), axis=1) > 3.0]
    assert not np.isin(np.round(shaded_ms, 6), np.round(far, 6)).any()


def test_membrane_without_current_without_t_ref_and_with_given_spikes():
    trace, true_spikes = integrate_lif(LIF)
    trace = {"t": trace["t"], "v": trace["v"]}
    params = {k: v for k, v in LIF.items() if k != "t_ref"}
    given = [12.5, 100.0]
    figure = F.make_membrane_trace(trace, params, spikes_ms=given, title="custom")
    assert len(figure.axes) == 1
    ax = figure.axes[0]
    assert ax.get_xlabel() == "time (ms)"
    assert not _by_label(ax.collections, "refractory")
    (ticks,) = _by_label(ax.collections, "spikes")
    np.testing.assert_allclose([seg[0, 0] for seg in ticks.get_segments()], given)
    assert figure.get_suptitle().startswith("custom")
    # a bool mask over trace.t marks those steps
    mask = np.zeros(trace["t"].size, bool)
    mask[[10, 200]] = True
    figure = F.make_membrane_trace(trace, params, spikes_ms=mask)
    (ticks,) = _by_label(figure.axes[0].collections, "spikes")
    np.testing.assert_allclose([seg[0, 0] for seg in ticks.get_segments()], trace["t"][[10, 200]] * 1e3)


def test_membrane_errors():
    trace, _ = integrate_lif(LIF)
    no_reset = {k: v for k, v in LIF.items() if k != "V_reset"}
    with pytest.raises(ParameterError, match="reset_name"):
        F.make_membrane_trace(trace, no_reset)
    F.make_membrane_trace(trace, no_reset, spikes_ms=[])  # fine with explicit spikes
    with pytest.raises(ParameterError, match="threshold_expression"):
        F.make_membrane_trace(trace, LIF, threshold_expression="V_th + theta")  # no theta in an LIF trace
    with pytest.raises(ParameterError, match="threshold_expression"):
        F.make_membrane_trace(trace, LIF, threshold_expression="__import__('os')")
    with pytest.raises(DataError, match="trace.I_syn"):
        F.make_membrane_trace({**trace, "I_syn": trace["I_syn"][:-1]}, LIF)
    with pytest.raises(ParameterError, match="params.V_th"):
        F.make_membrane_trace(trace, {**LIF, "V_th": [1.0, 2.0]})


# ------------------------------------------------------------------------------------------------------
# rasters


def test_raster_figure_shows_first_samples_of_each_class_with_their_spikes():
    inputs, outputs, labels = poisson_data()
    dt = 1e-3
    figure = F.make_rasters(inputs, outputs, labels, dt, n_per_class=2, class_names={0: "low", 1: "mid", 2: "high"})
    expected = [int(i) for c in (0, 1, 2) for i in np.flatnonzero(labels == c)[:2]]
    assert len(figure.axes) == 2 * len(expected)
    rows = figure.subfigs
    assert len(rows) == len(expected)
    for row, sample in enumerate(expected):
        label = int(labels[sample])
        left, right = figure.axes[2 * row: 2 * row + 2]
        heading = rows[row].get_suptitle()
        assert f"sample {sample} " in heading
        assert ["low", "mid", "high"][label] in heading
        assert f"input: {int(inputs[sample].sum())} spikes" in heading
        rate = outputs[sample].sum() / (outputs.shape[1] * outputs.shape[2] * dt)
        assert f"output: {int(outputs[sample].sum())} spikes, {rate:.1f} Hz per neuron" in heading
        for ax, raster in ((left, inputs[sample]), (right, outputs[sample])):
            (dots,) = ax.lines
            rows_, bins = np.nonzero(raster)
            np.testing.assert_allclose(dots.get_xdata(), bins * dt * 1e3)
            np.testing.assert_array_equal(dots.get_ydata(), rows_)
            assert to_rgba(dots.get_color()) == to_rgba(F.class_colour(label))
        assert left.get_ylabel() == "channel index"
        assert right.get_ylabel() == "neuron index"
        for ax in (left, right):
            assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert figure.axes[-1].get_xlabel() == "time (ms)" and figure.axes[-2].get_xlabel() == "time (ms)"


def test_raster_figure_input_checks():
    inputs, outputs, labels = poisson_data()
    with pytest.raises(DataError, match="output_spiketrains"):
        F.make_rasters(inputs, outputs[:-1], labels, 1e-3)
    with pytest.raises(DataError, match="labels"):
        F.make_rasters(inputs, outputs, labels[:-1], 1e-3)
    with pytest.raises(DataError, match="input_spiketrains"):
        F.make_rasters(inputs[0], outputs, labels, 1e-3)
    with pytest.raises(ParameterError, match="dt"):
        F.make_rasters(inputs, outputs, labels, -1e-3)
    with pytest.raises(ParameterError, match="n_per_class"):
        F.make_rasters(inputs, outputs, labels, 1e-3, n_per_class=0)
    with pytest.raises(ParameterError, match="class_names"):
        F.make_rasters(inputs, outputs, labels, 1e-3, class_names=["only one"])


# ------------------------------------------------------------------------------------------------------
# LZC distribution


def test_lzc_figure_shows_class_distributions_and_neuron_means():
    rng = np.random.default_rng(7)
    labels = np.array([0] * 8 + [1] * 12)
    lzc = 0.5 + 0.02 * rng.standard_normal((20, 6))
    lzc[labels == 1, 4] += 0.2  # only neuron 4 discriminates
    figure = F.make_lzc_distribution(lzc, labels, class_names=["rest", "task"])
    ax_dist, ax_means, ax_effect = figure.axes
    per_sample = lzc.mean(axis=1)
    for c in (0, 1):
        (points,) = _by_label(ax_dist.collections, f"samples of label {c}")
        np.testing.assert_allclose(np.sort(points.get_offsets()[:, 1]), np.sort(per_sample[labels == c]))
        assert np.allclose(points.get_facecolor()[0][:3], to_rgba(F.class_colour(c))[:3])
    ticks = [tick.get_text() for tick in ax_dist.get_xticklabels()]
    assert ticks == ["rest\nn = 8", "task\nn = 12"]
    (note,) = [text.get_text() for text in ax_dist.texts if "Δ mean" in text.get_text()]
    difference = per_sample[labels == 1].mean() - per_sample[labels == 0].mean()
    assert "(task − rest)" in note and f"{difference:+.4f}" in note
    for c, name in enumerate(("rest", "task")):
        (line,) = _by_label(ax_means.lines, name)
        np.testing.assert_allclose(line.get_ydata(), lzc[labels == c].mean(axis=0))
        assert to_rgba(line.get_color()) == to_rgba(F.class_colour(c))
    # the most discriminative neuron is highlighted first and its bar is the tallest
    heights = [patch.get_height() for patch in _by_label(ax_effect.patches, "")][:6]
    assert int(np.argmax(heights)) == 4
    assert "4" in [text.get_text() for text in ax_effect.texts]
    assert "dimensionless" in ax_dist.get_ylabel() and "dimensionless" in ax_means.get_ylabel()
    assert ax_effect.get_xlabel() == "output neuron index"


def test_class_colours_are_the_same_in_every_figure():
    inputs, outputs, labels = poisson_data()
    rasters = F.make_rasters(inputs, outputs, labels, 1e-3, n_per_class=1)
    lzc_figure = F.make_lzc_distribution(np.random.default_rng(0).random((labels.size, 5)), labels)
    raster_colours = {}
    for row, sample in enumerate(int(np.flatnonzero(labels == c)[0]) for c in (0, 1, 2)):
        raster_colours[int(labels[sample])] = to_rgba(rasters.axes[2 * row].lines[0].get_color())
    lzc_colours = {c: to_rgba(_by_label(lzc_figure.axes[1].lines, f"class {c}")[0].get_color()) for c in (0, 1, 2)}
    assert raster_colours == lzc_colours
    assert len(set(raster_colours.values())) == 3
    assert F.class_colour(1) == F.CLASS_COLOURS[1] and F.class_colour(9) == F.CLASS_COLOURS[1]


def test_lzc_input_checks():
    with pytest.raises(DataError, match="lzc"):
        F.make_lzc_distribution(np.full((4, 2), np.nan), [0, 0, 1, 1])
    with pytest.raises(DataError, match="labels"):
        F.make_lzc_distribution(np.ones((4, 2)), [0, 1])
    with pytest.raises(DataError, match="labels"):
        F.make_lzc_distribution(np.ones((4, 2)), [0.5, 0, 1, 1])


# ------------------------------------------------------------------------------------------------------
# intrinsic parameter distributions before and after learning


def _trained_pair():
    from brian2 import Mohm, mV, ms, nA

    from brainlz.network import NetworkSpec

    initial = NetworkSpec.create(8, hidden=6, output=5, model="meta_neuron", seed=0)
    rng = np.random.default_rng(1)
    trained = initial.with_params("hidden", R=rng.uniform(60, 280, 6) * Mohm,
                                  I_half=rng.uniform(0.05, 0.9, 6) * nA)
    trained = trained.with_params("output", tau_m=rng.uniform(10, 30, 5) * ms, V_th=rng.uniform(-52, -45, 5) * mV)
    return initial, trained


def _bars(container):
    """(edges, heights) of a histogram drawn as a BarContainer."""
    xs = np.array([patch.get_x() for patch in container])
    widths = np.array([patch.get_width() for patch in container])
    return np.append(xs, xs[-1] + widths[-1]), np.array([patch.get_height() for patch in container])


def test_parameter_distributions_show_each_changed_parameter_in_display_units():
    initial, trained = _trained_pair()
    assert F.changed_parameters(initial, trained) == [("hidden", "R"), ("hidden", "I_half"), ("output", "tau_m"),
                                                      ("output", "V_th")]
    fig = F.make_parameter_distributions(initial, trained)
    assert len(fig.axes) == 4  # one axes per changed parameter, nothing else
    expected = {"hidden.R": ("MOhm", 1e-6), "hidden.I_half": ("nA", 1e9), "output.tau_m": ("ms", 1e3),
                "output.V_th": ("mV", 1e3)}
    for ax in fig.axes:
        title = ax.get_title(loc="left")
        layer, name = title.split(".")
        unit, factor = expected[title]
        assert ax.get_xlabel() == f"{name} ({unit})"
        before_bars, after_bars = ax.containers
        assert before_bars[0].get_label().startswith("before") and after_bars[0].get_label().startswith("after")
        for bars, spec in ((before_bars, initial), (after_bars, trained)):
            values = np.asarray(spec.layer(layer).params[name], dtype=float) * factor
            edges, heights = _bars(bars)
            assert heights.sum() == values.size  # every neuron falls inside the drawn bins
            np.testing.assert_array_equal(heights, np.histogram(values, bins=edges)[0])
        # the biological range is shaded in display units
        param = initial.layer(layer).neuron_model.params[name]
        (shade,) = [p for p in ax.patches if p.get_label() == "biological range"]
        np.testing.assert_allclose([shade.get_x(), shade.get_x() + shade.get_width()],
                                   [float(param.bio_range[0]) * factor, float(param.bio_range[1]) * factor])
        text = " ".join(t.get_text() for t in ax.texts)
        assert f"bounds {float(param.bounds[0]) * factor:g}".replace("-", "−") in text
    # bounds inside the view are drawn as lines (I_half's lower bound, 10 pA, lies inside the view)
    i_half = [ax for ax in fig.axes if ax.get_title(loc="left") == "hidden.I_half"][0]
    assert [line.get_xdata()[0] for line in i_half.lines if line.get_label() == "bound"] == pytest.approx([0.01])
    from brian2 import Hz, amp, ohm, second, siemens, volt

    assert F.display_unit(amp, [2e-10, 5e-11]) == ("pA", 1e12) and F.display_unit(amp, [1e-9]) == ("nA", 1e9)
    assert [F.display_unit(u) for u in (second, volt, ohm, siemens, Hz)] == [
        ("ms", 1e3), ("mV", 1e3), ("MOhm", 1e-6), ("nS", 1e9), ("Hz", 1.0)]
    only_output = F.make_parameter_distributions(initial, trained, layers=["output"])
    assert [ax.get_title(loc="left") for ax in only_output.axes] == ["output.tau_m", "output.V_th"]
    with pytest.raises(ParameterError, match="layers"):
        F.make_parameter_distributions(initial, trained, layers=["middle"])


def test_parameter_distributions_without_changes_show_learnable_parameters_and_a_note(tmp_path):
    initial, _ = _trained_pair()
    fig = F.make_parameter_distributions(initial, initial)
    learnable = [f"{layer.name}.{name}" for layer in initial.layers for name in layer.neuron_model.learnable_parameters]
    assert [ax.get_title(loc="left") for ax in fig.axes] == learnable
    assert "No intrinsic parameter changed" in fig._suptitle.get_text()
    check_png(F.plot_parameter_distributions(initial, initial, tmp_path / "same.png"), min_width=600)


def test_protocol_with_learning_writes_initial_network_and_parameter_figure(tmp_path, monkeypatch):
    from brian2 import ms

    import brainlz.protocol as protocol_module
    from brainlz.network import NetworkSpec
    from brainlz.protocol import Protocol, run_protocol

    def fake_training(spec, train_set, learning, **kwargs):
        if learning.get("change"):
            spec = spec.with_params("output", tau_m=np.linspace(12, 28, spec.output.n_neurons) * ms)
        return spec, {"rule": "fake"}

    monkeypatch.setattr(protocol_module, "train_network", fake_training)
    small = dict(task="rate", difficulty=0.2, n_samples=24, n_channels=8, n_bins=60, hidden=0, output=4,
                 backend="runtime", backend_options={"target": "numpy"}, n_folds=2, test_size=0.25)
    changed = run_protocol(Protocol(name="learned", learning={"rule": "stdp", "change": True}, **small), tmp_path,
                           progress=False)
    figures = sorted(p.name for p in (changed.directory / "figures").iterdir())
    assert figures == ["lzc_by_class.png", "membrane_trace.png", "parameter_distributions.png", "rasters.png"]
    initial = NetworkSpec.load(changed.directory / "network_initial.npz")
    trained = NetworkSpec.load(changed.directory / "network.npz")
    assert F.changed_parameters(initial, trained) == [("output", "tau_m")]
    np.testing.assert_allclose(np.asarray(trained.output.params["tau_m"]) * 1e3, np.linspace(12, 28, 4))
    np.testing.assert_allclose(np.asarray(initial.output.params["tau_m"]) * 1e3, 20.0)
    check_png(changed.directory / "figures" / "parameter_distributions.png", min_width=500, min_height=400)
    unchanged = run_protocol(Protocol(name="unchanged", learning={"rule": "stdp"}, **small), tmp_path,
                             progress=False)
    assert (unchanged.directory / "network_initial.npz").is_file()
    assert not (unchanged.directory / "figures" / "parameter_distributions.png").exists()


def test_paper_grid_forest_plot_shows_the_summary_differences(tmp_path):
    """figures/scripts/paper_grid.py: per-task paired differences with their intervals as in the summary, the
    pooled rows as brainlz.metrics.stratified_mean_ci of the tasks (and of the tasks other than regular), one
    error bar per row at that position, and the PNG written."""
    import importlib.util
    import json

    from brainlz.metrics import stratified_mean_ci

    script = Path(__file__).resolve().parents[1] / "figures" / "scripts" / "paper_grid.py"
    spec = importlib.util.spec_from_file_location("paper_grid_figure", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def pair(task, differences, interval):
        return {"labels": {"task": task, "rule": "stdp", "model": "lif"}, "n_pairs": len(differences),
                "differences_pp": differences, "difference_pp": float(np.mean(differences)),
                "difference_ci95_pp": interval}

    regular, digits, rate = [9.0, 5.0, 15.0], [10.0, -5.0, 20.0, 15.0], [1.0, 2.0, 4.0]
    summary = {"confidence": 0.95, "n_finished": 20, "n_cells": 240, "paired_differences": [
        pair("regular", regular, [1.0, 18.0]), pair("digits", digits, [-9.0, 29.0]), pair("rate", rate, [-2.0, 6.0]),
        pair("burst", [3.0], None)]}
    rows = module.forest_rows(summary, "stdp", "lif")
    assert [r[0] for r in rows] == ["rate (3)", "regular (3)", "digits (4)", "pooled (3 tasks)",
                                    "pooled w/o regular (2 tasks)"]  # burst: one pair, no interval
    assert rows[1][1:] == (pytest.approx(29 / 3), 1.0, 18.0, "task")
    assert rows[3][1:4] == pytest.approx(stratified_mean_ci([rate, regular, digits])[:3])
    assert rows[4][1:4] == pytest.approx(stratified_mean_ci([rate, digits])[:3])
    assert module.forest_rows(summary, "stdp", "meta_neuron") == []
    fig = module.make_figure(summary)
    ax = fig.axes[1]  # row LIF, column STDP
    assert ax.get_title(loc="left") == "STDP, LIF"
    assert [t.get_text() for t in ax.get_yticklabels()] == [r[0] for r in rows]
    bars = [c for c in ax.containers]
    assert len(bars) == len(rows)
    for y, (bar, (_, mean, low, high, _)) in enumerate(zip(bars, rows)):
        (x_data,), (y_data,) = bar.lines[0].get_data()
        assert (x_data, y_data) == (pytest.approx(mean), y)
        segment = bar.lines[2][0].get_segments()[0]
        assert segment[:, 0] == pytest.approx([low, high])
    out = F.save_figure(fig, tmp_path / "grid.png")
    assert imread(out).shape[1] == 2200
    assert json.dumps(summary)  # the figure did not modify the summary
