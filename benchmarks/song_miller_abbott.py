"""Song, Miller & Abbott (2000), Brian2's ``examples/synapses/STDP.py``: spikeforge against Brian2.

1000 Poisson inputs at 15 Hz onto one conductance-based LIF (taum 10 ms, Ee 0, vt -54, vr -60,
El -74 mV, taue 5 ms, Euler), all-to-all synapses with additive pair STDP (taupre = taupost = 20
ms, dApre = 0.01 gmax, dApost = -1.05 dApre, hard bounds [0, gmax], gmax = 0.01), 100 s at
dt = 0.1 ms by default. Both start from uniform weights and v = vr; their random streams differ.

Prints, per simulator: the output rate over the last 20 % of the run, the final weight histogram
(10 bins of gmax / 10), the fractions below 0.1 gmax and above 0.9 gmax, the wall time; then the
1-Wasserstein distance between the two weight distributions (in gmax). spikeforge runs the
``Network`` PyTorch path (plastic projections do not use the compiled kernel).

``--same-step`` picks spikeforge's pairing of a pre and a post spike in the same step: Brian2's
default order (``on_pre`` before ``on_post``) pairs them as a potentiation (``potentiate``), which
at dt = 0.1 ms is a tenth of the net depression, at 0.5 ms half of it (see
:mod:`spikeforge.plasticity.stdp`).

Figures (this machine, shared and loaded, one run each): dt = 0.1 ms, 100 s, ``--same-step skip``:
spikeforge (that run: exact membrane step) 18.6 Hz, [235 119 72 54 58 64 63 58 83 194], 1071 s;
Brian2 cython 21.8 Hz, [251 106 58 54 59 49 62 85 90 186], 47 s. dt = 0.5 ms, 100 s, ``--same-step
potentiate`` (``tests/reference/test_stdp_brian2.py``, slow): spikeforge 54.2 Hz, Brian2 numpy 53.4
Hz, W1 = 0.007 gmax.

Run it::

    .venv/bin/python benchmarks/song_miller_abbott.py                        # the full example
    .venv/bin/python benchmarks/song_miller_abbott.py --duration 20 --dt 0.5 --same-step potentiate
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import spikeforge as sf
from spikeforge.circuits import ExpConductance, Network, Uniform

GMAX = 0.01


def run_spikeforge(n: int, rate_hz: float, duration_ms: float, dt: float, seed: int, same_step: str) -> tuple:
    net = Network(dt=dt, seed=seed, dtype=torch.float64)
    net.add_poisson("in", n, rate=rate_hz * sf.units.Hz, sign="excitatory")
    lif = sf.neurons.LIF(1, tau_mem=10.0, v_leak=-74.0, v_th=-54.0, v_reset=-60.0, dt=dt, integrator="euler")
    net.add_population("out", lif, init={"v": -60.0})
    a = 0.01 * GMAX
    stdp = sf.plasticity.STDP(
        a_plus=a,
        a_minus=1.05 * a,
        w_min=0.0,
        w_max=GMAX,
        same_step=same_step,
        dt=dt,  # type: ignore[arg-type]
    )
    proj = net.connect(
        "in", "out", weight=Uniform(0.0, GMAX), synapse=ExpConductance(5.0, e_rev=0.0), plasticity=stdp
    )
    mon = net.record_spikes("out")
    start = time.perf_counter()
    net.run(duration_ms, progress=False)
    wall = time.perf_counter() - start
    return proj.weights().double().numpy().reshape(-1) / GMAX, np.asarray(mon.t), wall


def run_brian2(n: int, rate_hz: float, duration_ms: float, dt: float, seed: int, target: str) -> tuple:
    import brian2 as b2

    b2.prefs.codegen.target = target
    b2.start_scope()
    b2.seed(seed)
    b2.defaultclock.dt = dt * b2.ms
    ms, mV = b2.ms, b2.mV
    ns = {
        "taum": 10 * ms,
        "taue": 5 * ms,
        "taupre": 20 * ms,
        "taupost": 20 * ms,
        "Ee": 0 * mV,
        "El": -74 * mV,
        "vt": -54 * mV,
        "vr": -60 * mV,
        "gmax": GMAX,
        "dApre": 0.01 * GMAX,
        "dApost": -1.05 * 0.01 * GMAX,
    }
    inp = b2.PoissonGroup(n, rates=rate_hz * b2.Hz)
    neuron = b2.NeuronGroup(
        1,
        "dv/dt = (ge * (Ee - v) + El - v) / taum : volt\ndge/dt = -ge / taue : 1",
        threshold="v > vt",
        reset="v = vr",
        method="euler",
        namespace=ns,
    )
    neuron.v = ns["vr"]
    syn = b2.Synapses(
        inp,
        neuron,
        """w : 1
        dApre/dt = -Apre / taupre : 1 (event-driven)
        dApost/dt = -Apost / taupost : 1 (event-driven)""",
        on_pre="ge += w\nApre += dApre\nw = clip(w + Apost, 0, gmax)",
        on_post="Apost += dApost\nw = clip(w + Apre, 0, gmax)",
        namespace=ns,
    )
    syn.connect()
    syn.w = "rand() * gmax"
    mon = b2.SpikeMonitor(neuron)
    net = b2.Network(inp, neuron, syn, mon)
    start = time.perf_counter()
    net.run(duration_ms * ms, namespace={})
    wall = time.perf_counter() - start
    return np.asarray(syn.w[:], dtype=np.float64) / GMAX, np.asarray(mon.t / ms), wall


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    q = (np.arange(1000) + 0.5) / 1000
    return float(np.mean(np.abs(np.quantile(a, q) - np.quantile(b, q))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=100.0, help="seconds of biological time")
    ap.add_argument("--dt", type=float, default=0.1, help="ms")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=15.0, help="Hz")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--same-step", default="skip", choices=["skip", "potentiate", "both"])
    ap.add_argument("--target", default="cython", choices=["cython", "numpy"], help="Brian2 codegen target")
    args = ap.parse_args()
    torch.set_num_threads(1)
    duration_ms = args.duration * 1000.0
    results = {
        "spikeforge": run_spikeforge(args.n, args.rate, duration_ms, args.dt, args.seed, args.same_step),
        f"brian2 {args.target}": run_brian2(args.n, args.rate, duration_ms, args.dt, args.seed, args.target),
    }
    for name, (w, t, wall) in results.items():
        rate = np.sum(t >= 0.8 * duration_ms) / (0.2 * args.duration)
        hist = np.histogram(np.clip(w, 0, 1), bins=10, range=(0, 1))[0]
        print(
            f"{name:>16}: {rate:6.1f} Hz (last 20 %), weights {hist.tolist()}, "
            f"< 0.1 gmax {np.mean(w < 0.1):.2f}, > 0.9 gmax {np.mean(w > 0.9):.2f}, {wall:.1f} s"
        )
    (w1, *_), (w2, *_) = results.values()
    print(f"1-Wasserstein distance of the weight distributions: {wasserstein(w1, w2):.3f} gmax")


if __name__ == "__main__":
    main()
