"""Benchmark: time per training epoch of brainlz's surrogate-gradient trainer against snnTorch, on CPU.

Network: 64 inputs -> 64 hidden -> 64 output spiking neurons, fully connected feed-forward, no biases.  Data:
``--n-samples`` samples of the ``rate`` task (64 Poisson channels, ``--n-bins`` bins of 1 ms = time steps),
2 classes.  One epoch = all samples once in mini-batches of ``--batch-size``, one Adam step per batch, loss =
cross-entropy of the class logits ``0.1 * mean spike count`` of each class's output population (output neuron
``j`` votes for class ``j % 2``), surrogate = fast sigmoid, BPTT through all time steps.

brainlz (``train_surrogate``, float64 numpy twin of the Brian2 model, timed by ``history.epochs[0]["seconds"]``:
forward, loss, backward, Adam step, parameter projection):

* ``brainlz_lif_weights``: LIF, weights learned;
* ``brainlz_lif_weights_intrinsic``: LIF, weights and every learnable intrinsic parameter (tau_m, V_th, V_reset,
  R; per neuron);
* ``brainlz_meta_weights_intrinsic``: meta-neuron (LIF + conductance-dependent tau + adaptive threshold),
  weights and intrinsic parameters.  snnTorch has no equivalent neuron: reported without a ratio.

The activity regulariser of ``train_surrogate`` is switched off (``activity_weight=0``) and ``count_scale=0.1``,
so that the loss is the same as on the snnTorch side; no validation split; the reset is detached (the
``train_surrogate`` default, as in snnTorch).

snnTorch: ``nn.Linear(64, 64, bias=False)`` -> ``snn.Synaptic`` -> ``nn.Linear(64, 64, bias=False)`` ->
``snn.Synaptic``, ``reset_mechanism="zero"`` (brainlz resets v to V_reset = E_L, i.e. to 0 in normalised units),
``surrogate.fast_sigmoid``, ``torch.optim.Adam``, float32 (torch's default).  The mapping from the brainlz LIF
(dt = 1 ms, exponential Euler, membrane in units of V_th - E_L, ``u = (v - E_L) / (V_th - E_L)``, threshold 1):

* ``beta = exp(-dt / tau_m)``, ``alpha = exp(-dt / tau_syn)`` (per neuron);
* brainlz: ``u[t+1] = beta u[t] + (1 - beta) R I[t] / (V_th - E_L)``; with the synaptic state in volts of drive
  per step, ``syn = (1 - beta) R I / (V_th - E_L)``, snnTorch's ``mem[t+1] = beta mem[t] + syn[t+1]`` is the same
  update up to a one-step shift of the synaptic input;
* hence the weight (amperes, ``[n_pre, n_post]``) maps to ``W_norm[i, j] = W[i, j] * (1 - beta_j) R_j /
  (V_th_j - E_L_j)``, and ``nn.Linear.weight = W_norm.T``;
* surrogate: brainlz uses ``sigma'(h / h0) / h0`` with ``h0 = 1 mV`` and slope 1, i.e. ``1 / (1 + |h| / 1 mV)^2``
  up to a constant factor; in normalised units this is snnTorch's ``fast_sigmoid(slope=(V_th - E_L) / 1 mV)``
  (15 for the defaults);
* Adam learning rate: brainlz's ``lr = 0.01`` is in units of each matrix's initial standard deviation, so the
  torch learning rate per layer is ``0.01 * std(W_norm)``.

Not reproduced in snnTorch (documented, not needed for a timing comparison): the 2 ms refractory period (snnTorch's
zero reset instead zeroes the membrane for one step, because its reset acts on the next step), the one-step shift
above, and brainlz's float64 (snnTorch runs in float32 as usually used; ``--snn-float64`` adds a float64 run).  The
two variants of the snnTorch loop: ``snntorch`` is the idiomatic per-step loop of the snnTorch tutorials (both
``Linear`` layers applied inside the time loop); ``snntorch_layerwise`` applies each ``Linear`` to all time steps
at once and runs one layer over all steps before the next (what the brainlz twin does).  Both are run with torch's
default number of threads and with ``torch.set_num_threads(1)``; likewise every brainlz configuration runs with
numpy's default BLAS threads and, as ``<name>_blas1``, with the BLAS limited to one thread (threadpoolctl): the
weight gradient ``pre.T @ delta`` is a 64 x (steps * batch) x 64 product whose threaded OpenBLAS GEMM can be far
slower than the single-threaded one on a loaded machine.  Input conversion (bool raster -> float tensor
``[T, B, 64]``) is done before timing on the snnTorch side; brainlz converts per batch inside its epoch (cheap).

Runs are interleaved: each repeat runs every configuration once, so drifts of the shared machine hit all of them
alike; medians over ``--repeats``.  Before timing, every configuration is run once untimed on one batch
(compilation of the brainlz twin, torch warm-up), reported as ``first_call_seconds``.  If torch or snntorch is not
installed only the brainlz side runs and the JSON says so.

Usage::

    python benchmarks/bench_surrogate.py [--quick] [--repeats 3] [--n-samples 128] [--n-bins 1024]
        [--batch-size 32] [--snn-float64] [--out benchmarks/results/surrogate.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from brainlz.data import make_task  # noqa: E402
from brainlz.learning.surrogate import SurrogateNetwork, train_surrogate  # noqa: E402
from brainlz.network import NetworkSpec  # noqa: E402
from brainlz.files import write_json  # noqa: E402

try:
    import torch
    import snntorch as snn
    from snntorch import surrogate as snn_surrogate

    TORCH_ERROR = None
except ImportError as exc:  # the brainlz side still runs
    torch = snn = snn_surrogate = None
    TORCH_ERROR = f"{type(exc).__name__}: {exc}"

N_CLASSES = 2
COUNT_SCALE = 0.1
LR = 0.01
SURROGATE_SCALE = 1e-3   # brainlz default h0 = 1 mV

BRAINLZ = {
    "brainlz_lif_weights": {"model": "lif", "learn": ("weights",)},
    "brainlz_lif_weights_intrinsic": {"model": "lif", "learn": ("weights", "intrinsic")},
    "brainlz_meta_weights_intrinsic": {"model": "meta_neuron", "learn": ("weights", "intrinsic")},
}


# ====================================================================== brainlz
def brainlz_epoch(spec, x, labels, learn, batch_size, seed, blas_threads=None):
    """One epoch of train_surrogate (numpy's BLAS limited to ``blas_threads``); returns (seconds, record)."""
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=blas_threads, user_api="blas"):
            return brainlz_epoch(spec, x, labels, learn, batch_size, seed)
    _, history = train_surrogate(spec, x, labels, learn=learn, epochs=1, batch_size=batch_size, lr=LR,
                                 count_scale=COUNT_SCALE, activity_weight=0.0, validation_fraction=0.0,
                                 n_classes=N_CLASSES, seed=seed)
    record = history.epochs[0]
    return record["seconds"], record


def brainlz_rates(spec, x):
    """Mean rate (Hz) of the hidden and output layers of the untrained network on ``x``."""
    result = SurrogateNetwork(spec, ()).forward(x)
    T = result.spikes[0].shape[0]
    return [float(s.mean() / (T * float(spec.dt)) * T) for s in result.spikes]


# ====================================================================== snnTorch
def lif_mapping(spec):
    """Per layer: (W_norm [n_pre, n_post], alpha [n], beta [n], surrogate slope) of the LIF spec (see docstring)."""
    dt = float(spec.dt)
    layers = []
    for k, layer in enumerate(spec.layers):
        p = {name: np.asarray(value, dtype=float) for name, value in layer.params.items()}
        beta = np.exp(-dt / p["tau_m"])
        alpha = np.exp(-dt / p["tau_syn"])
        gap = p["V_th"] - p["E_L"]
        w = np.asarray(spec.weights[k], dtype=float) * ((1.0 - beta) * p["R"] / gap)[None, :]
        slope = float(np.mean(gap) / SURROGATE_SCALE)
        layers.append((w, alpha, beta, slope))
    return layers


def build_snn(mapping, dtype):
    nn = torch.nn

    class SNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fcs = nn.ModuleList()
            self.lifs = nn.ModuleList()
            for w, alpha, beta, slope in mapping:
                fc = nn.Linear(w.shape[0], w.shape[1], bias=False)
                with torch.no_grad():
                    fc.weight.copy_(torch.as_tensor(w.T))
                self.fcs.append(fc)
                self.lifs.append(snn.Synaptic(alpha=torch.as_tensor(alpha, dtype=dtype),
                                              beta=torch.as_tensor(beta, dtype=dtype), threshold=1.0,
                                              spike_grad=snn_surrogate.fast_sigmoid(slope=slope),
                                              reset_mechanism="zero"))
            self.to(dtype)

        def forward_stepwise(self, x):
            """Idiomatic snnTorch loop: every layer inside the time loop.  x [T, B, n_in] -> output spikes."""
            states = [lif.reset_mem() for lif in self.lifs]
            spikes = [[] for _ in self.lifs]
            for t in range(x.shape[0]):
                h = x[t]
                for k, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                    h, syn, mem = lif(fc(h), *states[k])
                    states[k] = (syn, mem)
                    spikes[k].append(h)
            return [torch.stack(s) for s in spikes]

        def forward_layerwise(self, x):
            """One layer over all steps, then the next; Linear applied to all steps at once."""
            spikes = []
            h = x
            for fc, lif in zip(self.fcs, self.lifs):
                current = fc(h)
                syn, mem = lif.reset_mem()
                out = []
                # unbind, not current[t]: the backward of T selects would write T full-size gradients (O(T^2))
                for step in current.unbind(0):
                    spk, syn, mem = lif(step, syn, mem)
                    out.append(spk)
                h = torch.stack(out)
                spikes.append(h)
            return spikes

    return SNN()


def snn_setup(spec, dtype):
    mapping = lif_mapping(spec)
    model = build_snn(mapping, dtype)
    groups = [{"params": [fc.weight], "lr": LR * float(np.std(w))} for fc, (w, *_) in zip(model.fcs, mapping)]
    return model, torch.optim.Adam(groups)


def snn_loss(spikes_out, labels, member):
    counts = spikes_out.sum(dim=0)                       # [B, n_out]
    logits = COUNT_SCALE * counts @ member               # population means
    return torch.nn.functional.cross_entropy(logits, labels), logits


def snn_epoch(model, optimiser, x, labels, member, batch_size, layerwise, seed):
    """One timed epoch; x [T, n, n_in] tensor, labels [n] long tensor. Returns (seconds, record)."""
    n = x.shape[1]
    order = torch.as_tensor(np.random.default_rng(seed).permutation(n))
    forward = model.forward_layerwise if layerwise else model.forward_stepwise
    losses, correct = 0.0, 0
    start = time.perf_counter()
    for b in range(0, n, batch_size):
        batch = order[b:b + batch_size]
        spikes = forward(x[:, batch])
        loss, logits = snn_loss(spikes[-1], labels[batch], member)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses += float(loss.detach()) * len(batch)
        correct += int((logits.detach().argmax(dim=1) == labels[batch]).sum())
    seconds = time.perf_counter() - start
    return seconds, {"train_loss": losses / n, "train_accuracy": correct / n, "seconds": seconds}


# ====================================================================== environment
def blas_info():
    try:
        from threadpoolctl import threadpool_info

        return [{key: pool.get(key) for key in ("user_api", "internal_api", "version", "num_threads",
                                                "threading_layer", "architecture", "prefix")}
                for pool in threadpool_info()]
    except Exception as exc:  # noqa: BLE001 - informational only
        return f"unavailable ({type(exc).__name__}: {exc})"


def summarise(times, n_samples):
    median = statistics.median(times)
    return {"seconds_per_epoch_median": median, "seconds_per_sample_median": median / n_samples,
            "seconds_per_epoch_all": times, "seconds_per_epoch_min": min(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 32 samples x 128 steps, 1 repeat (unless given explicitly)")
    parser.add_argument("--n-samples", type=int, default=None, help="default 128 (quick: 32)")
    parser.add_argument("--n-bins", type=int, default=None, help="time steps of 1 ms; default 1024 (quick: 128)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats; default 3 (quick: 1)")
    parser.add_argument("--snn-float64", action="store_true", help="also time snnTorch in float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "surrogate.json"))
    args = parser.parse_args(argv)
    n_samples = args.n_samples or (32 if args.quick else 128)
    n_bins = args.n_bins or (128 if args.quick else 1024)
    repeats = args.repeats or (1 if args.quick else 3)

    data = make_task("rate", n_samples=n_samples, n_channels=64, n_bins=n_bins, seed=1, difficulty=0.3)
    x_np, labels_np = data.spiketrains, np.asarray(data.labels)
    specs = {name: NetworkSpec.create(64, hidden=64, output=64, model=cfg["model"], seed=args.seed)
             for name, cfg in BRAINLZ.items()}

    results = {"setting": f"{n_samples} samples x {n_bins} steps of 1 ms, batch {args.batch_size}, 64-64-64, "
                          f"rate task (2 classes), count cross-entropy, fast sigmoid, Adam; one epoch",
               "quick": args.quick, "n_samples": n_samples, "n_bins": n_bins, "batch_size": args.batch_size,
               "repeats": repeats, "python": platform.python_version(), "machine": platform.platform(),
               "cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg()), "numpy": np.__version__, "blas": blas_info(),
               "torch": None, "snntorch": None, "snntorch_available": TORCH_ERROR is None,
               "brainlz": {}, "snntorch_runs": {}, "ratios_snntorch_over_brainlz": {}}

    runs = {}   # name -> callable returning (seconds, record)
    first = {}
    blas_settings = [None, 1] if importlib.util.find_spec("threadpoolctl") is not None else [None]
    brainlz_cfg = {}
    for name, cfg in BRAINLZ.items():
        spec = specs[name]
        t0 = time.perf_counter()
        brainlz_epoch(spec, x_np[:args.batch_size], labels_np[:args.batch_size], cfg["learn"], args.batch_size,
                      args.seed)
        first[name] = time.perf_counter() - t0
        for blas in blas_settings:
            run_name = name if blas is None else f"{name}_blas1"
            brainlz_cfg[run_name] = {**cfg, "blas_threads": "default" if blas is None else blas}
            runs[run_name] = (lambda spec=spec, learn=cfg["learn"], blas=blas:
                              brainlz_epoch(spec, x_np, labels_np, learn, args.batch_size, args.seed, blas))
            first.setdefault(run_name, first[name])
    lif_spec = specs["brainlz_lif_weights"]
    results["initial_rates_hz"] = {"brainlz_lif": brainlz_rates(lif_spec, x_np[:args.batch_size]),
                                   "brainlz_meta_neuron": brainlz_rates(specs["brainlz_meta_weights_intrinsic"],
                                                                        x_np[:args.batch_size])}

    if TORCH_ERROR is None:
        default_threads = torch.get_num_threads()
        results.update(torch=torch.__version__, snntorch=snn.__version__,
                       torch_default_threads=default_threads, torch_interop_threads=torch.get_num_interop_threads(),
                       torch_parallel_info=torch.__config__.parallel_info().strip().splitlines())
        mapping = lif_mapping(lif_spec)
        results["snntorch_mapping"] = {"alpha": [float(np.mean(a)) for _, a, _, _ in mapping],
                                       "beta": [float(np.mean(b)) for _, _, b, _ in mapping],
                                       "surrogate_slope": [s for *_, s in mapping],
                                       "weight_norm_mean": [float(np.mean(w)) for w, *_ in mapping],
                                       "weight_norm_std": [float(np.std(w)) for w, *_ in mapping],
                                       "reset_mechanism": "zero", "threshold": 1.0}
        member_np = np.zeros((64, N_CLASSES))
        member_np[np.arange(64), np.arange(64) % N_CLASSES] = 1.0
        member_np /= member_np.sum(axis=0, keepdims=True)
        dtypes = {"float32": torch.float32}
        if args.snn_float64:
            dtypes["float64"] = torch.float64
        variants = []
        for dname, dtype in dtypes.items():
            for layerwise in (False, True):
                for threads in sorted({default_threads, 1}, reverse=True):
                    base = "snntorch_layerwise" if layerwise else "snntorch"
                    suffix = ("" if dname == "float32" else "_float64") + \
                        ("_1thread" if threads == 1 else f"_{threads}threads")
                    variants.append((base + suffix, dtype, layerwise, threads))
        # conversion excluded from timing: tensors [T, n, 64] once per dtype
        tensors = {dtype: torch.as_tensor(np.ascontiguousarray(x_np.transpose(2, 0, 1)), dtype=dtype)
                   for dtype in dtypes.values()}
        members = {dtype: torch.as_tensor(member_np, dtype=dtype) for dtype in dtypes.values()}
        labels_t = torch.as_tensor(labels_np, dtype=torch.long)
        with torch.no_grad():
            model, _ = snn_setup(lif_spec, torch.float32)
            spikes = model.forward_stepwise(tensors[torch.float32][:, :args.batch_size])
            results["initial_rates_hz"]["snntorch"] = [float(s.mean()) / float(lif_spec.dt) for s in spikes]

        def snn_run(dtype, layerwise, threads):
            torch.set_num_threads(threads)
            try:
                model, optimiser = snn_setup(lif_spec, dtype)   # fresh start each repeat, as brainlz
                return snn_epoch(model, optimiser, tensors[dtype], labels_t, members[dtype], args.batch_size,
                                 layerwise, args.seed)
            finally:
                torch.set_num_threads(default_threads)

        for name, dtype, layerwise, threads in variants:
            fn = (lambda dtype=dtype, layerwise=layerwise, threads=threads: snn_run(dtype, layerwise, threads))
            t0 = time.perf_counter()
            torch.set_num_threads(threads)
            model, optimiser = snn_setup(lif_spec, dtype)
            snn_epoch(model, optimiser, tensors[dtype][:, :args.batch_size], labels_t[:args.batch_size],
                      members[dtype], args.batch_size, layerwise, args.seed)
            torch.set_num_threads(default_threads)
            first[name] = time.perf_counter() - t0
            runs[name] = fn
    else:
        results["snntorch_unavailable"] = TORCH_ERROR
        print(f"snnTorch unavailable ({TORCH_ERROR}); timing the brainlz side only", flush=True)

    times = {name: [] for name in runs}
    records = {name: [] for name in runs}
    for repeat in range(repeats):
        for name, fn in runs.items():
            seconds, record = fn()
            times[name].append(seconds)
            records[name].append({k: v for k, v in record.items() if k != "epoch"})
            print(f"repeat {repeat + 1}/{repeats} {name:40s}: {seconds:8.2f} s/epoch "
                  f"(loss {record['train_loss']:.4f}, acc {record['train_accuracy']:.3f})", flush=True)

    for name in runs:
        entry = {**summarise(times[name], n_samples), "first_call_seconds": first[name], "epochs": records[name]}
        if name in brainlz_cfg:
            entry["learn"] = list(brainlz_cfg[name]["learn"])
            entry["model"] = brainlz_cfg[name]["model"]
            entry["blas_threads"] = brainlz_cfg[name]["blas_threads"]
            results["brainlz"][name] = entry
        else:
            results["snntorch_runs"][name] = entry
    for s_name, s_entry in results["snntorch_runs"].items():
        results["ratios_snntorch_over_brainlz"][s_name] = {
            b_name: s_entry["seconds_per_epoch_median"] / b_entry["seconds_per_epoch_median"]
            for b_name, b_entry in results["brainlz"].items() if brainlz_cfg[b_name]["model"] == "lif"}
    if results["snntorch_runs"]:
        # headline: the fastest snnTorch setting against the fastest BLAS setting of each brainlz LIF configuration
        best_snn = min(results["snntorch_runs"], key=lambda n: results["snntorch_runs"][n]["seconds_per_epoch_median"])
        s_time = results["snntorch_runs"][best_snn]["seconds_per_epoch_median"]
        for name, cfg in BRAINLZ.items():
            if cfg["model"] != "lif":
                continue
            options = [n for n in results["brainlz"] if n == name or n == f"{name}_blas1"]
            best_b = min(options, key=lambda n: results["brainlz"][n]["seconds_per_epoch_median"])
            b_time = results["brainlz"][best_b]["seconds_per_epoch_median"]
            results.setdefault("headline", {})[name] = {"snntorch_fastest": best_snn, "snntorch_seconds": s_time,
                                                        "brainlz_fastest": best_b, "brainlz_seconds": b_time,
                                                        "ratio_snntorch_over_brainlz": s_time / b_time}
    results["note"] = ("ratio > 1: snnTorch slower than brainlz. brainlz_meta_weights_intrinsic has no snnTorch "
                       "equivalent (no ratio). snnTorch runs in float32 unless named _float64; brainlz in float64. "
                       "_blas1: numpy's BLAS limited to 1 thread (threadpoolctl); _1thread: torch.set_num_threads(1).")

    results["loadavg_end"] = list(os.getloadavg())
    print("\nmedian s/epoch:")
    for group in ("brainlz", "snntorch_runs"):
        for name, entry in results[group].items():
            print(f"  {name:40s} {entry['seconds_per_epoch_median']:8.2f}  "
                  f"({1e3 * entry['seconds_per_sample_median']:.1f} ms/sample)")
    for s_name, ratios in results["ratios_snntorch_over_brainlz"].items():
        print(f"  {s_name:40s} / " + ", ".join(f"{b}: {r:.2f}" for b, r in ratios.items()))
    for name, h in results.get("headline", {}).items():
        print(f"  headline {name}: {h['snntorch_fastest']} {h['snntorch_seconds']:.2f} s / {h['brainlz_fastest']} "
              f"{h['brainlz_seconds']:.2f} s = {h['ratio_snntorch_over_brainlz']:.2f}")

    write_json(args.out, results, make_parents=True)
    return results


if __name__ == "__main__":
    main()
