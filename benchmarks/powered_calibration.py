"""The powered grid's calibration, read: difficulties, number of seeds and the surrogate rule's epoch ceiling.

Reads the calibration run's record (``results/powered_calibration/``: ``summary.json`` and every cell's
``metrics.json``, made by ``brainlz run protocols/powered_calibration.py --workers 2 --out results``) and writes
``results/powered_calibration/choice.json``:

* ``medians``: per task and difficulty, the median over the six rule x model arms of the mean test accuracy;
* ``difficulties``: per task, :func:`brainlz.experiments.powered_grid.choose_difficulty` at 75 %;
* ``variances``: per rule x model, the seed-to-seed variance of the accuracy pooled over tasks and difficulties
  (pp^2), and ``n_seeds``: the smallest number of seeds whose minimal detectable pooled effect at 80 % power
  (two-sided, at the strictest Holm level 0.05 / 6) is at most 5 pp for every arm
  (:func:`~brainlz.experiments.powered_grid.seeds_for_power` on the largest arm variance), at least 10;
* ``minimal_detectable_effect_pp``: per arm, at that number of seeds;
* ``surrogate_ceiling``: how many surrogate trainings reached the epoch ceiling
  (:func:`~brainlz.experiments.powered_grid.ceiling_report`);
* ``outer_loop``: not measured here (the calibration runs the fixed-and-tuned arm only).

Usage::

    python benchmarks/powered_calibration.py [--record results/powered_calibration] [--min-seeds 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainlz.experiments import powered_grid as pg  # noqa: E402
from brainlz.files import write_json  # noqa: E402


def read_choice(record: Path, min_seeds: int = 10, effect_pp: float = 5.0) -> dict:
    """The calibration's choices from its record folder (see the module docstring)."""
    summary = json.loads((record / "summary.json").read_text())
    medians = pg.calibration_medians(summary)
    difficulties = {task: pg.choose_difficulty(levels) for task, levels in medians.items()}
    variances = {arm: (100.0 ** 2 * var, df) for arm, (var, df) in pg.arm_variances(summary).items()}
    largest = max(var for var, _ in variances.values())
    n_seeds = max(min_seeds, pg.seeds_for_power(largest, effect_pp))
    surrogate = [json.loads(p.read_text()) for p in sorted((record / "cells").glob("rule=surrogate,*/metrics.json"))]
    extrapolated = {task: not (min(levels.values()) <= pg.TARGET_ACCURACY <= max(levels.values()))
                    for task, levels in medians.items()}
    return {
        "n_cells_finished": summary["n_finished"], "n_cells": summary["n_cells"],
        "target_accuracy": pg.TARGET_ACCURACY,
        "medians": {task: {f"{d:g}": m for d, m in sorted(levels.items())} for task, levels in medians.items()},
        "difficulties": difficulties, "extrapolated": extrapolated,
        "variances_pp2": {arm: {"variance": var, "df": df} for arm, (var, df) in variances.items()},
        "effect_pp": effect_pp, "power": 0.8, "alpha": 0.05, "n_arms": 6, "n_seeds": n_seeds,
        "minimal_detectable_effect_pp": {arm: pg.minimal_detectable_effect(var, n_seeds)
                                         for arm, (var, _) in variances.items()},
        "surrogate_ceiling": pg.ceiling_report(m for m in surrogate),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default=str(ROOT / "results" / "powered_calibration"))
    parser.add_argument("--min-seeds", type=int, default=10)
    args = parser.parse_args(argv)
    record = Path(args.record)
    choice = read_choice(record, args.min_seeds)
    write_json(record / "choice.json", choice)
    print(json.dumps(choice, indent=1))


if __name__ == "__main__":
    main()
