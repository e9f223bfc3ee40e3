"""Benchmark: training time per epoch of STDP and the tempotron, per backend, against a naive per-trial loop.

STDP: 64 inputs -> 64 LIF neurons (input -> hidden of the default network), ``--n-samples`` samples of the rate
task (1024 bins of 1 ms), one epoch = all samples back to back in one Brian2 run (gap 50 ms).  Tempotron: the
same inputs into 2 tempotrons (binary task), one epoch in one run.  Each backend is timed after one untimed
epoch of the same shape (compilation excluded, reported separately).  The naive loop runs one Brian2 simulation
per trial (``train_*`` called on one sample at a time, weights carried over), runtime numpy target, on
``--naive-samples`` samples; its time is scaled to a whole epoch.  Side by side in one process; JSON output.

Usage::

    python benchmarks/bench_training.py [--n-samples 100] [--naive-samples 10]
        [--out benchmarks/results/bench_training.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from brian2 import amp  # noqa: E402

from brainlz.data import make_task  # noqa: E402
from brainlz.learning.stdp import STDPRule, train_stdp  # noqa: E402
from brainlz.learning.tempotron import TempotronParams, train_tempotron  # noqa: E402
from brainlz.network import NetworkSpec  # noqa: E402
from brainlz.files import write_json  # noqa: E402

BACKENDS = {"runtime-numpy": {"backend": "runtime", "target": "numpy"},
            "runtime-cython": {"backend": "runtime", "target": "cython"},
            "standalone": {"backend": "standalone"}}


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=100)
    parser.add_argument("--naive-samples", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_training.json"))
    args = parser.parse_args(argv)

    data = make_task("rate", n_samples=args.n_samples, n_channels=64, difficulty=0.5, seed=args.seed)
    spec = NetworkSpec.create(64, hidden=64, output=64, seed=args.seed)
    rule = STDPRule(w_max=1.5 * float(np.mean(np.asarray(spec.weights[0]))) * amp, A_plus=0.01,
                    A_minus=0.0105)
    params = TempotronParams(learning_rate=0.01)
    results = {"setting": f"{args.n_samples} samples x 1024 bins, 64 inputs; STDP into 64 LIF, tempotron 2 outputs",
               "python": platform.python_version(), "machine": platform.platform(), "cpus": os.cpu_count(),
               "stdp": {}, "tempotron": {}}

    for name in args.backends:
        options = BACKENDS[name]
        stdp_options = dict(options)
        if name == "standalone":
            stdp_options.pop("target", None)
        first, _ = timed(lambda: train_stdp(spec, data, rule, epochs=1, seed=args.seed, **stdp_options))
        epoch, _ = timed(lambda: train_stdp(spec, data, rule, epochs=1, seed=args.seed, **stdp_options))
        results["stdp"][name] = {"seconds_per_epoch": epoch, "first_call_seconds": first}
        print(f"STDP      {name:16s}: {epoch:7.2f} s/epoch (first call {first:6.1f} s)", flush=True)
        tempo = dict(options)
        first, _ = timed(lambda: train_tempotron(data.spiketrains, data.labels, params=params, epochs=1,
                                                 seed=args.seed, stop_when_perfect=False, evaluate_final=False,
                                                 **tempo))
        epoch, _ = timed(lambda: train_tempotron(data.spiketrains, data.labels, params=params, epochs=1,
                                                 seed=args.seed, stop_when_perfect=False, evaluate_final=False,
                                                 **tempo))
        results["tempotron"][name] = {"seconds_per_epoch": epoch, "first_call_seconds": first}
        print(f"tempotron {name:16s}: {epoch:7.2f} s/epoch (first call {first:6.1f} s)", flush=True)

    k = args.naive_samples
    current = spec
    start = time.perf_counter()
    for index in range(k):
        current, _ = train_stdp(current, data.spiketrains[index:index + 1], rule, epochs=1, seed=args.seed,
                                backend="runtime", target="numpy", shuffle=False)
    naive_stdp = (time.perf_counter() - start) / k * args.n_samples
    weights = None
    start = time.perf_counter()
    for index in range(k):
        weights, _ = train_tempotron(data.spiketrains[index:index + 1], data.labels[index:index + 1],
                                     params=params, epochs=1,
                                     init_weights=weights, seed=args.seed, stop_when_perfect=False,
                                     evaluate_final=False, backend="runtime", target="numpy")
    naive_tempo = (time.perf_counter() - start) / k * args.n_samples
    results["stdp"]["naive_loop_numpy"] = {"seconds_per_epoch": naive_stdp}
    results["tempotron"]["naive_loop_numpy"] = {"seconds_per_epoch": naive_tempo}
    print(f"STDP      naive loop      : {naive_stdp:7.2f} s/epoch (scaled from {k} trials)")
    print(f"tempotron naive loop      : {naive_tempo:7.2f} s/epoch (scaled from {k} trials)")
    write_json(args.out, results, make_parents=True)
    return results


if __name__ == "__main__":
    main()
