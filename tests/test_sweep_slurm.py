"""Sweeps on a real SLURM batch system (dask-jobqueue), where one is running; skipped elsewhere (CI has none).

Checked on a one-node SLURM 22.05 (Debian's slurm-wlm, slurmctld + slurmd + munge on the development machine):
the cells that two SLURM jobs compute are those of the serial run, and a job cancelled in the middle of a cell
(``scancel``, as a preempted or timed-out job) has its cell rerun on the other job.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("dask_jobqueue")


def _slurm_up() -> bool:
    if not shutil.which("sinfo") or not shutil.which("squeue"):
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%a %D"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.startswith("up")


pytestmark = [pytest.mark.skipif(not _slurm_up(), reason="no SLURM cluster running here"), pytest.mark.slow]

SWEEP = """
from brainlz.protocol import Protocol
from brainlz.sweep import Sweep
SWEEP = Sweep(name="slurm", base=Protocol(name="slurm", task="rate", difficulty=0.6, n_samples={n}, n_channels=8,
              hidden=0, output=8, n_bins=1024, backend="runtime", backend_options={{"target": "numpy"}},
              batch_size=40, n_folds=3), axes={{"task": ["rate", "burst"], "seed": [0, 1, 2, 3]}})
"""


def _run(tmp_path, out, *args, wait=True):
    env = {**os.environ, "BRAINLZ_CACHE": str(tmp_path / f"cache-{out}")}
    command = [sys.executable, "-m", "brainlz.cli", "run", str(tmp_path / "sweep.py"), "--out", str(tmp_path / out),
               "--no-figures", "--quiet", *args]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if wait:
        out_text, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    return process


def _readouts(folder: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text())["network_readout"]
            for p in folder.glob("slurm/cells/*/metrics.json")}


def test_slurm_jobs_give_the_serial_cells_and_survive_a_cancelled_job(tmp_path):
    (tmp_path / "sweep.py").write_text(SWEEP.format(n=300))
    before = set(subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split())
    process = _run(tmp_path, "slurm", "--cluster", "slurm", "--workers", "2", "--cluster-option",
                   "walltime=00:30:00", "--cluster-option", "memory=2GiB", wait=False)
    cancelled = None
    deadline = time.monotonic() + 120
    while cancelled is None and time.monotonic() < deadline:  # cancel one job once it has started a cell
        jobs = set(subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i"], capture_output=True,
                                  text=True).stdout.split()) - before
        if len(jobs) == 2 and list((tmp_path / "slurm").glob("slurm/cells/*")):
            cancelled = sorted(jobs)[0]
            subprocess.run(["scancel", cancelled], check=True)
        time.sleep(0.5)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert cancelled is not None
    _run(tmp_path, "serial")
    slurm, serial = _readouts(tmp_path / "slurm"), _readouts(tmp_path / "serial")
    assert len(slurm) == len(serial) == 8
    assert {k: json.dumps(v) for k, v in slurm.items()} == {k: json.dumps(v) for k, v in serial.items()}
    assert not [p for p in (tmp_path / "slurm" / "slurm" / "cells").iterdir() if p.name.startswith(".")]
