"""Annotated figures with one shared style.

Every figure exists twice: ``make_*`` builds and returns a :class:`matplotlib.figure.Figure` (no pyplot, no
figure registry, nothing left open), and ``plot_*`` builds the same figure, writes it as a PNG to ``path``
atomically (temporary file in the same directory, then :func:`os.replace`) and returns the path.  All inputs are
plain data (numpy arrays, dicts of floats in SI units), except the parameter-distribution figure, which reads two
:class:`~brainlz.network.NetworkSpec` objects; nothing here imports Brian2 at module level.

Shared conventions

* :data:`STYLE` (rcParams) and :func:`style` (a context manager applying them): 9-pt text, no top/right spines,
  thin ticks, frameless legends, 200 dpi PNGs.
* Class colours: :func:`class_colour` maps an integer label to the Okabe-Ito colour-blind-safe palette
  (:data:`CLASS_COLOURS`) by label value, so class ``k`` has the same colour in every figure.
* Axes are labelled with units: time in ms, voltage in mV, current in nA (or pA), resistance in MOhm, rates in Hz,
  "channel index" / "neuron index", LZ complexity as "dimensionless" (see :func:`display_unit`).
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import checks
from .errors import DataError, ParameterError
from .files import atomic_write

__all__ = [
    "CLASS_COLOURS", "STYLE", "style", "class_colour", "save_figure",
    "evaluate_expression", "threshold_trace", "detect_spikes",
    "make_rasters", "plot_rasters", "make_lzc_distribution", "plot_lzc_distribution",
    "make_membrane_trace", "plot_membrane_trace", "make_weight_histogram", "plot_weight_histogram",
    "display_unit", "changed_parameters", "make_parameter_distributions", "plot_parameter_distributions",
    "make_forest_grid",
]

#: Okabe & Ito (2008) colour-blind-safe palette, ordered for contrast on white (yellow last).
CLASS_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

#: rcParams shared by every brainlz figure.
STYLE = {
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.titlelocation": "left",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "axes.prop_cycle": cycler(color=CLASS_COLOURS),
    "xtick.direction": "out",
    "ytick.direction": "out",
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "lines.linewidth": 1.2,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.facecolor": "white",
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
}

_MEMBRANE = {"v": "#0072B2", "threshold": "#D55E00", "reset": "#009E73", "rest": "#666666",
             "spike": "#000000", "refractory": "#BBBBBB", "current": "#CC79A7"}
_TRACE_METADATA = ("layer", "sample", "neuron")
_MAX_EXPRESSION = 500


@contextlib.contextmanager
def style():
    """Apply :data:`STYLE` inside a ``with`` block (restores the previous rcParams afterwards)."""
    with mpl.rc_context(STYLE):
        yield


def class_colour(label) -> str:
    """Colour of class ``label`` (an integer): ``CLASS_COLOURS[label % 8]``, the same in every figure."""
    return CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]


def save_figure(fig: Figure, path) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically and return ``path`` as a :class:`~pathlib.Path`.

    The PNG goes to a temporary file in the same directory, which then replaces ``path`` with
    :func:`os.replace`; a reader never sees half a file and a failure leaves no temporary file behind.  Missing
    parent directories are created.

    Raises
    ------
    ParameterError
        If ``path`` does not end in ``.png``.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ParameterError("path", str(path), "expected a file name ending in .png")
    with atomic_write(path, make_parents=True) as handle, style():
        fig.savefig(handle, format="png", metadata={"Software": "brainlz"})
    return path


# ---------------------------------------------------------------------------------------------------------------
# input checking helpers
# ---------------------------------------------------------------------------------------------------------------

def _raster(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 3:
        raise DataError(f"{name}: expected a 3-D raster [n_samples, n_rows, n_bins], got shape {array.shape}")
    if array.dtype != bool:
        if array.dtype.kind not in "iu" or not np.isin(array, (0, 1)).all():
            raise DataError(f"{name}: expected a bool raster (or integers 0/1), got dtype {array.dtype}")
        array = array.astype(bool)
    return array


def _labels(value, n_samples: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(value)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise DataError(f"{name}: expected shape ({n_samples},), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise DataError(f"{name}: expected integer class labels, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _seconds(name: str, value) -> float:
    if hasattr(value, "dim"):  # a Brian2 quantity: must be a time
        from brian2 import second
        try:
            value = float(value / second)
        except Exception:
            raise ParameterError(name, value, "expected a time (seconds as a float, or a Brian2 time)") from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "expected a time in seconds (float)") from None
    if not np.isfinite(number) or number <= 0:
        raise ParameterError(name, value, "expected a positive, finite time in seconds")
    return number


def _class_name(label: int, class_names) -> str:
    if class_names is None:
        return f"class {label}"
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, f"class {label}"))
    if isinstance(class_names, Sequence) and not isinstance(class_names, str):
        if 0 <= label < len(class_names):
            return str(class_names[label])
        raise ParameterError("class_names", class_names, f"has no entry for label {label}")
    raise ParameterError("class_names", class_names, "expected a sequence indexed by label or a dict label -> name")


def _scalar_params(params) -> dict:
    if not isinstance(params, Mapping):
        raise ParameterError("params", params, "expected a dict name -> value in SI units")
    out = {}
    for key, value in params.items():
        array = np.asarray(value, dtype=np.float64)  # a Brian2 quantity gives its SI value
        if array.size != 1 or not np.isfinite(array).all():
            raise ParameterError(f"params.{key}", value, "expected one finite number in SI units")
        out[str(key)] = float(array.reshape(()))
    return out


# ---------------------------------------------------------------------------------------------------------------
# threshold expressions and spike detection
# ---------------------------------------------------------------------------------------------------------------

_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}


def evaluate_expression(expression: str, variables: Mapping, field: str = "threshold_expression"):
    """Evaluate an arithmetic expression over named numbers or arrays, safely.

    Only names from ``variables``, int/float literals, ``+ - * /`` (binary and unary) and parentheses are
    allowed; the expression is parsed with :mod:`ast` and evaluated by walking the tree, never with ``eval``.

    Parameters
    ----------
    expression : str
        E.g. ``"V_th + theta"``.
    variables : mapping of str to float or ndarray
        Values (SI units) the names refer to; arrays broadcast with numpy rules.
    field : str
        Name used in error messages.

    Returns
    -------
    float or ndarray
        The value, in the units the operands imply (volts for a threshold).

    Raises
    ------
    ParameterError
        If the expression is not a string, does not parse, uses anything but the allowed elements, or names an
        unknown variable.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ParameterError(field, expression, "expected a non-empty string")
    if len(expression) > _MAX_EXPRESSION:
        raise ParameterError(field, expression, f"longer than {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ParameterError(field, expression, f"not a valid expression ({type(exc).__name__})") from None

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in variables:
                raise ParameterError(field, expression, f"unknown name {node.id!r}; known: {sorted(variables)}")
            return variables[node.id]
        raise ParameterError(field, expression, f"{type(node).__name__} is not allowed; only names, numbers, "
                                                "+ - * / and parentheses")

    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return walk(tree)
    except RecursionError:
        raise ParameterError(field, expression, "nested too deeply") from None


def _trace_arrays(trace) -> tuple[np.ndarray, dict]:
    """``(t, {name: 1-D float array of len(t)})`` from a backend trace dict; checks shapes."""
    if not isinstance(trace, Mapping) or "t" not in trace:
        raise DataError("trace: expected a dict with at least 't' (s) and 'v' (V)")
    t = np.asarray(trace["t"], dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise DataError(f"trace.t: expected >= 2 finite, increasing times in seconds, got shape {t.shape}")
    arrays = {}
    for key, value in trace.items():
        if key in _TRACE_METADATA:
            continue
        array = np.asarray(value)
        if array.ndim == 1 and array.dtype.kind in "iuf":
            if array.shape != t.shape:
                raise DataError(f"trace.{key}: expected shape {t.shape} like trace.t, got {array.shape}")
            arrays[str(key)] = array.astype(np.float64)
    return t, arrays


def threshold_trace(expression: str, trace: Mapping, params: Mapping) -> np.ndarray:
    """The firing threshold over time, in volts.

    Parameters
    ----------
    expression : str
        Threshold expression, e.g. ``"V_th"`` or ``"V_th + theta"`` (``NeuronModel.threshold_expression``).
    trace : dict
        Backend trace: ``"t"`` (s) and state variables (SI units) as 1-D arrays of the same length; names here
        take precedence over ``params``.
    params : dict of str to float
        The neuron's intrinsic parameters in SI units.

    Returns
    -------
    ndarray of float64, shape ``(len(trace["t"]),)``
        Threshold in volts at every recorded time.
    """
    t, arrays = _trace_arrays(trace)
    variables = {**_scalar_params(params), **arrays}
    value = np.asarray(evaluate_expression(expression, variables), dtype=np.float64)
    return np.broadcast_to(value, t.shape).copy()


def detect_spikes(t, v, v_reset: float, min_jump: float = 0.5e-3, atol: float = 1e-6) -> np.ndarray:
    """Spike times of a recorded membrane trace, from the resets.

    A reset is a step ``k`` where ``v[k]`` equals ``v_reset`` (within ``atol``) after a drop of at least
    ``min_jump`` from ``v[k-1]``; the spike time is ``t[k-1]``.  This holds for both ways of recording:
    Brian2's ``StateMonitor`` samples at the start of a step, so the value at ``t[k-1]`` is the one *before*
    the crossing (it may lie just below threshold) and the spike, at ``t[k-1]``, shows up as ``v[k] = V_reset``;
    a trace recorded after integration shows ``v[k-1]`` above threshold, also followed by ``v[k] = V_reset``.
    ``min_jump`` rejects the slow relaxation of ``v`` onto a resting potential equal to ``V_reset``.  A spike
    whose pre-spike value lay within ``min_jump`` of ``V_reset`` is missed; pass spike times instead.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Times in seconds.
    v : ndarray, shape (n,)
        Membrane potential in volts.
    v_reset : float
        Reset potential in volts.
    min_jump : float
        Smallest drop onto ``v_reset`` that counts as a reset, in volts (default 0.5 mV).
    atol : float
        Tolerance of ``v[k] == v_reset`` in volts (default 1 µV, enough for float32 traces).

    Returns
    -------
    ndarray of float64
        Spike times in seconds, increasing.
    """
    t = np.asarray(t, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if t.shape != v.shape or t.ndim != 1:
        raise DataError(f"detect_spikes: t and v must be 1-D of equal length, got {t.shape} and {v.shape}")
    at_reset = np.abs(v[1:] - v_reset) <= atol
    dropped = (v[:-1] - v[1:]) >= min_jump
    return t[:-1][at_reset & dropped]


# ---------------------------------------------------------------------------------------------------------------
# 1. input and output rasters
# ---------------------------------------------------------------------------------------------------------------

def _draw_raster(ax, raster: np.ndarray, dt: float, colour: str, row_height_pt: float) -> None:
    rows, bins = np.nonzero(raster)
    n_rows = raster.shape[0]
    size = float(np.clip(0.85 * row_height_pt / max(n_rows, 1), 1.0, 6.0))
    if rows.size:
        ax.plot(bins * dt * 1e3, rows, linestyle="none", marker="|", markersize=size,
                markeredgewidth=0.7, color=colour)
    else:
        ax.text(0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_ylim(-0.5, n_rows - 0.5)
    ax.set_xlim(0, raster.shape[1] * dt * 1e3)
    if n_rows <= 6:
        ax.set_yticks(range(n_rows))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))


def make_rasters(input_spiketrains, output_spiketrains, labels, dt, n_per_class: int = 2,
                 class_names=None) -> Figure:
    """Input and output spike rasters of a few samples per class, side by side.

    Parameters
    ----------
    input_spiketrains : bool ndarray [n_samples, n_channels, n_bins]
        Input rasters; bin ``b`` is a spike at ``t = b * dt``.
    output_spiketrains : bool ndarray [n_samples, n_neurons, n_bins_out]
        Output rasters of the same samples.
    labels : int ndarray [n_samples]
        Class of each sample.
    dt : float
        Bin width in seconds (a Brian2 time is accepted too).
    n_per_class : int
        Samples shown per class: the first ``n_per_class`` of each class in sample order.
    class_names : sequence or dict, optional
        Name of each class, indexed by label (``class_names[label]``) or a dict label -> name.

    Returns
    -------
    matplotlib.figure.Figure
        One row per shown sample; left: channel index vs time (ms), right: neuron index vs time (ms).  Each row's
        titles give class, sample index, spike counts and mean rates (Hz per channel / per neuron); spikes are
        drawn in the class colour (:func:`class_colour`).
    """
    inputs = _raster("input_spiketrains", input_spiketrains)
    outputs = _raster("output_spiketrains", output_spiketrains)
    if outputs.shape[0] != inputs.shape[0]:
        raise DataError(f"output_spiketrains: {outputs.shape[0]} samples, but input_spiketrains has "
                        f"{inputs.shape[0]}")
    labels = _labels(labels, inputs.shape[0])
    dt = _seconds("dt", dt)
    checks.integer("n_per_class", n_per_class, low=1, reason="expected a positive integer")
    if inputs.shape[0] == 0:
        raise DataError("input_spiketrains: no samples to show")
    shown = [int(i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:n_per_class]]
    n_rows = len(shown)
    row_height = 1.5 if n_rows <= 8 else 1.1
    with style():
        fig = Figure(figsize=(7.2, 0.55 + row_height * n_rows), layout="constrained")
        rows = np.atleast_1d(fig.subfigures(n_rows, 1))
        duration_in = inputs.shape[2] * dt
        duration_out = outputs.shape[2] * dt
        row_pt = 0.62 * row_height * 72
        for row, (subfig, sample) in enumerate(zip(rows, shown)):
            label = int(labels[sample])
            colour = class_colour(label)
            name = _class_name(label, class_names)
            n_in = int(inputs[sample].sum())
            n_out = int(outputs[sample].sum())
            rate_in = n_in / (inputs.shape[1] * duration_in) if inputs.shape[1] else 0.0
            rate_out = n_out / (outputs.shape[1] * duration_out) if outputs.shape[1] else 0.0
            left, right = subfig.subplots(1, 2)
            _draw_raster(left, inputs[sample], dt, colour, row_pt)
            _draw_raster(right, outputs[sample], dt, colour, row_pt)
            heading = name if class_names is None else f"{name} (label {label})"
            subfig.suptitle(f"{heading} · sample {sample} — input: {n_in} spikes, {rate_in:.1f} Hz "
                            f"per channel · output: {n_out} spikes, {rate_out:.1f} Hz per neuron",
                            x=0.01, ha="left", fontsize=9, color=colour if colour != "#F0E442" else "black")
            left.set_ylabel("channel index")
            right.set_ylabel("neuron index")
            for ax in (left, right):
                if row < n_rows - 1:
                    ax.tick_params(labelbottom=False)
                else:
                    ax.set_xlabel("time (ms)")
        fig.suptitle(f"Input (left) and output (right) spike rasters, {n_rows} samples, dt = {dt * 1e3:g} ms")
    return fig


def plot_rasters(input_spiketrains, output_spiketrains, labels, dt, path, n_per_class: int = 2,
                 class_names=None) -> Path:
    """Draw :func:`make_rasters` and write it as a PNG to ``path`` (atomically); return the path."""
    return save_figure(make_rasters(input_spiketrains, output_spiketrains, labels, dt, n_per_class=n_per_class,
                                    class_names=class_names), path)


# ---------------------------------------------------------------------------------------------------------------
# 2. LZ complexity by class
# ---------------------------------------------------------------------------------------------------------------

def _class_stats(values: np.ndarray, labels: np.ndarray, classes: np.ndarray):
    """Per class: count, mean, SD (ddof=1, nan for n=1) and SEM along axis 0."""
    n = np.array([(labels == c).sum() for c in classes])
    means = np.stack([values[labels == c].mean(axis=0) for c in classes])
    sds = np.stack([values[labels == c].std(axis=0, ddof=1) if k > 1 else np.full(values.shape[1:], np.nan)
                    for c, k in zip(classes, n)])
    sems = sds / np.sqrt(n).reshape((-1,) + (1,) * (values.ndim - 1))
    return n, means, sds, sems


def _pooled_sd(sds: np.ndarray, n: np.ndarray) -> np.ndarray:
    dof = n - 1
    total = dof.sum()
    if total <= 0:
        return np.full(sds.shape[1:], np.nan)
    weights = dof.reshape((-1,) + (1,) * (sds.ndim - 1))
    return np.sqrt(np.nansum(weights * np.nan_to_num(sds) ** 2, axis=0) / total)


def make_lzc_distribution(lzc, labels, class_names=None, title=None) -> Figure:
    """Per-class distributions of LZ76 complexity and the per-neuron class means.

    Parameters
    ----------
    lzc : float ndarray [n_samples, n_neurons]
        Normalised LZ76 complexity (dimensionless) of every output neuron's spike train (a 1-D array is read as
        one neuron).
    labels : int ndarray [n_samples]
        Class of each sample.
    class_names : sequence or dict, optional
        Name of each class, indexed by label or a dict label -> name.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        (a) violins with every sample's mean LZC over neurons (jittered points), class mean ± SEM, n per class,
        and the difference of class means with Cohen's d; (b) the mean LZC ± SEM of every neuron per class;
        (c) every neuron's effect size ``|d|`` = (largest - smallest class mean) / pooled SD, the three most
        discriminative neurons highlighted.
    """
    values = np.asarray(lzc, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise DataError(f"lzc: expected a non-empty array [n_samples, n_neurons], got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise DataError("lzc: holds non-finite values")
    labels = _labels(labels, values.shape[0])
    classes = np.unique(labels)
    names = [_class_name(int(c), class_names) for c in classes]
    colours = [class_colour(c) for c in classes]
    per_sample = values.mean(axis=1)
    n, sample_means, sample_sds, sample_sems = _class_stats(per_sample[:, None], labels, classes)
    sample_means, sample_sds, sample_sems = sample_means[:, 0], sample_sds[:, 0], sample_sems[:, 0]
    _, neuron_means, neuron_sds, neuron_sems = _class_stats(values, labels, classes)
    spread = neuron_means.max(axis=0) - neuron_means.min(axis=0)
    pooled = _pooled_sd(neuron_sds, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = np.where(pooled > 0, spread / pooled, np.nan)
    n_neurons = values.shape[1]
    x_neurons = np.arange(n_neurons)

    with style():
        fig = Figure(figsize=(7.2, 4.2), layout="constrained")
        grid = fig.add_gridspec(2, 2, width_ratios=(1.0, 1.7), height_ratios=(2.2, 1.0))
        ax_dist = fig.add_subplot(grid[:, 0])
        ax_means = fig.add_subplot(grid[0, 1])
        ax_effect = fig.add_subplot(grid[1, 1], sharex=ax_means)

        # (a) distribution of the per-sample mean LZC
        rng = np.random.default_rng(0)  # fixed jitter: the same data give the same picture
        for position, (c, colour) in enumerate(zip(classes, colours)):
            points = per_sample[labels == c]
            if points.size > 1 and np.ptp(points) > 0:
                body = ax_dist.violinplot(points, positions=[position], widths=0.8, showextrema=False)
                for patch in body["bodies"]:
                    patch.set_facecolor(colour)
                    patch.set_edgecolor("none")
                    patch.set_alpha(0.3)
            jitter = rng.uniform(-0.17, 0.17, size=points.size)
            ax_dist.scatter(position + jitter, points, s=9, color=colour, alpha=0.75, linewidths=0, zorder=3,
                            label=f"samples of label {int(c)}")
            error = sample_sems[position] if np.isfinite(sample_sems[position]) else None
            ax_dist.errorbar(position + 0.33, sample_means[position], yerr=error, fmt="o", color="black",
                             markersize=4, capsize=2.5, linewidth=1, zorder=4)
        ax_dist.set_xticks(range(len(classes)), [f"{name}\nn = {k}" for name, k in zip(names, n)])
        ax_dist.set_xlim(-0.6, len(classes) - 0.4)
        ax_dist.set_ylabel("mean LZC over output neurons\n(normalised LZ76, dimensionless)")
        ax_dist.set_title("(a) per-sample mean LZC by class")
        if len(classes) >= 2:
            low, high = int(np.argmin(sample_means)), int(np.argmax(sample_means))
            if len(classes) == 2:
                low, high = 0, 1
            difference = sample_means[high] - sample_means[low]
            pooled_sample = float(_pooled_sd(sample_sds[:, None], n)[0])
            text = f"Δ mean ({names[high]} − {names[low]})\n= {difference:+.4f}"
            if np.isfinite(pooled_sample) and pooled_sample > 0:
                text += f", d = {difference / pooled_sample:+.2f}"
            ax_dist.text(0.02, 0.99, text, transform=ax_dist.transAxes, ha="left", va="top", fontsize=8,
                         bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.7",
                               "linewidth": 0.6})
            top = per_sample.max() + 0.35 * max(np.ptp(per_sample), 1e-3)
            ax_dist.set_ylim(top=top)

        # (b) per-neuron class means
        marker = "o" if n_neurons <= 64 else None
        for k, (name, colour) in enumerate(zip(names, colours)):
            ax_means.plot(x_neurons, neuron_means[k], color=colour, marker=marker, markersize=3, linewidth=1,
                          label=f"{name} (n = {n[k]})")
            if np.all(np.isfinite(neuron_sems[k])):
                ax_means.fill_between(x_neurons, neuron_means[k] - neuron_sems[k], neuron_means[k] + neuron_sems[k],
                                      color=colour, alpha=0.2, linewidth=0)
        ax_means.set_ylabel("mean LZC\n(dimensionless)")
        ax_means.set_title("(b) class mean ± SEM per output neuron")
        low, high = float(neuron_means.min()), float(neuron_means.max())
        if np.all(np.isfinite(neuron_sems)):
            low, high = float((neuron_means - neuron_sems).min()), float((neuron_means + neuron_sems).max())
        span = max(high - low, 1e-3)
        ax_means.set_ylim(low - 0.05 * span, high + 0.35 * span)  # room for the legend
        ax_means.legend(loc="upper center", ncols=min(len(classes), 4), handlelength=1.5, columnspacing=1.2)
        ax_means.tick_params(labelbottom=False)

        # (c) effect size per neuron
        finite = np.isfinite(effect)
        ax_effect.bar(x_neurons[finite], effect[finite], width=0.8, color="0.65", linewidth=0, label="effect size")
        if finite.any() and len(classes) >= 2:
            order = np.argsort(np.where(finite, effect, -np.inf))[::-1][:min(3, int(finite.sum()))]
            ax_effect.bar(x_neurons[order], effect[order], width=0.8, color="black", linewidth=0)
            for j in order:
                ax_effect.annotate(f"{j}", (j, effect[j]), xytext=(0, 2), textcoords="offset points",
                                   ha="center", va="bottom", fontsize=7)
            ax_effect.set_ylim(top=1.25 * float(np.nanmax(effect)) if np.nanmax(effect) > 0 else 1)
        ax_effect.set_xlabel("output neuron index")
        ax_effect.set_ylabel("|d| (max − min class\nmean / pooled SD)")
        ax_effect.set_title("(c) class separation per neuron (top 3 in black)")
        if n_neurons <= 20:
            ax_effect.set_xticks(x_neurons)
        ax_effect.set_xlim(-0.7, n_neurons - 0.3)
        fig.suptitle(title or f"Lempel–Ziv complexity of output spike trains ({values.shape[0]} samples, "
                              f"{n_neurons} neurons)")
    return fig


def plot_lzc_distribution(lzc, labels, path, class_names=None, title=None) -> Path:
    """Draw :func:`make_lzc_distribution` and write it as a PNG to ``path`` (atomically); return the path."""
    return save_figure(make_lzc_distribution(lzc, labels, class_names=class_names, title=title), path)


# ---------------------------------------------------------------------------------------------------------------
# 3. membrane trace
# ---------------------------------------------------------------------------------------------------------------

def _spike_times_ms(spikes_ms, t: np.ndarray) -> np.ndarray:
    array = np.asarray(spikes_ms)
    if array.dtype == bool:
        if array.shape != t.shape:
            raise DataError(f"spikes_ms: a bool mask must have the shape of trace.t {t.shape}, got {array.shape}")
        return t[array] * 1e3
    try:
        array = np.asarray(spikes_ms, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ParameterError("spikes_ms", spikes_ms, "expected spike times in ms or a bool mask over trace.t") \
            from None
    if not np.all(np.isfinite(array)):
        raise ParameterError("spikes_ms", spikes_ms, "spike times must be finite")
    return np.sort(array)


def _fmt_mv(volts: float) -> str:
    return f"{volts * 1e3:.1f} mV".replace("-", "−")


def make_membrane_trace(trace, params, threshold_expression: str = "V_th", reset_name: str = "V_reset",
                        spikes_ms=None, title=None, voltage: str = "v") -> Figure:
    """Membrane potential of one neuron with threshold, reset, rest, spikes and refractory periods.

    Parameters
    ----------
    trace : dict
        As in ``SimulationResult.trace``: ``"t"`` (s) and ``voltage`` (V), optionally other state variables in SI
        units (``"theta"`` in V, ``"I_syn"`` in A) and the metadata ``"layer"``, ``"sample"``, ``"neuron"``.
    params : dict of str to float
        The traced neuron's intrinsic parameters in SI units (Brian2 quantities are accepted), e.g. ``V_th``,
        ``V_reset``, ``E_L``, ``tau_m``, ``t_ref``.
    threshold_expression : str
        Threshold in terms of trace variables and params, ``+ - * /`` only (e.g. ``"V_th + theta"``; see
        :func:`evaluate_expression`).
    reset_name : str
        Name of the reset potential in ``params``; needed to detect spikes when ``spikes_ms`` is not given.
    spikes_ms : array_like, optional
        Spike times in ms, or a bool mask of the length of ``trace["t"]`` (e.g. the neuron's row of the output
        raster when the trace covers the whole run).  Default: detected with :func:`detect_spikes`.
    title : str, optional
        Title; by default it names layer, sample and neuron.  Time constants (``tau_*``, ``t_ref``) are added.
    voltage : str
        Key of the membrane potential in ``trace``.

    Returns
    -------
    matplotlib.figure.Figure
        Top: ``v`` (mV) against time (ms) with the threshold (possibly time-varying), reset ``V_reset`` and rest
        ``E_L`` as labelled lines (values in mV), spikes as ticks along the top with their count and rate (Hz),
        refractory periods ``[t_spike, t_spike + t_ref]`` shaded.  Bottom (if ``"I_syn"`` is in ``trace``): the
        synaptic current in nA.

    Raises
    ------
    ParameterError
        For a bad threshold expression, bad params, or a missing ``reset_name`` when spikes must be detected.
    DataError
        For malformed trace arrays.
    """
    t, arrays = _trace_arrays(trace)
    if voltage not in arrays:
        raise DataError(f"trace: no membrane potential {voltage!r} (keys: {sorted(trace)})")
    values = _scalar_params(params)
    v = arrays[voltage]
    threshold = threshold_trace(threshold_expression, trace, values)
    v_reset = values.get(reset_name)
    if spikes_ms is None:
        if v_reset is None:
            raise ParameterError("reset_name", reset_name, "not in params; needed to detect spikes "
                                                           "(or pass spikes_ms)")
        spikes = detect_spikes(t, v, v_reset) * 1e3
    else:
        spikes = _spike_times_ms(spikes_ms, t)
    t_ms = t * 1e3
    step = float(np.median(np.diff(t)))
    duration = t[-1] - t[0] + step
    t_ref = values.get("t_ref")
    has_current = "I_syn" in arrays

    with style():
        fig = Figure(figsize=(7.2, 4.3 if has_current else 3.4), layout="constrained")
        if has_current:
            ax_v, ax_i = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
        else:
            ax_v, ax_i = fig.subplots(1, 1), None
        handles = []
        if t_ref is not None and t_ref > 0 and spikes.size:
            start = np.searchsorted(spikes, t_ms + 1e-9 * max(1.0, abs(t_ms[-1])), side="right") - 1
            refractory = (start >= 0) & (t_ms <= spikes[np.clip(start, 0, None)] + t_ref * 1e3 + 1e-9)
            ax_v.fill_between(t_ms, 0, 1, where=refractory, transform=ax_v.get_xaxis_transform(),
                              color=_MEMBRANE["refractory"], alpha=0.45, linewidth=0, label="refractory")
            handles.append(Patch(color=_MEMBRANE["refractory"], alpha=0.45,
                                 label=f"refractory, t_ref = {t_ref * 1e3:g} ms"))
        (line_v,) = ax_v.plot(t_ms, v * 1e3, color=_MEMBRANE["v"], linewidth=1.0, label=f"{voltage} (membrane)")
        handles.insert(0, line_v)
        if np.ptp(threshold) > 1e-12:
            label = (f"threshold {threshold_expression}: {_fmt_mv(threshold.min())} to "
                     f"{_fmt_mv(threshold.max())}")
        else:
            label = f"threshold {threshold_expression} = {_fmt_mv(threshold[0])}"
        handles.append(ax_v.plot(t_ms, threshold * 1e3, color=_MEMBRANE["threshold"], linewidth=1.1,
                                 label=label)[0])
        if v_reset is not None:
            handles.append(ax_v.axhline(v_reset * 1e3, color=_MEMBRANE["reset"], linestyle="--", linewidth=1,
                                        label=f"reset {reset_name} = {_fmt_mv(v_reset)}"))
        if "E_L" in values:
            handles.append(ax_v.axhline(values["E_L"] * 1e3, color=_MEMBRANE["rest"], linestyle=":",
                                        linewidth=1.2, label=f"rest E_L = {_fmt_mv(values['E_L'])}"))
        ax_v.vlines(spikes, 0.93, 1.0, transform=ax_v.get_xaxis_transform(), color=_MEMBRANE["spike"],
                    linewidth=1.0, label="spikes")
        handles.append(Line2D([], [], color=_MEMBRANE["spike"], marker="|", linestyle="none", markersize=8,
                              label=f"spikes: {spikes.size} ({spikes.size / duration:.1f} Hz)"))
        levels = [v.min(), v.max(), threshold.min(), threshold.max()]
        levels += [x for x in (v_reset, values.get("E_L")) if x is not None]
        low, high = min(levels) * 1e3, max(levels) * 1e3
        pad = max(high - low, 1.0)
        ax_v.set_ylim(low - 0.06 * pad, high + 0.22 * pad)  # room for the spike ticks
        ax_v.set_xlim(t_ms[0], t_ms[-1])
        ax_v.set_ylabel("membrane potential (mV)")
        ax_v.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        constants = [f"{name} = {value * 1e3:g} ms" for name, value in values.items()
                     if name.startswith("tau_") or name == "t_ref"]
        if constants:
            ax_v.text(1.01, 0.0, "\n".join(constants).replace("tau_", "τ_"), transform=ax_v.transAxes,
                      ha="left", va="bottom", fontsize=8,
                      bbox={"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "0.7", "linewidth": 0.6})
        if ax_i is not None:
            ax_i.plot(t_ms, arrays["I_syn"] * 1e9, color=_MEMBRANE["current"], linewidth=0.9)
            ax_i.axhline(0, color="0.6", linewidth=0.6)
            ax_i.set_ylabel("I_syn (nA)")
            ax_i.set_xlabel("time (ms)")
            ax_v.tick_params(labelbottom=False)
        else:
            ax_v.set_xlabel("time (ms)")
        if title is None:
            where = [f"{key} {trace[key]!r}" if key == "layer" else f"{key} {trace[key]}"
                     for key in _TRACE_METADATA if key in trace]
            title = "Membrane potential" + (" — " + ", ".join(where) if where else "")
        if "tau_m" in values:
            title += f" (τ_m = {values['tau_m'] * 1e3:g} ms)"
        fig.suptitle(title)
    return fig


def plot_membrane_trace(trace, path, params, threshold_expression: str = "V_th", reset_name: str = "V_reset",
                        spikes_ms=None, title=None, voltage: str = "v") -> Path:
    """Draw :func:`make_membrane_trace` and write it as a PNG to ``path`` (atomically); return the path."""
    return save_figure(make_membrane_trace(trace, params, threshold_expression=threshold_expression,
                                           reset_name=reset_name, spikes_ms=spikes_ms, title=title,
                                           voltage=voltage), path)


# ---------------------------------------------------------------------------------------------------------------
# 4. synaptic weight distribution (STDP)
# ---------------------------------------------------------------------------------------------------------------

_WEIGHTS = {"final": "#0072B2", "initial": "#999999", "near": "#E69F00", "middle": "#009E73"}


def _weights(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).ravel()
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise DataError(f"{name}: expected a non-empty array of finite weights, got shape {np.shape(value)}")
    return array


def _near_fractions(values: np.ndarray, near: float) -> tuple[float, float]:
    """Shares of ``values`` (scaled to [0, 1]) within ``near`` of 0 and of 1."""
    return float(np.mean(values <= near)), float(np.mean(values >= 1 - near))


def _draw_weight_histogram(ax, values, edges, colour, near, initial=None):
    if initial is not None:
        ax.hist(initial, bins=edges, histtype="step", color=_WEIGHTS["initial"], linewidth=1.1,
                label="initial")
    ax.hist(values, bins=edges, color=colour, alpha=0.85, linewidth=0, label=f"final (n = {values.size})")
    for low, high in ((0.0, near), (1 - near, 1.0)):
        ax.axvspan(low, high, color=_WEIGHTS["near"], alpha=0.15, linewidth=0)
    low, high = _near_fractions(values, near)
    box = {"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "0.75", "linewidth": 0.6}
    ax.text(0.02, 0.97, f"{low:.0%} within\n{near:.0%} of w_min", transform=ax.transAxes, ha="left", va="top",
            fontsize=8, bbox=box)
    ax.text(0.98, 0.97, f"{high:.0%} within\n{near:.0%} of w_max", transform=ax.transAxes, ha="right", va="top",
            fontsize=8, bbox=box)
    ax.set_xlim(0, 1)
    ax.set_ylabel("number of synapses")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)  # room for the annotations and the legend
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.99), handlelength=1.2, fontsize=7.5)


def make_weight_histogram(weights, w_max=1.0, w_min=0.0, initial=None, compare=None, snapshots=None,
                          snapshot_times=None, bins: int = 20, near: float = 0.1, label: str = "after STDP",
                          title=None) -> Figure:
    """Distribution of synaptic weights after learning, relative to the bounds ``[w_min, w_max]``.

    Parameters
    ----------
    weights : array_like of float
        Final weights, in the same unit as ``w_min``/``w_max`` (e.g. SI amperes, or already ``w / w_max``).
    w_max, w_min : float
        Weight bounds (a Brian2 quantity is accepted, taken in SI units); the x axis shows
        ``(w - w_min) / (w_max - w_min)``, dimensionless.
    initial : array_like of float, optional
        Weights before learning, drawn as an outline.
    compare : dict of str to array_like, optional
        Further weight sets (same unit), one panel each (e.g. a control run), titled with the key.
    snapshots : float array [n_times, n_synapses], optional
        Weights (same unit) over the course of learning; adds a panel with the shares near ``w_min``, near
        ``w_max`` and in between against time.
    snapshot_times : float array [n_times], optional
        Times of ``snapshots`` in seconds (a Brian2 time array is accepted); required with ``snapshots``.
    bins : int
        Number of histogram bins over ``[0, 1]``.
    near : float
        Width, as a fraction of ``w_max - w_min``, of the bands next to the bounds that are shaded and counted.
    label : str
        Legend label of ``weights``.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One histogram panel per weight set (number of synapses against ``(w - w_min)/(w_max - w_min)``), the
        bands within ``near`` of the bounds shaded and their shares written in the corners; optionally the time
        course of those shares (time in s).

    Raises
    ------
    ParameterError
        For ``w_max <= w_min``, a bad ``bins`` or ``near``, or ``snapshots`` without ``snapshot_times``.
    DataError
        For empty or non-finite weight arrays or mismatched snapshot shapes.
    """
    high, low = float(np.asarray(w_max, dtype=np.float64)), float(np.asarray(w_min, dtype=np.float64))
    if not (np.isfinite(high) and np.isfinite(low)) or high <= low:
        raise ParameterError("w_max", w_max, f"expected a finite bound larger than w_min = {w_min!r}")
    checks.integer("bins", bins, low=2)
    checks.real("near", near, 0, 0.5, low_open=True, high_open=True, types=(int, float, np.floating),
                reason="expected a fraction in (0, 0.5)")

    def scale(array):
        return (array - low) / (high - low)

    final = scale(_weights("weights", weights))
    start = scale(_weights("initial", initial)) if initial is not None else None
    others = {}
    if compare is not None:
        if not isinstance(compare, Mapping):
            raise ParameterError("compare", compare, "expected a dict label -> weights")
        others = {str(key): scale(_weights(f"compare[{key!r}]", value)) for key, value in compare.items()}
    course = None
    if snapshots is not None:
        if snapshot_times is None:
            raise ParameterError("snapshot_times", None, "required with snapshots (times in s)")
        course = scale(np.asarray(snapshots, dtype=np.float64))
        times = np.asarray(snapshot_times, dtype=np.float64).ravel()
        if course.ndim != 2 or course.shape[0] != times.size or course.shape[0] < 2 or \
                not np.all(np.isfinite(course)) or not np.all(np.isfinite(times)):
            raise DataError(f"snapshots: expected finite [n_times >= 2, n_synapses] matching snapshot_times "
                            f"({times.size}), got shape {course.shape}")
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    n_panels = 1 + len(others) + (course is not None)
    n_columns = n_panels if n_panels <= 3 else int(np.ceil(n_panels / 2))
    n_rows = int(np.ceil(n_panels / n_columns))
    with style():
        fig = Figure(figsize=(max(3.6 * n_columns, 4.0), 0.5 + 2.9 * n_rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(n_rows, n_columns)).ravel()
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        axes = axes[:n_panels]
        _draw_weight_histogram(axes[0], final, edges, _WEIGHTS["final"], near, start)
        axes[0].set_title(f"(a) {label}", fontsize=8.5)
        for k, (name, values) in enumerate(others.items(), start=1):
            _draw_weight_histogram(axes[k], values, edges, class_colour(k), near)
            axes[k].set_title(f"({chr(97 + k)}) {name}", fontsize=8.5)
        for ax in axes[:1 + len(others)]:
            ax.set_xlabel("(w − w_min) / (w_max − w_min)\n(dimensionless)")
        if course is not None:
            ax = axes[-1]
            share_low = np.mean(course <= near, axis=1)
            share_high = np.mean(course >= 1 - near, axis=1)
            ax.plot(times, share_low, color=_WEIGHTS["final"], label=f"within {near:.0%} of w_min")
            ax.plot(times, share_high, color=_WEIGHTS["near"], label=f"within {near:.0%} of w_max")
            ax.plot(times, 1 - share_low - share_high, color=_WEIGHTS["middle"], linestyle="--",
                    label="in between")
            ax.set_ylim(0, 1.25)
            ax.set_xlim(times[0], times[-1])
            ax.set_xlabel("simulated time (s)")
            ax.set_ylabel("share of synapses")
            ax.set_title(f"({chr(97 + n_panels - 1)}) time course of (a)", fontsize=8.5)
            ax.legend(loc="upper center", ncols=1)
        fig.suptitle(title or f"Synaptic weight distribution, w_min = {low:g}, w_max = {high:g}")
    return fig


def plot_weight_histogram(weights, path, w_max=1.0, w_min=0.0, initial=None, compare=None, snapshots=None,
                          snapshot_times=None, bins: int = 20, near: float = 0.1, label: str = "after STDP",
                          title=None) -> Path:
    """Draw :func:`make_weight_histogram` and write it as a PNG to ``path`` (atomically); return the path."""
    return save_figure(make_weight_histogram(weights, w_max=w_max, w_min=w_min, initial=initial, compare=compare,
                                             snapshots=snapshots, snapshot_times=snapshot_times, bins=bins,
                                             near=near, label=label, title=title), path)


# ---------------------------------------------------------------------------------------------------------------
# 5. learned intrinsic parameters
# ---------------------------------------------------------------------------------------------------------------

_PARAMETERS = {"before": "#777777", "after": "#0072B2", "bio": "#009E73", "bounds": "#D55E00"}


def display_unit(unit, values=None) -> tuple[str, float]:
    """Natural display unit of a parameter: its name and the factor from SI.

    Parameters
    ----------
    unit : brian2.Unit
        The parameter's unit (``Param.unit``).
    values : array_like of float, optional
        Values in SI units; for currents they choose between nA and pA.

    Returns
    -------
    name : str
        ``"ms"`` for seconds, ``"mV"`` for volts, ``"MOhm"`` for ohms, ``"nA"`` (``"pA"`` when every value is below
        1 nA in magnitude) for amperes, ``"nS"`` for siemens, ``"Hz"`` for hertz, ``"dimensionless"``; otherwise
        Brian2's name of the SI unit.
    factor : float
        ``value_display = value_si * factor``.
    """
    from brian2 import Hz, amp, get_dimensions, ohm, second, siemens, volt

    dim = get_dimensions(unit)
    if dim.is_dimensionless:
        return "dimensionless", 1.0
    if dim == get_dimensions(amp):
        magnitude = np.abs(np.asarray(values, dtype=np.float64)) if values is not None else np.array([])
        if magnitude.size and np.all(magnitude[np.isfinite(magnitude)] < 1e-9):
            return "pA", 1e12
        return "nA", 1e9
    for reference, name, factor in ((second, "ms", 1e3), (volt, "mV", 1e3), (ohm, "MOhm", 1e-6),
                                    (siemens, "nS", 1e9), (Hz, "Hz", 1.0)):
        if dim == get_dimensions(reference):
            return name, factor
    return str(dim), 1.0


def _spec_layers(initial_spec, trained_spec, layers) -> list:
    """``[(initial_layer, trained_layer)]`` for the selected layer names, checking that the specs match."""
    initial = {layer.name: layer for layer in initial_spec.layers}
    trained = {layer.name: layer for layer in trained_spec.layers}
    if list(initial) != list(trained):
        raise DataError(f"trained_spec: layers {list(trained)} differ from initial_spec's {list(initial)}")
    if layers is None:
        names = list(initial)
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in names if name not in initial]
        if unknown:
            raise ParameterError("layers", layers, f"unknown layer(s) {unknown}; layers: {list(initial)}")
    pairs = []
    for name in names:
        before, after = initial[name], trained[name]
        if before.model != after.model or before.n_neurons != after.n_neurons or \
                set(before.params) != set(after.params):
            raise DataError(f"layer {name!r}: model or size differ between initial_spec ({before.model}, "
                            f"{before.n_neurons}) and trained_spec ({after.model}, {after.n_neurons})")
        pairs.append((before, after))
    return pairs


def changed_parameters(initial_spec, trained_spec, layers=None) -> list:
    """Intrinsic parameters whose per-neuron values differ between two network specs.

    Parameters
    ----------
    initial_spec, trained_spec : brainlz.network.NetworkSpec
        The network before and after learning (same layers and sizes).
    layers : str or sequence of str, optional
        Layer names to compare (default: every layer).

    Returns
    -------
    list of (str, str)
        ``(layer name, parameter name)`` in layer order, then the model's parameter order.
    """
    changed = []
    for before, after in _spec_layers(initial_spec, trained_spec, layers):
        for name in before.neuron_model.params:
            if not np.array_equal(np.asarray(before.params[name], dtype=np.float64),
                                  np.asarray(after.params[name], dtype=np.float64)):
                changed.append((before.name, name))
    return changed


def _draw_parameter_panel(ax, param, layer_name: str, before_si, after_si, bins: int) -> None:
    unit, factor = display_unit(param.unit, np.concatenate([before_si, after_si]))
    before, after = before_si * factor, after_si * factor
    bio = sorted(float(np.asarray(x, dtype=np.float64)) * factor for x in param.bio_range)
    bounds = sorted(float(np.asarray(x, dtype=np.float64)) * factor for x in param.bounds)
    low, high = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
    if high - low <= 1e-9 * max(abs(low), abs(high), 1e-300):
        half = 0.02 * (bio[1] - bio[0]) if bio[1] > bio[0] else max(0.01 * abs(low), 0.5)
        low, high = low - half, high + half
    edges = np.linspace(low, high, int(bins) + 1)
    view_low, view_high = min(low, bio[0]), max(high, bio[1])
    pad = 0.06 * (view_high - view_low)
    view_low, view_high = view_low - pad, view_high + pad
    ax.axvspan(bio[0], bio[1], color=_PARAMETERS["bio"], alpha=0.15, linewidth=0, label="biological range")
    visible = [bound for bound in bounds if view_low <= bound <= view_high]
    for k, bound in enumerate(visible):
        ax.axvline(bound, color=_PARAMETERS["bounds"], linestyle="--", linewidth=1.0,
                   label="bound" if k == 0 else None)
    ax.hist(before, bins=edges, histtype="bar", fill=False, edgecolor=_PARAMETERS["before"], linewidth=1.0,
            label=f"before (n = {before.size})")
    ax.hist(after, bins=edges, histtype="bar", color=_PARAMETERS["after"], alpha=0.75, linewidth=0,
            label=f"after (n = {after.size})")
    ax.set_xlim(view_low, view_high)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.5)  # room for the annotation
    outside = float(np.mean((after < bio[0]) | (after > bio[1])))

    def span(a, b):
        return f"{a:g} to {b:g} {unit}".replace("-", "−")

    text = (f"mean {before.mean():.4g} → {after.mean():.4g} {unit}".replace("-", "−") +
            f"\nbiology {span(*bio)}; {outside:.0%} outside after\nbounds {span(*bounds)}")
    ax.text(0.02, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=7.5,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "0.75", "linewidth": 0.6})
    ax.set_xlabel(f"{param.name} ({unit})")
    ax.set_ylabel("number of neurons")
    ax.set_title(f"{layer_name}.{param.name}", fontsize=8.5)


def make_parameter_distributions(initial_spec, trained_spec, layers=None, bins: int = 20, title=None) -> Figure:
    """Per-neuron intrinsic parameters before and after learning, against their biological range.

    Parameters
    ----------
    initial_spec, trained_spec : brainlz.network.NetworkSpec
        The network before and after learning (same layers, models and sizes).  Only the intrinsic parameters
        are read (``layer.params``, Brian2 quantities) together with each model's
        :class:`~brainlz.models.Param` (unit, bounds, biological range).
    layers : str or sequence of str, optional
        Layer names to show (default: every layer).
    bins : int
        Number of histogram bins over the range of the values (before and after together).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel (axes) per parameter whose values differ between the specs (:func:`changed_parameters`), in
        layer order: the number of neurons against the value in the parameter's display unit
        (:func:`display_unit`: ms, mV, MOhm, nA or pA, Hz), before learning as a grey outline and after learning
        filled, on the same bins; the biological reference range (``Param.bio_range``) shaded, the bounds
        (``Param.bounds``) as dashed lines where they fall inside the view and written out in every panel, the
        mean before → after and the share of neurons outside the biological range after learning.  Panels are
        titled ``<layer>.<parameter>``.  If no parameter differs, the parameters marked learnable are shown
        instead (before and after coincide) under a note saying so.

    Raises
    ------
    DataError
        If the specs have different layers, models or sizes.
    ParameterError
        For an unknown layer name or a bad ``bins``.
    """
    checks.integer("bins", bins, low=1, reason="expected a positive integer")
    pairs = _spec_layers(initial_spec, trained_spec, layers)
    changed = set(changed_parameters(initial_spec, trained_spec, [before.name for before, _ in pairs]))
    panels = []
    for before, after in pairs:
        model = before.neuron_model
        for name, param in model.params.items():
            if (before.name, name) in changed:
                panels.append((before.name, param, before.params[name], after.params[name]))
    note = None
    if not panels:
        note = "No intrinsic parameter changed during learning; showing the learnable parameters."
        for before, after in pairs:
            for name, param in before.neuron_model.params.items():
                if param.learnable:
                    panels.append((before.name, param, before.params[name], after.params[name]))
        if not panels:
            note = "No intrinsic parameter changed during learning, and none is marked learnable."
    n_panels = len(panels)
    n_columns = max(1, min(n_panels, 3))
    n_rows = max(1, int(np.ceil(n_panels / n_columns)))
    with style():
        fig = Figure(figsize=(3.4 * n_columns + 0.4, 0.7 + 2.8 * n_rows + (0.3 if note else 0)),
                     layout="constrained")
        for k, (layer_name, param, before_values, after_values) in enumerate(panels):
            ax = fig.add_subplot(n_rows, n_columns, k + 1)
            _draw_parameter_panel(ax, param, layer_name, np.asarray(before_values, dtype=np.float64).ravel(),
                                  np.asarray(after_values, dtype=np.float64).ravel(), int(bins))
        if panels:
            fig.legend(handles=[Patch(facecolor="none", edgecolor=_PARAMETERS["before"], label="before learning"),
                                Patch(color=_PARAMETERS["after"], alpha=0.75, label="after learning"),
                                Patch(color=_PARAMETERS["bio"], alpha=0.15, label="biological range (Param.bio_range)"),
                                Line2D([], [], color=_PARAMETERS["bounds"], linestyle="--",
                                       label="bounds (Param.bounds)")],
                       loc="outside lower center", ncols=4)
        heading = title or "Intrinsic parameters per neuron before and after learning"
        if note and panels:
            heading += "\n" + note
        elif note:
            fig.text(0.5, 0.5, note, ha="center", va="center", fontsize=8.5, color="0.3")
        fig.suptitle(heading)
    return fig


def plot_parameter_distributions(initial_spec, trained_spec, path, layers=None, bins: int = 20,
                                 title=None) -> Path:
    """Draw :func:`make_parameter_distributions` and write it as a PNG to ``path`` (atomically); return the path."""
    return save_figure(make_parameter_distributions(initial_spec, trained_spec, layers=layers, bins=bins,
                                                    title=title), path)


def make_forest_grid(panels, *, references=None, xlabel: str = "difference", title: str = "",
                     empty_text: str = "no estimate yet") -> Figure:
    """A grid of forest plots: per panel, one interval per row, top to bottom.

    Parameters
    ----------
    panels : list of list of (str, list)
        ``panels[r][c] = (panel title, rows)``, each row ``(label, mean, low, high, kind)``; ``kind`` ``"pooled"``
        draws a black diamond, anything else a blue dot.
    references : list of float, optional
        Per panel row ``r``, the x of a dashed red reference line (e.g. a published effect); a solid line marks 0.
    xlabel, title : str
        The bottom row's x label and the figure's title.
    empty_text : str
        Written in a panel without rows.
    """
    n_rows, n_cols = len(panels), len(panels[0])
    with style():
        fig = Figure(figsize=(11.0, 6.0), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, sharex=True, squeeze=False)
        for r in range(n_rows):
            for c in range(n_cols):
                ax = axes[r][c]
                name, rows = panels[r][c]
                for y, (label, mean, low, high, kind) in enumerate(rows):
                    colour = "black" if kind == "pooled" else "tab:blue"
                    ax.errorbar([mean], [y], xerr=[[mean - low], [high - mean]], fmt="D" if kind == "pooled" else "o",
                                color=colour, capsize=3, markersize=5)
                ax.axvline(0.0, color="0.3", linewidth=0.8)
                if references is not None:
                    ax.axvline(references[r], color="tab:red", linestyle="--", linewidth=0.8)
                ax.set_yticks(range(len(rows)), [row[0] for row in rows])
                ax.set_ylim(len(rows) - 0.5 if rows else 0.5, -0.5)
                ax.set_title(name)
                if not rows:
                    ax.text(0.5, 0.5, empty_text, transform=ax.transAxes, ha="center", va="center", color="0.4")
                if r == n_rows - 1:
                    ax.set_xlabel(xlabel)
        if title:
            fig.suptitle(title)
    return fig
