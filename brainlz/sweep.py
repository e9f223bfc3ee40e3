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
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks
from .errors import ParameterError, ProtocolError
from .files import write_json, write_text
from .protocol import Protocol, execute_experiment_file, jsonable, run_protocol

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
    path = Path(path)
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
    """

    directory: Path
    summary: dict
    table: str
    ran: list
    skipped: list


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
        if _is_complete(directory):
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
    """Run a :class:`~brainlz.protocol.Protocol` or a :class:`Sweep` (or the file of either) into ``out``.

    The library's form of ``brainlz run FILE``: a protocol goes to :func:`brainlz.protocol.run_protocol` and
    returns its ``RunResult``, a sweep to :func:`run_sweep` and returns its ``SweepResult``; ``options`` are
    theirs (``progress``, ``figures``; for sweeps also ``only`` and ``workers``).
    """
    source = None
    if isinstance(experiment, (str, os.PathLike)):
        source, experiment = experiment, load_experiment(experiment)
    if isinstance(experiment, Sweep):
        return run_sweep(experiment, out, sweep_file=source, **options)
    if isinstance(experiment, Protocol):
        return run_protocol(experiment, out, protocol_file=source, **options)
    raise ParameterError("experiment", type(experiment).__name__, "expected a Protocol, a Sweep or a file path")


def run_sweep(sweep: Sweep, out="results", *, sweep_file=None, progress: bool = True, figures: bool = True,
              only=None, workers: int = 1) -> SweepResult:
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
        Print a line per cell (from the second on, with the cells still to run and the time they would take at
        the pace of the finished ones) and the simulation progress bar on stderr.
    figures : bool
        Render each cell's figures.
    only : dict or iterable of str, optional
        Run only some cells: a dict axis -> label (or list of labels), or cell ids.  The summary still covers
        every finished cell.
    workers : int
        Cells run at once (default 1: one after another in this process).  With more, every cell runs in a
        spawned process of its own, at most ``workers`` at a time; worker slot ``k`` keeps its compiled standalone
        programs in ``<cache>/sweep-workers/<k>`` (``<cache>`` is ``$BRAINLZ_CACHE`` or ``~/.cache/brainlz``):
        two processes must not rerun one compiled program at the same time, its results are files in the project
        directory.  A cell's result does not depend on the process that ran it (its seeds are the cell's).
        Progress is one line per finished cell (its time, the cells still to finish and the time left at the
        pace so far); the summary is rewritten after each, as with one worker.  If a
        cell fails (or its process dies), no further cell starts, the running ones finish, and the first error is
        raised; Ctrl+C stops the running cells at once and removes what they had begun to write.

    Returns
    -------
    SweepResult

    Raises
    ------
    ProtocolError
        Before anything runs, if a cell directory exists without ``metrics.json`` or a finished cell was run with
        a different protocol.
    ParameterError
        For a bad ``only`` or ``workers``.
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ParameterError("workers", workers, "a positive whole number of worker processes")
    root = _sweep_dir(sweep, out)
    cells_dir = root / "cells"
    selected = _select(sweep, only)
    selected_ids = {cell.id for cell in selected}
    todo, skipped = [], []
    for cell in sweep.cells:
        directory = cells_dir / cell.id
        if _is_complete(directory):
            _check_recorded(sweep, cell, directory)
            if cell.id in selected_ids:
                skipped.append(cell.id)
        elif directory.exists():
            raise ProtocolError(f"sweep {sweep.name}: cell directory {directory} exists but holds no metrics.json; "
                                f"delete it to rerun the cell")
        elif cell.id in selected_ids:
            todo.append(cell)
    cells_dir.mkdir(parents=True, exist_ok=True)
    summary, table = _write_summary(sweep, out)
    if progress and skipped:
        sys.stderr.write(f"sweep {sweep.name}: {len(skipped)} of {len(selected)} cells finished before, "
                         f"{len(todo)} to run\n")
    ran = []
    if workers > 1 and len(todo) > 1:
        ran = _run_parallel(sweep, todo, cells_dir, out, sweep_file=sweep_file, progress=progress, figures=figures,
                            workers=min(int(workers), len(todo)))
        summary, table = _write_summary(sweep, out)
        return SweepResult(root, summary, table, ran, skipped)
    started = time.perf_counter()
    for k, cell in enumerate(todo, start=1):
        if progress:
            left = _time_left(time.perf_counter() - started, k - 1, len(todo) - k + 1)
            sys.stderr.write(f"sweep {sweep.name}: cell {k}/{len(todo)} {cell.id}{left}\n")
            sys.stderr.flush()
        run_protocol(cell.protocol, protocol_file=sweep_file, progress=progress, figures=figures,
                     directory=cells_dir / cell.id)
        ran.append(cell.id)
        summary, table = _write_summary(sweep, out)
    return SweepResult(root, summary, table, ran, skipped)


def _time_left(elapsed: float, finished: int, remaining: int) -> str:
    """``"; 3 to go, about 12 min left at this pace"``: the remaining cells at the pace of the finished ones
    (wall-clock seconds per finished cell, so parallel workers count); ``""`` before the first or after the last."""
    if finished < 1 or remaining < 1:
        return ""
    minutes = elapsed / finished * remaining / 60.0
    pace = f"about {minutes:.0f} min" if minutes < 90 else f"about {minutes / 60.0:.1f} h"
    return f"; {remaining} to go, {pace} left at this pace"


def _cell_process(job, cache: str, connection):
    """Body of a worker process: run one cell with the standalone cache ``cache``; send back ``("done", seconds)``
    or ``("error", exception)``.

    The worker starts with SIGINT blocked (see :func:`_run_parallel`), moves itself and everything it will start
    (compilers, standalone programs) into a process group of its own, out of reach of the terminal's Ctrl+C,
    and only then lets SIGINT through (to a handler that ignores it; a handler, unlike ``SIG_IGN``, is not
    inherited by the programs it runs).  Ctrl+C is the parent's: it stops the whole group.
    """
    import pickle
    import signal
    import time

    signal.signal(signal.SIGINT, _ignore_signal)
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.environ["BRAINLZ_CACHE"] = cache
    cell_id, protocol, sweep_file, figures, directory = job
    start = time.perf_counter()
    try:
        run_protocol(protocol, protocol_file=sweep_file, progress=False, figures=figures, directory=directory)
        message = ("done", time.perf_counter() - start)
    except Exception as exc:
        try:  # the parent re-raises it: it must survive the trip back
            pickle.loads(pickle.dumps(exc))
            message = ("error", exc)
        except Exception:
            message = ("error", ProtocolError(f"cell {cell_id}: {type(exc).__name__}: {exc}"))
    connection.send(message)
    connection.close()


def _ignore_signal(signum, frame):
    """A SIGINT handler that does nothing (Brian2 installs its own at import; this one replaces it)."""


def _stop_worker(process):
    """Terminate a worker process and everything in its process group (compilers, standalone programs)."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):  # not (yet) a group leader, or gone
        process.terminate()
    process.join()
    try:  # what it started and left behind
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove_staging(cells_dir: Path, cell_id: str):
    """Remove the temporary directories (``.<cell id>.<8 characters>``, see :func:`brainlz.protocol.run_protocol`)
    that an interrupted cell left in ``cells_dir``."""
    import glob
    import shutil

    for staging in cells_dir.glob(f".{glob.escape(cell_id)}.????????"):
        shutil.rmtree(staging, ignore_errors=True)


def _run_parallel(sweep: Sweep, todo, cells_dir: Path, out, *, sweep_file, progress, figures, workers) -> list:
    """Run ``todo`` in spawned processes, one per cell and at most ``workers`` at a time; rewrite the summary after
    each finished cell.

    Worker slot ``k`` always uses the standalone cache ``<cache>/sweep-workers/<k>``, so the programs one cell
    compiled are there for the next cell of that slot.  On a cell's error (or a worker that dies without
    answering) no further cell starts, the running ones finish, and the first error is raised; on Ctrl+C
    (KeyboardInterrupt) the workers and what they started are stopped at once and their unfinished cell
    directories removed.
    """
    import multiprocessing
    import multiprocessing.connection
    import signal

    from .backends.standalone import default_directory

    for cell in todo:
        if "directory" in cell.protocol.backend_options:
            raise ParameterError("workers", workers, f"cell {cell.id} sets backend_options.directory: worker "
                                                     f"processes would share it; leave it unset (each worker then "
                                                     f"has its own) or use workers=1")
    context = multiprocessing.get_context("spawn")  # no forked Brian2 state (devices, caches) in the workers
    cache_root = default_directory().parent / "sweep-workers"
    pending = [(cell.id, cell.protocol, None if sweep_file is None else str(sweep_file), figures,
                cells_dir / cell.id) for cell in todo]
    running = {}  # slot -> (process, connection, cell id)
    ran, error = [], None
    started = time.perf_counter()
    if progress:
        sys.stderr.write(f"sweep {sweep.name}: {len(todo)} cells on {workers} worker processes\n")
        sys.stderr.flush()

    def start(slot):
        job = pending.pop(0)
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_cell_process, args=(job, str(cache_root / str(slot)), sender),
                                  name=f"brainlz-sweep-worker-{slot}", daemon=True)
        # the child inherits the blocked SIGINT and unblocks it once it has left this process group
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
            running[slot] = (process, receiver, job[0])
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        sender.close()  # the child holds its end; EOF here means the child is gone

    try:
        for slot in range(workers):
            if pending:
                start(slot)
        while running:
            ready = multiprocessing.connection.wait([receiver for _, receiver, _ in running.values()])
            for slot in [s for s, (_, receiver, _) in running.items() if receiver in ready]:
                process, receiver, cell_id = running.pop(slot)
                try:
                    status, value = receiver.recv()
                except EOFError:
                    process.join()
                    status, value = "error", ProtocolError(
                        f"cell {cell_id}: the worker process ended without a result (exit code {process.exitcode}; "
                        f"a script that calls run_sweep with workers > 1 needs an if __name__ == '__main__': "
                        f"guard)")
                receiver.close()
                process.join()
                if status == "error":
                    if error is None:
                        error = value
                        pending.clear()
                        if progress:
                            sys.stderr.write(f"sweep {sweep.name}: cell {cell_id} failed; waiting for the running "
                                             f"cells\n")
                else:
                    ran.append(cell_id)
                    _write_summary(sweep, out)
                    if progress:
                        left = _time_left(time.perf_counter() - started, len(ran), len(pending) + len(running))
                        sys.stderr.write(f"sweep {sweep.name}: cell {len(ran)}/{len(todo)} {cell_id} done in "
                                         f"{value:.0f} s{left}\n")
                        sys.stderr.flush()
                if pending:
                    start(slot)
    except BaseException:
        for process, receiver, cell_id in running.values():
            _stop_worker(process)
            receiver.close()
            _remove_staging(cells_dir, cell_id)
        raise
    if error is not None:
        raise error
    order = {cell.id: k for k, cell in enumerate(todo)}
    return sorted(ran, key=order.__getitem__)
