"""A network of stochastic neurons (``ProbabilisticNeuron``) on the compiled kernel against
spikeforge's PyTorch engine, in one process.

A population of ``--n`` ProbabilisticNeurons (tau_mem 10 ms, temperature 0.25, release 0.6,
float32, dt = 0.5 ms) driven by 500 Poisson neurons at 20 Hz (p = 0.05, exponential synapses) and
inhibiting itself (in-degree 20, delay 1 ms). Both engines draw the same counter-based release and
spike uniforms and compute the same firing probability, so their spikes are identical (checked).
Each engine is warmed up for 5 ms (the kernel compiles or loads on its first run), then
``--repeats`` interleaved rounds simulate 100 ms each, one thread. The table shows seconds per
simulated 100 ms, median (min), and the ratio PyTorch / compiled (above 1: the kernel is faster).

Run::

    .venv/bin/python benchmarks/probabilistic_network.py
    .venv/bin/python benchmarks/probabilistic_network.py --sizes 4000,40000 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network

DT = 0.5  # ms


def build(n: int, compiled: bool) -> tuple[Network, sf.circuits.SpikeMonitor]:
    net = Network(dt=DT, seed=1, dtype=torch.float32, compiled=compiled)
    net.add_poisson("p", 500, rate=20 * sf.units.Hz)
    neuron = sf.neurons.ProbabilisticNeuron(n, tau_mem=10.0, v_th=1.0, temperature=0.25, release=0.6, dt=DT)
    net.add_population("s", neuron)
    net.connect("p", "s", p=0.05, weight=0.6, synapse=ExpSynapse(5.0))
    net.connect("s", "s", p=20 / n, weight=-0.3, delay=1.0)
    return net, net.record_spikes("s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="4000,40000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'n':>7} {'compiled s':>18} {'PyTorch s':>18} {'ratio':>6}  same spikes")
    for n in (int(s) for s in args.sizes.split(",")):
        runs = {c: build(n, c) for c in (True, False)}
        for net, _ in runs.values():
            net.run(5.0, progress=False)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):
            for c, (net, _) in runs.items():
                t0 = time.perf_counter()
                net.run(100.0, progress=False)
                times[c].append(time.perf_counter() - t0)
        for c, (net, _) in runs.items():
            assert net.last_run_info["path"] == ("compiled" if c else "torch")
        (_, a), (_, b) = runs[True], runs[False]
        same = np.array_equal(a.t, b.t) and np.array_equal(a.i, b.i) and a.num_spikes > 0
        med = {c: statistics.median(t) for c, t in times.items()}
        cells = [f"{med[c]:.4f} ({min(times[c]):.4f})" for c in (True, False)]
        print(f"{n:>7} {cells[0]:>18} {cells[1]:>18} {med[False] / med[True]:>6.1f}  {same}")


if __name__ == "__main__":
    main()
