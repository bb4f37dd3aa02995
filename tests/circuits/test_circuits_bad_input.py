"""Bad input gets a clear error from spikeforge.errors, naming the argument."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import AlphaSynapse, Bernoulli, Explicit, ExpSynapse, Network, OneToOne, TimedArray
from spikeforge.errors import ParameterError, ShapeError


@pytest.fixture
def net() -> Network:
    net = Network(dt=0.1, seed=0)
    net.add_population("a", sf.neurons.LIF(10, dt=0.1))
    net.add_population("b", sf.neurons.LIF(5, dt=0.1))
    return net


def test_unknown_population_names(net):
    with pytest.raises(ParameterError, match="pre must name a population.*'nope'"):
        net.connect("nope", "a", weight=1.0)
    with pytest.raises(ParameterError, match="post must name"):
        net.connect("a", "nope", weight=1.0)
    with pytest.raises(ParameterError, match="name must name"):
        net.record_spikes("nope")
    with pytest.raises(ParameterError, match="target must name"):
        net.add_current("c", "nope", 1.0)
    net.add_poisson("p", 3, rate=1 * sf.units.Hz)
    with pytest.raises(ParameterError, match="post must be a neuron population"):
        net.connect("a", "p", weight=1.0)


def test_duplicate_and_bad_names(net):
    with pytest.raises(ParameterError, match="already used"):
        net.add_population("a", sf.neurons.LIF(3, dt=0.1))
    net.connect("a", "b", weight=1.0)
    with pytest.raises(ParameterError, match="already used"):
        net.add_poisson("a->b", 3, rate=0.0)
    with pytest.raises(ParameterError, match="name must be a non-empty string"):
        net.add_population("x.y", sf.neurons.LIF(3, dt=0.1))


def test_weight_and_delay_shape_mismatch(net):
    with pytest.raises(ShapeError, match=r"weight must be a scalar, a tensor \[n_post, n_pre\] = \[5, 10\]"):
        net.connect("a", "b", weight=torch.ones(10, 5))
    with pytest.raises(ShapeError, match="delay must be"):
        net.connect("a", "b", weight=1.0, delay=torch.ones(3))
    with pytest.raises(ShapeError, match="distribution must return a tensor"):
        net.connect("a", "b", weight=lambda n, g: torch.ones(n + 1))
    with pytest.raises(ShapeError, match="same length"):
        Explicit([0, 1], [0])
    with pytest.raises(ShapeError, match="OneToOne needs populations of equal size"):
        net.connect("a", "b", rule=OneToOne(), weight=1.0)
    with pytest.raises(ParameterError, match=r"post indices must be in \[0, 5\)"):
        net.connect("a", "b", rule=Explicit([0], [7]), weight=1.0)


def test_negative_and_off_grid_delays(net):
    with pytest.raises(ParameterError, match="delay must be >= 0 ms"):
        net.connect("a", "b", weight=1.0, delay=-1.0)
    with pytest.raises(ParameterError, match="delay must be a multiple of dt=0.1 ms, got 0.25"):
        net.connect("a", "b", weight=1.0, delay=0.25)
    with pytest.raises(ParameterError, match="delay must be at most 32767 steps"):
        net.connect("a", "b", weight=1.0, delay=5000.0)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), True])
def test_p_outside_unit_interval(net, p):
    with pytest.raises(ParameterError, match="p must be a probability in \\[0, 1\\]"):
        net.connect("a", "b", p=p, weight=1.0)
    with pytest.raises(ParameterError, match="p must be"):
        Bernoulli(p)


def test_several_rules(net):
    with pytest.raises(ParameterError, match="at most one of rule, p, in_degree and out_degree"):
        net.connect("a", "b", p=0.1, in_degree=2, weight=1.0)


def test_dt_mismatch_and_dt_against_time_constants():
    net = Network(dt=0.1)
    with pytest.raises(ParameterError, match="dt=1.0 ms but the network's dt is 0.1 ms"):
        net.add_population("a", sf.neurons.LIF(3, dt=1.0))
    with pytest.raises(ParameterError, match="dt must be a finite number > 0"):
        Network(dt=0.0)
    coarse = Network(dt=1.0)
    coarse.add_population("e", sf.neurons.LIF(3, dt=1.0, integrator="euler"))
    with pytest.raises(ParameterError, match="too large for the Euler kinetics of ExpSynapse.*tau=0.4"):
        coarse.connect("e", "e", weight=1.0, synapse=ExpSynapse(0.4))
    with pytest.raises(ParameterError, match="too large"):
        coarse.connect("e", "e", weight=1.0, synapse=AlphaSynapse(0.3, integrator="euler"))
    coarse.connect("e", "e", weight=1.0, synapse=ExpSynapse(0.4, integrator="exact"))  # exact: any dt
    with pytest.raises(ParameterError, match="tau must be a finite number > 0"):
        ExpSynapse(0.0)


def test_rates_and_inputs():
    net = Network(dt=0.1, batch=2)
    with pytest.raises(ParameterError, match=r"rate of 'p' must be <= 1/dt = 10 per ms.*sf.units.Hz"):
        net.add_poisson("p", 3, rate=40.0)  # 40 per ms: forgot the unit
    with pytest.raises(ParameterError, match="must be >= 0"):
        net.add_poisson("q", 3, rate=-1.0)
    with pytest.raises(ShapeError, match="rate must be a scalar"):
        net.add_poisson("r", 3, rate=torch.ones(3, 3))
    with pytest.raises(ParameterError, match="two spikes in step"):
        net.add_spike_source("s", 2, times=[1.0, 1.04], indices=[0, 0])
    with pytest.raises(ParameterError, match=r"indices must be in \[0, 2\)"):
        net.add_spike_source("s", 2, times=[1.0], indices=[2])
    with pytest.raises(ParameterError, match="times must be finite and >= 0"):
        net.add_spike_source("s", 2, times=[-1.0], indices=[0])
    with pytest.raises(ShapeError, match="values must be"):
        TimedArray(torch.zeros(0), dt=1.0)


def test_time_varying_rate_checked_at_run():
    net = Network(dt=0.1)
    net.add_poisson("p", 3, rate=lambda t: 20.0 * torch.ones_like(t))
    with pytest.raises(ParameterError, match="rate of 'p' must be <= 1/dt"):
        net.run(1.0, progress=False)


def test_run_and_state_arguments(net):
    with pytest.raises(ParameterError, match="duration must be a multiple of dt"):
        net.run(0.15, progress=False)
    with pytest.raises(ParameterError, match="duration must be a finite number >= 0"):
        net.run(-1.0, progress=False)
    with pytest.raises(ParameterError, match="var must be one of"):
        net.record_state("a", "u")
    with pytest.raises(ParameterError, match="interval must be a positive multiple"):
        net.record_state("a", "v", interval=0.05)
    with pytest.raises(ParameterError, match=r"indices must be in \[0, 10\)"):
        net.record_state("a", "v", indices=[10])
    with pytest.raises(ShapeError, match=r"value of 'v' must be a scalar, \[n=10\]"):
        net.set_state("a", "v", torch.zeros(4))
    with pytest.raises(ParameterError, match="init of 'c' names 'u'"):
        Network(dt=0.1).add_population("c", sf.neurons.LIF(2, dt=0.1), init={"u": 0.0})
    with pytest.raises(ParameterError, match="batch must be None or an int >= 1"):
        Network(dt=0.1, batch=0)
    with pytest.raises(ParameterError, match="noise_seed must be 2 int"):
        Network(dt=0.1, batch=2, noise_seed=[1])
    fresh = Network(dt=0.1)
    fresh.add_population("a", sf.neurons.LIF(2, dt=0.1))
    with pytest.raises(ShapeError, match="gain must be"):
        fresh.connect("a", "a", weight=1.0, gain=[1.0, 2.0])


def test_compiled_true_refuses_what_it_cannot_run():
    net = Network(dt=0.1, compiled=True)
    net.add_population("leaky", sf.neurons.LI(3, dt=0.1))
    with pytest.raises(ParameterError, match="compiled=True but .*'leaky' is a LI"):
        net.run(1.0, progress=False)
