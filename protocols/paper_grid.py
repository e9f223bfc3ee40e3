"""The paper's experiment grid: learnable vs fixed-and-tuned intrinsic parameters, for every rule and model.

Rudnicka, Szczepanski & Pregowska (arXiv 2508.11674) report that learning intrinsic neuron parameters together
with the weights beats tuning only network size and learning rate, by up to 13.5 pp (LIF) and 8.5 pp
(meta-neuron), with a best accuracy of 99.5 %.  This sweep measures that claim in brainlz:

* rules: surrogate-gradient BPTT (all weights), STDP (input weights, unsupervised) and the tempotron (output
  weights), see brainlz/protocol.py ``train_network``;
* models: LIF and the meta-neuron (every layer);
* ``fixed_tuned``: intrinsic parameters at their defaults, hidden size and learning rate chosen on a validation
  split of the training part (``learning.tune``: hidden 32 or 64, learning rate x0.3, x1 or x3 of the rule's
  default);
* ``learnable``: the model's learnable intrinsic parameters learned with the weights (``learning.intrinsic``):
  per neuron by the twin's gradient for the surrogate rule; shared per layer by the SPSA outer loop on the
  validation log-loss of the LZC readout for STDP and the tempotron (brainlz/learning/intrinsic.py: steps in log
  coordinates for the wide positive parameters, at most 0.05 of a box per step; every inner
  learning restarts from the initial weights, and the visited point with the best validation accuracy is
  selected, the starting one included; its weights are then learned once more on the whole training part, as
  the tuned baseline's are), default size and learning rate;
* tasks rate, burst, regular and digits; 5 seeds.

The summary gives the LZC-readout test accuracy (mean and 95 % interval over seeds), the paired difference
learnable - fixed_tuned per cell, the simulation time per sample and the synaptic energy per inference against a
same-size ANN.  240 cells: about 6 hours on two cores with ``brainlz run protocols/paper_grid.py --workers 2``
(two cells at a time; the regular and digits tasks took 3.2 and 2.7 cell-hours).  Interrupted, the same command resumes without redoing finished cells; the record of the
finished cells is kept in git (``results/paper_grid/``, see the README).  ``make_sweep(...)`` builds reduced
grids from the same definition (the test suite runs one).
"""

from brainlz.protocol import Protocol
from brainlz.sweep import Sweep

RULES = {
    "surrogate": {"rule": "surrogate", "epochs": 10, "batch_size": 32, "lr": 0.03, "patience": 4},
    "stdp": {"rule": "stdp", "epochs": 1},
    "tempotron": {"rule": "tempotron", "epochs": 10, "learning_rate": 0.002},
}
TASKS = {"rate": {"task": "rate", "difficulty": 0.9}, "burst": {"task": "burst", "difficulty": 0.0},
         "regular": {"task": "regular", "difficulty": 0.5}, "digits": {"task": "digits", "difficulty": 0.5}}
TUNE = {"hidden": [32, 64], "learning_rate_scale": [0.3, 1.0, 3.0]}
INTRINSIC = {"outer_steps": 4, "method": "spsa", "step_size": 0.1, "perturbation": 0.05}
EXTRA = ("latency.inference_seconds_per_sample", "energy.synops_per_inference", "energy.snn_joules",
         "energy.ann_joules")


def make_sweep(name="paper_grid", *, rules=tuple(RULES), models=("lif", "meta_neuron"), tasks=tuple(TASKS),
               seeds=(0, 1, 2, 3, 4), tune=None, intrinsic=None, rule_options=None, **base):
    """The grid (or a reduced one): a :class:`brainlz.sweep.Sweep`.

    ``rule_options`` updates the rules' settings (e.g. fewer epochs), ``base`` the base protocol's fields.
    """
    rule_axis = {}
    for rule in rules:
        learning = {**RULES[rule], **((rule_options or {}).get(rule, {}))}
        rule_axis[rule] = {"learning": learning}
    defaults = dict(n_samples=200, n_channels=64, hidden=64, output=64, backend="standalone", batch_size=100)
    return Sweep(
        name=name,
        description=__doc__.strip().splitlines()[0],
        base=Protocol(name=name, **{**defaults, **base}),
        axes={
            "rule": rule_axis,
            "model": list(models),
            "intrinsic": {"fixed_tuned": {"learning.tune": dict(tune or TUNE)},
                          "learnable": {"learning.intrinsic": dict(intrinsic or INTRINSIC)}},
            "task": {task: TASKS[task] for task in tasks},
            "seed": list(seeds),
        },
        paired=("intrinsic", "learnable", "fixed_tuned"),
        extra_metrics=EXTRA,
    )


SWEEP = make_sweep()
