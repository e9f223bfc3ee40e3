"""Sweeps on Dask (brainlz.cluster, brainlz.sweep.run_sweep with workers > 1, scheduler=, cluster=): the same
results as one process, compiled programs reused per worker, faults survived, with real LocalClusters (no mock)."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from brainlz.cli import main  # noqa: E402
from brainlz.errors import ParameterError, ProtocolError  # noqa: E402
from brainlz.sweep import Sweep, run_sweep  # noqa: E402

from test_sweep import tiny  # noqa: E402

LIF = (Path(__file__).resolve().parent.parent / "models" / "lif.py").read_text()

# A model file that changes nothing in the test process but, in a process with $BRAINLZ_TEST_FAULTS set (the
# workers of the clusters below), makes the cells that write their results do something at that moment, when the
# cell's staging folder holds config.json and metrics.json already:
#   "once":  the first process to get there (across processes: an O_EXCL file) marks its pid and sleeps;
#   "all":   every process marks its pid and that of a program it starts (sleep 300), then sleeps;
#   "hold":  cells of seed >= 2 mark their pid and sleep while <marks>/hold exists;
#   "die":   cells of seed 1 kill their own process.
FAULTY_HEAD = '''
import os, pathlib, subprocess, time
import brainlz.protocol as _protocol
if os.environ.get("BRAINLZ_TEST_FAULTS"):
    if not hasattr(_protocol, "_faulty_modes"):  # one wrapper per process, whichever faulty model came first
        _protocol._faulty_modes = {{}}
        _real = _protocol.results_table

        def _faulty(protocol, metrics, _modes=_protocol._faulty_modes, _real=_real):
            if protocol.model not in _modes:
                return _real(protocol, metrics)
            mode, marks = _modes[protocol.model]
            if mode == "once":
                try:
                    os.close(os.open(marks / "stalled", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return _real(protocol, metrics)
                (marks / f"pid-{{os.getpid()}}").write_text("")
                time.sleep(600)
            if mode == "all":
                program = subprocess.Popen(["sleep", "300"])
                (marks / f"pid-{{os.getpid()}}-{{program.pid}}").write_text("")
                time.sleep(600)
            if mode == "hold" and protocol.seed >= 2:
                (marks / f"pid-{{os.getpid()}}-seed{{protocol.seed}}").write_text("")
                while (marks / "hold").exists():
                    time.sleep(0.1)
            if mode == "die" and protocol.seed == 1:
                os.kill(os.getpid(), 9)
            return _real(protocol, metrics)

        _protocol.results_table = _faulty
    _protocol._faulty_modes[{name!r}] = ({mode!r}, pathlib.Path({marks!r}))
'''


def _faulty_model(models: Path, marks: Path, mode: str, name: str) -> str:
    models.mkdir(exist_ok=True)
    marks.mkdir(exist_ok=True)
    (models / f"{name}.py").write_text(FAULTY_HEAD.format(marks=str(marks), mode=mode, name=name) + LIF)
    return name


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    (root / "models").mkdir()
    return {"BRAINLZ_CACHE": str(root / "cache"), "BRAINLZ_MODEL_PATH": str(root / "models"),
            "BRAINLZ_TEST_FAULTS": "1", "root": root}


@pytest.fixture(scope="module")
def client(cluster_env):
    """A real LocalCluster of 2 worker processes (one thread each), as brainlz starts it, shared by the tests of
    this module; a worker that dies once has its task rerun (allowed-failures 1), twice and it is given up."""
    import dask

    env = {k: v for k, v in cluster_env.items() if k != "root"}
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=0,
                                           dashboard_address=":0", silence_logs=50, env=env)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def _timeless(value):
    """A metrics entry without its wall-clock timings (which differ between any two runs)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not any(t in k for t in ("time", "seconds", "latency"))}
    return value


def _same_files(a: Path, b: Path):
    """The deterministic results of two runs of one cell agree bitwise: accuracy, readouts, activity, learning,
    the trained and initial networks, the output rasters and their LZC."""
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for key in ("accuracy", "accuracy_ci95", "network_readout", "threshold_baseline", "activity", "learning",
                "network", "energy"):
        assert _timeless(ma.get(key)) == _timeless(mb.get(key)), key
    for name in ("network.npz", "network_initial.npz", "outputs.npz"):
        if (a / name).exists() or (b / name).exists():
            with np.load(a / name) as x, np.load(b / name) as y:
                assert sorted(x.files) == sorted(y.files)
                for key in x.files:
                    assert np.array_equal(x[key], y[key]), (name, key)
                    assert x[key].dtype == y[key].dtype


def test_cells_on_a_cluster_are_bitwise_those_of_the_serial_run(tmp_path, client, capsys):
    sweep = Sweep("same", tiny(learning={"rule": "tempotron", "epochs": 1}),
                  axes={"difficulty": [0.2, 0.8], "seed": [0, 1]})
    ids = [cell.id for cell in sweep.cells]
    serial = run_sweep(sweep, tmp_path / "serial", progress=False, figures=False)
    # a leftover staging folder of a killed cell, removed when the next run starts
    (tmp_path / "dask" / "same" / "cells").mkdir(parents=True)
    (tmp_path / "dask" / "same" / "cells" / f".{ids[0]}.abcd1234").mkdir()
    on_dask = run_sweep(sweep, tmp_path / "dask", progress=True, figures=False, scheduler=client)
    returned = run_sweep(sweep, tmp_path / "returned", progress=False, figures=False, scheduler=client,
                         write_on="client")
    assert serial.ran == on_dask.ran == returned.ran == ids
    assert {t["worker"] for t in serial.tasks.values()} == {None}
    assert {t["status"] for t in on_dask.tasks.values()} == {"written"}  # by the workers, never rewritten
    assert {t["status"] for t in returned.tasks.values()} == {"files"}  # returned and written by the client
    assert {t["worker"] for t in on_dask.tasks.values()} <= {"0", "1"}
    for cell_id in ids:
        for other in ("dask", "returned"):
            _same_files(tmp_path / "serial" / "same" / "cells" / cell_id, tmp_path / other / "same" / "cells" / cell_id)
    assert on_dask.summary["rows"] == serial.summary["rows"] == returned.summary["rows"]
    for out in ("dask", "returned"):
        assert [p.name for p in (tmp_path / out / "same").rglob(".*")] == [".brainlz-run.lock"]
    err = capsys.readouterr().err
    started = re.search(r"sweep same: 4 cells on the Dask cluster at tcp://\S+?(; dashboard (http://\S+))?\n", err)
    assert started
    try:
        import bokeh  # noqa: F401  (Dask's dashboard runs where bokeh is installed)
    except ImportError:
        pass
    else:
        assert started.group(2) == client.dashboard_link
    # progress: per cell done / failed / left and the time left at the pace so far
    assert re.search(r"cell \S+ done in \d+ s on worker [01]; 1 done, 0 failed, 3 left, about \d+ (s|min) left at "
                     r"this pace\n", err)
    assert re.search(r"cell \S+ done in \d+ s on worker [01]; 4 done, 0 failed, 0 left\n", err)
    again = run_sweep(sweep, tmp_path / "dask", progress=False, scheduler=client)
    assert again.ran == [] and again.skipped == ids


@pytest.mark.slow  # a real LocalCluster; about 10-25 s on 2 cores
def test_each_worker_compiles_a_network_shape_once(tmp_path, client, cluster_env):
    sweep = Sweep("compiled", tiny(backend="standalone", backend_options={}, n_samples=16),
                  axes={"seed": [0, 1, 2, 3]})
    result = run_sweep(sweep, tmp_path, progress=False, figures=False, scheduler=client)
    assert result.ran == [cell.id for cell in sweep.cells]
    per_worker = {}
    for cell_id in result.ran:  # in the order the cells ran on each worker: only the first one built
        task = result.tasks[cell_id]
        per_worker.setdefault(task["cache"], []).append(task["builds"])
    assert max(len(builds) for builds in per_worker.values()) >= 2
    first = sorted(per_worker.values(), key=len)[-1][0]
    for builds in per_worker.values():
        assert builds[0] >= 1 and builds[1:] == [0] * (len(builds) - 1), per_worker
        assert builds[0] == first  # one network shape, the same builds on every worker
    slots = Path(cluster_env["BRAINLZ_CACHE"]) / "sweep-workers"
    assert set(per_worker) <= {str(slots / "0"), str(slots / "1")}
    for cache in per_worker:  # one compiled project per shape, in the worker's own cache
        assert len([p for p in (Path(cache) / "standalone").iterdir() if p.is_dir()]) == first
    assert not (Path(cluster_env["BRAINLZ_CACHE"]) / "standalone").exists()  # never the shared one


@pytest.mark.slow  # a real LocalCluster; about 10-25 s on 2 cores
def test_a_worker_killed_mid_cell_has_its_cell_rerun_elsewhere(tmp_path, client, cluster_env, monkeypatch):
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", cluster_env["BRAINLZ_MODEL_PATH"])
    marks = tmp_path / "marks"
    model = _faulty_model(Path(cluster_env["BRAINLZ_MODEL_PATH"]), marks, "once", "killed_once_lif")
    sweep = Sweep("killed", tiny(model=model), axes={"seed": [0, 1, 2]})
    killed = []

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pids = [int(m.name.split("-")[1]) for m in marks.glob("pid-*")]
            if pids:
                # the cell's staging folder holds config.json and metrics.json now: kill its worker mid-write
                staging = list((tmp_path / "killed" / "cells").glob(".*"))
                killed.append((pids[0], [p.name for p in staging]))
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    result = run_sweep(sweep, tmp_path, progress=False, figures=False, scheduler=client)
    thread.join()
    assert len(killed) == 1 and len(killed[0][1]) == 1  # one worker killed, with a half-written cell
    ids = [cell.id for cell in sweep.cells]
    assert result.ran == ids and result.summary["n_finished"] == 3
    cells = tmp_path / "killed" / "cells"
    assert sorted(p.name for p in cells.iterdir()) == sorted(ids)  # every cell once, no staging folder
    for cell_id in ids:
        assert json.loads((cells / cell_id / "metrics.json").read_text())["accuracy"] is not None


@pytest.mark.slow  # a real LocalCluster; about 10-25 s on 2 cores
def test_a_cell_whose_workers_keep_dying_is_reported_failed_and_the_others_finish(tmp_path, client, cluster_env,
                                                                                  capsys, monkeypatch):
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", cluster_env["BRAINLZ_MODEL_PATH"])
    model = _faulty_model(Path(cluster_env["BRAINLZ_MODEL_PATH"]), tmp_path / "marks", "die", "dying_lif")
    sweep = Sweep("dying", tiny(model=model), axes={"seed": [0, 1, 2]})
    with pytest.raises(ProtocolError, match=r"^cell seed=1: the workers running it died"):
        run_sweep(sweep, tmp_path, progress=True, figures=False, scheduler=client)
    cells = tmp_path / "dying" / "cells"
    assert sorted(p.name for p in cells.iterdir()) == ["seed=0", "seed=2"]  # no half-written cell
    summary = json.loads((tmp_path / "dying" / "summary.json").read_text())
    assert summary["n_finished"] == 2
    err = capsys.readouterr().err
    assert re.search(r"cell seed=1 FAILED \(ProtocolError: cell seed=1: the workers running it died.*\); \d done, "
                     r"1 failed, \d left", err)
    assert "1 of 3 cells failed: seed=1 (" in err


def test_a_failing_cell_is_reported_and_raised_after_the_others(tmp_path, client, cluster_env, monkeypatch):
    monkeypatch.setenv("BRAINLZ_MODEL_PATH", cluster_env["BRAINLZ_MODEL_PATH"])
    models = Path(cluster_env["BRAINLZ_MODEL_PATH"])
    (models / "vanishing_lif.py").write_text(LIF)
    sweep = Sweep("failing", tiny(), axes={"model": ["lif", "vanishing_lif"], "seed": [0]})  # loads here...
    (models / "vanishing_lif.py").unlink()  # ...and is gone when the workers load it
    with pytest.raises(ParameterError, match="^model = 'vanishing_lif': unknown model"):
        run_sweep(sweep, tmp_path, progress=False, figures=False, scheduler=client)
    assert [p.name for p in (tmp_path / "failing" / "cells").iterdir()] == ["model=lif,seed=0"]


def test_a_second_run_into_the_same_folder_refuses_in_one_line(tmp_path, capsys):
    from brainlz.sweep import _RunLock

    sweep = Sweep("locked", tiny(), axes={"seed": [0]})
    holder = _RunLock(tmp_path / "locked", "locked")  # the first run, still writing
    try:
        with pytest.raises(ProtocolError, match=r"^sweep locked: another run is writing .*\(pid \d+ on .*\); wait"):
            run_sweep(sweep, tmp_path, progress=False)
        path = tmp_path / "sweep.py"
        path.write_text("from test_sweep import tiny\nfrom brainlz.sweep import Sweep\n"
                        "SWEEP = Sweep('locked', tiny(), axes={'seed': [0]})\n")
        assert main(["run", str(path), "--out", str(tmp_path), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "another run is writing" in err and "Traceback" not in err
        assert not (tmp_path / "locked" / "cells").exists()
    finally:
        holder.release()
    assert run_sweep(sweep, tmp_path, progress=False, figures=False).ran == ["seed=0"]  # free again


def test_a_corrupt_metrics_json_is_reported_in_one_line_and_rerun_on_request(tmp_path, capsys):
    sweep = Sweep("corrupt", tiny(), axes={"seed": [0, 1, 2]})
    run_sweep(sweep, tmp_path, progress=False, figures=False, only={"seed": [0, 1]})
    cells = tmp_path / "corrupt" / "cells"
    (cells / "seed=1" / "metrics.json").write_text('{"accuracy": 0.7')  # cut off
    capsys.readouterr()
    with pytest.raises(ProtocolError, match=r"^sweep corrupt: 1 broken cell not counted: seed=1 \(metrics.json is "
                                            r"corrupt: JSONDecodeError"):
        run_sweep(sweep, tmp_path, progress=False, figures=False)
    err = capsys.readouterr().err
    assert err.count("cell seed=1 is broken (metrics.json is corrupt") == 1
    summary = json.loads((tmp_path / "corrupt" / "summary.json").read_text())  # the summary did not crash
    assert summary["n_finished"] == 2 and (cells / "seed=2" / "metrics.json").is_file()  # the others ran
    assert summary["cells"][1]["broken"].startswith("metrics.json is corrupt") and not summary["cells"][1]["finished"]
    path = tmp_path / "sweep.py"
    path.write_text("from test_sweep import tiny\nfrom brainlz.sweep import Sweep\n"
                    "SWEEP = Sweep('corrupt', tiny(), axes={'seed': [0, 1, 2]})\n")
    assert main(["run", str(path), "--out", str(tmp_path), "--quiet", "--no-figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("brainlz: error: sweep corrupt: 1 broken cell not counted: seed=1")
    assert main(["run", str(path), "--out", str(tmp_path), "--quiet", "--no-figures", "--rerun-broken"]) == 0
    assert "(1 cells run now, 2 finished before)" in capsys.readouterr().out
    assert json.loads((cells / "seed=1" / "metrics.json").read_text())["accuracy"] is not None


@pytest.mark.parametrize("args,message", [
    (["--scheduler", "nonsense://x"], "--scheduler = 'nonsense://x': cannot connect to a Dask scheduler there"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers = 2: the cluster at the scheduler address"),
    (["--cluster", "lsf"], "--cluster = 'lsf': expected one of slurm, pbs, sge"),
    (["--cluster", "slurm", "--scheduler", "tcp://127.0.0.1:1"], "--cluster = 'slurm': give a scheduler address"),
    (["--cluster-option", "walltime=1:00:00"], "--cluster-option = 'walltime=1:00:00': only with --cluster"),
    (["--workers", "0"], "--workers = 0: a positive whole number"),
])
def test_engine_options_are_one_line_errors(tmp_path, capsys, args, message):
    path = tmp_path / "sweep.py"
    path.write_text("from test_sweep import tiny\nfrom brainlz.sweep import Sweep\n"
                    "SWEEP = Sweep('opts', tiny(), axes={'seed': [0]})\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("brainlz: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "opts" / "cells").exists()


def test_a_slurm_cluster_is_configured_one_cell_per_job(monkeypatch):
    pytest.importorskip("dask_jobqueue")
    from brainlz.cluster import _jobqueue

    batch = _jobqueue("slurm", 0, {"walltime": "04:00:00", "queue": "short"})
    try:
        script = batch.job_script()
    finally:
        batch.close()
    assert "#SBATCH -t 04:00:00" in script and "#SBATCH -p short" in script
    assert "--nthreads 1" in script and "--memory-limit 4.00GiB" in script and "#SBATCH -n 1\n" in script


# ------------------------------------------------------------------ the command line, killed and interrupted

SLOW_SWEEP = """
from brainlz.protocol import Protocol
from brainlz.sweep import Sweep
BASE = Protocol(name="slow", task="rate", difficulty=0.5, n_samples=24, n_channels=8, n_bins=60, hidden=0,
                output=4, model={model!r}, backend="runtime", backend_options={{"target": "numpy"}}, n_folds=2,
                test_size=0.25)
SWEEP = Sweep(name="slow", base=BASE, axes={{"seed": {seeds}}})
"""

INTERRUPTIBLE = """
import signal, sys
if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever launched the test
    from brainlz.cli import main
    sys.exit(main(["run", *sys.argv[1:]]))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())  # a zombie has finished


def _launch(tmp_path, model, seeds, *args):
    (tmp_path / "slow.py").write_text(SLOW_SWEEP.format(model=model, seeds=seeds))
    (tmp_path / "launch.py").write_text(INTERRUPTIBLE)
    env = {**os.environ, "BRAINLZ_MODEL_PATH": str(tmp_path / "models"), "BRAINLZ_TEST_FAULTS": "1",
           "BRAINLZ_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, str(tmp_path / "launch.py"), str(tmp_path / "slow.py"), "--out",
                             str(tmp_path / "out"), "--no-figures", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True, env=env,
                            cwd=Path(__file__).resolve().parent)


def _wait_for(condition, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    assert condition()


def _two_workers_running_programs(tmp_path):
    """A command-line sweep on 2 workers, each stalled in a cell while a program it started (``sleep 300``) runs:
    returns the client process and the pids of the workers and their programs."""
    marks = tmp_path / "marks"
    model = _faulty_model(tmp_path / "models", marks, "all", "stalling_lif")
    process = _launch(tmp_path, model, [0, 1, 2], "--workers", "2")
    _wait_for(lambda: len(list(marks.glob("pid-*"))) == 2, process)  # both workers are writing a cell
    pids = [int(pid) for mark in marks.glob("pid-*") for pid in mark.name.split("-")[1:]]
    assert len(pids) == 4 and all(_alive(pid) for pid in pids)
    return process, pids


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_ctrl_c_stops_the_workers_and_their_programs_and_leaves_no_staging_folder(tmp_path):
    process, pids = _two_workers_running_programs(tmp_path)
    assert len(list((tmp_path / "out" / "slow" / "cells").glob(".*"))) == 2  # two staging folders
    started = time.perf_counter()
    os.killpg(process.pid, signal.SIGINT)  # Ctrl+C reaches the terminal's foreground process group
    _, err = process.communicate(timeout=60)
    stopped_after = time.perf_counter() - started
    assert process.returncode == 130 and "brainlz: interrupted" in err and "Traceback" not in err, err
    assert stopped_after < 15  # at once, not after the running cells
    assert list((tmp_path / "out" / "slow" / "cells").iterdir()) == []  # nothing half-written, no staging folder
    for _ in range(50):
        if not any(_alive(pid) for pid in pids):
            break
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)]  # no worker, and no program a worker started, outlives it


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_two_commands_into_one_sweep_folder_at_once_the_second_refuses_in_one_line(tmp_path):
    """Two real command-line runs of one sweep into one folder: while the first writes its cells, the second stops
    at once with exit status 2 and one line naming the first (no traceback, nothing written by it)."""
    marks = tmp_path / "marks"
    model = _faulty_model(tmp_path / "models", marks, "all", "stalling_lif")
    first = _launch(tmp_path, model, [0, 1, 2], "--workers", "2")
    try:
        _wait_for(lambda: len(list(marks.glob("pid-*"))) == 2, first)  # the first run's workers are writing
        second = _launch(tmp_path, model, [0, 1, 2], "--workers", "2")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("brainlz: error: sweep slow: another run is writing"), err
        assert f"pid {first.pid} " in lines[0] and "Traceback" not in err
        assert len(list((tmp_path / "out" / "slow" / "cells").glob(".*"))) == 2  # only the first run's staging
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_client_killed_with_sigkill_and_run_again_has_every_cell_exactly_once(tmp_path):
    marks = tmp_path / "marks"
    model = _faulty_model(tmp_path / "models", marks, "hold", "holding_lif")
    (marks / "hold").write_text("")
    process = _launch(tmp_path, model, [0, 1, 2, 3], "--workers", "2")
    cells = tmp_path / "out" / "slow" / "cells"
    # seeds 0 and 1 finish; seeds 2 and 3 are held half-written on the two workers
    finished = lambda: [p for p in cells.glob("*/metrics.json") if not p.parent.name.startswith(".")]  # noqa: E731
    _wait_for(lambda: len(finished()) == 2 and len(list(marks.glob("pid-*"))) == 2, process)
    workers = [int(m.name.split("-")[1]) for m in marks.glob("pid-*")]
    os.kill(process.pid, signal.SIGKILL)  # the client only
    process.communicate()
    for _ in range(100):  # its workers follow it
        if not any(_alive(pid) for pid in workers):
            break
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
    assert len(list(cells.glob(".*"))) == 2  # what the killed cells left
    (marks / "hold").unlink()
    for extra in (["--workers", "2"], []):  # many workers, then one: every cell once, no staging folder left
        again = _launch(tmp_path, model, [0, 1, 2, 3], *extra)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        assert sorted(p.name for p in cells.iterdir()) == [f"seed={s}" for s in range(4)]
        assert all((cells / f"seed={s}" / "metrics.json").is_file() for s in range(4))
    assert "(0 cells run now, 4 finished before)" in out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_client_killed_with_sigkill_leaves_no_worker_and_no_program_a_worker_started(tmp_path):
    """Each worker runs a program (``sleep 300``, standing for ``./main``) inside its cell; the client is killed
    with SIGKILL, so nothing of brainlz's own clean-up runs.  Within seconds no worker and no program is left."""
    process, pids = _two_workers_running_programs(tmp_path)
    os.kill(process.pid, signal.SIGKILL)  # the client only
    process.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:  # do not leave them to the machine if the test fails
        os.kill(pid, signal.SIGKILL)
    process.stdout.close()
    process.stderr.close()
    assert not left


@pytest.mark.slow
def test_a_separately_started_scheduler_runs_the_cells_of_the_command_line(tmp_path):
    """``--scheduler`` to a `dask scheduler` and a `dask worker` started apart, as on a cluster."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "BRAINLZ_CACHE": str(tmp_path / "cache")}
    scheduler = subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(tmp_path / "scheduler.json")], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(300):
            if (tmp_path / "scheduler.json").exists():
                break
            time.sleep(0.1)
        address = json.loads((tmp_path / "scheduler.json").read_text())["address"]
        worker = subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nthreads", "2", "--nworkers", "1"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  cwd=Path(__file__).resolve().parent)
        path = tmp_path / "sweep.py"
        path.write_text(textwrap.dedent("""
            from test_sweep import tiny
            from brainlz.sweep import Sweep
            SWEEP = Sweep('remote', tiny(), axes={'difficulty': [0.2, 0.8], 'seed': [0, 1]})
        """))
        serial = tmp_path / "serial"
        assert main(["run", str(path), "--out", str(serial), "--quiet", "--no-figures"]) == 0
        assert main(["run", str(path), "--out", str(tmp_path / "remote"), "--no-figures", "--scheduler",
                     address]) == 0
        for cell in (serial / "remote" / "cells").iterdir():
            _same_files(cell, tmp_path / "remote" / "remote" / "cells" / cell.name)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
