"""Model lookup (issue 23.12): ``./models`` cannot replace a built-in model; a saved network checks its model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from brainlz.errors import DataError, ParameterError
from brainlz.models import builtin_dir, find_model_file, load_model
from brainlz.network import NetworkSpec

BUILTIN_LIF = builtin_dir("models") / "lif.py"


def _changed_lif(marker=None) -> str:
    """The built-in LIF with a faster synaptic decay (and, with ``marker``, a file written when it runs)."""
    source = BUILTIN_LIF.read_text()
    changed = source.replace("dI_syn/dt = -I_syn / tau_syn : amp", "dI_syn/dt = -2 * I_syn / tau_syn : amp")
    assert changed != source
    if marker is not None:
        changed += f"\nopen({str(marker)!r}, 'w').close()\n"
    return changed


def _touch_later(path):
    """Give ``path`` a new modification time, so that the model cache sees the new content."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def shadowing_cwd(tmp_path, monkeypatch):
    """A current folder whose ./models/lif.py differs from the built-in LIF and records that it ran."""
    monkeypatch.delenv("BRAINLZ_MODEL_PATH", raising=False)
    (tmp_path / "models").mkdir()
    marker = tmp_path / "ran"
    (tmp_path / "models" / "lif.py").write_text(_changed_lif(marker))
    monkeypatch.chdir(tmp_path)
    return tmp_path, marker


def test_cwd_models_do_not_replace_a_builtin_model(shadowing_cwd):
    cwd, marker = shadowing_cwd
    expected = (r"^model = 'lif': .*models/lif.py differs from the built-in model 'lif' and does not replace it; "
                r"to use it, set BRAINLZ_MODEL_PATH=")
    with pytest.raises(ParameterError, match=expected) as info:
        load_model("lif")
    assert "\n" not in str(info.value) and str(cwd / "models") in str(info.value)
    assert not marker.exists()  # the user's file never ran
    # the built-in meta-neuron, built on the built-in LIF, is not affected
    assert load_model("meta_neuron").params["tau_syn"] == load_model(BUILTIN_LIF).params["tau_syn"]
    assert not marker.exists()


def test_brainlz_models_does_not_run_the_cwd_file(shadowing_cwd):
    cwd, marker = shadowing_cwd
    env = {key: value for key, value in os.environ.items() if key != "BRAINLZ_MODEL_PATH"}
    out = subprocess.run([sys.executable, "-m", "brainlz.cli", "models"], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "lif: cannot load (model = 'lif': " in out.stdout and "differs from the built-in model" in out.stdout
    assert "meta_neuron: Meta-neuron" in out.stdout
    assert not marker.exists()


def test_identical_copy_and_new_names_in_cwd_models_are_fine(tmp_path, monkeypatch):
    monkeypatch.delenv("BRAINLZ_MODEL_PATH", raising=False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "lif.py").write_bytes(BUILTIN_LIF.read_bytes())  # e.g. a checkout of this repository
    (tmp_path / "models" / "slow_lif.py").write_text(_changed_lif())          # a model of the user's own
    monkeypatch.chdir(tmp_path)
    assert find_model_file("lif") == BUILTIN_LIF.resolve()
    assert find_model_file("slow_lif") == (tmp_path / "models" / "slow_lif.py").resolve()
    assert load_model("slow_lif").fingerprint() != load_model("lif").fingerprint()


def test_model_path_or_file_path_opts_in(shadowing_cwd, monkeypatch):
    cwd, marker = shadowing_cwd
    by_path = load_model("models/lif.py")  # a file path as the model (e.g. Protocol(model="models/lif.py"))
    assert marker.exists() and "-2 * I_syn" in by_path.equations
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", str(cwd / "models"))
    assert find_model_file("lif") == (cwd / "models" / "lif.py").resolve()
    assert load_model("lif").fingerprint() == by_path.fingerprint() != load_model(BUILTIN_LIF).fingerprint()
    spec = NetworkSpec.create(4, hidden=0, output=3, model="models/lif.py", seed=0)
    assert spec.output.model == "models/lif.py" and "-2 * I_syn" in spec.output.neuron_model.equations
    with pytest.raises(ParameterError, match="^model = 'models/nothing.py': no such model file"):
        load_model("models/nothing.py")


def test_fingerprint_follows_the_dynamics_not_the_text():
    lif = load_model("lif")
    import dataclasses

    assert dataclasses.replace(lif, doc="other", name="renamed").fingerprint() == lif.fingerprint()
    spaced = dataclasses.replace(lif, equations="\n\n" + lif.equations.replace(" : ", "  :  "))
    assert spaced.fingerprint() == lif.fingerprint()
    assert dataclasses.replace(lif, reset="v = E_L").fingerprint() != lif.fingerprint()
    assert load_model("meta_neuron", stochastic=True).fingerprint() != load_model("meta_neuron").fingerprint()


def test_loaded_network_checks_its_model(tmp_path, monkeypatch):
    directory = tmp_path / "mine"
    directory.mkdir()
    model_file = directory / "my_lif.py"
    model_file.write_text(BUILTIN_LIF.read_text())
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", str(directory))
    spec = NetworkSpec.create(6, hidden=5, output=3, model="my_lif", seed=0)
    path = spec.save(tmp_path / "network.npz")
    with np.load(path) as data:
        header = json.loads(str(data["header"]))
    assert [layer["model_hash"] for layer in header["layers"]] == [load_model("my_lif").fingerprint()] * 2
    np.testing.assert_array_equal(NetworkSpec.load(path).weights[0], spec.weights[0])  # unchanged model: loads

    model_file.write_text(_changed_lif())  # the model's equations change after the save
    _touch_later(model_file)
    with pytest.raises(DataError, match=r"^network spec file .*network.npz: layer 'hidden': model 'my_lif' "
                                        r"\(.*my_lif.py\) has changed since the network was saved") as info:
        NetworkSpec.load(path)
    assert "\n" not in str(info.value)

    # a file from before model hashes (no model_hash in its header) loads without the check
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    for layer in header["layers"]:
        del layer["model_hash"]
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "old.npz", **arrays)
    old = NetworkSpec.load(tmp_path / "old.npz")
    assert old.output.model == "my_lif" and "-2 * I_syn" in old.output.neuron_model.equations
