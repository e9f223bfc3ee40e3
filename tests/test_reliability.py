"""Reliability of ``brainlz run`` with real processes: an output folder that cannot take results is refused before
anything runs; processes that share the compiled-program cache take turns; Ctrl+C stops a run (exit 130, nothing
written) or the run finishes (exit 0, its whole folder), never anything in between; what a run writes has the
permissions the umask gives ordinary files and folders."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "protocols" / "quickstart.py"
LINUX = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")

# Python with SIGINT as a terminal gives it (whatever started the test), then the command line.
AS_IN_A_TERMINAL = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "sys.argv[0] = 'brainlz'; from brainlz.cli import main; sys.exit(main())")

TINY = """
from brainlz.protocol import Protocol
PROTOCOL = Protocol(name="{name}", task="rate", difficulty=0.2, n_samples=40, n_channels=8, n_bins=300, hidden=6,
                    output=6, backend="{backend}", backend_options={options}, batch_size=10, n_folds=2,
                    test_size=0.25, seed=3)
"""

TINY_SWEEP = """
from brainlz.protocol import Protocol
from brainlz.sweep import Sweep
SWEEP = Sweep(name="grid", base=Protocol(name="cell", task="rate", difficulty=0.2, n_samples=24, n_channels=8,
                                         n_bins=100, hidden=0, output=4, backend="runtime",
                                         backend_options={"target": "numpy"}, n_folds=2, test_size=0.25),
              axes={"seed": [0]})
"""


def _tiny(tmp_path, name="tiny", backend="runtime", options='{"target": "numpy"}') -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(TINY.format(name=name, backend=backend, options=options)))
    return path


def _command(*args, shell_prefix=None) -> list:
    """``brainlz ARGS`` as a terminal would start it, or after the shell commands ``shell_prefix``."""
    command = [sys.executable, "-c", AS_IN_A_TERMINAL, *map(str, args)]
    if shell_prefix is None:
        return command
    return ["sh", "-c", f'{shell_prefix}; exec "$@"', "sh", sys.executable, "-m", "brainlz.cli", *map(str, args)]


def _env(tmp_path) -> dict:
    return {**os.environ, "BRAINLZ_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("brainlz: error: ") and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------ an output folder that cannot take the results

def _as_nobody(command: list) -> list:
    """``command`` as an unprivileged user where the test runs as root (root ignores folder permissions)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop privileges")
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*drop, command[0], "-c", "import brainlz"], capture_output=True, cwd="/")
    if probe.returncode != 0:  # e.g. an interpreter whose libpython lies under root's home (pyenv)
        pytest.skip(f"{command[0]} cannot run as an unprivileged user here")
    return [*drop, *command]


@pytest.fixture
def shared_tmp(tmp_path):
    """A folder that an unprivileged user can reach (pytest's tmp_path is private to the user running it)."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="brainlz-reliability-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


@LINUX
@pytest.mark.parametrize("case", ["read-only", "read-only/below", "a_file", "a_file/below", "name-is-a-file",
                                  "sweep-name-is-a-file"])
def test_an_out_that_cannot_take_results_is_refused_before_anything_runs(shared_tmp, case):
    (shared_tmp / "read-only").mkdir()
    (shared_tmp / "read-only").chmod(0o555)
    (shared_tmp / "a_file").write_text("a file")
    protocol = QUICKSTART
    if case in ("name-is-a-file", "sweep-name-is-a-file"):  # --out is fine, <out>/<name> is a file
        out = shared_tmp / "out"
        out.mkdir()
        out.chmod(0o777)
        if case == "sweep-name-is-a-file":
            protocol = shared_tmp / "sweep.py"
            protocol.write_text(TINY_SWEEP)
        (out / ("grid" if case == "sweep-name-is-a-file" else "quickstart")).write_text("a file")
    else:
        out = shared_tmp / case
    command = [sys.executable, "-m", "brainlz.cli", "run", str(protocol), "--out", str(out), "--quiet"]
    if case.startswith("read-only"):
        command = _as_nobody(command)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=shared_tmp,
                          env={**os.environ, "HOME": str(shared_tmp), "BRAINLZ_CACHE": str(shared_tmp / "cache")})
    seconds = time.perf_counter() - started
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = _one_error_line(done.stderr)
    if case.startswith("read-only"):
        assert line.startswith(f"brainlz: error: --out = '{out}': cannot write in '{shared_tmp / 'read-only'}'")
    elif case.startswith("a_file"):
        assert line == f"brainlz: error: --out = '{out}': '{shared_tmp / 'a_file'}' is not a directory"
    else:
        assert "is not a directory" in line and line.startswith("brainlz: error: out = "), line
    assert seconds < 20  # the quickstart's computation alone takes longer; nothing ran
    assert "results written" not in done.stdout and not list(shared_tmp.rglob("metrics.json"))


# ------------------------------------------------------------------ one compiled-program cache, several processes

def _deterministic(metrics: dict) -> dict:
    """metrics.json without its timings."""
    return {k: v for k, v in metrics.items() if k not in ("simulation", "latency")}


def _metrics(out: Path, name: str) -> dict:
    (path,) = out.glob(f"{name}/*/metrics.json")
    return json.loads(path.read_text())


@LINUX
@pytest.mark.slow  # three processes compiling on an empty cache: 1-4 minutes on 2 cores
def test_processes_sharing_an_empty_cache_take_turns_and_read_their_own_results(tmp_path):
    """Three command-line runs of one standalone network shape at once, on an empty cache: two with one seed,
    one with another (other inputs and weights through the same compiled program).  All finish; the two equal
    runs agree, and the third agrees with the same run made alone afterwards."""
    protocol = _tiny(tmp_path, "shared", backend="standalone", options="{}")
    env = _env(tmp_path)
    runs = {name: subprocess.Popen(_command("run", protocol, "--out", tmp_path / name, "--quiet", "--no-figures",
                                            "--seed", seed),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
            for name, seed in (("a", 1), ("b", 1), ("c", 2))}
    for name, process in runs.items():
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0 and "Traceback" not in err, (name, err)
    assert _deterministic(_metrics(tmp_path / "a", "shared")) == _deterministic(_metrics(tmp_path / "b", "shared"))
    projects = [path for path in (tmp_path / "cache" / "standalone").iterdir() if (path / "main").exists()]
    assert projects and all(not list(path.glob("results-*")) for path in projects)  # each process removed its own
    alone = subprocess.run(_command("run", protocol, "--out", tmp_path / "alone", "--quiet", "--no-figures",
                                    "--seed", 2), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert alone.returncode == 0, alone.stderr
    assert _deterministic(_metrics(tmp_path / "c", "shared")) == _deterministic(_metrics(tmp_path / "alone", "shared"))


# ------------------------------------------------------------------ Ctrl+C

def _files(folder: Path) -> set:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def _check_outcome(process, out: Path, reference: set, when: str) -> str:
    """Exit 130 and nothing in the protocol's folder, or exit 0 and a complete run folder; never a traceback."""
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err and "Exception ignored" not in err and 'File "' not in err, (when, err)
    folder = out / "ctrlc"
    entries = sorted(folder.iterdir()) if folder.exists() else []
    assert not [path for path in entries if path.name.startswith(".")], (when, entries)  # no staging folder left
    if process.returncode == 130:
        assert entries == [] and "brainlz: interrupted" in err, (when, entries, err)
        return "interrupted"
    assert process.returncode == 0, (when, process.returncode, err)
    assert len(entries) == 1 and _files(entries[0]) == reference and "interrupted" not in err, (when, entries, err)
    json.loads((entries[0] / "metrics.json").read_text())
    return "finished"


@LINUX
def test_ctrl_c_stops_the_run_or_lets_it_finish_never_in_between(tmp_path):
    protocol = _tiny(tmp_path, "ctrlc")
    env = _env(tmp_path)
    started = time.perf_counter()
    reference = subprocess.run(_command("run", protocol, "--out", tmp_path / "reference", "--quiet"),
                               capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    duration = time.perf_counter() - started
    assert reference.returncode == 0, reference.stderr
    (folder,) = (tmp_path / "reference" / "ctrlc").iterdir()
    files = _files(folder)
    assert {"config.json", "metrics.json", "results.md", "network.npz", "outputs.npz"} <= files
    assert any(name.endswith(".png") for name in files)
    outcomes = {}
    for delay in (0.5, 2, 4, 8, duration - 1.0, duration - 0.3):
        out = tmp_path / f"out-{delay:.2f}"
        process = subprocess.Popen(_command("run", protocol, "--out", out, "--quiet"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=True)
        time.sleep(max(delay, 0.1))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl+C reaches the terminal's foreground process group
        outcomes[delay] = _check_outcome(process, out, files, f"SIGINT after {delay:.2f} s of {duration:.2f} s")
    assert outcomes[0.5] == "interrupted", outcomes  # (the others depend on this machine's speed)


@LINUX
def test_a_run_started_with_sigint_ignored_ignores_it(tmp_path):
    """``nohup``, or ``cmd &`` in a script: SIGINT stays ignored (Brian2's handler used to raise TypeError)."""
    protocol = _tiny(tmp_path, "ctrlc")
    out = tmp_path / "out"
    process = subprocess.Popen(_command("run", protocol, "--out", out, "--quiet", shell_prefix="trap '' INT"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
                               cwd=tmp_path, start_new_session=True)
    for _ in range(6):
        time.sleep(1.0)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "Traceback" not in err and "TypeError" not in err, err
    (folder,) = (out / "ctrlc").iterdir()
    assert (folder / "metrics.json").is_file() and (folder / "figures").is_dir()


DROPPED = """
import os, signal, sys, weakref
from brainlz import interrupts

interrupts.install()


class Thing:
    pass


def callback(ref):  # Ctrl+C arrives while Python runs a weakref callback: the KeyboardInterrupt is dropped there
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(1000):
        pass


thing = Thing()
ref = weakref.ref(thing, callback)
del thing
print("went on", flush=True)
try:
    interrupts.check()
except KeyboardInterrupt:
    print("stopped at the check", flush=True)
    sys.exit(130)
"""


@LINUX
def test_an_interrupt_python_drops_still_stops_the_run_at_the_next_check(tmp_path):
    script = tmp_path / "dropped.py"
    script.write_text(DROPPED)
    done = subprocess.run([sys.executable, "-c", f"import signal; signal.signal(signal.SIGINT, "
                           f"signal.default_int_handler); exec(open({str(script)!r}).read())"],
                          capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert done.stdout.splitlines() == ["went on", "stopped at the check"], (done.stdout, done.stderr)
    assert done.returncode == 130 and "Exception ignored" not in done.stderr, done.stderr


# ------------------------------------------------------------------ permissions

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@LINUX
@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask-022", "umask-077"])
def test_results_have_the_permissions_the_umask_gives(tmp_path, umask):
    protocol = _tiny(tmp_path, "perm")
    sweep = tmp_path / "sweep.py"
    sweep.write_text(TINY_SWEEP)
    out = tmp_path / "out"
    for experiment in (protocol, sweep):
        done = subprocess.run(_command("run", experiment, "--out", out, "--quiet",
                                       shell_prefix=f"umask {umask:03o}"),
                              capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
    written = [out, *out.rglob("*")]  # the run's folder, the sweep's, its cell's, their files and figures
    folders = [path for path in written if path.is_dir()]
    files = [path for path in written if path.is_file()]
    assert any(path.name == "summary.json" for path in files) and any(path.suffix == ".png" for path in files)
    assert any((path / "metrics.json").is_file() for path in folders)  # the run's and the cell's folders
    assert {str(p): oct(_mode(p)) for p in folders} == {str(p): oct(0o777 & ~umask) for p in folders}
    assert {str(p): oct(_mode(p)) for p in files} == {str(p): oct(0o666 & ~umask) for p in files}
