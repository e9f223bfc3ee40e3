"""The command line: one clear error line and a non-zero exit code for every user mistake."""

import subprocess
import sys
import textwrap

import pytest

from brainlz.cli import main

GOOD = """
from brainlz.protocol import Protocol
PROTOCOL = Protocol(name="tiny", task="rate", difficulty=0.2, n_samples=40, n_channels=8, n_bins=200,
                    hidden=6, output=6, backend="runtime", backend_options={"target": "numpy"},
                    n_folds=2, test_size=0.25{extra})
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("name,text,message", [
    ("missing.py", None, "does not exist"),
    ("syntax.py", "PROTOCOL = (\n", "syntax error"),
    ("noproto.py", "x = 1\n", "defines no PROTOCOL"),
    ("model.py", GOOD.replace("{extra}", ', model="hodgkin"'), "model = 'hodgkin': unknown model"),
    ("task.py", GOOD.replace("{extra}", '').replace('task="rate"', 'task="colour"'), "protocol.task = 'colour'"),
    ("value.py", GOOD.replace("{extra}", ", weight_scale=-1"),
     "protocol.weight_scale = -1"),
    ("option.py", GOOD.replace("{extra}", ', task_options={"mean_rate": 20}'), "mean_rate"),
])
def test_user_errors_give_one_line(tmp_path, capsys, name, text, message):
    path = tmp_path / name if text is None else _write(tmp_path, name, text)
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("brainlz: error:") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("metrics.json"))


def test_workers_are_for_sweeps_only(tmp_path, capsys):
    path = _write(tmp_path, "single.py", GOOD.replace("{extra}", ""))
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--workers", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("brainlz: error: --workers = 2:") and "not a sweep" in err
    assert not (tmp_path / "out").exists()


def test_console_run_prints_table_and_exit_codes(tmp_path):
    path = _write(tmp_path, "tiny.py", GOOD.replace("{extra}", ""))
    ok = subprocess.run([sys.executable, "-m", "brainlz.cli", "run", str(path), "--out", str(tmp_path / "o"),
                         "--quiet", "--no-figures"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "| test accuracy, LZC readout |" in ok.stdout
    assert len(list((tmp_path / "o" / "tiny").glob("*/metrics.json"))) == 1
    bad = subprocess.run([sys.executable, "-m", "brainlz.cli", "run", str(tmp_path / "nope.py")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [f"brainlz: error: protocol file '{tmp_path / 'nope.py'}' does not exist"]


def test_models_listing(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lif:" in out and "meta_neuron:" in out and "tau_m" in out and "biology" in out
