"""The GPU circuits engine (:mod:`spikeforge.circuits.engines.gpu`) against the compiled CPU engine,
its Triton kernels run on the CPU by Triton's interpreter.

``TritonEngine(interpret=True)`` loads the kernels as ``TRITON_INTERPRET=1`` does (a second copy
of their module, the rest of the process untouched) and ``Network.run(..., engine=...)`` forces it
on a CPU network. The kernels do the numba kernels' arithmetic operation by operation and sum
each target's input in the same order, so spikes, monitors and every state tensor (v, i, ref,
held flags, synaptic g, ring buffers) must be equal bitwise, in float64 and float32.

The interpreter runs numpy per block and operation (about 0.1 s per step for these networks), so
the networks are small and the runs short; each one checks that enough spikes happened for the
comparison to mean something.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network, Uniform
from spikeforge.circuits.engines.gpu import TritonEngine
from spikeforge.errors import ParameterError

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")
pytest.importorskip("numba", reason="the reference is the compiled CPU engine (numba)")


def build(*, dtype: torch.dtype, dt: float, batch: int | None = None, gain: bool = False) -> Network:
    """Two LIF populations and a Poisson group with every projection case the engine has: a
    shared delay (ring slot), per-synapse delays (a slot per synapse), delay 0 (straight into g),
    shared and per-synapse weights; t_ref / dt not whole, both resets, with and without tau_syn,
    exact and Euler, per-neuron thresholds, a current."""
    net = Network(dt=dt, seed=3, dtype=dtype, batch=batch)
    e = sf.neurons.LIF(
        24,
        tau_mem=10.0,
        tau_syn=None,
        v_leak=-49.0,
        v_th=torch.linspace(-51.0, -49.0, 24),
        v_reset=-60.0,
        t_ref=0.83,  # 3.3 steps at dt 0.25, 8.3 at dt 0.1
        dt=dt,
    )
    i = sf.neurons.LIF(
        12, tau_mem=8.0, tau_syn=2.0, v_leak=-52.0, v_th=-50.0, v_reset=-58.0, reset="subtract", dt=dt
    )
    net.add_population("e", e, init={"v": Uniform(-60.0, -50.0)})
    net.add_population("i", i, init={"v": Uniform(-60.0, -50.0), "i": Uniform(0.0, 1.0)})
    net.add_poisson("p", 16, rate=200 * sf.units.Hz)
    net.connect("p", "e", p=0.4, weight=Uniform(1.0, 3.0), delay=0.5, synapse=ExpSynapse(tau=2.0))
    net.connect("e", "e", p=0.3, weight=0.7, delay=Uniform(0.0, 1.0), synapse=ExpSynapse(tau=3.0))
    net.connect("e", "i", p=0.4, weight=Uniform(0.5, 1.5), synapse=ExpSynapse(tau=2.0, integrator="euler"))
    net.connect("i", "e", p=0.5, weight=-1.2, delay=0.5, synapse=ExpSynapse(tau=4.0))
    net.add_current("drive", "i", 2.5)
    if gain and batch:
        net.projections["e->i"].gain = torch.linspace(0.5, 1.5, batch, dtype=dtype)
    for name in ("e", "i", "p"):
        net.record_spikes(name)
    net.record_rate("e")
    return net


def assert_same(ref: Network, net: Network, min_spikes: int = 20) -> None:
    """Spikes, rates and every state tensor bitwise equal; enough spikes to mean something."""
    total = 0
    for a, b in zip(ref._monitors, net._monitors):
        if isinstance(a, sf.circuits.SpikeMonitor):
            assert np.array_equal(a.steps, b.steps) and np.array_equal(a.i, b.i), a.source
            assert np.array_equal(a.batch, b.batch), a.source
            total += a.steps.size
        else:
            assert np.array_equal(a.counts, b.counts) and np.array_equal(a.t, b.t)
    assert total >= min_spikes, f"only {total} spikes: the comparison would prove little"
    s, t = ref._sim, net._sim
    assert s.step == t.step
    for name in s.neurons:
        for field, x, y in zip(s.neurons[name]._fields, s.neurons[name], t.neurons[name]):
            assert torch.equal(x, y), f"{name}.{field}"
    for name in s.held:
        assert torch.equal(s.held[name], t.held[name]), f"held flags of {name}"
    for name in s.syn:
        assert torch.equal(s.syn[name][0], t.syn[name][0]), f"g of {name}"
        assert torch.equal(s.ring[name], t.ring[name]), f"ring of {name}"


def test_float64_dt_0_1_equals_the_compiled_engine():
    ref = build(dtype=torch.float64, dt=0.1)
    ref.run(5.0)
    assert ref.last_run_info["path"] == "compiled"
    net = build(dtype=torch.float64, dt=0.1)
    engine = TritonEngine(interpret=True)
    net.run(5.0, engine=engine)
    assert net.last_run_info["path"] == "triton"
    assert_same(ref, net)
    # one step kernel and one propagation launch per projection case (3 cases x weights here)
    assert engine._static is not None and len(engine._static.pblk) == 4
    assert engine.launches == 50 * (1 + 4)


@pytest.mark.slow
def test_float32_dt_0_25_batch_gain_split_run_equals_the_compiled_engine():
    """Two copies (their own noise seeds, a per-copy gain), float32, a run split in three (the
    state goes back and forth between the engine's buffers and the network) against one run."""
    ref = build(dtype=torch.float32, dt=0.25, batch=2, gain=True)
    ref.run(6.0)
    net = build(dtype=torch.float32, dt=0.25, batch=2, gain=True)
    engine = TritonEngine(interpret=True, chunk=10)  # chunk boundaries inside the runs too
    for duration in (1.5, 3.5, 1.0):
        net.run(duration, engine=engine)
    assert_same(ref, net, min_spikes=40)


def test_split_between_engines_and_chunks():
    """Compiled for 2 ms, then the Triton engine for 2 ms in chunks of 7 steps: the state handed
    over (ring buffers with spikes in flight, refractory counts) gives the one-engine run."""
    ref = build(dtype=torch.float64, dt=0.25)
    ref.run(4.0)
    net = build(dtype=torch.float64, dt=0.25)
    net.run(2.0)
    net.run(2.0, engine=TritonEngine(interpret=True, chunk=7))
    assert_same(ref, net)


def test_launch_count_is_two_per_step_for_cuba():
    """A CUBA-shaped network (one shared delay, shared weights): 2 launches per step, whatever
    the number of populations and projections."""
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    for name, n in (("e", 8), ("i", 4)):
        net.add_population(name, sf.neurons.LIF(n, v_th=1.0, dt=0.1), init={"v": Uniform(0.0, 1.0)})
    for pre in ("e", "i"):
        for post in ("e", "i"):
            net.connect(pre, post, p=0.5, weight=0.2 if pre == "e" else -0.5, delay=0.3, synapse=ExpSynapse(tau=5.0))
    engine = TritonEngine(interpret=True)
    net.run(0.3, engine=engine)
    assert engine.launches == 2 * 3


def test_supports_names_what_it_cannot_run():
    engine = TritonEngine(interpret=True)
    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    assert engine.supports(net) is None
    assert "CUDA" in (TritonEngine().supports(net) or "")  # a CPU network needs the interpreter
    net.record_state("x", "v")
    assert "state monitor" in (engine.supports(net) or "")

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    net.connect("x", "x", weight=0.5, synapse=sf.circuits.AlphaSynapse(tau=2.0))
    assert "AlphaSynapse" in (engine.supports(net) or "")

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.Izhikevich(4, dt=0.1))
    assert "Izhikevich" in (engine.supports(net) or "")

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    net.connect("x", "x", p=1.0, weight=0.5, storage="sparse", plasticity=sf.plasticity.STDP(dt=0.1))
    assert "plastic" in (engine.supports(net) or "")
    with pytest.raises(ParameterError, match="plastic"):
        net.run(0.1, engine=engine)

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    net.add_spike_source("s", 2, times=[1.0], indices=[0])
    assert "spike source" in (engine.supports(net) or "")


def test_chooser_never_picks_it_on_the_cpu():
    net = build(dtype=torch.float64, dt=0.1)
    net.run(0.1)
    assert net.last_run_info["path"] == "compiled"
