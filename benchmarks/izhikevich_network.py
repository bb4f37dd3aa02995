"""Izhikevich networks on spikeforge's compiled kernel against Brian2's Cython target, in one process.

Two networks, each given to Brian2 with exactly spikeforge's neurons, synapses and weights
(``Synapses.connect(i=..., j=...)``), float64, one thread:

* ``izhikevich2003``: :func:`spikeforge.circuits.builders.izhikevich2003`, the published network
  (800 excitatory and 200 inhibitory heterogeneous Izhikevich neurons, all-to-all, one million
  synapses, dt = 1 ms, v in two 0.5 ms half-steps then u, thalamic noise ``5 N(0, 1)`` and
  ``2 N(0, 1)`` per neuron and step, the spikes of a step adding their weights to the current of
  the next). Brian2 runs the published loop as abstract code (``run_regularly``: the model has no
  differential equations), its noise from ``randn()``.
* ``reservoir``: :func:`spikeforge.circuits.builders.reservoir` (1000 Izhikevich neurons, Euler,
  dt = 0.5 ms, p = 0.1 recurrence as one-step current pulses, 50 Poisson inputs at
  ``--input-rate`` Hz with p = 0.2, 10 LIF readout neurons with exponential synaptic currents);
  Brian2: the same Euler step as abstract code, a ``PoissonGroup``, the LIF readout with
  ``method='exact'``. The readout weights are learnable, so spikeforge runs it under
  ``torch.no_grad()`` (the compiled path runs without gradients).

Both simulators draw their own noise (the same distributions), so their spikes differ but their
rates agree (the check column; ``tests/reference/test_izhikevich2003_network_brian2.py`` shows that
with the same random drive the spikes are identical). Each is built and warmed up for 20 ms
(spikeforge's first run in the process loads or compiles the numba kernel, Brian2's compiles its
Cython code: both reported apart as "first run"), then ``--repeats`` interleaved rounds simulate
``--duration`` ms each. The table shows seconds of wall time per simulated second, median (min),
and the ratio Brian2 / spikeforge (above 1: spikeforge is faster). Brian2's time includes the
preparation it does at each ``run`` call (about 0.1 to 0.3 s here); the objects built before timing
are frozen (``gc.freeze()``), so that the ``gc.collect()`` Brian2 runs at each call does not walk
them (it took over a second per call with both networks in the process).

Run::

    .venv/bin/python benchmarks/izhikevich_network.py
    .venv/bin/python benchmarks/izhikevich_network.py --networks izhikevich2003 --repeats 7
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from spikeforge.circuits import Network, builders

WARMUP_MS = 20.0


def _synapses(
    b2: Any, net: Network, names: Sequence[str], pre: Any, post: Any, on_pre: str, offsets: dict
) -> Any:
    """One Brian2 ``Synapses`` with the synapses and weights of spikeforge's projections ``names``
    (``pre->post`` with the populations' offsets in the merged Brian2 groups)."""
    ii, jj, ww = [], [], []
    for name in names:
        proj = net.projections[name]
        ii.append(proj.pre_indices.numpy() + offsets[proj.pre])
        jj.append(proj.post_indices.numpy() + offsets[proj.post])
        ww.append(proj.weights().double().numpy())
    syn = b2.Synapses(pre, post, "w : 1", on_pre=on_pre)
    syn.connect(i=np.concatenate(ii), j=np.concatenate(jj))
    syn.w = np.concatenate(ww)
    return syn


def _izhikevich_params(net: Network, pops: Sequence[str]) -> list[np.ndarray]:
    return [torch.cat([net.neurons[p].params()[k] for p in pops]).double().numpy() for k in range(4)]


def izhikevich2003(b2: Any) -> tuple[Network, Any, Callable[[], tuple[int, int]]]:
    net = builders.izhikevich2003(seed=0, dtype=torch.float64)
    monitors = [net.record_spikes(p) for p in ("exc", "inh")]
    n_e, n_i = net.neurons["exc"].n, net.neurons["inh"].n
    b2.defaultclock.dt = 1.0 * b2.ms
    group = b2.NeuronGroup(
        n_e + n_i,
        """
        v : 1
        u : 1
        a : 1 (constant)
        b : 1 (constant)
        c : 1 (constant)
        d : 1 (constant)
        sigma : 1 (constant)
        i_syn : 1
        """,
        threshold="v >= 30",
        reset="v = c; u = u + d",
    )
    group.run_regularly(
        """
        x = sigma * randn() + i_syn
        v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + x)
        v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + x)
        u = u + a * (b * v - u)
        i_syn = 0
        """,
        when="groups",
    )
    group.a, group.b, group.c, group.d = _izhikevich_params(net, ("exc", "inh"))
    group.sigma = np.r_[np.full(n_e, 5.0), np.full(n_i, 2.0)]
    group.v = -65.0
    group.u = "b * v"
    offsets = {"exc": 0, "inh": n_e}
    syn = _synapses(b2, net, list(net.projections.keys()), group, group, "i_syn_post += w", offsets)
    mon = b2.SpikeMonitor(group)
    network = b2.Network(group, syn, mon)
    return net, network, lambda: (sum(m.num_spikes for m in monitors), len(mon.t))


def reservoir(b2: Any, input_rate: float) -> tuple[Network, Any, Callable[[], tuple[int, int]]]:
    dt = 0.5
    net = builders.reservoir(seed=0, input_rate=input_rate / 1000.0, dt=dt, dtype=torch.float64)
    monitors = [net.record_spikes(p) for p in ("exc", "inh")]
    n_e, n_i = net.neurons["exc"].n, net.neurons["inh"].n
    b2.defaultclock.dt = dt * b2.ms
    group = b2.NeuronGroup(
        n_e + n_i,
        """
        v : 1
        u : 1
        a : 1 (constant)
        b : 1 (constant)
        c : 1 (constant)
        d : 1 (constant)
        i_syn : 1
        """,
        threshold="v >= 30",
        reset="v = c; u = u + d",
        namespace={"dt_": dt},
    )
    group.run_regularly(
        """
        v_new = v + dt_ * (0.04 * v * v + 5 * v + 140 - u + i_syn)
        u = u + dt_ * (a * (b * v - u))
        v = v_new
        i_syn = 0
        """,
        when="groups",
    )
    group.a, group.b, group.c, group.d = _izhikevich_params(net, ("exc", "inh"))
    group.v = -65.0
    group.u = "b * v"
    n_in = net._groups["input"].n
    inputs = b2.PoissonGroup(n_in, rates=input_rate * b2.Hz)
    ro = net.neurons["readout"]
    readout = b2.NeuronGroup(
        ro.n,
        "dv/dt = (g - v) / (20 * ms) : 1\ndg/dt = -g / (5 * ms) : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
    )
    offsets = {"exc": 0, "inh": n_e, "input": 0, "readout": 0}
    rec = ["exc->exc", "exc->inh", "inh->exc", "inh->inh"]
    syns = [
        _synapses(b2, net, rec, group, group, "i_syn_post += w", offsets),
        _synapses(b2, net, ["input->exc", "input->inh"], inputs, group, "i_syn_post += w", offsets),
    ]
    with torch.no_grad():
        syns.append(_synapses(b2, net, ["exc->readout"], group, readout, "g_post += w", offsets))
    mon = b2.SpikeMonitor(group)
    network = b2.Network(group, inputs, readout, *syns, mon)
    return net, network, lambda: (sum(m.num_spikes for m in monitors), len(mon.t))


def run(name: str, repeats: int, duration: float, input_rate: float) -> dict[str, Any]:
    import brian2 as b2

    b2.prefs.codegen.target = "cython"
    b2.prefs.core.default_float_dtype = np.float64
    b2.start_scope()
    if name == "izhikevich2003":
        net, network, spikes = izhikevich2003(b2)
    else:
        net, network, spikes = reservoir(b2, input_rate)
    n = sum(net.neurons[p].n for p in net.population_names)
    n_syn = sum(p.n_synapses for p in net.projections.values())
    first: dict[str, float] = {}
    gc.freeze()  # Brian2 calls gc.collect() at each run: do not let it walk both networks' objects
    with torch.no_grad():
        t0 = time.perf_counter()
        net.run(WARMUP_MS, progress=False)
        first["spikeforge"] = time.perf_counter() - t0
        assert net.last_run_info["path"] == "compiled", net.last_run_info["why_not_compiled"]
        t0 = time.perf_counter()
        network.run(WARMUP_MS * b2.ms)
        first["brian2"] = time.perf_counter() - t0
        times: dict[str, list[float]] = {"spikeforge": [], "brian2": []}
        for r in range(repeats):
            for who in ("spikeforge", "brian2") if r % 2 == 0 else ("brian2", "spikeforge"):
                t0 = time.perf_counter()
                if who == "spikeforge":
                    net.run(duration, progress=False)
                else:
                    network.run(duration * b2.ms)
                times[who].append((time.perf_counter() - t0) * 1000.0 / duration)
    total_s = (WARMUP_MS + repeats * duration) / 1000.0
    n_sf, n_b2 = spikes()
    n_rec = n - (net.neurons["readout"].n if "readout" in net.neurons else 0)
    return {
        "name": name,
        "n": n,
        "synapses": n_syn,
        "times": times,
        "first": first,
        "rate": (n_sf / n_rec / total_s, n_b2 / n_rec / total_s),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--networks", default="izhikevich2003,reservoir", help="comma-separated")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--duration", type=float, default=1000.0, help="ms simulated per round (default 1000)")
    p.add_argument("--input-rate", type=float, default=20.0, help="reservoir input rate in Hz (default 20)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"Izhikevich networks, float64, 1 thread, {args.repeats} interleaved rounds of {args.duration:g} ms; "
        f"seconds of wall time per simulated second, median (min); first run ({WARMUP_MS:g} ms) apart"
    )
    print(
        f"{'network':>15s} {'neurons':>7s} {'synapses':>9s} {'spikeforge':>15s} {'brian2 cython':>15s} "
        f"{'ratio':>6s}  first run sf / b2 s, rate sf / b2 Hz"
    )
    for name in (s for s in args.networks.split(",") if s):
        res = run(name, args.repeats, args.duration, args.input_rate)
        sf_t, b2_t = res["times"]["spikeforge"], res["times"]["brian2"]
        ms, mb = statistics.median(sf_t), statistics.median(b2_t)
        print(
            f"{name:>15s} {res['n']:7d} {res['synapses']:9d} {ms:7.3f} ({min(sf_t):5.3f}) "
            f"{mb:7.3f} ({min(b2_t):5.3f}) {mb / ms:6.1f}  {res['first']['spikeforge']:.2f} / "
            f"{res['first']['brian2']:.2f}, {res['rate'][0]:.1f} / {res['rate'][1]:.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
