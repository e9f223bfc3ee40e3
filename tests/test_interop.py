"""Neo / Elephant interoperability (brainlz.interop), SpikeDataset.from_arrays / from_neo, and protocols and
sweeps that name their data (``Protocol(dataset=...)``).

References are computed here, independently of the code under test: spike indices with ``np.flatnonzero``,
expected rasters written out by hand, firing rates as counts / duration and CV2 with numpy.
"""

import json
import warnings

import neo
import numpy as np
import pytest
import quantities as pq
from brian2 import ms, second
from hypothesis import given, settings
from hypothesis import strategies as st

import brainlz
from brainlz.data import SpikeDataset
from brainlz.errors import DataError, ParameterError, ProtocolError
from brainlz.interop import neo_to_raster, outputs_to_neo, raster_to_neo, run_dt
from brainlz.protocol import Protocol, run_protocol
from brainlz.sweep import Sweep, run_sweep

FAST = {"hidden": 0, "output": 6, "backend": "runtime", "backend_options": {"target": "numpy"}, "batch_size": 40,
        "n_folds": 2, "test_size": 0.25}


def _segment(times_per_train, t_stop, t_start=0.0, **annotations):
    segment = neo.Segment(**annotations)
    for times in times_per_train:
        segment.spiketrains.append(neo.SpikeTrain(np.asarray(times, float) * pq.s, t_start=t_start * pq.s,
                                                  t_stop=t_stop * pq.s))
    return segment


def _rate_data(seed=0, n=40, channels=8, bins=200, dt_s=0.5e-3):
    """Two classes of Bernoulli spike trains at 20 and 80 Hz, made here."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rates = np.where(labels == 1, 80.0, 20.0)[:, None, None]
    return (rng.random((n, channels, bins)) < rates * dt_s).astype(np.int8), labels


def _one_line(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text
    return text


# ---------------------------------------------------------------------------------------------------------------
# Raster -> Neo -> raster
# ---------------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dt_us=st.sampled_from([100.0, 250.0, 1000.0, 1000.0 / 3, 1700.0]),
       t_start=st.floats(0.0, 50.0))
def test_raster_round_trip_is_exact(data, dt_us, t_start):
    n_samples, n_neurons, n_bins = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 40)))
    bits = data.draw(st.lists(st.booleans(), min_size=n_samples * n_neurons * n_bins,
                              max_size=n_samples * n_neurons * n_bins))
    raster = np.array(bits, dtype=bool).reshape(n_samples, n_neurons, n_bins)
    raster[0, 0, 0] = raster[-1, -1, -1] = True  # spikes on the first and last bins' edges
    dt = dt_us * 1e-6
    block = raster_to_neo(raster, dt * second, labels=np.arange(n_samples), t_start=t_start * second)
    for s, segment in enumerate(block.segments):
        assert segment.annotations == {"sample": s, "label": s}
        for j, train in enumerate(segment.spiketrains):
            assert train.units == pq.s and train.annotations["neuron"] == j and train.annotations["layer"] == "output"
            assert float(train.t_start) == t_start and float(train.t_stop) == pytest.approx(t_start + n_bins * dt)
            np.testing.assert_allclose(train.magnitude, t_start + np.flatnonzero(raster[s, j]) * dt, rtol=0,
                                       atol=1e-12)
    assert np.array_equal(neo_to_raster(block, dt * second), raster)
    assert np.array_equal(neo_to_raster(block.segments, dt * second, multiple_spikes="error"), raster)


def test_export_accepts_01_integers_and_checks_shapes():
    raster = np.array([[[0, 1, 1, 0]]], dtype=np.uint8)
    block = raster_to_neo(raster, 1 * ms, lzc=[[0.5]])
    assert block.segments[0].spiketrains[0].times.rescale("ms").magnitude.tolist() == pytest.approx([1.0, 2.0])
    assert block.segments[0].spiketrains[0].annotations["lzc"] == 0.5
    with pytest.raises(DataError, match="lzc"):
        raster_to_neo(raster, 1 * ms, lzc=[0.5, 0.1])
    with pytest.raises(DataError, match="raster"):
        raster_to_neo(raster * 2, 1 * ms)
    with pytest.raises(ParameterError, match="dt"):
        raster_to_neo(raster, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# Neo -> SpikeDataset
# ---------------------------------------------------------------------------------------------------------------


def _merging_segments():
    # dt = 1 ms, window [0, 10) ms: 10 bins
    first = _segment([[0.0, 0.0004, 0.001, 0.0099],    # bins 0, 0 (merged), 1 (on the edge), 9 (last bin)
                      [0.005, 0.010]],                 # bin 5; 10 ms = t_stop belongs to no bin (dropped)
                     0.010, stimulus=1)
    second = _segment([[0.0021, 0.0029, 0.0025], []], 0.010, stimulus=0)  # three spikes in bin 2: two merged
    return [first, second]


def test_from_neo_bins_counts_merged_and_dropped_spikes():
    expected = np.zeros((2, 2, 10), dtype=bool)
    expected[0, 0, [0, 1, 9]] = True
    expected[0, 1, 5] = True
    expected[1, 0, 2] = True
    with pytest.warns(UserWarning) as record:
        data = SpikeDataset.from_neo(_merging_segments(), label="stimulus", dt=1 * ms)
    assert sum("merged" in str(w.message) for w in record) == 1  # one warning for the whole call
    assert np.array_equal(data.spiketrains, expected)
    assert data.labels.tolist() == [1, 0] and float(data.dt) == pytest.approx(1e-3)
    assert data.params["merged_spikes"] == 1 + 2 and data.params["dropped_spikes"] == 1
    assert data.params["label_key"] == "stimulus" and data.params["n_bins"] == 10
    block = neo.Block()
    block.segments.extend(_merging_segments())
    with pytest.warns(UserWarning):
        assert np.array_equal(SpikeDataset.from_neo(block, label="stimulus", dt=1 * ms).spiketrains, expected)


def test_from_neo_error_mode_names_segment_train_and_bin():
    with pytest.raises(DataError, match=r"segments\[0\]\.spiketrains\[0\]: 2 spikes in bin 0") as exc:
        SpikeDataset.from_neo(_merging_segments(), label="stimulus", dt=1 * ms, multiple_spikes="error")
    _one_line(exc)
    with pytest.raises(ParameterError, match="multiple_spikes"):
        SpikeDataset.from_neo(_merging_segments(), label="stimulus", dt=1 * ms, multiple_spikes="drop")


def test_from_neo_missing_label_names_segment_and_key():
    segments = [_segment([[0.001]], 0.01, condition=0), _segment([[0.002]], 0.01, trial=3)]
    with pytest.raises(DataError) as exc:
        SpikeDataset.from_neo(segments, label="condition", dt=1 * ms)
    text = _one_line(exc)
    assert "segments[1].annotations['condition']: missing" in text and "trial" in text


def test_from_neo_window_and_text_labels():
    """An explicit window in Neo's own units, segments at different absolute times, labels as text."""
    segments = [_segment([[10.0005, 10.0031]], 10.004, t_start=10.0, cue="right"),
                _segment([[20.0, 20.003]], 20.004, t_start=20.0, cue="left")]
    data = SpikeDataset.from_neo(segments, label="cue", dt=1 * ms)
    assert data.spiketrains[:, 0].astype(int).tolist() == [[1, 0, 0, 1], [1, 0, 0, 1]]
    assert data.labels.tolist() == [1, 0] and data.params["label_names"] == ["left", "right"]
    assert data.params["t_start_s"] == [10.0, 20.0]
    aligned = [_segment([[0.0005, 0.0031, 0.0039]], 0.01, cue=1), _segment([[0.002]], 0.01, cue=0)]
    with pytest.warns(UserWarning, match="outside"):
        windowed = SpikeDataset.from_neo(aligned, label="cue", dt=1 * ms, t_start=1 * ms, t_stop=4 * pq.ms)
    assert windowed.spiketrains[:, 0].astype(int).tolist() == [[0, 0, 1], [0, 1, 0]]
    with pytest.raises(DataError, match="whole number of bins"):
        SpikeDataset.from_neo(aligned, label="cue", dt=3 * ms)
    with pytest.raises(DataError, match=r"segments\[1\]\.spiketrains: 2 trains"):
        SpikeDataset.from_neo([aligned[0], _segment([[0.001], []], 0.01, cue=0)], label="cue", dt=1 * ms)


def test_from_arrays_converts_and_validates():
    x, y = _rate_data(n=6, channels=2, bins=10)
    data = SpikeDataset.from_arrays(x, y, 0.5 * ms)
    assert data.spiketrains.dtype == bool and np.array_equal(data.spiketrains, x == 1)
    assert data.labels.dtype == np.int64 and data.params == {}
    assert SpikeDataset.from_arrays(x.astype(bool), y, 0.5 * ms, params={"source": "test"}).params == {"source": "test"}
    for bad, field in ((x * 2, "X"), (x.astype(float), "X"), (x[0], "spiketrains")):
        with pytest.raises(DataError, match=f"^{field}"):
            SpikeDataset.from_arrays(bad, y, 1 * ms)
    with pytest.raises(DataError, match="^labels"):
        SpikeDataset.from_arrays(x, y[:-1], 1 * ms)
    with pytest.raises(DataError, match="^dt"):
        SpikeDataset.from_arrays(x, y, 0.001)


def test_content_hash_follows_content_only(tmp_path):
    x, y = _rate_data(n=6, channels=2, bins=10)
    data = SpikeDataset.from_arrays(x, y, 0.5 * ms)
    again = SpikeDataset.load(data.save(tmp_path / "d.npz"))
    assert again.content_hash() == data.content_hash() and len(data.content_hash()) == 64
    flipped = x.copy()
    flipped[0, 0, 0] ^= 1
    others = [SpikeDataset.from_arrays(flipped, y, 0.5 * ms), SpikeDataset.from_arrays(x, 1 - y, 0.5 * ms),
              SpikeDataset.from_arrays(x, y, 1 * ms), SpikeDataset.from_arrays(x, y, 0.5 * ms, {"a": 1})]
    assert len({d.content_hash() for d in [data, *others]}) == 5
    assert data.content_hash()[:12] in str(data)


# ---------------------------------------------------------------------------------------------------------------
# Protocol(dataset=...)
# ---------------------------------------------------------------------------------------------------------------


def test_protocol_dataset_is_checked_at_construction(tmp_path):
    x, y = _rate_data(n=8, channels=2, bins=10)
    data = SpikeDataset.from_arrays(x, y, 0.5 * ms)
    path = data.save(tmp_path / "d.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    cases = [({"dataset": tmp_path / "missing.npz"}, "protocol.dataset", "no such file"),
             ({"dataset": tmp_path / "bad.npz"}, "protocol.dataset", "cannot load"),
             ({"dataset": 42}, "protocol.dataset", "expected None"),
             ({"dataset": SpikeDataset.from_arrays(x, np.zeros(8, int), 1 * ms)}, "protocol.dataset", "1 class"),
             ({"dataset": path, "n_test": 10}, "protocol.n_test", "generated tasks"),
             ({"dataset": data, "dt": 2 * ms}, "protocol.dt", "0.0005 s")]
    for fields, field, reason in cases:
        with pytest.raises(ParameterError) as exc:
            Protocol(name="p", **fields)
        assert exc.value.field == field and reason in _one_line(exc)
    by_path, by_object = Protocol(name="p", dataset=str(path)), Protocol(name="p", dataset=data, dt=0.5 * ms)
    record_path, record_object = by_path.to_dict()["dataset"], by_object.to_dict()["dataset"]
    json.dumps(by_path.to_dict()), json.dumps(by_object.to_dict())
    assert record_path["path"] == str(path) and record_object["object"] == "SpikeDataset"
    assert record_path["sha256"] == record_object["sha256"] == data.content_hash()
    assert record_path["dt_s"] == 0.0005 and record_path["n_classes"] == 2 and record_path["n_bins"] == 10
    assert Protocol(name="p").to_dict()["dataset"] is None


def test_changed_data_after_construction_is_refused(tmp_path):
    x, y = _rate_data(n=8, channels=2, bins=20)
    data = SpikeDataset.from_arrays(x, y, 1 * ms)
    protocol = Protocol(name="changed", dataset=data, **FAST)
    data.spiketrains[0, 0, 0] = not data.spiketrains[0, 0, 0]
    with pytest.raises(DataError, match="changed after the protocol was made"):
        run_protocol(protocol, tmp_path, progress=False, figures=False)
    assert not (tmp_path / "changed").exists() or not any((tmp_path / "changed").iterdir())


def test_protocol_runs_on_a_dataset_and_exports_to_neo(tmp_path):
    from elephant.statistics import cv2, isi, mean_firing_rate

    x, y = _rate_data(seed=3)
    dt_s = 0.5e-3
    data = SpikeDataset.from_arrays(x, y, dt_s * second, {"source": "test"})
    path = data.save(tmp_path / "data.npz")
    by_object = run_protocol(Protocol(name="obj", dataset=data, seed=2, **FAST), tmp_path / "a", progress=False,
                             figures=False)
    by_path = run_protocol(Protocol(name="path", dataset=path, seed=2, **FAST), tmp_path / "b", progress=False,
                           figures=False)
    # the same data and seeds: the same run, whichever way the data was named
    assert json.dumps(by_object.metrics["network_readout"]) == json.dumps(by_path.metrics["network_readout"])
    readout = by_path.metrics["network_readout"]
    assert (readout["n_train"], readout["n_test"]) == (30, 10) and by_path.metrics["n_samples"] == 40
    config = json.loads((by_path.directory / "config.json").read_text())
    assert config["protocol"]["dataset"]["path"] == str(path)
    assert config["protocol"]["dataset"]["sha256"] == data.content_hash() and run_dt(config) == dt_s
    assert "data set" in by_path.table

    with np.load(by_path.directory / "outputs.npz") as archive:  # the reference, read independently
        raster = np.unpackbits(archive["output_packed"], axis=-1)[..., : int(archive["n_bins"])].astype(bool)
        lzc = archive["lzc"]
    assert raster.shape == (40, 6, 200) and raster.sum() > 0
    block = outputs_to_neo(by_path.directory)
    assert block.name == by_path.directory.name and block.annotations["protocol"] == "path"
    assert len(block.segments) == 40 and all(len(seg.spiketrains) == 6 for seg in block.segments)
    assert [seg.annotations["label"] for seg in block.segments] == y.tolist()
    duration = 200 * dt_s
    checked_cv2 = 0
    for s, segment in enumerate(block.segments):
        for j, train in enumerate(segment.spiketrains):
            assert train.annotations["layer"] == "output" and train.annotations["neuron"] == j
            assert train.annotations["label"] == y[s] and train.annotations["lzc"] == lzc[s, j]
            assert float(train.t_stop - train.t_start) == pytest.approx(duration)
            rate = float(mean_firing_rate(train).rescale("Hz").magnitude)
            assert rate == pytest.approx(raster[s, j].sum() / duration, rel=1e-9)
            intervals = np.diff(np.flatnonzero(raster[s, j])) * dt_s
            if intervals.size >= 2:
                reference = np.mean(2 * np.abs(np.diff(intervals)) / (intervals[1:] + intervals[:-1]))
                assert float(cv2(isi(train))) == pytest.approx(reference, rel=1e-9, abs=1e-12)
                checked_cv2 += 1
    assert checked_cv2 > 0
    assert np.array_equal(neo_to_raster(block, dt_s * second), raster)
    assert np.array_equal(neo_to_raster(outputs_to_neo(by_path.directory / "outputs.npz"), dt_s * second), raster)


def test_sweep_with_a_dataset_axis_runs_and_resumes(tmp_path):
    x, y = _rate_data(seed=5, n=24, bins=60, dt_s=1e-3)
    first = SpikeDataset.from_arrays(x, y, 1 * ms)
    path = first.save(tmp_path / "first.npz")
    second = SpikeDataset.from_arrays(_rate_data(seed=6, n=24, bins=60, dt_s=1e-3)[0], y, 1 * ms)
    sweep = Sweep("data_axis", Protocol(name="base", **{**FAST, "batch_size": 24}),
                  axes={"dataset": [str(path), second], "seed": [0]})
    assert len(sweep.cells) == 2 and any(second.content_hash()[:12] in cell.id for cell in sweep.cells)
    json.dumps(sweep.to_dict())
    result = run_sweep(sweep, tmp_path / "out", progress=False, figures=False, workers=1)
    assert result.summary["n_finished"] == 2
    for cell in sweep.cells:
        config = json.loads((tmp_path / "out" / "data_axis" / "cells" / cell.id / "config.json").read_text())
        assert config["protocol"]["dataset"]["sha256"] == cell.protocol.to_dict()["dataset"]["sha256"]
    again = run_sweep(sweep, tmp_path / "out", progress=False, figures=False, workers=1)  # resumes
    assert again.ran == [] and again.summary["n_finished"] == 2
    # other data at the same path: the finished cell is not silently reused
    SpikeDataset.from_arrays(x[::-1].copy(), y, 1 * ms).save(path)
    changed = Sweep("data_axis", sweep.base, axes={"dataset": [str(path), second], "seed": [0]})
    with pytest.raises(ProtocolError, match="dataset"):
        run_sweep(changed, tmp_path / "out", progress=False, figures=False, workers=1)


def test_front_door_exports():
    assert brainlz.outputs_to_neo is outputs_to_neo and brainlz.neo_to_raster is neo_to_raster
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SpikeDataset.from_neo([_segment([[0.001]], 0.002, k=0)], label="k", dt=1 * ms).n_bins == 2


def test_missing_neo_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "neo", None)  # ``import neo`` now raises ImportError
    with pytest.raises(ImportError, match=r"needs neo: pip install 'neo>=0.13' 'elephant>=1.0' \(the neo extra\)"):
        raster_to_neo(np.zeros((1, 1, 2), bool), 1 * ms)
