"""Accuracy and effect sizes with confidence intervals.

Three intervals cover what a brainlz run reports:

* :func:`accuracy_ci` -- the accuracy of one classifier on one test set, with the Wilson score
  interval for a binomial proportion (good coverage for small test sets and for accuracies near 0 or 1,
  where the textbook normal ("Wald") interval collapses to zero width).
* :func:`mean_ci` -- the mean of a quantity over independent repetitions (typically seeds), with a
  Student-t interval.
* :func:`paired_difference_ci` -- the mean difference between two methods evaluated on the same seeds,
  with the Student-t interval of the paired differences.

This module imports neither Brian2 nor scikit-learn.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from scipy import stats

from .errors import ParameterError

__all__ = ["accuracy_ci", "mean_ci", "paired_difference_ci"]


def _check_confidence(confidence) -> float:
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise ParameterError("confidence", confidence, "must be a number strictly between 0 and 1") from None
    if not (0.0 < value < 1.0):
        raise ParameterError("confidence", confidence, "must be strictly between 0 and 1, e.g. 0.95")
    return value


def _check_count(field: str, value) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(field, value, "must be an integer count, not a bool")
    try:
        return operator.index(value)
    except TypeError:
        raise ParameterError(field, value, "must be an integer count") from None


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
    1, which the formula gives analytically. The values agree with
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
    k = _check_count("n_correct", n_correct)
    n = _check_count("n_total", n_total)
    conf = _check_confidence(confidence)
    if n <= 0:
        raise ParameterError("n_total", n_total, "must be a positive number of samples")
    if k < 0:
        raise ParameterError("n_correct", n_correct, "must be >= 0")
    if k > n:
        raise ParameterError("n_correct", n_correct, f"must not exceed n_total = {n}")

    p = k / n
    z = _two_sided_quantile(conf)
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return float(p), float(low), float(high)


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
    conf = _check_confidence(confidence)
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
    conf = _check_confidence(confidence)
    arr_a = _check_values("a", a)
    arr_b = _check_values("b", b)
    if arr_a.shape != arr_b.shape:
        raise ParameterError("b", b, f"must have the same length as a ({arr_a.size}), got {arr_b.size}")
    return _t_interval(arr_a - arr_b, conf)
