"""Errors raised at brainlz's API edge.

Every error names the offending field and its value, so that a user sees one clear line instead of a
traceback from deep inside Brian2 or numpy.
"""

from __future__ import annotations

__all__ = ["BrainlzError", "ParameterError", "DataError", "ModelError", "ProtocolError", "SimulationError",
           "UnsupportedError"]


class BrainlzError(Exception):
    """Base class of every error brainlz raises on purpose."""


class ParameterError(BrainlzError, ValueError):
    """A parameter has a bad value.

    Parameters
    ----------
    field : str
        Name of the offending field, e.g. ``"rate"`` or ``"hidden.tau_m"``.
    value : object
        The value that was given.
    reason : str
        What was expected instead.
    """

    def __init__(self, field: str, value, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{_one_line(field)} = {_short(value)}: {_one_line(reason)}")

    def __reduce__(self):  # picklable (a sweep worker process passes it back to the parent)
        return type(self), (self.field, self.value, self.reason)


def _one_line(text) -> str:
    """``text`` with line breaks escaped (a field may name a user's key, e.g. an option ``"a\\nb"``)."""
    return "".join(repr(c)[1:-1] if c in _LINE_BREAKS else c for c in str(text))


#: The characters ``str.splitlines`` breaks lines at.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _short(value) -> str:
    """A one-line description of ``value``: arrays by shape (and unit), long reprs truncated."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "size", 1) > 4:
        dim = getattr(value, "dim", None)
        unit = f" in {dim}" if dim is not None and str(dim) != "1" else ""
        return f"<array of shape {tuple(shape)}{unit}>"
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


class DataError(BrainlzError, ValueError):
    """A data set or array is malformed (shape, dtype, labels)."""


class ModelError(BrainlzError):
    """A neuron model cannot be found or is malformed."""


class ProtocolError(BrainlzError):
    """A protocol file cannot be loaded or is malformed."""


class SimulationError(BrainlzError):
    """A simulation went wrong in a way its inputs explain, e.g. state variables that became NaN or infinite."""


class UnsupportedError(BrainlzError):
    """A simulator cannot translate features the network or the caller uses (one line: each feature, what uses
    it and what to use instead).  Each side-environment backend has its own subclass naming its ``simulator``.

    Attributes
    ----------
    blockers : list of (feature, part, alternative)
        ``feature`` is a key of the backend's table of exclusions, ``part`` names what uses it.
    """

    simulator = "the simulator"

    def __init__(self, blockers: list):
        self.blockers = list(blockers)
        parts = [f"{feature} ({part}; use instead: {alternative})" for feature, part, alternative in self.blockers]
        super().__init__(f"{self.simulator} cannot translate: " + "; ".join(parts))

    def __reduce__(self):  # picklable with its blockers (a sweep worker process passes it back to the parent)
        return type(self), (self.blockers,)
