"""Accuracy and effect sizes with confidence intervals.

Four intervals cover what a brainlz run reports:

* :func:`accuracy_ci` -- the accuracy of one classifier on one test set, with the Wilson score
  interval for a binomial proportion (good coverage for small test sets and for accuracies near 0 or 1,
  where the textbook normal ("Wald") interval collapses to zero width).
* :func:`mean_ci` -- the mean of a quantity over independent repetitions (typically seeds), with a
  Student-t interval.
* :func:`paired_difference_ci` -- the mean difference between two methods evaluated on the same seeds,
  with the Student-t interval of the paired differences.
* :func:`stratified_mean_ci` -- the average over several strata (e.g. tasks) of per-stratum means (e.g. of
  paired differences over seeds), with a Welch-Satterthwaite t-interval: one effect pooled over tasks.

Operation counts and an energy estimate for the SNN-vs-ANN comparison:

* :func:`synaptic_operations` -- synaptic operations (accumulates) of the spiking network per sample,
  counted from its spike rasters.
* :func:`dense_macs` -- multiply-accumulates of a non-spiking network of the same layer sizes.
* :func:`energy_per_inference` -- both counts turned into joules with per-operation energies
  (:data:`ENERGY_PER_OPERATION`, Horowitz 2014, 45 nm CMOS).

This module imports neither Brian2 nor scikit-learn.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from . import checks
from .errors import ParameterError

__all__ = ["accuracy_ci", "mean_ci", "paired_difference_ci", "stratified_mean_ci", "ENERGY_PER_OPERATION",
           "synaptic_operations", "dense_macs", "energy_per_inference", "energy_report"]


def _two_sided_quantile(confidence: float) -> float:
    """Standard-normal quantile ``z`` with ``P(|Z| <= z) = confidence``."""
    return float(stats.norm.ppf(0.5 + 0.5 * confidence))


def accuracy_ci(n_correct: int, n_total: int, confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Accuracy with its Wilson score confidence interval.

    With :math:`\hat p = k/n`, :math:`z` the two-sided standard-normal quantile of ``confidence``
    (1.95996... for 0.95), the Wilson (1927) interval is

    .. math::

        \frac{\hat p + z^2/(2n)}{1 + z^2/n} \pm
        \frac{z}{1 + z^2/n} \sqrt{\frac{\hat p (1-\hat p)}{n} + \frac{z^2}{4n^2}} .

    It is the set of proportions :math:`p` that a two-sided score test at level ``1 - confidence``
    would not reject. Unlike the normal (Wald) interval it never leaves [0, 1] and does not collapse
    to a point at :math:`\hat p = 0` or 1: for ``n_correct == n_total`` it is
    :math:`[n/(n+z^2),\ 1]`. The bounds at ``k = 0`` (low) and ``k = n`` (high) are set to exactly 0 and
    1, which the formula gives analytically. Computed by
    ``scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson")``.

    Parameters
    ----------
    n_correct : int
        Number of correctly classified samples, ``0 <= n_correct <= n_total``.
    n_total : int
        Number of classified samples, ``> 0``.
    confidence : float, optional
        Two-sided confidence level in (0, 1). Default 0.95.

    Returns
    -------
    accuracy : float
        ``n_correct / n_total``.
    low, high : float
        Lower and upper bounds of the Wilson interval.

    Raises
    ------
    ParameterError
        If a count is not an integer, ``n_total <= 0``, ``n_correct < 0``, ``n_correct > n_total``, or
        ``confidence`` is not strictly between 0 and 1.

    Examples
    --------
    >>> acc, low, high = accuracy_ci(8, 10)
    >>> round(acc, 3), round(low, 4), round(high, 4)
    (0.8, 0.4902, 0.9433)
    """
    k = checks.integer("n_correct", n_correct, reason="must be an integer count")
    n = checks.integer("n_total", n_total, reason="must be an integer count")
    conf = checks.confidence("confidence", confidence)
    if n <= 0:
        raise ParameterError("n_total", n_total, "must be a positive number of samples")
    if k < 0:
        raise ParameterError("n_correct", n_correct, "must be >= 0")
    if k > n:
        raise ParameterError("n_correct", n_correct, f"must not exceed n_total = {n}")

    from scipy.stats import binomtest

    interval = binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    low = 0.0 if k == 0 else max(0.0, float(interval.low))
    high = 1.0 if k == n else min(1.0, float(interval.high))
    return float(k / n), low, high


def _check_values(field: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(field, values, "must be a 1-D sequence of numbers") from None
    if arr.ndim != 1:
        raise ParameterError(field, values, f"must be 1-D, got shape {arr.shape}")
    if arr.size < 2:
        raise ParameterError(field, values, f"needs at least 2 values for an interval, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(field, values, "must contain only finite numbers (no NaN or inf)")
    return arr


def _t_interval(arr: np.ndarray, conf: float) -> tuple[float, float, float]:
    n = arr.size
    mean = float(np.mean(arr))
    sem = float(np.std(arr, ddof=1)) / math.sqrt(n)
    t = float(stats.t.ppf(0.5 + 0.5 * conf, df=n - 1))
    return mean, mean - t * sem, mean + t * sem


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Mean with a Student-t confidence interval.

    For values :math:`x_1..x_n` (e.g. one accuracy per seed), the interval is
    :math:`\bar x \pm t_{n-1}\, s/\sqrt n`, with :math:`s` the sample standard deviation
    (``ddof=1``) and :math:`t_{n-1}` the two-sided quantile of Student's t with :math:`n-1` degrees of
    freedom. It assumes independent, roughly normal values; with identical values it has zero width.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        At least 2 finite values.
    confidence : float, optional
        Two-sided confidence level in (0, 1). Default 0.95.

    Returns
    -------
    mean, low, high : float
        The sample mean and the interval bounds.

    Raises
    ------
    ParameterError
        If ``values`` is not 1-D, has fewer than 2 entries or a non-finite entry, or ``confidence`` is not
        strictly between 0 and 1.
    """
    conf = checks.confidence("confidence", confidence)
    arr = _check_values("values", values)
    return _t_interval(arr, conf)


def paired_difference_ci(a, b, confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Mean paired difference ``a - b`` with a Student-t confidence interval.

    ``a[i]`` and ``b[i]`` are two methods' results on the same repetition ``i`` (same seed, same data
    split). The interval is :func:`mean_ci` of the differences :math:`d_i = a_i - b_i`, i.e. the interval
    of a paired t-test (``scipy.stats.ttest_rel(a, b).confidence_interval(confidence)``). An interval
    that excludes 0 means ``a`` and ``b`` differ at level ``1 - confidence``.

    Parameters
    ----------
    a, b : array_like of float, shape (n,)
        Paired results, equal length, at least 2 each.
    confidence : float, optional
        Two-sided confidence level in (0, 1). Default 0.95.

    Returns
    -------
    mean_difference, low, high : float
        Mean of ``a - b`` and the interval bounds.

    Raises
    ------
    ParameterError
        If ``a`` or ``b`` is malformed (see :func:`mean_ci`), their lengths differ, or ``confidence`` is
        not strictly between 0 and 1.
    """
    conf = checks.confidence("confidence", confidence)
    arr_a = _check_values("a", a)
    arr_b = _check_values("b", b)
    if arr_a.shape != arr_b.shape:
        raise ParameterError("b", b, f"must have the same length as a ({arr_a.size}), got {arr_b.size}")
    return _t_interval(arr_a - arr_b, conf)


# ---------------------------------------------------------------------------------------------------------------
# Operation counts and energy per inference
# ---------------------------------------------------------------------------------------------------------------

_HOROWITZ = ('M. Horowitz (2014), "Computing\'s energy problem (and what we can do about it)", '
             "IEEE ISSCC Digest of Technical Papers, pp. 10-14; 45 nm CMOS, 0.9 V")

#: Energy per arithmetic operation, in joules, with its source, so that reports can cite the figures.
#: ``"ac"`` (one synaptic accumulate of the SNN) is a 32-bit float add; ``"mac"`` (one multiply-accumulate of
#: the ANN) is a 32-bit float multiply plus add, 3.7 pJ + 0.9 pJ = 4.6 pJ. These are the figures of e.g.
#: Rathi & Roy (2021), IEEE TNNLS, "DIET-SNN".
ENERGY_PER_OPERATION = {
    "add_fp32": {"value": 0.9e-12, "unit": "J", "source": f"32-bit float add: 0.9 pJ; {_HOROWITZ}"},
    "mult_fp32": {"value": 3.7e-12, "unit": "J", "source": f"32-bit float multiply: 3.7 pJ; {_HOROWITZ}"},
    "ac": {"value": 0.9e-12, "unit": "J",
           "source": f"accumulate (AC) = 32-bit float add: 0.9 pJ; {_HOROWITZ}"},
    "mac": {"value": 4.6e-12, "unit": "J",
            "source": "multiply-accumulate (MAC) = 32-bit float multiply + add: 3.7 pJ + 0.9 pJ = 4.6 pJ; "
                      + _HOROWITZ},
}


def stratified_mean_ci(groups, confidence: float = 0.95) -> tuple[float, float, float, float]:
    r"""The unweighted average of per-stratum means, with a Welch-Satterthwaite t-interval.

    For strata :math:`k = 1..K` (e.g. the grid's tasks) with values :math:`x_{k1}..x_{kn_k}` (e.g. the paired
    differences learnable - fixed of the seeds), the estimate is :math:`\hat\mu = \frac1K\sum_k \bar x_k`, each
    stratum counting once whatever its number of values. Its variance is estimated by
    :math:`\hat V = \frac1{K^2}\sum_k s_k^2/n_k` (:math:`s_k` the stratum's sample standard deviation, ``ddof=1``),
    and the interval is :math:`\hat\mu \pm t_\nu \sqrt{\hat V}` with the Welch-Satterthwaite degrees of freedom
    :math:`\nu = \hat V^2 / \sum_k \frac{(s_k^2/(K^2 n_k))^2}{n_k - 1}`.

    The strata are taken as fixed (the interval is about these strata, not about a population of strata that
    they were drawn from): the between-strata spread of the means does not widen it, and a stratum with a
    large effect can carry the average. Within a stratum, values are assumed independent and roughly normal,
    as in :func:`mean_ci`; with one stratum the result is :func:`mean_ci`'s. If every stratum has zero
    spread the interval has zero width.

    Parameters
    ----------
    groups : sequence of array_like of float
        At least one stratum; each a 1-D sequence of at least 2 finite values.
    confidence : float, optional
        Two-sided confidence level in (0, 1). Default 0.95.

    Returns
    -------
    mean, low, high, dof : float
        The average of the stratum means, the interval bounds and the degrees of freedom (``inf`` when every
        stratum has zero spread).

    Raises
    ------
    ParameterError
        If ``groups`` is empty or not a sequence, a stratum is malformed (see :func:`mean_ci`), or
        ``confidence`` is not strictly between 0 and 1.
    """
    conf = checks.confidence("confidence", confidence)
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__len__") or len(groups) == 0:
        raise ParameterError("groups", groups, "must be a non-empty sequence of strata (1-D sequences of numbers)")
    arrays = [_check_values(f"groups[{k}]", group) for k, group in enumerate(groups)]
    n_strata = len(arrays)
    mean = float(np.mean([float(np.mean(arr)) for arr in arrays]))
    parts = np.array([float(np.var(arr, ddof=1)) / arr.size / n_strata ** 2 for arr in arrays])
    variance = float(np.sum(parts))
    if variance == 0.0:
        return mean, mean, mean, math.inf
    dof = variance ** 2 / float(np.sum(parts ** 2 / (np.array([arr.size for arr in arrays]) - 1)))
    half = float(stats.t.ppf(0.5 + 0.5 * conf, df=dof)) * math.sqrt(variance)
    return mean, mean - half, mean + half, dof


def _projection_names(spec) -> list:
    names = ["input"] + [layer.name for layer in spec.layers]
    return [f"{names[k]} -> {names[k + 1]}" for k in range(len(spec.layers))]


def _check_raster(field: str, raster, n_channels: int) -> np.ndarray:
    array = np.asarray(raster)
    if array.ndim != 3:
        raise ParameterError(field, raster,
                             f"expected a 3-D raster [n_samples, n_neurons, n_bins], got shape {array.shape}")
    if array.dtype != bool:
        if array.dtype.kind not in "biu" or (array.size and (array.min() < 0 or array.max() > 1)):
            raise ParameterError(field, raster, f"expected a binary raster (bool or 0/1), got dtype {array.dtype}")
        array = array.astype(bool)
    if array.shape[1] != n_channels:
        raise ParameterError(field, raster, f"has {array.shape[1]} neurons (axis 1), the network has {n_channels}")
    return array


def synaptic_operations(spec, input_spiketrains, layer_rasters) -> dict:
    r"""Synaptic operations (accumulates) of the spiking network, per sample.

    Every presynaptic spike of projection :math:`k` -- an input spike for :math:`k = 0`, a spike of layer
    :math:`k-1` otherwise -- adds its weight to each of its postsynaptic targets: one accumulate (AC) per
    target. With :math:`c_{s,i}` the spike count of presynaptic neuron :math:`i` in sample :math:`s` and
    :math:`f_i` its fan-out, the number of nonzero entries of row :math:`i` of ``spec.weights[k]``,

    .. math::

        \mathrm{SynOps}_k(s) = \sum_i c_{s,i}\, f_i ,

    which for dense all-to-all connectivity is ``spikes_pre * n_post``. Synapses with weight exactly 0 are
    not counted (event-driven hardware need not store them). The output layer's spikes drive no synapses;
    its raster is accepted (so that every layer's raster can be passed) but only its shape is checked.

    Parameters
    ----------
    spec : NetworkSpec
        The network (``n_inputs``, ``layers[k].n_neurons``, ``weights[k]`` of shape ``[n_pre, n_post]``).
    input_spiketrains : array_like of bool, shape (n_samples, n_inputs, n_bins)
        Input spikes (bool or 0/1), one bin per time step.
    layer_rasters : sequence of array_like of bool, one per layer
        Spikes of each layer, ``layer_rasters[k]`` of shape ``(n_samples, spec.layers[k].n_neurons, n_bins)``.

    Returns
    -------
    dict
        ``"per_projection"``: int64 ndarray, shape ``(n_projections, n_samples)``, synaptic operations of each
        projection in each sample (count, dimensionless);
        ``"total"``: int64 ndarray, shape ``(n_samples,)``, their sum over projections;
        ``"mean"``: float, mean of ``"total"`` over samples (operations per inference);
        ``"mean_per_projection"``: float ndarray, shape ``(n_projections,)``;
        ``"fan_out"``: list of int64 ndarrays, ``fan_out[k][i]`` the nonzero out-degree of presynaptic
        neuron ``i`` of projection ``k``;
        ``"projections"``: list of str, ``"input -> hidden"`` etc.

    Raises
    ------
    ParameterError
        If a raster is not 3-D and binary, has the wrong number of neurons, or disagrees with the input in
        ``n_samples`` or ``n_bins`` (field ``"input_spiketrains"`` or ``"layer_rasters[k]"``), or if the number
        of layer rasters is not one per layer (field ``"layer_rasters"``).
    """
    n_layers = len(spec.layers)
    inputs = _check_raster("input_spiketrains", input_spiketrains, int(spec.n_inputs))
    expected = f"expected a list of {n_layers} rasters, one per layer"
    if isinstance(layer_rasters, np.ndarray) and layer_rasters.dtype != object and layer_rasters.ndim != 4:
        raise ParameterError("layer_rasters", layer_rasters, expected)
    try:
        rasters = list(layer_rasters)
    except TypeError:
        raise ParameterError("layer_rasters", layer_rasters, expected) from None
    if len(rasters) != n_layers:
        raise ParameterError("layer_rasters", f"{len(rasters)} rasters",
                             f"expected one per layer ({n_layers}: {', '.join(lay.name for lay in spec.layers)})")
    n_samples, _, n_bins = inputs.shape
    checked = []
    for k, (layer, raster) in enumerate(zip(spec.layers, rasters)):
        field = f"layer_rasters[{k}]"
        array = _check_raster(field, raster, int(layer.n_neurons))
        if array.shape[0] != n_samples or array.shape[2] != n_bins:
            raise ParameterError(field, raster, f"shape {array.shape} ({layer.name}) does not match the input's "
                                                f"n_samples = {n_samples} and n_bins = {n_bins}")
        checked.append(array)

    presynaptic = [inputs] + checked[:-1]
    fan_out = [np.count_nonzero(np.asarray(weight, dtype=float), axis=1).astype(np.int64)
               for weight in spec.weights]
    per_projection = np.zeros((n_layers, n_samples), dtype=np.int64)
    for k, (pre, fan) in enumerate(zip(presynaptic, fan_out)):
        counts = pre.sum(axis=2, dtype=np.int64)  # [n_samples, n_pre]
        per_projection[k] = counts @ fan
    total = per_projection.sum(axis=0)
    return {"per_projection": per_projection, "total": total, "mean": float(np.mean(total)) if n_samples else 0.0,
            "mean_per_projection": per_projection.mean(axis=1) if n_samples else np.zeros(n_layers),
            "fan_out": fan_out, "projections": _projection_names(spec)}


def dense_macs(spec, n_steps: int = 1) -> int:
    r"""Multiply-accumulates of a non-spiking (ANN) network of the same layer sizes, per inference.

    .. math::

        \mathrm{MACs} = n_\mathrm{steps} \sum_k n_{\mathrm{pre},k}\, n_{\mathrm{post},k} ,

    every weight of every projection used once per pass, zero weights included (a dense ANN).

    The intended comparison is the usual one (Rueckauer et al. 2017, Front. Neurosci. 11:682; Sengupta et al.
    2019, Front. Neurosci. 13:95): the SNN's accumulates over the whole presentation
    (:func:`synaptic_operations`) against the MACs of **one** forward pass of an ANN with the same
    architecture, hence the default ``n_steps = 1``. ``n_steps > 1`` gives an ANN evaluated once per time
    step (e.g. ``n_steps = n_bins``), which is a different, much more favourable-to-the-SNN baseline and
    must be stated as such. Biases and activation functions are not counted.

    Parameters
    ----------
    spec : NetworkSpec
        The network; only its sizes ``spec.n_inputs`` and ``layers[k].n_neurons`` are used.
    n_steps : int, optional
        Number of forward passes, ``>= 1``. Default 1.

    Returns
    -------
    int
        Number of multiply-accumulates (count, dimensionless).

    Raises
    ------
    ParameterError
        If ``n_steps`` is not a positive integer.
    """
    steps = checks.integer("n_steps", n_steps, reason="must be an integer count")
    if steps < 1:
        raise ParameterError("n_steps", n_steps, "must be a positive number of forward passes")
    sizes = [int(spec.n_inputs)] + [int(layer.n_neurons) for layer in spec.layers]
    return steps * sum(n_pre * n_post for n_pre, n_post in zip(sizes[:-1], sizes[1:]))


def _check_nonnegative(field: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(field, value, "must be a number or an array of numbers") from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ParameterError(field, value, "must be finite and >= 0")
    return arr


def _check_energy(field: str, value) -> float:
    if np.ndim(value) != 0:
        raise ParameterError(field, value, "must be a single energy per operation, in J")
    return float(_check_nonnegative(field, value))


def _scalar_or_array(arr: np.ndarray):
    return float(arr) if arr.ndim == 0 else arr


def energy_per_inference(synops, macs, *, e_ac: float = ENERGY_PER_OPERATION["ac"]["value"],
                         e_mac: float = ENERGY_PER_OPERATION["mac"]["value"], neuron_updates=0,
                         e_update: float = 0.0) -> dict:
    r"""Energy per inference of the SNN and of the ANN, and their ratio.

    .. math::

        E_\mathrm{SNN} = \mathrm{SynOps}\, E_\mathrm{AC} + N_\mathrm{update}\, E_\mathrm{update}, \qquad
        E_\mathrm{ANN} = \mathrm{MACs}\, E_\mathrm{MAC} .

    The defaults are those of :data:`ENERGY_PER_OPERATION`: :math:`E_\mathrm{AC}` = 0.9 pJ (32-bit float add)
    and :math:`E_\mathrm{MAC}` = 4.6 pJ (32-bit float multiply 3.7 pJ + add 0.9 pJ), Horowitz (2014), ISSCC,
    45 nm CMOS, as in e.g. Rathi & Roy (2021), IEEE TNNLS. By default only synaptic (arithmetic) energy is
    reported. Digital neuromorphic hardware also pays for every neuron state update (leak, threshold test,
    reset); pass their number as ``neuron_updates`` (e.g. ``n_neurons * n_bins`` per sample for clock-driven
    updates, or the number of spikes received for event-driven ones) and the energy of one as ``e_update``
    to include it. Memory access and data movement are not modelled, so the figures are a lower bound that
    favours the sparse SNN; state this when reporting them.

    Parameters
    ----------
    synops : float or array_like
        Synaptic operations of the SNN per inference (e.g. ``synaptic_operations(...)["mean"]`` or
        ``["total"]`` for one value per sample), ``>= 0``.
    macs : float or array_like
        Multiply-accumulates of the ANN per inference (e.g. :func:`dense_macs`), ``> 0``.
    e_ac : float, optional
        Energy of one accumulate, in J. Default 0.9e-12.
    e_mac : float, optional
        Energy of one multiply-accumulate, in J. Default 4.6e-12.
    neuron_updates : float or array_like, optional
        Neuron state updates of the SNN per inference, ``>= 0``. Default 0.
    e_update : float, optional
        Energy of one neuron state update, in J. Default 0.0.

    Returns
    -------
    dict
        ``"snn_synaptic_J"``, ``"snn_update_J"``, ``"snn_J"`` (their sum) and ``"ann_J"``: energies in J;
        ``"snn_over_ann"``: :math:`E_\mathrm{SNN}/E_\mathrm{ANN}` (below 1: the SNN is cheaper);
        ``"ann_over_snn"``: its inverse, the efficiency gain usually quoted (``inf`` for a silent SNN);
        ``"e_ac"``, ``"e_mac"``, ``"e_update"``: the per-operation energies used, in J.
        Values are floats for scalar inputs and arrays (broadcast) otherwise.

    Raises
    ------
    ParameterError
        If a count or energy is negative or not finite, or ``macs`` or ``e_mac`` is 0.

    Examples
    --------
    >>> out = energy_per_inference(1000, 500)
    >>> round(out["snn_J"] * 1e12, 6), round(out["ann_J"] * 1e12, 6), round(out["ann_over_snn"], 4)
    (900.0, 2300.0, 2.5556)
    """
    ops = _check_nonnegative("synops", synops)
    ann_ops = _check_nonnegative("macs", macs)
    updates = _check_nonnegative("neuron_updates", neuron_updates)
    ac = _check_energy("e_ac", e_ac)
    mac = _check_energy("e_mac", e_mac)
    upd = _check_energy("e_update", e_update)
    try:
        np.broadcast_shapes(ops.shape, ann_ops.shape, updates.shape)
    except ValueError:
        raise ParameterError("neuron_updates" if updates.ndim else "macs", neuron_updates if updates.ndim else macs,
                             f"shapes of synops {ops.shape}, macs {ann_ops.shape} and neuron_updates "
                             f"{updates.shape} do not broadcast") from None
    if np.any(ann_ops == 0):
        raise ParameterError("macs", macs, "must be > 0 (the ANN reference needs at least one operation)")
    if mac == 0:
        raise ParameterError("e_mac", e_mac, "must be > 0")
    synaptic = ops * ac
    update = updates * upd
    snn = synaptic + update
    ann = ann_ops * mac
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(snn > 0, ann / np.where(snn > 0, snn, 1.0), np.inf)
    return {"snn_synaptic_J": _scalar_or_array(np.asarray(synaptic)),
            "snn_update_J": _scalar_or_array(np.asarray(update)),
            "snn_J": _scalar_or_array(np.asarray(snn)), "ann_J": _scalar_or_array(np.asarray(ann)),
            "snn_over_ann": _scalar_or_array(np.asarray(snn / ann)),
            "ann_over_snn": _scalar_or_array(np.asarray(gain)),
            "e_ac": ac, "e_mac": mac, "e_update": upd}


def energy_report(spec, spiketrains, layer_rasters) -> dict:
    """Synaptic operations and energy per inference of the simulated network against a same-size ANN: the
    ``energy`` entry of a run's ``metrics.json``.

    See :func:`synaptic_operations`, :func:`dense_macs` and :func:`energy_per_inference` (per-operation energies
    and their source in :data:`ENERGY_PER_OPERATION`).

    Parameters
    ----------
    spec : NetworkSpec
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
        The input of every sample.
    layer_rasters : list of bool ndarray [n_samples, n_neurons, n_bins]
        The spikes of every layer, output last.
    """
    synops = synaptic_operations(spec, spiketrains, layer_rasters)
    macs = dense_macs(spec)
    joules = energy_per_inference(synops["mean"], macs)
    return {"synops_per_inference": float(synops["mean"]),
            "synops_per_projection": [float(v) for v in synops["mean_per_projection"]],
            "ann_macs_per_inference": int(macs), "snn_joules": float(joules["snn_J"]),
            "ann_joules": float(joules["ann_J"]), "snn_over_ann": float(joules["snn_over_ann"]),
            "per_operation": {key: ENERGY_PER_OPERATION[key] for key in ("ac", "mac")}}
