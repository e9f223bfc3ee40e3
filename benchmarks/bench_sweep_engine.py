"""The sweep engine measured: the test suite's reduced grid serially, on a LocalCluster and on a separate scheduler.

The reduced paper grid of ``tests/test_paper_grid.py`` (24 cells: three rules x two models x two arms x ``burst`` x
seeds 0 and 1; 24 samples of 8 channels x 80 bins, runtime backend, numpy) is run three times into fresh folders:

* ``serial``: ``run_sweep(workers=1)``, the cells one after another in this process;
* ``local``: ``run_sweep(workers=2)``, a ``dask.distributed.LocalCluster`` of 2 worker processes;
* ``scheduler``: ``run_sweep(scheduler=ADDRESS)`` to a ``dask scheduler`` and two ``dask worker`` processes
  (one thread each) started by this script as separate processes, as on a cluster.

Every cell's deterministic results (``metrics.json`` without wall-clock timings, and the sha256 of every array of
``network.npz``, ``network_initial.npz`` and ``outputs.npz``) are compared with the serial run's.  The engine's
overhead per cell is ``(workers x wall time - sum of the cells' own seconds) / cells``: the time a worker was not
running a cell (scheduling, transfers, start-up, and the idle tail when fewer cells than workers are left), as a
fraction of the mean cell time.  Cells here take seconds; the overhead of a real grid's cells (minutes) is the same
number of seconds over a longer cell.

Usage::

    python benchmarks/bench_sweep_engine.py [--out benchmarks/results/bench_sweep_engine.json]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "time", "latency", "started_utc", "finished_utc", "run_id", "provenance")


def reduced_grid():
    spec = importlib.util.spec_from_file_location("paper_grid", ROOT / "protocols" / "paper_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_sweep(
        "grid_small", tasks=("burst",), seeds=(0, 1), n_samples=24, n_channels=8, n_bins=80, hidden=4, output=4,
        backend="runtime", backend_options={"target": "numpy"}, batch_size=24, n_folds=2, test_size=0.25,
        tune={"hidden": [2, 4]}, intrinsic={"outer_steps": 1, "step_size": 0.1, "perturbation": 0.05},
        rule_options={"surrogate": {"epochs": 1}, "tempotron": {"epochs": 1}})


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not any(word in k for word in TIMING)}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def digest(cell: Path) -> dict:
    result = {"metrics": strip(json.loads((cell / "metrics.json").read_text()))}
    for name in ("network.npz", "network_initial.npz", "outputs.npz"):
        if (cell / name).exists():
            with np.load(cell / name) as arrays:
                result[name] = {key: hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
                                for key in sorted(arrays.files)}
    return result


def cells(directory: Path) -> dict:
    return {cell.name: digest(cell) for cell in sorted((directory / "cells").iterdir())
            if not cell.name.startswith(".")}


def decompose(tasks: dict, workers: int, start_at: float, end_at: float, wall: float) -> dict:
    """The engine's time split into its one-off and its per-cell parts, from each cell's start and end stamps.

    * ``startup``: from the call to each worker's first cell (cluster start, worker imports, first dispatch),
      summed over the workers;
    * ``between cells``: on each worker, from the end of a cell to the start of its next (scheduling, result
      hand-over, the next job's transfer): the engine's cost per cell, as a mean over these gaps;
    * ``tail``: from each worker's last cell to the end of the call (the idle worker waiting for the other's last
      cell, the final summary, the cluster's shutdown), summed over the workers.

    The sum of the three and of the cells' own seconds is ``workers x wall`` up to clock resolution.
    """
    cell_seconds = [task["seconds"] for task in tasks.values()]
    n = len(cell_seconds)
    per_worker = {}
    for task in tasks.values():
        per_worker.setdefault(task["worker"], []).append((task["started_at"], task["finished_at"]))
    startup = tail = 0.0
    gaps = []
    for spans in per_worker.values():
        spans.sort()
        startup += spans[0][0] - start_at
        tail += end_at - spans[-1][1]
        gaps += [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:])]
    idle = workers - len(per_worker)  # a worker that ran no cell idled the whole call
    mean_cell = float(np.mean(cell_seconds))
    overhead = (workers * wall - sum(cell_seconds)) / n
    gap = float(np.mean(gaps)) if gaps else 0.0
    return {"cells": n, "wall_seconds": wall, "cell_seconds_mean": mean_cell,
            "overhead_seconds_per_cell": overhead, "overhead_fraction_of_cell": overhead / mean_cell,
            "startup_seconds": startup + idle * wall, "tail_seconds": tail,
            "between_cells_seconds_mean": gap, "between_cells_seconds_max": float(np.max(gaps)) if gaps else 0.0,
            "between_cells_fraction_of_cell": gap / mean_cell}


def start_scheduler(scratch: Path, n_workers: int):
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` processes; returns (address, processes)."""
    bin_dir = Path(sys.executable).parent
    scheduler_file = scratch / "scheduler.json"
    processes = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--scheduler-file", str(scheduler_file),
                                   "--port", "0", "--dashboard-address", ":0"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    deadline = time.time() + 60
    while not scheduler_file.exists() and time.time() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text())["address"]
    for _ in range(n_workers):
        processes.append(subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nworkers", "1",
                                           "--nthreads", "1", "--memory-limit", "0"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
    from distributed import Client

    with Client(address) as client:
        client.wait_for_workers(n_workers, timeout=120)
    return address, processes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_sweep_engine.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from brainlz.files import write_json
    from brainlz.sweep import run_sweep

    sweep = reduced_grid()
    runs, digests = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as scratch:
        scratch = Path(scratch)
        os.environ["BRAINLZ_CACHE"] = str(scratch / "cache")
        processes = []
        try:
            for name, options, workers in (("serial", {"workers": 1}, 1), ("local", {"workers": 2}, 2),
                                           ("scheduler", None, 2)):
                if options is None:
                    address, processes = start_scheduler(scratch, 2)
                    options = {"scheduler": address}
                start, start_at = time.perf_counter(), time.time()
                result = run_sweep(sweep, scratch / name, progress=False, figures=False, **options)
                wall, end_at = time.perf_counter() - start, time.time()
                runs[name] = {"workers": workers, **decompose(result.tasks, workers, start_at, end_at, wall)}
                digests[name] = cells(scratch / name / sweep.name)
        finally:
            for process in processes:  # each in a session of its own: its group is its pid
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for process in processes:
                process.wait(timeout=30)
    for name in ("local", "scheduler"):
        same = [cell for cell in digests["serial"] if digests[name].get(cell) == digests["serial"][cell]]
        runs[name]["cells_identical_to_serial"] = f"{len(same)} of {len(digests['serial'])}"
    results = {"machine": platform.node(), "cpus": os.cpu_count(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "runs": runs}
    print("| engine | workers | wall (s) | mean cell (s) | all overhead per cell (s) | start-up (s) | tail (s) "
          "| between cells, mean (s) | between cells / cell | identical |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, run in runs.items():
        print(f"| {name} | {run['workers']} | {run['wall_seconds']:.1f} | {run['cell_seconds_mean']:.2f} | "
              f"{run['overhead_seconds_per_cell']:.2f} ({100 * run['overhead_fraction_of_cell']:.1f} %) | "
              f"{run['startup_seconds']:.2f} | {run['tail_seconds']:.2f} | {run['between_cells_seconds_mean']:.3f} | "
              f"{100 * run['between_cells_fraction_of_cell']:.2f} % | "
              f"{run.get('cells_identical_to_serial', '(reference)')} |")
    print(f"written to {write_json(args.out, results, make_parents=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
