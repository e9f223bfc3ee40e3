"""Render figures/paper_grid_differences.png: the paper grid's paired differences learnable - fixed, as a forest plot.

One panel per rule (columns: surrogate BP, STDP, tempotron) and neuron model (rows: LIF, meta-neuron).  In each,
one line per task with at least two finished pairs (their number in brackets): the mean paired difference of LZC-readout test accuracy
(learnable intrinsic parameters minus fixed and tuned, percentage points, over the seeds) with its 95 %
t-interval; under them the difference pooled over the tasks (each task counting once, Welch-Satterthwaite
interval, :func:`brainlz.metrics.stratified_mean_ci`) and pooled over the tasks other than the regular one, on
which the outer loop's settings were revised (the confirmatory estimate).  The dashed line marks the paper's
largest gain for the model (+13.5 pp LIF, +8.5 pp meta-neuron), the solid one no difference.

Reads ``results/paper_grid/summary.json`` (the record kept in git, or a run of ``brainlz run
protocols/paper_grid.py``).

Usage: ``python figures/scripts/paper_grid.py [--summary results/paper_grid/summary.json] [--out
figures/paper_grid_differences.png]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from brainlz.experiments.paper_grid import MODELS, SHAPING_TASK, paired_tasks, pooled_estimate  # noqa: E402
from brainlz.figures import make_forest_grid, save_figure  # noqa: E402

RULES = {"surrogate": "surrogate BP", "stdp": "STDP", "tempotron": "tempotron"}
PAPER_GAIN_PP = {"lif": 13.5, "meta_neuron": 8.5}  # the abstract's "up to" gains


def forest_rows(summary: dict, rule: str, model: str) -> list:
    """``[(label, mean, low, high, kind)]`` of one panel, top to bottom: every task with at least two pairs
    (``kind="task"``), then the pooled estimates (``"pooled"``) when at least two tasks (resp. two tasks other than
    the regular one) have them (:mod:`brainlz.experiments.paper_grid`, as in the README)."""
    pairs = paired_tasks(summary, rule, model)
    rows = []
    for task, pair in pairs.items():
        low, high = pair["difference_ci95_pp"]
        rows.append((f"{task} ({pair['n_pairs']})", pair["difference_pp"], low, high, "task"))
    for label, exclude in (("pooled", ()), (f"pooled w/o {SHAPING_TASK}", (SHAPING_TASK,))):
        estimate = pooled_estimate(summary, rule, model, exclude)
        if estimate is not None:
            mean, low, high, tasks = estimate
            rows.append((f"{label} ({len(tasks)} tasks)", mean, low, high, "pooled"))
    return rows


def make_figure(summary: dict) -> Figure:
    panels = [[(f"{RULES[rule]}, {MODELS[model]}", forest_rows(summary, rule, model)) for rule in RULES]
              for model in MODELS]
    return make_forest_grid(
        panels, references=[PAPER_GAIN_PP[model] for model in MODELS], xlabel="learnable − fixed (pp)",
        empty_text="no task with 2 finished pairs yet",
        title=f"Paper grid ({summary['n_finished']} of {summary['n_cells']} cells): LZC-readout test accuracy, "
              f"learnable − fixed intrinsic parameters, mean and 95 % CI (pairs)\ndashed: the paper's "
              f"largest gain, +{PAPER_GAIN_PP['lif']} pp LIF, +{PAPER_GAIN_PP['meta_neuron']} pp meta-neuron")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", default=str(ROOT / "results" / "paper_grid" / "summary.json"))
    parser.add_argument("--out", default=str(ROOT / "figures" / "paper_grid_differences.png"))
    args = parser.parse_args(argv)
    summary_path = Path(args.summary)
    if not summary_path.is_file():
        raise SystemExit(f"--summary: no file {summary_path} (run the grid: brainlz run protocols/paper_grid.py)")
    path = save_figure(make_figure(json.loads(summary_path.read_text())), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
