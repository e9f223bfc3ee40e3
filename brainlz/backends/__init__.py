"""Simulation backends.  Each module exposes ``simulate(spec, spiketrains, ...)`` and ``capabilities()``.

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

from ..errors import ParameterError

__all__ = ["BACKENDS", "simulate", "get_backend"]

BACKENDS = ("runtime", "standalone", "genn", "cuda")


def get_backend(name: str):
    """The backend module called ``name``."""
    if name not in BACKENDS:
        raise ParameterError("backend", name, f"unknown backend; known backends: {', '.join(BACKENDS)}")
    return importlib.import_module(f"{__name__}.{name}")


def simulate(spec, spiketrains, backend: str = "runtime", **options):
    """Simulate ``spec`` on ``spiketrains`` with the named backend (see the backend modules for options)."""
    return get_backend(backend).simulate(spec, spiketrains, **options)
