"""Standalone against GeNN (CPU-only or GPU): inference and an STDP epoch, first call and the next, side by side.

Both backends compile once per network shape and rerun the compiled program afterwards: standalone through
``run_args``, GeNN by rewriting the static arrays of its compiled brian2genn project and running its ``main``
again (:mod:`brainlz.backends.genn_project`).  Both are timed in one run of this script, with fresh caches, on a
20 -> 16 -> 8 LIF network: inference on 10 samples x 300 bins, an STDP epoch (first projection) on 6 samples x 200
bins, each called twice with the same shapes.  Wall times in seconds (time.perf_counter around the call).

Needs GeNN 4.x (``brainlz env genn --genn-source DIR`` or ``GENN_PATH``); without it the script says so and
exits.  A tempotron epoch (20 inputs, 8 tempotrons, 6 trials x 200 bins) is timed on both too.

Usage::

    python benchmarks/bench_genn.py [--gpu] [--out benchmarks/results/bench_genn.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv=None) -> int:
    from brian2 import amp, ms

    from brainlz.backends import genn, standalone
    from brainlz.files import write_json
    from brainlz.learning.stdp import STDPRule, train_stdp
    from brainlz.network import NetworkSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="GeNN's CUDA backend instead of its CPU backend")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_genn.json"))
    args = parser.parse_args(argv)
    genn_path = genn.find_genn()
    if genn_path is None:
        print("bench_genn: no GeNN 4.x (run `brainlz env genn --genn-source DIR` or set GENN_PATH)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    spec = NetworkSpec.create(20, hidden=16, output=8, seed=3)
    inputs = rng.random((10, 20, 300)) < 0.05
    stdp_inputs = rng.random((6, 20, 200)) < 0.05
    rule = STDPRule(w_max=3 * float(np.mean(np.asarray(spec.weights[0]))) * amp, A_plus=0.01, A_minus=0.012)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-genn-") as scratch:
        scratch = Path(scratch)
        os.environ["BRAINLZ_CACHE"] = str(scratch / "cache")  # fresh: the first GeNN call of a shape builds
        for call in (1, 2):
            rows.append({"task": "inference, 10 samples", "backend": "standalone", "call": call,
                         "seconds": timed(lambda: standalone.simulate(spec, inputs, directory=scratch / "sa"))})
            rows.append({"task": "inference, 10 samples", "backend": "genn", "call": call,
                         "seconds": timed(lambda: genn.simulate(spec, inputs, directory=scratch / f"g{call}",
                                                                use_gpu=args.gpu))})
        for name, options in (("standalone", {"directory": scratch / "stdp-sa"}),
                              ("genn", {"genn_options": {"directory": scratch / "stdp-g", "use_gpu": args.gpu}})):
            _, history = train_stdp(spec, stdp_inputs, rule, epochs=2, gap=20 * ms, shuffle=False, backend=name,
                                    **options)
            for epoch in history.epochs:
                rows.append({"task": "STDP epoch, 6 samples", "backend": name, "call": epoch["epoch"],
                             "seconds": epoch["wall_time"], "builds": epoch["n_builds"]})
        from brainlz.learning import tempotron as T

        setup = T._setup_for(20, 8, 200, 1 * ms, 0 * ms, 15e-3, 3.75e-3, 1.0, 0.0)
        trials = [rng.random((6, 20, 200)) < 0.05]
        labels = rng.choice([-1.0, 1.0], size=(6, 8))
        weights = rng.normal(0.02, 0.1, size=(1, 20, 8))
        for call in (1, 2):
            for name, options in (("standalone", {"backend": "standalone", "target": "numpy",
                                                  "directory": scratch / "tempotron-sa"}),
                                  ("genn", {"backend": "genn", "target": "gpu" if args.gpu else "cpu",
                                            "directory": None})):
                epoch = T._run_epoch(setup, trials, labels, weights, np.zeros_like(weights), np.full(8, 0.01),
                                     record_weights=False, **options)
                rows.append({"task": "tempotron epoch, 6 samples", "backend": name, "call": call,
                             "seconds": epoch.wall_time, "builds": epoch.builds})
    results = {"genn_path": genn_path, "gpu": args.gpu, "machine": platform.node(), "cpu": platform.processor(),
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}
    tasks = ("inference, 10 samples", "STDP epoch, 6 samples", "tempotron epoch, 6 samples")
    for task in tasks:
        got = {(r["backend"], r["call"]): r["seconds"] for r in rows if r["task"] == task}
        results[f"{task}: genn / standalone, second call"] = got[("genn", 2)] / got[("standalone", 2)]
        results[f"{task}: genn second / first call"] = got[("genn", 2)] / got[("genn", 1)]
    print("| task | backend | first call (s) | second call (s) |\n|---|---|---|---|")
    for task in tasks:
        for backend in ("standalone", "genn"):
            first, second = (next(r["seconds"] for r in rows if r["task"] == task and r["backend"] == backend
                                  and r["call"] == call) for call in (1, 2))
            print(f"| {task} | {backend}{' (GPU)' if backend == 'genn' and args.gpu else ''} | {first:.2f} | "
                  f"{second:.2f} |")
    print(f"written to {write_json(args.out, results, make_parents=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
