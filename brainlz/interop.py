"""Neo and Elephant interoperability: spike data in from ``neo``, a run's output rasters out to ``neo``.

Needs neo and elephant (the ``neo`` extra: ``pip install '.[neo]'`` in the checkout); ``neo`` is imported on first
use, so importing this module costs nothing.

Binning rule (Neo -> brainlz)
-----------------------------
A sample is one ``neo.Segment``; its ``SpikeTrain`` objects are the channels, in the order of
``segment.spiketrains``.  Bin ``i`` covers ``[t_start + i*dt, t_start + (i+1)*dt)``.  A spike less than
:data:`EDGE_TOLERANCE` of a bin below an edge counts in the bin above it, which absorbs the rounding of times
written as ``t_start + i*dt``.  Spikes outside ``[t_start, t_stop)`` (including one at exactly ``t_stop``, which
Neo allows) belong to no bin: they are dropped, counted in ``params["dropped_spikes"]``, with one warning.  A bin
holds at most one spike; with ``multiple_spikes="merge"`` two or more spikes of one train in one bin become one
and the spikes lost are counted in ``params["merged_spikes"]`` (one warning per call), with ``"error"`` they raise
:class:`~brainlz.errors.DataError` naming the segment, train and bin.

Export rule (brainlz -> Neo)
----------------------------
A spike in bin ``i`` becomes a spike at time ``t_start + i*dt``, the left edge of the bin (the time step at which
Brian2 emitted it), so export followed by :func:`neo_to_raster` at the same ``dt`` gives the raster back exactly.
One ``Segment`` per sample (annotations ``sample``, ``label``), one ``SpikeTrain`` per neuron in seconds from
``t_start`` to ``t_start + n_bins*dt`` (annotations ``layer``, ``neuron``, ``label``, ``lzc``).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np

from . import checks
from .errors import DataError, ParameterError

__all__ = ["EDGE_TOLERANCE", "MULTIPLE_SPIKES", "neo_to_labelled_raster", "neo_to_raster", "outputs_to_neo",
           "raster_to_neo", "run_dt"]

#: Fraction of a bin below an edge within which a spike time counts as on the edge (in the bin above).
EDGE_TOLERANCE = 1e-6
#: What :meth:`~brainlz.data.SpikeDataset.from_neo` and :func:`neo_to_raster` do with two spikes of one train in
#: one bin.
MULTIPLE_SPIKES = ("merge", "error")


def _neo():
    """The ``neo`` package, or an ImportError saying how to install it."""
    try:
        import neo
    except ImportError as exc:
        raise ImportError("brainlz.interop needs neo: pip install 'neo>=0.13' 'elephant>=1.0' (the neo extra)") from exc
    return neo


def _seconds(field: str, value, *, positive: bool = False) -> float:
    """A scalar time in seconds from a Brian2 quantity or a ``quantities`` (Neo) quantity."""
    if hasattr(value, "rescale") and not hasattr(value, "dim"):  # python-quantities, as Neo uses
        try:
            magnitude = np.asarray(value.rescale("s").magnitude, dtype=float)
        except ValueError:
            raise ParameterError(field, value, "expected a time, e.g. 1*ms") from None
        if magnitude.ndim != 0 or not math.isfinite(float(magnitude)):
            raise ParameterError(field, value, "expected one finite time")
        seconds = float(magnitude)
    else:
        magnitude = checks.quantity(field, value, "s")
        if magnitude.ndim != 0:
            raise ParameterError(field, value, "expected one time, e.g. 0*ms")
        seconds = float(magnitude)
    if positive and seconds <= 0:
        raise ParameterError(field, value, "expected a positive time, e.g. 1*ms")
    return seconds


def _segments(segments_or_block) -> list:
    neo = _neo()
    if isinstance(segments_or_block, neo.Block):
        segments = list(segments_or_block.segments)
    elif not isinstance(segments_or_block, (str, bytes, neo.Segment)) and hasattr(segments_or_block, "__iter__") \
            and all(isinstance(s, neo.Segment) for s in segments_or_block):  # a list, tuple or Neo's ObjectList
        segments = list(segments_or_block)
    else:
        raise ParameterError("segments_or_block", segments_or_block, "expected a neo.Block or a list of neo.Segment")
    if not segments:
        raise DataError("segments: no segment (one segment per sample is needed)")
    return segments


def _window(k: int, segment, t_start: float | None, t_stop: float | None, dt: float) -> tuple[float, int]:
    """``(start in s, n_bins)`` of segment ``k``: the given window, else its trains' own (which must agree)."""
    def common(attribute, given):
        if given is not None:
            return given
        values = {float(getattr(train, attribute).rescale("s").magnitude) for train in segment.spiketrains}
        if len(values) != 1:
            raise DataError(f"segments[{k}].spiketrains: {attribute} differs between trains ({sorted(values)} s); "
                            f"pass {attribute} to choose one window")
        return values.pop()

    start, stop = common("t_start", t_start), common("t_stop", t_stop)
    exact = (stop - start) / dt
    n_bins = round(exact)
    if n_bins < 1 or abs(exact - n_bins) > EDGE_TOLERANCE * max(1.0, exact):
        raise DataError(f"segments[{k}]: window t_stop - t_start = {stop - start:g} s is not a positive whole number "
                        f"of bins of dt = {dt:g} s; pass t_start and t_stop")
    return start, n_bins


def _bin(segments, dt: float, t_start, t_stop, multiple_spikes: str) -> tuple:
    """``(raster, starts, merged, dropped)``: the segments binned by the module's rule."""
    checks.one_of("multiple_spikes", multiple_spikes, MULTIPLE_SPIKES)
    n_channels = len(segments[0].spiketrains)
    if n_channels == 0:
        raise DataError("segments[0].spiketrains: empty (one SpikeTrain per channel is needed)")
    windows = []
    for k, segment in enumerate(segments):
        if len(segment.spiketrains) != n_channels:
            raise DataError(f"segments[{k}].spiketrains: {len(segment.spiketrains)} trains, segment 0 has "
                            f"{n_channels} (one train per channel in every segment)")
        windows.append(_window(k, segment, t_start, t_stop, dt))
    n_bins = windows[0][1]
    for k, (_, bins) in enumerate(windows):
        if bins != n_bins:
            raise DataError(f"segments[{k}]: {bins} bins, segment 0 has {n_bins}; pass t_start and t_stop")
    raster = np.zeros((len(segments), n_channels, n_bins), dtype=bool)
    merged = dropped = 0
    for k, (segment, (start, _)) in enumerate(zip(segments, windows)):
        for c, train in enumerate(segment.spiketrains):
            times = np.asarray(train.times.rescale("s").magnitude, dtype=float)
            index = np.floor((times - start) / dt + EDGE_TOLERANCE).astype(np.int64)
            inside = (index >= 0) & (index < n_bins)
            dropped += int(np.count_nonzero(~inside))
            counts = np.bincount(index[inside], minlength=n_bins)
            extra = int(counts.sum() - np.count_nonzero(counts))
            if extra and multiple_spikes == "error":
                b = int(np.argmax(counts > 1))
                raise DataError(f"segments[{k}].spiketrains[{c}]: {int(counts[b])} spikes in bin {b} "
                                f"[{start + b * dt:g}, {start + (b + 1) * dt:g}) s of dt = {dt:g} s; a bin holds at "
                                f"most one spike (use multiple_spikes='merge' or a smaller dt)")
            merged += extra
            raster[k, c] = counts > 0
    if merged:
        warnings.warn(f"{merged} spike(s) shared a bin of dt = {dt:g} s with another spike of their train and were "
                      f"merged into one (params['merged_spikes'])", stacklevel=3)
    if dropped:
        warnings.warn(f"{dropped} spike(s) outside [t_start, t_stop) were dropped (params['dropped_spikes'])",
                      stacklevel=3)
    return raster, [start for start, _ in windows], merged, dropped


def _labels(segments, label: str) -> tuple[np.ndarray, list | None]:
    """Integer labels from each segment's annotation ``label``; text labels are numbered in sorted order."""
    values = []
    for k, segment in enumerate(segments):
        if label not in segment.annotations:
            raise DataError(f"segments[{k}].annotations[{label!r}]: missing (the label annotation; this segment has "
                            f"{sorted(segment.annotations) or 'no annotations'})")
        values.append(segment.annotations[label])
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
        return np.asarray(values, dtype=np.int64), None
    if all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        number = {name: i for i, name in enumerate(names)}
        return np.asarray([number[v] for v in values], dtype=np.int64), names
    kinds = sorted({type(v).__name__ for v in values})
    raise DataError(f"segments[*].annotations[{label!r}]: expected all integers or all strings, got {kinds}")


def neo_to_labelled_raster(segments_or_block, *, label: str, dt, t_start=None, t_stop=None,
                           multiple_spikes: str = "merge") -> tuple:
    """Neo segments, one per sample, binned and labelled: what :meth:`brainlz.data.SpikeDataset.from_neo` holds.

    Parameters are those of :meth:`~brainlz.data.SpikeDataset.from_neo`, which documents them.

    Returns
    -------
    raster : bool ndarray [n_segments, n_trains, n_bins]
    labels : int64 ndarray [n_segments]
    params : dict
        ``source="neo"``, ``label_key``, ``dt_s``, ``t_start_s`` (per segment), ``n_bins``, ``multiple_spikes``,
        ``merged_spikes``, ``dropped_spikes`` (outside the window) and, for text labels, ``label_names``.
    """
    if not isinstance(label, str) or not label:
        raise ParameterError("label", label, "expected the annotation key of the class, e.g. 'label'")
    dt_s = _seconds("dt", dt, positive=True)
    start = None if t_start is None else _seconds("t_start", t_start)
    stop = None if t_stop is None else _seconds("t_stop", t_stop)
    segments = _segments(segments_or_block)
    labels, names = _labels(segments, label)
    raster, starts, merged, dropped = _bin(segments, dt_s, start, stop, multiple_spikes)
    params = {"source": "neo", "label_key": label, "dt_s": dt_s, "t_start_s": starts, "n_bins": raster.shape[2],
              "multiple_spikes": multiple_spikes, "merged_spikes": merged, "dropped_spikes": dropped}
    if names is not None:
        params["label_names"] = names
    return raster, labels, params


def neo_to_raster(block, dt, *, t_start=None, t_stop=None, multiple_spikes: str = "merge") -> np.ndarray:
    """The binned raster ``bool[n_segments, n_trains, n_bins]`` of a Neo block (or list of segments).

    The binning of :meth:`~brainlz.data.SpikeDataset.from_neo` without labels: the inverse of
    :func:`raster_to_neo` and
    :func:`outputs_to_neo` at the same ``dt``.

    Parameters
    ----------
    block : neo.Block or list of neo.Segment
    dt : Quantity, s
        Bin width.
    t_start, t_stop : Quantity, optional
        The window, as in :meth:`~brainlz.data.SpikeDataset.from_neo` (default: each segment's trains' own).
    multiple_spikes : {"merge", "error"}
        As in :meth:`~brainlz.data.SpikeDataset.from_neo` (merged spikes are only warned about here).

    Returns
    -------
    numpy.ndarray of bool
    """
    dt_s = _seconds("dt", dt, positive=True)
    start = None if t_start is None else _seconds("t_start", t_start)
    stop = None if t_stop is None else _seconds("t_stop", t_stop)
    return _bin(_segments(block), dt_s, start, stop, multiple_spikes)[0]


def raster_to_neo(raster, dt, *, labels=None, lzc=None, t_start=None, layer: str = "output", name: str = ""):
    """A ``neo.Block`` of a binned raster: one Segment per sample, one SpikeTrain per neuron.

    Parameters
    ----------
    raster : array_like
        ``[n_samples, n_neurons, n_bins]`` of bool or 0/1 integers.
    dt : Quantity, s
        Bin width (Brian2 time); a spike in bin ``i`` is exported at ``t_start + i*dt``.
    labels : array_like, optional
        ``[n_samples]`` integer class labels (segment and train annotation ``label``; none without).
    lzc : array_like, optional
        ``[n_samples, n_neurons]`` LZ complexity of each train (train annotation ``lzc``).
    t_start : Quantity, optional
        Start of every train (default 0 s); trains end at ``t_start + n_bins*dt``.
    layer : str
        Train annotation ``layer`` (default ``"output"``).
    name : str
        Name of the block.

    Returns
    -------
    neo.Block
        Annotated with ``dt_s`` and ``n_bins``; segments with ``sample`` and ``label``; trains (seconds) with
        ``layer``, ``neuron``, ``label`` and ``lzc``.
    """
    neo = _neo()
    import quantities as pq

    x = np.asarray(raster)
    if x.dtype.kind in "iu" and (x.size == 0 or (x.min() >= 0 and x.max() <= 1)):
        x = x.astype(bool)
    if x.dtype != np.bool_ or x.ndim != 3:
        raise DataError(f"raster: expected a bool or 0/1 array [n_samples, n_neurons, n_bins], got dtype {x.dtype} "
                        f"shape {x.shape}")
    n_samples, n_neurons, n_bins = x.shape
    dt_s = _seconds("dt", dt, positive=True)
    start = 0.0 if t_start is None else _seconds("t_start", t_start)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n_samples,) or labels.dtype.kind not in "iu":
            raise DataError(f"labels: expected {n_samples} integers, got dtype {labels.dtype} shape {labels.shape}")
    if lzc is not None:
        lzc = np.asarray(lzc, dtype=float)
        if lzc.shape != (n_samples, n_neurons):
            raise DataError(f"lzc: expected shape ({n_samples}, {n_neurons}), got {lzc.shape}")
    stop = start + n_bins * dt_s
    block = neo.Block(name=name, dt_s=dt_s, n_bins=int(n_bins))
    for s in range(n_samples):
        label = {} if labels is None else {"label": int(labels[s])}
        segment = neo.Segment(name=f"sample {s}", index=s, sample=s, **label)
        for j in range(n_neurons):
            times = start + np.flatnonzero(x[s, j]) * dt_s
            extra = {**label, **({} if lzc is None else {"lzc": float(lzc[s, j])})}
            train = neo.SpikeTrain(times, units=pq.s, t_start=start * pq.s, t_stop=stop * pq.s, layer=layer,
                                   neuron=j, **extra)
            segment.spiketrains.append(train)
            train.segment = segment
        block.segments.append(segment)
        segment.block = block
    return block


_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def run_dt(config: dict) -> float:
    """The bin width (s) of a run from its ``config.json`` contents.

    In order: the dataset record of the protocol (``protocol.dataset.dt_s``, runs with a
    ``Protocol(dataset=...)``), the generated data's ``dataset.dt_s`` (``dataset.train.dt_s`` with ``n_test``),
    else the protocol's ``dt`` written as text (``"1. ms"``).

    Raises
    ------
    DataError
        If none is there or the text is not a time.
    """
    protocol = config.get("protocol") or {}
    record = protocol.get("dataset")
    if isinstance(record, dict) and isinstance(record.get("dt_s"), (int, float)):
        return float(record["dt_s"])
    data = config.get("dataset") if record is None and isinstance(config.get("dataset"), dict) else {}
    for entry in (data, data.get("train") if isinstance(data.get("train"), dict) else {}):
        if isinstance(entry.get("dt_s"), (int, float)):
            return float(entry["dt_s"])
    match = re.fullmatch(r"\s*([-+0-9.eE]+)\s*(s|ms|us|ns)\s*", str(protocol.get("dt", "")))
    if match is None:
        raise DataError(f"config.json: protocol.dt = {protocol.get('dt')!r}: not a time such as '1. ms'")
    return float(match.group(1)) * _UNITS[match.group(2)]


def outputs_to_neo(path_or_run_dir):
    """A run's output rasters (``outputs.npz``) as a ``neo.Block``.

    Parameters
    ----------
    path_or_run_dir : str or Path
        A run directory of :func:`brainlz.protocol.run_protocol`, or its ``outputs.npz`` (``config.json``
        beside it gives the bin width, see :func:`run_dt`).

    Returns
    -------
    neo.Block
        :func:`raster_to_neo` of the output layer with the run's labels and per-train LZC; the block is named by
        the run id and annotated with ``run_directory`` and ``protocol``.

    Raises
    ------
    DataError
        If ``outputs.npz`` or ``config.json`` is missing or malformed (naming the file).
    """
    from brian2 import second

    path = Path(path_or_run_dir)
    directory = path if path.is_dir() else path.parent
    outputs = path / "outputs.npz" if path.is_dir() else path
    config_path = directory / "config.json"
    try:
        with np.load(outputs, allow_pickle=False) as archive:
            packed, n_bins = archive["output_packed"], int(archive["n_bins"])
            labels, lzc = archive["labels"], archive["lzc"]
    except FileNotFoundError:
        raise DataError(f"{outputs}: no such file (expected a run directory or its outputs.npz)") from None
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{outputs}: not a run's outputs.npz ({exc})") from None
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{config_path}: unreadable run config ({exc})") from None
    raster = np.unpackbits(packed, axis=-1, count=n_bins).astype(bool)
    block = raster_to_neo(raster, run_dt(config) * second, labels=labels, lzc=lzc, layer="output",
                          name=str(config.get("run_id", directory.name)))
    block.annotate(run_directory=str(directory), protocol=(config.get("protocol") or {}).get("name"))
    return block
