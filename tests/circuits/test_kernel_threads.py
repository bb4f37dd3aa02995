"""The compiled kernel gives the same spikes and states, bit for bit, on any number of threads
(``Network.run(..., threads=n)``, :mod:`spikeforge.circuits._kernel_threads`).

Each part steps a contiguous range of every population and adds the spikes of every channel into
the targets of that range only, in the one order of a serial run (channel, source, synapse), so no
two threads write the same number and every sum keeps its order. The networks below use weights
that are not dyadic (their sums depend on the order) and populations that split into several
blocks of the kernel in each part (and parts that start at odd neurons, where the counter-based
normals and uniforms come in pairs), with every synapse kind, direct channels (delay 0), shared
and per-synapse delays, jumps of v onto held neurons, every input kind (Poisson groups, spike
sources, currents, Gaussian currents drawn in the kernel, Poisson inputs drawn in the kernel and
given as values), state monitors (which deliver the rings in parallel before sampling), batched
copies, split runs, learning (STDP and the compiled rules), stochastic neurons
(``ProbabilisticNeuron``) and float32. Three parts run on the two threads of the test machine too
(numba runs the parts in turns).

A run on one thread never loads numba's threading layer, and a threaded run does not use OpenMP,
so that NEST (which bundles its own libgomp) still works afterwards in the same process: both
are checked in fresh processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import (
    AlphaConductance,
    AlphaSynapse,
    DeltaSynapse,
    ExpConductance,
    ExpSynapse,
    Network,
    Normal,
    Uniform,
)
from spikeforge.circuits.builders import GaussianCurrent
from spikeforge.errors import ParameterError

pytest.importorskip("numba")

from spikeforge.circuits import _kernel  # noqa: E402  (needs numba)

ROOT = Path(__file__).parents[2]
BIG = 2 * _kernel._BLOCK + 37  # each of two parts steps more than one block; 3 parts start at odd j
F64, F32 = torch.float64, torch.float32


def lif_exc(n: int, dtype: torch.dtype) -> sf.neurons.LIF:
    return sf.neurons.LIF(
        n, tau_mem=20.0, tau_syn=5.0, v_leak=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=2.35, dt=0.1
    ).to(dtype)


def lif_inh(n: int, dtype: torch.dtype) -> sf.neurons.LIF:
    tau = torch.linspace(8.0, 14.0, n, dtype=dtype)  # per neuron: the kernel's array path
    return sf.neurons.LIF(n, tau_mem=tau, tau_syn=None, v_th=1.0, reset="subtract", dt=0.1).to(dtype)


MODELS: dict[str, tuple[Callable[[int, torch.dtype], Any], dict, float]] = {
    # name: (factory, init, drive)
    "alif": (
        lambda n, dt: sf.neurons.ALIF(
            n, tau_mem=10.0, tau_syn=4.0, tau_adapt=60.0, beta=0.3, t_ref=0.25, dt=0.1
        ).to(dt),
        {"v": Uniform(0.0, 0.8)},
        0.03,
    ),
    "izhikevich": (
        lambda n, dt: sf.neurons.Izhikevich(
            n, "RS", a=torch.linspace(0.02, 0.1, n, dtype=dt), dt=0.1, integrator="izhikevich2003"
        ).to(dt),
        {"v": Uniform(-70.0, -60.0)},
        6.0,
    ),
    "if": (lambda n, dt: sf.neurons.IF(n, v_th=1.0, r=0.1, dt=0.1).to(dt), {"v": Uniform(0.0, 0.8)}, 0.12),
    # counter-based release and spike draws per neuron (pairs of uniforms: parts start at odd j)
    "probabilistic": (
        lambda n, dt: sf.neurons.ProbabilisticNeuron(
            n, tau_mem=torch.linspace(2.0, 9.0, n, dtype=dt), v_th=1.0, temperature=0.2, release=0.6, dt=0.1
        ).to(dt),
        {"v": Uniform(0.0, 0.8)},
        0.5,
    ),
}


def build_lif(dtype: torch.dtype, *, batch: int | None = None) -> Network:
    """Two LIF populations (one of ``BIG`` neurons), a Poisson group and a spike source, through
    every synapse kind, direct and delayed, with random (non-dyadic) weights, and every input."""
    net = Network(dt=0.1, seed=3, batch=batch, dtype=dtype, compiled=True)
    net.add_population("e", lif_exc(BIG, dtype), init={"v": Uniform(-60.0, -50.0)})
    net.add_population("i", lif_inh(301, dtype), init={"v": Uniform(0.0, 0.9)})
    net.add_poisson("p", 200, rate=40 * sf.units.Hz)
    net.add_spike_source("s", 3, times=[1.0, 1.5, 4.0, 9.0], indices=[0, 1, 2, 1])
    net.add_current("drive", "i", lambda t: 0.05 * (1.0 + torch.sin(t / 3.0)))
    amp = torch.linspace(0.5, 1.5, BIG)  # per neuron, drawn in the kernel
    net.add_current("noise", "e", GaussianCurrent(amp, BIG, 0.1, net.noise_seeds, batched=batch is not None))
    w = Uniform(0.05, 0.4)
    # direct channels (delay 0): exp and alpha states, jumps of v (lost on held neurons) and of i
    net.connect("e", "e", p=0.02, weight=w, synapse=ExpSynapse(5.0), name="ee")
    net.connect("e", "i", p=0.02, weight=Uniform(0.01, 0.05), synapse=DeltaSynapse(), name="ei_v")
    net.connect("p", "e", p=0.1, weight=w, synapse=DeltaSynapse("i"), name="pe_i")
    net.connect("i", "e", p=0.05, weight=Normal(-0.9, 0.2), synapse=AlphaSynapse(3.0), name="ie")
    # rings: a shared delay, per-synapse delays, conductances
    net.connect("i", "i", p=0.1, weight=Uniform(0.01, 0.1), delay=0.7, synapse=DeltaSynapse(), name="ii")
    net.connect(
        "p", "e", p=0.05, weight=Uniform(0.02, 0.1), delay=Uniform(0.1, 2.0), synapse=ExpConductance(3.0, 0.0)
    )
    net.connect(
        "e",
        "i",
        p=0.01,
        weight=Uniform(0.001, 0.01),
        delay=Uniform(0.0, 1.5),
        synapse=AlphaConductance(2.0, 2.0),
    )
    net.connect("s", "e", weight=3.0, delay=0.3, synapse=DeltaSynapse())
    # Poisson inputs: drawn in the kernel (one rate), and given as values (a rate per neuron)
    net.add_poisson_input("pin", "i", 10, rate=100 * sf.units.Hz, weight=0.02)
    rates = torch.linspace(20.0, 80.0, BIG) * sf.units.Hz
    net.add_poisson_input("pin_v", "e", 5, rate=rates, weight=0.3)
    return net


def build_model(model: str, dtype: torch.dtype, *, batch: int | None = None) -> Network:
    factory, init, drive = MODELS[model]
    net = Network(dt=0.1, seed=4, batch=batch, dtype=dtype, compiled=True)
    net.add_population("x", factory(BIG, dtype), init=init)
    net.add_poisson("p", 100, rate=50 * sf.units.Hz)
    net.add_current("drive", "x", drive)
    scale = {"izhikevich": 1.0, "alif": 0.02, "if": 0.01, "probabilistic": 0.05}[model]
    net.connect("x", "x", p=0.01, weight=Uniform(0.1 * scale, scale), synapse=ExpSynapse(2.0))
    net.connect("x", "x", p=0.01, weight=Uniform(0.1 * scale, scale), delay=Uniform(0.1, 1.0), name="xd")
    net.connect("p", "x", p=0.05, weight=Uniform(0.5 * scale, 2 * scale), synapse=DeltaSynapse("v"))
    return net


def record(net: Network) -> list:
    mons: list = []
    for name in net.neurons:
        mons.append(net.record_spikes(name))
        mons.append(net.record_rate(name))
        n = net.neurons[name].n
        mons.append(net.record_state(name, "v", indices=[0, 5, n // 2, n - 1], interval=0.3))
    return mons


def states(net: Network) -> list[torch.Tensor]:
    out = [f for name in net.neurons for f in net.state(name)]
    for proj in net.projections.values():
        out.extend(net.state(proj).values())
    return out


def run(net: Network, durations: tuple[float, ...], threads: tuple[int, ...]) -> list:
    mons = record(net)
    for d, th in zip(durations, threads):
        net.run(d, progress=False, threads=th)
        assert net.last_run_info["path"] == "compiled", net.last_run_info["why_not_compiled"]
        assert net.last_run_info["threads"] == th
    return mons


def assert_identical(m1: list, m2: list, net1: Network, net2: Network) -> None:
    for a, b in zip(m1, m2):
        if hasattr(a, "num_spikes"):
            np.testing.assert_array_equal(a.t, b.t)
            np.testing.assert_array_equal(a.i, b.i)
            np.testing.assert_array_equal(a.batch, b.batch)
        elif hasattr(a, "values"):
            np.testing.assert_array_equal(a.values, b.values)
        else:
            np.testing.assert_array_equal(a.counts, b.counts)
    s1, s2 = states(net1), states(net2)
    assert len(s1) == len(s2) > 0
    for f1, f2 in zip(s1, s2):
        assert f1.dtype == f2.dtype
        assert torch.equal(f1, f2)


def active(mons: list) -> None:
    for m in mons:
        if hasattr(m, "num_spikes"):
            assert m.num_spikes > 50, "every population must spike"


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
def test_lif_network_same_on_one_two_and_three_threads(dtype: torch.dtype) -> None:
    nets = [build_lif(dtype) for _ in range(3)]
    mons = [run(net, (20.0,), (th,)) for net, th in zip(nets, (1, 2, 3))]
    active(mons[0])
    assert_identical(mons[0], mons[1], nets[0], nets[1])
    assert_identical(mons[0], mons[2], nets[0], nets[2])


@pytest.mark.parametrize("model", list(MODELS))
def test_models_same_on_one_and_two_threads(model: str) -> None:
    one, two = build_model(model, F64), build_model(model, F64)
    m1 = run(one, (20.0,), (1,))
    m2 = run(two, (20.0,), (2,))
    active(m1)
    assert_identical(m1, m2, one, two)


def test_stochastic_neurons_float32_batched_split_on_one_two_and_three_threads() -> None:
    """ProbabilisticNeuron: each part draws its own neurons' release and spike uniforms (its
    scratch row of them per thread), so two copies in float32 give the same spikes, v and
    log_prob on 1 thread as in runs on 3, 2 and 1 threads."""
    one, split = build_model("probabilistic", F32, batch=2), build_model("probabilistic", F32, batch=2)
    m1 = run(one, (12.0,), (1,))
    m2 = run(split, (4.1, 3.0, 4.9), (3, 2, 1))
    active(m1)
    assert len({int((m1[0].batch == b).sum()) for b in range(2)}) > 1  # the copies differ
    assert bool((one.state("x").log_prob < 0).all())
    assert_identical(m1, m2, one, split)


def test_batched_copies_and_split_runs_with_changing_thread_counts() -> None:
    """Three copies, one run on one thread against three runs on 2, 1 and 3 threads."""
    one, split = build_lif(F64, batch=3), build_lif(F64, batch=3)
    m1 = run(one, (16.0,), (1,))
    m2 = run(split, (5.3, 4.0, 6.7), (2, 1, 3))
    assert len({int((m1[0].batch == b).sum()) for b in range(3)}) > 1  # the copies differ
    assert_identical(m1, m2, one, split)


RULES: dict[str, Callable[[], Any]] = {
    "stdp": lambda: sf.plasticity.STDP(a_plus=0.02, a_minus=0.021, w_max=2.0, dt=0.1),
    "triplet": lambda: sf.plasticity.TripletSTDP(a3_plus=0.02, a2_minus=0.01, w_max=2.0, dt=0.1),
    "stdp_spike_delays": lambda: sf.plasticity.STDP(
        a_plus=0.02, a_minus=0.021, w_max=2.0, dt=0.1, dendritic_delay=0.5, axonal_delay=0.15
    ),
    "eligibility_spike_delays": lambda: sf.plasticity.EligibilityTrace(
        sf.plasticity.TripletSTDP(a3_plus=0.02, a2_minus=0.01, dt=0.1, axonal_delay=0.3), tau_e=40.0, dt=0.1
    ),
    "reward": lambda: sf.plasticity.RewardModulatedSTDP(
        lr=2e-2, a_plus=0.02, a_minus=0.021, w_max=2.0, tau_c=60.0, tau_d=20.0, d_baseline=0.1, dt=0.1
    ),
    "three_factor": lambda: sf.plasticity.ThreeFactor(
        tau_pre=15.0, tau_e=60.0, lr=2e-3, w_min=0.0, w_max=2.0, bound="hard", dt=0.1
    ),
    "scaling": lambda: sf.plasticity.SynapticScaling(
        target_rate=5 * sf.units.Hz, tau_rate=30.0, lr=2e-3, dt=0.1
    ),
}
MODULATORS = {"three_factor": 1.5, "scaling": 1.0, "eligibility_spike_delays": 0.5}


@pytest.mark.parametrize("rule", list(RULES))
def test_plastic_network_same_on_one_and_two_threads(rule: str) -> None:
    """Learning stays serial; the spikes it sees and the weights it writes are the same."""
    nets = []
    for _ in range(2):
        net = Network(dt=0.1, seed=5, dtype=F64, compiled=True)
        net.add_population("x", lif_exc(BIG, F64), init={"v": Uniform(-60.0, -50.0)})
        net.add_poisson("p", 300, rate=30 * sf.units.Hz)
        net.connect(
            "p",
            "x",
            p=0.05,
            weight=Uniform(0.5, 2.0),
            delay=0.5,
            plasticity=RULES[rule](),
            modulator=MODULATORS.get(rule),
        )
        net.connect("x", "x", p=0.002, weight=Uniform(0.1, 0.5))
        nets.append(net)
    w0 = next(iter(nets[0].projections.values())).weight.clone()
    m1 = run(nets[0], (15.0,), (1,))
    m2 = run(nets[1], (15.0,), (2,))
    active(m1)
    assert_identical(m1, m2, *nets)
    w1, w2 = (next(iter(n.projections.values())).weight for n in nets)
    assert torch.equal(w1, w2)
    assert not torch.equal(w1, w0), "the rule must change the weights"
    for a, b in zip(_leaves(nets[0].plasticity_state("p->x")), _leaves(nets[1].plasticity_state("p->x"))):
        assert torch.equal(a, b)


def _leaves(st: Any) -> list[torch.Tensor]:
    return [st] if isinstance(st, torch.Tensor) else [t for f in st for t in _leaves(f)]


def test_parts_tile_the_neurons_and_rows_split_at_their_targets() -> None:
    """The parts of n neurons are contiguous, in order and cover every neuron once; a row's
    synapses onto a part are exactly those whose target lies in it (multapses included)."""
    for n in (0, 1, 2, 5, 301, BIG):
        for nt in (1, 2, 3, 7):
            spans = [_kernel._span(n, k, nt) for k in range(nt)]
            assert spans[0][0] == 0 and spans[-1][1] == n
            assert all(spans[k][1] == spans[k + 1][0] for k in range(nt - 1))
            assert all(lo <= hi for lo, hi in spans)
    post = np.array([0, 1, 1, 3, 5, 5, 6, 2, 4], np.int32)  # rows [0, 7) and [7, 9)
    ip = np.array([0, 7, 9], np.int64)
    n = 7
    for row in (0, 1):
        targets = post[ip[row] : ip[row + 1]]
        for a in range(n + 1):
            for z in range(a, n + 1):
                lo, hi = _kernel._row(ip, row, post, a, z, n)
                want = [t for t in targets if a <= t < z]
                assert post[lo:hi].tolist() == want, (row, a, z)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2", None, 257])
def test_bad_thread_counts_are_refused(threads: Any) -> None:
    net = Network(dt=0.1, compiled=True)
    net.add_population("x", sf.neurons.LIF(3, dt=0.1))
    with pytest.raises(ParameterError, match=r"threads must be an int from 1 to 256, got"):
        net.run(1.0, progress=False, threads=threads)


def test_torch_engine_reports_no_kernel_threads() -> None:
    net = Network(dt=0.1, compiled=False)
    net.add_population("x", sf.neurons.LIF(3, dt=0.1))
    net.run(1.0, progress=False, threads=2)
    assert net.last_run_info["path"] == "torch" and net.last_run_info["threads"] is None
    net.run(1.0, progress=False)
    assert net.last_run_info["threads"] is None


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


SMALL_NET = """
    import spikeforge as sf
    net = sf.circuits.Network(dt=0.1, seed=0, compiled=True)
    net.add_population("x", sf.neurons.LIF(500, dt=0.1))
    net.add_poisson_input("in", "x", n=100, rate=300 * sf.units.Hz, weight=0.1)
    net.connect("x", "x", p=0.02, weight=0.05)
    rec = net.record_spikes("x")
"""


def test_one_thread_starts_no_threading_layer() -> None:
    """The default run loads no threading layer (it would start a thread pool)."""
    out = _python(
        SMALL_NET
        + """
    net.run(5.0, progress=False)
    assert net.last_run_info == {**net.last_run_info, "path": "compiled", "threads": 1}
    assert rec.num_spikes > 0
    import numba
    try:
        print("layer", numba.threading_layer())
    except ValueError:
        print("no layer")
    """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "no layer"


def test_nest_works_after_a_threaded_run_in_the_same_process() -> None:
    """NEST imported first (as pytest's collection of the reference tests does), then a run on two
    threads, then ``nest.ResetKernel()`` and a NEST simulation on two threads: with numba's OpenMP
    layer this crashed (two libgomp copies); the threaded kernel does not use it."""
    pytest.importorskip("nest", reason="NEST is an optional extra: pip install 'spikeforge[nest]'")
    out = _python(
        """
    import nest
    """
        + SMALL_NET
        + """
    net.run(5.0, progress=False, threads=2)
    assert net.last_run_info["threads"] == 2 and rec.num_spikes > 0
    import numba
    layer = numba.threading_layer()
    nest.ResetKernel()
    nest.SetKernelStatus({"local_num_threads": 2})
    n = nest.Create("iaf_psc_delta", 100)
    pg = nest.Create("poisson_generator", params={"rate": 20000.0})
    nest.Connect(pg, n)
    nest.Simulate(50.0)
    nest.ResetKernel()
    print("done", layer)
    """
    )
    assert out.returncode == 0, f"rc {out.returncode}: {out.stderr[-3000:]}"
    last = out.stdout.strip().splitlines()[-1].split()
    assert last[0] == "done" and last[1] in ("tbb", "workqueue"), out.stdout
