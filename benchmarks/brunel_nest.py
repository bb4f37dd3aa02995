"""Brunel (2000) AI network at full size, 1 s: spikeforge against NEST 3.10, build and run, in one
process.

The network is :func:`spikeforge.circuits.builders.brunel` (``"AI"``: g = 5, eta = 2): 10,000
excitatory and 2,500 inhibitory LIF neurons (tau = 20 ms, theta = 20 mV, V_r = 10 mV, t_ref = 2
ms, delta synapses, J = 0.1 mV, delay 1.5 ms, dt = 0.1 ms), fixed in-degrees C_E = 1000 and
C_I = 250 (no autapses, no multapses: 15.6 million synapses), the external drive a Poisson count
per neuron and step (``external="input"``), membranes starting uniform in [0, 20) mV.

NEST gets the same model, written as its ``brunel_delta_nest.py`` example: ``iaf_psc_delta``
(C_m = 1 pF so that weights are jumps in mV, E_L = 0), one ``poisson_generator`` of rate
``C_E eta nu_thr`` connected to every neuron (an independent train per target) with weight J and
delay 1.5 ms, ``fixed_indegree`` connections with ``allow_autapses=False`` and
``allow_multapses=False`` (as spikeforge's), ``V_m`` uniform in [0, 20) mV, resolution 0.1 ms,
``local_num_threads`` threads (2 by default). Both record the spikes of every excitatory neuron.

Timed phases, per implementation:

* **build**: creating the neurons and all connections (spikeforge: ``builders.brunel``; NEST:
  ``ResetKernel``, kernel settings, ``Create`` and ``Connect``);
* **prepare**: what the first simulation call does once before stepping (NEST: ``nest.Prepare()``,
  which sorts the connections into its run-time layout; spikeforge: a run of one step, which packs
  the state and concatenates the projections' CSR for the compiled kernel);
* **run**: 1 s of simulated time (NEST: ``nest.Run(1000)``; spikeforge: ``Network.run(1000)``).

The rounds are interleaved (each builds and runs spikeforge, then NEST, starting with a different
one each round) so that load from other work hits both alike; the table gives the medians and
minima of ``--repeats`` rounds and the ratio NEST / spikeforge of the medians (above 1: spikeforge
is faster). Before the rounds, a small network is built and run once to load the compiled kernels:
this one-off cost of a new process is printed apart. The check columns give the mean rate and ISI
CV of the excitatory neurons (they agree: about 37-38 Hz and 0.35-0.40 at full size).

Run it::

    .venv/bin/python benchmarks/brunel_nest.py                  # full size, 3 rounds
    .venv/bin/python benchmarks/brunel_nest.py --scale 0.25 --repeats 5 --threads 2
    .venv/bin/python benchmarks/brunel_nest.py --json out/brunel_nest.json

NEST is an optional, test-time extra (GPL-2): ``pip install 'spikeforge[nest]'``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from spikeforge.circuits import builders

DURATION_MS = 1000.0
DT = 0.1
TAU, THETA, V_RESET, T_REF, DELAY = 20.0, 20.0, 10.0, 2.0, 1.5


def brunel_sizes(scale: float, epsilon: float = 0.1) -> tuple[int, int, int, int, float]:
    """``(N_E, N_I, C_E, C_I, J)`` as :func:`spikeforge.circuits.builders.brunel` computes them."""
    n_e = int(round(10000 * scale))
    n_i = int(round(n_e / 4))
    c_e, c_i = int(round(epsilon * n_e)), int(round(epsilon * n_i))
    return n_e, n_i, c_e, c_i, 0.1 * 1000.0 / c_e


def build_nest(
    nest: Any, scale: float, seed: int, threads: int, g: float = 5.0, eta: float = 2.0
) -> dict[str, Any]:
    """The Brunel network of :func:`spikeforge.circuits.builders.brunel` in NEST (see the module
    docstring); returns the node collections and the spike recorder of the excitatory neurons."""
    n_e, n_i, c_e, c_i, J = brunel_sizes(scale)
    nu_thr = THETA / (J * c_e * TAU)  # per ms
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus(
        {"resolution": DT, "print_time": False, "local_num_threads": threads, "rng_seed": seed + 1}
    )
    params = {"C_m": 1.0, "tau_m": TAU, "t_ref": T_REF, "E_L": 0.0, "V_reset": V_RESET, "V_th": THETA}
    exc = nest.Create("iaf_psc_delta", n_e, params=params)
    inh = nest.Create("iaf_psc_delta", n_i, params=params)
    for pop in (exc, inh):
        pop.V_m = nest.random.uniform(0.0, THETA)
    noise = nest.Create("poisson_generator", params={"rate": 1000.0 * c_e * eta * nu_thr})
    rec = nest.Create("spike_recorder")
    nest.CopyModel("static_synapse", "excitatory", {"weight": J, "delay": DELAY})
    nest.CopyModel("static_synapse", "inhibitory", {"weight": -g * J, "delay": DELAY})
    nest.Connect(noise, exc + inh, syn_spec="excitatory")
    nest.Connect(exc, rec)
    rule = {"allow_autapses": False, "allow_multapses": False}
    nest.Connect(exc, exc + inh, {"rule": "fixed_indegree", "indegree": c_e, **rule}, "excitatory")
    nest.Connect(inh, exc + inh, {"rule": "fixed_indegree", "indegree": c_i, **rule}, "inhibitory")
    return {"exc": exc, "rec": rec, "n_e": n_e}


def nest_spikes(nest: Any, net: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (ms) and excitatory neuron indices (from 0) recorded by NEST."""
    ev = net["rec"].get("events")
    first = int(net["exc"][0].global_id)
    return np.asarray(ev["times"], float), np.asarray(ev["senders"], np.int64) - first


def rate_cv(t: np.ndarray, i: np.ndarray, n: int, t0: float, t1: float) -> tuple[float, float]:
    """Mean rate (Hz) and mean ISI CV (neurons with >= 3 spikes) of ``n`` neurons in [t0, t1)."""
    sel = (t >= t0) & (t < t1)
    t, i = t[sel], i[sel]
    rate = t.size / n / ((t1 - t0) / 1000.0)
    order = np.lexsort((t, i))
    t, i = t[order], i[order]
    bounds = np.searchsorted(i, np.arange(n + 1))
    cvs = []
    for k in range(n):
        tk = t[bounds[k] : bounds[k + 1]]
        if tk.size >= 3:
            isi = np.diff(tk)
            cvs.append(isi.std() / isi.mean())
    return rate, float(np.mean(cvs)) if cvs else float("nan")


def run_spikeforge(scale: float, seed: int, duration: float = DURATION_MS) -> dict[str, Any]:
    t0 = time.perf_counter()
    net = builders.brunel("AI", scale=scale, seed=seed, compiled=True)
    build = time.perf_counter() - t0
    rec = net.record_spikes("exc")
    t0 = time.perf_counter()
    net.run(DT, progress=False)
    prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    run = time.perf_counter() - t0
    rate, cv = rate_cv(rec.t, rec.i, net.neurons["exc"].n, DT, DT + duration)
    return {"build": build, "prepare": prepare, "run": run, "rate": rate, "cv": cv}


def run_nest(
    nest: Any, scale: float, seed: int, threads: int, duration: float = DURATION_MS
) -> dict[str, Any]:
    t0 = time.perf_counter()
    net = build_nest(nest, scale, seed, threads)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Prepare()
    prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Run(duration)
    run = time.perf_counter() - t0
    nest.Cleanup()
    t, i = nest_spikes(nest, net)
    rate, cv = rate_cv(t, i, net["n_e"], 0.0, duration)
    return {"build": build, "prepare": prepare, "run": run, "rate": rate, "cv": cv}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="network scale (1: 12,500 neurons)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="NEST local_num_threads")
    parser.add_argument("--duration", type=float, default=DURATION_MS, help="simulated ms per run")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    try:
        import nest
    except ImportError:
        print("NEST is not installed (pip install 'spikeforge[nest]'): nothing to compare", file=sys.stderr)
        return 1
    n_e, n_i, c_e, c_i, _ = brunel_sizes(args.scale)
    n_syn = (n_e + n_i) * (c_e + c_i)
    print(
        f"Brunel AI, {n_e + n_i} neurons, {n_syn / 1e6:.2f} M synapses, {args.duration:g} ms; "
        f"NEST {nest.__version__} with {args.threads} threads"
    )
    t0 = time.perf_counter()
    run_spikeforge(0.02, 0, duration=1.0)
    print(
        f"one-off loading of spikeforge's compiled kernels in this process: {time.perf_counter() - t0:.2f} s"
    )
    rows: dict[str, list[dict[str, Any]]] = {"spikeforge": [], "nest": []}
    for r in range(args.repeats):
        order = ["spikeforge", "nest"] if r % 2 == 0 else ["nest", "spikeforge"]
        for name in order:
            if name == "spikeforge":
                res = run_spikeforge(args.scale, seed=r, duration=args.duration)
            else:
                res = run_nest(nest, args.scale, seed=r, threads=args.threads, duration=args.duration)
            rows[name].append(res)
            print(
                f"  round {r} {name:10s} build {res['build']:6.2f} s  prepare {res['prepare']:5.2f} s  "
                f"run {res['run']:6.2f} s  rate {res['rate']:5.2f} Hz  CV {res['cv']:.3f}",
                flush=True,
            )
    med = {
        name: {k: statistics.median(x[k] for x in v) for k in ("build", "prepare", "run", "rate", "cv")}
        for name, v in rows.items()
    }
    mins = {name: {k: min(x[k] for x in v) for k in ("build", "prepare", "run")} for name, v in rows.items()}
    print()
    print(f"{'':12s}{'build s':>16s}{'prepare s':>16s}{'run s':>16s}{'rate Hz':>9s}{'CV':>7s}")
    for name in rows:
        m, lo = med[name], mins[name]
        cells = "".join(f"{m[k]:8.2f} ({lo[k]:5.2f})" for k in ("build", "prepare", "run"))
        print(f"{name:12s}{cells}{m['rate']:9.2f}{m['cv']:7.3f}")
    ratio = {k: med["nest"][k] / med["spikeforge"][k] for k in ("build", "prepare", "run")}
    both = (med["nest"]["build"] + med["nest"]["prepare"]) / (
        med["spikeforge"]["build"] + med["spikeforge"]["prepare"]
    )
    print(
        f"NEST / spikeforge (medians): build {ratio['build']:.2f}x, prepare {ratio['prepare']:.2f}x, "
        f"build + prepare {both:.2f}x, run {ratio['run']:.2f}x"
    )
    print(
        f"targets: build no slower than NEST ({'met' if ratio['build'] >= 1 else 'NOT met'}), "
        f"run at least 1.5x faster than NEST with {args.threads} threads "
        f"({'met' if ratio['run'] >= 1.5 else 'NOT met'})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rounds": rows, "median": med, "ratio": ratio}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
