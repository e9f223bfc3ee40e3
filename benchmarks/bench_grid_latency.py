"""Benchmark: inference latency per sample of the paper grid's trained networks, measured side by side.

The latency a grid cell records (``metrics.json`` ``latency``) is the wall time of its own simulation of 200
samples in batches of 100, taken while another cell runs on the other core (and, on the development machine,
while the grid was paused for other measurements): fit for comparing nothing.  This script times the trained
networks again, one after another in one process: for every (rule, model, intrinsic, task) row of the grid it
loads the trained network (``network.npz``) of one finished seed (``--seed``, default the lowest finished),
draws ``--n-samples`` fresh samples of the row's task (the cell's task, difficulty and channels; seed 12345),
and times simulation + LZC + readout ``predict`` in the best configuration of ``bench_inference.py``
(standalone, ``copies=25``, ``processes=2``, LZC on two threads), best of ``--repeats`` after an untimed
call of the same shape (compilation excluded).  The readout is fitted beforehand on the LZC of 200 other
samples simulated by the same network.

Every row records the SHA-256 of the ``network.npz`` it timed (``network_sha256``; the README's table shows a
latency only for the network that is in the record now) and when it was measured (``measured_at``).  With
``--update`` the rows of the existing ``--out`` file whose network is unchanged (same hash, same ``n_samples`` and
``repeats``, timed on this machine, ``machine`` and CPU count) are kept and only the other rows are timed: rows
measured in different runs are then not side by side (compare ``measured_at``); without it every row is timed
in this run.

Usage::

    python benchmarks/bench_grid_latency.py [--cells results/paper_grid/cells] [--n-samples 1000]
        [--repeats 3] [--out benchmarks/results/bench_grid_latency.json] [--update]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_inference import BACKENDS, PERIOD_COPIES, infer  # noqa: E402

from brainlz.data import make_task  # noqa: E402
from brainlz.network import NetworkSpec  # noqa: E402
from brainlz.readout import LZCFeatures, default_pipeline  # noqa: E402
from brainlz.files import write_json  # noqa: E402

BEST = "standalone-periods-2processes"
ROW_AXES = ("rule", "model", "intrinsic", "task")


def cell_labels(name: str) -> dict:
    """``rule=stdp,model=lif,...`` -> {"rule": "stdp", "model": "lif", ...}."""
    return dict(part.split("=", 1) for part in name.split(","))


def finished_rows(cells: Path, seed=None) -> dict:
    """{row labels (tuple): cell directory} with one finished cell per row."""
    rows = {}
    for directory in sorted(cells.iterdir()):
        if not (directory / "metrics.json").is_file() or not (directory / "network.npz").is_file():
            continue
        labels = cell_labels(directory.name)
        if seed is not None and int(labels["seed"]) != seed:
            continue
        key = tuple(labels[axis] for axis in ROW_AXES)
        if key not in rows or int(labels["seed"]) < int(cell_labels(rows[key].name)["seed"]):
            rows[key] = directory
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=str(ROOT / "results" / "paper_grid" / "cells"))
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None, help="the grid seed whose networks are timed")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_grid_latency.json"))
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of --out whose network is unchanged; time only the others")
    args = parser.parse_args(argv)

    cells = Path(args.cells)
    if not cells.is_dir():
        raise SystemExit(f"--cells: no directory {cells} (run the grid first: brainlz run protocols/paper_grid.py)")
    rows = finished_rows(cells, args.seed)
    if not rows:
        raise SystemExit(f"--cells: no finished cell with a network.npz under {cells}")
    backend = BACKENDS[BEST]
    results = {"what": "seconds per sample of simulation + LZC + readout predict, batch of n_samples, "
                       f"standalone copies={PERIOD_COPIES}, processes=2, LZC on 2 threads; best of repeats after an "
                       "untimed call of the same shape",
               "n_samples": args.n_samples, "repeats": args.repeats, "python": platform.python_version(),
               "machine": platform.platform(), "cpus": os.cpu_count(), "rows": []}
    kept = {}
    if args.update and Path(args.out).is_file():
        previous = json.loads(Path(args.out).read_text())
        same = ((previous.get("n_samples"), previous.get("repeats"), previous.get("cpus"))
                == (args.n_samples, args.repeats, os.cpu_count()))
        if same:  # and each kept row was timed on this machine
            kept = {entry["cell"]: entry for entry in previous.get("rows", [])
                    if entry.get("network_sha256") and entry.get("machine") == platform.platform()}
    for key, directory in sorted(rows.items()):
        sha = hashlib.sha256((directory / "network.npz").read_bytes()).hexdigest()
        if directory.name in kept and kept[directory.name]["network_sha256"] == sha:
            results["rows"].append(kept[directory.name])
            print(f"{' '.join(key):45s} unchanged network: kept ({kept[directory.name].get('measured_at')})",
                  flush=True)
            continue
        protocol = json.loads((directory / "config.json").read_text())["protocol"]
        spec = NetworkSpec.load(directory / "network.npz")
        data = make_task(protocol["task"], n_samples=args.n_samples + 200, n_channels=protocol["n_channels"],
                         difficulty=protocol["difficulty"], n_classes=protocol["n_classes"], seed=12345,
                         **protocol.get("task_options", {}))
        fit, timed = data.spiketrains[:200], data.spiketrains[200:]
        fit_output = backend[0](spec, fit, batch_size=len(fit)).output
        readout = default_pipeline(seed=0).fit(LZCFeatures().fit_transform(fit_output), data.labels[:200])
        infer(backend, spec, timed, readout)  # warm-up: compiles a new shape
        best, best_sim = np.inf, np.inf
        for _ in range(args.repeats):
            total, sim, _ = infer(backend, spec, timed, readout)
            best, best_sim = min(best, total), min(best_sim, sim)
        entry = dict(zip(ROW_AXES, key), cell=directory.name, sizes=list(spec.sizes),
                     seconds_per_sample=best / len(timed), simulation_seconds_per_sample=best_sim / len(timed),
                     output_rate_hz=float(fit_output.mean() / float(spec.dt)), network_sha256=sha,
                     machine=platform.platform(),
                     measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        results["rows"].append(entry)
        print(f"{' '.join(key):45s} sizes {entry['sizes']}: {1e3 * entry['seconds_per_sample']:.3f} ms/sample "
              f"(simulation {1e3 * entry['simulation_seconds_per_sample']:.3f})", flush=True)
    write_json(args.out, results, make_parents=True)
    return results


if __name__ == "__main__":
    main()
