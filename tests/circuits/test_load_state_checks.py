"""``Network.load_state_dict`` checks the whole state before loading any of it: a state from a
network of another size or batch is refused with a typed error naming the part, and the network
is left exactly as it was (no half-applied restore)."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network
from spikeforge.errors import ParameterError, ShapeError


def net_of(n: int, batch: int | None = None) -> Network:
    net = Network(dt=0.25, seed=3, batch=batch) if batch else Network(dt=0.25, seed=3)
    net.add_poisson("x", 6, rate=0.2)
    net.add_population("y", sf.neurons.LIF(n, tau_mem=5.0, dt=0.25))
    net.connect("x", "y", weight=2.0, delay=1.0, name="xy")
    net.record_spikes("y")
    return net


def snapshot(net: Network) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in net.state_dict().items()}


def test_a_state_from_a_network_of_another_size_is_refused_and_nothing_changes() -> None:
    small = net_of(3)
    small.run(5.0)
    big = net_of(4)
    big.run(5.0)
    before = big.state_dict()["_extra_state"]
    v_before = big.state("y").v.clone()
    with pytest.raises((ShapeError, ParameterError), match="load_state_dict"):
        big.load_state_dict(small.state_dict())
    assert torch.equal(big.state("y").v, v_before)
    assert big.state_dict()["_extra_state"]["step"] == before["step"]


def test_only_the_simulation_state_differs_in_shape() -> None:
    """Same weights and parameters (so torch would load them), another batch: the run state's
    shapes differ, and the message says so."""
    one = net_of(3)
    one.run(2.0)
    two = net_of(3, batch=2)
    two.run(2.0)
    sd = one.state_dict()
    with pytest.raises(ShapeError, match=r"state 'v' of population 'y'"):
        two.load_state_dict(sd)


def test_a_matching_state_still_loads_and_continues_exactly() -> None:
    a = net_of(3)
    a.run(4.0)
    sd = a.state_dict()
    a.run(4.0)
    b = net_of(3)
    b.load_state_dict(sd)
    b.run(4.0)
    assert torch.equal(a.state("y").v, b.state("y").v)


def test_a_fresh_network_stays_fresh_when_the_state_is_refused() -> None:
    small = net_of(3)
    small.run(2.0)
    fresh = net_of(4)
    with pytest.raises((ShapeError, ParameterError)):
        fresh.load_state_dict(small.state_dict())
    assert fresh.state_dict()["_extra_state"]["initialized"] is False


def test_open_bounds_load_but_nan_weights_are_refused() -> None:
    """A plasticity rule's open bound (ThreeFactor without bounds: w_min = -inf) is a valid
    state; NaN never is."""
    a = net_of(3)
    a.connect("x", "y", weight=0.5, plasticity=sf.plasticity.ThreeFactor(dt=0.25), modulator=1.0, name="p")
    a.run(2.0)
    sd = a.state_dict()
    b = net_of(3)
    b.connect("x", "y", weight=0.5, plasticity=sf.plasticity.ThreeFactor(dt=0.25), modulator=1.0, name="p")
    b.load_state_dict(sd)
    bound = next(k for k in sd if k.endswith("plasticity.w_min"))
    assert bool(torch.isinf(sd[bound]).all())  # the open bound the module holds
    for key in (bound, "projections.p.w"):
        bad = dict(sd)
        bad[key] = torch.full_like(sd[key], float("nan"))
        with pytest.raises(ParameterError, match="NaN"):
            b.load_state_dict(bad)
