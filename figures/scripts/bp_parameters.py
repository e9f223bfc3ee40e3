"""Render figures/bp_<model>_parameters.png: intrinsic parameters before and after surrogate-gradient learning.

Reads one finished cell of the ``protocols/bp_lif.py`` / ``protocols/bp_meta.py`` sweeps (its
``network_initial.npz`` and ``network.npz``) and draws the per-neuron distributions of every learned intrinsic
parameter against the biological reference range (:func:`brainlz.figures.plot_parameter_distributions`).

Usage: ``python figures/scripts/bp_parameters.py [--model lif|meta] [--results results]
[--cell task=rate,intrinsic=learnable,seed=0]`` after ``brainlz run protocols/bp_<model>.py --out results``.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from brainlz.figures import plot_parameter_distributions  # noqa: E402
from brainlz.network import NetworkSpec  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lif", "meta"), default="lif")
    parser.add_argument("--results", default="results")
    parser.add_argument("--cell", default="task=rate,intrinsic=learnable,seed=0")
    args = parser.parse_args(argv)
    cell = Path(args.results) / f"bp_{args.model}" / "cells" / args.cell
    if not (cell / "network.npz").is_file():
        parser.error(f"{cell} holds no finished run; run: brainlz run protocols/bp_{args.model}.py --out {args.results}")
    out = ROOT / "figures" / f"bp_{args.model}_parameters.png"
    plot_parameter_distributions(NetworkSpec.load(cell / "network_initial.npz"), NetworkSpec.load(cell / "network.npz"),
                                 out, title=f"bp_{args.model}, {args.cell}: intrinsic parameters before and after "
                                            "surrogate-gradient learning")
    print(out)


if __name__ == "__main__":
    main()
