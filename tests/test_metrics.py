"""Tests of brainlz.metrics against closed forms and scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from brainlz.errors import ParameterError
from brainlz.metrics import accuracy_ci, mean_ci, paired_difference_ci


def wilson_closed_form(k, n, confidence):
    """Wilson score interval written out independently: the roots in p of (p_hat - p)^2 = z^2 p (1-p) / n."""
    z = stats.norm.isf((1 - confidence) / 2)
    p_hat = k / n
    # quadratic a p^2 + b p + c = 0
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    disc = math.sqrt(max(b * b - 4 * a * c, 0.0))
    return p_hat, (-b - disc) / (2 * a), (-b + disc) / (2 * a)


CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (8, 10), (3, 7), (50, 100), (97, 100), (1, 200), (999, 1000)]


@pytest.mark.parametrize("k,n", CASES)
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_accuracy_ci_matches_closed_form_and_scipy(k, n, confidence):
    acc, low, high = accuracy_ci(k, n, confidence)
    ref_acc, ref_low, ref_high = wilson_closed_form(k, n, confidence)
    assert acc == pytest.approx(ref_acc, abs=1e-15)
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)

    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)
    assert 0.0 <= low <= acc <= high <= 1.0


def test_accuracy_ci_literal_values():
    # 8/10 at 95 %: the textbook Wilson interval (0.4902, 0.9433).
    acc, low, high = accuracy_ci(8, 10)
    assert acc == 0.8
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94332, abs=1e-4)
    # all correct: [n / (n + z^2), 1]
    z = 1.959963984540054
    assert accuracy_ci(20, 20) == pytest.approx((1.0, 20 / (20 + z * z), 1.0), abs=1e-12)
    assert accuracy_ci(0, 20) == pytest.approx((0.0, 0.0, z * z / (20 + z * z)), abs=1e-12)


def test_accuracy_ci_accepts_numpy_integers_and_returns_floats():
    out = accuracy_ci(np.int64(3), np.int32(7))
    assert all(type(v) is float for v in out)
    assert out == accuracy_ci(3, 7)


def test_accuracy_ci_narrower_with_more_samples_and_lower_confidence():
    w = lambda t: t[2] - t[1]  # noqa: E731
    assert w(accuracy_ci(80, 100)) < w(accuracy_ci(8, 10))
    assert w(accuracy_ci(8, 10, 0.9)) < w(accuracy_ci(8, 10, 0.95)) < w(accuracy_ci(8, 10, 0.99))


@pytest.mark.parametrize(
    "args,field",
    [
        ((0, 0), "n_total"),
        ((1, -5), "n_total"),
        ((6, 5), "n_correct"),
        ((-1, 5), "n_correct"),
        ((2.5, 5), "n_correct"),
        ((2, 5.0), "n_total"),
        ((True, 5), "n_correct"),
        ((2, 5, 0.0), "confidence"),
        ((2, 5, 1.0), "confidence"),
        ((2, 5, 95), "confidence"),
        ((2, 5, float("nan")), "confidence"),
        ((2, 5, "high"), "confidence"),
    ],
)
def test_accuracy_ci_bad_inputs(args, field):
    with pytest.raises(ParameterError) as info:
        accuracy_ci(*args)
    assert info.value.field == field
    assert str(info.value).startswith(field)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("n", [2, 3, 10, 50])
def test_mean_ci_matches_scipy_t(n, confidence):
    values = np.random.default_rng(n).normal(0.7, 0.05, size=n)
    mean, low, high = mean_ci(values, confidence)
    ref_low, ref_high = stats.t.interval(confidence, df=n - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean(), abs=1e-15)
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


def test_mean_ci_literal_and_constant():
    # values 1, 2, 3: mean 2, s = 1; for 2 degrees of freedom the t quantile has the closed form
    # t_p = (2p - 1) * sqrt(2 / (4 p (1 - p))), here p = 0.975 (about 4.3027).
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    t = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
    half = t / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half), abs=1e-12)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)


def test_paired_difference_ci_matches_ttest_rel():
    rng = np.random.default_rng(1)
    a = rng.normal(0.8, 0.03, size=8)
    b = a - 0.02 + rng.normal(0, 0.01, size=8)
    diff, low, high = paired_difference_ci(a, b, 0.9)
    ci = stats.ttest_rel(a, b).confidence_interval(confidence_level=0.9)
    assert diff == pytest.approx(np.mean(a - b), abs=1e-15)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)
    # sign convention: a - b
    assert paired_difference_ci(b, a, 0.9) == pytest.approx((-diff, -high, -low), abs=1e-12)


def test_paired_is_narrower_than_unpaired_for_correlated_seeds():
    rng = np.random.default_rng(2)
    seed_effect = rng.normal(0, 0.1, size=10)
    a = 0.8 + seed_effect + rng.normal(0, 0.005, size=10)
    b = 0.75 + seed_effect + rng.normal(0, 0.005, size=10)
    _, low, high = paired_difference_ci(a, b)
    assert low > 0  # the 0.05 advantage is detected despite the large seed-to-seed spread
    _, la, ha = mean_ci(a)
    _, lb, hb = mean_ci(b)
    assert la < hb and lb < ha  # the unpaired intervals overlap


@pytest.mark.parametrize(
    "call,field",
    [
        (lambda: mean_ci([1.0]), "values"),
        (lambda: mean_ci([]), "values"),
        (lambda: mean_ci([[1.0, 2.0], [3.0, 4.0]]), "values"),
        (lambda: mean_ci([1.0, float("nan")]), "values"),
        (lambda: mean_ci(["a", "b"]), "values"),
        (lambda: mean_ci([1.0, 2.0], confidence=1.5), "confidence"),
        (lambda: paired_difference_ci([1.0], [2.0]), "a"),
        (lambda: paired_difference_ci([1.0, 2.0], [2.0]), "b"),
        (lambda: paired_difference_ci([1.0, 2.0], [2.0, 3.0, 4.0]), "b"),
        (lambda: paired_difference_ci([1.0, 2.0], [2.0, 3.0], confidence=0), "confidence"),
    ],
)
def test_mean_ci_bad_inputs(call, field):
    with pytest.raises(ParameterError) as info:
        call()
    assert info.value.field == field
