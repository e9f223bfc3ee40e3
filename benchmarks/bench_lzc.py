"""Benchmark: brainlz.lzc.lz76 (batched) against antropy.lziv_complexity (one call per sequence).

Two data sets of ``--n-seq`` binary sequences of ``--n-bins`` bins each (seeded): dense random
(p = 0.5) and sparse spike-like (p = 0.02 per bin).  For each, both implementations run side by side in
this one process on the same bool raster, the phrase counts are checked to be identical, and the
throughputs (sequences per second, best of ``--repeats``) and their ratio are written as JSON.

antropy is an optional bench dependency (``pip install antropy``, or ``pip install -e .[bench]``).  Its
import and its numba JIT compilation (several seconds) are excluded from the timing: antropy is imported
and warmed up on one sequence first; the import-plus-warm-up time is reported separately.  Without
antropy only brainlz is timed.

Usage::

    python benchmarks/bench_lzc.py [--n-seq 10000] [--n-bins 1024] [--repeats 3] [--seed 0]
                                   [--out benchmarks/results/bench_lzc.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from brainlz import lzc as lzc_module  # noqa: E402

DATASETS = {"dense_p0.5": 0.5, "sparse_p0.02": 0.02}


def make_raster(n_seq: int, n_bins: int, p: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n_seq, n_bins)) < p


def best_time(fn, repeats: int):
    """Run ``fn`` ``repeats`` times; return (best seconds, all seconds, last result)."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def load_antropy():
    """Import antropy and compile its numba kernel; return (lziv_complexity, seconds, version) or None."""
    t0 = time.perf_counter()
    try:
        import antropy
    except ImportError:
        return None
    antropy.lziv_complexity(np.array([0, 1, 1, 0, 1, 0, 0, 0], dtype=bool), normalize=False)  # JIT warm-up
    return antropy.lziv_complexity, time.perf_counter() - t0, getattr(antropy, "__version__", "unknown")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-seq", type=int, default=10_000, help="sequences per data set (default 10000)")
    parser.add_argument("--n-bins", type=int, default=1024, help="length of each sequence (default 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per implementation; best is kept")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_lzc.json", help="JSON output path"
    )
    args = parser.parse_args(argv)
    if args.n_seq < 1 or args.n_bins < 1 or args.repeats < 1:
        parser.error("--n-seq, --n-bins and --repeats must be >= 1")

    antropy = load_antropy()
    if antropy is None:
        print("antropy is not installed (pip install antropy): timing brainlz only", file=sys.stderr)
        lziv, antropy_setup_s, antropy_version = None, None, None
    else:
        lziv, antropy_setup_s, antropy_version = antropy

    report = {
        "benchmark": "LZ76 phrase count: brainlz.lzc.lz76 (one batched call) vs antropy.lziv_complexity "
        "(one call per sequence, normalize=False)",
        "n_seq": args.n_seq,
        "n_bins": args.n_bins,
        "repeats": args.repeats,
        "seed": args.seed,
        "timing": "best of repeats, wall clock (time.perf_counter); antropy import + JIT warm-up excluded",
        "brainlz_backend": lzc_module.BACKEND,
        "antropy_version": antropy_version,
        "antropy_import_and_jit_s": antropy_setup_s,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "datasets": {},
    }

    all_identical = True
    for index, (name, p) in enumerate(DATASETS.items()):
        raster = make_raster(args.n_seq, args.n_bins, p, args.seed + index)
        ours_s, ours_all, ours = best_time(lambda: lzc_module.lz76(raster), args.repeats)
        entry = {
            "spike_probability": p,
            "mean_phrase_count": float(ours.mean()),
            "brainlz_seconds": ours_s,
            "brainlz_seconds_all": ours_all,
            "brainlz_seq_per_s": args.n_seq / ours_s,
        }
        line = f"{name:>13}: brainlz {args.n_seq / ours_s:12,.0f} seq/s ({ours_s * 1e6 / args.n_seq:7.2f} us/seq)"
        if lziv is not None:
            theirs_s, theirs_all, theirs = best_time(
                lambda: np.array([lziv(row, normalize=False) for row in raster], dtype=np.int64), args.repeats
            )
            identical = bool(np.array_equal(ours, theirs))
            all_identical &= identical
            entry.update(
                {
                    "antropy_seconds": theirs_s,
                    "antropy_seconds_all": theirs_all,
                    "antropy_seq_per_s": args.n_seq / theirs_s,
                    "speedup_vs_antropy": theirs_s / ours_s,
                    "identical_values": identical,
                    "n_mismatches": int(np.count_nonzero(ours != theirs)),
                }
            )
            line += (
                f" | antropy {args.n_seq / theirs_s:10,.0f} seq/s ({theirs_s * 1e6 / args.n_seq:7.2f} us/seq)"
                f" | speed-up {theirs_s / ours_s:6.1f}x | identical: {identical}"
            )
        print(line)
        report["datasets"][name] = entry

    report["all_identical"] = all_identical if lziv is not None else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if lziv is not None and not all_identical:
        print("MISMATCH between brainlz and antropy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
