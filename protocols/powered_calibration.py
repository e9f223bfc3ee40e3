"""Calibration of the powered grid: the fixed-and-tuned baseline at two difficulties per task.

Run before the powered grid and on seeds it never uses (1000 and 1001): every rule (surrogate, STDP,
tempotron) and model (LIF, meta-neuron), fixed-and-tuned arm only, 180 training and 500 independent test samples
per cell, at the two difficulties per task of ``brainlz.experiments.powered_grid.CALIBRATION_LEVELS``.  96 cells.
From its summary, ``benchmarks/powered_calibration.py`` chooses each task's difficulty (median accuracy over the
six rule x model arms at 75 %, ``choose_difficulty``), the number of seeds of the grid (minimal detectable pooled
effect at 80 % power at most 5 pp per arm, ``seeds_for_power``) and reports how often the surrogate rule reached
its epoch ceiling; it writes ``results/powered_calibration/choice.json``, which ``protocols/powered_grid.py`` reads.

    brainlz run protocols/powered_calibration.py --workers 2 --out results

Nothing in the rules, the outer loop or the tasks changes between this run and the end of the grid
(``brainlz/experiments/powered_grid.py`` holds their settings).
"""

from brainlz.experiments.powered_grid import calibration_sweep

SWEEP = calibration_sweep()
