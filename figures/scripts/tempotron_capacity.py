"""Render figures/tempotron_capacity.png: tempotron training accuracy against the load P/N.

The setting of Gütig & Sompolinsky (2006), scaled down to run in about a minute on two cores: N afferents each fire
exactly once at a uniformly random time in a 500 ms trial, P = load * N such patterns get random binary labels,
and one tempotron (tau = 15 ms, tau_s = 3.75 ms, threshold 1) is trained with the tempotron rule for at most
``--epochs`` epochs (stopping at the first error-free epoch).  All loads train side by side in one compiled
standalone program (:func:`brainlz.experiments.tempotron_capacity.tempotron_capacity`).

Usage: ``python figures/scripts/tempotron_capacity.py [--n-afferents 100] [--epochs 60] [--seed 0]``.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from brainlz.experiments.tempotron_capacity import tempotron_capacity  # noqa: E402
from brainlz.figures import class_colour, save_figure, style  # noqa: E402
from brainlz.learning.tempotron import TempotronParams  # noqa: E402

LOADS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


def make_figure(result: dict) -> Figure:
    """Two panels: final training accuracy against P/N, and the fraction of errors per epoch for each load."""
    loads = np.asarray(result["loads"])
    accuracy = np.asarray(result["final_accuracy"])
    converged = np.asarray(result["converged"])
    params = result["params"]
    fig = Figure(figsize=(8.0, 3.7), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.25]})

    left.axhline(1.0, color="#999999", lw=0.8, ls="--")
    left.axhline(0.5, color="#999999", lw=0.8, ls=":")
    left.text(0.98, 0.5, "chance (random labels)", transform=left.get_yaxis_transform(), ha="right", va="bottom",
              fontsize=7, color="#666666")
    left.plot(loads, accuracy, color="#333333", lw=1.0, zorder=1)
    for k, (load, acc, ok) in enumerate(zip(loads, accuracy, converged)):
        colour = class_colour(k)
        left.scatter([load], [acc], s=36, zorder=2, color=colour if ok else "white", edgecolors=colour,
                     linewidths=1.5)
    left.set_xlabel("load P / N (patterns per afferent)")
    left.set_ylabel("final training accuracy (fraction)")
    left.set_ylim(0.45, 1.04)
    left.set_title("a  accuracy of the final weights")
    left.scatter([], [], s=36, color="#333333", label="error-free epoch reached")
    left.scatter([], [], s=36, color="white", edgecolors="#333333", linewidths=1.5,
                 label=f"not within {result['epoch_budget']} epochs")
    left.legend(loc="center left")

    for k, (load, errors, n_patterns) in enumerate(zip(loads, result["errors"], result["n_patterns"])):
        epochs = np.arange(1, len(errors) + 1)
        right.plot(epochs, np.asarray(errors) / n_patterns, color=class_colour(k), marker="o", ms=2.5,
                   label=f"P/N = {load:g} (P = {n_patterns})")
    right.set_xlabel("epoch")
    right.set_ylabel("errors per pattern in the epoch (fraction)")
    right.set_ylim(0, 0.85)
    right.set_title("b  learning curves (updates made during each epoch)")
    right.legend(ncol=2, fontsize=7, loc="upper right")

    fig.suptitle(f"Tempotron capacity, scaled: N = {result['n_afferents']} afferents, one spike each in a "
                 f"{params['duration'] * 1e3:g} ms trial, random labels")
    fig.supxlabel(
        f"tau = {params['tau'] * 1e3:g} ms, tau_s = {params['tau_s'] * 1e3:g} ms, threshold = "
        f"{params['threshold']:g}, learning rate = {params['learning_rate']:g}, momentum = "
        f"{params['momentum']:g}, dt = {params['dt'] * 1e3:g} ms, initial weights N(0, "
        f"{params['init_std']:g}), seed {result['seed']}\nBrian2 cpp_standalone, one run per epoch, "
        f"{result['builds']} build(s), {result['wall_time']:.0f} s",
        fontsize=7, color="#444444")
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-afferents", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "figures" / "tempotron_capacity.png")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where to compile the standalone program (default: a temporary directory)")
    args = parser.parse_args(argv)
    params = TempotronParams(learning_rate=args.learning_rate)
    with tempfile.TemporaryDirectory() as scratch:
        result = tempotron_capacity(args.n_afferents, loads=LOADS, epochs=args.epochs, seed=args.seed,
                                    params=params, directory=args.build_dir or scratch)
    for load, n, acc, epochs, ok in zip(result["loads"], result["n_patterns"], result["final_accuracy"],
                                        result["epochs"], result["converged"]):
        print(f"P/N = {load:4g}  P = {n:4d}  final accuracy = {acc:.3f}  epochs = {epochs:3d}  converged = {ok}")
    print(f"wall time {result['wall_time']:.1f} s, builds {result['builds']}")
    with style():
        path = save_figure(make_figure(result), args.out)
    print(path)


if __name__ == "__main__":
    main()
