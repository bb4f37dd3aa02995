"""Network simulation: step order and timing, both execution paths, split runs, checkpoints,
batching, dtypes, monitors, inputs, gradients."""

from __future__ import annotations

import math

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
    TimedArray,
    Uniform,
    builders,
)

F64 = torch.float64
PATHS = [pytest.param(True, id="compiled"), pytest.param(False, id="torch")]


def mixed(
    compiled: bool | None, *, batch: int | None = None, noise_seed=None, dtype=F64, seed: int = 1
) -> Network:
    """A small network with every input kind, synapse kind, delays and both LIF integrators."""
    net = Network(dt=0.1, seed=seed, batch=batch, noise_seed=noise_seed, dtype=dtype, compiled=compiled)
    net.add_population(
        "a",
        sf.neurons.LIF(  # per-neuron parameters: the kernel's array path and per-neuron propagators
            60, tau_mem=torch.linspace(8.0, 12.0, 60), v_th=torch.linspace(0.9, 1.1, 60), t_ref=2.0, dt=0.1
        ),
        init={"v": Uniform(0.0, 1.0)},
    )
    net.add_population("b", sf.neurons.LIF(30, tau_mem=15.0, tau_syn=3.0, v_th=1.0, reset="subtract", dt=0.1))
    net.add_population(
        "c",
        sf.neurons.LIF(20, tau_mem=20.0, v_th=-50.0, v_reset=-60.0, v_leak=-60.0, integrator="euler", dt=0.1),
        sign="inhibitory",
    )
    rate = TimedArray(torch.tensor([20.0, 80.0], dtype=F64) * sf.units.Hz, dt=15.0)
    net.add_poisson("pois", 40, rate=rate, sign="excitatory")
    net.add_spike_source("src", 3, times=[1.0, 2.0, 5.0, 5.0], indices=[0, 1, 2, 0])
    net.add_current("drive", "a", lambda t: 0.6 + 0.3 * torch.sin(t / 10.0))
    net.connect(
        "pois", "a", p=0.3, weight=Uniform(0.05, 0.2), delay=Uniform(0.0, 3.0), synapse=ExpSynapse(5.0)
    )
    net.connect("src", "b", weight=0.5, delay=1.0)
    net.connect("a", "b", in_degree=10, weight=0.05, delay=Uniform(0.5, 2.0), synapse=AlphaSynapse(2.0))
    net.connect("b", "c", out_degree=5, weight=0.02, synapse=ExpConductance(5.0, e_rev=0.0))
    net.connect("c", "a", p=0.2, weight=-0.2, delay=0.5, synapse=AlphaConductance(3.0, e_rev=-1.0))
    net.connect("a", "a", p=0.1, weight=Normal(0.05, 0.01), synapse=DeltaSynapse(), delay=0.2)
    net.connect("src", "b", weight=0.2, synapse=DeltaSynapse("i"), name="src_i")
    return net


def record_all(net: Network) -> list:
    mons = [net.record_spikes(k) for k in ("a", "b", "c", "pois", "src")]
    mons.append(net.record_state("a", "v", indices=[0, 5, 59], interval=0.5))
    mons.append(net.record_state("c->a", "g", indices=[1, 2]))
    mons.append(net.record_state("a->b", "h"))
    mons.append(net.record_rate("b"))
    mons.append(net.record_state("a", "i", interval=0.3))  # the kernel writes i only when observed
    mons.append(net.record_state("c", "ref"))
    return mons


def same_records(m1: list, m2: list, *, exact: bool = True) -> None:
    for a, b in zip(m1, m2):
        if hasattr(a, "num_spikes"):
            np.testing.assert_array_equal(a.t, b.t)
            np.testing.assert_array_equal(a.i, b.i)
            np.testing.assert_array_equal(a.batch, b.batch)
        elif hasattr(a, "values"):
            np.testing.assert_array_equal(a.t, b.t)
            if exact:
                np.testing.assert_array_equal(a.values, b.values)
            else:
                np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(a.counts, b.counts)


def test_compiled_and_torch_paths_agree():
    nets, mons = {}, {}
    for compiled in (True, False):
        nets[compiled] = mixed(compiled)
        mons[compiled] = record_all(nets[compiled])
        nets[compiled].run(30.0, progress=False)
    assert nets[True].last_run_info["path"] == "compiled"
    assert nets[False].last_run_info["path"] == "torch"
    assert sum(m.num_spikes for m in mons[True][:3]) > 50  # the network is active
    same_records(mons[True], mons[False], exact=False)
    for pop in ("a", "b", "c"):
        for f in ("v", "i"):
            torch.testing.assert_close(
                getattr(nets[True].state(pop), f), getattr(nets[False].state(pop), f), rtol=0, atol=1e-12
            )
        assert torch.equal(nets[True].state(pop).ref, nets[False].state(pop).ref)


@pytest.mark.parametrize("compiled", PATHS)
def test_split_run_equals_one_run(compiled):
    one = mixed(compiled)
    m1 = record_all(one)
    one.run(50.0, progress=False)
    split = mixed(compiled)
    m2 = record_all(split)
    split.run(23.7, progress=False)  # not on a noise-block boundary
    split.run(0.1, progress=False)
    split.run(26.2, progress=False)
    assert split.t == pytest.approx(50.0)
    same_records(m1, m2)
    for pop in ("a", "b", "c"):
        for f1, f2 in zip(one.state(pop), split.state(pop)):
            assert torch.equal(f1, f2)


@pytest.mark.parametrize("compiled", PATHS)
def test_state_dict_resume_is_bitwise(compiled):
    ref = mixed(compiled)
    m_ref = record_all(ref)
    ref.run(20.0, progress=False)
    ckpt = ref.state_dict()
    ref.run(25.0, progress=False)

    resumed = mixed(compiled, seed=1)
    m_res = record_all(resumed)
    resumed.load_state_dict(ckpt)
    assert resumed.t == pytest.approx(20.0)
    resumed.run(25.0, progress=False)
    same_records(m_ref, m_res)
    for pop in ("a", "b", "c"):
        for f1, f2 in zip(ref.state(pop), resumed.state(pop)):
            assert torch.equal(f1, f2)


def test_state_dict_moves_between_paths_and_checks_monitors():
    a = mixed(True)
    a.run(10.0, progress=False)
    b = mixed(False)
    b.load_state_dict(a.state_dict())
    a.run(5.0, progress=False)
    b.run(5.0, progress=False)
    torch.testing.assert_close(a.state("a").v, b.state("a").v, rtol=0, atol=1e-12)
    c = mixed(None)
    c.record_spikes("a")
    with pytest.raises(sf.errors.ParameterError, match="monitors"):
        c.load_state_dict(a.state_dict())


@pytest.mark.parametrize("compiled", PATHS)
def test_batched_copies_equal_separate_runs(compiled):
    seeds = [11, 12, 13]
    v_th = torch.tensor([1.0, 0.9, 1.1], dtype=F64)
    gain = [1.0, 0.5, 2.0]

    def build(batch, noise_seed, v_th_values, gains):
        net = mixed(compiled, batch=batch, noise_seed=noise_seed)
        d = Network(dt=0.1, seed=5, batch=batch, noise_seed=noise_seed, dtype=F64, compiled=compiled)
        d.add_population(
            "x", sf.neurons.LIF(40, tau_mem=10.0, v_th=1.0, dt=0.1), batch_params={"v_th": v_th_values}
        )
        d.add_poisson("in", 50, rate=200 * sf.units.Hz)
        d.connect("in", "x", p=0.2, weight=0.2, synapse=ExpSynapse(2.0), gain=gains, delay=0.5)
        return net, d

    batched, bd = build(3, seeds, v_th, gain)
    mb, mbd = record_all(batched), bd.record_spikes("x")
    batched.run(40.0, progress=False)
    bd.run(40.0, progress=False)
    assert mb[0].count.shape == (3, 60)
    for b in range(3):
        single, sd = build(None, seeds[b], v_th[b : b + 1], [gain[b]])
        ms, msd = record_all(single), sd.record_spikes("x")
        single.run(40.0, progress=False)
        sd.run(40.0, progress=False)
        for k in range(5):
            t_b, i_b = mb[k].select(b)
            np.testing.assert_array_equal(t_b, ms[k].t)
            np.testing.assert_array_equal(i_b, ms[k].i)
        np.testing.assert_array_equal(mb[5].values[:, b], ms[5].values)
        t_b, i_b = mbd.select(b)
        np.testing.assert_array_equal(t_b, msd.t)
        np.testing.assert_array_equal(i_b, msd.i)
        assert torch.equal(batched.state("a").v[b], single.state("a").v)
    assert len({mbd.select(b)[0].size for b in range(3)}) > 1  # the copies differ


def feedforward(dtype: torch.dtype, compiled: bool | None = None) -> Network:
    net = Network(dt=0.1, seed=0, dtype=dtype, compiled=compiled)
    net.add_spike_source("in", 20, times=np.arange(40) * 0.5 + 1.0, indices=np.arange(40) % 20)
    net.add_population("x", sf.neurons.LIF(10, tau_mem=10.0, v_th=1.0, t_ref=1.0, dt=0.1))
    w = torch.rand(10, 20, generator=torch.Generator().manual_seed(0)) * 0.8
    net.connect("in", "x", weight=w, synapse=ExpSynapse(3.0), delay=0.2)
    return net


def test_float32_close_to_float64():
    out = {}
    for dtype in (torch.float32, F64):
        net = feedforward(dtype)
        rec, vm = net.record_spikes("x"), net.record_state("x", "v")
        net.run(30.0, progress=False)
        out[dtype] = (rec, vm)
    assert out[F64][0].num_spikes > 5
    np.testing.assert_array_equal(out[torch.float32][0].t, out[F64][0].t)
    np.testing.assert_array_equal(out[torch.float32][0].i, out[F64][0].i)
    np.testing.assert_allclose(out[torch.float32][1].values, out[F64][1].values, atol=2e-5)


def test_monitor_shapes_units_and_raster():
    net = Network(dt=0.1, seed=0, dtype=F64)
    net.add_poisson("p", 200, rate=50 * sf.units.Hz)
    net.add_population("x", sf.neurons.LIF(5, tau_mem=10.0, v_th=1.0, dt=0.1))
    net.connect("p", "x", p=0.5, weight=0.05, synapse=ExpSynapse(5.0))
    spikes, rate = net.record_spikes("p"), net.record_rate("p")
    vm = net.record_state("x", "v", indices=[0, 3], interval=1.0)
    net.run(500.0, progress=False)
    assert spikes.t.dtype == np.float64 and spikes.i.dtype == np.int64
    np.testing.assert_allclose(spikes.t / 0.1, np.round(spikes.t / 0.1), atol=1e-9)
    assert np.all(np.diff(spikes.t) >= 0)
    assert spikes.t.min() >= 0 and spikes.t.max() < 500.0
    assert spikes.count.shape == (200,)
    mean_hz = rate.rate.mean() / sf.units.Hz
    assert abs(mean_hz - 50.0) < 5 * math.sqrt(50.0 / (200 * 0.5))  # Poisson count bound
    assert rate.t.shape == rate.rate.shape == (5000,)
    assert vm.t.shape == (500,) and vm.values.shape == (500, 2)
    np.testing.assert_allclose(vm.t, np.arange(500) * 1.0)
    assert vm.values[0, 0] == 0.0  # the first sample is the initial state
    assert len(spikes.trains()) == 200
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = spikes.raster()
    assert ax.get_xlabel() == "time (ms)"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_batched_monitor_shapes():
    net = Network(dt=0.1, seed=0, batch=4)
    net.add_poisson("p", 10, rate=torch.tensor([[10.0], [20.0], [40.0], [80.0]]) * sf.units.Hz)
    net.add_population("x", sf.neurons.LIF(3, dt=0.1))
    net.connect("p", "x", weight=0.1)
    s, r, v = net.record_spikes("p"), net.record_rate("p"), net.record_state("x", "v", interval=0.5)
    net.run(1000.0, progress=False)
    assert s.count.shape == (4, 10) and r.rate.shape == (10000, 4) and v.values.shape == (2000, 4, 3)
    assert net.state("x").v.shape == (4, 3)
    counts = s.count.sum(1)
    assert counts[0] < counts[1] < counts[2] < counts[3]  # per-copy rates


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize(
    "synapse", [ExpSynapse(2.0), DeltaSynapse(), AlphaSynapse(1.0)], ids=["exp", "delta", "alpha"]
)
def test_delay_arrives_exactly_d_over_dt_steps_later(compiled, synapse):
    """A spike of step k through delay d first shows in the target's state sampled at
    t_{k+1} + d (Brian2: on_pre in step k + d/dt, after the state update)."""
    delays = [0.0, 0.1, 0.7, 2.5, 100.0]
    net = Network(dt=0.1, seed=0, dtype=F64, compiled=compiled)
    net.add_spike_source("s", 1, times=[3.0], indices=[0])
    net.add_population("x", sf.neurons.LIF(5, tau_mem=1e9, v_th=1e9, v_reset=0.0, dt=0.1))
    net.connect("s", "x", weight=1.0, delay=torch.tensor(delays).reshape(5, 1), synapse=synapse)
    name, var = (
        ("x", "v")
        if isinstance(synapse, DeltaSynapse)
        else ("s->x", "h" if isinstance(synapse, AlphaSynapse) else "g")
    )
    mon = net.record_state(name, var)
    net.run(110.0, progress=False)
    for j, d in enumerate(delays):
        first = int(np.argmax(mon.values[:, j] != 0))
        assert first == 30 + 1 + round(d / 0.1), (j, d, first)


def test_exact_propagator_matches_closed_form():
    """One spike into an ExpSynapse onto an exact LIF: v(t) is the analytic solution."""
    taum, taus, w, el = 20.0, 5.0, 2.0, -70.0
    net = Network(dt=0.1, seed=0, dtype=F64)
    net.add_spike_source("s", 1, times=[0.0], indices=[0])
    net.add_population(
        "x", sf.neurons.LIF(1, tau_mem=taum, v_th=0.0, v_reset=-80.0, v_leak=el, dt=0.1).double()
    )
    net.connect("s", "x", weight=w, synapse=ExpSynapse(taus))
    mon = net.record_state("x", "v")
    net.run(50.0, progress=False)
    t = mon.t - 0.1  # the jump of g happens at t = 0.1 ms
    expect = el + np.where(t > 0, w * taus / (taus - taum) * (np.exp(-t / taus) - np.exp(-t / taum)), 0.0)
    np.testing.assert_allclose(mon.values[:, 0], expect, rtol=0, atol=1e-10)  # held current: ~1e-3


def test_currents_and_timed_array():
    net = Network(dt=0.1, seed=0, dtype=F64)
    net.add_population("x", sf.neurons.LIF(2, tau_mem=10.0, v_th=100.0, dt=0.1).double())
    steps = TimedArray(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64), dt=100.0)
    net.add_current("i", "x", steps)
    vm = net.record_state("x", "v", interval=1.0)
    net.run(200.0, progress=False)
    np.testing.assert_allclose(vm.values[99], [1.0, 2.0], atol=1e-3)  # relaxed to the first level
    np.testing.assert_allclose(vm.values[199], [3.0, 4.0], atol=1e-3)


def test_spike_source_emits_given_times():
    net = Network(dt=0.1, seed=0, batch=2)
    net.add_spike_source("s", 4, times=[0.0, 0.26, 7.0, 7.0], indices=[1, 2, 0, 3], copies=[0, 0, 1, 1])
    rec = net.record_spikes("s")
    net.run(10.0, progress=False)
    np.testing.assert_allclose(rec.t, [0.0, 0.3, 7.0, 7.0])
    np.testing.assert_array_equal(rec.i, [1, 2, 0, 3])
    np.testing.assert_array_equal(rec.batch, [0, 0, 1, 1])


def test_determinism_and_global_rng_untouched():
    state = torch.get_rng_state()
    runs = []
    for seed in (3, 3, 4):
        net = mixed(None, seed=seed)
        rec = net.record_spikes("pois")
        net.run(20.0, progress=False)
        runs.append((rec.t, rec.i))
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert not (runs[0][0].size == runs[2][0].size and np.array_equal(runs[0][1], runs[2][1]))


def test_other_neuron_models_run_on_the_compiled_path():
    net = Network(dt=0.1, seed=0)
    net.add_poisson("p", 50, rate=100 * sf.units.Hz)
    net.add_population("izh", sf.neurons.Izhikevich(20, "RS", dt=0.1))
    net.add_population("alif", sf.neurons.ALIF(20, tau_adapt=100.0, beta=0.2, dt=0.1))
    net.connect("p", "izh", p=0.5, weight=2.0, synapse=ExpSynapse(5.0))
    net.connect("p", "alif", p=0.5, weight=0.3, synapse=ExpSynapse(5.0))
    net.connect("izh", "alif", p=0.5, weight=0.1)
    r1, r2 = net.record_spikes("izh"), net.record_spikes("alif")
    net.run(100.0, progress=False)
    assert net.last_run_info["path"] == "compiled"
    assert r1.num_spikes > 0 and r2.num_spikes > 0
    assert torch.isfinite(net.state("izh").v).all()


def test_gradients_through_the_torch_path():
    net = Network(dt=1.0, seed=0)
    net.add_spike_source("in", 10, times=np.arange(10) * 1.0, indices=np.arange(10))
    net.add_population("x", sf.neurons.LIF(5, tau_mem=10.0, v_th=1.0, dt=1.0))
    proj = net.connect(
        "in", "x", weight=Uniform(0.1, 0.5), synapse=ExpSynapse(5.0), learnable=True, delay=1.0
    )
    net.run(15.0, progress=False)
    assert net.last_run_info["path"] == "torch"
    loss = net.state("x").v.sum()
    loss.backward()
    grad = proj.w_raw.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_progress_bar_and_structure_freeze(capsys):
    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(3, dt=0.1))
    net.run(1.0, progress=True)
    with pytest.raises(sf.errors.ParameterError, match="build the whole network first"):
        net.add_population("y", sf.neurons.LIF(3, dt=0.1))
    net.record_spikes("x")  # monitors may still be added
    net.run(1.0, progress=False)
    assert net.step_count == 20


def test_cuba_builder():
    net = builders.cuba(n=1000, seed=0, dtype=F64)
    assert [p.name for p in net.projections.values()] == ["exc->exc", "exc->inh", "inh->exc", "inh->inh"]
    assert net._groups["exc"].n == 800 and net._groups["inh"].n == 200
    v0 = net.state("exc").v
    assert bool(((v0 >= -60) & (v0 < -50)).all())
    rec = net.record_spikes("exc")
    net.run(200.0, progress=False)
    rate = rec.num_spikes / 800 / 0.2
    assert 1.0 < rate < 50.0
    fixed = builders.cuba(n=2000, seed=0, in_degree=40)
    k = [int(torch.bincount(p.post_indices).max()) for p in fixed.projections.values()]
    assert k == [32, 32, 8, 8]


def test_stochastic_neurons_use_the_copies_streams():
    def build(batch, noise_seed):
        net = Network(dt=1.0, seed=0, batch=batch, noise_seed=noise_seed)
        net.add_poisson("p", 20, rate=100 * sf.units.Hz)
        net.add_population("s", sf.neurons.ProbabilisticNeuron(15, temperature=0.3, release=0.7, dt=1.0))
        net.connect("p", "s", p=0.5, weight=0.5, synapse=ExpSynapse(5.0))
        return net, net.record_spikes("s")

    batched, rb = build(2, [7, 8])
    batched.run(60.0, progress=False)
    single, rs = build(None, 8)
    single.run(25.0, progress=False)
    single.run(35.0, progress=False)
    assert rs.num_spikes > 0
    t, i = rb.select(1)
    np.testing.assert_array_equal(t, rs.t)
    np.testing.assert_array_equal(i, rs.i)
