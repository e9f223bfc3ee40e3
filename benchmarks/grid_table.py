"""The table of the paper grid (docs/paper_grid.md), built from the grid's record and the latency benchmark.

Reads ``results/paper_grid/summary.json`` (rewritten by ``brainlz run protocols/paper_grid.py`` after every cell;
kept in git with every cell's ``metrics.json``) and ``benchmarks/results/bench_grid_latency.json``
(``bench_grid_latency.py``), and prints the number of finished cells and one markdown row per (task, rule, model)
with at least one finished cell:
LZC-readout test accuracy of the fixed-and-tuned and the learnable cells (mean over seeds with the 95 %
t-interval), the paired difference learnable - fixed in percentage points with its interval, the latency of the
learnable network (ms per sample; only if the benchmark timed the very network of a cell in the record: the
SHA-256 of its ``network.npz`` must equal the one the benchmark recorded, so a rerun cell never shows the latency
of the network it replaced) and the synaptic energy per inference of the learnable network against the same-size
ANN (nJ).

Below it, once a (rule, model) has paired differences on at least two tasks, a second table pools them over the
tasks: the average of the per-task mean differences, each task counting once, with a Welch-Satterthwaite interval
(:func:`brainlz.metrics.stratified_mean_ci`; tasks with fewer than two pairs are left out), over all tasks and over
the tasks other than the regular one (on which the outer loop was revised), and a count of the per-task intervals
that exclude 0, against the number expected by chance.

Usage::

    python benchmarks/grid_table.py [--summary results/paper_grid/summary.json]
        [--latency benchmarks/results/bench_grid_latency.json] [--readme docs/paper_grid.md]

With ``--readme`` the table between the lines ``<!-- paper-grid-table -->`` and ``<!-- /paper-grid-table -->``
of that file is replaced (written atomically) instead of printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from brainlz.experiments.paper_grid import MODELS, SHAPING_TASK, TASKS, paired_tasks, pooled_estimate  # noqa: E402
from brainlz.files import write_text  # noqa: E402
RULES = {"surrogate": "surrogate", "stdp": "STDP", "tempotron": "tempotron"}
BEGIN, END = "<!-- paper-grid-table -->", "<!-- /paper-grid-table -->"
POOLED_HEADER = ("| rule | model | learnable − fixed, pooled over tasks (pp, 95 % CI) | the same without the "
                 "regular task | per task (pp) |\n|---|---|---|---|---|\n")
HEADER = ("| task | rule | model | fixed & tuned | learnable | learnable − fixed (pp, 95 % CI) | latency (ms) | "
          "energy SNN / ANN (nJ) |\n|---|---|---|---|---|---|---|---|\n")


def _accuracy(row) -> str:
    if row is None or not row["n_seeds"]:
        return "–"
    n = row["n_seeds"]
    mean = 100 * row["accuracy_mean"]
    if row["accuracy_ci95"] is None:
        return f"{mean:.1f} % ({n} seed{'s' if n > 1 else ''})"
    low, high = (100 * v for v in row["accuracy_ci95"])
    return f"{mean:.1f} % ({low:.1f}-{high:.1f}, {n} seeds)"


def _difference(pair) -> str:
    if pair is None or not pair["n_pairs"]:
        return "–"
    n = pair["n_pairs"]
    if pair["difference_ci95_pp"] is None:
        return f"{pair['difference_pp']:+.1f} ({n} pair{'s' if n > 1 else ''})"
    low, high = pair["difference_ci95_pp"]
    return f"{pair['difference_pp']:+.1f} ({low:+.1f} to {high:+.1f}, {n} pairs)"


def _energy(row) -> str:
    if row is None or not row["n_seeds"]:
        return "–"
    snn = row["extra"]["energy.snn_joules"]["mean"]
    ann = row["extra"]["energy.ann_joules"]["mean"]
    return f"{1e9 * snn:.0f} / {1e9 * ann:.1f}"


def network_hashes(cells_dir: Path) -> dict:
    """{cell id: SHA-256 of its network.npz} for every cell directory under ``cells_dir`` that has one."""
    import hashlib

    out = {}
    for directory in sorted(Path(cells_dir).iterdir()) if Path(cells_dir).is_dir() else ():
        network = directory / "network.npz"
        if not directory.name.startswith(".") and network.is_file():
            out[directory.name] = hashlib.sha256(network.read_bytes()).hexdigest()
    return out


def table(summary: dict, latency: dict | None, networks: dict) -> str:
    """The markdown table (header included) of every (task, rule, model) with a finished cell.

    ``networks``: {cell id: SHA-256 of its network.npz} (:func:`network_hashes`); a latency row counts only if
    its cell is finished and its ``network_sha256`` equals the cell's.
    """
    rows = {tuple(r["labels"][a] for a in ("task", "rule", "model", "intrinsic")): r for r in summary["rows"]}
    pairs = {tuple(p["labels"][a] for a in ("task", "rule", "model")): p for p in summary["paired_differences"]}
    finished = {c["id"] for c in summary["cells"] if c.get("finished")}
    timed = {}
    for entry in (latency or {}).get("rows", []):
        sha = entry.get("network_sha256")
        if entry["intrinsic"] == "learnable" and entry["cell"] in finished and sha is not None \
                and sha == networks.get(entry["cell"]):
            timed[(entry["task"], entry["rule"], entry["model"])] = entry["seconds_per_sample"]
    lines = []
    for task in TASKS:
        for rule in RULES:
            for model in MODELS:
                fixed = rows.get((task, rule, model, "fixed_tuned"))
                learnable = rows.get((task, rule, model, "learnable"))
                if not any(r is not None and r["n_seeds"] for r in (fixed, learnable)):
                    continue
                seconds = timed.get((task, rule, model))
                lines.append(f"| {task} | {RULES[rule]} | {MODELS[model]} | {_accuracy(fixed)} | "
                             f"{_accuracy(learnable)} | {_difference(pairs.get((task, rule, model)))} | "
                             f"{'–' if seconds is None else f'{1e3 * seconds:.2f}'} | {_energy(learnable)} |")
    return HEADER + "".join(line + "\n" for line in lines)


def _pooled_cell(estimate) -> str:
    if estimate is None:
        return "–"
    mean, low, high, tasks = estimate
    return f"{mean:+.1f} ({low:+.1f} to {high:+.1f}, {len(tasks)} tasks)"


def pooled(summary: dict) -> str:
    """The paired differences of each (rule, model) pooled over its tasks, and how many per-task intervals
    exclude 0; empty while no (rule, model) has at least two pairs on each of two tasks.

    A second column leaves out the regular task (:data:`SHAPING_TASK`), on which the outer loop's settings were
    revised: pooled over the other tasks, run with the settings frozen, it is the confirmatory estimate.
    """
    confidence = summary["confidence"]
    lines = []
    for rule in RULES:
        for model in MODELS:
            pairs = paired_tasks(summary, rule, model)
            if len(pairs) < 2:
                continue
            per_task = ", ".join(f"{t} {pair['difference_pp']:+.1f}" for t, pair in pairs.items())
            lines.append(f"| {RULES[rule]} | {MODELS[model]} | {_pooled_cell(pooled_estimate(summary, rule, model))} "
                         f"| {_pooled_cell(pooled_estimate(summary, rule, model, exclude=(SHAPING_TASK,)))} "
                         f"| {per_task} |")
    if not lines:
        return ""
    intervals = [p["difference_ci95_pp"] for p in summary["paired_differences"] if p["difference_ci95_pp"]]
    above = sum(low > 0 for low, _ in intervals)
    below = sum(high < 0 for _, high in intervals)
    level = round(100 * confidence)
    return (POOLED_HEADER + "".join(line + "\n" for line in lines)
            + f"\nOf the {len(intervals)} per-task intervals of learnable − fixed above, {above} lie above 0 and "
            f"{below} below; with {level} % intervals and no true difference anywhere, about "
            f"{(1 - confidence) * len(intervals):.1f} would exclude 0 by chance.\n")


def section(summary: dict, latency: dict | None, networks: dict) -> str:
    """What goes between the README's markers: the count of finished cells, :func:`table` and :func:`pooled`."""
    pooled_text = pooled(summary)
    return (f"Cells finished: {summary['n_finished']} of the {summary['n_cells']} cells of the grid.\n\n"
            + table(summary, latency, networks) + (f"\n{pooled_text}" if pooled_text else ""))


def replace_between_markers(text: str, new_table: str, where: str) -> str:
    """``text`` with what lies between the BEGIN and END marker lines replaced by ``new_table``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"--readme: {where} must hold one line {BEGIN} followed by one line {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + new_table + END + tail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", default=str(ROOT / "results" / "paper_grid" / "summary.json"))
    parser.add_argument("--latency", default=str(ROOT / "benchmarks" / "results" / "bench_grid_latency.json"))
    parser.add_argument("--readme", default=None, help="rewrite the table in this file instead of printing it")
    args = parser.parse_args(argv)
    summary_path = Path(args.summary)
    if not summary_path.is_file():
        raise SystemExit(f"--summary: no file {summary_path} (run the grid: brainlz run protocols/paper_grid.py)")
    summary = json.loads(summary_path.read_text())
    latency_path = Path(args.latency)
    latency = json.loads(latency_path.read_text()) if latency_path.is_file() else None
    text = section(summary, latency, network_hashes(summary_path.parent / "cells"))
    if args.readme is None:
        sys.stdout.write(text)
        return 0
    readme = Path(args.readme)
    new = replace_between_markers(readme.read_text(), text, str(readme))
    write_text(readme, new)
    print(f"{readme}: table of {summary['n_finished']} finished cells written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
