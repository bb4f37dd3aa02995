"""STDP in a recurrent sparse network, spikeforge against Brian2 (Cython and C++ standalone), in one
process.

The network: ``n`` LIF neurons (tau 10 ms, threshold 1, reset 0, no refractory period), each
driven by 1000 Poisson inputs at 20 Hz of weight 0.0048 (``add_poisson_input``; Brian2's
``PoissonInput``; the mean drive is just below threshold, so the neurons fire irregularly at a
few to tens of Hz), and a recurrent projection with p = 0.02, delta synapses onto ``v`` with
delay 0, weights uniform in [0, 0.01], learning by pair STDP (additive, tau 20 ms, A+ = 1e-4,
A- = 1.05e-4, bounds [0, 0.01]; Brian2's ``examples/synapses/STDP.py`` pathways, on_pre before
on_post). Brian2 gets the same synapses and initial weights (``Synapses.connect(i=..., j=...)``).
dt = 0.1 ms, float64.

spikeforge runs STDP during ``Network.run`` through ``connect(..., plasticity=STDP(...))``: on the
compiled path (numba kernel, one thread; ``--torch`` forces the PyTorch path), the rule evaluated
only at the synapses of the neurons that spiked (event-driven, as Brian2's ``on_pre``/``on_post``).
Its one-off cost (loading or compiling the kernel) is the first warm-up run, reported as
"compile".

Brian2 runs twice:

* ``brian2 cython``: its Cython runtime target, built and warmed up for 10 ms (code generation
  and compilation not counted); then ``--repeats`` rounds of ``--duration`` ms, interleaved with
  spikeforge's.
* ``brian2 standalone``: C++ standalone in a temporary directory, ``--duration`` ms from t = 0.
  "compile" is code generation and the C++ build (reported apart); the run time is the simulation
  time the binary itself reports (``device._last_run_time``), and the binary runs ``--repeats``
  times, interleaved with further spikeforge rounds. Each run of the binary simulates the first
  ``--duration`` ms from the initial weights, while spikeforge's rounds continue the same network
  (by default), whose rate and weights grow under STDP (more spikes, more work per simulated
  second); with ``--same-window`` the spikeforge rounds beside the binary restart from the
  initial state (``load_state_dict`` of the network before its first run, outside the timing), so
  both simulate the same window, and the check columns compare the same window.

The table shows the median and minimum wall time per simulated second of each, the ratios
(Brian2 / spikeforge, each against the spikeforge rounds interleaved with it: above 1, spikeforge
is faster), and as a check the mean rate and the mean weight at the end.

Run::

    .venv/bin/python benchmarks/stdp_network.py                 # 2000 and 10,000 neurons
    .venv/bin/python benchmarks/stdp_network.py --sizes 2000 --repeats 5
    .venv/bin/python benchmarks/stdp_network.py --skip standalone
    .venv/bin/python benchmarks/stdp_network.py --skip cython --same-window
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
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


def build_spikeforge(
    n: int, compiled: bool | None = None
) -> tuple[sf.circuits.Network, sf.circuits.Projection, sf.circuits.SpikeMonitor]:
    net = sf.circuits.Network(dt=DT, seed=0, dtype=torch.float64, compiled=compiled)
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


def build_brian2(
    b2: Any, n: int, proj: sf.circuits.Projection, target: str = "cython"
) -> tuple[Any, Any, Any]:
    ms, Hz = b2.ms, b2.Hz
    if target == "cython":
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


def run(
    n: int, repeats: int, duration: float, skip: set[str], compiled: bool | None, same_window: bool = False
) -> dict[str, Any]:
    import brian2 as b2

    net, proj, mon = build_spikeforge(n, compiled)
    w0 = proj.weights().double().numpy().copy()
    start = copy.deepcopy(net.state_dict())  # t = 0, no records
    t0 = time.perf_counter()
    net.run(WARMUP_MS, progress=False)
    compile_sf = time.perf_counter() - t0
    times: dict[str, list[float]] = {"spikeforge": [], "spikeforge/cython": [], "spikeforge/standalone": []}
    out: dict[str, Any] = {"n": n, "synapses": proj.n_synapses, "times": times, "compile": {}, "rate": {}}
    out["compile"]["spikeforge"] = compile_sf
    out["path"] = net.last_run_info["path"]
    sf_ms = WARMUP_MS

    def sf_round(key: str, restart: bool = False) -> None:
        """``duration`` ms more (``restart``: from the initial state, its time not counted)."""
        nonlocal sf_ms
        if restart:
            net.load_state_dict(start)
            sf_ms = 0.0
        t0 = time.perf_counter()
        net.run(duration, progress=False)
        times[key].append((time.perf_counter() - t0) * 1000.0 / duration)
        sf_ms += duration

    if "cython" not in skip:
        b2.start_scope()
        network, syn, b2_mon = build_brian2(b2, n, proj)
        t0 = time.perf_counter()
        network.run(WARMUP_MS * b2.ms)
        out["compile"]["brian2 cython"] = time.perf_counter() - t0
        times["brian2 cython"] = []
        for r in range(repeats):
            for name in ("spikeforge", "brian2") if r % 2 == 0 else ("brian2", "spikeforge"):
                if name == "spikeforge":
                    sf_round("spikeforge/cython")
                else:
                    t0 = time.perf_counter()
                    network.run(duration * b2.ms)
                    times["brian2 cython"].append((time.perf_counter() - t0) * 1000.0 / duration)
        total_ms = WARMUP_MS + repeats * duration
        out["rate"]["brian2 cython"] = len(b2_mon.t) / n / (total_ms / 1000.0)
        out["w_mean_cython"] = float(np.mean(syn.w[:]))
    if "standalone" not in skip:
        out.update(
            run_standalone(
                b2, n, proj, w0, repeats, duration, lambda: sf_round("spikeforge/standalone", same_window)
            )
        )
    times["spikeforge"] = times["spikeforge/cython"] + times["spikeforge/standalone"]
    if not times["spikeforge"]:
        for _ in range(repeats):
            sf_round("spikeforge")
    out["rate"]["spikeforge"] = mon.t.size / n / (sf_ms / 1000.0)
    out["w_mean"] = float(proj.weights().mean())
    return out


def run_standalone(
    b2: Any,
    n: int,
    proj: sf.circuits.Projection,
    w0: np.ndarray,
    repeats: int,
    duration: float,
    sf_round: Any,
) -> dict[str, Any]:
    """Build and compile once, then run the binary ``repeats`` times, each after a spikeforge round."""
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
        b2.device.reinit()
        b2.device.activate(directory=tmp, build_on_run=False)
        b2.defaultclock.dt = DT * b2.ms
        network, syn, mon = build_brian2(b2, n, proj, target="standalone")
        syn.w = w0
        network.run(duration * b2.ms)
        t0 = time.perf_counter()
        b2.device.build(run=False, directory=tmp)
        compile_s = time.perf_counter() - t0
        for _ in range(repeats):
            sf_round()
            b2.device.run()
            times.append(float(b2.device._last_run_time) * 1000.0 / duration)
        rate = len(mon.t) / n / (duration / 1000.0)
        w_mean = float(np.mean(syn.w[:]))
        b2.set_device("runtime")
        b2.device.reinit()
        b2.device.activate()
    return {
        "standalone": {"compile": compile_s, "times": times, "rate": rate, "w_mean": w_mean},
    }


def _cell(t: list[float]) -> str:
    return f"{statistics.median(t):7.3f} ({min(t):6.3f})" if t else f"{'-':>16s}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", default="2000,10000", help="network sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=200.0, help="ms simulated per round (default 200)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip", default="", help="comma-separated: cython,standalone")
    p.add_argument("--torch", action="store_true", help="run spikeforge on the PyTorch path")
    p.add_argument(
        "--same-window",
        action="store_true",
        help="spikeforge's rounds beside the standalone binary simulate its window (restart from t = 0)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    skip = {s for s in args.skip.split(",") if s}
    print(
        f"STDP network, dt {DT} ms, float64, {args.threads} thread(s), {args.repeats} interleaved rounds of "
        f"{args.duration:g} ms; seconds of wall time per simulated second, median (min); ratio = Brian2 / "
        f"spikeforge (each against the spikeforge rounds run beside it)"
    )
    print(
        f"{'n':>6s} {'synapses':>9s} {'path':>8s} {'spikeforge':>16s} {'brian2 cython':>16s} {'ratio':>6s} "
        f"{'b2 standalone':>16s} {'ratio':>6s}  compile s (sf / cython / standalone); check"
    )
    for n in (int(s) for s in args.sizes.split(",") if s):
        res = run(n, args.repeats, args.duration, skip, False if args.torch else None, args.same_window)
        t = res["times"]
        sa = res.get("standalone")
        r_cy = (
            statistics.median(t["brian2 cython"]) / statistics.median(t["spikeforge/cython"])
            if "brian2 cython" in t
            else float("nan")
        )
        r_sa = (
            statistics.median(sa["times"]) / statistics.median(t["spikeforge/standalone"])
            if sa
            else float("nan")
        )
        comp = res["compile"]
        rates = res["rate"]
        print(
            f"{n:6d} {res['synapses']:9d} {res['path']:>8s} {_cell(t['spikeforge'])} "
            f"{_cell(t.get('brian2 cython', []))} {r_cy:6.2f} "
            f"{_cell(sa['times'] if sa else [])} {r_sa:6.2f}  "
            f"{comp['spikeforge']:.2f} / {comp.get('brian2 cython', float('nan')):.2f} / "
            f"{sa['compile'] if sa else float('nan'):.2f}; "
            f"rate {rates['spikeforge']:.1f} / {rates.get('brian2 cython', float('nan')):.1f} / "
            f"{sa['rate'] if sa else float('nan'):.1f} Hz, mean w {res['w_mean']:.5f} / "
            f"{res.get('w_mean_cython', float('nan')):.5f} / {sa['w_mean'] if sa else float('nan'):.5f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
