"""Circuits against Brian2 (numpy target, float64): delays, the CUBA and the COBA networks.

Timing conventions (see spikeforge.circuits.network): a spike of step k is stamped t_k in both;
Brian2 runs ``on_pre`` of a spike with delay d in step k + d/dt after the state update, which is
spikeforge's delivery at the start of step k + d/dt + 1; both monitors sample the state at the
start of a step. Brian2's refractory period counts the spike's own step: 5 ms is LIF's
``t_ref = 5 - dt`` (the CUBA builder does this).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network, Uniform, builders

pytestmark = [
    pytest.mark.reference,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

F64 = torch.float64


@contextmanager
def brian2_numpy() -> Iterator[object]:
    b2 = pytest.importorskip("brian2")
    saved = b2.prefs.codegen.target, b2.prefs.core.default_float_dtype
    b2.prefs.codegen.target = "numpy"
    b2.prefs.core.default_float_dtype = np.float64
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    try:
        yield b2
    finally:
        b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = saved


def test_heterogeneous_delays_match_brian2():
    """Spikes through per-synapse delays (0 to 100 ms) reach the target's conductance in the
    same step, with the same values, as in Brian2."""
    n, taus = 12, 3.0
    times, idx = [3.0, 3.4, 20.0], [0, 1, 0]
    net = Network(dt=0.1, seed=0, dtype=F64)
    net.add_spike_source("s", 2, times=times, indices=idx)
    net.add_population("x", sf.neurons.LIF(n, tau_mem=10.0, v_th=1e9, dt=0.1).double())
    delays = torch.tensor([0.0, 0.1, 0.7, 2.5, 9.9, 100.0])
    proj = net.connect(
        "s",
        "x",
        p=0.8,
        weight=Uniform(0.5, 1.5),
        delay=lambda k, g: delays[torch.randint(0, 6, (k,), generator=g)],
        synapse=ExpSynapse(taus),
    )
    assert len(set(proj.delays().tolist())) > 3
    g_sf = net.record_state("s->x", "g")
    net.run(130.0, progress=False)

    with brian2_numpy() as b2:
        ms = b2.ms
        src = b2.SpikeGeneratorGroup(2, idx, np.array(times) * ms)
        tgt = b2.NeuronGroup(n, "dg/dt = -g/taus : 1", method="exact", namespace={"taus": taus * ms})
        syn = b2.Synapses(src, tgt, "w : 1", on_pre="g += w")
        syn.connect(i=proj.pre_indices.numpy(), j=proj.post_indices.numpy())
        syn.w = proj.weights().double().numpy()
        syn.delay = proj.delays().numpy() * ms
        mon = b2.StateMonitor(tgt, "g", record=True)
        b2.Network(src, tgt, syn, mon).run(130.0 * ms)
        g_b2 = np.asarray(mon.g).T
    assert g_b2.shape == g_sf.values.shape
    np.testing.assert_allclose(g_sf.values, g_b2, rtol=1e-12, atol=1e-14)
    # arrival steps: each delay class first shows at step k + 1 + d/dt in both
    first_sf = (g_sf.values != 0).argmax(0)
    first_b2 = (g_b2 != 0).argmax(0)
    np.testing.assert_array_equal(first_sf, first_b2)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(("t_ref", "reset"), [(3.0, "to_value"), (0.0, "to_value"), (3.0, "subtract")])
def test_delta_jumps_on_a_refractory_neuron_are_lost_as_in_brian2(compiled, t_ref, reset):
    """Delta-synapse jumps of v (delays 0 and 1.2 ms) onto neurons that fire regularly: the jumps
    that Brian2 applies in a step in which v is held (refractory), or before the reset to a value
    of the neuron's own spike, are lost in both; the others add up (after a subtractive reset
    too). Same v in every step and the same spikes, on both paths."""
    if compiled:
        pytest.importorskip("numba")
    n, dt, duration = 4, 0.1, 100.0
    rng = np.random.default_rng(5)
    times = np.sort(rng.choice(np.arange(1, int(duration / dt) - 20), 400, replace=False)) * dt
    src_idx = rng.integers(0, 2, times.size)
    drive = np.array([1.6, 1.9, 2.3, 3.1])  # v_leak + r I above threshold: regular firing
    net = Network(dt=dt, seed=0, dtype=F64, compiled=compiled)
    net.add_spike_source("s", 2, times=times.tolist(), indices=src_idx.tolist())
    lif = sf.neurons.LIF(n, tau_mem=10.0, v_th=1.0, v_reset=0.0, t_ref=t_ref, reset=reset, dt=dt).double()
    net.add_population("x", lif)
    net.add_current("drive", "x", torch.tensor(drive))
    pre, post = np.repeat([0, 1], n), np.tile(np.arange(n), 2)
    weights = np.array([0.07, -0.05, 0.11, 0.03, -0.02, 0.09, 0.05, 0.04])
    delays = np.array([0.0, 1.2] * n)
    net.connect(
        "s",
        "x",
        rule=sf.circuits.Explicit(torch.tensor(pre), torch.tensor(post)),
        weight=torch.tensor(weights),
        delay=torch.tensor(delays),
    )
    v_sf = net.record_state("x", "v")
    spikes = net.record_spikes("x")
    net.run(duration, progress=False)
    assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
    assert spikes.t.size > 50  # every neuron fires often, so many jumps hit a held v

    with brian2_numpy() as b2:
        ms = b2.ms
        flag = " (unless refractory)" if t_ref > 0 else ""
        grp = b2.NeuronGroup(
            n,
            f"dv/dt = (I - v) / (10*ms) : 1{flag}\nI : 1",
            threshold="v > 1",
            reset="v = 0" if reset == "to_value" else "v -= 1",
            refractory=(t_ref + dt) * ms if t_ref > 0 else False,
            method="exact",
        )
        grp.I = drive
        src = b2.SpikeGeneratorGroup(2, src_idx, times * ms)
        syn = b2.Synapses(src, grp, "w : 1", on_pre="v += w")
        syn.connect(i=pre, j=post)
        syn.w = weights
        syn.delay = delays * ms
        mon = b2.StateMonitor(grp, "v", record=True)
        smon = b2.SpikeMonitor(grp)
        b2.Network(grp, src, syn, mon, smon).run(duration * ms)
        v_b2 = np.asarray(mon.v).T
        t_b2, i_b2 = np.asarray(smon.t / ms), np.asarray(smon.i)
    np.testing.assert_allclose(v_sf.values, v_b2, rtol=0, atol=1e-12)
    order_sf, order_b2 = np.lexsort((spikes.i, spikes.t)), np.lexsort((i_b2, t_b2))
    np.testing.assert_allclose(spikes.t[order_sf], t_b2[order_b2], atol=1e-9)
    np.testing.assert_array_equal(spikes.i[order_sf], i_b2[order_b2])


@pytest.fixture(scope="module")
def cuba_runs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    duration = 300.0
    net = builders.cuba(n=4000, seed=0, dtype=F64)
    exc, inh = net.record_spikes("exc"), net.record_spikes("inh")
    v0 = np.concatenate([net.state("exc").v.numpy(), net.state("inh").v.numpy()])
    net.run(duration, progress=False)
    ours = (np.concatenate([exc.t, inh.t]), np.concatenate([exc.i, inh.i + 3200]))

    with brian2_numpy() as b2:
        ms, mV = b2.ms, b2.mV
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
            4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns
        )
        group.v = v0 * mV
        off = {"exc": 0, "inh": 3200}
        pairs: dict[str, list[list[np.ndarray]]] = {"exc": [[], []], "inh": [[], []]}
        for proj in net.projections.values():
            pairs[proj.pre][0].append(proj.pre_indices.numpy() + off[proj.pre])
            pairs[proj.pre][1].append(proj.post_indices.numpy() + off[proj.post])
        ce = b2.Synapses(group, group, on_pre="ge += we", namespace=ns)
        ci = b2.Synapses(group, group, on_pre="gi += wi", namespace=ns)
        ce.connect(i=np.concatenate(pairs["exc"][0]), j=np.concatenate(pairs["exc"][1]))
        ci.connect(i=np.concatenate(pairs["inh"][0]), j=np.concatenate(pairs["inh"][1]))
        mon = b2.SpikeMonitor(group)
        b2.Network(group, ce, ci, mon).run(duration * ms)
        theirs = (np.asarray(mon.t / ms), np.asarray(mon.i))
    return {"spikeforge": ours, "brian2": theirs}


def _events(t: np.ndarray, i: np.ndarray, until: float) -> set[tuple[int, int]]:
    keep = t < until
    return set(zip(np.round(t[keep] / 0.1).astype(int).tolist(), i[keep].tolist()))


def test_cuba_first_50_ms_identical(cuba_runs):
    ours, theirs = _events(*cuba_runs["spikeforge"], 50.0), _events(*cuba_runs["brian2"], 50.0)
    assert len(ours) > 500
    assert ours == theirs


def _rate_cv(t: np.ndarray, i: np.ndarray, n: int, duration: float) -> tuple[float, float]:
    rate = t.size / n / (duration / 1000.0)
    cvs = []
    for k in range(n):
        tk = np.sort(t[i == k])
        if tk.size >= 3:
            isi = np.diff(tk)
            cvs.append(isi.std() / isi.mean())
    return rate, float(np.mean(cvs))


def test_cuba_rate_and_isi_cv_within_15_percent(cuba_runs):
    r_sf, cv_sf = _rate_cv(*cuba_runs["spikeforge"], 4000, 300.0)
    r_b2, cv_b2 = _rate_cv(*cuba_runs["brian2"], 4000, 300.0)
    assert r_b2 > 1.0 and cv_b2 > 0.05
    assert abs(r_sf - r_b2) <= 0.15 * r_b2
    assert abs(cv_sf - cv_b2) <= 0.15 * cv_b2


@pytest.fixture(scope="module")
def coba_runs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The COBA benchmark (Brette et al. 2007) in both, from the same initial membranes and
    conductances (spikeforge draws them; Brian2 gets them through ``group.v = ...``), with the
    same connectivity and no noise; ``method='euler'`` in both."""
    duration = 300.0
    net = builders.coba(n=4000, seed=0, dtype=F64)
    exc, inh = net.record_spikes("exc"), net.record_spikes("inh")

    def both(f: str, *names: str) -> np.ndarray:
        return np.concatenate(
            [net.state(k)[f].numpy() if "->" in k else getattr(net.state(k), f).numpy() for k in names]
        )

    v0 = both("v", "exc", "inh")
    ge0 = both("g", "exc->exc", "exc->inh")  # g_e of a neuron: the conductance of the projection from exc
    gi0 = both("g", "inh->exc", "inh->inh")
    assert ge0.std() > 1.0 and gi0.std() > 5.0  # the benchmark's N(4, 1.5^2) and N(20, 12^2)
    net.run(duration, progress=False)
    ours = (np.concatenate([exc.t, inh.t]), np.concatenate([exc.i, inh.i + 3200]))

    with brian2_numpy() as b2:
        ms, mV = b2.ms, b2.mV
        eqs = """
        dv/dt = (ge*(Ee-v) + gi*(Ei-v) - (v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : 1
        dgi/dt = -gi/taui : 1
        """
        ns = {
            "taum": 20 * ms,
            "taue": 5 * ms,
            "taui": 10 * ms,
            "Vt": -50 * mV,
            "Vr": -60 * mV,
            "El": -60 * mV,
            "Ee": 0 * mV,
            "Ei": -80 * mV,
            "we": 6.0 / 10.0,  # 6 nS relative to the 10 nS leak
            "wi": 67.0 / 10.0,
        }
        group = b2.NeuronGroup(
            4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="euler", namespace=ns
        )
        group.v = v0 * mV
        group.ge = ge0
        group.gi = gi0
        off = {"exc": 0, "inh": 3200}
        pairs: dict[str, list[list[np.ndarray]]] = {"exc": [[], []], "inh": [[], []]}
        for proj in net.projections.values():
            pairs[proj.pre][0].append(proj.pre_indices.numpy() + off[proj.pre])
            pairs[proj.pre][1].append(proj.post_indices.numpy() + off[proj.post])
        ce = b2.Synapses(group, group, on_pre="ge += we", namespace=ns)
        ci = b2.Synapses(group, group, on_pre="gi += wi", namespace=ns)
        ce.connect(i=np.concatenate(pairs["exc"][0]), j=np.concatenate(pairs["exc"][1]))
        ci.connect(i=np.concatenate(pairs["inh"][0]), j=np.concatenate(pairs["inh"][1]))
        mon = b2.SpikeMonitor(group)
        b2.Network(group, ce, ci, mon).run(duration * ms)
        theirs = (np.asarray(mon.t / ms), np.asarray(mon.i))
    return {"spikeforge": ours, "brian2": theirs}


def test_coba_first_100_ms_identical(coba_runs):
    """Same connectivity, same initial state, no noise: the same spikes, step for step (the
    initial conductances act from the first step, as in Brian2)."""
    ours, theirs = _events(*coba_runs["spikeforge"], 100.0), _events(*coba_runs["brian2"], 100.0)
    assert len(ours) > 2000
    assert min(t for t, _ in ours) < 20  # the initial conductances drive spikes within 2 ms
    assert ours == theirs


def test_coba_rate_and_isi_cv_within_15_percent(coba_runs):
    """Tolerance: mean rate and mean ISI CV (neurons with >= 3 spikes, after a 100 ms transient)
    within 15 % of Brian2's. The benchmark is asynchronous and irregular: 5 to 50 Hz, CV > 0.5."""
    stats = {}
    for key, (t, i) in coba_runs.items():
        keep = t >= 100.0
        stats[key] = _rate_cv(t[keep], i[keep], 4000, 200.0)
    (r_sf, cv_sf), (r_b2, cv_b2) = stats["spikeforge"], stats["brian2"]
    assert 5.0 < r_b2 < 50.0 and cv_b2 > 0.5
    assert abs(r_sf - r_b2) <= 0.15 * r_b2
    assert abs(cv_sf - cv_b2) <= 0.15 * cv_b2
