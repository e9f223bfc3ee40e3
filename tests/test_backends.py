"""Simulation backends: closed forms, an independent numpy reference, batching and cross-backend parity."""

import numpy as np
import pytest
from brian2 import mV, ms, nA, pA

from brainlz.backends import runtime, simulate, standalone
from brainlz.errors import DataError, ParameterError
from brainlz.network import NetworkSpec
from reference import simulate_reference


def _inputs(rng, n_samples, n_inputs, n_bins, p=0.03):
    return rng.random((n_samples, n_inputs, n_bins)) < p


def _spec(model="lif", n_inputs=12, hidden=6, output=5, seed=3, scale=1.5):
    spec = NetworkSpec.create(n_inputs, hidden=hidden, output=output, model=model, seed=seed)
    return spec.with_weights([w * scale for w in spec.weights])


def test_lif_psp_matches_closed_form():
    """One input spike into one LIF neuron: the membrane follows the alpha-like closed form."""
    dt = 0.01 * ms
    spec = NetworkSpec.create(1, hidden=0, output=1, dt=dt, weight_mean=100 * pA, weight_std=0 * pA)
    n_bins = 3000
    x = np.zeros((1, 1, n_bins), dtype=bool)
    x[0, 0, 100] = True
    res = runtime.simulate(spec, x, target="numpy", trace=("output", 0, 0))
    t = res.trace["t"]
    p = {k: float(np.asarray(v)[0]) for k, v in spec.output.params.items()}
    w = float(np.asarray(spec.weights[0])[0, 0])
    s = np.clip(t - 100 * float(dt), 0, None)
    tm, ts = p["tau_m"], p["tau_syn"]
    expected = p["E_L"] + p["R"] * w * ts / (tm - ts) * (np.exp(-s / tm) - np.exp(-s / ts))
    # exponential Euler holds I_syn over a step: error O(dt / tau_syn) of the PSP amplitude
    amplitude = np.max(expected - p["E_L"])
    assert amplitude > 1e-3  # a PSP of more than 1 mV
    assert np.max(np.abs(res.trace["v"] - expected)) < 0.01 * amplitude
    assert not res.output.any()


@pytest.mark.parametrize("target", ["numpy", "cython"])
def test_trace_outlives_its_network(rng, target):
    """The trace is brainlz's own copy: it stays right after Brian2 has freed the monitor it came from.

    Brian2 >= 2.10 returns monitor arrays as views of C++ memory that is freed with the monitor; a view kept past
    the network read garbage in its first elements (the quickstart's membrane-trace figure then failed with
    ``trace.t: expected ... increasing times``).  Allocating after a collection reuses the freed memory.
    """
    import gc

    spec = _spec("lif", scale=3.0)
    x = _inputs(rng, 3, 12, 400, p=0.05)
    res = runtime.simulate(spec, x, target=target, trace=("output", 1, 2))
    gc.collect()
    churn = [np.full(400, 7.0) for _ in range(2000)]  # reuse the freed blocks
    np.testing.assert_array_equal(res.trace["t"], np.arange(400) * float(spec.dt))
    again = runtime.simulate(spec, x[1:2], target=target, trace=("output", 0, 2))
    assert np.ptp(again.trace["v"]) > 1e-3  # the membrane moves: a trace that differs is visible
    np.testing.assert_array_equal(res.trace["v"], again.trace["v"])
    assert churn[0][0] == 7.0


def test_lif_matches_numpy_reference(rng):
    spec = _spec("lif")
    x = _inputs(rng, 8, 12, 300)
    res = runtime.simulate(spec, x, target="numpy", record_hidden=True)
    hidden_ref, output_ref = simulate_reference(spec, x)
    assert output_ref.sum() > 20 and hidden_ref.sum() > 20  # the network is active
    np.testing.assert_array_equal(res.hidden["hidden"], hidden_ref)
    np.testing.assert_array_equal(res.output, output_ref)


def test_meta_neuron_matches_numpy_reference(rng):
    spec = _spec("meta_neuron", scale=2.0)
    spec = spec.with_params("output", I_half=0.2 * nA, delta_theta=4 * mV)
    x = _inputs(rng, 6, 12, 300)
    res = runtime.simulate(spec, x, target="numpy", record_hidden=True)
    hidden_ref, output_ref = simulate_reference(spec, x)
    assert output_ref.sum() > 10
    np.testing.assert_array_equal(res.hidden["hidden"], hidden_ref)
    np.testing.assert_array_equal(res.output, output_ref)


def test_adaptation_and_conductance_act(rng):
    """Threshold adaptation lowers the rate; a shorter effective tau changes the output."""
    spec = _spec("meta_neuron", scale=2.0)
    x = _inputs(rng, 4, 12, 400, p=0.05)
    weak = runtime.simulate(spec.with_params("output", delta_theta=0 * mV), x, target="numpy").output.sum()
    strong = runtime.simulate(spec.with_params("output", delta_theta=10 * mV), x, target="numpy").output.sum()
    assert strong < 0.8 * weak


@pytest.mark.parametrize("model", ["lif", "meta_neuron"])
def test_sample_alone_equals_sample_in_batch(rng, model):
    spec = _spec(model)
    x = _inputs(rng, 7, 12, 250)
    batch = runtime.simulate(spec, x, target="numpy")
    for k in (0, 3, 6):
        alone = runtime.simulate(spec, x[k:k + 1], target="numpy")
        np.testing.assert_array_equal(alone.output[0], batch.output[k])
    chunked = runtime.simulate(spec, x, target="numpy", batch_size=3)
    np.testing.assert_array_equal(chunked.output, batch.output)


def test_tau_of_one_neuron_changes_only_that_neuron(rng):
    spec = _spec("lif", output=6)
    x = _inputs(rng, 5, 12, 400)
    base = runtime.simulate(spec, x, target="numpy", record_hidden=True)
    tau = np.asarray(spec.output.params["tau_m"]).copy()
    tau[2] = 0.005
    changed = runtime.simulate(spec.with_params("output", tau_m=tau * 1000 * ms), x, target="numpy",
                               record_hidden=True)
    np.testing.assert_array_equal(changed.hidden["hidden"], base.hidden["hidden"])
    others = [k for k in range(6) if k != 2]
    np.testing.assert_array_equal(changed.output[:, others], base.output[:, others])
    assert not np.array_equal(changed.output[:, 2], base.output[:, 2])


# the meta-neuron variant costs a second cold Cython compilation in a fresh environment (~60 s): slow; the
# meta-neuron on standalone is compared with numpy by tests/test_invariants.py in the default run
@pytest.mark.parametrize("model", ["lif", pytest.param("meta_neuron", marks=pytest.mark.slow)])
def test_numpy_cython_standalone_identical(rng, model, standalone_dir):
    spec = _spec(model)
    x = _inputs(rng, 6, 12, 300)
    ref = runtime.simulate(spec, x, target="numpy", record_hidden=True)
    cy = runtime.simulate(spec, x, target="cython", record_hidden=True)
    sa = standalone.simulate(spec, x, record_hidden=True, directory=standalone_dir)
    assert ref.output.sum() > 10
    for other in (cy, sa):
        np.testing.assert_array_equal(other.output, ref.output)
        np.testing.assert_array_equal(other.hidden["hidden"], ref.hidden["hidden"])


def test_standalone_reruns_without_recompiling(rng, standalone_dir):
    """New inputs, weights and intrinsic parameters reach the compiled program through run_args."""
    spec = _spec("lif", seed=11)
    x = _inputs(rng, 5, 12, 300)
    first = standalone.simulate(spec, x, directory=standalone_dir, batch_size=5)
    builds = standalone.build_count()
    spec2 = _spec("lif", seed=12, scale=2.0).with_params("hidden", tau_m=np.linspace(5, 40, 6) * ms,
                                                         V_th=-52 * mV)
    x2 = _inputs(rng, 5, 12, 300, p=0.04)
    second = standalone.simulate(spec2, x2, directory=standalone_dir, batch_size=5)
    assert standalone.build_count() == builds and second.n_builds == 0
    expected = runtime.simulate(spec2, x2, target="numpy").output
    np.testing.assert_array_equal(second.output, expected)
    assert not np.array_equal(second.output, first.output)
    # fewer samples than the compiled batch: padded, same program, same answer per sample
    third = standalone.simulate(spec2, x2[:2], directory=standalone_dir, batch_size=5)
    assert third.n_builds == 0
    np.testing.assert_array_equal(third.output, expected[:2])


def test_standalone_trace_matches_runtime(rng, standalone_dir):
    spec = _spec("lif")
    x = _inputs(rng, 3, 12, 200)
    a = runtime.simulate(spec, x, target="numpy", trace=("output", 2, 1))
    b = standalone.simulate(spec, x, trace=("output", 2, 1), directory=standalone_dir)
    np.testing.assert_allclose(b.trace["v"], a.trace["v"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b.output, a.output)


def test_stochastic_meta_neuron_is_seeded(rng):
    spec = NetworkSpec.create(12, hidden=0, output=8, model="meta_neuron", model_options={"stochastic": True},
                              seed=1)
    x = _inputs(rng, 3, 12, 300, p=0.05)
    a = runtime.simulate(spec, x, target="numpy", seed=5).output
    b = runtime.simulate(spec, x, target="numpy", seed=5).output
    c = runtime.simulate(spec, x, target="numpy", seed=6).output
    assert a.sum() > 0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_inputs_raise_clear_errors(rng):
    spec = _spec("lif")
    with pytest.raises(DataError, match="12"):
        runtime.simulate(spec, _inputs(rng, 2, 10, 50), target="numpy")
    with pytest.raises(DataError, match="3-D"):
        runtime.simulate(spec, np.zeros((12, 50), dtype=bool), target="numpy")
    with pytest.raises(DataError, match="binary"):
        runtime.simulate(spec, np.full((1, 12, 50), 2), target="numpy")
    with pytest.raises(ParameterError, match="target"):
        runtime.simulate(spec, _inputs(rng, 1, 12, 50), target="fortran")
    with pytest.raises(ParameterError, match="backend"):
        simulate(spec, _inputs(rng, 1, 12, 50), backend="gpu")
    with pytest.raises(ParameterError, match="trace.neuron"):
        runtime.simulate(spec, _inputs(rng, 1, 12, 50), target="numpy", trace=("output", 0, 99))
    with pytest.raises(ParameterError, match="batch_size"):
        runtime.simulate(spec, _inputs(rng, 1, 12, 50), target="numpy", batch_size=0)


# the meta-neuron variant compiles a second program (~20 s): slow; the hoisting test runs the meta-neuron on
# standalone against numpy in the default run
@pytest.mark.parametrize("model", ["lif", pytest.param("meta_neuron", marks=pytest.mark.slow)])
def test_standalone_periods_equal_parallel_copies(rng, model, standalone_dir):
    """copies < batch: samples one after another in time, every neuron reset between periods; same rasters."""
    spec = _spec(model, seed=5)
    x = _inputs(rng, 11, 12, 250, p=0.05)
    x[3, :, -3:] = True  # sample 3 ends on a volley (copy 0, period 1): nothing may leak into sample 6
    ref = runtime.simulate(spec, x, target="numpy", record_hidden=True, trace=("hidden", 7, 2))
    per = standalone.simulate(spec, x, copies=3, batch_size=8, record_hidden=True, trace=("hidden", 7, 2),
                              directory=standalone_dir)
    assert ref.output.sum() > 20 and ref.hidden["hidden"][3, :, -2:].any()
    np.testing.assert_array_equal(per.output, ref.output)
    np.testing.assert_array_equal(per.hidden["hidden"], ref.hidden["hidden"])
    np.testing.assert_allclose(per.trace["v"], ref.trace["v"], rtol=0, atol=1e-12)
    assert per.trace["v"].shape == (250,)


def test_standalone_processes_split_the_batch(rng, standalone_dir):
    """processes > 1: parts of every batch run by concurrent instances of one program, each reading its own
    results; uneven parts, periods, the trace and per-sample parameters land where they belong."""
    spec = _spec("lif", seed=9)
    x = _inputs(rng, 11, 12, 200, p=0.05)
    params = {"hidden": {"tau_m": np.linspace(0.008, 0.04, 11 * 6).reshape(11, 6)}}
    ref = runtime.simulate(spec, x, target="numpy", record_hidden=True, trace=("output", 9, 1), copy_params=params)
    assert ref.output.sum() > 20
    split = standalone.simulate(spec, x, processes=3, record_hidden=True, trace=("output", 9, 1),
                                copy_params=params, directory=standalone_dir)  # parts of 4, 4, 3
    np.testing.assert_array_equal(split.output, ref.output)
    np.testing.assert_array_equal(split.hidden["hidden"], ref.hidden["hidden"])
    np.testing.assert_allclose(split.trace["v"], ref.trace["v"], rtol=0, atol=1e-12)
    plain = runtime.simulate(spec, x, target="numpy")
    batched = standalone.simulate(spec, x, processes=2, copies=2, batch_size=8, directory=standalone_dir)
    np.testing.assert_array_equal(batched.output, plain.output)  # 2 rounds of 2 parts of 4, 2 periods each
    done = []
    standalone.simulate(spec, x, processes=2, copies=2, batch_size=8, directory=standalone_dir,
                        progress=lambda n, total: done.append((n, total)))
    assert done == [(8, 11), (11, 11)]
    for bad in (0, 1.5, True):
        with pytest.raises(ParameterError, match="processes"):
            standalone.simulate(spec, x, processes=bad, directory=standalone_dir)


def test_standalone_copies_errors(rng, standalone_dir):
    spec = _spec("lif")
    x = _inputs(rng, 4, 12, 50)
    with pytest.raises(ParameterError, match="copies"):
        standalone.simulate(spec, x, copies=0, directory=standalone_dir)
    params = {"hidden": {"tau_m": np.full((4, 6), 0.02)}}
    with pytest.raises(ParameterError, match="copies.*copy_params"):
        standalone.simulate(spec, x, copies=2, copy_params=params, directory=standalone_dir)


@pytest.mark.slow  # two compilations (~45 s); every other standalone test runs with the vectorising flags
def test_vectorized_standalone_flags(rng, standalone_dir, monkeypatch):
    """Vectorised state updates only where safe; a compiler that rejects the flags falls back to Brian2's."""
    from brainlz.models import load_model

    lif = load_model("lif")
    assert standalone.vectorizing_flags([load_model("meta_neuron", stochastic=True)]) is None  # clips at -inf
    monkeypatch.setenv("BRAINLZ_VECTORIZE", "0")
    assert standalone.vectorizing_flags([lif]) is None
    monkeypatch.delenv("BRAINLZ_VECTORIZE")
    if not standalone._have_vector_math():
        pytest.skip("no glibc vector math library (libmvec) on this machine: Brian2's flags are used")
    flags = standalone.vectorizing_flags([lif])
    assert "-fno-finite-math-only" not in flags["extra_compile_args_gcc"] and "mvec" in flags["libraries"]
    spec = _spec("lif", seed=21)
    x = _inputs(rng, 4, 12, 170)
    expected = runtime.simulate(spec, x, target="numpy").output
    vectorized = standalone.simulate(spec, x, directory=standalone_dir)
    makefile = (next(reversed(standalone._STATE["programs"].values())).directory / "makefile").read_text()
    assert "-lmvec" in makefile and "vect-max-version-for-alias-checks" in makefile
    assert "-fno-finite-math-only" not in makefile
    np.testing.assert_array_equal(vectorized.output, expected)
    # a build that fails with the flags (here: a library the linker cannot find) is redone with Brian2's own
    monkeypatch.setattr(standalone, "_VECTOR_LIBRARY", "brainlz_no_such_library")
    fallbacks = standalone._STATE["fallbacks"]
    fallback = standalone.simulate(spec, x[:, :, :160], directory=standalone_dir)
    assert standalone._STATE["fallbacks"] == fallbacks + 1
    makefile = (next(reversed(standalone._STATE["programs"].values())).directory / "makefile").read_text()
    assert "-fno-finite-math-only" in makefile and "-lmvec" not in makefile
    np.testing.assert_array_equal(fallback.output, expected[:, :, :160])
