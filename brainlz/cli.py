"""The ``brainlz`` command line.

``brainlz run FILE.py|NAME [--out DIR] [--seed N] [--backend NAME] [--workers N] [--scheduler ADDRESS] [--cluster NAME] [--quiet] [--no-figures]``
    Run a protocol (a file defining ``PROTOCOL``) and print its results table, or run a sweep (a file defining
    ``SWEEP``; see :mod:`brainlz.sweep`), resuming it where it stopped, and print its summary table.  A NAME that
    is not a file is a built-in protocol that ships with brainlz (the repository's ``protocols/<NAME>.py``, e.g.
    ``brainlz run quickstart``).  ``--seed``
    does not apply to sweeps (their seeds are the sweep's ``seed`` axis).  Sweeps only: ``--workers N`` runs N
    cells at once on a Dask LocalCluster (N worker processes, one thread each); ``--scheduler ADDRESS`` runs them
    on an existing Dask cluster; ``--cluster slurm|pbs|sge [--cluster-option KEY=VALUE ...]`` starts ``--workers``
    batch jobs through dask-jobqueue (see :mod:`brainlz.cluster`); ``--rerun-broken`` reruns cells whose
    ``metrics.json`` is missing or corrupt.
``brainlz models``
    List the neuron models on the search path with their intrinsic parameters.
``brainlz tasks``
    List the task families.
``brainlz figures [NAME ...] [--out DIR] [--quick] [--list]``
    Regenerate the reference figure set (:mod:`brainlz.figure_set`), or the named figures, from seeded runs, as
    PNG and SVG in ``--out`` (default ``figures``), one progress line per figure; ``--list`` lists the figures.
``brainlz env genn [--path DIR] [--genn-source DIR]``
    Create (or reuse) the pinned virtual environment of the GeNN backend (brian2 2.5.4, numpy < 2,
    brian2genn 1.7.0; see :mod:`brainlz.backends.genn`), by default at ``$BRAINLZ_GENN_ENV`` or
    ``~/.cache/brainlz/envs/genn``, and print what was done.  Running it again reuses the environment.  With
    ``--genn-source``, also build GeNN 4.x in that source checkout and record it in the environment, where the
    genn backend finds it without ``GENN_PATH``.
``brainlz env cuda [--path DIR]``
    The same for the CUDA backend (a Python >= 3.12 venv with brian2 2.10.1 and brian2cuda 1.0b1; see
    :mod:`brainlz.backends.cuda`), by default at ``$BRAINLZ_CUDA_ENV`` or ``~/.cache/brainlz/envs/cuda``.

Errors that are the user's (a missing file, a bad value, an unknown name) print one line ``brainlz: error: ...``
and exit with status 2; no traceback.  An ``--out`` that cannot take results (read-only, a file) is one of them,
refused before anything runs.  Ctrl+C stops ``brainlz run`` with exit status 130 and no results folder of the
unfinished run, or, once that folder is in place, lets the run finish (exit 0); a process started with SIGINT
ignored keeps ignoring it (:mod:`brainlz.interrupts`).
"""

from __future__ import annotations

import argparse
import sys

from . import interrupts
from .errors import BrainlzError

__all__ = ["main"]


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line ``brainlz: error: ...`` (exit status 2), like brainlz's own."""

    def error(self, message):
        self.exit(2, f"brainlz: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="brainlz", description="Spiking networks, learnable intrinsic "
                                     "parameters and Lempel-Ziv complexity readouts, on Brian2.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a protocol or sweep file and print its results table")
    run.add_argument("protocol", help="path of a file defining PROTOCOL = Protocol(...) or SWEEP = Sweep(...), or "
                                      "the name of a built-in protocol (e.g. quickstart)")
    run.add_argument("--out", default="results", help="results root directory (default: results)")
    run.add_argument("--seed", type=int, default=None, help="override the protocol's master seed (not for sweeps)")
    run.add_argument("--backend", default=None, help="override the backend (runtime, standalone, genn, cuda); "
                     "backend options the new backend does not take are dropped, with a note")
    run.add_argument("--workers", type=int, default=None,
                     help="sweeps only: cells run at once (default 1: one after another in this process); more "
                          "starts a Dask LocalCluster of N worker processes; with --cluster, the number of jobs")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="sweeps only: run the cells on the existing Dask cluster whose scheduler is at ADDRESS "
                          "(e.g. tcp://10.0.0.5:8786)")
    run.add_argument("--cluster", default=None, metavar="{slurm,pbs,sge}",
                     help="sweeps only: start --workers workers as batch jobs through dask-jobqueue "
                          "(pip install 'dask-jobqueue>=0.8', the cluster extra; configured in "
                          "~/.config/dask/jobqueue.yaml)")
    run.add_argument("--cluster-option", action="append", default=[], metavar="KEY=VALUE",
                     help="with --cluster: an option of the dask-jobqueue cluster, e.g. walltime=04:00:00, "
                          "queue=short, memory=8GiB, account=lab (repeatable)")
    run.add_argument("--rerun-broken", action="store_true",
                     help="sweeps only: delete and rerun cells whose metrics.json is missing or corrupt")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--no-figures", action="store_true", help="do not render figures")
    commands.add_parser("models", help="list the neuron models and their intrinsic parameters")
    commands.add_parser("tasks", help="list the task families")
    figures = commands.add_parser("figures", help="regenerate the reference figure set (PNG and SVG)")
    figures.add_argument("names", nargs="*", metavar="NAME", help="figures to draw (default: all; see --list)")
    figures.add_argument("--out", default="figures", help="output directory (default: figures)")
    figures.add_argument("--quick", action="store_true", help="reduced sizes (a smoke test, not the reference set)")
    figures.add_argument("--list", action="store_true", help="list the figures with their seeds and captions")
    env = commands.add_parser("env", help="create the pinned side environment of a backend")
    env.add_argument("backend", choices=["genn", "cuda"], help="the backend whose environment to create")
    env.add_argument("--path", default=None, help="directory of the environment (default: $BRAINLZ_GENN_ENV or "
                                                  "~/.cache/brainlz/envs/genn for genn, $BRAINLZ_CUDA_ENV or "
                                                  "~/.cache/brainlz/envs/cuda for cuda)")
    env.add_argument("--genn-source", default=None, metavar="DIR",
                     help="genn only: build GeNN 4.x in this source checkout (CPU-only, or with CUDA where nvcc "
                          "exists) and record it in the environment, where the genn backend finds it")
    return parser


def _check_out(out: str) -> None:
    """Refuse an ``--out`` that cannot take results before anything runs (not after the whole computation)."""
    from .files import check_folder

    check_folder("--out", out)


def _cluster_options(args) -> dict:
    """``--cluster-option KEY=VALUE`` as a dict (refused without ``--cluster``)."""
    from .errors import ParameterError

    options = {}
    for item in args.cluster_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError("--cluster-option", item, "expected KEY=VALUE, e.g. walltime=04:00:00")
        options[key.strip()] = value
    if options and args.cluster is None:
        raise ParameterError("--cluster-option", args.cluster_option[0], "only with --cluster slurm|pbs|sge")
    return options


def _dropped_note(backend: str, dropped: dict) -> None:
    if dropped:
        options = ", ".join(f"{key}={value!r}" for key, value in dropped.items())
        print(f"brainlz: --backend {backend}: not using backend_options {options} (not options of {backend!r})",
              file=sys.stderr)


def _run(args) -> int:
    from . import checks
    from .errors import ParameterError
    from .protocol import resolve_experiment_file, run_protocol
    from .sweep import Sweep, load_experiment, run_sweep

    if args.seed is not None:
        checks.integer("--seed", args.seed, low=0, reason="expected a whole number >= 0")
    if args.workers is not None:
        checks.integer("--workers", args.workers, low=1, reason="a positive whole number")
    cluster_options = _cluster_options(args)
    _check_out(args.out)
    interrupts.install()  # Ctrl+C from here on: exit 130 and no results folder, or a finished run (exit 0)
    args.protocol = str(resolve_experiment_file(args.protocol))  # the name of a built-in protocol -> its file
    experiment = load_experiment(args.protocol)
    engine = {"--workers": args.workers, "--scheduler": args.scheduler, "--cluster": args.cluster,
              "--rerun-broken": args.rerun_broken or None}
    if isinstance(experiment, Sweep):
        if args.seed is not None:
            raise ParameterError("--seed", args.seed, f"cannot override the seeds of sweep {experiment.name!r}; "
                                                      "they are its 'seed' axis")
        if args.backend is not None:
            base, dropped = experiment.base.on_backend(args.backend)
            experiment = experiment.with_base(backend=base.backend, backend_options=base.backend_options)
            _dropped_note(args.backend, dropped)
        try:
            result = run_sweep(experiment, args.out, sweep_file=args.protocol, progress=not args.quiet,
                               figures=not args.no_figures, workers=args.workers or 1, scheduler=args.scheduler,
                               cluster=args.cluster, cluster_options=cluster_options,
                               rerun_broken=args.rerun_broken)
        except ParameterError as exc:
            if exc.field in ("workers", "scheduler", "cluster"):  # name the option the user typed
                raise ParameterError(f"--{exc.field}", exc.value, exc.reason) from None
            raise
        print(result.table, end="")
        print(f"\nresults written to {result.directory} ({len(result.ran)} cells run now, "
              f"{len(result.skipped)} finished before)")
        return 0
    for option, value in engine.items():
        if value is not None:
            raise ParameterError(option, value, f"{args.protocol} defines a single protocol, not a sweep; "
                                                f"{option} applies to the cells of a sweep")
    protocol = experiment
    if args.seed is not None:
        protocol = protocol.replace(seed=args.seed)
    if args.backend is not None:
        protocol, dropped = protocol.on_backend(args.backend)
        _dropped_note(args.backend, dropped)
    interrupts.single_run()  # once its folder is in place, the run is finished, whatever Ctrl+C comes later
    result = run_protocol(protocol, args.out, protocol_file=args.protocol, progress=not args.quiet,
                          figures=not args.no_figures)
    print(result.table, end="")
    print(f"\nresults written to {result.directory}")
    return 0


def _models() -> int:
    from .models import available_models, load_model

    for name in available_models():
        try:
            model = load_model(name)
        except BrainlzError as exc:
            print(f"{name}: cannot load ({exc})")
            continue
        print(f"{name}: {model.doc.strip().splitlines()[0] if model.doc else ''}")
        for pname, spec in model.params.items():
            flag = "learnable" if spec.learnable else "fixed"
            print(f"  {pname:12s} default {spec.default!s:>12s}  bounds [{spec.bounds[0]!s}, {spec.bounds[1]!s}]"
                  f"  biology [{spec.bio_range[0]!s}, {spec.bio_range[1]!s}]  {flag}")
    return 0


def _tasks() -> int:
    from .data import TASKS

    print("\n".join(TASKS))
    return 0


def _figures(args) -> int:
    from .figure_set import FIGURES, figure_names, render

    if args.list:
        for entry in FIGURES.values():
            print(f"{entry.name} (seed {entry.seed}): {entry.caption}")
        return 0
    names = figure_names(args.names)
    _check_out(args.out)
    print(f"brainlz figures: {len(names)} figure(s) into {args.out}" + (" (quick sizes)" if args.quick else ""),
          flush=True)
    done = render(names, out=args.out, quick=args.quick, progress=lambda line: print(line, flush=True))
    print(f"done: {len(done)} figure(s), {sum(item['seconds'] for item in done):.1f} s")
    return 0


def _env(args) -> int:
    from .errors import ParameterError

    if args.backend == "cuda":
        from .backends.cuda import create_env

        if args.genn_source is not None:
            raise ParameterError("--genn-source", args.genn_source, "only for `brainlz env genn`")
        create_env(args.path)
        return 0
    from .backends.genn import create_env

    create_env(args.path, genn_source=args.genn_source)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``brainlz`` console script."""
    args = _parser().parse_args(argv)
    try:
        try:
            if args.command == "run":
                return _run(args)
            if args.command == "models":
                return _models()
            if args.command == "env":
                return _env(args)
            if args.command == "figures":
                return _figures(args)
            return _tasks()
        finally:
            interrupts.settle()  # the outcome is decided: a later Ctrl+C cannot interrupt the report of it
    except KeyboardInterrupt:
        return _interrupted()
    except BrainlzError as exc:
        if interrupts.requested():  # e.g. a compiled program that the same Ctrl+C stopped
            return _interrupted()
        print(f"brainlz: error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        if interrupts.requested():
            return _interrupted()
        raise
    finally:
        interrupts.uninstall(exiting=argv is None)  # the console script: the process exits with this status


def _interrupted() -> int:
    logger = getattr(sys.modules.get("brian2.utils.logger"), "BrianLogger", None)
    if getattr(logger, "console_handler", None) is not None:  # Brian2 set up its logging (its import finished)
        logger.suppress_name("unused_brian_object")  # the interrupted network's objects never run: no warnings
    print("brainlz: interrupted; no results were written for the unfinished run", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
