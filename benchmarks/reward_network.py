"""Reward-modulated STDP (Izhikevich 2007) in a recurrent sparse network: spikeforge's compiled
kernel against its PyTorch path and Brian2's Cython target, in one process.

The network is ``benchmarks/stdp_network.py``'s (``n`` LIF neurons, tau 10 ms, threshold 1, reset
0, each driven by 1000 Poisson inputs at 20 Hz of weight 0.0048; a recurrent projection with
p = 0.02, delay 0, weights uniform in [0, 0.01]), learning with
:class:`~spikeforge.plasticity.RewardModulatedSTDP`: pair STDP (tau 20 ms, A+ = 1e-4,
A- = 1.05e-4) sets a tag per synapse, ``c <- c e^{-dt/tau_c} + dw_STDP`` (tau_c 1 s), the dopamine
decays (tau_d 200 ms) and is released at a constant 1e-4 per step (the modulator), and every
weight moves by ``lr dt c d`` at every step, clipped to [0, 0.01]. dt = 0.1 ms, float64. The tags
and the weights change at every step (not only at spikes), so each step touches every synapse, on
every engine.

* ``spikeforge``: the compiled kernel (numba, one thread); its one-off cost (loading or compiling)
  is the first warm-up run, reported as "compile".
* ``torch``: the same network on spikeforge's PyTorch path (``compiled=False``).
* ``brian2 cython``: the same synapses and initial weights; the tag clock-driven (``method='exact'``),
  the traces event-driven, the dopamine a variable of each target neuron, and the weight update
  ``w = clip(w + lr*dt*c*d_post, 0, wmax)`` by ``run_regularly`` each step (as Brian2's Izhikevich
  2007 example keeps ``c`` and ``d`` clock-driven). Built and warmed up for 10 ms (code generation
  and compilation not counted).

Rounds of ``--duration`` ms interleave the engines; the table shows the median and minimum wall
time per simulated second and the ratios (peer / spikeforge: above 1, the kernel is faster), and
as a check the mean rate and the mean weight at the end.

Run::

    .venv/bin/python benchmarks/reward_network.py                  # 2000 neurons
    .venv/bin/python benchmarks/reward_network.py --sizes 2000,10000 --repeats 5
    .venv/bin/python benchmarks/reward_network.py --skip cython,torch
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
TAU_MEM, TAU_STDP, TAU_C, TAU_D = 10.0, 20.0, 1000.0, 200.0
A_PLUS, A_MINUS, W_MAX = 0.0001, 0.000105, 0.01
LR, RELEASE = 0.05, 1e-4
N_EXT, RATE_EXT, W_EXT = 1000, 20.0, 0.0048
WARMUP_MS = 10.0


def build_spikeforge(n: int, compiled: bool | None) -> tuple[sf.circuits.Network, Any, Any]:
    net = sf.circuits.Network(dt=DT, seed=0, dtype=torch.float64, compiled=compiled)
    net.add_population("x", sf.neurons.LIF(n, tau_mem=TAU_MEM, v_th=1.0, v_reset=0.0, dt=DT).double())
    net.add_poisson_input("ext", "x", n=N_EXT, rate=RATE_EXT / 1000.0, weight=W_EXT)
    rule = sf.plasticity.RewardModulatedSTDP(
        tau_plus=TAU_STDP,
        tau_minus=TAU_STDP,
        a_plus=A_PLUS,
        a_minus=A_MINUS,
        tau_c=TAU_C,
        tau_d=TAU_D,
        lr=LR,
        w_min=0.0,
        w_max=W_MAX,
        dt=DT,
    )
    proj = net.connect(
        "x",
        "x",
        p=0.02,
        weight=sf.circuits.Uniform(0.0, W_MAX),
        storage="sparse",
        plasticity=rule,
        modulator=RELEASE,
    )
    return net, proj, net.record_spikes("x")


def build_brian2(b2: Any, n: int, proj: Any) -> tuple[Any, Any, Any]:
    ms, Hz = b2.ms, b2.Hz
    b2.prefs.codegen.target = "cython"
    b2.prefs.core.default_float_dtype = np.float64
    b2.defaultclock.dt = DT * ms
    grp = b2.NeuronGroup(
        n,
        """dv/dt = -v / tau : 1
        dd/dt = -d / tau_d : 1""",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        namespace={"tau": TAU_MEM * ms, "tau_d": TAU_D * ms, "release": RELEASE},
    )
    grp.run_regularly("d += release")
    ext = b2.PoissonInput(grp, "v", N=N_EXT, rate=RATE_EXT * Hz, weight=W_EXT)
    syn = b2.Synapses(
        grp,
        grp,
        """w : 1
        dc/dt = -c / tau_c : 1 (clock-driven)
        dapre/dt = -apre / taus : 1 (event-driven)
        dapost/dt = -apost / taus : 1 (event-driven)""",
        on_pre="""v_post += w
        c -= apost
        apre += Apre""",
        on_post="""c += apre
        apost += Apost""",
        method="exact",
        namespace={
            "taus": TAU_STDP * ms,
            "tau_c": TAU_C * ms,
            "Apre": A_PLUS,
            "Apost": A_MINUS,
            "lr_dt": LR * DT,
            "wmax": W_MAX,
        },
    )
    syn.run_regularly("w = clip(w + lr_dt * c * d_post, 0, wmax)")
    syn.connect(i=proj.pre_indices.numpy(), j=proj.post_indices.numpy())
    syn.w = proj.weights().double().numpy()
    mon = b2.SpikeMonitor(grp)
    return b2.Network(grp, ext, syn, mon), syn, mon


def run(n: int, repeats: int, duration: float, skip: set[str]) -> dict[str, Any]:
    engines: dict[str, Any] = {}
    out: dict[str, Any] = {"n": n, "compile": {}, "times": {}, "rate": {}, "w_mean": {}}
    for key, compiled in (("spikeforge", True), ("torch", False)):
        if key in skip:
            continue
        net, proj, mon = build_spikeforge(n, compiled)
        t0 = time.perf_counter()
        net.run(WARMUP_MS, progress=False)
        out["compile"][key] = time.perf_counter() - t0
        out["synapses"] = proj.n_synapses

        def step(net: Any = net) -> None:
            net.run(duration, progress=False)

        engines[key] = (step, lambda mon=mon: len(mon.t), lambda proj=proj: float(proj.weights().mean()))
    if "cython" not in skip:
        import brian2 as b2

        b2.start_scope()
        _, proj, _ = build_spikeforge(n, True)  # the same synapses and initial weights
        network, syn, b2_mon = build_brian2(b2, n, proj)
        t0 = time.perf_counter()
        network.run(WARMUP_MS * b2.ms)
        out["compile"]["brian2 cython"] = time.perf_counter() - t0

        def b2_step() -> None:
            network.run(duration * b2.ms)

        engines["brian2 cython"] = (b2_step, lambda: len(b2_mon.t), lambda: float(np.mean(syn.w[:])))
    names = list(engines)
    for key in names:
        out["times"][key] = []
    for r in range(repeats):
        for key in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            engines[key][0]()
            out["times"][key].append((time.perf_counter() - t0) * 1000.0 / duration)
    total_s = (WARMUP_MS + repeats * duration) / 1000.0
    for key in names:
        out["rate"][key] = engines[key][1]() / n / total_s
        out["w_mean"][key] = engines[key][2]()
    return out


def _cell(t: list[float]) -> str:
    return f"{statistics.median(t):7.3f} ({min(t):6.3f})" if t else f"{'-':>16s}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", default="2000", help="network sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--duration", type=float, default=100.0, help="ms simulated per round (default 100)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip", default="", help="comma-separated: torch,cython")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    skip = {s for s in args.skip.split(",") if s}
    print(
        f"reward-modulated STDP network, dt {DT} ms, float64, {args.threads} thread(s), {args.repeats} "
        f"interleaved rounds of {args.duration:g} ms; seconds of wall time per simulated second, "
        f"median (min); ratio = peer / spikeforge kernel"
    )
    print(
        f"{'n':>6s} {'synapses':>9s} {'spikeforge':>16s} {'torch path':>16s} {'ratio':>6s} "
        f"{'brian2 cython':>16s} {'ratio':>6s}  compile s (sf / torch / cython); check"
    )
    for n in (int(s) for s in args.sizes.split(",") if s):
        res = run(n, args.repeats, args.duration, skip)
        t = res["times"]
        base = statistics.median(t["spikeforge"]) if t.get("spikeforge") else float("nan")

        def ratio(key: str, t: dict[str, list[float]] = t, base: float = base) -> float:
            return statistics.median(t[key]) / base if t.get(key) else float("nan")

        comp, rate, wm = res["compile"], res["rate"], res["w_mean"]
        keys = ("spikeforge", "torch", "brian2 cython")
        print(
            f"{n:6d} {res['synapses']:9d} {_cell(t.get('spikeforge', []))} {_cell(t.get('torch', []))} "
            f"{ratio('torch'):6.2f} {_cell(t.get('brian2 cython', []))} {ratio('brian2 cython'):6.2f}  "
            + " / ".join(f"{comp.get(k, float('nan')):.2f}" for k in keys)
            + "; rate "
            + " / ".join(f"{rate.get(k, float('nan')):.1f}" for k in keys)
            + " Hz, mean w "
            + " / ".join(f"{wm.get(k, float('nan')):.5f}" for k in keys),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
