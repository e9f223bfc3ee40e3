"""Song, Miller & Abbott (2000): STDP of many Poisson inputs onto one neuron makes the weights bimodal.

A replication experiment built on :mod:`brainlz.learning.stdp` (the rule and its trainer); it lives here, not in
the library's learning modules, with the figure script ``figures/scripts/stdp_song2000.py`` that draws it.

References
----------
Song, Miller & Abbott 2000, Nat Neurosci 3:919.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from brian2 import Hz, Quantity, have_same_dimensions, ms, second

from .. import checks
from ..data import poisson_spikes
from ..errors import ParameterError
from ..learning.stdp import SONG_2000, STDPRule, train_stdp, weight_statistics
from ..network import NetworkSpec

__all__ = ["SongAbbottResult", "song_abbott_experiment", "song_default_w_max", "SONG_SCALED"]


@dataclass
class SongAbbottResult:
    """Outcome of :func:`song_abbott_experiment`.

    Attributes
    ----------
    weights : float ndarray [n_inputs]
        Final weights as fractions of the range, ``(w - w_min) / (w_max - w_min)`` (``w / w_max`` for
        ``w_min = 0``), dimensionless, in ``[0, 1]``.
    initial : float ndarray [n_inputs]
        Initial weights, same scale.
    snapshots : float ndarray [n_chunks + 1, n_inputs]
        Weights (same scale) at the start and after every chunk.
    snapshot_times : float ndarray [n_chunks + 1]
        Simulated time of each snapshot, s.
    rule : STDPRule
    rate : float
        Input rate, Hz.
    duration : float
        Simulated time, s.
    output_rate : float
        Postsynaptic rate over the whole run, Hz.
    output_rate_final : float
        Postsynaptic rate over the last chunk, Hz.
    fraction_near_zero, fraction_near_max : float
        Share of final weights within :data:`NEAR` (10 %) of ``w_min`` and of ``w_max``.
    wall_time : float
        Seconds for all simulations (builds included).
    n_builds : int
        Code builds (standalone: 1 at most, 0 when a compiled program was reused).
    spec : NetworkSpec
        The trained one-neuron network.
    """

    weights: np.ndarray
    initial: np.ndarray
    snapshots: np.ndarray
    snapshot_times: np.ndarray
    rule: STDPRule
    rate: float
    duration: float
    output_rate: float
    output_rate_final: float
    fraction_near_zero: float
    fraction_near_max: float
    wall_time: float
    n_builds: int
    spec: NetworkSpec

    @property
    def fraction_bimodal(self) -> float:
        """``fraction_near_zero + fraction_near_max``."""
        return self.fraction_near_zero + self.fraction_near_max


#: The scaled setting of :func:`song_abbott_experiment` that becomes bimodal in about 2 s of wall time
#: (standalone, once compiled): ``song_abbott_experiment(**SONG_SCALED)``.
SONG_SCALED = {"n_inputs": 200, "duration": 400 * second, "A_plus": 0.0075}


def song_default_w_max(n_inputs: int, rate, params: dict, drive: float = 5.0) -> Quantity:
    """The default ``w_max`` of :func:`song_abbott_experiment`, in A.

    The weight for which ``n_inputs`` inputs at ``rate``, all at ``w_max``, would raise the mean membrane
    potential of the ``lif`` neuron ``drive`` times the distance from rest to threshold above rest:
    ``w_max = drive * (V_th - E_L) / (R * n_inputs * rate * tau_syn)`` (the mean synaptic current is
    ``n_inputs * rate * w * tau_syn``).  With the ``lif`` defaults and 15 Hz: 10 pA for 1000 inputs, 50 pA for
    200.  Song et al. likewise chose g_max so that the inputs could drive the neuron far above threshold if all
    were strong, which makes the competition between synapses decide the output rate.

    Parameters
    ----------
    n_inputs : int
    rate : Quantity
        Input rate, Hz.
    params : dict of str to Quantity
        The neuron's ``V_th``, ``E_L``, ``R``, ``tau_syn`` (scalars or per-neuron arrays; the first entry is used).
    drive : float
        The factor above.
    """
    from brian2 import amp

    def first(name):
        return float(np.asarray(params[name], dtype=float).ravel()[0])

    gap = first("V_th") - first("E_L")
    return drive * gap / (first("R") * n_inputs * float(rate) * first("tau_syn")) * amp


def song_abbott_experiment(n_inputs: int = 1000, rate=15 * Hz, duration=None, rule: STDPRule | None = None,
                           *, A_plus: float = SONG_2000["A_plus"], ratio: float = 1.05, w_max=None, neuron=None,
                           seed: int = 0, dt=1 * ms, chunk=20 * second, backend: str = "standalone",
                           target: str = "cython", directory=None, progress=None) -> SongAbbottResult:
    r"""One LIF neuron driven by ``n_inputs`` Poisson inputs through additive STDP synapses (Song et al. 2000).

    Every input fires at ``rate`` (Bernoulli bins of :func:`brainlz.data.poisson_spikes`); the initial weights
    are uniform in ``[w_min, w_max]``.  The run is cut into chunks of ``chunk`` simulated time, each with fresh
    Poisson input and one call of :func:`train_stdp` (one Brian2 run; on the standalone backend one compile
    for all chunks), so memory stays bounded for long runs.  At each chunk boundary the membrane and the STDP
    traces restart from rest (a few ms in every 20 s); the weights carry over.

    Default (full size): 1000 inputs at 15 Hz, Song's rule (A+ = 0.005 of w_max, A-/A+ = 1.05, tau+ = tau- =
    20 ms), ``w_max`` from :func:`song_default_w_max` (10 pA), 1000 s of simulated time (about 30 s of wall time
    on the standalone backend): about 70 % of the weights end within 10 % of 0 and 10 % within 10 % of w_max.

    Scaled setting (:data:`SONG_SCALED`, used by the tests and the figure): 200 inputs at 15 Hz, ``w_max`` =
    50 pA (the same total drive, so each input has five times the weight and a larger causal effect on the
    output spikes), A+ = 0.0075 (1.5 x Song's), A-/A+ = 1.05, 400 s of simulated time, about 2 s of wall
    time once compiled: 67-70 % of the weights end within 10 % of 0 and 22-23 % within 10 % of w_max, 1.5 %
    between 0.3 and 0.7 (seeds 0-2), at a postsynaptic rate of about 44 Hz; with A-/A+ = 0.9 instead every
    weight ends at w_max.

    Why not a much larger A+: in additive STDP the low mode is a boundary layer whose width is about
    :math:`A_+ / (A_-/A_+ - 1)` of w_max (diffusion over drift of a weight that the neuron's spikes do not depend
    on), i.e. 10 % for Song's values.  A+ = 0.05 with A-/A+ = 1.05 fills the interval with a broad, monotonic
    distribution; raising A-/A+ along with A+ keeps the modes narrow but leaves no synapse strong enough to
    win against the depression.  The scaled setting therefore speeds the competition by making each input
    matter more (fewer, stronger inputs) and keeps A+ near Song's value.

    Mapping to Song, Miller & Abbott (2000): they used A+ = 0.005 of g_max, A-/A+ = 1.05, tau = 20 ms and 1000
    excitatory inputs at 10-40 Hz onto a conductance-based integrate-and-fire neuron with 200 inhibitory
    inputs; here the neuron is current-based (``lif``: the weight is a current, in A), has no inhibition and
    uses dt = 1 ms (same-step pairs are left out, see :class:`STDPRule`, so the discrete rule keeps Song's
    balance point).

    Parameters
    ----------
    n_inputs : int
        Number of Poisson inputs.
    rate : Quantity
        Input rate (Hz).
    duration : Quantity, optional
        Simulated time (default 1000 s); rounded to a whole number of chunks.
    rule : STDPRule, optional
        Default ``STDPRule(w_max=w_max, A_plus=A_plus, A_minus=ratio * A_plus)`` (tau+ = tau- = 20 ms, additive).
    A_plus, ratio : float
        Potentiation per pair (fraction of w_max) and ``A_minus / A_plus`` of the default rule.
    w_max : Quantity, optional
        Upper weight bound in A of the default rule (default :func:`song_default_w_max`).
    neuron : dict, optional
        Intrinsic parameters of the ``lif`` neuron that differ from the model defaults (Brian2 quantities).
    seed : int
        Seed of the inputs and of the initial weights.
    dt : Quantity
        Time step (and input bin width).
    chunk : Quantity
        Simulated time per Brian2 run.
    backend, target, directory
        As in :func:`train_stdp`.
    progress : callable, optional
        Called as ``progress(chunks_done, n_chunks)``.

    Returns
    -------
    SongAbbottResult
        ``weights`` are the final weights / ``w_max`` (for ``w_min = 0``).
    """
    checks.integer("n_inputs", n_inputs, low=1, reason="expected a positive integer")
    if duration is None:
        duration = 1000 * second
    for name, value in (("duration", duration), ("dt", dt), ("chunk", chunk)):
        checks.seconds(name, value, reason="expected a positive time, e.g. 20*second")
    if not isinstance(rate, Quantity) or not have_same_dimensions(rate, Hz) or np.ndim(rate) != 0 \
            or not float(rate) > 0:
        raise ParameterError("rate", rate, "expected a positive rate, e.g. 15*Hz")
    n_chunks = max(1, int(round(float(duration) / float(chunk))))
    chunk_bins = int(round(min(float(duration), float(chunk)) / float(dt)))
    if chunk_bins < 1:
        raise ParameterError("chunk", chunk, f"shorter than dt = {dt}")
    spec = NetworkSpec.create(int(n_inputs), hidden=0, output=1, model="lif", dt=dt, seed=seed)
    if neuron:
        spec = spec.with_params("output", **dict(neuron))
    if rule is None:
        if w_max is None:
            w_max = song_default_w_max(int(n_inputs), rate, spec.output.params)
        a_plus = STDPRule(w_max=w_max, A_plus=A_plus).A_plus  # checked as the rule checks it
        rule = STDPRule(w_max=w_max, A_plus=a_plus, A_minus=a_plus * float(ratio))
    elif not isinstance(rule, STDPRule):
        raise ParameterError("rule", rule, "expected an STDPRule")
    unit = spec.output.neuron_model.weight_unit
    rule.check_model(spec.output.neuron_model)
    rng = np.random.default_rng(seed)
    w_min, w_maximum = float(rule.w_min), float(rule.w_max)
    initial = rng.uniform(w_min, w_maximum, size=(int(n_inputs), 1))
    spec = spec.with_weights([initial * unit])
    snapshots = [initial[:, 0]]
    expected = float(rate) * chunk_bins * float(dt)  # Poisson count per chunk: mean + 10 SD keeps one program
    capacity = int(np.ceil((expected + 10 * math.sqrt(expected) + 16) / 16) * 16)
    spike_count, last_count, wall_time, builds = 0, 0, 0.0, 0
    for k in range(n_chunks):
        inputs = poisson_spikes(1, int(n_inputs), rate, n_bins=chunk_bins, dt=dt, seed=rng)
        spec, history = train_stdp(spec, inputs, rule, epochs=1, gap=0 * ms, shuffle=False, backend=backend,
                                   target=target, seed=seed, directory=directory,
                                   capacity=max(capacity, int(inputs.sum(axis=2).max())))
        record = history.epochs[0]
        last_count = int(record["output_counts"].sum())
        spike_count += last_count
        wall_time += record["wall_time"]
        builds += record["n_builds"]
        snapshots.append(np.asarray(spec.weights[0], dtype=float)[:, 0])
        if progress is not None:
            progress(k + 1, n_chunks)
    snapshots = (np.array(snapshots) - w_min) / (w_maximum - w_min)
    chunk_s = chunk_bins * float(dt)
    stats = weight_statistics(snapshots[-1] * (w_maximum - w_min) + w_min, rule)
    return SongAbbottResult(weights=snapshots[-1], initial=snapshots[0], snapshots=snapshots,
                            snapshot_times=np.arange(n_chunks + 1) * chunk_s, rule=rule, rate=float(rate),
                            duration=n_chunks * chunk_s, output_rate=spike_count / (n_chunks * chunk_s),
                            output_rate_final=last_count / chunk_s,
                            fraction_near_zero=stats["fraction_near_min"],
                            fraction_near_max=stats["fraction_near_max"], wall_time=wall_time, n_builds=builds,
                            spec=spec)
