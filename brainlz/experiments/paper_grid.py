"""The paper grid's record, analysed: paired differences per task and pooled over tasks.

The grid (``protocols/paper_grid.py``) crosses tasks x rules x models x {fixed and tuned, learnable} x seeds;
its sweep summary (``results/paper_grid/summary.json``) holds, per task, rule and model, the paired differences
learnable - fixed of the seeds.  The README's table (``benchmarks/grid_table.py``) and the forest plot
(``figures/scripts/paper_grid.py``) both read them through these functions.
"""

from __future__ import annotations

from ..metrics import stratified_mean_ci

__all__ = ["TASKS", "MODELS", "SHAPING_TASK", "paired_tasks", "pooled_estimate"]

#: The grid's tasks, in the order of its tables.
TASKS = ("rate", "burst", "regular", "digits")
#: Model name -> label.
MODELS = {"lif": "LIF", "meta_neuron": "meta-neuron"}
#: The task on which the outer loop's settings were revised (README): not confirmatory.
SHAPING_TASK = "regular"


def paired_tasks(summary: dict, rule: str, model: str) -> dict:
    """{task: paired-difference entry of the summary} of one rule and model, for the tasks (in :data:`TASKS`
    order) with at least two pairs, i.e. with an interval."""
    pairs = {p["labels"]["task"]: p for p in summary["paired_differences"]
             if p["labels"]["rule"] == rule and p["labels"]["model"] == model and p["n_pairs"] >= 2}
    return {task: pairs[task] for task in TASKS if task in pairs}


def pooled_estimate(summary: dict, rule: str, model: str, exclude=()):
    """``(mean, low, high, tasks)``: the paired differences of one rule and model pooled over the tasks of
    :func:`paired_tasks` not in ``exclude`` (:func:`brainlz.metrics.stratified_mean_ci`); None with fewer than
    two such tasks."""
    pairs = paired_tasks(summary, rule, model)
    tasks = [task for task in pairs if task not in exclude]
    if len(tasks) < 2:
        return None
    mean, low, high, _ = stratified_mean_ci([pairs[t]["differences_pp"] for t in tasks], summary["confidence"])
    return mean, low, high, tasks
