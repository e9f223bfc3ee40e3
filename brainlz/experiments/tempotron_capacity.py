"""Gütig & Sompolinsky (2006): training accuracy of one tempotron against the load ``P / N``.

A replication experiment built on :mod:`brainlz.learning.tempotron` (the rule and its trainer,
:func:`~brainlz.learning.tempotron.train_tempotron_blocks`); it lives here, not in the library's learning modules,
with the figure script ``figures/scripts/tempotron_capacity.py`` that draws it.

References
----------
Gütig & Sompolinsky 2006, Nat Neurosci 9:420.
"""

from __future__ import annotations

import numpy as np
from brian2 import ms

from .. import checks
from ..errors import ParameterError
from ..learning.tempotron import TempotronParams, check_backend, train_tempotron_blocks

__all__ = ["capacity_patterns", "tempotron_capacity"]


def capacity_patterns(n_afferents: int, n_patterns: int, *, duration=500 * ms, dt=1 * ms, seed=0) -> tuple:
    """Random patterns of the Gütig & Sompolinsky capacity setting.

    Each of ``n_afferents`` afferents fires exactly once per pattern, at a time drawn uniformly in
    ``[0, duration)`` and binned to ``dt``; labels are 0 or 1 with probability 1/2 each.

    Parameters
    ----------
    n_afferents, n_patterns : int
        ``N`` and ``P``.
    duration, dt : Quantity (time)
        Pattern length (500 ms) and bin width (1 ms).
    seed : int
        Seed of spike times and labels (anything :func:`numpy.random.default_rng` accepts).

    Returns
    -------
    spiketrains : bool ndarray [n_patterns, n_afferents, duration / dt]
    labels : int ndarray [n_patterns]
    """
    n_afferents = checks.integer("n_afferents", n_afferents, low=1)
    n_patterns = checks.integer("n_patterns", n_patterns, low=1)
    rng = np.random.default_rng(seed)
    n_bins = int(round(checks.seconds("duration", duration) / checks.seconds("dt", dt)))
    x = np.zeros((n_patterns, n_afferents, n_bins), dtype=bool)
    bins = rng.integers(0, n_bins, size=(n_patterns, n_afferents))
    x[np.arange(n_patterns)[:, None], np.arange(n_afferents)[None, :], bins] = True
    labels = rng.integers(0, 2, size=n_patterns)
    return x, labels


def tempotron_capacity(n_afferents: int = 100, loads=(0.5, 1.0, 2.0, 3.0, 5.0), epochs: int = 100, seed: int = 0,
                       *, params: TempotronParams = None, duration=500 * ms, dt=1 * ms, init_std: float = 1e-3,
                       backend: str = "standalone", target: str = "numpy", directory=None, progress=None) -> dict:
    """Training accuracy of one tempotron against the load ``P / N`` (the setting of Gütig & Sompolinsky 2006).

    For each load, ``P = round(load * N)`` random patterns (:func:`capacity_patterns`, a new draw per load) with
    random binary labels are learned for at most ``epochs`` epochs, stopping at the first error-free epoch.  All
    loads are trained side by side in the same Brian2 runs
    (:func:`~brainlz.learning.tempotron.train_tempotron_blocks`: independent blocks of one network, the shorter
    problems padded with empty trials), so the standalone backend compiles one program for all of them.

    Parameters
    ----------
    n_afferents : int
        ``N``.
    loads : sequence of float
        ``P / N`` values (> 0).
    epochs : int
        Epoch budget per load.
    seed : int
        Seed of patterns, labels, initial weights and presentation orders.
    params : TempotronParams, optional
        Default :class:`~brainlz.learning.tempotron.TempotronParams` (the JSON constants, learning rate 0.01, no
        momentum).
    duration, dt : Quantity (time)
        Trial length (500 ms) and time step (1 ms).
    init_std : float
        Standard deviation of the initial weights (dimensionless, units of the kernel peak).
    backend, target, directory
        As in :func:`~brainlz.learning.tempotron.train_tempotron`.
    progress : callable, optional
        ``progress(epochs_done, epochs)``.

    Returns
    -------
    dict
        Per load: ``loads``, ``n_patterns``, ``final_accuracy`` (training accuracy of the final weights),
        ``epochs`` (used), ``converged``, ``errors`` (per-epoch lists); and ``n_afferents``, ``epoch_budget``,
        ``seed``, ``wall_time`` (s, all loads together), ``builds``, ``params`` (as a dict of floats in SI units).
    """
    if params is None:
        params = TempotronParams()
    elif not isinstance(params, TempotronParams):
        raise ParameterError("params", params, "expected a TempotronParams")
    check_backend(backend, target)
    n_afferents = checks.integer("n_afferents", n_afferents, low=1)
    epochs = checks.integer("epochs", epochs, low=1)
    seed = checks.seed("seed", seed)
    init_std = checks.real("init_std", init_std, low=0)
    loads = [checks.real("loads", load, low=0, low_open=True)
             for load in np.atleast_1d(np.asarray(loads, dtype=object))]
    if not loads:
        raise ParameterError("loads", loads, "expected at least one load")
    # load k draws its patterns, labels and initial weights from child k of SeedSequence((seed, 1)) and its
    # presentation orders from child k of SeedSequence(seed) (train_tempotron_blocks), so each load's result does
    # not depend on the other loads
    children = np.random.SeedSequence((seed, 1)).spawn(len(loads))
    patterns, labels, inits = [], [], []
    for load, child in zip(loads, children):
        pattern_seed, weight_seed = child.generate_state(2)
        x, y = capacity_patterns(n_afferents, max(1, int(round(load * n_afferents))), duration=duration, dt=dt,
                                 seed=int(pattern_seed))
        patterns.append(x)
        labels.append(y)
        inits.append(np.random.default_rng(int(weight_seed)).normal(0.0, init_std, size=(n_afferents, 1)))
    results = train_tempotron_blocks(patterns, labels, inits, params=params, epochs=epochs, seed=seed, dt=dt,
                                     backend=backend, target=target, progress=progress, directory=directory)
    histories = [history for _, history in results]
    return {"loads": loads, "n_patterns": [x.shape[0] for x in patterns],
            "final_accuracy": [h["final_accuracy"] for h in histories], "epochs": [h["epochs"] for h in histories],
            "converged": [h["converged"] for h in histories], "errors": [h["errors"] for h in histories],
            "n_afferents": n_afferents, "epoch_budget": epochs, "seed": seed,
            "wall_time": histories[0]["wall_time"], "builds": histories[0]["builds"],
            "params": {"tau": float(params.tau), "tau_s": float(params.tau_s), "threshold": params.threshold,
                       "learning_rate": params.learning_rate, "momentum": params.momentum,
                       "duration": float(duration), "dt": float(dt), "init_std": init_std}}
