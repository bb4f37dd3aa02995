"""spikeforge.pynn on the time grid: spike times given with rounding errors and runs split on
window edges deliver each spike once, on its step, and record it as the decimal time."""

from __future__ import annotations

import pytest

import spikeforge.pynn as sim


def _source_times(dt: float, chunks: list[float], times: list[float]) -> list[float]:
    sim.setup(timestep=dt)
    s = sim.Population(1, sim.SpikeSourceArray(spike_times=times))
    s.record("spikes")
    for c in chunks:
        sim.run(c)
    out = s.get_data().segments[0].spiketrains[0].magnitude
    sim.end()
    return [float(t) for t in out]


@pytest.mark.parametrize(
    ("dt", "chunks"),
    [
        (0.1, [20.0]),
        (0.1, [6.2, 13.8]),
        (0.1, [15.6, 4.4]),
        (0.1, [6.3, 9.3, 4.4]),
        (0.25, [20.0]),
        (0.25, [15.5, 4.5]),
        (0.25, [0.25, 19.75]),
    ],
)
def test_spike_times_with_rounding_errors_land_on_their_step(dt: float, chunks: list[float]) -> None:
    """``k * dt`` as a float (0.30000000000000004, 15.600000000000001) and the decimal time (0.3,
    15.6) are the same step, also when a run ends on it; recorded as the decimal time."""
    ks = (1, 2, 3, 7, 62, 63, 64, 156, 157, 199, 200)
    noisy = [k * dt for k in ks]
    decimal = [round(k * dt, 9) for k in ks]
    expected = [t for t in decimal if t <= 20.0]
    assert _source_times(dt, chunks, noisy) == expected
    assert _source_times(dt, chunks, decimal) == expected
