"""CUBA, 1 s of biological time (10,000 steps of 0.1 ms), spikeforge against Brian2 in one process.

The network is :func:`spikeforge.circuits.builders.cuba`: 80 % excitatory and 20 % inhibitory LIF
neurons with exponential synaptic currents (Brian2's ``examples/CUBA.py``), p = 0.02 at
4000 neurons and a fixed in-degree of 80 (64 excitatory + 16 inhibitory inputs) at larger sizes,
with a spike monitor on every neuron. Brian2 gets exactly the same network: the same connectivity
(spikeforge's synapses handed over with ``Synapses.connect(i=..., j=...)``), the same initial
membranes, ``method='exact'``, float64.

Implementations:

* ``spikeforge f64`` / ``spikeforge f32``: ``Network.run`` on the compiled path (numba kernel), one
  thread, float64 and float32. Its one-off cost (importing numba, loading or compiling the kernel)
  is reported apart as "compile".
* ``spikeforge f64 xK``: the same on K threads (``Network.run(..., threads=K)``, each K of
  ``--kernel-threads`` above 1); the same spikes as on one thread, bit for bit (checked).
* ``brian2 numpy``: Brian2's numpy runtime target.
* ``brian2 cython``: Brian2's Cython runtime target; its one-off compilation is in "compile" (the
  first run of a process may find the code in Brian2's cache).
* ``brian2 standalone``: C++ standalone in a temporary directory. "compile" is code generation and
  compilation; "run s" is the simulation time the binary itself reports (``device._last_run_time``),
  "wall s" the whole ``device.run`` (process start, loading the network, writing the results).
* ``brian2 standalone xK``: the same with ``devices.cpp_standalone.openmp_threads = K`` (Brian2's
  OpenMP device), each K of ``--kernel-threads`` above 1.

Each timed run simulates 1 s on a network that has been built and, for spikeforge and Brian2's
runtime targets, already run for a warm-up of 10 ms (so code generation and JIT loading are not
counted); the runs are interleaved (each round runs every implementation once) and the table shows
the median and the minimum of ``--repeats`` rounds. The standalone binary is compiled once and run
``--repeats`` times. The ratio column is the peer's time
over spikeforge f64's (above 1: spikeforge is faster). The check column reports the mean rate and
ISI CV of the excitatory neurons (they agree, and at 4000 neurons the first 50 ms of spikes are
identical between spikeforge and Brian2).

Each size ends with a line ``threads: 1 -> K: speedup S`` (spikeforge f64, the median of the
per-round ratios: the runs of one round are close in time, so a change of the machine's load
hits both). Threads pay off only where cores are free: a step waits for every part twice, and a
part whose thread the system has taken off its core holds the step up; on a machine loaded by
other work, two threads can be slower than one (measured below).

Measured 2026-12-08 on the 2-core development VM while 7 other developers worked on it (load
average 5 to 12, so these are not scaling figures: re-measure on an idle machine), CUBA f64, TBB
threading layer:

* ``--skip f32,numpy,cython,standalone --kernel-threads 1,2 --repeats 7`` (load 7 to 8): one thread
  0.184 / 0.828 / 3.37 s, two threads 0.290 / 1.045 / 3.19 s at 4000 / 16,000 / 64,000 neurons:
  speedup 0.59 / 0.81 / 0.97 (identical spikes). Each thread got about a third of a core (the
  process's CPU time was 40 % of its wall time), so two threads mostly waited for each other.
* What two free cores can give: two parts on one thread (``NUMBA_NUM_THREADS=1``) against one
  part, CPU time 1.03x at 64,000 neurons and 1.13x at 16,000 (the split, the binary searches of
  the rows and the joined spike lists cost 3 % and 13 % of the work); a parallel region costs about
  3 µs with TBB against about 120 µs of work per step at 64,000 neurons. Two idle cores should
  therefore approach 2 / 1.03 less the regions' cost, about 1.8x at 64,000 (not measured here).
* The one-thread kernel split into parts against the kernel before (main), in one process,
  interleaved, 11 rounds of 300 ms: time ratio 1.06 / 0.96 / 1.11 (medians), 1.10 / 1.04 / 1.02
  (minimum over minimum): within this machine's noise.

``--brunel 0.25,1`` adds a second table: the Brunel (2000) AI network
(:func:`spikeforge.circuits.builders.brunel`), 200 ms, with its external drive as Poisson inputs
(``external="input"``, one Poisson count per neuron and step, the default) against the explicit
Poisson group and projections (``external="group"``), interleaved, build and run times apart.

Run it::

    .venv/bin/python benchmarks/circuits.py                   # all sizes, all implementations
    .venv/bin/python benchmarks/circuits.py --sizes 4000 --repeats 5
    .venv/bin/python benchmarks/circuits.py --skip numpy,standalone --json out/circuits.json
    .venv/bin/python benchmarks/circuits.py --skip f32,numpy,cython,standalone --kernel-threads 1,2
    .venv/bin/python benchmarks/circuits.py --sizes "" --brunel 0.25,1   # only the Brunel table
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

from spikeforge.circuits import builders

WARMUP_MS = 10.0
DURATION_MS = 1000.0


def build(n: int, dtype: torch.dtype) -> Any:
    kw: dict[str, Any] = {"p": 0.02} if n <= 4000 else {"p": None, "in_degree": 80}
    return builders.cuba(n=n, seed=0, dtype=dtype, compiled=True, **kw)


def stats(t: np.ndarray, i: np.ndarray, n: int, duration: float) -> tuple[float, float]:
    """Mean rate (Hz) and mean ISI CV (neurons with >= 3 spikes) of ``n`` neurons."""
    rate = len(t) / n / (duration / 1000.0)
    order = np.lexsort((t, i))
    t, i = t[order], i[order]
    cvs = []
    bounds = np.searchsorted(i, np.arange(n + 1))
    for k in range(n):
        tk = t[bounds[k] : bounds[k + 1]]
        if tk.size >= 3:
            isi = np.diff(tk)
            cvs.append(isi.std() / isi.mean())
    return rate, float(np.mean(cvs)) if cvs else float("nan")


class SpikeforgeRun:
    """spikeforge's CUBA, built and warmed up; ``step()`` times one run of 1 s on ``threads``
    kernel threads."""

    def __init__(self, n: int, dtype: torch.dtype, threads: int = 1) -> None:
        self.threads = threads
        t0 = time.perf_counter()
        self.net = build(n, dtype)
        self.build = time.perf_counter() - t0
        self.rec = self.net.record_spikes("exc")
        t0 = time.perf_counter()
        self.net.run(WARMUP_MS, progress=False, threads=threads)
        self.compile = time.perf_counter() - t0
        self.times: list[float] = []

    def step(self) -> None:
        self.start = self.net.t
        t0 = time.perf_counter()
        self.net.run(DURATION_MS, progress=False, threads=self.threads)
        self.times.append(time.perf_counter() - t0)
        assert self.net.last_run_info["threads"] == self.threads

    def result(self) -> dict[str, Any]:
        sel = self.rec.t >= self.start
        rate, cv = stats(self.rec.t[sel], self.rec.i[sel], self.net.neurons["exc"].n, DURATION_MS)
        return {"compile": self.compile, "times": self.times, "rate": rate, "cv": cv}


def _brian2_network(b2: Any, net: Any) -> tuple[Any, Any, Any]:
    from brian2 import ms, mV

    n_exc = net.neurons["exc"].n
    n = n_exc + net.neurons["inh"].n
    state = {k: net.state(k).v.double().numpy() for k in ("exc", "inh")}
    eqs = """
    dv/dt = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    ns = {
        "taum": 20 * ms,
        "taue": 5 * ms,
        "taui": 10 * ms,
        "Vt": -50 * mV,
        "Vr": -60 * mV,
        "El": -49 * mV,
        "we": (60 * 0.27 / 10) * mV,
        "wi": (-20 * 4.5 / 10) * mV,
    }
    group = b2.NeuronGroup(
        n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns
    )
    group.v = np.concatenate([state["exc"], state["inh"]]) * mV
    off = {"exc": 0, "inh": n_exc}
    pairs: dict[str, list[list[np.ndarray]]] = {"exc": [[], []], "inh": [[], []]}
    for proj in net.projections.values():
        pairs[proj.pre][0].append(proj.pre_indices.numpy() + off[proj.pre])
        pairs[proj.pre][1].append(proj.post_indices.numpy() + off[proj.post])
    ce = b2.Synapses(group, group, on_pre="ge += we", namespace=ns)
    ci = b2.Synapses(group, group, on_pre="gi += wi", namespace=ns)
    ce.connect(i=np.concatenate(pairs["exc"][0]), j=np.concatenate(pairs["exc"][1]))
    ci.connect(i=np.concatenate(pairs["inh"][0]), j=np.concatenate(pairs["inh"][1]))
    mon = b2.SpikeMonitor(group)
    return group, b2.Network(group, ce, ci, mon), mon


class Brian2Runtime:
    """Brian2's CUBA on a runtime target (numpy or cython), built and warmed up."""

    def __init__(self, n: int, target: str) -> None:
        import brian2 as b2
        from brian2 import ms

        self.b2, self.target = b2, target
        self._prefs()
        b2.defaultclock.dt = 0.1 * ms
        self.sf = build(n, torch.float64)
        _, self.network, self.mon = _brian2_network(b2, self.sf)
        t0 = time.perf_counter()
        self.network.run(WARMUP_MS * ms)
        self.compile = time.perf_counter() - t0
        self.times: list[float] = []

    def _prefs(self) -> None:
        self.b2.prefs.codegen.target = self.target
        self.b2.prefs.core.default_float_dtype = np.float64

    def step(self) -> None:
        from brian2 import ms

        self._prefs()
        self.start = float(self.network.t / ms)
        t0 = time.perf_counter()
        self.network.run(DURATION_MS * ms)
        self.times.append(time.perf_counter() - t0)

    def result(self) -> dict[str, Any]:
        from brian2 import ms

        t, i = np.asarray(self.mon.t / ms), np.asarray(self.mon.i)
        n_exc = self.sf.neurons["exc"].n
        sel = (t >= self.start) & (i < n_exc)
        rate, cv = stats(t[sel], i[sel], n_exc, DURATION_MS)
        return {"compile": self.compile, "times": self.times, "rate": rate, "cv": cv}


def run_brian2_standalone(n: int, repeats: int, threads: int = 1) -> dict[str, Any]:
    """Build and compile once (``threads`` OpenMP threads; 1: Brian2's default, no OpenMP), then
    run the binary ``repeats`` times."""
    import brian2 as b2
    from brian2 import ms

    b2.prefs.core.default_float_dtype = np.float64
    b2.prefs.devices.cpp_standalone.openmp_threads = threads if threads > 1 else 0
    sf = build(n, torch.float64)
    times, walls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
        b2.device.reinit()
        b2.device.activate(directory=tmp, build_on_run=False)
        b2.defaultclock.dt = 0.1 * ms
        _, network, mon = _brian2_network(b2, sf)
        network.run(DURATION_MS * ms)
        t0 = time.perf_counter()
        b2.device.build(run=False, directory=tmp)
        compile_s = time.perf_counter() - t0
        for _ in range(repeats):
            t0 = time.perf_counter()
            b2.device.run()
            walls.append(time.perf_counter() - t0)
            times.append(float(b2.device._last_run_time))
        t, i = np.asarray(mon.t / ms), np.asarray(mon.i)
        n_exc = sf.neurons["exc"].n
        sel = i < n_exc
        rate, cv = stats(t[sel], i[sel], n_exc, DURATION_MS)
        b2.set_device("runtime")
        b2.device.reinit()
        b2.device.activate()
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    return {"compile": compile_s, "times": times, "walls": walls, "rate": rate, "cv": cv}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="4000,16000,64000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--numpy-repeats", type=int, default=1, help="repeats for Brian2's slow numpy target")
    parser.add_argument("--skip", default="", help="comma-separated: f32,numpy,cython,standalone")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (not the kernel's)")
    parser.add_argument(
        "--kernel-threads",
        default="1",
        help="comma-separated thread counts of the kernel (and of Brian2 standalone's OpenMP), 1 first",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--brunel", default="", help="comma-separated Brunel scales (external drive table)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    kthreads = [int(k) for k in args.kernel_threads.split(",") if k]
    if not kthreads or kthreads[0] != 1:
        parser.error(f"--kernel-threads must start with 1, got {args.kernel_threads!r}")
    try:
        import brian2  # noqa: F401
    except ImportError:
        print("brian2 is not installed: only spikeforge is timed")
        skip |= {"numpy", "cython", "standalone"}
    rows = []
    for n in (int(s) for s in args.sizes.split(",") if s):
        runners: dict[str, Any] = {"spikeforge f64": SpikeforgeRun(n, torch.float64)}
        for k in kthreads[1:]:
            runners[f"spikeforge f64 x{k}"] = SpikeforgeRun(n, torch.float64, threads=k)
        if "f32" not in skip:
            runners["spikeforge f32"] = SpikeforgeRun(n, torch.float32)
        if "cython" not in skip:
            runners["brian2 cython"] = Brian2Runtime(n, "cython")
        if "numpy" not in skip:
            runners["brian2 numpy"] = Brian2Runtime(n, "numpy")
        # interleaved: every round runs each implementation once, so that load from other work on
        # the machine hits all alike
        for r in range(args.repeats):
            for name, runner in runners.items():
                if name != "brian2 numpy" or r < args.numpy_repeats:
                    runner.step()
        results = {name: runner.result() for name, runner in runners.items()}
        if "standalone" not in skip:
            results["brian2 standalone"] = run_brian2_standalone(n, args.repeats)
            for k in kthreads[1:]:
                results[f"brian2 standalone x{k}"] = run_brian2_standalone(n, args.repeats, threads=k)
        ref = statistics.median(results["spikeforge f64"]["times"])
        for name, r in results.items():
            med = statistics.median(r["times"])
            rows.append(
                {
                    "n": n,
                    "impl": name,
                    "run_s": med,
                    "min_s": min(r["times"]),
                    "compile_s": r["compile"],
                    "wall_s": statistics.median(r["walls"]) if "walls" in r else None,
                    "ratio": med / ref,
                    "rate_hz": r["rate"],
                    "cv": r["cv"],
                    "repeats": len(r["times"]),
                }
            )
        print_table([row for row in rows if row["n"] == n])
        for k in kthreads[1:]:
            one, many = runners["spikeforge f64"], runners[f"spikeforge f64 x{k}"]
            same = np.array_equal(one.rec.t, many.rec.t) and np.array_equal(one.rec.i, many.rec.i)
            speedup = statistics.median(a / b for a, b in zip(one.times, many.times))
            print(
                f"threads: 1 -> {k}: speedup {speedup:.2f} (median of {len(one.times)} interleaved rounds; "
                f"min over min {min(one.times) / min(many.times):.2f}); identical spikes: {same}"
            )
            if not same:
                raise SystemExit(f"{k} threads gave other spikes than one")
            rows.append({"n": n, "threads": k, "speedup": speedup, "identical": same})
        sys.stdout.flush()
    for scale in (float(s) for s in args.brunel.split(",") if s):
        rows.extend(brunel_external(scale, args.repeats))
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def brunel_external(scale: float, repeats: int, duration: float = 200.0) -> list[dict[str, Any]]:
    """Brunel AI at ``scale``: build and run times of both external drives (medians)."""
    builders.brunel("AI", scale=0.02, seed=0).run(WARMUP_MS, progress=False)  # load the kernel
    times: dict[str, list[tuple[float, float, float]]] = {"input": [], "group": []}
    for r in range(repeats):
        for external in times:
            t0 = time.perf_counter()
            net = builders.brunel("AI", scale=scale, seed=r, external=external)  # type: ignore[arg-type]
            rec = net.record_spikes("exc")
            t1 = time.perf_counter()
            net.run(duration, progress=False)
            t2 = time.perf_counter()
            times[external].append((t1 - t0, t2 - t1, rec.t.size / net.neurons["exc"].n / duration * 1e3))
    rows = []
    print(f"Brunel AI, scale {scale:g}, {duration:g} ms, medians of {repeats}")
    print(f"{'external':<8} {'build s':>8} {'run s':>8} {'run x input':>11} {'rate Hz':>8}")
    ref = statistics.median(t[1] for t in times["input"])
    for external, ts in times.items():
        build, run, rate = (statistics.median(t[q] for t in ts) for q in range(3))
        print(f"{external:<8} {build:8.3f} {run:8.3f} {run / ref:11.2f} {rate:8.2f}")
        rows.append(
            {"brunel_scale": scale, "external": external, "build_s": build, "run_s": run, "rate_hz": rate}
        )
    print()
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'n':>6}  {'implementation':<18} {'run s':>8} {'min s':>8} {'x sf f64':>9} {'compile s':>9} "
        f"{'wall s':>7}  {'rate Hz':>7} {'ISI CV':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        wall = f"{r['wall_s']:7.3f}" if r["wall_s"] is not None else "      -"
        print(
            f"{r['n']:>6}  {r['impl']:<18} {r['run_s']:8.3f} {r['min_s']:8.3f} {r['ratio']:9.2f} "
            f"{r['compile_s']:9.2f} {wall}  {r['rate_hz']:7.2f} {r['cv']:6.3f}"
        )
    print()


if __name__ == "__main__":
    sys.exit(main())
