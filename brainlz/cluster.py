"""Where a sweep's cells run: Dask's distributed scheduler.

:func:`brainlz.sweep.run_sweep` runs every cell of a sweep as one task of a Dask cluster (Dask is the Python
ecosystem's standard engine for this: one API from two local cores to a batch cluster, with a scheduler that reruns
the tasks of a worker that dies).  This module starts or joins that cluster and prepares its workers:

* :func:`connect` returns an :class:`Engine`: a ``distributed.LocalCluster`` of ``workers`` processes with one
  thread each (the default), the existing cluster whose scheduler is at ``scheduler``, or a batch cluster of
  dask-jobqueue (``cluster="slurm"``, ``"pbs"`` or ``"sge"``; ``pip install 'dask-jobqueue>=0.8'``, the ``cluster``
  extra).
* :class:`WorkerSetup`, a worker plugin, runs :func:`prepare_worker` on every worker as it joins: Brian2 is imported
  in the worker's main thread (it installs a signal handler at import, which only the main thread may do), the
  worker takes a cache folder of compiled programs of its own, and the workers of a LocalCluster leave the
  terminal's process group (Ctrl+C is the client's; it stops them, see :meth:`Engine.stop`), each with a reaper
  (:func:`_start_reaper`) that kills what is left of the worker's group, the programs it started included, when
  the worker dies in any way: a client killed with SIGKILL stops no worker itself, and a worker that follows it
  out would leave its running ``./main`` or GeNN program orphaned, computing for nobody.

The cache of a worker: ``<cache>/sweep-workers/<k>`` (``<cache>`` is the worker's ``$BRAINLZ_CACHE`` or
``~/.cache/brainlz``), for the smallest ``k`` whose lock file ``<k>.lock`` no live process holds (``flock``); the
worker holds it while it lives and sets ``$BRAINLZ_CACHE`` to that folder, so the standalone and tempotron programs
compiled for one cell are reused by the next cells of that worker (and of the next run's worker that gets the same
slot), and two live processes never rerun one compiled program at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from .errors import ParameterError

__all__ = ["CLUSTERS", "Engine", "WorkerSetup", "connect", "prepare_worker", "worker_cache"]

#: Batch systems that ``cluster=`` (``--cluster``) starts workers on, through dask-jobqueue.
CLUSTERS = ("slurm", "pbs", "sge")

_STATE = {"cache": None, "lock": None, "group": False}
_PREPARING = threading.Lock()


def worker_cache():
    """The cache folder this process took with :func:`prepare_worker` (None before)."""
    return _STATE["cache"]


def prepare_worker(own_group: bool = False) -> Path:
    """Make this process a sweep worker (idempotent): take a cache slot, set ``$BRAINLZ_CACHE`` to it, import
    Brian2; with ``own_group``, leave the terminal's process group.  Returns the cache folder."""
    with _PREPARING:
        if _STATE["cache"] is None:
            import fcntl

            base = Path(os.environ.get("BRAINLZ_CACHE") or Path.home() / ".cache" / "brainlz") / "sweep-workers"
            base.mkdir(parents=True, exist_ok=True)
            k = 0
            while True:
                handle = open(base / f"{k}.lock", "a")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    k += 1
                    continue
                break
            cache = base / str(k)
            cache.mkdir(exist_ok=True)
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            _STATE["lock"] = handle
            _STATE["cache"] = cache
            os.environ["BRAINLZ_CACHE"] = str(cache)
        if own_group and not _STATE["group"] and threading.current_thread() is threading.main_thread():
            os.setpgid(0, 0)  # out of reach of the terminal's Ctrl+C; the client stops the whole group
            _STATE["group"] = True
            _start_reaper()
    if threading.current_thread() is threading.main_thread():
        import brian2  # noqa: F401  (installs its SIGINT handler: main thread only)

        if own_group:
            signal.signal(signal.SIGINT, _ignore)  # a handler, unlike SIG_IGN, is not inherited by programs
    return _STATE["cache"]


#: The reaper's program: wait for the end of its standard input (the worker's exit, however it happens: only the
#: worker holds the pipe's write end), then kill the worker's process group and every program left in it.
_REAPER = """
import os, signal, sys
sys.stdin.buffer.read()
try:
    os.killpg(int(sys.argv[1]), signal.SIGKILL)
except OSError:
    pass
"""


def _start_reaper() -> None:
    """Start a process outside this worker's group that kills the group when this process has exited.

    The pipe's write end is kept as a bare descriptor (not inherited by programs, never closed by Python's
    clean-up), so the reaper sees the end of its input only when the kernel closes it: at this process' exit,
    by return, exception or SIGKILL.  Costs one small interpreter per worker (``python -I -S``).
    """
    reaper = subprocess.Popen([sys.executable, "-I", "-S", "-c", _REAPER, str(os.getpgid(0))],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    _STATE["reaper"] = (reaper, os.dup(reaper.stdin.fileno()))
    reaper.stdin.close()


def _ignore(signum, frame):
    """A SIGINT handler that does nothing."""


def _make_plugin_class():
    from distributed import WorkerPlugin

    class _WorkerSetup(WorkerPlugin):
        """Run :func:`prepare_worker` on every worker of the cluster, as it joins."""

        name = "brainlz-sweep-worker"

        def __init__(self, own_group: bool = False):
            self.own_group = own_group

        def setup(self, worker):
            prepare_worker(self.own_group)

    _WorkerSetup.__module__ = __name__
    _WorkerSetup.__qualname__ = "WorkerSetup"
    return _WorkerSetup


def __getattr__(name):  # WorkerSetup needs distributed, imported only when a cluster is used
    if name == "WorkerSetup":
        globals()["WorkerSetup"] = cls = _make_plugin_class()
        return cls
    raise AttributeError(name)



class Engine:
    """A Dask client and, where this process started it, its cluster.

    Attributes
    ----------
    client : distributed.Client
    cluster : LocalCluster, dask-jobqueue cluster or None
        None for an existing cluster (``scheduler=``).
    description : str
        Where the cells run, for the progress lines.
    local : bool
        The workers are processes of this machine that this process started (a LocalCluster).
    """

    def __init__(self, client, cluster, description: str, local: bool, owned_client: bool = True):
        self.client = client
        self.cluster = cluster
        self.description = description
        self.local = local
        self.owned_client = owned_client

    @property
    def dashboard(self):
        """The link to Dask's dashboard, or None when none is running (it needs bokeh)."""
        try:
            services = self.client.scheduler_info().get("services", {})
        except Exception:
            return None
        return self.client.dashboard_link if "dashboard" in services else None

    def workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def stop(self, now: bool = False):
        """Close the client and the cluster this process started.  With ``now`` (Ctrl+C, an error), the processes
        of a LocalCluster's workers are killed first, with every program they started (their process groups)."""
        import contextlib

        if now and self.local and self.cluster is not None:
            pids = []
            for nanny in list(self.cluster.workers.values()):
                with contextlib.suppress(Exception):
                    nanny.close_gracefully()  # no restart of the worker we kill next
                    if nanny.process is not None and nanny.process.pid:
                        pids.append(nanny.process.pid)
            for pid in pids:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
        if self.owned_client:
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=10)


def _free_port(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def connect(*, workers: int = 1, scheduler=None, cluster=None, cluster_options=None) -> Engine:
    """Start or join the Dask cluster that runs a sweep's cells.

    Parameters
    ----------
    workers : int
        Worker processes of the LocalCluster (one thread each), or jobs of the batch cluster (one worker each).
    scheduler : str or distributed.Client, optional
        The address of an existing cluster's scheduler (``tcp://host:8786``), or a client of one.
    cluster : {"slurm", "pbs", "sge"}, optional
        Start the workers as jobs of this batch system (dask-jobqueue).  Its configuration (queue, account,
        walltime, memory, ...) is dask-jobqueue's: ``~/.config/dask/jobqueue.yaml`` and ``cluster_options``; brainlz
        sets ``cores=1, processes=1`` (one cell at a time per job) and ``memory="4GiB"`` where neither gives them.
    cluster_options : dict, optional
        Keyword arguments of the dask-jobqueue cluster class (``walltime``, ``queue``, ``account``, ``memory``...).

    Raises
    ------
    ParameterError
        Naming ``scheduler`` or ``cluster`` when the scheduler cannot be reached or the batch cluster not set up.
    """
    import logging

    import distributed

    if scheduler is not None:
        if isinstance(scheduler, distributed.Client):
            return Engine(scheduler, None, f"the Dask cluster at {scheduler.scheduler.address}", local=False,
                          owned_client=False)
        try:
            client = distributed.Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ParameterError("scheduler", scheduler, f"cannot connect to a Dask scheduler there ({reason})") \
                from None
        return Engine(client, None, f"the Dask cluster at {client.scheduler.address}", local=False)
    if cluster is not None:
        batch = _jobqueue(cluster, workers, dict(cluster_options or {}))
        client = distributed.Client(batch, set_as_default=False)
        return Engine(client, batch, f"{workers} {cluster.upper()} jobs (dask-jobqueue)", local=False)
    dashboard = ":8787" if _free_port(8787) else ":0"
    local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                                     dashboard_address=dashboard, silence_logs=logging.ERROR)
    client = distributed.Client(local, set_as_default=False)
    return Engine(client, local, f"a LocalCluster of {workers} worker processes", local=True)


def _jobqueue(kind, workers: int, options: dict):
    if kind not in CLUSTERS:
        raise ParameterError("cluster", kind, f"expected one of {', '.join(CLUSTERS)}")
    try:
        import dask
        import dask_jobqueue
    except ImportError:
        raise ParameterError("cluster", kind,
                             "needs dask-jobqueue: pip install 'dask-jobqueue>=0.8' (the cluster extra)") from None
    classes = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster, "sge": dask_jobqueue.SGECluster}
    configured = dask.config.get(f"jobqueue.{kind}", default={}) or {}
    kwargs = {}
    for key, value in (("cores", 1), ("processes", 1), ("memory", "4GiB")):
        if configured.get(key) is None and key not in options:
            kwargs[key] = value
    kwargs.update(options)
    try:
        batch = classes[kind](**kwargs)
    except (ValueError, TypeError, KeyError) as exc:
        raise ParameterError("cluster", kind, f"cannot set up the {kind} cluster "
                                              f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from None
    batch.scale(jobs=workers)
    return batch
