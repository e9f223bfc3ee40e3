"""The powered grid's definition and analysis (brainlz/experiments/powered_grid.py), against independent
references: a Monte Carlo power simulation, scipy's one-sample t-test, hand-computed Holm adjustments."""

import numpy as np
import pytest
from scipy import stats

from brainlz.errors import ParameterError
from brainlz.experiments import powered_grid as pg


def test_holm_matches_the_step_down_by_hand():
    p = {"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005}
    # sorted: d 0.005*4 = 0.02, a 0.01*3 = 0.03, c 0.03*2 = 0.06, b 0.04*1 = 0.04 -> max with previous 0.06
    assert pg.holm(p) == pytest.approx({"d": 0.02, "a": 0.03, "c": 0.06, "b": 0.06})
    assert pg.holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_pooled_test_with_one_task_is_the_one_sample_t_test():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=9)
    result = pg.pooled_test([x])
    reference = stats.ttest_1samp(x, 0.0)
    assert result["p"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert result["t"] == pytest.approx(reference.statistic, rel=1e-9)
    low, high = reference.confidence_interval(0.95)
    assert (result["low"], result["high"]) == pytest.approx((low, high), rel=1e-9)


def test_minimal_detectable_effect_has_the_stated_power():
    """Simulated grids with the pooled effect at the computed MDE reject at the strictest Holm level in about
    80 % of runs (Monte Carlo, 4000 grids)."""
    rng = np.random.default_rng(1)
    sigma, n_seeds, n_tasks = 6.0, 10, 4
    effect = pg.minimal_detectable_effect(sigma ** 2, n_seeds, n_tasks=n_tasks)
    runs = 4000
    diffs = rng.normal(effect, np.sqrt(2) * sigma, size=(runs, n_tasks, n_seeds))
    means = diffs.mean(axis=2).mean(axis=1)
    se = np.sqrt((diffs.var(axis=2, ddof=1) / n_seeds).sum(axis=1)) / n_tasks
    critical = stats.t.ppf(1 - 0.05 / 6 / 2, n_tasks * (n_seeds - 1))
    power = np.mean(np.abs(means / se) > critical)
    assert abs(power - 0.8) < 0.03
    assert pg.minimal_detectable_effect(sigma ** 2, 20) < effect  # more seeds detect less
    n = pg.seeds_for_power(sigma ** 2, 5.0)
    assert pg.minimal_detectable_effect(sigma ** 2, n) <= 5.0 < pg.minimal_detectable_effect(sigma ** 2, n - 1)


def test_choose_difficulty_recovers_a_probit_linear_curve():
    def median(d):  # probit(accuracy) = 0.2 + 6 * (1 - d)
        return float(stats.norm.cdf(0.2 + 6 * (1 - d)))

    target_d = 1 - (stats.norm.ppf(0.75) - 0.2) / 6
    for pair in ((0.85, 0.95), (0.7, 0.8), (0.92, 0.98)):  # bracketing and both-sided extrapolation
        chosen = pg.choose_difficulty({d: median(d) for d in pair})
        assert abs(chosen - target_d) <= 0.0025 + 1e-12
    assert pg.choose_difficulty({0.2: 0.9, 0.4: 0.95}) == 0.2  # no increase with separation: nearest level
    with pytest.raises(ParameterError, match="medians"):
        pg.choose_difficulty({0.5: 0.8})


def _summary(rows):
    return {"rows": [{"labels": labels, "accuracies": accs, "accuracy_mean": float(np.mean(accs))}
                     for labels, accs in rows]}


def test_calibration_medians_and_variances():
    rows = []
    for rule, model, offset in (("stdp", "lif", 0.0), ("surrogate", "lif", 0.1), ("tempotron", "meta_neuron", 0.2)):
        for task in ("rate_0.9", "rate_0.95"):
            base = 0.9 if task.endswith("0.9") else 0.7
            rows.append(({"rule": rule, "model": model, "task": task}, [base + offset - 0.02, base + offset + 0.02]))
    medians = pg.calibration_medians(_summary(rows))
    assert medians == {"rate": pytest.approx({0.9: 1.0, 0.95: 0.8})}
    variances = pg.arm_variances(_summary(rows))
    assert variances["stdp/lif"] == (pytest.approx(0.0008), 2)


def test_grid_definition_is_fixed_and_checked():
    sweep = pg.make_sweep({"rate": 0.95, "burst": 0.5, "regular": 0.6, "digits": 0.8}, range(3))
    assert len(sweep.cells) == 3 * 2 * 2 * 4 * 3
    cell = sweep.cells[0].protocol
    assert (cell.n_samples, cell.n_test) == (pg.N_TRAIN, pg.N_TEST)
    learnable = [c for c in sweep.cells if c.labels["intrinsic"] == "learnable" and c.labels["rule"] == "stdp"][0]
    assert learnable.protocol.learning["intrinsic"]["max_silent_fraction"] == 0.5
    with pytest.raises(ParameterError, match="calibration seeds"):
        pg.make_sweep({t: 0.5 for t in pg.TASKS}, [0, 1000])
    with pytest.raises(ParameterError, match="difficulties"):
        pg.make_sweep({"rate": 0.5}, [0])
    calibration = pg.calibration_sweep()
    assert len(calibration.cells) == 3 * 2 * 8 * 2
    assert {c.protocol.seed for c in calibration.cells} == set(pg.CALIBRATION_SEEDS)
    assert {c.labels["intrinsic"] for c in calibration.cells} == {"fixed_tuned"}


def test_calibration_choice_from_a_record(tmp_path):
    """benchmarks/powered_calibration.py: difficulties at the 75 % median, seeds for 5 pp, the ceiling count."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("powered_calibration", root / "benchmarks" / "powered_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    rows = []
    for task, (easy, hard) in pg.CALIBRATION_LEVELS.items():
        for d, centre in ((easy, 0.85), (hard, 0.65)):
            for k, (rule, model) in enumerate([(r, m) for r in pg.RULES for m in pg.MODELS]):
                accs = list(centre + 0.01 * (k - 2.5) + rng.normal(0, 0.04, 2))
                rows.append({"labels": {"rule": rule, "model": model, "task": f"{task}_{d:g}"}, "accuracies": accs,
                             "accuracy_mean": float(np.mean(accs))})
    record = tmp_path / "powered_calibration"
    (record / "cells" / "rule=surrogate,x").mkdir(parents=True)
    (record / "summary.json").write_text(json.dumps({"rows": rows, "n_finished": 96, "n_cells": 96}))
    epochs = [{"validation_loss": 1.0}] * 60
    (record / "cells" / "rule=surrogate,x" / "metrics.json").write_text(
        json.dumps({"learning": {"epochs": epochs, "best_epoch": 59, "stopped_early": False}}))
    choice = module.read_choice(record)
    for task, (easy, hard) in pg.CALIBRATION_LEVELS.items():
        assert easy < choice["difficulties"][task] < hard and not choice["extrapolated"][task]
    worst = max(v["variance"] for v in choice["variances_pp2"].values())
    assert choice["n_seeds"] >= 10
    assert pg.minimal_detectable_effect(worst, choice["n_seeds"]) <= 5.0
    assert max(choice["minimal_detectable_effect_pp"].values()) <= 5.0
    assert choice["surrogate_ceiling"] == {"n_trainings": 1, "reached_ceiling": 1, "best_epoch_median": 59.0,
                                           "best_epoch_max": 59}
