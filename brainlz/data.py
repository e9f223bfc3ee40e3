"""Spike-train data: seeded generators, task families and the :class:`SpikeDataset` container.

Binned spike trains
-------------------
Every generator returns a boolean raster ``bool[n_samples, n_channels, n_bins]``: bin ``i`` covers the time
``[i*dt, (i+1)*dt)`` and holds at most one spike.  Poisson-type generators are Bernoulli processes: bin ``i`` of
a channel whose instantaneous rate is ``r`` holds a spike with probability ``p = r*dt``, independently of every
other bin.  This is the binned Poisson process to first order in ``r*dt``, and it keeps the mean spike rate of the
raster exactly equal to ``r`` (the alternative ``1 - exp(-r*dt)`` would count several spikes in one bin as one and
lose a fraction of about ``r*dt/2`` of them).  Consequently every rate must satisfy ``r*dt < 1``; a larger rate
raises :class:`~brainlz.errors.ParameterError`.  Spike counts of a Bernoulli process have a Fano factor of
``1 - r*dt`` instead of 1 (0.98 at 20 Hz and 1 ms).

Conventions
-----------
* Units at the public edge: rates and frequencies are Brian2 quantities in Hz (``20*Hz``), times in seconds
  (``1*ms``).  A plain number where a unit is required raises ``ParameterError`` naming the field.
* Randomness: every generator takes ``seed``, an ``int >= 0`` or a :class:`numpy.random.Generator`, and draws
  all its random numbers from ``numpy.random.default_rng(seed)``.  The same seed gives the same output.
* Defaults: ``dt = 1*ms``, ``n_bins = 1024``.

Task families
-------------
:func:`make_task` builds a balanced, shuffled :class:`SpikeDataset` for one of :data:`TASKS`; the
``difficulty`` (0 = easy, 1 = classes identical) maps onto each task's class parameters as documented there.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from brian2 import Quantity, have_same_dimensions
from brian2.units import Hz, ms, second

from . import checks
from .errors import DataError, ParameterError
from .files import atomic_write

__all__ = [
    "TASKS",
    "DEFAULT_CHANNELS",
    "SpikeDataset",
    "Split",
    "stratified_split",
    "make_task",
    "independent_test_set",
    "poisson_spikes",
    "markov_modulated_spikes",
    "burst_parameters",
    "gamma_renewal_spikes",
    "modulated_poisson_spikes",
]

#: Names of the task families known to :func:`make_task`.
TASKS = ("rate", "burst", "regular", "modulated", "digits")

# Upper bound on the number of float64 values one vectorised step holds in memory (32 MiB).
_CHUNK_ELEMENTS = 1 << 22

_FORMAT_VERSION = 1
_NPZ_KEYS = ("format_version", "spiketrains", "labels", "dt_seconds", "params_json")


# ---------------------------------------------------------------------------------------------------------------
# Parameter checking
# ---------------------------------------------------------------------------------------------------------------


def _rng(seed) -> np.random.Generator:
    """The random generator for ``seed`` (an ``int >= 0`` or a ``numpy.random.Generator``, used as is)."""
    return np.random.default_rng(checks.seed("seed", seed, generator=True))


def _seed_for_params(seed):
    """The seed as it is recorded in ``params``: the int, or None when a Generator was passed."""
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def _frequency_hz(name: str, value) -> float:
    """A scalar frequency ``>= 0`` in Hz."""
    hz = checks.quantity(name, value, "Hz")
    if hz.ndim != 0 or hz < 0:
        raise ParameterError(name, value, "expected one frequency >= 0 Hz, e.g. 10*Hz")
    return float(hz)


def _rates_hz(name: str, value, n_samples: int, n_channels: int) -> np.ndarray:
    """Rates ``>= 0`` in Hz, broadcast to ``[n_samples, n_channels]``.

    Accepted shapes: a scalar, ``(n_channels,)`` (one rate per channel) or ``(n_samples, n_channels)``.
    """
    hz = checks.quantity(name, value, "Hz")
    if hz.shape not in ((), (n_channels,), (n_samples, n_channels)):
        raise ParameterError(
            name,
            value,
            f"expected a scalar, shape ({n_channels},) per channel or ({n_samples}, {n_channels}) per sample "
            f"and channel; got shape {hz.shape}",
        )
    if np.any(hz < 0):
        raise ParameterError(name, value, "rates must be >= 0 Hz")
    return np.broadcast_to(hz, (n_samples, n_channels))


def _check_below_one(name: str, value, probability: np.ndarray, what: str = "rate*dt") -> None:
    """Raise unless every per-bin probability is < 1 (a bin holds at most one spike)."""
    largest = float(np.max(probability)) if np.size(probability) else 0.0
    if largest >= 1:
        raise ParameterError(
            name,
            value,
            f"{what} reaches {largest:.3g}; it must be < 1 because a bin holds at most one spike "
            f"(lower the rate or dt)",
        )


# ---------------------------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------------------------


def _bernoulli_raster(
    rng: np.random.Generator,
    probability: Callable[[slice], np.ndarray],
    n_samples: int,
    n_channels: int,
    n_bins: int,
) -> np.ndarray:
    """A raster whose bin ``[s, c, i]`` is True with probability ``probability(samples)[s, c, i]``.

    ``probability(samples)`` returns an array broadcastable to ``[len(samples), n_channels, n_bins]``.  The work
    is done in chunks of samples, so memory stays bounded; uniforms are drawn in C order either way.
    """
    raster = np.empty((n_samples, n_channels, n_bins), dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_channels * n_bins))
    for start in range(0, n_samples, step):
        samples = slice(start, min(n_samples, start + step))
        uniforms = rng.random((samples.stop - samples.start, n_channels, n_bins))
        np.less(uniforms, probability(samples), out=raster[samples])
    return raster


def _shape_arguments(n_samples, n_channels, n_bins, dt) -> tuple[int, int, int, float]:
    from .resources import GENERATOR_BYTES, check_memory, raster_bytes

    shape = (
        checks.integer("n_samples", n_samples, low=0),
        checks.integer("n_channels", n_channels, low=1),
        checks.integer("n_bins", n_bins, low=1),
        checks.seconds("dt", dt),
    )
    check_memory(raster_bytes(*shape[:3]) + GENERATOR_BYTES, "the raster",
                 dict(zip(("n_samples", "n_channels", "n_bins"), shape[:3])),
                 {"n_samples": 200, "n_channels": 16, "n_bins": 1024})
    return shape


def poisson_spikes(n_samples, n_channels, rate, n_bins=1024, dt=1 * ms, seed=0) -> np.ndarray:
    """Homogeneous Poisson spike trains, binned (Bernoulli with ``p = rate*dt`` per bin).

    Parameters
    ----------
    n_samples : int
        Number of samples (independent trials), ``>= 0``.
    n_channels : int
        Number of channels (input neurons) per sample, ``>= 1``.
    rate : Quantity, Hz
        Firing rate: a scalar, one per channel (shape ``(n_channels,)``) or one per sample and channel (shape
        ``(n_samples, n_channels)``).  Must satisfy ``0 <= rate*dt < 1``.
    n_bins : int
        Number of time bins (default 1024).
    dt : Quantity, s
        Bin width (default 1 ms).
    seed : int or numpy.random.Generator
        Seed of ``numpy.random.default_rng`` (default 0).

    Returns
    -------
    numpy.ndarray
        ``bool[n_samples, n_channels, n_bins]``; the expected spike count of a channel is ``rate * n_bins * dt``.
    """
    n_samples, n_channels, n_bins, dt_s = _shape_arguments(n_samples, n_channels, n_bins, dt)
    rates = _rates_hz("rate", rate, n_samples, n_channels)
    probability = rates * dt_s
    _check_below_one("rate", rate, probability)
    rng = _rng(seed)
    return _bernoulli_raster(rng, lambda s: probability[s, :, None], n_samples, n_channels, n_bins)


def markov_modulated_spikes(
    n_samples,
    n_channels,
    rate_low,
    rate_high,
    switch_rate_up,
    switch_rate_down,
    n_bins=1024,
    dt=1 * ms,
    seed=0,
) -> np.ndarray:
    """Bursty spike trains: Poisson with a rate switched by a two-state Markov chain (an MMPP).

    Each channel has its own hidden state (independent across channels and samples), *low* or *high*.  In every
    bin the state first moves (low -> high with probability ``switch_rate_up*dt``, high -> low with probability
    ``switch_rate_down*dt``), then the bin spikes with probability ``rate_low*dt`` or ``rate_high*dt``.  The chain
    starts in its stationary distribution, so the process is stationary from bin 0:

    * fraction of time in the high state ``pi = switch_rate_up / (switch_rate_up + switch_rate_down)``,
    * mean rate ``(1 - pi) * rate_low + pi * rate_high``,
    * mean burst (high-state) duration about ``1 / switch_rate_down``.

    Spike counts over windows longer than the burst duration have a Fano factor above 1.  Use
    :func:`burst_parameters` to choose the four rates for a given mean rate and burstiness.

    Parameters
    ----------
    n_samples, n_channels : int
        Shape of the output, as in :func:`poisson_spikes`.
    rate_low, rate_high : Quantity, Hz
        Spike rates in the two states: scalar, per channel ``(n_channels,)`` or ``(n_samples, n_channels)``;
        ``rate*dt < 1``.
    switch_rate_up, switch_rate_down : Quantity, Hz
        Transition rates low -> high and high -> low (scalars, ``switch_rate*dt < 1``, not both zero).
    n_bins : int
        Number of bins (default 1024).
    dt : Quantity, s
        Bin width (default 1 ms).
    seed : int or numpy.random.Generator
        Seed (default 0).

    Returns
    -------
    numpy.ndarray
        ``bool[n_samples, n_channels, n_bins]``.
    """
    n_samples, n_channels, n_bins, dt_s = _shape_arguments(n_samples, n_channels, n_bins, dt)
    p_low = _rates_hz("rate_low", rate_low, n_samples, n_channels) * dt_s
    p_high = _rates_hz("rate_high", rate_high, n_samples, n_channels) * dt_s
    _check_below_one("rate_low", rate_low, p_low)
    _check_below_one("rate_high", rate_high, p_high)
    up = _frequency_hz("switch_rate_up", switch_rate_up) * dt_s
    down = _frequency_hz("switch_rate_down", switch_rate_down) * dt_s
    _check_below_one("switch_rate_up", switch_rate_up, np.asarray(up), "switch_rate_up*dt")
    _check_below_one("switch_rate_down", switch_rate_down, np.asarray(down), "switch_rate_down*dt")
    if up + down == 0:
        raise ParameterError("switch_rate_up", switch_rate_up, "switch_rate_up and switch_rate_down are both 0")
    rng = _rng(seed)

    n_rows = n_samples * n_channels
    high = np.empty((n_rows, n_bins), dtype=bool)
    state = rng.random(n_rows) < up / (up + down)
    high[:, 0] = state
    for i in range(1, n_bins):
        uniforms = rng.random(n_rows)
        state = np.where(state, uniforms >= down, uniforms < up)
        high[:, i] = state
    high = high.reshape(n_samples, n_channels, n_bins)
    return _bernoulli_raster(
        rng,
        lambda s: np.where(high[s], p_high[s, :, None], p_low[s, :, None]),
        n_samples,
        n_channels,
        n_bins,
    )


def burst_parameters(mean_rate, burstiness, high_fraction=0.2, burst_duration=50 * ms) -> dict:
    """Arguments of :func:`markov_modulated_spikes` for a given mean rate and burstiness.

    With ``pi = high_fraction`` and ``b = burstiness``::

        rate_low  = mean_rate * (1 - b)
        rate_high = mean_rate * (1 + b * (1 - pi) / pi)
        switch_rate_down = 1 / burst_duration
        switch_rate_up   = switch_rate_down * pi / (1 - pi)

    so the mean rate is ``mean_rate`` for every ``b``; ``b = 0`` is a Poisson process and ``b = 1`` puts every
    spike into the bursts (``rate_low = 0``).  For long windows the Fano factor of the spike count tends to
    ``1 + 2 * (rate_high - rate_low)**2 * pi * (1 - pi) / (mean_rate * (switch_rate_up + switch_rate_down))``.

    Parameters
    ----------
    mean_rate : Quantity, Hz
        Mean rate (scalar or per channel).
    burstiness : float
        In ``[0, 1]``: the fraction of the mean rate moved from the low state into the bursts.
    high_fraction : float
        Fraction of time spent in bursts, in ``(0, 1)`` (default 0.2).
    burst_duration : Quantity, s
        Mean duration of a burst (default 50 ms).

    Returns
    -------
    dict
        ``{"rate_low", "rate_high", "switch_rate_up", "switch_rate_down"}`` as quantities in Hz, to be passed as
        ``markov_modulated_spikes(n_samples, n_channels, **burst_parameters(...))``.
    """
    mean_hz = checks.quantity("mean_rate", mean_rate, "Hz")
    if np.any(mean_hz < 0):
        raise ParameterError("mean_rate", mean_rate, "rates must be >= 0 Hz")
    b = checks.real("burstiness", burstiness, 0.0, 1.0)
    pi = checks.real("high_fraction", high_fraction, 0.0, 1.0, low_open=True, high_open=True)
    down = 1.0 / checks.seconds("burst_duration", burst_duration)
    return {
        "rate_low": mean_hz * (1 - b) * Hz,
        "rate_high": mean_hz * (1 + b * (1 - pi) / pi) * Hz,
        "switch_rate_up": down * pi / (1 - pi) * Hz,
        "switch_rate_down": down * Hz,
    }


def _ceil_gamma_scale(order: float, mean_bins: float) -> float:
    """Scale ``theta`` (in bins) with ``E[ceil(theta * X)] = mean_bins`` for ``X ~ Gamma(order, 1)``.

    ``E[ceil(Y)] = sum_{j >= 0} P(Y > j)`` is summed exactly while that takes at most 200 000 terms; beyond it
    (mean ISIs of thousands of bins) the Euler-Maclaurin value ``E[Y] + 1/2`` is used, whose error is far below
    one part in a million there.
    """
    from scipy.optimize import brentq
    from scipy.special import gammaincc, gammainccinv

    tail = float(gammainccinv(order, 1e-17))  # P(X > tail) = 1e-17

    def expected(theta: float) -> float:
        j = np.arange(int(math.ceil(theta * tail)) + 2)
        return float(gammaincc(order, j / theta).sum())

    approximate = (mean_bins - 0.5) / order
    if approximate * tail > 200_000:
        return approximate
    high = mean_bins / order  # E[ceil(Y)] >= E[Y] = mean_bins here
    low = max((mean_bins - 1) / order, 1e-12 * high)  # E[ceil(Y)] < E[Y] + 1 = mean_bins here
    return float(brentq(lambda theta: expected(theta) - mean_bins, low, high, xtol=1e-13 * high, rtol=1e-13))


def gamma_renewal_spikes(n_samples, n_channels, rate, order, n_bins=1024, dt=1 * ms, seed=0) -> np.ndarray:
    """Gamma-order-``k`` renewal spike trains, discretised to bins and stationary from bin 0.

    Inter-spike intervals are ``ceil(Y)`` bins with ``Y ~ Gamma(k, theta)`` (shape ``k = order``), where the scale
    ``theta`` (close to ``(1/(rate*dt) - 1/2) / k`` bins) is solved for numerically so that the mean interval
    is exactly ``1/(rate*dt)`` bins: the mean rate is exactly ``rate`` and no two spikes fall into one bin.
    ``order = 1`` gives geometric intervals, i.e. exactly the Bernoulli process of :func:`poisson_spikes`;
    ``order > 1`` is more regular than Poisson, ``order < 1`` less.

    With ``p = rate*dt`` the squared interval CV is about ``(1 - p/2)**2 / k + p**2 / 12``, i.e. ``1/k`` shrunk
    by the same factor of about ``1 - p`` that turns the Poisson Fano factor 1 into ``1 - p`` for the Bernoulli
    process (``1 - p`` exactly for ``k = 1``).  The Fano factor of counts in long windows tends to ``CV**2``; a
    window holding ``n`` spikes on average has about ``CV**2 + (1 - 1/k**2) / (6 n)`` (renewal theory).

    Stationarity: the first spike is placed at bin ``j`` with the equilibrium (forward-recurrence) probability
    ``P(ISI > j) * rate*dt``, so the spike probability is ``rate*dt`` in every bin, including the first ones.

    Parameters
    ----------
    n_samples, n_channels : int
        Shape of the output, as in :func:`poisson_spikes`.
    rate : Quantity, Hz
        Mean rate: scalar, per channel ``(n_channels,)`` or ``(n_samples, n_channels)``; ``rate*dt < 1``.
    order : float
        Gamma shape ``k > 0`` (CV of the intervals ``1/sqrt(k)``).
    n_bins : int
        Number of bins (default 1024).
    dt : Quantity, s
        Bin width (default 1 ms).
    seed : int or numpy.random.Generator
        Seed (default 0).

    Returns
    -------
    numpy.ndarray
        ``bool[n_samples, n_channels, n_bins]``.
    """
    n_samples, n_channels, n_bins, dt_s = _shape_arguments(n_samples, n_channels, n_bins, dt)
    probability = _rates_hz("rate", rate, n_samples, n_channels) * dt_s
    _check_below_one("rate", rate, probability)
    k = checks.real("order", order, 0.0, 1e6, low_open=True)
    rng = _rng(seed)
    from scipy.special import gammaincc

    raster = np.zeros((n_samples * n_channels, n_bins), dtype=bool)
    flat = probability.reshape(-1)
    values, group_of_row = np.unique(flat, return_inverse=True)
    for group, p in enumerate(values):
        if p == 0:
            continue
        rows = np.flatnonzero(group_of_row == group)
        mean_bins = 1.0 / p
        theta = _ceil_gamma_scale(k, mean_bins)
        # Equilibrium distribution of the first spike: P(J = j) = P(ISI > j) / E[ISI], j = 0 .. n_bins-1; J = n_bins
        # stands for "no spike in the window".
        cdf = np.cumsum(gammaincc(k, np.arange(n_bins) / theta) * p)
        position = np.searchsorted(cdf, rng.random(rows.size), side="right")
        inside = position < n_bins
        raster[rows[inside], position[inside]] = True
        alive = np.flatnonzero(inside)
        while alive.size:
            remaining = n_bins - int(position[alive].min())
            n_draws = int(math.ceil(1.2 * remaining * p + 5 * math.sqrt(remaining * p) + 4))
            next_alive = []
            step = max(1, _CHUNK_ELEMENTS // n_draws)
            for start in range(0, alive.size, step):
                chunk = alive[start : start + step]
                gaps = np.ceil(np.minimum(theta * rng.gamma(k, size=(chunk.size, n_draws)), n_bins + 1.0))
                times = position[chunk, None] + np.maximum(gaps, 1).astype(np.int64).cumsum(axis=1)
                hit_row, hit_draw = np.nonzero(times < n_bins)
                raster[rows[chunk[hit_row]], times[hit_row, hit_draw]] = True
                position[chunk] = times[:, -1]
                next_alive.append(chunk[times[:, -1] < n_bins])
            alive = np.concatenate(next_alive)
    return raster.reshape(n_samples, n_channels, n_bins)


def modulated_poisson_spikes(
    n_samples,
    n_channels,
    mean_rate,
    modulation_depth,
    frequency,
    n_bins=1024,
    dt=1 * ms,
    phase=None,
    seed=0,
) -> np.ndarray:
    """Sinusoidally modulated (inhomogeneous) Poisson spike trains.

    Bin ``i`` of channel ``c`` in sample ``s`` spikes with probability ``r(t_i) * dt``, ``t_i = i * dt`` and::

        r(t) = mean_rate[c] * (1 + modulation_depth * sin(2*pi*frequency*t + phase[s]))

    The phase is drawn uniformly from ``[0, 2*pi)`` once per sample (shared by its channels) unless ``phase`` is
    given.  Averaged over the random phase the rate is ``mean_rate`` in every bin; a single sample's mean over a
    window that does not hold a whole number of periods deviates from it by at most
    ``mean_rate * modulation_depth / (pi * frequency * n_bins * dt)``.

    Parameters
    ----------
    n_samples, n_channels : int
        Shape of the output, as in :func:`poisson_spikes`.
    mean_rate : Quantity, Hz
        Mean rate: scalar, per channel or ``(n_samples, n_channels)``; ``mean_rate*(1+modulation_depth)*dt < 1``.
    modulation_depth : float
        Relative modulation amplitude in ``[0, 1]``.
    frequency : Quantity, Hz
        Modulation frequency (scalar, ``>= 0``).
    n_bins : int
        Number of bins (default 1024).
    dt : Quantity, s
        Bin width (default 1 ms).
    phase : float or None
        Phase in radians for every sample; None (default) draws one per sample.
    seed : int or numpy.random.Generator
        Seed (default 0).

    Returns
    -------
    numpy.ndarray
        ``bool[n_samples, n_channels, n_bins]``.
    """
    n_samples, n_channels, n_bins, dt_s = _shape_arguments(n_samples, n_channels, n_bins, dt)
    mean_p = _rates_hz("mean_rate", mean_rate, n_samples, n_channels) * dt_s
    depth = checks.real("modulation_depth", modulation_depth, 0.0, 1.0)
    _check_below_one("mean_rate", mean_rate, mean_p * (1 + depth), "mean_rate*(1+modulation_depth)*dt")
    omega = 2 * np.pi * _frequency_hz("frequency", frequency) * dt_s  # radians per bin
    rng = _rng(seed)
    if phase is None:
        phases = rng.uniform(0.0, 2 * np.pi, n_samples)
    else:
        phases = np.full(n_samples, checks.real("phase", phase, -1e6, 1e6))
    bins = np.arange(n_bins)

    def probability(s: slice) -> np.ndarray:
        modulation = 1 + depth * np.sin(omega * bins[None, :] + phases[s, None])
        return mean_p[s, :, None] * modulation[:, None, :]

    return _bernoulli_raster(rng, probability, n_samples, n_channels, n_bins)


# ---------------------------------------------------------------------------------------------------------------
# SpikeDataset
# ---------------------------------------------------------------------------------------------------------------


def stratified_split(labels, test_size: float, seed: int) -> tuple:
    """The stratified split of samples with ``labels`` into two disjoint parts, as sorted index arrays.

    ``ceil(test_size * n_samples)`` samples go to the second part, each class in proportion
    (``sklearn.model_selection.StratifiedShuffleSplit(random_state=seed)``).  Every split brainlz makes is this
    one: the protocol's test split (:meth:`SpikeDataset.split`, the split :func:`brainlz.readout.evaluate` tests
    on), the validation splits of tuning and of the outer loop, and the surrogate rule's validation split.

    Parameters
    ----------
    labels : array of int, shape (n_samples,)
    test_size : float
        Fraction in (0, 1) in the second part.
    seed : int
        Seed of the split.

    Returns
    -------
    train_indices, test_indices : int ndarray
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    y = np.asarray(labels)
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train_indices, test_indices = next(splitter.split(np.zeros((y.shape[0], 1)), y))
    return np.sort(train_indices), np.sort(test_indices)


@dataclass(eq=False)
class SpikeDataset:
    """Labelled spike trains.

    Attributes
    ----------
    spiketrains : numpy.ndarray
        ``bool[n_samples, n_channels, n_bins]``; bin ``i`` covers ``[i*dt, (i+1)*dt)``.
    labels : numpy.ndarray
        ``int64[n_samples]``, class labels ``>= 0`` (any integer array is accepted and converted).
    dt : Quantity, s
        Bin width (default 1 ms).
    params : dict
        JSON-serialisable parameters that generated the data (task name, seed, difficulty, class parameters, ...).

    Raises
    ------
    DataError
        On construction, naming the field that is malformed.
    """

    spiketrains: np.ndarray
    labels: np.ndarray
    dt: Quantity = field(default_factory=lambda: 1 * ms)
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        x = self.spiketrains
        if not isinstance(x, np.ndarray):
            raise DataError(f"spiketrains: expected a numpy array of dtype bool, got {type(x).__name__}")
        if x.dtype != np.bool_:
            raise DataError(f"spiketrains: expected dtype bool, got {x.dtype}")
        if x.ndim != 3:
            raise DataError(f"spiketrains: expected 3 dimensions [n_samples, n_channels, n_bins], got shape {x.shape}")
        labels = np.asarray(self.labels)
        if labels.dtype.kind not in "iu":
            raise DataError(f"labels: expected integers, got dtype {labels.dtype}")
        if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
            raise DataError(f"labels: expected shape ({x.shape[0]},) to match spiketrains, got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int64).max):
            raise DataError(f"labels: expected non-negative int64 values, got {labels.min()} .. {labels.max()}")
        self.labels = labels.astype(np.int64, copy=False)
        dt = self.dt
        if not (
            isinstance(dt, Quantity)
            and have_same_dimensions(dt, second)
            and np.ndim(dt) == 0
            and math.isfinite(float(dt))
            and float(dt) > 0
        ):
            raise DataError(f"dt: expected one positive time quantity such as 1*ms, got {dt!r}")
        _params_json(self.params)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return self.spiketrains.shape[0]

    @property
    def n_channels(self) -> int:
        """Number of channels per sample."""
        return self.spiketrains.shape[1]

    @property
    def n_bins(self) -> int:
        """Number of time bins per sample."""
        return self.spiketrains.shape[2]

    @property
    def n_classes(self) -> int:
        """Number of distinct labels present."""
        return int(np.unique(self.labels).size)

    @property
    def duration(self) -> Quantity:
        """Duration of one sample, ``n_bins * dt``."""
        return self.n_bins * self.dt

    def __len__(self) -> int:
        return self.n_samples

    def __str__(self) -> str:
        """A one-line description with the content hash (used where a dataset is recorded or labelled)."""
        return (f"SpikeDataset({self.n_samples}x{self.n_channels}x{self.n_bins}, dt={float(self.dt / second):g}s, "
                f"sha256={self.content_hash()[:12]})")

    def content_hash(self) -> str:
        """SHA-256 (hex) of the content: shape, spikes, labels, dt and params.

        Two datasets with equal content have the same hash however they were made or saved (the ``.npz`` bytes
        of :meth:`save` vary with zip time stamps, this hash does not).  Protocols record it, so that a sweep
        notices when the data behind a finished cell changed.
        """
        digest = hashlib.sha256(b"brainlz.SpikeDataset/1")
        digest.update(np.asarray(self.spiketrains.shape, dtype="<i8").tobytes())
        digest.update(np.packbits(self.spiketrains, axis=-1).tobytes())
        digest.update(np.asarray(self.labels, dtype="<i8").tobytes())
        digest.update(np.float64(float(self.dt / second)).astype("<f8").tobytes())
        digest.update(json.dumps(self.params, sort_keys=True, allow_nan=False).encode())
        return digest.hexdigest()

    @classmethod
    def from_arrays(cls, X, y, dt, params=None) -> SpikeDataset:
        """A dataset from plain arrays: a 0/1 raster, integer labels and a bin width.

        Parameters
        ----------
        X : array_like
            ``[n_samples, n_channels, n_bins]`` of bool, or of integers that are all 0 or 1 (converted to bool).
            Floating-point arrays are refused: a float raster is more often rates or counts than spikes.
        y : array_like
            ``[n_samples]`` integer class labels ``>= 0``.
        dt : Quantity, s
            Bin width, a Brian2 time such as ``1*ms``.
        params : dict, optional
            JSON-serialisable description of the data (default ``{}``).

        Returns
        -------
        SpikeDataset

        Raises
        ------
        DataError
            Naming ``X``, ``labels``, ``dt`` or ``params`` (the constructor's checks after the conversion).
        """
        x = np.asarray(X)
        if x.dtype.kind in "iu":
            if x.size and (x.min() < 0 or x.max() > 1):
                raise DataError(f"X: expected 0/1 values, got {x.min()} .. {x.max()}")
            x = x.astype(bool)
        elif x.dtype != np.bool_:
            raise DataError(f"X: expected a bool or 0/1 integer raster, got dtype {x.dtype}")
        return cls(x, np.asarray(y), dt, {} if params is None else params)

    @classmethod
    def from_neo(cls, segments_or_block, *, label: str, dt, t_start=None, t_stop=None,
                 multiple_spikes: str = "merge") -> SpikeDataset:
        """A dataset from Neo segments (one per sample), binned at ``dt``
        (:func:`brainlz.interop.neo_to_labelled_raster`).

        Parameters
        ----------
        segments_or_block : neo.Block or list of neo.Segment
            A block stands for its segments.  Each segment holds one ``SpikeTrain`` per channel (same number in
            every segment, in channel order).
        label : str
            Annotation key holding each segment's class: integers ``>= 0`` are used as they are; strings are
            numbered in sorted order (``params["label_names"][i]`` is the string of label ``i``).
        dt : Quantity, s
            Bin width, a Brian2 time such as ``1*ms``; also the network's time step when the data is run.
        t_start, t_stop : Quantity, optional
            The window binned in every segment (Brian2 or ``quantities`` times).  Default: each segment's trains'
            own ``t_start`` / ``t_stop`` (equal for all trains of a segment).  The window must be a whole number of
            bins, the same number in every segment.
        multiple_spikes : {"merge", "error"}
            Two or more spikes of one train in one bin: ``"merge"`` (default) keeps one and counts the others in
            ``params["merged_spikes"]``, warning once; ``"error"`` raises.

        Returns
        -------
        SpikeDataset
            ``params``: ``source="neo"``, ``label_key``, ``dt_s``, ``t_start_s`` (per segment), ``n_bins``,
            ``multiple_spikes``, ``merged_spikes``, ``dropped_spikes`` (outside the window) and, for text labels,
            ``label_names``.

        Raises
        ------
        DataError
            Naming the segment (and annotation or train) that is malformed, e.g. a missing label annotation.
        ParameterError
            For a bad ``label``, ``dt``, ``t_start``, ``t_stop`` or ``multiple_spikes``.
        ImportError
            Without neo (the ``neo`` extra: ``pip install '.[neo]'`` in the checkout).
        """
        from brian2 import second

        from .interop import neo_to_labelled_raster

        raster, labels, params = neo_to_labelled_raster(segments_or_block, label=label, dt=dt, t_start=t_start,
                                                        t_stop=t_stop, multiple_spikes=multiple_spikes)
        return cls(raster, labels, params["dt_s"] * second, params)

    def subset(self, indices) -> "SpikeDataset":
        """The samples selected by ``indices`` (integer indices, a boolean mask or a slice), as a new dataset.

        ``params`` is copied, with ``params["subset"]`` holding the selected indices into the original generated
        dataset (subsets of subsets compose).
        """
        try:
            chosen = np.arange(self.n_samples)[indices]
        except (IndexError, TypeError, ValueError) as exc:
            reason = f"not a valid index into {self.n_samples} samples ({exc})"
            raise ParameterError("indices", indices, reason) from exc
        chosen = np.atleast_1d(chosen)
        if chosen.ndim != 1:
            raise ParameterError("indices", indices, "expected a 1-D selection of samples")
        params = json.loads(json.dumps(self.params))
        original = params.get("subset")
        params["subset"] = [int(original[i]) if original is not None else int(i) for i in chosen]
        return SpikeDataset(self.spiketrains[chosen], self.labels[chosen], self.dt, params)

    def split(self, test_size: float, seed: int) -> "Split":
        """This dataset's stratified split into a training part and a held-out part (:func:`stratified_split`).

        Parameters
        ----------
        test_size : float
            Fraction in (0, 1) held out; ``ceil(test_size * n_samples)`` samples, each class in proportion.
        seed : int
            Seed of the split: the same seed gives the same parts.

        Returns
        -------
        Split
            Both parts as datasets (:meth:`subset`) and as sorted indices into this one.
        """
        train_indices, test_indices = stratified_split(self.labels, test_size, seed)
        return Split(train_indices, test_indices, self.subset(train_indices), self.subset(test_indices))

    def save(self, path) -> Path:
        """Write the dataset to ``path`` as an ``.npz`` archive, atomically.

        The archive is written to a temporary file in the same directory and moved over ``path`` with
        ``os.replace``, so a reader never sees half a file.  Keys: ``spiketrains`` (bool), ``labels`` (int64),
        ``dt_seconds`` (float64), ``params_json`` (str) and ``format_version``.  ``path`` is used as given (no
        ``.npz`` is appended).  Returns ``path`` as a :class:`pathlib.Path`.
        """
        path = Path(path)
        params_json = _params_json(self.params)  # fails before anything is written
        with atomic_write(path) as handle:
            np.savez_compressed(
                handle,
                format_version=np.int64(_FORMAT_VERSION),
                spiketrains=self.spiketrains,
                labels=self.labels,
                dt_seconds=np.float64(float(self.dt / second)),
                params_json=np.str_(params_json),
            )
        return path

    @classmethod
    def load(cls, path) -> "SpikeDataset":
        """Read a dataset written by :meth:`save`.

        Raises
        ------
        DataError
            If the file is missing, not an ``.npz`` archive, lacks a key, or holds a field of the wrong shape or
            dtype; the message names the file and the field.
        """
        path = Path(path)
        try:
            archive = np.load(path, allow_pickle=False)
        except FileNotFoundError as exc:
            raise DataError(f"{path}: no such file") from exc
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: not a .npz archive (holds a single array)")
        with archive:
            missing = [key for key in _NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: missing key(s) {', '.join(missing)}")
            try:
                fields = {key: archive[key] for key in _NPZ_KEYS}
            except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
                raise DataError(f"{path}: corrupted archive ({exc})") from exc
        version = fields["format_version"]
        if version.shape != () or version.dtype.kind not in "iu" or int(version) != _FORMAT_VERSION:
            raise DataError(f"{path}: format_version: expected {_FORMAT_VERSION}, got {version!r}")
        dt_seconds = fields["dt_seconds"]
        if dt_seconds.shape != () or dt_seconds.dtype.kind != "f":
            raise DataError(f"{path}: dt_seconds: expected a float scalar, got {dt_seconds.dtype} {dt_seconds.shape}")
        params_json = fields["params_json"]
        if params_json.shape != () or params_json.dtype.kind != "U":
            raise DataError(f"{path}: params_json: expected a string, got {params_json.dtype} {params_json.shape}")
        try:
            params = json.loads(str(params_json))
        except ValueError as exc:
            raise DataError(f"{path}: params_json: not valid JSON ({exc})") from exc
        try:
            return cls(fields["spiketrains"], fields["labels"], float(dt_seconds) * second, params)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc


def _params_json(params) -> str:
    """``params`` as a JSON string; DataError naming ``params`` if it is not a JSON-serialisable dict."""
    if not isinstance(params, dict):
        raise DataError(f"params: expected a dict, got {type(params).__name__}")
    try:
        return json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataError(f"params: not JSON-serialisable ({exc})") from exc


# ---------------------------------------------------------------------------------------------------------------
# Task families
# ---------------------------------------------------------------------------------------------------------------

# Options of each task with their defaults (override with make_task(..., option=value)).
_TASK_OPTIONS = {
    "rate": {"mean_rate": 20 * Hz, "max_contrast": 0.5},
    "burst": {"mean_rate": 20 * Hz, "max_burstiness": 0.9, "high_fraction": 0.2, "burst_duration": 50 * ms},
    "regular": {"mean_rate": 20 * Hz, "max_order": 8.0},
    "modulated": {"mean_rate": 20 * Hz, "modulation_depth": 0.8, "min_frequency": 4 * Hz, "max_frequency": 12 * Hz},
    "digits": {"max_rate": 100 * Hz, "exclude_images": ()},
}
#: Input channels of each generated task when ``n_channels`` is not given.
DEFAULT_CHANNELS = {"rate": 16, "burst": 16, "regular": 16, "modulated": 16, "digits": 64}


def _json_value(name: str, value) -> tuple[str, object]:
    """An option as a JSON entry: quantities become floats with the unit in the key (``_hz``, ``_s``)."""
    if isinstance(value, Quantity) and have_same_dimensions(value, Hz):
        return f"{name}_hz", np.asarray(value / Hz, dtype=float).tolist()
    if isinstance(value, Quantity) and have_same_dimensions(value, second):
        return f"{name}_s", np.asarray(value / second, dtype=float).tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return name, value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return name, np.asarray(value).tolist()
    return name, value


def _scalar_rate(name: str, value) -> float:
    hz = checks.quantity(name, value, "Hz")
    if hz.ndim != 0 or hz < 0:
        raise ParameterError(name, value, "expected one rate >= 0 Hz, e.g. 20*Hz")
    return float(hz)


def _class_positions(n_classes: int) -> np.ndarray:
    """Evenly spaced class positions 0, 1/(n-1), ..., 1."""
    return np.linspace(0.0, 1.0, n_classes)


def _task_rate(rng, counts, n_channels, separation, n_bins, dt, options):
    mean_hz = _scalar_rate("mean_rate", options["mean_rate"])
    contrast = checks.real("max_contrast", options["max_contrast"], 0.0, 1.0)
    rates = mean_hz * (1 + separation * contrast * (2 * _class_positions(len(counts)) - 1))
    _check_below_one("mean_rate", options["mean_rate"], rates * float(dt / second), "the highest class rate*dt")
    blocks = [poisson_spikes(n, n_channels, r * Hz, n_bins, dt, seed=rng) for n, r in zip(counts, rates)]
    return blocks, [{"rate_hz": float(r)} for r in rates]


def _task_burst(rng, counts, n_channels, separation, n_bins, dt, options):
    max_burstiness = checks.real("max_burstiness", options["max_burstiness"], 0.0, 1.0)
    strongest = burst_parameters(
        options["mean_rate"], separation * max_burstiness, options["high_fraction"], options["burst_duration"]
    )
    _check_below_one(
        "mean_rate", options["mean_rate"], strongest["rate_high"] * dt, "the highest burst rate_high*dt"
    )
    blocks, classes = [], []
    for n, position in zip(counts, _class_positions(len(counts))):
        burstiness = separation * max_burstiness * position
        arguments = burst_parameters(
            options["mean_rate"], burstiness, options["high_fraction"], options["burst_duration"]
        )
        blocks.append(markov_modulated_spikes(n, n_channels, **arguments, n_bins=n_bins, dt=dt, seed=rng))
        entry = {"burstiness": float(burstiness)}
        entry.update(_json_value(name, value) for name, value in arguments.items())
        classes.append(entry)
    return blocks, classes


def _task_regular(rng, counts, n_channels, separation, n_bins, dt, options):
    max_order = checks.real("max_order", options["max_order"], 1.0, 1e6)
    orders = 1 + separation * (max_order - 1) * _class_positions(len(counts))
    rate = options["mean_rate"]
    _check_below_one("mean_rate", rate, checks.quantity("mean_rate", rate, "Hz") * float(dt / second))
    blocks = [gamma_renewal_spikes(n, n_channels, rate, k, n_bins, dt, seed=rng) for n, k in zip(counts, orders)]
    return blocks, [{"order": float(k)} for k in orders]


def _task_modulated(rng, counts, n_channels, separation, n_bins, dt, options):
    low = _frequency_hz("min_frequency", options["min_frequency"])
    high = _frequency_hz("max_frequency", options["max_frequency"])
    if high < low:
        raise ParameterError("max_frequency", options["max_frequency"], "must be >= min_frequency")
    middle = (low + high) / 2
    frequencies = middle + separation * (low + (high - low) * _class_positions(len(counts)) - middle)
    blocks = [
        modulated_poisson_spikes(
            n, n_channels, options["mean_rate"], options["modulation_depth"], f * Hz, n_bins, dt, seed=rng
        )
        for n, f in zip(counts, frequencies)
    ]
    return blocks, [{"frequency_hz": float(f)} for f in frequencies]


def _task_digits(rng, counts, n_channels, separation, n_bins, dt, options):
    from sklearn.datasets import load_digits

    max_hz = _scalar_rate("max_rate", options["max_rate"])
    _check_below_one("max_rate", options["max_rate"], np.asarray(max_hz * float(dt / second)), "max_rate*dt")
    digits = load_digits()
    images, targets = digits.data, digits.target
    excluded = options["exclude_images"]
    try:
        excluded = np.asarray(excluded, dtype=np.int64).ravel() if len(excluded) else np.zeros(0, np.int64)
    except (TypeError, ValueError):
        raise ParameterError("exclude_images", excluded, "expected a sequence of image indices") from None
    if excluded.size and (excluded.min() < 0 or excluded.max() >= len(targets)):
        raise ParameterError("exclude_images", excluded.tolist(), f"expected indices in [0, {len(targets)})")
    selected = np.isin(targets, np.arange(len(counts)))
    mean_image = images[selected].mean(axis=0)  # over all images of the digits, so that d = 1 is one process
    blocks, classes, indices = [], [], []
    for digit, n in enumerate(counts):
        available = np.setdiff1d(np.flatnonzero(targets == digit), excluded)
        if available.size == 0:
            raise ParameterError("exclude_images", f"{excluded.size} indices",
                                 f"no image of digit {digit} is left")
        replace = n > available.size
        chosen = rng.choice(available, size=n, replace=replace)
        blended = separation * images[chosen] + (1 - separation) * mean_image
        rates = blended / 16.0 * max_hz
        blocks.append(poisson_spikes(n, 64, rates * Hz, n_bins, dt, seed=rng))
        classes.append({"digit": digit, "available_images": int(available.size), "with_replacement": bool(replace)})
        indices.append(chosen)
    return blocks, classes, np.concatenate(indices)


_TASK_BUILDERS = {
    "rate": _task_rate,
    "burst": _task_burst,
    "regular": _task_regular,
    "modulated": _task_modulated,
    "digits": _task_digits,
}


def make_task(
    name,
    n_samples=200,
    n_channels=None,
    difficulty=0.5,
    n_classes=2,
    n_bins=1024,
    dt=1 * ms,
    seed=0,
    **options,
) -> SpikeDataset:
    """A labelled, balanced and shuffled spike-train classification task.

    Every task maps ``difficulty`` ``d`` in ``[0, 1]`` to a *separation* ``1 - d`` that scales the difference
    between the classes linearly: ``d = 0`` is the easiest setting, ``d = 1`` makes all classes the same process
    (chance accuracy).  With ``n`` classes, class ``c`` sits at the evenly spaced position ``x_c = c / (n - 1)``.

    ``"rate"``
        Poisson, all channels at the class rate ``mean_rate * (1 + (1-d) * max_contrast * (2 x_c - 1))``.
        Defaults ``mean_rate = 20*Hz``, ``max_contrast = 0.5`` (10 vs 30 Hz at ``d = 0``).
    ``"burst"``
        Poisson against bursty Markov-modulated Poisson at the same mean rate: class ``c`` has burstiness
        ``(1-d) * max_burstiness * x_c`` (see :func:`burst_parameters`; class 0 is Poisson).  Defaults
        ``mean_rate = 20*Hz``, ``max_burstiness = 0.9``, ``high_fraction = 0.2``, ``burst_duration = 50*ms``.
    ``"regular"``
        Poisson against gamma renewal at the same rate: class ``c`` has gamma order
        ``k_c = 1 + (1-d) * (max_order - 1) * x_c`` (``k = 1`` is Poisson).  Defaults ``mean_rate = 20*Hz``,
        ``max_order = 8``.
    ``"modulated"``
        Sinusoidally modulated Poisson at the same mean rate and depth, differing in frequency: class ``c`` has
        ``f_mid + (1-d) * (min_frequency + (max_frequency - min_frequency) * x_c - f_mid)`` with ``f_mid`` the middle
        of the range, and a random phase per sample.  Defaults ``mean_rate = 20*Hz``, ``modulation_depth = 0.8``,
        ``min_frequency = 4*Hz``, ``max_frequency = 12*Hz``.
    ``"digits"``
        scikit-learn's bundled 8x8 handwritten digits (1797 real images, no download).  Classes are the digits
        ``0 .. n_classes-1`` and the label *is* the digit.  Each of the 64 pixels (0..16) drives one Poisson
        channel at ``rate = blended_pixel / 16 * max_rate`` where ``blended = (1-d) * image + d * mean_image``
        (``mean_image`` over all images of the chosen digits): at ``d = 1`` every sample has the same rates.
        Images are drawn without replacement while a class has enough of them (about 180 per digit) and with
        replacement otherwise (``params["classes"][c]["with_replacement"]``).  ``params["image_indices"]`` gives
        each sample's row in ``load_digits()``.  Default ``max_rate = 100*Hz``; ``n_channels`` must be 64.
        ``exclude_images`` (default none): rows of ``load_digits()`` not to draw (:func:`independent_test_set`
        excludes the training images).

    Parameters
    ----------
    name : str
        One of :data:`TASKS`.
    n_samples : int
        Number of samples, ``>= n_classes``; class sizes differ by at most one (equal when divisible).
    n_channels : int or None
        Channels per sample; None picks the task default (16, or 64 for ``"digits"``).
    difficulty : float
        In ``[0, 1]``, see above (default 0.5).
    n_classes : int
        Number of classes, ``>= 2`` (at most 10 for ``"digits"``).
    n_bins : int
        Bins per sample (default 1024).
    dt : Quantity, s
        Bin width (default 1 ms).
    seed : int or numpy.random.Generator
        Seed for all random draws, including the shuffle (default 0).  ``params["seed"]`` records it (None when
        a Generator was given).
    **options
        Task options listed above, e.g. ``mean_rate=30*Hz``.

    Returns
    -------
    SpikeDataset
        With ``params`` holding the task name, seed, difficulty, sizes, options (quantities as floats with the
        unit in the key: ``mean_rate_hz``) and one entry of class parameters per class in ``params["classes"]``.
    """
    checks.one_of("task", name, TASKS, reason=f"unknown task; known tasks: {', '.join(TASKS)}")
    n_classes = checks.integer("n_classes", n_classes, low=2)
    if name == "digits" and n_classes > 10:
        raise ParameterError("n_classes", n_classes, "the digits task has at most 10 classes")
    n_samples = checks.integer("n_samples", n_samples, low=1)
    if n_samples < n_classes:
        raise ParameterError("n_samples", n_samples, f"expected at least one sample per class (>= {n_classes})")
    n_channels = DEFAULT_CHANNELS[name] if n_channels is None else checks.integer("n_channels", n_channels, low=1)
    if name == "digits" and n_channels != 64:
        raise ParameterError("n_channels", n_channels, "the digits task has 64 channels (one per pixel)")
    difficulty = checks.real("difficulty", difficulty, 0.0, 1.0)
    n_bins = checks.integer("n_bins", n_bins, low=1)
    dt_s = checks.seconds("dt", dt)
    from .resources import check_memory, task_bytes  # before anything is allocated: one line, not a MemoryError

    check_memory(task_bytes(n_samples, n_channels, n_bins), f"the {name!r} data set",
                 {"n_samples": n_samples, "n_channels": n_channels, "n_bins": n_bins},
                 {"n_samples": 200, "n_channels": DEFAULT_CHANNELS[name], "n_bins": 1024})
    known = _TASK_OPTIONS[name]
    for option, value in options.items():
        if option not in known:
            raise ParameterError(option, value, f"unknown option for task {name!r}; known options: {', '.join(known)}")
    chosen = {**known, **options}
    rng = _rng(seed)

    counts = [n_samples // n_classes + (c < n_samples % n_classes) for c in range(n_classes)]
    built = _TASK_BUILDERS[name](rng, counts, n_channels, 1.0 - difficulty, n_bins, dt, chosen)
    blocks, classes = built[0], built[1]
    order = rng.permutation(n_samples)
    spiketrains = np.concatenate(blocks)[order]
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), counts)[order]
    params = {
        "task": name,
        "seed": _seed_for_params(seed),
        "difficulty": difficulty,
        "n_samples": n_samples,
        "n_channels": n_channels,
        "n_classes": n_classes,
        "n_bins": n_bins,
        "dt_s": dt_s,
        "options": dict(_json_value(option, value) for option, value in chosen.items()),
        "classes": classes,
    }
    if name == "digits":
        params["image_indices"] = [int(i) for i in built[2][order]]
    return SpikeDataset(spiketrains, labels, dt_s * second, params)


def independent_test_set(train: SpikeDataset, n_samples: int, seed) -> SpikeDataset:
    """A test set of ``n_samples`` drawn from the task distribution of ``train``, with a seed of its own.

    ``train`` must come from :func:`make_task` (its ``params`` name the task, difficulty, sizes and options); the
    test set repeats that call with ``n_samples`` and ``seed``.  For ``digits`` the images of the training samples
    are excluded (``exclude_images``), so that no test sample shows an image a training sample showed; every
    other task draws fresh random spike trains from the same class processes (their class parameters depend on
    the difficulty only, never on the seed).

    Raises
    ------
    ParameterError
        If ``train`` was not made by :func:`make_task` (``params`` lack the task), or ``n_samples`` is too small.
    """
    params = train.params
    if not isinstance(params, dict) or params.get("task") not in _TASK_BUILDERS or "options" not in params:
        raise ParameterError("train.params", params.get("task") if isinstance(params, dict) else params,
                             "an independent test set needs a dataset made by make_task (its params name the task)")
    name = params["task"]
    options = {}
    for option, default in _TASK_OPTIONS[name].items():
        key, recorded_default = _json_value(option, default)
        value = params["options"].get(key, recorded_default)
        if isinstance(default, Quantity):
            value = value * (Hz if have_same_dimensions(default, Hz) else second)
        options[option] = value
    if name == "digits":
        options["exclude_images"] = sorted(set(params["options"]["exclude_images"]) | set(params["image_indices"]))
    return make_task(name, n_samples=n_samples, n_channels=params["n_channels"], difficulty=params["difficulty"],
                     n_classes=params["n_classes"], n_bins=params["n_bins"], dt=params["dt_s"] * second, seed=seed,
                     **options)


@dataclass(frozen=True)
class Split:
    """A dataset's stratified split (:meth:`SpikeDataset.split`): the two parts and their indices.

    Attributes
    ----------
    train_indices, test_indices : int ndarray
        Sorted, disjoint indices into the split dataset.
    train, test : SpikeDataset
        The two parts.
    """

    train_indices: np.ndarray
    test_indices: np.ndarray
    train: SpikeDataset
    test: SpikeDataset
