"""Issue 16: a current input's values are finite and fit the network's dtype; the error names the
input, the value, the time, the copy and the neuron (a NaN would otherwise give no spike)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.circuits import Network
from spikeforge.errors import ParameterError
from spikeforge.neurons import LIF


def _net(dtype: torch.dtype = torch.float32) -> Network:
    net = Network(dt=0.5, dtype=dtype, compiled=False)
    net.add_population("p", LIF(3, dt=0.5))
    return net


def test_a_function_returning_nan_later_names_the_time_and_neuron():
    net = _net()
    net.add_current("drive", "p", lambda t: torch.where(t >= 2.0, math.nan, 1.0).unsqueeze(-1).expand(-1, 3))
    with pytest.raises(
        ParameterError, match=r"current 'drive' must be finite, got nan at t=2 ms, copy 0, neuron 0"
    ):
        net.run(5.0)


def test_a_value_beyond_float32_is_not_called_non_finite():
    net = _net(torch.float32)
    net.add_current("big", "p", [0.0, 1e39, 0.0])
    with pytest.raises(
        ParameterError, match=r"current 'big' 1e\+39 .*neuron 1.* exceeds the range of .*float32"
    ):
        net.run(1.0)
    net = _net(torch.float64)  # fits float64
    net.add_current("big", "p", [0.0, 1e39, 0.0])
    net.run(1.0)


def test_a_nan_constant_is_refused_when_added():
    with pytest.raises(ParameterError, match=r"current must be finite, got \[1.0, nan, 0.0\]"):
        _net().add_current("c", "p", [1.0, math.nan, 0.0])
