"""Validators of parameter values, shared by brainlz's modules.

Each function checks one value and returns it normalised (an ``int``, a ``float``, a ``bool``, ...), or raises
:class:`~brainlz.errors.ParameterError` naming the field and the value.  The field comes first, as in
``ParameterError(field, value, reason)``.  Every function has a default reason; the keyword ``reason`` replaces
it for every rejection of that call, for a call site whose message says more (``"expected a positive integer"``,
``"unknown task; known tasks: ..."``).

Booleans are never numbers here: ``True`` is rejected wherever an integer or a real number is expected.

This module imports numpy, and Brian2 only inside :func:`quantity` and :func:`seconds`.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .errors import ParameterError

__all__ = ["INTEGER_TYPES", "NUMBER_TYPES", "integer", "real", "flag", "seed", "callable_or_none", "one_of",
           "confidence", "quantity", "seconds"]

#: Types :func:`integer` and :func:`seed` accept (``bool`` and ``numpy.bool_`` excluded).
INTEGER_TYPES = (int, np.integer)
#: Types :func:`real` accepts by default (``bool`` and ``numpy.bool_`` excluded).
NUMBER_TYPES = (int, float, np.integer, np.floating)


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _reject(field: str, value, reason: str | None, default: str):
    raise ParameterError(field, value, default if reason is None else reason)


def integer(field: str, value, low=None, high=None, *, reason: str | None = None) -> int:
    """An integer in ``[low, high]``.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object
        An ``int`` or numpy integer; ``bool`` is rejected.
    low, high : int, optional
        Inclusive bounds; None (default) for none.
    reason : str, optional
        Reason of the error instead of ``"expected an integer >= {low}"`` (or ``<= {high}``, ``in [low, high]``).

    Returns
    -------
    int
    """
    if _is_bool(value) or not isinstance(value, INTEGER_TYPES) or (low is not None and value < low) or (
        high is not None and value > high
    ):
        if low is not None and high is not None:
            default = f"expected an integer in [{low}, {high}]"
        elif low is not None:
            default = f"expected an integer >= {low}"
        else:
            default = "expected an integer" if high is None else f"expected an integer <= {high}"
        _reject(field, value, reason, default)
    return int(value)


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    """`` in [0, 1)``, `` > 0``, `` <= 1`` or nothing."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def _has_units(value) -> bool:
    """Whether ``value`` is a Brian2 quantity with a physical dimension (Brian2 is not imported for it)."""
    units = sys.modules.get("brian2.units.fundamentalunits")
    return units is not None and isinstance(value, units.Quantity) and not value.is_dimensionless


def real(field: str, value, low=None, high=None, *, low_open: bool = False, high_open: bool = False,
         types: tuple = NUMBER_TYPES, reason: str | None = None) -> float:
    """A finite real number in the interval from ``low`` to ``high``.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object
        An instance of ``types``; ``bool`` is rejected, and so is a Brian2 quantity with units.
    low, high : float, optional
        Bounds; None (default) for none.
    low_open, high_open : bool, optional
        Whether the bound itself is excluded.  Default False (closed).
    types : tuple of type, optional
        Accepted types; default :data:`NUMBER_TYPES` (int, float and numpy's integer and floating types).
    reason : str, optional
        Reason of the error instead of ``"expected a number in [low, high]"`` (``"expected a number > low"``,
        ``"expected a finite number"`` without bounds; ``"expected a plain number ..., not a quantity"`` for a
        quantity with units).

    Returns
    -------
    float
    """
    if _has_units(value):
        interval = _interval(low, high, low_open, high_open)
        _reject(field, value, reason, f"expected a plain number{interval}, not a quantity")
    try:
        number = math.nan if _is_bool(value) or not isinstance(value, types) else float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not math.isfinite(number) or (low is not None and (number < low or (low_open and number == low))) or (
        high is not None and (number > high or (high_open and number == high))
    ):
        interval = _interval(low, high, low_open, high_open)
        _reject(field, value, reason, f"expected a number{interval}" if interval else "expected a finite number")
    return number


def flag(field: str, value, *, reason: str | None = None) -> bool:
    """A boolean: ``True``, ``False`` or a ``numpy.bool_`` (not 0, 1 or a string).

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object
    reason : str, optional
        Reason of the error instead of ``"must be True or False"``.

    Returns
    -------
    bool
    """
    if not _is_bool(value):
        _reject(field, value, reason, "must be True or False")
    return bool(value)


def seed(field: str, value, *, generator: bool = False, reason: str | None = None):
    """A random seed: an integer ``>= 0`` or, with ``generator=True``, a ``numpy.random.Generator``.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object
        An ``int`` or numpy integer ``>= 0`` (not ``bool``), or a Generator where allowed.
    generator : bool, optional
        Accept a ``numpy.random.Generator`` too (returned as it is).  Default False.
    reason : str, optional
        Reason of the error instead of ``"expected an integer >= 0"`` (``"expected an int >= 0 or a
        numpy.random.Generator"`` with ``generator=True``).

    Returns
    -------
    int or numpy.random.Generator
        Either is a valid argument of ``numpy.random.default_rng``.
    """
    if generator and isinstance(value, np.random.Generator):
        return value
    if _is_bool(value) or not isinstance(value, INTEGER_TYPES) or value < 0:
        default = "expected an int >= 0 or a numpy.random.Generator" if generator else "expected an integer >= 0"
        _reject(field, value, reason, default)
    return int(value)


def callable_or_none(field: str, value, *, reason: str | None = None):
    """A callable, or None.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object
    reason : str, optional
        Reason of the error instead of ``"expected a callable or None"``.

    Returns
    -------
    callable or None
        ``value`` itself.
    """
    if value is not None and not callable(value):
        _reject(field, value, reason, "expected a callable or None")
    return value


def one_of(field: str, value, choices, *, reason: str | None = None):
    """One of ``choices`` (compared with ``in``; an array is never one of them).

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object
    choices : tuple or other container
        The accepted values, e.g. a tuple of names.
    reason : str, optional
        Reason of the error instead of ``f"expected one of {choices}"``.

    Returns
    -------
    object
        ``value`` itself.
    """
    try:
        known = not isinstance(value, np.ndarray) and value in choices
    except TypeError:  # an unhashable value and a set or dict of choices
        known = False
    if not known:
        _reject(field, value, reason, f"expected one of {choices}")
    return value


def confidence(field: str, value) -> float:
    """A confidence level strictly between 0 and 1, e.g. 0.95.

    Anything ``float()`` takes is accepted (a number, a numpy scalar, a numeric string); ``NaN`` is rejected.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : object

    Returns
    -------
    float
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(field, value, "must be a number strictly between 0 and 1") from None
    if not 0.0 < number < 1.0:
        raise ParameterError(field, value, "must be strictly between 0 and 1, e.g. 0.95")
    return number


#: Units known to :func:`quantity`, with an example for the error.
_EXAMPLES = {"s": "1*ms", "Hz": "20*Hz"}


def quantity(field: str, value, unit: str, *, reason: str | None = None) -> np.ndarray:
    """The value of a Brian2 quantity in ``unit``, as a finite float array.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : Quantity or list or tuple of Quantity
        A scalar or array quantity, e.g. ``20*Hz`` or ``[10*Hz, 30*Hz]``.
    unit : {"s", "Hz"}
        The unit to express it in; ``value`` must have its dimensions.
    reason : str, optional
        Reason of the error instead of ``"expected a quantity in {unit}, e.g. ..."`` (with the dimensions found,
        when they are wrong) or ``"expected finite values"``.

    Returns
    -------
    numpy.ndarray of float64
        Of the shape of ``value``; 0-d for a scalar.
    """
    from brian2 import Quantity, have_same_dimensions
    from brian2.units import Hz, second

    brian_unit = {"s": second, "Hz": Hz}[unit]
    expected = f"expected a quantity in {unit}, e.g. {_EXAMPLES[unit]}"
    if isinstance(value, (list, tuple)):
        try:
            value = Quantity(value)
        except Exception as exc:  # mixed or malformed entries
            raise ParameterError(field, value, expected if reason is None else reason) from exc
    if not isinstance(value, Quantity):
        _reject(field, value, reason, expected)
    if not have_same_dimensions(value, brian_unit):
        _reject(field, value, reason, f"{expected} (got dimensions {value.dim})")
    magnitude = np.array(value / brian_unit, dtype=float)
    if not np.all(np.isfinite(magnitude)):
        _reject(field, value, reason, "expected finite values")
    return magnitude


def seconds(field: str, value, *, reason: str | None = None) -> float:
    """One positive, finite Brian2 time, in seconds.

    Parameters
    ----------
    field : str
        Name of the parameter, for the error.
    value : Quantity
        A scalar time, e.g. ``1*ms``; a plain number is rejected.
    reason : str, optional
        Reason of every error instead of the defaults of :func:`quantity` and ``"expected one positive time,
        e.g. 1*ms"``.

    Returns
    -------
    float
        ``value`` in seconds.
    """
    magnitude = quantity(field, value, "s", reason=reason)
    if magnitude.ndim != 0 or magnitude <= 0:
        _reject(field, value, reason, "expected one positive time, e.g. 1*ms")
    return float(magnitude)
