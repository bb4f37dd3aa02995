"""CUBA on a GPU: the Triton circuits engine (:mod:`spikeforge.circuits.engines.gpu`) at 4,000,
64,000 and 1,000,000 neurons, real-time factors and GPU memory; for a lent CUDA machine
(``benchmarks/gpu_check.sh`` runs it).

The network is :func:`spikeforge.circuits.builders.cuba` (80 % excitatory LIF, exponential current
synapses, t_ref 5 ms) with a fixed in-degree (100 by default: 10^8 synapses at 10^6 neurons), a
spike monitor on the excitatory population, dt = 0.1 ms. For each size it reports the build time,
the first run (kernel compilation and the CUDA graph capture: ``--warmup`` ms), then the timed run
(``--duration`` ms of biological time, shortened for the largest sizes), the real-time factor
(biological time over wall time: above 1 is faster than real time), the mean excitatory rate,
launches per step and graph replays, and the peak GPU memory.

Two checks come first, at the smallest size and in float64:

* the spikes of the first ``--check-ms`` ms on the GPU equal the compiled CPU engine's, from the
  same initial state (the CPU network's state tensors copied to the GPU);
* the PyTorch engine on the same GPU (``compiled=False``) runs the same ``--check-ms`` ms, for the
  ratio of the two GPU engines (a GPU peer such as Brian2CUDA or GeNN is not installed there).

Run it::

    python benchmarks/gpu_circuits.py                                  # 4000, 64000, 1000000
    python benchmarks/gpu_circuits.py --sizes 4000 --duration 1000 --dtype float64
    python benchmarks/gpu_circuits.py --json out/gpu_circuits.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import torch

from spikeforge.circuits import builders


def build(n: int, in_degree: int, dtype: torch.dtype, device: str, compiled: bool | None = None) -> Any:
    net = builders.cuba(n, seed=0, in_degree=in_degree, dtype=dtype, device=device, compiled=compiled)
    mon = net.record_spikes("exc")
    return net, mon


def hand_over(src: Any, dst: Any) -> None:
    """``dst`` (on CUDA) starts from ``src``'s state (CUDA generators draw other initial
    membranes; ``load_state_dict`` cannot carry CPU generator states into CUDA ones). The
    connectivity is the same: the structure generator is on the CPU."""
    s, d = src._ensure_state(), dst._ensure_state()
    for name, st in s.neurons.items():
        d.neurons[name] = type(st)(*(f.to(dst.device).clone() for f in st))
    for name in s.syn:
        d.syn[name] = [t.to(dst.device).clone() for t in s.syn[name]]
        d.ring[name] = s.ring[name].to(dst.device).clone()
    for name in s.held:
        d.held[name] = s.held[name].to(dst.device).clone()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def check(n: int, in_degree: int, ms: float) -> dict[str, Any]:
    """GPU spikes against the compiled CPU engine (float64), and the PyTorch engine's time on CUDA."""
    cpu, mon_cpu = build(n, in_degree, torch.float64, "cpu")
    gpu, mon_gpu = build(n, in_degree, torch.float64, "cuda")
    hand_over(cpu, gpu)
    ref, mon_ref = build(n, in_degree, torch.float64, "cuda", compiled=False)
    hand_over(cpu, ref)
    cpu.run(ms, progress=False)
    gpu.run(ms, progress=False)
    same = bool(np.array_equal(mon_cpu.steps, mon_gpu.steps) and np.array_equal(mon_cpu.i, mon_gpu.i))
    sync()
    t0 = time.perf_counter()
    ref.run(ms, progress=False)
    sync()
    t_torch = time.perf_counter() - t0
    gpu2, _ = build(n, in_degree, torch.float64, "cuda")
    hand_over(cpu, gpu2)
    gpu2.run(1.0, progress=False)  # compile and capture outside the timing
    sync()
    t0 = time.perf_counter()
    gpu2.run(ms, progress=False)
    sync()
    t_triton = time.perf_counter() - t0
    return {
        "n": n,
        "ms": ms,
        "spikes_cpu": int(mon_cpu.steps.size),
        "spikes_gpu": int(mon_gpu.steps.size),
        "same_spikes_as_cpu": same,
        "path_gpu": gpu.last_run_info["path"],
        "torch_engine_s": t_torch,
        "triton_engine_s": t_triton,
        "ratio_torch_over_triton": t_torch / t_triton,
    }


def measure(n: int, in_degree: int, dtype: torch.dtype, duration: float, warmup: float) -> dict[str, Any]:
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    net, mon = build(n, in_degree, dtype, "cuda")
    net._ensure_state()
    sync()
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(warmup, progress=False)
    sync()
    t_first = time.perf_counter() - t0
    engine = net._engines.get("triton")
    launches0 = getattr(engine, "launches", 0)
    spikes0 = mon.steps.size
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    sync()
    wall = time.perf_counter() - t0
    steps = int(round(duration / net.dt))
    n_exc = net._groups["exc"].n
    rate = (mon.steps.size - spikes0) / n_exc / (duration / 1000.0)
    return {
        "n": n,
        "synapses": int(sum(p._nnz for p in net._projs())),
        "dtype": str(dtype).replace("torch.", ""),
        "path": net.last_run_info["path"],
        "build_s": t_build,
        "first_run_s": t_first,
        "duration_ms": duration,
        "wall_s": wall,
        "realtime_factor": duration / 1000.0 / wall,
        "ms_per_step": 1000.0 * wall / steps,
        "rate_hz": rate,
        "launches_per_step": (getattr(engine, "launches", 0) - launches0) / steps,
        "graph_replays": getattr(engine, "replays", 0),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="4000,64000,1000000")
    ap.add_argument("--in-degree", type=int, default=100)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--duration", type=float, default=1000.0, help="ms at 4000 neurons (less above)")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--check-ms", type=float, default=50.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (the interpreter tests in tests/gpu/ prove the kernels)")
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    dtype = getattr(torch, args.dtype)
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(), "rows": []}
    if sizes:
        out["check"] = c = check(min(sizes), args.in_degree, args.check_ms)
        print(
            f"check n={c['n']} {c['ms']:g} ms float64: spikes equal to the compiled CPU engine: "
            f"{c['same_spikes_as_cpu']} ({c['spikes_gpu']} spikes, path {c['path_gpu']}); PyTorch engine "
            f"on CUDA {c['torch_engine_s']:.3f} s, Triton engine {c['triton_engine_s']:.3f} s "
            f"({c['ratio_torch_over_triton']:.1f}x)",
            flush=True,
        )
    head = f"{'n':>9} {'synapses':>11} {'dtype':>7} {'build s':>8} {'first s':>8} {'bio ms':>7} {'wall s':>7}"
    head += f" {'x realtime':>10} {'ms/step':>8} {'rate Hz':>7} {'launch/step':>11} {'peak MiB':>9}"
    print(head)
    for n in sizes:
        duration = args.duration if n <= 4000 else (args.duration / 5 if n <= 100_000 else args.duration / 20)
        try:
            r = measure(n, args.in_degree, dtype, duration, args.warmup)
        except torch.cuda.OutOfMemoryError as e:  # a size that does not fit is a result too
            r = {"n": n, "error": f"out of memory: {e}"}
            print(f"{n:>9} out of memory", flush=True)
        else:
            print(
                f"{r['n']:>9} {r['synapses']:>11} {r['dtype']:>7} {r['build_s']:>8.2f} "
                f"{r['first_run_s']:>8.2f} "
                f"{r['duration_ms']:>7g} {r['wall_s']:>7.3f} {r['realtime_factor']:>10.2f} "
                f"{r['ms_per_step']:>8.4f} {r['rate_hz']:>7.1f} {r['launches_per_step']:>11.2f} "
                f"{r['peak_gpu_mib']:>9.0f}",
                flush=True,
            )
        out["rows"].append(r)
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
