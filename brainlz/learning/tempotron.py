r"""Tempotron learning (Gütig & Sompolinsky 2006) written as Brian2 code, one Brian2 run per training epoch.

The tempotron
-------------
A tempotron is a point neuron whose potential is a weighted sum of fixed postsynaptic-potential kernels,

.. math::

    V(t) = \sum_i w_i \sum_{t_i < t} K(t - t_i) + V_{rest}, \qquad
    K(t) = V_0 \left(e^{-t/\tau} - e^{-t/\tau_s}\right) \ (t \ge 0), \qquad V_{rest} = 0,

with :math:`V_0` chosen so that the peak of :math:`K` (at :math:`t_{peak} = \tau\tau_s \ln(\tau/\tau_s)/(\tau-\tau_s)`)
is 1.  Weights are dimensionless, in units of this kernel peak, and the threshold :math:`V_{thr}`
(``TempotronParams.threshold``, default 1) is in the same units.  The *decision* of a trial is whether the neuron
fires at least once.  After its first spike the neuron is shunted: later input is ignored for the rest of the trial.

Learning rule (only on error): with :math:`t_{max}` the time of the maximum of :math:`V` in the trial (for a trial in
which the neuron fired: the time it crossed the threshold, after which the input is shunted),

.. math::

    \Delta w_i = \pm \lambda \sum_{t_i < t_{max}} K(t_{max} - t_i)

with ``+`` when a target pattern did not make the neuron fire and ``-`` when a null pattern did.  With a momentum
:math:`\mu > 0` the applied change is :math:`\Delta w_i + \mu\,\Delta w_i^{previous}` (the previous *applied* change
of that synapse, Gütig & Sompolinsky 2006, Methods).  Constants: ``tests/data/tempotron.json``
(:math:`\tau = 15` ms, :math:`\tau_s = 3.75` ms, :math:`V_0 = 2.1165`, :math:`t_{peak} = 6.93` ms).

Here :math:`V` is evaluated on the simulation grid ``t = n dt`` (input spikes lie on it too), so ``tmax`` is the
grid time of the maximum, or of the first grid point above threshold; ``tests/test_tempotron.py`` bounds the
differences to the exact continuous rule (``tests/tempotron_oracle.py``): ``tmax`` within ``dt``, each weight change
within ``lambda * max|K'| * dt`` per presynaptic spike.  A degenerate case of the rule itself: if :math:`V` never
rises above :math:`V_{rest} = 0` in a target trial, ``tmax`` is the trial start and the trial cannot teach
(``history["stalled"]`` counts these); keep the learning rate small enough for the input density.

Brian2 implementation (one ``run`` per epoch)
---------------------------------------------
All trials of an epoch are simulated back to back in *one* Brian2 run: trial ``k`` (in presentation order) occupies
``[k P, k P + T)`` with ``P = T + gap`` and its input spikes are shifted by ``k P``.  Per output neuron (a plain
``NeuronGroup``):

* two traces ``a`` (decays with :math:`\tau`) and ``b`` (decays with :math:`\tau_s`), integrated exactly, and
  :math:`V = V_0 (a - b)`.  A presynaptic spike adds ``w`` to both, so it contributes :math:`w K(t - t_i)` exactly at
  every grid point (and nothing at its own time step, :math:`K(0) = 0`);
* a running maximum ``Vmax`` and its time ``tmax``, updated every step by a ``run_regularly`` placed after the
  state update and before the threshold (``when='before_thresholds'``), frozen once the neuron has fired;
* a threshold ``V > theta and fired == 0`` whose reset sets ``fired = 1``; the synapses multiply their input by
  ``1 - fired_post`` (shunting);
* a per-trial label ``label`` (+1 target, -1 null, 0 no learning), read at each trial start from a 2-D
  ``TimedArray`` ``labels(t, i)`` with ``dt = P``.

Per synapse (a ``Synapses`` object, all state event-driven, i.e. updated only in ``on_pre`` and at trial
boundaries — nothing per synapse runs every time step):

* kernel traces ``ea``, ``eb`` (sums of :math:`e^{-(t-t_i)/\tau}` and :math:`e^{-(t-t_i)/\tau_s}` over the synapse's
  spikes of the trial, stored at the time ``tl`` of its last spike), so that the synapse's kernel sum at any later
  time ``s`` is :math:`V_0(ea\,e^{-(s-tl)/\tau} - eb\,e^{-(s-tl)/\tau_s})`;
* a snapshot ``sa, sb, ts`` of the traces *of the spikes that precede the current* ``tmax``.  Because ``tmax``
  never decreases, the spikes before ``tmax`` are always a prefix of the synapse's spikes; on each presynaptic spike
  the synapse first checks ``tmax_post > tl`` (all its spikes so far precede the running maximum) and if so copies
  its traces into the snapshot, then adds the new spike.  At the trial boundary the same check tells whether the
  kernel sum at the final ``tmax`` comes from the live traces or from the snapshot.  This replaces the per-step
  "snapshot when the neuron reaches a new maximum" (a ``Synapses.run_regularly`` every ``dt``, costing
  ``n_inputs * n_outputs`` operations per step) by O(1) work per input spike, and gives the same values exactly;
* at each trial boundary a ``Synapses.run_regularly`` with ``dt = P`` (a second clock, ``when='start'``) applies
  ``w += lambda * err * K_at_max (+ momentum)`` where ``err = +1`` (target, did not fire), ``-1`` (null, fired) or
  0, then resets the synapse's trial state; a ``NeuronGroup.run_regularly`` on the same clock (after it) resets the
  neuron's trial state and reads the next label.  Per-trial results (``fired``, ``Vmax``, ``tmax``) are recorded by
  a ``StateMonitor`` on the trial clock just before the boundary update (and, optionally, the weights just after
  it).  The run lasts ``n_trials * P + dt`` so that the last boundary is executed.

Input: a ``SpikeGeneratorGroup`` on the runtime backend; for standalone a ``NeuronGroup`` whose integer
variable ``next_step`` holds the step of its next spike (threshold ``timestep(t, dt) == next_step``; the reset
reads the following one from a 2-D ``TimedArray`` spike table), because ``run_args`` can replace a table but
cannot resize a generator.  Several independent problems (*blocks*, each its own inputs, tempotrons and
block-diagonal synapses) can share one run, as the samples of :func:`brainlz.network.build` do;
:func:`train_tempotron_blocks` trains several binary problems this way (the capacity experiment,
:mod:`brainlz.experiments.tempotron_capacity`, all its loads in one compiled program).

Brian2 features used: ``NeuronGroup`` (linear equations, ``method='exact'``, threshold/reset, ``run_regularly``),
``Synapses`` (``on_pre`` reading and writing *postsynaptic* variables and its own variables, ``run_regularly``),
2-D ``TimedArray`` (labels; and the input spike table for standalone), ``SpikeGeneratorGroup`` (runtime input),
``StateMonitor`` on a second ``Clock`` (``dt`` = trial period), the functions ``exp``, ``int`` and ``timestep``,
and temporary variables in abstract code.  Not used: no ``seed()`` or random numbers, no linked variables, no
delays, no summed variables, no custom events or ``on_post`` pathway, no ``on_pre`` code reading *presynaptic*
neuron variables, no ``if``; a whole epoch is one ``run()``.

brian2genn cannot translate three parts of this design (a ``run_regularly`` outside the ``'start'`` slot for the
running maximum, ``on_pre`` writing two postsynaptic variables, objects with their own ``dt``) and cannot compile
its trial-boundary ``Synapses.run_regularly`` (postsynaptic reads; refused by
:func:`brainlz.backends.genn.design_blockers`), so ``backend="genn"`` runs a *GeNN design* of the same epoch
(:func:`genn_design`, built by the GeNN backend's worker): one summed input ``a`` and ``d = a - b``; the running
maximum and the threshold crossing as Euler steps of the neurons within the trial's window; two silent steps at the
end of every trial, where every input emits a marker spike whose ``on_pre`` makes the weight update; a
``SpikeGeneratorGroup`` input; one simulation clock.  :func:`brainlz.backends.genn.run_tempotron_design` runs it
with plain Brian2 on the CPU in brian2genn's schedule, and ``tests/test_tempotron.py`` checks that it makes the
same decisions, ``tmax`` and weights as this design (to 1e-12); with GeNN, ``tests/test_genn.py`` checks the same
on GeNN (to 1e-5).

Backends
--------
``backend="runtime"`` (``target="numpy"`` or ``"cython"``) builds a new network per epoch (numpy: about
170 us per time step with a few outputs, i.e. slow for 500 ms trials at 1 ms; cython compiles once, ~40 s).
``backend="standalone"`` compiles one ``cpp_standalone`` program per problem *shape* (numbers of inputs, outputs
and trials, trial length, ``dt``, input-table capacity, what is recorded) and reruns it for every further epoch,
evaluation pass and call with new weights, labels, inputs (a spike table read through a 2-D ``TimedArray``),
learning rate or kernel constants through ``run_args`` — :func:`build_count` counts the compilations.  The
input table's capacity (spikes of the busiest input in one epoch) is rounded up to a power of two times 16
(:func:`table_capacity`), so that inputs whose activity changes, such as a hidden layer whose intrinsic parameters
an outer loop is moving, reuse one program; the unused rows are never read, so the capacity does not change the
result.  The two
backends give the same decisions, ``tmax`` and weights (to floating-point rounding) for the same seed.
It uses its own ``CPPStandaloneDevice`` instance, so it never disturbs the runtime device or the programs of
:mod:`brainlz.backends.standalone`.

Cost per epoch: ``O(n_trials * period_steps * n_outputs)`` neuron updates plus ``O(n_input_spikes * n_outputs)``
synaptic events plus ``O(n_trials * n_inputs * n_outputs)`` boundary updates; the standalone input adds one integer
comparison per input and step.  Measured (standalone, 2 cores): about 1 us per step for 100 inputs and one output,
i.e. 0.25 s for an epoch of 500 patterns of 500 ms at 1 ms, plus ~15-25 s for the one compilation.
"""

from __future__ import annotations

import dataclasses

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import Quantity, have_same_dimensions, ms, second

from .. import checks
from ..backends.base import brian_invalid_value_warnings_off, check_finite_arrays
from ..errors import BrainlzError, DataError, ParameterError
from ..network import brian_array, check_spiketrains, run_network

__all__ = ["TempotronParams", "kernel_constants", "psp_kernel", "train_tempotron", "predict_tempotron",
           "train_tempotron_blocks", "check_backend", "train_output_layer", "lif_weight_scale", "build_count",
           "default_directory", "genn_design", "collect_arrays", "table_capacity", "BACKENDS", "TARGETS",
           "GENN_TARGETS", "TempotronError", "vote"]

BACKENDS = ("runtime", "standalone", "genn")
TARGETS = ("numpy", "cython")
GENN_TARGETS = ("gpu", "cpu")
CAPACITY_STEP = 16


def table_capacity(max_count: int) -> int:
    """Rows of the standalone program's input table for an epoch whose busiest input fires ``max_count`` times.

    The smallest ``CAPACITY_STEP * 2**j`` (``j >= 0``) that holds ``max_count`` spikes: the capacity is compiled
    into the program, and a ladder of powers of two keeps the number of distinct programs logarithmic in the
    input activity (at most twice the rows needed; the table costs memory and file size, not simulation time).
    """
    blocks = max(-(-int(max_count) // CAPACITY_STEP), 1)
    return CAPACITY_STEP * (1 << (blocks - 1).bit_length())


class TempotronError(BrainlzError):
    """The compiled standalone tempotron program failed."""


# ---------------------------------------------------------------------------------------------------------------
# kernel and parameters
# ---------------------------------------------------------------------------------------------------------------

def kernel_constants(tau, tau_s) -> tuple:
    r"""Normalisation and peak time of :math:`K(t) = V_0 (e^{-t/\tau} - e^{-t/\tau_s})`.

    Parameters
    ----------
    tau, tau_s : Quantity (time) or float (seconds), scalars or arrays
        Membrane and synaptic time constants, ``tau > tau_s > 0``.

    Returns
    -------
    V0 : float or ndarray
        Dimensionless factor that makes the peak of :math:`K` equal to 1.
    t_peak : float or ndarray
        Time of the peak in seconds, :math:`\tau\tau_s \ln(\tau/\tau_s) / (\tau - \tau_s)`.
    """
    tau = np.asarray(tau, dtype=float)
    tau_s = np.asarray(tau_s, dtype=float)
    t_peak = tau * tau_s * np.log(tau / tau_s) / (tau - tau_s)
    v0 = 1.0 / (np.exp(-t_peak / tau) - np.exp(-t_peak / tau_s))
    if v0.ndim == 0:
        return float(v0), float(t_peak)
    return v0, t_peak


def psp_kernel(t, tau=15 * ms, tau_s=3.75 * ms) -> np.ndarray:
    """The normalised kernel :math:`K(t)` (dimensionless, 0 for ``t < 0``).

    Parameters
    ----------
    t : Quantity (time) or array of float (seconds)
    tau, tau_s : Quantity (time)

    Returns
    -------
    ndarray
        :math:`K(t)`, peak value 1 at ``t_peak``.
    """
    v0, _ = kernel_constants(tau, tau_s)
    t = np.asarray(t, dtype=float)
    tau, tau_s = float(tau), float(tau_s)
    positive = np.clip(t, 0.0, None)
    return np.where(t >= 0, v0 * (np.exp(-positive / tau) - np.exp(-positive / tau_s)), 0.0)


@dataclass(frozen=True)
class TempotronParams:
    """Constants of the tempotron and of its learning rule.

    Parameters
    ----------
    tau : Quantity, time
        Membrane (slow) time constant of the kernel.  Default 15 ms.
    tau_s : Quantity, time
        Synaptic (fast) time constant of the kernel, ``tau_s < tau``.  Default 3.75 ms.
    threshold : float
        Firing threshold :math:`V_{thr}` in units of the kernel peak (dimensionless, > 0; :math:`V_{rest} = 0`).
        Default 1.
    learning_rate : float
        :math:`\\lambda`, dimensionless, > 0: the weight change per error is ``learning_rate`` times the kernel sum.
        Default 0.01.
    momentum : float
        :math:`\\mu` in ``[0, 1)``: fraction of the previous applied change added to each new one.  Default 0.

    Raises
    ------
    ParameterError
        Naming the field, e.g. ``tempotron.tau_s = 20. * msecond: must be smaller than tau = 15. ms``.
    """

    tau: Quantity = field(default_factory=lambda: 15 * ms)
    tau_s: Quantity = field(default_factory=lambda: 3.75 * ms)
    threshold: float = 1.0
    learning_rate: float = 0.01
    momentum: float = 0.0

    def __post_init__(self):
        tau = checks.seconds("tempotron.tau", self.tau)
        tau_s = checks.seconds("tempotron.tau_s", self.tau_s)
        if tau_s >= tau:
            raise ParameterError("tempotron.tau_s", self.tau_s, f"must be smaller than tau = {self.tau}")
        object.__setattr__(self, "threshold", checks.real("tempotron.threshold", self.threshold, low=0, low_open=True))
        object.__setattr__(self, "learning_rate", checks.real("tempotron.learning_rate", self.learning_rate, low=0,
                                                              low_open=True))
        object.__setattr__(self, "momentum", checks.real("tempotron.momentum", self.momentum, 0, 1, high_open=True))

    @property
    def V0(self) -> float:
        """Kernel normalisation (dimensionless)."""
        return kernel_constants(self.tau, self.tau_s)[0]

    @property
    def t_peak(self):
        """Time of the kernel peak (Quantity)."""
        return kernel_constants(self.tau, self.tau_s)[1] * second

    def kernel(self, t) -> np.ndarray:
        """:math:`K(t)` for times ``t`` (Quantity or seconds)."""
        return psp_kernel(t, self.tau, self.tau_s)


# ---------------------------------------------------------------------------------------------------------------
# problem description (plain data) and epoch layout
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class _Setup:
    """Shape and constants of one Brian2 epoch (SI floats).

    ``n_blocks`` independent problems (each ``n_inputs`` inputs fully connected to its own ``n_out`` tempotrons)
    are simulated side by side in one run, like the samples of :func:`brainlz.network.build`; block ``b`` owns
    inputs ``b*n_inputs ...`` and outputs ``b*n_out ...``.  Training one problem uses one block.
    """

    n_inputs: int
    n_out: int
    n_blocks: int
    n_bins: int
    period_steps: int
    dt: float
    tau: np.ndarray      # [n_out] s (the same in every block)
    tau_s: np.ndarray    # [n_out] s
    theta: np.ndarray    # [n_out]
    mu: np.ndarray       # [n_out]

    @property
    def total_inputs(self) -> int:
        return self.n_blocks * self.n_inputs

    @property
    def total_out(self) -> int:
        return self.n_blocks * self.n_out

    @property
    def period(self) -> float:
        return self.period_steps * self.dt

    def per_neuron(self, values) -> np.ndarray:
        """``[n_out]`` values tiled over the blocks."""
        return np.tile(np.asarray(values, dtype=float), self.n_blocks)


def _epoch_spikes(trials, setup: _Setup) -> tuple:
    """Input indices and absolute time steps of all spikes of one epoch, sorted by time.

    ``trials[b]`` is block ``b``'s ``bool[n_trials_b, n_inputs, n_bins]`` in presentation order.
    """
    neurons, steps = _epoch_inputs(trials, setup)
    sort = np.lexsort((neurons, steps))
    return neurons[sort], steps[sort]


def _epoch_inputs(trials, setup: _Setup) -> tuple:
    """Input indices and absolute time steps of all spikes of one epoch, in raster order: every input's spikes
    come in time order (trials are presented one after another), the inputs interleaved.  What
    :func:`_spike_table` needs, without the sort by time of :func:`_epoch_spikes`."""
    neurons, steps = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for block, x in enumerate(trials):
        trial, neuron, step = np.nonzero(x)
        neurons.append(neuron.astype(np.int64) + block * setup.n_inputs)
        steps.append(trial.astype(np.int64) * setup.period_steps + step)
    return np.concatenate(neurons), np.concatenate(steps)


def _spike_table(neurons, steps, n_inputs, capacity) -> np.ndarray:
    """``table[k, j]``: absolute step of the k-th spike of input j in the epoch, -1 past the last one.

    ``neurons, steps`` list every spike once, each input's spikes in time order (e.g. :func:`_epoch_inputs` or
    :func:`_epoch_spikes`): a stable sort by input then gives every input's spikes in rank order.
    """
    table = np.full((capacity + 1, n_inputs), -1.0)
    counts = np.bincount(neurons, minlength=n_inputs)
    # a stable sort of 16-bit keys is a radix sort in numpy: linear in the number of spikes
    keys = neurons.astype(np.uint16) if n_inputs <= np.iinfo(np.uint16).max else neurons
    sort = np.argsort(keys, kind="stable")
    sorted_neurons, sorted_steps = neurons[sort], steps[sort]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(sorted_neurons.size) - starts[sorted_neurons]
    table[rank, sorted_neurons] = sorted_steps
    return table


@dataclass
class _EpochResult:
    weights: np.ndarray          # [n_blocks, n_inputs, n_out] after the epoch
    dw_prev: np.ndarray          # [n_blocks, n_inputs, n_out]
    fired: np.ndarray            # bool [n_trials, total_out]
    v_max: np.ndarray            # [n_trials, total_out]
    t_max: np.ndarray            # [n_trials, total_out] s, relative to the trial start
    weight_trace: np.ndarray | None   # [n_trials + 1, n_blocks, n_inputs, n_out]: in force during trial k
    builds: int
    wall_time: float


# ---------------------------------------------------------------------------------------------------------------
# the Brian2 network
# ---------------------------------------------------------------------------------------------------------------

# per-neuron trial label and constants, shared by the CPU and the GeNN design (the CPU design's ``fired`` is a
# parameter set by its reset, the GeNN design's an Euler step)
_NEURON_CONSTANTS = """
label : 1
tau : second
tau_s : second
V0 : 1
theta : 1
lam : 1
mu : 1
"""
_NEURON_PARAMETERS = "\nfired : 1" + _NEURON_CONSTANTS

_NEURON_EQUATIONS = """
da/dt = -a / tau : 1
db/dt = -b / tau_s : 1
V = V0 * (a - b) : 1
Vmax : 1
tmax : second
""" + _NEURON_PARAMETERS

_TRACK_MAX = """
up = int(V > Vmax and fired < 0.5)
tmax = up * t + (1 - up) * tmax
Vmax = up * V + (1 - up) * Vmax
"""

_NEW_TRIAL = """
a = 0
b = 0
Vmax = 0
tmax = t
fired = 0
label = trial_labels(t, i)
"""

_SYNAPSE_MODEL = """
w : 1
dw_prev : 1
ea : 1
eb : 1
tl : second
sa : 1
sb : 1
ts : second
"""

_ON_PRE = """
take = int(tmax_post > tl)
sa = take * ea + (1 - take) * sa
sb = take * eb + (1 - take) * sb
ts = take * tl + (1 - take) * ts
ea = ea * exp(-(t - tl) / tau_post) + 1
eb = eb * exp(-(t - tl) / tau_s_post) + 1
tl = t
a_post += w * (1 - fired_post)
b_post += w * (1 - fired_post)
"""

_BOUNDARY = """
take = int(tmax_post > tl)
xa = take * ea + (1 - take) * sa
xb = take * eb + (1 - take) * sb
xt = take * tl + (1 - take) * ts
kern = V0_post * (xa * exp(-(tmax_post - xt) / tau_post) - xb * exp(-(tmax_post - xt) / tau_s_post))
err = int(label_post > 0.5) * (1 - fired_post) - int(label_post < -0.5) * fired_post
upd = err * err
change = lam_post * err * kern + mu_post * dw_prev
w = w + upd * change
dw_prev = upd * change + (1 - upd) * dw_prev
ea = 0
eb = 0
sa = 0
sb = 0
tl = t
ts = t
"""


# ---- the GeNN design of the same epoch (brainlz.backends.genn.tempotron_epoch; built by the GeNN worker's
# build_tempotron, which brainlz.backends.genn.run_tempotron_design runs on the CPU with brian2genn's schedule).
# brian2genn runs every step as: run_regularly operations and StateMonitors ('start', on the host), synapses (the
# spikes of the previous step: GeNN's synapse update), groups, thresholds, resets (GeNN's neuron update).  It has
# one clock for groups and synapses, sums one postsynaptic variable per synapse population, and cannot compile a
# synaptic run_regularly that reads postsynaptic variables (the CPU design's trial-boundary update).  So:
# * one kernel input: a (decay tau) and d = a - b, so that a presynaptic spike adds w to a only (b = a - d) and
#   V = V0 d does not move when it arrives; both are advanced by their exact one-step propagators, written as
#   Euler steps (method='euler' is exact here: x + dt * (x' - x) / dt = x');
# * a presynaptic spike is processed one step after it was emitted, so on_pre stamps the traces with t - dt;
# * the running maximum and the threshold crossing are Euler steps of the neurons: in the step from t to t + dt
#   the state at t is compared (tmax labelled t - dt), within the trial's window (phase, the step in the trial);
#   the crossing sets fired instead of a Brian2 spike;
# * the weight update at the trial boundary is on_pre code too (brian2genn refuses postsynaptic reads in on_post):
#   two silent steps end every trial (period P + 2 for the CPU design's P); at the first every input emits a
#   marker spike, which on_pre processes at the second and recognises by the postsynaptic phase (P + 1: no input
#   spike of the trial is processed that late): it makes the update instead of transmitting; the new trial then
#   starts with a run_regularly in the start slot;
GENN_SILENT_STEPS = 2
GENN_NEURON_EQUATIONS = """
da/dt = a * (exp(-dt / tau) - 1) / dt : 1
dd/dt = (a * (exp(-dt / tau) - exp(-dt / tau_s)) + d * (exp(-dt / tau_s) - 1)) / dt : 1
V = V0 * d : 1
open = int(phase > 0.5) * int(phase < trial_steps + 0.5) * int(fired < 0.5) : 1
up = open * int(V > Vmax) : 1
dVmax/dt = up * (V - Vmax) / dt : 1
dtmax/dt = up * (t - step - tmax) / dt : second
dfired/dt = open * int(V > theta) / dt : 1
dphase/dt = 1 / dt : 1
step : second
trial_steps : 1""" + _NEURON_CONSTANTS
GENN_NEW_TRIAL = _NEW_TRIAL.replace("b = 0", "d = 0") + "phase = 0\n"
GENN_ON_PRE = """
bnd = int(phase_post > trial_steps_post + 0.5)
take = int(tmax_post >= tl)
xa = take * ea + (1 - take) * sa
xb = take * eb + (1 - take) * sb
xt = take * tl + (1 - take) * ts
kern = V0_post * (xa * exp(-(tmax_post - xt) / tau_post) - xb * exp(-(tmax_post - xt) / tau_s_post))
err = int(label_post > 0.5) * (1 - fired_post) - int(label_post < -0.5) * fired_post
upd = bnd * err * err
change = lam_post * err * kern + mu_post * dw_prev
w = w + upd * change
dw_prev = upd * change + (1 - upd) * dw_prev
sa = (1 - bnd) * xa
sb = (1 - bnd) * xb
ts = (1 - bnd) * xt + bnd * t
ea = (1 - bnd) * (ea * exp(-(t - dt - tl) / tau_post) + 1)
eb = (1 - bnd) * (eb * exp(-(t - dt - tl) / tau_s_post) + 1)
tl = (1 - bnd) * (t - dt) + bnd * t
a_post += (1 - bnd) * w * (1 - fired_post)
"""


def genn_setup(setup: _Setup) -> _Setup:
    """The epoch's shape in the GeNN design: the CPU design's period plus :data:`GENN_SILENT_STEPS`."""
    return dataclasses.replace(setup, period_steps=setup.period_steps + GENN_SILENT_STEPS)


def genn_design(setup: _Setup, trials, labels_pm, weights, dw_prev, lam, record_weights=False) -> tuple:
    """The GeNN design of one epoch as ``(config, arrays)`` for :func:`brainlz.backends.genn.tempotron_epoch`
    (GeNN) or :func:`brainlz.backends.genn.run_tempotron_design` (Brian2 on the CPU).

    ``config`` holds the shapes and the Brian2 code strings above, ``arrays`` the epoch's input spikes
    (``input_indices``, ``input_steps``), the label table and every initial value (``neurons_<name>``,
    ``synapses_<name>``, SI floats).
    """
    n_trials = labels_pm.shape[0]
    design = genn_setup(setup)
    config = {"mode": "tempotron", "dt": float(setup.dt), "period_steps": int(design.period_steps),
              "n_trials": int(n_trials), "n_blocks": int(setup.n_blocks), "n_inputs": int(setup.n_inputs),
              "n_out": int(setup.n_out), "record_weights": bool(record_weights),
              "neurons": {"equations": GENN_NEURON_EQUATIONS, "new_trial": GENN_NEW_TRIAL},
              "synapses": {"model": _SYNAPSE_MODEL, "on_pre": GENN_ON_PRE}}
    values = _state_values(setup, weights, dw_prev, lam)
    neurons = dict(values["neurons"])
    neurons["d"] = neurons.pop("b")
    neurons["step"] = np.full(setup.total_out, float(setup.dt))
    neurons["trial_steps"] = np.full(setup.total_out, float(setup.period_steps))
    neurons["phase"] = np.zeros(setup.total_out)
    indices, steps = _epoch_inputs(trials, design)
    marker_steps = np.arange(n_trials, dtype=np.int64) * design.period_steps + setup.period_steps
    indices = np.concatenate([indices, np.tile(np.arange(setup.total_inputs, dtype=np.int64), n_trials)])
    steps = np.concatenate([steps, np.repeat(marker_steps, setup.total_inputs)])  # every input, every boundary
    order = np.lexsort((indices, steps))
    indices, steps = indices[order], steps[order]
    arrays = {"input_indices": np.asarray(indices, dtype=np.int64), "input_steps": np.asarray(steps, dtype=np.int64),
              "labels": _labels_table(labels_pm)}
    arrays.update({f"neurons_{name}": np.asarray(array, dtype=float) for name, array in neurons.items()})
    arrays.update({f"synapses_{name}": np.asarray(array, dtype=float) for name, array in values["synapses"].items()})
    return config, arrays


@dataclass
class _Objects:
    inputs: object
    input_table: object
    label_table: object
    neurons: object
    synapses: object
    trial_monitor: object
    weight_monitor: object
    objects: list
    n_trials: int
    duration: object


def _create(setup: _Setup, n_trials: int, *, spikes=None, capacity=None, record_weights=False) -> _Objects:
    """Create the Brian2 objects of one epoch of ``n_trials`` trials (values are set by the caller)."""
    from brian2 import Clock, NeuronGroup, SpikeGeneratorGroup, StateMonitor, Synapses, TimedArray

    dt = setup.dt * second
    period = setup.period_steps * dt
    trial_clock = Clock(dt=period, name="tempotron_trial_clock*")
    label_table = TimedArray(np.zeros((n_trials + 1, setup.total_out)), dt=period, name="tempotron_labels*")
    if spikes is not None:
        neurons_idx, steps = spikes
        inputs = SpikeGeneratorGroup(setup.total_inputs, neurons_idx, steps * dt, dt=dt, sorted=True,
                                     name="tempotron_inputs*")
        input_table = None
    else:
        input_table = TimedArray(np.full((capacity + 1, setup.total_inputs), -1.0), dt=1 * second,
                                 name="tempotron_input_table*")
        # The next spike's step is a variable, so each step costs one integer comparison per input; the table
        # is read only when the input spikes.
        inputs = NeuronGroup(setup.total_inputs, "k : integer\nnext_step : integer",
                             threshold="timestep(t, dt) == next_step",
                             reset="k += 1\nnext_step = int(input_steps(k * second, i))", dt=dt,
                             name="tempotron_inputs*", namespace={"input_steps": input_table})
    neurons = NeuronGroup(setup.total_out, _NEURON_EQUATIONS, threshold="V > theta and fired < 0.5",
                          reset="fired = 1", method="exact", dt=dt, name="tempotrons*",
                          namespace={"trial_labels": label_table})
    # A clock of its own, as Brian2 <= 2.9 made for run_regularly(dt=dt); Brian2 >= 2.10 would name it
    # "tempotron_track_max*_clock*", which it then refuses as a name.
    neurons.run_regularly(_TRACK_MAX, clock=Clock(dt=dt), when="before_thresholds", name="tempotron_track_max*")
    neurons.run_regularly(_NEW_TRIAL, clock=trial_clock, when="start", order=2, name="tempotron_new_trial*")
    synapses = Synapses(inputs, neurons, model=_SYNAPSE_MODEL, on_pre=_ON_PRE, dt=dt, name="tempotron_synapses*")
    n_in, n_out = setup.n_inputs, setup.n_out
    block = np.repeat(np.arange(setup.n_blocks), n_in * n_out)
    pre = np.tile(np.repeat(np.arange(n_in), n_out), setup.n_blocks)
    post = np.tile(np.tile(np.arange(n_out), n_in), setup.n_blocks)
    synapses.connect(i=block * n_in + pre, j=block * n_out + post)
    synapses.run_regularly(_BOUNDARY, clock=trial_clock, when="start", order=0, name="tempotron_boundary*")
    trial_monitor = StateMonitor(neurons, ["Vmax", "tmax", "fired"], record=True, clock=trial_clock,
                                 when="start", order=-1, name="tempotron_trials*")
    objects = [inputs, neurons, synapses, trial_monitor]
    weight_monitor = None
    if record_weights:
        weight_monitor = StateMonitor(synapses, "w", record=True, clock=trial_clock, when="start", order=1,
                                      name="tempotron_weights*")
        objects.append(weight_monitor)
    return _Objects(inputs, input_table, label_table, neurons, synapses, trial_monitor, weight_monitor, objects,
                    n_trials, n_trials * period + dt)


def _state_values(setup: _Setup, weights, dw_prev, lam) -> dict:
    """Initial values (SI floats) by group attribute and variable name."""
    n_syn = setup.n_blocks * setup.n_inputs * setup.n_out
    zeros = np.zeros(setup.total_out)
    neuron = {"a": zeros, "b": zeros, "Vmax": zeros, "tmax": zeros, "fired": zeros, "label": zeros,
              "tau": setup.per_neuron(setup.tau), "tau_s": setup.per_neuron(setup.tau_s),
              "V0": setup.per_neuron(kernel_constants(setup.tau, setup.tau_s)[0]),
              "theta": setup.per_neuron(setup.theta), "lam": np.asarray(lam, dtype=float),
              "mu": setup.per_neuron(setup.mu)}
    syn_zeros = np.zeros(n_syn)
    synapse = {"w": np.asarray(weights, dtype=float).ravel(), "dw_prev": np.asarray(dw_prev, dtype=float).ravel(),
               "ea": syn_zeros, "eb": syn_zeros, "tl": syn_zeros, "sa": syn_zeros, "sb": syn_zeros, "ts": syn_zeros}
    return {"neurons": neuron, "synapses": synapse}


def _collect(objs: _Objects, setup: _Setup, builds: int, wall: float) -> _EpochResult:
    return collect_arrays(setup, objs.n_trials, _monitored(objs.trial_monitor, objs.synapses, objs.weight_monitor),
                          builds, wall)


def _monitored(trial_monitor, synapses, weight_monitor) -> dict:
    """The recorded arrays of an epoch (SI floats), as the GeNN worker also saves them."""
    arrays = {"fired": brian_array(trial_monitor.fired_[:]), "Vmax": brian_array(trial_monitor.Vmax_[:]),
              "tmax": brian_array(trial_monitor.tmax_[:]), "w": brian_array(synapses.w_[:]),
              "dw_prev": brian_array(synapses.dw_prev_[:])}
    if weight_monitor is not None:
        arrays["w_trace"] = brian_array(weight_monitor.w_[:])
    return arrays


def collect_arrays(setup: _Setup, n_trials: int, arrays: dict, builds: int, wall: float) -> _EpochResult:
    """Per-trial decisions, maxima and weights from an epoch's recorded arrays (see :func:`_monitored`)."""
    rows = slice(1, n_trials + 1)   # row k holds trial k - 1 (recorded at its end, before the update)
    fired = np.asarray(arrays["fired"]).T[rows] > 0.5
    v_max = np.asarray(arrays["Vmax"]).T[rows]
    starts = np.arange(n_trials)[:, None] * setup.period
    t_max = np.asarray(arrays["tmax"]).T[rows] - starts
    shape = (setup.n_blocks, setup.n_inputs, setup.n_out)
    weights = np.asarray(arrays["w"]).reshape(shape)
    dw_prev = np.asarray(arrays["dw_prev"]).reshape(shape)
    trace = None
    if arrays.get("w_trace") is not None:
        trace = np.asarray(arrays["w_trace"]).T[: n_trials + 1].reshape((n_trials + 1,) + shape)
    return _EpochResult(weights, dw_prev, fired, v_max, t_max, trace, builds, wall)


def _labels_table(labels_pm: np.ndarray) -> np.ndarray:
    """``(n_trials + 1, total_out)`` label table; the extra last row (after the last trial) is 0."""
    return np.vstack([labels_pm.astype(float), np.zeros((1, labels_pm.shape[1]))])


# -------------------------------------------------------------------------------- runtime target
def _run_runtime(setup, trials, labels_pm, weights, dw_prev, lam, target, record_weights):
    from brian2 import get_device, prefs, set_device

    if type(get_device()).__name__ != "RuntimeDevice":
        set_device("runtime")
    start = time.perf_counter()
    old_target = prefs.codegen.target
    prefs.codegen.target = target
    try:
        objs = _create(setup, labels_pm.shape[0], spikes=_epoch_spikes(trials, setup),
                       record_weights=record_weights)
        objs.label_table.values[:] = _labels_table(labels_pm)
        for group_name, values in _state_values(setup, weights, dw_prev, lam).items():
            group = getattr(objs, group_name)
            for name, array in values.items():
                setattr(group, name + "_", array)
        with brian_invalid_value_warnings_off():  # check_epoch says it in one line
            run_network(objs.objects, objs.duration)
    finally:
        prefs.codegen.target = old_target
    return _collect(objs, setup, 1, time.perf_counter() - start)


# -------------------------------------------------------------------------------- standalone
_STATE = {"builds": 0}


def default_directory() -> Path:
    """Where compiled tempotron programs are kept (``$BRAINLZ_CACHE/tempotron`` or ``~/.cache/brainlz/tempotron``)."""
    root = os.environ.get("BRAINLZ_CACHE") or Path.home() / ".cache" / "brainlz"
    return Path(root) / "tempotron"


def build_count() -> int:
    """How many standalone tempotron programs this process has compiled (for tests and benchmarks)."""
    return _STATE["builds"]


def _run_standalone(setup, trials, labels_pm, weights, dw_prev, lam, record_weights, directory):
    start = time.perf_counter()
    n_trials = labels_pm.shape[0]
    neurons_idx, steps = _epoch_inputs(trials, setup)
    counts = np.bincount(neurons_idx, minlength=setup.total_inputs)
    capacity = table_capacity(int(counts.max()) if counts.size else 0)
    key = (setup.n_inputs, setup.n_out, setup.n_blocks, n_trials, setup.n_bins, setup.period_steps, setup.dt,
           capacity, bool(record_weights))
    from ..backends import standalone as sa

    directory = Path(directory) if directory is not None else default_directory()
    program, built = sa.get_program(("tempotron",) + key, directory,
                                    lambda: _create(setup, n_trials, capacity=capacity,
                                                    record_weights=record_weights))
    builds = int(built)
    _STATE["builds"] += builds
    objs = program.net
    run_args = {}
    for group_name, values in _state_values(setup, weights, dw_prev, lam).items():
        group = getattr(objs, group_name)
        for name, array in values.items():
            view = getattr(group, name)
            if array.shape != (len(group),):   # Brian2 ignores wrong-length synaptic arrays: check here
                raise TempotronError(f"run_args for {group.name}.{name}: {array.shape}, expected ({len(group)},)")
            run_args[view] = Quantity(array, dim=view.dim) if not view.dim.is_dimensionless else array
    table = _spike_table(neurons_idx, steps, setup.total_inputs, capacity)
    run_args[objs.inputs.k] = np.zeros(setup.total_inputs, dtype=np.int32)
    run_args[objs.inputs.next_step] = table[0].astype(np.int32)
    run_args[objs.input_table] = table
    run_args[objs.label_table] = _labels_table(labels_pm)
    with brian_invalid_value_warnings_off():  # check_epoch says it in one line
        program.run(run_args, what="tempotron", error=TempotronError)
    return _collect(objs, setup, builds, time.perf_counter() - start)


def _run_genn_design_on_cpu(setup, trials, labels_pm, weights, dw_prev, lam, target="numpy",
                            record_weights=False) -> _EpochResult:
    """The GeNN design of an epoch (:func:`genn_design`) run by plain Brian2 on the CPU (runtime device,
    :func:`brainlz.backends.genn.run_tempotron_design`): the check that it learns what the CPU design learns, where
    no GeNN is installed."""
    from ..backends import genn

    start = time.perf_counter()
    config, arrays = genn_design(setup, trials, labels_pm, weights, dw_prev, lam, record_weights)
    recorded = genn.run_tempotron_design(config, arrays, target=target)
    return collect_arrays(genn_setup(setup), labels_pm.shape[0], recorded, 1, time.perf_counter() - start)


def _run_epoch(setup, trials, labels_pm, weights, dw_prev, lam, *, backend, target, record_weights,
               directory) -> _EpochResult:
    """Simulate one epoch: ``trials[b]`` (presentation order) and ``labels_pm [n_trials, total_out]``."""
    if backend == "genn":
        from ..backends import genn

        start = time.perf_counter()
        config, arrays = genn_design(setup, trials, labels_pm, weights, dw_prev, lam, record_weights)
        recorded = genn.tempotron_epoch(config, arrays, directory=directory, use_gpu=target == "gpu")
        return collect_arrays(genn_setup(setup), labels_pm.shape[0], recorded, recorded["builds"],
                              time.perf_counter() - start)
    if backend == "runtime":
        return _run_runtime(setup, trials, labels_pm, weights, dw_prev, lam, target, record_weights)
    return _run_standalone(setup, trials, labels_pm, weights, dw_prev, lam, record_weights, directory)


# ---------------------------------------------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------------------------------------------

def check_backend(backend, target) -> None:
    """Refuse a ``backend``/``target`` pair the tempotron trainer does not run (:data:`BACKENDS`; :data:`TARGETS`
    for ``"runtime"``, :data:`GENN_TARGETS` for ``"genn"``; the standalone backend ignores ``target``).

    Raises
    ------
    ParameterError
        Naming ``backend`` or ``target``.
    """
    checks.one_of("backend", backend, BACKENDS)
    if backend == "runtime":
        checks.one_of("target", target, TARGETS)
    if backend == "genn":
        checks.one_of("target", target, GENN_TARGETS,
                      reason=f"expected one of {GENN_TARGETS} with backend='genn' (GeNN's CUDA or CPU backend)")


def _check_labels(labels, n_samples) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != n_samples:
        raise DataError(f"labels: expected one label per sample, shape ({n_samples},), got shape {array.shape}")
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise DataError(f"labels: expected integer class labels, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise DataError(f"labels: expected class labels >= 0, got {array.min()}")
    return array.astype(np.int64)


def _check_params(params) -> TempotronParams:
    if not isinstance(params, TempotronParams):
        raise ParameterError("params", params, "expected a TempotronParams")
    return params


def _groups(labels, n_classes, population):
    """Class of every output neuron (round-robin) and whether the task is binary (one yes/no question)."""
    if n_classes is None:
        binary = labels.size == 0 or labels.max() <= 1
        n_classes = 2 if binary else int(labels.max()) + 1
    else:
        n_classes = checks.integer("n_classes", n_classes, low=2)
        binary = False
        if labels.size and labels.max() >= n_classes:
            raise DataError(f"labels: label {labels.max()} >= n_classes = {n_classes}")
    n_groups = 1 if binary else n_classes
    classes = np.tile(np.arange(n_groups), population) if not binary else np.ones(population, dtype=np.int64)
    return binary, n_classes, classes


def _targets(labels, classes) -> np.ndarray:
    """``+1`` where output ``j`` should fire for sample ``s`` (its class), ``-1`` otherwise: ``[n_samples, n_out]``."""
    return np.where(labels[:, None] == classes[None, :], 1, -1).astype(np.int64)


def vote(fired, v_max, classes, binary, n_classes) -> np.ndarray:
    """Class predictions from the decisions of all outputs ``[n, n_out]``.

    Binary: class 1 if more than half of the outputs fire, else 0.  Several classes: the class with most firing
    outputs; ties (including no output firing) go to the tied class whose outputs reach the largest ``Vmax``.
    """
    n = fired.shape[0]
    if binary:
        votes = fired.sum(axis=1)
        return (2 * votes > fired.shape[1]).astype(np.int64)
    votes = np.zeros((n, n_classes))
    best = np.full((n, n_classes), -np.inf)
    for c in range(n_classes):
        members = classes == c
        if members.any():
            votes[:, c] = fired[:, members].sum(axis=1)
            best[:, c] = v_max[:, members].max(axis=1)
    top = votes == votes.max(axis=1, keepdims=True)
    return np.argmax(np.where(top, best, -np.inf), axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------

def _setup_for(n_inputs, n_out, n_bins, dt, gap, tau, tau_s, theta, momentum, n_blocks=1) -> _Setup:
    dt_s = checks.seconds("dt", dt)
    if not isinstance(gap, Quantity) or not have_same_dimensions(gap, second) or np.ndim(gap) != 0:
        raise ParameterError("gap", gap, "expected a time with units, e.g. 0*ms")
    gap_s = float(gap)
    if not math.isfinite(gap_s) or gap_s < 0:
        raise ParameterError("gap", gap, "expected a finite time >= 0")
    gap_steps = int(round(gap_s / dt_s))
    tau = np.broadcast_to(np.asarray(tau, dtype=float), (n_out,)).copy()
    tau_s = np.broadcast_to(np.asarray(tau_s, dtype=float), (n_out,)).copy()
    return _Setup(int(n_inputs), int(n_out), int(n_blocks), int(n_bins), int(n_bins) + gap_steps, dt_s, tau, tau_s,
                  np.full(n_out, float(theta)), np.full(n_out, float(momentum)))


@dataclass
class _Problem:
    """One labelled training set and how its outputs map to classes."""

    spiketrains: np.ndarray   # bool [n_samples, n_inputs, n_bins]
    labels: np.ndarray        # int [n_samples]
    classes: np.ndarray       # int [n_out]: the class each output votes for
    binary: bool
    n_classes: int
    init: np.ndarray          # [n_inputs, n_out]

    @property
    def targets(self) -> np.ndarray:
        return _targets(self.labels, self.classes)


def _train(setup, problems, *, lam, epochs, seed, shuffle, stop_when_perfect, evaluate_final, backend, target,
           progress, directory, record_trials, layer: str = "tempotron") -> list:
    """Train ``len(problems)`` independent problems side by side (one block each); one Brian2 run per epoch.

    ``layer`` names the trained layer in the error of a diverged epoch (:func:`check_epoch`).  Returns a list of
    ``(weights [n_inputs, n_out], history)``, one per problem.
    """
    n_out = setup.n_out
    sizes = [p.spiketrains.shape[0] for p in problems]
    n_trials = max(sizes)
    targets = [p.targets for p in problems]
    weights = np.stack([p.init for p in problems])
    dw_prev = np.zeros_like(weights)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(problems))]
    active = np.ones(len(problems), dtype=bool)
    backend_name = {"standalone": "standalone", "genn": f"genn-{target}"}.get(backend, f"runtime-{target}")
    histories = [{"accuracy": [], "errors": [], "stalled": [], "epoch_time": [], "converged": False,
                  "backend": backend_name,
                  "output_classes": p.classes, "n_classes": p.n_classes, "binary": p.binary}
                 for p in problems]
    if record_trials:
        for history in histories:
            history["trials"] = []
    start, builds = time.perf_counter(), 0
    initial = max(float(np.max(np.abs(p.init), initial=0.0)) for p in problems)  # for check_epoch's likely cause
    for epoch in range(epochs):
        orders = [rng.permutation(n) if shuffle else np.arange(n) for rng, n in zip(rngs, sizes)]
        trials, labels_pm = [], np.zeros((n_trials, setup.total_out))
        for b, problem in enumerate(problems):
            if active[b]:
                trials.append(problem.spiketrains[orders[b]])
                labels_pm[: sizes[b], b * n_out:(b + 1) * n_out] = targets[b][orders[b]]
            else:   # converged: no input, no label, no learning — its weights stay as they are
                trials.append(problem.spiketrains[:0])
        lam_per_neuron = np.repeat(active * float(lam), n_out)
        result = _run_epoch(setup, trials, labels_pm, weights, dw_prev, lam_per_neuron, backend=backend,
                            target=target, record_weights=record_trials, directory=directory)
        check_epoch(result, layer, epoch + 1, lam, initial, setup.theta)
        builds += result.builds
        for b in np.flatnonzero(active):
            problem, history, order = problems[b], histories[b], orders[b]
            rows, cols = slice(0, sizes[b]), slice(b * n_out, (b + 1) * n_out)
            fired, v_max = result.fired[rows, cols], result.v_max[rows, cols]
            errors = int(np.sum(fired != (targets[b][order] > 0)))
            predicted = vote(fired, v_max, problem.classes, problem.binary, problem.n_classes)
            history["accuracy"].append(float(np.mean(predicted == problem.labels[order])))
            history["errors"].append(errors)
            history["stalled"].append(int(np.sum((targets[b][order] > 0) & ~fired & (v_max <= 0))))
            history["epoch_time"].append(result.wall_time)
            if record_trials:
                history["trials"].append({"order": order, "fired": fired, "v_max": v_max,
                                          "t_max": result.t_max[rows, cols], "targets": targets[b][order],
                                          "weights": result.weight_trace[: sizes[b] + 1, b]})
            if errors == 0:
                history["converged"] = True
                if stop_when_perfect:
                    active[b] = False
        weights, dw_prev = result.weights, result.dw_prev
        if progress is not None:
            progress(epoch + 1, epochs)
        if not active.any():
            break
    # training accuracy of the final weights: known for an error-free last epoch, otherwise one pass without learning
    pending = [b for b, h in enumerate(histories) if not (h["errors"] and h["errors"][-1] == 0)]
    for b, history in enumerate(histories):
        if b not in pending:
            history["final_accuracy"] = history["accuracy"][-1]
    if pending and evaluate_final:
        trials = [p.spiketrains if b in pending else p.spiketrains[:0] for b, p in enumerate(problems)]
        result = _run_epoch(setup, trials, np.zeros((n_trials, setup.total_out)), weights, np.zeros_like(weights),
                            np.zeros(setup.total_out), backend=backend, target=target, record_weights=record_trials,
                            directory=directory)
        builds += result.builds
        for b in pending:
            problem = problems[b]
            cols = slice(b * n_out, (b + 1) * n_out)
            predicted = vote(result.fired[: sizes[b], cols], result.v_max[: sizes[b], cols], problem.classes,
                              problem.binary, problem.n_classes)
            histories[b]["final_accuracy"] = float(np.mean(predicted == problem.labels))
    wall = time.perf_counter() - start
    for history in histories:
        history["epochs"] = len(history["errors"])
        history["builds"] = builds
        history["wall_time"] = wall
    return [(weights[b], histories[b]) for b in range(len(problems))]


def check_epoch(result: _EpochResult, layer: str, epoch: int, lam: float, initial: float, theta) -> None:
    """Stop tempotron training whose weights, their last changes or the trials' maxima ``Vmax`` became NaN,
    infinite or absurd in an epoch, in one line (:func:`brainlz.backends.base.check_finite_arrays`).

    Parameters
    ----------
    result : _EpochResult
        The epoch just run.
    layer : str
        Name of the trained layer.
    epoch : int
        1-based.
    lam : float
        The learning rate.
    initial : float
        Largest magnitude of the initial weights (units of the kernel peak).
    theta : float or ndarray
        The threshold(s), in the same units.

    Raises
    ------
    SimulationError
    """
    threshold = float(np.max(theta))
    if initial > 1e3 * threshold:
        cause = (f"the initial weights are up to {initial / threshold:.3g} times the threshold (init_weights, or "
                 "the spec's weights with init='spec'); lower them")
    else:
        cause = f"the learning rate {lam:g} makes the weight updates diverge; lower learning_rate"
    _, n_inputs, n_out = result.weights.shape
    total_out = result.v_max.shape[1]

    def synapse(name, k):
        block, rest = divmod(k, n_inputs * n_out)
        return f"input {rest // n_out}, output {block * n_out + rest % n_out}, tempotron epoch {epoch}"

    check_finite_arrays({layer: {"Vmax": result.v_max}}, cause,
                        where=lambda name, k: f"trial {k // total_out}, output {k % total_out}, tempotron epoch "
                                              f"{epoch}")
    check_finite_arrays({layer: {"w": result.weights, "dw_prev": result.dw_prev}}, cause, what="weight",
                        where=synapse)


def train_tempotron(spiketrains, labels, *, n_classes=None, population: int = 1, params: TempotronParams = None,
                    epochs: int = 100, init_weights=None, init_std: float = 1e-3, seed: int = 0, dt=1 * ms,
                    gap=0 * ms, shuffle: bool = True, stop_when_perfect: bool = True, evaluate_final: bool = True,
                    backend: str = "runtime", target: str = "numpy", progress=None, directory=None,
                    record_trials: bool = False):
    """Train tempotrons on labelled spike patterns, one Brian2 run per epoch.

    Parameters
    ----------
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
        Input rasters; bin ``b`` is a spike at ``b * dt`` after the trial start.  Each sample is one trial of
        duration ``n_bins * dt``.
    labels : int ndarray [n_samples]
        Class labels ``>= 0``, one per sample.
    n_classes : int, optional
        ``None``: if the labels are 0/1 the task is *binary* — the tempotron(s) should fire for label 1 and stay
        silent for label 0; otherwise one-vs-rest with ``max(labels) + 1`` classes.  An integer ``>= 2`` forces
        one-vs-rest with ``population`` tempotrons per class.
    population : int
        Tempotrons per class (binary: in total).  Output ``j`` belongs to class ``j % n_classes`` (round-robin);
        predictions are majority votes (see :func:`predict_tempotron`).
    params : TempotronParams
        Kernel time constants, threshold, learning rate and momentum.
    epochs : int
        Maximal number of passes over the data.
    init_weights : array [n_inputs, n_outputs], optional
        Initial (dimensionless) weights; default Gaussian with mean 0 and standard deviation ``init_std``.
    init_std : float
        Standard deviation of the default initial weights (dimensionless).
    seed : int
        Seed of the initial weights and of the presentation orders (the Brian2 code draws no random numbers).
    dt : Quantity
        Time step = bin width of ``spiketrains``.  Default 1 ms.
    gap : Quantity
        Silent time between trials (default 0: all trial state is reset at the boundary anyway).
    shuffle : bool
        Present the samples in a new random order in every epoch.
    stop_when_perfect : bool
        Stop after the first epoch without any error (its weights then classify every sample correctly).
    evaluate_final : bool
        If the last epoch had errors, run one more pass with learning rate 0 to measure the training accuracy
        of the final weights (``history["final_accuracy"]``).
    backend : {"runtime", "standalone", "genn"}
        ``"genn"``: every epoch is one brian2genn build and run of the GeNN design (:func:`genn_design`,
        :func:`brainlz.backends.genn.tempotron_epoch`; needs ``brainlz env genn`` and a GeNN 4.x installation).
    target : {"numpy", "cython"} or {"gpu", "cpu"}
        Code-generation target of the runtime backend; GeNN's CUDA or CPU backend for ``backend="genn"``.
    progress : callable, optional
        Called as ``progress(epochs_done, epochs)`` after each epoch.
    directory : path, optional
        Where standalone programs are compiled (default :func:`default_directory`); the run directory of the GeNN
        projects for ``backend="genn"`` (default: a temporary one).
    record_trials : bool
        Keep, per epoch, the presentation order, per-trial decisions, ``Vmax``, ``tmax`` (s from the trial start),
        targets (+1/-1) and the weights in force in each trial (``[n_samples + 1, n_inputs, n_outputs]``; the last
        entry is the weights after the epoch) in ``history["trials"]``.

    Returns
    -------
    weights : ndarray [n_inputs, n_outputs]
        Learned dimensionless weights (units of the kernel peak).
    history : dict
        ``accuracy`` (per epoch, from the decisions made during the epoch), ``errors`` (tempotron errors, i.e.
        updates, per epoch), ``stalled`` (per epoch: target trials that did not fire and whose V never rose above
        ``V_rest`` — their ``t_max`` is the trial start, so they cannot teach; many of them mean that the learning
        rate is too large for the input density), ``epochs``, ``converged`` (an error-free epoch happened),
        ``final_accuracy``,
        ``epoch_time`` and ``wall_time`` (s), ``builds`` (standalone compilations in this call — 0 when a compiled
        program was reused — or runtime networks built), ``output_classes``, ``binary``, ``n_classes``,
        ``backend``, and ``trials`` if requested.

    Raises
    ------
    ParameterError, DataError
        Naming the offending field.
    SimulationError
        After an epoch whose weights or trial maxima became NaN, infinite or absurd (:func:`check_epoch`).
    """
    params = TempotronParams() if params is None else _check_params(params)
    check_backend(backend, target)
    spiketrains = check_spiketrains(spiketrains)
    n_samples, n_inputs, n_bins = spiketrains.shape
    labels = _check_labels(labels, n_samples)
    population = checks.integer("population", population, low=1)
    epochs = checks.integer("epochs", epochs, low=1)
    seed = checks.seed("seed", seed)
    init_std = checks.real("init_std", init_std, low=0)
    binary, n_classes, classes = _groups(labels, n_classes, population)
    n_out = classes.size
    setup = _setup_for(n_inputs, n_out, n_bins, dt, gap, float(params.tau), float(params.tau_s), params.threshold,
                       params.momentum)
    if init_weights is None:
        init = np.random.default_rng(seed).normal(0.0, init_std, size=(n_inputs, n_out))
    else:
        init = _check_weights(init_weights, n_inputs, n_out)
    problem = _Problem(spiketrains, labels, classes, binary, n_classes, init)
    [(weights, history)] = _train(setup, [problem], lam=params.learning_rate, epochs=epochs, seed=seed,
                                  shuffle=shuffle, stop_when_perfect=stop_when_perfect, evaluate_final=evaluate_final,
                                  backend=backend, target=target, progress=progress, directory=directory,
                                  record_trials=record_trials)
    return weights, history


def _check_weights(weights, n_inputs, n_out, name="init_weights") -> np.ndarray:
    if isinstance(weights, Quantity) and not weights.is_dimensionless:
        raise ParameterError(name, weights, "expected dimensionless weights (units of the kernel peak)")
    array = np.asarray(weights, dtype=float)
    if array.shape != (n_inputs, n_out):
        raise ParameterError(name, f"shape {array.shape}", f"expected shape ({n_inputs}, {n_out})")
    if not np.all(np.isfinite(array)):
        raise ParameterError(name, "non-finite values", "weights must be finite")
    return array.copy()


def predict_tempotron(spiketrains, weights, params: TempotronParams = None, *, n_classes=None, dt=1 * ms,
                      backend: str = "runtime", target: str = "numpy", directory=None) -> dict:
    """Decisions of trained tempotrons (learning rate 0, the same Brian2 program as training).

    Parameters
    ----------
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
    weights : array [n_inputs, n_outputs]
        Dimensionless weights, e.g. from :func:`train_tempotron`.
    params : TempotronParams
        Kernel time constants and threshold (learning rate and momentum are not used).
    n_classes : int, optional
        ``None``: binary, all outputs vote on "class 1".  Otherwise output ``j`` votes for class ``j % n_classes``
        (as trained by :func:`train_tempotron` with the same ``n_classes``, or inferred there from the labels).
    dt : Quantity
        Time step = bin width.
    backend, target, directory
        As in :func:`train_tempotron`.

    Returns
    -------
    dict
        ``fired`` (bool ``[n_samples, n_outputs]``: the decisions), ``t_max`` (s from the trial start: time of the
        maximum of V, or of the threshold crossing if fired), ``v_max`` (dimensionless), ``prediction`` (int
        ``[n_samples]``; binary: 1 if more than half of the outputs fire; several classes: the class with most
        firing outputs, ties and "no output fired" going to the class whose outputs reach the largest ``Vmax``).
    """
    params = TempotronParams() if params is None else _check_params(params)
    check_backend(backend, target)
    spiketrains = check_spiketrains(spiketrains)
    n_samples, n_inputs, n_bins = spiketrains.shape
    if np.ndim(weights) != 2:
        raise ParameterError("weights", f"shape {np.shape(weights)}", "expected shape (n_inputs, n_outputs)")
    n_out = np.shape(weights)[1]
    w = _check_weights(weights, n_inputs, n_out, "weights")
    if n_classes is None:
        binary, n_cls, classes = True, 2, np.ones(n_out, dtype=np.int64)
    else:
        n_cls = checks.integer("n_classes", n_classes, low=2)
        binary, classes = False, np.arange(n_out) % n_cls
    setup = _setup_for(n_inputs, n_out, n_bins, dt, 0 * ms, float(params.tau), float(params.tau_s),
                       params.threshold, 0.0)
    result = _run_epoch(setup, [spiketrains], np.zeros((n_samples, n_out)), w[None], np.zeros((1,) + w.shape),
                        np.zeros(n_out), backend=backend, target=target, record_weights=False, directory=directory)
    return {"fired": result.fired, "t_max": result.t_max, "v_max": result.v_max,
            "prediction": vote(result.fired, result.v_max, classes, binary, n_cls)}


def train_tempotron_blocks(spiketrains, labels, init_weights, *, params: TempotronParams = None, epochs: int = 100,
                           seed: int = 0, dt=1 * ms, backend: str = "runtime", target: str = "numpy", progress=None,
                           directory=None) -> list:
    """Train one binary tempotron on each of several independent problems, side by side in the same Brian2 runs.

    Problem ``k`` is block ``k`` of one network (its own inputs, tempotron and synapses; see the module
    docstring): every epoch is one run for all problems, shorter problems are padded with empty trials, and the
    standalone backend compiles one program for all of them.  Each problem is trained as :func:`train_tempotron`
    trains a binary task with ``population=1``, ``gap=0``, ``shuffle``, ``stop_when_perfect`` and
    ``evaluate_final``: it stops learning after its first error-free epoch, the others go on.

    Parameters
    ----------
    spiketrains : sequence of bool ndarray [n_samples_k, n_inputs, n_bins]
        One raster per problem; ``n_inputs`` and ``n_bins`` are the same for all.
    labels : sequence of int ndarray [n_samples_k]
        0/1 labels per problem: the tempotron should fire for label 1 and stay silent for label 0.
    init_weights : sequence of array [n_inputs, 1]
        Initial dimensionless weights per problem.
    params : TempotronParams, optional
        Kernel time constants, threshold, learning rate and momentum (default :class:`TempotronParams`).
    epochs : int
        Maximal number of passes over the data.
    seed : int
        Seed of the presentation orders: problem ``k`` draws them from child ``k`` of
        ``numpy.random.SeedSequence(seed)``, so its result does not depend on the other problems.
    dt : Quantity
        Time step = bin width of the rasters.  Default 1 ms.
    backend, target, progress, directory
        As in :func:`train_tempotron`.

    Returns
    -------
    list of (weights, history)
        Per problem: the learned weights ``[n_inputs, 1]`` and a history as in :func:`train_tempotron`
        (``epochs`` per problem; ``wall_time`` in s and ``builds`` count all problems together).

    Raises
    ------
    ParameterError, DataError
        Naming the offending field, e.g. ``labels[1]``.
    """
    params = TempotronParams() if params is None else _check_params(params)
    check_backend(backend, target)
    epochs = checks.integer("epochs", epochs, low=1)
    seed = checks.seed("seed", seed)
    spiketrains, labels, init_weights = list(spiketrains), list(labels), list(init_weights)
    if not spiketrains:
        raise ParameterError("spiketrains", spiketrains, "expected at least one problem")
    if len(labels) != len(spiketrains) or len(init_weights) != len(spiketrains):
        raise ParameterError("labels", f"{len(labels)} label arrays and {len(init_weights)} weight arrays",
                             f"expected one of each per problem ({len(spiketrains)})")
    problems = []
    for k, (x, y, init) in enumerate(zip(spiketrains, labels, init_weights)):
        x = check_spiketrains(x, field=f"spiketrains[{k}]")
        if k and x.shape[1:] != problems[0].spiketrains.shape[1:]:
            raise DataError(f"spiketrains[{k}]: shape {x.shape}, expected (n_samples, n_inputs, n_bins) = "
                            f"(..., {', '.join(map(str, problems[0].spiketrains.shape[1:]))}) as spiketrains[0]")
        y = _check_labels(y, x.shape[0])
        if y.size and y.max() > 1:
            raise DataError(f"labels[{k}]: expected 0/1 labels, got {y.max()}")
        init = _check_weights(init, x.shape[1], 1, f"init_weights[{k}]")
        problems.append(_Problem(x, y, np.ones(1, dtype=np.int64), True, 2, init))
    n_inputs, n_bins = problems[0].spiketrains.shape[1:]
    setup = _setup_for(n_inputs, 1, n_bins, dt, 0 * ms, float(params.tau), float(params.tau_s), params.threshold,
                       params.momentum, n_blocks=len(problems))
    return _train(setup, problems, lam=params.learning_rate, epochs=epochs, seed=seed, shuffle=True,
                  stop_when_perfect=True, evaluate_final=True, backend=backend, target=target, progress=progress,
                  directory=directory, record_trials=False)


# ---------------------------------------------------------------------------------------------------------------
# NetworkSpec integration
# ---------------------------------------------------------------------------------------------------------------

def lif_weight_scale(layer, threshold: float = 1.0, dt=None) -> np.ndarray:
    r"""Current (A) per unit of dimensionless tempotron weight, per neuron of a LIF-type layer.

    A current jump ``w`` into :math:`\tau_{syn} dI/dt = -I`, :math:`\tau_m dv/dt = E_L - v + R I` gives the PSP
    :math:`R w \frac{\tau_{syn}}{\tau_m - \tau_{syn}} (e^{-t/\tau_m} - e^{-t/\tau_{syn}})`, whose peak is
    :math:`R w\, p` with :math:`p = \tau_{syn} / ((\tau_m - \tau_{syn}) V_0)`.  A tempotron weight ``u`` is a PSP
    peak of ``u`` threshold units, i.e. :math:`u (V_{th} - E_L) / V_{thr}` volts, so

    .. math:: w = u \, \frac{V_{th} - E_L}{V_{thr}\, R\, p} .

    With ``dt`` given, :math:`p` is instead the peak of the PSP as Brian2 integrates ``models/lif.py``
    (exponential Euler with the current held over each step: :math:`v_k - E_L = R w (1 - a)(a^k - c^k)/(a - c)`,
    :math:`a = e^{-dt/\tau_m}`, :math:`c = e^{-dt/\tau_{syn}}`), which at ``dt = 1 ms``, ``tau_m = 20 ms``,
    ``tau_syn = 5 ms`` is 10 % larger than the continuous peak and has nearly the same shape.

    Parameters
    ----------
    layer : LayerSpec
        A layer whose model has ``tau_m``, ``tau_syn``, ``R``, ``V_th`` and ``E_L`` (``lif``, ``meta_neuron``).
    threshold : float
        The tempotron threshold :math:`V_{thr}` (dimensionless).
    dt : Quantity, optional
        Time step of the simulation; ``None`` uses the continuous PSP.

    Returns
    -------
    ndarray [n_neurons]
        Amperes per unit weight.
    """
    p = {name: np.asarray(layer.params[name], dtype=float) for name in ("tau_m", "tau_syn", "R", "V_th", "E_L")}
    tau_m, tau_syn = p["tau_m"], p["tau_syn"]
    # the PSP's shape is symmetric in tau_m and tau_syn (see train_output_layer): kernel constants of the pair
    decay, rise = np.maximum(tau_m, tau_syn), np.minimum(tau_m, tau_syn)
    if dt is None:
        v0, _ = kernel_constants(decay, rise)
        peak = tau_syn / (np.abs(tau_m - tau_syn) * np.asarray(v0))
    else:
        step = checks.seconds("dt", dt)
        a, c = np.exp(-step / tau_m), np.exp(-step / tau_syn)
        _, t_peak = kernel_constants(decay, rise)
        k = np.arange(1, int(np.ceil(np.max(t_peak) / step)) * 2 + 3)[:, None]
        peak = ((1 - a) * (a ** k - c ** k) / (a - c)).max(axis=0)
    return (p["V_th"] - p["E_L"]) / (threshold * p["R"] * peak)


def train_output_layer(spec, dataset, params: TempotronParams = None, *, epochs: int = 50, seed: int = 0,
                       backend: str = "runtime", target: str = "numpy", simulate_target: str = "numpy",
                       discretised: bool = True, init: str = "random", init_std: float = 1e-3, progress=None,
                       directory=None):
    r"""Train the last projection of a :class:`~brainlz.network.NetworkSpec` with the tempotron rule.

    Each output neuron is treated as a tempotron whose kernel is the PSP of its own model: :math:`\tau = \tau_m` and
    :math:`\tau_s = \tau_{syn}` of the output layer (per neuron); a LIF neuron with an exponentially decaying
    synaptic current has exactly this difference-of-exponentials PSP.  Output neurons are assigned to classes
    round-robin (neuron ``j`` to class ``j % n_classes``) and vote; with 0/1 labels that is also one-vs-rest with
    two classes.  The presynaptic spikes are the input rasters if the spec has no hidden layer, otherwise the
    spikes of the last hidden layer, simulated with :func:`brainlz.backends.runtime.simulate` and the spec's current
    weights.

    Mapping and its approximations: a learned dimensionless weight ``u`` becomes the current ``u *
    lif_weight_scale(output layer, threshold, dt)`` (see :func:`lif_weight_scale`): the PSP peak of a weight-1
    synapse equals ``(V_th - E_L) / threshold``, so the LIF's potential relative to ``E_L``, in units of
    ``(V_th - E_L) / threshold``, follows the tempotron's :math:`V(t)`.  The decision "fires at least once" carries
    over up to these approximations: (i) Brian2 integrates the LIF with exponential Euler, holding the synaptic
    current over each step; its PSP is about ``1 + dt / (2 tau_syn)`` times the continuous one (10 % at
    ``dt = 1 ms``, ``tau_syn = 5 ms``) with nearly the same shape — with ``discretised=True`` (default) the scale
    uses the peak of this discrete PSP, otherwise the continuous formula; (ii) after its first spike the LIF is
    reset and refractory and keeps integrating instead of being shunted (this changes later spikes, not the
    decision); (iii) the tempotron evaluates :math:`V` on the same time grid, so both see the same spike bins;
    (iv) for the meta-neuron the resting ``tau_m`` is used although strong input shortens the effective time
    constant (``I_abs``), which makes its PSPs smaller and shorter for strong input; its adaptive threshold only
    matters after the first spike.

    Parameters
    ----------
    spec : NetworkSpec
        Output model with ``tau_m``, ``tau_syn``, ``R``, ``V_th``, ``E_L`` (``lif`` or ``meta_neuron``).
    dataset : SpikeDataset
        Training data; ``dataset.dt`` must equal ``spec.dt``.
    params : TempotronParams, optional
        Threshold, learning rate and momentum; its ``tau``/``tau_s`` are replaced by the spec's.
    epochs, seed, backend, target, progress, directory
        As in :func:`train_tempotron`.
    simulate_target : {"numpy", "cython"}
        Runtime target for simulating the hidden layers (with ``backend="standalone"`` they are simulated by
        :func:`brainlz.backends.standalone.simulate` instead: the same rasters, compiled once).
    discretised : bool
        Scale weights by the peak of the PSP as simulated with ``spec.dt`` (default) instead of the continuous one.
    init : {"random", "spec"}
        Initial tempotron weights: Gaussian with mean 0 and standard deviation ``init_std`` (default), or the
        spec's current output weights divided by the scale (these are usually far too large: the default weights
        of :meth:`NetworkSpec.create` drive the neuron to threshold by rate alone).
    init_std : float
        Standard deviation of the random initial weights (dimensionless).

    Returns
    -------
    new_spec : NetworkSpec
        ``spec`` with the last weight matrix replaced (in the model's weight unit).
    history : dict
        As in :func:`train_tempotron`, plus ``weights`` (the dimensionless learned weights) and ``scale``
        (amperes per unit weight, per output neuron).

    Raises
    ------
    SimulationError
        After an epoch whose weights or trial maxima became NaN, infinite or absurd (:func:`check_epoch`, naming
        the output layer).
    """
    from ..data import SpikeDataset
    from ..network import NetworkSpec

    if not isinstance(spec, NetworkSpec):
        raise ParameterError("spec", spec, "expected a NetworkSpec")
    if not isinstance(dataset, SpikeDataset):
        raise ParameterError("dataset", dataset, "expected a SpikeDataset")
    if abs(float(dataset.dt) - float(spec.dt)) > 1e-12 * float(spec.dt):
        raise ParameterError("dataset.dt", dataset.dt, f"must equal spec.dt = {spec.dt}")
    output = spec.output
    needed = {"tau_m", "tau_syn", "R", "V_th", "E_L"}
    if not needed <= set(output.params):
        raise ParameterError(f"{output.name}.model", output.model,
                             f"tempotron training needs a LIF-type output model with parameters {sorted(needed)}")
    tau_m = np.asarray(output.params["tau_m"], dtype=float)
    tau_syn = np.asarray(output.params["tau_syn"], dtype=float)
    close = np.abs(tau_m - tau_syn) <= 1e-3 * np.maximum(tau_m, tau_syn)
    if np.any(close):
        k = int(np.flatnonzero(close)[0])
        raise ParameterError(f"{output.name}.tau_syn", output.params["tau_syn"][k],
                             f"must differ from tau_m = {output.params['tau_m'][k]} (neuron {k}): the PSP is then an "
                             "alpha function, which the tempotron kernel does not cover")
    # The LIF PSP is proportional to exp(-t/tau_m) - exp(-t/tau_syn) over (tau_m - tau_syn): the same shape with
    # the two time constants exchanged, so the kernel takes the larger as its decay and the smaller as its rise
    # (an intrinsic-parameter search may move tau_m below tau_syn).
    tau_decay, tau_rise = np.maximum(tau_m, tau_syn), np.minimum(tau_m, tau_syn)
    base = TempotronParams() if params is None else _check_params(params)
    check_backend(backend, target)
    epochs = checks.integer("epochs", epochs, low=1)
    seed = checks.seed("seed", seed)
    x = check_spiketrains(dataset.spiketrains, spec.n_inputs, "dataset.spiketrains")
    labels = _check_labels(dataset.labels, x.shape[0])
    n_classes = max(int(labels.max()) + 1, 2)
    n_out = output.n_neurons
    if n_out < n_classes:
        raise ParameterError(f"{output.name}.n_neurons", n_out, f"need at least one output neuron per class "
                                                                 f"({n_classes} classes)")
    if len(spec.layers) > 1:
        from ..backends import runtime, standalone
        if backend == "standalone":  # the compiled inference program (identical rasters, reused across calls)
            result = standalone.simulate(spec, x, record_hidden=True, seed=seed)
        else:
            result = runtime.simulate(spec, x, target=simulate_target, record_hidden=True, seed=seed)
        pre = result.hidden[spec.layers[-2].name]
    else:
        pre = x
    classes = np.arange(n_out) % n_classes
    scale = lif_weight_scale(output, base.threshold, spec.dt if discretised else None)
    if init == "spec":
        start = np.asarray(spec.weights[-1], dtype=float) / scale[None, :]
    elif init == "random":
        init_std = checks.real("init_std", init_std, low=0)
        start = np.random.default_rng(seed).normal(0.0, init_std, size=(pre.shape[1], n_out))
    else:
        raise ParameterError("init", init, 'expected "random" or "spec"')
    setup = _setup_for(pre.shape[1], n_out, pre.shape[2], spec.dt, 0 * ms, tau_decay, tau_rise, base.threshold,
                       base.momentum)
    problem = _Problem(pre, labels, classes, False, n_classes, start)
    [(weights, history)] = _train(setup, [problem], lam=base.learning_rate, epochs=epochs, seed=seed, shuffle=True,
                                  stop_when_perfect=True, evaluate_final=True, backend=backend, target=target,
                                  progress=progress, directory=directory, record_trials=False, layer=output.name)
    unit = output.neuron_model.weight_unit
    new_weights = list(spec.weights)
    new_weights[-1] = weights * scale[None, :] * unit
    history["weights"] = weights
    history["scale"] = scale
    return spec.with_weights(new_weights), history
