"""The engine design of circuits: every engine meets one interface (``engines/base.py``), the
chooser that ``Network.run`` asks names why the compiled engine cannot run a network, an engine
driven through the interface alone gives the run's result, and the phase order is written once
(``schedule.py``)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network, Uniform, schedule
from spikeforge.circuits.engines import CompiledEngine, Engine, TorchEngine, choose_engine
from spikeforge.errors import ParameterError

F64 = torch.float64
ENGINES = (TorchEngine, CompiledEngine)


def lif_net(compiled: bool | None = None, **kw) -> Network:
    """Recurrent LIF with Poisson drive and a delay: every phase but learning has work to do."""
    net = Network(dt=0.25, seed=3, dtype=F64, compiled=compiled, **kw)
    lif = sf.neurons.LIF(40, tau_mem=10.0, tau_syn=None, v_th=-50.0, v_reset=-60.0, v_leak=-49.0, dt=0.25)
    net.add_population("x", lif, init={"v": Uniform(-60.0, -50.0)})
    net.add_poisson("p", 30, 40 * sf.units.Hz)
    net.connect("p", "x", p=0.3, weight=1.5, synapse=ExpSynapse(tau=2.0))
    net.connect("x", "x", p=0.2, weight=-0.8, delay=0.75)
    return net


@pytest.mark.parametrize("cls", ENGINES, ids=lambda c: c.name)
def test_every_engine_implements_the_engine_interface(cls):
    engine = cls()
    assert isinstance(engine, Engine)
    assert isinstance(engine.name, str) and engine.name
    for method in ("supports", "prepare", "advance"):
        want = list(inspect.signature(getattr(Engine, method)).parameters)
        got = list(inspect.signature(getattr(cls, method)).parameters)
        assert got == want, f"{cls.__name__}.{method}{got} differs from Engine.{method}{want}"


def test_the_engine_names_are_those_last_run_info_reports():
    assert {c.name for c in ENGINES} == {"torch", "compiled"}
    net = lif_net(compiled=False)
    net.run(1.0, progress=False)
    assert net.last_run_info["path"] == "torch"


class OwnLIF(sf.neurons.LIF):
    """A neuron module of one's own: its step is Python, which no compiled engine can run."""

    def step(self, x, state=None):
        return super().step(x, state)


def test_the_chooser_names_why_the_compiled_engine_cannot_run_a_network():
    net = Network(dt=0.1, seed=0)
    net.add_population("mine", OwnLIF(3, dt=0.1))
    engine, why = choose_engine(net, {})
    assert engine.name == "torch"
    assert "'mine'" in why and "OwnLIF" in why
    assert CompiledEngine().supports(net) == why
    assert TorchEngine().supports(net) is None
    net.compiled = True
    with pytest.raises(ParameterError, match=r"compiled=True.*'mine'.*OwnLIF"):
        choose_engine(net, {})
    net.compiled = False
    assert choose_engine(net, {})[1] == "compiled=False"


def test_the_chooser_runs_stochastic_neurons_compiled():
    """ProbabilisticNeuron populations run in the kernel (they used to keep the PyTorch engine);
    a subclass, which may change the step, does not."""
    pytest.importorskip("numba")
    net = lif_net()
    net.add_population("s", sf.neurons.ProbabilisticNeuron(7, release=0.5, dt=net.dt))
    net.connect("x", "s", p=0.5, weight=0.4)
    engine, why = choose_engine(net, {})
    assert (engine.name, why) == ("compiled", "")
    net2 = lif_net()
    own = type("OwnProbabilistic", (sf.neurons.ProbabilisticNeuron,), {})
    net2.add_population("mine", own(7, dt=net2.dt))
    engine, why = choose_engine(net2, {})
    assert engine.name == "torch" and "'mine' is a OwnProbabilistic" in why


def test_the_chooser_names_a_plasticity_rule_and_gradients():
    net = lif_net()
    rule = sf.plasticity.ThreeFactor(post_fn=torch.tanh, dt=net.dt)  # a callable: not compiled
    net.add_population("y", sf.neurons.LIF(5, dt=net.dt))
    net.connect("x", "y", weight=0.1, plasticity=rule, modulator=1.0, name="learn")
    engine, why = choose_engine(net, {})
    assert engine.name == "torch" and "'learn'" in why and "post_fn" in why
    net2 = lif_net()
    net2.connect("x", "x", p=0.1, weight=0.1, learnable=True)  # an nn.Parameter: gradients
    assert "gradients" in choose_engine(net2, {})[1]
    with torch.no_grad():  # no gradients needed: the kernel may run it
        assert choose_engine(net2, {})[1] in ("", "numba is not installed (pip install numba)")


def test_the_chooser_keeps_one_engine_object_per_network():
    net = lif_net(compiled=False)
    engines: dict[str, Engine] = {}
    first, _ = choose_engine(net, engines)
    again, _ = choose_engine(net, engines)
    assert first is again and engines == {"torch": first}


def _spikes(net: Network) -> list[tuple[int, int]]:
    rec = net._monitors[0]
    return sorted(zip(np.round(rec.t / net.dt).astype(int).tolist(), rec.i.tolist()))


@pytest.mark.parametrize("cls", ENGINES, ids=lambda c: c.name)
def test_an_engine_driven_through_the_interface_alone_equals_network_run(cls):
    """``prepare`` + ``advance`` in two calls, with a progress callback, give the spikes and the
    state of ``Network.run`` on the same engine, and match the PyTorch engine's spikes."""
    if cls is CompiledEngine:
        pytest.importorskip("numba")
    ref = lif_net(compiled=cls is CompiledEngine)
    ref.record_spikes("x")
    ref.run(30.0, progress=False)
    assert ref.last_run_info["path"] == cls.name
    net = lif_net()
    net.record_spikes("x")
    engine = cls()
    assert engine.supports(net) is None
    sim = net._ensure_state()
    done: list[int] = []
    engine.prepare(net, sim)
    engine.advance(40, done.append)
    engine.advance(80, done.append)
    assert sum(done) == 120 and sim.step == 120
    assert _spikes(net) and _spikes(net) == _spikes(ref)
    torch.testing.assert_close(net.state("x").v, ref.state("x").v, rtol=0, atol=1e-12)
    torch_ref = lif_net(compiled=False)
    torch_ref.record_spikes("x")
    torch_ref.run(30.0, progress=False)
    assert _spikes(net) == _spikes(torch_ref)


def test_the_phase_order_is_written_once_and_matches_its_docstring():
    listed = re.findall(r"^(\d)\. \*(\w+)\*", schedule.__doc__ or "", flags=re.MULTILINE)
    assert [int(n) for n, _ in listed] == list(range(1, 8))
    assert tuple(name.lower() for _, name in listed) == schedule.PHASES
    assert len(set(schedule.PHASES)) == 7
