"""Render figures/intrinsic_descent.png: the outer loop's descent check on the smoothed twin objective.

A small LIF network (6 inputs, 4 hidden, 3 output neurons, rate task, 8 samples of 60 ms, t_ref = 0 so the loss
is smooth) with the threshold step replaced by the smooth surrogate step: the twin's count loss as a function of
the shared per-layer tau_m, V_th, V_reset and R (8 numbers in [0, 1], each in units of its bound width: linear
coordinates, ``scale="linear"``; the outer loop's default maps tau_m and R logarithmically).  L, the
Lipschitz constant of the gradient, is estimated at the start from finite differences of the BPTT gradient
(brainlz.learning.optimize.estimate_lipschitz).  Projected gradient descent with steps 0.5/L and 0.9/L decreases
the objective at every step (the guarantee for an L-smooth function); larger steps are shown for contrast.

Usage: ``python figures/scripts/intrinsic_descent.py [--steps 25]``; also writes
``benchmarks/results/intrinsic_descent.json``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from brian2 import ms  # noqa: E402

from brainlz.data import make_task  # noqa: E402
from brainlz.figures import save_figure, style  # noqa: E402
from brainlz.learning.intrinsic import IntrinsicSpace, TwinObjective  # noqa: E402
from brainlz.learning.optimize import estimate_lipschitz, optimize_intrinsic  # noqa: E402
from brainlz.network import NetworkSpec  # noqa: E402

FRACTIONS = (0.5, 0.9, 16.0, 128.0, 1024.0)


def run(steps: int, seed: int = 0) -> dict:
    spec = NetworkSpec.create(6, hidden=4, output=3, model="lif", seed=2)
    for layer in spec.layer_names:
        spec = spec.with_params(layer, t_ref=0 * ms)
    data = make_task("rate", n_samples=8, n_channels=6, n_bins=60, difficulty=0.3, seed=seed)
    space = IntrinsicSpace(spec, parameters=("tau_m", "V_th", "V_reset", "R"), scale="linear")
    objective = TwinObjective(spec, data, space=space, mode="smooth", count_scale=1.0, slope=0.5)
    u0 = objective.x0
    L = estimate_lipschitz(None, u0, gradient=objective.value_and_gradient, radius=1e-3)
    runs = {}
    for fraction in FRACTIONS:
        result = optimize_intrinsic(objective, u0, method="gradient", step_size=fraction / L, n_steps=steps,
                                    gradient=objective.value_and_gradient)
        values = result.objective_trace
        runs[fraction] = {"objective": [float(v) for v in values], "monotone": bool(np.all(np.diff(values) < 0))}
    return {"lipschitz": float(L), "names": list(space.names), "x0": [float(v) for v in u0], "runs": runs}


def make_figure(result: dict) -> Figure:
    with style():  # brainlz's figure style applies to what is drawn inside the block
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot(1, 1, 1)
        for fraction, run_ in result["runs"].items():
            label = f"step {fraction:g}/L" + (" (monotone)" if run_["monotone"] else " (not monotone)")
            ax.plot(np.arange(len(run_["objective"])), run_["objective"], marker="o", markersize=3, label=label)
        ax.set_xlabel("outer step")
        ax.set_ylabel("smoothed twin count loss (nats)")
        ax.set_title(f"Descent check: L = {result['lipschitz']:.3g} (normalised units), "
                     f"{len(result['names'])} shared parameters", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args(argv)
    result = run(args.steps)
    out = save_figure(make_figure(result), ROOT / "figures" / "intrinsic_descent.png")
    data = ROOT / "benchmarks" / "results" / "intrinsic_descent.json"
    data.write_text(json.dumps({**result, "runs": {str(k): v for k, v in result["runs"].items()}}, indent=1) + "\n")
    print(out, {k: v["monotone"] for k, v in result["runs"].items()}, f"L = {result['lipschitz']:.3g}")


if __name__ == "__main__":
    main()
