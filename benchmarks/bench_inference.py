"""Benchmark: time per sample of batched inference (simulation + LZC + readout).

The default 64-64-64 LIF network on 1024-bin inputs (the ``rate`` task, 64 channels).  For every backend and
batch size the script times, after one untimed warm-up call of the same shape (compilation excluded; its
time is reported separately):

1. ``backend.simulate`` of the whole batch (Brian2 simulation, all samples as copies in one run),
2. ``LZCFeatures`` on the output rasters,
3. ``predict`` of a readout fitted beforehand,

and reports seconds per sample (best of ``--repeats``).  Variants: ``standalone`` (all samples of a batch as
parallel copies, state updates vectorised where :func:`brainlz.backends.standalone.vectorizing_flags` allows,
run-invariant factors hoisted by :mod:`brainlz.invariants`), ``standalone-scalar`` (the same with Brian2's own
compiler flags), ``standalone-periods`` (25 parallel copies, larger batches as consecutive periods:
``simulate(..., copies=25)``), ``standalone-periods-unhoisted`` (the same with ``exp(-dt/tau)`` evaluated at
every step, ``BRAINLZ_HOIST=0``), ``standalone-periods-2threads`` (OpenMP), ``standalone-periods-2processes``
(two instances of the program on the two halves of the batch, ``processes=2``, and the complexities on two
threads, ``LZCFeatures(threads=2)``), and the runtime targets.  The naive reference builds and runs one Brian2
network per sample (runtime mode, cython target: what a plain Brian2 script in a loop does), timed on
``--naive-samples`` samples after a warm-up.  All numbers come from one process, side by side.

Usage::

    python benchmarks/bench_inference.py [--batch-sizes 1 10 100 1000] [--repeats 3] [--naive-samples 5]
        [--backends standalone standalone-scalar standalone-2threads standalone-periods
                    standalone-periods-unhoisted standalone-periods-2threads standalone-periods-2processes
                    runtime-cython runtime-numpy]
        [--out benchmarks/results/bench_inference.json]
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

from brainlz.backends import runtime, standalone  # noqa: E402
from brainlz.data import make_task  # noqa: E402
from brainlz.network import NetworkSpec  # noqa: E402
from brainlz.readout import LZCFeatures, default_pipeline  # noqa: E402
from brainlz.files import write_json  # noqa: E402

#: Parallel copies of the network in the "periods" variants (larger batches run as consecutive periods).
PERIOD_COPIES = 25


def _without(variable):
    """Standalone with the optimisation that ``variable=0`` turns off, for a side-by-side ratio."""
    def simulate(spec, x, **kw):
        old = os.environ.get(variable)
        os.environ[variable] = "0"
        try:
            return standalone.simulate(spec, x, **kw)
        finally:
            if old is None:
                del os.environ[variable]
            else:
                os.environ[variable] = old
    return simulate


def _periods(simulate=standalone.simulate, **options):
    return lambda spec, x, **kw: simulate(spec, x, copies=min(len(x), PERIOD_COPIES), **options, **kw)


#: name -> (simulate, threads of the complexity computation)
BACKENDS = {
    "standalone": (standalone.simulate, 1),
    "standalone-scalar": (_without("BRAINLZ_VECTORIZE"), 1),
    "standalone-2threads": (lambda spec, x, **kw: standalone.simulate(spec, x, threads=2, **kw), 1),
    "standalone-periods": (_periods(), 1),
    "standalone-periods-unhoisted": (_periods(_without("BRAINLZ_HOIST")), 1),
    "standalone-periods-2threads": (_periods(threads=2), 1),
    "standalone-periods-2processes": (_periods(processes=2), 2),
    "runtime-cython": (lambda spec, x, **kw: runtime.simulate(spec, x, target="cython", **kw), 1),
    "runtime-numpy": (lambda spec, x, **kw: runtime.simulate(spec, x, target="numpy", **kw), 1),
}


def infer(backend, spec, x, readout):
    """One batched inference; returns (seconds, simulation seconds, predictions)."""
    simulate, lzc_threads = backend
    start = time.perf_counter()
    result = simulate(spec, x, batch_size=len(x))
    sim = time.perf_counter() - start
    predictions = readout.predict(LZCFeatures(threads=lzc_threads).fit_transform(result.output))
    return time.perf_counter() - start, sim, predictions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-samples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_inference.json"))
    args = parser.parse_args(argv)

    spec = NetworkSpec.create(64, hidden=64, output=64, model="lif", seed=args.seed)
    largest = max(args.batch_sizes)
    data = make_task("rate", n_samples=largest + 100, n_channels=64, difficulty=0.9, seed=args.seed)
    train, test = data.spiketrains[:100], data.spiketrains[100:]
    # The readout is fitted once on 100 samples simulated with the runtime numpy target (no compilation).
    train_out = runtime.simulate(spec, train, target="numpy").output
    readout = default_pipeline(seed=args.seed).fit(LZCFeatures().fit_transform(train_out), data.labels[:100])

    results = {"network": "64-64-64 LIF, 1024 bins of 1 ms, rate task (64 Poisson channels, ~20 Hz)",
               "python": platform.python_version(), "machine": platform.platform(), "cpus": os.cpu_count(),
               "repeats": args.repeats, "period_copies": PERIOD_COPIES,
               "vectorizing_flags": standalone.vectorizing_flags([spec.layers[0].neuron_model]),
               "backends": {}}
    for name in args.backends:
        backend = BACKENDS[name]
        entry = {}
        for batch in args.batch_sizes:
            x = test[:batch]
            warm_start = time.perf_counter()
            infer(backend, spec, x, readout)
            warm = time.perf_counter() - warm_start
            best, best_sim = np.inf, np.inf
            for _ in range(args.repeats):
                total, sim, _ = infer(backend, spec, x, readout)
                best, best_sim = min(best, total), min(best_sim, sim)
            entry[str(batch)] = {"seconds_per_sample": best / batch, "simulation_seconds_per_sample": best_sim / batch,
                                 "first_call_seconds": warm}
            print(f"{name:22s} batch {batch:5d}: {1e3 * best / batch:8.3f} ms/sample "
                  f"(simulation {1e3 * best_sim / batch:8.3f}; first call {warm:6.1f} s)", flush=True)
        results["backends"][name] = entry

    # Naive loop: one Brian2 network built and run per sample.
    x = test[: args.naive_samples]
    infer(BACKENDS["runtime-cython"], spec, x[:1], readout)  # compile once
    start = time.perf_counter()
    for k in range(len(x)):
        infer(BACKENDS["runtime-cython"], spec, x[k:k + 1], readout)
    naive = (time.perf_counter() - start) / len(x)
    results["naive_loop_seconds_per_sample"] = naive
    print(f"{'naive loop (cython)':22s}          : {1e3 * naive:8.3f} ms/sample", flush=True)

    for ratio, (slow, fast) in {"vectorized_speedup_simulation": ("standalone-scalar", "standalone"),
                                "hoisting_speedup_simulation": ("standalone-periods-unhoisted", "standalone-periods"),
                                "two_processes_speedup": ("standalone-periods", "standalone-periods-2processes")
                                }.items():
        if {slow, fast} <= set(results["backends"]):
            key = "seconds_per_sample" if ratio == "two_processes_speedup" else "simulation_seconds_per_sample"
            results[ratio] = {batch: results["backends"][slow][batch][key] / values[key]
                              for batch, values in results["backends"][fast].items()}
    best_name, best_batch, best_value = None, None, np.inf
    for name, entry in results["backends"].items():
        for batch, values in entry.items():
            if values["seconds_per_sample"] < best_value:
                best_name, best_batch, best_value = name, int(batch), values["seconds_per_sample"]
    results["best"] = {"backend": best_name, "batch_size": best_batch, "seconds_per_sample": best_value,
                       "speedup_over_naive_loop": naive / best_value}
    print(f"best: {best_name} at batch {best_batch}: {1e3 * best_value:.3f} ms/sample, "
          f"{naive / best_value:.0f}x the naive loop")
    write_json(args.out, results, make_parents=True)
    return results


if __name__ == "__main__":
    main()
