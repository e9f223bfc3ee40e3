"""The front door: ``import brainlz as bz`` gives the names a user needs, cheaply."""

import importlib
import json
import subprocess
import sys

import pytest

import brainlz as bz


def test_import_is_cheap_and_every_exported_name_resolves():
    code = ("import sys, brainlz; assert 'brian2' not in sys.modules; "
            "[getattr(brainlz, n) for n in brainlz.__all__]; print('brian2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"  # the names themselves do pull Brian2 in, on first use


@pytest.mark.parametrize("name", sorted(bz._EXPORTS))
def test_exported_names_are_the_modules_own_objects(name):
    module = importlib.import_module(f"brainlz.{bz._EXPORTS[name]}")
    assert getattr(bz, name) is getattr(module, name)
    assert name in getattr(module, "__all__", [name])


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Protcol'"):
        bz.Protcol  # noqa: B018


def test_run_takes_a_protocol_or_its_file(tmp_path):
    protocol = bz.Protocol(name="front", task="rate", difficulty=0.2, n_samples=24, n_channels=6, n_bins=120,
                           hidden=0, output=4, backend="runtime", backend_options={"target": "numpy"},
                           n_folds=2, test_size=0.25, seed=3)
    direct = bz.run(protocol, tmp_path / "a", progress=False, figures=False)
    path = tmp_path / "front.py"
    path.write_text("from brainlz import Protocol\nPROTOCOL = Protocol(name='front', task='rate', difficulty=0.2, "
                    "n_samples=24, n_channels=6, n_bins=120, hidden=0, output=4, backend='runtime', "
                    "backend_options={'target': 'numpy'}, n_folds=2, test_size=0.25, seed=3)\n")
    from_file = bz.run(str(path), tmp_path / "b", progress=False, figures=False)
    first = json.loads((direct.directory / "metrics.json").read_text())
    second = json.loads((from_file.directory / "metrics.json").read_text())
    assert first["network_readout"] == second["network_readout"] and first["activity"] == second["activity"]
    config = json.loads((from_file.directory / "config.json").read_text())
    assert config["provenance"]["protocol_file"] == str(path)
    with pytest.raises(bz.ParameterError, match="experiment = 'int'"):
        bz.run(3, tmp_path / "c")
