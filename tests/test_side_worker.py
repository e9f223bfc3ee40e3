"""The run folder the GeNN and CUDA backends hand their worker scripts (``brainlz.backends.side_worker``).

The whole path (folder written, worker run in its side environment, spikes read back and compared with the
standalone backend) is tested in test_genn.py (compiled and run with GeNN on the CPU) and test_cuda.py (code
generation; compiled and run where a GPU is); here are the pieces, against brute-force references.
"""

import sys

import numpy as np
import pytest

from brainlz.backends.side_worker import batch_arrays, input_events, run_worker
from brainlz.network import NetworkSpec


class WorkerFailed(RuntimeError):
    pass


def test_input_events_are_the_batch_spikes_sorted_by_time_then_neuron():
    rng = np.random.default_rng(0)
    x = rng.random((5, 7, 50)) < 0.2
    indices, steps = input_events(x, 1, 4)
    rebuilt = np.zeros((3, 7, 50), dtype=bool)
    rebuilt[indices // 7, indices % 7, steps] = True
    assert indices.size == x[1:4].sum() == np.unique(steps * 21 + indices).size  # every spike once
    np.testing.assert_array_equal(rebuilt, x[1:4])
    assert np.all(np.diff(steps * 21 + indices) > 0)  # by time bin, then input neuron
    assert indices.dtype == steps.dtype == np.int64


def test_batch_arrays_tile_shared_values_and_pad_per_sample_ones_with_the_last_sample():
    spec = NetworkSpec.create(4, hidden=3, output=2, seed=1)
    weights = {f"weights_{k}": np.asarray(w, dtype=float) for k, w in enumerate(spec.weights)}
    shared_v_th = np.asarray(spec.layer("hidden").params["V_th"], dtype=float)
    e_l = np.asarray(spec.layer("hidden").params["E_L"], dtype=float)
    per_sample = {"hidden": {"E_L": e_l + 1e-3 * np.arange(5)[:, None]}}  # sample s: E_L + s mV
    arrays = batch_arrays(spec, weights, per_sample, 1, 3, n_copies=4)  # samples 1, 2 and two padding copies
    for key, value in weights.items():
        assert arrays[key] is value
    np.testing.assert_array_equal(arrays["param_hidden_V_th"], np.tile(shared_v_th, 4))
    expected_e_l = np.concatenate([e_l + 1e-3 * s for s in (1, 2, 2, 2)])
    np.testing.assert_allclose(arrays["param_hidden_E_L"], expected_e_l)
    np.testing.assert_allclose(arrays["state_hidden_v"], expected_e_l)  # v starts at E_L, copy by copy
    np.testing.assert_array_equal(arrays["state_hidden_I_syn"], np.zeros(12))
    assert arrays["param_output_E_L"].shape == (8,)
    unpadded = batch_arrays(spec, weights, per_sample, 1, 3)
    np.testing.assert_allclose(unpadded["param_hidden_E_L"], expected_e_l[:6])


def _worker(tmp_path, code):
    script = tmp_path / "worker.py"
    script.write_text(code)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return script, run_dir


def test_run_worker_sets_the_environment_and_keeps_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLZ_TEST_UNSET", "kept")
    script, run_dir = _worker(tmp_path, "import os, sys, pathlib\nprint('working')\n"
                                        "pathlib.Path(sys.argv[1], 'out.txt').write_text("
                                        "os.environ['BRAINLZ_TEST_SET'] + os.environ['BRAINLZ_TEST_UNSET'])\n")
    run_worker(sys.executable, script, run_dir, timeout=60, error=WorkerFailed, name="test",
               environment={"BRAINLZ_TEST_SET": 7, "BRAINLZ_TEST_UNSET": None})
    assert (run_dir / "out.txt").read_text() == "7kept"
    assert (run_dir / "worker.log").read_text() == "working\n"


def test_run_worker_failure_and_timeout_are_one_line_naming_the_log(tmp_path):
    script, run_dir = _worker(tmp_path, "import sys\nprint('building')\nsys.exit('GeNN said: no such symbol x')\n")
    with pytest.raises(WorkerFailed, match=r"^the test worker failed: GeNN said: no such symbol x \(log: .*worker"
                                           r"\.log\)$"):
        run_worker(sys.executable, script, run_dir, timeout=60, error=WorkerFailed, name="test", environment={})
    (tmp_path / "slow").mkdir()
    script, run_dir = _worker(tmp_path / "slow", "import time\ntime.sleep(60)\n")
    with pytest.raises(WorkerFailed, match=r"^the test worker timed out after 0.5 s \(log: .*worker\.log\)$"):
        run_worker(sys.executable, script, run_dir, timeout=0.5, error=WorkerFailed, name="test", environment={})


def test_side_environments_install_and_probe_in_isolated_mode(tmp_path, monkeypatch):
    """pip and the import probe run with ``-I`` as the workers do: a PYTHONPATH holding another Brian2 neither
    satisfies the pins nor ends up in the marker (it recorded brian2 2.10.1 for an environment holding 2.5.4)."""
    import json

    from brainlz.backends.side_env import MARKER, install_pins

    calls = tmp_path / "calls.txt"
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncase "$*" in *" -c "*) echo \'{{"brian2": "2.5.4"}}\';; esac\n')
    exe.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "other-brian2"))
    installed = install_pins(tmp_path, exe, ["brian2==2.5.4"], "print(versions)", label="test", error=WorkerFailed,
                             log=lambda line: None, timeout=60, start=0.0)
    assert installed == {"brian2": "2.5.4"}
    lines = calls.read_text().splitlines()
    assert [line.split()[:3] for line in lines] == [["-I", "-m", "pip"], ["-I", "-c", "print(versions)"]]
    assert json.loads((tmp_path / MARKER).read_text())["installed"] == {"brian2": "2.5.4"}
