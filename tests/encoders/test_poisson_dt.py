"""What a step of 1 ms hid (issue 16's surviving mutants): rates are per ms at any dt."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.encoders import poisson, poisson_time_varying


@pytest.mark.parametrize("dt", [0.25, 0.5, 2.0])
def test_poisson_time_varying_rate_is_per_ms_at_any_dt(dt):
    """A constant sequence gives poisson's spikes, and a rate of 0.04 per ms gives 0.04 dt spikes
    per step (within 5 sigma)."""
    rate = 0.04
    rates = torch.full((400, 300), rate, dtype=torch.float64)
    z = poisson_time_varying(rates, dt=dt, generator=torch.Generator().manual_seed(1))
    same = poisson(rates[0], 400, dt=dt, generator=torch.Generator().manual_seed(1))
    assert torch.equal(z, same)
    p = rate * dt
    sigma = math.sqrt(p * (1 - p) / z.numel())
    assert abs(float(z.mean()) - p) < 5 * sigma
