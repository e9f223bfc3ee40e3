"""Sweeps: a grid of protocols over seeds and other axes, run with resume, summarised over seeds.

A sweep file defines ``SWEEP = Sweep(...)`` instead of ``PROTOCOL = Protocol(...)``::

    from brainlz.protocol import Protocol
    from brainlz.sweep import Sweep

    SWEEP = Sweep(
        name="intrinsic_vs_fixed",
        base=Protocol(name="base", task="rate", learning={"rule": "surrogate", "epochs": 5}),
        axes={
            "task": ["rate", "burst"],                                   # sets Protocol.task
            "intrinsic": {"fixed": {"learning.learn": ["weights"]},      # a variant axis: label -> changes
                          "learnable": {"learning.learn": ["weights", "tau_m"]}},
            "seed": [0, 1, 2],                                           # the replication axis (required)
        },
        paired=("intrinsic", "learnable", "fixed"),
    )

``brainlz run file.py --out results`` loads it (:func:`load_experiment`), runs every cell (:func:`run_sweep`) and
writes ``results/<sweep name>/``:

``cells/<cell id>/``
    one complete run directory of :func:`brainlz.protocol.run_protocol` per cell, e.g.
    ``cells/task=rate,intrinsic=fixed,seed=0/``;
``summary.json``, ``summary.md``
    rewritten (atomically) after every cell: per combination of the non-seed axes the number of finished seeds
    and the mean test accuracy with its 95 % confidence interval over seeds; with ``paired`` the mean paired
    difference in percentage points with its 95 % confidence interval; per cell its id, directory, accuracy and
    learning summary.

Running the same sweep again resumes it: a cell whose run directory holds ``metrics.json`` is not run again (a run
directory is assembled under a temporary name and renamed into place at its end, so an interrupted cell leaves no
directory).  A finished cell whose recorded protocol differs from the sweep's cell protocol is an error rather
than a silently reused result.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import itertools
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks
from .errors import ParameterError, ProtocolError
from . import interrupts
from .files import check_folder, make_staging, write_json, write_text
from .protocol import Protocol, execute_experiment_file, jsonable, resolve_experiment_file, run_protocol

__all__ = ["run", "Sweep", "Cell", "SweepResult", "SEED_AXIS", "load_experiment", "run_sweep", "summarize_sweep",
           "summary_table"]

#: Name of the replication axis every sweep must have.
SEED_AXIS = "seed"

#: Protocol fields that hold a dict; ``"<field>.<key>"`` axis names set one key of them.
_DICT_FIELDS = tuple(f.name for f in dataclasses.fields(Protocol) if f.default_factory is dict)
_FIELDS = tuple(f.name for f in dataclasses.fields(Protocol))
_CONFIDENCE = 0.95
_MAX_ID = 120


@dataclass(frozen=True)
class Cell:
    """One point of a sweep's grid.

    Parameters
    ----------
    id : str
        Directory name of the cell, ``axis=label`` joined by commas in axis order, sanitised for file systems.
    labels : dict of str to str
        The label of every axis at this cell, in axis order.
    protocol : Protocol
        The cell's protocol: the sweep's base with the changes of every axis applied.
    """

    id: str
    labels: dict
    protocol: Protocol

    @property
    def seed(self) -> int:
        """The cell's master seed."""
        return self.protocol.seed


def _label(value) -> str:
    """A short, deterministic text label of an axis value."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "+".join(_label(v) for v in value) or "none"
    if isinstance(value, dict):
        return "+".join(f"{k}-{_label(v)}" for k, v in value.items()) or "none"
    return "".join(str(value).split())


def _sanitise(text: str) -> str:
    """A file-system-safe directory name: letters, digits and ``. _ = , + -`` only, no leading dot, at most
    :data:`_MAX_ID` characters (longer names are cut and end in a hash of the full name)."""
    safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if len(safe) > _MAX_ID:
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        safe = safe[:_MAX_ID - 11] + "~" + digest
    return safe


def _check_key(axis: str, key, where: str) -> str:
    """Validate a change key (a Protocol field or ``<dict field>.<key>``); return it."""
    if not isinstance(key, str) or not key:
        raise ParameterError(where, key, "expected a Protocol field name or '<field>.<key>'")
    head, dot, tail = key.partition(".")
    if dot:
        if head not in _DICT_FIELDS or not tail:
            raise ParameterError(where, key, f"a dotted name must be '<field>.<key>' with <field> one of "
                                             f"{_DICT_FIELDS}")
        return key
    if key not in _FIELDS:
        raise ParameterError(where, key, f"not a Protocol field; fields: {', '.join(_FIELDS)}")
    if key == SEED_AXIS and axis != SEED_AXIS:
        raise ParameterError(where, key, f"the seed is set only by the {SEED_AXIS!r} axis")
    return key


def _apply(base: Protocol, changes) -> Protocol:
    """``base`` with ``changes`` (pairs of key, value) applied: whole fields first, then dotted keys merged into
    their dict field (so ``{"learning": {...}}`` and ``"learning.epochs"`` from two axes combine)."""
    fields = {}
    dotted = []
    for key, value in changes:
        if "." in key:
            dotted.append((key, value))
        else:
            fields[key] = copy.deepcopy(value)
    for key, value in dotted:
        head, _, tail = key.partition(".")
        merged = dict(fields.get(head, getattr(base, head)) or {})
        merged[tail] = copy.deepcopy(value)
        fields[head] = merged
    return base.replace(**fields) if fields else base


def _check_model(protocol: Protocol):
    from .models import load_model

    load_model(protocol.model, **protocol.model_options)


@dataclass(frozen=True)
class Sweep:
    """A grid of protocols: a base protocol, axes of changes, and the seeds to replicate every point over.

    Parameters
    ----------
    name : str
        Identifier; the results go to ``<out>/<name>/``.  Letters, digits and ``- _ .``.
    base : Protocol
        The protocol every cell starts from.
    axes : dict
        Axis name -> values, in the order that defines the grid (the cartesian product, last axis fastest).

        * a *list* of values sets the Protocol field named like the axis to each value (``"task": ["rate",
          "burst"]``); a dotted name ``"learning.epochs"`` sets that key of the dict field ``learning`` (merged into
          ``base.learning``; likewise for ``task_options``, ``model_options``, ``backend_options``);
        * a *dict* label -> dict of changes is a *variant axis*: each label applies its changes, whose keys are
          Protocol field names or dotted names (``{"fixed": {"learning.learn": ["weights"]}}``);
        * the axis named ``"seed"`` (:data:`SEED_AXIS`) is the replication axis and is required: a list of
          distinct master seeds (integers >= 0).  No other axis may set the seed.

        Whole fields are applied before dotted keys, so an axis that sets ``learning`` and another that sets
        ``learning.epochs`` combine; two axes may not set the same key.
    paired : tuple of (str, str, str), optional
        ``(axis, label_a, label_b)``: also report the accuracy of ``label_a`` minus that of ``label_b`` on that
        axis, paired by seed within every combination of the other axes.  Labels are those of the cell ids (a
        list axis' label is its value written as text, e.g. ``"0.5"``); the values themselves are accepted too.
    description : str
        One paragraph shown in the summary.
    extra_metrics : tuple of str
        Further per-cell numbers summarised like the accuracy (mean and 95 % t-interval over seeds, paired
        differences): dotted paths into each cell's ``metrics.json``, e.g.
        ``"twin_vs_brian2.brian2_accuracy_test"``.  Names containing ``accuracy`` are shown in %.

    Raises
    ------
    ParameterError
        At construction, for a malformed axis or ``paired``, and for a value that makes a bad cell protocol (or
        names an unknown model), naming the axis as ``sweep.axes.<axis>`` (``sweep.axes.<axis>.<label>`` for
        variant axes) with the value and the protocol field's own complaint.

    Attributes
    ----------
    cells : tuple of Cell
        Every cell of the grid, validated, in grid order.
    """

    name: str
    base: Protocol
    axes: dict
    paired: tuple | None = None
    description: str = ""
    extra_metrics: tuple = ()

    def __post_init__(self):
        if isinstance(self.extra_metrics, str) or not all(
                isinstance(m, str) and re.fullmatch(r"\w+(\.\w+)*", m) for m in self.extra_metrics):
            raise ParameterError("sweep.extra_metrics", self.extra_metrics,
                                 "expected a tuple of dotted paths into metrics.json, e.g. ('activity.output_rate_hz',)")
        object.__setattr__(self, "extra_metrics", tuple(self.extra_metrics))
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_." for c in self.name) \
                or self.name.startswith("."):
            raise ParameterError("sweep.name", self.name, "expected a non-empty name of letters, digits, - _ .")
        if not isinstance(self.base, Protocol):
            raise ParameterError("sweep.base", self.base, "expected a brainlz Protocol")
        if not isinstance(self.description, str):
            raise ParameterError("sweep.description", self.description, "expected a string")
        if not isinstance(self.axes, dict) or not self.axes:
            raise ParameterError("sweep.axes", self.axes, "expected a dict axis name -> list of values or "
                                                          "dict label -> changes")
        if SEED_AXIS not in self.axes:
            raise ParameterError("sweep.axes", sorted(self.axes, key=str),
                                 f"a {SEED_AXIS!r} axis (list of master seeds) is required")
        # per axis: [(label, [(key, value), ...])]
        options = {axis: self._axis_options(axis, values) for axis, values in self.axes.items()}
        self._check_conflicts(options)
        cells = []
        seen = {}
        models = set()
        for combination in itertools.product(*[[(axis, label, changes) for label, changes in entries]
                                               for axis, entries in options.items()]):
            labels = {axis: label for axis, label, _ in combination}
            cell_id = _sanitise(",".join(f"{axis}={label}" for axis, label in labels.items()))
            if cell_id in seen:
                raise ParameterError("sweep.axes", f"{seen[cell_id]} and {labels}",
                                     f"two cells get the same directory name {cell_id!r}; use distinct labels")
            seen[cell_id] = labels
            try:
                protocol = _apply(self.base, [change for _, _, changes in combination for change in changes])
                model_key = (protocol.model, repr(sorted(protocol.model_options.items())))
                if model_key not in models:
                    _check_model(protocol)  # an unknown model fails here, not when the cell runs
                    models.add(model_key)
            except ParameterError as exc:
                raise self._attribute(exc, combination, cell_id) from None
            cells.append(Cell(cell_id, labels, protocol))
        object.__setattr__(self, "_cells", tuple(cells))
        object.__setattr__(self, "_paired", self._check_paired(options))

    # ------------------------------------------------------------------ validation helpers
    def _axis_options(self, axis, values) -> list:
        where = f"sweep.axes.{axis}"
        if not isinstance(axis, str) or not axis or "," in axis or "=" in axis:
            raise ParameterError("sweep.axes", axis, "axis names must be non-empty strings without ',' and '='")
        if axis == SEED_AXIS:
            if not isinstance(values, (list, tuple)) or not values:
                raise ParameterError(where, values, "expected a non-empty list of master seeds (integers >= 0)")
            for seed in values:
                checks.seed(where, seed)
            if len(set(int(s) for s in values)) != len(values):
                raise ParameterError(where, values, "seeds must be distinct")
            return [(str(int(seed)), [(SEED_AXIS, int(seed))]) for seed in values]
        if isinstance(values, dict):
            if not values:
                raise ParameterError(where, values, "a variant axis needs at least one label")
            entries = []
            for label, changes in values.items():
                if not isinstance(label, str) or not label or "," in label:
                    raise ParameterError(where, label, "variant labels must be non-empty strings without ','")
                if not isinstance(changes, dict):
                    raise ParameterError(f"{where}.{label}", changes, "expected a dict of changes "
                                                                      "(field or 'learning.<key>' -> value)")
                entries.append((label, [(_check_key(axis, key, f"{where}.{label}"), value)
                                        for key, value in changes.items()]))
            return entries
        if isinstance(values, (list, tuple)):
            if not values:
                raise ParameterError(where, values, "expected at least one value")
            key = _check_key(axis, axis, "sweep.axes")
            entries = [(_label(value), [(key, value)]) for value in values]
            labels = [label for label, _ in entries]
            if len(set(labels)) != len(labels):
                raise ParameterError(where, values, f"values must have distinct labels, got {labels}")
            return entries
        raise ParameterError(where, values, "expected a list of values or a dict label -> dict of changes")

    @staticmethod
    def _check_conflicts(options):
        owner = {}
        for axis, entries in options.items():
            for key in {key for _, changes in entries for key, _ in changes}:
                if key in owner and owner[key] != axis:
                    raise ParameterError(f"sweep.axes.{axis}", key, f"is also set by axis {owner[key]!r}")
                owner[key] = axis

    def _attribute(self, exc: ParameterError, combination, cell_id: str) -> ParameterError:
        """Re-word a cell protocol's ParameterError to name the axis (and label) whose value caused it."""
        for axis, label, changes in combination:
            for key, item in changes:
                head = key.partition(".")[0]
                names = [f"protocol.{key}", key] + (["model options"] if key == "model_options" else [])
                if any(exc.field == n or exc.field.startswith(n + ".") for n in names) or \
                        ("." in key and exc.field == f"protocol.{head}"):
                    where = f"sweep.axes.{axis}.{label}.{key}" if isinstance(self.axes[axis], dict) \
                        else f"sweep.axes.{axis}"
                    return ParameterError(where, item, f"{exc.reason} ({exc.field}, cell {cell_id})")
        return ParameterError(f"sweep.cells.{cell_id}", exc.value, f"{exc.reason} ({exc.field})")

    def _check_paired(self, options):
        if self.paired is None:
            return None
        if not isinstance(self.paired, (list, tuple)) or len(self.paired) != 3:
            raise ParameterError("sweep.paired", self.paired, "expected (axis, label_a, label_b)")
        axis, a, b = self.paired
        if axis == SEED_AXIS or axis not in options:
            raise ParameterError("sweep.paired", self.paired,
                                 f"the axis must be one of the non-seed axes {self.group_axes}")
        labels = [label for label, _ in options[axis]]
        resolved = []
        for item in (a, b):  # a label, or a value of a list axis (written as its label)
            if _label(item) not in labels:
                raise ParameterError("sweep.paired", item, f"not a label of axis {axis!r}; labels: {labels}")
            resolved.append(_label(item))
        if resolved[0] == resolved[1]:
            raise ParameterError("sweep.paired", self.paired, "label_a and label_b must differ")
        return (axis, resolved[0], resolved[1])

    # ------------------------------------------------------------------ access
    @property
    def cells(self) -> tuple:
        """Every :class:`Cell` in grid order (cartesian product of the axes, the last axis varying fastest)."""
        return self._cells

    @property
    def group_axes(self) -> tuple:
        """The non-seed axes, in axis order."""
        return tuple(axis for axis in self.axes if axis != SEED_AXIS)

    @property
    def seeds(self) -> tuple:
        """The master seeds of the seed axis."""
        return tuple(int(s) for s in self.axes[SEED_AXIS])

    @property
    def paired_labels(self):
        """``(axis, label_a, label_b)`` with the labels resolved, or None."""
        return self._paired

    def axis_labels(self, axis: str) -> list:
        """Labels of one axis, in order."""
        seen = []
        for cell in self._cells:
            if cell.labels[axis] not in seen:
                seen.append(cell.labels[axis])
        return seen

    def cell(self, cell_id: str) -> Cell:
        """The cell with id ``cell_id``."""
        for cell in self._cells:
            if cell.id == cell_id:
                return cell
        raise ParameterError("cell", cell_id, "no such cell in the sweep")

    def with_base(self, **changes) -> "Sweep":
        """A copy whose base protocol has some fields changed (e.g. ``backend``), revalidated.

        Raises
        ------
        ParameterError
            If an axis sets one of the changed fields (the axis would override it per cell).
        """
        for key in changes:
            for axis, values in self.axes.items():
                keys = [axis] if not isinstance(values, dict) else [k for c in values.values() for k in c]
                if any(k == key or k.startswith(f"{key}.") for k in keys):
                    raise ParameterError(f"sweep.base.{key}", changes[key], f"axis {axis!r} sets {key} per cell")
        return dataclasses.replace(self, base=self.base.replace(**changes))

    def to_dict(self) -> dict:
        """JSON-serialisable description (base protocol, axes with labels, seeds, paired)."""
        return {"name": self.name, "description": self.description, "base": self.base.to_dict(),
                "axes": {axis: jsonable(values) for axis, values in self.axes.items()},
                "labels": {axis: self.axis_labels(axis) for axis in self.axes},
                "paired": list(self._paired) if self._paired else None, "n_cells": len(self._cells),
                "extra_metrics": list(self.extra_metrics)}


def load_experiment(path):
    """Load ``SWEEP`` or ``PROTOCOL`` from a file (``SWEEP`` wins when a file defines both).

    ``path`` may also be the name of a built-in protocol, e.g. ``"quickstart"`` (see
    :func:`brainlz.protocol.resolve_experiment_file`).

    Returns
    -------
    Sweep or Protocol

    Raises
    ------
    ProtocolError
        If the file is missing, does not parse, fails while executing, defines neither, or defines something else
        under either name.
    ParameterError
        If the protocol or sweep has a bad value.
    """
    path = resolve_experiment_file(path)
    namespace = execute_experiment_file(path)
    sweep = namespace.get("SWEEP")
    if sweep is not None:
        if not isinstance(sweep, Sweep):
            raise ProtocolError(f"{path}: SWEEP is a {type(sweep).__name__}, expected a brainlz Sweep")
        return sweep
    protocol = namespace.get("PROTOCOL")
    if protocol is None:
        raise ProtocolError(f"{path} defines no PROTOCOL or SWEEP (expected PROTOCOL = Protocol(...) or "
                            f"SWEEP = Sweep(...))")
    if not isinstance(protocol, Protocol):
        raise ProtocolError(f"{path}: PROTOCOL is a {type(protocol).__name__}, expected a brainlz Protocol")
    return protocol


@dataclass
class SweepResult:
    """What :func:`run_sweep` produced.

    Attributes
    ----------
    directory : Path
        ``<out>/<sweep name>``.
    summary : dict
        The content of ``summary.json``.
    table : str
        The markdown summary (the body of ``summary.md``).
    ran : list of str
        Ids of the cells run by this call.
    skipped : list of str
        Ids of the selected cells that were finished already (resumed) and not run again.
    tasks : dict
        Per cell run by this call: ``status`` (``"written"`` by the process that ran it, ``"files"`` returned and
        written by this one, ``"present"`` found finished by another run), ``seconds``, ``builds`` (compiled
        programs its process built for it), ``worker`` (the Dask worker's name, None in this process) and
        ``cache`` (that process' cache of compiled programs).
    """

    directory: Path
    summary: dict
    table: str
    ran: list
    skipped: list
    tasks: dict = dataclasses.field(default_factory=dict)


def _sweep_dir(sweep: Sweep, out) -> Path:
    return Path(out if out is not None else "results") / sweep.name


def _is_complete(directory: Path) -> bool:
    return (directory / "metrics.json").is_file()


def _comparable(protocol_dict: dict) -> dict:
    comparable = {k: v for k, v in json.loads(json.dumps(protocol_dict)).items() if k != "description"}
    if "dt_ms" in comparable:  # recorded before the protocol's time step became a Brian2 time (``dt``)
        from brian2 import ms

        comparable["dt"] = str(comparable.pop("dt_ms") * ms)
    return comparable


def _check_recorded(sweep: Sweep, cell: Cell, directory: Path):
    """Raise if a finished cell was run with a protocol other than the cell's (e.g. the sweep file changed)."""
    try:
        recorded = json.loads((directory / "config.json").read_text())["protocol"]
    except (OSError, ValueError, KeyError):
        return  # no provenance to compare; trust the directory name
    expected = _comparable(cell.protocol.to_dict())
    recorded = _comparable(recorded)
    for key in sorted(set(expected) | set(recorded)):
        if expected.get(key) != recorded.get(key):
            raise ProtocolError(f"sweep {sweep.name}: cell {cell.id} in {directory} was run with {key} = "
                                f"{recorded.get(key)!r}, the sweep now asks for {expected.get(key)!r}; use another "
                                f"--out or sweep name, or delete the cell directory to rerun it")


def _select(sweep: Sweep, only) -> list:
    if only is None:
        return list(sweep.cells)
    if isinstance(only, dict):
        for axis, wanted in only.items():
            if axis not in sweep.axes:
                raise ParameterError("only", axis, f"no such axis; axes: {list(sweep.axes)}")
            wanted = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            unknown = [w for w in wanted if _label(w) not in sweep.axis_labels(axis)]
            if unknown:
                raise ParameterError(f"only.{axis}", unknown, f"labels of axis {axis!r}: {sweep.axis_labels(axis)}")
        sets = {axis: {_label(w) for w in (v if isinstance(v, (list, tuple, set)) else [v])}
                for axis, v in only.items()}
        return [cell for cell in sweep.cells if all(cell.labels[a] in labels for a, labels in sets.items())]
    if isinstance(only, str):
        only = [only]
    ids = list(only)
    known = {cell.id for cell in sweep.cells}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ParameterError("only", unknown, "not cell ids of the sweep")
    return [cell for cell in sweep.cells if cell.id in set(ids)]


def _clip01(interval):
    """An accuracy interval clipped to [0, 1] (a t-interval over few seeds can cross 100 %)."""
    return None if interval is None else [max(0.0, interval[0]), min(1.0, interval[1])]


def summarize_sweep(sweep: Sweep, out="results") -> dict:
    """Summarise the finished cells of a sweep from their run directories on disk.

    The accuracy of a cell is its ``metrics.json`` ``"accuracy"``: the test accuracy (a fraction in [0, 1]) of the
    LZC readout on that seed's held-out test split.

    Per combination of the non-seed axes (``rows``): the finished seeds, their accuracies and their mean with the
    95 % Student-t confidence interval over seeds (:func:`brainlz.metrics.mean_ci`: mean +- t_{n-1} s / sqrt(n),
    s the sample standard deviation with ddof 1).  The interval describes the spread over seeds (data, weights,
    split and simulation all change with the master seed), not the binomial uncertainty of one test set; it needs
    at least 2 finished seeds (``null`` otherwise), assumes roughly normal, independent per-seed accuracies and is
    clipped to [0, 1].

    With ``sweep.paired = (axis, a, b)``, per combination of the axes other than ``axis`` and the seed
    (``paired_differences``): the per-seed differences ``accuracy(a) - accuracy(b)`` in percentage points over the
    seeds where both cells finished, their mean and the 95 % Student-t interval of the paired differences
    (:func:`brainlz.metrics.paired_difference_ci`, the interval of a paired t-test; it excludes 0 when ``a`` and
    ``b`` differ at the 5 % level).

    Parameters
    ----------
    sweep : Sweep
    out : path
        Results root; the sweep lives in ``<out>/<sweep.name>/``.

    Returns
    -------
    dict
        ``sweep`` (:meth:`Sweep.to_dict`), ``updated_utc``, ``confidence``, ``n_cells``, ``n_finished``, ``rows``,
        ``paired_differences`` (empty without ``paired``) and ``cells`` (per cell: ``id``, ``labels``, ``seed``,
        ``directory`` relative to the sweep directory, ``finished``, ``accuracy`` and, if recorded, ``learning``).
        Accuracies are fractions; differences (keys ending in ``_pp``) are percentage points.
    """
    from .metrics import mean_ci, paired_difference_ci

    root = _sweep_dir(sweep, out)
    cells = []
    accuracy = {}
    extra = {}
    for cell in sweep.cells:
        directory = root / "cells" / cell.id
        entry = {"id": cell.id, "labels": dict(cell.labels), "seed": cell.seed,
                 "directory": str(Path("cells") / cell.id), "finished": False, "accuracy": None}
        state = _cell_state(directory)
        if state not in ("finished", "missing"):
            entry["broken"] = state
        if state == "finished":
            metrics = json.loads((directory / "metrics.json").read_text())
            entry["finished"] = True
            entry["accuracy"] = float(metrics["accuracy"])
            accuracy[cell.id] = entry["accuracy"]
            if "learning" in metrics:
                entry["learning"] = metrics["learning"]
            if "twin_vs_brian2" in metrics:
                entry["twin_vs_brian2"] = metrics["twin_vs_brian2"]
            entry["extra"] = {name: _lookup(metrics, name) for name in sweep.extra_metrics}
            extra[cell.id] = entry["extra"]
        cells.append(entry)

    def interval(values, function, *args):
        if len(values) < 2:
            return None
        _, low, high = function(*args)
        return [low, high]

    groups = {}
    for cell in sweep.cells:
        key = tuple(cell.labels[a] for a in sweep.group_axes)
        groups.setdefault(key, []).append(cell)
    rows = []
    for key, members in groups.items():
        done = [c for c in members if c.id in accuracy]
        values = [accuracy[c.id] for c in done]
        rows.append({"labels": dict(zip(sweep.group_axes, key)), "n_seeds": len(done),
                     "n_seeds_total": len(members), "seeds": [c.seed for c in done], "accuracies": values,
                     "accuracy_mean": float(np.mean(values)) if values else None,
                     "accuracy_ci95": _clip01(interval(values, mean_ci, values, _CONFIDENCE)),
                     "extra": {name: _extra_row(name, [extra[c.id][name] for c in done], interval, mean_ci)
                               for name in sweep.extra_metrics}})

    paired = []
    if sweep.paired_labels is not None:
        axis, a, b = sweep.paired_labels
        other = tuple(x for x in sweep.group_axes if x != axis)
        by_group = {}
        for cell in sweep.cells:
            group = tuple(cell.labels[x] for x in other)
            by_group.setdefault(group, {}).setdefault(cell.seed, {})[cell.labels[axis]] = cell
        for group, per_seed in by_group.items():
            seeds, values_a, values_b = [], [], []
            for seed, by_label in per_seed.items():
                cell_a, cell_b = by_label.get(a), by_label.get(b)
                if cell_a is not None and cell_b is not None and cell_a.id in accuracy and cell_b.id in accuracy:
                    seeds.append(seed)
                    values_a.append(100.0 * accuracy[cell_a.id])
                    values_b.append(100.0 * accuracy[cell_b.id])
            differences = [x - y for x, y in zip(values_a, values_b)]
            extra_pairs = {}
            for name in sweep.extra_metrics:
                pairs = [(extra[by_label[a].id][name], extra[by_label[b].id][name]) for seed, by_label in
                         per_seed.items() if seed in seeds]
                pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
                xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
                extra_pairs[name] = {"n_pairs": len(pairs),
                                     "difference": float(np.mean(np.subtract(xs, ys))) if pairs else None,
                                     "difference_ci95": interval(pairs, paired_difference_ci, xs, ys, _CONFIDENCE)}
            paired.append({"labels": dict(zip(other, group)), "axis": axis, "a": a, "b": b, "n_pairs": len(seeds),
                           "seeds": seeds, "differences_pp": differences,
                           "difference_pp": float(np.mean(differences)) if differences else None,
                           "difference_ci95_pp": interval(differences, paired_difference_ci, values_a, values_b,
                                                          _CONFIDENCE),
                           "extra": extra_pairs})
    return {"sweep": sweep.to_dict(), "updated_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "confidence": _CONFIDENCE, "n_cells": len(sweep.cells), "n_finished": len(accuracy), "rows": rows,
            "paired_differences": paired, "cells": cells}


def _lookup(metrics: dict, path: str):
    """The number at a dotted path of a metrics dict (None where absent or not a number)."""
    value = metrics
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _extra_row(name, values, interval, mean_ci) -> dict:
    values = [v for v in values if v is not None]
    ci = interval(values, mean_ci, values, _CONFIDENCE)
    return {"n": len(values), "values": values, "mean": float(np.mean(values)) if values else None,
            "ci95": _clip01(ci) if "accuracy" in name else ci}


def _format(name: str, value, signed=False) -> str:
    if value is None:
        return "–"
    scale = 100.0 if "accuracy" in name else 1.0
    return f"{scale * value:+.1f}" if signed else f"{scale * value:.1f}" if scale != 1.0 else f"{value:.4g}"


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def summary_table(summary: dict) -> str:
    """The markdown tables of a sweep summary (:func:`summarize_sweep`): accuracy per row, paired differences."""
    sweep = summary["sweep"]
    axes = [a for a in sweep["axes"] if a != SEED_AXIS]
    lines = [f"{summary['n_finished']}/{summary['n_cells']} cells finished. Test accuracy of the LZC readout in %, "
             f"mean over seeds with its 95 % Student-t confidence interval (needs 2 or more seeds; clipped to 0-100 %).", ""]
    lines.append("| " + " | ".join(axes + ["seeds", "test accuracy (%), mean (95 % CI)"]) + " |")
    lines.append("|" + "---|" * (len(axes) + 2))
    for row in summary["rows"]:
        ci = row["accuracy_ci95"]
        value = _percent(row["accuracy_mean"])
        if ci is not None:
            value += f" ({_percent(ci[0])} to {_percent(ci[1])})"
        cells = [row["labels"][a] for a in axes] + [f"{row['n_seeds']}/{row['n_seeds_total']}", value]
        lines.append("| " + " | ".join(cells) + " |")
    if summary["paired_differences"]:
        first = summary["paired_differences"][0]
        axis, a, b = first["axis"], first["a"], first["b"]
        other = [x for x in axes if x != axis]
        lines += ["", f"Paired difference {axis} = {a} minus {axis} = {b}, same seed and other axes, in percentage "
                      f"points: mean over seeds with the 95 % Student-t interval of the paired differences.", ""]
        lines.append("| " + " | ".join(other + ["pairs", f"{a} − {b} (pp, 95 % CI)"]) + " |")
        lines.append("|" + "---|" * (len(other) + 2))
        for entry in summary["paired_differences"]:
            value = "–" if entry["difference_pp"] is None else f"{entry['difference_pp']:+.1f}"
            ci = entry["difference_ci95_pp"]
            if ci is not None:
                value += f" ({ci[0]:+.1f} to {ci[1]:+.1f})"
            lines.append("| " + " | ".join([entry["labels"][x] for x in other] + [str(entry["n_pairs"]), value])
                         + " |")
    for name in sweep.get("extra_metrics", []):
        unit = " (%)" if "accuracy" in name else ""
        lines += ["", f"`{name}`{unit}: mean over seeds (95 % Student-t interval)"
                      + ("; paired difference with its interval." if summary["paired_differences"] else "."), ""]
        header = axes + ["n", "mean (95 % CI)"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in summary["rows"]:
            entry = row["extra"][name]
            value = _format(name, entry["mean"])
            if entry["ci95"] is not None:
                value += f" ({_format(name, entry['ci95'][0])} to {_format(name, entry['ci95'][1])})"
            lines.append("| " + " | ".join([row["labels"][a] for a in axes] + [str(entry["n"]), value]) + " |")
        if summary["paired_differences"]:
            first = summary["paired_differences"][0]
            other = [x for x in axes if x != first["axis"]]
            lines += ["", "| " + " | ".join(other + ["pairs", f"{first['a']} − {first['b']}"]) + " |",
                      "|" + "---|" * (len(other) + 2)]
            for entry in summary["paired_differences"]:
                pair = entry["extra"][name]
                value = _format(name, pair["difference"], signed=True)
                if pair["difference_ci95"] is not None:
                    value += (f" ({_format(name, pair['difference_ci95'][0], True)} to "
                              f"{_format(name, pair['difference_ci95'][1], True)})")
                lines.append("| " + " | ".join([entry["labels"][x] for x in other] + [str(pair["n_pairs"]), value])
                             + " |")
    return "\n".join(lines) + "\n"


def _write_summary(sweep: Sweep, out) -> tuple:
    root = _sweep_dir(sweep, out)
    summary = summarize_sweep(sweep, out)
    table = summary_table(summary)
    write_json(root / "summary.json", jsonable(summary))
    heading = f"# Sweep {sweep.name}\n\n" + (f"{sweep.description}\n\n" if sweep.description else "")
    write_text(root / "summary.md", heading + table)
    return summary, table


def run(experiment, out="results", **options):
    """Run a :class:`~brainlz.protocol.Protocol` or a :class:`Sweep` (or the file of either, or the name of a
    built-in protocol such as ``"quickstart"``) into ``out``.

    The library's form of ``brainlz run FILE``: a protocol goes to :func:`brainlz.protocol.run_protocol` and
    returns its ``RunResult``, a sweep to :func:`run_sweep` and returns its ``SweepResult``; ``options`` are
    theirs (``progress``, ``figures``; for sweeps also ``only``, ``workers``, ``scheduler``, ``cluster``...).
    """
    source = None
    if isinstance(experiment, (str, os.PathLike)):
        source = resolve_experiment_file(experiment)  # a path, or the name of a built-in protocol
        experiment = load_experiment(source)
    if isinstance(experiment, Sweep):
        return run_sweep(experiment, out, sweep_file=source, **options)
    if isinstance(experiment, Protocol):
        return run_protocol(experiment, out, protocol_file=source, **options)
    raise ParameterError("experiment", type(experiment).__name__, "expected a Protocol, a Sweep or a file path")


def run_sweep(sweep: Sweep, out="results", *, sweep_file=None, progress: bool = True, figures: bool = True,
              only=None, workers: int = 1, scheduler=None, cluster=None, cluster_options=None, write_on="auto",
              rerun_broken: bool = False) -> SweepResult:
    """Run every cell of a sweep that has not finished yet, and write the summary after each.

    Parameters
    ----------
    sweep : Sweep
    out : path
        Results root; cells go to ``<out>/<sweep.name>/cells/<cell id>/`` (complete run directories of
        :func:`brainlz.protocol.run_protocol`), the summary to ``<out>/<sweep.name>/summary.json`` and
        ``summary.md``.
    sweep_file : path, optional
        The file the sweep came from (recorded as each cell's ``protocol_file``).
    progress : bool
        Print a line per finished or failed cell on stderr (cells done, failed and left, the time left at the pace
        so far) and, with one worker, the simulation progress bar.
    figures : bool
        Render each cell's figures.
    only : dict or iterable of str, optional
        Run only some cells: a dict axis -> label (or list of labels), or cell ids.  The summary still covers
        every finished cell.
    workers : int
        Cells run at once.  1 (the default, with no ``scheduler`` or ``cluster``): one after another in this
        process, no cluster started.  More: each cell is one task of a ``dask.distributed.LocalCluster`` of
        ``workers`` processes with one thread each (:mod:`brainlz.cluster`).  With ``cluster``: the number of
        batch jobs (one worker each).
    scheduler : str or distributed.Client, optional
        Run the cells on an existing Dask cluster: its scheduler's address (``tcp://host:8786``) or a client.
    cluster : {"slurm", "pbs", "sge"}, optional
        Start ``workers`` workers as jobs of a batch system (dask-jobqueue, the ``cluster`` extra);
        ``cluster_options`` are the dask-jobqueue cluster's keyword arguments (``walltime``, ``queue``, ...).
    write_on : {"auto", "worker", "client"}
        Who writes a cell's directory.  ``"auto"``: the worker, where it sees this run's output folder (the same
        file system: it reads this run's token in the sweep folder's lock file), else the client, from the files the
        worker returns; ``"client"``: always the client.  Either way a cell's directory is assembled under a
        temporary name (``.<cell id>.<8 characters>``) beside its final place and renamed into it, once.
    rerun_broken : bool
        Delete and rerun the selected cells whose directory has no readable ``metrics.json`` (otherwise they are
        reported, left as they are, and the call ends with an error naming them after the other cells ran).

    A worker keeps its compiled standalone programs in a cache of its own (``<cache>/sweep-workers/<k>``, see
    :mod:`brainlz.cluster`); a cell's result does not depend on the process that ran it (its seeds are the
    cell's).  A cell that fails, or whose worker died more often than Dask's ``distributed.scheduler.allowed-failures``
    (a worker that dies mid-cell has its cell rerun on another), is reported and the other cells go on; the first
    failure is raised at the end.  Ctrl+C (KeyboardInterrupt) stops the LocalCluster's workers and everything they
    started at once, and removes what the running cells had begun to write.  One run at a time writes a sweep
    folder: a second one refuses to start (the lock file ``.brainlz-run.lock``); the staging folders that killed
    runs left behind are removed when the next run starts.

    Returns
    -------
    SweepResult

    Raises
    ------
    ProtocolError
        Before anything runs, if a finished cell was run with a different protocol or another run is writing the
        sweep folder; at the end, if a cell is broken (and not rerun).
    ParameterError
        For a bad ``only``, ``workers``, ``scheduler``, ``cluster`` or ``write_on``.
    """
    workers = checks.integer("workers", workers, low=1, reason="a positive whole number of worker processes")
    checks.one_of("write_on", write_on, ("auto", "worker", "client"), reason="expected 'auto', 'worker' or 'client'")
    checks.flag("rerun_broken", rerun_broken, reason="expected True or False")
    if scheduler is not None and cluster is not None:
        raise ParameterError("cluster", cluster, "give a scheduler address or a cluster to start, not both")
    if scheduler is not None and workers != 1:
        raise ParameterError("workers", workers, "the cluster at the scheduler address has its own workers")
    if scheduler is not None and not isinstance(scheduler, str) and type(scheduler).__name__ != "Client":
        raise ParameterError("scheduler", scheduler, "expected a Dask scheduler address such as tcp://host:8786")
    if cluster is not None:
        from .cluster import CLUSTERS

        if cluster not in CLUSTERS:
            raise ParameterError("cluster", cluster, f"expected one of {', '.join(CLUSTERS)}")
    distributed_run = workers > 1 or scheduler is not None or cluster is not None
    root = _sweep_dir(sweep, out)
    check_folder("out", root)  # before anything runs, not after the first cell
    cells_dir = root / "cells"
    selected = _select(sweep, only)
    if distributed_run:
        for cell in selected:
            if "directory" in cell.protocol.backend_options:
                raise ParameterError("workers", workers, f"cell {cell.id} sets backend_options.directory: worker "
                                                         f"processes would share it; leave it unset (each worker "
                                                         f"then has its own) or use workers=1")
    engine = None
    if scheduler is not None:  # an unreachable scheduler is refused before anything is written
        from .cluster import connect

        engine = connect(scheduler=scheduler)
    try:
        lock = _RunLock(root, sweep.name)
        try:
            return _run_locked(sweep, out, root, cells_dir, selected, lock, sweep_file=sweep_file,
                               progress=progress, figures=figures, workers=int(workers), engine=engine,
                               cluster=cluster, cluster_options=cluster_options, write_on=write_on,
                               rerun_broken=rerun_broken, distributed_run=distributed_run)
        finally:
            lock.release()
    finally:
        if engine is not None:
            engine.stop()


def _run_locked(sweep, out, root, cells_dir, selected, lock, *, sweep_file, progress, figures, workers, engine,
                cluster, cluster_options, write_on, rerun_broken, distributed_run) -> SweepResult:
    import shutil

    for cell in sweep.cells:  # what killed cells left behind: no other run writes here now
        _remove_staging(cells_dir, cell.id)
    selected_ids = {cell.id for cell in selected}
    todo, skipped, broken = [], [], []
    for cell in sweep.cells:
        directory = cells_dir / cell.id
        state = _cell_state(directory)
        if state == "finished":
            _check_recorded(sweep, cell, directory)
            if cell.id in selected_ids:
                skipped.append(cell.id)
        elif state == "missing":
            if cell.id in selected_ids:
                todo.append(cell)
        elif rerun_broken and cell.id in selected_ids:
            shutil.rmtree(directory)
            todo.append(cell)
        else:
            broken.append((cell.id, state))
            sys.stderr.write(f"sweep {sweep.name}: cell {cell.id} is broken ({state}); not counted; "
                             f"--rerun-broken (rerun_broken=True) reruns it\n")
    cells_dir.mkdir(parents=True, exist_ok=True)
    _write_summary(sweep, out)
    if progress and skipped:
        sys.stderr.write(f"sweep {sweep.name}: {len(skipped)} of {len(selected)} cells finished before, "
                         f"{len(todo)} to run\n")
    jobs = [{"cell_id": cell.id, "protocol": cell.protocol, "sweep_file": None if sweep_file is None else str(sweep_file),
             "figures": figures, "cells_dir": str(cells_dir), "lock": str(lock.path), "token": lock.token,
             "write_on": write_on, "progress": progress and not distributed_run} for cell in todo]
    report = _Report(sweep.name, len(todo), progress)
    tasks, failures = {}, []
    if todo and distributed_run:
        _run_on_dask(sweep, out, jobs, cells_dir, report, tasks, failures, workers=workers, engine=engine,
                     cluster=cluster, cluster_options=cluster_options)
    elif todo:
        _run_here(sweep, out, jobs, cells_dir, report, tasks, failures)
    summary, table = _write_summary(sweep, out)
    order = {cell.id: k for k, cell in enumerate(sweep.cells)}
    ran = sorted(tasks, key=order.__getitem__)
    if failures:
        sys.stderr.write(f"sweep {sweep.name}: {len(failures)} of {len(todo)} cells failed: "
                         + "; ".join(f"{cell_id} ({_one_line(exc)})" for cell_id, exc in failures) + "\n")
        raise failures[0][1]
    if broken:
        raise ProtocolError(f"sweep {sweep.name}: {len(broken)} broken cell{'s' * (len(broken) > 1)} not counted: "
                            + "; ".join(f"{cell_id} ({reason})" for cell_id, reason in broken)
                            + "; delete or rerun with --rerun-broken (rerun_broken=True)")
    return SweepResult(root, summary, table, ran, skipped, tasks)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _cell_state(directory: Path) -> str:
    """``"missing"``, ``"finished"`` or why the cell directory is broken (no or a corrupt ``metrics.json``)."""
    if not directory.exists():
        return "missing"
    path = directory / "metrics.json"
    if not path.is_file():
        return "its directory holds no metrics.json"
    try:
        metrics = json.loads(path.read_text())
        float(metrics["accuracy"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return f"metrics.json is corrupt: {_one_line(exc)}"
    return "finished"


class _RunLock:
    """The sweep folder's lock file ``.brainlz-run.lock`` (``flock``): one run at a time writes a sweep's cells.

    The holder writes a token into it; a worker that reads the same token sees this run's output folder.
    """

    def __init__(self, root: Path, name: str):
        import fcntl
        import secrets
        import socket

        root.mkdir(parents=True, exist_ok=True)
        self.path = root / ".brainlz-run.lock"
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            try:
                holder = json.loads(self.file.read())
                who = f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
            except (ValueError, KeyError, TypeError):
                who = "holding its lock file"
            self.file.close()
            raise ProtocolError(f"sweep {name}: another run is writing {root} ({who}); wait for it to finish or "
                                f"use another --out") from None
        self.token = secrets.token_hex(16)
        self.file.seek(0)
        self.file.truncate()
        self.file.write(json.dumps({"token": self.token, "pid": os.getpid(), "host": socket.gethostname(),
                                    "since": datetime.datetime.now().isoformat(timespec="seconds")}))
        self.file.flush()

    def release(self):
        import fcntl

        if not self.file.closed:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()


def _sees_output(job) -> bool:
    """Whether this process sees the client's output folder (reads the client's token in its lock file)."""
    try:
        return json.loads(Path(job["lock"]).read_text()).get("token") == job["token"]
    except (OSError, ValueError, AttributeError):
        return False


def _build_count() -> int:
    from .backends import standalone
    from .learning import tempotron

    return standalone.build_count() + tempotron.build_count()


_CELL_LOCK = threading.Lock()  # one cell at a time per process, whatever its Dask threads


def _run_cell(job) -> dict:
    """One cell: the body of a Dask task (or of the loop in this process with one worker).

    Where this process sees the output folder, the cell is written into place (assembled under a temporary name
    and renamed, by :func:`brainlz.protocol.run_protocol`), unless it is there already (then nothing is written);
    elsewhere it is run into a temporary folder and its files are returned for the client to write.  Returns
    ``{"status": "written" | "present" | "files", "files": {path: bytes} or None, "seconds", "started_at" and
    "finished_at" (Unix time, s), "builds" (compiled programs built for this cell), "worker", "cache"}``.
    """
    import tempfile

    from .cluster import worker_cache

    with _CELL_LOCK:
        worker = _worker_name()
        if worker is not None:
            from .cluster import prepare_worker

            prepare_worker()
        builds = _build_count()
        started, started_at = time.perf_counter(), time.time()
        final = Path(job["cells_dir"]) / job["cell_id"]
        files = None
        options = dict(protocol_file=job["sweep_file"], progress=job["progress"], figures=job["figures"])
        if job["write_on"] != "client" and _sees_output(job):
            status = "written"
            if _is_complete(final):
                status = "present"
            else:
                try:
                    run_protocol(job["protocol"], directory=final, **options)
                except (OSError, ProtocolError):
                    if not _is_complete(final):
                        raise
                    status = "present"  # another writer put it there first
        else:
            status = "files"
            with tempfile.TemporaryDirectory(prefix="brainlz-cell-") as scratch:
                place = Path(scratch) / job["cell_id"]
                run_protocol(job["protocol"], directory=place, **options)
                files = {str(p.relative_to(place)): p.read_bytes() for p in sorted(place.rglob("*")) if p.is_file()}
        cache = worker_cache() or os.environ.get("BRAINLZ_CACHE")
        return {"status": status, "files": files, "seconds": time.perf_counter() - started,
                "started_at": started_at, "finished_at": time.time(), "builds": _build_count() - builds,
                "worker": worker, "cache": None if cache is None else str(cache)}


def _worker_name():
    """The name of the Dask worker running this code, or None outside one."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        return str(get_worker().name)
    except ValueError:
        return None


def _write_cell_files(cells_dir: Path, cell_id: str, files: dict) -> bool:
    """Write a cell's files (returned by a worker that does not see the output folder) under a temporary name and
    rename it into place; False (nothing written) if the cell is there already."""
    import shutil

    final = cells_dir / cell_id
    if _is_complete(final):
        return False
    staging = None
    try:
        with interrupts.deferred():
            staging = make_staging(cells_dir, f".{cell_id}.")
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        with interrupts.deferred():
            os.rename(staging, final)
    except BaseException:
        with interrupts.deferred():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        if isinstance(sys.exc_info()[1], OSError) and _is_complete(final):
            return False
        raise
    return True


class _Report:
    """Progress lines on stderr: per finished or failed cell, the cells done, failed and left and the time left at
    the pace so far."""

    def __init__(self, name: str, total: int, enabled: bool):
        self.name, self.total, self.enabled = name, total, enabled
        self.done = self.failed = 0
        self.started = time.perf_counter()

    def line(self, text: str):
        if self.enabled:
            sys.stderr.write(f"sweep {self.name}: {text}\n")
            sys.stderr.flush()

    def finished(self, cell_id: str, seconds=None, where=None, error=None):
        if error is None:
            self.done += 1
            what = f"cell {cell_id} done" + (f" in {seconds:.0f} s" if seconds is not None else "") \
                + (f" on worker {where}" if where is not None else "")
        else:
            self.failed += 1
            what = f"cell {cell_id} FAILED ({_one_line(error)})"
        left = self.total - self.done - self.failed
        pace = _time_left(time.perf_counter() - self.started, self.done + self.failed, left)
        self.line(f"{what}; {self.done} done, {self.failed} failed, {left} left" + (f", {pace}" if pace else ""))


def _time_left(elapsed: float, finished: int, remaining: int) -> str:
    """``"about 12 min left at this pace"``: the remaining cells at the pace of the finished ones (wall-clock seconds
    per finished cell, so parallel workers count); ``""`` before the first or after the last."""
    if finished < 1 or remaining < 1:
        return ""
    seconds = elapsed / finished * remaining
    minutes = seconds / 60.0
    pace = f"about {seconds:.0f} s" if seconds < 60 else f"about {minutes:.0f} min" if minutes < 90 \
        else f"about {minutes / 60.0:.1f} h"
    return f"{pace} left at this pace"


def _run_here(sweep, out, jobs, cells_dir, report, tasks, failures):
    """The cells one after another in this process (one worker, no cluster)."""
    for k, job in enumerate(jobs, start=1):
        interrupts.check()  # a Ctrl+C that ended the previous cell, or that Python dropped
        report.line(f"cell {k}/{len(jobs)} {job['cell_id']} running in this process")
        try:
            outcome = _run_cell(job)
        except Exception as exc:
            failures.append((job["cell_id"], exc))
            report.finished(job["cell_id"], error=exc)
            continue
        finally:
            _remove_staging(cells_dir, job["cell_id"])
        outcome.pop("files", None)
        tasks[job["cell_id"]] = outcome
        _write_summary(sweep, out)
        report.finished(job["cell_id"], outcome["seconds"])


def _run_on_dask(sweep, out, jobs, cells_dir, report, tasks, failures, *, workers, engine, cluster,
                 cluster_options):
    """Every cell one task of a Dask cluster (``engine``, or one :func:`brainlz.cluster.connect` starts); the
    summary after each cell."""
    import secrets

    from .cluster import WorkerSetup, connect

    import contextlib

    futures = {}
    owned = engine is None
    if owned:
        engine = connect(workers=workers, cluster=cluster, cluster_options=cluster_options)
    try:
        from distributed import as_completed

        engine.client.register_plugin(WorkerSetup(own_group=engine.local))
        dashboard = engine.dashboard
        report.line(f"{len(jobs)} cells on {engine.description}" + (f"; dashboard {dashboard}" if dashboard else ""))
        run = secrets.token_hex(4)
        futures = {engine.client.submit(_run_cell, job, key=f"brainlz-cell-{run}-{job['cell_id']}", pure=False):
                   job["cell_id"] for job in jobs}
        for future in as_completed(futures, loop=engine.client.loop):
            cell_id = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:
                if type(exc).__name__ == "KilledWorker":
                    exc = ProtocolError(f"cell {cell_id}: the workers running it died (Dask gave up after "
                                        f"distributed.scheduler.allowed-failures = "
                                        f"{_allowed_failures()} reruns)")
                failures.append((cell_id, exc))
                _remove_staging(cells_dir, cell_id)  # of an attempt whose worker died
                report.finished(cell_id, error=exc)
                continue
            if outcome["status"] == "files":
                if not _write_cell_files(cells_dir, cell_id, outcome["files"]):
                    outcome["status"] = "present"
            outcome.pop("files", None)
            _remove_staging(cells_dir, cell_id)  # of an attempt whose worker died
            tasks[cell_id] = outcome
            _write_summary(sweep, out)
            report.finished(cell_id, outcome["seconds"], outcome["worker"])
    except BaseException:
        with contextlib.suppress(Exception):  # queued cells do not start; running ones are stopped below
            engine.client.cancel(list(futures))
        engine.stop(now=True)
        for job in jobs:
            _remove_staging(cells_dir, job["cell_id"])
        raise
    if owned:
        engine.stop()


def _allowed_failures():
    import dask

    return dask.config.get("distributed.scheduler.allowed-failures")


def _remove_staging(cells_dir: Path, cell_id: str):
    """Remove the temporary directories (``.<cell id>.<8 characters>``, see :func:`brainlz.protocol.run_protocol`)
    that an interrupted cell left in ``cells_dir``."""
    import glob
    import shutil

    for staging in cells_dir.glob(f".{glob.escape(cell_id)}.????????"):
        shutil.rmtree(staging, ignore_errors=True)
