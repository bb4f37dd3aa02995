"""10^8 synapses on one machine: a Brunel (2000) AI network of 100,000 neurons with in-degree 1,000,
built and run for 1 s by spikeforge; bytes per synapse, build time and run time.

The network is :func:`spikeforge.circuits.builders.brunel` with ``scale=8`` (80,000 excitatory and
20,000 inhibitory LIF neurons) and ``epsilon=0.01`` (fixed in-degrees C_E = 800 and C_I = 200, so
1,000 synapses onto every neuron, 100 million in all; J = 0.125 mV keeps J C_E of the paper), the
AI regime (g = 5, eta = 2), delay 1.5 ms, dt = 0.1 ms, the external drive as Poisson inputs,
float32 by default.

Memory: each projection stores its synapses as compressed sparse rows over the presynaptic neuron:
an int32 target index per synapse, an int64 row pointer per presynaptic neuron, and the weight and
the delay once (all synapses of a Brunel projection share them). The script prints

* the bytes of the projections' tensors per synapse (``Projection.nbytes``),
* the growth of the resident memory (RSS) of the process per synapse after building and after the
  run (the compiled kernel's buffers, the ring buffers and the recorded spikes included),
* the peak RSS of the process (``ru_maxrss``), the high-water mark of the build's temporaries.

Run it (about 2 GB of memory; minutes on a loaded 2-core machine)::

    .venv/bin/python benchmarks/large_network.py
    .venv/bin/python benchmarks/large_network.py --scale 2 --duration 200   # 25,000 neurons
    .venv/bin/python benchmarks/large_network.py --dtype float64 --json out/large.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time
from typing import Any

import numpy as np
import torch

from spikeforge.circuits import builders


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=8.0, help="N = 12,500 * scale neurons (8: 100,000)")
    parser.add_argument(
        "--epsilon", type=float, default=0.01, help="in-degree = epsilon * N (0.01: 1,000 at scale 8)"
    )
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)

    # load the compiled kernels (a one-off cost of a new process) on a tiny network
    t0 = time.perf_counter()
    builders.brunel("AI", scale=0.02, seed=0, dtype=dtype, compiled=True).run(1.0, progress=False)
    load = time.perf_counter() - t0
    gc.collect()
    rss0 = rss_bytes()

    t0 = time.perf_counter()
    net = builders.brunel("AI", scale=args.scale, epsilon=args.epsilon, seed=0, dtype=dtype, compiled=True)
    build = time.perf_counter() - t0
    gc.collect()
    rss_built = rss_bytes()
    peak_build = peak_rss_bytes()
    n = sum(p.n for p in net.neurons.values())
    n_syn = sum(p.n_synapses for p in net.projections.values())
    tensor_bytes = sum(p.nbytes for p in net.projections.values())
    print(
        f"Brunel AI: {n:,} neurons, {n_syn:,} synapses ({n_syn / n:.0f} per neuron), {args.dtype}, "
        f"{args.duration:g} ms"
    )
    print(f"one-off loading of the compiled kernels: {load:.2f} s")
    print(f"build: {build:.2f} s")
    print(
        f"memory after build: projections' tensors {tensor_bytes / n_syn:.2f} B/synapse "
        f"({tensor_bytes / 2**30:.2f} GiB); RSS growth {(rss_built - rss0) / n_syn:.2f} B/synapse "
        f"({(rss_built - rss0) / 2**30:.2f} GiB); peak RSS so far {peak_build / 2**30:.2f} GiB"
    )

    rec = net.record_spikes("exc")
    t0 = time.perf_counter()
    net.run(args.duration, progress=False)
    run = time.perf_counter() - t0
    rss_run = rss_bytes()
    peak_run = peak_rss_bytes()
    rate = rec.num_spikes / net.neurons["exc"].n / (args.duration / 1000.0)
    print(f"run: {run:.2f} s for {args.duration:g} ms (excitatory rate {rate:.1f} Hz)")
    print(
        f"memory after run: RSS growth {(rss_run - rss0) / n_syn:.2f} B/synapse "
        f"({(rss_run - rss0) / 2**30:.2f} GiB); peak RSS {peak_run / 2**30:.2f} GiB"
    )
    if args.json:
        out: dict[str, Any] = {
            "args": vars(args),
            "neurons": n,
            "synapses": n_syn,
            "load_s": load,
            "build_s": build,
            "run_s": run,
            "rate_hz": rate,
            "tensor_bytes_per_synapse": tensor_bytes / n_syn,
            "rss_bytes_per_synapse_built": (rss_built - rss0) / n_syn,
            "rss_bytes_per_synapse_run": (rss_run - rss0) / n_syn,
            "peak_rss_bytes": peak_run,
            "torch": torch.__version__,
            "numpy": np.__version__,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
