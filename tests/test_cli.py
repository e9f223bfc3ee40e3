"""The command line: one clear error line and a non-zero exit code for every user mistake."""

import contextlib
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

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


# --- every documented option of ``brainlz run``, on the quickstart protocol itself --------------------------------

QUICKSTART = Path(__file__).resolve().parents[1] / "protocols" / "quickstart.py"


def _one_run(out: Path) -> Path:
    runs = list((out / "quickstart").glob("*/metrics.json"))
    assert len(runs) == 1, runs
    return runs[0].parent


def _outcome(run: Path) -> dict:
    """The deterministic part of a run's metrics (no wall times)."""
    metrics = json.loads((run / "metrics.json").read_text())
    return {"readout": metrics["network_readout"], "baseline": metrics["threshold_baseline"],
            "activity": metrics["activity"], "energy": metrics["energy"], "seeds": metrics["seeds"]}


@pytest.fixture(scope="module")
def quickstart_seed1(tmp_path_factory):
    """``brainlz run protocols/quickstart.py --out DIR --seed 1`` (runtime, figures, progress bar)."""
    out = tmp_path_factory.mktemp("quickstart")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", str(QUICKSTART), "--out", str(out), "--seed", "1"])
    return code, out, err.getvalue()


def test_quickstart_out_seed_and_figures(quickstart_seed1):
    code, out, err = quickstart_seed1
    assert code == 0
    run = _one_run(out)
    config = json.loads((run / "config.json").read_text())
    assert config["protocol"]["seed"] == 1 and run.name.endswith("seed1")
    assert sorted(p.name for p in (run / "figures").iterdir()) == ["lzc_by_class.png", "membrane_trace.png",
                                                                   "rasters.png"]
    assert "simulating quickstart [" in err  # the progress bar, without --quiet


def test_quickstart_quiet_no_figures_same_numbers(quickstart_seed1, tmp_path, capsys):
    _, first_out, _ = quickstart_seed1
    assert main(["run", str(QUICKSTART), "--out", str(tmp_path), "--seed", "1", "--quiet", "--no-figures"]) == 0
    captured = capsys.readouterr()
    run = _one_run(tmp_path)
    assert not (run / "figures").exists()
    assert captured.err == ""  # --quiet: no progress bar
    assert "| test accuracy, LZC readout |" in captured.out
    assert _outcome(run) == _outcome(_one_run(first_out))  # same seed, same numbers
    assert main(["run", str(QUICKSTART), "--out", str(tmp_path / "s0"), "--quiet", "--no-figures"]) == 0
    assert _outcome(_one_run(tmp_path / "s0"))["seeds"] != _outcome(run)["seeds"]  # --seed did change the seeds


def test_quickstart_backend_standalone_gives_the_same_result(quickstart_seed1, tmp_path, capsys):
    """``--backend standalone`` runs the quickstart (whose backend_options name the runtime's target) and, the
    backends being spike-for-spike identical, gives the runtime's numbers."""
    _, first_out, _ = quickstart_seed1
    code = main(["run", str(QUICKSTART), "--out", str(tmp_path), "--seed", "1", "--backend", "standalone",
                 "--quiet", "--no-figures"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.strip() == ("brainlz: --backend standalone: not using backend_options target='numpy' "
                           "(not options of 'standalone')")
    run = _one_run(tmp_path)
    assert json.loads((run / "metrics.json").read_text())["simulation"]["backend"] == "standalone"
    assert _outcome(run) == _outcome(_one_run(first_out))


@pytest.mark.parametrize("options,field,message", [
    (["--workers", "2"], "--workers = 2", "not a sweep"),
    (["--workers", "0"], "--workers = 0", "a positive whole number"),
    (["--backend", "gpu"], "--backend = 'gpu'", "unknown backend"),
    (["--seed", "-1"], "--seed = -1", "whole number >= 0"),
    (["--out", "{file}"], "--out = ", "a_file' is not a directory"),
    (["--out", "{file}/below"], "--out = ", "a_file' is not a directory"),
])
def test_quickstart_bad_options_are_refused_in_one_line(tmp_path, capsys, options, field, message):
    afile = tmp_path / "a_file"
    afile.write_text("not a directory")
    options = [o.replace("{file}", str(afile)) for o in options]
    argv = ["run", str(QUICKSTART), "--quiet", "--no-figures"]
    if "--out" not in options:
        argv += ["--out", str(tmp_path / "out")]
    code = main(argv + options)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith(f"brainlz: error: {field}") and message in err
    assert not (tmp_path / "out").exists() and afile.read_text() == "not a directory"


def test_protocol_backend_options_are_checked_against_the_backend(tmp_path, capsys):
    path = _write(tmp_path, "opt.py", GOOD.replace("{extra}", "").replace('backend="runtime"', 'backend="standalone"'))
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("brainlz: error: protocol.backend_options.target = 'numpy': not an option of the "
                          "'standalone' backend; its options: ")


@pytest.mark.parametrize("argv,message", [
    (["run", "x.py", "--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    (["run", "x.py", "--workers", "two"], "argument --workers: invalid int value: 'two'"),
    (["run", "x.py", "--colour"], "unrecognized arguments: --colour"),
    (["run"], "the following arguments are required: protocol"),
])
def test_usage_errors_are_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith("brainlz: error: ") and message in err
