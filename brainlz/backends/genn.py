"""GeNN backend: brian2genn in a pinned side environment, driven through a subprocess.

brian2genn 1.7.0 (the last release) needs ``brian2 < 2.6`` and ``numpy < 2``, which cannot live in brainlz's own
environment (``brian2 >= 2.9``).  This backend therefore

1. creates, once, a separate virtual environment with the pins of :data:`PINS` (:func:`create_env`, also the
   command ``brainlz env genn [--path DIR]``; default ``$BRAINLZ_GENN_ENV`` or ``~/.cache/brainlz/envs/genn``);
2. checks, in brainlz's own environment and before any code is generated, that brian2genn can translate the
   network (:func:`check_genn_support`);
3. writes the network (:meth:`NetworkSpec.to_arrays` values, the models' Brian2 code strings) and the input
   spikes of each batch into a run directory and runs ``_genn_worker.py`` with the side environment's Python.
   The worker imports only brian2, brian2genn and numpy (never brainlz), rebuilds the batched network with
   ``set_device('genn', ...)``, makes one ``run()`` and writes the spikes back as ``.npz``.

Differences from :func:`brainlz.network.build` forced by brian2genn (see :data:`GENN_EXCLUSIONS`):

* input spikes come from a ``SpikeGeneratorGroup`` (a ``TimedArray`` may only be read in ``run_regularly``
  code under brian2genn);
* each synapse holds its weight in a plain variable ``w`` (brian2genn rejects subexpressions in synaptic
  statements), i.e. ``n_samples * n_pre * n_post`` values per projection;
* every object uses Brian2's ``defaultclock`` (an object created with its own ``dt`` gets its own clock, and
  brian2genn supports a single clock);
* a model whose ``on_pre`` adds to several postsynaptic variables (the meta-neuron: ``I_syn_post += w`` and
  ``I_abs_post += abs(w)``) gets one ``Synapses`` object per postsynaptic variable, because GeNN accumulates the
  input of a synapse population into a single postsynaptic variable.

The first batch of a shape is a brian2genn build (code generation and compilation, then one run); every later
batch of that shape, in this call or a later one, writes its values over the compiled project's static arrays and
runs it again (:mod:`brainlz.backends.genn_project`; brian2genn itself cannot rerun a program with new values).
``codegen_only`` and traced runs build every batch (:func:`brainlz.backends.side_worker.run_batches`, the run
folder the GeNN and CUDA backends share).  Stochastic models are refused: brian2genn cannot ``seed()``.

GeNN itself is on no package registry: point ``GENN_PATH`` (or the ``genn_path`` argument) at a GeNN 4.x
installation to compile and run.  ``codegen_only=True`` needs no GeNN: it generates the GeNN project (model
definition and user code) and stops, which is what the tests check where no GeNN or GPU is available;
:func:`run_tempotron_design` runs the tempotron's GeNN design with plain Brian2 on the CPU.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import BrainlzError, ParameterError, UnsupportedError
from ..network import (NetworkSpec, brian_array, check_copy_params, check_spiketrains,
                       rasters_from_monitor, run_network, unit_name)
from . import genn_project
from .base import (SimulationResult, batches, brian_invalid_value_warnings_off, check_final_states, saved_states,
                   validate_trace)
from ..files import write_json
from .side_env import MARKER, install_pins, last_line, read_marker, venv_python, versions_text
from .side_worker import batch_arrays, fresh_dir, input_events, run_batches, run_worker, write_inputs

__all__ = ["MARKER", "simulate", "stdp_epoch", "tempotron_epoch", "run_tempotron_design", "require_genn",
           "find_genn", "build_genn", "design_blockers", "capabilities", "check_genn_support",
           "create_env", "default_env_path", "env_python", "layer_config",
           "GennError", "GennSupportError", "GennEnvError", "PINS", "GENN_EXCLUSIONS", "TRAINING_DESIGNS",
           "WORKER"]

#: Requirements of the side environment (brian2genn 1.7.0 is the last release; it needs brian2 < 2.6, whose
#: last release is 2.5.4, and numpy < 2; setuptools < 82 keeps ``pkg_resources``, which brian2 2.5 imports).
PINS = ("brian2==2.5.4", "numpy<2", "setuptools<82", "brian2genn==1.7.0")

#: The worker script, run with the side environment's Python.
WORKER = Path(__file__).with_name("_genn_worker.py")


_SOURCE = "brian2genn 1.7.0 docs (docs_sphinx/introduction/exclusions.rst)"
_DEVICE = "brian2genn 1.7.0 source (brian2genn/device.py)"
_INSYN = "brian2genn 1.7.0 source (brian2genn/insyn.py)"

#: The order in which brian2genn runs every step (its device's ``network_schedule``): run_regularly operations and
#: StateMonitors on the host, then GeNN's synapse update (the previous step's spikes) and its neuron update.
GENN_SCHEDULE = ["start", "synapses", "groups", "thresholds", "resets", "end"]

#: What brian2genn cannot translate: ``{feature: (where this is documented, what to use instead)}``.
GENN_EXCLUSIONS = {
    "pre/post variables in synaptic run_regularly": (
        "observed with brian2genn 1.7.0 and GeNN 4.9.0 (2026-12-07): the *_pre/*_post variables that a "
        "Synapses.run_regularly reads are declared as synapse variables that engine.cpp does not define, and the "
        "project does not compile",
        "move the update into on_pre code driven by marker spikes, as the tempotron's GeNN design does"),
    "seed": (f"{_DEVICE}: 'Setting a seed is currently not supported'; rand() draws from a per-neuron linear "
             "congruential generator seeded by C rand()",
             "use a deterministic model, or the runtime/standalone backend for stochastic models"),
    "several runs": (f"{_SOURCE}, 'Multiple runs': one run() per build",
                     "present all trials in one run, or call the genn backend once per run (one build each)"),
    "several networks": (f"{_SOURCE}, 'Multiple networks'", "put every object into one network"),
    "linked variables": (f"{_SOURCE}, 'Linked variables'",
                         "compute the linked quantity inside the group that uses it"),
    "heterogeneous delays": (f"{_SOURCE}, 'Heterogeneous delays': one delay per Synapses object",
                             "one Synapses object per delay value, or no delays"),
    "more than one summed variable": (f"{_SOURCE}, 'Restrictions on summed variables': one summed variable per "
                                      "Synapses, not combined with an on_pre write to a postsynaptic variable",
                                      "one Synapses object per summed variable"),
    "several postsynaptic writes in on_pre": (f"{_INSYN}: 'GeNN only supports writing to a single postsynaptic "
                                              "variable' (and only with +=)",
                                              "one Synapses object per postsynaptic variable (done automatically "
                                              "for static synapses by this backend)"),
    "on_pre reading presynaptic variables": (f"{_DEVICE}: 'brian2genn does not support references to "
                                             "pre-synaptic variables in on_pre statements'",
                                             "keep the needed quantity in a synaptic variable"),
    "timed arrays outside run_regularly": (f"{_SOURCE}, 'Timed arrays': only in run_regularly code (run on the CPU)",
                                           "a SpikeGeneratorGroup for input spikes, plain variables for weights"),
    "subexpressions in synaptic code": (f"{_DEVICE}: 'Brian2genn does not support the use of subexpressions in "
                                        "synaptic statements'", "a plain synaptic variable"),
    "multiple clocks": (f"{_SOURCE}, 'Multiple clocks' (only run_regularly and StateMonitor may use another "
                        "commensurate clock)", "one clock (Brian2's defaultclock) for all groups and synapses"),
    "custom schedules": (f"{_SOURCE}, 'Custom schedules'; {_DEVICE}: run_regularly only in the 'start' slot; "
                         "synaptic pathway 'order' is ignored (GeNN runs the presynaptic before the postsynaptic "
                         "update)", "design the code for GeNN's fixed order"),
    "custom events": (f"{_SOURCE}, 'Custom events'", "spikes only"),
    "multiple synaptic pathways": (f"{_SOURCE}, 'Multiple synaptic pathways': one pre and one post pathway",
                                   "one Synapses object per pathway"),
}

#: What the training designs of :mod:`brainlz.learning` use, and whether brian2genn translates it.  Each entry
#: is ``(part of the design, Brian2 feature, exclusion key or None if brian2genn translates it, note)``.
TRAINING_DESIGNS = {
    "stdp": (
        ("epoch = one run() (genn.stdp_epoch, stdp.genn_design)", "one run per build", None,
         "fits brian2genn's single run; every epoch is a new build (code generation and compilation)"),
        ("event-driven traces Apre/Apost", "event-driven synaptic equations", None, ""),
        ("rule constants A_plus ... w_max", "(shared) synaptic variables", None, ""),
        ("on_post pathway", "one pre and one post pathway", None, ""),
        ("clip(), int(), t in on_pre/on_post", "functions", None, "GeNN implementations exist in brian2genn"),
        ("same-step pairs left out by lastpre/lastpost in both pathways", "pathway order not needed", None,
         "brian2genn ignores Synapses order (GeNN runs on_pre first); the code gives the same pairs in either "
         "order, and the CPU designs run on_pre first too"),
        ("input: SpikeGeneratorGroup with the epoch's spikes", "SpikeGeneratorGroup", None,
         "the CPU standalone design's TimedArray spike table is not used"),
        ("every object on defaultclock", "one clock", None, "the CPU designs give each object its own dt"),
        ("no seed()", "deterministic models only", None, "stochastic models are refused with the model check"),
        ("between='reset': run_regularly(dt=period) on the layer", "run_regularly in the start slot", None,
         "executed on the CPU with host-device copies of the group's variables at every sample boundary"),
    ),
    "tempotron": (
        ("epoch = one run() (genn.tempotron_epoch, tempotron.genn_design)", "one run per build", None,
         "fits brian2genn's single run"),
        ("one kernel input: a and d = a - b, on_pre writes a_post only", "one postsynaptic write in on_pre", None,
         "the CPU design writes a_post and b_post"),
        ("running maximum and threshold crossing as Euler steps of the neurons (lagging one step) within the "
         "trial's window", "state update only", None,
         "the CPU design uses run_regularly(when='before_thresholds') every step and a threshold with reset"),
        ("input: SpikeGeneratorGroup with the epoch's spikes", "SpikeGeneratorGroup", None,
         "the CPU standalone design reads a TimedArray in a reset"),
        ("groups and synapses on defaultclock; the trial clock only for run_regularly and StateMonitor",
         "one simulation clock", None, "run_regularly/StateMonitor on a commensurate clock are supported"),
        ("new trial: run_regularly on the trial clock (when='start', order 2, named *_run_regularly_*); labels "
         "from a TimedArray inside it", "run_regularly + TimedArray in run_regularly", None,
         "executed on the CPU once per trial with host-device copies"),
        ("the weight update at the trial boundary: on_pre code, driven by a marker spike of every input at the first "
         "of two silent steps that end every trial (recognised by phase_post), reading lam_post, mu_post, "
         "label_post, tau_post, tau_s_post, fired_post, V0_post and tmax_post", "postsynaptic reads in on_pre",
         None, "the CPU design uses a Synapses.run_regularly; brian2genn cannot compile one with postsynaptic "
         "reads, and refuses postsynaptic reads in on_post"),
        ("trial StateMonitor on the trial clock, when='start'", "StateMonitor with a commensurate dt", None, ""),
        ("on_pre reads tmax_post, tau_post, tau_s_post, fired_post; stamps its spike t - dt", "postsynaptic reads "
         "in on_pre", None, "GeNN processes a spike one step after it was emitted"),
    ),
}


class GennError(BrainlzError):
    """The brian2genn worker failed (code generation, compilation or the run)."""


class GennEnvError(BrainlzError):
    """The pinned brian2genn environment could not be created.

    Attributes
    ----------
    registry_unreachable : bool
        Whether pip failed because the package index could not be reached.
    """

    def __init__(self, message: str, registry_unreachable: bool = False):
        super().__init__(message)
        self.registry_unreachable = registry_unreachable


class GennSupportError(UnsupportedError):
    """brian2genn cannot translate a feature the network or training design uses; ``blockers``' features are keys
    of :data:`GENN_EXCLUSIONS`."""

    simulator = "brian2genn"


def capabilities() -> dict:
    """What this backend supports."""
    return {"stochastic": False, "reruns_without_recompile": True, "targets": ("genn-gpu", "genn-cpu"),
            "training": {"stdp": "genn", "tempotron": "genn"}, "objective": "runtime"}


# ---------------------------------------------------------------------------------------------------------------
# capability checks
# ---------------------------------------------------------------------------------------------------------------

_POST_ADD = re.compile(r"^\s*([A-Za-z_]\w*)_post\s*\+=\s*(.+?)\s*$")
_RANDOM = re.compile(r"\b(rand|randn|poisson|binomial)\s*\(|\bxi(_\w+)?\b")


def _identifiers(code: str) -> set:
    return set(re.findall(r"\b[A-Za-z_]\w*\b", code))


def split_on_pre(on_pre: str, label: str = "on_pre") -> dict:
    """Split a static synapse's ``on_pre`` into one ``X_post += expr`` statement per postsynaptic variable.

    Parameters
    ----------
    on_pre : str
        Brian2 code of the model's ``on_pre`` (lines ``X_post += expr``; ``expr`` uses the weight ``w``).
    label : str
        Name used in error messages.

    Returns
    -------
    dict of str to str
        ``{postsynaptic variable (without _post): code}``; one ``Synapses`` object each.

    Raises
    ------
    GennSupportError
        For code brian2genn cannot translate (presynaptic reads, statements other than ``X_post += expr``, a
        line reading a postsynaptic variable another line writes).
    """
    blockers, targets = [], {}
    lines = [line.split("#")[0].strip() for line in on_pre.replace(";", "\n").splitlines()]
    for line in (line for line in lines if line):
        names = _identifiers(line)
        if any(name.endswith("_pre") for name in names):
            blockers.append(("on_pre reading presynaptic variables", f"{label}: {line!r}",
                             GENN_EXCLUSIONS["on_pre reading presynaptic variables"][1]))
            continue
        if "delay" in names:
            blockers.append(("heterogeneous delays", f"{label}: {line!r}", GENN_EXCLUSIONS["heterogeneous delays"][1]))
            continue
        match = _POST_ADD.match(line)
        if not match:
            blockers.append(("several postsynaptic writes in on_pre",
                             f"{label}: {line!r} is not of the form X_post += expr",
                             "write on_pre as in-place additions to postsynaptic variables"))
            continue
        var, expr = match.groups()
        targets.setdefault(var, []).append(expr)
    for var, exprs in targets.items():
        for other in targets:
            if other != var and any(f"{other}_post" in _identifiers(e) for e in exprs):
                blockers.append(("several postsynaptic writes in on_pre",
                                 f"{label}: the update of {var}_post reads {other}_post, which on_pre also writes",
                                 "an on_pre whose lines are independent"))
    if blockers:
        raise GennSupportError(blockers)
    return {var: f"{var}_post += " + " + ".join(f"({e})" for e in exprs) if len(exprs) > 1 else
            f"{var}_post += {exprs[0]}" for var, exprs in targets.items()}


def _model_blockers(model, label: str) -> list:
    blockers = []
    for part, code in (("threshold", model.threshold), ("reset", model.reset), ("equations", model.equations),
                       ("on_pre", model.on_pre)):
        if (model.stochastic and part == "threshold") or _RANDOM.search(code or ""):
            blockers.append(("seed", f"{label}: random numbers in the {part} ({model.name!r} is stochastic)",
                             "the deterministic model (e.g. model_options={'stochastic': False}) or the "
                             "runtime/standalone backend"))
            break
    if re.search(r"\(\s*[^)]*\blinked\b", model.equations):
        blockers.append(("linked variables", f"{label}: equations", GENN_EXCLUSIONS["linked variables"][1]))
    summed = len(re.findall(r"\(\s*[^)]*\bsummed\b", model.equations))
    if summed:
        blockers.append(("more than one summed variable" if summed > 1 else "summed variables",
                         f"{label}: equations declare {summed} summed variable(s)", "a NeuronGroup without them"))
    try:
        split_on_pre(model.on_pre, f"{label}.on_pre")
    except GennSupportError as exc:
        blockers.extend(exc.blockers)
    return blockers


def check_genn_support(spec: NetworkSpec, *, training: str | None = None, features=()) -> None:
    """Check, before any code is generated, that brian2genn can translate a network (and a training design).

    Parameters
    ----------
    spec : NetworkSpec
        Its layers' models are inspected: equations, threshold, reset and ``on_pre``.
    training : {None, "stdp", "tempotron"}
        Also check the Brian2 design of a training rule (a whole epoch inside one run; see
        :data:`TRAINING_DESIGNS`).  ``"stdp"`` trains the first layer (:func:`brainlz.learning.stdp.train_stdp`),
        ``"tempotron"`` the output layer (:mod:`brainlz.learning.tempotron`).
    features : iterable of str
        Further Brian2 features the caller intends to use, as keys of :data:`GENN_EXCLUSIONS` (``"seed"``,
        ``"several runs"``, ``"linked variables"``, ...); each one is refused.

    Raises
    ------
    GennSupportError
        Listing every blocker found: the feature (a key of :data:`GENN_EXCLUSIONS`), the part of the model or
        design that uses it, and the brainlz alternative.
    ParameterError
        For an unknown ``training`` or feature name.
    """
    checks.one_of("training", training, (None, "stdp", "tempotron"), reason="expected None, 'stdp' or 'tempotron'")
    if isinstance(features, str):
        features = (features,)
    blockers = []
    for feature in features:
        checks.one_of("features", feature, GENN_EXCLUSIONS,
                      reason=f"unknown feature; known: {', '.join(GENN_EXCLUSIONS)}")
        blockers.append((feature, "requested", GENN_EXCLUSIONS[feature][1]))
    for layer in spec.layers:
        blockers.extend(_model_blockers(layer.neuron_model, f"layer {layer.name!r} (model {layer.model!r})"))
    if training is not None:
        if training == "stdp":
            model = spec.layers[0].neuron_model
            try:
                targets = split_on_pre(model.on_pre)
            except GennSupportError:
                targets = {}  # already reported for the layer
            if len(targets) > 1:
                blockers.append(("several postsynaptic writes in on_pre",
                                 f"stdp: plastic synapses onto {model.name!r} write "
                                 f"{', '.join(v + '_post' for v in targets)}; splitting them into one Synapses "
                                 "object per target would duplicate the plastic state",
                                 "a model with one synaptic target (lif)"))
        for part, _, feature, note in TRAINING_DESIGNS[training]:
            if feature is not None:
                blockers.append((feature, f"{training}: {part}; {note}", GENN_EXCLUSIONS[feature][1]))
    if blockers:
        raise GennSupportError(blockers)


# ---------------------------------------------------------------------------------------------------------------
# the pinned environment
# ---------------------------------------------------------------------------------------------------------------

def default_env_path() -> Path:
    """Where the side environment lives: ``$BRAINLZ_GENN_ENV`` or ``~/.cache/brainlz/envs/genn``."""
    env = os.environ.get("BRAINLZ_GENN_ENV")
    return Path(env) if env else Path.home() / ".cache" / "brainlz" / "envs" / "genn"


def env_python(path=None) -> Path:
    """The Python interpreter of the side environment at ``path`` (default :func:`default_env_path`)."""
    return venv_python(path if path is not None else default_env_path())


def create_env(path=None, *, python=None, log=print, timeout: float = 1800, genn_source=None) -> Path:
    """Create (or reuse) the virtual environment with :data:`PINS`; the code behind ``brainlz env genn``.

    Idempotent: a marker file ``brainlz-env.json`` records the pins and installed versions; an environment whose
    marker holds the same pins is reused without contacting the registry.

    Parameters
    ----------
    path : path, optional
        Directory of the environment (default :func:`default_env_path`).
    python : path, optional
        Interpreter that creates the venv (default: the one running brainlz, ``sys.executable``).
    log : callable
        Called with one line per step (default ``print``).
    timeout : float
        Seconds allowed for ``pip install``.
    genn_source : path, optional
        A GeNN 4.x source checkout to build (:func:`build_genn`) and record in the environment's marker, where
        later calls find it without ``GENN_PATH`` (:func:`find_genn`).

    Returns
    -------
    Path
        The environment's directory.

    Raises
    ------
    GennEnvError
        If the venv or the installation fails (``registry_unreachable`` tells whether the index was unreachable).
    """
    path = Path(path).expanduser() if path is not None else default_env_path()
    marker = read_marker(path)
    exe = env_python(path)
    if marker is not None and marker.get("pins") == list(PINS) and exe.exists():
        log(f"brainlz: genn environment {path} exists ({versions_text(marker.get('installed', {}))}); reusing it")
    else:
        _install_env(path, exe, python, log, timeout)
    if genn_source is not None:
        built = build_genn(genn_source, log=log)
        marker = read_marker(path) or {}
        write_json(path / MARKER, {**marker, "genn": built})
        log(f"brainlz: GeNN {built['version']} at {built['genn_path']} recorded in {path / MARKER}; the genn backend "
            "finds it there without GENN_PATH")
    return path


def _install_env(path: Path, exe: Path, python, log, timeout) -> None:
    start = time.perf_counter()
    if not exe.exists():
        log(f"brainlz: creating a virtual environment at {path} with {python or sys.executable}")
        path.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([str(python or sys.executable), "-m", "venv", str(path)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise GennEnvError(f"genn environment {path}: python -m venv failed: {last_line(done.stderr)}")
    probe = ("import json, brian2, numpy, brian2genn, setuptools; print(json.dumps({'brian2': brian2.__version__, "
             "'numpy': numpy.__version__, 'brian2genn': getattr(brian2genn, '__version__', '?'), "
             "'setuptools': setuptools.__version__}))")
    install_pins(path, exe, PINS, probe, label="genn", error=GennEnvError, log=log, timeout=timeout, start=start)


def build_genn(source, *, cuda: str | bool = "auto", jobs: int | None = None, log=print,
               timeout: float = 3600) -> dict:
    """Build GeNN 4.x in its source checkout ``source`` (``make`` in its root) and check what it built.

    GeNN is on no package registry: get its source (``git clone https://github.com/genn-team/genn`` and
    ``git checkout 4.9.0``, or a release archive) and pass its folder here, or run
    ``brainlz env genn --genn-source DIR``, which also records the folder for :func:`find_genn`.

    Parameters
    ----------
    source : path
        The root of a GeNN 4.x source tree (with ``Makefile``, ``version.txt`` and ``bin/genn-buildmodel.sh``).
    cuda : {"auto", True, False}
        Build GeNN's CUDA backend too: ``"auto"`` where ``nvcc`` is on ``PATH`` and its CUDA installation has
        ``include/cuda_runtime.h``; otherwise CPU-only (GeNN's single-threaded CPU backend).
    jobs : int, optional
        Parallel ``make`` jobs (default: the number of CPUs).
    log : callable
        Called with one line per step.
    timeout : float
        Seconds allowed for ``make``.

    Returns
    -------
    dict
        ``genn_path``, ``version``, ``backends`` (the backend libraries built) and ``seconds``.

    Raises
    ------
    GennEnvError
        If ``source`` is not a GeNN 4.x source tree or the build fails (naming the build log).
    """
    root = Path(source).expanduser().resolve()
    version_file, script = root / "version.txt", root / "bin" / "genn-buildmodel.sh"
    if not (root / "Makefile").is_file() or not version_file.is_file() or not script.is_file():
        raise GennEnvError(f"--genn-source = {str(source)!r}: not a GeNN source tree (expected Makefile, "
                           "version.txt and bin/genn-buildmodel.sh in it)")
    version = version_file.read_text().strip()
    if not version.startswith("4."):
        raise GennEnvError(f"--genn-source = {str(source)!r}: GeNN {version}; brian2genn 1.7 needs GeNN 4.x")
    environment = dict(os.environ)
    cuda_root = _cuda_root() if cuda in ("auto", True) else None
    if cuda is True and cuda_root is None:
        raise GennEnvError("genn build: cuda=True but no CUDA installation (nvcc with include/cuda_runtime.h) found")
    if cuda_root is not None:
        environment["CUDA_PATH"] = str(cuda_root)
    else:
        environment.pop("CUDA_PATH", None)
    cuda_version = _cuda_version(cuda_root) if cuda_root is not None else None
    jobs = int(jobs or os.cpu_count() or 1)
    log(f"brainlz: building GeNN {version} in {root} ("
        f"{f'with CUDA {_version_text(cuda_version)} at {cuda_root}' if cuda_root else 'CPU-only'}"
        f", make -j{jobs})")
    start = time.perf_counter()
    build_log = root / "brainlz-build.log"
    shim = root / CUDA13_SHIM_FILE
    if cuda_version is not None and cuda_version >= 13000:
        shim.write_text(CUDA13_SHIM)
        log(f"brainlz: CUDA >= 13: GeNN 4's CUDA backend is compiled with a shim for cuCtxCreate's new signature "
            f"({shim}, genn.CUDA13_SHIM)")
    elif shim.exists():
        shim.unlink()
    environment.update(_genn_compile_environment(root))
    with open(build_log, "w") as handle:
        try:
            done = subprocess.run(["make", f"-j{jobs}"], cwd=root, stdout=handle, stderr=subprocess.STDOUT,
                                  env=environment, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GennEnvError(f"genn build: make timed out after {timeout:.0f} s (log: {build_log})") from None
    if done.returncode != 0:
        raise GennEnvError(f"genn build failed: {_first_error(build_log.read_text())} (log: {build_log})")
    backends = sorted(p.name for p in (root / "lib").glob("libgenn_*_backend*"))
    if not any("single_threaded_cpu" in name for name in backends):
        raise GennEnvError(f"genn build: make succeeded but built no CPU backend library in {root / 'lib'} "
                           f"(log: {build_log})")
    seconds = round(time.perf_counter() - start, 1)
    log(f"brainlz: GeNN {version} built in {seconds:.0f} s ({', '.join(backends)})")
    return {"genn_path": str(root), "version": version, "backends": backends, "seconds": seconds}


def _first_error(text: str) -> str:
    """A build log's first compiler or shell error (make's own '*** Error' summary lines come later)."""
    for line in text.splitlines():
        if "error" in line.lower() and not line.lstrip().startswith("make"):
            return line.strip()
    return last_line(text)


#: Where CUDA is looked for when the ``nvcc`` on ``PATH`` is not inside its installation (a wrapper script).
CUDA_ROOTS = ("/usr/local/cuda",)

#: Included (``-include``) in every file of GeNN 4's build where CUDA >= 13: CUDA 13's ``cuda.h`` gave
#: ``cuCtxCreate`` a ``CUctxCreateParams`` argument (``cuCtxCreate_v4``), and GeNN 4.9.0's CUDA backend
#: (``src/genn/backends/cuda/optimiser.cc``) calls it with the old three, which fails to compile ("too few arguments
#: to function cuCtxCreate_v4", measured with CUDA 13.0).  NULL parameters are the old call's meaning.  Files that
#: cannot see ``cuda.h`` (the CPU backend) are left alone; GeNN's source is not changed.
CUDA13_SHIM = """/* brainlz: GeNN 4.x against CUDA >= 13 (cuCtxCreate gained a CUctxCreateParams argument) */
#if defined(__has_include)
#if __has_include(<cuda.h>)
#include <cuda.h>
#if CUDA_VERSION >= 13000
#undef cuCtxCreate
#define cuCtxCreate(context, flags, device) cuCtxCreate_v4(context, NULL, flags, device)
#endif
#endif
#endif
"""


#: The shim's file in the GeNN tree that :func:`build_genn` built (kept: brian2genn's model builds recompile
#: GeNN's backend with it).
CUDA13_SHIM_FILE = "brainlz-cuda13-shim.h"


def _genn_compile_environment(genn_path) -> dict:
    """Variables for a compilation by or of the GeNN at ``genn_path``: ``CXXFLAGS`` with ``-include`` of its
    CUDA 13 shim where :func:`build_genn` wrote one; empty otherwise."""
    if not genn_path:  # GeNN found through genn-buildmodel.sh on PATH (require_genn): its tree is above bin/
        script = shutil.which("genn-buildmodel.sh")
        genn_path = Path(script).resolve().parent.parent if script else None
    shim = Path(genn_path).resolve() / CUDA13_SHIM_FILE if genn_path else None
    if shim is None or not shim.is_file():
        return {}
    return {"CXXFLAGS": f"{os.environ.get('CXXFLAGS', '')} -include {shim}".strip()}


def _version_text(cuda_version: int | None) -> str:
    return "(version unknown)" if cuda_version is None else f"{cuda_version // 1000}.{cuda_version % 1000 // 10}"


def _toolchain(use_gpu: bool, genn_path) -> dict:
    """What else a compiled project depends on, for its cache key: the CUDA it was compiled with (GPU runs) and the
    flags of :func:`_genn_compile_environment`."""
    cuda = (_cuda_root() or os.environ.get("CUDA_PATH")) if use_gpu else None
    return {"cuda": None if cuda is None else {"path": str(cuda), "version": _cuda_version(Path(cuda))},
            "compile": _genn_compile_environment(genn_path)}


def _cuda_version(root: Path) -> int | None:
    """``CUDA_VERSION`` of the installation at ``root`` (e.g. 13000), from its ``include/cuda.h``."""
    try:
        match = re.search(r"^#define\s+CUDA_VERSION\s+(\d+)", (root / "include" / "cuda.h").read_text(errors="replace"),
                          re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _cuda_root() -> Path | None:
    """The CUDA installation GeNN compiles against, where ``nvcc`` is on ``PATH``: the first of ``$CUDA_PATH``,
    ``$CUDA_HOME``, the folder above ``nvcc``'s own (links resolved) and :data:`CUDA_ROOTS` that has
    ``bin/nvcc``, ``include/cuda_runtime.h`` and ``include/cuda.h`` (GeNN's CUDA backend uses the runtime and the
    driver API; a wrapper ``nvcc``, as some images install in ``/usr/local/bin``, is not inside its
    installation)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    candidates = [os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), Path(os.path.realpath(nvcc)).parent.parent,
                  *CUDA_ROOTS]
    for root in (Path(candidate) for candidate in candidates if candidate):
        if (root / "bin" / "nvcc").is_file() and all((root / "include" / header).is_file()
                                                       for header in ("cuda_runtime.h", "cuda.h")):
            return root.resolve()
    return None


def find_genn(genn_path=None, env=None) -> str | None:
    """The GeNN 4.x installation to compile with: ``genn_path``, else ``$GENN_PATH``, else the one that
    ``brainlz env genn --genn-source`` recorded in the side environment ``env`` (default
    :func:`default_env_path`) if it still exists; None if there is none."""
    if genn_path is not None:
        return str(genn_path)
    if os.environ.get("GENN_PATH"):
        return os.environ["GENN_PATH"]
    marker = read_marker(Path(env) if env is not None else default_env_path()) or {}
    recorded = (marker.get("genn") or {}).get("genn_path")
    return recorded if recorded and Path(recorded).is_dir() else None


# ---------------------------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------------------------

def layer_config(layer) -> dict:
    """JSON description of one layer (its model's Brian2 strings)."""
    model = layer.neuron_model
    return {"name": layer.name, "n_neurons": int(layer.n_neurons), "equations": model.equations,
            "threshold": model.threshold, "reset": model.reset, "refractory": model.refractory,
            "method": model.method, "on_pre": split_on_pre(model.on_pre, f"layer {layer.name!r}.on_pre"),
            "weight_unit": unit_name(model.weight_unit), "params": list(layer.params),
            "states": list(model.state_variables())}


def require_genn(genn_path=None, env=None) -> str | None:
    """The GeNN installation for a compile-and-run (:func:`find_genn`); one clear :class:`GennError` if none.

    brian2genn finds GeNN through ``GENN_PATH`` (set for the worker from what this returns) or
    ``genn-buildmodel.sh`` on ``PATH`` (then None is returned).
    """
    path = find_genn(genn_path, env)
    if path and Path(path).is_dir():
        return path
    if path is None and shutil.which("genn-buildmodel.sh"):
        return None
    raise GennError(f"GeNN not found (GENN_PATH = {path!r}): build GeNN 4.x from its source with `brainlz env genn "
                    "--genn-source DIR` (it is on no package registry) or set GENN_PATH, or pass codegen_only=True "
                    "to generate the code only")


def _worker_python(env) -> Path:
    """The side environment's interpreter; one clear error if the environment does not exist."""
    python = env_python(env)
    if not python.exists():
        raise GennEnvError(f"genn environment: no Python at {python}; create it with `brainlz env genn"
                           f"{'' if env is None else ' --path ' + str(env)}`")
    return python


def _run_worker(python: Path, run_dir: Path, timeout, genn_path) -> None:
    """The brian2genn worker on ``run_dir``, with ``GENN_PATH``, ``CUDA_PATH`` for GeNN's CUDA backend (brian2genn
    needs it set: the installation :func:`_cuda_root` finds, as :func:`build_genn` does, else ``$CUDA_PATH``) and
    the CUDA 13 shim's ``CXXFLAGS`` (:func:`_genn_compile_environment`)."""
    cuda_path = _cuda_root() or os.environ.get("CUDA_PATH")  # the CUDA build_genn builds against
    run_worker(python, WORKER, run_dir, timeout=timeout, error=GennError, name="brian2genn",
               environment={"GENN_PATH": genn_path, "CUDA_PATH": cuda_path, **_genn_compile_environment(genn_path)})


def simulate(spec: NetworkSpec, spiketrains, *, env=None, directory=None, use_gpu: bool = True,
             codegen_only: bool = False, batch_size: int | None = None, record_hidden: bool = False,
             seed: int = 0, progress=None, trace=None, copy_params=None, genn_path=None,
             timeout: float | None = None) -> SimulationResult:
    """Simulate ``spec`` on every sample of ``spiketrains`` with brian2genn (GeNN, on the GPU or the CPU).

    Parameters
    ----------
    spec : NetworkSpec
        Checked with :func:`check_genn_support` before anything is written.
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
        Input rasters; bin ``b`` is a spike at ``t = b * spec.dt``.
    env : path, optional
        The side environment (default :func:`default_env_path`); created by ``brainlz env genn``.
    directory : path, optional
        For ``codegen_only`` and ``trace`` runs: the run directory (inputs, GeNN projects ``batch_<k>/project``,
        logs ``batch_<k>/worker.log``); default a new temporary directory, deleted after a successful run unless
        ``codegen_only``.  Other runs use the compiled project of their shape in
        ``<cache>/genn-projects/`` (:mod:`brainlz.backends.genn_project`) and ignore it.
    use_gpu : bool
        Run GeNN's CUDA backend (``True``) or its single-threaded CPU backend (``False``).
    codegen_only : bool
        Generate the GeNN project of every batch and stop (no GeNN needed); the returned rasters are empty.
    batch_size : int, optional
        Samples per GeNN run (default: all in one).  The first batch of a shape (batch size, network, capacity
        of input spikes: a power of two, :func:`brainlz.backends.genn_project.capacity_for`) is a brian2genn build
        (code generation, compilation, one run); every later batch of that shape, in this call or a later one,
        reruns the compiled project with its own values (a shorter last batch is padded with silent samples).
        ``codegen_only`` and ``trace`` runs build every batch.
    record_hidden : bool
        Return the hidden-layer rasters too.
    seed : int
        Accepted for the common backend interface; unused (only deterministic models are accepted).
    progress : callable, optional
        Called as ``progress(n_done, n_samples)`` after each batch.
    trace : (layer, sample, neuron), optional
        Record the state variables of this neuron (a ``StateMonitor``).
    copy_params : dict, optional
        Per-sample intrinsic parameters ``{layer: {parameter: float array [n_samples, n_neurons] (SI)}}`` (see
        :func:`brainlz.network.check_copy_params`).
    genn_path : path, optional
        GeNN 4.x installation (default: ``$GENN_PATH`` as brian2genn reads it).
    timeout : float, optional
        Seconds allowed per batch (code generation, compilation and run).

    Returns
    -------
    SimulationResult
        ``backend`` is ``"genn-gpu"`` or ``"genn-cpu"``; ``n_builds`` the number of brian2genn builds (0 when
        every batch reran a compiled project).

    Raises
    ------
    GennSupportError
        If brian2genn cannot translate the network (see :func:`check_genn_support`).
    GennEnvError
        If the side environment does not exist.
    GennError
        If code generation, compilation or the run fails (the message names the worker log).
    SimulationError
        If a batch's state variables became NaN, infinite or absurd (:func:`brainlz.backends.base.check_final_states`
        on the values the worker or the compiled project wrote after the run).
    """
    check_genn_support(spec)
    checks.integer("seed", seed)
    for name, value in (("use_gpu", use_gpu), ("codegen_only", codegen_only), ("record_hidden", record_hidden)):
        checks.flag(name, value, reason="expected True or False")
    spiketrains = check_spiketrains(spiketrains, spec.n_inputs)
    n_samples, _, n_bins = spiketrains.shape
    trace = validate_trace(trace, spec, n_samples)
    copy_params = check_copy_params(spec, copy_params, n_samples)
    chunks = batches(n_samples, batch_size)
    if not codegen_only:
        genn_path = require_genn(genn_path, env)
    python = _worker_python(env)
    layers = [layer_config(layer) for layer in spec.layers]
    weights = {f"weights_{index}": np.asarray(weight, dtype=float) for index, weight in enumerate(spec.weights)}
    record = [layer.name for layer in spec.layers] if record_hidden else [spec.output.name]
    if not codegen_only and trace is None:
        return _simulate_reusing(spec, spiketrains, chunks, layers, weights, record, copy_params, use_gpu=use_gpu,
                                 python=python, env=env, genn_path=genn_path, timeout=timeout, progress=progress)
    return run_batches(spec, spiketrains, chunks, layers=layers, weights=weights, record=record,
                       copy_params=copy_params, trace=trace, settings={"use_gpu": bool(use_gpu)},
                       run=lambda run_dir: _run_worker(python, run_dir, timeout, genn_path), directory=directory,
                       prefix="brainlz-genn-", codegen_only=bool(codegen_only),
                       backend="genn-gpu" if use_gpu else "genn-cpu", progress=progress)


def _simulate_reusing(spec, spiketrains, chunks, layers, weights, record, copy_params, *, use_gpu, python, env,
                      genn_path, timeout, progress) -> SimulationResult:
    """Every batch on one compiled project of the batch's shape (:mod:`brainlz.backends.genn_project`): built by
    the worker the first time the shape is seen, rerun with the batch's values afterwards (no rebuild).  A
    shorter last batch is padded with silent samples whose outputs are dropped."""
    n_samples, _, n_bins = spiketrains.shape
    batch = max(stop - start for start, stop in chunks)
    spikes = [input_events(spiketrains, start, stop) for start, stop in chunks]
    capacity = genn_project.capacity_for(max(indices.size for indices, _ in spikes))
    description = {"n_inputs": int(spec.n_inputs), "dt": float(spec.dt), "n_samples": batch, "n_bins": int(n_bins),
                   "layers": layers, "record": record, "use_gpu": bool(use_gpu), "capacity": capacity,
                   "python": str(python), "genn_path": str(genn_path), "pins": PINS, **_toolchain(use_gpu, genn_path)}
    root = genn_project.project_root(genn_project.project_key(description))
    project = genn_project.GennProject(root / "project")
    start_time, builds = time.perf_counter(), 0
    outputs = {name: [] for name in record}
    with genn_project.locked(root):
        for (start, stop), (indices, steps) in zip(chunks, spikes):
            padded = genn_project.padded_spikes(indices, steps, capacity, n_bins)
            arrays = batch_arrays(spec, weights, copy_params, start, stop, batch)
            values = _inference_values(layers, arrays, padded, batch, float(spec.dt))
            config = {**{key: description[key] for key in ("n_inputs", "dt", "n_samples", "n_bins", "layers",
                                                           "record")}, "trace": None}
            built = _build_or_take(project, root, config, arrays, padded, values, use_gpu=use_gpu, python=python,
                                   genn_path=genn_path, timeout=timeout, output="spikes")
            if built is not None:
                builds += 1
                with np.load(built) as data:
                    recorded = {name: (data[f"{name}_i"], data[f"{name}_t"]) for name in record}
                    states = saved_states(data, layers)
            else:
                _rerun(project, root, n_bins * float(spec.dt), genn_path, timeout)
                recorded = {name: (project.result(f"_dynamic_array_spikes_{name}_i", np.int32),
                                   project.result(f"_dynamic_array_spikes_{name}_t", np.float64)) for name in record}
                states = {layer["name"]: _project_states(project, layer["name"], layer["states"],
                                                         batch * layer["n_neurons"]) for layer in layers}
            check_final_states(spec, states, start, stop)
            for name in record:
                raster = rasters_from_monitor(recorded[name][0], recorded[name][1], batch,
                                              spec.layer(name).n_neurons, n_bins, float(spec.dt))
                outputs[name].append(raster[: stop - start])
            if progress is not None:
                progress(stop, n_samples)
    rasters = {name: np.concatenate(parts) for name, parts in outputs.items()}
    output = rasters.pop(spec.output.name)
    return SimulationResult(output=output, hidden=rasters, dt=float(spec.dt),
                            backend="genn-gpu" if use_gpu else "genn-cpu",
                            wall_time=time.perf_counter() - start_time, n_builds=builds)


def _project_states(project, group: str, variables, size: int) -> dict:
    """The state variables of the Brian2 group ``group`` after a rerun of a compiled project: brian2genn copies
    every variable back from GeNN and writes it to ``results/_array_<group>_<variable>_<hash>`` (float64)."""
    states = {}
    for variable in variables:
        values = project.result(f"_array_{group}_{variable}", np.float64)
        if values.size != size:
            raise GennError(f"the compiled GeNN project {project.directory} wrote {values.size} values of "
                            f"{group}.{variable}, expected {size}")
        states[variable] = values
    return states


def _stdp_weights(i, j, w, n_inputs: int, n: int) -> np.ndarray:
    """The weights ``w`` of synapses ``(i, j)`` as a matrix ``[n_inputs, n]``; one GennError unless every synapse
    is there once (a NaN weight is a value: :func:`brainlz.learning.stdp.check_epoch` checks it)."""
    matrix, seen = np.zeros((n_inputs, n)), np.zeros((n_inputs, n), dtype=bool)
    matrix[i, j], seen[i, j] = w, True
    if np.size(w) != matrix.size or not seen.all():
        raise GennError(f"stdp: the GeNN run returned {np.size(w)} weights, expected {matrix.size}")
    return matrix


def _inference_values(layers, arrays, spikes, batch: int, dt: float) -> dict:
    """A batch's values by Brian2 array name, as the worker sets them: the padded input spikes, every layer's
    parameters and initial states, every projection's weights (one ``Synapses`` per target, as
    ``builder.build_layers`` names them)."""
    indices, steps = spikes
    values = {"_dynamic_array_inputs_neuron_index": indices,
              "_dynamic_array_inputs_spike_number": np.arange(indices.size),
              "_dynamic_array_inputs_spike_time": steps * dt, "_dynamic_array_inputs__timebins": steps}
    for key, array in arrays.items():
        kind, _, rest = key.partition("_")
        if kind in ("param", "state"):
            values[f"_array_{rest}"] = array
    for index, layer in enumerate(layers):
        weights = np.tile(np.asarray(arrays[f"weights_{index}"], dtype=float).ravel(), batch)
        for target in sorted(layer["on_pre"]):
            values[f"_dynamic_array_syn_{index}_{layer['name']}_{target}_w"] = weights
    return values


def stdp_epoch(config: dict, arrays: dict, *, env=None, directory=None, use_gpu: bool = True,
               codegen_only: bool = False, genn_path=None, timeout: float | None = None) -> dict:
    """One STDP epoch with brian2genn: the GeNN design of :mod:`brainlz.learning.stdp`.

    Parameters
    ----------
    config, arrays
        The design of the epoch, from :func:`brainlz.learning.stdp.genn_design` (the layer's and the plastic
        synapses' code; input spikes, initial weights, per-neuron parameters).
    env, directory, use_gpu, codegen_only, genn_path, timeout
        As in :func:`simulate`.  The compiled project of the design is kept in ``<cache>/genn-projects/`` and
        rerun for every later epoch of the same design (:mod:`brainlz.backends.genn_project`); ``directory``
        (``<directory>/stdp/project``) is used only with ``codegen_only``.

    Returns
    -------
    dict
        ``weights`` (float ``[n_inputs, n_neurons]``, SI), the layer's ``spike_indices``/``spike_times`` (s) and
        ``states`` (``{state variable: values after the epoch}``, SI; checked by
        :func:`brainlz.learning.stdp.train_stdp`), all ``None`` with ``codegen_only``; ``project`` (path of the
        GeNN project), ``wall_time`` (s) and ``builds`` (1 for a build, 0 for a rerun of the compiled project).
    """
    for name, value in (("use_gpu", use_gpu), ("codegen_only", codegen_only)):
        checks.flag(name, value, reason="expected True or False")
    if not isinstance(config, dict) or config.get("mode") != "stdp":
        raise ParameterError("config", type(config).__name__, "expected the config of stdp.genn_design")
    if not codegen_only:
        genn_path = require_genn(genn_path, env)
    python = _worker_python(env)
    if not codegen_only:
        return _stdp_epoch_reusing(config, arrays, use_gpu=use_gpu, python=python, genn_path=genn_path,
                                   timeout=timeout)
    root = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="brainlz-genn-stdp-"))
    run_dir = fresh_dir(root / "stdp")
    config = {**config, "use_gpu": bool(use_gpu), "codegen_only": bool(codegen_only),
              "project": str(run_dir / "project")}
    write_inputs(run_dir, config, arrays)
    start = time.perf_counter()
    _run_worker(python, run_dir, timeout, genn_path)
    result = {"weights": None, "spike_indices": None, "spike_times": None, "states": None,
              "project": config["project"]}
    if not codegen_only:
        with np.load(run_dir / "stdp.npz") as data:
            matrix = _stdp_weights(data["i"], data["j"], data["w"], config["n_inputs"], config["layer"]["n_neurons"])
            result.update(weights=matrix, spike_indices=np.asarray(data["spike_i"]),
                          spike_times=np.asarray(data["spike_t"]),
                          states={name: np.asarray(data["final_" + name]) for name in config["layer"]["states"]})
    result["wall_time"] = time.perf_counter() - start
    return result


def _build_or_take(project, root, config, arrays, padded, values, *, use_gpu, python, genn_path, timeout,
                   output: str):
    """With the project's lock held: build it with the worker (the epoch's arrays, the input spikes padded) and
    return the worker's ``<output>.npz``, or, where it is built and can take ``values``, write them over its static
    arrays and return None (the caller reruns it).  A project that cannot take them (a value compiled in as a
    constant changed) is built again."""
    if project.built and not project.can_take(values):
        shutil.rmtree(project.directory)
    if project.built:
        project.write_values(values)
        return None
    run_dir = fresh_dir(root / "run")
    shutil.rmtree(project.directory, ignore_errors=True)
    worker_config = {**config, "use_gpu": bool(use_gpu), "codegen_only": False, "project": str(project.directory)}
    write_inputs(run_dir, worker_config, {**arrays, "input_indices": padded[0], "input_steps": padded[1]})
    _run_worker(python, run_dir, timeout, genn_path)
    project.remember(values)
    return run_dir / f"{output}.npz"


def _rerun(project, root, seconds: float, genn_path, timeout) -> None:
    """Run a built project's ``main`` again (its log: ``<root>/main.log``); one :class:`GennError` if it fails."""
    environment = dict(os.environ, **({"GENN_PATH": str(genn_path)} if genn_path is not None else {}))
    try:
        project.run(seconds, env=environment, timeout=timeout, log=root / "main.log")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        raise GennError(f"rerunning the compiled GeNN project failed: {exc} (log: {root / 'main.log'})") from None


def _stdp_epoch_reusing(config, arrays, *, use_gpu, python, genn_path, timeout) -> dict:
    """An STDP epoch on the compiled project of its design (:mod:`brainlz.backends.genn_project`): built the first
    time, rerun with the epoch's input spikes, weights and parameters afterwards (the rule's constants, the
    layer's code and the epoch's length are compiled in and part of the project's key)."""
    n_inputs, n = config["n_inputs"], config["layer"]["n_neurons"]
    capacity = genn_project.capacity_for(np.asarray(arrays["input_indices"]).size)
    description = {**config, "use_gpu": bool(use_gpu), "capacity": capacity, "python": str(python),
                   "genn_path": str(genn_path), "pins": PINS, **_toolchain(use_gpu, genn_path)}
    root = genn_project.project_root(genn_project.project_key(description))
    project = genn_project.GennProject(root / "project")
    padded = genn_project.padded_spikes(arrays["input_indices"], arrays["input_steps"], capacity,
                                        int(config["n_steps"]))
    dt = float(config["dt"])
    values = {"_dynamic_array_stdp_inputs_neuron_index": padded[0],
              "_dynamic_array_stdp_inputs_spike_number": np.arange(capacity),
              "_dynamic_array_stdp_inputs_spike_time": padded[1] * dt,
              "_dynamic_array_stdp_inputs__timebins": padded[1],
              "_dynamic_array_stdp_synapses_w": np.asarray(arrays["weights"], dtype=float)}
    prefix = f"_{config['layer']['name']}_"
    for key, array in arrays.items():
        kind, _, rest = key.partition(prefix)
        if kind in ("param", "state"):
            values[f"_array_stdp_layer_{rest}"] = array
    start = time.perf_counter()
    with genn_project.locked(root):
        built = _build_or_take(project, root, config, arrays, padded, values, use_gpu=use_gpu, python=python,
                               genn_path=genn_path, timeout=timeout, output="stdp")
        if built is not None:
            with np.load(built) as data:
                i, j, w = (np.asarray(data[key]) for key in ("i", "j", "w"))
                spike_i, spike_t = np.asarray(data["spike_i"]), np.asarray(data["spike_t"])
                states = {name: np.asarray(data["final_" + name]) for name in config["layer"]["states"]}
            builds = 1
        else:
            _rerun(project, root, int(config["n_steps"]) * dt, genn_path, timeout)
            i = project.result("_dynamic_array_stdp_synapses__synaptic_pre", np.int32)
            j = project.result("_dynamic_array_stdp_synapses__synaptic_post", np.int32)
            w = project.result("_dynamic_array_stdp_synapses_w", np.float64)
            spike_i = project.result("_dynamic_array_stdp_spikes_i", np.int32).astype(np.int64)
            spike_t = project.result("_dynamic_array_stdp_spikes_t", np.float64)
            states = _project_states(project, "stdp_layer", config["layer"]["states"], n)
            builds = 0
    return {"weights": _stdp_weights(i, j, w, n_inputs, n), "spike_indices": spike_i, "spike_times": spike_t,
            "states": states, "project": str(project.directory), "wall_time": time.perf_counter() - start,
            "builds": builds}


def design_blockers(config: dict) -> list:
    """Blockers in a training design's code (``config["synapses"]``) that brian2genn cannot compile: a synaptic
    ``run_regularly`` (``"boundary"``) that reads pre- or postsynaptic variables.  Each is ``(feature, where,
    alternative)`` as in :class:`GennSupportError`."""
    code = (config.get("synapses") or {}).get("boundary") or ""
    crossing = sorted(name for name in _identifiers(code) if name.endswith(("_pre", "_post")))
    if not crossing:
        return []
    feature = "pre/post variables in synaptic run_regularly"
    return [(feature, f"{config.get('mode', 'training')} design: the synaptic run_regularly at the trial boundary "
                      f"reads {', '.join(crossing)}", GENN_EXCLUSIONS[feature][1])]


def tempotron_epoch(config: dict, arrays: dict, *, env=None, directory=None, use_gpu: bool = True,
                    codegen_only: bool = False, genn_path=None, timeout: float | None = None) -> dict:
    """One tempotron training epoch with brian2genn: the GeNN design of :mod:`brainlz.learning.tempotron`.

    Parameters
    ----------
    config, arrays
        The design of the epoch, from :func:`brainlz.learning.tempotron.genn_design` (code strings and shapes;
        input spikes, label table, initial values).
    env, directory, use_gpu, codegen_only, genn_path, timeout
        As in :func:`simulate`; the GeNN project is ``<directory>/tempotron/project``.

    Returns
    -------
    dict
        The recorded arrays (``fired``, ``Vmax``, ``tmax`` at every trial boundary, final ``w`` and ``dw_prev``,
        ``w_trace`` if recorded; see ``brainlz.learning.tempotron.collect_arrays``), or ``{"project": path}``
        alone with ``codegen_only``.
    """
    for name, value in (("use_gpu", use_gpu), ("codegen_only", codegen_only)):
        checks.flag(name, value, reason="expected True or False")
    if not isinstance(config, dict) or config.get("mode") != "tempotron":
        raise ParameterError("config", type(config).__name__, "expected the config of tempotron.genn_design")
    if not codegen_only and design_blockers(config):  # the code can be generated, but it does not compile
        raise GennSupportError(design_blockers(config))
    if not codegen_only:
        genn_path = require_genn(genn_path, env)
    python = _worker_python(env)
    if not codegen_only:
        return _tempotron_epoch_reusing(config, arrays, use_gpu=use_gpu, python=python, genn_path=genn_path,
                                        timeout=timeout)
    root = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="brainlz-genn-tempotron-"))
    run_dir = fresh_dir(root / "tempotron")
    project = run_dir / "project"
    write_inputs(run_dir, {**config, "use_gpu": bool(use_gpu), "codegen_only": bool(codegen_only),
                           "project": str(project)}, arrays)
    _run_worker(python, run_dir, timeout, genn_path)
    if codegen_only:
        return {"project": str(project)}
    with np.load(run_dir / "tempotron.npz") as data:
        recorded = {key: np.asarray(data[key]) for key in data.files}
    recorded["project"] = str(project)
    return recorded


def _tempotron_epoch_reusing(config, arrays, *, use_gpu, python, genn_path, timeout) -> dict:
    """A tempotron epoch on the compiled project of its design (:mod:`brainlz.backends.genn_project`): built the
    first time, rerun with the epoch's input spikes, label table, weights and neuron values afterwards (the code,
    the shapes and the number of trials are compiled in and part of the project's key)."""
    capacity = genn_project.capacity_for(np.asarray(arrays["input_indices"]).size)
    description = {**config, "use_gpu": bool(use_gpu), "capacity": capacity, "python": str(python),
                   "genn_path": str(genn_path), "pins": PINS, **_toolchain(use_gpu, genn_path)}
    root = genn_project.project_root(genn_project.project_key(description))
    project = genn_project.GennProject(root / "project")
    n_steps = int(config["n_trials"]) * int(config["period_steps"]) + 1
    padded = genn_project.padded_spikes(arrays["input_indices"], arrays["input_steps"], capacity, n_steps)
    dt = float(config["dt"])
    values = {"_dynamic_array_tempotron_inputs_neuron_index": padded[0],
              "_dynamic_array_tempotron_inputs_spike_number": np.arange(capacity),
              "_dynamic_array_tempotron_inputs_spike_time": padded[1] * dt,
              "_dynamic_array_tempotron_inputs__timebins": padded[1],
              "trial_labels_values": np.asarray(arrays["labels"], dtype=np.float64)}
    for key, array in arrays.items():
        group, _, name = key.partition("_")
        if group == "neurons":
            values[f"_array_tempotrons_{name}"] = array
        elif group == "synapses":
            values[f"_dynamic_array_tempotron_synapses_{name}"] = array
    start = time.perf_counter()
    with genn_project.locked(root):
        built = _build_or_take(project, root, config, arrays, padded, values, use_gpu=use_gpu, python=python,
                               genn_path=genn_path, timeout=timeout, output="tempotron")
        if built is not None:
            with np.load(built) as data:
                recorded = {key: np.asarray(data[key]) for key in data.files}
            recorded["builds"] = 1
        else:
            _rerun(project, root, n_steps * dt, genn_path, timeout)
            n_out = int(config["n_blocks"]) * int(config["n_out"])
            recorded = {name: project.result(f"_dynamic_array_tempotron_trials_{name}", np.float64)
                        .reshape(-1, n_out).T for name in ("fired", "Vmax", "tmax")}
            for name in ("w", "dw_prev"):
                recorded[name] = project.result(f"_dynamic_array_tempotron_synapses_{name}", np.float64)
            if config["record_weights"]:
                recorded["w_trace"] = project.result("_dynamic_array_tempotron_weights_w", np.float64).reshape(
                    -1, recorded["w"].size).T
            recorded["builds"] = 0
    recorded["project"] = str(project.directory)
    recorded["wall_time"] = time.perf_counter() - start
    return recorded


def run_tempotron_design(config: dict, arrays: dict, *, target: str = "numpy") -> dict:
    """Run the GeNN design of one tempotron epoch with plain Brian2 on the CPU (runtime device), no GeNN needed.

    The worker's own objects (``build_tempotron`` of ``_genn_worker.py``, as :func:`tempotron_epoch` builds them
    for GeNN) in one ``run()`` with brian2genn's schedule (:data:`GENN_SCHEDULE`): the check that the GeNN design
    learns what the CPU design of
    :mod:`brainlz.learning.tempotron` learns.  Switches Brian2 to the runtime device if another one is set;
    ``prefs.codegen.target`` and ``defaultclock.dt`` are restored afterwards.

    Parameters
    ----------
    config, arrays
        The design of the epoch, from :func:`brainlz.learning.tempotron.genn_design`.
    target : {"numpy", "cython"}
        Brian2's code-generation target for the run.

    Returns
    -------
    dict
        The recorded arrays, as :func:`tempotron_epoch` returns them (without ``project``): ``fired``, ``Vmax``,
        ``tmax`` (SI floats, rows: variables, columns: every trial boundary), the final ``w`` and ``dw_prev``, and
        ``w_trace`` if ``config["record_weights"]``.
    """
    import brian2
    from brian2 import defaultclock, get_device, prefs, set_device

    from ._genn_worker import build_tempotron

    if not isinstance(config, dict) or config.get("mode") != "tempotron":
        raise ParameterError("config", type(config).__name__, "expected the config of tempotron.genn_design")
    if type(get_device()).__name__ != "RuntimeDevice":
        set_device("runtime")
    old_target, old_dt = prefs.codegen.target, defaultclock.dt
    prefs.codegen.target = target
    try:
        objects = build_tempotron(brian2, config, arrays)
        network = brian2.Network([value for key, value in objects.items() if key != "duration" and value is not None])
        network.schedule = GENN_SCHEDULE  # the order brian2genn runs every step in
        with brian_invalid_value_warnings_off():  # the tempotron trainer's check_epoch says it in one line
            run_network(network, objects["duration"])
        monitor, synapses = objects["trial_monitor"], objects["synapses"]
        recorded = {"fired": brian_array(monitor.fired_[:]), "Vmax": brian_array(monitor.Vmax_[:]),
                    "tmax": brian_array(monitor.tmax_[:]), "w": brian_array(synapses.w_[:]),
                    "dw_prev": brian_array(synapses.dw_prev_[:])}
        if objects["weight_monitor"] is not None:
            recorded["w_trace"] = brian_array(objects["weight_monitor"].w_[:])
    finally:
        prefs.codegen.target = old_target
        defaultclock.dt = old_dt
    return recorded
