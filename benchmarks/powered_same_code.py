"""Does this checkout compute what the powered calibration's commit computed?  A reduced grid, digested.

The pre-registration says nothing in the rules, the outer loop or the tasks changes between the calibration run
and the end of the grid; the grid runs from a later commit than the calibration (it needs the calibration's
choice), so the claim is measured: this script runs a reduced powered grid (every rule, both arms, LIF, the
``regular`` task, seed 0; 60 training and 60 test samples of 256 bins, 8 channels, 8 hidden and 8 output neurons,
the grid's rule settings unchanged) one cell after another, and writes per cell the test accuracy and SHA-256
digests of its output rasters and of its ``metrics.json`` without timings (every key naming a time or seconds).
Run it in both checkouts and compare::

    PYTHONPATH=<calibration worktree> python benchmarks/powered_same_code.py --out a.json
    python benchmarks/powered_same_code.py --out b.json
    python benchmarks/powered_same_code.py --compare a.json b.json     # exit 1 if any cell differs

About 6 minutes on one core.  Identical digests mean identical rasters, trainings, tuning choices and outer-loop
paths on this reduced grid (a check, not a proof: the full-size cells are not rerun).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


#: Keys of a cell's metrics that hold timings (seconds): ``seconds``, ``*_seconds``, ``*seconds_per_sample``,
#: ``*_time`` (``epoch_time``, ``wall_time``).
def _is_timing(key: str) -> bool:
    return key == "seconds" or key.endswith(("_seconds", "seconds_per_sample", "_time"))


def _without_timings(value):
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if not _is_timing(key)}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def digest_cell(cell: Path) -> dict:
    """Accuracy and digests of one cell folder."""
    metrics = json.loads((cell / "metrics.json").read_text())
    rasters = hashlib.sha256()
    with np.load(cell / "outputs.npz") as outputs:
        for key in sorted(outputs.files):
            array = np.ascontiguousarray(outputs[key])
            rasters.update(f"{key} {array.dtype.str} {array.shape}".encode() + array.tobytes())
    text = json.dumps(_without_timings(metrics), sort_keys=True, default=str)
    return {"accuracy": metrics.get("accuracy"), "outputs_sha256": rasters.hexdigest(),
            "metrics_sha256": hashlib.sha256(text.encode()).hexdigest()}


def run(out: Path) -> dict:
    import brainlz
    from brainlz.experiments.powered_grid import make_sweep
    from brainlz.sweep import run_sweep

    sweep = make_sweep({"regular": 0.6}, [0], name="same_code", models=("lif",), tasks=("regular",),
                       n_samples=60, n_test=60, n_channels=8, hidden=8, output=8, n_bins=256, batch_size=60)
    with tempfile.TemporaryDirectory() as folder:
        run_sweep(sweep, Path(folder), progress=False, figures=False)
        cells = {cell.name: digest_cell(cell) for cell in sorted((Path(folder) / "same_code" / "cells").iterdir())}
    record = {"package": str(Path(brainlz.__file__).parent), "cells": cells}
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


def compare(a: Path, b: Path) -> list:
    """The cells whose digests differ (or that only one record has)."""
    first, second = (json.loads(path.read_text())["cells"] for path in (a, b))
    return sorted(name for name in set(first) | set(second) if first.get(name) != second.get(name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where to write this checkout's digests (JSON)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="two records to compare")
    args = parser.parse_args(argv)
    if args.compare:
        differing = compare(*args.compare)
        print("identical" if not differing else "differ: " + ", ".join(differing))
        return 1 if differing else 0
    if args.out is None:
        parser.error("give --out or --compare")
    record = run(args.out)
    for name, cell in record["cells"].items():
        print(f"{name}: accuracy {cell['accuracy']}, outputs {cell['outputs_sha256'][:12]}, "
              f"metrics {cell['metrics_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
