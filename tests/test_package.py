"""The front door: ``import brainlz as bz`` gives the names a user needs, cheaply; the built package carries the
built-in models and protocols."""

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

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


# ------------------------------------------------------------------ built-in protocols by name; the built package
def test_a_name_that_is_not_a_file_is_a_builtin_protocol(tmp_path, monkeypatch, capsys):
    from brainlz.cli import main
    from brainlz.models import builtin_dir
    from brainlz.protocol import available_protocols, resolve_experiment_file
    from brainlz.sweep import load_experiment

    monkeypatch.chdir(tmp_path)
    assert resolve_experiment_file("quickstart") == builtin_dir("protocols") / "quickstart.py"
    assert load_experiment("quickstart").name == "quickstart"
    assert {"quickstart", "bp_lif", "paper_grid"} <= set(available_protocols())
    (tmp_path / "quickstart").write_text("x = 1\n")  # a file of that name wins over the built-in
    assert resolve_experiment_file("quickstart") == Path("quickstart")
    with pytest.raises(bz.ProtocolError, match="^protocol 'quikstart': no such file, and no built-in protocol of "
                                               "that name; built-in protocols: .*quickstart"):
        resolve_experiment_file("quikstart")
    assert main(["run", "quikstart", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("brainlz: error: protocol 'quikstart'") and len(err.strip().splitlines()) == 1


def _source_copy(destination: Path) -> Path:
    """The checkout's files that can go into a package (not its virtual environments, results or builds)."""
    root = Path(bz.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        pytest.skip("brainlz is not imported from a checkout of its repository")
    skip = {".git", ".venv", ".venv-newest", "build", "dist", "results", "figures", "benchmarks", "tests", "docs",
            "output", "__pycache__", ".pytest_cache"}
    shutil.copytree(root, destination, ignore=lambda folder, names: [
        n for n in names if n in skip or n.endswith((".so", ".pyc", ".egg-info"))])
    return destination


def _pip(*args, cwd):
    out = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    if out.returncode and re.search(r"No matching distribution found for (setuptools|wheel)", out.stdout + out.stderr):
        pytest.skip("the package's build requirements (setuptools, wheel) cannot be downloaded here")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.mark.slow  # builds an sdist and a wheel (40-120 s); CI checks the package itself (.ci/check-package)
def test_built_package_carries_the_builtin_models_and_protocols(tmp_path):
    """sdist -> wheel (as ``python -m build`` makes it) -> installed alone into a folder: the models and protocols
    are in the wheel, and the installed brainlz (not this checkout) finds them, from a folder outside the checkout.

    Where this environment has no setuptools (a Python >= 3.12 venv), the wheel is built from the source directly.
    """
    source = _source_copy(tmp_path / "src")
    if importlib.util.find_spec("setuptools") is not None:
        sdist_name = subprocess.run([sys.executable, "-c", "from setuptools import build_meta; "
                                     f"print(build_meta.build_sdist({str(tmp_path / 'sdist')!r}))"],
                                    cwd=source, capture_output=True, text=True, timeout=300)
        assert sdist_name.returncode == 0, sdist_name.stderr[-3000:]
        with tarfile.open(tmp_path / "sdist" / sdist_name.stdout.strip().splitlines()[-1]) as sdist:
            members = sdist.getnames()
            assert {"models/lif.py", "models/meta_neuron.py", "protocols/quickstart.py", "MANIFEST.in"} <= {
                name.split("/", 1)[1] for name in members if "/" in name}
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            sdist.extractall(tmp_path / "unpacked", **safe)
        source = next((tmp_path / "unpacked").iterdir())
    _pip("wheel", "--no-deps", "-w", str(tmp_path / "wheel"), str(source), cwd=tmp_path)
    wheel = next((tmp_path / "wheel").glob("brainlz-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    builtins = {f"brainlz/_builtin/{kind}/{file.name}" for kind in ("models", "protocols")
                for file in (Path(bz.__file__).resolve().parent.parent / kind).glob("*.py")}
    assert {"brainlz/_builtin/models/lif.py", "brainlz/_builtin/protocols/quickstart.py"} <= builtins <= names
    assert not any(name.startswith(("models/", "protocols/", "tests/")) for name in names)

    target = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "BRAINLZ_CACHE": str(tmp_path / "cache")}
    env.pop("BRAINLZ_MODEL_PATH", None)
    code = ("import json, brainlz\n"
            "from brainlz.models import builtin_dir, find_model_file\n"
            "from brainlz.protocol import resolve_experiment_file\n"
            "from brainlz.sweep import load_experiment\n"
            "print(json.dumps([brainlz.__file__, str(builtin_dir('models')), str(find_model_file('lif')),\n"
            "                  str(resolve_experiment_file('quickstart')), load_experiment('quickstart').name]))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    package, models, lif, quickstart, name = json.loads(out.stdout.strip().splitlines()[-1])
    installed = target / "brainlz"
    assert Path(package).parent == installed and Path(models) == installed / "_builtin" / "models"
    assert Path(lif) == installed / "_builtin" / "models" / "lif.py"
    assert Path(quickstart) == installed / "_builtin" / "protocols" / "quickstart.py" and name == "quickstart"
    listing = subprocess.run([str(target / "bin" / "brainlz"), "models"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert re.search(r"^lif: Leaky integrate-and-fire", listing.stdout, re.M)
    assert re.search(r"^meta_neuron: Meta-neuron", listing.stdout, re.M)
    assert "cannot load" not in listing.stdout


def test_imports_follow_the_layers_docs_architecture_states():
    """docs/architecture.md's import order holds: every import (inside functions too) points to a module on its
    left, so there is no cycle; and no module imports another's private names (the compiled ``_lz76`` aside)."""
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("code_shape", root / "benchmarks" / "code_shape.py")
    code_shape = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code_shape)
    shape = code_shape.measure(code_shape.Package(root / "brainlz"))
    text = " ".join((root / "docs" / "architecture.md").read_text().split())
    order = re.search(r"Imports go one way: (.*?) \(a module imports only from its left", text).group(1)
    layer = {name.strip(" `"): rank for rank, names in enumerate(order.split(" < ")) for name in names.split(",")}
    layer["brainlz"] = layer["errors"] + 0.5  # the package's __init__ imports errors and names the rest lazily

    def top(module):
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else parts[0]

    assert set(map(top, shape["imports"])) <= set(layer), "a module missing from the stated import order"
    wrong = [(importer, target) for importer, targets in shape["imports"].items() for target in targets
             if top(importer) != top(target) and layer[top(target)] >= layer[top(importer)]]
    assert wrong == []
    assert shape["cycles_all"]["count"] == 0
    assert [item for item in shape["private_imports"]["imports"] if not item["submodule"]] == []
