"""brainlz.checks: each validator returns the normalised value or raises ParameterError naming field and value."""

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from brian2 import Hz, Quantity, ms, mV, second

from brainlz import checks
from brainlz.errors import ParameterError


def rejects(call, field, value, reason=None):
    """Run ``call``; it must raise ParameterError for ``field`` and ``value`` (and ``reason`` if given)."""
    with pytest.raises(ParameterError) as info:
        call()
    error = info.value
    assert error.field == field
    assert error.value is value
    assert str(error).startswith(f"{field} = {' '.join(repr(value).split())}: ")
    if reason is not None:
        assert error.reason == reason
    return error


# ---------------------------------------------------------------------------------------------------------------
# integer


@pytest.mark.parametrize("value", [0, 1, 7, np.int64(3), np.uint8(2), np.int32(-4), 10**30])
def test_integer_accepts_ints_and_returns_a_python_int(value):
    out = checks.integer("n", value)
    assert type(out) is int and out == value


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, 2.5, np.float64(3.0), "3", None, [1],
                                   np.array(3), Fraction(2, 1)])
def test_integer_rejects_other_types(value):
    rejects(lambda: checks.integer("n", value), "n", value, "expected an integer")


@pytest.mark.parametrize(
    "value, low, high, reason",
    [(0, 1, None, "expected an integer >= 1"), (-1, 0, None, "expected an integer >= 0"),
     (np.int64(1), 2, None, "expected an integer >= 2"), (11, None, 10, "expected an integer <= 10"),
     (11, 1, 10, "expected an integer in [1, 10]"), (0, 1, 10, "expected an integer in [1, 10]")],
)
def test_integer_bounds_are_inclusive_and_named(value, low, high, reason):
    rejects(lambda: checks.integer("n_bins", value, low, high), "n_bins", value, reason)
    assert checks.integer("n_bins", low if low is not None else high, low, high) == (low if low is not None else high)


def test_integer_reason_replaces_every_message():
    for value in (0, 1.5, True):
        rejects(lambda: checks.integer("threads", value, low=1, reason="expected a positive integer"), "threads",
                value, "expected a positive integer")


# ---------------------------------------------------------------------------------------------------------------
# real


@pytest.mark.parametrize("value", [0, 1, 0.5, np.float32(0.25), np.float64(1.0), np.int16(1)])
def test_real_accepts_numbers_and_returns_a_float(value):
    out = checks.real("x", value, 0, 1)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), "0.5", None, [0.5], np.array(0.5), Fraction(1, 2),
                                   complex(0.5, 0)])
def test_real_rejects_other_types(value):
    rejects(lambda: checks.real("x", value, 0, 1), "x", value, "expected a number in [0, 1]")


@pytest.mark.parametrize(
    "value, kwargs, reason",
    [
        (1.5, dict(low=0.0, high=1.0), "expected a number in [0, 1]"),
        (-0.1, dict(low=0.0, high=1.0), "expected a number in [0, 1]"),
        (0.0, dict(low=0.0, high=1.0, low_open=True), "expected a number in (0, 1]"),
        (1.0, dict(low=0.0, high=1.0, high_open=True), "expected a number in [0, 1)"),
        (1.0, dict(low=0.0, high=1.0, low_open=True, high_open=True), "expected a number in (0, 1)"),
        (2e6, dict(low=-1e6, high=1e6), "expected a number in [-1e+06, 1e+06]"),
        (0, dict(low=0, low_open=True), "expected a number > 0"),
        (-1, dict(low=0), "expected a number >= 0"),
        (2, dict(high=1), "expected a number <= 1"),
        (1, dict(high=1, high_open=True), "expected a number < 1"),
        (math.nan, dict(low=0.0, high=1.0), "expected a number in [0, 1]"),
        (math.inf, dict(low=0), "expected a number >= 0"),
        (-math.inf, {}, "expected a finite number"),
        (np.float64("nan"), {}, "expected a finite number"),
    ],
)
def test_real_bounds_and_finiteness(value, kwargs, reason):
    rejects(lambda: checks.real("x", value, **kwargs), "x", value, reason)


def test_real_closed_bounds_are_included():
    assert checks.real("x", 0, 0, 1) == 0.0 and checks.real("x", 1, 0, 1) == 1.0
    assert checks.real("x", 2, low=2) == 2.0 and checks.real("x", -5.0) == -5.0


def test_real_rejects_a_quantity_with_units_and_takes_a_narrower_set_of_types():
    value = 3 * mV
    rejects(lambda: checks.real("order", value, 0.0, 1.0), "order", value,
            "expected a plain number in [0, 1], not a quantity")
    rejects(lambda: checks.real("order", value), "order", value, "expected a plain number, not a quantity")
    dimensionless = Quantity(3.0)
    rejects(lambda: checks.real("order", dimensionless), "order", dimensionless, "expected a finite number")
    value = np.float32(2.0)
    rejects(lambda: checks.real("slope", value, low=0, low_open=True, types=(int, float),
                                reason="expected a positive number"), "slope", value, "expected a positive number")
    assert checks.real("slope", np.float64(2.0), types=(int, float)) == 2.0  # np.float64 is a float


def test_real_reason_replaces_every_message():
    reason = "must be a finite number >= 2"
    for value in (1, "2", math.nan, True, 2 * Hz):
        rejects(lambda: checks.real("alpha", value, low=2, reason=reason), "alpha", value, reason)


# ---------------------------------------------------------------------------------------------------------------
# flag, seed, callable_or_none, one_of


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_flag_accepts_booleans(value):
    out = checks.flag("normalize", value)
    assert type(out) is bool and out == bool(value)


@pytest.mark.parametrize("value", [0, 1, "yes", "True", None, np.array([True]), 1.0])
def test_flag_rejects_everything_else(value):
    rejects(lambda: checks.flag("normalize", value), "normalize", value, "must be True or False")


@pytest.mark.parametrize("value", [0, 5, np.int64(7), np.uint32(2**31)])
def test_seed_accepts_non_negative_integers(value):
    out = checks.seed("seed", value)
    assert type(out) is int and out == value
    assert checks.seed("seed", value, generator=True) == value


@pytest.mark.parametrize("value", [-1, np.int8(-3), True, 1.0, "0", None])
def test_seed_rejects_others(value):
    rejects(lambda: checks.seed("seed", value), "seed", value, "expected an integer >= 0")
    rejects(lambda: checks.seed("seed", value, generator=True), "seed", value,
            "expected an int >= 0 or a numpy.random.Generator")


def test_seed_generator_only_where_allowed():
    rng = np.random.default_rng(1)
    assert checks.seed("seed", rng, generator=True) is rng
    rejects(lambda: checks.seed("seed", rng), "seed", rng, "expected an integer >= 0")
    legacy = np.random.RandomState(0)
    rejects(lambda: checks.seed("seed", legacy, generator=True), "seed", legacy)


@pytest.mark.parametrize("value", [None, print, len, lambda: 0, type])
def test_callable_or_none_accepts_callables_and_none(value):
    assert checks.callable_or_none("callback", value) is value


@pytest.mark.parametrize("value", [0, "print", [print], True])
def test_callable_or_none_rejects_others(value):
    rejects(lambda: checks.callable_or_none("callback", value), "callback", value, "expected a callable or None")
    rejects(lambda: checks.callable_or_none("callback", value, reason="expected a callable"), "callback", value,
            "expected a callable")


@pytest.mark.parametrize("value", ["rate", "digits", np.str_("burst")])
def test_one_of_accepts_members(value):
    assert checks.one_of("task", value, ("rate", "burst", "digits")) is value


@pytest.mark.parametrize("value", ["Rate", "", None, 1, ["rate"], np.array(["rate"]), {"rate": 1}])
def test_one_of_rejects_others(value):
    choices = ("rate", "burst")
    rejects(lambda: checks.one_of("task", value, choices), "task", value, "expected one of ('rate', 'burst')")
    rejects(lambda: checks.one_of("task", value, {"rate", "burst"}, reason="unknown task"), "task", value,
            "unknown task")


# ---------------------------------------------------------------------------------------------------------------
# confidence


@pytest.mark.parametrize("value", [0.95, 0.5, np.float32(0.8), "0.9", 1e-9])
def test_confidence_accepts_levels_strictly_between_0_and_1(value):
    out = checks.confidence("confidence", value)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, reason", [
    (0.0, "must be strictly between 0 and 1, e.g. 0.95"), (1.0, "must be strictly between 0 and 1, e.g. 0.95"),
    (95, "must be strictly between 0 and 1, e.g. 0.95"), (math.nan, "must be strictly between 0 and 1, e.g. 0.95"),
    (True, "must be strictly between 0 and 1, e.g. 0.95"), ("high", "must be a number strictly between 0 and 1"),
    (None, "must be a number strictly between 0 and 1"),
])
def test_confidence_rejects_others(value, reason):
    rejects(lambda: checks.confidence("confidence", value), "confidence", value, reason)


# ---------------------------------------------------------------------------------------------------------------
# quantity and seconds


def test_quantity_returns_the_magnitude_in_the_unit():
    assert checks.quantity("rate", 20 * Hz, "Hz").tolist() == 20.0
    assert checks.quantity("rate", [10 * Hz, 30 * Hz], "Hz").tolist() == [10.0, 30.0]
    assert checks.quantity("rate", np.array([1.0, 2.0]) * Hz, "Hz").tolist() == [1.0, 2.0]
    assert checks.quantity("dt", (1 * ms, 2 * ms), "s").tolist() == [0.001, 0.002]
    assert checks.quantity("rate", -3 * Hz, "Hz").tolist() == -3.0  # signs are the caller's business


@pytest.mark.parametrize(
    "value, unit, reason",
    [
        (20, "Hz", "expected a quantity in Hz, e.g. 20*Hz"),
        ([10 * Hz, 2 * ms], "Hz", "expected a quantity in Hz, e.g. 20*Hz"),
        ("20 Hz", "Hz", "expected a quantity in Hz, e.g. 20*Hz"),
        (1 * second, "Hz", "expected a quantity in Hz, e.g. 20*Hz (got dimensions s)"),
        (0.001, "s", "expected a quantity in s, e.g. 1*ms"),
        (np.inf * Hz, "Hz", "expected finite values"),
    ],
)
def test_quantity_rejects_plain_numbers_wrong_units_and_non_finite_values(value, unit, reason):
    rejects(lambda: checks.quantity("rate", value, unit), "rate", value, reason)
    rejects(lambda: checks.quantity("rate", value, unit, reason="no"), "rate", value, "no")


@pytest.mark.parametrize("value, expected", [(1 * ms, 0.001), (2 * second, 2.0), (0.5 * ms, 0.0005)])
def test_seconds_returns_float_seconds(value, expected):
    out = checks.seconds("dt", value)
    assert type(out) is float and out == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        (0.001, "expected a quantity in s, e.g. 1*ms"),
        (1 * Hz, "expected a quantity in s, e.g. 1*ms (got dimensions s^-1)"),
        (0 * ms, "expected one positive time, e.g. 1*ms"),
        (-1 * ms, "expected one positive time, e.g. 1*ms"),
        (np.array([1.0, 2.0]) * ms, "expected one positive time, e.g. 1*ms"),
        (np.nan * ms, "expected finite values"),
        (None, "expected a quantity in s, e.g. 1*ms"),
    ],
)
def test_seconds_rejects_others(value, reason):
    error = rejects(lambda: checks.seconds("dt", value), "dt", value, reason)
    assert str(error).startswith("dt = ")
    rejects(lambda: checks.seconds("tau", value, reason="expected one positive, finite time"), "tau", value,
            "expected one positive, finite time")


def test_errors_pickle_and_keep_field_and_value():
    import pickle

    with pytest.raises(ParameterError) as info:
        checks.integer("n_samples", -2, low=0)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.field, again.value, str(again)) == ("n_samples", -2, "n_samples = -2: expected an integer >= 0")


def test_checks_does_not_import_brian2():
    code = ("import sys, numpy as np, brainlz.checks as c; c.real('x', 1.0); c.integer('n', 2); c.flag('f', True); "
            "c.one_of('t', 'a', ('a',)); c.confidence('c', 0.9); print('brian2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_unsupported_feature_errors_pickle_with_their_blockers():
    """A GeNN or CUDA support error raised in a sweep worker reaches the parent whole (it did not unpickle)."""
    import pickle

    from brainlz.backends.cuda import CudaSupportError
    from brainlz.backends.genn import GennSupportError

    blockers = [("summed variables", "layer 'hidden'", "a plain synaptic variable"), ("x", "y", "z")]
    for kind, simulator in ((GennSupportError, "brian2genn"), (CudaSupportError, "brian2cuda")):
        again = pickle.loads(pickle.dumps(kind(blockers)))
        assert type(again) is kind and again.blockers == blockers
        assert str(again) == (f"{simulator} cannot translate: summed variables (layer 'hidden'; use instead: a plain "
                              "synaptic variable); x (y; use instead: z)")
