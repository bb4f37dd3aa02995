"""Setting state before a run: ``Network.set_state`` (populations and projections) and
``connect(..., init=...)``, against ``add_population(init=...)`` and a numpy Euler integration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpConductance, ExpSynapse, Network, Normal, Uniform, builders
from spikeforge.errors import ParameterError, ShapeError

F64 = torch.float64
PATHS = [pytest.param(True, id="compiled"), pytest.param(False, id="torch")]


def _lif(n: int) -> sf.neurons.LIF:
    return sf.neurons.LIF(
        n, tau_mem=20.0, v_th=-50.0, v_reset=-60.0, v_leak=-60.0, t_ref=2.0, integrator="euler", dt=0.1
    )


def _coba_like(compiled: bool, *, v_init=None, g_init=None, batch=None) -> Network:
    net = Network(dt=0.1, seed=3, batch=batch, dtype=F64, compiled=compiled)
    net.add_population("e", _lif(50), init=v_init)
    net.add_population("i", _lif(20))
    net.connect("e", "e", p=0.2, weight=0.3, synapse=ExpConductance(5.0, e_rev=0.0), init=g_init)
    net.connect("e", "i", p=0.2, weight=0.3, synapse=ExpConductance(5.0, e_rev=0.0))
    net.connect("i", "e", p=0.3, weight=2.0, synapse=ExpConductance(10.0, e_rev=-80.0))
    return net


def _spikes(net: Network, duration: float) -> tuple[np.ndarray, np.ndarray]:
    mon = net.record_spikes("e")
    net.run(duration, progress=False)
    return mon.t, mon.i


@pytest.mark.parametrize("compiled", PATHS)
def test_set_state_before_run_equals_init(compiled):
    """v and g set before the run give the same spikes as the same values given as ``init``."""
    gen = torch.Generator().manual_seed(0)
    v0 = -60.0 + 10.0 * torch.rand(50, generator=gen, dtype=F64)
    g0 = 3.0 * torch.rand(50, generator=gen, dtype=F64)
    ref = _coba_like(compiled, v_init={"v": v0}, g_init={"g": g0})
    t_ref, i_ref = _spikes(ref, 60.0)
    net = _coba_like(compiled)
    net.set_state("e", "v", v0)
    net.set_state("e->e", "g", g0)
    assert torch.equal(net.state("e").v, v0) and torch.equal(net.state("e->e")["g"], g0)
    t, i = _spikes(net, 60.0)
    assert t.size > 20  # the conductances drive spikes
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(i, i_ref)
    # without the initial conductance the run differs
    t0, _ = _spikes(_coba_like(compiled, v_init={"v": v0}), 60.0)
    assert t0.size != t.size or not np.array_equal(t0, t)


@pytest.mark.parametrize("compiled", PATHS)
def test_initial_conductance_against_numpy_euler(compiled):
    """A conductance set before the run decays as g (1 - dt/tau)^k and drives v as the Euler step
    of tau dv/dt = (E_l - v) + g (E - v) (Brian2's method='euler'), from the first step."""
    dt, tau_m, tau_g, e_rev, steps = 0.1, 20.0, 5.0, 0.0, 300
    net = Network(dt=dt, seed=0, dtype=F64, compiled=compiled)
    net.add_population(
        "x", sf.neurons.LIF(3, tau_mem=tau_m, v_leak=-60.0, v_th=1e9, integrator="euler", dt=dt)
    )
    net.add_population("y", sf.neurons.LIF(1, v_th=1e9, dt=dt))  # a silent source
    net.connect("y", "x", weight=1.0, synapse=ExpConductance(tau_g, e_rev=e_rev))
    g0 = np.array([0.0, 0.5, 2.0])
    v0 = np.array([-60.0, -65.0, -55.0])
    net.set_state("y->x", "g", torch.tensor(g0))
    net.set_state("x", "v", v0)
    vm = net.record_state("x", "v")
    gm = net.record_state("y->x", "g")
    net.run(steps * dt, progress=False)
    v, g = v0.copy(), g0.copy()
    vs, gs = [], []
    for _ in range(steps):
        vs.append(v.copy())
        gs.append(g.copy())
        v = v + dt / tau_m * ((-60.0 - v) + g * (e_rev - v))
        g = g * (1.0 - dt / tau_g)
    np.testing.assert_allclose(gm.values, np.array(gs), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vm.values, np.array(vs), rtol=1e-12, atol=1e-12)
    assert vm.values[50, 2] > -50.0  # the conductance pulled v towards E = 0 mV


def test_set_state_batched_per_copy_and_between_runs():
    net = Network(dt=0.1, seed=0, batch=2, dtype=F64)
    net.add_population("x", sf.neurons.LIF(2, tau_mem=10.0, v_th=1e9, dt=0.1))
    net.add_population("y", sf.neurons.LIF(1, v_th=1e9, dt=0.1))
    net.connect("y", "x", weight=1.0, synapse=ExpSynapse(5.0))
    net.set_state("y->x", "g", torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    net.run(1.0, progress=False)
    np.testing.assert_allclose(
        net.state("y->x")["g"].numpy(), np.array([[1.0, 2.0], [3.0, 4.0]]) * np.exp(-1.0 / 5.0), rtol=1e-12
    )
    net.set_state("x", "v", 0.25)  # between runs: a scalar for every copy and neuron
    assert torch.equal(net.state("x").v, torch.full((2, 2), 0.25, dtype=F64))


def test_connect_init_draws_per_copy():
    """A distribution in ``connect(init=...)`` is drawn per copy from the copy's noise generator:
    copy b of a batched network equals the unbatched network with that copy's noise seed."""

    def build(batch, noise_seed):
        net = Network(dt=0.1, seed=1, batch=batch, noise_seed=noise_seed, dtype=F64)
        net.add_population("x", _lif(400), init={"v": Uniform(-60.0, -50.0)})
        net.connect(
            "x", "x", p=0.05, weight=0.1, synapse=ExpConductance(5.0, e_rev=0.0), init={"g": Normal(4.0, 1.5)}
        )
        return net

    g = build(2, [7, 8]).state("x->x")["g"]
    assert abs(float(g.mean()) - 4.0) < 0.2 and abs(float(g.std()) - 1.5) < 0.15
    assert not torch.equal(g[0], g[1])
    assert torch.equal(build(None, 8).state("x->x")["g"], g[1])


def test_coba_initial_conductances():
    net = builders.coba(1000, seed=0, batch=2)
    ge = torch.cat([net.state(k)["g"] for k in ("exc->exc", "exc->inh")], 1)
    gi = torch.cat([net.state(k)["g"] for k in ("inh->exc", "inh->inh")], 1)
    assert abs(float(ge.mean()) - 4.0) < 0.15 and abs(float(ge.std()) - 1.5) < 0.1
    assert abs(float(gi.mean()) - 20.0) < 1.0 and abs(float(gi.std()) - 12.0) < 0.8
    assert not torch.equal(ge[0], ge[1])
    assert "kick" not in [p.name for p in net.projections.values()]


def test_set_state_errors():
    net = _coba_like(False)
    with pytest.raises(ParameterError, match=r"name must be a population \['e', 'i'\] or a projection"):
        net.set_state("nope", "v", 0.0)
    with pytest.raises(
        ParameterError, match=r"field of population 'e' \(LIF\) must be one of \['v', 'i', 'ref'\], got 'g'"
    ):
        net.set_state("e", "g", 0.0)
    with pytest.raises(
        ParameterError, match=r"field of projection 'e->e' \(ExpConductance\) must be one of \['g'\], got 'h'"
    ):
        net.set_state("e->e", "h", 0.0)
    with pytest.raises(ShapeError, match=r"value of 'g' must be a scalar, \[n=50\]"):
        net.set_state("e->e", "g", torch.zeros(20))
    with pytest.raises(ShapeError, match=r"value of 'v' must be a scalar, \[n=50\]"):
        net.set_state("e", "v", torch.zeros(3, 50))
    with pytest.raises(ParameterError, match="cannot connect once the network has a simulation state"):
        net.connect("e", "i", weight=0.1)
    fresh = Network(dt=0.1)
    fresh.add_population("a", _lif(4))
    with pytest.raises(ParameterError, match=r"init names 'v', not a state field of ExpConductance \['g'\]"):
        fresh.connect("a", "a", weight=0.1, synapse=ExpConductance(5.0, e_rev=0.0), init={"v": 0.0})
    with pytest.raises(ShapeError, match=r"init\['g'\] must be a scalar, \[n=4\]"):
        fresh.connect("a", "a", weight=0.1, synapse=ExpConductance(5.0, e_rev=0.0), init={"g": [1.0, 2.0]})
    fresh.connect(
        "a", "a", weight=0.1, synapse=ExpSynapse(5.0), init={"g": lambda n, gen: torch.zeros(n + 1)}
    )
    with pytest.raises(ShapeError, match=r"init\['g'\] of 'a->a' must return a tensor \[n=4\]"):
        fresh.run(1.0, progress=False)


def test_population_and_input_names():
    net = builders.brunel("AI", scale=0.02, seed=0)
    assert net.population_names == ("exc", "inh")
    assert net.input_names == ()  # its external drive is two Poisson inputs, not a group
    assert builders.brunel("AI", scale=0.02, seed=0, external="group").input_names == ("ext",)
    assert all(name in net.neurons for name in net.population_names)
    assert Network(dt=0.1).population_names == ()
