"""A reduced version of protocols/paper_grid.py (same definition, few samples and seeds) runs end to end."""

import importlib.util
from pathlib import Path


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
    again = run_sweep(sweep, tmp_path, progress=False, figures=False)
    assert again.ran == [] and len(again.skipped) == 24
    assert again.summary["rows"] == first.summary["rows"]
