"""Issue 16, item 5: a homeostatic target rate given in Hz (5 for 5 Hz, which is 5000 Hz in the
library's spikes per ms) can never be reached at one spike per step; it is refused with the unit."""

from __future__ import annotations

import pytest

from spikeforge import units
from spikeforge.errors import ParameterError
from spikeforge.plasticity import SynapticScaling, ThresholdAdaptation


@pytest.mark.parametrize("make", [lambda **k: SynapticScaling(**k), lambda **k: ThresholdAdaptation(3, **k)])
def test_a_target_rate_above_one_spike_per_step_is_refused(make):
    with pytest.raises(
        ParameterError, match=r"target_rate must be at most 1/dt = 2 per ms .* got 5.0 per ms \(5000 Hz\)"
    ):
        make(target_rate=5.0, dt=0.5)
    assert float(make(target_rate=5 * units.Hz, dt=0.5).target_rate) == 0.005
    assert float(make(target_rate=2.0, dt=0.5).target_rate) == 2.0  # one spike per step: reachable
