"""The powered, pre-registered test of the paper's central claim: definition, calibration and analysis.

The paper grid (:mod:`brainlz.experiments.paper_grid`) tested on 20 samples per cell, mostly at ceiling.  This
grid fixes, before any of its cells runs:

* **test sets of their own**: every cell trains on :data:`N_TRAIN` samples (inner training + validation, as the
  old grid's 180) and is scored on :data:`N_TEST` further samples of the same task distribution
  (``Protocol(n_test=...)``);
* **calibrated difficulty**: per task, the difficulty at which the median over the six rule x model arms of the
  fixed-and-tuned baseline is :data:`TARGET_ACCURACY`, from a calibration run on seeds the grid never uses
  (:data:`CALIBRATION_SEEDS`), fixed-and-tuned arm only (:func:`choose_difficulty`);
* **sound training in both arms** (:data:`RULES`, :data:`INTRINSIC`): the surrogate rule early-stops on its own
  validation loss (patience 5, an improvement counting only above 0.001 nats) under a ceiling of 150 epochs, and
  the calibration record reports how often the
  ceiling was reached (:func:`ceiling_report`); the outer loop selects no point whose output layer is mostly
  silent or whose readout predicts one class (``max_silent_fraction`` 0.5, see
  :class:`brainlz.learning.intrinsic.OuterSearch`), and counts the rejected points;
* **the score and the objective side by side**: the primary score is the LZC readout's test accuracy (the
  paper's claim is about complexity-based encoding); the surrogate rule trains the population-count decision and
  the tempotron its fire / no-fire decision, and every cell also records that trained decision's test accuracy
  (``metrics["trained_decision"]``) for both arms, as a secondary endpoint.  STDP is unsupervised; its outer
  loop optimises the LZC readout's validation log-loss, the score it is judged by.

The analysis (pre-registered in ``protocols/powered_grid.py`` and the README) is here: :func:`pooled_test`
(primary endpoint per rule x model: paired difference learnable - fixed-and-tuned, pooled over the four tasks),
:func:`holm` (correction over the six arms), :func:`seeds_for_power` (the number of seeds from the
calibration run's variance) and :func:`verdict` (every endpoint from the grid's cells).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError

__all__ = ["RULES", "MODELS", "TASKS", "TUNE", "INTRINSIC", "N_TRAIN", "N_TEST", "CALIBRATION_SEEDS",
           "CALIBRATION_LEVELS", "TARGET_ACCURACY", "make_sweep", "calibration_sweep", "choose_difficulty",
           "ceiling_report", "arm_variances", "seeds_for_power", "minimal_detectable_effect", "pooled_test", "holm",
           "verdict", "PAPER_GAIN_PP"]

#: The rules' settings, fixed before the calibration run.  Surrogate: early stopping on a stratified 20 %
#: validation split of the training samples (patience 5; a decrease of the validation loss counts only if it
#: exceeds ``min_delta`` = 0.001 nats) under a 150-epoch ceiling, base learning rate 0.1 (the tuned arm tries x0.3,
#: x1, x3).  History: the old grid's 10 epochs with patience 4 stopped at the ceiling in 24 of 24 runs on outside
#: task families, the loss still falling.  A first calibration attempt (ceiling 40, base rate 0.03) was stopped
#: after its first cell, whose tuned rate 0.009 reached the ceiling (best epoch 38); measured then on that cell's
#: data (rate task, difficulty 0.94, seed 1001, 180 samples, batch 32): learning rate 0.009 still improving after
#: 100 epochs, 0.03 stopped at 37 (best 31), 0.1 at 20 (best 14), 0.3 at 25 (best 19), with the same validation
#: accuracy (0.78-0.83).  A second attempt (ceiling 60, no ``min_delta``, commit cc5ea72) was stopped after 18 of
#: its 96 cells: 8 of its 18 surrogate trainings reached the ceiling, every regular and digits cell (best epoch
#: 57-59, tuned rate mostly 0.03), on regular with the validation loss still falling by about 0.003 nats per
#: epoch (under-trained), on digits creeping down by 0.0002 per epoch at 100 % validation accuracy.  Hence the
#: higher ceiling, for the slow-but-real descent, and ``min_delta``, for the creep.
RULES = {
    "surrogate": {"rule": "surrogate", "epochs": 150, "batch_size": 32, "lr": 0.1, "patience": 5, "min_delta": 1e-3},
    "stdp": {"rule": "stdp", "epochs": 1},
    "tempotron": {"rule": "tempotron", "epochs": 10, "learning_rate": 0.002},
}
MODELS = ("lif", "meta_neuron")
#: The fixed-and-tuned arm: size and learning rate chosen on a validation split of the training part.
TUNE = {"hidden": [32, 64], "learning_rate_scale": [0.3, 1.0, 3.0]}
#: The learnable arm's outer loop (SPSA; the surrogate rule learns its intrinsic parameters by gradient), with
#: the activity constraint of the selection stated explicitly.
INTRINSIC = {"outer_steps": 4, "method": "spsa", "step_size": 0.1, "perturbation": 0.05, "max_silent_fraction": 0.5}
TASKS = ("rate", "burst", "regular", "digits")
#: Training part (inner training + validation) and independent test set of every cell.
N_TRAIN, N_TEST = 180, 500
#: Seeds of the calibration run; the grid uses seeds 0, 1, ... (never these).
CALIBRATION_SEEDS = (1000, 1001)
#: The two difficulties per task that the calibration run measures, bracketing the median accuracy
#: :data:`TARGET_ACCURACY` as extrapolated from the old grid (probit of the median linear in the separation
#: ``1 - difficulty``; old medians 93 % rate at 0.9, 93 % burst at 0.0, 82 % regular at 0.5, 96.5 % digits at 0.5).
CALIBRATION_LEVELS = {"rate": (0.94, 0.965), "burst": (0.4, 0.6), "regular": (0.55, 0.7), "digits": (0.75, 0.85)}
TARGET_ACCURACY = 0.75
#: Extra per-cell metrics the sweep summarises (secondary endpoints).
EXTRA = ("trained_decision.test_accuracy", "latency.inference_seconds_per_sample", "energy.synops_per_inference",
         "energy.snn_joules", "energy.ann_joules")


def _base_protocol(name: str):
    from ..protocol import Protocol

    return Protocol(name=name, n_samples=N_TRAIN, n_test=N_TEST, n_channels=64, hidden=64, output=64,
                    backend="standalone", batch_size=170)


def _rule_axis(rules) -> dict:
    return {rule: {"learning": dict(RULES[rule])} for rule in rules}


def make_sweep(difficulties: dict, seeds, *, name: str = "powered_grid", rules=tuple(RULES), models=MODELS,
               tasks=TASKS, arms=("fixed_tuned", "learnable"), **base):
    """The powered grid (or a reduced one) at the given difficulties: a :class:`brainlz.sweep.Sweep`.

    Parameters
    ----------
    difficulties : dict
        Task -> difficulty (the calibration's choice, ``results/powered_calibration/choice.json``).
    seeds : sequence of int
        The grid's seeds (0, 1, ...).
    rules, models, tasks, arms
        Subsets of the grid's axes.
    **base
        Fields of the base protocol to change (e.g. smaller sizes in tests).
    """
    from ..sweep import Sweep

    missing = [task for task in tasks if task not in difficulties]
    if missing:
        raise ParameterError("difficulties", difficulties, f"no difficulty for task(s) {missing}")
    if set(seeds) & set(CALIBRATION_SEEDS):
        raise ParameterError("seeds", list(seeds), f"the calibration seeds {CALIBRATION_SEEDS} are not grid seeds")
    protocol = _base_protocol(name)
    intrinsic = {"fixed_tuned": {"learning.tune": dict(TUNE)}, "learnable": {"learning.intrinsic": dict(INTRINSIC)}}
    return Sweep(
        name=name,
        description="The powered grid: learnable vs fixed-and-tuned intrinsic parameters at calibrated difficulty, "
                    f"{N_TEST} test samples per cell.",
        base=protocol.replace(**base) if base else protocol,
        axes={"rule": _rule_axis(rules), "model": list(models),
              "intrinsic": {arm: intrinsic[arm] for arm in arms},
              "task": {task: {"task": task, "difficulty": float(difficulties[task])} for task in tasks},
              "seed": list(seeds)},
        paired=("intrinsic", "learnable", "fixed_tuned") if len(arms) == 2 else None,
        extra_metrics=EXTRA,
    )


def calibration_sweep(*, name: str = "powered_calibration", seeds=CALIBRATION_SEEDS, levels=None, rules=tuple(RULES),
                      models=MODELS, **base):
    """The calibration run: fixed-and-tuned arm only, two difficulties per task, the calibration seeds.

    The task axis labels are ``<task>_<difficulty>`` (e.g. ``rate_0.94``).
    """
    from ..sweep import Sweep

    levels = dict(CALIBRATION_LEVELS if levels is None else levels)
    protocol = _base_protocol(name)
    return Sweep(
        name=name,
        description="Calibration of the powered grid: the fixed-and-tuned arm at two difficulties per task, on "
                    "seeds the grid does not use.",
        base=protocol.replace(**base) if base else protocol,
        axes={"rule": _rule_axis(rules), "model": list(models),
              "intrinsic": {"fixed_tuned": {"learning.tune": dict(TUNE)}},
              "task": {f"{task}_{d:g}": {"task": task, "difficulty": float(d)}
                       for task, pair in levels.items() for d in pair},
              "seed": list(seeds)},
        extra_metrics=EXTRA,
    )


# ====================================================================== calibration
def _probit(p):
    from scipy.stats import norm

    return norm.ppf(np.clip(p, 0.5 + 1e-3, 1 - 1e-3))


def choose_difficulty(medians: dict, target: float = TARGET_ACCURACY) -> float:
    """The difficulty at which the median accuracy is ``target``, from medians measured at two or more
    difficulties of one task.

    ``probit(median)`` (clipped to [50.1 %, 99.9 %]) is fitted as a line in the separation ``1 - difficulty``
    through the two measured difficulties nearest the target (least squares over all of them if more), and the
    line is solved for ``probit(target)``; the result is clipped to [0, 1] and rounded to 0.005.  Where both
    medians lie on the same side of the target the line extrapolates (the record says so).

    Parameters
    ----------
    medians : dict
        Difficulty -> median accuracy (fraction).
    """
    if len(medians) < 2:
        raise ParameterError("medians", medians, "expected medians at two or more difficulties")
    d = np.array(sorted(medians), dtype=float)
    y = _probit(np.array([medians[k] for k in sorted(medians)], dtype=float))
    separation = 1.0 - d
    slope, intercept = np.polyfit(separation, y, 1)
    if not slope > 0:  # accuracy does not grow with the separation: take the measured level closest to the target
        accuracies = np.array([medians[k] for k in sorted(medians)])
        return float(d[np.argmin(np.abs(accuracies - target))])
    chosen = 1.0 - (float(_probit(target)) - intercept) / slope
    return float(np.clip(np.round(chosen / 0.005) * 0.005, 0.0, 1.0))


def _cells(summary: dict) -> list:
    return [cell for cell in summary["cells"] if cell.get("status", "finished") == "finished"
            and cell.get("accuracy") is not None]


def calibration_medians(summary: dict) -> dict:
    """``{task: {difficulty: median over the rule x model arms of the mean accuracy over seeds}}`` of a
    calibration sweep's summary."""
    per_arm = {}
    for row in summary["rows"]:
        labels = row["labels"]
        if row.get("accuracy_mean") is None:
            continue
        task, level = labels["task"].rsplit("_", 1)
        per_arm.setdefault(task, {}).setdefault(float(level), []).append(row["accuracy_mean"])
    return {task: {level: float(np.median(values)) for level, values in levels.items()}
            for task, levels in per_arm.items()}


def arm_variances(summary: dict) -> dict:
    """``{"rule/model": (pooled variance of the accuracy over seeds, degrees of freedom)}`` from a calibration
    summary: the seed-to-seed sample variances of every task and difficulty of the arm, pooled (weighted by
    their degrees of freedom)."""
    pooled = {}
    for row in summary["rows"]:
        values = [a for a in (row.get("accuracies") or []) if a is not None]
        if len(values) < 2:
            continue
        key = f"{row['labels']['rule']}/{row['labels']['model']}"
        ss, df = pooled.get(key, (0.0, 0))
        pooled[key] = (ss + float(np.var(values, ddof=1)) * (len(values) - 1), df + len(values) - 1)
    return {key: (ss / df, df) for key, (ss, df) in pooled.items()}


def ceiling_report(cell_metrics, ceiling: int = RULES["surrogate"]["epochs"]) -> dict:
    """How often the surrogate rule's training reached its epoch ceiling without early stopping.

    The record holds the epochs of every cell's final training (the tuning candidates' trainings keep only their
    validation accuracy), so the final trainings are counted.

    Parameters
    ----------
    cell_metrics : iterable of dict
        ``metrics.json`` of the surrogate cells.
    ceiling : int
        The epoch ceiling.
    """
    reached = total = 0
    best_epochs = []
    for metrics in cell_metrics:
        learning = metrics.get("learning") or {}
        epochs = learning.get("epochs")
        if not isinstance(epochs, list):
            continue
        total += 1
        reached += int(len(epochs) >= ceiling and not learning.get("stopped_early"))
        best_epochs.append(int(learning.get("best_epoch", -1)))
    return {"n_trainings": total, "reached_ceiling": reached,
            "best_epoch_median": float(np.median(best_epochs)) if best_epochs else None,
            "best_epoch_max": max(best_epochs) if best_epochs else None}


# ====================================================================== power and tests
def minimal_detectable_effect(variance: float, n_seeds: int, *, n_tasks: int = 4, alpha: float = 0.05,
                              n_arms: int = 6, power: float = 0.8) -> float:
    r"""Smallest pooled paired difference (same unit as ``sqrt(variance)``) detected with probability ``power``.

    The pooled estimate averages ``n_tasks`` per-task mean differences of ``n_seeds`` pairs; a paired difference
    of two independent cells has variance ``2 * variance`` (the calibration measures one arm; correlation between
    the arms of a seed only lowers it, so this is conservative).  Its standard error is
    ``sqrt(2 * variance / (n_tasks * n_seeds))``.  The test is two-sided at the strictest Holm level
    ``alpha / n_arms``, with Student's t of ``n_tasks * (n_seeds - 1)`` degrees of freedom and the power of the
    noncentral t (solved by bisection).
    """
    from scipy.stats import nct, t

    if n_seeds < 2:
        raise ParameterError("n_seeds", n_seeds, "expected at least 2 seeds")
    se = math.sqrt(2.0 * variance / (n_tasks * n_seeds))
    df = n_tasks * (n_seeds - 1)
    critical = t.ppf(1 - alpha / n_arms / 2, df)
    low, high = 0.0, 20.0
    for _ in range(80):
        mid = (low + high) / 2
        achieved = nct.sf(critical, df, mid) + nct.cdf(-critical, df, mid)
        low, high = (mid, high) if achieved < power else (low, mid)
    return high * se


def seeds_for_power(variance: float, effect: float, *, max_seeds: int = 40, **options) -> int:
    """The smallest number of seeds whose :func:`minimal_detectable_effect` is at most ``effect``."""
    for n in range(2, max_seeds + 1):
        if minimal_detectable_effect(variance, n, **options) <= effect:
            return n
    raise ParameterError("effect", effect, f"not detectable with {max_seeds} seeds at variance {variance:g}")


def pooled_test(groups) -> dict:
    r"""The primary endpoint of one arm: per-task paired differences pooled over tasks.

    ``groups``: one sequence of paired differences (one per seed) per task.  The estimate is the unweighted mean
    of the task means, with :func:`brainlz.metrics.stratified_mean_ci`'s variance
    :math:`\hat V = \sum_k s_k^2/n_k / K^2` and Welch-Satterthwaite degrees of freedom :math:`\nu`; the two-sided
    p-value is that of :math:`\hat\mu/\sqrt{\hat V}` under Student's t with :math:`\nu` degrees of freedom.

    Returns
    -------
    dict
        ``mean``, ``low``, ``high`` (95 % interval), ``se``, ``df``, ``t``, ``p``.
    """
    from scipy.stats import t as student

    from ..metrics import stratified_mean_ci

    groups = [np.asarray(g, dtype=float) for g in groups]
    mean, low, high, df = stratified_mean_ci(groups, 0.95)
    se = math.sqrt(sum(float(np.var(g, ddof=1)) / g.size for g in groups)) / len(groups)
    if se == 0:
        statistic, p = (math.inf if mean else 0.0), (0.0 if mean else 1.0)
    else:
        statistic = mean / se
        p = float(2 * student.sf(abs(statistic), df))
    return {"mean": float(mean), "low": float(low), "high": float(high), "se": se, "df": float(df),
            "t": float(statistic), "p": p}


def holm(pvalues: dict) -> dict:
    """Holm's step-down adjusted p-values (family-wise error over the keys): ``{key: adjusted p}``."""
    order = sorted(pvalues, key=lambda key: pvalues[key])
    m = len(order)
    adjusted, running = {}, 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        adjusted[key] = running
    return adjusted


# ====================================================================== verdict
#: The abstract's gains (percentage points) of learnable over fixed intrinsic parameters, per neuron model.
PAPER_GAIN_PP = {"lif": 13.5, "meta_neuron": 8.5}
#: The abstract's best accuracy and its inference latency bound (s per sample).
PAPER_BEST_ACCURACY, PAPER_LATENCY_S = 0.995, 1e-3


def _paired(cells, value) -> dict:
    """``{(rule, model): {task: [learnable - fixed_tuned of value(cell) per seed present in both arms]}}``."""
    table = {}
    for cell in cells:
        labels = cell["labels"]
        number = value(cell)
        if number is None:
            continue
        key = (labels["rule"], labels["model"], labels["task"], str(labels["seed"]))
        table.setdefault(key, {})[labels["intrinsic"]] = float(number)
    paired = {}
    for (rule, model, task, seed), arms in sorted(table.items()):
        if "learnable" in arms and "fixed_tuned" in arms:
            paired.setdefault((rule, model), {}).setdefault(task, []).append(arms["learnable"] - arms["fixed_tuned"])
    return paired


def _per_task(groups: dict) -> dict:
    from ..metrics import mean_ci

    out = {}
    for task, differences in groups.items():
        if len(differences) >= 2:
            mean, low, high = mean_ci(differences)
            out[task] = {"n_pairs": len(differences), "mean_pp": 100 * mean, "low_pp": 100 * low,
                         "high_pp": 100 * high}
    return out


def _pooled(groups: dict):
    usable = [g for g in groups.values() if len(g) >= 2]
    if len(usable) < 2:
        return None
    result = pooled_test(usable)
    return {"n_tasks": len(usable), "n_pairs": sum(len(g) for g in usable), "mean_pp": 100 * result["mean"],
            "low_pp": 100 * result["low"], "high_pp": 100 * result["high"], "df": result["df"], "p": result["p"]}


def _claim(estimate: dict, paper_pp: float, alpha: float) -> str:
    """The pre-registered reading of one arm: significant after Holm and positive, and whether the 95 % interval
    holds the paper's value."""
    if estimate["p_holm"] < alpha and estimate["mean_pp"] > 0:
        size = ("and in size" if estimate["low_pp"] <= paper_pp <= estimate["high_pp"] else
                "smaller than the paper's" if estimate["high_pp"] < paper_pp else "larger than the paper's")
        return f"reproduced in direction, {size} (+{paper_pp:g} pp)"
    if estimate["p_holm"] < alpha:
        return "not reproduced: learnable parameters significantly worse"
    return "not reproduced: no significant difference"


def verdict(cells, *, alpha: float = 0.05) -> dict:
    """The pre-registered analysis of the powered grid (``protocols/powered_grid.py``), from its cells.

    Parameters
    ----------
    cells : iterable of dict
        The cells of the sweep's ``summary.json`` (``labels`` with ``rule``, ``model``, ``intrinsic``, ``task``,
        ``seed``; ``accuracy``, the LZC readout's test accuracy; ``extra`` with ``trained_decision.test_accuracy``,
        ``latency.inference_seconds_per_sample``, ``energy.snn_joules``, ``energy.ann_joules``).  Unfinished cells
        (``accuracy`` None) are left out, and a seed counts for an arm only where both of its cells finished.
    alpha : float
        Family-wise error rate of the primary endpoints.

    Returns
    -------
    dict
        ``primary``: per ``"rule/model"`` the pooled paired difference of the LZC readout (pp, 95 % interval,
        ``p``, Holm's ``p_holm``, ``claim``) and its ``per_task`` differences; ``trained_decision``: the same,
        uncorrected, for the decision each supervised rule trained; ``best``: the best mean test accuracy of a
        rule x model x arm x task row; ``latency`` and ``energy``: per model and arm, medians over cells; the
        paper's values beside each.
    """
    cells = [c for c in cells if c.get("accuracy") is not None]
    primary = {}
    for (rule, model), groups in _paired(cells, lambda c: c["accuracy"]).items():
        pooled = _pooled(groups)
        if pooled is not None:
            primary[f"{rule}/{model}"] = {**pooled, "per_task": _per_task(groups),
                                          "paper_pp": PAPER_GAIN_PP.get(model)}
    adjusted = holm({arm: estimate["p"] for arm, estimate in primary.items()}) if primary else {}
    for arm, estimate in primary.items():
        estimate["p_holm"] = adjusted[arm]
        model = arm.split("/", 1)[1]
        estimate["claim"] = _claim(estimate, PAPER_GAIN_PP.get(model, 0.0), alpha)
    trained = {}
    decision = lambda c: (c.get("extra") or {}).get("trained_decision.test_accuracy")  # noqa: E731
    for (rule, model), groups in _paired(cells, decision).items():
        pooled = _pooled(groups)
        if pooled is not None:
            trained[f"{rule}/{model}"] = {**pooled, "per_task": _per_task(groups)}
    rows = {}
    for cell in cells:
        labels = cell["labels"]
        rows.setdefault((labels["rule"], labels["model"], labels["intrinsic"], labels["task"]), []).append(
            float(cell["accuracy"]))
    best = None
    if rows:
        key, values = max(rows.items(), key=lambda item: (float(np.mean(item[1])), item[0]))
        best = {"row": dict(zip(("rule", "model", "intrinsic", "task"), key)), "mean": float(np.mean(values)),
                "n_seeds": len(values), "paper": PAPER_BEST_ACCURACY,
                "reaches_paper": bool(np.mean(values) >= PAPER_BEST_ACCURACY)}
    latency, energy = {}, {}
    for cell in cells:
        labels, extra = cell["labels"], cell.get("extra") or {}
        key = f"{labels['model']}/{labels['intrinsic']}"
        seconds = extra.get("latency.inference_seconds_per_sample")
        if seconds is not None:
            latency.setdefault(key, []).append(float(seconds))
        snn, ann = extra.get("energy.snn_joules"), extra.get("energy.ann_joules")
        if snn is not None and ann:
            energy.setdefault(key, []).append((float(snn), float(ann)))
    latency = {key: {"n_cells": len(v), "median_ms": 1e3 * float(np.median(v)), "max_ms": 1e3 * float(np.max(v)),
                     "sub_millisecond_fraction": float(np.mean(np.asarray(v) < PAPER_LATENCY_S))}
               for key, v in sorted(latency.items())}
    energy = {key: {"n_cells": len(v), "snn_nj_median": 1e9 * float(np.median([s for s, _ in v])),
                    "ann_nj": 1e9 * float(np.median([a for _, a in v])),
                    "ratio_median": float(np.median([s / a for s, a in v]))}
              for key, v in sorted(energy.items())}
    return {"alpha": alpha, "primary": primary, "trained_decision": trained, "best": best, "latency": latency,
            "energy": energy}
