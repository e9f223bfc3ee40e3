"""CUDA backend: brian2cuda in a pinned side environment, driven through a subprocess.

brian2cuda 1.0b1 (a pre-release, the only release for current Brian2) requires ``brian2 == 2.10.1``, which needs
Python >= 3.12; brainlz's own environment may run an older Python and another Brian2.  This backend therefore

1. creates, once, a separate virtual environment with the pins of :data:`PINS`, using a Python >= 3.12 found by
   :func:`find_python` (:func:`create_env`, also the command ``brainlz env cuda [--path DIR]``; default
   ``$BRAINLZ_CUDA_ENV`` or ``~/.cache/brainlz/envs/cuda``);
2. checks, in brainlz's own environment and before any code is generated, that brian2cuda can translate the
   network and the requested features (:func:`check_cuda_support`, :data:`CUDA_EXCLUSIONS`);
3. writes the network (:meth:`NetworkSpec.to_arrays` values, the models' Brian2 code strings) and the input
   spikes of each batch into a run directory and runs ``_cuda_worker.py`` with the side environment's Python
   (:mod:`brainlz.backends.side_worker`, shared with the GeNN backend).
   The worker imports only brian2, brian2cuda and numpy (never brainlz), rebuilds the batched network with
   ``set_device('cuda_standalone', ...)``, makes one ``run()`` and writes the spikes back as ``.npz``.

The network is the one of :func:`brainlz.network.build` (block-diagonal copies, one ``Synapses`` per layer with
the model's whole ``on_pre``), except that input spikes come from a ``SpikeGeneratorGroup``, each synapse holds
its weight in a constant variable ``w`` and every object uses Brian2's ``defaultclock`` (brian2cuda issue #222
concerns objects on different clocks).  Every batch is one brian2cuda build (code generation, ``nvcc``
compilation, one run).

Stochastic models run (``seed`` is passed to Brian2's ``seed()``), but brian2cuda draws its random numbers with
cuRAND: the same seed does not give the numbers of the runtime or standalone backends.

``codegen_only=True`` needs neither a GPU nor the CUDA toolkit: GPU and CUDA detection are switched off and the
compute capability and CUDA runtime version are set explicitly (brian2cuda docs, "Cross-compiling on systems
without GPU access"); the CUDA project (``code_objects/*.cu``, ``objects.cu``, ``main.cu``, ``makefile``,
``static_arrays/``) is generated and nothing is compiled or run.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import BrainlzError, ParameterError, UnsupportedError
from ..network import NetworkSpec, unit_name, check_copy_params, check_spiketrains
from .base import SimulationResult, batches, validate_trace
from .side_worker import run_batches, run_worker
from .side_env import MARKER, install_pins, last_line, read_marker, venv_python, versions_text

__all__ = ["MARKER", "simulate", "capabilities", "check_cuda_support", "create_env", "default_env_path", "env_python",
           "find_python", "CudaError", "CudaSupportError", "CudaEnvError", "PINS", "MIN_PYTHON",
           "CUDA_EXCLUSIONS", "TRAINING_DESIGNS", "WORKER", "CODEGEN_COMPUTE_CAPABILITY",
           "CODEGEN_RUNTIME_VERSION"]

#: Requirements of the side environment.  brian2cuda 1.0b1 is a pre-release (the exact version lets pip take it
#: without ``--pre``); its metadata requires ``brian2 == 2.10.1``, which needs Python >= 3.12.
PINS = ("brian2==2.10.1", "brian2cuda==1.0b1")

#: The oldest Python the side environment may use.
MIN_PYTHON = (3, 12)

#: The worker script, run with the side environment's Python.
WORKER = Path(__file__).with_name("_cuda_worker.py")

#: Compute capability and CUDA runtime version assumed by ``codegen_only`` (no GPU to detect); brian2cuda 1.0b1
#: refuses compute capabilities below 5.0.
CODEGEN_COMPUTE_CAPABILITY = 8.0
CODEGEN_RUNTIME_VERSION = 12.0

_ISSUES = "brian2cuda 1.0b1 docs (docs_sphinx/introduction/known_issues.rst)"
_DEVICE = "brian2cuda 1.0b1 source (brian2cuda/device.py)"
_GENERATOR = "brian2cuda 1.0b1 source (brian2cuda/cuda_generator.py)"
_CONFIG = "brian2cuda 1.0b1 docs (docs_sphinx/introduction/cuda_configuration.rst)"

#: What brian2cuda cannot do, or does wrongly: ``{feature: (where this is documented, what to use instead)}``.
CUDA_EXCLUSIONS = {
    "store/restore": (f"{_DEVICE}: 'The store/restore mechanism is not supported in CUDA standalone'",
                      "rebuild the network, or set the values again through run_args"),
    "changing delays between runs": (f"{_ISSUES}, 'Changing delays between run calls' (brian2cuda issue #302): "
                                     "changing homogeneous delays, or switching between homogeneous and "
                                     "heterogeneous delays, loses queued spikes",
                                     "keep the delays of a Synapses object fixed over all runs of a build"),
    "changing synaptic dt between runs": (f"{_ISSUES}, 'Changing the integration time step of Synapses with "
                                          "delays between run calls' (brian2cuda issue #136): loses queued spikes",
                                          "one dt per build"),
    "synapses on another clock than their source": (f"{_ISSUES}, 'Using a different integration time for "
                                                    "Synapses and its source NeuronGroup' (brian2cuda issue #222; "
                                                    "homogeneous delays)",
                                                    "one clock for all objects (this backend uses defaultclock)"),
    "index-sorted spike monitors": (f"{_ISSUES}, 'SpikeMonitor and EventMonitor data is not sorted by indices' "
                                    "(brian2cuda issue #46): sorted by time only",
                                    "sort (t, i) yourself; rasters (what this backend returns) are unaffected"),
    "single precision": (f"{_ISSUES}, 'Single precision mode fails ...' (brian2cuda issue #254): float literal "
                         "replacement breaks names such as variable12.attribute or variable28e2",
                         "the default float64 (prefs.core.default_float_dtype)"),
    "standalone random numbers": ("brian2cuda 1.0b1 source (brian2cuda/device.py, rand.cu): rand(), randn(), "
                                  "poisson() are drawn with cuRAND; the same seed() gives other numbers than "
                                  "Brian2's runtime and cpp_standalone devices",
                                  "compare stochastic models statistically, or use the standalone backend"),
    "OpenMP threads": (f"{_DEVICE}: 'Using OpenMP in a CUDA standalone project is not supported'",
                       "leave devices.cpp_standalone.openmp_threads at 0"),
    "several report functions": (f"{_DEVICE}: 'The CUDA standalone device does not support multiple report "
                                 "functions, each run has to use the same (or none)'", "one report function"),
    "scalar values in user function namespaces": (f"{_GENERATOR}: 'Directly replace scalar values in the function "
                                                  "instead of providing them via the namespace'",
                                                  "write the constant into the function's CUDA code"),
    "windows": (f"{_DEVICE}: 'Windows is currently not supported' (brian2cuda issue #225)", "Linux"),
    "compute capability below 5.0": (f"{_DEVICE}: minimal_compute_capability = 5.0",
                                     "a GPU of compute capability 5.0 or later"),
}

#: What the training designs of :mod:`brainlz.learning` use, and whether brian2cuda translates it.  Each entry
#: is ``(part of the design, Brian2 feature, exclusion key or None if brian2cuda translates it, note)``.  Neither
#: design is run on this backend by brainlz yet (they build cpp_standalone programs); see :func:`check_cuda_support`.
TRAINING_DESIGNS = {
    "stdp": (
        ("epoch = one run() of a compiled program, rerun through run_args", "run_args (arrays, TimedArray values)",
         None, "brian2cuda's objects.cu sets arrays and TimedArray values from the command line like cpp_standalone"),
        ("event-driven traces Apre/Apost, on_post pathway", "event-driven synaptic equations, two pathways", None,
         ""),
        ("stdp_synapses: syn.post.order = -1, syn.pre.order = 0", "synaptic pathway order", None,
         "brian2cuda runs the code objects in Brian2's schedule order"),
        ("standalone epoch input: spike table read by a TimedArray in the input threshold",
         "TimedArray in a threshold", None, "brian2cuda/timedarray.py implements TimedArray in device code"),
        ("_build_training: dt=dt on every object (one Clock each, same dt)", "several clocks with one dt", None,
         "issue #222 concerns different dt with homogeneous delays; brainlz uses no delays"),
        ("brian2.seed(seed) before each epoch run", "seed()", "standalone random numbers",
         "only for stochastic models: cuRAND gives other numbers than the standalone program"),
        ("between='reset': run_regularly(dt=period, when='start')", "run_regularly on a commensurate clock", None,
         ""),
    ),
    "tempotron": (
        ("epoch = one run() of a compiled program, rerun through run_args", "run_args (arrays, TimedArray values)",
         None, ""),
        ("_TRACK_MAX: run_regularly(when='before_thresholds') every step", "run_regularly in any slot", None, ""),
        ("_ON_PRE: a_post += ... and b_post += ...", "several postsynaptic writes in on_pre", None,
         "brian2cuda uses atomics or serialises the synaptic effects (cuda_generator.py)"),
        ("standalone input: reset reads the next spike step from a TimedArray", "TimedArray in a reset", None, ""),
        ("_NEW_TRIAL / _BOUNDARY: run_regularly on the trial clock; labels from a TimedArray",
         "run_regularly + TimedArray", None, ""),
        ("trial StateMonitor on the trial clock, when='start'", "StateMonitor with a commensurate dt", None, ""),
    ),
}


class CudaError(BrainlzError):
    """The brian2cuda worker failed (code generation, compilation or the run)."""


class CudaEnvError(BrainlzError):
    """The pinned brian2cuda environment could not be created.

    Attributes
    ----------
    registry_unreachable : bool
        Whether pip failed because the package index could not be reached.
    python_missing : bool
        Whether no Python >= 3.12 was found to create it (see :func:`find_python`).
    """

    def __init__(self, message: str, registry_unreachable: bool = False, python_missing: bool = False):
        super().__init__(message)
        self.registry_unreachable = registry_unreachable
        self.python_missing = python_missing


class CudaSupportError(UnsupportedError):
    """brian2cuda cannot translate (or mistranslates) a feature the network or the caller uses; ``blockers``'
    features are keys of :data:`CUDA_EXCLUSIONS`."""

    simulator = "brian2cuda"


def capabilities() -> dict:
    """What this backend supports."""
    return {"stochastic": True, "reruns_without_recompile": False, "targets": ("cuda",),
            "same_random_numbers_as_standalone": False,
            "training": {"tempotron": "runtime"}, "objective": "runtime"}


# ---------------------------------------------------------------------------------------------------------------
# capability checks
# ---------------------------------------------------------------------------------------------------------------

def check_cuda_support(spec: NetworkSpec, *, training: str | None = None, features=(),
                       compute_capability: float | None = None, platform: str | None = None) -> None:
    """Check, before any code is generated, that brian2cuda can translate a network (and a training design).

    brian2cuda translates every Brian2 feature brainlz's models use (stochastic thresholds, several postsynaptic
    writes in ``on_pre``, ``TimedArray``, ``run_regularly``); what it cannot do is listed in
    :data:`CUDA_EXCLUSIONS` and refused here when requested or implied.

    Parameters
    ----------
    spec : NetworkSpec
        Its layers' models are inspected (equations, threshold, reset, ``on_pre``).
    training : {None, "stdp", "tempotron"}
        Also check the Brian2 design of a training rule (see :data:`TRAINING_DESIGNS`); its parts that use an
        excluded feature are blockers when that feature is requested in ``features`` (e.g. ``"standalone random
        numbers"`` for a stochastic STDP run that must match the standalone backend).
    features : iterable of str
        Brian2 features the caller intends to use or rely on, as keys of :data:`CUDA_EXCLUSIONS`; each one is
        refused.
    compute_capability : float, optional
        The target GPU's compute capability; below 5.0 is refused.
    platform : str, optional
        ``os.name`` of the machine that builds (default the current one); ``"nt"`` is refused.

    Raises
    ------
    CudaSupportError
        Listing every blocker: the feature (a key of :data:`CUDA_EXCLUSIONS`), what uses it, the alternative.
    ParameterError
        For an unknown ``training`` or feature name, or a non-numeric ``compute_capability``.
    """
    checks.one_of("training", training, (None, "stdp", "tempotron"), reason="expected None, 'stdp' or 'tempotron'")
    if isinstance(features, str):
        features = (features,)
    features = list(features)
    blockers = []
    for feature in features:
        checks.one_of("features", feature, CUDA_EXCLUSIONS,
                      reason=f"unknown feature; known: {', '.join(CUDA_EXCLUSIONS)}")
    if (platform or os.name) == "nt":
        blockers.append(("windows", f"building on {platform or os.name!r}", CUDA_EXCLUSIONS["windows"][1]))
    if compute_capability is not None:
        if isinstance(compute_capability, bool) or not isinstance(compute_capability, (int, float)):
            raise ParameterError("compute_capability", compute_capability, "expected a number such as 8.0")
        if compute_capability < 5.0:
            blockers.append(("compute capability below 5.0", f"compute_capability = {compute_capability}",
                             CUDA_EXCLUSIONS["compute capability below 5.0"][1]))
    stochastic = [layer for layer in spec.layers if layer.neuron_model.stochastic]
    for feature in features:
        if feature == "standalone random numbers":  # only a network that draws random numbers is affected
            blockers.extend((feature, f"layer {layer.name!r} (model {layer.model!r}) is stochastic",
                             CUDA_EXCLUSIONS[feature][1]) for layer in stochastic)
        else:
            blockers.append((feature, "requested", CUDA_EXCLUSIONS[feature][1]))
    if training is not None:
        for part, _, feature, note in TRAINING_DESIGNS[training]:
            if feature in features and (feature != "standalone random numbers" or stochastic):
                blockers.append((feature, f"{training}: {part}; {note}", CUDA_EXCLUSIONS[feature][1]))
    if blockers:
        raise CudaSupportError(blockers)


# ---------------------------------------------------------------------------------------------------------------
# the pinned environment
# ---------------------------------------------------------------------------------------------------------------

def default_env_path() -> Path:
    """Where the side environment lives: ``$BRAINLZ_CUDA_ENV`` or ``~/.cache/brainlz/envs/cuda``."""
    env = os.environ.get("BRAINLZ_CUDA_ENV")
    return Path(env) if env else Path.home() / ".cache" / "brainlz" / "envs" / "cuda"


def env_python(path=None) -> Path:
    """The Python interpreter of the cuda environment at ``path`` (default :func:`default_env_path`)."""
    return venv_python(path if path is not None else default_env_path())


_PROBE = "import json, sys; print(json.dumps([list(sys.version_info[:3]), sys.executable]))"


def _probe_python(candidate: str):
    """``(version tuple, resolved executable)`` of a Python, or ``(None, reason)`` if it does not run."""
    try:
        done = subprocess.run([candidate, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"does not run ({exc.__class__.__name__})"
    if done.returncode != 0:
        return None, f"does not run ({last_line(done.stderr)})"
    try:
        version, executable = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, "printed no version"
    return tuple(version), executable


def find_python(log=None) -> Path:
    """A Python >= 3.12 (:data:`MIN_PYTHON`) to create the side environment with.

    Searched in this order: ``$BRAINLZ_CUDA_PYTHON`` (if set, it must qualify); the interpreter running brainlz;
    ``python3.12`` and ``python3.13`` on ``PATH`` (a pyenv shim that has no such version selected does not run and
    is passed over); ``~/.pyenv/versions/3.12*/bin/python3`` and ``3.13*``.

    Returns
    -------
    Path
        The interpreter's real executable (``sys.executable`` as it reports it).

    Raises
    ------
    CudaEnvError
        With ``python_missing=True``, naming every candidate searched and why it was refused.
    """
    wanted = ".".join(map(str, MIN_PYTHON))
    explicit = os.environ.get("BRAINLZ_CUDA_PYTHON")
    if explicit:
        version, executable = _probe_python(explicit)
        if version is None or version[:2] < MIN_PYTHON:
            why = executable if version is None else f"is Python {'.'.join(map(str, version))}"
            raise CudaEnvError(f"BRAINLZ_CUDA_PYTHON={explicit} {why}; brian2cuda 1.0b1 needs Python >= {wanted}",
                               python_missing=True)
        return Path(executable)
    if sys.version_info[:2] >= MIN_PYTHON:
        return Path(sys.executable)
    searched = [f"{sys.executable} (Python {sys.version_info.major}.{sys.version_info.minor})"]
    candidates = [found for name in ("python3.12", "python3.13") if (found := shutil.which(name))]
    searched += [f"{name} (not on PATH)" for name in ("python3.12", "python3.13") if not shutil.which(name)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for minor in ("3.12", "3.13"):
        matches = sorted(glob.glob(str(pyenv_root / "versions" / f"{minor}*" / "bin" / "python3")))
        candidates += matches
        if not matches:
            searched.append(f"{pyenv_root}/versions/{minor}*/bin/python3 (none)")
    for candidate in candidates:
        version, executable = _probe_python(candidate)
        if version is not None and version[:2] >= MIN_PYTHON:
            if log is not None:
                log(f"brainlz: using Python {'.'.join(map(str, version))} at {executable}")
            return Path(executable)
        searched.append(f"{candidate} ({executable if version is None else 'Python ' + '.'.join(map(str, version))})")
    raise CudaEnvError(f"no Python >= {wanted} for the brian2cuda environment (brian2 2.10.1 needs it); searched: "
                       f"$BRAINLZ_CUDA_PYTHON (unset), {', '.join(searched)}; install one or set "
                       "BRAINLZ_CUDA_PYTHON", python_missing=True)


def create_env(path=None, *, python=None, log=print, timeout: float = 1800) -> Path:
    """Create (or reuse) the virtual environment with :data:`PINS`; the code behind ``brainlz env cuda``.

    Idempotent: a marker file ``brainlz-env.json`` records the pins and installed versions; an environment whose
    marker holds the same pins is reused without contacting the registry.

    Parameters
    ----------
    path : path, optional
        Directory of the environment (default :func:`default_env_path`).
    python : path, optional
        Interpreter that creates the venv (default :func:`find_python`); must be Python >= 3.12.
    log : callable
        Called with one line per step (default ``print``).
    timeout : float
        Seconds allowed for ``pip install``.

    Returns
    -------
    Path
        The environment's directory.

    Raises
    ------
    CudaEnvError
        If no suitable Python exists (``python_missing``), or the venv or the installation fails
        (``registry_unreachable`` tells whether the index was unreachable).
    """
    path = Path(path).expanduser() if path is not None else default_env_path()
    marker = read_marker(path)
    exe = env_python(path)
    if marker is not None and marker.get("pins") == list(PINS) and exe.exists():
        log(f"brainlz: cuda environment {path} exists ({versions_text(marker.get('installed', {}))}); reusing it")
        return path
    start = time.perf_counter()
    if not exe.exists():
        python = Path(python) if python is not None else find_python(log)
        log(f"brainlz: creating a virtual environment at {path} with {python}")
        path.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([str(python), "-m", "venv", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise CudaEnvError(f"cuda environment {path}: python -m venv failed: {last_line(done.stderr)}")
    version, _ = _probe_python(str(exe))
    if version is None or version[:2] < MIN_PYTHON:
        raise CudaEnvError(f"cuda environment {path}: its Python is "
                           f"{'broken' if version is None else '.'.join(map(str, version))}, brian2cuda needs "
                           f">= {'.'.join(map(str, MIN_PYTHON))}; remove the directory and run `brainlz env cuda` "
                           "again", python_missing=version is not None)
    probe = ("import json, sys, brian2, numpy, brian2cuda; print(json.dumps({'python': sys.version.split()[0], "
             "'brian2': brian2.__version__, 'brian2cuda': getattr(brian2cuda, '__version__', '?'), "
             "'numpy': numpy.__version__}))")
    install_pins(path, exe, PINS, probe, label="cuda", error=CudaEnvError, log=log, timeout=timeout, start=start)
    return path


# ---------------------------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------------------------

def _layer_config(layer) -> dict:
    """JSON description of one layer (its model's Brian2 strings; ``on_pre`` whole, as in network.build)."""
    model = layer.neuron_model
    return {"name": layer.name, "n_neurons": int(layer.n_neurons), "equations": model.equations,
            "threshold": model.threshold, "reset": model.reset, "refractory": model.refractory,
            "method": model.method, "on_pre": model.on_pre, "weight_unit": unit_name(model.weight_unit),
            "params": list(layer.params), "states": list(model.state_variables())}


def _run_worker(python: Path, run_dir: Path, timeout, cuda_path) -> None:
    run_worker(python, WORKER, run_dir, timeout=timeout, environment={"CUDA_PATH": cuda_path}, error=CudaError,
               name="brian2cuda")


def _cuda_settings(codegen_only, compute_capability, runtime_version, gpu_id, cuda_path) -> dict:
    """brian2cuda preferences for the worker (``None`` leaves brian2cuda's detection in charge)."""
    settings = {"gpu_id": gpu_id, "compute_capability": compute_capability,
                "cuda_runtime_version": runtime_version, "cuda_path": None if cuda_path is None else str(cuda_path)}
    if codegen_only:
        # no GPU, maybe no CUDA toolkit: brian2cuda docs, "Cross-compiling on systems without GPU access"
        settings.update(detect_gpus=False, detect_cuda=False, gpu_id=gpu_id or 0,
                        compute_capability=float(compute_capability or CODEGEN_COMPUTE_CAPABILITY),
                        cuda_runtime_version=float(runtime_version or CODEGEN_RUNTIME_VERSION))
        if cuda_path is None and not (os.environ.get("CUDA_PATH") or shutil.which("nvcc")
                                      or Path("/usr/local/cuda").exists() or Path("/opt/cuda").exists()):
            settings["cuda_path"] = "/usr/local/cuda"  # brian2cuda needs a path; only the makefile mentions it
    return settings


def simulate(spec: NetworkSpec, spiketrains, *, env=None, directory=None, codegen_only: bool = False,
             batch_size: int | None = None, record_hidden: bool = False, seed: int = 0, progress=None,
             trace=None, copy_params=None, compute_capability: float | None = None,
             cuda_runtime_version: float | None = None, gpu_id: int | None = None, cuda_path=None,
             features=(), timeout: float | None = None) -> SimulationResult:
    """Simulate ``spec`` on every sample of ``spiketrains`` with brian2cuda on an NVIDIA GPU.

    Parameters
    ----------
    spec : NetworkSpec
        Checked with :func:`check_cuda_support` before anything is written.
    spiketrains : bool ndarray [n_samples, n_inputs, n_bins]
        Input rasters; bin ``b`` is a spike at ``t = b * spec.dt``.
    env : path, optional
        The side environment (default :func:`default_env_path`); created by ``brainlz env cuda``.
    directory : path, optional
        Run directory (inputs, CUDA projects ``batch_<k>/project``, logs ``batch_<k>/worker.log``); default a new
        temporary directory, deleted after a successful run unless ``codegen_only``.
    codegen_only : bool
        Generate the CUDA project of every batch and stop (no GPU, no CUDA toolkit needed); the returned rasters
        are empty.
    batch_size : int, optional
        Samples per brian2cuda build (default: all in one).  Each batch is a full build (code generation,
        ``nvcc`` compilation, one run).
    record_hidden : bool
        Return the hidden-layer rasters too.
    seed : int
        Brian2 ``seed()`` for stochastic models (cuRAND: other numbers than the standalone backend's).
    progress : callable, optional
        Called as ``progress(n_done, n_samples)`` after each batch.
    trace : (layer, sample, neuron), optional
        Record the state variables of this neuron (a ``StateMonitor``).
    copy_params : dict, optional
        Per-sample intrinsic parameters ``{layer: {parameter: float array [n_samples, n_neurons] (SI)}}`` (see
        :func:`brainlz.network.check_copy_params`).
    compute_capability, cuda_runtime_version : float, optional
        brian2cuda preferences; by default detected from the GPU and ``nvcc`` (``codegen_only``: 8.0 and 12.0).
    gpu_id : int, optional
        The GPU to use (default: brian2cuda's choice, the highest compute capability).
    cuda_path : path, optional
        The CUDA toolkit (default: brian2cuda's search: ``$CUDA_PATH``, ``nvcc`` on ``PATH``, ``/usr/local/cuda``).
    features : iterable of str
        Passed to :func:`check_cuda_support` (what the caller relies on, e.g. ``"standalone random numbers"``).
    timeout : float, optional
        Seconds allowed per batch (code generation, compilation and run).

    Returns
    -------
    SimulationResult
        ``backend`` is ``"cuda"``; ``n_builds`` the number of brian2cuda builds.

    Raises
    ------
    CudaSupportError
        If brian2cuda cannot translate the network or a requested feature (see :func:`check_cuda_support`).
    CudaEnvError
        If the side environment does not exist.
    CudaError
        If code generation, compilation or the run fails (the message names the worker log).
    SimulationError
        If a batch's state variables became NaN, infinite or absurd (:func:`brainlz.backends.base.check_final_states`
        on the values the worker saved after the run).
    """
    check_cuda_support(spec, features=features, compute_capability=compute_capability)
    checks.integer("seed", seed)
    for name, value in (("codegen_only", codegen_only), ("record_hidden", record_hidden)):
        checks.flag(name, value, reason="expected True or False")
    for name, value in (("cuda_runtime_version", cuda_runtime_version),):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ParameterError(name, value, "expected a number such as 12.0")
    if gpu_id is not None:
        checks.integer("gpu_id", gpu_id, low=0, reason="expected a non-negative integer")
    spiketrains = check_spiketrains(spiketrains, spec.n_inputs)
    n_samples, _, n_bins = spiketrains.shape
    trace = validate_trace(trace, spec, n_samples)
    copy_params = check_copy_params(spec, copy_params, n_samples)
    chunks = batches(n_samples, batch_size)
    python = env_python(env if env is not None else default_env_path())
    if not python.exists():
        raise CudaEnvError(f"cuda environment: no Python at {python}; create it with `brainlz env cuda"
                           f"{'' if env is None else ' --path ' + str(env)}`")
    layers = [_layer_config(layer) for layer in spec.layers]
    weights = {f"weights_{index}": np.asarray(weight, dtype=float) for index, weight in enumerate(spec.weights)}
    cuda = _cuda_settings(bool(codegen_only), compute_capability, cuda_runtime_version,
                          None if gpu_id is None else int(gpu_id), cuda_path)
    stochastic = any(layer.neuron_model.stochastic for layer in spec.layers)
    record = [layer.name for layer in spec.layers] if record_hidden else [spec.output.name]
    return run_batches(spec, spiketrains, chunks, layers=layers, weights=weights, record=record,
                       copy_params=copy_params, trace=trace,
                       settings={"seed": int(seed) if stochastic else None, "cuda": cuda},
                       run=lambda run_dir: _run_worker(python, run_dir, timeout, cuda_path), directory=directory,
                       prefix="brainlz-cuda-", codegen_only=bool(codegen_only), backend="cuda", progress=progress)
