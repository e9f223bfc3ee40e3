"""The powered grid's pre-registered analysis: every endpoint from the finished cells, as JSON and markdown.

Reads the sweep's ``summary.json`` (``brainlz run protocols/powered_grid.py``), applies
:func:`brainlz.experiments.powered_grid.verdict` (primary endpoint per rule x model with Holm's correction over
the six arms; per task; the trained decision; best accuracy; latency; energy) and writes ``verdict.json`` beside
the summary; prints the README's table of the paper's claims.  Run it on a grid still running to see the
interim numbers (they are labelled with the cells finished).

Usage::

    python benchmarks/powered_verdict.py [--summary results/powered_grid/summary.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainlz.experiments.powered_grid import verdict  # noqa: E402
from brainlz.files import write_json  # noqa: E402

NAMES = {"surrogate": "surrogate BP", "stdp": "STDP", "tempotron": "tempotron", "lif": "LIF",
         "meta_neuron": "meta-neuron"}


def markdown(analysis: dict, summary: dict) -> str:
    lines = [f"Powered grid, {summary['n_finished']} of {summary['n_cells']} cells finished.", "",
             "| arm | pooled learnable − fixed (pp, 95 % CI) | p | Holm p | per task (pp) | reading |",
             "|---|---|---|---|---|---|"]
    for arm, e in analysis["primary"].items():
        rule, model = arm.split("/")
        tasks = ", ".join(f"{task} {t['mean_pp']:+.1f}" for task, t in e["per_task"].items())
        lines.append(f"| {NAMES[rule]} {NAMES[model]} | {e['mean_pp']:+.1f} ({e['low_pp']:+.1f} to "
                     f"{e['high_pp']:+.1f}) | {e['p']:.2g} | {e['p_holm']:.2g} | {tasks} | {e['claim']} |")
    if analysis["trained_decision"]:
        lines += ["", "| trained decision | pooled learnable − fixed (pp, 95 % CI) | p (uncorrected) |", "|---|---|---|"]
        for arm, e in analysis["trained_decision"].items():
            rule, model = arm.split("/")
            lines.append(f"| {NAMES[rule]} {NAMES[model]} | {e['mean_pp']:+.1f} ({e['low_pp']:+.1f} to "
                         f"{e['high_pp']:+.1f}) | {e['p']:.2g} |")
    best = analysis["best"]
    if best:
        row = best["row"]
        lines += ["", f"Best row mean accuracy {100 * best['mean']:.1f} % ({NAMES[row['rule']]} "
                      f"{NAMES[row['model']]} {row['intrinsic']} on {row['task']}, {best['n_seeds']} seeds; "
                      f"paper 99.5 %)."]
    for key, e in analysis["latency"].items():
        lines.append(f"Latency {key}: median {e['median_ms']:.2f} ms per sample, max {e['max_ms']:.2f} ms, "
                     f"{100 * e['sub_millisecond_fraction']:.0f} % of cells under 1 ms.")
    for key, e in analysis["energy"].items():
        lines.append(f"Energy {key}: SNN {e['snn_nj_median']:.0f} nJ vs ANN {e['ann_nj']:.1f} nJ "
                     f"(median ratio {e['ratio_median']:.2f}).")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", default=str(ROOT / "results" / "powered_grid" / "summary.json"))
    args = parser.parse_args(argv)
    path = Path(args.summary)
    if not path.is_file():
        raise SystemExit(f"--summary: no file {path} (run the grid: brainlz run protocols/powered_grid.py)")
    summary = json.loads(path.read_text())
    analysis = verdict(summary["cells"])
    analysis["cells_finished"], analysis["cells_total"] = summary["n_finished"], summary["n_cells"]
    print(markdown(analysis, summary))
    print(f"written to {write_json(path.parent / 'verdict.json', analysis)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
