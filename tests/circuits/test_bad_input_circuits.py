"""Bad input to circuits (issue 16): no truncated indices, no weight that overflows the network's
dtype, no endless run, Poisson rates in Hz caught the same way by both Poisson inputs, and
parameters set between runs as Brian2 users do."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network
from spikeforge.errors import ParameterError, ShapeError
from spikeforge.neurons import LIF


def _net(dtype: torch.dtype | None = None, compiled: bool | None = None) -> Network:
    net = Network(dt=0.1, seed=0, dtype=dtype, compiled=compiled)
    net.add_population("a", LIF(10, dt=0.1))
    return net


# ---------------------------------------------------------------- the cases
@pytest.mark.parametrize("indices", [[1.5, 2.0], [0.0, 2.7], [float("nan")], [float("inf")]])
def test_fractional_monitor_indices_are_refused_not_truncated(indices):
    with pytest.raises(ParameterError, match="indices must be whole numbers"):
        _net().record_state("a", "v", indices=indices)


def test_whole_float_monitor_indices_are_accepted():
    mon = _net().record_state("a", "v", indices=[1.0, 3.0])
    assert mon.indices.tolist() == [1, 3]


def test_float32_weight_beyond_its_range_is_refused():
    with pytest.raises(ParameterError, match=r"weight must fit the network's dtype torch.float32"):
        _net(dtype=torch.float32).connect("a", "a", weight=1e39)
    with pytest.raises(ParameterError, match="fit the network's dtype"):
        _net(dtype=torch.float32).connect("a", "a", weight=torch.full((10, 10), -1e39, dtype=torch.float64))
    _net(dtype=torch.float64).connect("a", "a", weight=1e39)  # fits float64


@pytest.mark.parametrize("duration", [1e300, 1e12, 2.0**31 * 0.1 + 1.0])
def test_unbounded_run_is_refused_with_its_size(duration):
    net = _net()
    with pytest.raises(ParameterError, match=r"steps of dt=0.1 ms; one run takes at most 2147483647 steps"):
        net.run(duration, progress=False)


def test_poisson_input_rate_in_hz_is_caught_as_add_poisson_catches_it():
    msgs = []
    for add in (
        lambda n: n.add_poisson("p", 10, rate=12),
        lambda n: n.add_poisson_input("x", "a", n=10, rate=12, weight=0.1),
    ):
        with pytest.raises(ParameterError, match=r"must be <= 1/dt = 10 per ms") as e:
            add(_net())
        msgs.append(str(e.value).replace("'p'", "'x'"))
    assert msgs[0] == msgs[1]  # the same rule, the same words


def test_poisson_input_rate_function_in_hz_is_caught_at_run():
    net = _net()
    net.add_poisson_input("x", "a", n=10, rate=lambda t: 12.0 + 0 * t, weight=0.1)
    with pytest.raises(ParameterError, match="1/dt"):
        net.run(1.0, progress=False)


@pytest.mark.parametrize("compiled", [False, True])
def test_parameter_set_between_runs_reaches_the_next_run(compiled):
    net = Network(dt=0.1, seed=0, compiled=compiled)
    pop = net.add_population("a", LIF(10, dt=0.1, v_th=1.0))
    net.add_current("c", "a", 2.0)
    mon = net.record_spikes("a")
    net.run(100.0, progress=False)
    first = int(mon.count.sum())
    pop.module.v_th = 100.0
    net.run(100.0, progress=False)
    assert first > 0 and int(mon.count.sum()) == first
    pop.module.v_th = 1.0  # and back: it fires again
    net.run(100.0, progress=False)
    assert int(mon.count.sum()) > first


def test_parameter_set_between_runs_is_validated():
    net = _net()
    net.run(1.0, progress=False)
    with pytest.raises(ParameterError, match="v_th must be > v_reset"):
        net.neurons["a"].v_th = -5.0
    with pytest.raises(ShapeError, match="broadcast"):
        net.neurons["a"].tau_mem = torch.ones(3)


# ---------------------------------------------------------------- more of our own
def test_negative_seed_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"seed must be an int in \[0, 2\*\*63\)"):
        Network(dt=0.1, seed=-1)


@pytest.mark.parametrize("interval", [0.0, float("inf"), float("nan"), "1", -0.1, 0.05])
def test_bad_monitor_intervals(interval):
    with pytest.raises(ParameterError, match="interval must be a positive multiple of dt"):
        _net().record_state("a", "v", interval=interval)


@pytest.mark.parametrize("indices", [["a"], [None], [1 + 2j]])
def test_non_numeric_indices_are_refused(indices):
    with pytest.raises(ParameterError, match="indices must be whole numbers"):
        _net().record_state("a", "v", indices=indices)


def test_spike_source_times_that_would_wrap_the_step_index():
    with pytest.raises(ParameterError, match=r"times must be below 2\*\*62 steps"):
        _net().add_spike_source("s", 3, [1e300], [0])


def test_spike_source_non_numeric_times_and_fractional_indices():
    with pytest.raises(ParameterError, match="times must be numbers"):
        _net().add_spike_source("s", 3, ["a"], [0])
    with pytest.raises(ParameterError, match="indices must be whole numbers"):
        _net().add_spike_source("s", 3, [1.0], [0.5])


def test_spike_source_fractional_copy_indices():
    net = Network(dt=0.1, seed=0, batch=2)
    net.add_population("a", LIF(3, dt=0.1))
    with pytest.raises(ParameterError, match="batch must be whole numbers"):
        net.add_spike_source("s", 3, [1.0], [0], copies=[0.5])


def test_poisson_input_rate_just_below_and_above_one_per_step():
    _net().add_poisson_input("x", "a", n=10, rate=10.0, weight=0.1)  # rate * dt = 1: allowed
    with pytest.raises(ParameterError, match="1/dt"):
        _net().add_poisson_input("x", "a", n=10, rate=10.01, weight=0.1)


def test_weight_distribution_returning_inf_is_refused():
    with pytest.raises(ParameterError, match="weight must be finite"):
        _net().connect("a", "a", weight=lambda n, g: torch.full((n,), float("inf")))


def test_run_at_the_step_limit_is_not_refused_for_its_length_alone():
    net = _net()
    net.run(0.0, progress=False)  # zero steps is fine
    with pytest.raises(ParameterError, match="multiple of dt"):
        net.run(0.05, progress=False)


def test_units_hz_is_accepted_by_both():
    """Rates written with ``sf.units.Hz`` pass both checks and are taken per ms: 10 trains at 40 Hz
    for 1 s give about 400 spikes (5 sigma of a Poisson count), not 400,000."""
    net = _net()
    net.add_poisson("p", 10, rate=40 * sf.units.Hz)
    net.add_poisson_input("x", "a", n=10, rate=40 * sf.units.Hz, weight=0.1)
    rec = net.record_spikes("p")
    net.run(1000.0, progress=False)
    assert abs(rec.t.size - 400) < 5 * 20
