"""A reduced version of protocols/paper_grid.py (same definition, few samples and seeds) runs end to end."""

import importlib.util
import json
from pathlib import Path

import numpy as np

from brainlz.sweep import run_sweep

GRID_FILE = Path(__file__).resolve().parent.parent / "protocols" / "paper_grid.py"


def _module():
    spec = importlib.util.spec_from_file_location("paper_grid", GRID_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_grid_definition():
    grid = _module().SWEEP
    assert len(grid.cells) == 3 * 2 * 2 * 4 * 5
    labels = {axis: grid.axis_labels(axis) for axis in grid.axes}
    assert labels["rule"] == ["surrogate", "stdp", "tempotron"] and labels["task"] == ["rate", "burst", "regular",
                                                                                        "digits"]
    cell = grid.cell("rule=stdp,model=meta_neuron,intrinsic=learnable,task=digits,seed=4")
    assert cell.protocol.model == "meta_neuron" and cell.protocol.learning["rule"] == "stdp"
    assert "intrinsic" in cell.protocol.learning and "tune" not in cell.protocol.learning
    fixed = grid.cell("rule=stdp,model=meta_neuron,intrinsic=fixed_tuned,task=digits,seed=4")
    assert fixed.protocol.learning["tune"]["hidden"] == [32, 64] and "intrinsic" not in fixed.protocol.learning


def test_reduced_grid_runs_summarises_and_resumes(tmp_path):
    module = _module()
    sweep = module.make_sweep(
        "grid_small", tasks=("burst",), seeds=(0, 1), n_samples=24, n_channels=8, n_bins=80, hidden=4, output=4,
        backend="runtime", backend_options={"target": "numpy"}, batch_size=24, n_folds=2, test_size=0.25,
        tune={"hidden": [2, 4]}, intrinsic={"outer_steps": 1, "step_size": 0.1, "perturbation": 0.05},
        rule_options={"surrogate": {"epochs": 1}, "tempotron": {"epochs": 1}})
    assert len(sweep.cells) == 3 * 2 * 2 * 1 * 2
    first = run_sweep(sweep, tmp_path, progress=False, figures=False)
    assert len(first.ran) == 24 and first.summary["n_finished"] == 24
    rows = first.summary["rows"]
    assert len(rows) == 12 and all(r["n_seeds"] == 2 and r["accuracy_ci95"] is not None for r in rows)
    paired = first.summary["paired_differences"]
    assert len(paired) == 6 and all(p["n_pairs"] == 2 for p in paired)
    for row in rows:  # latency and energy columns for every row
        assert row["extra"]["energy.snn_joules"]["n"] == 2 and row["extra"]["energy.snn_joules"]["mean"] > 0
        assert row["extra"]["latency.inference_seconds_per_sample"]["mean"] > 0
    learnable = [c for c in first.summary["cells"] if c["labels"]["intrinsic"] == "learnable"]
    assert all(c["learning"]["rule"] in ("surrogate", "stdp", "tempotron") for c in learnable)
    _check_the_two_arms(tmp_path / "grid_small" / "cells", first.summary["cells"], n_train=18)
    again = run_sweep(sweep, tmp_path, progress=False, figures=False)
    assert again.ran == [] and len(again.skipped) == 24
    assert again.summary["rows"] == first.summary["rows"]
    _check_readme_table(first.summary)


def _check_the_two_arms(cells_dir, cells, n_train):
    """fixed_tuned: default intrinsic parameters and a tuned size; learnable: the parameters moved (surrogate: by the
    twin's gradient; STDP and tempotron: by the outer loop, whose selected point is then refitted on all samples)."""
    from brainlz.network import NetworkSpec

    moved = {}
    for cell in cells:
        labels = cell["labels"]
        metrics = json.loads((cells_dir / cell["id"] / "metrics.json").read_text())
        trained = NetworkSpec.load(cells_dir / cell["id"] / "network.npz")
        initial = NetworkSpec.load(cells_dir / cell["id"] / "network_initial.npz")
        changed = any(not np.array_equal(np.asarray(a.params[name]), np.asarray(b.params[name]))
                      for a, b in zip(initial.layers, trained.layers) for name in a.params)
        if labels["intrinsic"] == "fixed_tuned":
            assert not changed and metrics["tuning"]["best"]["hidden"] == trained.layers[0].n_neurons
            assert "intrinsic" not in metrics["learning"]
            continue
        assert "tuning" not in metrics
        if labels["rule"] == "surrogate":
            assert "intrinsic" in metrics["learning"]["learn"] or len(metrics["learning"]["learn"]) > 1
            assert changed, cell["id"]
        else:
            history = metrics["learning"]["intrinsic"]
            assert len(history["outer"]) == 1 and history["selected"] in (0, 1)
            assert metrics["learning"]["refit"] is True and metrics["learning"]["refit_samples"] == n_train
            assert changed == (history["selected"] == 1), cell["id"]  # 0: the starting (default) parameters
        moved[cell["id"]] = changed
    assert any(moved.values())


def _check_readme_table(summary):
    """benchmarks/grid_table.py (the README's grid table) renders the summary's numbers, row for row."""
    spec = importlib.util.spec_from_file_location("grid_table", GRID_FILE.parents[1] / "benchmarks" / "grid_table.py")
    grid_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid_table)
    learnable_cell = next(c["id"] for c in summary["cells"]
                          if c["labels"]["intrinsic"] == "learnable" and c["labels"]["rule"] == "stdp"
                          and c["labels"]["model"] == "lif")
    replaced_cell = next(c["id"] for c in summary["cells"]
                         if c["labels"]["intrinsic"] == "learnable" and c["labels"]["rule"] == "tempotron"
                         and c["labels"]["model"] == "lif")
    latency = {"rows": [{"rule": "stdp", "model": "lif", "intrinsic": "learnable", "task": "burst",
                         "cell": learnable_cell, "seconds_per_sample": 0.00123, "network_sha256": "a1"},
                        {"rule": "stdp", "model": "meta_neuron", "intrinsic": "learnable", "task": "burst",
                         "cell": "not-a-finished-cell", "seconds_per_sample": 0.00456, "network_sha256": "b2"},
                        {"rule": "tempotron", "model": "lif", "intrinsic": "learnable", "task": "burst",
                         "cell": replaced_cell, "seconds_per_sample": 0.00789, "network_sha256": "c3"}]}
    networks = {learnable_cell: "a1", "not-a-finished-cell": "b2", replaced_cell: "another network"}
    lines = grid_table.table(summary, latency, networks).splitlines()
    assert lines[0].startswith("| task | rule | model | fixed & tuned | learnable |") and len(lines) == 2 + 6
    rows = {tuple(r["labels"][a] for a in ("rule", "model", "intrinsic")): r for r in summary["rows"]}
    pairs = {(p["labels"]["rule"], p["labels"]["model"]): p for p in summary["paired_differences"]}
    for line, (rule, model) in zip(lines[2:], [(r, m) for r in ("surrogate", "stdp", "tempotron")
                                               for m in ("lif", "meta_neuron")]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:3] == ["burst", grid_table.RULES[rule], grid_table.MODELS[model]]
        for column, intrinsic in ((3, "fixed_tuned"), (4, "learnable")):
            row = rows[(rule, model, intrinsic)]
            low, high = row["accuracy_ci95"]
            assert cells[column] == f"{100 * row['accuracy_mean']:.1f} % ({100 * low:.1f}-{100 * high:.1f}, 2 seeds)"
        pair = pairs[(rule, model)]
        assert cells[5].startswith(f"{pair['difference_pp']:+.1f} (") and cells[5].endswith(", 2 pairs)")
        # latency only where the benchmark timed a network that is in the record now (same hash)
        assert cells[6] == ("1.23" if (rule, model) == ("stdp", "lif") else "–")
        energy = rows[(rule, model, "learnable")]["extra"]["energy.snn_joules"]["mean"]
        assert cells[7].startswith(f"{1e9 * energy:.0f} / ")
    text = "intro\n<!-- paper-grid-table -->\nold table\n<!-- /paper-grid-table -->\nafter\n"
    assert grid_table.replace_between_markers(text, "new\n", "README") == (
        "intro\n<!-- paper-grid-table -->\nnew\n<!-- /paper-grid-table -->\nafter\n")


def test_grid_table_pools_paired_differences_over_tasks():
    """The pooled table: average of the per-task mean differences with Welch's interval (two tasks: half of
    scipy's two-sample Welch interval of regular vs the negated digits), the column without the regular task,
    and the count of per-task intervals that exclude 0."""
    from scipy import stats

    spec = importlib.util.spec_from_file_location("grid_table", GRID_FILE.parents[1] / "benchmarks" / "grid_table.py")
    grid_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid_table)

    def pair(task, rule, differences):
        ci = stats.ttest_1samp(differences, 0.0).confidence_interval(0.95) if len(differences) > 1 else None
        return {"labels": {"task": task, "rule": rule, "model": "lif"}, "n_pairs": len(differences),
                "differences_pp": differences, "difference_pp": float(np.mean(differences)),
                "difference_ci95_pp": [ci.low, ci.high] if len(differences) > 1 else None}

    regular, digits, rate = [9.0, 5.0, 15.0, 10.0, 6.0], [10.0, -5.0, 20.0, 15.0, 10.0], [1.0, 2.0, 3.0]
    summary = {"confidence": 0.95, "paired_differences": [
        pair("regular", "stdp", regular), pair("digits", "stdp", digits),
        pair("regular", "tempotron", regular), pair("digits", "tempotron", digits), pair("rate", "tempotron", rate),
        pair("rate", "surrogate", [-4.0, -5.0, -6.0]), pair("digits", "surrogate", [0.0])]}
    lines = grid_table.pooled(summary).splitlines()
    assert lines[0].startswith("| rule | model | learnable − fixed, pooled over tasks")
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:2]: [c.strip() for c in line.strip("|").split("|")]
            for line in lines[2:] if line.startswith("| ")}
    assert set(rows) == {("STDP", "LIF"), ("tempotron", "LIF")}  # surrogate: one task with two pairs or more
    welch = stats.ttest_ind(regular, [-d for d in digits], equal_var=False).confidence_interval(0.95)
    mean = (np.mean(regular) + np.mean(digits)) / 2
    assert rows[("STDP", "LIF")][2] == f"{mean:+.1f} ({welch.low / 2:+.1f} to {welch.high / 2:+.1f}, 2 tasks)"
    assert rows[("STDP", "LIF")][3] == "–"
    assert rows[("STDP", "LIF")][4] == "regular +9.0, digits +10.0"
    assert rows[("tempotron", "LIF")][2].endswith(", 3 tasks)")
    welch = stats.ttest_ind(rate, [-d for d in digits], equal_var=False).confidence_interval(0.95)
    mean = (np.mean(rate) + np.mean(digits)) / 2
    assert rows[("tempotron", "LIF")][3] == f"{mean:+.1f} ({welch.low / 2:+.1f} to {welch.high / 2:+.1f}, 2 tasks)"
    # regular (twice) lies above 0 and surrogate's rate below (-5 +- 2.5); tempotron's rate (2 +- 2.5) and digits
    # include 0; surrogate's digits (one pair) has no interval
    assert lines[-1] == ("Of the 6 per-task intervals of learnable − fixed above, 2 lie above 0 and 1 below; with 95 % "
                         "intervals and no true difference anywhere, about 0.3 would exclude 0 by chance.")
    assert grid_table.pooled({"confidence": 0.95, "paired_differences": summary["paired_differences"][:1]}) == ""


def test_readme_grid_table_is_made_from_the_kept_record():
    """The kept summary.json summarises exactly the kept cells, and the grid table of docs/paper_grid.md is what
    benchmarks/grid_table.py makes of it."""
    from brainlz.protocol import jsonable
    from brainlz.sweep import summarize_sweep

    root = GRID_FILE.parents[1]
    spec = importlib.util.spec_from_file_location("grid_table", root / "benchmarks" / "grid_table.py")
    grid_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid_table)
    kept = json.loads((root / "results" / "paper_grid" / "summary.json").read_text())
    recomputed = json.loads(json.dumps(jsonable(summarize_sweep(_module().SWEEP, root / "results"))))
    assert kept["n_finished"] > 0
    for key in ("n_finished", "rows", "paired_differences"):
        assert kept[key] == recomputed[key], key
    latency = json.loads((root / "benchmarks" / "results" / "bench_grid_latency.json").read_text())
    readme = (root / "docs" / "paper_grid.md").read_text()
    section = readme.split(grid_table.BEGIN + "\n", 1)[1].split(grid_table.END, 1)[0]
    assert section == grid_table.section(kept, latency, grid_table.network_hashes(root / "results" / "paper_grid"
                                                                                  / "cells"))
    assert section.startswith(f"Cells finished: {kept['n_finished']} of the 240 cells")
