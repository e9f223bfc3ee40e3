"""Property-based tests (hypothesis): save/load round trips of data sets and network specs, and protocol validation
that either accepts a value or refuses it in one line (issue 23, item 13; the LZ76 properties are in
``test_lzc_long.py``)."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from brian2 import Hz, ms, second
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from brainlz.data import SpikeDataset
from brainlz.errors import BrainlzError
from brainlz.models import constraint_holds, load_model, parse_constraint
from brainlz.network import NetworkSpec
from brainlz.protocol import READOUTS, Protocol

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- SpikeDataset -------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8)


@st.composite
def datasets(draw):
    shape = (draw(st.integers(0, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 40)))
    density = draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spiketrains = rng.random(shape) < density
    dtype = draw(st.sampled_from([np.int8, np.uint8, np.int32, np.uint32, np.int64]))
    labels = draw(arrays(dtype, shape[0], elements=st.integers(0, int(np.iinfo(dtype).max))))
    dt = draw(st.floats(1e-9, 10.0, allow_nan=False, allow_infinity=False)) * second
    params = draw(st.dictionaries(st.text(max_size=6), JSON, max_size=4))
    return SpikeDataset(spiketrains, labels, dt, params)


@settings(max_examples=40, **SETTINGS)
@given(datasets())
def test_spike_dataset_save_load_round_trip(dataset):
    with tempfile.TemporaryDirectory() as directory:
        path = dataset.save(Path(directory) / "data.npz")
        loaded = SpikeDataset.load(path)
    assert loaded.spiketrains.dtype == np.bool_ and loaded.spiketrains.shape == dataset.spiketrains.shape
    np.testing.assert_array_equal(loaded.spiketrains, dataset.spiketrains)
    assert loaded.labels.dtype == np.int64
    np.testing.assert_array_equal(loaded.labels, dataset.labels)
    assert float(loaded.dt) == float(dataset.dt)
    assert loaded.params == dataset.params
    if hasattr(dataset, "content_hash"):
        assert loaded.content_hash() == dataset.content_hash()


# --- NetworkSpec --------------------------------------------------------------------------------------------------

@st.composite
def network_specs(draw):
    model = draw(st.sampled_from(["lif", "meta_neuron"]))
    options = draw(st.sampled_from([{}, {"stochastic": True}])) if model == "meta_neuron" else {}
    output_model = draw(st.sampled_from([None, "lif", "meta_neuron"])) if not options else None
    spec = NetworkSpec.create(draw(st.integers(1, 6)), hidden=tuple(draw(st.lists(st.integers(1, 5), max_size=2))),
                              output=draw(st.integers(1, 5)), model=model, output_model=output_model,
                              model_options=options, dt=draw(st.sampled_from([0.1, 0.25, 1.0])) * ms,
                              seed=draw(st.integers(0, 2**32 - 1)))
    weights = [draw(arrays(np.float64, np.shape(w), elements=st.floats(-1e-6, 1e-6, allow_subnormal=False)))
               * layer.neuron_model.weight_unit for w, layer in zip(spec.weights, spec.layers)]
    spec = spec.with_weights(weights)
    for layer in spec.layers:  # per-neuron parameters anywhere in their bounds, repaired to meet the constraints
        model_spec = layer.neuron_model
        values = {}
        for name, param in model_spec.params.items():
            low, high = float(param.bounds[0]), float(param.bounds[1])
            fractions = draw(arrays(np.float64, layer.n_neurons, elements=st.floats(0.0, 1.0)))
            values[name] = low + fractions * (high - low)
        for constraint in model_spec.constraints:
            left, op, right = parse_constraint(constraint)
            if op in ("<", "<="):
                gap = 1e-3 * (float(model_spec.params[left].bounds[1]) - float(model_spec.params[left].bounds[0]))
                values[left] = np.maximum(np.minimum(values[left], values[right] - gap),
                                          float(model_spec.params[left].bounds[0]))
        for constraint in model_spec.constraints:
            left, op, right = parse_constraint(constraint)
            assume(np.all(constraint_holds(op, values[left], values[right])))
        spec = spec.with_params(layer.name, **{name: value * model_spec.params[name].unit
                                               for name, value in values.items()})
    return spec


@settings(max_examples=25, **SETTINGS)
@given(network_specs())
def test_network_spec_save_load_round_trip(spec):
    with tempfile.TemporaryDirectory() as directory:
        loaded = NetworkSpec.load(spec.save(Path(directory) / "net.npz"))
    assert loaded.structure_key() == spec.structure_key()
    assert float(loaded.dt) == float(spec.dt)
    original, again = spec.to_arrays(), loaded.to_arrays()
    assert original.keys() == again.keys()
    for key in original:
        np.testing.assert_array_equal(again[key], original[key], err_msg=key)
    for layer, other in zip(spec.layers, loaded.layers):
        assert other.neuron_model.name == layer.neuron_model.name


# --- Protocol validation ------------------------------------------------------------------------------------------

ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=12), st.binary(max_size=4),
    st.lists(st.integers(-3, 3), max_size=3), st.tuples(st.integers(), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.builds(lambda x: x * ms, st.floats()), st.builds(lambda x: x * Hz, st.floats(-1e3, 1e3)),
    arrays(np.float64, st.integers(0, 6)), st.just(np.int64(7)), st.just(np.float64("nan")),
)
INTEGER = st.integers(-5, 2000) | st.none()
PLAUSIBLE = {
    "name": st.text(max_size=24) | st.sampled_from([".", "..", "...", ".x", "a/b", "ok", "a.b", "-x", "x" * 201]),
    "task": st.sampled_from(["rate", "burst", "regular", "modulated", "digits", "colour"]),
    "difficulty": st.floats(-1, 2), "n_samples": INTEGER, "n_channels": INTEGER, "n_classes": INTEGER,
    "n_bins": INTEGER, "dt": st.builds(lambda x: x * ms, st.floats(-1, 1e3)), "task_options": st.just({}),
    "model": st.sampled_from(["lif", "meta_neuron", ""]), "model_options": st.just({}),
    "hidden": INTEGER, "output": INTEGER, "weight_scale": st.floats(-1, 1e300),
    "backend": st.sampled_from(["runtime", "standalone", "genn", "cuda", "nest"]),
    "backend_options": st.dictionaries(st.sampled_from(["target", "threads", "copies", "processes", "colour"]),
                                       st.integers(1, 4) | st.sampled_from(["numpy", "cython"]), max_size=2),
    "batch_size": INTEGER, "readout": st.sampled_from(READOUTS + ("forest",)), "include_counts": st.booleans(),
    "test_size": st.floats(0, 1), "n_test": INTEGER, "n_folds": INTEGER, "seed": INTEGER | st.integers(),
    "learning": st.fixed_dictionaries({"rule": st.sampled_from(["stdp", "tempotron", "surrogate", "hebb"])})
    | st.just({}),
    "description": st.text(max_size=20),
}


@st.composite
def protocol_fields(draw):
    names = draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), min_size=1, max_size=4, unique=True))
    return {name: draw(PLAUSIBLE[name] | ANYTHING) for name in names}


@settings(max_examples=150, **SETTINGS)
@given(protocol_fields())
def test_protocol_fields_construct_or_raise_one_line(fields):
    fields.setdefault("name", "prop")
    try:
        protocol = Protocol(**fields)
    except BrainlzError as exc:
        text = str(exc)
        assert len(text.splitlines()) == 1 and "Traceback" not in text, text
        assert text.startswith("protocol."), text
        return
    except Exception as exc:  # pragma: no cover - the property's failure
        pytest.fail(f"Protocol({fields!r}) raised {type(exc).__name__}: {exc}")
    root = Path("/results")  # a constructed protocol's name is one folder below --out
    assert (root / protocol.name).parent == root and protocol.name not in (".", "..")
    assert not protocol.name.startswith(".")
    json.dumps(protocol.to_dict())
    assert protocol.replace(seed=1).seed == 1


def test_built_in_models_used_above_exist():
    assert load_model("lif").constraints and load_model("meta_neuron").constraints
