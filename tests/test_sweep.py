"""Sweeps: grid expansion, validation, resume, the summary statistics and the command line."""

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import brainlz.protocol as protocol_module
import brainlz.sweep as sweep_module
from brainlz.cli import main
from brainlz.errors import ParameterError, ProtocolError
from brainlz.protocol import Protocol, run_protocol
from brainlz.sweep import Sweep, load_experiment, run_sweep, summarize_sweep

TINY = dict(task="rate", difficulty=0.2, n_samples=24, n_channels=8, n_bins=60, hidden=0, output=4,
            backend="runtime", backend_options={"target": "numpy"}, batch_size=24, n_folds=2, test_size=0.25)


def tiny(**changes):
    return Protocol(name="tiny", **{**TINY, **changes})


@pytest.fixture
def counted(monkeypatch):
    """Wrap run_sweep's run_protocol; the list collects the directory name (cell id) of every cell run."""
    calls = []

    def counting(protocol, out=None, **kwargs):
        calls.append(Path(kwargs["directory"]).name)
        return run_protocol(protocol, out, **kwargs)

    monkeypatch.setattr(sweep_module, "run_protocol", counting)
    return calls


# ----------------------------------------------------------------------------------------------- expansion


def test_cells_expand_in_axis_order_with_dotted_and_variant_axes():
    base = tiny(learning={"rule": "tempotron", "epochs": 1, "learning_rate": 0.01})
    sweep = Sweep("grid", base, axes={
        "task": ["rate", "burst"],
        "learning.epochs": [2, 5],
        "intrinsic": {"fixed": {"learning.learn": ["weights"]},
                      "learnable": {"learning.learn": ["weights", "tau_m"], "hidden": 4}},
        "seed": [0, 7, 3],
    })
    cells = sweep.cells
    assert len(cells) == 2 * 2 * 2 * 3
    # cartesian product in axis order, the last axis fastest
    assert [c.id for c in cells[:7]] == [
        "task=rate,learning.epochs=2,intrinsic=fixed,seed=0",
        "task=rate,learning.epochs=2,intrinsic=fixed,seed=7",
        "task=rate,learning.epochs=2,intrinsic=fixed,seed=3",
        "task=rate,learning.epochs=2,intrinsic=learnable,seed=0",
        "task=rate,learning.epochs=2,intrinsic=learnable,seed=7",
        "task=rate,learning.epochs=2,intrinsic=learnable,seed=3",
        "task=rate,learning.epochs=5,intrinsic=fixed,seed=0",
    ]
    assert cells[-1].id == "task=burst,learning.epochs=5,intrinsic=learnable,seed=3"
    assert len({c.id for c in cells}) == len(cells)
    for cell in cells:
        p = cell.protocol
        assert p.task == cell.labels["task"]
        assert p.seed == int(cell.labels["seed"]) == cell.seed
        assert p.learning["epochs"] == int(cell.labels["learning.epochs"])
        # dotted keys are merged into the base's learning dict, which is left untouched
        assert p.learning["rule"] == "tempotron" and p.learning["learning_rate"] == 0.01
        if cell.labels["intrinsic"] == "fixed":
            assert p.learning["learn"] == ["weights"] and p.hidden == 0
        else:
            assert p.learning["learn"] == ["weights", "tau_m"] and p.hidden == 4
    assert base.learning == {"rule": "tempotron", "epochs": 1, "learning_rate": 0.01}
    assert sweep.axis_labels("intrinsic") == ["fixed", "learnable"]
    assert sweep.group_axes == ("task", "learning.epochs", "intrinsic") and sweep.seeds == (0, 7, 3)


def test_whole_field_and_dotted_key_from_two_axes_combine():
    sweep = Sweep("combine", tiny(), axes={
        "rule": {"stdp": {"learning": {"rule": "stdp", "A_plus": 0.02}},
                 "tempotron": {"learning": {"rule": "tempotron"}}},
        "learning.epochs": [3],
        "seed": [1],
    })
    assert [c.protocol.learning for c in sweep.cells] == [{"rule": "stdp", "A_plus": 0.02, "epochs": 3},
                                                         {"rule": "tempotron", "epochs": 3}]


def test_cell_ids_are_sanitised_for_file_systems():
    from brian2 import Hz

    sweep = Sweep("ids", tiny(), axes={"task_options.mean_rate": [15 * Hz, 25 * Hz],
                                       "variant": {"a/b c": {}, ".hidden": {"output": 5}}, "seed": [0]})
    ids = [c.id for c in sweep.cells]
    assert len(set(ids)) == 4
    for cell_id in ids:
        assert "/" not in cell_id and " " not in cell_id and not cell_id.startswith(".")
    assert ids[0] == "task_options.mean_rate=15.Hz,variant=a_b_c,seed=0"
    assert sweep.cells[0].protocol.task_options["mean_rate"] == 15 * Hz
    long = Sweep("long", tiny(), axes={"variant": {"x" * 300: {}}, "seed": [0]})
    assert len(long.cells[0].id) <= 120


@pytest.mark.parametrize("axes,paired,field,value", [
    ({"task": ["rate", "colour"], "seed": [0]}, None, "sweep.axes.task", "colour"),
    ({"difficulty": [0.1, 1.5], "seed": [0]}, None, "sweep.axes.difficulty", 1.5),
    ({"model": ["lif", "hodgkin"], "seed": [0]}, None, "sweep.axes.model", "hodgkin"),
    ({"size": {"ok": {"hidden": 2}, "bad": {"output": 0}}, "seed": [0]}, None, "sweep.axes.size.bad.output", 0),
    ({"learning": [{"rule": "hebb"}], "seed": [0]}, None, "sweep.axes.learning", {"rule": "hebb"}),
    ({"task": ["rate"]}, None, "sweep.axes", ["task"]),
    ({"seed": []}, None, "sweep.axes.seed", []),
    ({"seed": [0, 0]}, None, "sweep.axes.seed", [0, 0]),
    ({"seed": [0, -1]}, None, "sweep.axes.seed", -1),
    ({"colour": [1], "seed": [0]}, None, "sweep.axes", "colour"),
    ({"learning.epochs": [1], "v": {"a": {"learning.epochs": 2}}, "seed": [0]}, None, "sweep.axes.v",
     "learning.epochs"),
    ({"v": {"a": {"seed": 4}}, "seed": [0]}, None, "sweep.axes.v.a", "seed"),
    ({"task": "rate", "seed": [0]}, None, "sweep.axes.task", "rate"),
    ({"task": ["rate", "burst"], "seed": [0]}, ("task", "rate", "digits"), "sweep.paired", "digits"),
    ({"task": ["rate", "burst"], "seed": [0]}, ("seed", 0, 1), "sweep.paired", ("seed", 0, 1)),
])
def test_bad_sweeps_raise_parameter_error_naming_the_field(axes, paired, field, value):
    with pytest.raises(ParameterError) as info:
        Sweep("bad", tiny(), axes=axes, paired=paired)
    assert info.value.field == field
    assert info.value.value == value
    assert str(info.value).startswith(f"{field} = ")


# ----------------------------------------------------------------------------------------------- running


def test_run_resumes_and_reruns_only_missing_cells(tmp_path, counted):
    sweep = Sweep("resume", tiny(), axes={"size": {"small": {}, "big": {"hidden": 3}}, "seed": [0, 1]})
    first = run_sweep(sweep, tmp_path, progress=False, figures=False)
    ids = [c.id for c in sweep.cells]
    assert counted == ids and first.ran == ids and first.skipped == []
    root = tmp_path / "resume"
    for cell in sweep.cells:
        directory = root / "cells" / cell.id
        assert (directory / "metrics.json").is_file()
        recorded = json.loads((directory / "config.json").read_text())["protocol"]
        assert recorded["hidden"] == cell.protocol.hidden and recorded["seed"] == cell.seed
    summary = json.loads((root / "summary.json").read_text())
    assert summary["n_finished"] == 4 and [r["n_seeds"] for r in summary["rows"]] == [2, 2]
    assert (root / "summary.md").read_text().startswith("# Sweep resume")
    mtimes = {p: p.stat().st_mtime_ns for p in (root / "cells").rglob("*")}

    counted.clear()
    second = run_sweep(sweep, tmp_path, progress=False, figures=False)
    assert counted == [] and second.ran == [] and second.skipped == ids
    assert {p: p.stat().st_mtime_ns for p in (root / "cells").rglob("*")} == mtimes
    assert second.summary["rows"] == summary["rows"]

    import shutil

    shutil.rmtree(root / "cells" / ids[2])
    third = run_sweep(sweep, tmp_path, progress=False, figures=False)
    assert counted == [ids[2]] and third.ran == [ids[2]] and len(third.skipped) == 3
    assert [p.name for p in root.rglob(".*")] == [".brainlz-run.lock"]  # no temporaries left behind
    # the exact directory of a finished cell is never overwritten
    with pytest.raises(ProtocolError, match="exists already"):
        run_protocol(sweep.cells[0].protocol, directory=root / "cells" / ids[0], progress=False, figures=False)


def test_interrupted_cell_leaves_no_directory_and_is_rerun(tmp_path, monkeypatch, counted):
    sweep = Sweep("interrupt", tiny(), axes={"seed": [0, 1]})
    real = protocol_module.results_table

    def failing(protocol, metrics):
        if protocol.seed == 1:
            raise KeyboardInterrupt
        return real(protocol, metrics)

    monkeypatch.setattr(protocol_module, "results_table", failing)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, tmp_path, progress=False, figures=False)
    cells = tmp_path / "interrupt" / "cells"
    assert sorted(p.name for p in cells.iterdir()) == ["seed=0"]
    summary = json.loads((tmp_path / "interrupt" / "summary.json").read_text())
    assert summary["n_finished"] == 1 and [c["finished"] for c in summary["cells"]] == [True, False]
    monkeypatch.setattr(protocol_module, "results_table", real)
    counted.clear()
    result = run_sweep(sweep, tmp_path, progress=False, figures=False)
    assert counted == ["seed=1"] and result.summary["n_finished"] == 2


def test_changed_sweep_definition_is_not_silently_reused(tmp_path, monkeypatch):
    sweep = Sweep("changed", tiny(), axes={"seed": [0]})
    run_sweep(sweep, tmp_path, progress=False, figures=False)
    monkeypatch.setattr(sweep_module, "run_protocol", lambda *a, **k: pytest.fail("must not run"))
    with pytest.raises(ProtocolError, match="was run with difficulty = 0.2, the sweep now asks for 0.3"):
        run_sweep(Sweep("changed", tiny(difficulty=0.3), axes={"seed": [0]}), tmp_path, progress=False)


ACCURACY = {  # (task, intrinsic, seed) -> test accuracy; chosen so that every statistic is distinct
    ("rate", "fixed", 0): 0.70, ("rate", "fixed", 1): 0.75, ("rate", "fixed", 2): 0.65,
    ("rate", "learnable", 0): 0.80, ("rate", "learnable", 1): 0.90, ("rate", "learnable", 2): 0.70,
    ("burst", "fixed", 0): 0.55, ("burst", "fixed", 1): 0.60, ("burst", "fixed", 2): 0.50,
    ("burst", "learnable", 0): 0.60, ("burst", "learnable", 1): 0.60, ("burst", "learnable", 2): 0.65,
}


def _t_interval(values):
    values = np.asarray(values, dtype=float)
    n = values.size
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return values.mean(), values.mean() - half, values.mean() + half


def test_summary_statistics_match_a_hand_computation(tmp_path, monkeypatch):
    def fake_run(protocol, out=None, *, directory, **kwargs):
        labels = dict(item.split("=") for item in Path(directory).name.split(","))
        key = (labels["task"], labels["intrinsic"], int(labels["seed"]))
        directory.mkdir(parents=True)
        (directory / "config.json").write_text(json.dumps({"protocol": protocol.to_dict()}))
        metrics = {"accuracy": ACCURACY[key], "learning": {"rule": "tempotron", "learn": protocol.learning["learn"]}}
        (directory / "metrics.json").write_text(json.dumps(metrics))

    monkeypatch.setattr(sweep_module, "run_protocol", fake_run)
    sweep = Sweep("stats", tiny(learning={"rule": "tempotron"}), axes={
        "task": ["rate", "burst"],
        "intrinsic": {"fixed": {"learning.learn": ["weights"]}, "learnable": {"learning.learn": ["weights", "tau_m"]}},
        "seed": [0, 1, 2],
    }, paired=("intrinsic", "learnable", "fixed"))

    # only seed 0: one value per row, no interval yet
    partial = run_sweep(sweep, tmp_path, progress=False, only={"seed": 0}).summary
    assert partial["n_finished"] == 4
    assert [r["n_seeds"] for r in partial["rows"]] == [1, 1, 1, 1]
    assert all(r["accuracy_ci95"] is None for r in partial["rows"])
    assert partial["rows"][1]["accuracy_mean"] == pytest.approx(0.80)
    assert [d["n_pairs"] for d in partial["paired_differences"]] == [1, 1]
    assert partial["paired_differences"][0]["difference_pp"] == pytest.approx(10.0)
    assert partial["paired_differences"][0]["difference_ci95_pp"] is None

    result = run_sweep(sweep, tmp_path, progress=False)
    summary = json.loads((tmp_path / "stats" / "summary.json").read_text())
    assert summary["rows"] == json.loads(json.dumps(result.summary["rows"]))
    assert summary["n_cells"] == summary["n_finished"] == 12
    rows = {(r["labels"]["task"], r["labels"]["intrinsic"]): r for r in summary["rows"]}
    assert list(rows) == [("rate", "fixed"), ("rate", "learnable"), ("burst", "fixed"), ("burst", "learnable")]
    for (task, intrinsic), row in rows.items():
        values = [ACCURACY[(task, intrinsic, s)] for s in (0, 1, 2)]
        mean, low, high = _t_interval(values)
        assert row["n_seeds"] == 3 and row["seeds"] == [0, 1, 2] and row["accuracies"] == values
        assert row["accuracy_mean"] == pytest.approx(mean, abs=1e-12)
        assert row["accuracy_ci95"] == pytest.approx([max(0.0, low), min(1.0, high)], abs=1e-12)  # clipped
    # rate, fixed: mean 0.70, s = 0.05, half width t(0.975, 2) * 0.05 / sqrt(3) = 0.1242
    assert rows[("rate", "fixed")]["accuracy_ci95"] == pytest.approx([0.70 - 0.12421, 0.70 + 0.12421], abs=1e-4)
    paired = {d["labels"]["task"]: d for d in summary["paired_differences"]}
    assert list(paired) == ["rate", "burst"]
    for task, entry in paired.items():
        differences = [100 * (ACCURACY[(task, "learnable", s)] - ACCURACY[(task, "fixed", s)]) for s in (0, 1, 2)]
        mean, low, high = _t_interval(differences)
        assert entry["a"] == "learnable" and entry["b"] == "fixed" and entry["n_pairs"] == 3
        assert entry["differences_pp"] == pytest.approx(differences)
        assert entry["difference_pp"] == pytest.approx(mean) and entry["difference_ci95_pp"] == pytest.approx([low, high])
    assert paired["rate"]["difference_pp"] == pytest.approx(10.0)  # (10 + 15 + 5) / 3
    assert paired["burst"]["difference_pp"] == pytest.approx(20 / 3)
    # per-cell entries: id, directory, accuracy and the learning entry of metrics.json
    cells = summary["cells"]
    assert [c["id"] for c in cells] == [c.id for c in sweep.cells]
    for entry, cell in zip(cells, sweep.cells):
        assert entry["finished"] and entry["directory"] == f"cells/{cell.id}"
        assert (tmp_path / "stats" / entry["directory"] / "metrics.json").is_file()
        key = (cell.labels["task"], cell.labels["intrinsic"], cell.seed)
        assert entry["accuracy"] == ACCURACY[key]
        assert entry["learning"]["learn"] == cell.protocol.learning["learn"]
    markdown = (tmp_path / "stats" / "summary.md").read_text()
    low, high = rows[("rate", "fixed")]["accuracy_ci95"]
    assert f"| rate | fixed | 3/3 | 70.0 ({100 * low:.1f} to {100 * high:.1f}) |" in markdown
    assert "| rate | 3 | +10.0 (" in markdown
    assert summarize_sweep(sweep, tmp_path)["rows"] == summary["rows"]


def test_only_rejects_unknown_labels(tmp_path):
    sweep = Sweep("only", tiny(), axes={"seed": [0, 1]})
    with pytest.raises(ParameterError, match="only.seed"):
        run_sweep(sweep, tmp_path, only={"seed": 5})
    with pytest.raises(ParameterError, match="not cell ids"):
        run_sweep(sweep, tmp_path, only=["seed=9"])


# ----------------------------------------------------------------------------------------------- files and CLI

SWEEP_FILE = """
from brainlz.protocol import Protocol
from brainlz.sweep import Sweep

BASE = Protocol(name="base", task="rate", difficulty=0.2, n_samples=24, n_channels=8, n_bins=60, hidden=0,
                output=4, backend="runtime", backend_options={{"target": "numpy"}}, n_folds=2, test_size=0.25)
SWEEP = Sweep(name="clisweep", base=BASE, axes={{"difficulty": {difficulties}, "seed": [0, 1]}},
              description="A tiny sweep.")
"""


def test_cli_runs_and_resumes_a_sweep_file(tmp_path, capsys):
    path = tmp_path / "sweep.py"
    path.write_text(textwrap.dedent(SWEEP_FILE.format(difficulties="[0.1, 0.9]")))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-figures"]) == 0
    stdout = capsys.readouterr().out
    assert "| difficulty | seeds | test accuracy (%), mean (95 % CI) |" in stdout
    assert "| 0.1 | 2/2 |" in stdout and "| 0.9 | 2/2 |" in stdout
    assert f"results written to {out / 'clisweep'} (4 cells run now, 0 finished before)" in stdout
    summary = json.loads((out / "clisweep" / "summary.json").read_text())
    assert summary["n_finished"] == 4 and summary["sweep"]["description"] == "A tiny sweep."
    assert len(list((out / "clisweep" / "cells").glob("*/metrics.json"))) == 4
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert "(0 cells run now, 4 finished before)" in capsys.readouterr().out


@pytest.mark.parametrize("text,args,message", [
    (SWEEP_FILE.format(difficulties="[0.1]"), ["--seed", "3"], "--seed = 3: cannot override the seeds"),
    (SWEEP_FILE.format(difficulties="[0.1]"), ["--workers", "0"], "workers = 0: a positive whole number"),
    (SWEEP_FILE.format(difficulties="[0.1, 1.5]"), [], "sweep.axes.difficulty = 1.5: expected a number"),
    ("x = 1\n", [], "defines no PROTOCOL or SWEEP"),
    ("SWEEP = [1, 2]\n", [], "SWEEP is a list, expected a brainlz Sweep"),
])
def test_cli_sweep_errors_give_one_line(tmp_path, capsys, text, args, message):
    path = tmp_path / "sweep.py"
    path.write_text(textwrap.dedent(text))
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("brainlz: error:") and message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_load_experiment_returns_protocol_or_sweep(tmp_path):
    sweep_path = tmp_path / "s.py"
    sweep_path.write_text(textwrap.dedent(SWEEP_FILE.format(difficulties="[0.1]")))
    sweep = load_experiment(sweep_path)
    assert isinstance(sweep, Sweep) and [c.id for c in sweep.cells] == ["difficulty=0.1,seed=0",
                                                                         "difficulty=0.1,seed=1"]
    protocol_path = tmp_path / "p.py"
    protocol_path.write_text("from brainlz.protocol import Protocol\nPROTOCOL = Protocol(name='p')\n")
    assert isinstance(load_experiment(protocol_path), Protocol)
    with pytest.raises(ProtocolError, match="does not exist"):
        load_experiment(tmp_path / "missing.py")


def test_accuracy_interval_is_clipped_to_the_unit_interval():
    from brainlz.sweep import _clip01

    assert _clip01([0.9, 1.07]) == [0.9, 1.0] and _clip01([-0.2, 0.3]) == [0.0, 0.3] and _clip01(None) is None


def test_extra_metrics_are_summarised_like_the_accuracy(tmp_path, monkeypatch):
    rates = {0: 10.0, 1: 14.0, 2: 9.0}  # per seed; the "learnable" cells get 2 Hz more

    def fake_run(protocol, out=None, *, directory, **kwargs):
        labels = dict(item.split("=") for item in Path(directory).name.split(","))
        directory.mkdir(parents=True)
        (directory / "config.json").write_text(json.dumps({"protocol": protocol.to_dict()}))
        rate = rates[int(labels["seed"])] + (2.0 if labels["intrinsic"] == "learnable" else 0.0)
        (directory / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "activity": {"output_rate_hz": rate}}))

    monkeypatch.setattr(sweep_module, "run_protocol", fake_run)
    sweep = Sweep("extra", tiny(learning={"rule": "tempotron"}), axes={
        "intrinsic": {"fixed": {"learning.learn": ["weights"]}, "learnable": {"learning.learn": ["weights", "tau_m"]}},
        "seed": [0, 1, 2]}, paired=("intrinsic", "learnable", "fixed"),
        extra_metrics=("activity.output_rate_hz", "activity.missing"))
    summary = run_sweep(sweep, tmp_path, progress=False).summary
    fixed = summary["rows"][0]["extra"]["activity.output_rate_hz"]
    mean, low, high = _t_interval([10.0, 14.0, 9.0])
    assert fixed["mean"] == pytest.approx(mean) and fixed["ci95"] == pytest.approx([low, high])
    pair = summary["paired_differences"][0]["extra"]["activity.output_rate_hz"]
    assert pair["n_pairs"] == 3 and pair["difference"] == pytest.approx(2.0)
    assert pair["difference_ci95"] == pytest.approx([2.0, 2.0])  # identical differences: zero width
    assert summary["rows"][0]["extra"]["activity.missing"]["n"] == 0
    assert "`activity.output_rate_hz`" in (tmp_path / "extra" / "summary.md").read_text()
    with pytest.raises(ParameterError, match="extra_metrics"):
        Sweep("bad", tiny(), axes={"seed": [0]}, extra_metrics="activity")


# ----------------------------------------------------------------------------------------------- workers
# (the Dask engine: tests/test_sweep_dask.py)


def test_time_left_is_the_pace_of_the_finished_cells():
    from brainlz.sweep import _time_left

    assert _time_left(600.0, 2, 3) == "about 15 min left at this pace"
    assert _time_left(3600.0, 2, 10) == "about 5.0 h left at this pace"
    assert _time_left(20.0, 2, 3) == "about 30 s left at this pace"
    assert _time_left(10.0, 0, 3) == "" and _time_left(10.0, 3, 0) == ""


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_workers_are_rejected_before_anything_runs(tmp_path, workers):
    with pytest.raises(ParameterError, match="^workers = "):
        run_sweep(Sweep("bad", tiny(), axes={"seed": [0]}), tmp_path, workers=workers)
    assert not (tmp_path / "bad").exists()


def test_parameter_errors_survive_the_trip_from_a_worker():
    import pickle

    error = pickle.loads(pickle.dumps(ParameterError("hidden", -3, "a positive number of neurons")))
    assert (error.field, error.value, error.reason) == ("hidden", -3, "a positive number of neurons")
    assert str(error) == "hidden = -3: a positive number of neurons"


def test_staging_directories_of_an_interrupted_cell_are_removed_and_nothing_else(tmp_path):
    names = [".x=1.ab_d1234", ".x=1.5.abcd1234", "x=1", ".x=2.abcd1234", ".x=1.toolong123"]
    for name in names:
        (tmp_path / name).mkdir()
    sweep_module._remove_staging(tmp_path, "x=1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
    (tmp_path / ".a[1].abcdefgh").mkdir()  # glob characters in a cell id are taken literally
    (tmp_path / ".a1.abcdefgh").mkdir()
    sweep_module._remove_staging(tmp_path, "a[1]")
    assert (tmp_path / ".a1.abcdefgh").exists() and not (tmp_path / ".a[1].abcdefgh").exists()


def test_workers_refuse_a_shared_backend_directory(tmp_path):
    sweep = Sweep("shared", tiny(backend="standalone", backend_options={"directory": str(tmp_path / "b")}),
                  axes={"seed": [0, 1]})
    with pytest.raises(ParameterError, match="^workers = 2: cell seed=0 sets backend_options.directory"):
        run_sweep(sweep, tmp_path / "out", progress=False, workers=2)
