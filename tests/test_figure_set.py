"""Tests of brainlz.figure_set: every figure of the reference set is drawn from a real run (the plotted data are
those of the run, checked against independent computations), carries its biological annotations (threshold and
reset lines, reference ranges, units on every axis), and the command line writes PNG and SVG files.

Figures are drawn with ``quick=True`` (reduced sizes) once per test module.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex

from brainlz import figure_set as fs
from brainlz.cli import main
from brainlz.figures import CLASS_COLOURS, detect_spikes
from brainlz.lzc import lz76, lzc
from brainlz.models import load_model

ROOT = Path(__file__).resolve().parents[1]
UNIT = re.compile(r"\(.+\)", re.DOTALL)

_BUILT: dict = {}


def built(name: str) -> fs.FigureResult:
    """The quick version of figure ``name``, drawn once per test process."""
    if name not in _BUILT:
        entry = fs.FIGURES[name]
        _BUILT[name] = entry.make(seed=entry.seed, quick=True)
    return _BUILT[name]


def by_gid(fig, gid: str):
    found = [artist for artist in fig.findobj() if artist.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


def gids(fig, prefix: str) -> list:
    return [artist for artist in fig.findobj() if (artist.get_gid() or "").startswith(prefix)]


def _extent(patch, axis: int) -> tuple:
    """(low, high) of an axhspan (axis 1) or axvspan (axis 0) in data coordinates (Rectangle or Polygon)."""
    if hasattr(patch, "get_height"):
        start, size = (patch.get_x(), patch.get_width()) if axis == 0 else (patch.get_y(), patch.get_height())
        return tuple(sorted((float(start), float(start + size))))
    values = np.asarray(patch.get_xy())[:, axis]
    return float(values.min()), float(values.max())


def span_y(patch) -> tuple:
    return _extent(patch, 1)


def span_x(patch) -> tuple:
    return _extent(patch, 0)


def _numeric(text: str) -> bool:
    try:
        float(text.replace("\N{MINUS SIGN}", "-").replace("$", ""))
    except ValueError:
        return "10^" in text or "times" in text
    return True


def assert_units(fig) -> None:
    """Every axis that shows numeric tick labels has a label naming its unit in parentheses."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    for ax in fig.axes:
        if not ax.axison:
            continue
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            shown = [tick.get_text() for tick in axis.get_ticklabels() if tick.get_visible() and tick.get_text()
                     and _numeric(tick.get_text())]
            if shown and axis.get_visible():
                assert UNIT.search(label), f"axis {label!r} of {ax.get_title()!r} has no unit"


def assert_palette(fig) -> None:
    """Lines use the Okabe-Ito palette (or black/grey/white)."""
    allowed = {c.lower() for c in CLASS_COLOURS} | {c.lower() for c in fs.PALETTE.values()}
    for ax in fig.axes:
        for line in ax.get_lines():
            colour = to_hex(line.get_color()).lower()
            r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
            assert colour in allowed or r == g == b, f"line colour {colour} outside the palette"


@pytest.mark.parametrize("name", ["lz76_phrases", "lzc_vs_rate", "fi_curves"])
def test_cheap_figures_have_units_and_palette(name):
    fig = built(name).figure
    assert_units(fig)
    assert_palette(fig)


# ---------------------------------------------------------------------------------------------------------------
# 1. neuron dynamics
# ---------------------------------------------------------------------------------------------------------------

def test_neuron_dynamics_is_the_run():
    result = built("neuron_dynamics")
    fig, data = result.figure, result.data
    dt_ms = data["dt"] * 1e3
    for name in ("lif", "meta_neuron"):
        run = data[name]
        model = load_model(name)
        params = run["params"]
        assert run["raster"].sum() >= 2, "the input should make both models fire"
        # plotted spike markers are the spikes of the run's output raster
        markers = by_gid(fig, f"spikes:{name}")
        np.testing.assert_allclose(markers.get_xdata(), np.flatnonzero(run["raster"]) * dt_ms)
        # ... and they agree with the resets in the traced membrane potential
        trace = run["trace"]
        detected = detect_spikes(trace["t"], trace["v"], params["V_reset"]) * 1e3
        np.testing.assert_allclose(detected, markers.get_xdata(), atol=dt_ms + 1e-9)
        # threshold and reset lines at the model's values
        threshold = by_gid(fig, f"threshold:{name}")
        expected = (params["V_th"] + np.asarray(trace.get("theta", 0.0))) * 1e3
        np.testing.assert_allclose(threshold.get_ydata(), np.broadcast_to(expected, trace["t"].shape), atol=1e-9)
        reset = by_gid(fig, f"reset:{name}")
        assert np.allclose(reset.get_ydata(), params["V_reset"] * 1e3)
        # biological ranges shaded where V_th and tau_m are drawn
        bands = gids(fig, "bio:")
        ranges = {patch.get_gid(): span_y(patch) for patch in bands}
        assert ranges["bio:V_th"] == pytest.approx(sorted(float(x) * 1e3 for x in model.params["V_th"].bio_range))
        assert ranges["bio:tau_m"] == pytest.approx(sorted(float(x) * 1e3 for x in model.params["tau_m"].bio_range))
    # the same current drives both models
    np.testing.assert_array_equal(data["lif"]["trace"]["I_syn"], data["meta_neuron"]["trace"]["I_syn"])
    # the meta-neuron's threshold moves (theta > 0 after spikes) and its tau(t) is tau_m / (1 + I_abs / I_half)
    meta = data["meta_neuron"]
    assert meta["threshold_mV"].max() > meta["params"]["V_th"] * 1e3 + 0.5
    trace = meta["trace"]
    expected_tau = meta["params"]["tau_m"] / (1 + np.asarray(trace["I_abs"]) / meta["params"]["I_half"])
    np.testing.assert_allclose(meta["tau_ms"], expected_tau * 1e3)
    assert meta["tau_ms"].min() < meta["params"]["tau_m"] * 1e3 - 1
    np.testing.assert_allclose(data["lif"]["tau_ms"], 20.0)
    assert_units(fig)
    assert_palette(fig)


def test_neuron_dynamics_reruns_to_the_same_spikes():
    from brian2 import ms

    from brainlz.figure_set import _single_neuron_run

    data = built("neuron_dynamics").data
    again = _single_neuron_run("lif", data["input"], fs.WEIGHT_NA, data["dt"] * 1000 * ms, 1)
    np.testing.assert_array_equal(again["raster"], data["lif"]["raster"])


def test_equation_panel_is_typeset_from_the_model_strings():
    fig, data = built("neuron_dynamics").figure, built("neuron_dynamics").data
    for name in ("lif", "meta_neuron"):
        shown = [text.get_text() for text in gids(fig, f"equation:{name}:")]
        assert shown == data[name]["equations"] == fs.model_equations_tex(name)
        assert any(r"\dfrac{dv}{dt}" in line for line in shown)
    meta = "\n".join(data["meta_neuron"]["equations"])
    assert r"\tau_{eff}" in meta and r"V_{th} + \theta" in meta and "|{w}|" in meta
    # change the model file's string: the panel changes with it (nothing is retyped)
    lif = load_model("lif")
    changed = dataclasses.replace(lif, equations=lif.equations.replace("(E_L - v + R*I_syn)", "(E_L - v + 2*R*I_syn)"))
    assert fs.model_equations_tex(changed)[0] != fs.model_equations_tex(lif)[0]
    assert "2" in fs.model_equations_tex(changed)[0]


# ---------------------------------------------------------------------------------------------------------------
# 1b. f-I curves
# ---------------------------------------------------------------------------------------------------------------

def test_fi_curve_rheobase_and_rates_match_the_lif_closed_form():
    result = built("fi_curves")
    data, fig = result.data, result.figure
    lif = data["params"]["lif"]
    rheobase = (lif["V_th"] - lif["E_L"]) / lif["R"]
    assert rheobase == pytest.approx(0.15e-9)
    assert data["rheobase_nA"] == pytest.approx(0.15)
    currents = data["current_nA"]
    step = currents[1] - currents[0]
    first = data["first_firing_nA"]["lif"]
    assert data["rheobase_nA"] < first <= data["rheobase_nA"] + step + 1e-9
    rates = data["rate_Hz"]["lif"]
    closed = fs.lif_rate(currents * 1e-9, lif)
    firing = closed > 10
    np.testing.assert_allclose(rates[firing], closed[firing], rtol=0.03)
    assert np.all(rates[currents <= data["rheobase_nA"]] == 0)
    line = by_gid(fig, "rheobase:lif")
    assert np.allclose(line.get_xdata(), data["rheobase_nA"])
    # the meta-neuron's threshold adaptation lowers its rate at strong drive
    assert data["rate_Hz"]["meta_neuron"][-1] < rates[-1]
    table = "\n".join(data["table"])
    for name in load_model("meta_neuron").params:
        assert name in table
    assert "[8, 40]" in table and "[-55, -38]".replace("-", "−") in table


def test_clamp_code_comes_from_on_pre():
    assert fs._clamp_code(load_model("lif"), "I_inj") == "I_syn = I_inj"
    assert fs._clamp_code(load_model("meta_neuron"), "I_inj") == "I_syn = I_inj\nI_abs = abs(I_inj)"


# ---------------------------------------------------------------------------------------------------------------
# 2. what LZC sees
# ---------------------------------------------------------------------------------------------------------------

def test_lz76_phrases_known_parse_and_random_sequences():
    bits = [int(c) for c in "0001101001000101"]
    phrases = fs.lz76_phrases(bits)
    assert ["".join(map(str, bits[a:b])) for a, b in phrases] == ["0", "001", "10", "100", "1000", "101"]
    assert fs.lz76_phrases([0] * 10) == [(0, 1), (1, 10)]
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 50, 200):
        for p in (0.05, 0.5):
            seq = (rng.random(n) < p).astype(int)
            parts = fs.lz76_phrases(seq)
            assert len(parts) == int(lz76(seq))
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))


def test_lz76_figure_marks_the_phrases_lz76_counts():
    result = built("lz76_phrases")
    data, fig = result.data, result.figure
    bits = data["bits"]
    np.testing.assert_array_equal(bits, data["raster"][data["neuron"]])
    assert data["neuron"] == int(np.argmax(data["raster"].sum(axis=1)))
    assert bits.sum() >= 1
    assert len(data["phrases"]) == data["C"] == int(lz76(bits))
    assert sum(stop - start for start, stop in data["phrases"]) == bits.size
    assert data["c"] == pytest.approx(float(lzc(bits)))
    assert data["c"] == pytest.approx(data["C"] * math.log2(bits.size) / bits.size)
    assert len(gids(fig, "phrase_start:")) == data["C"]
    texts = " ".join(t.get_text() for t in fig.findobj() if hasattr(t, "get_text"))
    assert f"C = lz76(bits) = {data['C']}" in texts


def test_lzc_vs_rate_is_lzc_of_the_generated_trains():
    data = built("lzc_vs_rate").data
    for process in ("poisson", "bursting", "regular"):
        entry = data[process]
        np.testing.assert_allclose(entry["lzc"], lzc(entry["trains"]))
        np.testing.assert_allclose(entry["mean"], entry["lzc"].mean(axis=1))
        measured = entry["measured_Hz"].mean(axis=1)
        np.testing.assert_allclose(measured, data["rates_Hz"], rtol=0.5)
    poisson = data["poisson"]["mean"]
    assert np.all(np.diff(poisson) > 0)  # more spikes, more phrases (rates well below 500 Hz)
    assert data["regular"]["mean"][-1] < poisson[-1]


def test_lzc_length_accuracy_and_prefix_equals_short_run():
    from brian2 import ms

    from brainlz.backends import simulate
    from brainlz.network import NetworkSpec
    from brainlz.readout import default_pipeline

    data = built("lzc_length").data
    assert list(data["lengths"]) == [64, 256, 1024]
    n = 64
    features = lzc(data["output"][..., :n])
    model = default_pipeline(4).fit(features[data["train"]], data["labels"][data["train"]])
    accuracy = np.mean(model.predict(features[data["test"]]) == data["labels"][data["test"]])
    assert data["network output"]["accuracy"][0] == pytest.approx(accuracy)
    for source in ("network output", "input"):
        entry = data[source]
        assert np.all(entry["ci_low"] <= entry["accuracy"]) and np.all(entry["accuracy"] <= entry["ci_high"])
    # the first n bins of the long run are a run of n bins (what the figure relies on)
    from brainlz.data import make_task

    task = make_task("rate", n_samples=40, n_bins=1024, difficulty=0.85, seed=4)
    spec = NetworkSpec.create(16, hidden=(), output=16, model="lif", dt=1 * ms, seed=4)
    short = simulate(spec, task.spiketrains[:4, :, :n], backend="runtime", target="numpy", seed=4).output
    np.testing.assert_array_equal(short, data["output"][:4, :, :n])


# ---------------------------------------------------------------------------------------------------------------
# 3. learning as it happens
# ---------------------------------------------------------------------------------------------------------------

def test_tempotron_curves_match_the_brian2_run():
    result = built("tempotron_voltage")
    data, fig = result.data, result.figure
    for (kind, stage), curve in data["curves"].items():
        run = data[stage]
        k = data["trials"][kind]
        index = round(run["t_max"][k, 0] / 1e-3)
        assert curve["V"][index] == pytest.approx(run["v_max"][k, 0], rel=1e-6, abs=1e-9)
        assert curve["t_max"] == pytest.approx(run["t_max"][k, 0], abs=1e-9)
        assert bool(np.any(curve["V"] > data["threshold"])) == bool(run["fired"][k, 0])
        threshold = by_gid(fig, f"threshold:{kind}:{stage}")
        assert np.allclose(threshold.get_ydata(), data["threshold"])
        marker = by_gid(fig, f"t_max:{kind}:{stage}")
        assert np.allclose(marker.get_xdata(), run["t_max"][k, 0] * 1e3)
    if data["history"]["converged"]:
        for kind, target in (("target", True), ("null", False)):
            assert bool(data["after"]["fired"][data["trials"][kind], 0]) == target
    assert_units(fig)
    assert_palette(fig)


def test_stdp_figure_plots_the_recorded_weights():
    result = built("stdp_weights")
    data, fig = result.data, result.figure
    snapshots = data["snapshots"]
    assert snapshots.min() >= 0 and snapshots.max() <= 1
    np.testing.assert_allclose(snapshots[-1], data["result"].weights)
    for k in data["shown"]:
        line = by_gid(fig, f"synapse:{k}")
        np.testing.assert_allclose(line.get_ydata(), snapshots[:, k])
    np.testing.assert_array_equal(data["histogram"][-1], np.histogram(snapshots[-1], bins=data["edges"])[0])
    assert data["histogram"].sum(axis=1).tolist() == [snapshots.shape[1]] * snapshots.shape[0]
    assert np.abs(np.diff(snapshots, axis=0)).max() > 0  # the weights moved
    window = data["window"]
    assert window[data["window_dt_ms"] > 0].max() == pytest.approx(data["rule"]["A_plus"], rel=0.05)
    assert window[data["window_dt_ms"] < 0].min() == pytest.approx(-data["rule"]["A_minus"], rel=0.05)
    assert span_x(by_gid(fig, "bio:stdp_window")) == pytest.approx((-20.0, 20.0))
    assert_units(fig)


def test_surrogate_figure_shows_both_runs():
    result = built("surrogate_training")
    data, fig = result.data, result.figure
    initial = data["initial"]
    for name in ("fixed", "learnable"):
        assert len(data[name]["epochs"]) == 3
        losses = [record["train_loss"] for record in data[name]["epochs"]]
        ax_loss = fig.axes[0]
        assert any(np.allclose(line.get_ydata(), losses) for line in ax_loss.get_lines())
    for layer_before, layer_after in zip(initial.layers, data["fixed"]["spec"].layers):
        for pname in layer_before.params:
            np.testing.assert_allclose(np.asarray(layer_after.params[pname]), np.asarray(layer_before.params[pname]))
    moved = [abs(after - before) > 0 for values in data["learned"].values() for before, after in values.values()]
    assert any(moved)
    model = load_model("lif")
    bands = {patch.get_gid(): span_x(patch) for patch in gids(fig, "bio:")}
    for pname in model.learnable_parameters:
        assert f"bio:{pname}" in bands
    assert_units(fig)
    assert_palette(fig)


def test_outer_loop_path_and_landscape_are_the_objective():
    result = built("outer_loop")
    data, fig = result.data, result.figure
    assert data["path_tau_ms"][0] == pytest.approx(20.0)
    assert data["path_V_mV"][0] == pytest.approx(-50.0)
    assert data["accuracy"].shape == (3, 3)
    path = by_gid(fig, "path")
    np.testing.assert_allclose(path.get_xdata(), data["path_tau_ms"])
    np.testing.assert_allclose(path.get_ydata(), data["path_V_mV"])
    # the accuracies the loop recorded along its path are those of the landscape's objective at those points
    from brainlz.learning.intrinsic import ValidationObjective

    objective = ValidationObjective(data["spec"], data["train_set"], data["validation_set"], space=data["space"],
                                    backend="runtime", backend_options={"target": "numpy"}, seed=8)
    objective(data["path_u"])
    np.testing.assert_allclose(objective.last["accuracy"], data["path_accuracy"])
    box = by_gid(fig, "bio:tau_m,V_th")
    assert (box.get_x(), box.get_y()) == pytest.approx((8.0, -55.0))
    assert (box.get_width(), box.get_height()) == pytest.approx((32.0, 17.0))
    assert_units(fig)


# ---------------------------------------------------------------------------------------------------------------
# 4. cost
# ---------------------------------------------------------------------------------------------------------------

def test_cost_energy_is_the_energy_report():
    result = built("cost_scaling")
    data, fig = result.data, result.figure
    sizes = data["sizes"]
    ann = (16 * sizes + sizes * 8) * 4.6e-12
    for model in ("lif", "meta_neuron"):
        entry = data[model]
        np.testing.assert_allclose(entry["ann_J"], ann)
        np.testing.assert_allclose(entry["snn_J"], entry["synops"] * 0.9e-12)
        assert np.all(entry["latency_s"] > 0)
        assert all(report["snn_joules"] == value for report, value in zip(entry["reports"], entry["snn_J"]))
    np.testing.assert_allclose(by_gid(fig, "ann").get_ydata(), ann * 1e9)
    assert_units(fig)


# ---------------------------------------------------------------------------------------------------------------
# the command and the index
# ---------------------------------------------------------------------------------------------------------------

def test_cli_writes_png_and_svg_with_progress(tmp_path, capsys):
    assert main(["figures", "lz76_phrases", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[1/1] lz76_phrases (seed 2)" in out
    png, svg = tmp_path / "lz76_phrases.png", tmp_path / "lz76_phrases.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_refuses_an_unknown_figure(tmp_path, capsys):
    assert main(["figures", "no_such_figure", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown figure" in err and "neuron_dynamics" in err
    assert not any(tmp_path.iterdir())


def test_cli_lists_the_figures(capsys):
    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split(" ")[0] for line in out.strip().splitlines()] == list(fs.FIGURES)


def test_readme_indexes_every_figure():
    readme = (ROOT / "figures" / "README.md").read_text()
    for entry in fs.FIGURES.values():
        assert f"`{entry.name}.png`" in readme and f"`{entry.name}.svg`" in readme
        assert f"`brainlz figures {entry.name}`" in readme
    assert fs.figure_index() in readme
