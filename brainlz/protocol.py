"""Protocols: experiments as Python files, and the runner that turns one into a results directory.

A protocol file defines ``PROTOCOL = Protocol(...)``::

    from brian2 import ms
    from brainlz.protocol import Protocol

    PROTOCOL = Protocol(name="my_experiment", task="burst", difficulty=0.3, model="meta_neuron",
                        n_samples=400, backend="standalone", seed=1)

``brainlz run file.py --out results`` loads it (:func:`load_protocol`), runs it (:func:`run_protocol`) and writes
``results/<name>/<run-id>/``:

``config.json``
    the resolved protocol, the network shape and provenance (versions, git commit, seeds, command, times);
``metrics.json``
    test accuracy with its 95 % Wilson interval, cross-validation accuracy, the LZC-threshold baseline, chance
    level, firing rates and simulation time per sample;
``results.md``
    the same as a markdown table;
``network.npz``, ``outputs.npz``
    the network spec and the output spike rasters (bit-packed) with labels;
``network_initial.npz``
    (protocols with learning) the network spec before learning;
``figures/``
    input/output rasters by class, LZC distributions by class, a membrane trace annotated with threshold and
    reset; with learning that changed intrinsic parameters also ``parameter_distributions.png`` (per-neuron
    values before and after learning against the biological range).

A file may instead define ``SWEEP = Sweep(...)``: a grid of protocols over seeds and other axes, see
:mod:`brainlz.sweep`.

The run directory is assembled under a temporary name and renamed into place at the end, so a run directory
either exists complete or not at all.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.util
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BrainlzError, ParameterError, ProtocolError
from . import interrupts
from .files import check_folder, jsonable, make_staging, write_json

__all__ = ["Protocol", "load_protocol", "run_protocol", "RunResult", "READOUTS", "execute_experiment_file",
           "resolve_experiment_file", "available_protocols", "jsonable"]

READOUTS = ("logistic", "threshold")


def _brian2():
    """Brian2, imported when first needed (importing this module stays fast for the command line)."""
    import brian2

    return brian2


@dataclass(frozen=True)
class Protocol:
    """One experiment: task, network, backend, readout and seeds.

    Parameters
    ----------
    name : str
        Identifier; the results go to ``<out>/<name>/<run-id>/``.
    task : str
        Task family (see :data:`brainlz.data.TASKS`).
    difficulty : float
        Task difficulty in ``[0, 1]`` (0 easiest, 1 chance).
    n_samples : int
        Number of samples (spike-train patterns).
    n_channels : int or None
        Input channels (None: the task default; 64 for ``digits``).
    n_classes : int
        Number of classes.
    n_bins : int
        Time bins per sample (default 1024).
    dt : Quantity
        Bin width = simulation time step, a Brian2 time (default ``1*ms``).
    task_options : dict
        Extra options of the task (e.g. ``{"mean_rate": 20*Hz}``).
    model : str
        Neuron model of every layer (``"lif"``, ``"meta_neuron"`` or a user model file).
    model_options : dict
        Options of the model file (e.g. ``{"stochastic": True}``).
    hidden : int
        Hidden-layer size (0: no hidden layer).
    output : int
        Output-layer size.
    weight_scale : float
        Factor on the default weight scale of :meth:`brainlz.network.NetworkSpec.create`.
    backend : str
        ``"runtime"`` (default; Brian2's cython target unless ``backend_options={"target": "numpy"}``),
        ``"standalone"``, ``"genn"`` or ``"cuda"`` (side environments, ``docs/gpu.md``).
    backend_options : dict
        Options of the backend (``{"target": "numpy"}``, ``{"threads": 2}``).
    batch_size : int
        Samples per Brian2 run.
    readout : str
        ``"logistic"`` (scaling + logistic regression, C chosen by cross-validation on the training part) or
        ``"threshold"`` (the plain mean-LZC threshold rule).
    include_counts : bool
        Use spike counts as features besides the LZC.
    test_size : float
        Fraction of samples held out for the test (default 0.1); not used with ``n_test``.
    n_test : int or None
        Size of an independent test set (default None: the test is the ``test_size`` split of the
        ``n_samples``).  With ``n_test`` all ``n_samples`` samples are the training part (inner training and any
        validation of tuning or of the outer loop), and ``n_test`` further samples are drawn from the same task
        distribution with a seed stream of their own (``derived_seeds(seed)["test_data"]``); for ``digits`` they
        come from images that no training sample uses (about 180 images per digit exist, so a large test set
        repeats those images with fresh Poisson spikes; ``params["test"]["image_indices"]`` lists them).  A
        test set of its own size makes the accuracy's sampling error small without shrinking the training part.
    n_folds : int
        Cross-validation folds on the training part.
    seed : int
        Master seed: data, weights, simulation, readout and learning seeds are derived from it.
    learning : dict
        Optional learning before the readout: ``{"rule": "stdp", ...}`` or ``{"rule": "tempotron", ...}``
        with the rule's parameters and ``epochs`` (see :func:`train_network`).  The rule sees only the training
        part of the readout's train/test split.
    description : str
        One paragraph shown in the results.
    dataset : str, Path, SpikeDataset or None
        Data of the run instead of a generated task (default None: generate ``task``): the path of an ``.npz``
        written by :meth:`brainlz.data.SpikeDataset.save` (relative to the working directory), or a
        :class:`~brainlz.data.SpikeDataset` (e.g. from :meth:`~brainlz.data.SpikeDataset.from_arrays` or
        :meth:`~brainlz.data.SpikeDataset.from_neo`).  Then
        ``task``, ``difficulty``, ``n_samples``, ``n_channels``, ``n_classes``, ``n_bins`` and ``task_options``
        are not used, the test part is the ``test_size`` split (``n_test`` is refused: an independent test set is
        drawn only for generated tasks), and the dataset's ``dt`` is the bin width and the simulation time step:
        ``dt`` must be left at its default or equal it (the dataset's wins).  Checked when the protocol is made
        (the file must load; it is read again when the run starts, and a change in between is an error).
        :meth:`to_dict` records a path as ``{"path", "sha256", ...}`` and an object as ``{"object":
        "SpikeDataset", "sha256", ...}`` (:meth:`~brainlz.data.SpikeDataset.content_hash`, sizes and ``dt_s``),
        so a sweep notices changed data.  In a sweep prefer paths: an object is copied into every cell.
    """

    name: str
    task: str = "rate"
    difficulty: float = 0.5
    n_samples: int = 400
    n_channels: int | None = 64
    n_classes: int = 2
    n_bins: int = 1024
    dt: object = field(default_factory=lambda: _brian2().ms * 1)
    task_options: dict = field(default_factory=dict)
    model: str = "lif"
    model_options: dict = field(default_factory=dict)
    hidden: int = 64
    output: int = 64
    weight_scale: float = 1.0
    backend: str = "runtime"
    backend_options: dict = field(default_factory=dict)
    batch_size: int = 100
    readout: str = "logistic"
    include_counts: bool = False
    test_size: float = 0.1
    n_test: int | None = None
    n_folds: int = 5
    seed: int = 0
    learning: dict = field(default_factory=dict)
    description: str = ""
    dataset: object = None

    def __post_init__(self):
        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"protocol.{name}", value, f"expected an integer >= {low}")

        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ParameterError("protocol.name", self.name, "expected a non-empty name of letters, digits, - _ .")
        if self.name.startswith(".") or len(self.name) > 200:  # "." and ".." would put results outside <out>/<name>
            raise ParameterError("protocol.name", self.name, "the name is a folder name under --out: it must not "
                                                             "start with '.' (no '.', '..') and have <= 200 characters")
        for name, low in (("n_samples", 2), ("n_classes", 2), ("n_bins", 1), ("hidden", 0), ("output", 1),
                          ("batch_size", 1), ("n_folds", 2), ("seed", 0)):
            integer(name, low)
        if self.n_channels is not None:
            integer("n_channels", 1)
        if self.n_test is not None:
            integer("n_test", self.n_classes)
        for name, low, high in (("difficulty", 0.0, 1.0), ("test_size", 0.01, 0.9)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ParameterError(f"protocol.{name}", value, f"expected a number in [{low}, {high}]")
        brian2 = _brian2()
        if not isinstance(self.dt, brian2.Quantity) or not brian2.have_same_dimensions(self.dt, brian2.second) \
                or self.dt.size != 1 or not np.isfinite(float(self.dt)) or float(self.dt) <= 0:
            raise ParameterError("protocol.dt", self.dt, "expected a positive Brian2 time, e.g. 1*ms")
        from . import checks

        checks.real("protocol.weight_scale", self.weight_scale, 0.0, low_open=True, types=(int, float),
                    reason="expected a positive number")
        checks.one_of("protocol.readout", self.readout, READOUTS)
        checks.flag("protocol.include_counts", self.include_counts)
        for name in ("model", "description"):  # types first: every later use assumes them
            if not isinstance(getattr(self, name), str) or (name == "model" and not self.model):
                raise ParameterError(f"protocol.{name}", getattr(self, name), "expected a string" if name ==
                                     "description" else "expected the name of a model, e.g. 'lif'")
        for name in ("task_options", "model_options", "backend_options", "learning"):
            if not isinstance(getattr(self, name), dict):
                raise ParameterError(f"protocol.{name}", getattr(self, name), "expected a dict")
        if self.learning:
            from .learning.rules import RULES

            checks.one_of("protocol.learning.rule", self.learning.get("rule"), tuple(RULES))
        from .backends import BACKENDS, check_backend_options

        checks.one_of("protocol.backend", self.backend, BACKENDS)
        check_backend_options(self.backend, self.backend_options, "protocol.backend_options")
        from .data import TASKS

        checks.one_of("protocol.task", self.task, TASKS, reason=f"unknown task; known tasks: {', '.join(TASKS)}")
        object.__setattr__(self, "_dataset_record", _check_dataset(self))

    def replace(self, **changes) -> "Protocol":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def on_backend(self, backend: str) -> tuple:
        """``(protocol, dropped)``: this protocol on another backend, keeping the backend options it takes.

        ``dropped`` holds the options of ``backend_options`` that ``backend`` does not take (e.g. the runtime's
        ``target`` when moving to ``standalone``); the command line's ``--backend`` says which it dropped.
        """
        from .backends import BACKENDS, backend_option_names

        if backend not in BACKENDS:
            raise ParameterError("--backend", backend, f"unknown backend; known backends: {', '.join(BACKENDS)}")
        accepted = backend_option_names(backend)
        kept = {k: v for k, v in self.backend_options.items() if k in accepted}
        dropped = {k: v for k, v in self.backend_options.items() if k not in accepted}
        return self.replace(backend=backend, backend_options=kept), dropped

    def to_dict(self) -> dict:
        """JSON-serialisable view (quantities as strings, ``dataset`` as its record: path or object, sha256, sizes,
        ``dt_s``)."""
        if self.dataset is None:
            return {key: jsonable(value) for key, value in dataclasses.asdict(self).items()}
        plain = copy.copy(self)  # asdict would copy the dataset's arrays into nested lists
        object.__setattr__(plain, "dataset", None)
        view = {key: jsonable(value) for key, value in dataclasses.asdict(plain).items()}
        view["dataset"] = dict(self._dataset_record)
        return view


#: Summaries of dataset files, by (resolved path, modification time, size): checking again does not reload.
_DATASET_FILES: dict = {}


def _dataset_summary(dataset) -> dict:
    """What a protocol records of its dataset besides the path: content hash, sizes and bin width."""
    return {"sha256": dataset.content_hash(), "n_samples": dataset.n_samples, "n_channels": dataset.n_channels,
            "n_bins": dataset.n_bins, "n_classes": dataset.n_classes, "dt_s": float(dataset.dt)}


def _read_dataset(value):
    """The :class:`~brainlz.data.SpikeDataset` at path ``value``; ParameterError naming ``protocol.dataset``."""
    from .data import SpikeDataset
    from .errors import DataError

    path = Path(value)
    if not path.is_file():
        raise ParameterError("protocol.dataset", str(value), "no such file (expected a .npz of SpikeDataset.save)")
    try:
        return SpikeDataset.load(path)
    except DataError as exc:
        raise ParameterError("protocol.dataset", str(value), f"cannot load it: {exc}") from None


def _check_dataset(protocol: Protocol):
    """The record of ``protocol.dataset`` (None without one), after checking it and the fields it rules out."""
    value = protocol.dataset
    if value is None:
        return None
    from .data import SpikeDataset

    if isinstance(value, SpikeDataset):
        dataset = value
        record = {"object": "SpikeDataset", **_dataset_summary(value)}
    elif isinstance(value, (str, os.PathLike)) and str(value):
        path = Path(value)
        if not path.is_file():
            raise ParameterError("protocol.dataset", str(value), "no such file (expected a .npz of SpikeDataset.save)")
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _DATASET_FILES:
            if len(_DATASET_FILES) > 64:
                _DATASET_FILES.clear()
            _DATASET_FILES[key] = _dataset_summary(_read_dataset(value))
        dataset = None
        record = {"path": str(value), **_DATASET_FILES[key]}
    else:
        raise ParameterError("protocol.dataset", value,
                             "expected None, the path of a .npz written by SpikeDataset.save, or a SpikeDataset")
    n_classes = dataset.n_classes if dataset is not None else record["n_classes"]
    if n_classes < 2:
        raise ParameterError("protocol.dataset", str(value), f"holds {n_classes} class(es); a readout needs >= 2")
    if protocol.n_test is not None:
        raise ParameterError("protocol.n_test", protocol.n_test, "an independent test set is drawn only for "
                             "generated tasks; with protocol.dataset the test part is the test_size split")
    dt, default = float(protocol.dt), float(Protocol.__dataclass_fields__["dt"].default_factory())
    if not (math.isclose(dt, record["dt_s"], rel_tol=1e-9) or math.isclose(dt, default, rel_tol=1e-9)):
        raise ParameterError("protocol.dt", protocol.dt, f"the dataset's dt is {record['dt_s']:g} s and is used; "
                             f"leave protocol.dt at its default or set it equal")
    return record


def load_protocol(path) -> Protocol:
    """Load ``PROTOCOL`` from a protocol file (or the built-in protocol of that name, e.g. ``"quickstart"``).

    Raises
    ------
    ProtocolError
        If the file is missing, does not parse, fails while executing, or defines no ``Protocol``.
    ParameterError
        If the protocol has a bad field value.
    """
    path = resolve_experiment_file(path)
    namespace = execute_experiment_file(path)
    protocol = namespace.get("PROTOCOL")
    if protocol is None:
        raise ProtocolError(f"{path} defines no PROTOCOL (expected PROTOCOL = Protocol(...))")
    if not isinstance(protocol, Protocol):
        raise ProtocolError(f"{path}: PROTOCOL is a {type(protocol).__name__}, expected a brainlz Protocol")
    return protocol


def available_protocols() -> list:
    """Names of the built-in protocols and sweeps (``quickstart``, ...), the files of ``protocols/``."""
    from .models import builtin_dir

    return sorted(f.stem for f in builtin_dir("protocols").glob("*.py") if not f.stem.startswith("_"))


def resolve_experiment_file(source) -> Path:
    """The file of a protocol or sweep given by path or by the name of a built-in protocol.

    Parameters
    ----------
    source : str or Path
        The path of a file, or a name that is not one (an identifier such as ``"quickstart"``): the built-in
        protocol ``protocols/<name>.py`` that ships with brainlz (:func:`brainlz.models.builtin_dir`).  An existing
        file wins over a built-in of the same name.

    Returns
    -------
    Path
        ``source`` itself unless it names a built-in protocol (which need not exist; loading it says so).

    Raises
    ------
    ProtocolError
        If ``source`` is a name that is neither a file nor a built-in protocol (the message lists those).
    """
    if not isinstance(source, (str, os.PathLike)):
        raise ProtocolError(f"protocol file {source!r}: expected a path (str or Path), got {type(source).__name__}")
    path = Path(source)
    if path.exists() or not isinstance(source, str) or not source.isidentifier():
        return path
    from .models import builtin_dir

    builtin = builtin_dir("protocols") / f"{source}.py"
    if builtin.is_file():
        return builtin
    raise ProtocolError(f"protocol {source!r}: no such file, and no built-in protocol of that name; built-in "
                        f"protocols: {', '.join(available_protocols())}")


def execute_experiment_file(path) -> dict:
    """Execute a protocol (or sweep) file and return its module namespace.

    ``path`` may also name a built-in protocol (``"quickstart"``, see :func:`resolve_experiment_file`).

    Raises
    ------
    ProtocolError
        If the file is missing, does not parse or fails while executing (naming the file and line).
    BrainlzError
        Raised by the file itself (e.g. a :class:`ParameterError` of a bad field value), unchanged.
    """
    path = resolve_experiment_file(path)
    if path.is_dir():
        raise ProtocolError(f"protocol file {str(path)!r} is a directory, not a protocol file (.py)")
    if not path.is_file():
        raise ProtocolError(f"protocol file {str(path)!r} " + ("is not a regular file" if path.exists() else
                                                               "does not exist"))
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{path}: not a protocol file (binary or not UTF-8 text: byte {exc.start} is "
                            f"{exc.object[exc.start:exc.start + 1]!r})") from None
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        if exc.lineno is None:  # e.g. null bytes: not Python source at all
            raise ProtocolError(f"{path}: not a protocol file ({exc.msg})") from None
        raise ProtocolError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # null bytes (some Python versions)
        raise ProtocolError(f"{path}: not a protocol file ({exc})") from None
    spec = importlib.util.spec_from_loader(f"brainlz_protocol_{path.stem}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    try:
        exec(code, module.__dict__)
    except BrainlzError:
        raise
    except Exception as exc:
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f"{path}:{line}" if line else str(path)
        raise ProtocolError(f"{where}: {type(exc).__name__}: {exc}") from None
    return module.__dict__


@dataclass
class RunResult:
    """What :func:`run_protocol` produced."""

    directory: Path
    metrics: dict
    table: str


class _Progress:
    """A one-line text progress bar on stderr (silent when ``enabled`` is False)."""

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = enabled
        self.start = time.perf_counter()

    def __call__(self, done: int, total: int):
        interrupts.check()  # after every batch
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                         f"{elapsed:5.1f} s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _git_commit(path: Path):
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=path, capture_output=True, text=True,
                               timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _provenance(protocol_file) -> dict:
    import brian2
    import matplotlib
    import scipy
    import sklearn

    from . import __version__, lzc

    return {
        "brainlz": __version__, "python": platform.python_version(), "brian2": brian2.__version__,
        "numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
        "matplotlib": matplotlib.__version__, "lzc_backend": lzc.BACKEND, "platform": platform.platform(),
        "git_commit": _git_commit(Path(protocol_file).resolve().parent if protocol_file else Path.cwd()),
        "command": " ".join(sys.argv), "protocol_file": str(protocol_file) if protocol_file else None,
    }


def derived_seeds(seed: int) -> dict:
    """Independent seeds for data, weights, simulation, readout, learning and an independent test set, derived
    from the master seed (``SeedSequence(seed).spawn``: adding a stream leaves the earlier ones unchanged)."""
    streams = np.random.SeedSequence(seed).spawn(6)
    names = ("data", "weights", "simulation", "readout", "learning", "test_data")
    return {name: int(s.generate_state(1)[0] % (2**31 - 1)) for name, s in zip(names, streams)}


def results_table(protocol: Protocol, metrics: dict) -> str:
    """The markdown results table of one run."""
    net = metrics["network_readout"]
    base = metrics["threshold_baseline"]
    lo, hi = net["test_accuracy_ci"]
    blo, bhi = base["test_accuracy_ci"]
    rows = [
        ("protocol", protocol.name),
        ("task", f"{protocol.task} (difficulty {protocol.difficulty}, {protocol.n_classes} classes)"
                 if protocol.dataset is None else
                 f"data set {protocol.dataset} ({protocol._dataset_record['n_classes']} classes)"),
        ("samples (train / test)", f"{metrics['n_samples']} ({net['n_train']} / {net['n_test']})"),
        ("network", f"{metrics['network']['sizes']} {protocol.model}, backend {metrics['simulation']['backend']}"),
        ("test accuracy, LZC readout", f"{100 * net['test_accuracy']:.1f} % (95 % CI {100 * lo:.1f}-{100 * hi:.1f})"),
        ("cross-validation accuracy", f"{100 * net['cv_accuracy_mean']:.1f} ± {100 * net['cv_accuracy_std']:.1f} %"),
        ("test accuracy, LZC-threshold baseline",
         f"{100 * base['test_accuracy']:.1f} % (95 % CI {100 * blo:.1f}-{100 * bhi:.1f})"),
        ("chance level", f"{100 * net['chance_level']:.1f} %"),
        ("mean output rate", f"{metrics['activity']['output_rate_hz']:.1f} Hz"),
        ("mean output LZC", f"{metrics['activity']['output_lzc_mean']:.3f}"),
        ("simulation time per sample", f"{1e3 * metrics['simulation']['seconds_per_sample']:.2f} ms "
                                       "(wall time incl. network construction and any compilation)"),
    ]
    if "energy" in metrics:
        e = metrics["energy"]
        rows.append(("synaptic operations per inference",
                     f"{e['synops_per_inference']:.3g} (same-size ANN: {e['ann_macs_per_inference']} MACs)"))
        rows.append(("energy per inference (synaptic, 45 nm)",
                     f"{1e9 * e['snn_joules']:.3g} nJ vs ANN {1e9 * e['ann_joules']:.3g} nJ "
                     f"(ratio {e['snn_over_ann']:.3g}; 0.9 pJ/AC, 4.6 pJ/MAC, Horowitz 2014)"))
    lines = ["| quantity | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def run_protocol(protocol: Protocol, out=None, *, protocol_file=None, progress: bool = True,
                 figures: bool = True, directory=None) -> RunResult:
    """Run a protocol end to end and write its results directory.

    Parameters
    ----------
    protocol : Protocol
    out : path, optional
        Results root (default ``results``); the run goes to ``<out>/<name>/<run-id>/``.
    protocol_file : path, optional
        The file the protocol came from (for provenance).
    progress : bool
        Show a progress bar on stderr.
    figures : bool
        Render the figures.
    directory : path, optional
        Exact path of the run directory instead of ``<out>/<name>/<run-id>/`` (``out`` is then ignored); it must
        not exist yet, its parent is created.  The run is still assembled under a temporary name in the parent
        and renamed into place at the end (used by :func:`brainlz.sweep.run_sweep`).

    Raises
    ------
    ProtocolError
        If ``directory`` exists already.

    Returns
    -------
    RunResult
    """
    from .backends import get_backend
    from .models import load_model

    if directory is not None and Path(directory).exists():
        raise ProtocolError(f"run directory {str(directory)!r} exists already")
    _check_memory(protocol)  # before anything is allocated: one line with the estimate, not a MemoryError
    if directory is not None:  # a folder that cannot take the results is refused now, not after the computation
        check_folder("directory", Path(directory).parent)
    else:
        check_folder("out", Path(out if out is not None else "results") / protocol.name)
    started = datetime.datetime.now(datetime.timezone.utc)
    seeds = derived_seeds(protocol.seed)
    load_model(protocol.model, **protocol.model_options)  # fail early, naming the model
    backend = get_backend(protocol.backend)
    requested = protocol

    # 1. data, made and split once: learning and tuning see the training part, the readout tests on the rest
    dataset, split = _make_dataset(protocol, seeds)
    if protocol.dataset is not None:  # the dataset's bin width is the time step (protocol.dt is its default or equal)
        protocol = protocol.replace(dt=dataset.dt)
    train_set = split.train if protocol.learning else None
    interrupts.check()  # a Ctrl+C that Python dropped (see brainlz.interrupts) stops the run here
    # 2. network (after tuning its size on the training part, if asked)
    tuning = None
    if protocol.learning.get("tune"):
        protocol, tuning = _tune(protocol, train_set, seeds, backend)
    initial_spec = spec = _initial_spec(protocol, dataset.n_channels, seeds)
    # 3. training on the training part
    learning_history = None
    if protocol.learning:
        spec, learning_history = train_network(spec, train_set, protocol.learning, backend=protocol.backend,
                                               backend_options=protocol.backend_options, seed=seeds["learning"],
                                               report=_report_line(protocol.name) if progress else None)
    interrupts.check()
    # 4. simulation of every sample
    result = _simulate(protocol, backend, spec, dataset, seeds, progress)
    # 5.-6. features and readout
    readouts = _readouts(protocol, result.output, dataset.labels, split, seeds)
    # 7. metrics
    metrics = _metrics(protocol, backend, spec, dataset, result, readouts, seeds, learning_history, tuning)
    interrupts.check()
    # 8. the results folder, whole or not at all
    return _write_run(protocol, requested, metrics, spec, initial_spec, dataset, result.output,
                      readouts["lzc_features"], backend, seeds, started, out=out, directory=directory,
                      protocol_file=protocol_file, figures=figures)


def _make_dataset(protocol: Protocol, seeds: dict) -> tuple:
    """``(dataset, split)``: every sample of the run and its train/test split.

    Without ``n_test``: :func:`brainlz.data.make_task` with the data seed, split by ``test_size`` with the readout
    seed.  With ``n_test``: the ``n_samples`` training samples (data seed) followed by an independent test set
    (:func:`brainlz.data.independent_test_set`, test-data seed).  With ``dataset``: that dataset (loaded again
    from its path, and checked against the content hash recorded when the protocol was made), split by
    ``test_size`` with the readout seed.
    """
    from .data import Split, SpikeDataset, independent_test_set, make_task

    if protocol.dataset is not None:  # the protocol's own data, split by test_size (n_test is refused for it)
        given = protocol.dataset
        dataset = given if isinstance(given, SpikeDataset) else _read_dataset(given)
        if dataset.content_hash() != protocol._dataset_record["sha256"]:
            from .errors import DataError

            raise DataError(f"protocol.dataset = {given}: the data changed after the protocol was made "
                            f"(sha256 {protocol._dataset_record['sha256'][:12]}, now {dataset.content_hash()[:12]})")
        return dataset, dataset.split(protocol.test_size, seeds["readout"])
    train = make_task(protocol.task, n_samples=protocol.n_samples, n_channels=protocol.n_channels,
                      difficulty=protocol.difficulty, n_classes=protocol.n_classes, n_bins=protocol.n_bins,
                      dt=protocol.dt, seed=seeds["data"], **protocol.task_options)
    if protocol.n_test is None:
        return train, train.split(protocol.test_size, seeds["readout"])
    test = independent_test_set(train, protocol.n_test, seeds["test_data"])
    dataset = SpikeDataset(np.concatenate([train.spiketrains, test.spiketrains]),
                           np.concatenate([train.labels, test.labels]), train.dt,
                           {"train": train.params, "test": test.params, "n_train": train.n_samples,
                            "n_test": test.n_samples})
    n = train.n_samples
    return dataset, Split(np.arange(n), np.arange(n, n + test.n_samples), train, test)


def _check_memory(protocol: Protocol) -> dict:
    """Refuse a run whose estimated memory (inputs, recorded rasters, one batched network) exceeds what is available
    (:func:`brainlz.resources.check_run_memory`); return the estimate by part (bytes)."""
    from .data import DEFAULT_CHANNELS
    from .resources import check_run_memory

    record = getattr(protocol, "_dataset_record", None)
    if record is not None:  # a dataset of the protocol: its own sizes
        n_samples, n_channels, n_bins = record["n_samples"], record["n_channels"], record["n_bins"]
    else:
        n_samples = protocol.n_samples + (protocol.n_test or 0)
        n_channels = DEFAULT_CHANNELS[protocol.task] if protocol.n_channels is None else protocol.n_channels
        n_bins = protocol.n_bins
    return check_run_memory(n_samples, n_channels, n_bins, protocol.hidden, protocol.output, protocol.batch_size)


def _simulate(protocol: Protocol, backend, spec, dataset, seeds: dict, progress: bool):
    """Every sample through the network on the protocol's backend, in batches (hidden rasters recorded)."""
    bar = _Progress(f"simulating {protocol.name}", progress)
    bar(0, dataset.n_samples)
    return backend.simulate(spec, dataset.spiketrains, batch_size=min(protocol.batch_size, dataset.n_samples),
                            seed=seeds["simulation"], progress=bar, record_hidden=True, **protocol.backend_options)


def _readouts(protocol: Protocol, output, labels, split, seeds: dict) -> dict:
    """LZC features of the output rasters and the two readouts, the protocol's and the LZC-threshold baseline, on
    the run's split (:func:`brainlz.readout.evaluate`; the test indices are kept for the twin check and removed from
    the metrics)."""
    from .readout import LZCFeatures, LZCThresholdClassifier, default_pipeline, evaluate

    lzc_features = LZCFeatures().fit_transform(output)
    features = LZCFeatures(include_counts=protocol.include_counts).fit_transform(output)
    if protocol.readout == "logistic":
        classifier, grid = default_pipeline(seed=seeds["readout"]), {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}
    else:
        classifier, grid = LZCThresholdClassifier(), None
    parts = (split.train_indices, split.test_indices)
    network_readout = evaluate(features, labels, seed=seeds["readout"], classifier=classifier,
                               test_size=protocol.test_size, n_folds=protocol.n_folds, param_grid=grid, split=parts)
    threshold_baseline = evaluate(lzc_features, labels, seed=seeds["readout"], classifier=LZCThresholdClassifier(),
                                  test_size=protocol.test_size, n_folds=protocol.n_folds, split=parts)
    return {"lzc_features": lzc_features, "network_readout": network_readout,
            "threshold_baseline": threshold_baseline}


def _metrics(protocol: Protocol, backend, spec, dataset, result, readouts: dict, seeds: dict, learning_history,
             tuning) -> dict:
    """``metrics.json``: accuracy with intervals, activity, simulation time, latency, energy, seeds, and the
    learning history, the tuning and the twin check where they apply."""
    from .metrics import energy_report

    output = result.output
    dt = float(protocol.dt)
    inference = _inference_latency(backend, spec, dataset.spiketrains, result, protocol, seeds)
    energy = energy_report(spec, dataset.spiketrains,
                           [result.hidden[name] for name in spec.layer_names[:-1]] + [output])
    network_readout, threshold_baseline = readouts["network_readout"], readouts["threshold_baseline"]
    lzc_features = readouts["lzc_features"]
    duration_s = dataset.n_bins * dt
    twin_check = None
    if protocol.learning.get("rule") == "surrogate":
        from .learning.surrogate import twin_check as check_twin

        twin_check = check_twin(spec, dataset, output, network_readout["test_indices"],
                                loss=protocol.learning.get("loss", "count_ce"))
    test_indices = network_readout["test_indices"]
    for entry in (network_readout, threshold_baseline):
        entry.pop("train_indices", None)
        entry.pop("test_indices", None)
    metrics = {
        "protocol": protocol.name,
        "accuracy": network_readout["test_accuracy"],
        "accuracy_ci95": network_readout["test_accuracy_ci"],
        "n_samples": dataset.n_samples,
        "network_readout": network_readout,
        "threshold_baseline": threshold_baseline,
        "network": {"sizes": list(spec.sizes), "model": protocol.model},
        "activity": {
            "input_rate_hz": float(dataset.spiketrains.mean() / dt),
            "output_rate_hz": float(output.mean() / dt),
            "output_silent_fraction": float((output.sum(axis=2) == 0).mean()),
            "output_lzc_mean": float(lzc_features.mean()),
            "output_rate_hz_by_class": {int(c): float(output[dataset.labels == c].sum(axis=2).mean() / duration_s)
                                        for c in np.unique(dataset.labels)},
        },
        "simulation": {"backend": result.backend, "seconds": result.wall_time,
                       "seconds_per_sample": result.wall_time / dataset.n_samples, "n_builds": result.n_builds},
        "latency": {"seconds_per_sample": result.wall_time / dataset.n_samples,
                    "inference_seconds_per_sample": inference,
                    "what": "seconds_per_sample: wall time of the batched Brian2 simulation per sample incl. any "
                            "compilation; inference_seconds_per_sample: a second, timed run of up to one batch "
                            "with the compiled network (no build), per sample; "
                            f"{dataset.n_bins * dt * 1e3:g} ms of input per sample"},
        "energy": energy,
        "seeds": seeds,
    }
    if learning_history is not None:
        metrics["learning"] = learning_history
    if tuning is not None:
        metrics["tuning"] = {**tuning, "tuned_protocol": protocol.to_dict()}
    if twin_check is not None:
        metrics["twin_vs_brian2"] = twin_check
    decision = _trained_decision(protocol, output, dataset.labels, test_indices, twin_check)
    if decision is not None:
        metrics["trained_decision"] = decision
    return metrics


def _trained_decision(protocol: Protocol, output, labels, test_indices, twin_check):
    """Test accuracy of the decision the supervised rule trained, read from the Brian2 output layer (None for
    unsupervised rules and without learning).

    The LZC readout is the score the paper's claim is about; a supervised rule trains another decision, and this
    entry reports it beside the readout for both arms of the grid.  Surrogate rule: the population spike count
    (:func:`brainlz.learning.surrogate.twin_check`'s Brian2 column).  Tempotron: the outputs' fire / no-fire
    votes, output ``j`` voting for class ``j % n_classes`` as :func:`~brainlz.learning.tempotron.train_output_layer`
    trains them (the class whose outputs fire most; ties to the class whose outputs spike most).
    """
    rule = protocol.learning.get("rule")
    test = np.asarray(test_indices)
    if rule == "surrogate" and twin_check is not None:
        return {"rule": rule, "test_accuracy": twin_check["brian2_accuracy_test"], "n_test": int(test.size),
                "decision": "population spike count of the output layer (the surrogate loss's decision)"}
    if rule != "tempotron":
        return None
    from .learning.tempotron import vote

    n_classes = max(int(labels.max()) + 1, 2)
    classes = np.arange(output.shape[1]) % n_classes  # train_output_layer's round-robin assignment
    counts = output[test].sum(axis=2)
    predicted = vote(counts > 0, counts.astype(float), classes, False, n_classes)
    return {"rule": rule, "test_accuracy": float(np.mean(predicted == labels[test])), "n_test": int(test.size),
            "decision": "fire / no-fire votes of the output neurons, neuron j for class "
                            "j % n_classes (the tempotron's decision)"}


def _write_run(protocol, requested, metrics, spec, initial_spec, dataset, output, lzc_features, backend, seeds,
               started, *, out, directory, protocol_file, figures) -> RunResult:
    """Assemble the run directory under a temporary name and rename it into place (whole or not at all)."""
    if directory is not None:
        final = Path(directory)
        parent = final.parent
        parent.mkdir(parents=True, exist_ok=True)
    else:
        out = Path(out if out is not None else "results")
        parent = out / protocol.name
        parent.mkdir(parents=True, exist_ok=True)
        run_id = started.strftime("%Y%m%d-%H%M%S") + f"-seed{protocol.seed}"
        final = parent / run_id
        suffix = 1
        while final.exists():
            suffix += 1
            final = parent / f"{run_id}-{suffix}"
    staging = None
    try:
        with interrupts.deferred():  # a Ctrl+C here would leave the new folder behind
            staging = make_staging(parent, f".{final.name}.")
        config = {"protocol": requested.to_dict(),  # the cell protocol a sweep compares against (before tuning)
                  "network": {"sizes": list(spec.sizes), "layers": [lay.model for lay in spec.layers]},
                  "dataset": dataset.params, "seeds": seeds, "provenance": _provenance(protocol_file),
                  "started_utc": started.isoformat(),
                  "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(), "run_id": final.name}
        write_json(staging / "config.json", config)
        write_json(staging / "metrics.json", metrics)
        table = results_table(protocol, metrics)
        (staging / "results.md").write_text(f"# {protocol.name}\n\n{protocol.description}\n\n{table}")
        spec.save(staging / "network.npz")
        if protocol.learning:
            initial_spec.save(staging / "network_initial.npz")
        np.savez_compressed(staging / "outputs.npz", output_packed=np.packbits(output, axis=-1),
                            n_bins=output.shape[-1], labels=dataset.labels, lzc=lzc_features)
        if figures:
            _render_figures(staging / "figures", protocol, spec, dataset, output, lzc_features, backend, seeds,
                            initial_spec=initial_spec)
        with interrupts.deferred():  # the run is interrupted before the rename, or finished with it
            interrupts.check()
            os.rename(staging, final)
            interrupts.completed()
    except BaseException:
        with interrupts.deferred():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        raise
    return RunResult(final, metrics, table)


def _inference_latency(backend, spec, spiketrains, result, protocol, seeds) -> float:
    """Seconds per sample of simulating one batch with the network already built (Brian2 wall time).

    On the standalone backend the main simulation's wall time includes the C++ build when it built code; then
    up to one batch is rerun with the compiled program and timed.  On the runtime backend the main wall time is
    used as it is (it includes building the Brian2 objects, and Cython compilation on a cold cache).
    """
    if protocol.backend != "standalone" or result.n_builds == 0:
        return result.wall_time / result.n_samples
    n = min(protocol.batch_size, spiketrains.shape[0])
    again = backend.simulate(spec, spiketrains[:n], batch_size=n, seed=seeds["simulation"], record_hidden=True,
                             **protocol.backend_options)
    return again.wall_time / n


def _initial_spec(protocol: Protocol, n_channels: int, seeds: dict):
    from .network import NetworkSpec

    spec = NetworkSpec.create(n_channels, hidden=protocol.hidden, output=protocol.output, model=protocol.model,
                              model_options=protocol.model_options, dt=protocol.dt, seed=seeds["weights"])
    if protocol.weight_scale != 1.0:
        spec = spec.with_weights([w * protocol.weight_scale for w in spec.weights])
    return spec


TUNABLE_FIELDS = ("hidden", "output", "weight_scale")
LEARNING_RATE_KEYS = {"surrogate": {"lr": 0.01}, "tempotron": {"learning_rate": 0.01},
                      "stdp": {"A_plus": None, "A_minus": None}}


def _scale_learning_rate(learning: dict, factor) -> dict:
    """``learning`` with the rule's learning rate(s) multiplied by ``factor`` (STDP: both amplitudes)."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise ParameterError("protocol.learning.tune.learning_rate_scale", factor, "expected positive numbers")
    out = dict(learning)
    for key, default in LEARNING_RATE_KEYS[learning["rule"]].items():
        if default is None:
            from .learning.stdp import STDPRule

            default = getattr(STDPRule, key)
        out[key] = float(out.get(key, default)) * factor
    return out


def _tune(protocol: Protocol, train_set, seeds: dict, backend):
    """Choose network size / learning-rule settings on a validation split of the training part.

    ``protocol.learning["tune"]`` maps protocol fields (``hidden``, ``output``, ``weight_scale``) or keys of the
    learning dict (``lr``, ``learning_rate``, ``epochs``, ...) to lists of candidates; ``learning_rate_scale``
    multiplies whatever the rule calls its learning rate (surrogate ``lr``, tempotron ``learning_rate``, STDP
    ``A_plus`` and ``A_minus``), so one grid fits every rule.  Every combination is
    trained on 75 % of the training part (stratified) and scored by the test accuracy of the protocol's LZC
    readout on the other 25 % (the readout fitted on the 75 %); the best (first on ties) is returned as a protocol
    without ``tune``, to be trained on the whole training part.  The test samples are never used.
    """
    import itertools

    from .readout import LZCFeatures, default_pipeline

    grid = protocol.learning["tune"]
    if not isinstance(grid, dict) or not all(isinstance(v, (list, tuple)) and v for v in grid.values()):
        raise ParameterError("protocol.learning.tune", grid, "expected a dict name -> non-empty list of candidates")
    validation = train_set.split(0.25, seeds["readout"])
    inner, val = validation.train, validation.test
    learning = {k: v for k, v in protocol.learning.items() if k != "tune"}
    def configured(choice):
        fields = {k: v for k, v in choice.items() if k in TUNABLE_FIELDS}
        changes = {k: v for k, v in choice.items() if k not in TUNABLE_FIELDS and k != "learning_rate_scale"}
        new_learning = {**learning, **changes}
        if "learning_rate_scale" in choice:
            new_learning = _scale_learning_rate(new_learning, choice["learning_rate_scale"])
        return protocol.replace(**fields, learning=new_learning)

    results = []
    for values in itertools.product(*grid.values()):
        choice = dict(zip(grid, values))
        candidate = configured(choice)
        spec = _initial_spec(candidate, train_set.n_channels, seeds)
        spec, _ = train_network(spec, inner, candidate.learning, backend=candidate.backend,
                                backend_options=candidate.backend_options, seed=seeds["learning"])
        both = np.concatenate([inner.spiketrains, val.spiketrains])
        output = backend.simulate(spec, both, batch_size=min(candidate.batch_size, len(both)),
                                  seed=seeds["simulation"], **candidate.backend_options).output
        features = LZCFeatures(include_counts=candidate.include_counts).fit_transform(output)
        readout = default_pipeline(seed=seeds["readout"]).fit(features[:inner.n_samples], inner.labels)
        accuracy = float(np.mean(readout.predict(features[inner.n_samples:]) == val.labels))
        results.append({"choice": jsonable(choice), "validation_accuracy": accuracy})
    best = max(range(len(results)), key=lambda k: (results[k]["validation_accuracy"], -k))
    choice = dict(zip(grid, list(itertools.product(*grid.values()))[best]))
    tuned = configured(choice)
    return tuned, {"candidates": results, "best": jsonable(choice), "n_validation": int(val.n_samples)}


def _report_line(name: str):
    """``report(text)``: one line ``<name>: <text>`` on stderr."""
    def report(text):
        sys.stderr.write(f"{name}: {text}\n")
        sys.stderr.flush()
    return report


def train_network(spec, train_set, learning: dict, *, backend: str = "runtime", backend_options=None, seed: int = 0,
                  report=None):
    """Apply the protocol's learning rule to ``spec`` on the training samples; return (new spec, summary dict).

    The rule comes from the registry of :mod:`brainlz.learning.rules` (``make_rule(learning).train(...)``); the
    built-in rules are described here.

    ``report``, optional: ``report(text)`` receives one line per outer step of the intrinsic-parameter loop (the
    objective at that step and the validation accuracy), e.g. to print progress.

    ``learning["rule"] == "stdp"``: :func:`brainlz.learning.stdp.train_stdp` on the input -> first-layer weights
    (unsupervised).  Keys: the :class:`~brainlz.learning.stdp.STDPRule` fields (``w_max`` defaults to 1.5 times
    the mean initial weight of that projection), ``epochs`` (default 1), ``gap``, ``between``, ``shuffle``.

    ``learning["rule"] == "tempotron"``: :func:`brainlz.learning.tempotron.train_output_layer` on the last
    projection (supervised).  Keys: the :class:`~brainlz.learning.tempotron.TempotronParams` fields and
    ``epochs`` (default 20).

    ``learning["rule"] == "surrogate"``: :func:`brainlz.learning.surrogate.train_surrogate` (supervised
    backpropagation through time in the differentiable twin, every projection and, with ``learn``, intrinsic
    parameters).  Keys: its keyword arguments (``learn``, ``shared``, ``epochs``, ``batch_size``, ``lr``,
    ``lr_intrinsic``, ``loss``, ...).
    """
    from .learning.rules import make_rule

    return make_rule(learning).train(spec, train_set, backend=backend, backend_options=backend_options, seed=seed,
                                     report=report)


def _render_figures(directory: Path, protocol, spec, dataset, output, lzc_features, backend, seeds,
                    initial_spec=None):
    from . import figures

    directory.mkdir()
    if protocol.learning and initial_spec is not None and figures.changed_parameters(initial_spec, spec):
        figures.plot_parameter_distributions(initial_spec, spec, directory / "parameter_distributions.png",
                                             title=f"{protocol.name}: intrinsic parameters before and after "
                                                   f"learning ({protocol.learning.get('rule')})")
    dt = float(spec.dt)
    figures.plot_rasters(dataset.spiketrains, output, dataset.labels, dt, directory / "rasters.png")
    figures.plot_lzc_distribution(lzc_features, dataset.labels, directory / "lzc_by_class.png",
                                  title=f"{protocol.name}: output LZC by class")
    # Trace the most active output neuron of the first sample (re-simulated alone: samples are independent).
    neuron = int(np.argmax(output[0].sum(axis=1)))
    traced = backend.simulate(spec, dataset.spiketrains[:1], trace=("output", 0, neuron), seed=seeds["simulation"],
                              **protocol.backend_options)
    params = {name: float(np.asarray(value)[neuron]) for name, value in spec.output.params.items()}
    model = spec.output.neuron_model
    spikes_ms = np.flatnonzero(traced.output[0, neuron]) * dt * 1e3
    figures.plot_membrane_trace(traced.trace, directory / "membrane_trace.png", params,
                                threshold_expression=model.threshold_expression, spikes_ms=spikes_ms,
                                title=f"{protocol.name}: output neuron {neuron}, sample 0 ({model.name})")
