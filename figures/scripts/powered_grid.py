"""Render the powered grid's paired differences learnable - fixed-and-tuned as a forest plot.

One panel per rule (columns: surrogate BP, STDP, tempotron) and neuron model (rows: LIF, meta-neuron).  In each,
one line per task (its number of seed pairs in brackets): the mean paired difference of the LZC readout's test
accuracy (500 independent test samples per cell; percentage points) with its 95 % t-interval, and under them the
pre-registered primary endpoint, the difference pooled over the four tasks with its 95 % interval and its
Holm-corrected p-value over the six arms (:func:`brainlz.experiments.powered_grid.verdict`).  Dashed: the paper's
gain for the model (+13.5 pp LIF, +8.5 pp meta-neuron); solid: no difference.

Reads the sweep's ``summary.json`` (``brainlz run protocols/powered_grid.py``).

Usage: ``python figures/scripts/powered_grid.py [--summary results/powered_grid/summary.json] [--out
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

from brainlz.experiments.powered_grid import MODELS, PAPER_GAIN_PP, RULES, TASKS, verdict  # noqa: E402
from brainlz.figures import make_forest_grid, save_figure  # noqa: E402

RULE_NAMES = {"surrogate": "surrogate BP", "stdp": "STDP", "tempotron": "tempotron"}
MODEL_NAMES = {"lif": "LIF", "meta_neuron": "meta-neuron"}


def forest_rows(analysis: dict, rule: str, model: str) -> list:
    """``[(label, mean, low, high, kind)]`` of one panel, top to bottom: the tasks (``"task"``), then the pooled
    primary endpoint (``"pooled"``) once two tasks have two pairs."""
    estimate = analysis["primary"].get(f"{rule}/{model}")
    if estimate is None:
        return []
    rows = [(f"{task} ({e['n_pairs']})", e["mean_pp"], e["low_pp"], e["high_pp"], "task")
            for task, e in sorted(estimate["per_task"].items(), key=lambda item: TASKS.index(item[0])
                                  if item[0] in TASKS else len(TASKS))]
    rows.append((f"pooled, Holm p = {estimate['p_holm']:.2g}", estimate["mean_pp"], estimate["low_pp"],
                 estimate["high_pp"], "pooled"))
    return rows


def make_figure(summary: dict) -> Figure:
    analysis = verdict(summary["cells"])
    panels = [[(f"{RULE_NAMES[rule]}, {MODEL_NAMES[model]}", forest_rows(analysis, rule, model)) for rule in RULES]
              for model in MODELS]
    return make_forest_grid(
        panels, references=[PAPER_GAIN_PP[model] for model in MODELS],
        xlabel="learnable − fixed and tuned (pp)", empty_text="fewer than 2 tasks with 2 pairs yet",
        title=f"Powered grid ({summary['n_finished']} of {summary['n_cells']} cells): LZC-readout test accuracy "
              f"(500 independent samples per cell),\nlearnable − fixed-and-tuned intrinsic parameters, mean and "
              f"95 % CI; dashed: the paper's gain, +{PAPER_GAIN_PP['lif']} pp LIF, "
              f"+{PAPER_GAIN_PP['meta_neuron']} pp meta-neuron")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", default=str(ROOT / "results" / "powered_grid" / "summary.json"))
    parser.add_argument("--out", default=str(ROOT / "figures" / "paper_grid_differences.png"))
    args = parser.parse_args(argv)
    summary_path = Path(args.summary)
    if not summary_path.is_file():
        raise SystemExit(f"--summary: no file {summary_path} (run the grid: brainlz run protocols/powered_grid.py)")
    path = save_figure(make_figure(json.loads(summary_path.read_text())), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
