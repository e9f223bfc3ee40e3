"""Follow one protocol through ``run_protocol`` and measure the path it takes through brainlz's modules.

Every call of a brainlz function while a small protocol runs is recorded (``sys.setprofile``; Python functions
only, calls from Brian2, numpy or scikit-learn into brainlz included; property getters and dunder methods such
as ``dataset.n_samples`` or a dataclass's ``__init__`` are data access, not steps, and are left out) with the
module of the caller and of the callee.  Two views of that record are written as JSON to ``--out``:

stages : dict
    The calls that ``brainlz.protocol`` makes into other brainlz modules, in order, collapsed into runs of the
    same module (``sequence``): the pipeline as the runner drives it.  ``modules`` counts the distinct modules,
    ``steps`` the runs, ``revisits`` how many runs go to a module the runner had already left for another.
transitions : dict
    All cross-module calls anywhere below ``run_protocol``: ``count``, ``upward`` (a call from a lower module
    to a higher one in the documented layering of ``docs/architecture.md``, i.e. into ``protocol``, ``sweep``
    or ``cli``, or from ``backends`` into ``learning`` or ``experiments``), and ``back_to_protocol`` (calls
    from another module into ``brainlz.protocol``).

``--root`` measures another checkout (e.g. a ``git worktree`` of an older commit); the protocol is the same
small one for both: the ``rate`` task, 40 samples, 8 channels, 200 bins, 8 hidden and 4 output LIF neurons, STDP
for one epoch with one outer step over the intrinsic parameters, runtime backend (numpy).

Usage::

    python benchmarks/pipeline_path.py [--root .] [--out benchmarks/results/pipeline_path.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ORDER = {"errors": 0, "checks": 1, "files": 1, "builder": 1, "models": 2, "lzc": 2, "metrics": 2, "invariants": 2,
         "data": 3, "network": 3, "figures": 3, "readout": 4, "backends": 5, "learning": 6, "experiments": 7,
         "protocol": 7, "sweep": 8, "cli": 9}


def layer(module: str) -> int:
    """Rank of a brainlz module in the documented layering (its first component below ``brainlz``)."""
    parts = module.split(".")
    return ORDER.get(parts[1] if len(parts) > 1 else "", 0)


def trace_protocol(root: Path) -> list:
    """``[(caller module, callee module)]`` of every brainlz call while the small protocol runs."""
    sys.path.insert(0, str(root))
    import brainlz  # noqa: F401  (from ``root``)
    from brainlz.protocol import Protocol, run_protocol

    source = str(Path(brainlz.__file__).resolve().parent)
    calls = []

    def module_of(frame):
        name = frame.f_globals.get("__name__", "")
        return name if name.startswith("brainlz") and frame.f_code.co_filename.startswith(source) else None

    accessors = {}  # module -> code objects of its classes' property getters and dunder methods

    def is_accessor(module, code):
        if module not in accessors:
            found = set()
            for value in vars(sys.modules[module]).values():
                if isinstance(value, type) and value.__module__ == module:
                    for attribute in vars(value).values():
                        function = attribute.fget if isinstance(attribute, property) else attribute
                        if getattr(function, "__code__", None) is not None and (
                                isinstance(attribute, property) or function.__name__.startswith("__")):
                            found.add(function.__code__)
            accessors[module] = found
        return code in accessors[module]

    def profiler(frame, event, arg):
        if event != "call":
            return
        callee = module_of(frame)
        if callee is None or is_accessor(callee, frame.f_code):
            return
        caller = module_of(frame.f_back) if frame.f_back is not None else None
        calls.append((caller, callee))

    fields = dict(name="path", task="rate", difficulty=0.3, n_samples=40, n_channels=8, n_bins=200, hidden=8,
                  output=4, backend="runtime", backend_options={"target": "numpy"}, n_folds=2, test_size=0.25,
                  learning={"rule": "stdp", "epochs": 1, "intrinsic": {"outer_steps": 1}})
    protocol = Protocol(**fields)
    with tempfile.TemporaryDirectory() as out:
        sys.setprofile(profiler)
        try:
            run_protocol(protocol, out, progress=False, figures=False)
        finally:
            sys.setprofile(None)
    assert str(Path(brainlz.__file__).resolve()).startswith(str(root.resolve())), brainlz.__file__
    return calls


def measure(calls: list) -> dict:
    runner = "brainlz.protocol"
    sequence = []
    for caller, callee in calls:
        if caller == runner and callee != runner and (not sequence or sequence[-1] != callee):
            sequence.append(callee)
    revisits = sum(1 for k, module in enumerate(sequence) if module in sequence[:k])
    cross = [(a, b) for a, b in calls if a is not None and a != b]
    upward = [(a, b) for a, b in cross if layer(b) > layer(a)]
    return {"stages": {"sequence": sequence, "modules": len(set(sequence)), "steps": len(sequence),
                       "revisits": revisits},
            "transitions": {"count": len(cross), "upward": len(upward),
                            "upward_pairs": sorted({f"{a} -> {b}" for a, b in upward}),
                            "back_to_protocol": sum(1 for a, b in cross if b == runner)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--out", default="benchmarks/results/pipeline_path.json")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    result = {"root": str(root), **measure(trace_protocol(root))}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    stages = result["stages"]
    print(f"runner's path: {stages['steps']} steps through {stages['modules']} modules, {stages['revisits']} "
          f"back to a module it had left: {' > '.join(m.removeprefix('brainlz.') for m in stages['sequence'])}")
    transitions = result["transitions"]
    print(f"cross-module calls: {transitions['count']}, upward {transitions['upward']} "
          f"({', '.join(transitions['upward_pairs']) or 'none'}), into protocol {transitions['back_to_protocol']}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
