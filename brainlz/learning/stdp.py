r"""Pair-based spike-timing-dependent plasticity (STDP) as Brian2 synapses, and an unsupervised trainer.

The rule
--------
Every plastic synapse carries two event-driven traces, a presynaptic one :math:`A_{pre}` and a postsynaptic
one :math:`A_{post}` (dimensionless, stored on the synapse):

.. math::

    \frac{dA_{pre}}{dt} = -\frac{A_{pre}}{\tau_+}, \qquad \frac{dA_{post}}{dt} = -\frac{A_{post}}{\tau_-},

    \text{presynaptic spike:}\quad A_{pre} \leftarrow A_{pre} + 1, \quad
        w \leftarrow \operatorname{clip}\big(w - \Delta_-(w)\, A_{post},\; w_{min},\, w_{max}\big),

    \text{postsynaptic spike:}\quad A_{post} \leftarrow A_{post} + 1, \quad
        w \leftarrow \operatorname{clip}\big(w + \Delta_+(w)\, A_{pre},\; w_{min},\, w_{max}\big),

with (``mode="additive"``, Song, Miller & Abbott 2000; hard bounds)

.. math::  \Delta_+(w) = A_+\, w_{max}, \qquad \Delta_-(w) = A_-\, w_{max},

or (``mode="multiplicative"``, weight-dependent; Gütig, Aharonov, Rotter & Sompolinsky 2003 with
:math:`\mu = 1`, cf. van Rossum, Bi & Turrigiano 2000)

.. math::  \Delta_+(w) = A_+\, (w_{max} - w), \qquad \Delta_-(w) = A_-\, (w - w_{min}).

The traces are *all-to-all*: :math:`A_{pre}(t) = \sum_k e^{-(t - t^{pre}_k)/\tau_+}` over all earlier
presynaptic spikes, and likewise :math:`A_{post}`.  For one isolated pair with :math:`\Delta t = t_{post} -
t_{pre}` the weight changes (before clipping) by

.. math::

    \Delta w = \begin{cases} +\Delta_+(w)\, e^{-\Delta t/\tau_+} & \Delta t > 0 \\
                             0 & \Delta t = 0 \\
                             -\Delta_-(w)\, e^{\Delta t/\tau_-} & \Delta t < 0 , \end{cases}

and over many spikes the changes add up (all pairs, in the order in which the spikes occur, clipped after every
update).

Same-step pairs.  Spikes in the same time step (:math:`\Delta t = 0`) are not paired.  In Brian2's schedule a
presynaptic spike in step :math:`n` reaches the membrane in step :math:`n + 1` at the earliest, so such a pair is
never causal; counting it as potentiation or as depression would bias the rule by :math:`A_\pm` per
coincidence, which at dt = 1 ms shifts the balance point of Song et al.'s :math:`A_-/A_+ = 1.05` by about 5 %
(the sums :math:`\sum_{n \ge 0} e^{-n\,dt/\tau} \approx \tau/dt + 1/2` vs. :math:`\sum_{n \ge 1} \approx
\tau/dt - 1/2`).  Leaving them out keeps the discrete rule's potentiation and depression integrals
symmetric (both :math:`\sum_{n \ge 1}`), so the balance point stays at :math:`A_- \tau_- = A_+ \tau_+` as in
continuous time.  Implementation, independent of the order in which the two pathways run within a step: each
pathway stores its spike time in a synaptic variable (``lastpre``, ``lastpost``) and leaves a spike of the other
side in the same step out of the trace it reads (``Apost - int(lastpost == t)`` in ``on_pre``, ``Apre -
int(lastpre == t)`` in ``on_post``); ``tests/test_stdp.py`` runs both orders.

Same-step transmission.  A presynaptic spike transmits the weight as it was at the start of its step: every
design runs ``on_pre`` (transmission, then depression) before ``on_post`` (potentiation) within a step, the
order GeNN imposes (brian2genn ignores Brian2's ``order``), so the CPU designs (runtime, standalone) and GeNN
transmit the same weights and their spikes and weights agree.  (Until 2026-12-07 the CPU designs ran ``on_post``
first: a presynaptic spike in the step of a postsynaptic one transmitted the freshly potentiated weight, and
with weights large enough to move spikes the backends diverged; the STDP cells of the paper grid's record were
made that way.)

Brian2 code
-----------
:func:`stdp_synapse_code` returns the synapse model and the ``on_pre``/``on_post`` strings.  ``on_pre`` is the
postsynaptic model's own ``NeuronModel.on_pre`` (e.g. ``I_syn_post += w``, with the weight *before* the update)
followed by the STDP update.  The rule's constants (``A_plus``, ``A_minus``, ``tau_plus``, ``tau_minus``,
``w_min``, ``w_max``) are shared synaptic variables, not constants baked into the code, so that a compiled
standalone program can rerun with another rule.  The code reads only synaptic and postsynaptic variables
(brian2genn cannot translate ``on_pre`` code that reads presynaptic neuron variables).

Training
--------
:func:`train_stdp` learns the input -> first-layer weights of a :class:`~brainlz.network.NetworkSpec` without
labels.  An epoch is *one* Brian2 run: the training samples are presented back to back (sample ``k`` of the
epoch's order starts at ``k * (duration + gap)``), which is fast on every backend and fits brian2genn's one run
per build.  On the runtime backend the input is a ``SpikeGeneratorGroup`` and every epoch builds a new Brian2
network (the cython target caches its compiled code).  On the standalone backend the input is a spike table read
through a ``TimedArray`` (as in :func:`brainlz.network.build`); the C++ program is compiled once and every later
epoch -- or later call with the same shapes -- reruns it, with weights, intrinsic parameters, rule variables and
input table passed as ``run_args``.  It shares the one compiled-program slot of
:mod:`brainlz.backends.standalone` (Brian2 has a single standalone device), so alternating between training and
``standalone.simulate`` recompiles.  :func:`brainlz.experiments.song2000.song_abbott_experiment` reproduces the
bimodal weight distribution of Song et al. (2000).

For brian2genn (``backend="genn"``, :func:`genn_design` run by :func:`brainlz.backends.genn.stdp_epoch`, checked by
:func:`brainlz.backends.genn.check_genn_support` with ``training="stdp"``) the epoch is the same network with
the input as a ``SpikeGeneratorGroup``, every object on ``defaultclock`` and no ``seed()``; the synapse code is
the same strings.  brian2genn translates the event-driven traces, ``(shared)`` variables and the ``on_post``
pathway; models whose ``on_pre`` writes two postsynaptic variables (the meta-neuron) and stochastic models are
refused (GeNN sums one variable per synapse population; no ``seed()``).

References
----------
Song, Miller & Abbott 2000, Nat Neurosci 3:919.  van Rossum, Bi & Turrigiano 2000, J Neurosci 20:8812.
Gütig, Aharonov, Rotter & Sompolinsky 2003, J Neurosci 23:3697.  Brian2 example ``synapses/STDP.py``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import Quantity, get_dimensions, have_same_dimensions, ms, second

from .. import checks
from ..backends.base import brian_invalid_value_warnings_off
from ..data import SpikeDataset
from ..errors import DataError, ParameterError
from ..models import NeuronModel
from ..network import (LayerSpec, NetworkSpec, brian_array, check_spiketrains, evaluate_initial, reset_code,
                       run_network, spike_table, unit_name)

__all__ = ["STDPRule", "STDPHistory", "stdp_synapse_code", "stdp_synapses", "train_stdp", "genn_design",
           "weight_statistics", "NEAR", "MODES", "SONG_2000"]

#: Weight-update modes of :class:`STDPRule`.
MODES = ("additive", "multiplicative")

#: A weight is "near" a bound when it lies within this fraction of ``w_max - w_min`` of it.
NEAR = 0.1

#: The parameters of Song, Miller & Abbott (2000): A+ = 0.005 of g_max, A-/A+ = 1.05, tau+ = tau- = 20 ms.
SONG_2000 = {"A_plus": 0.005, "A_minus": 0.005 * 1.05, "tau_plus": 20 * ms, "tau_minus": 20 * ms}

NO_SPIKE = -1e4  # s: initial lastpre/lastpost, before any spike

_RULE_VARIABLES = ("A_plus", "A_minus", "tau_plus", "tau_minus", "w_min", "w_max")


# ---------------------------------------------------------------------------------------------------------------
# the rule
# ---------------------------------------------------------------------------------------------------------------

def _rule_time(name: str, value) -> Quantity:
    if not isinstance(value, Quantity) or not have_same_dimensions(value, second):
        raise ParameterError(f"stdp.{name}", value, "expected a time, e.g. 20*ms")
    checks.seconds(f"stdp.{name}", value, reason="expected one positive, finite time, e.g. 20*ms")
    return value


def _rule_fraction(name: str, value) -> float:
    if isinstance(value, Quantity) and not value.is_dimensionless:
        raise ParameterError(f"stdp.{name}", value, "expected a dimensionless number (a fraction of w_max), "
                                                    "not a quantity with units")
    if isinstance(value, (bool, np.bool_)) or np.ndim(value) != 0:
        raise ParameterError(f"stdp.{name}", value, "expected one number in [0, 1]")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"stdp.{name}", value, "expected one number in [0, 1]") from None
    if not math.isfinite(number) or number < 0:
        raise ParameterError(f"stdp.{name}", value, "expected a number >= 0 (a magnitude; the sign is fixed "
                                                    "by the rule)")
    if number > 1:
        raise ParameterError(f"stdp.{name}", value, "expected a number <= 1 (a fraction of w_max per pair)")
    return number


@dataclass(frozen=True, kw_only=True)
class STDPRule:
    r"""Pair-based STDP with all-to-all traces and hard weight bounds (see the module docstring for the math).

    All arguments are keyword-only; the defaults are those of Song, Miller & Abbott (2000).

    Parameters
    ----------
    w_max : Quantity
        Upper weight bound, in the postsynaptic model's weight unit (``nA`` for ``lif``/``meta_neuron``).
    A_plus : float
        Potentiation per pair, a dimensionless fraction: of ``w_max`` (additive) or of ``w_max - w``
        (multiplicative).  Default 0.005.
    A_minus : float
        Depression magnitude per pair (a positive number), a fraction of ``w_max`` (additive) or of
        ``w - w_min`` (multiplicative).  Default ``1.05 * 0.005``.
    tau_plus, tau_minus : Quantity
        Decay times of the presynaptic and postsynaptic traces (default 20 ms each).
    w_min : Quantity, optional
        Lower weight bound, same unit as ``w_max`` (default 0).
    mode : {"additive", "multiplicative"}
        ``"additive"``: :math:`\Delta w_+ = A_+ w_{max} A_{pre}`, :math:`\Delta w_- = A_- w_{max} A_{post}`;
        ``"multiplicative"``: :math:`\Delta w_+ = A_+ (w_{max} - w) A_{pre}`,
        :math:`\Delta w_- = A_- (w - w_{min}) A_{post}`.

    Raises
    ------
    ParameterError
        Naming the field (``stdp.tau_plus``, ...) for a missing unit, a wrong unit, a negative or non-finite
        value, ``w_max <= w_min`` or an unknown mode.

    Notes
    -----
    A presynaptic Poisson train at rate :math:`r_{pre}` that is independent of the postsynaptic train (rate
    :math:`r_{post}`) drifts, in the additive mode, by about :math:`r_{pre} r_{post}\, w_{max} (A_+ \tau_+ -
    A_- \tau_-)` per unit time (in discrete time :math:`\tau_\pm` becomes :math:`dt \sum_{n \ge 1}
    e^{-n\,dt/\tau_\pm}` on both sides, since same-step pairs are left out): depression dominates exactly when
    :math:`A_- \tau_- > A_+ \tau_+`, i.e. :math:`A_-/A_+ > 1` for equal time constants.
    """

    w_max: Quantity
    A_plus: float = SONG_2000["A_plus"]
    A_minus: float = SONG_2000["A_minus"]
    tau_plus: Quantity = field(default_factory=lambda: 20 * ms)
    tau_minus: Quantity = field(default_factory=lambda: 20 * ms)
    w_min: Quantity | None = None
    mode: str = "additive"

    def __post_init__(self):
        object.__setattr__(self, "A_plus", _rule_fraction("A_plus", self.A_plus))
        object.__setattr__(self, "A_minus", _rule_fraction("A_minus", self.A_minus))
        _rule_time("tau_plus", self.tau_plus)
        _rule_time("tau_minus", self.tau_minus)
        if not isinstance(self.w_max, Quantity):
            raise ParameterError("stdp.w_max", self.w_max, "expected a quantity in the postsynaptic model's "
                                                           "weight unit, e.g. 1*nA")
        if np.ndim(self.w_max) != 0 or not math.isfinite(float(self.w_max)):
            raise ParameterError("stdp.w_max", self.w_max, "expected one finite quantity, e.g. 1*nA")
        if self.w_min is None:
            object.__setattr__(self, "w_min", Quantity(0.0, dim=get_dimensions(self.w_max)))
        if not isinstance(self.w_min, Quantity) or not have_same_dimensions(self.w_min, self.w_max):
            raise ParameterError("stdp.w_min", self.w_min, f"expected a quantity in the unit of w_max "
                                                           f"({self.w_max!r})")
        if np.ndim(self.w_min) != 0 or not math.isfinite(float(self.w_min)):
            raise ParameterError("stdp.w_min", self.w_min, "expected one finite quantity")
        if float(self.w_max) <= float(self.w_min):
            raise ParameterError("stdp.w_max", self.w_max, f"must be larger than w_min = {self.w_min!r}")
        checks.one_of("stdp.mode", self.mode, MODES)

    # ------------------------------------------------------------------ helpers
    @property
    def ratio(self) -> float:
        """``A_minus / A_plus`` (``inf`` when ``A_plus`` is 0)."""
        return self.A_minus / self.A_plus if self.A_plus > 0 else math.inf

    def replace(self, **changes) -> "STDPRule":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def check_model(self, model: NeuronModel, field_prefix: str = "stdp") -> None:
        """Raise :class:`ParameterError` unless ``w_min``/``w_max`` are in ``model.weight_unit``."""
        for name in ("w_max", "w_min"):
            value = getattr(self, name)
            if not have_same_dimensions(value, model.weight_unit):
                raise ParameterError(f"{field_prefix}.{name}", value,
                                     f"expected a quantity in {model.weight_unit} (the weight unit of model "
                                     f"{model.name!r})")

    def values(self) -> dict:
        """The rule's shared synaptic variables as SI floats: ``A_plus``, ``A_minus``, ``tau_plus`` (s), ..."""
        return {name: float(getattr(self, name)) for name in _RULE_VARIABLES}

    def pair_update(self, delta_t, w):
        """Weight after one isolated pair, ``t_post - t_pre = delta_t`` (s or a Brian2 time), from weight ``w``.

        Follows the closed form in the module docstring (``delta_t = 0`` leaves ``w`` unchanged) and clips to the
        bounds.
        ``w`` is in SI units (a Brian2 quantity is accepted); the result is in SI units.
        """
        delta_t = np.asarray(delta_t, dtype=float)
        w = np.asarray(w, dtype=float)
        w_min, w_max = float(self.w_min), float(self.w_max)
        if self.mode == "additive":
            up, down = self.A_plus * w_max, self.A_minus * w_max
        else:
            up, down = self.A_plus * (w_max - w), self.A_minus * (w - w_min)
        change = np.where(delta_t > 0, up * np.exp(-np.abs(delta_t) / float(self.tau_plus)),
                          -down * np.exp(-np.abs(delta_t) / float(self.tau_minus)))
        change = np.where(delta_t == 0, 0.0, change)
        return np.clip(w + change, w_min, w_max)


# ---------------------------------------------------------------------------------------------------------------
# Brian2 code
# ---------------------------------------------------------------------------------------------------------------

def stdp_synapse_code(model: NeuronModel, rule: STDPRule) -> dict:
    """The Brian2 ``Synapses`` code of ``rule`` onto neurons of ``model``.

    Parameters
    ----------
    model : NeuronModel
        The postsynaptic model; its ``on_pre`` (e.g. ``I_syn_post += w``) and ``weight_unit`` are used.
    rule : STDPRule

    Returns
    -------
    dict
        ``{"model": str, "on_pre": str, "on_post": str}``, the arguments of ``brian2.Synapses``.  ``model``
        declares ``w``, the event-driven traces ``Apre``/``Apost``, ``lastpre``/``lastpost`` (see the module
        docstring) and
        the shared rule variables ``A_plus``,
        ``A_minus`` (dimensionless), ``tau_plus``, ``tau_minus`` (second), ``w_min``, ``w_max`` (weight unit).

    Raises
    ------
    ParameterError
        If the rule's bounds are not in the model's weight unit.
    """
    if not isinstance(rule, STDPRule):
        raise ParameterError("rule", rule, "expected an STDPRule")
    rule.check_model(model)
    unit = unit_name(model.weight_unit)
    synapse_model = "\n".join([
        f"w : {unit}",
        "dApre/dt = -Apre / tau_plus : 1 (event-driven)",
        "dApost/dt = -Apost / tau_minus : 1 (event-driven)",
        "A_plus : 1 (shared)",
        "A_minus : 1 (shared)",
        "tau_plus : second (shared)",
        "tau_minus : second (shared)",
        "lastpost : second  # time of the last postsynaptic spike, to leave same-step pairs out",
        "lastpre : second  # time of the last presynaptic spike, likewise",
        f"w_min : {unit} (shared)",
        f"w_max : {unit} (shared)",
    ])
    if rule.mode == "additive":
        depress = "w = clip(w - A_minus * w_max * (Apost - int(lastpost == t)), w_min, w_max)"
        potentiate = "w = clip(w + A_plus * w_max * (Apre - int(lastpre == t)), w_min, w_max)"
    else:
        depress = "w = clip(w - A_minus * (w - w_min) * (Apost - int(lastpost == t)), w_min, w_max)"
        potentiate = "w = clip(w + A_plus * (w_max - w) * (Apre - int(lastpre == t)), w_min, w_max)"
    on_pre = "\n".join([line.strip() for line in model.on_pre.strip().splitlines() if line.strip()]
                       + ["Apre += 1", "lastpre = t", depress])
    on_post = "\n".join(["Apost += 1", "lastpost = t", potentiate])
    return {"model": synapse_model, "on_pre": on_pre, "on_post": on_post}


def stdp_synapses(source, target, model: NeuronModel, rule: STDPRule, i, j, name: str = "stdp", dt=None,
                  post_first: bool = False):
    """Connected Brian2 ``Synapses`` from ``source`` to ``target`` with the STDP code of :func:`stdp_synapse_code`.

    The synapses are created in the order of ``(i, j)``, the shared rule variables are set from ``rule`` and the
    pathways are ordered so that ``on_pre`` runs before ``on_post`` within a time step, as on GeNN: a spike
    transmits the weight of the start of its step (``post_first=True`` reverses it; the code leaves same-step
    pairs out in either order, see the module docstring).  ``lastpre``/``lastpost`` start at -1e4 s (no spike
    yet) and ``w`` at 0; set it with ``syn.w = ...``.

    Parameters
    ----------
    source, target : brian2 groups
        ``target`` must hold the variables the model's ``on_pre`` writes (``I_syn`` for ``lif``).
    model : NeuronModel
        The postsynaptic model.
    rule : STDPRule
    i, j : int arrays
        Presynaptic and postsynaptic indices of the synapses.
    name : str
        Brian2 name of the synapses.
    dt : Quantity, optional
        Time step (default: the target's).

    Returns
    -------
    brian2.Synapses
    """
    from brian2 import Synapses

    code = stdp_synapse_code(model, rule)
    syn = Synapses(source, target, model=code["model"], on_pre=code["on_pre"], on_post=code["on_post"],
                   dt=dt if dt is not None else target.clock.dt, name=name, namespace={})
    syn.post.order = -1 if post_first else 1
    syn.pre.order = 0
    syn.connect(i=np.asarray(i, dtype=np.int64), j=np.asarray(j, dtype=np.int64))
    syn.lastpost_ = NO_SPIKE
    syn.lastpre_ = NO_SPIKE
    for variable, value in rule.values().items():
        setattr(syn, variable + "_", value)
    return syn


# ---------------------------------------------------------------------------------------------------------------
# statistics and history
# ---------------------------------------------------------------------------------------------------------------

def weight_statistics(weights, rule: STDPRule) -> dict:
    """Summary of a weight array (SI units or a Brian2 quantity) relative to the rule's bounds.

    Returns
    -------
    dict
        ``mean`` and ``std`` (SI units), ``mean_fraction`` (mean of ``(w - w_min)/(w_max - w_min)``),
        ``fraction_near_min`` / ``fraction_near_max`` (share of weights within :data:`NEAR` of the range from a
        bound) and ``fraction_bimodal`` (their sum).
    """
    w = np.asarray(weights, dtype=float).ravel()
    w_min, w_max = float(rule.w_min), float(rule.w_max)
    with np.errstate(over="ignore", invalid="ignore"):  # absurd weights: inf, and check_epoch says why
        fraction = (w - w_min) / (w_max - w_min)
        near_min = float(np.mean(fraction <= NEAR)) if w.size else 0.0
        near_max = float(np.mean(fraction >= 1 - NEAR)) if w.size else 0.0
        return {"mean": float(w.mean()) if w.size else 0.0, "std": float(w.std()) if w.size else 0.0,
                "mean_fraction": float(fraction.mean()) if w.size else 0.0, "fraction_near_min": near_min,
                "fraction_near_max": near_max, "fraction_bimodal": near_min + near_max}


@dataclass
class STDPHistory:
    """What happened during :func:`train_stdp`.

    Attributes
    ----------
    epochs : list of dict
        One dict per epoch: ``epoch`` (1-based), the :func:`weight_statistics` of the weights after it
        (``mean``, ``std`` in SI units, ``mean_fraction``, ``fraction_near_min``, ``fraction_near_max``,
        ``fraction_bimodal``), ``output_rate`` (Hz, spikes per neuron over the whole epoch, gaps included),
        ``output_counts`` (spikes per neuron), ``order`` (the sample order), ``wall_time`` (s), ``n_builds``
        (code builds: runtime 1 per epoch, standalone 1 for a compile and 0 for a rerun) and, with
        ``record_spikes=True``, ``spike_indices`` and ``spike_times`` (s, epoch time) of the trained layer.
    initial : dict
        :func:`weight_statistics` of the (clipped) initial weights.
    n_clipped : int
        How many initial weights lay outside ``[w_min, w_max]`` and were clipped onto the bounds.
    backend : str
        ``"runtime-numpy"``, ``"runtime-cython"`` or ``"standalone"``.
    layer : str
        Name of the trained layer.
    sample_period : float
        ``duration + gap`` in seconds: sample ``k`` of an epoch starts at ``k * sample_period``.
    """

    epochs: list = field(default_factory=list)
    initial: dict = field(default_factory=dict)
    n_clipped: int = 0
    backend: str = ""
    layer: str = ""
    sample_period: float = 0.0

    def column(self, key: str) -> np.ndarray:
        """The value of ``key`` in every epoch, as an array (e.g. ``history.column("mean")``)."""
        return np.array([record[key] for record in self.epochs])

    @property
    def n_builds(self) -> int:
        """Builds over all epochs."""
        return int(sum(record["n_builds"] for record in self.epochs))

    @property
    def wall_time(self) -> float:
        """Seconds over all epochs."""
        return float(sum(record["wall_time"] for record in self.epochs))


# ---------------------------------------------------------------------------------------------------------------
# the training network
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class _TrainingNet:
    """Brian2 objects of one training run (internal)."""

    inputs: object
    table: object
    group: object
    synapses: object
    monitor: object
    objects: list
    layer: LayerSpec
    model: NeuronModel
    n_inputs: int
    capacity: int


def _build_training(layer: LayerSpec, n_inputs: int, dt, rule: STDPRule, n_steps: int, period_steps: int,
                    between: str, spikes=None, capacity: int = 0) -> _TrainingNet:
    """Input group -> one copy of ``layer`` with plastic STDP synapses, all-to-all ``[n_inputs, n_neurons]``.

    ``spikes = (indices, steps)`` makes the input a ``SpikeGeneratorGroup`` (runtime); otherwise it is a spike
    table read through a ``TimedArray`` of ``capacity + 1`` rows (standalone; values come from run_args).
    """
    from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, TimedArray

    model = layer.neuron_model
    table = None
    if spikes is not None:
        indices, steps = spikes
        inputs = SpikeGeneratorGroup(n_inputs, indices, steps * dt, dt=dt, sorted=True, name="stdp_inputs")
    else:
        table = TimedArray(np.full((capacity + 1, n_inputs), -1.0), dt=1 * second, name="stdp_input_table")
        inputs = NeuronGroup(n_inputs, "k : integer",
                             threshold="timestep(t, dt) == int(stdp_input_table(k * second, i))",
                             reset="k += 1", dt=dt, name="stdp_inputs", namespace={"stdp_input_table": table})
    group = NeuronGroup(layer.n_neurons, model.equations, threshold=model.threshold, reset=model.reset,
                        refractory=model.refractory, method=model.method, dt=dt, name="stdp_layer", namespace={})
    pre = np.repeat(np.arange(n_inputs), layer.n_neurons)
    post = np.tile(np.arange(layer.n_neurons), n_inputs)
    syn = stdp_synapses(inputs, group, model, rule, pre, post, name="stdp_synapses", dt=dt)
    if between == "reset" and period_steps < n_steps:
        group.run_regularly(reset_code(model), dt=period_steps * dt, when="start", name="stdp_layer_reset")
        syn.run_regularly("Apre = 0\nApost = 0", dt=period_steps * dt, when="start", name="stdp_trace_reset")
    monitor = SpikeMonitor(group, name="stdp_spikes")
    return _TrainingNet(inputs, table, group, syn, monitor, [inputs, group, syn, monitor], layer, model, n_inputs,
                        capacity)


def _initial_values(net: _TrainingNet, layer: LayerSpec, weights: np.ndarray, rule: STDPRule) -> dict:
    """``{(owner, name): SI array}`` of ``layer``'s parameters, initial states, weights and rule variables."""
    model, group, syn = layer.neuron_model, net.group, net.synapses
    params = {name: np.asarray(value, dtype=float).copy() for name, value in layer.params.items()}
    values = {(group, name): array for name, array in params.items()}
    for state in model.state_variables():
        values[(group, state)] = (evaluate_initial(model.initial[state], params) if state in model.initial
                                  else np.zeros(layer.n_neurons))
    values[(syn, "w")] = np.asarray(weights, dtype=float).ravel().copy()  # synapse (i, j) at i * n_post + j
    values[(syn, "lastpost")] = np.full(values[(syn, "w")].size, NO_SPIKE)
    values[(syn, "lastpre")] = np.full(values[(syn, "w")].size, NO_SPIKE)
    for name, value in rule.values().items():
        values[(syn, name)] = np.array([value])
    if net.table is not None:
        values[(net.inputs, "k")] = np.zeros(net.n_inputs, dtype=np.int32)
    return values


def _read_weights(net: _TrainingNet) -> np.ndarray:
    """The weight matrix ``[n_inputs, n_neurons]`` (SI floats) after a run, placed by each synapse's (i, j)."""
    syn = net.synapses
    i, j, w = brian_array(syn.i[:]), brian_array(syn.j[:]), brian_array(syn.w_[:], dtype=float)
    return _weight_matrix(i, j, w, net.n_inputs, net.layer.n_neurons)


def _weight_matrix(i, j, w, n_inputs: int, n_neurons: int) -> np.ndarray:
    """The weights ``w`` of synapses ``(i, j)`` as a matrix ``[n_inputs, n_neurons]``; RuntimeError unless every
    synapse is there once (a NaN weight is a value, checked by :func:`check_epoch`)."""
    matrix = np.zeros((n_inputs, n_neurons))
    seen = np.zeros((n_inputs, n_neurons), dtype=bool)
    matrix[i, j] = w
    seen[i, j] = True
    if np.size(w) != matrix.size or not seen.all():
        raise RuntimeError(f"stdp: expected {matrix.size} synapses after the run, read {np.size(w)}")
    return matrix


def _final_states(net: _TrainingNet) -> dict:
    """The trained layer's state variables after a run (SI floats)."""
    return {name: brian_array(getattr(net.group, name + "_")[:], dtype=float)
            for name in net.model.state_variables()}


def check_epoch(layer: LayerSpec, n_inputs: int, rule: "STDPRule", dt, epoch: int, states: dict,
                weights) -> None:
    """Stop STDP training whose layer states or weights became NaN, infinite or absurd in an epoch, in one line
    (:func:`brainlz.backends.base.check_finite_arrays`: layer, variable, neuron, epoch and the likely cause).

    Parameters
    ----------
    layer : LayerSpec
        The trained layer.
    n_inputs : int
    rule : STDPRule
    dt : Quantity
    epoch : int
        1-based.
    states : dict
        ``{state variable: array [n_neurons] (SI)}`` after the epoch.
    weights : ndarray [n_inputs, n_neurons]
        The weights after the epoch (SI).

    Raises
    ------
    SimulationError
    """
    from ..backends.base import check_finite_arrays, likely_cause

    largest = np.append(np.ravel(weights), float(rule.w_max))
    cause = likely_cause(layer, n_inputs, largest, dt, lower="stdp.w_max (default 1.5 times the mean initial "
                                                           "weight), weight_scale or the weights")
    n = layer.n_neurons
    check_finite_arrays({layer.name: states}, cause,
                        where=lambda name, k: f"neuron {k}, STDP epoch {epoch}")
    check_finite_arrays({layer.name: {"w": weights}}, cause, what="weight",
                        where=lambda name, k: f"input {k // n}, neuron {k % n}, STDP epoch {epoch}")


def _epoch_raster(spiketrains: np.ndarray, order: np.ndarray, gap_bins: int) -> tuple:
    """Input spikes of one epoch as ``(indices, steps)``, samples in ``order``, ``n_bins + gap_bins`` apart."""
    n_bins = spiketrains.shape[2]
    period = n_bins + gap_bins
    sample, channel, step = np.nonzero(spiketrains[order])
    steps = sample.astype(np.int64) * period + step
    sort = np.lexsort((channel, steps))
    return channel[sort].astype(np.int64), steps[sort]


def _epoch_table(spiketrains: np.ndarray, order: np.ndarray, gap_bins: int, capacity: int) -> np.ndarray:
    n_samples, n_inputs, n_bins = spiketrains.shape
    period = n_bins + gap_bins
    concatenated = np.zeros((1, n_inputs, n_samples * period), dtype=bool)
    for position, k in enumerate(order):
        concatenated[0, :, position * period:position * period + n_bins] = spiketrains[k]
    table, _ = spike_table(concatenated, capacity)
    return table


# ---------------------------------------------------------------------------------------------------------------
# running one epoch on each backend
# ---------------------------------------------------------------------------------------------------------------

def _run_runtime(layer, spiketrains, order, weights, rule, dt, gap_bins, between, target, seed):
    import brian2
    from brian2 import get_device, prefs, set_device

    n_samples, n_inputs, n_bins = spiketrains.shape
    period = n_bins + gap_bins
    n_steps = n_samples * period
    if type(get_device()).__name__ != "RuntimeDevice":
        set_device("runtime")
    old_target = prefs.codegen.target
    prefs.codegen.target = target
    try:
        net = _build_training(layer, n_inputs, dt, rule, n_steps, period, between,
                              spikes=_epoch_raster(spiketrains, order, gap_bins))
        for (owner, name), values in _initial_values(net, layer, weights, rule).items():
            setattr(owner, name + "_", values[0] if name in _RULE_VARIABLES else values)
        brian2.seed(int(seed))
        with brian_invalid_value_warnings_off():  # check_epoch says it in one line
            run_network(net.objects, n_steps * dt)
        trained = _read_weights(net)
        spikes = (brian_array(net.monitor.i[:]), brian_array(net.monitor.t_[:]))
        states = _final_states(net)
    finally:
        prefs.codegen.target = old_target
    return trained, spikes, 1, states


def _run_standalone(layer, spiketrains, order, weights, rule, dt, gap_bins, between, seed, directory, capacity):
    from ..backends import standalone as sa

    n_samples, n_inputs, n_bins = spiketrains.shape
    period = n_bins + gap_bins
    n_steps = n_samples * period
    model = layer.neuron_model
    key = ("stdp", rule.mode, n_inputs, layer.model, tuple(sorted(layer.model_options.items())), layer.n_neurons,
           float(dt), n_steps, period, between, capacity, seed if model.stochastic else None)
    compiled, built = sa.get_program(
        key, directory, lambda: _build_training(layer, n_inputs, dt, rule, n_steps, period, between,
                                                capacity=capacity),
        duration=n_steps * dt, seed=seed, prefix="stdp_", models=(model,))
    builds = int(built)
    net = compiled.net
    run_args = {}
    n_synapses = n_inputs * layer.n_neurons
    for (owner, name), values in _initial_values(net, layer, weights, rule).items():
        view = getattr(owner, name)
        expected = 1 if name in _RULE_VARIABLES else (n_synapses if owner is net.synapses else owner.N)
        if values.shape != (expected,):
            raise sa.StandaloneError(f"run_args for {owner.name}.{name}: {values.shape[0]} values, expected "
                                     f"{expected}")
        run_args[view] = Quantity(values, dim=view.dim) if not view.dim.is_dimensionless else values
    run_args[net.table] = _epoch_table(spiketrains, order, gap_bins, capacity)
    with brian_invalid_value_warnings_off():  # check_epoch says it in one line
        compiled.run(run_args, what="STDP")
    syn = net.synapses
    expected_i = np.repeat(np.arange(n_inputs), layer.n_neurons)
    expected_j = np.tile(np.arange(layer.n_neurons), n_inputs)
    if not (np.array_equal(syn.i[:], expected_i) and np.array_equal(syn.j[:], expected_j)):
        raise sa.StandaloneError("stdp: the compiled program ordered its synapses differently from the weights "
                                 "it was given")
    trained = _read_weights(net)
    spikes = (brian_array(net.monitor.i[:]), brian_array(net.monitor.t_[:]))
    return trained, spikes, builds, _final_states(net)


# ---------------------------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------------------------

def _training_data(data, spec: NetworkSpec) -> np.ndarray:
    if isinstance(data, SpikeDataset):
        labels = np.asarray(data.labels)
        if labels.ndim != 1 or labels.shape[0] != data.spiketrains.shape[0]:
            raise DataError(f"labels: expected shape ({data.spiketrains.shape[0]},) to match spiketrains, got "
                            f"{labels.shape}")
        if not have_same_dimensions(data.dt, second) or not math.isclose(float(data.dt), float(spec.dt),
                                                                         rel_tol=1e-9):
            raise DataError(f"dataset.dt: the data has dt = {data.dt}, the network has dt = {spec.dt}")
        return check_spiketrains(data.spiketrains, spec.n_inputs, field="spiketrains")
    return check_spiketrains(data, spec.n_inputs, field="spiketrains")


def _gap_bins(gap, dt) -> int:
    if not isinstance(gap, Quantity) or not have_same_dimensions(gap, second) or np.ndim(gap) != 0:
        raise ParameterError("gap", gap, "expected a time >= 0, e.g. 50*ms")
    bins = float(gap) / float(dt)
    if not math.isfinite(bins) or bins < -1e-9 or abs(bins - round(bins)) > 1e-6:
        raise ParameterError("gap", gap, f"expected a time >= 0 that is a multiple of dt = {dt}")
    return int(round(bins))


def genn_design(spec: NetworkSpec, spiketrains, rule: "STDPRule", *, order=None, gap_bins: int = 50,
                between: str = "decay") -> tuple[dict, dict]:
    """The GeNN design of one STDP epoch of the first projection of ``spec``: ``(config, arrays)`` for
    :func:`brainlz.backends.genn.stdp_epoch`.

    The samples are presented back to back (sample ``order[k]`` from step ``k * (n_bins + gap_bins)``) to one
    copy of the first layer through the plastic synapses of :func:`stdp_synapse_code`, in one run, as in
    :func:`train_stdp`; the GeNN design differs only where brian2genn requires it
    (:data:`brainlz.backends.genn.TRAINING_DESIGNS` ``["stdp"]``): a ``SpikeGeneratorGroup`` input, every object
    on ``defaultclock``, no ``seed()``, no pathway order (the synapse code leaves same-step pairs out in either
    order).

    Parameters
    ----------
    spec : NetworkSpec
        ``spec.weights[0]`` are the initial weights (clipped onto the rule's bounds); the first layer's model
        and per-neuron parameters are used.  Checked with :func:`brainlz.backends.genn.check_genn_support`
        (``training="stdp"``).
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
    rule : STDPRule
    order : int array, optional
        Presentation order (default: data order).
    gap_bins : int
        Silent steps between samples.
    between : {"decay", "reset"}
        As in :func:`train_stdp` (``"reset"``: a ``run_regularly`` on the layer and one on the synapses at every
        sample start).
    """
    from ..backends import genn
    from ..backends.side_worker import layer_arrays

    genn.check_genn_support(spec, training="stdp")
    if not isinstance(rule, STDPRule):
        raise ParameterError("rule", rule, "expected an STDPRule")
    checks.one_of("between", between, ("decay", "reset"), reason="expected 'decay' or 'reset'")
    checks.integer("gap_bins", gap_bins, low=0)
    spiketrains = check_spiketrains(spiketrains, spec.n_inputs)
    n_samples, n_inputs, n_bins = spiketrains.shape
    order = np.arange(n_samples) if order is None else np.asarray(order)
    if sorted(order.tolist()) != list(range(n_samples)):
        raise ParameterError("order", order, f"expected a permutation of 0..{n_samples - 1}")
    layer = spec.layers[0]
    model = layer.neuron_model
    rule.check_model(model)
    period = n_bins + int(gap_bins)
    indices, steps = _epoch_raster(spiketrains, order, int(gap_bins))
    weights = np.clip(np.asarray(spec.weights[0], dtype=float), float(rule.w_min), float(rule.w_max))
    config = {"mode": "stdp", "n_inputs": int(n_inputs), "dt": float(spec.dt), "n_steps": int(n_samples * period),
              "period": int(period), "layer": genn.layer_config(layer), "synapses": stdp_synapse_code(model, rule),
              "rule": {name: float(value) for name, value in rule.values().items()},
              "reset": reset_code(model) if between == "reset" and n_samples > 1 else None}
    arrays = {"input_indices": indices, "input_steps": steps, "weights": weights.ravel(),
              **layer_arrays(layer, 1, {})}
    return config, arrays


def train_stdp(spec: NetworkSpec, data, rule: STDPRule, *, epochs: int = 1, gap=50 * ms, between: str = "decay",
               shuffle: bool = True, backend: str = "runtime", target: str = "cython", seed: int = 0,
               progress=None, directory=None, record_spikes: bool = False, capacity: int | None = None,
               genn_options=None):
    """Learn the input -> first-layer weights of ``spec`` with STDP, without labels.

    Each epoch is one Brian2 run in which all training samples are presented back to back: sample ``k`` of the
    epoch's order occupies ``[k * (duration + gap), k * (duration + gap) + duration)``, ``duration = n_bins * dt``.
    The network during training is a single copy of the input and the first layer (its model and per-neuron
    intrinsic parameters from ``spec``); later layers do not influence it and keep their weights.

    Parameters
    ----------
    spec : NetworkSpec
        The network; ``spec.weights[0]`` (input -> first layer) is the plastic projection and its starting point.
        Initial weights outside ``[w_min, w_max]`` are clipped onto the bounds (counted in
        ``history.n_clipped``).
    data : SpikeDataset or bool ndarray [n_samples, n_inputs, n_bins]
        Training samples.  Labels are not used; a dataset's ``dt`` must equal ``spec.dt``.
    rule : STDPRule
        The plasticity rule; ``w_max``/``w_min`` in the first layer's weight unit.
    epochs : int
        Number of passes over the data (one Brian2 run each).
    gap : Quantity
        Silent time between consecutive samples (a multiple of ``spec.dt``, default 50 ms).
    between : {"decay", "reset"}
        ``"decay"``: nothing happens at sample boundaries; membrane, synaptic currents and STDP traces decay
        during the gap (a gap of several ``tau_m``, ``tau_syn``, ``tau_plus``/``tau_minus`` makes samples nearly
        independent).  ``"reset"``: at the start of every sample a ``run_regularly`` operation of the layer
        (period ``duration + gap``, slot ``"start"``) sets every state variable to its initial value (``v`` to
        ``E_L``, currents and adaptation to 0) and clears refractoriness, and one of the synapses sets the STDP
        traces to 0, so that no pair spans two samples.  brian2genn may not support these ``run_regularly``
        operations (the one on the synapses in particular); ``"decay"`` needs none.
    shuffle : bool
        Present the samples in a new random order every epoch (drawn from ``seed``); otherwise in data order.
    backend : {"runtime", "standalone", "genn"}
        ``"runtime"`` builds a network per epoch with a ``SpikeGeneratorGroup`` input (``target``: ``"cython"``
        or ``"numpy"``).  ``"standalone"`` compiles a C++ program once (input as a spike table read through a
        ``TimedArray``) and reruns it for every epoch — and for later calls with the same shapes — passing
        weights, parameters, rule variables and inputs through ``run_args``, without recompiling.
        ``"genn"`` runs every epoch with brian2genn (:func:`brainlz.backends.genn.stdp_epoch`): the first epoch
        of a design builds its GeNN project, later epochs (and later calls) of the same design rerun it with new
        inputs, weights and parameters (needs ``brainlz env genn`` and a GeNN 4.x installation; deterministic
        single-target models only).
    target : {"cython", "numpy"}
        Code-generation target of the runtime backend.
    seed : int
        Seed of the sample order and of Brian2's random numbers (stochastic models; runtime epoch ``e`` uses
        ``seed + e``, standalone compiles ``seed`` in, so every epoch uses the same noise).
    progress : callable, optional
        Called as ``progress(epochs_done, epochs)`` after each epoch.
    directory : path, optional
        Where to keep compiled standalone projects (default that of :mod:`brainlz.backends.standalone`).
    record_spikes : bool
        Keep the trained layer's spikes of every epoch in the history.
    capacity : int, optional
        Standalone only: spikes per input channel and epoch that the compiled input table holds (part of what is
        compiled).  Default: the largest count in the data, rounded up to a multiple of 16.  Pass a fixed value
        to reuse one compiled program for calls with different data; data that need more raise
        ``ParameterError``.
    genn_options : dict, optional
        ``backend="genn"`` only: keyword arguments of :func:`brainlz.backends.genn.stdp_epoch` (``env``,
        ``directory``, ``use_gpu``, ``genn_path``, ``timeout``).

    Returns
    -------
    spec : NetworkSpec
        A copy of ``spec`` with the trained ``weights[0]`` (in ``[w_min, w_max]``); everything else unchanged.
    history : STDPHistory
        Weight statistics, output rates, sample order, wall time and builds per epoch.

    Raises
    ------
    ParameterError
        For a bad argument, naming it (``epochs``, ``gap``, ``between``, ``backend``, ``stdp.w_max``, ...).
    DataError
        For data that does not fit the network (``spiketrains`` channels, ``labels``, ``dataset.dt``).
    SimulationError
        After an epoch whose layer states or weights became NaN, infinite or absurd (:func:`check_epoch`).
    """
    from ..backends import standalone as sa

    if not isinstance(spec, NetworkSpec):
        raise ParameterError("spec", spec, "expected a NetworkSpec")
    if not isinstance(rule, STDPRule):
        raise ParameterError("rule", rule, "expected an STDPRule, e.g. STDPRule(w_max=1*nA)")
    checks.integer("epochs", epochs, low=1, reason="expected a positive integer")
    checks.one_of("between", between, ("decay", "reset"), reason="expected 'decay' or 'reset'")
    checks.one_of("backend", backend, ("runtime", "standalone", "genn"),
                  reason="expected 'runtime', 'standalone' or 'genn'")
    genn_options = dict(genn_options or {})
    unknown = set(genn_options) - {"env", "directory", "use_gpu", "genn_path", "timeout"}
    if unknown:
        raise ParameterError("genn_options", sorted(unknown), "accepted: env, directory, use_gpu, genn_path, timeout "
                             "(code generation alone: brainlz.backends.genn.stdp_epoch(codegen_only=True))")
    if backend == "runtime":
        checks.one_of("target", target, ("cython", "numpy"), reason="expected 'cython' or 'numpy'")
    checks.seed("seed", seed)
    layer = spec.layers[0]
    model = layer.neuron_model
    rule.check_model(model)
    spiketrains = _training_data(data, spec)
    gap_bins = _gap_bins(gap, spec.dt)
    n_samples, _, n_bins = spiketrains.shape
    needed = int(spiketrains.sum(axis=(0, 2)).max())
    if capacity is None:
        capacity = int(np.ceil(max(needed, 1) / 16) * 16)
    else:
        checks.integer("capacity", capacity, low=1, reason="expected a positive integer")
        if needed > capacity:
            raise ParameterError("capacity", capacity, f"an input channel has {needed} spikes in an epoch")
    dt = spec.dt
    directory = Path(directory) if directory is not None else sa.default_directory()

    w_min, w_max = float(rule.w_min), float(rule.w_max)
    weights = np.asarray(spec.weights[0], dtype=float)
    n_clipped = int(np.sum((weights < w_min) | (weights > w_max)))
    weights = np.clip(weights, w_min, w_max)
    history = STDPHistory(initial=weight_statistics(weights, rule), n_clipped=n_clipped,
                          backend=backend if backend in ("standalone", "genn") else f"runtime-{target}",
                          layer=layer.name, sample_period=(n_bins + gap_bins) * float(dt))
    rng = np.random.default_rng(int(seed))
    epoch_seconds = n_samples * (n_bins + gap_bins) * float(dt)
    for epoch in range(int(epochs)):
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        start = time.perf_counter()
        if backend == "runtime":
            weights, spikes, builds, states = _run_runtime(layer, spiketrains, order, weights, rule, dt, gap_bins,
                                                           between, target, int(seed) + epoch)
        elif backend == "genn":
            from ..backends import genn

            epoch_spec = spec.with_weights([weights * model.weight_unit, *spec.weights[1:]])
            done = genn.stdp_epoch(*genn_design(epoch_spec, spiketrains, rule, order=order, gap_bins=gap_bins,
                                                between=between), **genn_options)
            weights, spikes, builds = done["weights"], (done["spike_indices"], done["spike_times"]), done["builds"]
            states = done["states"]
        else:
            weights, spikes, builds, states = _run_standalone(layer, spiketrains, order, weights, rule, dt,
                                                              gap_bins, between, int(seed), directory, capacity)
        check_epoch(layer, spec.n_inputs, rule, dt, epoch + 1, states, weights)
        counts = np.bincount(spikes[0], minlength=layer.n_neurons)
        record = {"epoch": epoch + 1, **weight_statistics(weights, rule),
                  "output_rate": float(counts.mean() / epoch_seconds), "output_counts": counts,
                  "order": order, "wall_time": time.perf_counter() - start, "n_builds": builds}
        if record_spikes:
            record["spike_indices"], record["spike_times"] = spikes
        history.epochs.append(record)
        if progress is not None:
            progress(epoch + 1, int(epochs))
    trained = spec.with_weights([weights * model.weight_unit, *spec.weights[1:]])
    return trained, history
