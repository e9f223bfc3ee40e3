"""Render ``figures/stdp_song2000.png``: the bimodal weight distribution of Song, Miller & Abbott (2000).

One ``lif`` neuron, Poisson inputs at 15 Hz through additive STDP synapses (``brainlz.learning.stdp``), on the
standalone backend (compiled once, every chunk of 20 s reruns the program):

(a) the scaled setting of the tests (``SONG_SCALED``: 200 inputs, w_max = 50 pA, A+ = 0.0075, A-/A+ = 1.05,
    400 s), initial weights outlined;
(b) its control with potentiation stronger than depression (A-/A+ = 0.9): every weight goes to w_max;
(c) Song's size and rule (1000 inputs, w_max = 10 pA, A+ = 0.005, A-/A+ = 1.05, 1000 s; about 30 s of wall
    time; skipped with ``--quick``);
(d) the time course of the scaled run: shares of weights within 10 % of the bounds.

Usage::

    .venv/bin/python figures/scripts/stdp_song2000.py [--quick] [--out figures/stdp_song2000.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from brainlz.figures import plot_weight_histogram
from brainlz.experiments.song2000 import SONG_SCALED, song_abbott_experiment

ROOT = Path(__file__).resolve().parents[2]


def summary(name, result):
    hist = np.histogram(result.weights, bins=10, range=(0, 1))[0]
    print(f"{name}: {result.fraction_near_zero:.1%} near 0, {result.fraction_near_max:.1%} near w_max, "
          f"output {result.output_rate_final:.1f} Hz (last chunk), {result.duration:g} s simulated, "
          f"{result.wall_time:.1f} s wall, {result.n_builds} build(s); histogram {hist.tolist()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "figures" / "stdp_song2000.png"))
    parser.add_argument("--quick", action="store_true", help="skip the full-size 1000-input run")
    parser.add_argument("--directory", default=None, help="where to keep compiled standalone projects")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    scaled = song_abbott_experiment(**SONG_SCALED, seed=args.seed, directory=args.directory)
    summary("scaled (A-/A+ = 1.05)", scaled)
    control = song_abbott_experiment(**SONG_SCALED, ratio=0.9, seed=args.seed, directory=args.directory)
    summary("control (A-/A+ = 0.9)", control)
    compare = {"control: A−/A+ = 0.9 (potentiation wins)": control.weights}
    if not args.quick:
        full = song_abbott_experiment(seed=args.seed, directory=args.directory)
        summary("full size (1000 inputs, Song's rule)", full)
        compare["1000 inputs, A+ = 0.005, A−/A+ = 1.05, 1000 s"] = full.weights

    rule = scaled.rule
    path = plot_weight_histogram(
        scaled.weights, args.out, w_max=1.0, w_min=0.0, initial=scaled.initial, compare=compare,
        snapshots=scaled.snapshots, snapshot_times=scaled.snapshot_times,
        label=f"{scaled.weights.size} inputs, A+ = {rule.A_plus:g}, A−/A+ = {rule.ratio:.2f}, "
              f"{scaled.duration:g} s",
        title=(f"Song, Miller & Abbott (2000) with brainlz: one LIF neuron, Poisson inputs at {scaled.rate:g} Hz,\n"
               f"additive STDP (τ+ = τ− = {float(rule.tau_plus) * 1e3:g} ms, dt = 1 ms); weights / w_max"))
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
