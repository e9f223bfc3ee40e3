"""Benchmark: LZ76 on long sequences (issue 23) -- the linear-time suffix automaton against the quadratic
bit-parallel kernel, and the 1024-bin batch speed, side by side in one run.

Two comparisons, both in this one process on the same data, each as a ratio:

* ``short``: ``--n-seq`` sequences of 1024 bins (dense p = 0.5 and sparse p = 0.02, as in bench_lzc.py),
  ``lz76`` (method "auto": the bitsets at this length) against the baseline, runs interleaved, best of
  ``--repeats``; the ratio should be 1 within noise.
* ``long``: one sequence of each length in ``--lengths`` (default 1e5, 1e6, 1e7) at each density in
  ``--densities`` (default 0.01, i.e. a spike train with 1 % of its bins set, and 0.5), ``lz76`` (the
  automaton from 6144 bins on) against the baseline; the baseline runs only up to ``--baseline-max-n``
  (default 1e6: it is quadratic, ~283 s at 1e7), best of ``--repeats`` up to 1e6 and one run above.

The baseline is the bit-parallel kernel of the current build (``method="bitsets"``: the code used for every
length before the automaton), or, with ``--baseline-so PATH``, a separately built ``_lz76`` extension file
(e.g. one built from an earlier commit), called with the four arguments of the old interface.  The phrase
counts of both sides are checked to be identical.  Results go to JSON.

Usage::

    python benchmarks/bench_lz76_long.py [--n-seq 10000] [--repeats 5] [--lengths 1e5 1e6 1e7]
        [--densities 0.01 0.5] [--baseline-max-n 1e6] [--baseline-so PATH] [--seed 0]
        [--out benchmarks/results/bench_lz76_long.json]
"""

from __future__ import annotations

import argparse
import importlib.util
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

SHORT = {"dense_p0.5": 0.5, "sparse_p0.02": 0.02}


def load_baseline(path: Path | None):
    """(name, counting function rows -> int64 counts) of the baseline kernel."""
    if path is None:
        return "current build, method='bitsets'", lambda rows: lzc_module._count_c(rows, "bitsets")
    spec = importlib.util.spec_from_file_location("_lz76", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def count(rows):
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        out = np.empty(rows.shape[0], dtype=np.int64)
        module.lz76_batch(rows, rows.shape[0], rows.shape[1], out)
        return out

    return f"extension file {path}", count


def timed(fn, cpu: list):
    """Run ``fn`` once; return (wall seconds, result), the CPU seconds of this process appended to ``cpu``
    (on a shared machine the CPU time is the steadier number: the kernels run on one thread)."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    cpu.append(time.process_time() - c0)
    return wall, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-seq", type=int, default=10_000, help="sequences of 1024 bins per short data set")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (interleaved); the best is kept")
    parser.add_argument("--lengths", type=float, nargs="+", default=[1e5, 1e6, 1e7], help="long lengths")
    parser.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.5], help="P(bin = 1), long")
    parser.add_argument("--baseline-max-n", type=float, default=1e6, help="longest length the baseline runs")
    parser.add_argument("--baseline-so", type=Path, default=None, help="an _lz76 extension file as baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_lz76_long.json", help="JSON path"
    )
    args = parser.parse_args(argv)
    if lzc_module.BACKEND != "c":
        print("the compiled extension brainlz._lz76 is not built: nothing to compare", file=sys.stderr)
        return 2
    baseline_name, baseline = load_baseline(args.baseline_so)
    rng = np.random.default_rng(args.seed)
    report = {
        "benchmark": "LZ76 phrase count on long sequences: brainlz.lzc.lz76 (suffix automaton from "
        f"{lzc_module._lz76_ext.SAM_MIN} bins on) vs the baseline; and the 1024-bin batch speed",
        "baseline": baseline_name,
        "timing": "wall clock (time.perf_counter) and CPU time of the process (time.process_time), one thread; "
        "short: best of repeats, interleaved; long: best of repeats up to 1e6 bins, one run above",
        "repeats": args.repeats,
        "seed": args.seed,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "short": {},
        "long": [],
    }
    identical = True

    for name, p in SHORT.items():
        raster = rng.random((args.n_seq, 1024)) < p
        rows = np.ascontiguousarray(raster, dtype=np.uint8)
        new_t, old_t, new_c, old_c = [], [], [], []
        for _ in range(args.repeats):
            t, new = timed(lambda r=raster: lzc_module.lz76(r), new_c)
            new_t.append(t)
            t, old = timed(lambda r=rows: baseline(r), old_c)
            old_t.append(t)
        same = bool(np.array_equal(new, old))
        identical &= same
        entry = {
            "n_seq": args.n_seq,
            "n_bins": 1024,
            "spike_probability": p,
            "new_seconds": min(new_t),
            "baseline_seconds": min(old_t),
            "new_us_per_seq": min(new_t) / args.n_seq * 1e6,
            "baseline_us_per_seq": min(old_t) / args.n_seq * 1e6,
            "new_over_baseline_time": min(new_t) / min(old_t),
            "new_cpu_seconds": min(new_c),
            "baseline_cpu_seconds": min(old_c),
            "new_over_baseline_cpu_time": min(new_c) / min(old_c),
            "new_seconds_all": new_t,
            "baseline_seconds_all": old_t,
            "identical_values": same,
        }
        report["short"][name] = entry
        print(
            f"1024 bins {name:>13}: new {entry['new_us_per_seq']:6.2f} us/seq | baseline "
            f"{entry['baseline_us_per_seq']:6.2f} us/seq | time ratio new/baseline "
            f"{entry['new_over_baseline_time']:.3f} (CPU time {entry['new_over_baseline_cpu_time']:.3f}) | "
            f"identical: {same}",
            flush=True,
        )

    for n in (int(x) for x in args.lengths):
        for p in args.densities:
            x = rng.random(n) < p
            row = np.ascontiguousarray(x, dtype=np.uint8)[None]
            repeats = args.repeats if n <= 1_000_000 else 1
            new_t, new_c, old_c = [], [], []
            for _ in range(repeats):
                t, new = timed(lambda r=x: lzc_module.lz76(r), new_c)
                new_t.append(t)
            entry = {
                "n_bins": n,
                "spike_probability": p,
                "phrase_count": int(new),
                "new_seconds": min(new_t),
                "new_ns_per_bin": min(new_t) / n * 1e9,
                "new_cpu_seconds": min(new_c),
                "new_seconds_all": new_t,
            }
            line = f"{n:>9} bins p={p:<5}: new {min(new_t):8.3f} s (CPU {min(new_c):8.3f} s)"
            if n <= args.baseline_max_n:
                old_t = []
                for _ in range(repeats):
                    t, old = timed(lambda r=row: baseline(r), old_c)
                    old_t.append(t)
                same = int(old[0]) == int(new)
                identical &= same
                entry.update(
                    {
                        "baseline_seconds": min(old_t),
                        "baseline_seconds_all": old_t,
                        "baseline_cpu_seconds": min(old_c),
                        "speedup_new_vs_baseline": min(old_t) / min(new_t),
                        "speedup_new_vs_baseline_cpu": min(old_c) / min(new_c),
                        "identical_values": same,
                    }
                )
                speedup = min(old_t) / min(new_t)
                line += f" | baseline {min(old_t):8.3f} s (CPU {min(old_c):8.3f} s) | speed-up {speedup:8.1f}x"
                line += f" | identical: {same}"
            else:
                line += " | baseline skipped (--baseline-max-n)"
            report["long"].append(entry)
            print(line, flush=True)

    report["all_identical"] = identical
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not identical:
        print("MISMATCH between lz76 and the baseline", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
