"""CUDA backend: capability checks (no environment needed), code generation in the pinned brian2cuda environment
(built from the package registry with a Python >= 3.12; skipped only when the registry or such a Python is
unavailable; no GPU or CUDA toolkit needed) and end-to-end runs (only where an NVIDIA GPU and nvcc are present)."""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from brainlz.backends import cuda, get_backend
from brainlz.cli import main
from brainlz.errors import BrainlzError, ParameterError
from brainlz.network import NetworkSpec


def _spec(model="lif", **options):
    spec = NetworkSpec.create(5, hidden=3, output=2, model=model, model_options=options or None, seed=2)
    return spec.with_weights([w * 3 for w in spec.weights])


def _inputs(n_samples=3, n_bins=60, seed=0):
    return np.random.default_rng(seed).random((n_samples, 5, n_bins)) < 0.15


def _features(exc):
    return [feature for feature, _, _ in exc.value.blockers]


# ------------------------------------------------------------------------------------------- capability checks
def test_brainlz_models_are_supported():
    for spec in (_spec("lif"), _spec("meta_neuron"), _spec("meta_neuron", stochastic=True)):
        cuda.check_cuda_support(spec)
    cuda.check_cuda_support(_spec("meta_neuron", stochastic=True), training="stdp")
    cuda.check_cuda_support(_spec("meta_neuron"), training="tempotron", compute_capability=9.0)
    # a deterministic network draws no random numbers: relying on standalone's numbers is harmless
    cuda.check_cuda_support(_spec("lif"), features=["standalone random numbers"], training="stdp")
    assert get_backend("cuda") is cuda
    assert cuda.capabilities()["stochastic"] and not cuda.capabilities()["same_random_numbers_as_standalone"]


def test_stochastic_model_cannot_reproduce_standalone_random_numbers(tmp_path):
    spec = _spec("meta_neuron", stochastic=True)
    with pytest.raises(cuda.CudaSupportError) as exc:
        cuda.check_cuda_support(spec, features=["standalone random numbers"])
    assert _features(exc) == ["standalone random numbers"] * 2  # hidden and output layer
    message = str(exc.value)
    assert "layer 'hidden'" in message and "compare stochastic models" in message
    assert len(message.splitlines()) == 1 and isinstance(exc.value, BrainlzError)
    with pytest.raises(cuda.CudaSupportError) as exc:
        cuda.check_cuda_support(spec, features=["standalone random numbers"], training="stdp")
    assert _features(exc) == ["standalone random numbers"] * 3 and "brian2.seed(seed)" in str(exc.value)
    # refused before anything is written, even without an environment
    with pytest.raises(cuda.CudaSupportError):
        cuda.simulate(spec, _inputs(), directory=tmp_path / "run", env=tmp_path / "no-env",
                      features=["standalone random numbers"])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("feature", sorted(set(cuda.CUDA_EXCLUSIONS) - {"standalone random numbers"}))
def test_requested_features_are_refused(feature):
    with pytest.raises(cuda.CudaSupportError) as exc:
        cuda.check_cuda_support(_spec(), features=[feature])
    assert _features(exc) == [feature]
    assert cuda.CUDA_EXCLUSIONS[feature][1] in str(exc.value)
    assert "brian2cuda" in cuda.CUDA_EXCLUSIONS[feature][0]  # every exclusion names its source


def test_platform_and_compute_capability():
    with pytest.raises(cuda.CudaSupportError) as exc:
        cuda.check_cuda_support(_spec(), platform="nt", compute_capability=3.5)
    assert _features(exc) == ["windows", "compute capability below 5.0"]
    assert "compute_capability = 3.5" in str(exc.value)
    with pytest.raises(cuda.CudaSupportError, match="compute capability below 5.0"):
        cuda.simulate(_spec(), _inputs(), compute_capability=3.0, codegen_only=True)


def test_unknown_names_raise_parameter_errors(tmp_path):
    with pytest.raises(ParameterError, match="features = 'teleportation'"):
        cuda.check_cuda_support(_spec(), features=["teleportation"])
    with pytest.raises(ParameterError, match="training = 'hebb'"):
        cuda.check_cuda_support(_spec(), training="hebb")
    with pytest.raises(ParameterError, match="compute_capability"):
        cuda.check_cuda_support(_spec(), compute_capability="sm_80")
    with pytest.raises(ParameterError, match="gpu_id"):
        cuda.simulate(_spec(), _inputs(), env=tmp_path, gpu_id=-1)


def test_missing_environment_is_one_clear_error(tmp_path):
    with pytest.raises(cuda.CudaEnvError, match="brainlz env cuda --path"):
        cuda.simulate(_spec(), _inputs(), env=tmp_path / "nowhere", codegen_only=True)


def test_default_env_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINLZ_CUDA_ENV", str(tmp_path / "e"))
    assert cuda.default_env_path() == tmp_path / "e"
    monkeypatch.delenv("BRAINLZ_CUDA_ENV")
    assert cuda.default_env_path() == Path.home() / ".cache" / "brainlz" / "envs" / "cuda"


def test_find_python_names_what_it_searched(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINLZ_CUDA_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(cuda.CudaEnvError, match="BRAINLZ_CUDA_PYTHON=.*does not run") as exc:
        cuda.find_python()
    assert exc.value.python_missing
    monkeypatch.setenv("BRAINLZ_CUDA_PYTHON", sys.executable)
    monkeypatch.setattr(cuda, "MIN_PYTHON", (99, 0))
    with pytest.raises(cuda.CudaEnvError, match=r"is Python 3\.\d+\.\d+; brian2cuda 1.0b1 needs Python >= 99.0"):
        cuda.find_python()
    monkeypatch.delenv("BRAINLZ_CUDA_PYTHON")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    with pytest.raises(cuda.CudaEnvError) as exc:
        cuda.find_python()
    message = str(exc.value)
    assert exc.value.python_missing and "no Python >= 99.0" in message and "python3.12 (not on PATH)" in message
    assert f"{tmp_path}/pyenv/versions/3.12*/bin/python3 (none)" in message and "BRAINLZ_CUDA_PYTHON" in message


# ---------------------------------------------------------------------------- code generation (pinned env)
@pytest.fixture(scope="session")
def cuda_env():
    """The pinned environment, built from the registry like ``brainlz env cuda`` (reused when it exists)."""
    try:
        return cuda.create_env(log=lambda line: None)
    except cuda.CudaEnvError as exc:
        if exc.registry_unreachable:
            pytest.skip(f"the package registry is unreachable, cannot build the brian2cuda environment: {exc}")
        if exc.python_missing:
            pytest.skip(f"no Python >= 3.12 to build the brian2cuda environment with: {exc}")
        raise


def test_env_command_is_idempotent(cuda_env, capsys, monkeypatch):
    assert main(["env", "cuda", "--path", str(cuda_env)]) == 0
    out = capsys.readouterr().out
    assert "reusing it" in out and "brian2 2.10.1" in out and "brian2cuda 1.0b1" in out
    marker = (cuda_env / cuda.MARKER).read_text()
    assert all(pin in marker for pin in cuda.PINS)
    # the environment's interpreter qualifies as a Python >= 3.12 for find_python
    monkeypatch.setenv("BRAINLZ_CUDA_PYTHON", str(cuda.env_python(cuda_env)))
    assert cuda.find_python().name.startswith("python")


def _project(directory, batch=0):
    return Path(directory) / f"batch_{batch:03d}" / "project"


def _code(directory, name, batch=0):
    return (_project(directory, batch) / "code_objects" / f"{name}.cu").read_text()


def _static(directory, name):
    return np.fromfile(_project(directory) / "static_arrays" / name, dtype=np.float64)


def test_codegen_lif_network(cuda_env, tmp_path):
    spec = _spec("lif")
    tau = np.linspace(10, 30, 3 * 3).reshape(3, 3) * 1e-3  # per-copy tau_m of the hidden layer [samples, n]
    result = cuda.simulate(spec, _inputs(), env=cuda_env, directory=tmp_path, codegen_only=True, record_hidden=True,
                           trace=("output", 1, 0), copy_params={"hidden": {"tau_m": tau}})
    assert result.backend == "cuda" and result.output.shape == (3, 2, 60) and not result.output.any()
    assert result.hidden["hidden"].shape == (3, 3, 60) and result.n_builds == 1
    project = _project(tmp_path)
    assert {"main.cu", "objects.cu", "network.cu", "makefile"} <= {f.name for f in project.iterdir()}
    for layer, n in (("hidden", 9), ("output", 6)):
        update = _code(tmp_path, f"{layer}_stateupdater_codeobject")
        for variable in ("v", "I_syn"):  # state variables, read and written back
            assert f"double {variable} = _ptr_array_{layer}_{variable}[_idx];" in update
            assert f"_ptr_array_{layer}_{variable}[_idx] = {variable};" in update
        for parameter in ("tau_m", "tau_syn", "E_L", "R"):  # per-neuron parameters, not constants
            assert f"const double {parameter} = _ptr_array_{layer}_{parameter}[_idx];" in update
            assert f"const int _num{parameter} = {n};" in update
        assert "_brian_exp(1.0f*_lio_1/tau_syn)" in update  # exponential Euler of I_syn
        threshold = _code(tmp_path, f"{layer}_spike_thresholder_codeobject")
        assert f"const double V_th = _ptr_array_{layer}_V_th[_idx];" in threshold and "(v > V_th)" in threshold
        reset = _code(tmp_path, f"{layer}_spike_resetter_codeobject")
        assert f"const double V_reset = _ptr_array_{layer}_V_reset[_idx];" in reset and "v = V_reset;" in reset
        assert f"_ptr_array_{layer}_v[_idx] = v;" in reset
    on_pre = _code(tmp_path, "syn_1_output_pre_codeobject")
    assert "_brian_atomicAdd(&_ptr_array_output_I_syn[_postsynaptic_idx], (double)(w));" in on_pre
    main_code = (project / "main.cu").read_text()
    assert "_array_defaultclock_dt[0] = 0.001;" in main_code and "trace_codeobject" in main_code
    # values travel as static arrays: per-copy tau_m, per-neuron V_th tiled, the weights tiled over the 3 copies
    assert np.allclose(_static(tmp_path, "_static_array__array_hidden_tau_m"), tau.ravel())
    assert np.allclose(_static(tmp_path, "_static_array__array_output_V_th"),
                       np.tile(np.asarray(spec.output.params["V_th"]), 3))
    assert np.allclose(_static(tmp_path, "_static_array__dynamic_array_syn_1_output_w"),
                       np.tile(np.asarray(spec.weights[1]).ravel(), 3))
    assert "compute capability 8.0" in (tmp_path / "batch_000" / "worker.log").read_text()


def test_codegen_stochastic_meta_neuron(cuda_env, tmp_path):
    result = cuda.simulate(_spec("meta_neuron", stochastic=True), _inputs(2, 40), env=cuda_env, directory=tmp_path,
                           codegen_only=True, batch_size=1, seed=7, compute_capability=9.0)
    assert result.n_builds == 2 and (_project(tmp_path, 1) / "main.cu").exists()
    on_pre = _code(tmp_path, "syn_1_output_pre_codeobject")  # one Synapses object writes both targets
    assert "_ptr_array_output_I_syn[_postsynaptic_idx]" in on_pre
    assert "_ptr_array_output_I_abs[_postsynaptic_idx]" in on_pre
    threshold = _code(tmp_path, "output_spike_thresholder_codeobject")
    assert "const double theta = _ptr_array_output_theta[_idx];" in threshold and "rand" in threshold
    assert "theta += delta_theta;" in _code(tmp_path, "output_spike_resetter_codeobject")
    assert "random_number_buffer.set_seed(7ULL);" in (_project(tmp_path) / "main.cu").read_text()
    assert "compute capability 9.0" in (tmp_path / "batch_000" / "worker.log").read_text()


# ------------------------------------------------------------------------------ end to end (needs a GPU)
HAS_GPU = shutil.which("nvidia-smi") is not None
HAS_NVCC = bool(shutil.which("nvcc") or os.environ.get("CUDA_PATH"))


@pytest.mark.skipif(not (HAS_GPU and HAS_NVCC), reason="needs an NVIDIA GPU (nvidia-smi) and the CUDA toolkit (nvcc "
                                                        "on PATH or CUDA_PATH) to compile and run brian2cuda")
def test_cuda_matches_standalone(cuda_env, tmp_path, standalone_dir):
    spec = _spec("lif")
    x = _inputs(4, 200, seed=5)
    reference = get_backend("standalone").simulate(spec, x, record_hidden=True, directory=standalone_dir)
    result = cuda.simulate(spec, x, env=cuda_env, directory=tmp_path, record_hidden=True, batch_size=2,
                           trace=("output", 3, 1), timeout=900)
    assert reference.output.any() and reference.hidden["hidden"].any()
    np.testing.assert_array_equal(result.output, reference.output)
    np.testing.assert_array_equal(result.hidden["hidden"], reference.hidden["hidden"])
    assert result.trace is not None and result.trace["v"].shape == (200,)
