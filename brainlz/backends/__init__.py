"""Simulation backends.  Each module exposes ``simulate(spec, spiketrains, ...)`` and ``capabilities()``.

``capabilities()["training"]`` says where a Brian2 learning rule's epochs run when a protocol names this backend
(``{"stdp": "standalone", ...}``: the trainer's device, see :func:`training_device`); ``["objective"]`` where
the outer loop over intrinsic parameters simulates its candidates.

=============  ==========================================================================================
backend        what it is
=============  ==========================================================================================
``runtime``    Brian2 runtime mode, ``target="cython"`` (compiled, cached on disk) or ``"numpy"``.
``standalone`` Brian2 ``cpp_standalone``: compiled once per network shape, rerun through ``run_args``.
``genn``       brian2genn (GeNN on a GPU or CPU) in a pinned side environment (``brainlz env genn``); one build
               per batch; deterministic models only (see :func:`brainlz.backends.genn.check_genn_support`).
``cuda``       brian2cuda (CUDA on an NVIDIA GPU) in a pinned Python >= 3.12 side environment (``brainlz env
               cuda``); one build per batch (see :func:`brainlz.backends.cuda.check_cuda_support`).
=============  ==========================================================================================
"""

from __future__ import annotations

import importlib
import inspect

from .. import checks
from ..errors import ParameterError

__all__ = ["BACKENDS", "simulate", "get_backend", "backend_option_names", "check_backend_options", "training_device"]

BACKENDS = ("runtime", "standalone", "genn", "cuda")

# Keyword arguments of ``simulate`` that the caller sets per call (a protocol: from its own fields), never
# through a protocol's ``backend_options``.
PER_CALL_OPTIONS = ("batch_size", "record_hidden", "trace", "seed", "progress", "copy_params")


def get_backend(name: str):
    """The backend module called ``name``."""
    checks.one_of("backend", name, BACKENDS, reason=f"unknown backend; known backends: {', '.join(BACKENDS)}")
    return importlib.import_module(f"{__name__}.{name}")


def simulate(spec, spiketrains, backend: str = "runtime", **options):
    """Simulate ``spec`` on ``spiketrains`` with the named backend (see the backend modules for options)."""
    return get_backend(backend).simulate(spec, spiketrains, **options)


def backend_option_names(name: str) -> tuple:
    """The options a protocol's ``backend_options`` may give backend ``name`` (its ``simulate`` keywords)."""
    parameters = inspect.signature(get_backend(name).simulate).parameters.values()
    return tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in PER_CALL_OPTIONS)


def check_backend_options(name: str, options: dict, field: str = "backend_options") -> None:
    """Refuse, in one line naming ``field`` and the option, an option that backend ``name`` does not take."""
    accepted = backend_option_names(name)
    for key in options:
        if key not in accepted:
            raise ParameterError(f"{field}.{key}", options[key],
                                 f"not an option of the {name!r} backend; its options: {', '.join(accepted)}")


def training_device(backend: str, rule: str) -> str:
    """Where the epochs of ``rule`` (``"stdp"``, ``"tempotron"``) run for a protocol on ``backend``: the
    trainer's device (``"runtime"``, ``"standalone"`` or ``"genn"``), as the backend's capabilities say.

    Raises
    ------
    ParameterError
        If the backend cannot train the rule, naming the backends that can.
    """
    training = get_backend(backend).capabilities().get("training", {})
    if rule not in training:
        able = [name for name in BACKENDS if rule in get_backend(name).capabilities().get("training", {})]
        raise ParameterError("backend", backend, f"cannot train the {rule} rule; backends that can: {', '.join(able)}")
    return training[rule]
