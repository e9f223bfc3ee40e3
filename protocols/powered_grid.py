"""The powered grid: a pre-registered test of the paper's central claim (learnable intrinsic parameters help).

Pre-registration (fixed before any cell of this grid runs; the settings are in
``brainlz/experiments/powered_grid.py``, the calibration's numbers in ``results/powered_calibration/choice.json``):

Design.  {surrogate BP, STDP, tempotron} x {LIF, meta-neuron} x {fixed and tuned, learnable} x {rate, burst,
regular, digits} x seeds 0 .. n_seeds-1.  Every cell trains on 180 samples (inner training and validation) and is
scored on 500 independent test samples of the same task distribution (their own seed stream; for digits, images no
training sample used).  Each task runs at the difficulty the calibration chose: the one at which the median over
the six rule x model arms of the fixed-and-tuned baseline is 75 % (calibration on seeds 1000 and 1001, never used
here, fixed-and-tuned arm only, probit interpolation between two measured difficulties).  The fixed-and-tuned arm
chooses hidden size (32, 64) and learning rate (x0.3, x1, x3) on a validation split; the learnable arm learns the
intrinsic parameters (surrogate: per neuron, by the twin's gradient, jointly with the weights; STDP and tempotron:
shared per layer, 4 SPSA steps on the LZC readout's validation log-loss, the selected point never one whose output
layer leaves more than half of its trains silent or whose readout predicts one class).  The surrogate rule
early-stops on its validation loss (patience 5, improvements counting above 0.001 nats, ceiling 150 epochs, base
learning rate 0.1).

Primary endpoint, per rule x model (six arms): the paired difference learnable - fixed-and-tuned of the LZC
readout's test accuracy, per task the mean over seeds, pooled over the four tasks as the unweighted mean of the
task means, with a Welch-Satterthwaite t-interval and a two-sided t-test
(``brainlz.experiments.powered_grid.pooled_test``).  The six p-values are Holm-corrected (family-wise 5 %,
``holm``).  The paper's claim is reproduced for an arm if its corrected p-value is below 0.05 and its estimate is
positive; "+13.5 pp (LIF)" and "+8.5 pp (meta-neuron)" are compared with the arms' 95 % intervals (reproduced in
size if the interval contains the paper's value).

Secondary endpoints: per task the paired differences with their 95 % intervals (not corrected); the accuracy of the
decision each supervised rule trained (``trained_decision``: population spike count for surrogate BP, fire /
no-fire votes for the tempotron), both arms; the best cell mean accuracy (paper: 99.5 %); inference latency per
sample (paper: sub-millisecond; ``benchmarks/bench_grid_latency.py``-style timing of the trained networks); the
synaptic energy per inference against a same-size ANN (paper: competitive).

Power.  The number of seeds is the smallest (at least 10) for which the minimal detectable pooled effect at 80 %
power, two-sided at the strictest Holm level 0.05 / 6, is at most 5 pp for every arm, computed from the
calibration's seed-to-seed variance of the accuracy (largest arm; a paired difference taken to have twice that
variance): ``choice.json["n_seeds"]`` and ``choice.json["minimal_detectable_effect_pp"]``.

Nothing in the outer loop, the rules or the tasks changes between the calibration run and the end of this grid;
if something must change, the grid is rerun from the start and the README says why.

    brainlz run protocols/powered_grid.py --workers 2 --out results
"""

import json
from pathlib import Path

from brainlz.errors import ProtocolError
from brainlz.experiments.powered_grid import make_sweep

CHOICE = Path(__file__).resolve().parents[1] / "results" / "powered_calibration" / "choice.json"
if not CHOICE.is_file():
    raise ProtocolError(f"{CHOICE} does not exist: run protocols/powered_calibration.py and "
                        "benchmarks/powered_calibration.py first")
_choice = json.loads(CHOICE.read_text())

SWEEP = make_sweep(_choice["difficulties"], range(_choice["n_seeds"]))
