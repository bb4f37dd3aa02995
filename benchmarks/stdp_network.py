"""STDP in a recurrent sparse network, spikeforge against Brian2, in one process.

The network: ``n`` LIF neurons (tau 10 ms, threshold 1, reset 0, no refractory period), each
driven by 1000 Poisson inputs at 20 Hz of weight 0.0048 (``add_poisson_input``; Brian2's
``PoissonInput``; the mean drive is just below threshold, so the neurons fire irregularly at a
few to tens of Hz), and a recurrent projection with p = 0.02, delta synapses onto ``v`` with
delay 0, weights uniform in [0, 0.01], learning by pair STDP (additive, tau 20 ms, A+ = 1e-4,
A- = 1.05e-4, bounds [0, 0.01]; Brian2's ``examples/synapses/STDP.py`` pathways, on_pre before
on_post). Brian2 gets the same synapses and initial weights (``Synapses.connect(i=..., j=...)``).
dt = 0.1 ms, float64.

spikeforge runs STDP during ``Network.run`` through ``connect(..., plasticity=STDP(...))``: the
PyTorch path, step by step, the rule evaluated only at the synapses of the neurons that spiked
(event-driven, as Brian2's ``on_pre``/``on_post``). Brian2 runs its Cython runtime target. Both
are built and warmed up for 10 ms (code generation and compilation not counted); then each of
``--repeats`` rounds simulates ``--duration`` ms of each (interleaved). The table shows the median
and minimum wall time per simulated second, the ratio (Brian2 / spikeforge: above 1, spikeforge is
faster), and as a check the mean rate and the mean weight at the end.

Run::

    .venv/bin/python benchmarks/stdp_network.py                 # 2000 and 10,000 neurons
    .venv/bin/python benchmarks/stdp_network.py --sizes 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

import spikeforge as sf

DT = 0.1
TAU_MEM, TAU_STDP = 10.0, 20.0
A_PLUS, A_MINUS, W_MAX = 0.0001, 0.000105, 0.01
N_EXT, RATE_EXT, W_EXT = 1000, 20.0, 0.0048
WARMUP_MS = 10.0


def build_spikeforge(n: int) -> tuple[sf.circuits.Network, sf.circuits.Projection, sf.circuits.SpikeMonitor]:
    net = sf.circuits.Network(dt=DT, seed=0, dtype=torch.float64)
    net.add_population("x", sf.neurons.LIF(n, tau_mem=TAU_MEM, v_th=1.0, v_reset=0.0, dt=DT).double())
    net.add_poisson_input("ext", "x", n=N_EXT, rate=RATE_EXT / 1000.0, weight=W_EXT)
    rule = sf.plasticity.STDP(
        tau_plus=TAU_STDP,
        tau_minus=TAU_STDP,
        a_plus=A_PLUS,
        a_minus=A_MINUS,
        w_min=0.0,
        w_max=W_MAX,
        dt=DT,
        same_step="potentiate",  # Brian2's default pathway order
    )
    proj = net.connect(
        "x", "x", p=0.02, weight=sf.circuits.Uniform(0.0, W_MAX), storage="sparse", plasticity=rule
    )
    mon = net.record_spikes("x")
    return net, proj, mon


def build_brian2(b2: Any, n: int, proj: sf.circuits.Projection) -> tuple[Any, Any, Any]:
    ms, Hz = b2.ms, b2.Hz
    b2.prefs.codegen.target = "cython"
    b2.prefs.core.default_float_dtype = np.float64
    b2.defaultclock.dt = DT * ms
    grp = b2.NeuronGroup(
        n,
        "dv/dt = -v / tau : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        namespace={"tau": TAU_MEM * ms},
    )
    ext = b2.PoissonInput(grp, "v", N=N_EXT, rate=RATE_EXT * Hz, weight=W_EXT)
    syn = b2.Synapses(
        grp,
        grp,
        """w : 1
        dapre/dt = -apre / taus : 1 (event-driven)
        dapost/dt = -apost / taus : 1 (event-driven)""",
        on_pre="""v_post += w
        apre += Apre
        w = clip(w - apost, 0, wmax)""",
        on_post="""apost += Apost
        w = clip(w + apre, 0, wmax)""",
        namespace={"taus": TAU_STDP * ms, "Apre": A_PLUS, "Apost": A_MINUS, "wmax": W_MAX},
    )
    syn.connect(i=proj.pre_indices.numpy(), j=proj.post_indices.numpy())
    syn.w = proj.weights().double().numpy()
    mon = b2.SpikeMonitor(grp)
    return b2.Network(grp, ext, syn, mon), syn, mon


def run(n: int, repeats: int, duration: float) -> dict[str, Any]:
    import brian2 as b2

    net, proj, mon = build_spikeforge(n)
    b2.start_scope()
    network, syn, b2_mon = build_brian2(b2, n, proj)
    net.run(WARMUP_MS, progress=False)
    network.run(WARMUP_MS * b2.ms)
    times: dict[str, list[float]] = {"spikeforge": [], "brian2": []}
    for r in range(repeats):
        for name in ("spikeforge", "brian2") if r % 2 == 0 else ("brian2", "spikeforge"):
            t0 = time.perf_counter()
            if name == "spikeforge":
                net.run(duration, progress=False)
            else:
                network.run(duration * b2.ms)
            times[name].append((time.perf_counter() - t0) * 1000.0 / duration)
    total_ms = WARMUP_MS + repeats * duration
    return {
        "n": n,
        "synapses": proj.n_synapses,
        "times": times,
        "rate": {
            "spikeforge": mon.t.size / n / (total_ms / 1000.0),
            "brian2": len(b2_mon.t) / n / (total_ms / 1000.0),
        },
        "w_mean": {"spikeforge": float(proj.weights().mean()), "brian2": float(np.mean(syn.w[:]))},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", default="2000,10000", help="network sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=200.0, help="ms simulated per round (default 200)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"STDP network, dt {DT} ms, float64, {args.threads} thread(s), {args.repeats} interleaved rounds of "
        f"{args.duration:g} ms; seconds of wall time per simulated second, median (min)"
    )
    print(f"{'n':>6s} {'synapses':>9s} {'spikeforge':>16s} {'brian2 cython':>16s} {'ratio':>6s}  check")
    for n in (int(s) for s in args.sizes.split(",") if s):
        res = run(n, args.repeats, args.duration)
        sf_t, b2_t = res["times"]["spikeforge"], res["times"]["brian2"]
        ms, mb = statistics.median(sf_t), statistics.median(b2_t)
        print(
            f"{n:6d} {res['synapses']:9d} {ms:8.2f} ({min(sf_t):5.2f}) {mb:8.2f} ({min(b2_t):5.2f}) "
            f"{mb / ms:6.2f}  rate {res['rate']['spikeforge']:.1f} / {res['rate']['brian2']:.1f} Hz, "
            f"mean w {res['w_mean']['spikeforge']:.4f} / {res['w_mean']['brian2']:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
