"""Issue 16, item 5: a Poisson rate given in Hz is refused with the unit the library expects."""

from __future__ import annotations

import pytest
import torch

from spikeforge import units
from spikeforge.encoders import poisson
from spikeforge.errors import ParameterError


def test_a_rate_in_hz_names_the_unit():
    with pytest.raises(
        ParameterError, match=r"rates are per ms: 20 Hz is 0.02, write 20 \* spikeforge.units.Hz"
    ):
        poisson(torch.tensor([20.0]), 10, dt=1.0)
    assert (
        poisson(torch.tensor([20 * units.Hz]), 10, dt=1.0, generator=torch.Generator().manual_seed(0)).shape[
            0
        ]
        == 10
    )
